// export: every export format of a synthetic 100,000-tensor checkpoint (2,000 blocks of 50
// tensors; block shapes change every 7 blocks so folding leaves ~290 runs, and the embedding is
// tied to the head by config.json). Data is a sparse hole made with ftruncate, never written.
// Reports milliseconds per format (median of 3) at the default depth (what fits a page) and,
// for svg, text and markdown, at full depth.
import * as fs from 'fs';
import * as path from 'path';
import { benchDir, core, requireOut, timeIt } from '../bench-lib.mjs';
import { writeSparseSafetensors } from '../sparse-safetensors.cjs';

const { exportAs } = requireOut('src/core/export/index.js');
const dir = path.join(benchDir, 'export-100k');

const BLOCKS = 2000;
const RUN = 7;
const VOCAB = 32000;

function blockTensors(i, d) {
  const p = `model.layers.${i}.`;
  const t = [];
  for (const x of ['q', 'k', 'v', 'o']) t.push([`${p}attn.${x}_proj.weight`, [d, d]], [`${p}attn.${x}_proj.bias`, [d]]);
  for (const x of ['q', 'k', 'v', 'o']) t.push([`${p}attn.${x}_proj.lora_A.weight`, [8, d]], [`${p}attn.${x}_proj.lora_B.weight`, [d, 8]]);
  t.push([`${p}attn.rotary.inv_freq`, [d / 2]]);
  for (const x of ['ln_1', 'ln_2']) t.push([`${p}${x}.weight`, [d]], [`${p}${x}.bias`, [d]]);
  for (let e = 0; e < 8; e++) t.push([`${p}mlp.experts.${e}.up.weight`, [2 * d, d]], [`${p}mlp.experts.${e}.down.weight`, [d, 2 * d]]);
  t.push([`${p}mlp.router.weight`, [8, d]]);
  for (const x of ['gate', 'up', 'down']) t.push([`${p}mlp.shared_expert.${x}.weight`, x === 'down' ? [d, 2 * d] : [2 * d, d]]);
  t.push([`${p}adapter.down.weight`, [16, d]], [`${p}adapter.down.bias`, [16]], [`${p}adapter.up.weight`, [d, 16]], [`${p}adapter.up.bias`, [d]]);
  t.push([`${p}ffn_norm.weight`, [d]]);
  for (let e = 0; e < 4; e++) t.push([`${p}extra.p${e}.weight`, [d]]);
  return t;
}

function build() {
  const file = path.join(dir, 'model.safetensors');
  const marker = path.join(dir, '.complete-v1');
  if (fs.existsSync(marker)) return dir;
  fs.mkdirSync(dir, { recursive: true });
  const header = {};
  let off = 0;
  let count = 0;
  const add = (name, shape) => {
    const n = 2 * shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'BF16', shape, data_offsets: [off, off + n] };
    off += n;
    count++;
  };
  add('model.embed_tokens.weight', [VOCAB, 64]);
  for (let i = 0; i < BLOCKS; i++) {
    const d = 64 + (Math.floor(i / RUN) % 2) * 32; // 64 or 96, alternating every RUN blocks
    for (const [n, s] of blockTensors(i, d)) add(n, s);
  }
  add('model.norm.weight', [64]);
  const want = 100_000;
  for (let i = 0; count < want; i++) add(`model.misc.t${i}`, [4]);
  writeSparseSafetensors(file, header, off);
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({ architectures: ['SyntheticForCausalLM'], model_type: 'synthetic', vocab_size: VOCAB, tie_word_embeddings: true }),
  );
  fs.writeFileSync(marker, `${count} tensors\n`);
  return dir;
}

const time = (fn, runs = 3) => timeIt(fn, runs);

function size(out) {
  const n = typeof out === 'string' ? Buffer.byteLength(out) : out.byteLength;
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

export default async function (report) {
  const t0 = process.hrtime.bigint();
  const input = build();
  report('build synthetic checkpoint (ms, cached after the first run)', (Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0));
  const open = await time(() => core.openCheckpoint(input), 1);
  const cp = open.last;
  report('tensors', cp.tensors.length);
  report('open + analyse (ms)', open.ms.toFixed(0));
  for (const fmt of ['svg', 'png', 'markdown', 'text', 'mermaid', 'json']) {
    const r = await time(() => exportAs(cp, fmt), fmt === 'png' ? 1 : 3);
    report(`export ${fmt}, default depth (ms)`, `${r.ms.toFixed(0)}  (${size(r.last)})`);
  }
  for (const fmt of ['svg', 'markdown', 'mermaid']) {
    const r = await time(() => exportAs(cp, fmt, { depth: 99 }), 1);
    report(`export ${fmt}, full depth (ms)`, `${r.ms.toFixed(0)}  (${size(r.last)})`);
  }
  const r = await time(() => exportAs(cp, 'svg', { depth: 99, unfold: true }), 1);
  report('export svg, full depth, unfolded (ms)', `${r.ms.toFixed(0)}  (${size(r.last)})`);
}
