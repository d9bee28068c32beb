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
import { ModuleNode, QuantizationInfo, QuantLayer, QuantVariant, RawCheckpoint, Tensor, Warning } from '../model';
import { awq } from './awq';
import { bnb, STATE_KEY } from './bnb';
import { ACTIVATION_STATE, Detector, DetectContext, LayerView, prod, Recognised } from './common';
import { compressedTensors } from './compressed';
import { findQuantConfig, QuantConfig } from './config';
import { fp8, nvfp4 } from './fp8';
import { methodLabel } from './describe';
import { ggufScheme, GgufScheme, isGgmlQuant, nominalBits } from './gguf';
import { gptq } from './gptq';
import { mlx } from './mlx';
import { mxfp4Pairs } from './mxfp4';
import { dtypeInfo } from '../dtypes';

export interface QuantAnnotations {
  config?: QuantConfig;
  layers: { path: string; layer: QuantLayer; packed: Tensor; flexibleGroup?: boolean }[];
  gguf?: GgufScheme;
}

const DETECTORS: [string, Detector][] = [
  ['gptq', gptq],
  ['awq', awq],
  ['compressed-tensors', compressedTensors],
  ['bitsandbytes', bnb],
  ['fp8', fp8],
  ['nvfp4', nvfp4],
  ['mlx', mlx],
];

/** Local names that only a quantized layout has: cheap test before grouping 100,000 tensors. */
const TRIGGER = /(^|\.)(qweight|qzeros|weight_packed|weight_scale|weight_scale_inv|SCB|B|scales|absmax|[A-Za-z0-9_]+_blocks)$|\.quant_state\./;

/**
 * Recognise quantized layers and annotate their tensors in place (roles, logical shapes).
 * Returns undefined, touching nothing, for a checkpoint that is not quantized.
 */
export function annotateQuantization(raw: RawCheckpoint, tensors: Tensor[], warnings: Warning[]): QuantAnnotations | undefined {
  if (raw.format === 'gguf') {
    const gguf = ggufScheme(raw, tensors);
    return gguf ? { layers: [], gguf } : undefined;
  }
  const qc = findQuantConfig(raw);
  const triggered = tensors.some((t) => TRIGGER.test(t.name) || /^float8_/.test(t.dtype));
  if (!qc && !triggered) return undefined;

  const views = layerViews(tensors);
  const ctx: DetectContext = { payloads: raw.payloads ?? {} };
  const preferred = DETECTORS.find(([m]) => m === qc?.method);
  const order = preferred ? [preferred, ...DETECTORS.filter((d) => d !== preferred)] : DETECTORS;
  const ann: QuantAnnotations = { config: qc, layers: [] };
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
  const apply = (view: LayerView, r: Recognised) => {
    const p = r.packed;
    p.role = 'parameter';
    p.roleReason = once(r.packedReason);
    p.quant = r.layer;
    if (!sameShape(r.logicalShape, p.shape)) {
      p.logicalShape = r.logicalShape;
      p.logicalNumel = prod(r.logicalShape);
    }
    for (const [t, reason] of r.aux) markAux(t, once(reason), view.path);
    view.tensors.forEach((t, local) => {
      if (ACTIVATION_STATE[local]) markAux(t, ACTIVATION_STATE[local], view.path);
    });
    if (r.notes?.length) {
      noted.add(view.path);
      for (const n of r.notes) notes.push(`${view.path}: ${n}`);
    }
    if (r.assumed?.length) assumed.push(`${view.path}: ${r.assumed[0]}`);
    ann.layers.push({ path: view.path, layer: r.layer, packed: p, ...(r.flexibleGroup ? { flexibleGroup: true } : {}) });
  };
  for (let v = 0; v < views.length; v++) {
    const view = views[v];
    if (qc?.method === 'mxfp4' || hasBlocks(view)) {
      const pairs = mxfp4Pairs(view);
      if (pairs.length) {
        for (const r of pairs) apply(view, r);
        continue;
      }
    }
    for (let d = 0; d < order.length; d++) {
      const r = order[d][1](view, qc, ctx);
      if (!r) continue;
      if ('unreadable' in r) unreadable.push(`${view.path}: ${r.unreadable}`);
      else apply(view, r);
      break;
    }
  }
  if (qc) {
    // Activation and KV-cache scales outside quantized layers (self_attn.k_scale...).
    for (const view of views) {
      view.tensors.forEach((t, local) => {
        if (ACTIVATION_STATE[local] && t.role !== 'quantization') markAux(t, ACTIVATION_STATE[local], view.path);
      });
    }
  }

  unifyGroups(ann);
  const methods = [...new Set(ann.layers.map((l) => l.layer.method))];
  if (!qc && ann.layers.length) {
    warnings.push({
      code: 'quantization-config-missing',
      message: `no quantization_config in config.json (nor quantize_config.json) says how this checkpoint is quantized; ${ann.layers.length} layer(s) read as ${methods.map(methodLabel).join(', ')} from their tensor layout`,
    });
  } else if (qc && !DETECTORS.some(([m]) => m === qc.method) && qc.method !== 'mxfp4' && ann.layers.length === 0) {
    warnings.push({ code: 'quantization-unsupported', message: `${qc.declaredBy} declares quant_method "${qc.method}", whose layout Weightscope does not interpret; tensors are counted as stored` });
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
 * A layer with one scale group fits any group size >= its in_features: it takes the group size
 * the other layers of its method show (GPTQ g32 with some 32-input layers reads as g32 throughout).
 */
function unifyGroups(ann: QuantAnnotations): void {
  const flexible = ann.layers.filter((l) => l.flexibleGroup);
  if (flexible.length === 0) return;
  const counts = new Map<string, Map<number, number>>();
  for (const l of ann.layers) {
    if (l.flexibleGroup || l.layer.groupSize === undefined) continue;
    const m = counts.get(l.layer.method) ?? new Map<number, number>();
    m.set(l.layer.groupSize, (m.get(l.layer.groupSize) ?? 0) + 1);
    counts.set(l.layer.method, m);
  }
  for (const l of flexible) {
    const m = counts.get(l.layer.method);
    if (!m) continue;
    const g = [...m.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0][0];
    if (g >= l.layer.cols) l.layer.groupSize = g;
  }
}

function markAux(t: Tensor, reason: string, owner: string): void {
  t.role = 'quantization';
  t.roleReason = reason;
  // bitsandbytes names (`q_proj.weight.absmax`) sit below the weight, not below a module `weight`.
  const parent = t.name.slice(0, t.name.lastIndexOf('.'));
  if (parent !== owner && t.name.startsWith(`${owner}.`)) t.module = owner;
}

/** Whether a layer holds a `*_blocks` tensor (MXFP4), without a list of its names. */
function hasBlocks(view: LayerView): boolean {
  for (const k of view.tensors.keys()) if (k.endsWith('_blocks')) return true;
  return false;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Multi-level local names that belong to the module above them (bitsandbytes). */
const NESTED_LOCAL = /\.(weight\.(absmax|quant_map|nested_absmax|nested_quant_map|quant_state\.bitsandbytes__[a-z0-9]+))$/;

function layerViews(tensors: Tensor[]): LayerView[] {
  const byPath = new Map<string, LayerView>();
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    if (!t.present) continue;
    const nested = NESTED_LOCAL.exec(t.name);
    const cut = nested ? t.name.length - nested[1].length - 1 : t.name.lastIndexOf('.');
    const path = cut > 0 ? t.name.slice(0, cut) : '';
    const local = cut > 0 ? t.name.slice(cut + 1) : t.name;
    let v = byPath.get(path);
    if (!v) {
      v = { path, name: path.slice(path.lastIndexOf('.') + 1), tensors: new Map() };
      byPath.set(path, v);
    }
    v.tensors.set(local, t);
  }
  return [...byPath.values()];
}

/** The scheme summary, once the tree gives the logical parameter count. */
export function quantizationSummary(ann: QuantAnnotations, tensors: Tensor[], uniqueParameters: number): QuantizationInfo | undefined {
  const isQuantParam = ann.gguf ? (t: Tensor) => isGgmlQuant(t.dtype) && t.role === 'parameter' : (t: Tensor) => t.quant !== undefined;
  const stored = storedOf(tensors);
  const layers: { layer: QuantLayer; params: number }[] = [];
  if (ann.gguf) {
    for (const t of tensors) {
      if (!t.present || !isQuantParam(t)) continue;
      layers.push({ layer: { method: 'gguf', bits: nominalBits(t.dtype) ?? 0, format: t.dtype, rows: 0, cols: 0, bias: false }, params: t.numel });
    }
  } else {
    for (const l of ann.layers) layers.push({ layer: l.layer, params: l.packed.logicalNumel ?? l.packed.numel });
  }
  if (layers.length === 0) return undefined;
  const variants = new Map<string, QuantVariant>();
  for (const { layer, params } of layers) {
    const key = `${layer.method}|${layer.bits}|${layer.groupSize ?? ''}|${layer.format ?? ''}|${layer.blockSize?.join('x') ?? ''}`;
    const v = variants.get(key);
    if (v) {
      v.layers++;
      v.parameters += params;
    } else {
      variants.set(key, { bits: layer.bits, ...(layer.groupSize ? { groupSize: layer.groupSize } : {}), ...(layer.format ? { format: layer.format } : {}), layers: 1, parameters: params });
    }
  }
  const list = [...variants.values()].sort((a, b) => b.parameters - a.parameters || b.layers - a.layers);
  const main = list[0];
  const mainLayer = layers.find(({ layer }) => layer.bits === main.bits && (layer.format ?? undefined) === main.format && (layer.groupSize ?? undefined) === main.groupSize)!.layer;
  const method = ann.gguf ? 'gguf' : mainLayer.method;
  const info: QuantizationInfo = {
    method,
    bits: ann.gguf ? nominalBits(ann.gguf.fileType ?? main.format ?? '') ?? main.bits : main.bits,
    ...(main.groupSize ? { groupSize: main.groupSize } : {}),
    ...(mainLayer.blockSize ? { blockSize: mainLayer.blockSize } : {}),
    ...(ann.gguf ? { format: ann.gguf.fileType ?? main.format } : main.format ? { format: main.format } : {}),
    declaredBy: ann.gguf?.declaredBy ?? ann.config?.declaredBy ?? 'tensor layout (no config)',
    storedElements: stored.elements,
    storedBytes: stored.bytes,
    bitsPerWeight: uniqueParameters > 0 ? round(stored.bytes * 8 / uniqueParameters) : 0,
    quantizedLayers: layers.length,
    quantizedParameters: layers.reduce((s, l) => s + l.params, 0),
  };
  if (list.length > 1) {
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
 * their parameters and quantization tensors, and bits per logical weight.
 */
export function annotateStored(root: ModuleNode, tensors: Tensor[], gguf: boolean, byName?: ReadonlyMap<string, Tensor>): void {
  if (!byName) {
    const m = new Map<string, Tensor>();
    for (const t of tensors) m.set(t.name, t);
    byName = m;
  }
  const quantized = (t: Tensor) => (gguf ? isGgmlQuant(t.dtype) : t.quant !== undefined || t.role === 'quantization');
  // Iterative post-order, like the tree builder: deep trees must not exhaust the stack. The sums
  // live in arrays by position in `order`, each added to its parent's (no object per module).
  const order: ModuleNode[] = [];
  const parentOf: number[] = [];
  const stack: ModuleNode[] = [root];
  const stackParent: number[] = [-1];
  while (stack.length) {
    const m = stack.pop()!;
    parentOf.push(stackParent.pop()!);
    const at = order.length;
    order.push(m);
    const kids = m.children;
    for (let k = 0; k < kids.length; k++) {
      stack.push(kids[k]);
      stackParent.push(at);
    }
  }
  const elements = new Float64Array(order.length);
  const bytes = new Float64Array(order.length);
  const has = new Uint8Array(order.length);
  for (let i = order.length - 1; i >= 0; i--) {
    const m = order[i];
    const names = m.tensors;
    for (let k = 0; k < names.length; k++) {
      const t = byName.get(names[k]);
      if (!t || !t.present) continue;
      if (t.role !== 'parameter' && t.role !== 'quantization') continue;
      elements[i] += t.numel;
      bytes[i] += t.nbytes;
      if (quantized(t)) has[i] = 1;
    }
    if (has[i]) m.stored = { elements: elements[i], bytes: bytes[i], bitsPerWeight: m.parameters.unique > 0 ? round((bytes[i] * 8) / m.parameters.unique) : 0 };
    const p = parentOf[i];
    if (p >= 0) {
      elements[p] += elements[i];
      bytes[p] += bytes[i];
      has[p] |= has[i];
    }
  }
}

export { STATE_KEY, methodLabel };
