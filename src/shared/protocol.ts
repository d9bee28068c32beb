/**
 * What Weightscope's three parts say to each other, declared once as typed interfaces for the
 * RPC (src/shared/rpc.ts):
 *
 *   webview ──HostApi──▶ host ──WorkerApi──▶ parser worker
 *   webview ◀─WebviewApi── host ◀─WorkerEvents── parser worker
 *
 *  - `WorkerApi`: the host asks the worker to open a checkpoint (the worker keeps it), then for
 *    modules (children, pages, located nodes), searches, storage groups, tensor pages, exports
 *    (every format, PNG too) and the full metadata;
 *  - `WorkerEvents`: what the worker tells the host unasked (progress);
 *  - `HostApi`: the webview says `ready` when its script runs (again after every tab switch,
 *    since the webview is rebuilt without retainContextWhenHidden), asks for modules, searches,
 *    groups and tensor pages (relayed to the worker), and for exports, reloads...;
 *  - `WebviewApi`: the host answers `ready` with `loading` (and `progress` while the worker
 *    reads), then `model` (or `error`), and sends `model` again with a new `generation` whenever
 *    the file changes on disk.
 *
 * The lazy editor (issue 11): `model` carries the summary and the first view only — a few
 * kilobytes whatever the model's size — and everything else (children, a folded run's blocks,
 * search results, tie partners, tensor descriptions) is asked for when it is shown. The host
 * never sends tensor data and holds nothing proportional to the model. Every part imports this
 * file: types and pure helpers only, so it compiles under Node (no DOM) and in the browser
 * bundle alike.
 */
import type { AdapterInfo, CheckpointSource, Counts, FoldRun, Format, ParameterCounts, QuantizationInfo, Relation, Role, SafetyReport, SharedGroup, StoredFigures, Warning } from '../core/model';
import type { Validators } from './rpc';

export type { AdapterInfo, Counts, FoldRun, Format, ParameterCounts, QuantizationInfo, Relation, Role, SafetyReport, StoredFigures, Warning };

/** Bump when a message shape changes incompatibly; checked when the webview says `ready`. */
export const PROTOCOL_VERSION = 3;

export type NumberFormat = 'compact' | 'exact';

export interface ViewSettings {
  /** Module levels expanded on first open (root is level 0). */
  expandDepth: number;
  numberFormat: NumberFormat;
}

/**
 * A module as the webview gets it: on demand, a few at a time (issue 11). The worker keeps the
 * whole tree; the webview asks for the first view, children, pages of a long child list,
 * search results and the owners of tie partners. Every answer that carries nodes carries their
 * ancestors too (ancestors first), so the webview can always place what it gets.
 */
export interface WireNode {
  /** Pre-order index in the worker's module list (root 0), stable for one model generation. */
  id: number;
  /** The parent's id; -1 for the root. */
  parent: number;
  /** Position among the parent's children (file order). */
  index: number;
  /** Attribute name under the parent ('' for the root). */
  name: string;
  /** Class name. */
  type: string;
  /** Omitted when false. */
  inferred?: boolean;
  /** PyTorch-style repr. */
  repr?: string;
  /** Why the type is what it is. */
  evidence?: string;
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
  /** Summary of the own tensors' shapes, `weight [768, 2304] · bias [2304]`. */
  shapes?: string;
  /** Direct children. */
  childCount: number;
  /** Rows the subtree shows under this node with everything expanded and unfolded. */
  descendantRows: number;
  /** Runs of identical consecutive children (indices into this node's children, in order). */
  folds?: WireFold[];
  /** Tensors in the subtree that share storage with tensors outside it (at most 64 listed). */
  shared?: WireShared[];
  /** Shared tensors of the subtree beyond those in `shared`. */
  sharedMore?: number;
  /**
   * The part of `params[0]` on storage that modules outside the subtree use too (a tied
   * `lm_head` is all shared): the rows' shares of a tied model add up to more than 100%.
   */
  sharedParams?: number;
  /**
   * A subtree holding quantized layers: its parameters and quantization tensors as stored
   * (elements, bytes, bits per weight), beside `params`, which count the unquantized weights.
   */
  stored?: StoredFigures;
}

/** A folded run as the webview gets it: the run, and what its blocks hold together. */
export interface WireFold extends FoldRun {
  /** Unique parameters of the run's blocks together. */
  unique: number;
  /** The blocks' tensors that share storage with tensors outside the run. */
  shared?: WireShared[];
}

/** A tensor of a subtree sharing storage with tensors outside it. */
export interface WireShared {
  tensor: string;
  /** Names outside the subtree on the same storage (the first few; `more` beyond). */
  others: string[];
  /** The module owning each of `others` (node ids). */
  owners: number[];
  more?: number;
  relation: Relation;
  /** The storage group (`groups` request). */
  group: number;
}

/** A node with the fields the webview works with (the wire node is used as it is). */
export type ModuleInfo = WireNode;

/** A page of nodes: ancestor-closed, ancestors first. */
export interface NodePage {
  nodes: WireNode[];
  /** `children`: the first child index not sent when the page was cut (more to ask for). */
  next?: number;
  /** `locate`: the node id per asked path or tensor (-1 when there is none). */
  found?: number[];
  /** `view`: the nodes expanded in the first view. */
  expanded?: number[];
}

export type NodeQuery =
  /**
   * Children of a node with child index in [from, to); with `folded`, a folded run inside the
   * range sends only its first block (the representative) — unfolding asks for the others.
   */
  | { kind: 'children'; id: number; from: number; to: number; folded: boolean }
  /** Nodes by pre-order id, [from, from + count) (expand all loads the tree in such pages). */
  | { kind: 'range'; from: number; count: number }
  /** Nodes by id, by dotted path, or the modules owning tensors (by full name). */
  | { kind: 'locate'; ids?: number[]; paths?: string[]; tensors?: string[] }
  /**
   * The items (children, a folded run by its first block) of several nodes at once: the
   * collapsed rows on screen, so a click opens them at once. Nodes with many items are skipped
   * (they load when opened).
   */
  | { kind: 'items'; ids: number[] }
  /** The first view (see firstView.ts) for an expansion depth. */
  | { kind: 'view'; expandDepth: number };

export interface SearchQuery {
  /** As the filter box has it: a substring (case-insensitive) or a regular expression (`i`). */
  text: string;
  regex: boolean;
  /** Matches to send at most. */
  limit: number;
}

export interface SearchResult {
  /** Modules whose path or type matches (all of them, also those not sent). */
  count: number;
  /** The first `limit` matches, in tree order. */
  matched: number[];
  /** The matches and their ancestors. */
  nodes: WireNode[];
  /** The search stopped at its time budget: `count` counts what it saw. */
  partial?: boolean;
  /** A regular expression that does not compile. */
  error?: string;
}

/** A storage group with the modules owning its members. */
export interface WireGroupInfo {
  index: number;
  group: WireGroup;
  /** Owner node id per listed member (`group.tensors`). */
  owners: number[];
  /** Members not listed (a storage thousands of views share lists the first ones). */
  more?: number;
}

export interface GroupPage {
  groups: WireGroupInfo[];
  /** The owners and their ancestors. */
  nodes: WireNode[];
}

/** What the webview gets first: the summary, and the tree as far as the first view shows it. */
export interface ModelHead {
  summary: WireSummary;
  /** Modules in the whole tree. */
  moduleCount: number;
  /** Storage groups in the model. */
  groupCount: number;
  /** Groups whose sharing saves elements (what "+N more groups" counts). */
  savingGroups: number;
  /** The few groups that save the most, for the summary (with owners, no nodes). */
  topGroups: WireGroupInfo[];
  /** The first view: its nodes (ancestor-closed) and which are expanded. */
  view: { nodes: WireNode[]; expanded: number[] };
  /** When the worker did what (the host's log splits the opening time by it). */
  timing?: OpenTiming;
}

/**
 * Moments of an open in the worker, in epoch milliseconds (`performance.timeOrigin +
 * performance.now()`: one clock for every thread of the process).
 */
export interface OpenTiming {
  /** The worker's code was loaded and it started serving. */
  ready: number;
  /** `open` began. */
  called: number;
  /** The headers were read. */
  read: number;
  /** The analysis was done. */
  analysed: number;
  /** The head (summary and first view) was built. */
  head: number;
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
  /** A packed quantized weight: the shape and elements of the weight it stands for. */
  logicalShape?: number[];
  logicalNumel?: number;
  /** The module owning it when that is not the name's parent (bitsandbytes' `q_proj.weight.absmax`). */
  module?: string;
}

/** How the weights are quantized, with the scheme as people read it (`4-bit GPTQ (g32)`). */
export interface WireQuantization extends QuantizationInfo {
  /** The core's label for the scheme (`schemeLabel`): `4-bit GPTQ (g32)`, `GGUF Q4_K_M`. */
  scheme: string;
}

export interface WireSummary {
  fileName: string;
  path: string;
  format: Format;
  /** The format registry's label for `format` (`PyTorch (zip)`, `plain pickle`): the webview has no registry. */
  formatLabel: string;
  architecture?: string;
  /** Files read (capped; `fileCount` is the real count). */
  files: string[];
  fileCount: number;
  /** For a quantized checkpoint, the unquantized model's; for an adapter, its trainable parameters. */
  parameters: ParameterCounts;
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
  quantization?: WireQuantization;
  adapter?: AdapterInfo;
  /**
   * Names an exporter stored once because their values were equal (ONNX, relation
   * `deduplicated`): each is its own tensor and counts; nobody tied them.
   */
  deduplicated?: { groups: number; tensors: number };
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
  /** A remote checkpoint's source (hf://, a URL, the local Hugging Face cache). */
  source?: WireSource;
}

/**
 * Where a remote checkpoint came from, as the summary shows it: the core's source without the
 * snapshot folder, URLs without their query, and what the transfer took.
 */
export type WireSource = Omit<CheckpointSource, 'snapshot'> & {
  /** The file (or folder) opened, inside the repository; '' for its root. */
  file?: string;
  bytesTransferred?: number;
  requests?: number;
};

/** How the worker opens a remote address (hf://, http(s)://). */
export interface RemoteOpen {
  /** The Hub token from VS Code's secret storage (hf:// only); absent: HF_TOKEN or the token file. */
  token?: string;
  /** `only`: the local Hugging Face cache, never the network (the cache view). */
  cache?: 'prefer' | 'never' | 'only';
  /** Tests: the Hub endpoint and the cache folder (default HF_ENDPOINT, HF_HUB_CACHE...). */
  endpoint?: string;
  cacheDir?: string;
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
  | { kind: 'find'; path: string; subtree: boolean; prefix: string; from: number }
  /**
   * The first `limit` own tensors of each of several modules (the rows on screen), so a hover
   * card has them at once. Answered with the items in order and `heads` saying whose they are.
   */
  | { kind: 'heads'; paths: string[]; limit: number };

export interface TensorPage {
  /** Total matching the query (for `module` and `find`: the module's own or subtree tensors). */
  total: number;
  /** Index of the first item in the list (for `find`: where the match is). */
  offset: number;
  items: WireTensor[];
  /** The storage groups the items are in (the table's Storage column names the others). */
  groups?: WireGroupInfo[];
  /** `heads`: per asked path, its own tensors in all and how many of the items are its. */
  heads?: { path: string; total: number; count: number }[];
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

/** What the worker tells the host while it works; the webview shows it from the first 100 ms. */
export interface Progress {
  /** Reading the headers; analysing them (tensors, sharing, the module tree); the first view. */
  stage: 'reading' | 'analysing' | 'building';
  /** The file the stage is about, when there is one. */
  file?: string;
  /** Files (shards) read, of `filesTotal`, and the header bytes read so far. */
  filesDone?: number;
  filesTotal?: number;
  bytesRead?: number;
  /** Tensors found (analysing). */
  tensors?: number;
  /** Remote: HTTP requests made, bytes received, requests under way. */
  requests?: number;
  bytesTransferred?: number;
  inFlight?: number;
}

// ---------------------------------------------------------------------------------------------
// The four interfaces. A method takes at most one parameter; `void` ones may be notifications.

/** host → parser worker. */
export interface WorkerApi {
  /**
   * Open and analyse the checkpoint (headers only); the worker keeps it for the calls below.
   * Answers the head: the summary and the first view for `expandDepth`.
   */
  open(p: { path: string; expandDepth?: number; remote?: RemoteOpen }): ModelHead;
  nodes(q: NodeQuery): NodePage;
  search(q: SearchQuery): SearchResult;
  groups(p: { ids: number[] }): GroupPage;
  tensors(q: TensorQuery): TensorPage;
  export(p: ExportRequest): ExportResult;
  /** config.json, `__metadata__`, GGUF keys... in full, as pretty JSON. */
  metadata(): string;
  /** Open two checkpoints (headers only) and compare them (issue 14); the worker keeps the comparison. */
  compare(p: { a: string; b: string }): CompareHead;
  compareRows(q: CompareRowsQuery): CompareRowsPage;
  compareTensors(p: { id: number; offset: number; limit: number }): CompareTensorPage;
  compareExport(p: CompareExportRequest): string;
}

/** parser worker → host (notifications). */
export interface WorkerEvents {
  progress(p: Progress): void;
}

/** webview → host. */
export interface HostApi {
  /** The webview's script runs (again after a tab switch); the host answers with the state. */
  ready(p: { protocol: number }): void;
  /** Modules of the model `generation` shows: children, pages, located nodes, the first view. */
  nodes(p: { generation: number; query: NodeQuery }): NodePage;
  /** The filter, run over the whole tree. */
  search(p: { generation: number; query: SearchQuery }): SearchResult;
  /** Storage groups by index, with their owners. */
  groups(p: { generation: number; ids: number[] }): GroupPage;
  /** A page of tensor descriptions of the model `generation` shows. */
  tensors(p: { generation: number; query: TensorQuery }): TensorPage;
  export(p: { format: ExportId }): void;
  copyMarkdown(): void;
  openMetadata(): void;
  reload(): void;
  /** The module the user selected, so host commands (status, exports) can follow it. */
  selected(p: { path: string | null }): void;
  /** Open the remote source's repository page (the host knows which). */
  openSource(): void;
  /** Ask for a Hugging Face token (an `auth` error's button), then open again. */
  setToken(): void;
}

/** host → webview (notifications). */
export interface WebviewApi {
  loading(p: { fileName: string; reloading: boolean; progress?: Progress }): void;
  /** How far opening got (sent as it goes, at most every 50 ms or so). */
  progress(p: Progress): void;
  model(p: { generation: number; settings: ViewSettings; head: ModelHead; exports: ExportChoice[] }): void;
  error(p: { fileName: string; message: string; code?: string }): void;
  settings(p: ViewSettings): void;
  command(p: { command: HostCommand }): void;
}

// ---------------------------------------------------------------------------------------------
// Structural checks of what arrives (the RPC checks the envelope; these the parameters)

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

const isId = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isIdList = (v: unknown, max: number): boolean => Array.isArray(v) && v.length <= max && v.every(isId);
const isStringList = (v: unknown, max: number): boolean => Array.isArray(v) && v.length <= max && v.every((x) => typeof x === 'string');

/** At most this many ids, paths or names in one request. */
export const MAX_REQUEST_ITEMS = 10_000;

export function isNodeQuery(q: unknown): q is NodeQuery {
  if (!isObject(q)) return false;
  switch (q.kind) {
    case 'children':
      return isId(q.id) && isId(q.from) && isId(q.to) && typeof q.folded === 'boolean';
    case 'range':
      return isId(q.from) && isId(q.count);
    case 'locate':
      return (q.ids === undefined || isIdList(q.ids, MAX_REQUEST_ITEMS)) && (q.paths === undefined || isStringList(q.paths, MAX_REQUEST_ITEMS)) && (q.tensors === undefined || isStringList(q.tensors, MAX_REQUEST_ITEMS));
    case 'view':
      return isId(q.expandDepth);
    case 'items':
      return isIdList(q.ids, 500);
    default:
      return false;
  }
}

export function isSearchQuery(q: unknown): q is SearchQuery {
  return isObject(q) && typeof q.text === 'string' && q.text.length <= 10_000 && typeof q.regex === 'boolean' && isId(q.limit);
}

export function isTensorQuery(q: unknown): q is TensorQuery {
  if (!isObject(q)) return false;
  switch (q.kind) {
    case 'module':
      return typeof q.path === 'string' && typeof q.subtree === 'boolean' && isCount(q.offset) && isCount(q.limit);
    case 'find':
      return typeof q.path === 'string' && typeof q.subtree === 'boolean' && typeof q.prefix === 'string' && isCount(q.from);
    case 'names':
      return Array.isArray(q.names) && q.names.every((n) => typeof n === 'string');
    case 'heads':
      return isStringList(q.paths, 1000) && isCount(q.limit);
    default:
      return false;
  }
}

/** What the host accepts from a webview; `formats` are the export ids the host offers. */
export function hostApiValidators(formats: readonly string[]): Validators<HostApi> {
  return {
    ready: (p) => isObject(p) && typeof p.protocol === 'number',
    nodes: (p) => isObject(p) && typeof p.generation === 'number' && isNodeQuery(p.query),
    search: (p) => isObject(p) && typeof p.generation === 'number' && isSearchQuery(p.query),
    groups: (p) => isObject(p) && typeof p.generation === 'number' && isIdList(p.ids, MAX_REQUEST_ITEMS),
    tensors: (p) => isObject(p) && typeof p.generation === 'number' && isTensorQuery(p.query),
    export: (p) => isObject(p) && typeof p.format === 'string' && formats.includes(p.format),
    selected: (p) => isObject(p) && (p.path === null || typeof p.path === 'string'),
  };
}

/** What the worker accepts from the host (the host is trusted; this catches our own mistakes). */
export function workerApiValidators(formats: readonly string[]): Validators<WorkerApi> {
  return {
    open: (p) => isObject(p) && typeof p.path === 'string' && p.path.length > 0 && (p.expandDepth === undefined || isId(p.expandDepth)) && (p.remote === undefined || isRemoteOpen(p.remote)),
    nodes: (q) => isNodeQuery(q),
    search: (q) => isSearchQuery(q),
    groups: (p) => isObject(p) && isIdList(p.ids, MAX_REQUEST_ITEMS),
    tensors: (q) => isTensorQuery(q),
    export: (p) => isObject(p) && typeof p.format === 'string' && formats.includes(p.format) && (p.depth === undefined || isCount(p.depth)),
    ...compareWorkerValidators,
  };
}

function isRemoteOpen(r: unknown): boolean {
  if (!isObject(r)) return false;
  const str = (v: unknown) => v === undefined || typeof v === 'string';
  return str(r.token) && str(r.endpoint) && str(r.cacheDir) && (r.cache === undefined || r.cache === 'prefer' || r.cache === 'never' || r.cache === 'only');
}

/** The display path of a module: the root is shown (and addressed in the DOM) as `(root)`. */
export const ROOT_PATH_LABEL = '(root)';

export function domPath(path: string): string {
  return path === '' ? ROOT_PATH_LABEL : path;
}

// ---------------------------------------------------------------------------------------------
// Comparing two checkpoints (issue 14, the editor's comparison view)
//
//   compare webview ──CompareHostApi──▶ host ──WorkerApi.compare*──▶ parser worker
//   compare webview ◀─CompareViewApi─── host
//
// The worker opens both checkpoints (headers only) and keeps the comparison (src/core/diff) and
// its aligned tree (src/worker/compareIndex.ts). The webview asks for the rows it shows, a page
// at a time, for a view: the rows it expanded and whether only changes show. Nothing
// proportional to the models crosses at once.

/** What a row of the aligned tree is (a module only in a: `removed`; only in b: `added`). */
export type CompareStatus = 'equal' | 'changed' | 'added' | 'removed';

/** Numbers of one side; `null` when the side lacks the module. */
export interface CompareSide {
  /** Type and repr (`Linear(in_features=…)`). */
  type: string;
  repr?: string;
  /** Parameters over the subtree: unique (shared storage once), total, and owned (shared storage at its first holder in tree order: these add up, so deltas do). */
  unique: number;
  total: number;
  owned: number;
  buffers: number;
  /** Bytes: unique over the subtree, owned (adds up). */
  bytes: number;
  ownedBytes: number;
}

/** A row of the aligned tree, as the comparison view draws it. */
export interface CompareRow {
  /** Pre-order index in the aligned tree (root 0), stable for one comparison. */
  id: number;
  parent: number;
  depth: number;
  name: string;
  /** Comparison path ('' for the root). */
  path: string;
  /** a's path when a names the module otherwise (renamed). */
  aPath?: string;
  status: CompareStatus;
  a: CompareSide | null;
  b: CompareSide | null;
  /** What the tree shows after the name: one side's head, or `a → b` when the type changed. */
  head: string;
  typeChanged: boolean;
  /** Tensors in the subtree that differ / were renamed. */
  changed: number;
  renamed: number;
  /** The row's own tensors, and children. */
  own: number;
  childCount: number;
  /** Expanded in the view asked for. */
  expanded: boolean;
  /** Ties lost / gained by its own tensors, in words (`tie lost: lm_head.weight`). */
  note?: string;
}

/** A storage group of one side drawn as a link between the visible rows holding its tensors. */
export interface CompareLink {
  side: 'a' | 'b';
  /** `lost`: a's tie that b does not have; `gained`: b's that a does not have; `changed`: the relation differs. */
  status: 'lost' | 'gained' | 'changed' | 'same';
  relation: Relation;
  /** The group's tensors (comparison names; the first few). */
  tensors: string[];
  /** Visible row positions (in the view) it joins, ascending: a row whose module is hidden stands for it (its nearest visible ancestor). */
  rows: number[];
}

export interface CompareView {
  /** Row ids expanded (the root is always open). */
  expanded: number[];
  /** Only rows that differ (and their ancestors). */
  changesOnly: boolean;
}

export interface CompareRowsQuery {
  view: CompareView;
  /** Visible rows [offset, offset + limit). */
  offset: number;
  limit: number;
}

export interface CompareRowsPage {
  /** Rows visible in the view. */
  total: number;
  offset: number;
  rows: CompareRow[];
  /** The links that reach the asked rows (at most 500). */
  links: CompareLink[];
  /** Links in the whole view. */
  linkCount: number;
}

/** One tensor of a row, both sides. */
export interface CompareTensor {
  key: string;
  status: CompareStatus;
  /** a's own name when it differs (renamed). */
  aName?: string;
  a: { dtype: string; shape: number[]; role: Role; numel: number; nbytes: number; present: boolean } | null;
  b: { dtype: string; shape: number[]; role: Role; numel: number; nbytes: number; present: boolean } | null;
  /** What changed, in words (dtype, shape, role; the tie lost or gained). */
  change?: string;
  /** Names on the same storage, per side. */
  sharesA?: string[];
  sharesB?: string[];
}

export interface CompareTensorPage {
  total: number;
  offset: number;
  items: CompareTensor[];
}

/** The comparison's summary, with its default view. */
export interface CompareHead {
  a: { path: string; label: string; format: string; formatLabel: string; architecture?: string; files: number; tensors: number; parameters: Counts; buffers: Counts; bytes: number };
  b: { path: string; label: string; format: string; formatLabel: string; architecture?: string; files: number; tensors: number; parameters: Counts; buffers: Counts; bytes: number };
  equal: boolean;
  /** `different: 2 tensors changed, 1 tie lost…` (as `weightscope diff` prints it). */
  verdict: string;
  reasons: string[];
  summary: { added: number; removed: number; changed: number; renamed: number; tiesLost: number; tiesGained: number; tiesChanged: number; config: number };
  /** Modules in the aligned tree. */
  rowCount: number;
  /** The rows expanded at first: the changed ones, as far as a few hundred rows show. */
  expanded: number[];
  /** The ties that changed, in words. */
  ties: string[];
  /** config.json keys that differ (`+ tie_word_embeddings: false`). */
  config: string[];
}

export type CompareExportFormat = 'markdown' | 'svg';
export const COMPARE_EXPORT_FORMATS: readonly CompareExportFormat[] = ['markdown', 'svg'];

export interface CompareExportRequest {
  format: CompareExportFormat;
  /** How the two sides are named in the export (as `weightscope diff A B` names them). */
  labels: { a: string; b: string };
  depth?: number;
}

/** compare webview → host. */
export interface CompareHostApi {
  ready(p: { protocol: number }): void;
  rows(p: { generation: number; query: CompareRowsQuery }): CompareRowsPage;
  tensors(p: { generation: number; id: number; offset: number; limit: number }): CompareTensorPage;
  export(p: { format: CompareExportFormat }): void;
  copyMarkdown(): void;
  /** Open one side in the Weightscope editor. */
  open(p: { side: 'a' | 'b' }): void;
}

/** host → compare webview (notifications). */
export interface CompareViewApi {
  loading(p: { a: string; b: string; progress?: Progress }): void;
  head(p: { generation: number; head: CompareHead; settings: ViewSettings }): void;
  error(p: { message: string; code?: string }): void;
  settings(p: ViewSettings): void;
}

const isCompareView = (v: unknown): v is CompareView => isObject(v) && isIdList(v.expanded, MAX_REQUEST_ITEMS) && typeof v.changesOnly === 'boolean';
export const isCompareRowsQuery = (q: unknown): q is CompareRowsQuery => isObject(q) && isCompareView(q.view) && isCount(q.offset) && isId(q.limit) && (q.limit as number) <= 5000;
const isCompareFormat = (f: unknown): f is CompareExportFormat => typeof f === 'string' && (COMPARE_EXPORT_FORMATS as readonly string[]).includes(f);

export function compareHostApiValidators(): Validators<CompareHostApi> {
  return {
    ready: (p) => isObject(p) && typeof p.protocol === 'number',
    rows: (p) => isObject(p) && typeof p.generation === 'number' && isCompareRowsQuery(p.query),
    tensors: (p) => isObject(p) && typeof p.generation === 'number' && isId(p.id) && isCount(p.offset) && isId(p.limit) && (p.limit as number) <= 1000,
    export: (p) => isObject(p) && isCompareFormat(p.format),
    open: (p) => isObject(p) && (p.side === 'a' || p.side === 'b'),
  };
}

/** The worker's compare methods' checks (workerApiValidators adds them). */
export const compareWorkerValidators: Validators<WorkerApi> = {
  compare: (p) => isObject(p) && typeof p.a === 'string' && p.a.length > 0 && typeof p.b === 'string' && p.b.length > 0,
  compareRows: (q) => isCompareRowsQuery(q),
  compareTensors: (p) => isObject(p) && isId(p.id) && isCount(p.offset) && isId(p.limit) && (p.limit as number) <= 1000,
  compareExport: (p) => isObject(p) && isCompareFormat(p.format) && isObject(p.labels) && typeof p.labels.a === 'string' && typeof p.labels.b === 'string' && (p.depth === undefined || isCount(p.depth)),
};
