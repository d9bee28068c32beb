/**
 * Layer inference for state dicts: what a module probably is, from the names, shapes and dtypes
 * of its own tensors, with the evidence. Pickled whole modules don't need this (their classes
 * are in the file).
 */
import { LayerHint, Tensor } from './model';
import { quantLayerInference } from './quant/describe';
import { FROZEN_BN_BACKBONE, FROZEN_BN_MIXED } from './roles';

export interface Inference {
  type: string;
  repr?: string;
  evidence: string;
}

export interface InferenceContext {
  /** config.json model_type, e.g. `gpt2`. */
  modelType?: string;
  /** config.json, for eps and the like. */
  config?: Record<string, unknown>;
  /** Layers the file states by module path (RawCheckpoint.layers), taken before any inference. */
  layers?: Record<string, LayerHint>;
}

/** Families whose checkpoints use transformers' Conv1D (weight stored [in, out]). */
const CONV1D_FAMILIES = new Set(['gpt2', 'openai-gpt', 'imagegpt', 'decision_transformer', 'gpt_bigcode_conv1d']);
const CONV1D_NAMES = new Set(['c_attn', 'c_proj', 'c_fc', 'q_attn']);
const EMBEDDING_NAME = /(^|_)(wte|wpe|embed|embeds|embedding|embeddings|emb|embd|embed_tokens|embed_in|tok_embeddings|word_embeddings|position_embeddings|token_type_embeddings|shared)$/i;
const NORM_NAME = /(norm|ln)/i;
/** llama.cpp's names for an MoE layer's experts stacked into one tensor per projection (ffn_gate_exps, ffn_up_exps, ffn_down_exps, ffn_gate_up_exps). */
const STACKED_EXPERTS = /_exps$/;

/**
 * The layer a module probably is. analyze.ts computes this once per distinct (module name, own
 * tensors) and shares the answer: it must read nothing of a tensor but its local name (after the
 * last dot), shape, and for a packed weight its `quant`, `logicalShape` and `roleReason`; nothing
 * of the module but its name and its tensors in order (Structures.layerOf keys on exactly these).
 */
export function inferLayer(moduleName: string, own: Tensor[], ctx: InferenceContext): Inference | undefined {
  // A quantized layer reads as the Linear (or Embedding) its packed weight stands for.
  if (own.some((t) => t.quant)) {
    const q = quantLayerInference(own, EMBEDDING_NAME.test(moduleName));
    if (q) return q;
  }
  const byLocal = new Map<string, Tensor>();
  for (const t of own) byLocal.set(t.name.slice(t.name.lastIndexOf('.') + 1), t);
  const w = byLocal.get('weight');
  const b = byLocal.get('bias');
  if (!w) return undefined;
  const shape = w.shape;
  const hasBias = !!b && b.shape.length === 1;

  // BatchNorm: weight/bias plus running statistics.
  if (byLocal.has('running_mean') && byLocal.has('running_var') && shape.length === 1) {
    // Its weight found to be a frozen BatchNorm's buffer (roles.ts): torchvision's repr.
    if (w.roleReason === FROZEN_BN_MIXED.reason || w.roleReason === FROZEN_BN_BACKBONE.reason) {
      return {
        type: 'FrozenBatchNorm2d',
        repr: `FrozenBatchNorm2d(${shape[0]}, eps=${fmtFloat(1e-5)})`,
        evidence: 'weight, bias, running_mean and running_var of one size, no num_batches_tracked: a frozen BatchNorm, all four buffers',
      };
    }
    return {
      type: 'BatchNorm',
      repr: `BatchNorm(${shape[0]}, eps=${fmtFloat(1e-5)}, momentum=0.1, affine=True, track_running_stats=True)`,
      evidence: 'weight, bias, running_mean and running_var of one size',
    };
  }
  if (shape.length === 2) {
    const [rows, cols] = shape;
    if (ctx.modelType && CONV1D_FAMILIES.has(ctx.modelType) && CONV1D_NAMES.has(moduleName)) {
      return {
        type: 'Conv1D',
        repr: `Conv1D(nf=${cols}, nx=${rows})`,
        evidence: `${ctx.modelType} models store ${moduleName} as transformers' Conv1D: weight [in=${rows}, out=${cols}]`,
      };
    }
    if (!b && EMBEDDING_NAME.test(moduleName)) {
      return { type: 'Embedding', repr: `Embedding(${rows}, ${cols})`, evidence: `2-D weight [${rows}, ${cols}] named like an embedding, no bias` };
    }
    return {
      type: 'Linear',
      repr: `Linear(in_features=${cols}, out_features=${rows}, bias=${hasBias ? 'True' : 'False'})`,
      evidence: `2-D weight [out=${rows}, in=${cols}]${hasBias ? ` and bias [${b!.shape[0]}]` : ', no bias'}`,
    };
  }
  if (shape.length === 1) {
    if (hasBias && b!.shape[0] === shape[0]) {
      const eps = epsFromConfig(ctx.config, ['layer_norm_epsilon', 'layer_norm_eps', 'norm_eps', 'rms_norm_eps']);
      return {
        type: 'LayerNorm',
        repr: `LayerNorm((${shape[0]},), eps=${fmtFloat(eps ?? 1e-5)}, elementwise_affine=True)`,
        evidence: `1-D weight and bias of size ${shape[0]}`,
      };
    }
    if (NORM_NAME.test(moduleName) && own.length === 1) {
      const eps = epsFromConfig(ctx.config, ['rms_norm_eps', 'norm_eps', 'layer_norm_eps', 'layer_norm_epsilon']);
      return {
        type: 'RMSNorm',
        repr: `RMSNorm((${shape[0]},), eps=${fmtFloat(eps ?? 1e-6)})`,
        evidence: `a single 1-D weight of size ${shape[0]} in a module named like a norm`,
      };
    }
    return undefined;
  }
  // A stack of experts' Linear weights, [experts, out, in] (GGUF's ne reversed), not a convolution.
  if (shape.length === 3 && STACKED_EXPERTS.test(moduleName)) {
    const [n, out, inF] = shape;
    const expertBias = !!b && b.shape.length === 2 && b.shape[0] === n && b.shape[1] === out;
    const linear = `Linear(in_features=${inF}, out_features=${out}, bias=${expertBias ? 'True' : 'False'})`;
    return {
      type: 'Experts',
      repr: `Experts(num_experts=${n}, in_features=${inF}, out_features=${out}, bias=${expertBias ? 'True' : 'False'})`,
      evidence: `3-D weight [experts=${n}, out=${out}, in=${inF}] named like llama.cpp's stacked expert tensors (${moduleName}): ${n} x ${linear}, one per expert${expertBias ? `, biases [${n}, ${out}]` : ''}`,
    };
  }
  if (shape.length >= 3 && shape.length <= 5) {
    const d = shape.length - 2;
    const [out, inPerGroup, ...k] = shape;
    const kernel = d === 1 ? `(${k[0]},)` : `(${k.join(', ')})`;
    return {
      type: `Conv${d}d`,
      repr: `Conv${d}d(${inPerGroup}, ${out}, kernel_size=${kernel}${hasBias ? '' : ', bias=False'})`,
      evidence: `${shape.length}-D weight [out=${out}, in/groups=${inPerGroup}, kernel ${k.join('x')}]${hasBias ? ' with bias' : ''}`,
    };
  }
  return undefined;
}

function epsFromConfig(cfg: Record<string, unknown> | undefined, keys: string[]): number | undefined {
  if (!cfg) return undefined;
  for (const k of keys) {
    const v = cfg[k];
    if (typeof v === 'number') return v;
  }
  return undefined;
}

/** Python's repr of a float, for eps values (1e-05, 1e-06, 0.1). */
export function fmtFloat(x: number): string {
  if (Number.isInteger(x)) return x.toFixed(1);
  const s = String(x);
  const m = /^(-?[\d.]+)e([+-])(\d+)$/.exec(s);
  if (m) return `${m[1]}e${m[2]}${m[3].padStart(2, '0')}`;
  if (Math.abs(x) < 1e-4) {
    const e = x.toExponential();
    const m2 = /^(-?[\d.]+)e([+-])(\d+)$/.exec(e)!;
    return `${m2[1]}e${m2[2]}${m2[3].padStart(2, '0')}`;
  }
  return s;
}
