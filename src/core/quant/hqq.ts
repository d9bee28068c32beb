/**
 * HQQ (mobiusml/hqq `HQQLinear`, transformers' `quant_method: hqq`). Rules (docs/quantization.md,
 * HQQ):
 *
 * - The weight W [out, in] is cut into groups of `group_size` values: reshaped to [n / g, g]
 *   (axis 1, transformers' default) or [g, n / g] (axis 0), n = out * in. One `scale` and one
 *   `zero` per group: [n / g, 1] (axis 1) or [1, n / g] (axis 0), in the compute dtype.
 * - `W_q` is that grouped matrix packed along its first dimension (BitPack): uint8 with 1 (8-bit,
 *   also 5- and 6-bit), 2 (4-bit), 4 (2-bit, also 1.58-bit) or 8 (1-bit) values per byte, or int32
 *   with 10 3-bit values per word, the rows padded with zeros to a multiple of 10. With
 *   `view_as_float` the packed bytes are viewed as the compute dtype (the last dimension shrinks
 *   by the ratio of item sizes).
 * - Every other entry of the layer's meta is written beside it by encode_safetensor_type:
 *   `shape` (torch.Size as int64 [2], the real [out, in]), `nbits`, `group_size`, `axis`,
 *   `channel_wise`, `optimize`, `round_zero`, `view_as_float`, `quant_scale`, `quant_zero`,
 *   `offload_meta`, `encoded_state_dict`, `stores_quant_config` (uint8 scalars), `packing`,
 *   `unpack_view_dtype`, `compute_dtype` (strings as uint8 character codes); `bias` [out].
 * - The count n = g * groups follows from the shapes; the [out, in] split is only in `shape`,
 *   whose 16 bytes are read (payloads.ts). Without them the layer is shown flat ([n], or [out,
 *   n / out] when a bias gives out), with a warning.
 * - Config: `quant_config.weight_quant_params` {nbits, group_size, axis, view_as_float...}, or
 *   per linear tag (the module's name without `model`, `layers` and layer numbers:
 *   `self_attn.q_proj`) with `dynamic_config`; tags in `skip_modules` (`lm_head` by default)
 *   stay nn.Linear.
 */
import { isObj, num, QuantConfig } from './config';
import { DetectContext, Detector, dims, isDim, isIntDtype, LayerView, prod } from './common';
import { isFloating, itemSize } from '../dtypes';

/** Values per uint8 for each bit width HQQ packs in bytes (Quantizer.bit_to_packing): 5 and 6 bits use 8-bit packing, 1.58 the 2-bit one. */
const PER_BYTE: Record<string, number> = { 8: 1, 6: 1, 5: 1, 4: 2, 2: 4, 1.58: 4, 1: 8 };
/** The bit width a byte packing stands for when nothing else says (its own name: 4bit_u8...). */
const BITS_OF_PER_BYTE: Record<number, number> = { 1: 8, 2: 4, 4: 2, 8: 1 };

/** HQQLinear's meta beside W_q, as state_dict writes it: quantization state, not parameters. */
const AUX: readonly (readonly [string, string])[] = [
  ['scale', 'HQQ scales: one per group (dequantize: (W_q - zero) * scale)'],
  ['zero', 'HQQ zero points: one per group'],
  ['zero_scale', 'HQQ zero points and scales stacked (offload_meta)'],
  ['shape', 'HQQ: the real [out, in] of the packed weight (torch.Size as int64)'],
  ['nbits', 'HQQ meta: bit width'],
  ['group_size', 'HQQ meta: group size'],
  ['axis', 'HQQ meta: grouping axis'],
  ['packing', 'HQQ meta: packing name (uint8 character codes)'],
  ['unpack_view_dtype', 'HQQ meta: dtype the packed words are read as (uint8 character codes)'],
  ['compute_dtype', 'HQQ meta: compute dtype (uint8 character codes)'],
  ['view_as_float', 'HQQ meta: packed words viewed as the compute dtype (flag)'],
  ['quant_scale', 'HQQ meta: scales quantized (flag)'],
  ['quant_zero', 'HQQ meta: zero points quantized (flag)'],
  ['channel_wise', 'HQQ meta: grouped min/max (flag)'],
  ['optimize', 'HQQ meta: zero points optimized (flag)'],
  ['round_zero', 'HQQ meta: zero points rounded (flag)'],
  ['offload_meta', 'HQQ meta: scales kept in host memory (flag)'],
  ['encoded_state_dict', 'HQQ: the meta is encoded as tensors for safetensors (flag)'],
  ['stores_quant_config', 'HQQ: the quantization settings are stored beside the weights (flag)'],
];

/** HQQLinear's meta that only an HQQ layer has beside W_q (a float `scale` alone is any model's). */
const EVIDENCE = ['zero', 'zero_scale', 'shape', 'nbits', 'group_size', 'packing', 'view_as_float', 'encoded_state_dict'];

interface Declared {
  bits?: number;
  groupSize?: number;
  axis?: number;
  /** Why the config would leave this module a plain nn.Linear, if it would. */
  unquantized?: string;
}

export const hqq: Detector = (view, qc, ctx) => {
  const wq = view.tensors.get('W_q');
  if (!wq) return undefined;
  // `W_q` is also a float model's name (an attention's query weight): only packed words, an HQQ
  // config or HQQ's meta beside it make it HQQ's.
  if (!isIntDtype(wq.dtype) && qc?.method !== 'hqq' && !EVIDENCE.some((n) => view.tensors.has(n))) return undefined;
  if (wq.shape.length !== 2) return { unreadable: `HQQ W_q ${dims(wq.shape)} is not a packed matrix` };
  const declared = declaredFor(qc, view.path);
  const notes: string[] = [];
  if (declared?.unquantized) notes.push(declared.unquantized);

  // Groups: one scale (and one zero point) each; the layout of the scale says the axis.
  let groups: number;
  let scaleShape: number[];
  const scale = view.tensors.get('scale') ?? view.tensors.get('zero');
  const stacked = view.tensors.get('zero_scale');
  if (scale) {
    groups = prod(scale.shape);
    scaleShape = scale.shape;
  } else if (stacked && stacked.shape[0] === 2) {
    groups = prod(stacked.shape) / 2;
    scaleShape = stacked.shape.slice(1);
  } else {
    return { unreadable: `HQQ W_q ${dims(wq.shape)} without the scale or zero its groups need` };
  }
  if (!isDim(groups)) return { unreadable: `HQQ scale ${dims(scaleShape)} holds no groups` };
  let axis = scaleShape.length === 2 && scaleShape[0] === 1 && scaleShape[1] > 1 ? 0 : scaleShape.length === 2 && scaleShape[1] === 1 && scaleShape[0] > 1 ? 1 : (declared?.axis ?? 1);
  if (axis !== 0 && axis !== 1) axis = 1;
  if (declared?.axis !== undefined && declared.axis !== axis) notes.push(`axis=${declared.axis} declared but its scales are laid out for axis ${axis}`);

  // The packed words: uint8, or int32 for 3 bits; with view_as_float, either viewed as a float dtype.
  const threeBit = wq.dtype === 'int32' || (isFloating(wq.dtype) && declared?.bits === 3);
  const word = threeBit ? 'int32' : 'uint8';
  let width = wq.shape[1];
  if (wq.dtype !== word) {
    const from = itemSize(wq.dtype);
    if (!isFloating(wq.dtype) || from === undefined) return { unreadable: `HQQ W_q is ${wq.dtype}: HQQ packs into uint8 or int32 words` };
    width = (width * from) / (threeBit ? 4 : 1);
    if (!Number.isInteger(width)) return { unreadable: `HQQ W_q ${wq.dtype} ${dims(wq.shape)} is not a whole number of ${word} words` };
  }
  const rows = wq.shape[0];

  // The real shape, from the `shape` tensor's bytes when they were read.
  const real = realShape(view, ctx);
  const assumed: string[] = [];
  let g: number | undefined;
  let perWord: number | undefined;
  if (axis === 1) {
    // W_q [groups / per, g]: each row of the grouped matrix is a group.
    g = width;
    if (!threeBit) perWord = groups / rows;
    else if (rows !== Math.ceil(groups / 10)) return { unreadable: `HQQ 3-bit W_q has ${rows} rows of int32 words for ${groups} groups (10 values a word: ${Math.ceil(groups / 10)} rows)` };
  } else {
    // W_q [g / per, groups]: each column of the grouped matrix is a group.
    if (width !== groups) return { unreadable: `HQQ W_q ${dims(wq.shape)} has ${width} columns for ${groups} groups (axis 0)` };
    g = real?.shape ? prod(real.shape) / groups : declared?.groupSize;
    if (g === undefined && !threeBit && declared?.bits !== undefined && PER_BYTE[declared.bits] !== undefined) g = rows * PER_BYTE[declared.bits];
    if (!isDim(g)) return { unreadable: `HQQ W_q ${dims(wq.shape)} grouped along axis 0: neither its shape tensor nor the config gives the group size` };
    if (!threeBit) perWord = g / rows;
    else if (rows !== Math.ceil(g / 10)) return { unreadable: `HQQ 3-bit W_q has ${rows} rows of int32 words for groups of ${g} (10 values a word)` };
  }
  if (perWord !== undefined && BITS_OF_PER_BYTE[perWord] === undefined) {
    return { unreadable: `HQQ W_q ${dims(wq.shape)} with ${groups} groups of ${g}: ${perWord} values per byte, which no HQQ packing has (1, 2, 4 or 8)` };
  }
  const n = g * groups;
  if (!isDim(g) || !Number.isSafeInteger(n)) return { unreadable: `HQQ W_q ${dims(wq.shape)} gives no whole group size` };

  // Bits: the declared width when its packing is the one found (5, 6 and 1.58 bits share one), else the packing's.
  const packedBits = threeBit ? 3 : BITS_OF_PER_BYTE[perWord!];
  let bits = packedBits;
  if (declared?.bits !== undefined) {
    const fits = threeBit ? declared.bits === 3 : PER_BYTE[declared.bits] === perWord;
    if (fits) bits = declared.bits;
    else notes.push(`nbits=${declared.bits} declared but W_q is packed for ${packedBits} bits`);
  }
  if (declared?.groupSize !== undefined && declared.groupSize !== g) notes.push(`group_size=${declared.groupSize} declared but its W_q and scales hold groups of ${g}`);

  let logicalShape: number[];
  if (real?.shape) {
    if (prod(real.shape) !== n) return { unreadable: `shape says ${dims(real.shape)} but W_q and its ${groups} scales hold ${n} values` };
    logicalShape = real.shape;
  } else {
    // The count is exact; the split into [out, in] is only in `shape`. A bias is [out].
    const bias = view.tensors.get('bias');
    const out = bias && bias.shape.length === 1 ? bias.shape[0] : undefined;
    logicalShape = out !== undefined && isDim(out) && n % out === 0 ? [out, n / out] : [n];
    assumed.push(`${real?.why ?? 'no shape tensor'}; ${n} values (${groups} groups of ${g}), shown as ${dims(logicalShape)}`);
  }
  const [out, inF] = logicalShape.length === 2 ? logicalShape : [1, n];
  const packing = threeBit ? '10 values per int32 word, rows padded to a multiple of 10' : `${perWord} value${perWord === 1 ? '' : 's'} per byte`;
  return {
    layer: { method: 'hqq', bits, groupSize: g, rows: out, cols: inF, bias: view.tensors.has('bias') },
    packed: wq,
    logicalShape,
    packedReason: `${bits}-bit HQQ weight of a ${dims(logicalShape)} layer: ${groups} groups of ${g} values (axis ${axis}), ${packing}${wq.dtype !== word ? `, viewed as ${wq.dtype}` : ''}`,
    aux: AUX,
    notes,
    assumed,
  };
};

/** The `shape` tensor's [out, in], or why there is none. */
function realShape(view: LayerView, ctx: DetectContext): { shape?: number[]; why?: string } | undefined {
  const t = view.tensors.get('shape');
  if (!t) return undefined;
  const p = ctx.payloads[t.name];
  if (p?.ints && p.ints.length === 2 && p.ints.every(isDim)) return { shape: p.ints };
  if (p?.error) return { why: `shape ${p.error}` };
  if (p?.ints) return { why: `shape holds [${p.ints.join(', ')}], not a 2-D shape` };
  return { why: 'shape not read' };
}

/**
 * transformers' name_to_linear_tag: the module's name without `model`, `layers` and numeric
 * parts (`model.layers.31.self_attn.k_proj` -> `self_attn.k_proj`).
 */
function linearTag(path: string): string {
  return path
    .split('.')
    .filter((p) => p !== 'model' && p !== 'layers' && !/^[0-9]+$/.test(p))
    .join('.');
}

const SKIP = new WeakMap<object, ReadonlySet<unknown>>();

/**
 * The config's skip_modules as a set, made once per config: a list of a million tags was searched
 * for every layer (4,000 layers: 10 s).
 */
function skipTags(cfg: Record<string, unknown>): ReadonlySet<unknown> {
  let s = SKIP.get(cfg);
  if (!s) SKIP.set(cfg, (s = new Set(Array.isArray(cfg.skip_modules) ? cfg.skip_modules : [])));
  return s;
}

/** What the config says of the module at `path`: its weight_quant_params, or that it stays nn.Linear. */
function declaredFor(qc: QuantConfig | undefined, path: string): Declared | undefined {
  if (qc?.method !== 'hqq') return undefined;
  const all = qc.cfg.quant_config;
  const tag = linearTag(path);
  // transformers (integrations/hqq.py, prepare_for_hqq_linear): the tags in skip_modules are not converted.
  if (skipTags(qc.cfg).has(tag)) return { unquantized: `skip_modules names "${tag}" but it holds an HQQ W_q` };
  if (!isObj(all)) return undefined;
  // BaseQuantizeConfig's shape; a config written by hand may give its fields (nbits...) flat.
  let entry: unknown = isObj(all.weight_quant_params) ? all : 'nbits' in all ? { weight_quant_params: all } : undefined;
  if (entry === undefined) {
    // dynamic_config: one config per linear tag; a tag without one stays nn.Linear.
    entry = all[tag];
    if (!isObj(entry)) return { unquantized: `quant_config has no entry for its tag "${tag}", so transformers would keep it nn.Linear, but it holds an HQQ W_q` };
  }
  const w = isObj(entry) && isObj(entry.weight_quant_params) ? entry.weight_quant_params : undefined;
  if (!w) return undefined;
  const bits = num(w.nbits);
  const groupSize = num(w.group_size);
  const axis = num(w.axis);
  return {
    bits: bits !== undefined && PER_BYTE[bits] !== undefined ? bits : bits === 3 ? 3 : undefined,
    groupSize: isDim(groupSize) ? groupSize : undefined,
    axis: axis === 0 || axis === 1 ? axis : undefined,
  };
}
