// The Kimi-K2-Thinking checkpoint layout: DeepSeek-V3's architecture (61 decoder layers, the first
// dense, 60 mixture-of-experts layers of 384 routed experts and one shared expert) with its routed
// experts quantized to 4 bits by compressed-tensors (`pack-quantized`, symmetric, groups of 32):
// each expert projection is `weight_packed` (int32, 8 values a word), `weight_scale` (bf16, one
// per group) and `weight_shape` (int64 [2], the real [out, in]); attention, the shared experts,
// the dense layer and the head stay bf16. 208,215 tensors for 1.03T parameters, the most tensors
// of any layout the benches open. Within each shard the tensors are in the order the safetensors
// writer puts them (by dtype, widest first, then by name), so a shard's `weight_shape` tensors sit
// together at the start of its data, as in the real files. `makeKimiK2(dir)` writes 62 sparse
// shards (real headers, data regions never written: ~45 MB on disk) with the index and a
// config.json carrying the real quantization_config; `tensorsOf({ experts })` gives the list and
// `parametersOf({ experts })` the unquantized model's parameter count.
'use strict';
const { writeSparseShardSet } = require('./sparse-safetensors.cjs');

const H = 7168, I = 18432, MI = 2048, V = 163840, QL = 1536, KVL = 512, NH = 64, QK_NOPE = 128, QK_ROPE = 64, VD = 128;
const LAYERS = 61, DENSE = 1, GROUP = 32;
/** The safetensors writer's dtype order (it sorts by dtype, descending, then by name). */
const DTYPE_ORDER = ['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64'];

/** [name, safetensors dtype, shape, parameters of the unquantized model] for every tensor, in index order. */
function entriesOf({ experts = 384 } = {}) {
  const out = [];
  const bf = (name, shape) => out.push([name, 'BF16', shape, shape.reduce((a, b) => a * b, 1)]);
  const int4 = (name, rows, cols) => {
    out.push([`${name}.weight_packed`, 'I32', [rows, cols / 8], rows * cols]);
    out.push([`${name}.weight_scale`, 'BF16', [rows, cols / GROUP], 0]);
    out.push([`${name}.weight_shape`, 'I64', [2], 0]);
  };
  bf('model.embed_tokens.weight', [V, H]);
  for (let L = 0; L < LAYERS; L++) {
    const p = `model.layers.${L}`;
    bf(`${p}.input_layernorm.weight`, [H]);
    bf(`${p}.post_attention_layernorm.weight`, [H]);
    bf(`${p}.self_attn.q_a_proj.weight`, [QL, H]);
    bf(`${p}.self_attn.q_a_layernorm.weight`, [QL]);
    bf(`${p}.self_attn.q_b_proj.weight`, [NH * (QK_NOPE + QK_ROPE), QL]);
    bf(`${p}.self_attn.kv_a_proj_with_mqa.weight`, [KVL + QK_ROPE, H]);
    bf(`${p}.self_attn.kv_a_layernorm.weight`, [KVL]);
    bf(`${p}.self_attn.kv_b_proj.weight`, [NH * (QK_NOPE + VD), KVL]);
    bf(`${p}.self_attn.o_proj.weight`, [H, NH * VD]);
    if (L < DENSE) {
      bf(`${p}.mlp.gate_proj.weight`, [I, H]);
      bf(`${p}.mlp.up_proj.weight`, [I, H]);
      bf(`${p}.mlp.down_proj.weight`, [H, I]);
    } else {
      bf(`${p}.mlp.gate.weight`, [experts, H]);
      out.push([`${p}.mlp.gate.e_score_correction_bias`, 'F32', [experts], experts]);
      for (let e = 0; e < experts; e++) {
        int4(`${p}.mlp.experts.${e}.gate_proj`, MI, H);
        int4(`${p}.mlp.experts.${e}.up_proj`, MI, H);
        int4(`${p}.mlp.experts.${e}.down_proj`, H, MI);
      }
      bf(`${p}.mlp.shared_experts.gate_proj.weight`, [MI, H]);
      bf(`${p}.mlp.shared_experts.up_proj.weight`, [MI, H]);
      bf(`${p}.mlp.shared_experts.down_proj.weight`, [H, MI]);
    }
  }
  bf('model.norm.weight', [H]);
  bf('lm_head.weight', [V, H]);
  return out;
}

/** [name, safetensors dtype, shape] for every tensor, in the order the index lists them. */
const tensorsOf = (opts) => entriesOf(opts).map(([n, dt, shape]) => [n, dt, shape]);
/** The unquantized model's parameters (each packed weight counts its real [out, in]). */
const parametersOf = (opts) => entriesOf(opts).reduce((a, e) => a + e[3], 0);

/** The config.json fields Weightscope reads, with Kimi-K2-Thinking's quantization_config. */
function configOf({ experts = 384 } = {}) {
  return {
    architectures: ['DeepseekV3ForCausalLM'], model_type: 'kimi_k2', hidden_size: H, intermediate_size: I, moe_intermediate_size: MI,
    n_routed_experts: experts, n_shared_experts: 1, num_hidden_layers: LAYERS, first_k_dense_replace: DENSE, vocab_size: V, tie_word_embeddings: false,
    num_attention_heads: NH, q_lora_rank: QL, kv_lora_rank: KVL, rms_norm_eps: 1e-6,
    quantization_config: {
      config_groups: {
        group_0: {
          input_activations: null, output_activations: null, targets: ['Linear'],
          weights: { actorder: null, block_structure: null, dynamic: false, group_size: GROUP, num_bits: 4, observer: 'minmax', observer_kwargs: {}, strategy: 'group', symmetric: true, type: 'int' },
        },
      },
      format: 'pack-quantized', ignore: ['lm_head', 're:.*self_attn.*', 're:.*shared_experts.*', 're:.*mlp\\.(gate|up|gate_up|down)_proj.*'],
      kv_cache_scheme: null, quant_method: 'compressed-tensors', quantization_status: 'compressed',
    },
  };
}

/** Write the layout as `shards` sparse safetensors files in `dir` (kept if its index exists); returns the index's path. */
function makeKimiK2(dir, shards = 62, opts = {}) {
  const all = tensorsOf(opts);
  const shapeOf = new Map(all.map(([n, , shape]) => [n, shape]));
  const byWriterOrder = (a, b) => DTYPE_ORDER.indexOf(b[1]) - DTYPE_ORDER.indexOf(a[1]) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  // weight_shape's 16 bytes hold the real [out, in]: written, since Weightscope reads them.
  const contents = (name) => (name.endsWith('.weight_shape') ? realShape(shapeOf.get(name.replace(/weight_shape$/, 'weight_packed'))) : undefined);
  return writeSparseShardSet(dir, all, shards, configOf(opts), { order: byWriterOrder, contents });
}

/** The int64 pair a weight_shape tensor holds: its packed weight's [rows, words x 8]. */
function realShape([rows, words]) {
  const b = Buffer.alloc(16);
  b.writeBigInt64LE(BigInt(rows), 0);
  b.writeBigInt64LE(BigInt(words * 8), 8);
  return b;
}

module.exports = { tensorsOf, parametersOf, configOf, makeKimiK2 };

if (require.main === module) {
  if (!process.argv[2]) {
    console.error('usage: node scripts/kimi-k2.cjs DIR [SHARDS]');
    process.exit(2);
  }
  console.log(makeKimiK2(process.argv[2], Number(process.argv[3] ?? 62)), tensorsOf().length, 'tensors', parametersOf(), 'parameters');
}
