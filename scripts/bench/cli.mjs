// cli: the `weightscope` command as users run it (bin/weightscope.js, the bundled dist/cli.js),
// whole processes side by side in one run (issue 11). On the DeepSeek-V3 layout (163 sparse
// shards, 91,991 tensors): text, --json (streamed to a file through stdout) with its peak memory,
// and `weightscope diff A A`; on the Kimi-K2-Thinking layout (62 shards, 208,215 tensors, int4
// compressed-tensors): text and --json; on the full-size GPT-2 pytorch_model.bin written by torch: the
// command against a Python process doing torch.load(weights_only=True), and both against
// `node -e 0`. Wall times are medians; CPU (user + system) and peak RSS come from GNU time when
// it is installed. Ratios are what to quote: the machine is shared.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { repo, benchDir, deepseekIndex, kimiIndex } from '../bench-lib.mjs';
import { build as buildGpt2Bin, hasTorch, PY } from './pytorch.mjs';

const BIN = path.join(repo, 'bin', 'weightscope.js');
const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** One whole process: wall ms, CPU ms and peak RSS (MB) when GNU time is there; stdout to `out` (a path) or discarded; `env` when not this one. */
function run(cmd, args, out, env) {
  const fd = fs.openSync(out ?? '/dev/null', 'w');
  try {
    const argv = TIME ? ['-f', '@@ %U %S %M', cmd, ...args] : args;
    const t0 = process.hrtime.bigint();
    const r = spawnSync(TIME ?? cmd, argv, { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', maxBuffer: 1 << 24, env });
    const wall = Number(process.hrtime.bigint() - t0) / 1e6;
    const m = TIME ? /@@ ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(r.stderr) : null;
    return {
      wall,
      cpu: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN,
      rssMB: m ? Number(m[3]) / 1024 : NaN,
      status: r.status,
      stderr: r.stderr,
    };
  } finally {
    fs.closeSync(fd);
  }
}

/** The run with the median wall time of `n`. */
function median(n, cmd, args, out, env) {
  const all = [];
  for (let i = 0; i < n; i++) all.push(run(cmd, args, out, env));
  all.sort((a, b) => a.wall - b.wall);
  const m = all[Math.floor(n / 2)];
  return { ...m, maxRssMB: Math.max(...all.map((r) => r.rssMB)) };
}

const ms = (x) => `${Math.round(x)} ms`;
const x = (a, b) => `${(a / b).toFixed(1)}x`;
const line = (r) => `${ms(r.wall)} wall, ${Number.isFinite(r.cpu) ? ms(r.cpu) : '?'} CPU${Number.isFinite(r.rssMB) ? `, ${Math.round(r.rssMB)} MB peak RSS` : ''}`;

export default async function (report) {
  if (!fs.existsSync(path.join(repo, 'dist', 'cli.js'))) {
    report('cli', 'skipped: dist/cli.js missing (npm run build)');
    return;
  }
  report('machine load (1-minute average) on cores', `${os.loadavg()[0].toFixed(1)} on ${os.cpus().length}`);
  const node0 = median(5, process.execPath, ['-e', '0']);
  report('node -e 0, median of 5', line(node0));
  // Node reads the certificates NODE_EXTRA_CA_CERTS names as it starts, whatever the program: an
  // environment that sets it (this sandbox does, for its proxy) adds that to every figure below.
  let bareEnv;
  if (process.env.NODE_EXTRA_CA_CERTS) {
    bareEnv = { ...process.env };
    delete bareEnv.NODE_EXTRA_CA_CERTS;
    const bare = median(5, process.execPath, ['-e', '0'], undefined, bareEnv);
    report('… without NODE_EXTRA_CA_CERTS (set here), median of 5', `${line(bare)}: the variable costs ${ms(node0.wall - bare.wall)} of every start`);
  }
  const version = median(5, process.execPath, [BIN, '--version']);
  report('weightscope --version (start-up), median of 5', `${line(version)}; ${x(version.wall, node0.wall)} node -e 0`);

  const index = deepseekIndex();
  const rel = path.relative(repo, index);
  report('DeepSeek-V3 layout', `${rel} (163 shards, 91,991 tensors)`);
  const text = median(3, process.execPath, [BIN, index]);
  report('weightscope INDEX (text), median of 3 (target <= 1.0 s)', `${line(text)}; ${x(text.wall, node0.wall)} node -e 0`);
  if (bareEnv) report('… without NODE_EXTRA_CA_CERTS, median of 3', line(median(3, process.execPath, [BIN, index], undefined, bareEnv)));
  const jsonOut = path.join(benchDir, 'cli-deepseek.json');
  const json = median(3, process.execPath, [BIN, index, '--json'], jsonOut);
  const size = fs.statSync(jsonOut).size;
  fs.rmSync(jsonOut);
  report('weightscope INDEX --json > file, median of 3 (target <= 2.5 s, <= 400 MB)', `${line(json)} (largest of 3: ${Math.round(json.maxRssMB)} MB); ${(size / 1e6).toFixed(1)} MB written; ${x(json.wall, text.wall)} text`);
  const diff = median(3, process.execPath, [BIN, 'diff', index, index]);
  report('weightscope diff INDEX INDEX, median of 3 (target < 2 s)', `${line(diff)} (exit ${diff.status}: 0 = equal); ${x(diff.wall, text.wall)} text`);

  // More tensors than any target names: 2.3x DeepSeek-V3's, 69,120 of them packed int4 layers
  // whose weight_shape contents are read. No target; it shows how the command scales.
  const kimi = kimiIndex();
  report('Kimi-K2-Thinking layout', `${path.relative(repo, kimi)} (62 shards, 208,215 tensors, int4 compressed-tensors)`);
  const kimiText = median(3, process.execPath, [BIN, kimi]);
  report('weightscope KIMI (text), median of 3', `${line(kimiText)}; ${x(kimiText.wall, text.wall)} DeepSeek-V3's text`);
  const kimiOut = path.join(benchDir, 'cli-kimi.json');
  const kimiJson = median(3, process.execPath, [BIN, kimi, '--json'], kimiOut);
  const kimiSize = fs.statSync(kimiOut).size;
  fs.rmSync(kimiOut);
  report('weightscope KIMI --json > file, median of 3', `${line(kimiJson)} (largest of 3: ${Math.round(kimiJson.maxRssMB)} MB); ${(kimiSize / 1e6).toFixed(1)} MB written`);

  if (!hasTorch()) {
    report('GPT-2 .bin vs torch.load', `skipped: ${PY} cannot import torch`);
    return;
  }
  buildGpt2Bin(report);
  const bin = path.join(benchDir, 'pytorch', 'gpt2-124m-tied.bin');
  // Both read the file once first, so both find it in the page cache.
  run(process.execPath, [BIN, bin]);
  const load = `import torch; sd = torch.load(${JSON.stringify(bin)}, map_location='cpu', weights_only=True); print(sum(t.numel() for t in sd.values()))`;
  const torchRun = median(3, PY, ['-c', load]);
  const importTorch = median(3, PY, ['-c', 'import torch']);
  const ours = median(5, process.execPath, [BIN, bin]);
  report('GPT-2 124M pytorch_model.bin (510 MB): weightscope FILE, median of 5', `${line(ours)}; ${x(ours.wall, node0.wall)} node -e 0`);
  report('… python3 -c "torch.load(FILE, weights_only=True)", median of 3', `${line(torchRun)} (import torch alone: ${ms(importTorch.wall)})`);
  report('… weightscope faster than torch.load, whole processes (target >= 20x)', `${x(torchRun.wall, ours.wall)} wall, ${x(torchRun.cpu, ours.cpu)} CPU`);
  if (bareEnv) {
    const bare = median(5, process.execPath, [BIN, bin], undefined, bareEnv);
    report('… weightscope without NODE_EXTRA_CA_CERTS, median of 5', `${line(bare)}; ${x(torchRun.wall, bare.wall)} faster than torch.load (wall)`);
  }
}
