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
 * - `mcg`, `mul1`: int32 scalars whose presence selects the codebook; `bias` [out_p], optional.
 * - Linear pads out_features to a multiple of 128 (pad_to): out_p = out rounded up; the output
 *   head (lm_head, vocab_size outputs) is the layer where that shows.
 * - config.json `quantization_config: {quant_method: exl3, bits, head_bits, codebook?, ...}`;
 *   the converter writes tie_word_embeddings false, since it stores lm_head beside the embedding.
 */
import { QuantLayer } from '../model';
import { DetectContext, Detector, dims, unpaddedOut, Unreadable } from './common';

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

const AUX: readonly (readonly [string, string])[] = [
  ['suh', 'EXL3 input sign flips and channel scales (around the input Hadamard rotation)'],
  ['svh', 'EXL3 output sign flips and channel scales (around the output Hadamard rotation)'],
  ['su', 'EXL3 input sign flips, packed 16 per int16'],
  ['sv', 'EXL3 output sign flips, packed 16 per int16'],
  ['scale', 'EXL3 global scale (older files)'],
  ['mcg', 'EXL3 codebook multiplier (MCG codebook)'],
  ['mul1', 'EXL3 codebook multiplier (MUL1 codebook)'],
];

export const exl3: Detector = (view, _qc, ctx) => {
  const t = view.tensors.get('trellis');
  if (!t) return undefined;
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
  const { out, assumed } = unpaddedOut(view.path, width, 128, ctx);
  const format = mul1 ? 'mul1' : view.tensors.has('mcg') ? 'mcg' : undefined;
  const bias = view.tensors.has('bias');
  const e = entry(ctx, tilesIn, tilesOut, K, out, format, bias);
  return { layer: e.layer, packed: t, logicalShape: e.logicalShape, packedReason: e.packedReason, aux: AUX, ...(assumed ? { assumed: [assumed] } : {}) };
};

function entry(ctx: DetectContext, tilesIn: number, tilesOut: number, K: number, out: number, format: string | undefined, bias: boolean): Exl3Entry {
  let run = RUNS.get(ctx);
  if (!run) RUNS.set(ctx, (run = new Map()));
  const key = `${tilesIn}|${tilesOut}|${K}|${out}|${format ?? ''}|${bias ? 1 : 0}`;
  let e = run.get(key);
  if (!e) {
    const inF = tilesIn * 16;
    const width = tilesOut * 16;
    const padded = out < width ? `, out_features padded from ${out} to ${width} (a multiple of 128) with ${width - out} outputs the float layer does not have` : '';
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
