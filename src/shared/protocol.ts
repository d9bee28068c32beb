/**
 * What Weightscope's three parts say to each other, declared once as typed interfaces for the
 * RPC (src/shared/rpc.ts):
 *
 *   webview ──HostApi──▶ host ──WorkerApi──▶ parser worker
 *   webview ◀─WebviewApi── host ◀─WorkerEvents── parser worker
 *
 *  - `WorkerApi`: the host asks the worker to open a checkpoint (the worker keeps it), then for
 *    tensor pages, exports (every format, PNG too) and the full metadata;
 *  - `WorkerEvents`: what the worker tells the host unasked (progress);
 *  - `HostApi`: the webview says `ready` when its script runs (again after every tab switch,
 *    since the webview is rebuilt without retainContextWhenHidden), asks for tensor pages, and
 *    asks for exports, reloads...;
 *  - `WebviewApi`: the host answers `ready` with `loading`, then `model` (or `error`), and sends
 *    `model` again with a new `generation` whenever the file changes on disk.
 *
 * The host never sends tensor data: the model is a compact module tree, and tensor *descriptions*
 * (name, dtype, shape...) are paged on request. Every part imports this file: types and pure
 * helpers only, so it compiles under Node (no DOM) and in the browser bundle alike.
 */
import type { Counts, FoldRun, Format, Relation, Role, SafetyReport, SharedGroup, Warning } from '../core/model';
import type { Validators } from './rpc';

export type { Counts, FoldRun, Format, Relation, Role, SafetyReport, Warning };

/** Bump when a message shape changes incompatibly; checked when the webview says `ready`. */
export const PROTOCOL_VERSION = 2;

export type NumberFormat = 'compact' | 'exact';

export interface ViewSettings {
  /** Module levels expanded on first open (root is level 0). */
  expandDepth: number;
  numberFormat: NumberFormat;
}

/**
 * The module tree, flattened in pre-order: a node's parent always comes before it. Strings that
 * repeat across modules (types, reprs, evidence, shape summaries) are indices into
 * `ModelPayload.strings`, which keeps a 100,000-tensor model's tree a few megabytes.
 */
export interface WireModule {
  /** Index of the parent in the flat list; -1 for the root (always index 0). */
  parent: number;
  /** Attribute name under the parent ('' for the root). */
  name: string;
  /** Class name (string table index). */
  type: number;
  /** Omitted when false. */
  inferred?: boolean;
  /** PyTorch-style repr (string table index). */
  repr?: number;
  /** Why the type is what it is (string table index). */
  evidence?: number;
  /** Parameters [unique, total] over the subtree. */
  params: [number, number];
  /** Buffers [unique, total]; omitted when both are zero. */
  buffers?: [number, number];
  /** Other tensors (optimizer state...) [unique, total]; omitted when zero. */
  other?: [number, number];
  /** Bytes of the subtree's present tensors, shared storage counted once. */
  bytes: number;
  /** Tensors in the subtree. */
  tensorCount: number;
  /** Tensors owned directly (paged with a `tensors` request). */
  own: number;
  /** Summary of the own tensors' shapes, `weight [768, 2304] · bias [2304]` (string table index). */
  shapes?: number;
  /** Runs of identical consecutive children (indices into this node's children, in order). */
  folds?: FoldRun[];
  /** Tensors in the subtree that share storage with tensors outside it. */
  shared?: { tensor: string; others: string[]; relation: Relation }[];
}

/** A module with its strings resolved (what the webview works with). */
export interface ModuleInfo extends Omit<WireModule, 'type' | 'repr' | 'evidence' | 'shapes'> {
  type: string;
  repr?: string;
  evidence?: string;
  shapes?: string;
}

/** Resolve a wire module's string-table references. */
export function resolveModule(m: WireModule, strings: readonly string[]): ModuleInfo {
  const info: ModuleInfo = { ...m, type: strings[m.type] ?? '?', repr: undefined, evidence: undefined, shapes: undefined };
  if (m.repr !== undefined) info.repr = strings[m.repr];
  else delete info.repr;
  if (m.evidence !== undefined) info.evidence = strings[m.evidence];
  else delete info.evidence;
  if (m.shapes !== undefined) info.shapes = strings[m.shapes];
  else delete info.shapes;
  return info;
}

/** A storage group as the core defines it (tensors, relation, storage, element counts, reason). */
export type WireGroup = SharedGroup;

export interface WireTensor {
  name: string;
  dtype: string;
  formatDtype?: string;
  shape: number[];
  numel: number;
  nbytes: number;
  role: Role;
  roleReason: string;
  /** False for a declared tie that the file does not store. */
  present: boolean;
  storage: string | null;
  storageOffset: number | null;
  strides: number[] | null;
  file: string;
  dataOffset: number | null;
  /** Index into the model's groups, or -1. */
  group: number;
  extra?: Record<string, string | number | boolean>;
}

export interface WireSummary {
  fileName: string;
  path: string;
  format: Format;
  architecture?: string;
  /** Files read (capped; `fileCount` is the real count). */
  files: string[];
  fileCount: number;
  parameters: Counts;
  buffers: Counts;
  other: Counts;
  bytesByDtype: Record<string, number>;
  /** Every tensor name, declared ties that the file does not store included. */
  tensorCount: number;
  /** Tensors the file stores (`tensorCount` less the declared ties). */
  storedTensorCount: number;
  totalBytes: number;
  bytesRead: number;
  safety?: SafetyReport;
  warnings: Warning[];
  warningCount: number;
  prefixes?: string[];
  /**
   * Metadata shown one click away: `__metadata__`, GGUF keys, config.json... Long strings and
   * arrays are shortened (see `truncated`); the host opens the full JSON on request.
   */
  metadata: Record<string, unknown>;
  config?: Record<string, unknown>;
  truncated: boolean;
}

export interface ModelPayload {
  summary: WireSummary;
  /** String table for WireModule's `type`, `repr`, `evidence` and `shapes`. */
  strings: string[];
  modules: WireModule[];
  groups: WireGroup[];
}

export type TensorQuery =
  /** The tensors of a module (its own, or its whole subtree), a page at a time. */
  | { kind: 'module'; path: string; subtree: boolean; offset: number; limit: number }
  /** Tensors by full name (for the others on a shared storage). */
  | { kind: 'names'; names: string[] }
  /**
   * Type-ahead in a module's list: the next tensor whose name, as the table shows it (relative
   * to the module), starts with `prefix`, searching from `from` and wrapping (as findByPrefix).
   * Answered with a one-item page at the found index, or no items when nothing matches.
   */
  | { kind: 'find'; path: string; subtree: boolean; prefix: string; from: number };

export interface TensorPage {
  /** Total matching the query (for `module` and `find`: the module's own or subtree tensors). */
  total: number;
  /** Index of the first item in the list (for `find`: where the match is). */
  offset: number;
  items: WireTensor[];
}

/**
 * An export format's id (`svg`, `png`...). The list lives in the core's export registry
 * (src/core/export/index.ts, `ExportFormat` there); on the wire it is a string, checked on
 * arrival against the registry, so the webview (which cannot import the renderers) needs no
 * change when an export is added.
 */
export type ExportId = string;

/** An export the editor offers, as the host lists it for the webview's menu (from the core's registry). */
export interface ExportChoice {
  id: ExportId;
  /** `Export as SVG…` */
  menuLabel: string;
  /** Menu section: exports of one group sit together. */
  group: string;
}

export type HostCommand = 'expandAll' | 'collapseAll' | 'focusSearch' | 'showMetadata';

export interface ExportRequest {
  format: ExportId;
  /** Deepest module level (root = 0); default: the exporter picks. */
  depth?: number;
  unfold?: boolean;
}

/** An export's bytes (PNG) or text (every other format). */
export interface ExportResult {
  format: ExportId;
  data: string | Uint8Array;
}

/** What the worker tells the host while it works (issue 11 shows it). */
export interface Progress {
  /** Reading the headers (and analysing them); building the webview's payload. */
  stage: 'reading' | 'building';
  /** The file the stage is about, when there is one. */
  file?: string;
}

// ---------------------------------------------------------------------------------------------
// The four interfaces. A method takes at most one parameter; `void` ones may be notifications.

/** host → parser worker. */
export interface WorkerApi {
  /** Open and analyse the checkpoint (headers only); the worker keeps it for the calls below. */
  open(p: { path: string }): ModelPayload;
  tensors(q: TensorQuery): TensorPage;
  export(p: ExportRequest): ExportResult;
  /** config.json, `__metadata__`, GGUF keys... in full, as pretty JSON. */
  metadata(): string;
}

/** parser worker → host (notifications). */
export interface WorkerEvents {
  progress(p: Progress): void;
}

/** webview → host. */
export interface HostApi {
  /** The webview's script runs (again after a tab switch); the host answers with the state. */
  ready(p: { protocol: number }): void;
  /** A page of tensor descriptions of the model `generation` shows. */
  tensors(p: { generation: number; query: TensorQuery }): TensorPage;
  export(p: { format: ExportId }): void;
  copyMarkdown(): void;
  openMetadata(): void;
  reload(): void;
  /** The module the user selected, so host commands (status, exports) can follow it. */
  selected(p: { path: string | null }): void;
}

/** host → webview (notifications). */
export interface WebviewApi {
  loading(p: { fileName: string; reloading: boolean }): void;
  model(p: { generation: number; settings: ViewSettings; payload: ModelPayload; exports: ExportChoice[] }): void;
  error(p: { fileName: string; message: string; code?: string }): void;
  settings(p: ViewSettings): void;
  command(p: { command: HostCommand }): void;
}

// ---------------------------------------------------------------------------------------------
// Structural checks of what arrives (the RPC checks the envelope; these the parameters)

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

export function isTensorQuery(q: unknown): q is TensorQuery {
  if (!isObject(q)) return false;
  switch (q.kind) {
    case 'module':
      return typeof q.path === 'string' && typeof q.subtree === 'boolean' && isCount(q.offset) && isCount(q.limit);
    case 'find':
      return typeof q.path === 'string' && typeof q.subtree === 'boolean' && typeof q.prefix === 'string' && isCount(q.from);
    case 'names':
      return Array.isArray(q.names) && q.names.every((n) => typeof n === 'string');
    default:
      return false;
  }
}

/** What the host accepts from a webview; `formats` are the export ids the host offers. */
export function hostApiValidators(formats: readonly string[]): Validators<HostApi> {
  return {
    ready: (p) => isObject(p) && typeof p.protocol === 'number',
    tensors: (p) => isObject(p) && typeof p.generation === 'number' && isTensorQuery(p.query),
    export: (p) => isObject(p) && typeof p.format === 'string' && formats.includes(p.format),
    selected: (p) => isObject(p) && (p.path === null || typeof p.path === 'string'),
  };
}

/** What the worker accepts from the host (the host is trusted; this catches our own mistakes). */
export function workerApiValidators(formats: readonly string[]): Validators<WorkerApi> {
  return {
    open: (p) => isObject(p) && typeof p.path === 'string' && p.path.length > 0,
    tensors: (q) => isTensorQuery(q),
    export: (p) => isObject(p) && typeof p.format === 'string' && formats.includes(p.format) && (p.depth === undefined || isCount(p.depth)),
  };
}

/** The display path of a module: the root is shown (and addressed in the DOM) as `(root)`. */
export const ROOT_PATH_LABEL = '(root)';

export function domPath(path: string): string {
  return path === '' ? ROOT_PATH_LABEL : path;
}
