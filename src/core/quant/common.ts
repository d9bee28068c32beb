/**
 * Pieces every method shares: a layer's tensors by local name, and what a method says about a
 * layer it recognises.
 */
import { QuantLayer, Tensor } from '../model';
import { QuantConfig } from './config';
import { dtypeInfo } from '../dtypes';

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

/**
 * The real out_features of a layer whose quantizer padded them to a multiple of `pad` (ExLlamaV2
 * pads to 32, ExLlamaV3 to 128, adding outputs the float model does not have). Only the output
 * head's real width is known, from the config's `vocab_size` (or its text_config's): when `width`
 * is that size rounded up, it is the answer. Without a vocab_size, an output head is taken at its
 * stored width, and `assumed` says so; any other layer is taken at its stored width (the
 * architectures these quantizers support give their other layers whole multiples).
 */
export function unpaddedOut(path: string, width: number, pad: number, ctx: DetectContext): { out: number; assumed?: string } {
  if (path !== 'lm_head' && !path.endsWith('.lm_head')) return { out: width };
  const c = ctx.config;
  const text = c && typeof c.text_config === 'object' && c.text_config !== null ? (c.text_config as Record<string, unknown>) : undefined;
  const vocab = c?.vocab_size ?? text?.vocab_size;
  if (typeof vocab !== 'number' || !isDim(vocab)) {
    return { out: width, assumed: `out_features taken as the stored ${width}: the quantizer pads the output head to a multiple of ${pad}, and no config.json vocab_size gives the real width` };
  }
  return { out: vocab < width && Math.ceil(vocab / pad) * pad === width ? vocab : width };
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
