// pytorch: a full-size GPT-2 (124M) pytorch_model.bin written by real torch (Debian's
// /usr/bin/python3), opened by Weightscope and by torch.load side by side. Reports the bytes read
// to open it (target <= 1 MB), both times (median of runs after a warm-up, file in page cache)
// and their ratio (target >= 20x), the first open in a fresh process (no JIT warm-up) for
// comparison, and the parameter counts: 124,439,808 for the tied model and
// 163,037,184 with the head replaced by an untied Linear. Skipped when torch is not available.
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { repo, benchDir, core } from '../bench-lib.mjs';

const dir = path.join(benchDir, 'pytorch');
export const PY = '/usr/bin/python3';

const MAKE = `
import os, sys
sys.path.insert(0, ${JSON.stringify(path.join(repo, 'scripts', 'fixtures'))})
import torch, torch.nn as nn
import make_pytorch as m
out = sys.argv[1]
cfg = m.Config(vocab=50257, positions=1024, embd=768, layers=12, heads=12)
model = m.GPT2LMHeadModel(cfg, tie=True).eval()
torch.save(model.state_dict(), os.path.join(out, 'gpt2-124m-tied.bin'))
model.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
torch.save(model.state_dict(), os.path.join(out, 'gpt2-124m-replaced-head.bin'))
`;

const TIME_LOAD = `
import json, sys, time, torch
p, runs = sys.argv[1], int(sys.argv[2])
torch.load(p, map_location='cpu')
ts = []
for _ in range(runs):
    t0 = time.perf_counter()
    sd = torch.load(p, map_location='cpu')
    ts.append(time.perf_counter() - t0)
    del sd
ts.sort()
print(json.dumps({'median_ms': ts[len(ts) // 2] * 1000}))
`;

export function hasTorch() {
  if (!fs.existsSync(PY)) return false;
  return spawnSync(PY, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

export function build(report) {
  const marker = path.join(dir, '.complete-v1');
  if (fs.existsSync(marker)) return;
  fs.mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  const r = spawnSync(PY, ['-c', MAKE, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`writing GPT-2 with torch failed:\n${r.stderr}`);
  fs.writeFileSync(marker, 'ok\n');
  report('wrote full-size GPT-2 files with torch (s)', ((Date.now() - t0) / 1000).toFixed(1));
}

/** The first open in a fresh Node process (modules loaded, nothing JIT-compiled yet). */
function timeColdOpen(p) {
  const js = `const core = require(${JSON.stringify(path.join(repo, 'out', 'src', 'core', 'index.js'))});
const t0 = process.hrtime.bigint();
core.openCheckpoint(${JSON.stringify(p)}).then(() => console.log(Number(process.hrtime.bigint() - t0) / 1e6));`;
  const r = spawnSync(process.execPath, ['-e', js], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout.trim());
}

async function timeOpen(p, runs) {
  const times = [];
  let cp;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    cp = await core.openCheckpoint(p);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], cp };
}

function timeTorchLoad(p, runs) {
  const r = spawnSync(PY, ['-c', TIME_LOAD, p, String(runs)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`torch.load failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()).median_ms;
}

const fmt = (n) => n.toLocaleString('en-US');

export default async function (report) {
  if (!hasTorch()) {
    report('pytorch', `skipped: ${PY} cannot import torch`);
    return;
  }
  build(report);
  // Warm-up (the JIT), as torch.load below is warmed up too: both files, so order does not matter.
  for (let i = 0; i < 20; i++) {
    await core.openCheckpoint(path.join(dir, 'gpt2-124m-tied.bin'));
    await core.openCheckpoint(path.join(dir, 'gpt2-124m-replaced-head.bin'));
  }
  for (const [name, expected] of [
    ['gpt2-124m-tied.bin', 124_439_808],
    ['gpt2-124m-replaced-head.bin', 163_037_184],
  ]) {
    const p = path.join(dir, name);
    const size = fs.statSync(p).size;
    const cold = [timeColdOpen(p), timeColdOpen(p), timeColdOpen(p)].sort((a, b) => a - b)[1];
    const ours = await timeOpen(p, 21);
    const torchMs = timeTorchLoad(p, 5);
    const cp = ours.cp;
    report(`${name}: file size (bytes)`, fmt(size));
    report(`${name}: bytes read to open (target <= 1,048,576)`, fmt(cp.bytesRead));
    report(`${name}: open + analyze, warm, median of 21 (ms)`, ours.ms.toFixed(2));
    report(`${name}: torch.load, warm, median of 5 (ms)`, torchMs.toFixed(1));
    report(`${name}: speed-up vs torch.load (target >= 20x)`, `${(torchMs / ours.ms).toFixed(0)}x`);
    report(`${name}: first open in a fresh process, median of 3 (ms)`, `${cold.toFixed(1)} (${(torchMs / cold).toFixed(0)}x torch.load)`);
    report(`${name}: parameters (unique)`, `${fmt(cp.parameters.unique)}${cp.parameters.unique === expected ? '' : `  MISMATCH, expected ${fmt(expected)}`}`);
  }
}
