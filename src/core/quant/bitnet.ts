/**
 * BitNet b1.58 (transformers' `quant_method: bitnet`, integrations/bitnet.py). Rules
 * (docs/quantization.md, BitNet):
 *
 * - BitLinear (`linear_class: bitlinear`, the default): `weight` uint8 [out / 4, in], ternary
 *   values {-1, 0, 1} stored as {0, 1, 2} in 2 bits, four per byte along out_features (pack_weights:
 *   row r of the packed weight holds rows r, r + R, r + 2R, r + 3R of the weight, R = out / 4, at
 *   shifts 0, 2, 4, 6); `weight_scale` [1] in the model's float dtype; `bias` [out], optional.
 * - AutoBitLinear, `quantization_mode: offline`: the same `weight_scale` [1]; `weight` is either
 *   packed as above (its load hook unpacks a weight whose dtype is not the layer's) or, as
 *   save_pretrained writes it from the loaded layer, the ternary values in the float dtype [out, in].
 * - AutoBitLinear, `quantization_mode: online`: a plain float `weight` [out, in], quantized when the
 *   layer runs; no `weight_scale`. Nothing in the file is quantized: counted as stored.
 * - `use_rms_norm` adds a LlamaRMSNorm `rms_norm.weight` [in] inside the layer: a parameter.
 */
import { QuantConfig, str } from './config';
import { Detector, dims, prod } from './common';

/** transformers' VALUES_PER_ITEM: ternary values per uint8. */
const PER_BYTE = 4;
/** log2(3): the bits of a ternary value, BitNet "b1.58". */
const TERNARY_BITS = 1.58;
/** The dtypes AutoBitLinear's float weight can have. */
const FLOATS = new Set(['float16', 'bfloat16', 'float32']);

export const bitnet: Detector = (view, qc) => {
  const w = view.tensors.get('weight');
  const scale = view.tensors.get('weight_scale');
  if (!w || !scale) return undefined;
  const declared = qc?.method === 'bitnet';
  const packed = w.dtype === 'uint8';
  // Packed ternary weights are recognised from their layout; a float weight beside a one-value
  // scale is BitNet's only when the config says so.
  if (!packed && !(declared && FLOATS.has(w.dtype))) return undefined;
  if (prod(scale.shape) !== 1) {
    return declared ? { unreadable: `BitNet weight_scale ${dims(scale.shape)} is not the one value per layer BitLinear holds` } : undefined;
  }
  if (w.shape.length !== 2) {
    return declared || packed ? { unreadable: `BitNet weight ${w.dtype} ${dims(w.shape)} is not a 2-D [out${packed ? ' / 4' : ''}, in] matrix` } : undefined;
  }
  const [rows, inF] = w.shape;
  const out = packed ? rows * PER_BYTE : rows;
  const notes: string[] = [];
  const bias = view.tensors.get('bias');
  if (bias && prod(bias.shape) !== out) notes.push(`bias has ${prod(bias.shape)} values for ${out} outputs`);
  if (declared && onlineMode(qc) && packed) notes.push('quantization_mode "online" declared but the weight is packed (offline)');
  return {
    layer: { method: 'bitnet', bits: TERNARY_BITS, ...(packed ? {} : { format: 'unpacked' }), rows: out, cols: inF, bias: bias !== undefined },
    packed: w,
    logicalShape: [out, inF],
    packedReason: packed
      ? `BitNet ternary weight of a ${out}x${inF} linear layer: four 2-bit values per byte along out_features`
      : `BitNet ternary weight of a ${out}x${inF} linear layer, stored unpacked in ${w.dtype} (AutoBitLinear, offline)`,
    aux: [['weight_scale', 'BitNet weight scale: one per layer']],
    notes,
  };
};

/**
 * Whether a config declares BitNet's online quantization (AutoBitLinear quantizing a float weight
 * as it runs): such a checkpoint holds no quantized tensor.
 */
export function onlineMode(qc: QuantConfig | undefined): boolean {
  return qc?.method === 'bitnet' && str(qc.cfg.quantization_mode) === 'online';
}
