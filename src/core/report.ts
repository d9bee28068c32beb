/**
 * The schema-1 JSON document: the CLI's `--json`, the webview's data and every test read it.
 * Field names are a contract; add fields, never rename.
 */
import { AdapterInfo, Checkpoint, CheckpointSource, Counts, Format, ModuleNode, ParameterCounts, QuantizationInfo, Role, SafetyReport, SharedGroup, Storage, StoredFigures, Tensor, Warning } from './model';
import { spanOf } from './coverage';

export interface ReportTensor {
  name: string;
  dtype: string;
  shape: number[];
  role: Role;
  storage: string | null;
  storageOffset: number | null;
  nbytes: number;
  /** Further fields. */
  numel: number;
  present: boolean;
  roleReason: string;
  file: string;
  dataOffset: number | null;
  strides: number[] | null;
  /** Absolute byte range [start, end) of the tensor's elements in `file`; null if unknown. */
  byteRange: [number, number] | null;
  formatDtype?: string;
  extra?: Record<string, string | number | boolean>;
  /** For a packed quantized weight: the shape and elements of the weight it stands for. */
  logicalShape?: number[];
  logicalNumel?: number;
}

/** A sharing group as the report writes it: the model's own shape. */
export type ReportShared = SharedGroup;

export interface ReportModule {
  name: string;
  path: string;
  type: string;
  parameters: Counts;
  children: ReportModule[];
  /** Further fields. */
  buffers: Counts;
  inferred: boolean;
  repr?: string;
  evidence?: string;
  tensors: string[];
  sharedWith: ModuleNode['sharedWith'];
  sharedWithMore?: number;
  folds: ModuleNode['folds'];
  bytesByDtype: Record<string, number>;
  /** Subtrees holding quantized layers: stored elements and bytes next to the logical parameters. */
  stored?: StoredFigures;
}

export interface Report {
  schema: 1;
  format: Format;
  /** `declared` when a file states a total of its own. */
  parameters: ParameterCounts;
  buffers: Counts;
  tensors: ReportTensor[];
  shared: ReportShared[];
  warnings: Warning[];
  modules: ReportModule;
  /** Further fields. */
  storages: Storage[];
  path: string;
  files: string[];
  architecture?: string;
  other: Counts;
  bytesByDtype: Record<string, number>;
  metadata: Record<string, unknown>;
  config?: Record<string, unknown>;
  safety?: SafetyReport;
  prefixes?: string[];
  bytesRead: number;
  totalBytes: number;
  /** When the weights are quantized: the scheme and the stored figures. */
  quantization?: QuantizationInfo;
  /** When the checkpoint is an adapter. */
  adapter?: AdapterInfo;
  /** Remote checkpoints only (hf://, https://): where it came from and what the network carried. */
  source?: CheckpointSource;
  bytesTransferred?: number;
  requests?: number;
}

export function toReport(cp: Checkpoint): Report {
  return reportOf(cp, cp.tensors.map(reportTensor), moduleReport(cp.modules));
}

/** The report's fields in their order, with the two large parts given by the caller. */
function reportOf<T, M>(cp: Checkpoint, tensors: T, modules: M): Omit<Report, 'tensors' | 'modules'> & { tensors: T; modules: M } {
  return {
    schema: 1,
    format: cp.format,
    parameters: cp.parameters,
    buffers: cp.buffers,
    tensors,
    shared: cp.shared.map((g) => {
      const s: ReportShared = {
        tensors: g.tensors,
        relation: g.relation,
        storage: g.storage,
        uniqueElements: g.uniqueElements,
        totalElements: g.totalElements,
      };
      if (g.reason) s.reason = g.reason;
      return s;
    }),
    warnings: cp.warnings,
    modules,
    storages: cp.storages,
    path: cp.path,
    files: cp.files,
    ...(cp.architecture ? { architecture: cp.architecture } : {}),
    other: cp.other,
    bytesByDtype: cp.bytesByDtype,
    metadata: cp.metadata,
    ...(cp.config ? { config: cp.config } : {}),
    ...(cp.safety ? { safety: cp.safety } : {}),
    ...(cp.prefixes?.length ? { prefixes: cp.prefixes } : {}),
    bytesRead: cp.bytesRead,
    totalBytes: cp.totalBytes,
    ...(cp.quantization ? { quantization: cp.quantization } : {}),
    ...(cp.adapter ? { adapter: cp.adapter } : {}),
    ...(cp.source ? { source: cp.source, bytesTransferred: cp.bytesTransferred ?? 0, requests: cp.requests ?? 0 } : {}),
  };
}

function reportTensor(t: Tensor): ReportTensor {
  const r: ReportTensor = {
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    role: t.role,
    storage: t.storage,
    storageOffset: t.storageOffset,
    nbytes: t.nbytes,
    numel: t.numel,
    present: t.present,
    roleReason: t.roleReason,
    file: t.file,
    dataOffset: t.dataOffset,
    strides: t.strides,
    byteRange: t.dataOffset === null ? null : [t.dataOffset + (t.storageOffset ?? 0), t.dataOffset + (t.storageOffset ?? 0) + spanOf(t)],
  };
  if (t.formatDtype) r.formatDtype = t.formatDtype;
  if (t.extra) r.extra = t.extra;
  if (t.logicalShape) r.logicalShape = t.logicalShape;
  if (t.logicalNumel !== undefined) r.logicalNumel = t.logicalNumel;
  return r;
}

/**
 * The schema-1 report as `JSON.stringify(toReport(cp), null, 2) + '\n'` writes it, byte for
 * byte, in pieces of about `chunkChars` characters: the CLI's `--json` writes each piece as it
 * comes, so the whole document never exists as one string. Tensors, storages and sharing groups
 * go out a batch at a time, each batch's report objects made just before it is written; the
 * module tree a subtree at a time. What this holds at once is bounded by the batch and the
 * largest small subtree, not by the size of the output.
 */
export function* reportJsonChunks(cp: Checkpoint, chunkChars = 1 << 16): Generator<string, void, undefined> {
  const out = new ChunkBuffer(chunkChars);
  const doc = reportOf(cp, new Mapped(cp.tensors, reportTensor), MODULES) as unknown as Record<string, unknown>;
  out.push('{');
  let first = true;
  for (const key of Object.keys(doc)) {
    const v = doc[key];
    if (v === undefined) continue;
    out.push(`${first ? '' : ','}\n  ${JSON.stringify(key)}: `);
    first = false;
    if (v === MODULES) yield* moduleChunks(cp.modules, '  ', out);
    else if (v instanceof Mapped || (Array.isArray(v) && v.length > BATCH)) yield* arrayChunks(key, v instanceof Mapped ? v : new Mapped(v as unknown[], same), out);
    else out.push(atDepth(v, 1));
    if (out.full) yield out.take();
  }
  out.push('\n}\n');
  yield out.take();
}

/** Elements per batch of a large top-level array. */
const BATCH = 256;
/** A module subtree with at most this many tensors is written with one stringify. */
const SMALL_SUBTREE = 512;
const MODULES = Symbol('modules');
const same = <T>(x: T): T => x;

/** An array whose report objects are made a batch at a time. */
class Mapped<T, R> {
  constructor(
    readonly items: readonly T[],
    readonly map: (x: T) => R,
  ) {}
}

class ChunkBuffer {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(s: string): void {
    this.parts.push(s);
    this.size += s.length;
  }
  get full(): boolean {
    return this.size >= this.limit;
  }
  take(): string {
    const s = this.parts.join('');
    this.parts = [];
    this.size = 0;
    return s;
  }
}

/**
 * `v` as JSON.stringify(…, null, 2) writes it `depth` levels down in a document: stringified
 * inside `depth` one-element arrays, whose brackets and indentation are then cut off (no pass
 * over the text to indent it).
 */
function atDepth(v: unknown, depth: number): string {
  if (depth === 0) return JSON.stringify(v, null, 2);
  let w: unknown = v;
  for (let i = 0; i < depth; i++) w = [w];
  const s = JSON.stringify(w, null, 2);
  // Level i (1..depth) opens with "[\n" and 2i spaces; level i (0..depth-1) closes with "\n", 2i spaces and "]".
  let head = 0;
  let tail = 0;
  for (let i = 1; i <= depth; i++) head += 2 + 2 * i;
  for (let i = 0; i < depth; i++) tail += 2 + 2 * i;
  return s.slice(head, s.length - tail);
}

/**
 * A top-level array in batches. Each batch is stringified inside an object under the same key,
 * which puts its elements at the depth they have in the report; the wrapper is cut off.
 */
function* arrayChunks<T, R>(key: string, arr: Mapped<T, R>, out: ChunkBuffer): Generator<string, void, undefined> {
  const n = arr.items.length;
  if (n === 0) {
    out.push('[]');
    return;
  }
  const head = `{\n  ${JSON.stringify(key)}: [\n`;
  const tail = '\n  ]\n}';
  out.push('[\n');
  for (let i = 0; i < n; i += BATCH) {
    const batch = arr.items.slice(i, i + BATCH).map(arr.map);
    const s = JSON.stringify({ [key]: batch }, null, 2);
    out.push(i === 0 ? '' : ',\n');
    out.push(s.slice(head.length, s.length - tail.length));
    if (out.full) yield out.take();
  }
  out.push('\n  ]');
}

/** A module and its subtree at indentation `pad`: small subtrees in one piece, large ones key by key. */
function* moduleChunks(m: ModuleNode, pad: string, out: ChunkBuffer): Generator<string, void, undefined> {
  if (m.tensorCount <= SMALL_SUBTREE || m.children.length === 0) {
    out.push(atDepth(moduleReport(m), pad.length / 2));
    if (out.full) yield out.take();
    return;
  }
  const r = moduleReport(m, false) as unknown as Record<string, unknown>;
  const inner = pad + '  ';
  out.push('{');
  let first = true;
  for (const key of Object.keys(r)) {
    const v = r[key];
    if (v === undefined) continue;
    out.push(`${first ? '' : ','}\n${inner}${JSON.stringify(key)}: `);
    first = false;
    if (key !== 'children') {
      out.push(atDepth(v, inner.length / 2));
      continue;
    }
    // A child array: m.children is not empty here.
    out.push('[');
    for (let i = 0; i < m.children.length; i++) {
      out.push(`${i === 0 ? '' : ','}\n${inner}  `);
      yield* moduleChunks(m.children[i], inner + '  ', out);
    }
    out.push(`\n${inner}]`);
  }
  out.push(`\n${pad}}`);
}

/** A module's report; with `children` false, its children are left for the caller to write (an empty list holds their place). */
function moduleReport(m: ModuleNode, children = true): ReportModule {
  const r: ReportModule = {
    name: m.name,
    path: m.path,
    type: m.type,
    parameters: m.parameters,
    children: children ? m.children.map((c) => moduleReport(c)) : [],
    buffers: m.buffers,
    inferred: m.inferred,
    tensors: m.tensors,
    sharedWith: m.sharedWith,
    folds: m.folds,
    bytesByDtype: m.bytesByDtype,
  };
  if (m.repr) r.repr = m.repr;
  if (m.evidence) r.evidence = m.evidence;
  if (m.sharedWithMore) r.sharedWithMore = m.sharedWithMore;
  if (m.stored) r.stored = m.stored;
  return r;
}
