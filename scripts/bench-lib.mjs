// Shared helpers for the benchmark sections in scripts/bench/ (not a section itself).
import * as fs from 'fs';
import * as path from 'path';
import { createRequire } from 'module';
import { execSync } from 'child_process';

const require = createRequire(import.meta.url);
export const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
export const benchDir = path.join(repo, '.bench');
/** The compiled core (npm run build:test). */
export const core = require(path.join(repo, 'out', 'src', 'core', 'index.js'));
export const requireOut = (rel) => require(path.join(repo, 'out', rel));

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median wall time in ms of `runs` calls, and the last result. */
export async function timeIt(fn, runs = 3) {
  const times = [];
  let last;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    last = await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms: median(times), last };
}

/** Read a whole file once in 16 MiB chunks; returns the bytes read. */
export function readWhole(file) {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(16 << 20);
  let total = 0;
  let n;
  while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) total += n;
  fs.closeSync(fd);
  return total;
}

/** Drop the page cache for cold-cache figures; false where that needs privileges we lack. */
export function dropCaches() {
  try {
    execSync('sync');
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
    return true;
  } catch {
    return false;
  }
}

// The DeepSeek-V3 layout (163 sparse shards, 91,991 tensors, FP8 weights with their block scales,
// 671B parameters): the frontier-scale model every section that needs one shares.

const ST_BYTES = { F8_E4M3: 1, BF16: 2, F32: 4 };

/** DeepSeek-V3's tensors (names, shapes, dtypes as its safetensors files have them), in file order. */
export function deepseekTensors() {
  const H = 7168;
  const V = 129280;
  const out = [];
  const fp8 = (name, shape) => {
    out.push([`${name}.weight`, 'F8_E4M3', shape]);
    out.push([`${name}.weight_scale_inv`, 'F32', shape.map((d) => Math.ceil(d / 128))]);
  };
  const norm = (name, d) => out.push([`${name}.weight`, 'BF16', [d]]);
  const layer = (p, moe) => {
    norm(`${p}.input_layernorm`, H);
    fp8(`${p}.self_attn.q_a_proj`, [1536, H]);
    norm(`${p}.self_attn.q_a_layernorm`, 1536);
    fp8(`${p}.self_attn.q_b_proj`, [128 * 192, 1536]);
    fp8(`${p}.self_attn.kv_a_proj_with_mqa`, [576, H]);
    norm(`${p}.self_attn.kv_a_layernorm`, 512);
    fp8(`${p}.self_attn.kv_b_proj`, [128 * 256, 512]);
    fp8(`${p}.self_attn.o_proj`, [H, 128 * 128]);
    norm(`${p}.post_attention_layernorm`, H);
    if (!moe) {
      fp8(`${p}.mlp.gate_proj`, [18432, H]);
      fp8(`${p}.mlp.up_proj`, [18432, H]);
      fp8(`${p}.mlp.down_proj`, [H, 18432]);
      return;
    }
    out.push([`${p}.mlp.gate.weight`, 'BF16', [256, H]]);
    out.push([`${p}.mlp.gate.e_score_correction_bias`, 'F32', [256]]);
    for (let e = 0; e < 256; e++) {
      fp8(`${p}.mlp.experts.${e}.gate_proj`, [2048, H]);
      fp8(`${p}.mlp.experts.${e}.up_proj`, [2048, H]);
      fp8(`${p}.mlp.experts.${e}.down_proj`, [H, 2048]);
    }
    fp8(`${p}.mlp.shared_experts.gate_proj`, [2048, H]);
    fp8(`${p}.mlp.shared_experts.up_proj`, [2048, H]);
    fp8(`${p}.mlp.shared_experts.down_proj`, [H, 2048]);
  };
  out.push(['model.embed_tokens.weight', 'BF16', [V, H]]);
  for (let i = 0; i < 61; i++) layer(`model.layers.${i}`, i >= 3);
  // The multi-token-prediction module is stored as layer 61.
  const mtp = 'model.layers.61';
  out.push([`${mtp}.embed_tokens.weight`, 'BF16', [V, H]]);
  norm(`${mtp}.enorm`, H);
  norm(`${mtp}.hnorm`, H);
  out.push([`${mtp}.eh_proj.weight`, 'BF16', [H, 2 * H]]);
  layer(mtp, true);
  norm(`${mtp}.shared_head.norm`, H);
  out.push([`${mtp}.shared_head.head.weight`, 'BF16', [V, H]]);
  out.push(['model.norm.weight', 'BF16', [H]]);
  out.push(['lm_head.weight', 'BF16', [V, H]]);
  return out;
}

/** Write the layout as `shards` safetensors files (headers only, sparse data) and an index. */
export function makeDeepseek(dir, shards) {
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(index)) return index;
  fs.mkdirSync(dir, { recursive: true });
  const tensors = deepseekTensors();
  const bytesOf = ([, dt, shape]) => shape.reduce((a, b) => a * b, 1) * ST_BYTES[dt];
  const total = tensors.reduce((s, t) => s + bytesOf(t), 0);
  const per = total / shards;
  const weightMap = {};
  let i = 0;
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(6, '0')}.safetensors`;
    const header = { __metadata__: { format: 'pt' } };
    let off = 0;
    // Fill each shard up to its share of the bytes; the last takes what is left.
    while (i < tensors.length && (s === shards - 1 || off < per || off === 0)) {
      const t = tensors[i++];
      const n = bytesOf(t);
      header[t[0]] = { dtype: t[1], shape: t[2], data_offsets: [off, off + n] };
      weightMap[t[0]] = file;
      off += n;
    }
    let h = JSON.stringify(header);
    while (h.length % 8) h += ' ';
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    const fd = fs.openSync(path.join(dir, file), 'w');
    fs.writeSync(fd, len);
    fs.writeSync(fd, h);
    fs.ftruncateSync(fd, 8 + h.length + off);
    fs.closeSync(fd);
  }
  if (i !== tensors.length) throw new Error(`layout: ${tensors.length - i} tensors left over`);
  fs.writeFileSync(index, JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ architectures: ['DeepseekV3ForCausalLM'], model_type: 'deepseek_v3', hidden_size: 7168, vocab_size: 129280, num_hidden_layers: 61, tie_word_embeddings: false }));
  return index;
}

/** The DeepSeek-V3 layout in .bench/deepseek-v3-163 (written once): its index.json. */
export const deepseekIndex = () => makeDeepseek(path.join(benchDir, 'deepseek-v3-163'), 163);
