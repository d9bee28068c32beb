/**
 * MLX (mlx.nn.QuantizedLinear / QuantizedEmbedding, mlx-lm). Rules (docs/quantization.md, MLX):
 *
 * - `weight`: uint32 [..., out, in * bits / 32]: mx.quantize packs the last axis, 32 / bits
 *   values per word (3, 5 and 6 bits cross word boundaries; the count is still in * bits / 32).
 *   QuantizedLinear's repr computes in_dims = cols * 32 // bits.
 * - `scales` [..., out, in / group_size]; `biases` the same (mode `affine` only; `mxfp4`,
 *   `nvfp4`, `mxfp8` have no biases and uint8/FP8 scales). `bias` [out] optional.
 * - Defaults per mode: affine (group 64, 4 bits), mxfp4 (32, 4), nvfp4 (16, 4), mxfp8 (32, 8).
 * - config.json `quantization: {group_size, bits, mode?}`; an entry keyed by a module path
 *   overrides it for that module (`{group_size, bits}`), or `false` leaves it unquantized.
 *   mlx-lm quantizes a module when `<path>.scales` is among the weights.
 * - Embeddings and output heads are quantized too (QuantizedEmbedding.as_linear serves a tied head).
 */
import { isObj, num, str } from './config';
import { bitsOf, Detector, dims, isDim, Unreadable } from './common';

const MODE_DEFAULTS: Record<string, [number, number]> = { affine: [64, 4], mxfp4: [32, 4], nvfp4: [16, 4], mxfp8: [32, 8] };

export const mlx: Detector = (view, qc) => {
  const w = view.tensors.get('weight');
  const scales = view.tensors.get('scales');
  if (!w || !scales || w.dtype !== 'uint32' || w.shape.length < 2 || scales.shape.length !== w.shape.length) return undefined;
  if (qc?.method !== 'mlx') {
    return { unreadable: `MLX-style packed weight (uint32 ${dims(w.shape)} with scales) but no MLX \`quantization\` in config.json gives its bits and group size` } as Unreadable;
  }
  const cfg = qc.cfg;
  const override = cfg[view.path];
  const mode = str(isObj(override) ? override.mode : undefined) ?? str(cfg.mode) ?? 'affine';
  const [defGroup, defBits] = MODE_DEFAULTS[mode] ?? MODE_DEFAULTS.affine;
  let bits = (isObj(override) ? num(override.bits) : undefined) ?? num(cfg.bits) ?? defBits;
  let groupSize = (isObj(override) ? num(override.group_size) : undefined) ?? num(cfg.group_size) ?? defGroup;
  const notes: string[] = [];
  if (override === false) notes.push(`config.json leaves ${view.path} unquantized (false) but it holds packed weights`);
  const words = w.shape[w.shape.length - 1];
  const groups = scales.shape[scales.shape.length - 1];
  let inF = (words * 32) / bits;
  if (!Number.isInteger(inF) || groups * groupSize !== inF) {
    // The declared scheme does not fit: find the one that does (same group size, other bits).
    const b = (words * 32) / (groups * groupSize);
    if ([2, 3, 4, 5, 6, 8].includes(b)) {
      notes.push(`${view.path}: bits=${bits} declared but its weight and scales fit ${b} bits (group ${groupSize})`);
      bits = b;
      inF = groups * groupSize;
    } else {
      return { unreadable: `MLX weight ${dims(w.shape)} and scales ${dims(scales.shape)} fit neither bits=${bits} group_size=${groupSize} nor another bit width` };
    }
  }
  if (!isDim(inF)) return { unreadable: `MLX weight ${dims(w.shape)} gives no whole in_features` };
  const lead = w.shape.slice(0, -1);
  const logicalShape = [...lead, inF];
  const fmt = mode === 'affine' ? undefined : mode;
  return {
    layer: { method: 'mlx', bits, groupSize, format: fmt, rows: lead.reduce((a, b) => a * b, 1), cols: inF, bias: view.tensors.has('bias') },
    packed: w,
    logicalShape,
    packedReason: `${bits}-bit MLX weight of a ${dims(logicalShape)} layer, packed along its last axis (${inF} values in ${words} uint32 words per row)`,
    aux: [
      ['scales', `MLX scales: one per group of ${groupSize} values (${bitsOf(scales.dtype)}-bit)`],
      ['biases', `MLX biases: one per group of ${groupSize} values (affine)`],
    ],
    notes,
  };
};
