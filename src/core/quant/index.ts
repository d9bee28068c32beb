/**
 * Quantized checkpoints: which layers are quantized and how, what the packed tensors stand for,
 * and the scheme summary. One file per method holds its packing rules (with sources in
 * docs/quantization.md); this file groups tensors by layer, asks the methods, and applies their
 * answers:
 *
 * - the packed weight stays a parameter, counted with the elements of the weight it stands for
 *   (`logicalNumel`, `logicalShape`), and carries the layer's scheme (`quant`);
 * - scales, zero points, group indices, absmax, quant maps, shapes get the role `quantization`:
 *   stored, shown, not parameters;
 * - a missing, contradicting or unsupported config is a warning; a layer that cannot be read is
 *   counted as it is stored.
 */
import { QuantizationInfo, QuantLayer, QuantVariant, RawCheckpoint, StoredFigures, Tensor, Warning } from '../model';
import { aqlm } from './aqlm';
import { awq } from './awq';
import { bitnet, onlineMode } from './bitnet';
import { bnb, STATE_KEY } from './bnb';
import { sameDims } from '../coverage';
import { isLocalName } from '../local-name';
import { ACTIVATION_STATE, Detector, DetectContext, LayerView, prod, Recognised } from './common';
import { compressedTensors } from './compressed';
import { findQuantConfig, QuantConfig } from './config';
import { exl2 } from './exl2';
import { exl3, exl3Target } from './exl3';
import { fp8, nvfp4 } from './fp8';
import { methodLabel } from './describe';
import { ggufScheme, GgufScheme, isGgmlQuant, nominalBits } from './gguf';
import { gptq } from './gptq';
import { eetq } from './eetq';
import { hqq } from './hqq';
import { mlx } from './mlx';
import { mxfp4Pairs } from './mxfp4';
import { quanto } from './quanto';
import { vptq } from './vptq';
import { dtypeInfo } from '../dtypes';

export interface QuantAnnotations {
  config?: QuantConfig;
  /** The quantized layers in the order found, and beside each its packed weight (same positions). */
  layers: QuantLayer[];
  packed: Tensor[];
  /** Positions of the layers with a single scale group, whose group size follows the others'. */
  flexible: number[];
  gguf?: GgufScheme;
  /** The bits per weight the config declares for the whole checkpoint, when the summary gives it rather than the main variant's (EXL3's target). */
  targetBits?: number;
}

const DETECTORS: [string, Detector][] = [
  ['gptq', gptq],
  ['awq', awq],
  ['compressed-tensors', compressedTensors],
  ['bitsandbytes', bnb],
  ['hqq', hqq],
  ['eetq', eetq],
  ['quanto', quanto],
  ['fp8', fp8],
  ['nvfp4', nvfp4],
  ['mlx', mlx],
  ['exl2', exl2],
  ['exl3', exl3],
  ['aqlm', aqlm],
  ['bitnet', bitnet],
  ['vptq', vptq],
];

/**
 * Recognise quantized layers and annotate their tensors in place (roles, logical shapes), for a
 * checkpoint quant/trigger.ts says may be quantized: logical.ts asks it first, so that this file
 * and the detectors load only then; a checkpoint the trigger turns away is not quantized.
 */
export function annotateQuantization(raw: RawCheckpoint, tensors: Tensor[], warnings: Warning[]): QuantAnnotations | undefined {
  if (raw.format === 'gguf') {
    const gguf = ggufScheme(raw, tensors);
    return gguf ? { layers: [], packed: [], flexible: [], gguf } : undefined;
  }
  const qc = findQuantConfig(raw);

  const layers = new LayerGroups(tensors);
  const ctx: DetectContext = { payloads: raw.payloads ?? {}, config: raw.config };
  const preferred = DETECTORS.find(([m]) => m === qc?.method);
  const order = preferred ? [preferred, ...DETECTORS.filter((d) => d !== preferred)] : DETECTORS;
  const ann: QuantAnnotations = { config: qc, layers: [], packed: [], flexible: [] };
  const notes: string[] = [];
  const noted = new Set<string>();
  const assumed: string[] = [];
  const unreadable: string[] = [];
  // 45,000 FP8 layers of a few shapes say a few distinct things: each text is kept once.
  const texts = new Map<string, string>();
  const once = (s: string): string => {
    const have = texts.get(s);
    if (have !== undefined) return have;
    texts.set(s, s);
    return s;
  };
  // The module whose activation state is marked: a module of many MXFP4 pairs is walked once for
  // it, not once per pair (50,000 pairs in one module: minutes).
  let marked = -1;
  const apply = (view: ModuleView, v: number, r: Recognised) => {
    if (!isShape(r.logicalShape)) {
      unreadable.push(`${view.path}: the ${methodLabel(r.layer.method)} rules give it a weight of [${r.logicalShape.join(', ')}], not a shape (config: ${r.layer.bits} bits)`);
      return;
    }
    const p = r.packed;
    p.role = 'parameter';
    p.roleReason = once(r.packedReason);
    p.quant = r.layer;
    ownedBy(p, view);
    if (!sameDims(r.logicalShape, p.shape)) {
      p.logicalShape = r.logicalShape;
      p.logicalNumel = prod(r.logicalShape);
    }
    // Activation and KV-cache state first, then the method's own tensors: a name both know (EXL2's
    // q_scale, its group scales, is also attention's query scale) takes the method's reason.
    if (marked !== v) {
      markActivationState(view, false);
      marked = v;
    }
    for (let a = 0; a < r.aux.length; a++) {
      const t = view.tensors.get(r.aux[a][0]);
      if (t) markAux(t, once(r.aux[a][1]), view);
    }
    if (r.resized) {
      for (const [local, shape] of r.resized) {
        const t = view.tensors.get(local);
        if (t && !sameDims(shape, t.shape) && prod(shape) < t.numel) {
          t.logicalShape = shape;
          t.logicalNumel = prod(shape);
        }
      }
    }
    if (r.notes?.length) {
      noted.add(view.path);
      for (const n of r.notes) notes.push(`${view.path}: ${n}`);
    }
    if (r.assumed?.length) assumed.push(`${view.path}: ${r.assumed[0]}`);
    if (r.flexibleGroup) ann.flexible.push(ann.layers.length);
    ann.layers.push(r.layer);
    ann.packed.push(p);
  };
  // One module at a time, in the order modules first appear, through one view pointed at each in
  // turn (a detector reads one module's tensors and changes only those, so the activation scales
  // outside quantized layers are marked as each module is done).
  for (let v = 0; v < layers.count; v++) {
    const view = layers.view(v);
    const before = ann.layers.length;
    found: {
      if (qc?.method === 'mxfp4' || layers.hasBlocks(v)) {
        const pairs = mxfp4Pairs(view);
        if (pairs.length) {
          for (const r of pairs) apply(view, v, r);
          break found;
        }
      }
      for (let d = 0; d < order.length; d++) {
        const r = order[d][1](view, qc, ctx);
        if (!r) continue;
        if ('unreadable' in r) unreadable.push(`${view.path}: ${r.unreadable}`);
        else apply(view, v, r);
        break;
      }
    }
    // Activation and KV-cache scales outside quantized layers (self_attn.k_scale...); a layer
    // recognised above has them marked already.
    if (qc && ann.layers.length === before) markActivationState(view, true);
  }

  unifyGroups(ann);
  if (qc?.method === 'exl3') {
    const t = exl3Target(qc, ann.layers, ann.packed);
    if (t.bits !== undefined) ann.targetBits = t.bits;
    if (t.mismatch) warnings.push({ code: 'quantization-config-mismatch', message: t.mismatch });
  }
  const methodSet = new Set<string>();
  for (let i = 0; i < ann.layers.length; i++) methodSet.add(ann.layers[i].method);
  const methods = [...methodSet];
  if (!qc && ann.layers.length) {
    warnings.push({
      code: 'quantization-config-missing',
      message: `no quantization_config in config.json (nor quantize_config.json) says how this checkpoint is quantized; ${ann.layers.length} layer(s) read as ${methods.map(methodLabel).join(', ')} from their tensor layout`,
    });
  } else if (qc && !DETECTORS.some(([m]) => m === qc.method) && qc.method !== 'mxfp4' && ann.layers.length === 0) {
    warnings.push({ code: 'quantization-unsupported', message: `${qc.declaredBy} declares quant_method "${qc.method}", whose layout Weightscope does not interpret; tensors are counted as stored` });
  } else if (qc && ann.layers.length === 0 && onlineMode(qc)) {
    // AutoBitLinear quantizes its float weight as it runs: nothing in the file is quantized.
    warnings.push({ code: 'quantization-config-unused', message: `${qc.declaredBy} declares BitNet with quantization_mode "online": the weights are stored in floating point and quantized to ternary values when the model runs; tensors are counted as stored` });
  } else if (qc && ann.layers.length === 0) {
    warnings.push({ code: 'quantization-config-unused', message: `${qc.declaredBy} declares ${methodLabel(qc.method)} quantization, but no tensor has a quantized layout; tensors are counted as stored` });
  } else if (qc && methods.some((m) => m !== qc.method)) {
    warnings.push({ code: 'quantization-config-mismatch', message: `${qc.declaredBy} declares ${methodLabel(qc.method)}, but layers have the layout of ${methods.filter((m) => m !== qc.method).map(methodLabel).join(', ')}` });
  }
  if (notes.length) {
    warnings.push({ code: 'quantization-config-mismatch', message: `${noted.size} layer(s) disagree with the declared scheme; counted by their shapes (e.g. ${notes.slice(0, 2).join('; ')})` });
  }
  if (assumed.length) {
    warnings.push({ code: 'quantization-shape-assumed', message: `${assumed.length} layer(s) sized without the tensor that holds their real shape (e.g. ${assumed[0]})` });
  }
  if (unreadable.length) {
    warnings.push({ code: 'quantization-unreadable', message: `${unreadable.length} layer(s) look quantized but could not be read; their tensors are counted as stored (e.g. ${unreadable[0]})` });
  }
  return ann.layers.length ? ann : undefined;
}

/**
 * Whole, finite dimensions: what a detector's arithmetic gives from a config's bits, group size
 * or format can be anything (`num_bits: 0` makes in_features infinite), and a count built on it
 * would be a wrong fact; such a layer is reported unreadable and counted as stored.
 */
function isShape(shape: number[]): boolean {
  for (let i = 0; i < shape.length; i++) if (!Number.isSafeInteger(shape[i]) || shape[i] < 0) return false;
  return true;
}

/**
 * A layer with one scale group fits any group size >= its in_features: it takes the group size
 * the other layers of its method show (GPTQ g32 with some 32-input layers reads as g32 throughout).
 */
function unifyGroups(ann: QuantAnnotations): void {
  if (ann.flexible.length === 0) return;
  const flexible = new Set(ann.flexible);
  const counts = new Map<string, Map<number, number>>();
  ann.layers.forEach((l, i) => {
    if (flexible.has(i) || l.groupSize === undefined) return;
    const m = counts.get(l.method) ?? new Map<number, number>();
    m.set(l.groupSize, (m.get(l.groupSize) ?? 0) + 1);
    counts.set(l.method, m);
  });
  for (const i of ann.flexible) {
    const l = ann.layers[i];
    const m = counts.get(l.method);
    if (!m) continue;
    const g = [...m.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0][0];
    if (g >= l.cols) l.groupSize = g;
  }
}

/** Make `t`, one of the view's tensors, a quantization tensor of the view's module. */
function markAux(t: Tensor, reason: string, view: ModuleView): void {
  t.role = 'quantization';
  t.roleReason = reason;
  ownedBy(t, view);
}

/**
 * bitsandbytes names (`q_proj.weight.absmax`) and quanto's (`q_proj.weight._data`) sit below the
 * weight, not below a module `weight`: such a name (which starts with the module's path) has a
 * dot after `path.`, and is given the view's module (said without cutting the name, or making
 * the path unless it is one).
 */
function ownedBy(t: Tensor, view: ModuleView): void {
  const name = t.name;
  const n = view.pathLength;
  if (name.length > n && name.charCodeAt(n) === 46 /* . */ && name.indexOf('.', n + 1) >= 0) t.module = view.path;
}

/**
 * Local names of activation and KV-cache state with their reasons, by the names' length: a
 * tensor's local name is compared in place with the few of its length (mostly none), and no
 * local-name string is made per tensor (92,000 in DeepSeek-V3's FP8 layers).
 */
const ACTIVATION_BY_LENGTH = new Map<number, [string, string][]>();
for (const [local, reason] of Object.entries(ACTIVATION_STATE)) {
  const list = ACTIVATION_BY_LENGTH.get(local.length);
  if (list) list.push([local, reason]);
  else ACTIVATION_BY_LENGTH.set(local.length, [[local, reason]]);
}

/** The reason of the activation or KV-cache state whose local name is `name` from `start`, if it is one. */
function activationReason(name: string, start: number): string | undefined {
  const list = ACTIVATION_BY_LENGTH.get(name.length - start);
  if (list) for (const [local, reason] of list) if (name.startsWith(local, start)) return reason;
  return undefined;
}

/** Mark a layer's activation and KV-cache scales (`input_scale`, `k_scale`...); `unmarked`: only those not yet quantization tensors. */
function markActivationState(view: ModuleView, unmarked: boolean): void {
  // A loop over positions rather than a callback: a closure made per module is 100 bytes
  // (4.6 MB for DeepSeek-V3's layers).
  const tensors = view.tensors;
  for (let i = tensors.first; i >= 0; i = tensors.after(i)) {
    const t = tensors.at(i);
    const reason = activationReason(t.name, tensors.start(i));
    if (reason !== undefined && !(unmarked && t.role === 'quantization')) markAux(t, reason, view);
  }
}

/**
 * Multi-level local names that belong to the module above them: bitsandbytes' quant state, and
 * the tensors optimum-quanto flattens a quantized weight into (`weight._data._data` for 2- and
 * 4-bit). VPTQ's codebooks are cut in localCut.
 */
const NESTED_LOCAL = /\.(weight\.(absmax|quant_map|nested_absmax|nested_quant_map|quant_state\.bitsandbytes__[a-z0-9]+|_data\._data|_data|_scale|_shift|_zeropoint))$/;

/**
 * Present tensors grouped by module, in the order modules first appear, as lists threaded
 * through tensor positions. Nothing per module is kept but numbers: a module's path is cut from
 * its first tensor's name when something asks for it (a warning, a bitsandbytes owner, an MLX
 * override), and a module is found by a hash of its path in a table of module numbers rather
 * than in a Map keyed by path strings (46,000 paths made, hashed and kept for DeepSeek-V3).
 */
class LayerGroups {
  /** How many modules there are. */
  readonly count: number;
  /** Per module (at most one per tensor): its first and last tensor, whether it holds a `*_blocks` tensor (MXFP4). */
  private readonly first: Int32Array;
  private readonly last: Int32Array;
  private readonly blocks: Uint8Array;
  /** Per tensor: the next tensor of its module (-1: none), and where its local name starts, less one (localCut). */
  private readonly next: Int32Array;
  private readonly cuts: Int32Array;
  /** The one view, pointed at each module in turn. */
  private readonly current: ModuleView;

  constructor(private readonly tensors: Tensor[]) {
    const n = tensors.length;
    this.first = new Int32Array(n);
    this.last = new Int32Array(n);
    this.blocks = new Uint8Array(n);
    this.next = new Int32Array(n).fill(-1);
    this.cuts = new Int32Array(n);
    // Module numbers by path hash, open addressing with linear probing over at least twice as many
    // slots as there can be modules; beside each module the hash of its path.
    const hashes = new Int32Array(n);
    let size = 2;
    while (size < 2 * n) size *= 2;
    const slots = new Int32Array(size).fill(-1);
    let count = 0;
    let v = -1;
    // The path of the run of tensors being read: tensors of a module usually come together, so a
    // tensor's path is compared with it first (a cut string and ===, which costs less than
    // startsWith in place) and only a tensor starting a run looks its module up.
    let runPath = '';
    for (let i = 0; i < n; i++) {
      const t = tensors[i];
      if (!t.present) continue;
      const name = t.name;
      const cut = localCut(name);
      this.cuts[i] = cut;
      const path = pathAt(name, cut);
      if (v < 0 || path !== runPath) {
        runPath = path;
        const h = hashOf(path);
        let s = h & (size - 1);
        for (v = slots[s]; v >= 0 && !(hashes[v] === h && this.path(v) === path); v = slots[s]) s = (s + 1) & (size - 1);
        if (v < 0) {
          v = count++;
          slots[s] = v;
          hashes[v] = h;
          this.first[v] = i;
        }
      }
      // Appended to its module's list (a module's first tensor starts it).
      if (this.first[v] !== i) this.next[this.last[v]] = i;
      this.last[v] = i;
      // A local name ends with `_blocks` exactly when the whole name does (`_blocks` has no dot).
      if (name.endsWith('_blocks')) this.blocks[v] = 1;
    }
    this.count = count;
    this.current = new ModuleView(this, new LocalTensors(tensors, this.cuts, this.next));
  }

  hasBlocks(v: number): boolean {
    return this.blocks[v] === 1;
  }

  /** Module `v`'s path: its first tensor's name up to the local name. */
  path(v: number): string {
    const i = this.first[v];
    return pathAt(this.tensors[i].name, this.cuts[i]);
  }

  /** The length of module `v`'s path. */
  pathLength(v: number): number {
    return Math.max(this.cuts[this.first[v]], 0);
  }

  /**
   * The tensors of module `v` by local name, in their order in the checkpoint. The view is
   * valid until the next call: one object serves every module, since the methods read a view
   * only while they are called and keep the tensors they find, never the view.
   */
  view(v: number): ModuleView {
    this.current.moveTo(v, this.first[v]);
    return this.current;
  }
}

/** FNV-1a of a string's UTF-16 code units. */
function hashOf(s: string): number {
  let h = 0x811c9dc5 | 0;
  for (let k = 0; k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x01000193);
  return h;
}

/** A module's view as LayerGroups makes it: its path is cut from a tensor name when first read. */
class ModuleView implements LayerView {
  private v = -1;
  private pathText: string | undefined;

  constructor(
    private readonly groups: LayerGroups,
    readonly tensors: LocalTensors,
  ) {}

  moveTo(v: number, first: number): void {
    this.v = v;
    this.pathText = undefined;
    this.tensors.moveTo(first);
  }

  get path(): string {
    return (this.pathText ??= this.groups.path(this.v));
  }

  /** The length of the path, known without making it. */
  get pathLength(): number {
    return this.groups.pathLength(this.v);
  }
}

/**
 * One module's tensors by local name, found by comparing the names in place: a module has a few
 * tensors, and the methods look a few names up, so a scan costs less than a Map per module and a
 * local-name string per tensor (45,000 FP8 layers). Local names are distinct: the module's path
 * and the local name make the tensor's name.
 */
class LocalTensors implements ReadonlyMap<string, Tensor> {
  /** The module's first tensor (ModuleView.moveTo). */
  first = -1;
  /**
   * Positions by local name, made for a module of more than LOCAL_SCAN tensors when a lookup
   * walks that far: detectors look names up per tensor (MXFP4's `_scales` per `_blocks`), and a
   * scan each time is quadratic in a crafted module's size.
   */
  private index: Map<string, number> | undefined;

  constructor(
    private readonly tensors: Tensor[],
    /** Per tensor: where its local name starts, less one (LayerGroups). */
    private readonly cuts: Int32Array,
    private readonly next: Int32Array,
  ) {}

  /** The module's tensor after the one at position `i` (-1: none). */
  after(i: number): number {
    return this.next[i];
  }

  /** The tensor at position `i`. */
  at(i: number): Tensor {
    return this.tensors[i];
  }

  /** Where the name of the tensor at position `i` has its local name. */
  start(i: number): number {
    const cut = this.cuts[i];
    return cut > 0 ? cut + 1 : 0;
  }

  moveTo(first: number): void {
    this.first = first;
    this.index = undefined;
  }

  private find(local: string): number {
    if (this.index) return this.index.get(local) ?? -1;
    let k = 0;
    for (let i = this.first; i >= 0; i = this.next[i]) {
      if (isLocalName(this.tensors[i].name, this.start(i), local)) return i;
      if (++k === LOCAL_SCAN) return this.indexed().get(local) ?? -1;
    }
    return -1;
  }

  private indexed(): Map<string, number> {
    const index = new Map<string, number>();
    for (let i = this.first; i >= 0; i = this.next[i]) {
      const local = this.tensors[i].name.slice(this.start(i));
      // The first of a local name, as the scan finds it.
      if (!index.has(local)) index.set(local, i);
    }
    return (this.index = index);
  }

  get(local: string): Tensor | undefined {
    const i = this.find(local);
    return i < 0 ? undefined : this.tensors[i];
  }

  has(local: string): boolean {
    return this.find(local) >= 0;
  }

  get size(): number {
    let n = 0;
    for (let i = this.first; i >= 0; i = this.next[i]) n++;
    return n;
  }

  forEach(fn: (t: Tensor, local: string, map: ReadonlyMap<string, Tensor>) => void): void {
    for (let i = this.first; i >= 0; i = this.next[i]) fn(this.tensors[i], this.tensors[i].name.slice(this.start(i)), this);
  }

  *entries(): IterableIterator<[string, Tensor]> {
    for (let i = this.first; i >= 0; i = this.next[i]) yield [this.tensors[i].name.slice(this.start(i)), this.tensors[i]];
  }

  *keys(): IterableIterator<string> {
    for (const [local] of this.entries()) yield local;
  }

  *values(): IterableIterator<Tensor> {
    for (let i = this.first; i >= 0; i = this.next[i]) yield this.tensors[i];
  }

  [Symbol.iterator](): IterableIterator<[string, Tensor]> {
    return this.entries();
  }
}

/** Tensors of a module scanned for a local name before its names are indexed (real layers have a dozen). */
const LOCAL_SCAN = 64;

/** Where a name's local part begins, less one: its last dot, or the dot before a nested bitsandbytes or quanto name. */
function localCut(name: string): number {
  const last = name.lastIndexOf('.');
  // NESTED_LOCAL's names end `.weight.<x>`, `.weight.quant_state.<x>` or `.weight._data.<x>`
  // (<x> without a dot): the regex runs on those alone.
  if (last > 0 && (name.startsWith('.weight', last - 7) || name.startsWith('.weight.quant_state', last - 19) || name.startsWith('.weight._data', last - 13))) {
    const nested = NESTED_LOCAL.exec(name);
    if (nested) return name.length - nested[1].length - 1;
  }
  // VPTQ's codebooks are nn.Embeddings inside its layer (`q_proj.centroids.weight`): the layer's
  // reader needs them beside its indices, so they are read as the layer's (only what a method
  // recognises is moved in the tree).
  if (last > 0 && name.endsWith('centroids.weight')) {
    const prev = name.lastIndexOf('.', last - 1);
    for (const word of VPTQ_CODEBOOKS) if (prev > 0 && last - prev - 1 === word.length && name.startsWith(word, prev + 1)) return prev;
  }
  return last;
}

/** The nn.Embedding codebooks of a VPTQ layer. */
const VPTQ_CODEBOOKS = ['centroids', 'res_centroids', 'outlier_centroids'];

/** The module path of a name whose local part begins after `cut` (localCut). */
function pathAt(name: string, cut: number): string {
  return cut > 0 ? name.slice(0, cut) : '';
}

/** The scheme summary, once the tree gives the logical parameter count. */
export function quantizationSummary(ann: QuantAnnotations, tensors: Tensor[], uniqueParameters: number): QuantizationInfo | undefined {
  const isQuantParam = ann.gguf ? (t: Tensor) => isGgmlQuant(t.dtype) && t.role === 'parameter' : (t: Tensor) => t.quant !== undefined;
  const stored = storedOf(tensors);
  // Each layer's scheme and parameters, in order: the annotations' own lists, or for GGUF the
  // quantized tensors'.
  let schemes = ann.layers;
  let params = (i: number) => ann.packed[i].logicalNumel ?? ann.packed[i].numel;
  if (ann.gguf) {
    const gguf: QuantLayer[] = [];
    const numels: number[] = [];
    for (const t of tensors) {
      if (!t.present || !isQuantParam(t)) continue;
      gguf.push({ method: 'gguf', bits: nominalBits(t.dtype) ?? 0, format: t.dtype, rows: 0, cols: 0, bias: false });
      numels.push(t.numel);
    }
    schemes = gguf;
    params = (i) => numels[i];
  }
  if (schemes.length === 0) return undefined;
  const variants = new Map<string, QuantVariant>();
  // Layers often share one QuantLayer object (FP8: one per shape): its variant is found once.
  const variantOf = new Map<QuantLayer, QuantVariant>();
  /** Each variant's first layer, for what the variant does not keep (the method, the block). */
  const firstOf = new Map<QuantVariant, QuantLayer>();
  let quantizedParameters = 0;
  for (let i = 0; i < schemes.length; i++) {
    const layer = schemes[i];
    let v = variantOf.get(layer);
    if (!v) {
      const key = `${layer.method}|${layer.bits}|${layer.groupSize ?? ''}|${layer.format ?? ''}|${layer.blockSize?.join('x') ?? ''}`;
      v = variants.get(key);
      if (!v) {
        v = { bits: layer.bits, ...(layer.groupSize ? { groupSize: layer.groupSize } : {}), ...(layer.format ? { format: layer.format } : {}), layers: 0, parameters: 0 };
        variants.set(key, v);
        firstOf.set(v, layer);
      }
      variantOf.set(layer, v);
    }
    const n = params(i);
    v.layers++;
    v.parameters += n;
    quantizedParameters += n;
  }
  const list = [...variants.values()].sort((a, b) => b.parameters - a.parameters || b.layers - a.layers);
  const main = list[0];
  // Its own first layer: a search by the variant's fields missed a group size of 0 or an empty
  // format, which the variant leaves out.
  const mainLayer = firstOf.get(main)!;
  const method = ann.gguf ? 'gguf' : mainLayer.method;
  const info: QuantizationInfo = {
    method,
    bits: ann.gguf ? nominalBits(ann.gguf.fileType ?? main.format ?? '') ?? main.bits : ann.targetBits ?? main.bits,
    ...(main.groupSize ? { groupSize: main.groupSize } : {}),
    ...(mainLayer.blockSize ? { blockSize: mainLayer.blockSize } : {}),
    ...(ann.gguf ? { format: ann.gguf.fileType ?? main.format } : main.format ? { format: main.format } : {}),
    declaredBy: ann.gguf?.declaredBy ?? ann.config?.declaredBy ?? 'tensor layout (no config)',
    storedElements: stored.elements,
    storedBytes: stored.bytes,
    bitsPerWeight: uniqueParameters > 0 ? round(stored.bytes * 8 / uniqueParameters) : 0,
    quantizedLayers: schemes.length,
    quantizedParameters,
  };
  // A declared target that is no layer's rate comes with the layers' rates, even if they are one.
  if (list.length > 1 || info.bits !== main.bits) {
    if (ann.gguf) for (const v of list) v.bits = round(ggufBits(v.format ?? ''));
    info.variants = list;
  }
  return info;
}

/** Bits per weight of a ggml block type (Q4_K: 4.5). */
function ggufBits(type: string): number {
  return dtypeInfo(type)?.bits ?? 0;
}

export function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/** Parameters and quantization tensors as stored: elements and bytes, each storage once. */
function storedOf(tensors: Tensor[]): { elements: number; bytes: number } {
  let elements = 0;
  let bytes = 0;
  // A tensor without a sharing group has a storage no other tensor has (analyze groups every
  // storage held twice): it counts without being remembered, and only grouped storages are.
  // Storage-less tensors (keyed by name) take the general path below.
  const seen = new Set<string>();
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    if (!t.present || (t.role !== 'parameter' && t.role !== 'quantization')) continue;
    if (t.storage === null) return storedOfByKey(tensors);
    if (t.group >= 0) {
      if (seen.has(t.storage)) continue;
      seen.add(t.storage);
    }
    elements += t.numel;
    bytes += t.nbytes;
  }
  return { elements, bytes };
}

/** storedOf for any tensors: each storage (or, without one, each name) once. */
function storedOfByKey(tensors: Tensor[]): { elements: number; bytes: number } {
  const seen = new Set<string>();
  let elements = 0;
  let bytes = 0;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    if (!t.present || (t.role !== 'parameter' && t.role !== 'quantization')) continue;
    const key = t.storage ?? `\0${t.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    elements += t.numel;
    bytes += t.nbytes;
  }
  return { elements, bytes };
}

/**
 * Stored figures per module, for subtrees holding quantized layers: the elements and bytes of
 * their parameters and quantization tensors, and bits per logical weight. The tree builder sums
 * them over each subtree in the walk that sums its other totals; this says what counts.
 */
export class StoredCount {
  private readonly records = new StoredRecords();
  constructor(private readonly gguf: boolean) {}

  /** Whether `t` counts in the figures: a present parameter or quantization tensor. */
  counts(t: Tensor): boolean {
    return t.present && (t.role === 'parameter' || t.role === 'quantization');
  }

  /** Whether a counted tensor is quantized: a subtree holding one has stored figures. */
  quantized(t: Tensor): boolean {
    return this.gguf ? isGgmlQuant(t.dtype) : t.quant !== undefined || t.role === 'quantization';
  }

  /** The figures of a subtree whose counted tensors hold `elements` and `bytes`, with `unique` logical parameters. */
  figures(elements: number, bytes: number, unique: number): StoredFigures {
    return this.records.get(elements, bytes, unique);
  }
}

/**
 * A module's stored figures, shared by modules with equal figures: an MoE's experts and their
 * projections come one after another in the tree builder's walk, so the last few records made are looked at.
 * (Nothing changes a record once a module has it.)
 */
class StoredRecords {
  private readonly recent: { record: StoredFigures; unique: number }[] = [];
  private at = 0;

  get(elements: number, bytes: number, unique: number): StoredFigures {
    for (let i = 0; i < this.recent.length; i++) {
      const r = this.recent[i];
      if (r.record.elements === elements && r.record.bytes === bytes && r.unique === unique) return r.record;
    }
    const record = { elements, bytes, bitsPerWeight: unique > 0 ? round((bytes * 8) / unique) : 0 };
    this.recent[this.at] = { record, unique };
    this.at = (this.at + 1) % 4;
    return record;
  }
}

export { STATE_KEY, methodLabel };
