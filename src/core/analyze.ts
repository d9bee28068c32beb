/**
 * From what the files hold to what the user sees: decide roles, resolve declared ties, group
 * tensors by storage, and build the module tree with totals that count shared storage once.
 */
import { coverage, Interval, intervalsLength, mergeIntervals, numelOf, spanOf } from './coverage';
import { dtypeInfo } from './dtypes';
import { inferLayer, InferenceContext } from './infer';
import { annotate, complete } from './logical';
import {
  Checkpoint,
  Counts,
  DeclaredTie,
  FoldRun,
  ModuleHint,
  ModuleNode,
  RawCheckpoint,
  Relation,
  SharedGroup,
  SharedWith,
  Storage,
  Tensor,
  Warning,
} from './model';
import { decideRole } from './roles';
import { configTies } from './ties';

export function analyze(raw: RawCheckpoint): Checkpoint {
  const warnings: Warning[] = raw.warnings.slice();
  const tensors: Tensor[] = raw.tensors.map((t) => {
    const r = decideRole(t);
    // Fields spelled out (not spread) so that 100,000 tensors share one object shape.
    const out: Tensor = {
      name: t.name,
      dtype: t.dtype,
      formatDtype: t.formatDtype,
      shape: t.shape,
      nbytes: t.nbytes,
      file: t.file,
      dataOffset: t.dataOffset,
      storage: t.storage,
      storageOffset: t.storageOffset,
      strides: t.strides,
      storageNbytes: t.storageNbytes,
      role: r.role,
      roleReason: r.reason,
      extra: t.extra,
      present: true,
      numel: numelOf(t.shape),
      group: -1,
    };
    return out;
  });
  // Quantized layers, adapters, declared totals (logical.ts): roles, logical shapes, names.
  const annotations = annotate(raw, tensors, warnings);
  const byName = new Map<string, Tensor>();
  for (const t of tensors) byName.set(t.name, t);

  const ties: DeclaredTie[] = [...raw.declaredTies, ...configTies(raw.config, raw.tensors, raw.declaredTies, warnings)];
  for (const tie of ties) {
    const target = byName.get(tie.target);
    if (!target) {
      warnings.push({ code: 'tie-target-missing', message: `declared tie ${tie.name} -> ${tie.target}: ${tie.target} is not in the checkpoint` });
      continue;
    }
    if (byName.has(tie.name)) continue; // stored after all; its storage says what it shares
    const t: Tensor = {
      ...target,
      name: tie.name,
      present: false,
      role: target.role,
      roleReason: `declared tie to ${tie.target}: ${tie.reason}`,
      extra: { ...(target.extra ?? {}), declaredBy: tie.source },
      group: -1,
    };
    tensors.push(t);
    byName.set(t.name, t);
  }

  const shared = groupSharing(tensors);
  const storages = listStorages(tensors);
  const root = buildTree(raw, tensors, shared);
  const rootCounts = root;
  const architecture =
    (Array.isArray(raw.config?.architectures) && typeof raw.config!.architectures[0] === 'string' ? (raw.config!.architectures[0] as string) : undefined) ??
    // A dict or list holding several modules is not an architecture.
    (raw.moduleTree && raw.moduleTree.pythonModule !== 'builtins' ? raw.moduleTree.className : undefined) ??
    raw.architecture;
  if (architecture && root.type === 'Model') root.type = architecture;

  const cp: Checkpoint = {
    format: raw.format,
    path: raw.path,
    files: raw.files,
    tensors,
    shared,
    storages,
    parameters: rootCounts.parameters,
    buffers: rootCounts.buffers,
    other: rootCounts.other,
    bytesByDtype: rootCounts.bytesByDtype,
    modules: root,
    metadata: raw.metadata,
    config: raw.config,
    warnings,
    safety: raw.safety,
    prefixes: raw.prefixes,
    bytesRead: raw.bytesRead,
    totalBytes: raw.totalBytes,
    architecture,
  };
  complete(cp, annotations);
  return cp;
}

/** GPT-2's own naming (`h.N.attn.c_attn`): its projections are transformers' Conv1D. */
const GPT2_NAMING = /(^|\.)h\.\d+\.attn\.c_attn\.weight$/;

/** Storage id for grouping; a tensor without storage shares with nothing. */
function storageKey(t: Tensor): string | null {
  return t.storage;
}

function groupSharing(tensors: Tensor[]): SharedGroup[] {
  const byStorage = new Map<string, Tensor[]>();
  for (const t of tensors) {
    const k = storageKey(t);
    if (k === null) continue;
    const list = byStorage.get(k);
    if (list) list.push(t);
    else byStorage.set(k, [t]);
  }
  const groups: SharedGroup[] = [];
  for (const [storage, members] of byStorage) {
    if (members.length < 2) continue;
    const relation = relationOf(members);
    const params = members.filter((m) => m.role === 'parameter');
    const measured = params.length ? params : members;
    const g: SharedGroup = {
      tensors: members.map((m) => m.name),
      relation,
      storage,
      uniqueElements: measure(measured).elements,
      totalElements: measured.reduce((s, m) => s + counted(m), 0),
    };
    const declared = members.find((m) => !m.present);
    if (declared) g.reason = declared.roleReason;
    else if (relation === 'deduplicated') g.reason = `the file stores one copy of ${members.length} equal tensors (deduplicated by the exporter): each is its own tensor of the model and counts`;
    const idx = groups.length;
    for (const m of members) m.group = idx;
    groups.push(g);
  }
  return groups;
}

function listStorages(tensors: Tensor[]): Storage[] {
  const byId = new Map<string, Storage>();
  for (const t of tensors) {
    if (t.storage === null) continue;
    const end = (t.storageOffset ?? 0) + spanOf(t);
    const s = byId.get(t.storage);
    if (!s) {
      byId.set(t.storage, { id: t.storage, file: t.file, dataOffset: t.dataOffset, nbytes: t.storageNbytes ?? end, tensors: [t.name] });
    } else {
      s.tensors.push(t.name);
      if (t.storageNbytes === undefined) s.nbytes = Math.max(s.nbytes, end);
    }
  }
  return [...byId.values()];
}


/** A name whose bytes the file stores once for several equal tensors (an exporter's deduplication). */
const isDedupCopy = (t: Tensor) => typeof t.extra?.deduplicatedFrom === 'string';

function relationOf(members: Tensor[]): Relation {
  if (members.some((m) => !m.present)) return 'declared';
  if (members.some(isDedupCopy)) return 'deduplicated';
  const a = members[0];
  const same = members.every(
    (m) => m.storageOffset === a.storageOffset && sameDims(m.shape, a.shape) && sameDims(m.strides, a.strides) && m.dtype === a.dtype,
  );
  return same ? 'alias' : 'view';
}

function sameDims(a: number[] | null, b: number[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Intervals enumerated per shared storage at most, before falling back to spans. */
const STORAGE_RUN_BUDGET = 1_000_000;

interface Measure {
  elements: number;
  bytesByDtype: Record<string, number>;
}

/**
 * Elements covered once per storage, and bytes by dtype, for a set of tensors. A storage used by
 * one tensor contributes that tensor; a storage used by several contributes the union of the
 * byte ranges they cover.
 */
function measure(list: Tensor[]): Measure {
  const bytesByDtype: Record<string, number> = {};
  let elements = 0;
  const multi = new Map<string, Tensor[]>();
  const seenOnce = new Map<string, Tensor>();
  for (const t of list) {
    const k = storageKey(t);
    if (k === null) {
      elements += counted(t);
      if (t.present) bytesByDtype[t.dtype] = (bytesByDtype[t.dtype] ?? 0) + t.nbytes;
      continue;
    }
    const prev = seenOnce.get(k);
    if (prev === undefined) {
      seenOnce.set(k, t);
      continue;
    }
    const m = multi.get(k);
    if (m) m.push(t);
    else multi.set(k, [prev, t]);
  }
  for (const [k, t] of seenOnce) {
    if (multi.has(k)) continue;
    elements += counted(t);
    bytesByDtype[t.dtype] = (bytesByDtype[t.dtype] ?? 0) + t.nbytes;
  }
  for (const all of multi.values()) {
    // Deduplicated copies are tensors of their own that the file stores once: each counts, their bytes once.
    const copies = all.filter(isDedupCopy);
    for (const c of copies) elements += c.numel;
    const members = copies.length ? all.filter((m) => !isDedupCopy(m)) : all;
    if (members.length === 0) {
      bytesByDtype[copies[0].dtype] = (bytesByDtype[copies[0].dtype] ?? 0) + copies[0].nbytes;
      continue;
    }
    // Strided views are enumerated run by run, within one budget per storage: 2,000 column
    // slices of one matrix must not become hundreds of millions of intervals.
    const ivs: Interval[] = [];
    let budget = STORAGE_RUN_BUDGET;
    for (const t of members) {
      const part = coverage(t, Math.max(1, Math.min(100_000, budget)));
      budget -= part.length;
      for (const iv of part) ivs.push(iv);
    }
    const bytes = intervalsLength(mergeIntervals(ivs));
    const dtype = members[0].dtype;
    const bits = dtypeInfo(dtype)?.bits;
    if (members.some((m) => m.logicalNumel !== undefined)) {
      // Packed quantized weights on one storage (a tie): the weight they stand for, once.
      elements += Math.max(...members.map(counted));
    } else if (bits && bits % 8 === 0 && members.every((m) => m.dtype === dtype)) {
      elements += (bytes * 8) / bits;
    } else {
      // Mixed or sub-byte dtypes on one storage: count the largest member once.
      elements += Math.max(...members.map((m) => m.numel));
    }
    bytesByDtype[dtype] = (bytesByDtype[dtype] ?? 0) + bytes;
  }
  return { elements, bytesByDtype };
}

// ---------------------------------------------------------------------------------------------
// Module tree

interface Builder {
  name: string;
  path: string;
  children: Map<string, Builder>;
  own: Tensor[];
  hint?: ModuleHint;
}

/** Module levels at most; deeper dotted names are folded into their last level's tensor name. */
const MAX_TREE_DEPTH = 256;

function newBuilder(name: string, path: string): Builder {
  return { name, path, children: new Map(), own: [] };
}

function buildTree(raw: RawCheckpoint, tensors: Tensor[], shared: SharedGroup[]): ModuleNode {
  const root = newBuilder('', '');
  // Modules known from a pickled nn.Module come first, so the tree keeps their order.
  if (raw.moduleTree) attachHint(root, raw.moduleTree);
  for (const t of tensors) {
    let parts = t.module !== undefined && t.name.startsWith(`${t.module}.`) ? [...t.module.split('.'), t.name.slice(t.module.length + 1)] : t.name.split('.');
    // Names nested absurdly deep (a crafted file) keep their tail as one leaf name, so no walk
    // over the tree can exhaust the stack.
    if (parts.length > MAX_TREE_DEPTH + 1) parts = [...parts.slice(0, MAX_TREE_DEPTH), parts.slice(MAX_TREE_DEPTH).join('.')];
    let node = root;
    for (let i = 0; i < parts.length - 1; i++) {
      let child = node.children.get(parts[i]);
      if (!child) {
        child = newBuilder(parts[i], node.path ? `${node.path}.${parts[i]}` : parts[i]);
        node.children.set(parts[i], child);
      }
      node = child;
    }
    node.own.push(t);
  }
  if (!raw.moduleTree) orderChildren(root);
  const ctx: InferenceContext = {
    layers: raw.layers,
    modelType:
      typeof raw.config?.model_type === 'string'
        ? raw.config.model_type
        : tensors.some((t) => GPT2_NAMING.test(t.name))
          ? 'gpt2'
          : undefined,
    config: raw.config ?? raw.hyperParameters,
  };
  return finish(root, ctx, shared);
}

/**
 * Files without module classes often list names sorted as strings (`h.10` before `h.2`):
 * numbered children are put in numeric order, embeddings first and the output head last, as
 * print(model) would usually show them. Everything else keeps the file's order.
 */
function orderChildren(root: Builder): void {
  const stack: Builder[] = [root];
  while (stack.length) {
    const b = stack.pop()!;
    if (b.children.size > 1) {
      const kids = [...b.children.values()];
      const rank = (c: Builder): number => {
        if (/^\d+$/.test(c.name)) return 1;
        if (/^(wte|embed_tokens|embed_in|tok_embeddings|word_embeddings|token_embd|shared)$/i.test(c.name)) return 0;
        if (/(^|_)(wpe|embed|embeddings?|pos_embed|position_embeddings)$/i.test(c.name)) return 0.5;
        if (b.path === '' && /^(lm_head|output|embed_out|head|classifier|cls|score|output_norm)$/.test(c.name)) return 3;
        return 1;
      };
      const indexed = kids.map((c, i) => ({ c, i, r: rank(c), n: /^\d+$/.test(c.name) ? Number(c.name) : NaN }));
      indexed.sort((x, y) => x.r - y.r || (!isNaN(x.n) && !isNaN(y.n) ? x.n - y.n : x.i - y.i));
      b.children = new Map(indexed.map(({ c }) => [c.name, c]));
    }
    for (const c of b.children.values()) stack.push(c);
  }
}

function attachHint(b: Builder, hint: ModuleHint): void {
  b.hint = hint;
  for (const h of hint.children) {
    const path = b.path ? `${b.path}.${h.name}` : h.name;
    let child = b.children.get(h.name);
    if (!child) {
      child = newBuilder(h.name, path);
      b.children.set(h.name, child);
    }
    attachHint(child, h);
  }
}

/** Elements a tensor counts for: a packed quantized weight counts the weight it stands for. */
const counted = (t: Tensor) => t.logicalNumel ?? t.numel;
const isParam = (t: Tensor) => t.role === 'parameter';
const isBuffer = (t: Tensor) => t.role === 'buffer';
const isOther = (t: Tensor) => t.role === 'optimizer-state' || t.role === 'other';

/** Running sums for a subtree: tensors alone on their storage add up; shared ones are measured. */
interface Acc {
  param: Counts;
  buffer: Counts;
  other: Counts;
  bytes: Record<string, number>;
  /** Tensors on storages that other tensors also use (measured together at each level). */
  shared: Tensor[];
  count: number;
  /** Whether the subtree holds optimizer state. */
  optimizer: boolean;
}

function newAcc(): Acc {
  return { param: { unique: 0, total: 0 }, buffer: { unique: 0, total: 0 }, other: { unique: 0, total: 0 }, bytes: {}, shared: [], count: 0, optimizer: false };
}

function addCounts(a: Counts, b: Counts): void {
  a.unique += b.unique;
  a.total += b.total;
}

function finish(root: Builder, ctx: InferenceContext, shared: SharedGroup[]): ModuleNode {
  // Iterative post-order so very deep trees cannot exhaust the stack.
  const order: Builder[] = [];
  const stack: Builder[] = [root];
  while (stack.length) {
    const b = stack.pop()!;
    order.push(b);
    for (const c of b.children.values()) stack.push(c);
  }
  const accs = new Map<Builder, Acc>();
  const nodes = new Map<Builder, ModuleNode>();
  const signatures = new FoldSignatures();
  for (let i = order.length - 1; i >= 0; i--) {
    const b = order[i];
    const acc = newAcc();
    for (const t of b.own) {
      acc.count++;
      if (t.role === 'optimizer-state') acc.optimizer = true;
      // Quantization state (scales, zero points...) takes bytes but counts as no kind of element.
      const c = isParam(t) ? acc.param : isBuffer(t) ? acc.buffer : isOther(t) ? acc.other : undefined;
      if (c) c.total += counted(t);
      if (t.group >= 0) {
        acc.shared.push(t);
      } else {
        if (c) c.unique += counted(t);
        if (t.present) acc.bytes[t.dtype] = (acc.bytes[t.dtype] ?? 0) + t.nbytes;
      }
    }
    const children: ModuleNode[] = [];
    for (const c of b.children.values()) {
      const ca = accs.get(c)!;
      addCounts(acc.param, ca.param);
      addCounts(acc.buffer, ca.buffer);
      addCounts(acc.other, ca.other);
      for (const [k, v] of Object.entries(ca.bytes)) acc.bytes[k] = (acc.bytes[k] ?? 0) + v;
      for (const t of ca.shared) acc.shared.push(t);
      acc.count += ca.count;
      acc.optimizer ||= ca.optimizer;
      children.push(nodes.get(c)!);
      accs.delete(c);
    }
    accs.set(b, acc);
    // Shared storages are counted once within this subtree.
    const withShared = (base: Counts, pred: (t: Tensor) => boolean): Counts => {
      const sel = acc.shared.filter(pred);
      return sel.length ? { unique: base.unique + measure(sel).elements, total: base.total } : { ...base };
    };
    const bytesByDtype: Record<string, number> = { ...acc.bytes };
    if (acc.shared.length) {
      for (const [k, v] of Object.entries(measure(acc.shared.filter((t) => t.present)).bytesByDtype)) bytesByDtype[k] = (bytesByDtype[k] ?? 0) + v;
    }
    const node: ModuleNode = {
      name: b.name,
      path: b.path,
      type: 'Module',
      inferred: true,
      parameters: withShared(acc.param, isParam),
      buffers: withShared(acc.buffer, isBuffer),
      other: withShared(acc.other, isOther),
      bytesByDtype,
      tensors: b.own.map((t) => t.name),
      sharedWith: [],
      children,
      folds: [],
      tensorCount: acc.count,
    };
    const outside = sharedOutside(b.path, acc.shared, shared);
    node.sharedWith = outside.length > MAX_SHARED_ENTRIES ? outside.slice(0, MAX_SHARED_ENTRIES) : outside;
    if (outside.length > MAX_SHARED_ENTRIES) node.sharedWithMore = outside.length - MAX_SHARED_ENTRIES;
    signatures.setOwn(node, b.own.map((t) => `${t.name.slice(b.path ? b.path.length + 1 : 0)}:${t.shape.join('x')}:${t.dtype}:${t.role}`).sort().join(','));
    describe(node, b, ctx);
    refineBatchNorm(children);
    if (!b.hint && acc.param.total === 0 && acc.buffer.total === 0 && acc.other.total > 0 && b.path !== '') {
      node.type = acc.optimizer ? 'OptimizerState' : 'Tensors';
      node.evidence = acc.optimizer ? 'optimizer state saved beside the model (not part of it)' : 'tensors saved beside the model (not part of it)';
    }
    node.folds = foldRuns(node, signatures);
    nodes.set(b, node);
  }
  return nodes.get(root)!;
}

/**
 * An inferred BatchNorm takes its dimensionality from its siblings, as in torchvision's blocks:
 * beside a Conv2d it is a BatchNorm2d; beside a Conv1d or a Linear, a BatchNorm1d.
 */
function refineBatchNorm(siblings: ModuleNode[]): void {
  const bns = siblings.filter((c) => c.inferred && c.type === 'BatchNorm');
  if (bns.length === 0) return;
  const conv = siblings.find((c) => /^Conv[123]d$/.test(c.type));
  const d = conv ? conv.type.slice(4, 6) : siblings.some((c) => c.type === 'Linear') ? '1d' : '';
  if (!d) return;
  for (const bn of bns) {
    bn.type = `BatchNorm${d}`;
    if (bn.repr) bn.repr = bn.repr.replace(/^BatchNorm\(/, `BatchNorm${d}(`);
    bn.evidence = `${bn.evidence ?? ''}; ${d} from a sibling ${conv ? conv.type : 'Linear'}`;
  }
}


function describe(node: ModuleNode, b: Builder, ctx: InferenceContext): void {
  if (b.hint) {
    node.type = b.hint.className;
    node.inferred = false;
    if (b.hint.repr) node.repr = b.hint.repr;
    node.evidence = `class ${b.hint.pythonModule}.${b.hint.className} recorded in the pickle`;
    return;
  }
  const inf = b.own.length ? ctx.layers?.[b.path] ?? inferLayer(b.name, b.own, ctx) : undefined;
  if (inf) {
    node.type = inf.type;
    node.repr = inf.repr;
    node.evidence = inf.evidence;
    return;
  }
  const kids = [...b.children.keys()];
  if (b.path === '') {
    node.type = 'Model';
    node.evidence = 'the checkpoint root';
  } else if (kids.length && kids.every((k) => /^\d+$/.test(k))) {
    node.type = 'ModuleList';
    node.evidence = 'children named 0, 1, 2…';
  } else if (/^\d+$/.test(b.name)) {
    node.type = 'Block';
    node.evidence = 'an item of a numbered list of modules';
  } else {
    node.type = 'Module';
    node.evidence = b.own.length ? 'tensors that match no known layer' : 'a container of other modules';
  }
}

/** Entries per module: a subtree of 80,000 views of one flat storage lists the first ones and a count. */
const MAX_SHARED_ENTRIES = 64;

/** Names listed per shared tensor; a storage viewed by thousands of tensors lists a count beyond. */
const MAX_OTHERS = 16;

/**
 * Tensors in the subtree at `path` that share storage with tensors outside it. Linear in the
 * subtree's shared tensors: a flat storage viewed by 10,000 parameters must not cost 10,000².
 */
function sharedOutside(path: string, list: Tensor[], shared: SharedGroup[]): SharedWith[] {
  if (path === '') return [];
  const byGroup = new Map<number, Tensor[]>();
  for (const t of list) {
    if (t.group < 0) continue;
    const m = byGroup.get(t.group);
    if (m) m.push(t);
    else byGroup.set(t.group, [t]);
  }
  const out: SharedWith[] = [];
  for (const [gi, members] of byGroup) {
    const g = shared[gi];
    const outside = g.tensors.length - members.length;
    if (outside <= 0) continue;
    const inside = new Set(members.map((t) => t.name));
    const others: string[] = [];
    // A few names suffice for a storage that thousands of tensors view; `group` finds them all.
    const limit = g.tensors.length > 64 ? 3 : MAX_OTHERS;
    for (const n of g.tensors) {
      if (inside.has(n)) continue;
      others.push(n);
      if (others.length === limit) break;
    }
    for (const t of members) {
      const e: SharedWith = { tensor: t.name, others, relation: g.relation, group: gi };
      if (outside > others.length) e.more = outside - others.length;
      out.push(e);
    }
  }
  return out;
}

/** Consecutive numbered children with identical structure fold like PyTorch's ModuleList print. */
function foldRuns(node: ModuleNode, signatures: FoldSignatures): FoldRun[] {
  const kids = node.children;
  if (kids.length < 2) return [];
  const sigs = kids.map((k) => (/^\d+$/.test(k.name) ? signatures.of(k) : null));
  const runs: FoldRun[] = [];
  let i = 0;
  while (i < kids.length) {
    let j = i;
    if (sigs[i] !== null) {
      while (j + 1 < kids.length && sigs[j + 1] === sigs[i] && Number(kids[j + 1].name) === Number(kids[j].name) + 1) j++;
    }
    if (j > i) {
      runs.push({ first: i, last: j, from: kids[i].name, to: kids[j].name, count: j - i + 1, type: kids[i].type });
    }
    i = j + 1;
  }
  return runs;
}

/**
 * Structure signatures for folding, for one analysis. A module's signature is taken when its
 * parent folds its children, after the parent has settled their types (refineBatchNorm).
 */
class FoldSignatures {
  /** Each module's own tensors as relative name, shape, dtype and role. */
  private readonly own = new Map<ModuleNode, string>();
  private readonly memo = new Map<ModuleNode, string>();

  setOwn(m: ModuleNode, own: string): void {
    this.own.set(m, own);
  }

  /** Structure of a module: types, reprs, relative tensor names with shapes, dtypes and roles, recursively. */
  of(m: ModuleNode): string {
    const cached = this.memo.get(m);
    if (cached !== undefined) return cached;
    const parts = [m.type, m.repr ?? '', this.own.get(m) ?? '', String(m.parameters.total), String(m.buffers.total)];
    for (const c of m.children) parts.push(`${c.name}:${this.of(c)}`);
    const s = hash(parts.join('|'));
    this.memo.set(m, s);
    return s;
  }
}

function hash(s: string): string {
  // FNV-1a, two lanes: collisions would need identical sizes too, which we also compare.
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  return `${(h1 >>> 0).toString(36)}${(h2 >>> 0).toString(36)}:${s.length}`;
}
