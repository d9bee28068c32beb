/**
 * Names that mean the same tensor in two checkpoints: known wrapper prefixes (DataParallel's
 * `module.`, torch.compile's `_orig_mod.`, PEFT's `base_model.model.`, `model.`, `transformer.`)
 * and llama.cpp's GGUF names for Hugging Face's llama-style names (`blk.N.attn_q` is
 * `model.layers.N.self_attn.q_proj`), as llama.cpp's converter maps them (gguf-py's
 * tensor_mapping.py). A name reduces to a *core*: the name with its leading known prefixes
 * removed, GGUF names first translated to Hugging Face's. Two names with one core are one tensor
 * at one position, renamed.
 */

/** Wrapper prefixes, longest first so `base_model.model.` wins over `model.`. */
export const KNOWN_PREFIXES = ['base_model.model.', '_orig_mod.', 'module.', 'model.', 'transformer.'];

export interface Core {
  /** The name with its known prefixes removed (GGUF names in Hugging Face's spelling first). */
  core: string;
  /** The prefixes removed, in order, joined (`module.transformer.`); '' when none. */
  chain: string;
}

/** Strip known prefixes from the front of a name, repeatedly. */
export function stripChain(name: string): Core {
  let rest = name;
  let chain = '';
  for (;;) {
    const p = KNOWN_PREFIXES.find((x) => rest.startsWith(x) && rest.length > x.length);
    if (!p) break;
    chain += p;
    rest = rest.slice(p.length);
  }
  return { core: rest, chain };
}

/**
 * The prefix change between two chains, without their common tail: `module.transformer.` →
 * `transformer.` is `module.` → ''.
 */
export function prefixChange(from: string, to: string): { from: string; to: string } {
  let i = from.length;
  let j = to.length;
  while (i > 0 && j > 0 && from[i - 1] === to[j - 1]) {
    i--;
    j--;
  }
  // Give back common characters up to a component boundary so `xmodel.` vs `model.` cannot split a word.
  while ((i > 0 && from[i - 1] !== '.') || (j > 0 && to[j - 1] !== '.')) {
    i++;
    j++;
  }
  return { from: from.slice(0, i), to: to.slice(0, j) };
}

// ---------------------------------------------------------------------------------------------
// GGUF ↔ Hugging Face (llama-style)

/** Whole-model tensors: GGUF base name → Hugging Face module path. */
const GGUF_GLOBAL: Record<string, string[]> = {
  token_embd: ['model.embed_tokens'],
  output_norm: ['model.norm'],
  output: ['lm_head'],
};

/** Per-block tensors: GGUF name after `blk.N.` → module path after `model.layers.N.` (candidates in order). */
const GGUF_BLOCK: Record<string, string[]> = {
  attn_norm: ['input_layernorm'],
  attn_q: ['self_attn.q_proj'],
  attn_k: ['self_attn.k_proj'],
  attn_v: ['self_attn.v_proj'],
  attn_output: ['self_attn.o_proj'],
  attn_q_norm: ['self_attn.q_norm'],
  attn_k_norm: ['self_attn.k_norm'],
  attn_qkv: ['self_attn.qkv_proj'],
  ffn_norm: ['post_attention_layernorm'],
  post_attention_norm: ['post_attention_layernorm'],
  post_ffw_norm: ['post_feedforward_layernorm'],
  ffn_gate: ['mlp.gate_proj'],
  ffn_up: ['mlp.up_proj'],
  ffn_down: ['mlp.down_proj'],
  ffn_gate_inp: ['mlp.gate', 'block_sparse_moe.gate'],
  ffn_gate_shexp: ['mlp.shared_expert.gate_proj', 'mlp.shared_experts.gate_proj'],
  ffn_up_shexp: ['mlp.shared_expert.up_proj', 'mlp.shared_experts.up_proj'],
  ffn_down_shexp: ['mlp.shared_expert.down_proj', 'mlp.shared_experts.down_proj'],
  ffn_gate_inp_shexp: ['mlp.shared_expert_gate'],
};

/** Gemma 2 and 3 norm the feed-forward input and output separately. */
const GGUF_BLOCK_BY_ARCH: Record<string, Record<string, string[]>> = {
  gemma2: { ffn_norm: ['pre_feedforward_layernorm'] },
  gemma3: { ffn_norm: ['pre_feedforward_layernorm'] },
};

/** Old (per-expert) Mixtral GGUF files: `blk.N.ffn_gate.E` is expert E's w1. */
const GGUF_EXPERT: Record<string, string[]> = {
  ffn_gate: ['block_sparse_moe.experts.{e}.w1', 'mlp.experts.{e}.gate_proj'],
  ffn_down: ['block_sparse_moe.experts.{e}.w2', 'mlp.experts.{e}.down_proj'],
  ffn_up: ['block_sparse_moe.experts.{e}.w3', 'mlp.experts.{e}.up_proj'],
};

const BLOCK_RE = /^blk\.(\d+)\.([a-z0-9_]+)(?:\.(\d+))?\.(weight|bias)$/;
const GLOBAL_RE = /^([a-z0-9_]+)\.(weight|bias)$/;

/**
 * Hugging Face names a GGUF tensor name may stand for, most likely first; [] when it has none
 * (e.g. `rope_freqs.weight`, or a name of an architecture we do not map).
 */
export function ggufToHf(name: string, arch = ''): string[] {
  const b = BLOCK_RE.exec(name);
  if (b) {
    const [, layer, base, expert, kind] = b;
    if (expert !== undefined) {
      return (GGUF_EXPERT[base] ?? []).map((p) => `model.layers.${layer}.${p.replace('{e}', expert)}.${kind}`);
    }
    const list = GGUF_BLOCK_BY_ARCH[arch]?.[base] ?? GGUF_BLOCK[base] ?? [];
    return list.map((p) => `model.layers.${layer}.${p}.${kind}`);
  }
  const g = GLOBAL_RE.exec(name);
  if (g) return (GGUF_GLOBAL[g[1]] ?? []).map((p) => `${p}.${g[2]}`);
  return [];
}
