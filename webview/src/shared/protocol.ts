/**
 * The one message protocol between the extension host and the Weightscope webview.
 *
 * Both sides import this file: the host (src/extension/**) and the webview (webview/src/**).
 * It holds only types and a few pure helpers, so it compiles under Node (no DOM) and in the
 * browser bundle alike.
 *
 * Shape of the conversation:
 *  - the webview posts `ready` when its script runs (again after every tab switch, since the
 *    webview is rebuilt without retainContextWhenHidden);
 *  - the host answers with `loading`, then `model` (or `error`), and repeats `model` with a new
 *    `generation` whenever the file changes on disk;
 *  - either side may send a `request` with an `id`; the other answers with a `response` carrying
 *    the same `id` (tensor pages from the host, PNG bytes from the webview).
 *
 * The host never sends tensor data: the model is a compact module tree, and tensor *descriptions*
 * (name, dtype, shape...) are paged on request.
 */
import type { Counts, FoldRun, Format, Relation, Role, SafetyReport, SharedGroup, Warning } from '../../../src/core/model';

export type { Counts, FoldRun, Format, Relation, Role, SafetyReport, Warning };

/** Bump when a message shape changes incompatibly. */
export const PROTOCOL_VERSION = 1;

export type NumberFormat = 'compact' | 'exact';

export type ExportFormat = 'svg' | 'png' | 'markdown' | 'text' | 'mermaid' | 'json';

export const EXPORT_FORMATS: readonly ExportFormat[] = ['svg', 'png', 'markdown', 'text', 'mermaid', 'json'];

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

// ---------------------------------------------------------------------------------------------
// Requests (either direction) and their responses

export type TensorQuery =
  /** The tensors of a module (its own, or its whole subtree), a page at a time. */
  | { kind: 'module'; path: string; subtree: boolean; offset: number; limit: number }
  /** Tensors by full name (for the others on a shared storage). */
  | { kind: 'names'; names: string[] }
  /**
   * Type-ahead in a module's list: the next tensor whose name, as the table shows it (relative
   * to the module), starts with `prefix`, searching from `from` and wrapping (as TypeAhead.find).
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

/** Requests the webview sends to the host. */
export interface WebviewRequests {
  tensors: { params: { generation: number; query: TensorQuery }; result: TensorPage };
}

/** Requests the host sends to the webview. */
export interface HostRequests {
  /** Render an SVG to PNG (canvas, `scale`x) and return the bytes as base64. */
  renderPng: { params: { svg: string; scale: number }; result: { base64: string; width: number; height: number } };
  /** The current view state, for exports that follow what is on screen. */
  viewState: { params: Record<string, never>; result: { expandedPaths: string[]; selected: string | null } };
}

export type RequestMessage<R> = {
  [M in keyof R]: R[M] extends { params: infer P } ? { type: 'request'; id: number; method: M; params: P } : never;
}[keyof R];

export type ResponseMessage<R> = {
  [M in keyof R]: R[M] extends { result: infer T }
    ? { type: 'response'; id: number; method: M; ok: true; result: T } | { type: 'response'; id: number; method: M; ok: false; error: string }
    : never;
}[keyof R];

// ---------------------------------------------------------------------------------------------
// Notifications

export type HostCommand = 'expandAll' | 'collapseAll' | 'focusSearch' | 'showMetadata';

/** Messages from the host to the webview. */
export type HostMessage =
  | { type: 'loading'; fileName: string; reloading: boolean }
  | { type: 'model'; generation: number; settings: ViewSettings; payload: ModelPayload }
  | { type: 'error'; fileName: string; message: string; code?: string }
  | { type: 'settings'; settings: ViewSettings }
  | { type: 'command'; command: HostCommand }
  | RequestMessage<HostRequests>
  | ResponseMessage<WebviewRequests>;

/** Messages from the webview to the host. */
export type WebviewMessage =
  | { type: 'ready'; protocol: number }
  | { type: 'export'; format: ExportFormat }
  | { type: 'copyMarkdown' }
  | { type: 'openMetadata' }
  | { type: 'reload' }
  /** The module the user selected, so host commands (status, exports) can follow it. */
  | { type: 'selected'; path: string | null }
  | RequestMessage<WebviewRequests>
  | ResponseMessage<HostRequests>;

// ---------------------------------------------------------------------------------------------
// Helpers shared by both sides

const HOST_TYPES = new Set(['loading', 'model', 'error', 'settings', 'command', 'request', 'response']);
const WEBVIEW_TYPES = new Set(['ready', 'export', 'copyMarkdown', 'openMetadata', 'reload', 'selected', 'request', 'response']);

function hasType(m: unknown): m is { type: string } {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}

/** A cheap structural check on what arrives through postMessage. */
export function isHostMessage(m: unknown): m is HostMessage {
  return hasType(m) && HOST_TYPES.has(m.type);
}

export function isWebviewMessage(m: unknown): m is WebviewMessage {
  if (!hasType(m) || !WEBVIEW_TYPES.has(m.type)) return false;
  if (m.type === 'export') return EXPORT_FORMATS.includes((m as { format?: unknown }).format as ExportFormat);
  if (m.type === 'request' || m.type === 'response') return typeof (m as { id?: unknown }).id === 'number';
  return true;
}

/** The display path of a module: the root is shown (and addressed in the DOM) as `(root)`. */
export const ROOT_PATH_LABEL = '(root)';

export function domPath(path: string): string {
  return path === '' ? ROOT_PATH_LABEL : path;
}

/** Pending requests by id: resolve or reject when the response arrives. */
export class PendingRequests<R> {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer?: ReturnType<typeof setTimeout> }>();

  /** Start a request: returns its message (to post) and a promise of its result. */
  create<M extends keyof R & string>(
    method: M,
    params: R[M] extends { params: infer P } ? P : never,
    timeoutMs = 0,
  ): { message: RequestMessage<R>; result: Promise<R[M] extends { result: infer T } ? T : never> } {
    const id = this.next++;
    const result = new Promise<R[M] extends { result: infer T } ? T : never>((resolve, reject) => {
      const entry: { resolve: (v: unknown) => void; reject: (e: Error) => void; timer?: ReturnType<typeof setTimeout> } = {
        resolve: resolve as (v: unknown) => void,
        reject,
      };
      if (timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.pending.set(id, entry);
    });
    const message = { type: 'request', id, method, params } as unknown as RequestMessage<R>;
    return { message, result };
  }

  /** Settle the request a response answers; false if none was waiting (late or unknown id). */
  settle(response: { id: number; ok: boolean; result?: unknown; error?: string }): boolean {
    const entry = this.pending.get(response.id);
    if (!entry) return false;
    this.pending.delete(response.id);
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    if (response.ok) entry.resolve(response.result);
    else entry.reject(new Error(response.error ?? 'request failed'));
    return true;
  }

  /** Reject everything still waiting (the other side went away). */
  rejectAll(reason: string): void {
    for (const [id, entry] of this.pending) {
      if (entry.timer !== undefined) clearTimeout(entry.timer);
      entry.reject(new Error(reason));
      this.pending.delete(id);
    }
  }

  get size(): number {
    return this.pending.size;
  }
}
