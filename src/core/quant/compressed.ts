/**
 * compressed-tensors (llm-compressor, vLLM; `quant_method: compressed-tensors`). Rules by format
 * (docs/quantization.md, compressed-tensors):
 *
 * - `pack-quantized`: `weight_packed` int32 [out, ceil(in / (32 / num_bits))], the values of each
 *   row packed little-end first and the row padded with zeros to a whole word; `weight_shape`
 *   (int64 [2] as torch.tensor(weight.shape) writes it) holds the real [out, in], which padding
 *   hides: we read those 16 bytes. `weight_scale` [out, groups] (or [out, 1], [1]);
 *   `weight_zero_point` packed along out when asymmetric; `weight_g_idx` [in].
 * - `nvfp4-pack-quantized` / `mxfp4-pack-quantized`: `weight_packed` uint8 [out, in / 2] (two FP4
 *   values per byte), `weight_scale` [out, in / 16] (FP8) or [out, in / 32] (E8M0),
 *   `weight_global_scale`.
 * - `naive-quantized`, `int-quantized`, `float-quantized`: `weight` kept in its shape, in the
 *   smallest torch dtype holding the values (int8, float8_e4m3fn), with `weight_scale`,
 *   `weight_zero_point`, `weight_g_idx`.
 * - Activation and KV-cache state: `input_scale`, `input_zero_point`, `input_global_scale`,
 *   `k_scale`, `v_scale`.
 * - Sparse formats, named in `sparsity_config.format` and possibly combined with one of the above
 *   (2:4 + FP8): `sparse-24-bitmask` keeps each row's two kept values of every four in
 *   `compressed` [out, in / 2], `sparse-bitmask` all kept values in `compressed` [nnz] with
 *   `row_offsets` [out]; both with `bitmask` uint8 [out, ceil(in / 8)] (one bit per weight) and
 *   `shape` (int64 [2] or [2, 1]) holding the dense [out, in], whose 16 bytes we read as we read
 *   `weight_shape`: the layer's weight counts as that dense shape.
 * The scheme is in `config_groups.<name>.weights` ({num_bits, type, strategy, group_size,
 * block_structure, symmetric}), with the format global (`format`) or per group.
 */
import { Tensor, TensorPayload } from '../model';
import { Obj, isObj, num, str, QuantConfig } from './config';
import { bitsOf, DetectContext, Detector, dims, isDim, isIntDtype, LayerView, Recognised, Unreadable } from './common';

interface WeightScheme {
  bits: number;
  type: string;
  strategy?: string;
  groupSize?: number;
  blockSize?: number[];
  format?: string;
}

function schemes(qc: QuantConfig | undefined): WeightScheme[] {
  const out: WeightScheme[] = [];
  const groups = qc?.cfg.config_groups;
  if (!isObj(groups)) return out;
  const globalFormat = str(qc!.cfg.format);
  for (const g of Object.values(groups)) {
    if (!isObj(g) || !isObj(g.weights)) continue;
    const w = g.weights as Obj;
    const bits = num(w.num_bits);
    if (bits === undefined) continue;
    const bs = Array.isArray(w.block_structure) && w.block_structure.every((x) => typeof x === 'number') ? (w.block_structure as number[]) : undefined;
    out.push({ bits, type: str(w.type) ?? 'int', strategy: str(w.strategy), groupSize: num(w.group_size) ?? undefined, blockSize: bs, format: str(g.format) ?? globalFormat });
  }
  return out;
}

export const compressedTensors: Detector = (view, qc, ctx) => {
  const packed = view.tensors.get('weight_packed');
  if (packed) return packedLayerOnce(view, qc, ctx, packed);
  const compressed = view.tensors.get('compressed');
  if (compressed && qc?.method === 'compressed-tensors' && isObj(qc.cfg.sparsity_config) && view.tensors.has('bitmask')) {
    return sparseLayerOnce(view, qc, ctx, compressed, str(qc.cfg.sparsity_config.format) ?? 'sparse');
  }
  const w = view.tensors.get('weight');
  const scale = view.tensors.get('weight_scale');
  if (w && scale && qc?.method === 'compressed-tensors') return naiveLayer(view, qc, runOf(qc, ctx));
  return undefined;
};

/**
 * One run's packed layers by what decides them. A 60-layer, 384-expert int4 model has 69,000
 * packed projections of a handful of shapes: each distinct one is worked out once, and its layers
 * share the result (nothing in it depends on the layer's name, and nothing changes it later), so
 * the summary also finds each variant once per shared layer object.
 */
interface PackedRun {
  all: WeightScheme[];
  /** The first scheme of each type (`int`, `float`), for every layer stored as weight and weight_scale. */
  firstOfType: Map<string, WeightScheme>;
  /** Keyed by everything packedLayer reads: the packed tensor's dtype and shape, the shape tensor's payload (or its absence), the scale's shape, whether a bias is beside it. */
  results: Map<string, Recognised | Unreadable>;
}
const RUNS = new WeakMap<DetectContext, PackedRun>();
/** Distinct packed layers remembered per run (a crafted file may have a shape per layer). */
const MAX_RESULTS = 4096;

function runOf(qc: QuantConfig | undefined, ctx: DetectContext): PackedRun {
  let run = RUNS.get(ctx);
  if (!run) {
    const all = schemes(qc);
    const firstOfType = new Map<string, WeightScheme>();
    for (const s of all) if (!firstOfType.has(s.type)) firstOfType.set(s.type, s);
    run = { all, firstOfType, results: new Map() };
    RUNS.set(ctx, run);
  }
  return run;
}

function packedLayerOnce(view: LayerView, qc: QuantConfig | undefined, ctx: DetectContext, packed: Tensor): Recognised | Unreadable {
  const run = runOf(qc, ctx);
  const shapeT = view.tensors.get('weight_shape');
  // undefined: no weight_shape tensor; else its payload ({} when it was not read).
  const payload = shapeT ? ctx.payloads[shapeT.name] ?? {} : undefined;
  const scaleShape = view.tensors.get('weight_scale')?.shape;
  const bias = view.tensors.has('bias');
  const key = `${packed.dtype}|${packed.shape.join('x')}|${payload ? (payload.ints ? payload.ints.join(',') : `!${payload.error ?? ''}`) : '-'}|${scaleShape ? scaleShape.join('x') : '-'}|${bias ? 1 : 0}`;
  let r = run.results.get(key);
  if (!r) {
    r = packedLayer(view, run.all, packed, payload, scaleShape);
    if (run.results.size >= MAX_RESULTS) run.results.clear();
    run.results.set(key, r);
  }
  return 'unreadable' in r || r.packed === packed ? r : { ...r, packed };
}

function packedLayer(view: LayerView, all: WeightScheme[], packed: Tensor, p: TensorPayload | undefined, scaleShape: number[] | undefined): Recognised | Unreadable {
  const notes: string[] = [];
  const assumed: string[] = [];
  if (packed.shape.length !== 2) return { unreadable: `weight_packed ${dims(packed.shape)} is not 2-D` };
  const [rows, words] = packed.shape;
  let real: number[] | undefined;
  if (p) {
    if (p.ints && p.ints.length === 2 && p.ints.every(isDim)) real = p.ints;
    else if (p.error) assumed.push(`weight_shape ${p.error}`);
    else if (p.ints) assumed.push(`weight_shape holds [${p.ints.join(', ')}], not a 2-D shape`);
  }
  if (packed.dtype === 'uint8') {
    // Two FP4 values per byte (NVFP4 / MXFP4).
    const inF = real?.[1] ?? words * 2;
    const out = real?.[0] ?? rows;
    const sch = all.find((s) => s.bits === 4) ?? all[0];
    const fmt = sch?.format ?? (sch?.groupSize === 32 ? 'mxfp4-pack-quantized' : 'nvfp4-pack-quantized');
    const groupSize = sch?.groupSize ?? (scaleShape && scaleShape.length === 2 && scaleShape[1] > 0 && Number.isInteger(inF / scaleShape[1]) ? inF / scaleShape[1] : undefined);
    return result(view, { bits: 4, type: 'float', groupSize, format: fmt, strategy: sch?.strategy }, packed, out, inF, `two FP4 (E2M1) values per byte along in_features`, notes, undefined, assumed);
  }
  const P = bitsOf(packed.dtype);
  if (P !== 32 && P !== 64 && P !== 16 && P !== 8) return { unreadable: `weight_packed has dtype ${packed.dtype}` };
  // The bit width: the scheme whose packing gives this many words for the real in_features.
  let sch: WeightScheme | undefined;
  if (real) {
    sch = all.find((s) => Math.ceil(real![1] / Math.floor(P / s.bits)) === words) ?? undefined;
    if (!sch) {
      const b = [1, 2, 3, 4, 5, 6, 7, 8].find((x) => Math.ceil(real![1] / Math.floor(P / x)) === words);
      if (b === undefined) return { unreadable: `weight_packed ${dims(packed.shape)} cannot hold weight_shape ${dims(real)} at any bit width` };
      if (all.length) notes.push(`no config group packs ${real[1]} inputs into ${words} words; ${b}-bit by the shapes`);
      sch = { bits: b, type: 'int', format: 'pack-quantized' };
    }
    if (real[0] !== rows) notes.push(`weight_shape says ${real[0]} rows but weight_packed has ${rows}`);
  } else {
    sch = all.length === 1 ? all[0] : all.find((s) => s.format === 'pack-quantized') ?? all[0];
    if (!sch) return { unreadable: `weight_packed ${dims(packed.shape)} without a readable weight_shape or a config giving num_bits` };
    assumed.push(`weight_shape not read; in_features taken as the packed width (${words} words x ${Math.floor(P / sch.bits)}), which padding may exceed`);
  }
  const out = real?.[0] ?? rows;
  const inF = real?.[1] ?? words * Math.floor(P / sch.bits);
  const pf = Math.floor(P / sch.bits);
  const padded = words * pf - inF;
  return result(
    view,
    { ...sch, format: sch.format ?? 'pack-quantized' },
    packed,
    out,
    inF,
    `${pf} values per ${packed.dtype} along in_features${padded > 0 ? `, the row padded with ${padded} zero value${padded === 1 ? '' : 's'}` : ''}`,
    notes,
    undefined,
    assumed,
  );
}

/**
 * A sparse layer, worked out once per distinct shape like the packed ones (a sparse MoE has as
 * many layers): keyed by the stored tensors' dtypes and shapes, the shape tensor's payload, the
 * scale's shape and the bias.
 */
function sparseLayerOnce(view: LayerView, qc: QuantConfig, ctx: DetectContext, compressed: Tensor, format: string): Recognised | Unreadable {
  const run = runOf(qc, ctx);
  const bitmask = view.tensors.get('bitmask')!;
  const shapeT = view.tensors.get('shape');
  const payload = shapeT ? ctx.payloads[shapeT.name] ?? {} : undefined;
  const scaleShape = view.tensors.get('weight_scale')?.shape;
  const bias = view.tensors.has('bias');
  const key = `sparse|${format}|${compressed.dtype}|${compressed.shape.join('x')}|${bitmask.shape.join('x')}|${payload ? (payload.ints ? payload.ints.join(',') : `!${payload.error ?? ''}`) : '-'}|${scaleShape ? scaleShape.join('x') : '-'}|${bias ? 1 : 0}`;
  let r = run.results.get(key);
  if (!r) {
    r = sparseLayer(view, run.all, compressed, bitmask, format, payload);
    if (run.results.size >= MAX_RESULTS) run.results.clear();
    run.results.set(key, r);
  }
  return 'unreadable' in r || r.packed === compressed ? r : { ...r, packed: compressed };
}

function sparseLayer(view: LayerView, all: WeightScheme[], compressed: Tensor, bitmask: Tensor, format: string, p: TensorPayload | undefined): Recognised | Unreadable {
  const assumed: string[] = [];
  const notes: string[] = [];
  if (bitmask.shape.length !== 2) return { unreadable: `sparse bitmask ${dims(bitmask.shape)} is not 2-D` };
  let real: number[] | undefined;
  if (p) {
    if (p.ints && p.ints.length === 2 && p.ints.every(isDim)) real = p.ints;
    else if (p.error) assumed.push(`shape ${p.error}`);
    else if (p.ints) assumed.push(`shape holds [${p.ints.join(', ')}], not a 2-D shape`);
  }
  const [rows, bytes] = bitmask.shape;
  if (real) {
    // The bitmask holds one bit per dense weight, each row padded to a whole byte.
    if (real[0] !== rows || Math.ceil(real[1] / 8) !== bytes) return { unreadable: `shape says ${dims(real)} but the bitmask is ${dims(bitmask.shape)}` };
  } else {
    // Without the shape tensor: 2:4 keeps exactly half of each row; otherwise the bitmask's
    // width is all there is, which row padding may exceed.
    const twoFour = /24/.test(format) && compressed.shape.length === 2 && compressed.shape[0] === rows;
    real = twoFour ? [rows, compressed.shape[1] * 2] : [rows, bytes * 8];
    assumed.push(
      twoFour
        ? `shape not read; in_features taken as twice the compressed width (2:4)`
        : `shape not read; in_features taken as the bitmask's width (${bytes} bytes x 8), which padding may exceed`,
    );
  }
  const [out, inF] = real;
  const floaty = compressed.dtype.startsWith('float8');
  const quantized = floaty || isIntDtype(compressed.dtype);
  // A quantized sparse layer (2:4 + FP8) stores its kept values in the scheme's dtype.
  const sch: WeightScheme = quantized
    ? { ...(all.find((s) => (floaty ? s.type === 'float' : s.type === 'int')) ?? all[0] ?? { bits: bitsOf(compressed.dtype), type: floaty ? 'float' : 'int' }) }
    : { bits: bitsOf(compressed.dtype), type: 'float' };
  sch.format = quantized ? `${sch.format ?? (floaty ? 'float-quantized' : 'int-quantized')} + ${format}` : format;
  const r = result(view, sch, compressed, out, inF, `the kept values of a ${format} weight, with a bitmask of the kept positions (${compressed.dtype})`, notes, [out, inF], assumed);
  return {
    ...r,
    aux: [
      ['bitmask', `compressed-tensors ${format}: one bit per weight, set where it is kept`],
      ['shape', 'compressed-tensors: the dense [out, in] of the sparse weight'],
      ['row_offsets', `compressed-tensors ${format}: where each row's kept values start`],
      ...r.aux,
    ],
  };
}

/** A layer stored as weight and weight_scale; the run has the config's schemes, read once, not per layer (a config of thousands of groups made that layers x groups). */
function naiveLayer(view: LayerView, qc: QuantConfig, run: PackedRun): Recognised | Unreadable | undefined {
  const w = view.tensors.get('weight')!;
  const all = run.all;
  if (/^(float16|bfloat16|float32|float64)$/.test(w.dtype)) {
    // quantization_status "frozen" (or "calibration"): the weights are kept dequantized, in a
    // float dtype, beside their scales. The layer is quantized; its weights are stored whole.
    const status = str(qc.cfg.quantization_status);
    if (status === 'compressed' || all.length === 0) return undefined;
    const sch = all[0];
    const shape = w.shape;
    return result(view, { ...sch, format: `${status ?? 'not compressed'}` }, w, shape[0] ?? 1, shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1, `kept dequantized in ${w.dtype} (quantization_status "${status ?? '?'}")`, [], shape);
  }
  const stored = bitsOf(w.dtype);
  const floaty = w.dtype.startsWith('float');
  const sch = run.firstOfType.get(floaty ? 'float' : 'int') ?? all[0] ?? { bits: stored, type: floaty ? 'float' : 'int' };
  const format = sch.format ?? (floaty ? 'float-quantized' : 'int-quantized');
  const shape = w.shape;
  const out = shape[0] ?? 1;
  const inF = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  return result(view, { ...sch, format }, w, out, inF, `stored one value per ${w.dtype} element in its own shape`, [], shape);
}

function result(view: LayerView, sch: WeightScheme, packed: Tensor, out: number, inF: number, how: string, notes: string[], logicalShape?: number[], assumed?: string[]): Recognised {
  const strategy = sch.strategy ?? (sch.groupSize ? 'group' : undefined);
  const groupSize = strategy === 'group' || strategy === 'tensor_group' ? sch.groupSize : undefined;
  const blockSize = strategy === 'block' ? sch.blockSize : undefined;
  const scheme = `${sch.bits}-bit ${sch.type}${strategy ? `, ${strategy}${groupSize ? ` ${groupSize}` : ''}${blockSize ? ` ${blockSize.join('x')}` : ''}` : ''}`;
  return {
    layer: { method: 'compressed-tensors', bits: sch.bits, groupSize, blockSize, format: sch.format, rows: out, cols: inF, bias: view.tensors.has('bias') },
    packed,
    logicalShape: logicalShape ?? [out, inF],
    packedReason: `compressed-tensors ${sch.format} weight (${scheme}) of a ${out}x${inF} linear layer: ${how}`,
    aux: [
      ['weight_shape', 'compressed-tensors: the real [out, in] of the packed weight'],
      ['weight_scale', `compressed-tensors weight scale${strategy ? ` (${strategy})` : ''}`],
      ['weight_zero_point', 'compressed-tensors weight zero point'],
      ['weight_g_idx', 'compressed-tensors group index of each input column'],
      ['weight_global_scale', 'compressed-tensors global weight scale'],
    ],
    notes,
    assumed,
  };
}
