/**
 * The schema-1 JSON document: the CLI's `--json`, the webview's data and every test read it.
 * Field names are a contract; add fields, never rename.
 */
import { AdapterInfo, Checkpoint, CheckpointSource, Counts, Format, ModuleNode, ParameterCounts, QuantizationInfo, Role, SafetyReport, SharedGroup, Storage, StoredFigures, Warning } from './model';
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
  return {
    schema: 1,
    format: cp.format,
    parameters: cp.parameters,
    buffers: cp.buffers,
    tensors: cp.tensors.map((t) => {
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
    }),
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
    modules: moduleReport(cp.modules),
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

function moduleReport(m: ModuleNode): ReportModule {
  const r: ReportModule = {
    name: m.name,
    path: m.path,
    type: m.type,
    parameters: m.parameters,
    children: m.children.map(moduleReport),
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
