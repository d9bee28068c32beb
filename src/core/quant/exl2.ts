/**
 * EXL2 (ExLlamaV2, turboderp/exllamav2). Rules (docs/quantization.md, EXL2):
 *
 * - `q_weight`: int32 [R, out_p]: the weight transposed ([in, out]), its rows (inputs) permuted by
 *   act-order and cut into groups that each have their own bit width (2 to 8), each group's values
 *   packed along in_features into ceil(rows_g * bits_g / 32) int32 rows; R is the sum over the
 *   groups. out_p is out_features rounded up to a multiple of 32 (ExLlamaV2Linear's pad32; the
 *   padding columns are not weights of the float layer).
 * - `q_invperm`: int32 [in]: the inverse input permutation, so its length is in_features.
 *   (`q_perm` = argsort(q_invperm) is made at load time; older files may store it.)
 * - `q_scale`: int32 [G, out_p / 8]: one 4-bit scale per group and output, eight per word.
 * - `q_scale_max`: float16 [G]; `q_groups`: int16 [2 * G], (bits, first q_weight row) per group.
 * - `bias`: optional. AdaptiveGPTQ.pack writes the layer's own bias, [out] unless the layer was
 *   padded when loaded (ExLlamaV2Linear.load pads a float weight's rows to out_p, and its bias with
 *   F.pad(bias, (0, 0, 0, pad)), which torch refuses for a 1-D tensor: a biased layer whose
 *   out_features are not a multiple of 32 does not convert). A bias shorter than out_p gives the
 *   real out_features; one of out_p values counts as its real out.
 * - out_features other than the head's are unpadded the same way (common.ts unpaddedOut): the
 *   one size of the config's (hidden_size, intermediate_size, heads x head_dim...) that rounds up
 *   to out_p.
 * - A layer's bits are not one number: R * 32 / in is the average of its groups' widths. The
 *   config (`quantization_config: {quant_method: exl2, bits, head_bits}`, written by convert.py
 *   with -cf) gives the model's target bits per weight, and head_bits for lm_head.
 */
import { num } from './config';
import { Detector, dims, isDim, isIntDtype, prod, unpaddedOut, Unreadable } from './common';

/** What ExLlamaV2's quantizer packs a group in, at least and at most (qparams' options). */
const MIN_BITS = 2;
const MAX_BITS = 8;

/** Tensors only an EXL2 layer has beside its q_weight. */
const EVIDENCE = ['q_invperm', 'q_perm', 'q_scale_max', 'q_groups'];

const AUX: readonly (readonly [string, string])[] = [
  ['q_invperm', 'EXL2 inverse input permutation (act-order): its length is in_features'],
  ['q_perm', 'EXL2 input permutation (argsort of q_invperm)'],
  ['q_scale', 'EXL2 group scales: one 4-bit value per group and output, eight per int32'],
  ['q_scale_max', 'EXL2 largest scale of each group'],
  ['q_groups', 'EXL2 group table: the bit width and first q_weight row of each group'],
];

export const exl2: Detector = (view, qc, ctx) => {
  const w = view.tensors.get('q_weight');
  if (!w) return undefined;
  // `q_weight` is also a float model's name (a fused attention's query weight): only int words, an
  // EXL2 config or EXL2's group tensors beside it make it EXL2's.
  if (!isIntDtype(w.dtype) && qc?.method !== 'exl2' && !EVIDENCE.some((n) => view.tensors.has(n))) return undefined;
  const bad = (why: string): Unreadable => ({ unreadable: `EXL2 q_weight (${w.dtype} ${dims(w.shape)}) ${why}` });
  if (w.dtype !== 'int32' || w.shape.length !== 2) return bad('is not a 2-D int32 tensor');
  const [rows, width] = w.shape;
  const invperm = view.tensors.get('q_invperm');
  if (!invperm || invperm.shape.length !== 1 || !isDim(invperm.shape[0])) return bad('has no q_invperm, whose length is in_features');
  const inF = invperm.shape[0];
  // The group tensors must agree on the number of groups, and the scales on the packed width.
  const scale = view.tensors.get('q_scale');
  const scaleMax = view.tensors.get('q_scale_max');
  const groups = view.tensors.get('q_groups');
  if (!scale || scale.shape.length !== 2 || scale.shape[1] * 8 !== width) return bad(`has ${scale ? `q_scale ${dims(scale.shape)}` : 'no q_scale'}, not [groups, ${width / 8}]`);
  const G = scale.shape[0];
  if (!scaleMax || scaleMax.shape.length !== 1 || scaleMax.shape[0] !== G) return bad(`has ${scaleMax ? `q_scale_max ${dims(scaleMax.shape)}` : 'no q_scale_max'}, not [${G}] (one per group of q_scale)`);
  if (!groups || groups.shape.length !== 1 || groups.shape[0] !== 2 * G) return bad(`has ${groups ? `q_groups ${dims(groups.shape)}` : 'no q_groups'}, not [${2 * G}] (two per group)`);
  // Every group holds 2 to 8 bits per value in whole words; only the last group may end in a
  // partly filled row.
  if (G < 1 || G > inF || rows * 32 < inF * MIN_BITS || rows * 32 > inF * MAX_BITS + 32) {
    return bad(`has ${rows} rows for ${inF} inputs in ${G} groups: ${round2((rows * 32) / inF)} bits per weight, outside EXL2's ${MIN_BITS} to ${MAX_BITS}`);
  }
  const measured = round2((rows * 32) / inF);
  const head = view.path === 'lm_head' || view.path.endsWith('.lm_head');
  const bias = view.tensors.get('bias');
  const biasLength = bias && bias.shape.length === 1 ? bias.shape[0] : undefined;
  const { size: out, assumed } = unpaddedOut(view.path, width, 32, ctx, [biasLength]);
  const notes: string[] = [];
  let bits = measured;
  if (qc?.method === 'exl2') {
    const key = head ? 'head_bits' : 'bits';
    const declared = num(qc.cfg[key]);
    if (declared !== undefined && declared >= MIN_BITS && declared <= MAX_BITS) bits = declared;
    else if (qc.cfg[key] !== undefined) notes.push(`${key}=${String(qc.cfg[key])} declared, not an EXL2 bit width; the layer's own average (${measured}) is shown`);
  }
  const padded = out < width ? `, out_features padded from ${out} to ${width} (a multiple of 32) with ${width - out} columns the float layer does not have` : '';
  return {
    layer: { method: 'exl2', bits, rows: out, cols: inF, bias: bias !== undefined },
    packed: w,
    logicalShape: [out, inF],
    packedReason:
      `EXL2 weight of a ${out}x${inF} linear layer: its ${inF} inputs, permuted, in ${G} groups of 2 to 8 bits each, ` +
      `packed along in_features into ${rows} int32 rows (${measured} bits per weight on average in this layer${bits !== measured ? `; the config's target is ${bits}` : ''})${padded}`,
    aux: AUX,
    ...(bias && out < width && prod(bias.shape) === width ? { resized: [['bias', [out]]] } : {}),
    notes,
    ...(assumed ? { assumed: [assumed] } : {}),
  };
};

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
