/**
 * The schema-1 JSON document: the CLI's `--json`, the webview's data and every test read it.
 * Field names are a contract; add fields, never rename.
 */
import { AdapterInfo, Checkpoint, CheckpointSource, Counts, Format, ModuleNode, ParameterCounts, QuantizationInfo, Role, SafetyReport, SharedGroup, Storage, StoredFigures, Tensor, Warning } from './model';
import { spanOf } from './coverage';
import { atDepth, JsonBytes, keyBytes } from './json-bytes';

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
  return reportOf(cp, cp.tensors.map(reportTensor), moduleReport(cp.modules), cp.shared.map(reportShared));
}

/** The report's fields in their order, with the three large parts given by the caller. */
function reportOf<T, M, S>(cp: Checkpoint, tensors: T, modules: M, shared: S): Omit<Report, 'tensors' | 'modules' | 'shared'> & { tensors: T; modules: M; shared: S } {
  return {
    schema: 1,
    format: cp.format,
    parameters: cp.parameters,
    buffers: cp.buffers,
    tensors,
    shared,
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

/*
 * The report objects made from the model's objects, each described once as a list of fields:
 * toReport builds objects from the list, and the streamed writer writes the same fields straight
 * from the model's objects without building them.
 */

/** A field the report leaves out of this object (an optional field that does not apply). */
const OMIT = Symbol('omit');

/** A field of a report object: its name and its value read from the model's object (OMIT: none). */
interface Field<T> {
  readonly key: string;
  readonly get: (x: T) => unknown;
  /** `"key": ` in UTF-8, as the writer writes it. */
  readonly bytes: Uint8Array;
}

function fields<T>(list: readonly (readonly [string, (x: T) => unknown])[]): readonly Field<T>[] {
  return list.map(([key, get]) => ({ key, get, bytes: keyBytes(key) }));
}

function objectOf<T>(list: readonly Field<T>[], x: T): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  for (const f of list) {
    const v = f.get(x);
    if (v !== OMIT) r[f.key] = v;
  }
  return r;
}

const TENSOR_FIELDS = fields<Tensor>([
  ['name', (t) => t.name],
  ['dtype', (t) => t.dtype],
  ['shape', (t) => t.shape],
  ['role', (t) => t.role],
  ['storage', (t) => t.storage],
  ['storageOffset', (t) => t.storageOffset],
  ['nbytes', (t) => t.nbytes],
  ['numel', (t) => t.numel],
  ['present', (t) => t.present],
  ['roleReason', (t) => t.roleReason],
  ['file', (t) => t.file],
  ['dataOffset', (t) => t.dataOffset],
  ['strides', (t) => t.strides],
  ['byteRange', (t) => (t.dataOffset === null ? null : [t.dataOffset + (t.storageOffset ?? 0), t.dataOffset + (t.storageOffset ?? 0) + spanOf(t)])],
  ['formatDtype', (t) => t.formatDtype || OMIT],
  ['extra', (t) => t.extra || OMIT],
  ['logicalShape', (t) => t.logicalShape || OMIT],
  ['logicalNumel', (t) => (t.logicalNumel !== undefined ? t.logicalNumel : OMIT)],
]);

const SHARED_FIELDS = fields<SharedGroup>([
  ['tensors', (g) => g.tensors],
  ['relation', (g) => g.relation],
  ['storage', (g) => g.storage],
  ['uniqueElements', (g) => g.uniqueElements],
  ['totalElements', (g) => g.totalElements],
  ['reason', (g) => g.reason || OMIT],
]);

const MODULE_FIELDS = fields<ModuleNode>([
  ['name', (m) => m.name],
  ['path', (m) => m.path],
  ['type', (m) => m.type],
  ['parameters', (m) => m.parameters],
  // The writer writes the children itself, module by module.
  ['children', (m) => m.children.map(moduleReport)],
  ['buffers', (m) => m.buffers],
  ['inferred', (m) => m.inferred],
  ['tensors', (m) => m.tensors],
  ['sharedWith', (m) => m.sharedWith],
  ['folds', (m) => m.folds],
  ['bytesByDtype', (m) => m.bytesByDtype],
  ['repr', (m) => m.repr || OMIT],
  ['evidence', (m) => m.evidence || OMIT],
  ['sharedWithMore', (m) => m.sharedWithMore || OMIT],
  ['stored', (m) => m.stored || OMIT],
]);
const CHILDREN = MODULE_FIELDS.find((f) => f.key === 'children')!;

const reportTensor = (t: Tensor): ReportTensor => objectOf(TENSOR_FIELDS, t) as unknown as ReportTensor;
const reportShared = (g: SharedGroup): ReportShared => objectOf(SHARED_FIELDS, g) as unknown as ReportShared;
const moduleReport = (m: ModuleNode): ReportModule => objectOf(MODULE_FIELDS, m) as unknown as ReportModule;

/**
 * The schema-1 report as `JSON.stringify(toReport(cp), null, 2) + '\n'` writes it, byte for
 * byte, in UTF-8 chunks of about `chunkBytes`: the CLI's `--json` writes each chunk as it comes,
 * so the whole document never exists at once. Tensors, storages, sharing groups and modules are
 * written straight from the model's objects (no report objects, no intermediate strings); a chunk
 * ends between two whole values. What this holds at once is a chunk and the largest small
 * subtree, not the output.
 *
 * A chunk is valid until the generator is resumed (one buffer is written over for every chunk):
 * write it, or copy it, before asking for the next.
 */
export function* reportJsonBytes(cp: Checkpoint, chunkBytes = 1 << 18): Generator<Uint8Array, void, undefined> {
  const out = new JsonBytes(chunkBytes);
  const doc = reportOf(cp, new Rows(cp.tensors, TENSOR_FIELDS), MODULES, new Rows(cp.shared, SHARED_FIELDS)) as unknown as Record<string, unknown>;
  out.raw('{');
  let n = 0;
  for (const key of Object.keys(doc)) {
    const v = doc[key];
    if (v === undefined) continue;
    out.key(n++, keyBytes(key), 1);
    if (v === MODULES) yield* moduleChunks(cp.modules, 1, out);
    else if (v instanceof Rows) yield* rowChunks(v, 1, out);
    else if (Array.isArray(v) && v.length > BATCH) yield* arrayChunks(v, 1, out);
    else out.text(atDepth(v, 1));
    if (out.full) yield out.take();
  }
  out.raw('\n}\n');
  yield out.take();
}

/**
 * The whole document as one string, what `JSON.stringify(toReport(cp), null, 2) + '\n'` gives,
 * made by the byte writer (the editor's "Export report as JSON…"; the CLI streams the chunks).
 */
export function reportJson(cp: Checkpoint): string {
  const parts: Buffer[] = [];
  // Each chunk is valid until the next is asked for: copied.
  for (const b of reportJsonBytes(cp)) parts.push(Buffer.from(b));
  return Buffer.concat(parts).toString('utf8');
}

/** The same document as strings (each chunk of reportJsonBytes decoded: chunks end between values). */
export function* reportJsonChunks(cp: Checkpoint, chunkBytes = 1 << 16): Generator<string, void, undefined> {
  for (const b of reportJsonBytes(cp, chunkBytes)) yield Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
}

/** A top-level array larger than this is written element by element, with chunks taken between them. */
const BATCH = 256;
/** A module subtree with at most this many tensors is written in one go, without taking a chunk inside it. */
const SMALL_SUBTREE = 512;
const MODULES = Symbol('modules');

/** Model objects the report lists as report objects described by `fields`. */
class Rows<T> {
  constructor(
    readonly items: readonly T[],
    readonly fields: readonly Field<T>[],
  ) {}
}

/** A report object made from `x`, written at `level`. */
function writeRow<T>(out: JsonBytes, list: readonly Field<T>[], x: T, level: number): void {
  out.raw('{');
  let n = 0;
  for (let i = 0; i < list.length; i++) {
    const f = list[i];
    const v = f.get(x);
    if (v !== OMIT) n += out.member(n, f.bytes, v, level + 1);
  }
  out.close('}', n, level);
}

function* rowChunks<T>(rows: Rows<T>, level: number, out: JsonBytes): Generator<Uint8Array, void, undefined> {
  const { items, fields } = rows;
  out.raw('[');
  for (let i = 0; i < items.length; i++) {
    out.line(i, level + 1);
    writeRow(out, fields, items[i], level + 1);
    if (out.full) yield out.take();
  }
  out.close(']', items.length, level);
}

/** A large top-level array of plain data (storages, warnings), element by element. */
function* arrayChunks(items: readonly unknown[], level: number, out: JsonBytes): Generator<Uint8Array, void, undefined> {
  out.raw('[');
  for (let i = 0; i < items.length; i++) {
    out.line(i, level + 1);
    out.element(items[i], level + 1);
    if (out.full) yield out.take();
  }
  out.close(']', items.length, level);
}

/** A module and its subtree at `level`: small subtrees in one go, large ones child by child with chunks taken between. */
function* moduleChunks(m: ModuleNode, level: number, out: JsonBytes): Generator<Uint8Array, void, undefined> {
  if (m.children.length === 0 || (m.tensorCount <= SMALL_SUBTREE && fitsInOneGo(m))) {
    writeModule(out, m, level);
    if (out.full) yield out.take();
    return;
  }
  const n = moduleHead(out, m, level);
  out.raw('['); // m.children is not empty here
  for (let i = 0; i < m.children.length; i++) {
    out.line(i, level + 2);
    yield* moduleChunks(m.children[i], level + 2, out);
  }
  out.close(']', m.children.length, level + 1);
  moduleTail(out, m, level, n);
}

/**
 * Whether a subtree of few tensors is also small in modules and depth, so that its JSON is small:
 * a crafted file of a hundred names nested hundreds of levels deep makes tens of thousands of
 * modules, each line indented by its depth, hundreds of megabytes of JSON from a few tensors,
 * which must be written in chunks like a large model's. A bounded walk: it stops at the limits.
 */
function fitsInOneGo(m: ModuleNode): boolean {
  let modules = 0;
  const stack: [ModuleNode, number][] = [[m, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (++modules > ONE_GO_MODULES || depth > ONE_GO_DEPTH) return false;
    for (let i = 0; i < node.children.length; i++) stack.push([node.children[i], depth + 1]);
  }
  return true;
}
const ONE_GO_MODULES = 2048;
const ONE_GO_DEPTH = 12;

/** A module and its whole subtree at `level`. */
function writeModule(out: JsonBytes, m: ModuleNode, level: number): void {
  const n = moduleHead(out, m, level);
  const c = m.children;
  if (c.length === 0) out.raw('[]');
  else {
    out.raw('[');
    for (let i = 0; i < c.length; i++) {
      out.line(i, level + 2);
      writeModule(out, c[i], level + 2);
    }
    out.close(']', c.length, level + 1);
  }
  moduleTail(out, m, level, n);
}

const CHILDREN_AT = MODULE_FIELDS.indexOf(CHILDREN);

/** A module's `{`, its fields before `children` and that key; the count of members so far. */
function moduleHead(out: JsonBytes, m: ModuleNode, level: number): number {
  out.raw('{');
  const n = moduleFields(out, m, level, 0, CHILDREN_AT, 0);
  out.key(n, CHILDREN.bytes, level + 1);
  return n + 1;
}

/** A module's fields after `children` and its `}`. */
function moduleTail(out: JsonBytes, m: ModuleNode, level: number, n: number): void {
  out.close('}', moduleFields(out, m, level, CHILDREN_AT + 1, MODULE_FIELDS.length, n), level);
}

/** The module's members MODULE_FIELDS[from, to), after `n` members; the count after them. */
function moduleFields(out: JsonBytes, m: ModuleNode, level: number, from: number, to: number, n: number): number {
  for (let i = from; i < to; i++) {
    const f = MODULE_FIELDS[i];
    const v = f.get(m);
    if (v !== OMIT) n += out.member(n, f.bytes, v, level + 1);
  }
  return n;
}
