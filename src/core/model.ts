/**
 * The format-independent checkpoint model. Format readers produce a RawCheckpoint (what is in
 * the files); analyze() (analyze.ts) turns it into a Checkpoint: roles decided, sidecars read,
 * sharing grouped, and the module tree built with storage-aware totals.
 */

/**
 * A format value: one of the `variants` of a module in the format registry (formats/index.ts),
 * e.g. `safetensors`, `safetensors-sharded`, `pytorch-zip`, `pytorch-legacy`, `gguf`, `onnx`, and
 * `pickle` (a plain pickle, pickle.dump rather than torch.save: no tensors, only its safety
 * report). A string so that a new format needs no edit here; the registry checks every module's values
 * and gives each its label (`formatLabel`).
 */
export type Format = string;

/**
 * `quantization`: auxiliary tensors of a quantized layer (scales, zero points, group indices,
 * absmax, quant maps, packed shapes...): stored, but not parameters of the model.
 */
export type Role = 'parameter' | 'buffer' | 'optimizer-state' | 'other' | 'quantization';

export interface Warning {
  code: string;
  message: string;
}

/** One tensor as a reader found it. */
export interface TensorRecord {
  /** Full dotted name, as the checkpoint names it (e.g. `transformer.h.0.attn.c_attn.weight`). */
  name: string;
  /** Canonical dtype (dtypes.ts): `float32`, `bfloat16`, `Q4_K`... */
  dtype: string;
  /** The dtype as the file spells it (`F32`, `torch.FloatStorage`, GGUF type name...). */
  formatDtype?: string;
  /** PyTorch order (outermost first), also for GGUF whose `ne` is reversed on disk. */
  shape: number[];
  /** Bytes this tensor's elements occupy (for a strided view: its own elements, not its span). */
  nbytes: number;
  /** File holding the data, relative to the checkpoint's root folder. */
  file: string;
  /** Absolute byte offset in `file` where this tensor's storage data begins; null if unknown. */
  dataOffset: number | null;
  /**
   * Storage identity: tensors with the same storage id share memory. Unique within the
   * checkpoint; null when the tensor has no storage of its own on disk (meta tensors).
   */
  storage: string | null;
  /** Byte offset of this tensor's first element within its storage. */
  storageOffset: number | null;
  /** Strides in elements, when the format records them (PyTorch). */
  strides: number[] | null;
  /** Size of the whole storage in bytes, when known. */
  storageNbytes?: number;
  /** Role, when the format knows it exactly (whole pickled modules, optimizer state). */
  role?: Role;
  roleReason?: string;
  /** Free-form per-tensor facts worth showing (quantization scheme, requires_grad...). */
  extra?: Record<string, string | number | boolean>;
}

/** A tie that the files declare rather than store: one name may be absent from the file. */
export interface DeclaredTie {
  /** The name that is absent (or tied by declaration), e.g. `lm_head.weight`. */
  name: string;
  /** The name actually stored, e.g. `transformer.wte.weight`. */
  target: string;
  /** Where the declaration comes from. */
  source: 'config' | 'metadata' | 'format';
  reason: string;
}

/** A module's layer as the file describes it (not a class: e.g. the ONNX op that uses its weights). */
export interface LayerHint {
  type: string;
  repr?: string;
  evidence: string;
}

/** Module structure known exactly (from a whole pickled nn.Module). */
export interface ModuleHint {
  /** Attribute name under the parent ('' for the root). */
  name: string;
  /** Class name, e.g. `Linear`, `GPT2Block`. */
  className: string;
  /** Python module path of the class, e.g. `torch.nn.modules.linear`. */
  pythonModule: string;
  /** PyTorch-style repr of the layer when its attributes allow it, e.g. `Linear(in_features=768, ...)`. */
  repr?: string;
  /** Scalar layer attributes (`in_features`, `eps`, ...). */
  attributes: Record<string, string | number | boolean | null>;
  /** Local parameter name → full tensor name (null for a registered-but-None parameter). */
  parameters: Record<string, string | null>;
  buffers: Record<string, string | null>;
  children: ModuleHint[];
}

export interface SafetyGlobal {
  /** `module.name` as the pickle names it. */
  name: string;
  verdict: 'allowed' | 'unknown' | 'dangerous';
  /** How many times the pickle references it. */
  count: number;
  reason?: string;
  /**
   * What the pickle does with it: `call` (REDUCE, INST/OBJ with arguments: torch.load would call
   * it), `class` (instantiates it without running its __init__: NEWOBJ, copyreg._reconstructor),
   * `modify` (BUILD on a module or class: the pickle sets its attributes), `reference` (named
   * only, or passed on as a value).
   */
  action?: 'call' | 'class' | 'modify' | 'reference';
  /**
   * True when loading it is flagged (warning `unsafe-global`): every dangerous global, and any
   * other callable the pickle calls that is not known to be harmless, even if it is on no list.
   */
  unsafe?: boolean;
  /**
   * The calls the pickle makes with it, decoded: the callable and its arguments as the pickle
   * holds them (Python syntax, escaped, truncated), never executed. The first few.
   */
  calls?: string[];
  /** How many calls the pickle makes with it (`calls` shows the first few). */
  callCount?: number;
  /** For a callable the pickle reaches at load time rather than by a GLOBAL (e.g. `builtins.getattr`). */
  via?: string;
  /** Named only by a pickle after the first one's STOP, which torch.load does not read. */
  trailing?: boolean;
}

export interface SafetyReport {
  verdict: 'safe' | 'unknown' | 'dangerous';
  globals: SafetyGlobal[];
  /** Set when part of the pickle could not be scanned (too large, or it stops making sense): why. */
  incomplete?: string;
}

export interface RawCheckpoint {
  format: Format;
  /** Root path (the file, index or directory the user opened). */
  path: string;
  /** Files read, relative to the root folder. */
  files: string[];
  /** The readers make them with tensorRecord() (tensor-record.ts), in the shape of a Tensor. */
  tensors: TensorRecord[];
  declaredTies: DeclaredTie[];
  /** Metadata as plain JSON-able values (safetensors `__metadata__`, GGUF keys, config.json...). */
  metadata: Record<string, unknown>;
  warnings: Warning[];
  /** Present for whole pickled modules: the exact module tree. */
  moduleTree?: ModuleHint;
  /** Layer types the file states by module path (ONNX: the ops using each module's tensors), used before any guess from names. */
  layers?: Record<string, LayerHint>;
  safety?: SafetyReport;
  /** Hugging Face config.json beside the weights, when found. */
  config?: Record<string, unknown>;
  /** Prefix stripped or recognised (e.g. `module.` from DataParallel), for display. */
  prefixes?: string[];
  /**
   * Architecture the file itself names (GGUF `general.architecture`); config.json's
   * `architectures` and a pickled module's class come first.
   */
  architecture?: string;
  /**
   * Hyper-parameters the file records, in config.json's names (`rms_norm_eps`...): layer
   * inference uses them when no config.json is beside the weights.
   */
  hyperParameters?: Record<string, unknown>;
  /** Total bytes read from all files while opening (headers only). */
  bytesRead: number;
  /** Total size of all files. */
  totalBytes: number;
  /** JSON sidecars other than config.json, by file name (`adapter_config.json`, `quantize_config.json`...). */
  sidecars?: Record<string, Record<string, unknown>>;
  /**
   * Contents of the few tiny tensors that describe a quantized layout and are read on purpose
   * (quant/payloads.ts): compressed-tensors' `weight_shape`, HQQ's `shape`, bitsandbytes' `quant_state` JSON.
   */
  payloads?: Record<string, TensorPayload>;
  /**
   * Set by analyze() when it took the records as the Checkpoint's tensors (AnalyzeOptions.consume):
   * they are analysed tensors now, and analysing this raw checkpoint again is an error.
   */
  consumed?: boolean;
}

/** A tensor after analysis. */
export interface Tensor extends TensorRecord {
  role: Role;
  roleReason: string;
  /** False for a declared-tie name that the file does not store. */
  present: boolean;
  /** Number of elements. */
  numel: number;
  /** Index of its sharing group in Checkpoint.shared, or -1. */
  group: number;
  /** For a packed quantized weight: the shape of the weight it stands for (e.g. [4096, 4096]). */
  logicalShape?: number[];
  /** Elements of the weight it stands for; counted as parameters instead of `numel`. */
  logicalNumel?: number;
  /** For a packed quantized weight: the layer it belongs to. */
  quant?: QuantLayer;
  /**
   * Module owning the tensor when it is not the name's parent: bitsandbytes stores
   * `q_proj.weight.absmax`, which belongs to `q_proj`, not to a module `q_proj.weight`.
   */
  module?: string;
}

/**
 * How tensors on one storage relate: `alias` (the same bytes), `view` (overlapping ranges of
 * them), `declared` (a name the file does not store, tied by declaration), `deduplicated` (an
 * exporter stored one copy of equal tensors: separate tensors of the model, each counted).
 */
export type Relation = 'alias' | 'view' | 'declared' | 'deduplicated';

/** A storage: one block of bytes on disk that one or more tensors view. */
export interface Storage {
  id: string;
  file: string;
  /** Absolute byte offset of its data in `file`; null when unknown (compressed records). */
  dataOffset: number | null;
  /** Size in bytes (the storage's own size when the format records it, else what its tensors span). */
  nbytes: number;
  /** Names of the tensors on it, declared ties included. */
  tensors: string[];
}

export interface SharedGroup {
  tensors: string[];
  relation: Relation;
  storage: string | null;
  /** Elements counted once for the group (its storage's covered elements). */
  uniqueElements: number;
  /** Plain sum of the members' elements. */
  totalElements: number;
  reason?: string;
  /**
   * For a `view` group: for each member (by position in `tensors`), the positions of the members
   * whose bytes it overlaps. Views that overlap nothing (vector_to_parameters, FSDP's views of
   * its flat parameter among themselves) are on one storage but not tied. Absent for the other
   * relations, where every member is tied to every other, and when the overlaps were too many to
   * work out (then every member counts as tied). Not in the JSON report (overlaps.ts).
   */
  overlaps?: number[][];
}

export interface Counts {
  unique: number;
  total: number;
}

export interface ModuleNode {
  /** Attribute name under the parent ('' for the root). */
  name: string;
  /** Dotted path from the root ('' for the root). */
  path: string;
  /** Class name (exact for pickled modules, inferred otherwise). */
  type: string;
  /** True when `type` was inferred from names and shapes rather than read from the file. */
  inferred: boolean;
  /** PyTorch-style one-line repr for leaf layers, e.g. `Linear(in_features=768, out_features=50257, bias=False)`. */
  repr?: string;
  /** Why the type was inferred as it was. */
  evidence?: string;
  parameters: Counts;
  buffers: Counts;
  /** Other tensors (optimizer state, unknown) in the subtree. */
  other: Counts;
  /** Bytes by dtype over the subtree's present tensors, storage counted once. */
  bytesByDtype: Record<string, number>;
  /** Names of tensors directly owned by this module (full names). */
  tensors: string[];
  /** Tensors in this subtree sharing storage with tensors outside it. */
  sharedWith: SharedWith[];
  /** Shared tensors of the subtree not listed in `sharedWith` (it lists at most 64). */
  sharedWithMore?: number;
  children: ModuleNode[];
  /** Runs of consecutive structurally identical children, as PyTorch's print folds them. */
  folds: FoldRun[];
  /** Number of tensors in the subtree. */
  tensorCount: number;
  /** Subtrees holding quantized layers: what their parameters and quantization tensors occupy. */
  stored?: StoredFigures;
}

/** A tensor of a subtree that shares storage with tensors outside it. */
export interface SharedWith {
  tensor: string;
  /** Names outside the subtree on the same storage (the first 16; 3 for groups over 64). */
  others: string[];
  /** How many more names outside the subtree share it, beyond `others`. */
  more?: number;
  relation: Relation;
  /** Index of the storage group in Checkpoint.shared (the report's `shared`), which lists every name. */
  group: number;
  /**
   * For a view (relation `view`) whose overlaps are known: the names outside the subtree whose
   * bytes this tensor's overlap (the first 16, 3 in groups over 64), the ones it is tied to.
   * Empty when it overlaps none of `others`: on one storage with them, tied to none.
   */
  overlaps?: string[];
  /** How many more names outside the subtree it overlaps, beyond `overlaps`. */
  overlapsMore?: number;
}

export interface FoldRun {
  /** Index of the first and last child in the run (inclusive). */
  first: number;
  last: number;
  /** Child names of the first and last, e.g. '0' and '11'. */
  from: string;
  to: string;
  count: number;
  type: string;
}

export interface Checkpoint {
  format: Format;
  path: string;
  files: string[];
  tensors: Tensor[];
  shared: SharedGroup[];
  /** Listed when first read (analyze.ts: only the JSON report reads it), then the same list. */
  readonly storages: Storage[];
  parameters: ParameterCounts;
  buffers: Counts;
  other: Counts;
  bytesByDtype: Record<string, number>;
  modules: ModuleNode;
  metadata: Record<string, unknown>;
  config?: Record<string, unknown>;
  warnings: Warning[];
  safety?: SafetyReport;
  prefixes?: string[];
  bytesRead: number;
  totalBytes: number;
  /** Architecture name when known (config `architectures[0]`, root class of a pickled module). */
  architecture?: string;
  /** Where a remote checkpoint came from (absent for local paths). */
  source?: CheckpointSource;
  /** Remote only: bytes received over the network, and HTTP requests made, to open it. */
  bytesTransferred?: number;
  requests?: number;
  /** How the weights are quantized, when they are. */
  quantization?: QuantizationInfo;
  /** The adapter, when the checkpoint is one. */
  adapter?: AdapterInfo;
}

/** What a deliberately read tiny tensor holds. */
export interface TensorPayload {
  /** Integer contents (a packed layer's real shape). */
  ints?: number[];
  /** A JSON object (bitsandbytes' packed quant state). */
  json?: Record<string, unknown>;
  /** Why the contents could not be read or decoded. */
  error?: string;
}

/** A quantized layer, as its packed weight describes it. */
export interface QuantLayer {
  /** `gptq`, `awq`, `compressed-tensors`, `mlx`, `bitsandbytes`, `fp8`, `aqlm`, `bitnet`, `vptq`... */
  method: string;
  bits: number;
  /** Inputs per scale group; absent for per-channel or per-tensor scales. */
  groupSize?: number;
  /** Block of FP8 block-wise scales ([rows, cols]). */
  blockSize?: number[];
  /** The layout or number format (`gptq_v2`, `gemv`, `pack-quantized`, `nf4`, `e4m3`...). */
  format?: string;
  /** Logical weight [rows, cols]: [out_features, in_features], or [num_embeddings, dim]. */
  rows: number;
  cols: number;
  /** Bias present beside the packed weight. */
  bias: boolean;
}

/** Stored size of quantized weights, next to the logical parameter count. */
export interface StoredFigures {
  /** Elements as stored (packed int32 words count once each), parameters and quantization tensors. */
  elements: number;
  bytes: number;
  /** bytes * 8 / logical parameters. */
  bitsPerWeight: number;
}

/** How a checkpoint is quantized (absent when it is not). */
export interface QuantizationInfo {
  /** `gptq`, `awq`, `compressed-tensors`, `mlx`, `bitsandbytes`, `fp8`, `aqlm`, `bitnet`, `vptq`, `gguf`... */
  method: string;
  /** Bits per quantized weight, for the scheme most of the quantized parameters use. */
  bits: number;
  groupSize?: number;
  blockSize?: number[];
  format?: string;
  /** Where the scheme comes from (`config.json quantization_config`, `tensor layout`...). */
  declaredBy: string;
  /** Elements of parameters and quantization tensors as stored. */
  storedElements: number;
  /** Bytes of parameters and quantization tensors (shared storage once). */
  storedBytes: number;
  /** storedBytes * 8 / logical parameters, as llama.cpp and mlx-lm compute it. */
  bitsPerWeight: number;
  /** Quantized layers, and the logical parameters they hold. */
  quantizedLayers: number;
  quantizedParameters: number;
  /** Present when layers use different schemes (bits, group size, GGUF types). */
  variants?: QuantVariant[];
}

export interface QuantVariant {
  bits: number;
  groupSize?: number;
  format?: string;
  layers: number;
  parameters: number;
}

/** An adapter (PEFT folder, or a LoRA file from the diffusion tools). */
export interface AdapterInfo {
  /** `LORA`, `DORA`, `LOHA`, `IA3`... as PEFT names it. */
  type: string;
  /** Rank (`r`); the most common one when modules differ. */
  rank?: number;
  alpha?: number;
  /** Target module names (`q_proj`, `v_proj`), or the config's pattern. */
  targets: string[];
  /** Base model name or path, when the adapter says. */
  base?: string;
  /** `peft`, `kohya`, `diffusers`. */
  format: string;
  /** Modules adapted. */
  modules: number;
}

/** A parameter count a file declares, next to ours. */
export interface DeclaredCount {
  count: number;
  /** Where: `model.safetensors.index.json metadata.total_parameters`, `gguf general.parameter_count`... */
  source: string;
}

/**
 * Multi-token prediction layers stored after the decoder's layers (mtp.ts): what transformers'
 * model classes skip when loading.
 */
export interface MtpLayers {
  /** Their module paths (`model.layers.61`). */
  modules: string[];
  /** Parameters they hold, shared storage counted once within them. */
  unique: number;
  /** The checkpoint's unique parameters without them; absent when they share storage with the rest. */
  withoutMtp?: number;
  /** What says so: `config.json num_hidden_layers 61, num_nextn_predict_layers 1`. */
  source: string;
}

/** Parameter counts; `declared` when a file states a total of its own, `mtp` when it stores multi-token prediction layers. */
export interface ParameterCounts extends Counts {
  declared?: DeclaredCount;
  mtp?: MtpLayers;
}

/** The origin of a checkpoint opened from an address rather than a local path (src/core/remote/). */
export interface CheckpointSource {
  /** `hf`: the Hugging Face Hub; `url`: an HTTP(S) URL; `hf-cache`: an hf:// address found complete in the local Hugging Face cache. */
  kind: 'hf' | 'url' | 'hf-cache';
  /** The address as given. */
  address: string;
  /** Hub repository (`owner/name`) and its type, for hf and hf-cache. */
  repo?: string;
  repoType?: 'model' | 'dataset' | 'space';
  /** The commit read (hf, hf-cache). */
  revision?: string;
  /** The branch, tag or commit asked for, when one was. */
  ref?: string;
  /** The URL of the file or index opened (no query string). */
  url?: string;
  /** hf-cache: the snapshot folder read. */
  snapshot?: string;
  /** One line for people (e.g. that the local cache was used, offline). */
  note?: string;
}
