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
