/**
 * From what the files hold to what the user sees: decide roles, resolve declared ties, group
 * tensors by storage, and build the module tree with totals that count shared storage once.
 */
import { enumerated, Interval, intervalsLength, mergeIntervals, numelOf, RunBudget, sameDims, spanOf } from './coverage';
import { dtypeInfo } from './dtypes';
import { Inference, inferLayer, InferenceContext } from './infer';
import { annotate, complete, storedCount } from './logical';
import type { StoredCount } from './quant';
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
  TensorRecord,
  Warning,
} from './model';
import { copyRecord } from './tensor-record';
import { isLocalName } from './local-name';
import { decideRole, maybeFrozenBatchNorm, Siblings, siblingsOf } from './roles';
import { configTies } from './ties';
import { viewOverlaps } from './overlaps';

/** How analyze() may use the raw checkpoint it is given. */
export interface AnalyzeOptions {
  /**
   * The caller hands the raw checkpoint over and will not read it again (it opened it for this
   * analysis): its records become the Checkpoint's tensors, completed in place rather than copied,
   * one object per tensor instead of two (on the 163-shard DeepSeek-V3, 92,000 objects and about
   * 16 MB fewer for the young generation to copy). The records must be a reader's, made by
   * tensorRecord() (tensor-record.ts), which have every field of a Tensor already. The raw
   * checkpoint is then spent (`consumed`): its records are analysed tensors, renamed and with roles
   * decided, and analysing it again is an error. Without it, each record is copied and `raw` is
   * left as it was, so that one raw checkpoint can be analysed any number of times (the tests do,
   * under several configs).
   */
  consume?: boolean;
  /**
   * The raw checkpoint's declared ties are all there are: config.json declares none. The diff
   * re-analyses a checkpoint under comparison names with its ties passed explicitly, which
   * config.json must not declare again under the new names.
   */
  declaredOnly?: boolean;
}

export function analyze(raw: RawCheckpoint, opts: AnalyzeOptions = {}): Checkpoint {
  if (raw.consumed) throw new Error(`${raw.path}: this raw checkpoint was analysed in place already (AnalyzeOptions.consume); read it again to analyse it again`);
  const warnings: Warning[] = raw.warnings.slice();
  // Ties config.json declares are looked up among the records as the files name them: before
  // annotate() renames an adapter's tensors, which are these same records when analyze() owns
  // them. Their warnings come after annotate()'s.
  const configWarnings: Warning[] = [];
  const fromConfig = opts.declaredOnly ? [] : configTies(raw.config, raw.tensors, raw.declaredTies, configWarnings);
  // The names, for the role rules that read other tensors': indexed only if one of them asks.
  const siblings = siblingsOf(raw.tensors);
  const tensors: Tensor[] = raw.tensors.map((t) => toTensor(opts.consume ? t : copyRecord(t), siblings));
  if (opts.consume) raw.consumed = true;
  const frozen = maybeFrozenBatchNorm(tensors, siblings);
  if (frozen) warnings.push(frozen);
  // Quantized layers, adapters, declared totals (logical.ts): roles, logical shapes, names.
  const annotations = annotate(raw, tensors, warnings);
  warnings.push(...configWarnings);

  const ties: DeclaredTie[] = [...raw.declaredTies, ...fromConfig];
  // Names are looked up only to resolve ties: most checkpoints have none and make no map of 100,000 names.
  const byName = new Map<string, Tensor>();
  // The diff passes tensors retied in an earlier analysis (diff/match.ts reanalyse).
  let retied = opts.declaredOnly === true && tensors.some(isRetied);
  if (ties.length) for (let i = 0; i < tensors.length; i++) byName.set(tensors[i].name, tensors[i]);
  for (const tie of ties) {
    const target = byName.get(tie.target);
    if (!target) {
      warnings.push({ code: 'tie-target-missing', message: `declared tie ${tie.name} -> ${tie.target}: ${tie.target} is not in the checkpoint` });
      continue;
    }
    const stored = byName.get(tie.name);
    if (stored) {
      // Stored after all: its storage says what it shares. But config.json ties a head that is
      // stored apart from its embedding only when the loaded model has the embedding alone
      // (configTies checked their layouts match): the head is counted on the embedding's storage.
      if (tie.source === 'config' && stored.storage !== target.storage && target.storage !== null) {
        retie(stored, target, tie);
        retied = true;
      }
      continue;
    }
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

  const runs: RunBudget = { left: ANALYSIS_RUN_BUDGET, spent: false };
  const { shared, storageOf } = groupStorages(tensors, retied, runs);
  let storages: Storage[] | undefined;
  const root = buildTree(raw, tensors, shared, storedCount(annotations), runs);
  if (runs.spent) {
    warnings.push({
      code: 'shared-storage-approximate',
      message: `views of shared storage hold more than ${ANALYSIS_RUN_BUDGET.toLocaleString('en-US')} contiguous runs in all: past that, views are measured from their first to their last element, which counts any elements between their runs as covered`,
    });
  }
  const rootCounts = root;
  const architecture =
    (Array.isArray(raw.config?.architectures) && typeof raw.config!.architectures[0] === 'string' ? (raw.config!.architectures[0] as string) : undefined) ??
    // A diffusers component (unet/, vae/...) names its class in config.json's `_class_name`
    // (diffusers' ConfigMixin), as transformers configs do in `architectures`.
    (typeof raw.config?._class_name === 'string' && raw.config._class_name ? raw.config._class_name : undefined) ??
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
    get storages(): Storage[] {
      return (storages ??= listStorages(tensors, storageOf));
    },
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

/**
 * A record made a Tensor, in place: its role decided, its elements counted, no sharing group yet.
 * The fields it sets (and those annotate() sets later) are in the record already when
 * tensorRecord() made it, so that the record keeps its hidden class.
 */
function toTensor(record: TensorRecord, siblings: Siblings): Tensor {
  const r = decideRole(record, siblings);
  const t = record as Tensor;
  t.role = r.role;
  t.roleReason = r.reason;
  t.present = true;
  t.numel = numelOf(t.shape);
  t.group = -1;
  return t;
}

/** GPT-2's own naming (`h.N.attn.c_attn`): its projections are transformers' Conv1D. */
const GPT2_NAMING = /(^|\.)h\.\d+\.attn\.c_attn\.weight$/;

/**
 * A stored tensor that a declared tie makes one with `target` in the loaded model (a head stored
 * apart from the embedding it is tied to): it is put on the target's storage, so that it counts
 * once with it, and keeps its own place in its file (file, dataOffset) and, in `extra`, the
 * storage it was read from.
 */
function retie(t: Tensor, target: Tensor, tie: DeclaredTie): void {
  t.extra = { ...(t.extra ?? {}), declaredBy: tie.source, tiedTo: target.name };
  if (t.storage !== null) t.extra.storedStorage = t.storage;
  t.storage = target.storage;
  t.roleReason = `declared tie to ${tie.target}: ${tie.reason}`;
}

/** A stored tensor put on its tie target's storage by retie(). */
const isRetied = (t: Tensor) => typeof t.extra?.tiedTo === 'string';

/** Storage id for grouping; a tensor without storage shares with nothing. */
function storageKey(t: Tensor): string | null {
  return t.storage;
}

/**
 * The sharing groups (storages that several tensors view), from one pass with one map: each
 * storage id is hashed once. Most storages hold one tensor; the member list of a group is made
 * only when a second tensor arrives. Each tensor's storage is noted by its position among the
 * storages (-1: none), from which listStorages lists them when they are read.
 */
function groupStorages(tensors: Tensor[], retied: boolean, runs: RunBudget): { shared: SharedGroup[]; storageOf: Int32Array } {
  const storageOf = new Int32Array(tensors.length).fill(-1);
  // A retied tensor shares its target's storage from another place in the files: the places do
  // not tell storages apart then.
  if (!retied && ownStorages(tensors, storageOf)) return { shared: [], storageOf };
  const index = new Map<string, number>();
  /** The first tensor of each storage. */
  const first: Tensor[] = [];
  let members: Map<number, Tensor[]> | undefined;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    const k = storageKey(t);
    if (k === null) continue;
    const at = index.get(k);
    if (at === undefined) {
      index.set(k, first.length);
      storageOf[i] = first.length;
      first.push(t);
      continue;
    }
    storageOf[i] = at;
    members ??= new Map();
    const list = members.get(at);
    if (list) list.push(t);
    else members.set(at, [first[at], t]);
  }
  const shared: SharedGroup[] = [];
  if (members) {
    // Groups come in the order of their storages (a map's order is that of the second tensors).
    const order = [...members.keys()].sort((a, b) => a - b);
    for (const at of order) shared.push(sharingGroup(members.get(at)!, first[at].storage!, shared.length, runs));
  }
  return { shared, storageOf };
}

/**
 * Whether every tensor with a storage has one of its own, seen without the storage ids: when so,
 * each is noted in `storageOf` as the next storage. Tensors on one storage have its file and data
 * offset (model.ts), so tensors at distinct places are on distinct storages; places are distinct
 * when each file's tensors come in one run, at increasing offsets, as a safetensors or GGUF file
 * lists them. This saves a map of 92,000 ids on DeepSeek-V3, and with it the hashing of each id,
 * for which V8 first copies an id made by concatenation (`file:name`) into a flat string.
 */
function ownStorages(tensors: Tensor[], storageOf: Int32Array): boolean {
  const files = new Set<string>();
  let file: string | undefined;
  let last = 0;
  let count = 0;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    if (t.storage === null) continue;
    const offset = t.dataOffset;
    if (offset === null) return false;
    if (t.file === file) {
      if (!(offset > last)) return false;
    } else {
      if (files.has(t.file)) return false;
      files.add(t.file);
      file = t.file;
    }
    last = offset;
    storageOf[i] = count++;
  }
  return true;
}

/**
 * Checkpoint.storages: each storage with the names of its tensors, in the order its first tensor
 * comes, from the positions groupStorages noted. Made when first read: only the JSON report reads
 * the list, and the text, the tree and the diff do not make 92,000 records for nothing.
 */
function listStorages(tensors: Tensor[], storageOf: Int32Array): Storage[] {
  const storages: Storage[] = [];
  for (let i = 0; i < storageOf.length; i++) {
    const at = storageOf[i];
    if (at < 0) continue;
    const t = tensors[i];
    if (at === storages.length) {
      const nbytes = t.storageNbytes ?? (t.storageOffset ?? 0) + spanOf(t);
      storages.push({ id: t.storage!, file: t.file, dataOffset: t.dataOffset, nbytes, tensors: [t.name] });
      continue;
    }
    const s = storages[at];
    s.tensors.push(t.name);
    if (t.storageNbytes === undefined) s.nbytes = Math.max(s.nbytes, (t.storageOffset ?? 0) + spanOf(t));
  }
  return storages;
}

/** The group of tensors `members` on one storage, which becomes Checkpoint.shared[idx]. */
function sharingGroup(members: Tensor[], storage: string, idx: number, runs: RunBudget): SharedGroup {
  const relation = relationOf(members);
  const params = members.filter((m) => m.role === 'parameter');
  const measured = params.length ? params : members;
  const g: SharedGroup = {
    tensors: members.map((m) => m.name),
    relation,
    storage,
    uniqueElements: measure(measured, runs).elements,
    totalElements: measured.reduce((s, m) => s + counted(m), 0),
  };
  // Views are tied only where they overlap: worked out here, once per storage (overlaps.ts).
  if (relation === 'view') {
    const ov = viewOverlaps(members, runs);
    if (ov) g.overlaps = ov;
  }
  const declared = members.find((m) => !m.present) ?? members.find(isRetied);
  if (declared) g.reason = declared.roleReason;
  else if (relation === 'deduplicated') g.reason = `the file stores one copy of ${members.length} equal tensors (deduplicated by the exporter): each is its own tensor of the model and counts`;
  for (const m of members) m.group = idx;
  return g;
}

/** A name whose bytes the file stores once for several equal tensors (an exporter's deduplication). */
const isDedupCopy = (t: Tensor) => typeof t.extra?.deduplicatedFrom === 'string';

function relationOf(members: Tensor[]): Relation {
  if (members.some((m) => !m.present || isRetied(m))) return 'declared';
  if (members.some(isDedupCopy)) return 'deduplicated';
  const a = members[0];
  const same = members.every(
    (m) => m.storageOffset === a.storageOffset && sameDims(m.shape, a.shape) && sameDims(m.strides, a.strides) && m.dtype === a.dtype,
  );
  return same ? 'alias' : 'view';
}

/** Intervals enumerated per shared storage at most, before falling back to spans. */
const STORAGE_RUN_BUDGET = 1_000_000;

/**
 * Intervals enumerated over one analysis at most, all storages and all measures together: a
 * storage's budget was spent again for each storage and by each measure of it (its group, its
 * overlaps, each subtree holding its views), so ten strided views of each of a few storages cost
 * minutes. Past it, views are measured by their spans, and a warning says so.
 */
const ANALYSIS_RUN_BUDGET = 4_000_000;


interface Measure {
  elements: number;
  bytesByDtype: Record<string, number>;
}

/**
 * Elements covered once per storage, and bytes by dtype, for a set of tensors. A storage used by
 * one tensor contributes that tensor; a storage used by several contributes the union of the
 * byte ranges they cover.
 */
/** The largest of `f` over `list` (Math.max(...list) overflows the stack past ~100,000 arguments). */
function largest(list: Tensor[], f: (t: Tensor) => number): number {
  let m = -Infinity;
  for (let i = 0; i < list.length; i++) m = Math.max(m, f(list[i]));
  return m;
}

/**
 * Each storage's last measure in finish()'s walk, for the module being measured (`at`) whose
 * subtree spans walk positions up to `end`: a measure taken within that subtree is of a subset of
 * the module's tensors on that storage, so one of as many tensors is of the same ones.
 */
interface StorageMemo {
  last: Map<string, StorageMeasure>;
  at: number;
  end: number;
}

/** A storage's part of a measure, with how many of its tensors it measured (measure's `memo`). */
interface StorageMeasure {
  /** The module (its position in finish()'s walk) whose subtree's tensors these were. */
  at: number;
  count: number;
  elements: number;
  bytes: number;
  dtype: string;
}

function measure(list: Tensor[], runs: RunBudget, memo?: StorageMemo): Measure {
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
  for (const [k, all] of multi) {
    // A subtree's tensors on a storage include those of every module below it that measured the
    // storage last, just before it in finish()'s walk: as many means the same ones, measured.
    const known = memo?.last.get(k);
    if (known && known.count === all.length && known.at > memo!.at && known.at <= memo!.end) {
      elements += known.elements;
      bytesByDtype[known.dtype] = (bytesByDtype[known.dtype] ?? 0) + known.bytes;
      continue;
    }
    const before = elements;
    // Deduplicated copies are tensors of their own that the file stores once: each counts, their bytes once.
    const copies = all.filter(isDedupCopy);
    for (const c of copies) elements += c.numel;
    const members = copies.length ? all.filter((m) => !isDedupCopy(m)) : all;
    if (members.length === 0) {
      bytesByDtype[copies[0].dtype] = (bytesByDtype[copies[0].dtype] ?? 0) + copies[0].nbytes;
      memo?.last.set(k, { at: memo.at, count: all.length, elements: elements - before, bytes: copies[0].nbytes, dtype: copies[0].dtype });
      continue;
    }
    // Strided views are enumerated run by run, within one budget per storage: 2,000 column
    // slices of one matrix must not become hundreds of millions of intervals.
    const ivs: Interval[] = [];
    let budget = STORAGE_RUN_BUDGET;
    for (const t of members) {
      const part = enumerated(t, Math.min(100_000, budget), runs);
      budget -= part.length;
      for (const iv of part) ivs.push(iv);
    }
    const bytes = intervalsLength(mergeIntervals(ivs));
    const dtype = members[0].dtype;
    const bits = dtypeInfo(dtype)?.bits;
    if (members.some((m) => m.logicalNumel !== undefined)) {
      // Packed quantized weights on one storage (a tie): the weight they stand for, once.
      elements += largest(members, counted);
    } else if (bits && bits % 8 === 0 && members.every((m) => m.dtype === dtype)) {
      elements += (bytes * 8) / bits;
    } else {
      // Mixed or sub-byte dtypes on one storage: count the largest member once.
      elements += largest(members, (m) => m.numel);
    }
    bytesByDtype[dtype] = (bytesByDtype[dtype] ?? 0) + bytes;
    memo?.last.set(k, { at: memo.at, count: all.length, elements: elements - before, bytes, dtype });
  }
  return { elements, bytesByDtype };
}

// ---------------------------------------------------------------------------------------------
// Module tree

/**
 * A module being built: its children in order and its own tensors. What finish() works out per
 * module is kept by the module's position in its walk (Sums, Structures), not here: the 61,000
 * builders of DeepSeek-V3 are made, and copied by the young generation's collections, before
 * finish() starts, and six fields fewer make each of them 48 bytes smaller.
 */
class Builder {
  /** Shared empty lists until a child or a tensor comes: 44,544 expert projections of DeepSeek-V3 have no child. */
  children: Builder[] = NO_BUILDERS;
  /** Children by name, once there are enough of them for a scan to cost more than a map. */
  private byName: Map<string, Builder> | undefined;
  own: Tensor[] = NO_TENSORS;
  hint: ModuleHint | undefined = undefined;
  /** Set by preorder(): the module's position in its walk, where what finish() works out of it is kept (Sums, Structures). */
  at = -1;
  constructor(readonly name: string, readonly path: string) {}

  child(name: string): Builder | undefined {
    if (this.byName) return this.byName.get(name);
    const kids = this.children;
    for (let k = 0; k < kids.length; k++) if (kids[k].name === name) return kids[k];
    return undefined;
  }

  /** The child named `source.slice(start, end)`, without making that string when the children are few. */
  childNamed(source: string, start: number, end: number): Builder | undefined {
    if (this.byName) return this.byName.get(source.slice(start, end));
    const len = end - start;
    const kids = this.children;
    for (let k = 0; k < kids.length; k++) if (kids[k].name.length === len && source.startsWith(kids[k].name, start)) return kids[k];
    return undefined;
  }

  add(c: Builder): void {
    // A list that push() grows has room for 17 from its first child, for the life of the build;
    // most modules have a few children (an expert three), so a short list is remade at its size
    // (copied by hand: concat() costs several times more, looking up Symbol.isConcatSpreadable).
    const kids = this.children;
    const n = kids.length;
    if (n < 8) {
      const grown: Builder[] = new Array(n + 1);
      for (let k = 0; k < n; k++) grown[k] = kids[k];
      grown[n] = c;
      this.children = grown;
    } else kids.push(c);
    if (this.byName) this.byName.set(c.name, c);
    else if (this.children.length > 8) this.byName = new Map(this.children.map((x) => [x.name, x]));
  }

  reorder(children: Builder[]): void {
    for (let i = 0; i < children.length; i++) this.children[i] = children[i];
  }
}

/**
 * What each subtree adds to its parent's totals (shared storage is measured at each level), and
 * its node, by the module's position in finish()'s walk. Columns rather than fields of the
 * modules: totals pass 2^31 (671 billion parameters), and an object field that has held such a
 * number keeps every module's value in a heap number of its own.
 */
class Sums {
  readonly paramUnique: Float64Array;
  readonly paramTotal: Float64Array;
  readonly bufferUnique: Float64Array;
  readonly bufferTotal: Float64Array;
  readonly otherUnique: Float64Array;
  readonly otherTotal: Float64Array;
  /** Stored figures (StoredCount): elements and bytes of the counted tensors. */
  readonly storedElements: Float64Array;
  readonly storedBytes: Float64Array;
  readonly count: Uint32Array;
  /** OPTIMIZER: the subtree holds optimizer state; QUANTIZED: it holds a quantized tensor (StoredCount). */
  readonly flags: Uint8Array;
  /** Bytes by dtype of the subtree's tensors alone on their storage (interned: never mutated). */
  readonly bytes: Record<string, number>[];
  /** The subtree's tensors on storages that other tensors also use (measured together at each level), or null. */
  readonly shared: (Tensor[] | null)[];
  /** What the subtree's shared list measures (finish()), until the parent has taken it. */
  readonly sharedMeasures: (SharedMeasures | null)[];
  readonly nodes: ModuleNode[];
  constructor(n: number) {
    this.paramUnique = new Float64Array(n);
    this.paramTotal = new Float64Array(n);
    this.bufferUnique = new Float64Array(n);
    this.bufferTotal = new Float64Array(n);
    this.otherUnique = new Float64Array(n);
    this.otherTotal = new Float64Array(n);
    this.storedElements = new Float64Array(n);
    this.storedBytes = new Float64Array(n);
    this.count = new Uint32Array(n);
    this.flags = new Uint8Array(n);
    this.bytes = new Array(n);
    this.shared = new Array(n);
    this.sharedMeasures = new Array(n);
    this.nodes = new Array(n);
  }
}

/** A subtree's shared tensors measured: unique elements by kind, and bytes by dtype. */
interface SharedMeasures {
  params: number;
  buffers: number;
  others: number;
  bytes: Record<string, number>;
}

const OPTIMIZER = 1;
const QUANTIZED = 2;

/**
 * Module levels at most; deeper dotted names are folded into their last level's tensor name.
 * Real models nest a dozen levels; every level a crafted name adds is a module, and in the JSON
 * report each of its lines is indented by its depth.
 */
const MAX_TREE_DEPTH = 64;

/**
 * Values many modules hold alike (names, counts, bytes by dtype, reprs), kept once per analysis:
 * a 92,000-tensor model has 61,000 modules but a few hundred distinct values. The shared objects
 * are never mutated after analysis (a consumer that adds a declared total copies them first).
 */
interface DictNode {
  next?: Map<string, Map<number, DictNode>>;
  value?: Record<string, number>;
}

class Interner {
  private readonly strings = new Map<string, string>();
  private readonly counts = new Map<number, Map<number, Counts>>();
  private readonly dicts: DictNode = {};
  private zero: Counts | undefined;

  string<T extends string | undefined>(s: T): T {
    if (s === undefined) return s;
    const have = this.strings.get(s);
    if (have !== undefined) return have as T;
    this.strings.set(s, s);
    return s;
  }

  countsOf(unique: number, total: number): Counts {
    // Most modules have no buffers and no other tensors: two of their three counts are zero.
    if (unique === 0 && total === 0) return (this.zero ??= { unique: 0, total: 0 });
    let byTotal = this.counts.get(unique);
    if (!byTotal) this.counts.set(unique, (byTotal = new Map()));
    let c = byTotal.get(total);
    if (!c) byTotal.set(total, (c = { unique, total }));
    return c;
  }

  /**
   * A bytes-by-dtype record equal to `d`, keys in the same order: found through a trie of
   * (dtype, bytes) steps, so no key string is made per module.
   */
  dict(d: Record<string, number>): Record<string, number> {
    let node = this.dicts;
    for (const k in d) {
      node.next ??= new Map();
      let byBytes = node.next.get(k);
      if (!byBytes) node.next.set(k, (byBytes = new Map()));
      const v = d[k];
      let to = byBytes.get(v);
      if (!to) byBytes.set(v, (to = {}));
      node = to;
    }
    return (node.value ??= d);
  }
}

/** Empty lists shared by every module that has none (frozen: nothing may add to them). */
const NO_BUILDERS: Builder[] = Object.freeze([]) as unknown as Builder[];
const NO_TENSORS: Tensor[] = Object.freeze([]) as unknown as Tensor[];
const NO_NAMES: string[] = Object.freeze([]) as unknown as string[];
const NO_SHARED: SharedWith[] = Object.freeze([]) as unknown as SharedWith[];
const NO_FOLDS: FoldRun[] = Object.freeze([]) as unknown as FoldRun[];
const NO_CHILDREN: ModuleNode[] = Object.freeze([]) as unknown as ModuleNode[];

function buildTree(raw: RawCheckpoint, tensors: Tensor[], shared: SharedGroup[], stored: StoredCount | undefined, runs: RunBudget): ModuleNode {
  const root = new Builder('', '');
  const intern = new Interner();
  // Modules known from a pickled nn.Module come first, so the tree keeps their order.
  if (raw.moduleTree) attachHint(root, raw.moduleTree, intern);

  /** A new child `name` of `parent`; `prefix` is its dotted path when the caller has it. */
  const newChild = (parent: Builder, name: string, prefix?: string): Builder => {
    let path: string;
    if (parent === root || parent.path === '') path = name;
    // The path is the tensor name's own prefix (one string shared with the name), not a copy.
    else if (prefix !== undefined && parent.path.length + 1 + name.length === prefix.length && prefix.startsWith(parent.path)) path = prefix;
    else path = `${parent.path}.${name}`;
    const c = new Builder(intern.string(name), path);
    parent.add(c);
    return c;
  };
  /** The child `name` of `parent`, made if missing. */
  const childOf = (parent: Builder, name: string, prefix?: string): Builder => parent.child(name) ?? newChild(parent, name, prefix);
  // The module of a dotted prefix is the walk of its parts from the root: the same prefix is the
  // same module, so each distinct prefix is walked once (a module's tensors mostly come together).
  const byPrefix = new Map<string, Builder>();
  const nodeFor = (prefix: string): Builder => {
    let b = byPrefix.get(prefix);
    if (b) return b;
    const dot = prefix.lastIndexOf('.');
    b = dot < 0 ? childOf(root, prefix, prefix) : childOf(nodeFor(prefix.slice(0, dot)), prefix.slice(dot + 1), prefix);
    byPrefix.set(prefix, b);
    return b;
  };
  const dots = (s: string): number => {
    let n = 0;
    for (let i = s.indexOf('.'); i >= 0; i = s.indexOf('.', i + 1)) n++;
    return n;
  };
  const cursor = new ModuleCursor(root, newChild);
  const moduleOf = (t: Tensor): Builder => {
    const name = t.name;
    if (t.module !== undefined && name.startsWith(`${t.module}.`)) {
      // bitsandbytes: `q_proj.weight.absmax` belongs to q_proj.
      return dots(t.module) < MAX_TREE_DEPTH ? nodeFor(t.module) : deepParent(root, [...t.module.split('.'), name.slice(t.module.length + 1)], childOf);
    }
    const dot = name.lastIndexOf('.');
    if (dot < 0) return root;
    return cursor.moduleOf(name, dot) ?? deepParent(root, name.split('.'), childOf);
  };
  // A module's tensors mostly come together: each run becomes its list in one exact-size slice
  // when it ends (pushing one by one would leave most lists with room for 17 tensors, for the life
  // of the build). Runs are taken as the modules are found, without a list of 92,000 modules.
  const take = (b: Builder, start: number, end: number): void => {
    if (start === end) return;
    if (b.own.length === 0) b.own = tensors.slice(start, end);
    else for (let k = start; k < end; k++) b.own.push(tensors[k]);
  };
  let run = root;
  let start = 0;
  for (let i = 0; i < tensors.length; i++) {
    const parent = moduleOf(tensors[i]);
    if (parent === run) continue;
    take(run, start, i);
    run = parent;
    start = i;
  }
  take(run, start, tensors.length);
  const order = preorder(root, raw.moduleTree ? undefined : childOrder());
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
  return finish(order, ctx, shared, intern, stored, runs);
}

/**
 * The module of each tensor name, found by walking its dotted parts from the root, where the walk
 * starts from the modules of the previous name's parts that this name shares: names of one module,
 * and of neighbouring modules, mostly come together, so most names walk no part at all. The same
 * parts always lead to the same module (children are found by name), so this is the walk from
 * the root; no string is made for a part that is found.
 */
class ModuleCursor {
  /**
   * The module of the previous name's first k+1 parts, and the index of the dot ending part k,
   * for k below `depth`. The lists are not cut to `depth`: an array cut shorter gives up its
   * room, and the next name's walk would grow it again.
   */
  private readonly levels: Builder[] = [];
  private readonly ends: number[] = [];
  private depth = 0;
  private previous = '';
  constructor(
    private readonly root: Builder,
    /** Makes a child the walk did not find. */
    private readonly newChild: (parent: Builder, name: string, prefix: string) => Builder,
  ) {}

  /** The module of `name`'s prefix up to its last dot `lastDot`; undefined past MAX_TREE_DEPTH levels. */
  moduleOf(name: string, lastDot: number): Builder | undefined {
    const prev = this.previous;
    const n = Math.min(name.length, prev.length);
    let same = 0;
    while (same < n && name.charCodeAt(same) === prev.charCodeAt(same)) same++;
    // A level is shared when the dot ending it lies within the common start (both names have it).
    const { levels, ends } = this;
    let k = 0;
    while (k < this.depth && ends[k] < same) k++;
    this.previous = name;
    let parent = k ? levels[k - 1] : this.root;
    let start = k ? ends[k - 1] + 1 : 0;
    while (start <= lastDot) {
      if (k === MAX_TREE_DEPTH) {
        this.depth = k;
        return undefined;
      }
      const dot = name.indexOf('.', start);
      parent = parent.childNamed(name, start, dot) ?? this.newChild(parent, name.slice(start, dot), name.slice(0, dot));
      levels[k] = parent;
      ends[k] = dot;
      k++;
      start = dot + 1;
    }
    this.depth = k;
    return parent;
  }
}

/**
 * The parent of a name nested absurdly deep (a crafted file): its tail past MAX_TREE_DEPTH levels
 * stays one leaf name, so no walk over the tree can exhaust the stack.
 */
function deepParent(root: Builder, parts: string[], childOf: (p: Builder, name: string) => Builder): Builder {
  if (parts.length > MAX_TREE_DEPTH + 1) parts = [...parts.slice(0, MAX_TREE_DEPTH), parts.slice(MAX_TREE_DEPTH).join('.')];
  let node = root;
  for (let i = 0; i < parts.length - 1; i++) node = childOf(node, parts[i]);
  return node;
}

/**
 * Whether a module name is a number (`/^\d+$/`), as items of a ModuleList are named. Asked a few
 * times per module (ordering, describing, folding): a loop over the digits costs a few
 * nanoseconds where the regular expression costs some fifty.
 */
function isNumbered(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * Files without module classes often list names sorted as strings (`h.10` before `h.2`):
 * numbered children are put in numeric order, embeddings first and the output head last, as
 * print(model) would usually show them. Everything else keeps the file's order.
 */
interface Ranked {
  c: Builder;
  i: number;
  r: number;
  n: number;
}

/** What puts a module's children in order (Ranked), with the ranks of names kept for one tree. */
function childOrder(): (b: Builder) => void {
  const ranks = new Map<string, number>();
  const rankOf = (name: string): number => {
    let r = ranks.get(name);
    if (r === undefined) {
      r = isNumbered(name)
        ? 1
        : /^(wte|embed_tokens|embed_in|tok_embeddings|word_embeddings|token_embd|shared)$/i.test(name)
          ? 0
          : /(^|_)(wpe|embed|embeddings?|pos_embed|position_embeddings)$/i.test(name)
            ? 0.5
            : 1;
      ranks.set(name, r);
    }
    return r;
  };
  /** The rank of a child of `b`: at the root, the output head goes last. */
  const rank = (b: Builder, c: Builder): number => (b.path === '' && OUTPUT_HEAD.test(c.name) ? 3 : rankOf(c.name));
  return (b: Builder): void => {
    const kids = b.children;
    if (kids.length > 1) {
      // Most modules are in order already: neighbours are compared without a list of ranked children.
      let sorted = true;
      let r = rank(b, kids[0]);
      let n = numberOf(kids[0]);
      for (let i = 1; i < kids.length && sorted; i++) {
        const ri = rank(b, kids[i]);
        const ni = numberOf(kids[i]);
        // byRank(previous, this) > 0; the index tie-break of neighbours is never positive.
        if (r - ri > 0 || (r === ri && !isNaN(n) && !isNaN(ni) && n - ni > 0)) sorted = false;
        r = ri;
        n = ni;
      }
      if (!sorted) {
        const indexed = kids.map((c, i): Ranked => ({ c, i, r: rank(b, c), n: numberOf(c) }));
        b.reorder(indexed.sort(byRank).map(({ c }) => c));
      }
    }
  };
}

const OUTPUT_HEAD = /^(lm_head|output|embed_out|head|classifier|cls|score|output_norm)$/;
const numberOf = (c: Builder): number => (isNumbered(c.name) ? Number(c.name) : NaN);
const byRank = (x: Ranked, y: Ranked): number => x.r - y.r || (!isNaN(x.n) && !isNaN(y.n) ? x.n - y.n : x.i - y.i);

function attachHint(b: Builder, hint: ModuleHint, intern: Interner): void {
  b.hint = hint;
  for (const h of hint.children) {
    let child = b.child(h.name);
    if (!child) {
      child = new Builder(intern.string(h.name), b.path ? `${b.path}.${h.name}` : h.name);
      b.add(child);
    }
    attachHint(child, h, intern);
  }
}

/** Elements a tensor counts for: a packed quantized weight counts the weight it stands for. */
const counted = (t: Tensor) => t.logicalNumel ?? t.numel;
const isParam = (t: Tensor) => t.role === 'parameter';
const isBuffer = (t: Tensor) => t.role === 'buffer';
const isOther = (t: Tensor) => t.role === 'optimizer-state' || t.role === 'other';

/**
 * The modules in pre-order from the root, each noting its position (Builder.at): walked
 * backwards, each comes after its subtree. Iterative, so very deep trees cannot exhaust the
 * stack. `arrange`, when given, puts each module's children in order before they are walked:
 * one walk orders the tree and lists it.
 */
function preorder(root: Builder, arrange: ((b: Builder) => void) | undefined): Builder[] {
  const order: Builder[] = [];
  const stack: Builder[] = [root];
  while (stack.length) {
    const b = stack.pop()!;
    b.at = order.length;
    order.push(b);
    arrange?.(b);
    const kids = b.children;
    for (let k = 0; k < kids.length; k++) stack.push(kids[k]);
  }
  return order;
}

/** The nodes of the modules `order` lists (preorder()), from the last to the root, which it returns. */
function finish(order: Builder[], ctx: InferenceContext, shared: SharedGroup[], intern: Interner, stored: StoredCount | undefined, runs: RunBudget): ModuleNode {
  const sums = new Sums(order.length);
  const structures = new Structures(ctx, intern, sums.nodes);
  // Each storage's last measure, for the subtrees' shared tensors of each kind (measure()).
  const memos = { params: new Map<string, StorageMeasure>(), buffers: new Map<string, StorageMeasure>(), others: new Map<string, StorageMeasure>(), present: new Map<string, StorageMeasure>() };
  /** Per module, the last walk position in its subtree (preorder: a subtree's positions follow its module's). */
  const ends = new Int32Array(order.length);
  for (let i = order.length - 1; i >= 0; i--) {
    const b = order[i];
    let paramUnique = 0;
    let paramTotal = 0;
    let bufferUnique = 0;
    let bufferTotal = 0;
    let otherUnique = 0;
    let otherTotal = 0;
    let storedElements = 0;
    let storedBytes = 0;
    let count = 0;
    let flags = 0;
    let bytes: Record<string, number> | undefined;
    let sharedList: Tensor[] | null = null;
    /** The child whose shared list (and measures) this module's is, while it has no other (-1: none). */
    let takenFrom = -1;
    const own = b.own;
    for (let o = 0; o < own.length; o++) {
      const t = own[o];
      count++;
      if (t.role === 'optimizer-state') flags |= OPTIMIZER;
      // Quantization state (scales, zero points...) takes bytes but counts as no kind of element.
      const n = counted(t);
      const alone = t.group < 0;
      if (isParam(t)) {
        paramTotal += n;
        if (alone) paramUnique += n;
      } else if (isBuffer(t)) {
        bufferTotal += n;
        if (alone) bufferUnique += n;
      } else if (isOther(t)) {
        otherTotal += n;
        if (alone) otherUnique += n;
      }
      if (!alone) (sharedList ??= []).push(t);
      else if (t.present) {
        bytes ??= {};
        bytes[t.dtype] = (bytes[t.dtype] ?? 0) + t.nbytes;
      }
      if (stored && stored.counts(t)) {
        storedElements += t.numel;
        storedBytes += t.nbytes;
        if (stored.quantized(t)) flags |= QUANTIZED;
      }
    }
    const kids = b.children;
    const children: ModuleNode[] = kids.length ? new Array(kids.length) : NO_CHILDREN;
    let end = i;
    for (let k = 0; k < kids.length; k++) {
      const c = kids[k];
      const at = c.at;
      end = Math.max(end, ends[at]);
      paramUnique += sums.paramUnique[at];
      paramTotal += sums.paramTotal[at];
      bufferUnique += sums.bufferUnique[at];
      bufferTotal += sums.bufferTotal[at];
      otherUnique += sums.otherUnique[at];
      otherTotal += sums.otherTotal[at];
      storedElements += sums.storedElements[at];
      storedBytes += sums.storedBytes[at];
      count += sums.count[at];
      flags |= sums.flags[at];
      const childBytes = sums.bytes[at];
      for (const key in childBytes) {
        bytes ??= {};
        bytes[key] = (bytes[key] ?? 0) + childBytes[key];
      }
      const childShared = sums.shared[at];
      if (childShared) {
        // The first child's list is taken as it is while nothing else has been added, with its
        // measures: a module whose shared tensors are all one child's has that child's list.
        if (sharedList === null) {
          sharedList = childShared;
          takenFrom = at;
        } else {
          if (takenFrom >= 0) {
            sums.sharedMeasures[takenFrom] = null;
            takenFrom = -1;
          }
          for (const t of childShared) sharedList.push(t);
        }
      }
      children[k] = sums.nodes[at];
      // The parent has taken the child's shared list: it is not kept for the rest of the walk.
      sums.shared[at] = null;
      if (at !== takenFrom) sums.sharedMeasures[at] = null;
    }
    ends[i] = end;
    sums.paramUnique[i] = paramUnique;
    sums.paramTotal[i] = paramTotal;
    sums.bufferUnique[i] = bufferUnique;
    sums.bufferTotal[i] = bufferTotal;
    sums.otherUnique[i] = otherUnique;
    sums.otherTotal[i] = otherTotal;
    sums.storedElements[i] = storedElements;
    sums.storedBytes[i] = storedBytes;
    sums.count[i] = count;
    sums.flags[i] = flags;
    const aloneBytes = bytes ? intern.dict(bytes) : EMPTY_BYTES;
    sums.bytes[i] = aloneBytes;
    sums.shared[i] = sharedList;
    // Shared storages are counted once within this subtree.
    let bytesByDtype = aloneBytes;
    let sharedWith = NO_SHARED;
    let sharedWithMore: number | undefined;
    if (sharedList) {
      // Measured once per distinct list: a chain of modules above one holding shared views (a
      // name 64 levels deep) measured the same views at every level (10 strided views 32 deep: 80 s).
      let m = takenFrom >= 0 ? sums.sharedMeasures[takenFrom] : null;
      if (takenFrom >= 0) sums.sharedMeasures[takenFrom] = null;
      if (!m) {
        const sel = (pred: (t: Tensor) => boolean) => sharedList!.filter(pred);
        const params = sel(isParam);
        const buffers = sel(isBuffer);
        const others = sel(isOther);
        const p = params.length ? measure(params, runs, { last: memos.params, at: i, end }) : undefined;
        const present = sharedList.filter((t) => t.present);
        // Most shared tensors are stored parameters: their bytes are those the parameters' measure found.
        const allParams = p !== undefined && present.length === sharedList.length && params.length === sharedList.length;
        m = {
          params: p ? p.elements : 0,
          buffers: buffers.length ? measure(buffers, runs, { last: memos.buffers, at: i, end }).elements : 0,
          others: others.length ? measure(others, runs, { last: memos.others, at: i, end }).elements : 0,
          bytes: allParams ? p.bytesByDtype : measure(present, runs, { last: memos.present, at: i, end }).bytesByDtype,
        };
      }
      sums.sharedMeasures[i] = m;
      paramUnique += m.params;
      bufferUnique += m.buffers;
      otherUnique += m.others;
      const withShared: Record<string, number> = { ...aloneBytes };
      for (const [k, v] of Object.entries(m.bytes)) withShared[k] = (withShared[k] ?? 0) + v;
      bytesByDtype = intern.dict(withShared);
      const outside = sharedOutside(b.path, sharedList, shared);
      if (outside.length) sharedWith = outside.length > MAX_SHARED_ENTRIES ? outside.slice(0, MAX_SHARED_ENTRIES) : outside;
      if (outside.length > MAX_SHARED_ENTRIES) sharedWithMore = outside.length - MAX_SHARED_ENTRIES;
    }
    const d = describe(b, structures);
    let type = d.type;
    let evidence = d.evidence;
    if (!b.hint && paramTotal === 0 && bufferTotal === 0 && otherTotal > 0 && b.path !== '') {
      const optimizer = (flags & OPTIMIZER) !== 0;
      type = optimizer ? 'OptimizerState' : 'Tensors';
      evidence = optimizer ? 'optimizer state saved beside the model (not part of it)' : 'tensors saved beside the model (not part of it)';
    } else if (!b.hint && b.path === '' && paramTotal === 0 && bufferTotal === 0 && otherTotal > 0 && (flags & OPTIMIZER) !== 0) {
      // A file of optimizer state alone (an optimizer's state_dict() saved on its own): no model at the root either.
      type = 'OptimizerState';
      evidence = 'optimizer state only: the file holds no model';
    }
    // The children's types are settled before their runs are folded (signatures read them).
    refineBatchNorm(children);
    // Every field is set here, those that do not apply as undefined: one object shape, no field added later.
    sums.nodes[i] = {
      name: b.name,
      path: b.path,
      type,
      inferred: !b.hint,
      parameters: intern.countsOf(paramUnique, paramTotal),
      buffers: intern.countsOf(bufferUnique, bufferTotal),
      other: intern.countsOf(otherUnique, otherTotal),
      bytesByDtype,
      tensors: own.length ? namesInPlace(b, structures) : NO_NAMES,
      sharedWith,
      children,
      folds: foldRuns(b, sums.nodes, structures),
      tensorCount: count,
      sharedWithMore,
      repr: d.repr,
      evidence,
      stored: stored && flags & QUANTIZED ? stored.figures(storedElements, storedBytes, paramUnique) : undefined,
    };
  }
  return sums.nodes[0];
}

const EMPTY_BYTES: Record<string, number> = Object.freeze({}) as Record<string, number>;

/**
 * An inferred BatchNorm takes its dimensionality from its siblings, as in torchvision's blocks:
 * beside a Conv2d it is a BatchNorm2d; beside a Conv1d or a Linear, a BatchNorm1d.
 */
function refineBatchNorm(siblings: ModuleNode[]): void {
  if (!siblings.some(isInferredBatchNorm)) return;
  const bns = siblings.filter(isInferredBatchNorm);
  const conv = siblings.find((c) => /^Conv[123]d$/.test(c.type));
  const d = conv ? conv.type.slice(4, 6) : siblings.some((c) => c.type === 'Linear') ? '1d' : '';
  if (!d) return;
  for (const bn of bns) {
    bn.type = `BatchNorm${d}`;
    if (bn.repr) bn.repr = bn.repr.replace(/^BatchNorm\(/, `BatchNorm${d}(`);
    bn.evidence = `${bn.evidence ?? ''}; ${d} from a sibling ${conv ? conv.type : 'Linear'}`;
  }
}


const isInferredBatchNorm = (c: ModuleNode) => c.inferred && c.type === 'BatchNorm';

/**
 * The names of a module's own tensors, in their order, in the array that held the tensors: the
 * list is the module's alone (buildTree made it), and nothing reads it as tensors once the
 * module's node is made, so the node keeps one array per module rather than two (each one an
 * object the collector copies: 59,000 of them on DeepSeek-V3). Its structure, which folding reads
 * later (Structures.signature), is taken first.
 */
function namesInPlace(b: Builder, structures: Structures): string[] {
  structures.own(b);
  const own = b.own;
  const names = own as unknown as string[];
  for (let k = 0; k < own.length; k++) names[k] = own[k].name;
  b.own = NO_TENSORS;
  return names;
}

/** A module's type, repr and evidence: as its pickled class says, else as inferred from its tensors or its place. */
function describe(b: Builder, structures: Structures): Inference {
  const hint = b.hint;
  if (hint) return { type: hint.className, repr: hint.repr || undefined, evidence: `class ${hint.pythonModule}.${hint.className} recorded in the pickle` };
  const inf = b.own.length ? structures.layerOf(b) : undefined;
  if (inf) return inf;
  const kids = b.children;
  if (b.path === '') return ROOT;
  if (kids.length && kids.every((k) => isNumbered(k.name))) return MODULE_LIST;
  if (isNumbered(b.name)) return BLOCK;
  return b.own.length ? UNKNOWN_LAYER : CONTAINER;
}

const ROOT: Inference = Object.freeze({ type: 'Model', evidence: 'the checkpoint root' });
const MODULE_LIST: Inference = Object.freeze({ type: 'ModuleList', evidence: 'children named 0, 1, 2…' });
const BLOCK: Inference = Object.freeze({ type: 'Block', evidence: 'an item of a numbered list of modules' });
const UNKNOWN_LAYER: Inference = Object.freeze({ type: 'Module', evidence: 'tensors that match no known layer' });
const CONTAINER: Inference = Object.freeze({ type: 'Module', evidence: 'a container of other modules' });

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
    const ov = g.overlaps;
    const position = ov ? positionsOf(g) : undefined;
    for (const t of members) {
      const e: SharedWith = { tensor: t.name, others, relation: g.relation, group: gi };
      if (outside > others.length) e.more = outside - others.length;
      if (ov) {
        // The views outside this subtree that this one overlaps: its ties. Each tensor's own
        // list, so the cost is the overlaps it has (one for each of FSDP's views), not the group's size.
        const names: string[] = [];
        let more = 0;
        for (const j of ov[position!.get(t.name)!]) {
          const n = g.tensors[j];
          if (inside.has(n)) continue;
          if (names.length < limit) names.push(n);
          else more++;
        }
        e.overlaps = names;
        if (more) e.overlapsMore = more;
      }
      out.push(e);
    }
  }
  return out;
}

/** Each member's position in its group's `tensors`, made once per group when first asked for. */
const positions = new WeakMap<SharedGroup, Map<string, number>>();
function positionsOf(g: SharedGroup): Map<string, number> {
  let m = positions.get(g);
  if (!m) {
    m = new Map();
    g.tensors.forEach((n, i) => m!.set(n, i));
    positions.set(g, m);
  }
  return m;
}

/** Consecutive numbered children with identical structure fold like PyTorch's ModuleList print. */
function foldRuns(b: Builder, nodes: ModuleNode[], structures: Structures): FoldRun[] {
  const kids = b.children;
  if (kids.length < 2) return NO_FOLDS;
  // Lists made only for a run found: 14,848 experts of three named projections fold nothing.
  let runs: FoldRun[] | undefined;
  let i = 0;
  while (i < kids.length) {
    let j = i;
    const sig = foldSignature(kids[i], structures);
    if (sig !== -1) {
      while (j + 1 < kids.length && foldSignature(kids[j + 1], structures) === sig && Number(kids[j + 1].name) === Number(kids[j].name) + 1) j++;
    }
    if (j > i) {
      (runs ??= []).push({ first: i, last: j, from: kids[i].name, to: kids[j].name, count: j - i + 1, type: nodes[kids[i].at].type });
    }
    i = j + 1;
  }
  return runs ?? NO_FOLDS;
}

/** A numbered module's fold signature (Structures keeps it by module), -1 for a named one. */
function foldSignature(b: Builder, structures: Structures): number {
  return isNumbered(b.name) ? structures.signature(b) : -1;
}

/** A node of a structure trie: one step per part of a structure (strings and numbers, never joined into one string). */
class SigNode {
  private next: Map<unknown, SigNode> | undefined;
  /**
   * The step last taken from here, and where it led. Modules of one structure come one after
   * another (an MoE's experts and their projections), each taking the steps the one before took:
   * a comparison finds them, where a map look-up per step cost some 30 per expert. (`===` finds
   * what the map's SameValueZero would, NaN aside, which the map then finds.)
   */
  private lastPart: unknown = undefined;
  private lastNode: SigNode | undefined = undefined;
  /** The structure's id, once one is given. */
  id = -1;
  /** The layer inferred for the structure (null: none), once inferred. */
  layer: Inference | null | undefined = undefined;
  step(part: unknown): SigNode {
    if (this.lastNode !== undefined && part === this.lastPart) return this.lastNode;
    this.next ??= new Map();
    let n = this.next.get(part);
    if (!n) this.next.set(part, (n = new SigNode()));
    this.lastPart = part;
    this.lastNode = n;
    return n;
  }
}

const byName = (x: Tensor, y: Tensor): number => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0);

/**
 * What is worked out once per distinct structure rather than once per module, for one analysis:
 * the structure of a module's own tensors, the layer inferred from it, and fold signatures. A
 * structure is a path of parts through a trie, so equal structures reach the same node without a
 * key string being built: the 14,848 experts of a mixture-of-experts model of one shape cost one
 * inference and one signature entry.
 */
class Structures {
  private readonly owns = new SigNode();
  private readonly layers = new SigNode();
  private readonly signatureTrie = new SigNode();
  private ownCount = 0;
  private signatureCount = 0;
  /** The order signature() takes children in (OneOrder). */
  private readonly oneOrder = new OneOrder();
  private readonly recent = new RecentLayers();
  /**
   * By module (its position in the walk, Builder.at): the id of the structure of its own tensors
   * (own()) and whether a layer inferred from it can be shared, once taken; its fold signature
   * (signature()), once taken. -1: not yet.
   */
  private readonly ownIds: Int32Array;
  private readonly shareable: Uint8Array;
  private readonly signatures: Int32Array;
  constructor(
    private readonly ctx: InferenceContext,
    private readonly intern: Interner,
    /** The nodes finish() has made, by module. */
    private readonly nodes: ModuleNode[],
  ) {
    this.ownIds = new Int32Array(nodes.length).fill(-1);
    this.shareable = new Uint8Array(nodes.length);
    this.signatures = new Int32Array(nodes.length).fill(-1);
  }

  /**
   * Structure of a module's own tensors: each one's name relative to the module, dims, dtype and
   * role, in name order. Also notes whether a layer inferred from them can be shared (memoisable).
   */
  own(b: Builder): number {
    if (this.ownIds[b.at] >= 0) return this.ownIds[b.at];
    let own = b.own;
    let inOrder = true;
    if (own.length > 1) {
      for (let i = 1; i < own.length && inOrder; i++) inOrder = own[i - 1].name < own[i].name;
      if (!inOrder) own = own.slice().sort(byName);
    }
    const rel = b.path ? b.path.length + 1 : 0;
    let n = this.owns.step(own.length);
    for (let o = 0; o < own.length; o++) {
      const t = own[o];
      // The local name inferLayer reads is a function of the relative name only after a dot.
      if (rel > 0 && t.name.charCodeAt(rel - 1) !== 0x2e) inOrder = false;
      n = n.step(t.name.slice(rel)).step(t.shape.length);
      for (let d = 0; d < t.shape.length; d++) n = n.step(t.shape[d]);
      n = n.step(t.dtype).step(t.role);
    }
    if (n.id < 0) n.id = this.ownCount++;
    this.ownIds[b.at] = n.id;
    this.shareable[b.at] = inOrder ? 1 : 0;
    return n.id;
  }

  /**
   * The layer of a module with tensors of its own: as the file states it, else inferred, once per
   * (module name, own structure, the packed weight's quantization). The key holds everything
   * inferLayer reads of the module (infer.ts says so); a module whose tensors are out of name
   * order, or not named below its path, is inferred on its own.
   */
  layerOf(b: Builder): Inference | undefined {
    const stated = this.ctx.layers?.[b.path];
    if (stated) return this.texts(stated);
    const like = this.recent.find(b);
    if (like) {
      this.ownIds[b.at] = this.ownIds[like.module.at];
      this.shareable[b.at] = 1;
      return like.layer ?? undefined;
    }
    const structure = this.own(b);
    if (!this.shareable[b.at]) return this.infer(b);
    let n = this.layers.step(structure).step(b.name);
    const own = b.own;
    for (let o = 0; o < own.length; o++) {
      const t = own[o];
      if (t.quant) n = quantSteps(n.step(o), t);
    }
    if (n.layer === undefined) n.layer = this.infer(b) ?? null;
    this.recent.add(b, n.layer);
    return n.layer ?? undefined;
  }

  private infer(b: Builder): Inference | undefined {
    const inf = inferLayer(b.name, b.own, this.ctx);
    return inf && this.texts(inf);
  }

  /** Thousands of experts read alike: their texts are kept once. */
  private texts(inf: Inference): Inference {
    return { type: this.intern.string(inf.type), repr: this.intern.string(inf.repr), evidence: this.intern.string(inf.evidence) };
  }

  /**
   * Fold signature: type, repr, totals, own structure, children (name and signature, in one order
   * whatever order the file gave them: OneOrder), recursively. Taken when the parent folds its
   * children, after it has settled their types (refineBatchNorm).
   */
  signature(b: Builder): number {
    if (this.signatures[b.at] >= 0) return this.signatures[b.at];
    const m = this.nodes[b.at];
    let n = this.signatureTrie.step(m.type).step(m.repr ?? '').step(m.parameters.total).step(m.buffers.total).step(this.own(b));
    const kids = b.children;
    const order = this.oneOrder.of(kids);
    n = n.step(kids.length);
    for (let k = 0; k < kids.length; k++) {
      const c = kids[order ? order[k] : k];
      n = n.step(c.name).step(this.signature(c));
    }
    if (n.id < 0) n.id = this.signatureCount++;
    this.signatures[b.at] = n.id;
    return n.id;
  }
}

/**
 * A module's children in one order, whatever order the file gave them: numbered ones by number,
 * then named ones by name. Sharded safetensors give a module's tensors in another order where a
 * shard ends inside it: each shard's writer sorts its tensors (by dtype, then name) while the shards
 * follow the state dict, so the one expert of a mixture-of-experts layer cut by a shard's end met
 * its projections gate, up, down where the others met down, gate, up, and did not fold with them,
 * nor its layer with the other layers (Kimi-K2's layout printed 2,320 lines). Two modules whose
 * children differ only in order are alike to fold: the own structure (Structures.own) is in name
 * order already, and a class's children (from a pickled module) come in its one order anyway.
 */
class OneOrder {
  /** The children's names of the last module asked about that has two children or more, and their order. */
  private names: string[] = [];
  private order: number[] | null = null;

  /**
   * The positions of `kids` in one order, or null when they are in it already. Modules of one
   * structure come together (14,848 experts whose projections come gate, up, down): one that has
   * the names of the last, in the same order, takes its order without a sort.
   */
  of(kids: Builder[]): number[] | null {
    if (kids.length < 2) return null;
    const last = this.names;
    if (last.length === kids.length) {
      let same = true;
      for (let k = 0; k < kids.length && same; k++) same = kids[k].name === last[k];
      if (same) return this.order;
    }
    let inOrder = true;
    for (let k = 1; k < kids.length && inOrder; k++) inOrder = byChildName(kids[k - 1], kids[k]) <= 0;
    this.order = inOrder ? null : kids.map((_, i) => i).sort((i, j) => byChildName(kids[i], kids[j]));
    this.names = kids.map((c) => c.name);
    return this.order;
  }
}

const byChildName = (x: Builder, y: Builder): number => {
  const nx = numberOf(x);
  const ny = numberOf(y);
  if (isNaN(nx) !== isNaN(ny)) return isNaN(nx) ? 1 : -1;
  // By number, then by name: "01" and "1" are one number, two names.
  return (!isNaN(nx) && nx - ny) || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0);
};

/** A module whose layer Structures.layerOf found in its tries, with its tensors and their local names. */
interface RecentLayer {
  module: Builder;
  /** The module's own tensors (its list becomes its node's names: namesInPlace). */
  own: Tensor[];
  locals: string[];
  layer: Inference | null;
}

/**
 * The last few modules whose layers came from the tries: a module that reads like one of them
 * (same name, and tensors alike in everything the tries' keys hold) has its structure and layer.
 * Compared in place, this costs a few comparisons where the tries cost a local-name string and
 * some thirty map look-ups per module; an MoE's 44,544 expert projections come in turns of three
 * (gate, up, down), so a handful of entries finds nearly all of them.
 */
class RecentLayers {
  private readonly entries: RecentLayer[] = [];
  private at = 0;

  /** `b` (its own tensors in name order, each named below its path) and the layer found for it. */
  add(b: Builder, layer: Inference | null): void {
    const rel = b.path ? b.path.length + 1 : 0;
    this.entries[this.at] = { module: b, own: b.own.slice(), locals: b.own.map((t) => t.name.slice(rel)), layer };
    this.at = (this.at + 1) % RECENT_LAYERS;
  }

  find(b: Builder): RecentLayer | undefined {
    for (let e = 0; e < this.entries.length; e++) if (readsLike(this.entries[e], b)) return this.entries[e];
    return undefined;
  }
}

const RECENT_LAYERS = 4;

/**
 * Whether `b` has the own structure (Structures.own) and the layer key (Structures.layerOf) of
 * the module `r` describes: its name, and per tensor in order the local name, dims, dtype, role
 * and, for a packed weight, the same scheme (FP8 layers of a shape share one QuantLayer), logical
 * shape and reason; its names in order, each with a dot before its local part, as own() asks.
 */
function readsLike(r: RecentLayer, b: Builder): boolean {
  const m = r.module;
  const own = b.own;
  if (m.name !== b.name || r.own.length !== own.length) return false;
  const rel = b.path ? b.path.length + 1 : 0;
  for (let o = 0; o < own.length; o++) {
    const s = r.own[o];
    const t = own[o];
    const local = r.locals[o];
    const name = t.name;
    if (!isLocalName(name, rel, local) || (rel > 0 && name.charCodeAt(rel - 1) !== 0x2e)) return false;
    if (o > 0 && !(own[o - 1].name < name)) return false;
    if (t.dtype !== s.dtype || t.role !== s.role || !sameDims(t.shape, s.shape) || t.quant !== s.quant) return false;
    if (t.quant && (t.roleReason !== s.roleReason || !sameDims(t.logicalShape, s.logicalShape))) return false;
  }
  return true;
}

/** The parts of a packed weight that quantLayerInference reads: its layer, logical shape and reason. */
function quantSteps(n: SigNode, t: Tensor): SigNode {
  const q = t.quant!;
  n = n.step(q.method).step(q.bits).step(q.groupSize).step(q.format).step(q.rows).step(q.cols).step(q.bias);
  n = dimSteps(dimSteps(n, q.blockSize), t.logicalShape);
  return n.step(t.roleReason);
}

function dimSteps(n: SigNode, dims: number[] | undefined): SigNode {
  if (dims === undefined) return n.step(undefined);
  n = n.step(dims.length);
  for (let i = 0; i < dims.length; i++) n = n.step(dims[i]);
  return n;
}
