/**
 * EXL3 (ExLlamaV3, turboderp-org/exllamav3; a QTIP variant). Rules (docs/quantization.md, EXL3):
 *
 * - `trellis`: int16 [in / 16, out_p / 16, 16 * K]: the weight [in, out] in 16x16 tiles, each tile
 *   of 256 values encoded in 16 * K words, so K = bits per weight (1 to 8; half-integer K such as
 *   2.5 with the `mul1` codebook). LinearEXL3 takes K = trellis.shape[-1] / 16, and the
 *   converter's quantization_config.json reports that as the layer's bits_per_weight.
 * - `suh` float16 [in] and `svh` float16 [out_p]: input and output sign flips and channel scales
 *   around the Hadamard rotations; older files store packed signs `su` int16 [in / 16] and
 *   `sv` int16 [out_p / 16] (and a `scale`, no longer used).
 * - `mcg`, `mul1`: int32 scalars whose presence selects the codebook; `bias` [out_p], optional
 *   (Linear.load_fp16 reads the float bias padded to out_p, convert_exl3 keeps it, get_tensors
 *   writes it): counted as its [out] values.
 * - Linear pads out_features to a multiple of 128 (pad_to; the MoE router uses pad_to 1 and stays
 *   float), and in_features too where allow_input_padding is set (the MLPs' down projections,
 *   whose inputs are the padded intermediate size). The stored sizes are unpadded to the one
 *   config.json size that rounds up to them (common.ts unpaddedOut / unpaddedIn): the output
 *   head's vocab_size, intermediate_size...
 * - config.json `quantization_config: {quant_method: exl3, bits, head_bits, codebook?, ...}`;
 *   the converter writes tie_word_embeddings false, since it stores lm_head beside the embedding.
 */
import { QuantLayer, Tensor } from '../model';
import { num, QuantConfig } from './config';
import { DetectContext, Detector, dims, isOutputHead, prod, unpaddedIn, unpaddedOut, Unreadable } from './common';

/** Bits per weight the trellis kernels encode. */
const MIN_K = 1;
const MAX_K = 8;

interface Exl3Entry {
  layer: QuantLayer;
  logicalShape: number[];
  packedReason: string;
}

/** Per run, what is said about a layer of one shape (an MoE's experts: thousands of layers, a few shapes). */
const RUNS = new WeakMap<DetectContext, Map<string, Exl3Entry>>();
const MAX_ENTRIES = 1024;

/** The sign / scale vectors only an EXL3 layer has beside its trellis. */
const SIGNS = ['suh', 'svh', 'su', 'sv'];

const AUX: readonly (readonly [string, string])[] = [
  ['suh', 'EXL3 input sign flips and channel scales (around the input Hadamard rotation)'],
  ['svh', 'EXL3 output sign flips and channel scales (around the output Hadamard rotation)'],
  ['su', 'EXL3 input sign flips, packed 16 per int16'],
  ['sv', 'EXL3 output sign flips, packed 16 per int16'],
  ['scale', 'EXL3 global scale (older files)'],
  ['mcg', 'EXL3 codebook multiplier (MCG codebook)'],
  ['mul1', 'EXL3 codebook multiplier (MUL1 codebook)'],
];

export const exl3: Detector = (view, qc, ctx) => {
  const t = view.tensors.get('trellis');
  if (!t) return undefined;
  // `trellis` alone is any model's name: only int16 words, an EXL3 config or EXL3's sign vectors
  // beside it make it EXL3's.
  if (t.dtype !== 'int16' && qc?.method !== 'exl3' && !SIGNS.some((n) => view.tensors.has(n))) return undefined;
  const bad = (why: string): Unreadable => ({ unreadable: `EXL3 trellis (${t.dtype} ${dims(t.shape)}) ${why}` });
  if (t.dtype !== 'int16' || t.shape.length !== 3) return bad('is not a 3-D int16 tensor of 16x16 tiles');
  const [tilesIn, tilesOut, words] = t.shape;
  const K = words / 16;
  const mul1 = view.tensors.has('mul1');
  if (!Number.isInteger(2 * K) || K < MIN_K || K > MAX_K) return bad(`holds ${words} words per tile: ${K} bits per weight, not one of EXL3's ${MIN_K} to ${MAX_K}`);
  if (!Number.isInteger(K) && !mul1) return bad(`holds ${K} bits per weight, a half-integer rate, without the mul1 codebook it requires`);
  const inF = tilesIn * 16;
  const width = tilesOut * 16;
  if (inF === 0 || width === 0) return bad('has no tiles');
  // The sign / scale vectors, unpacked or packed, give in_features and out_features again.
  const u = view.tensors.get('suh') ?? view.tensors.get('su');
  const v = view.tensors.get('svh') ?? view.tensors.get('sv');
  if (!u || !v) return bad(`has no ${u ? 'svh or sv' : 'suh or su'} beside it`);
  const lengthOf = (x: typeof u, n: number) => (x.shape.length === 1 && x.shape[0] * (x.dtype === 'int16' ? 16 : 1) === n);
  if (!lengthOf(u, inF)) return bad(`and ${u.name.slice(u.name.lastIndexOf('.') + 1)} ${dims(u.shape)} disagree on in_features (${inF})`);
  if (!lengthOf(v, width)) return bad(`and ${v.name.slice(v.name.lastIndexOf('.') + 1)} ${dims(v.shape)} disagree on out_features (${width})`);
  const o = unpaddedOut(view.path, width, 128, ctx);
  const i = unpaddedIn(inF, 128, ctx);
  const assumed = [o.assumed, i.assumed].filter((a): a is string => a !== undefined);
  const format = mul1 ? 'mul1' : view.tensors.has('mcg') ? 'mcg' : undefined;
  const bias = view.tensors.get('bias');
  const e = entry(ctx, tilesIn, tilesOut, K, o.size, i.size, format, bias !== undefined);
  return {
    layer: e.layer,
    packed: t,
    logicalShape: e.logicalShape,
    packedReason: e.packedReason,
    aux: AUX,
    ...(bias && o.size < width && prod(bias.shape) === width ? { resized: [['bias', [o.size]]] } : {}),
    ...(assumed.length ? { assumed } : {}),
  };
};

function entry(ctx: DetectContext, tilesIn: number, tilesOut: number, K: number, out: number, inF: number, format: string | undefined, bias: boolean): Exl3Entry {
  let run = RUNS.get(ctx);
  if (!run) RUNS.set(ctx, (run = new Map()));
  const key = `${tilesIn}|${tilesOut}|${K}|${out}|${inF}|${format ?? ''}|${bias ? 1 : 0}`;
  let e = run.get(key);
  if (!e) {
    const inP = tilesIn * 16;
    const width = tilesOut * 16;
    const padded =
      (out < width ? `, out_features padded from ${out} to ${width} (a multiple of 128) with ${width - out} outputs the float layer does not have` : '') +
      (inF < inP ? `, in_features padded from ${inF} to ${inP} with ${inP - inF} inputs the float layer does not have` : '');
    e = {
      layer: { method: 'exl3', bits: K, ...(format ? { format } : {}), rows: out, cols: inF, bias },
      logicalShape: [out, inF],
      packedReason: `EXL3 weight of a ${out}x${inF} linear layer: ${tilesIn}x${tilesOut} tiles of 16x16 values, each encoded in ${16 * K} int16 words of a trellis (${K} bits per weight)${format ? `, ${format.toUpperCase()} codebook` : ''}${padded}`,
    };
    if (run.size >= MAX_ENTRIES) run.clear();
    run.set(key, e);
  }
  return e;
}

/**
 * The checkpoint's bits per weight as ExLlamaV3 declares it, beside its layers' own rates. The
 * config's `bits` is the converter's target (conversion/allocation.py, create_q_strategy): every
 * budgeted layer starts at the target rounded down to a rate the kernels have, and groups of
 * layers are raised one step while the parameter-weighted average stays within the target, so a
 * 2.5-bit model holds layers of 2 and 3 bits (the output head has head_bits apart). Each layer's K
 * is exact and stays its own; the summary gives the target, as EXL2's does. A target the layers'
 * rates cannot come from (the smallest rate not between the target rounded down and the target)
 * is a mismatch: the layers' own rates are summarised then.
 */
export function exl3Target(qc: QuantConfig, layers: readonly QuantLayer[], packed: readonly Tensor[]): { bits?: number; mismatch?: string } {
  const declared = num(qc.cfg.bits);
  if (declared === undefined) return {};
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < layers.length; i++) {
    const name = packed[i].name;
    if (layers[i].method !== 'exl3' || isOutputHead(name.slice(0, name.lastIndexOf('.')))) continue;
    min = Math.min(min, layers[i].bits);
    max = Math.max(max, layers[i].bits);
  }
  if (min === Infinity) return {};
  const rates = min === max ? `${min}` : `${min} to ${max}`;
  // Each budgeted layer starts at the target rounded down and the average stays within the target,
  // so the smallest rate lies between the two (per-module overrides, --module_bits, aside).
  if (declared < MIN_K || declared > MAX_K || min > declared || min < Math.floor(declared)) {
    return {
      mismatch:
        `${qc.declaredBy} declares bits=${declared} (ExLlamaV3's target bits per weight), but its layers other than the output head hold ${rates} bits per weight: ` +
        `the converter starts every layer at the target rounded down and raises some within it, so the smallest rate would be between ${Math.floor(declared)} and ${declared}; the layers' own rates are summarised`,
    };
  }
  return { bits: declared };
}
