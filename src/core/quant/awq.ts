/**
 * AWQ (AutoAWQ; transformers' `quant_method: awq`). Packing rules by `version`
 * (docs/quantization.md, AWQ):
 *
 * - `gemm` (also what the exllama/ipex versions load): `qweight` [in, out * bits / 32] int32,
 *   packed along out_features in the order [0, 2, 4, 6, 1, 3, 5, 7]; `qzeros`
 *   [in / group_size, out * bits / 32]; `scales` [in / group_size, out] float16.
 * - `gemv`: `qweight` [out, in * bits / 32] int32 packed along in_features; `qzeros`
 *   [out, W] and `scales` [out, W * 8], W = calculate_zeros_width(in, group_size) (padded).
 * - `gemv_fast`: `qweight` [out / 4, in / (16 / bits) * 4] int16 (4 rows interleaved);
 *   `scales` and `scaled_zeros` [W * 8, out] float16.
 * - `marlin`: `qweight` [in / 16, out * 16 * bits / 32] int32 and `scales` [in / group_size, out].
 * AutoAWQ packs 4 bits only; the rules are written for any bits.
 */
import { num, str, QuantConfig } from './config';
import { bitsOf, Detector, isIntDtype, LayerView, Recognised, Unreadable } from './common';

type Version = 'gemm' | 'gemv' | 'gemv_fast' | 'marlin';

export const awq: Detector = (view, qc) => {
  const qweight = view.tensors.get('qweight');
  const scales = view.tensors.get('scales');
  if (!qweight || !scales || !isIntDtype(qweight.dtype) || qweight.shape.length !== 2 || scales.shape.length !== 2) return undefined;
  const declared = declaredVersion(qc);
  const order: Version[] = declared ? [declared, ...(['gemm', 'gemv', 'gemv_fast', 'marlin'] as Version[]).filter((v) => v !== declared)] : ['gemm', 'gemv', 'gemv_fast', 'marlin'];
  for (const v of order) {
    const r = LAYOUTS[v](view, qc);
    if (!r) continue;
    if (declared && v !== declared) (r.notes ??= []).push(`version "${declared}" declared but the tensors have AWQ's ${v.toUpperCase()} layout`);
    return r;
  }
  return { unreadable: `AWQ tensors (qweight ${qweight.shape.join('x')}, scales ${scales.shape.join('x')}) match no AWQ layout` };
};

function declaredVersion(qc: QuantConfig | undefined): Version | undefined {
  const v = (str(qc?.cfg.version) ?? '').toLowerCase();
  if (v === 'gemm' || v === 'exllama' || v === 'ipex') return 'gemm';
  if (v === 'gemv' || v === 'gemv_fast' || v === 'marlin') return v;
  return undefined;
}

function bitsOfCfg(qc: QuantConfig | undefined): number | undefined {
  return num(qc?.cfg.bits) ?? num(qc?.cfg.w_bit);
}

function groupOfCfg(qc: QuantConfig | undefined): number | undefined {
  return num(qc?.cfg.group_size) ?? num(qc?.cfg.q_group_size);
}

/** AutoAWQ's calculate_zeros_width: groups rounded up to whole int32s of 8, padded for small groups. */
export function zerosWidth(inF: number, groupSize: number, packNum = 8): number {
  const mult = groupSize >= 128 ? 1 : groupSize === 64 ? 2 : groupSize === 32 ? 4 : 0;
  if (!mult) return -1;
  const base = Math.ceil(Math.floor(inF / groupSize) / packNum);
  return Math.ceil(base / mult) * mult;
}

const LAYOUTS: Record<Version, (view: LayerView, qc: QuantConfig | undefined) => Recognised | undefined> = {
  gemm(view, qc) {
    const qw = view.tensors.get('qweight')!;
    const sc = view.tensors.get('scales')!;
    const out = sc.shape[1];
    const inF = qw.shape[0];
    const bits = (qw.shape[1] * bitsOf(qw.dtype)) / out;
    if (!Number.isInteger(bits) || bits < 1 || bits > 8 || qw.shape[1] === out) return undefined;
    const groups = sc.shape[0];
    if (groups < 1 || inF % groups !== 0) return undefined;
    const groupSize = inF / groups;
    return finish(view, qc, 'gemm', bits, groupSize, out, inF, `packed along out_features (${32 / bits} values per int32, order 0 2 4 6 1 3 5 7)`);
  },
  gemv(view, qc) {
    const qw = view.tensors.get('qweight')!;
    const sc = view.tensors.get('scales')!;
    const qz = view.tensors.get('qzeros');
    if (qw.dtype !== 'int32' || sc.shape[0] !== qw.shape[0]) return undefined;
    const bits = bitsOfCfg(qc) ?? 4;
    const out = qw.shape[0];
    const inF = (qw.shape[1] * 32) / bits;
    if (!Number.isInteger(inF)) return undefined;
    let groupSize = groupOfCfg(qc);
    if (qz && groupSize !== undefined && zerosWidth(inF, groupSize) !== qz.shape[1]) return undefined;
    if (groupSize === undefined && qz) groupSize = [128, 64, 32].find((g) => zerosWidth(inF, g) === qz.shape[1]);
    if (groupSize === -1) groupSize = undefined;
    return finish(view, qc, 'gemv', bits, groupSize, out, inF, `packed along in_features (${32 / bits} values per int32)`);
  },
  gemv_fast(view, qc) {
    const qw = view.tensors.get('qweight')!;
    const sc = view.tensors.get('scales')!;
    if (qw.dtype !== 'int16' || !view.tensors.has('scaled_zeros')) return undefined;
    const bits = bitsOfCfg(qc) ?? 4;
    const out = qw.shape[0] * 4;
    const inF = (qw.shape[1] / 4) * (16 / bits);
    if (!Number.isInteger(inF) || sc.shape[1] !== out) return undefined;
    const g = groupOfCfg(qc);
    return finish(view, qc, 'gemv_fast', bits, g !== undefined && g > 0 ? g : undefined, out, inF, `4 rows interleaved, ${16 / bits} values per int16`);
  },
  marlin(view, qc) {
    const qw = view.tensors.get('qweight')!;
    const sc = view.tensors.get('scales')!;
    const bits = bitsOfCfg(qc) ?? 4;
    const out = sc.shape[1];
    const inF = qw.shape[0] * 16;
    if ((out * 16 * bits) / 32 !== qw.shape[1] || qw.dtype !== 'int32') return undefined;
    const groups = sc.shape[0];
    return finish(view, qc, 'marlin', bits, groups > 1 ? inF / groups : undefined, out, inF, `Marlin's 16x16 tiles, ${32 / bits} values per int32`);
  },
};

function finish(view: LayerView, qc: QuantConfig | undefined, version: Version, bits: number, groupSize: number | undefined, out: number, inF: number, how: string): Recognised {
  const qw = view.tensors.get('qweight')!;
  const notes: string[] = [];
  const db = bitsOfCfg(qc);
  if (db !== undefined && db !== bits) notes.push(`bits=${db} declared but the tensors hold ${bits}-bit values`);
  const dg = groupOfCfg(qc);
  if (dg !== undefined && dg > 0 && groupSize !== undefined && dg !== groupSize) notes.push(`group_size=${dg} declared but scales hold groups of ${groupSize}`);
  return {
    layer: { method: 'awq', bits, groupSize, format: version, rows: out, cols: inF, bias: view.tensors.has('bias') },
    packed: qw,
    logicalShape: [out, inF],
    packedReason: `${bits}-bit AWQ (${version.toUpperCase()}) weight of a ${out}x${inF} linear layer, ${how}`,
    aux: [
      ['qzeros', `AWQ zero points (${bits}-bit, packed)`],
      ['scales', `AWQ scales: one per group${groupSize ? ` of ${groupSize} inputs` : ''} and output`],
      ['scaled_zeros', 'AWQ zero points times scales (GEMV_fast)'],
    ],
    notes,
  };
}

export type { Unreadable };
