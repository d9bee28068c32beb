/**
 * Roles of tensors that the file does not classify itself (state dicts, safetensors, GGUF):
 * parameters are what nn.Module.parameters() would yield; buffers are registered state that is
 * not trained. Each decision carries the rule that made it.
 */
import { isFloating } from './dtypes';
import { Role, TensorRecord } from './model';

export interface RoleDecision {
  role: Role;
  reason: string;
}

export function decideRole(t: TensorRecord): RoleDecision {
  if (t.role) return { role: t.role, reason: t.roleReason ?? 'recorded in the file' };
  const last = t.name.slice(t.name.lastIndexOf('.') + 1);
  if (!isFloating(t.dtype)) {
    return { role: 'buffer', reason: `${t.dtype} is not a floating-point dtype; PyTorch parameters are floating point` };
  }
  if (last === 'running_mean' || last === 'running_var') return { role: 'buffer', reason: 'BatchNorm running statistic' };
  if (/(^|_)buffer$/.test(last)) return { role: 'buffer', reason: `named as a buffer (${last})` };
  if (last === 'num_batches_tracked') return { role: 'buffer', reason: 'BatchNorm step counter' };
  if (last === 'masked_bias') return { role: 'buffer', reason: 'attention mask constant (masked_bias)' };
  if (last === 'bias' && /(^|\.)(attn|attention|self_attn)\.bias$/.test(t.name) && isCausalMaskShape(t.shape)) {
    return { role: 'buffer', reason: `causal attention mask [${t.shape.join(', ')}]` };
  }
  if (last === 'inv_freq') return { role: 'buffer', reason: 'rotary embedding inverse frequencies' };
  if (last === 'position_ids') return { role: 'buffer', reason: 'position id buffer' };
  if (last === 'token_type_ids') return { role: 'buffer', reason: 'token type id buffer' };
  if (ROPE_CACHES.has(last)) return { role: 'buffer', reason: `rotary embedding cache (${last})` };
  if (last === 'pe' && t.shape.length >= 2) return { role: 'buffer', reason: 'sinusoidal positional encoding table (pe)' };
  if (last === '_float_tensor') return { role: 'buffer', reason: 'fairseq placeholder buffer' };
  return { role: 'parameter', reason: 'floating-point tensor with no buffer pattern (default)' };
}

const ROPE_CACHES = new Set(['freqs_cis', 'cos_cached', 'sin_cached', '_cos_cached', '_sin_cached']);

function isCausalMaskShape(shape: number[]): boolean {
  return shape.length === 4 && shape[0] === 1 && shape[1] === 1 && shape[2] === shape[3];
}
