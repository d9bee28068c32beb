// diff: comparing two checkpoints. A DeepSeek-V3-like layout (163 shards, 91,991 tensors, FP8
// weights with their block scales, 684.5B parameters; sparse files, never read) compared with
// itself: both opened and compared, the way `weightscope diff A A` runs. Then the full-size
// GPT-2 tied vs replaced head, the seed question (+38,597,376 parameters, tie lost).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { repo, benchDir, core, requireOut, deepseekIndex } from '../bench-lib.mjs';
import { makeWide } from './safetensors.mjs';

const diff = requireOut('src/core/diff/index.js');

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
  const index = deepseekIndex();
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
