// The DeepSeek-V3 checkpoint layout (issue 11's frontier-scale model): 61 decoder layers (3 dense,
// 58 mixture-of-experts with 256 routed experts and one shared expert), one multi-token
// prediction layer, FP8 (e4m3) weights with 128x128 block scales: 91,991 tensors, 684.5B
// parameters as stored. `makeDeepSeekV3(dir)` writes it as 163 sparse safetensors shards (real
// headers, data regions of the real size that are never written: ~20 MB on disk, 684 GB
// apparent) with its index and config.json. `tensorsOf({ experts })` gives the tensor list alone
// (tests use fewer experts: same structure, quicker). CommonJS, so the benches (ESM), the e2e
// harness and the mocha tests (compiled TypeScript) all load it.
'use strict';
const { writeSparseShardSet } = require('./sparse-safetensors.cjs');

const H = 7168, I = 18432, MI = 2048, V = 129280, QL = 1536, KVL = 512, NH = 128, QK_NOPE = 128, QK_ROPE = 64, VD = 128;
const LAYERS = 61, DENSE = 3;
const blocks = (n) => Math.ceil(n / 128);

/** [name, safetensors dtype, shape] for every tensor, in the order the real index lists them. */
function tensorsOf({ experts = 256 } = {}) {
  const out = [];
  const fp8 = (name, rows, cols) => {
    out.push([`${name}.weight`, 'F8_E4M3', [rows, cols]]);
    out.push([`${name}.weight_scale_inv`, 'F32', [blocks(rows), blocks(cols)]]);
  };
  const bf = (name, shape) => out.push([name, 'BF16', shape]);
  const layer = (L, mtp) => {
    const p = `model.layers.${L}`;
    if (mtp) {
      bf(`${p}.embed_tokens.weight`, [V, H]);
      bf(`${p}.enorm.weight`, [H]);
      bf(`${p}.hnorm.weight`, [H]);
      bf(`${p}.eh_proj.weight`, [H, 2 * H]);
      bf(`${p}.shared_head.norm.weight`, [H]);
      bf(`${p}.shared_head.head.weight`, [V, H]);
    }
    bf(`${p}.input_layernorm.weight`, [H]);
    bf(`${p}.post_attention_layernorm.weight`, [H]);
    fp8(`${p}.self_attn.q_a_proj`, QL, H);
    bf(`${p}.self_attn.q_a_layernorm.weight`, [QL]);
    fp8(`${p}.self_attn.q_b_proj`, NH * (QK_NOPE + QK_ROPE), QL);
    fp8(`${p}.self_attn.kv_a_proj_with_mqa`, KVL + QK_ROPE, H);
    bf(`${p}.self_attn.kv_a_layernorm.weight`, [KVL]);
    fp8(`${p}.self_attn.kv_b_proj`, NH * (QK_NOPE + VD), KVL);
    fp8(`${p}.self_attn.o_proj`, H, NH * VD);
    if (L < DENSE) {
      fp8(`${p}.mlp.gate_proj`, I, H);
      fp8(`${p}.mlp.up_proj`, I, H);
      fp8(`${p}.mlp.down_proj`, H, I);
    } else {
      bf(`${p}.mlp.gate.weight`, [experts, H]);
      out.push([`${p}.mlp.gate.e_score_correction_bias`, 'F32', [experts]]);
      for (let e = 0; e < experts; e++) {
        fp8(`${p}.mlp.experts.${e}.gate_proj`, MI, H);
        fp8(`${p}.mlp.experts.${e}.up_proj`, MI, H);
        fp8(`${p}.mlp.experts.${e}.down_proj`, H, MI);
      }
      fp8(`${p}.mlp.shared_experts.gate_proj`, MI, H);
      fp8(`${p}.mlp.shared_experts.up_proj`, MI, H);
      fp8(`${p}.mlp.shared_experts.down_proj`, H, MI);
    }
  };
  bf('model.embed_tokens.weight', [V, H]);
  for (let L = 0; L <= LAYERS; L++) layer(L, L === LAYERS);
  bf('model.norm.weight', [H]);
  bf('lm_head.weight', [V, H]);
  return out;
}

/** The config.json DeepSeek-V3 ships (the fields Weightscope reads, and the model's shape). */
function configOf({ experts = 256 } = {}) {
  return {
    architectures: ['DeepseekV3ForCausalLM'], model_type: 'deepseek_v3', hidden_size: H, intermediate_size: I, moe_intermediate_size: MI,
    n_routed_experts: experts, n_shared_experts: 1, num_hidden_layers: LAYERS, first_k_dense_replace: DENSE, vocab_size: V, tie_word_embeddings: false,
    q_lora_rank: QL, kv_lora_rank: KVL, num_attention_heads: NH, qk_nope_head_dim: QK_NOPE, qk_rope_head_dim: QK_ROPE, v_head_dim: VD,
    num_nextn_predict_layers: 1, rms_norm_eps: 1e-6,
    quantization_config: { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [128, 128] },
  };
}

/**
 * Write the layout as `shards` sparse safetensors files in `dir` (kept if its index exists);
 * returns the index's path.
 */
function makeDeepSeekV3(dir, shards = 163, opts = {}) {
  return writeSparseShardSet(dir, tensorsOf(opts), shards, configOf(opts));
}

module.exports = { tensorsOf, configOf, makeDeepSeekV3 };

if (require.main === module) {
  if (!process.argv[2]) {
    console.error('usage: node scripts/deepseek-v3.cjs DIR [SHARDS]');
    process.exit(2);
  }
  console.log(makeDeepSeekV3(process.argv[2], Number(process.argv[3] ?? 163)), tensorsOf().length, 'tensors');
}
