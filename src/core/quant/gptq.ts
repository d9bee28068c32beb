/**
 * GPTQ (AutoGPTQ, GPTQModel, transformers/optimum). Packing rules (docs/quantization.md, GPTQ):
 *
 * - `qweight`: [in_features // P * bits, out_features], P = bits of the pack dtype (int32 by
 *   default; GPTQModel's `pack_dtype` may be int8/int16/int64). Packed along in_features:
 *   32 // bits values per int32 for 2/4/8 bits; for 3 bits, 32 values in 3 consecutive words.
 * - `qzeros`: [ceil(in / group_size), out // P * bits], packed along out_features.
 * - `scales`: [ceil(in / group_size), out], float16. group_size -1 means one group (in).
 * - `g_idx`: [in], int32: the group of each input column (act-order). Its length is in_features.
 * - `bias`: [out], float16, optional.
 * - `checkpoint_format` `gptq` (zero points stored minus one) and `gptq_v2` have this same layout;
 *   exllama/exllamav2/triton kernels repack at load time and save the same layout.
 * - `marlin` (AutoGPTQ's marlin format, vLLM's `quant_method: marlin`): `B` (or `qweight`)
 *   [in / 16, out * 16 * bits / 32] int32 and `s` (or `scales`) [in / group_size, out], no zeros.
 */
import { QuantLayer } from '../model';
import { num, str, QuantConfig } from './config';
import { bitsOf, Detector, isDim, isIntDtype, LayerView, Recognised, Unreadable } from './common';

const GPTQ_BITS = new Set([2, 3, 4, 8]);

export const gptq: Detector = (view, qc) => {
  const qweight = view.tensors.get('qweight');
  const format = str(qc?.cfg.checkpoint_format) ?? str(qc?.cfg.format);
  if (qweight && isIntDtype(qweight.dtype) && qweight.shape.length === 2) {
    const classic = classicLayout(view, qc);
    if (classic) return classic;
    if (format === 'marlin' || qc?.method === 'gptq') {
      const m = marlinLayout(view, qc, 'qweight', 'scales');
      if (m && !('unreadable' in m)) return m;
    }
    return undefined;
  }
  const B = view.tensors.get('B');
  if (B && view.tensors.get('s') && isIntDtype(B.dtype)) return marlinLayout(view, qc, 'B', 's');
  return undefined;
};

function cfgBits(qc: QuantConfig | undefined): number | undefined {
  return num(qc?.cfg.bits) ?? num(qc?.cfg.w_bit) ?? num(qc?.cfg.wbits);
}

function cfgGroup(qc: QuantConfig | undefined): number | undefined {
  return num(qc?.cfg.group_size) ?? num(qc?.cfg.q_group_size) ?? num(qc?.cfg.groupsize);
}

function classicLayout(view: LayerView, qc: QuantConfig | undefined): Recognised | Unreadable | undefined {
  const qweight = view.tensors.get('qweight')!;
  const scales = view.tensors.get('scales');
  const qzeros = view.tensors.get('qzeros');
  const gIdx = view.tensors.get('g_idx');
  const out = qweight.shape[1];
  // GPTQ keeps out_features whole in qweight's columns; AWQ packs them (its scales are wider).
  if (!scales || scales.shape.length !== 2 || scales.shape[1] !== out) return undefined;
  const P = bitsOf(qweight.dtype);
  const notes: string[] = [];
  const declared = cfgBits(qc);
  let fromZeros: number | undefined;
  if (qzeros && qzeros.shape.length === 2 && isIntDtype(qzeros.dtype)) {
    const b = (qzeros.shape[1] * bitsOf(qzeros.dtype)) / out;
    if (GPTQ_BITS.has(b)) fromZeros = b;
  }
  const bits = fromZeros ?? declared;
  if (bits === undefined || !GPTQ_BITS.has(bits)) {
    return { unreadable: `GPTQ tensors (qweight ${qweight.shape.join('x')}) but the bit width is neither in a config nor readable from qzeros` };
  }
  if (declared !== undefined && fromZeros !== undefined && declared !== fromZeros) {
    notes.push(`bits=${declared} declared but qzeros hold ${fromZeros}-bit zero points`);
  }
  const rows = qweight.shape[0];
  let inF: number;
  if (gIdx && gIdx.shape.length === 1 && isDim(gIdx.shape[0])) {
    inF = gIdx.shape[0];
    if (Math.floor(inF / P) * bits !== rows) notes.push(`g_idx says in_features=${inF} but qweight has ${rows} rows (${Math.floor(inF / P) * bits} expected at ${bits} bits)`);
  } else {
    inF = (rows * P) / bits;
    if (!Number.isInteger(inF)) return { unreadable: `qweight rows (${rows}) are not a whole number of ${bits}-bit groups` };
  }
  const groups = scales.shape[0];
  const g = cfgGroup(qc);
  let groupSize: number | undefined;
  let flexibleGroup = false;
  if (groups === 1) {
    // One group: per-channel (group_size -1), or any group_size >= in_features.
    flexibleGroup = true;
    if (g !== undefined && g > 0 && g >= inF) groupSize = g;
    else if (g !== undefined && g > 0) notes.push(`group_size=${g} declared but scales hold one group of ${inF}`);
  } else if (g !== undefined && g > 0 && Math.ceil(inF / g) === groups) {
    groupSize = g;
  } else {
    groupSize = Number.isInteger(inF / groups) ? inF / groups : Math.ceil(inF / groups);
    if (g !== undefined) notes.push(`group_size=${g} declared but scales hold ${groups} groups of ${groupSize}`);
  }
  const format = str(qc?.cfg.checkpoint_format) ?? str(qc?.cfg.format) ?? 'gptq';
  const layer: QuantLayer = { method: 'gptq', bits, groupSize, format, rows: out, cols: inF, bias: view.tensors.has('bias') };
  const per = bits === 3 ? `32 values per 3 ${qweight.dtype} words` : `${P / bits} values per ${qweight.dtype}`;
  return {
    layer,
    packed: qweight,
    logicalShape: [out, inF],
    packedReason: `${bits}-bit GPTQ weight of a ${out}x${inF} linear layer, packed along in_features (${per})`,
    aux: [
      ['qzeros', `GPTQ zero points: one ${bits}-bit value per group and output, packed along out_features`],
      ['scales', `GPTQ scales: one per group${groupSize ? ` of ${groupSize} inputs` : ''} and output`],
      ['g_idx', 'GPTQ group index of each input column (act-order)'],
    ],
    notes,
    flexibleGroup,
  };
}

function marlinLayout(view: LayerView, qc: QuantConfig | undefined, wName: string, sName: string): Recognised | Unreadable | undefined {
  const w = view.tensors.get(wName)!;
  const s = view.tensors.get(sName);
  if (!s || s.shape.length !== 2 || w.shape.length !== 2) return undefined;
  const bits = cfgBits(qc) ?? 4;
  const out = s.shape[1];
  const inF = w.shape[0] * 16;
  if ((out * 16 * bits) / bitsOf(w.dtype) !== w.shape[1]) {
    return { unreadable: `Marlin-format ${wName} ${w.shape.join('x')} does not match ${sName} ${s.shape.join('x')} at ${bits} bits` };
  }
  const groups = s.shape[0];
  const groupSize = groups > 1 && Number.isInteger(inF / groups) ? inF / groups : undefined;
  return {
    layer: { method: 'gptq', bits, groupSize, format: 'marlin', rows: out, cols: inF, bias: view.tensors.has('bias') },
    packed: w,
    logicalShape: [out, inF],
    packedReason: `${bits}-bit GPTQ weight of a ${out}x${inF} linear layer in Marlin's tiled layout (16x16 tiles, ${32 / bits} values per int32)`,
    aux: [
      [sName, `Marlin scales: one per group${groupSize ? ` of ${groupSize} inputs` : ''} and output, permuted`],
      ['workspace', 'Marlin kernel workspace'],
      ['qzeros', 'zero points'],
      ['g_idx', 'group index of each input column'],
    ],
  };
}
