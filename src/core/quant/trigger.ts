/**
 * Whether a checkpoint may be quantized: a config that declares a method, a GGUF file, or a
 * tensor named or typed as only a quantized layout has. The detectors (quant/index.ts and one
 * file per method) are loaded only when this says so (issue 11): most checkpoints are not.
 */
import { RawCheckpoint, Tensor } from '../model';
import { findQuantConfig } from './config';

/** Local names that only a quantized layout has: cheap test before grouping 100,000 tensors. */
const TRIGGER = /(^|\.)(qweight|qzeros|weight_packed|weight_scale|weight_scale_inv|weight_scales|SCB|B|scales|absmax|q_weight|trellis|codes|indices|W_q|_data|_scale|[A-Za-z0-9_]+_blocks)$|\.quant_state\./;

export function mayBeQuantized(raw: RawCheckpoint, tensors: readonly Tensor[]): boolean {
  return raw.format === 'gguf' || findQuantConfig(raw) !== undefined || tensors.some((t) => TRIGGER.test(t.name) || t.dtype.startsWith('float8_'));
}
