/**
 * EETQ (NetEase-FuXi/EETQ, transformers' `quant_method: eetq`). Rules (docs/quantization.md, EETQ):
 *
 * - transformers' EetqLinear: `weight` int8 [in_features, out_features] (the float weight
 *   transposed, quantized per output channel and reordered for the kernel in memory, not in
 *   shape), `weight_scales` float16 [out_features], `bias` float16 [out_features].
 * - EETQ's own W8A16Linear (its `eet_quantize` / `save_quantized`) names the weight `qweight`,
 *   same dtype and shape.
 * - One int8 per value: the layer counts in * out, as the float nn.Linear [out, in] it replaces.
 * - Config: `{quant_method: eetq, weights: int8, modules_to_not_convert}` (transformers'
 *   EetqConfig) or `{quant_method: eetq, zero_point: false, bits: 8}` (EETQ's own).
 */
import { Detector, dims } from './common';

const AUX: readonly (readonly [string, string])[] = [['weight_scales', 'EETQ per-output-channel scales (one per row of the float weight)']];

export const eetq: Detector = (view) => {
  const scales = view.tensors.get('weight_scales');
  if (!scales) return undefined;
  const name = view.tensors.has('qweight') ? 'qweight' : 'weight';
  const w = view.tensors.get(name);
  if (!w || w.dtype !== 'int8') return undefined;
  if (w.shape.length !== 2 || scales.shape.length !== 1) return { unreadable: `EETQ ${name} ${dims(w.shape)} with weight_scales ${dims(scales.shape)}: not an int8 [in, out] matrix with one scale per output` };
  const [inF, out] = w.shape;
  if (scales.shape[0] !== out) {
    return { unreadable: `EETQ ${name} is [in, out] = ${dims(w.shape)}, so it needs ${out} weight_scales, but there are ${scales.shape[0]}` };
  }
  return {
    layer: { method: 'eetq', bits: 8, rows: out, cols: inF, bias: view.tensors.has('bias') },
    packed: w,
    logicalShape: [out, inF],
    packedReason: `EETQ int8 weight of a ${out}x${inF} linear layer, stored transposed as [in, out] = ${dims(w.shape)}, one int8 per value`,
    aux: AUX,
  };
};
