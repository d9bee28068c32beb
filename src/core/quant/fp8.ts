/**
 * FP8 and NVFP4 weights (transformers' finegrained FP8 `quant_method: fp8`, DeepSeek-V3, FBGEMM FP8,
 * NVIDIA ModelOpt). Rules (docs/quantization.md, FP8):
 *
 * - `weight`: float8_e4m3fn (or e5m2) in the layer's own shape [out, in]: one value per element.
 * - Block-wise (`weight_block_size: [128, 128]`, transformers FP8Linear and DeepSeek-V3):
 *   `weight_scale_inv` float32 [ceil(out / 128), ceil(in / 128)].
 * - Per-channel (FBGEMM FP8): `weight_scale` [out, 1] (its `input_scale_ub` is a non-persistent
 *   buffer, absent from checkpoints).
 * - Per-tensor (ModelOpt, static): `weight_scale` [] or [1]; `input_scale` [] or [1].
 * - NVFP4 (ModelOpt `quant_algo: NVFP4`): `weight` uint8 [out, in / 2], two E2M1 values per
 *   byte; `weight_scale` float8_e4m3fn [out, in / 16] (one per block of 16); `weight_scale_2`
 *   float32 scalar (global); `input_scale`.
 */
import { num, QuantConfig } from './config';
import { sameDims } from '../coverage';
import { DetectContext, Detector, dims } from './common';
import { QuantLayer } from '../model';

export const fp8: Detector = (view, qc, ctx) => {
  const w = view.tensors.get('weight');
  if (!w || !w.dtype.startsWith('float8_')) return undefined;
  const scaleInv = view.tensors.get('weight_scale_inv');
  const scale = scaleInv ?? view.tensors.get('weight_scale');
  const scaleName = scaleInv ? 'weight_scale_inv' : 'weight_scale';
  const declared = declaredBlock(qc);
  const bias = view.tensors.has('bias');
  if (scale) {
    // 45,000 layers of a few shapes: what is said about a shape, and the layer it describes, is
    // worked out once and shared (nothing in the result depends on the layer's name). The
    // layers are shared within one checkpoint only (`ctx` is one run's).
    const e = fp8Entry(w.dtype, w.shape, scaleName, scale.shape, declared);
    if (e.run !== ctx) {
      e.run = ctx;
      e.withBias = e.noBias = undefined;
    }
    const layer = bias ? (e.withBias ??= fp8Layer(e.texts, w.shape, true)) : (e.noBias ??= fp8Layer(e.texts, w.shape, false));
    return { layer, packed: w, logicalShape: w.shape, packedReason: e.texts.packedReason, aux: e.aux, notes: e.texts.notes };
  }
  const t = fp8Texts(w.dtype, w.shape, undefined, undefined, declared);
  t.notes = [`${view.path}.weight is ${w.dtype} but no weight_scale or weight_scale_inv is beside it`];
  return { layer: fp8Layer(t, w.shape, bias), packed: w, logicalShape: w.shape, packedReason: t.packedReason, aux: auxOf(t), notes: t.notes };
};

/** What the FP8 rules say about a weight of one dtype and shape with its scale. */
interface Fp8Texts {
  blockSize: number[] | undefined;
  format: string;
  packedReason: string;
  scaleInvReason: string;
  scaleReason: string;
  notes: string[];
}

/** One (dtype, shape, scale name, scale shape, declared block) and what it gives. */
interface Fp8Entry {
  dtype: string;
  shape: number[];
  scaleName: string;
  scaleShape: number[];
  declared: number[] | undefined;
  texts: Fp8Texts;
  aux: readonly (readonly [string, string])[];
  /** The run (one checkpoint's analysis) the layers below belong to. */
  run?: DetectContext;
  /** The layer, made on first use in a run, with and without a bias (nothing changes an FP8 layer once made). */
  withBias?: QuantLayer;
  noBias?: QuantLayer;
}

/** Distinct shapes remembered at most (a crafted file may have a shape per layer). */
const MAX_ENTRIES = 1024;
const ENTRIES = new Map<string, Fp8Entry>();
/** The last few entries found, compared field by field before any key text is made. */
const RECENT: Fp8Entry[] = [];
const MAX_RECENT = 8;
let recentAt = 0;

function fp8Entry(dtype: string, shape: number[], scaleName: string, scaleShape: number[], declared: number[] | undefined): Fp8Entry {
  for (let i = 0; i < RECENT.length; i++) {
    const e = RECENT[i];
    if (e.dtype === dtype && e.scaleName === scaleName && sameDims(e.shape, shape) && sameDims(e.scaleShape, scaleShape) && sameDims(e.declared, declared)) return e;
  }
  const key = `${dtype}|${shape.join('x')}|${scaleName}|${scaleShape.join('x')}|${declared ? declared.join('x') : ''}`;
  let e = ENTRIES.get(key);
  if (!e) {
    const texts = fp8Texts(dtype, shape, scaleName, scaleShape, declared);
    e = { dtype, shape: shape.slice(), scaleName, scaleShape: scaleShape.slice(), declared: declared?.slice(), texts, aux: auxOf(texts) };
    if (ENTRIES.size >= MAX_ENTRIES) ENTRIES.clear();
    ENTRIES.set(key, e);
  }
  RECENT[recentAt] = e;
  recentAt = (recentAt + 1) % MAX_RECENT;
  return e;
}

function auxOf(t: Fp8Texts): readonly (readonly [string, string])[] {
  return [
    ['weight_scale_inv', t.scaleInvReason],
    ['weight_scale', t.scaleReason],
  ];
}

function fp8Layer(t: Fp8Texts, shape: number[], bias: boolean): QuantLayer {
  const [out, inF] = rowsCols(shape);
  return { method: 'fp8', bits: 8, blockSize: t.blockSize, format: t.format, rows: out, cols: inF, bias };
}

/** [out, in] of a weight: its first dimension, and the product of the others. */
function rowsCols(shape: number[]): [number, number] {
  let inF = 1;
  for (let i = 1; i < shape.length; i++) inF *= shape[i];
  return [shape[0] ?? 1, inF];
}

function fp8Texts(dtype: string, shape: number[], scaleName: string | undefined, scaleShape: number[] | undefined, declared: number[] | undefined): Fp8Texts {
  const [out, inF] = rowsCols(shape);
  let granularity = 'per-tensor';
  let blockSize: number[] | undefined;
  const notes: string[] = [];
  if (scaleShape) {
    const sn = scaleShape.reduce((a, b) => a * b, 1);
    if (sn === 1) granularity = 'per-tensor';
    else if (sn === out && (scaleShape.length === 1 || scaleShape[scaleShape.length - 1] === 1)) granularity = 'per-channel';
    else if (scaleShape.length === 2 && shape.length === 2) {
      granularity = 'block';
      const fits = (b: number[]) => Math.ceil(out / b[0]) === scaleShape[0] && Math.ceil(inF / b[1]) === scaleShape[1];
      if (declared && fits(declared)) blockSize = declared;
      else {
        const guess = [Math.ceil(out / scaleShape[0]), Math.ceil(inF / scaleShape[1])];
        blockSize = fits(guess) ? guess : undefined;
        if (declared) notes.push(`weight_block_size ${declared.join('x')} declared but ${scaleName} ${dims(scaleShape)} fits blocks of ${guess.join('x')}`);
      }
    }
  }
  const fmt = dtype.replace(/^float8_/, '').replace(/fn$|fnuz$/, '');
  return {
    blockSize,
    format: `${fmt} ${granularity}`,
    packedReason: `FP8 (${dtype}) weight of a ${dims(shape)} layer, one value per element, ${granularity} scales${blockSize ? ` over ${blockSize.join('x')} blocks` : ''}`,
    scaleInvReason: `FP8 dequantization scale (multiply)${blockSize ? `, one per ${blockSize.join('x')} block` : ''}`,
    scaleReason: `FP8 weight scale (${granularity})`,
    notes,
  };
}

export const nvfp4: Detector = (view, qc) => {
  const w = view.tensors.get('weight');
  const scale = view.tensors.get('weight_scale');
  if (!w || !scale || w.dtype !== 'uint8' || w.shape.length !== 2 || !/^float8_/.test(scale.dtype) || scale.shape.length !== 2) return undefined;
  const [out, half] = w.shape;
  const inF = half * 2;
  if (scale.shape[0] !== out || scale.shape[1] === 0 || inF % scale.shape[1] !== 0) return { unreadable: `NVFP4 weight ${dims(w.shape)} and weight_scale ${dims(scale.shape)} do not fit` };
  const groupSize = num(qc?.cfg.group_size) ?? inF / scale.shape[1];
  return {
    layer: { method: 'nvfp4', bits: 4, groupSize, format: 'nvfp4', rows: out, cols: inF, bias: view.tensors.has('bias') },
    packed: w,
    logicalShape: [out, inF],
    packedReason: `NVFP4 weight of a ${out}x${inF} linear layer: two E2M1 values per byte along in_features`,
    aux: [
      ['weight_scale', `NVFP4 block scales (FP8), one per ${groupSize} values`],
      ['weight_scale_2', 'NVFP4 global weight scale'],
    ],
  };
};

function declaredBlock(qc: QuantConfig | undefined): number[] | undefined {
  const b = qc?.cfg.weight_block_size;
  // Both sizes tested without a callback: this runs for every FP8 layer.
  if (Array.isArray(b) && b.length === 2 && isSize(b[0]) && isSize(b[1])) return b as number[];
  return undefined;
}

function isSize(x: unknown): boolean {
  return num(x) !== undefined && (x as number) > 0;
}
