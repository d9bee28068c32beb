/**
 * bitsandbytes (transformers' `quant_method: bitsandbytes`). Rules (docs/quantization.md,
 * bitsandbytes):
 *
 * 4-bit (Linear4bit, nf4 / fp4), as Linear4bit._save_to_state_dict writes QuantState.as_dict(packed=True):
 * - `weight`: the whole matrix flattened and packed two values per byte: [(n + 1) // mod, 1],
 *   mod = 2 * itemsize(quant_storage) (uint8 by default: [(n + 1) // 2, 1]).
 * - `weight.absmax`: one per block of `blocksize` values: float32 [ceil(n / blocksize)], or uint8
 *   when nested (double quantization) with `weight.nested_absmax` float32 [ceil(blocks / 256)]
 *   and `weight.nested_quant_map` float32 [256].
 * - `weight.quant_map`: the 16-value code (float32 [16]).
 * - `weight.quant_state.bitsandbytes__nf4` (or `__fp4`): uint8, json.dumps of {quant_type,
 *   blocksize, dtype, shape, nested_blocksize?, nested_dtype?, nested_offset?}. The real shape
 *   is only there: we read those bytes.
 * 8-bit (Linear8bitLt, LLM.int8()): `weight` int8 [out, in] (row-major; `weight_format` uint8
 * scalar 0 says so), `SCB` float32 [out] (row scales).
 */
import { num, str } from './config';
import { bitsOf, Detector, dims, isDim, prod } from './common';
import { itemSize } from '../dtypes';

export const STATE_KEY = /^weight\.quant_state\.bitsandbytes__([a-z0-9]+)$/;

export const bnb: Detector = (view, qc, ctx) => {
  const w = view.tensors.get('weight');
  if (!w) return undefined;
  const absmax = view.tensors.get('weight.absmax');
  if (absmax) {
    const notes: string[] = [];
    const assumed: string[] = [];
    let stateName: string | undefined;
    let quantType: string | undefined;
    for (const local of view.tensors.keys()) {
      const m = STATE_KEY.exec(local);
      if (m) {
        stateName = local;
        quantType = m[1];
      }
    }
    const state = stateName ? ctx.payloads[view.tensors.get(stateName)!.name] : undefined;
    const json = state?.json;
    if (state?.error) assumed.push(`${stateName} ${state.error}`);
    let shape: number[] | undefined;
    if (json && Array.isArray(json.shape) && json.shape.every((d) => typeof d === 'number' && isDim(d))) shape = json.shape as number[];
    const blocksize = num(json?.blocksize) ?? num(qc?.cfg.bnb_4bit_blocksize);
    quantType = str(json?.quant_type) ?? quantType ?? str(qc?.cfg.bnb_4bit_quant_type);
    const per = 2 * (itemSize(w.dtype) ?? 1);
    const stored = prod(w.shape);
    let n: number;
    if (shape) {
      n = prod(shape);
      if (Math.floor((n + 1) / per) !== stored && Math.ceil(n / per) !== stored) notes.push(`quant_state shape ${dims(shape)} does not fit the ${stored} packed ${w.dtype} values of ${view.path}.weight`);
    } else {
      // Without the state: the packed size gives the count to within one value.
      n = stored * per;
      assumed.push(`the quant_state with the real shape was not read; ${n} values assumed (${stored} x ${per})`);
      shape = [n];
    }
    const rows = shape.length === 2 ? shape[0] : 1;
    const cols = shape.length === 2 ? shape[1] : n;
    const nested = view.tensors.has('weight.nested_absmax');
    return {
      layer: { method: 'bitsandbytes', bits: 4, groupSize: blocksize, format: quantType, rows, cols, bias: view.tensors.has('bias') },
      packed: w,
      logicalShape: shape,
      packedReason: `bitsandbytes 4-bit ${quantType ?? ''} weight of a ${dims(shape)} layer, flattened and packed ${per} values per ${w.dtype}`.replace('  ', ' '),
      aux: [
        ['weight.absmax', `bitsandbytes absmax: one per block${blocksize ? ` of ${blocksize}` : ''} values${nested ? ' (itself quantized to 8 bits)' : ''}`],
        ['weight.quant_map', 'bitsandbytes 4-bit code (16 values)'],
        ['weight.nested_absmax', 'bitsandbytes double quantization: absmax of the absmax blocks'],
        ['weight.nested_quant_map', 'bitsandbytes double quantization: 8-bit code (256 values)'],
        ...(stateName ? [[stateName, 'bitsandbytes quant state: JSON with the real shape, block size and dtype'] as [string, string]] : []),
      ],
      notes,
      assumed,
    };
  }
  const scb = view.tensors.get('SCB');
  if (scb && w.dtype === 'int8' && w.shape.length === 2) {
    const [out, inF] = w.shape;
    const notes = scb.shape.length === 1 && scb.shape[0] !== out ? [`SCB has ${scb.shape[0]} row scales for ${out} rows`] : [];
    return {
      layer: { method: 'bitsandbytes', bits: 8, format: 'int8', rows: out, cols: inF, bias: view.tensors.has('bias') },
      packed: w,
      logicalShape: w.shape,
      packedReason: `bitsandbytes LLM.int8() weight of a ${out}x${inF} linear layer: one int8 per value, row-wise scales in SCB`,
      aux: [
        ['SCB', 'bitsandbytes int8 row scales (SCB)'],
        ['weight_format', 'bitsandbytes int8 weight layout tag (0 = row-major)'],
      ],
      notes,
    };
  }
  return undefined;
};

export { bitsOf };
