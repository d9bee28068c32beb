/**
 * optimum-quanto (huggingface/optimum-quanto `QModuleMixin`, `quanto_qmap.json`; transformers' and
 * diffusers' `quant_method: quanto`). Rules (docs/quantization.md, optimum-quanto):
 *
 * - A frozen QModule saves its weight flattened into the tensors of the QTensor
 *   (`QTensor.save_to_state_dict`: inner tensors under `weight.`, nested QTensors one level
 *   further), then `bias`, `input_scale` and `output_scale` (scalars, in the weight's dtype).
 * - qint8 and qfloat8 (WeightQBytesTensor): `weight._data` int8 / float8 in the weight's own
 *   shape, `weight._scale` [out, 1] (axis 0).
 * - qint4 and qint2 (WeightQBitsTensor): the values [R, C] are packed by PackedTensor along the
 *   first dimension into `weight._data._data` uint8 [ceil(R / (8 / bits)), C]; `weight._scale`
 *   and `weight._shift` are [R, 1]. [R, C] is the weight [out, in] itself when it has no group
 *   size, else grouped_shape: [out * in / g, g]. QModuleMixin picks g = 128, 96, 64 or 32, the
 *   first dividing in_features, for in_features > 128 only.
 * - So the count R * C is exact, but for C in {32, 64, 96, 128} the shapes do not say whether
 *   [R, C] is [out, in] or grouped; a bias ([out]) decides, else the layer is shown flat [R * C].
 * - `quanto_qmap.json` (QuantizedTransformersModel / QuantizedDiffusersModel): per module
 *   `{weights: qint8|qint4|qint2|qfloat8...|none, activations: ...}`.
 */
import { isObj, QuantConfig, str } from './config';
import { Detector, dims, isDim, prod } from './common';

/** Group sizes QModuleMixin chooses (128, then down by 32 to 32). */
const GROUPS = new Set([128, 96, 64, 32]);

/** Bits of a quanto qtype name, or of the short names transformers' and diffusers' QuantoConfig take. */
const QTYPE_BITS: Record<string, number> = {
  qint2: 2, qint4: 4, qint8: 8, qfloat8: 8, qfloat8_e4m3fn: 8, qfloat8_e4m3fnuz: 8, qfloat8_e5m2: 8,
  int2: 2, int4: 4, int8: 8, float8: 8,
};

const BITS_AUX: readonly (readonly [string, string])[] = [
  ['weight._scale', 'quanto scales: one per row of the packed values (a group, or an output channel)'],
  ['weight._shift', 'quanto shifts (zero points): one per row of the packed values'],
  // Older releases' QBitsTensor flattened into _data, _scale and an int8 _zeropoint [rows, 1].
  ['weight._zeropoint', 'quanto zero points (older QBitsTensor; later releases store _shift): one per row of the packed values'],
];

/** The dtypes quanto stores quantized values in: int8, uint8 (packed 2 and 4 bits), float8. */
function isQuantoDtype(dtype: string): boolean {
  return dtype === 'int8' || dtype === 'uint8' || dtype.startsWith('float8_');
}
const BYTES_AUX: readonly (readonly [string, string])[] = [['weight._scale', 'quanto scales: one per output channel']];

export const quanto: Detector = (view, qc) => {
  const packed = view.tensors.get('weight._data._data');
  const data = packed ?? view.tensors.get('weight._data');
  if (!data) return undefined;
  const scale = view.tensors.get('weight._scale');
  // A float `_data` below a module named `weight` is any model's: only quanto's dtypes or a quanto
  // config make it a quantized weight.
  if (!isQuantoDtype(data.dtype) && qc?.method !== 'quanto') return undefined;
  if (!scale) return { unreadable: `quanto weight._data ${dims(data.shape)} without the weight._scale it needs` };
  const declared = declaredQtype(qc, view.path);
  const notes: string[] = [];
  if (declared === 'none') notes.push('quanto_qmap.json leaves its weights unquantized ("none") but it holds a quantized weight');
  else if (declared === 'absent') notes.push('quanto_qmap.json has no entry for it, so quanto would not requantize it');
  const declaredBits = declared !== undefined ? QTYPE_BITS[declared] : undefined;
  const bias = view.tensors.get('bias');
  const hasBias = bias !== undefined;

  if (!packed) {
    // qint8 / qfloat8: one value per element, in the weight's own shape.
    if (data.dtype !== 'int8' && !data.dtype.startsWith('float8_')) {
      return { unreadable: `quanto weight._data is ${data.dtype}: 8-bit quanto weights are int8 or float8 (2- and 4-bit ones are packed in weight._data._data)` };
    }
    if (data.shape.length < 1) return { unreadable: 'quanto weight._data is a scalar' };
    const out = data.shape[0];
    if (prod(scale.shape) !== out && prod(scale.shape) !== 1) notes.push(`weight._scale ${dims(scale.shape)} is not one scale per output channel (${out})`);
    if (declaredBits !== undefined && declaredBits !== 8) notes.push(`${declared} declared but weight._data holds one ${data.dtype} per value`);
    const float = data.dtype.startsWith('float8_');
    const cols = data.shape.length > 1 ? prod(data.shape.slice(1)) : 1;
    return {
      layer: { method: 'quanto', bits: 8, format: float ? `q${data.dtype}` : 'qint8', rows: out, cols, bias: hasBias },
      packed: data,
      logicalShape: data.shape,
      packedReason: `quanto ${float ? 'qfloat8' : 'qint8'} weight of a ${dims(data.shape)} layer, one ${data.dtype} per value`,
      aux: BYTES_AUX,
      notes,
    };
  }

  // qint4 / qint2: [R, C] values packed along R.
  if (packed.dtype !== 'uint8' || packed.shape.length < 2) return { unreadable: `quanto weight._data._data ${packed.dtype} ${dims(packed.shape)} is not packed uint8 values` };
  const R = scale.shape[0];
  if (!isDim(R) || prod(scale.shape) !== R) return { unreadable: `quanto weight._scale ${dims(scale.shape)} is not one scale per row` };
  const rows = packed.shape[0];
  const C = prod(packed.shape.slice(1));
  const fits = (bits: number) => Math.ceil(R / (8 / bits)) === rows;
  let bits: number;
  if (declaredBits !== undefined && (declaredBits === 4 || declaredBits === 2) && fits(declaredBits)) bits = declaredBits;
  else if (fits(4)) bits = 4;
  else if (fits(2)) bits = 2;
  else return { unreadable: `quanto weight._data._data has ${rows} rows for ${R} scales: neither 2 (qint4) nor 4 (qint2) values per byte fit` };
  if (declaredBits !== undefined && declaredBits !== bits) notes.push(`${declared} declared but its values are packed ${8 / bits} per byte (${bits}-bit)`);
  const n = R * C;
  if (!Number.isSafeInteger(n)) return { unreadable: `quanto weight of ${R} x ${C} values is too large to count` };

  // [R, C] is [out, in] (no group size) or [out * in / g, g]; see the header.
  let logicalShape: number[];
  let groupSize: number | undefined;
  let how: string;
  const out = bias && bias.shape.length === 1 ? bias.shape[0] : undefined;
  if (packed.shape.length > 2 || !GROUPS.has(C)) {
    logicalShape = [R, ...packed.shape.slice(1)];
    how = 'one scale per output channel';
  } else if (out !== undefined && out === R) {
    logicalShape = [R, C];
    how = 'one scale per output channel';
  } else if (out !== undefined && isDim(out) && n % out === 0 && n / out > 128) {
    logicalShape = [out, n / out];
    groupSize = C;
    how = `groups of ${C} along in_features`;
  } else {
    logicalShape = [n];
    how = `${R} rows of ${C}: either [out, in] or groups of ${C}, which the shapes do not tell apart`;
  }
  const [lr, lc] = logicalShape.length >= 2 ? [logicalShape[0], prod(logicalShape.slice(1))] : [1, n];
  return {
    layer: { method: 'quanto', bits, groupSize, format: `qint${bits}`, rows: lr, cols: lc, bias: hasBias },
    packed,
    logicalShape,
    packedReason: `quanto qint${bits} weight of ${logicalShape.length === 1 ? `${n} values` : `a ${dims(logicalShape)} layer`} (${how}), packed ${8 / bits} per byte along the first axis`,
    aux: BITS_AUX,
    notes,
  };
};

/** The qtype the config gives the module at `path`: its quanto_qmap.json entry, or the whole config's. */
function declaredQtype(qc: QuantConfig | undefined, path: string): string | undefined {
  if (qc?.method !== 'quanto') return undefined;
  const qmap = qc.cfg.qmap;
  if (isObj(qmap)) {
    const e = qmap[path];
    if (!isObj(e)) return 'absent';
    return str(e.weights);
  }
  // transformers' QuantoConfig has `weights`, diffusers' `weights_dtype`.
  return str(qc.cfg.weights) ?? str(qc.cfg.weights_dtype);
}
