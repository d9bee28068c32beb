/**
 * Pieces every method shares: a layer's tensors by local name, and what a method says about a
 * layer it recognises.
 */
import { QuantLayer, Tensor } from '../model';
import { QuantConfig } from './config';
import { dtypeInfo } from '../dtypes';
import { lowerBound } from '../sorted';

/** The tensors of one module, by their name below it (`qweight`, `weight.absmax`...). */
export interface LayerView {
  path: string;
  tensors: ReadonlyMap<string, Tensor>;
}

export interface Recognised {
  layer: QuantLayer;
  /** The tensor that carries the logical weight (it counts as the layer's parameters). */
  packed: Tensor;
  /** Shape of the weight it stands for. */
  logicalShape: number[];
  packedReason: string;
  /**
   * Tensors that hold scales, zero points, indices... (role `quantization`): [local name, reason],
   * names absent from the layer skipped. By name, so that a method can give the same list to
   * every layer of a shape (FP8: 45,000 layers of a few shapes).
   */
  aux: readonly (readonly [string, string])[];
  /**
   * Other tensors of the layer that the quantizer stored padded, with the shape they have in the
   * float layer (ExLlamaV3's bias [out_p] of a layer of `out` outputs): [local name, shape].
   */
  resized?: readonly (readonly [string, number[]])[];
  /** Contradictions between the config and the shapes, worded for a warning. */
  notes?: string[];
  /** What had to be assumed because a shape tensor could not be read, worded for a warning. */
  assumed?: string[];
  /**
   * The layer has a single scale group, so its group size is any size >= in_features: it takes
   * the group size the other layers of the checkpoint show.
   */
  flexibleGroup?: boolean;
}

/** A layer that looks quantized but cannot be interpreted. */
export interface Unreadable {
  unreadable: string;
}

export type Detector = (view: LayerView, qc: QuantConfig | undefined, ctx: DetectContext) => Recognised | Unreadable | undefined;

export interface DetectContext {
  payloads: Record<string, { ints?: number[]; json?: Record<string, unknown>; error?: string }>;
  /** config.json, for what only the model's own config says (the output head's vocab_size). */
  config?: Record<string, unknown>;
}

export function bitsOf(dtype: string): number {
  return dtypeInfo(dtype)?.bits ?? 0;
}

export function isIntDtype(dtype: string): boolean {
  return /^u?int(8|16|32|64)$/.test(dtype);
}

export function prod(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `shape` as text: [4096, 4096] → "4096x4096". */
export function dims(shape: number[]): string {
  return shape.length ? shape.join('x') : 'scalar';
}

/** Whole number, positive, safe: a dimension we can trust. */
export function isDim(n: number | undefined): n is number {
  return n !== undefined && Number.isSafeInteger(n) && n > 0;
}

/** Whether a module is a causal LM's output head (`lm_head`), whose width is the vocabulary's. */
export function isOutputHead(path: string): boolean {
  return path === 'lm_head' || path.endsWith('.lm_head');
}

/** A dimension as the float layer has it, and what had to be assumed to say so. */
export interface Unpadded {
  size: number;
  assumed?: string;
}

/**
 * The real out_features of a layer whose quantizer padded them to a multiple of `pad` with outputs
 * the float layer does not have (ExLlamaV2 pads to 32, ExLlamaV3 to 128, VPTQ to its vector
 * length). `evidence`: sizes known for this layer, first (the length of a bias the quantizer stores
 * unpadded, as ExLlamaV2's AdaptiveGPTQ.pack writes the layer's own bias; VPTQ's out_features). The output head's real width is the config's
 * vocab_size; without one it is taken as stored, and `assumed` says so. See realSize.
 */
export function unpaddedOut(path: string, width: number, pad: number, ctx: DetectContext, evidence: readonly (number | undefined)[] = []): Unpadded {
  const sizes = configSizes(ctx.config);
  if (isOutputHead(path)) {
    if (sizes.vocab === undefined && !evidence.some((e) => e !== undefined)) {
      return { size: width, assumed: `out_features taken as the stored ${width}: the quantizer pads the output head to a multiple of ${pad}, and no config.json vocab_size gives the real width` };
    }
    return realSize(width, pad, 'out_features', sizes, [...evidence, sizes.vocab]);
  }
  return realSize(width, pad, 'out_features', sizes, evidence);
}

/** The real in_features of a layer whose quantizer may pad its inputs to a multiple of `pad` (ExLlamaV3's down projections). */
export function unpaddedIn(width: number, pad: number, ctx: DetectContext): Unpadded {
  return realSize(width, pad, 'in_features', configSizes(ctx.config), []);
}

/**
 * The real size of a dimension stored padded to a multiple of `pad`: the one size c < stored with
 * ceil(c / pad) * pad == stored. Direct evidence first (`evidence`: a bias stored unpadded, the
 * head's vocab_size), then the sizes config.json gives (configSizes). A stored size that is itself
 * one of them is kept. When several fit, or none fits and the stored size is no multiple of any of
 * them (a layer the config does not explain), it is kept and `assumed` says it may hold padding.
 * A config that gives no hidden_size does not describe the layers: the stored size is kept, as
 * the architectures these quantizers read give their layers whole multiples of the padding.
 */
function realSize(stored: number, pad: number, what: string, sizes: ConfigSizes, evidence: readonly (number | undefined)[]): Unpadded {
  const rounds = (c: number) => c < stored && Math.ceil(c / pad) * pad === stored;
  for (const e of evidence) if (e !== undefined && isDim(e) && rounds(e)) return { size: e };
  if (!sizes.described || sizes.all.has(stored) || stored % pad !== 0) return { size: stored };
  // The rest depends on the stored size, the padding and the config alone: found once for each.
  // A config may list two million sizes (16 MB of config.json), and a layer each walked them all
  // and wrote every fitting one into its note (40 VPTQ layers of a 3 KB file: 18 s).
  const key = `${what} ${pad} ${stored}`;
  let r = sizes.found.get(key);
  if (!r) sizes.found.set(key, (r = configFit(stored, pad, what, sizes, rounds)));
  return r;
}

/** Sizes of a config named in a note, before "and N more". */
const NAMED_SIZES = 8;

/** realSize's answer from the config's sizes (sorted ascending in `sizes.list`). */
function configFit(stored: number, pad: number, what: string, sizes: ConfigSizes, rounds: (c: number) => boolean): Unpadded {
  const list = sizes.list;
  // A size that rounds up to the stored one (a multiple of pad) lies in (stored - pad, stored).
  const fits: number[] = [];
  let more = 0;
  for (let k = lowerBound(list, stored - pad); k < list.length && list[k] < stored; k++) {
    if (!rounds(list[k])) continue;
    if (fits.length < NAMED_SIZES) fits.push(list[k]);
    else more++;
  }
  if (fits.length === 1) return { size: fits[0] };
  if (fits.length > 1) {
    return { size: stored, assumed: `${what} taken as the stored ${stored}: the quantizer pads it to a multiple of ${pad}, and config.json sizes ${fits.join(', ')}${more ? ` and ${more} more` : ''} all round up to it` };
  }
  // Only sizes up to the stored one can divide it; the walk is bounded per config, past which the
  // stored size stands with a note saying it was not compared (it is the size taken either way).
  for (let k = 0; k < list.length && list[k] <= stored; k++) {
    if (--sizes.budget.left < 0) {
      return { size: stored, assumed: `${what} taken as the stored ${stored}: the quantizer pads it to a multiple of ${pad}, and config.json gives more sizes than are compared with every layer, so it may hold padding` };
    }
    if (stored % list[k] === 0) return { size: stored };
  }
  return { size: stored, assumed: `${what} taken as the stored ${stored}: the quantizer pads it to a multiple of ${pad}, and no config.json size rounds up to it or divides it, so it may hold padding` };
}

/** Config sizes compared, over a whole checkpoint, for a stored size they might divide. */
const DIVIDE_BUDGET = 20_000_000;

/** The layer sizes a model's config.json gives, for telling a padded dimension from a real one. */
interface ConfigSizes {
  /** Whether the config gives the model's hidden_size (a config without one does not describe its layers). */
  described: boolean;
  all: ReadonlySet<number>;
  list: readonly number[];
  vocab?: number;
  /** realSize's answers by stored size, padding and dimension. */
  found: Map<string, Unpadded>;
  /** Config sizes still to be compared with stored sizes (configFit). */
  budget: { left: number };
}

const NO_SIZES: ConfigSizes = { described: false, all: new Set(), list: [], found: new Map(), budget: { left: 0 } };
const SIZES = new WeakMap<object, ConfigSizes>();

/** Single sizes a config may give a layer's inputs or outputs (GPT-2's, T5's and OPT's names too). */
const SIZE_KEYS = ['hidden_size', 'n_embd', 'd_model', 'intermediate_size', 'moe_intermediate_size', 'shared_expert_intermediate_size', 'ffn_dim', 'n_inner', 'd_ff', 'vocab_size', 'q_lora_rank', 'kv_lora_rank'];

/**
 * The sizes config.json (its text_config and vision_config too) gives the layers: hidden and
 * intermediate sizes, vocab_size, the attention projections' num_attention_heads * head_dim and
 * num_key_value_heads * head_dim (head_dim defaulting to hidden_size / num_attention_heads), and
 * DeepSeek's latent-attention widths. Read once per config.
 */
function configSizes(config: Record<string, unknown> | undefined): ConfigSizes {
  if (!config) return NO_SIZES;
  let s = SIZES.get(config);
  if (s) return s;
  const all = new Set<number>();
  let described = false;
  let vocab: number | undefined;
  const add = (n: unknown) => {
    if (typeof n === 'number' && isDim(n)) all.add(n);
  };
  const int = (n: unknown) => (typeof n === 'number' && isDim(n) ? n : undefined);
  for (const c of [config, config.text_config, config.vision_config]) {
    if (typeof c !== 'object' || c === null || Array.isArray(c)) continue;
    const o = c as Record<string, unknown>;
    for (const k of SIZE_KEYS) {
      const v = o[k];
      // Some configs give a size per layer (OpenELM's lists).
      if (Array.isArray(v)) v.forEach(add);
      else add(v);
    }
    const hidden = int(o.hidden_size) ?? int(o.n_embd) ?? int(o.d_model);
    if (hidden !== undefined) described = true;
    vocab = vocab ?? int(o.vocab_size);
    const heads = int(o.num_attention_heads) ?? int(o.n_head) ?? int(o.num_heads);
    const kv = int(o.num_key_value_heads) ?? heads;
    const headDim = int(o.head_dim) ?? (hidden !== undefined && heads !== undefined && hidden % heads === 0 ? hidden / heads : undefined);
    if (heads !== undefined && headDim !== undefined) add(heads * headDim);
    if (kv !== undefined && headDim !== undefined) add(kv * headDim);
    // DeepSeek-V2/V3 latent attention: q_b_proj, kv_a_proj_with_mqa, kv_b_proj, o_proj.
    const nope = int(o.qk_nope_head_dim);
    const rope = int(o.qk_rope_head_dim);
    const vDim = int(o.v_head_dim);
    const kvRank = int(o.kv_lora_rank);
    if (heads !== undefined && nope !== undefined && rope !== undefined) add(heads * (nope + rope));
    if (heads !== undefined && nope !== undefined && vDim !== undefined) add(heads * (nope + vDim));
    if (heads !== undefined && vDim !== undefined) add(heads * vDim);
    if (kvRank !== undefined && rope !== undefined) add(kvRank + rope);
  }
  s = { described, all, list: [...all].sort((a, b) => a - b), vocab, found: new Map(), budget: { left: DIVIDE_BUDGET } };
  SIZES.set(config, s);
  return s;
}

/** Local names that are quantization state wherever they appear in a quantized checkpoint. */
export const ACTIVATION_STATE: Record<string, string> = {
  input_scale: 'static activation scale',
  input_zero_point: 'activation zero point',
  input_global_scale: 'activation global scale (NVFP4)',
  input_scale_ub: 'activation scale upper bound (FBGEMM FP8)',
  output_scale: 'output activation scale',
  output_zero_point: 'output activation zero point',
  k_scale: 'KV-cache key scale',
  v_scale: 'KV-cache value scale',
  q_scale: 'attention query scale',
  prob_scale: 'attention probability scale',
  kv_scale: 'KV-cache scale',
  weight_global_scale: 'weight global scale (NVFP4)',
  weight_scale_2: 'weight global scale (NVFP4)',
};
