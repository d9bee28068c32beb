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

/**
 * The decision for a tensor. Decisions that do not depend on the tensor's own name or shape are
 * shared objects (a 100,000-tensor model makes a handful of them): callers read, never mutate.
 */
export function decideRole(t: TensorRecord): Readonly<RoleDecision> {
  if (t.role) return { role: t.role, reason: t.roleReason ?? 'recorded in the file' };
  const last = t.name.slice(t.name.lastIndexOf('.') + 1);
  if (!isFloating(t.dtype)) return notFloating(t.dtype);
  if (last === 'running_mean' || last === 'running_var') return RUNNING_STAT;
  if (/(^|_)buffer$/.test(last)) return { role: 'buffer', reason: `named as a buffer (${last})` };
  if (last === 'num_batches_tracked') return STEP_COUNTER;
  if (last === 'masked_bias') return MASKED_BIAS;
  if (last === 'bias' && /(^|\.)(attn|attention|self_attn)\.bias$/.test(t.name) && isCausalMaskShape(t.shape)) {
    return { role: 'buffer', reason: `causal attention mask [${t.shape.join(', ')}]` };
  }
  if (last === 'inv_freq') return INV_FREQ;
  if (last === 'position_ids') return POSITION_IDS;
  if (last === 'token_type_ids') return TOKEN_TYPE_IDS;
  if (ROPE_CACHES.has(last)) return { role: 'buffer', reason: `rotary embedding cache (${last})` };
  if (last === 'pe' && t.shape.length >= 2) return POSITIONAL_TABLE;
  if (last === '_float_tensor') return FAIRSEQ_PLACEHOLDER;
  return PARAMETER;
}

const decision = (role: Role, reason: string): Readonly<RoleDecision> => Object.freeze({ role, reason });
const RUNNING_STAT = decision('buffer', 'BatchNorm running statistic');
const STEP_COUNTER = decision('buffer', 'BatchNorm step counter');
const MASKED_BIAS = decision('buffer', 'attention mask constant (masked_bias)');
const INV_FREQ = decision('buffer', 'rotary embedding inverse frequencies');
const POSITION_IDS = decision('buffer', 'position id buffer');
const TOKEN_TYPE_IDS = decision('buffer', 'token type id buffer');
const POSITIONAL_TABLE = decision('buffer', 'sinusoidal positional encoding table (pe)');
const FAIRSEQ_PLACEHOLDER = decision('buffer', 'fairseq placeholder buffer');
const PARAMETER = decision('parameter', 'floating-point tensor with no buffer pattern (default)');

/** One decision per integer dtype (a model has a few). */
const NOT_FLOATING = new Map<string, Readonly<RoleDecision>>();
function notFloating(dtype: string): Readonly<RoleDecision> {
  let d = NOT_FLOATING.get(dtype);
  if (d === undefined) {
    d = decision('buffer', `${dtype} is not a floating-point dtype; PyTorch parameters are floating point`);
    // Dtypes come from readers' tables; the bound guards against a reader that passes file text through.
    if (NOT_FLOATING.size < 256) NOT_FLOATING.set(dtype, d);
  }
  return d;
}

const ROPE_CACHES = new Set(['freqs_cis', 'cos_cached', 'sin_cached', '_cos_cached', '_sin_cached']);

function isCausalMaskShape(shape: number[]): boolean {
  return shape.length === 4 && shape[0] === 1 && shape[1] === 1 && shape[2] === shape[3];
}
