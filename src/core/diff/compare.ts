/**
 * Compare two analysed checkpoints: which tensors were added, removed, changed or renamed, which
 * ties were gained or lost, how every module's counts moved, and which metadata and config keys
 * differ. Headers only, unless `data: true` asks for the bytes to be hashed.
 */
import { coverage, Interval, sameDims } from '../coverage';
import { exact } from '../numbers';
import { dtypeInfo } from '../dtypes';
import { Checkpoint, ModuleNode, Relation, Role, Tensor } from '../model';
import { compareData, DataOptions } from './data';
import { diffKeys } from './keys';
import { matchTensors } from './match';
import { CheckpointDiff, ModuleRow, SideCounts, TensorPair, TieChange, TieSame } from './model';

export interface CompareOptions extends DataOptions {
  /** Compare tensor bytes by streaming SHA-256 (local files only). Default false. */
  data?: boolean;
}

/** The comparison of structure only (no file is read). */
export function compareStructure(a: Checkpoint, b: Checkpoint): CheckpointDiff {
  const m = matchTensors(a, b);
  pairChanges(m.pairs);
  return finish(a, m.a, b, m.pairs);
}

export async function compareCheckpoints(a: Checkpoint, b: Checkpoint, opts: CompareOptions = {}): Promise<CheckpointDiff> {
  const m = matchTensors(a, b);
  pairChanges(m.pairs);
  const data = opts.data ? await compareData(m.pairs, m.a, b, opts) : undefined;
  return finish(a, m.a, b, m.pairs, data);
}

// The passes over every pair (92,000 on DeepSeek-V3) and every row (61,536) use index loops:
// they run once per comparison, mostly before V8 optimises them, and an unoptimised for-of
// allocates an iterator result per step (32 of the 103 MB the comparison allocated).

function pairChanges(pairs: TensorPair[]): void {
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i];
    if (!p.a || !p.b) continue;
    if (p.a.dtype !== p.b.dtype) p.changes.push('dtype');
    if (!sameDims(p.a.shape, p.b.shape)) p.changes.push('shape');
    if (p.a.role !== p.b.role) p.changes.push('role');
  }
}

function finish(aOriginal: Checkpoint, A: Checkpoint, B: Checkpoint, pairs: TensorPair[], data?: CheckpointDiff['data']): CheckpointDiff {
  const byKey = new Map<string, TensorPair>();
  for (let i = 0; i < pairs.length; i++) byKey.set(pairs[i].key, pairs[i]);
  const shared = compareSharing(A, B, byKey);
  const added: TensorPair[] = [];
  const removed: TensorPair[] = [];
  const changed: TensorPair[] = [];
  const renamed: TensorPair[] = [];
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i];
    if (p.data === 'different') p.changes.push('data');
    p.status = !p.a ? 'added' : !p.b ? 'removed' : p.changes.length ? 'changed' : 'equal';
    if (p.status === 'added') added.push(p);
    else if (p.status === 'removed') removed.push(p);
    else if (p.status === 'changed') changed.push(p);
    if (p.renamed) renamed.push(p);
  }
  const { root, rows, next } = alignTrees(A.modules, B.modules, byKey);
  // Pairs the trees did not reach (none expected) still get an order.
  let order = next;
  for (let i = 0; i < pairs.length; i++) if (pairs[i].order < 0) pairs[i].order = order++;
  ownership(A, pairs, 'a');
  ownership(B, pairs, 'b');
  const classes = countRows(rows);

  const config = diffKeys(A.config, B.config, true);
  // A config.json on one side only says nothing about the other model: listed, not counted.
  if (!A.config || !B.config) for (const c of config) c.informational = true;
  const metadata = diffKeys(A.metadata, B.metadata);
  const diff: CheckpointDiff = {
    a: A,
    b: B,
    aOriginal,
    pairs,
    added,
    removed,
    changed,
    renamed,
    shared,
    root,
    metadata,
    config,
    equal: false,
    reasons: [],
  };
  if (data) diff.data = data;
  const reasons: string[] = [];
  const n = (k: number, one: string, many: string) => (k ? reasons.push(`${exact(k)} ${k === 1 ? one : many}`) : 0);
  n(diff.added.length, 'tensor added', 'tensors added');
  n(diff.removed.length, 'tensor removed', 'tensors removed');
  n(diff.changed.length, 'tensor changed', 'tensors changed');
  n(diff.renamed.length, 'tensor renamed', 'tensors renamed');
  n(shared.lost.length, 'tie lost', 'ties lost');
  n(shared.gained.length, 'tie gained', 'ties gained');
  n(shared.changed.length, 'tie changed its relation', 'ties changed their relation');
  n(classes, 'module changed its class or attributes', 'modules changed their class or attributes');
  const keys = config.filter((c) => !c.informational).length;
  if (keys) reasons.push(keys === 1 ? '1 config key differs' : `${exact(keys)} config keys differ`);
  diff.reasons = reasons;
  diff.equal = reasons.length === 0;
  return diff;
}

export function walkRows(root: ModuleRow, fn: (r: ModuleRow) => void): void {
  const stack = [root];
  while (stack.length) {
    const r = stack.pop()!;
    fn(r);
    for (let i = r.children.length - 1; i >= 0; i--) stack.push(r.children[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// Sharing

const sameRelation = (x: Relation, y: Relation) => (x === 'declared' ? 'alias' : x) === (y === 'declared' ? 'alias' : y);

/**
 * Ties lost and gained, linear in the group sizes: a group of one side is kept when all its
 * tensors that the other side has sit in one storage group there; otherwise it is split, and
 * the split (how the other side stores them) is reported.
 */
function compareSharing(A: Checkpoint, B: Checkpoint, byKey: Map<string, TensorPair>): CheckpointDiff['shared'] {
  const lost: TieChange[] = [];
  const gained: TieChange[] = [];
  const changed: TieSame[] = [];
  const same: TieSame[] = [];
  const split = (side: 'a' | 'b', groups: Checkpoint['shared'], other: Checkpoint['shared'], out: TieChange[], mark: (p: TensorPair, i: number) => void) => {
    const otherSide = side === 'a' ? 'b' : 'a';
    groups.forEach((g) => {
      // Equal tensors an exporter stored once are not tied in the model: nothing to keep or lose.
      if (g.relation === 'deduplicated') return;
      const members: TensorPair[] = [];
      for (const k of g.tensors) {
        const p = byKey.get(k);
        if (p && p.a && p.b) members.push(p);
      }
      if (members.length < 2) return;
      const parts = new Map<number | string, TensorPair[]>();
      for (const p of members) {
        const og = p[otherSide]!.group;
        const key = og >= 0 && other[og].relation !== 'deduplicated' ? og : `own:${p.key}`;
        const list = parts.get(key);
        if (list) list.push(p);
        else parts.set(key, [p]);
      }
      if (parts.size === 1) {
        if (side === 'b') {
          const og = members[0].a!.group;
          const ga = other[og];
          // Kept on both sides: the same tensors in one group each.
          const back = ga.tensors.filter((k) => {
            const p = byKey.get(k);
            return p && p.a && p.b;
          }).length;
          if (back === members.length) {
            const t: TieSame = { tensors: members.map((p) => p.key), relation: { a: ga.relation, b: g.relation } };
            if (sameRelation(ga.relation, g.relation)) same.push(t);
            else {
              changed.push(t);
              for (const p of members) if (!p.changes.includes('sharing')) p.changes.push('sharing');
            }
          }
        }
        return;
      }
      const idx = out.length;
      out.push({ tensors: g.tensors.slice(), relation: g.relation, other: [...parts.values()].map((ps) => ps.map((p) => p.key)) });
      for (const p of members) {
        mark(p, idx);
        if (!p.changes.includes('sharing')) p.changes.push('sharing');
      }
    });
  };
  split('a', A.shared, B.shared, lost, (p, i) => (p.tieLost = i));
  split('b', B.shared, A.shared, gained, (p, i) => (p.tieGained = i));
  return { gained, lost, changed, same };
}

// ---------------------------------------------------------------------------------------------
// The aligned tree

const NO_NAMES: string[] = [];
const NO_NODES: ModuleNode[] = [];

/**
 * The two module trees merged by path. Also returns the rows children-first (for counting bottom
 * up) and numbers the tensors depth first (tree order).
 */
function alignTrees(a: ModuleNode | null, b: ModuleNode | null, byKey: Map<string, TensorPair>): { root: ModuleRow; rows: ModuleRow[]; next: number } {
  const rows: ModuleRow[] = [];
  let next = 0;
  const row = (x: ModuleNode | null, y: ModuleNode | null): ModuleRow => {
    const node = (y ?? x)!;
    const tb = y?.tensors ?? NO_NAMES;
    const ta = x?.tensors ?? NO_NAMES;
    const tensors = pairsOf(tb, byKey);
    // Names only A's module holds (the same list on both sides is the common case).
    if (ta.length && !sameStrings(ta, tb)) {
      const seen = new Set(tb);
      for (const n of ta) {
        const p = byKey.get(n);
        if (p && !seen.has(n)) {
          tensors.push(p);
          seen.add(n);
        }
      }
    }
    for (let i = 0; i < tensors.length; i++) tensors[i].order = next++;
    const kidsB = y?.children ?? NO_NODES;
    const kidsA = x?.children ?? NO_NODES;
    // Children in B's order; those only A has go after the sibling they follow in A.
    const children = sameNames(kidsA, kidsB) ? kidsB.map((c, i) => row(kidsA[i], c)) : mergedChildren(kidsA, kidsB);
    const typeChanged = !!x && !!y && x.inferred === y.inferred && (x.type !== y.type || (x.repr ?? '') !== (y.repr ?? ''));
    const r: ModuleRow = {
      name: node.name,
      path: node.path,
      status: 'equal',
      a: x,
      b: y,
      countsA: null,
      countsB: null,
      typeChanged,
      typeCounts: typeChanged && !x!.inferred && !y!.inferred,
      tensors,
      children,
      changed: 0,
      renamed: 0,
      aPath: undefined,
    };
    rows.push(r);
    return r;
  };
  const mergedChildren = (kidsA: ModuleNode[], kidsB: ModuleNode[]): ModuleRow[] => {
    const out: ModuleRow[] = [];
    const aByName = new Map(kidsA.map((c) => [c.name, c]));
    const inB = new Set(kidsB.map((c) => c.name));
    const after = new Map<string, ModuleNode[]>();
    let anchor = '\0start';
    for (const c of kidsA) {
      if (inB.has(c.name)) anchor = c.name;
      else {
        const list = after.get(anchor);
        if (list) list.push(c);
        else after.set(anchor, [c]);
      }
    }
    for (const c of after.get('\0start') ?? []) out.push(row(c, null));
    for (const c of kidsB) {
      out.push(row(aByName.get(c.name) ?? null, c));
      for (const o of after.get(c.name) ?? []) out.push(row(o, null));
    }
    return out;
  };
  const root = row(a, b);
  return { root, rows, next };
}

/**
 * The pairs of a module's tensor names, in a list of its exact size: rows keep these lists (46,000
 * on DeepSeek-V3), and a list grown by push reserves 16 slots for a leaf's two tensors.
 */
function pairsOf(names: string[], byKey: Map<string, TensorPair>): TensorPair[] {
  const out = new Array<TensorPair>(names.length);
  let k = 0;
  for (let i = 0; i < names.length; i++) {
    const p = byKey.get(names[i]);
    if (p) out[k++] = p;
  }
  out.length = k;
  return out;
}

function sameStrings(x: string[], y: string[]): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

function sameNames(x: ModuleNode[], y: ModuleNode[]): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i].name !== y[i].name) return false;
  return true;
}

/** Counts, statuses and A's own path for every row, bottom up; returns the rows whose class changed. */
function countRows(rows: ModuleRow[]): number {
  const counts = new SideCountsCache();
  // One accumulator per side for all rows (reset per row), not three objects per row.
  const ownA: Owned = { p: 0, b: 0, bytes: 0 };
  const ownB: Owned = { p: 0, b: 0, bytes: 0 };
  let classes = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r.typeCounts) classes++;
    let changed = 0;
    let renamed = 0;
    ownA.p = ownA.b = ownA.bytes = 0;
    ownB.p = ownB.b = ownB.bytes = 0;
    for (let j = 0; j < r.tensors.length; j++) {
      const t = r.tensors[j];
      if (t.status !== 'equal') changed++;
      if (t.renamed) renamed++;
      if (t.a) addOwned(ownA, t.a.role, t.ownedA, t.ownedBytesA);
      if (t.b) addOwned(ownB, t.b.role, t.ownedB, t.ownedBytesB);
    }
    for (let j = 0; j < r.children.length; j++) {
      const c = r.children[j];
      changed += c.changed;
      renamed += c.renamed;
      if (c.countsA) {
        ownA.p += c.countsA.parameters.owned;
        ownA.b += c.countsA.buffers.owned;
        ownA.bytes += c.countsA.bytes.owned;
      }
      if (c.countsB) {
        ownB.p += c.countsB.parameters.owned;
        ownB.b += c.countsB.buffers.owned;
        ownB.bytes += c.countsB.bytes.owned;
      }
    }
    r.changed = changed;
    r.renamed = renamed;
    r.countsA = r.a ? counts.of(r.a, ownA) : null;
    r.countsB = r.b ? counts.of(r.b, ownB) : null;
    r.status = !r.a ? 'added' : !r.b ? 'removed' : changed || r.typeChanged ? 'changed' : 'equal';
    if (renamed) r.aPath = aPathOf(r);
  }
  return classes;
}

/** Elements and bytes a row's tensors and children own on one side. */
interface Owned {
  p: number;
  b: number;
  bytes: number;
}

function addOwned(o: Owned, role: Role, n: number, bytes: number): void {
  if (role === 'parameter') o.p += n;
  else if (role === 'buffer') o.b += n;
  o.bytes += bytes;
}

/** Candidates kept per parameter count: enough for the few variants real models have, and a bound on the scan. */
const COUNTS_PER_KEY = 16;

/**
 * Rows' side counts, one object per distinct value: modules repeated across layers and experts
 * count alike (DeepSeek-V3 against itself: 61,536 rows, 25 distinct counts), and four objects per
 * side and row were half of what the comparison kept (38 of 74 MB) and most of its allocation
 * time. Found by the parameter count, then compared field by field; never mutated after (like
 * the analysis's interned counts).
 */
class SideCountsCache {
  private readonly byParameters = new Map<number, SideCounts[]>();
  /** Stored bytes of each bytes-by-dtype record: the analysis keeps one record per distinct value. */
  private readonly bytesOf = new Map<Record<string, number>, number>();

  of(m: ModuleNode, owned: Owned): SideCounts {
    let bytes = this.bytesOf.get(m.bytesByDtype);
    if (bytes === undefined) {
      bytes = 0;
      for (const v of Object.values(m.bytesByDtype)) bytes += v;
      this.bytesOf.set(m.bytesByDtype, bytes);
    }
    let list = this.byParameters.get(m.parameters.unique);
    if (!list) this.byParameters.set(m.parameters.unique, (list = []));
    for (let i = 0; i < list.length; i++) {
      const c = list[i];
      if (
        c.parameters.total === m.parameters.total &&
        c.parameters.owned === owned.p &&
        c.buffers.unique === m.buffers.unique &&
        c.buffers.total === m.buffers.total &&
        c.buffers.owned === owned.b &&
        c.bytes.unique === bytes &&
        c.bytes.owned === owned.bytes
      )
        return c;
    }
    const c: SideCounts = {
      parameters: { unique: m.parameters.unique, total: m.parameters.total, owned: owned.p },
      buffers: { unique: m.buffers.unique, total: m.buffers.total, owned: owned.b },
      bytes: { unique: bytes, owned: owned.bytes },
    };
    if (list.length < COUNTS_PER_KEY) list.push(c);
    return c;
  }
}

/** A's own path for a row whose tensors were renamed, from a tensor's two names or a child's. */
function aPathOf(r: ModuleRow): string | undefined {
  if (!r.a || r.path === '') return undefined;
  for (const t of r.tensors) {
    if (!t.a || t.aName === null || t.aName === t.key) continue;
    const leaf = t.key.slice(r.path.length);
    if (t.aName.endsWith(leaf)) {
      const p = t.aName.slice(0, t.aName.length - leaf.length);
      return p === r.path ? undefined : p;
    }
    return undefined;
  }
  for (const c of r.children) {
    if (c.aPath === undefined) continue;
    const tail = `.${c.name}`;
    if (c.aPath.endsWith(tail)) {
      const p = c.aPath.slice(0, c.aPath.length - tail.length);
      return p === r.path ? undefined : p;
    }
    if (c.aPath === c.name) return '';
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Ownership: counts that add up

/** Intervals enumerated per shared storage at most, as the analysis does. */
const STORAGE_RUN_BUDGET = 1_000_000;

const roleClass = (r: Role) => (r === 'parameter' ? 0 : r === 'buffer' ? 1 : 2);

/**
 * Elements and bytes each tensor adds to its side's unique counts. A tensor alone on its storage
 * owns its elements (and, when stored, its bytes); on a shared storage, each element belongs to
 * the first tensor (in tree order) of the same role class that covers it, and each byte to the
 * first stored tensor covering it. So a tied head owns nothing, three row blocks of one fused
 * weight own one block each, and owned counts add up to the analysis' unique counts.
 */
function ownership(cp: Checkpoint, pairs: TensorPair[], side: 'a' | 'b'): void {
  // Tensors alone on their storage (nearly all): no lookup needed.
  const inGroup = new Map<Tensor, TensorPair>();
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i];
    const t = side === 'a' ? p.a : p.b;
    if (!t) continue;
    if (t.group >= 0) {
      inGroup.set(t, p);
      continue;
    }
    const bytes = t.present ? t.nbytes : 0;
    if (side === 'a') {
      p.ownedA = t.numel;
      p.ownedBytesA = bytes;
    } else {
      p.ownedB = t.numel;
      p.ownedBytesB = bytes;
    }
  }
  if (inGroup.size === 0) return;
  const set = (t: Tensor, elements: number | null, bytes: number | null) => {
    const p = inGroup.get(t);
    if (!p) return;
    if (side === 'a') {
      if (elements !== null) p.ownedA = elements;
      if (bytes !== null) p.ownedBytesA = bytes;
    } else {
      if (elements !== null) p.ownedB = elements;
      if (bytes !== null) p.ownedBytesB = bytes;
    }
  };
  const orderOf = (t: Tensor) => inGroup.get(t)?.order ?? Number.MAX_SAFE_INTEGER;
  const byName = new Map<string, Tensor>();
  for (const t of cp.tensors) if (t.group >= 0) byName.set(t.name, t);
  for (const g of cp.shared) {
    const members: Tensor[] = [];
    for (const n of g.tensors) {
      const t = byName.get(n);
      if (t) members.push(t);
    }
    members.sort((x, y) => orderOf(x) - orderOf(y));
    if (g.relation === 'deduplicated') {
      // Equal tensors an exporter stored once are tensors of their own: each owns its elements.
      for (const t of members) set(t, t.numel, null);
    } else {
      const classes: Tensor[][] = [[], [], []];
      for (const t of members) classes[roleClass(t.role)].push(t);
      for (const list of classes) {
        if (list.length === 0) continue;
        const owned = ownElements(list);
        list.forEach((t, i) => set(t, owned[i], null));
      }
    }
    const stored = members.filter((t) => t.present);
    const bytes = stored.length === 1 ? [stored[0].nbytes] : sweepBytes(stored);
    for (const t of members) if (!t.present) set(t, null, 0);
    stored.forEach((t, i) => set(t, null, bytes[i]));
  }
}

function isAlias(members: Tensor[]): boolean {
  const first = members[0];
  return members.every(
    (m) => m.dtype === first.dtype && m.storageOffset === first.storageOffset && sameDims(m.shape, first.shape) && sameDims(m.strides, first.strides),
  );
}

function ownElements(members: Tensor[]): number[] {
  const out = members.map(() => 0);
  if (members.length === 1) {
    out[0] = members[0].numel;
    return out;
  }
  const dtype = members[0].dtype;
  const bits = dtypeInfo(dtype)?.bits;
  if (!bits || bits % 8 !== 0 || !members.every((m) => m.dtype === dtype)) {
    // Mixed or sub-byte dtypes on one storage: the largest member is counted once (as the analysis does).
    out[0] = Math.max(...members.map((m) => m.numel));
    return out;
  }
  if (isAlias(members)) {
    out[0] = members[0].numel;
    return out;
  }
  const es = bits / 8;
  return sweepBytes(members).map((b) => b / es);
}

/** Bytes of the storage each member covers first (members in rank order): a sweep over their intervals. */
function sweepBytes(members: Tensor[]): number[] {
  const bytes = members.map(() => 0);
  if (members.length === 0) return bytes;
  if (isAlias(members)) {
    bytes[0] = coverage(members[0], 1).reduce((s, [a, b]) => s + b - a, 0);
    return bytes;
  }
  const ivs: { s: number; e: number; rank: number }[] = [];
  let budget = STORAGE_RUN_BUDGET;
  members.forEach((t, rank) => {
    const part: Interval[] = coverage(t, Math.max(1, Math.min(100_000, budget)));
    budget -= part.length;
    for (const [s, e] of part) if (e > s) ivs.push({ s, e, rank });
  });
  ivs.sort((x, y) => x.s - y.s);
  const points = new Set<number>();
  for (const iv of ivs) {
    points.add(iv.s);
    points.add(iv.e);
  }
  const xs = [...points].sort((x, y) => x - y);
  const heap = new MinHeap();
  let k = 0;
  for (let i = 0; i + 1 < xs.length; i++) {
    const x = xs[i];
    while (k < ivs.length && ivs[k].s === x) heap.push(ivs[k++]);
    while (heap.size && heap.top().e <= x) heap.pop();
    if (heap.size) bytes[heap.top().rank] += xs[i + 1] - x;
  }
  return bytes;
}


/** A binary heap of intervals by rank (then end), for the ownership sweep. */
class MinHeap {
  private a: { s: number; e: number; rank: number }[] = [];
  get size(): number {
    return this.a.length;
  }
  top(): { s: number; e: number; rank: number } {
    return this.a[0];
  }
  private less(i: number, j: number): boolean {
    return this.a[i].rank < this.a[j].rank || (this.a[i].rank === this.a[j].rank && this.a[i].e > this.a[j].e);
  }
  push(x: { s: number; e: number; rank: number }): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): void {
    const a = this.a;
    const last = a.pop()!;
    if (a.length === 0) return;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.less(l, m)) m = l;
      if (r < a.length && this.less(r, m)) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m], a[i]];
      i = m;
    }
  }
}

/** What happened to one side's storage group in the comparison. */
export type TieStatus = 'lost' | 'gained' | 'changed' | 'same';

/** One side's storage group (exporter deduplication left out) with its status and the pairs holding its tensors. */
export interface SideTie {
  side: 'a' | 'b';
  status: TieStatus;
  relation: Relation;
  tensors: string[];
  /** The pair of each tensor of the group that has one, in the group's order. */
  pairs: TensorPair[];
}

/**
 * Each side's storage groups and what happened to them: a's groups that b does not have are
 * lost, b's that a does not have gained, a group whose members changed relation is changed. The
 * diff SVG and the comparison view draw their tie links from this.
 */
export function sideTies(d: CheckpointDiff): SideTie[] {
  const byKey = new Map<string, TensorPair>();
  for (const p of d.pairs) byKey.set(p.key, p);
  const key = (names: string[]) => names.join('\0');
  const lost = new Set(d.shared.lost.map((t) => key(t.tensors)));
  const gained = new Set(d.shared.gained.map((t) => key(t.tensors)));
  const changed = new Set<string>();
  for (const t of d.shared.changed) for (const n of t.tensors) changed.add(n);
  const out: SideTie[] = [];
  for (const side of ['a', 'b'] as const) {
    const cp = side === 'a' ? d.a : d.b;
    for (const g of cp.shared) {
      if (g.relation === 'deduplicated') continue;
      const status: TieStatus = (side === 'a' ? lost : gained).has(key(g.tensors)) ? (side === 'a' ? 'lost' : 'gained') : g.tensors.some((n) => changed.has(n)) ? 'changed' : 'same';
      const pairs: TensorPair[] = [];
      for (const n of g.tensors) {
        const p = byKey.get(n);
        if (p) pairs.push(p);
      }
      out.push({ side, status, relation: g.relation, tensors: g.tensors, pairs });
    }
  }
  return out;
}
