// diff: comparing two checkpoints. A DeepSeek-V3-like layout (163 shards, 91,991 tensors, FP8
// weights with their block scales, 671B parameters; sparse files, never read) compared with
// itself: both opened and compared, the way `weightscope diff A A` runs. Then the full-size
// GPT-2 tied vs replaced head, the seed question (+38,597,376 parameters, tie lost).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { repo, benchDir, core, requireOut } from '../bench-lib.mjs';
import { makeWide } from './safetensors.mjs';

const diff = requireOut('src/core/diff/index.js');

const ST_BYTES = { F8_E4M3: 1, BF16: 2, F32: 4 };

/** DeepSeek-V3's tensors (names, shapes, dtypes as its safetensors files have them), in file order. */
function deepseekTensors() {
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
function makeDeepseek(dir, shards) {
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

/** The committed GPT-2 124M header followed by a sparse data region of the real size. */
function gpt2(name) {
  const truth = JSON.parse(fs.readFileSync(path.join(repo, 'test/fixtures/safetensors/ground-truth.json'), 'utf8'))[name];
  const dir = path.join(benchDir, `diff-${name}`);
  const file = path.join(dir, 'model.safetensors');
  fs.mkdirSync(dir, { recursive: true });
  const header = fs.readFileSync(path.join(repo, `test/fixtures/safetensors/${name}/model.safetensors.header`));
  if (!fs.existsSync(file) || fs.statSync(file).size !== header.length + truth.dataSize) {
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, header);
    fs.ftruncateSync(fd, header.length + truth.dataSize);
    fs.closeSync(fd);
  }
  fs.copyFileSync(path.join(repo, `test/fixtures/safetensors/${name}/config.json`), path.join(dir, 'config.json'));
  return dir;
}

const ms = (x) => `${x.toFixed(0)} ms`;

/** Wall time and CPU time (user + system, this process) of one call, in ms. */
async function timed(fn) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const last = await fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000, last };
}

/** The run with the median wall time of `runs`. */
async function median(fn, runs) {
  const all = [];
  for (let i = 0; i < runs; i++) all.push(await timed(fn));
  all.sort((x, y) => x.wall - y.wall);
  return all[Math.floor(runs / 2)];
}

const both = (t) => `${ms(t.wall)} wall, ${ms(t.cpu)} CPU`;

export default async function (report) {
  const index = makeDeepseek(path.join(benchDir, 'deepseek-v3-163'), 163);
  report('machine load (1-minute average, cores)', `${os.loadavg()[0].toFixed(1)}, ${os.cpus().length}`);
  // Calibration: the safetensors section's 100,000-tensor file (README: 1.2 s on a quiet machine).
  const wide = await timed(() => core.openCheckpoint(makeWide(benchDir, 100_000)));
  report('reference: 100,000-tensor checkpoint, open + analyse', both(wide));
  // Both sides opened as `weightscope diff A A` opens them (two independent opens), then compared.
  const openA = await timed(() => core.openCheckpoint(index));
  const openB = await timed(() => core.openCheckpoint(index));
  const a = openA.last;
  const cmp = await median(() => diff.compareStructure(a, openB.last), 3);
  const d = cmp.last;
  report('DeepSeek-V3 layout: shards / tensors / parameters', `${a.files.filter((f) => f.endsWith('.safetensors')).length} / ${a.tensors.length.toLocaleString('en')} / ${(a.parameters.unique / 1e9).toFixed(1)}B`);
  report('… open + analyse side a', both(openA));
  report('… open + analyse side b', both(openB));
  report('… compare the two (the diff itself), median of 3', `${both(cmp)} (${((100 * cmp.wall) / Math.min(openA.wall, openB.wall)).toFixed(0)}% of opening one side)`);
  report('… open both + compare (target < 2,000 ms)', `${ms(openA.wall + openB.wall + cmp.wall)} wall, ${ms(openA.cpu + openB.cpu + cmp.cpu)} CPU`);
  report('… verdict', d.equal ? `equal (${d.pairs.length.toLocaleString('en')} tensor pairs)` : `DIFFERENT: ${d.reasons.join(', ')}`);
  const text = await timed(() => diff.renderDiffText(d));
  report('… text rendering', `${text.last.split('\n').length} lines, ${both(text)}`);
  const json = await timed(() => JSON.stringify(diff.toDiffReport(d)));
  report('… schema-1 diff JSON', `${(json.last.length / 1e6).toFixed(1)} MB, ${both(json)}`);
  // The whole command in a fresh process, as a user runs it.
  const cli = path.join(repo, 'out', 'src', 'cli', 'main.js');
  const t2 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [cli, 'diff', index, index], { encoding: 'utf8', maxBuffer: 1 << 26 });
  report('… `weightscope diff A A` in a fresh process', `${ms(Number(process.hrtime.bigint() - t2) / 1e6)} wall (exit ${r.status})`);

  const tied = gpt2('gpt2-124m');
  const untied = gpt2('gpt2-124m-untied');
  const seed = await median(async () => diff.compareStructure(await core.openCheckpoint(tied), await core.openCheckpoint(untied)), 5);
  const s = seed.last;
  report('GPT-2 124M tied vs replaced head: open both + compare, median of 5', both(seed));
  report('… unique parameters a → b', `${s.a.parameters.unique.toLocaleString('en')} → ${s.b.parameters.unique.toLocaleString('en')} (+${(s.b.parameters.unique - s.a.parameters.unique).toLocaleString('en')})`);
  report('… ties lost', s.shared.lost.map((t) => t.tensors.join(' = ')).join('; ') || 'none');
}
