/**
 * The comparison as a JSON document (`weightscope diff --json`, schema 1). A contract like the
 * single-checkpoint report: fields may be added, never renamed or removed. Documented in README
 * ("Compare two checkpoints").
 */
import { Counts, Format, Tensor, Warning } from '../model';
import { ChangeField, CheckpointDiff, DataSummary, KeyChange, ModuleRow, Rename, SideCounts, TensorPair, TieChange, TieSame } from './model';

export interface DiffTensor {
  /** The name as this side's file gives it. */
  name: string;
  dtype: string;
  shape: number[];
  role: Tensor['role'];
  numel: number;
  nbytes: number;
  /** False for a declared tie that the file does not store. */
  present: boolean;
  storage: string | null;
  formatDtype?: string;
}

export interface Delta {
  a: number | null;
  b: number | null;
  /** b − a, absent sides counting 0. */
  delta: number;
}

export interface DiffSide {
  path: string;
  format: Format;
  files: string[];
  architecture?: string;
  parameters: Counts;
  buffers: Counts;
  other: Counts;
  bytes: number;
  tensors: number;
  prefixes?: string[];
  warnings: Warning[];
}

export interface DiffRowTensor {
  /** Comparison name (B's name; A's for a tensor only A has). */
  name: string;
  status: TensorPair['status'];
  fields?: ChangeField[];
  renamed?: Rename;
  data?: TensorPair['data'];
  /** Index into shared.lost / shared.gained. */
  tieLost?: number;
  tieGained?: number;
  a: DiffTensor | null;
  b: DiffTensor | null;
  /** Elements the tensor adds to its side's unique count (shared storage at its first holder). */
  owned: { a: number | null; b: number | null };
  /** Bytes it adds to its side's stored bytes (shared storage at its first stored holder). */
  ownedBytes: { a: number | null; b: number | null };
}

export interface DiffModule {
  name: string;
  path: string;
  status: ModuleRow['status'];
  /** A's own path when its tensors were renamed. */
  aPath?: string;
  type: { a: string | null; b: string | null };
  repr?: { a?: string; b?: string };
  /** The type or repr differs (counted as a difference only when both sides know the class exactly). */
  typeChanged?: true;
  parameters: { unique: Delta; total: Delta; owned: Delta };
  buffers: { unique: Delta; total: Delta; owned: Delta };
  /** Stored bytes: `unique` counts the subtree's shared storage once; `owned` adds up over children. */
  bytes: { unique: Delta; owned: Delta };
  /** Tensors of the subtree that differ / were renamed. */
  changed: number;
  renamed: number;
  tensors: DiffRowTensor[];
  children: DiffModule[];
}

export interface DiffReport {
  schema: 1;
  kind: 'diff';
  equal: boolean;
  reasons: string[];
  a: DiffSide;
  b: DiffSide;
  summary: {
    added: number;
    removed: number;
    changed: number;
    renamed: number;
    unchanged: number;
    tiesLost: number;
    tiesGained: number;
    tiesChanged: number;
    config: number;
    metadata: number;
  };
  parameters: { unique: Delta; total: Delta };
  buffers: { unique: Delta; total: Delta };
  bytes: Delta;
  added: DiffTensor[];
  removed: DiffTensor[];
  changed: { name: string; fields: ChangeField[]; a: DiffTensor; b: DiffTensor; data?: TensorPair['data'] }[];
  renamed: Rename[];
  shared: { gained: TieChange[]; lost: TieChange[]; changed: TieSame[]; same: TieSame[] };
  modules: DiffModule;
  metadata: KeyChange[];
  config: KeyChange[];
  data?: DataSummary;
}

const delta = (a: number | null, b: number | null): Delta => ({ a, b, delta: (b ?? 0) - (a ?? 0) });

function tensor(t: Tensor, name: string): DiffTensor {
  const out: DiffTensor = { name, dtype: t.dtype, shape: t.shape, role: t.role, numel: t.numel, nbytes: t.nbytes, present: t.present, storage: t.storage };
  if (t.formatDtype) out.formatDtype = t.formatDtype;
  return out;
}

const tA = (p: TensorPair) => (p.a ? tensor(p.a, p.aName ?? p.a.name) : null);
const tB = (p: TensorPair) => (p.b ? tensor(p.b, p.b.name) : null);

function side(d: CheckpointDiff, which: 'a' | 'b'): DiffSide {
  // A's own names and files, as opened; counts are the same in either namespace.
  const cp = which === 'a' ? d.aOriginal : d.b;
  let bytes = 0;
  for (const v of Object.values(cp.bytesByDtype)) bytes += v;
  const s: DiffSide = {
    path: cp.path,
    format: cp.format,
    files: cp.files,
    parameters: cp.parameters,
    buffers: cp.buffers,
    other: cp.other,
    bytes,
    tensors: cp.tensors.filter((t) => t.present).length,
    warnings: cp.warnings,
  };
  if (cp.architecture) s.architecture = cp.architecture;
  if (cp.prefixes?.length) s.prefixes = cp.prefixes;
  return s;
}

function counts(c: SideCounts | null): SideCounts {
  return c ?? { parameters: { unique: 0, total: 0, owned: 0 }, buffers: { unique: 0, total: 0, owned: 0 }, bytes: { unique: 0, owned: 0 } };
}

function moduleRow(r: ModuleRow): DiffModule {
  const ca = r.countsA;
  const cb = r.countsB;
  const x = counts(ca);
  const y = counts(cb);
  const pick = <T>(c: SideCounts | null, v: T): T | null => (c ? v : null);
  const m: DiffModule = {
    name: r.name,
    path: r.path,
    status: r.status,
    type: { a: r.a?.type ?? null, b: r.b?.type ?? null },
    parameters: {
      unique: delta(pick(ca, x.parameters.unique), pick(cb, y.parameters.unique)),
      total: delta(pick(ca, x.parameters.total), pick(cb, y.parameters.total)),
      owned: delta(pick(ca, x.parameters.owned), pick(cb, y.parameters.owned)),
    },
    buffers: {
      unique: delta(pick(ca, x.buffers.unique), pick(cb, y.buffers.unique)),
      total: delta(pick(ca, x.buffers.total), pick(cb, y.buffers.total)),
      owned: delta(pick(ca, x.buffers.owned), pick(cb, y.buffers.owned)),
    },
    bytes: { unique: delta(pick(ca, x.bytes.unique), pick(cb, y.bytes.unique)), owned: delta(pick(ca, x.bytes.owned), pick(cb, y.bytes.owned)) },
    changed: r.changed,
    renamed: r.renamed,
    tensors: r.tensors.map((p) => {
      const t: DiffRowTensor = { name: p.key, status: p.status, a: tA(p), b: tB(p), owned: { a: p.a ? p.ownedA : null, b: p.b ? p.ownedB : null }, ownedBytes: { a: p.a ? p.ownedBytesA : null, b: p.b ? p.ownedBytesB : null } };
      if (p.changes.length) t.fields = p.changes;
      if (p.renamed) t.renamed = p.renamed;
      if (p.data) t.data = p.data;
      if (p.tieLost !== undefined) t.tieLost = p.tieLost;
      if (p.tieGained !== undefined) t.tieGained = p.tieGained;
      return t;
    }),
    children: [],
  };
  if (r.aPath !== undefined) m.aPath = r.aPath;
  if (r.a?.repr || r.b?.repr) {
    m.repr = {};
    if (r.a?.repr) m.repr.a = r.a.repr;
    if (r.b?.repr) m.repr.b = r.b.repr;
  }
  if (r.typeChanged) m.typeChanged = true;
  return m;
}

/** Module rows built iteratively: trees may be 256 levels deep. */
function modules(root: ModuleRow): DiffModule {
  const out = moduleRow(root);
  const stack: [ModuleRow, DiffModule][] = [[root, out]];
  while (stack.length) {
    const [r, m] = stack.pop()!;
    for (const c of r.children) {
      const cm = moduleRow(c);
      m.children.push(cm);
      stack.push([c, cm]);
    }
  }
  return out;
}

export function toDiffReport(d: CheckpointDiff): DiffReport {
  const A = d.aOriginal;
  const B = d.b;
  const bytesOf = (cp: typeof A) => Object.values(cp.bytesByDtype).reduce((s, v) => s + v, 0);
  const r: DiffReport = {
    schema: 1,
    kind: 'diff',
    equal: d.equal,
    reasons: d.reasons,
    a: side(d, 'a'),
    b: side(d, 'b'),
    summary: {
      added: d.added.length,
      removed: d.removed.length,
      changed: d.changed.length,
      renamed: d.renamed.length,
      unchanged: d.pairs.filter((p) => p.status === 'equal').length,
      tiesLost: d.shared.lost.length,
      tiesGained: d.shared.gained.length,
      tiesChanged: d.shared.changed.length,
      config: d.config.filter((c) => !c.informational).length,
      metadata: d.metadata.length,
    },
    parameters: { unique: delta(A.parameters.unique, B.parameters.unique), total: delta(A.parameters.total, B.parameters.total) },
    buffers: { unique: delta(A.buffers.unique, B.buffers.unique), total: delta(A.buffers.total, B.buffers.total) },
    bytes: delta(bytesOf(A), bytesOf(B)),
    added: d.added.map((p) => tB(p)!),
    removed: d.removed.map((p) => tA(p)!),
    changed: d.changed.map((p) => {
      const c: DiffReport['changed'][number] = { name: p.key, fields: p.changes, a: tA(p)!, b: tB(p)! };
      if (p.data) c.data = p.data;
      return c;
    }),
    renamed: d.renamed.map((p) => p.renamed!),
    shared: d.shared,
    modules: modules(d.root),
    metadata: d.metadata,
    config: d.config,
  };
  if (d.data) r.data = d.data;
  return r;
}
