/**
 * VPTQ (Vector Post-Training Quantization; `quant_method: vptq`, microsoft/VPTQ's VQuantLinear as
 * transformers' integrations/vptq.py builds it). Rules (docs/quantization.md, VPTQ):
 *
 * - Each layer's arguments are in the config, keyed by module path: `config_for_layers` in
 *   `quantization_config` (transformers), or `quant_config` at the top of config.json (VPTQ's own
 *   loader): VQuantLinear's init_args {in_features, out_features, vector_lens [outlier, main],
 *   num_centroids [outlier, main], num_res_centroids [outlier, main], group_num, group_size,
 *   outlier_size, enable_norm, enable_perm, is_indice_packed, bias}.
 * - The weight is vectors of `vector_len` values along out_features (padded to a multiple of it),
 *   each an index into a codebook: out is num_indices * vector_len less the padding, which only
 *   the config's out_features says. in = outlier_size + group_num * group_size.
 * - `indices`: packed, int32 [group_num, ceil(out / vector_len), ceil(group_size * bits / 32)],
 *   bits = log2(num_centroids) + log2(num_res_centroids) (the residual index in the high bits);
 *   unpacked, int16 [group_num, ceil(out / vector_len), group_size] and `res_indices` the same.
 * - `centroids.weight` [group_num, num_centroids * vector_len] and `res_centroids.weight`
 *   [group_num, num_res_centroids * vector_len]: nn.Embedding codebooks inside the layer.
 * - Outliers (vector_lens[0] > 1 and num_centroids[0] > 0): `outlier_centroids.weight`
 *   [1, num_centroids[0] * vector_lens[0]], `outlier_indices` int16
 *   [1, ceil(out / vector_lens[0]), outlier_size].
 * - `perm` [in] (int16 when packed) with enable_perm; `weight_scale`, `weight_bias` [in] with
 *   enable_norm; `bias` [out], optional.
 * - transformers' replace_with_vptq_linear takes a layer's arguments from `config_for_layers` by
 *   its path, else from `shared_layer_config` by its leaf name (`q_proj`), and its in/out features
 *   from the float nn.Linear it replaces, not from the entry. So for a shared entry in_features is
 *   outlier_size + group_num * group_size, and out_features the one size that rounds up to
 *   ceil(out / vector_len) * vector_len: a bias's length, the entry's out_features, or the
 *   config.json size that does (common.ts unpaddedOut), warned when none tells.
 * The config's in/out features are checked against every one of these shapes; a layer they do not
 * fit, or one without its config, is unreadable (the padding makes out unknowable from the shapes).
 */
import { isObj, num, Obj } from './config';
import { Detector, dims, isDim, prod, unpaddedOut } from './common';
import { Tensor } from '../model';

export const vptq: Detector = (view, qc, ctx) => {
  const indices = view.tensors.get('indices');
  if (!indices) return undefined;
  const cfg = qc?.method === 'vptq' ? qc.cfg : undefined;
  const layers = cfg && isObj(cfg.config_for_layers) ? cfg.config_for_layers : undefined;
  const shared = cfg && isObj(cfg.shared_layer_config) ? cfg.shared_layer_config : undefined;
  let entry = layers ? layers[view.path] : undefined;
  const leaf = view.path.slice(view.path.lastIndexOf('.') + 1);
  const byLeaf = !isObj(entry) && shared !== undefined && isObj(shared[leaf]);
  if (byLeaf) entry = shared![leaf];
  const centroids = view.tensors.get('centroids.weight');
  if (!isObj(entry)) {
    // `indices` and `centroids` are common names: without the config, only VPTQ's layout says
    // VPTQ (indices [groups, vectors, words] beside one codebook row per group).
    const layout = centroids && indices.shape.length === 3 && centroids.shape.length === 2 && centroids.shape[0] === indices.shape[0] && /^u?int(16|32)$/.test(indices.dtype);
    if (!layout) return undefined;
    return { unreadable: `VPTQ indices ${dims(indices.shape)} and codebook ${dims(centroids!.shape)} but no config_for_layers entry for this layer (nor shared_layer_config entry for "${leaf}") gives its vector length and groups` };
  }
  let assumed: string | undefined;
  let sizes: { in: number; out: number } | undefined;
  if (byLeaf) {
    // The float layer's own sizes (see the header), from the entry's group arithmetic and the indices.
    const vl = Array.isArray(entry.vector_lens) ? num(entry.vector_lens[1]) : undefined;
    const inF = (num(entry.outlier_size) ?? 0) + (num(entry.group_num) ?? 1) * (num(entry.group_size) ?? NaN);
    if (vl !== undefined && isDim(vl) && isDim(inF) && indices.shape.length === 3 && isDim(indices.shape[1])) {
      const bias = view.tensors.get('bias');
      const o = unpaddedOut(view.path, indices.shape[1] * vl, vl, ctx, [bias && bias.shape.length === 1 ? bias.shape[0] : undefined, num(entry.out_features)]);
      sizes = { in: inF, out: o.size };
      assumed = o.assumed;
    }
  }
  const c = layerConfig(entry, sizes);
  if (typeof c === 'string') return { unreadable: `its VPTQ config ${c}` };
  const misfit = checkShapes(view.tensors, c, centroids);
  if (misfit) return { unreadable: `VPTQ config says ${c.out}x${c.in} (vector ${c.vl}, ${c.nc} centroids${c.nrc > 0 ? `, ${c.nrc} residual` : ''}, ${c.groupNum} group(s) of ${c.groupSize}${c.outlierSize ? `, ${c.outlierSize} outlier columns` : ''}), but ${misfit}` };
  const bits = Math.round(((c.indexBits + c.resBits) / c.vl) * 1e4) / 1e4;
  const format = `v${c.vl} k${c.nc}${c.nrc > 0 ? ` r${c.nrc}` : ''}`;
  return {
    layer: { method: 'vptq', bits, format, rows: c.out, cols: c.in, bias: view.tensors.has('bias') },
    packed: indices,
    logicalShape: [c.out, c.in],
    packedReason: `VPTQ ${c.packed ? 'packed ' : ''}indices of a ${c.out}x${c.in} linear layer: one ${c.indexBits + c.resBits}-bit index per vector of ${c.vl} outputs${c.outlierSize ? ` (${c.outlierSize} outlier columns apart)` : ''}`,
    aux: [
      ['centroids.weight', `VPTQ codebook: ${c.nc} vectors of ${c.vl} values per group`],
      ['res_centroids.weight', `VPTQ residual codebook: ${c.nrc} vectors of ${c.vl} values per group`],
      ['res_indices', 'VPTQ residual indices'],
      ['outlier_centroids.weight', 'VPTQ outlier codebook'],
      ['outlier_indices', 'VPTQ outlier indices'],
      ['perm', 'VPTQ input-channel permutation'],
      ['weight_scale', 'VPTQ per-input-channel scale (enable_norm)'],
      ['weight_bias', 'VPTQ per-input-channel shift (enable_norm)'],
    ],
    ...(assumed ? { assumed: [assumed] } : {}),
  };
};

interface LayerConfig {
  in: number;
  out: number;
  vl: number;
  nc: number;
  nrc: number;
  /** int(log2(num_centroids)), int(log2(num_res_centroids)) or 0: VQuantLinear's index_bits, res_index_bits. */
  indexBits: number;
  resBits: number;
  groupNum: number;
  groupSize: number;
  outlierSize: number;
  /** Outlier vector length and centroids, when the layer has outliers. */
  outlier?: { vl: number; nc: number };
  norm: boolean;
  perm: boolean;
  packed: boolean;
}

/** A config entry read, or what is wrong with it; `sizes`: the layer's own in/out features, for a shared entry. */
function layerConfig(e: Obj, sizes?: { in: number; out: number }): LayerConfig | string {
  const pair = (v: unknown): [number, number] | undefined => (Array.isArray(v) && v.length === 2 && num(v[0]) !== undefined && num(v[1]) !== undefined ? [v[0], v[1]] : undefined);
  const inF = sizes ? sizes.in : num(e.in_features);
  const out = sizes ? sizes.out : num(e.out_features);
  const vls = pair(e.vector_lens);
  const ncs = pair(e.num_centroids);
  const nrcs = pair(e.num_res_centroids) ?? [-1, -1];
  const groupNum = num(e.group_num) ?? 1;
  const groupSize = num(e.group_size);
  const outlierSize = num(e.outlier_size) ?? 0;
  if (!isDim(inF) || !isDim(out)) return `gives no in_features/out_features (${String(e.in_features)}, ${String(e.out_features)})`;
  if (!vls || !ncs || !isDim(vls[1]) || !isDim(ncs[1])) return 'gives no vector_lens / num_centroids pair';
  if (!isDim(groupNum) || !isDim(groupSize) || !Number.isSafeInteger(outlierSize) || outlierSize < 0) return `gives group_num ${String(e.group_num)}, group_size ${String(e.group_size)}, outlier_size ${String(e.outlier_size)}`;
  const nrc = nrcs[1] > 0 ? nrcs[1] : 0;
  if (nrc > 0 && !Number.isSafeInteger(nrc)) return `gives num_res_centroids ${nrc}`;
  // Outliers as VQuantLinear enables them.
  const outlier = vls[0] > 1 && ncs[0] > 0 && isDim(vls[0]) && isDim(ncs[0]) ? { vl: vls[0], nc: ncs[0] } : undefined;
  return {
    in: inF,
    out,
    vl: vls[1],
    nc: ncs[1],
    nrc,
    indexBits: Math.floor(Math.log2(ncs[1])),
    resBits: nrc > 0 ? Math.floor(Math.log2(nrc)) : 0,
    groupNum,
    groupSize,
    outlierSize,
    outlier,
    norm: e.enable_norm !== false,
    perm: e.enable_perm !== false,
    packed: e.is_indice_packed !== false,
  };
}

/** The first tensor whose shape the config contradicts, worded for a warning; undefined when all fit. */
function checkShapes(tensors: ReadonlyMap<string, Tensor>, c: LayerConfig, centroids: Tensor | undefined): string | undefined {
  if (c.in !== c.outlierSize + c.groupNum * c.groupSize) return `outlier_size + group_num * group_size is ${c.outlierSize + c.groupNum * c.groupSize}, not in_features`;
  const vectors = Math.ceil(c.out / c.vl);
  const expect: [string, number[]][] = [
    ['indices', [c.groupNum, vectors, c.packed ? Math.ceil((c.groupSize * (c.indexBits + c.resBits)) / 32) : c.groupSize]],
    ['centroids.weight', [c.groupNum, c.nc * c.vl]],
  ];
  if (c.nrc > 0) {
    expect.push(['res_centroids.weight', [c.groupNum, c.nrc * c.vl]]);
    if (!c.packed) expect.push(['res_indices', [c.groupNum, vectors, c.groupSize]]);
  }
  if (c.outlier) {
    expect.push(['outlier_indices', [1, Math.ceil(c.out / c.outlier.vl), c.outlierSize]]);
    expect.push(['outlier_centroids.weight', [1, c.outlier.nc * c.outlier.vl]]);
  }
  if (c.perm) expect.push(['perm', [c.in]]);
  if (c.norm) expect.push(['weight_scale', [c.in]], ['weight_bias', [c.in]]);
  for (const [local, shape] of expect) {
    const t = local === 'centroids.weight' ? centroids : tensors.get(local);
    if (!t) return `it has no ${local}`;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) return `${local} is ${dims(t.shape)}, not ${dims(shape)}`;
  }
  const indices = tensors.get('indices')!;
  if (c.packed ? indices.dtype !== 'int32' : !/^u?int16$/.test(indices.dtype)) return `indices are ${indices.dtype}, not ${c.packed ? 'int32 (packed)' : 'int16'}`;
  const bias = tensors.get('bias');
  if (bias && prod(bias.shape) !== c.out) return `bias has ${prod(bias.shape)} values`;
  return undefined;
}
