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
// 684.5B parameters as stored): one generator, scripts/deepseek-v3.cjs, which the benches, the
// mocha tests and the end-to-end harness all use.
export const { tensorsOf: deepseekTensors, configOf: deepseekConfig, makeDeepSeekV3 } = require(path.join(repo, 'scripts', 'deepseek-v3.cjs'));

/** The DeepSeek-V3 layout in .bench/deepseek-v3 (written once): its index.json. */
export const deepseekIndex = () => makeDeepSeekV3(path.join(benchDir, 'deepseek-v3'), 163);

// The Kimi-K2-Thinking layout (62 sparse shards, 208,215 tensors, routed experts in 4-bit
// compressed-tensors with their weight_shape tensors written): scripts/kimi-k2.cjs.
const { makeKimiK2 } = require(path.join(repo, 'scripts', 'kimi-k2.cjs'));

/** The Kimi-K2-Thinking layout in .bench/kimi-k2 (written once): its index.json. */
export const kimiIndex = () => makeKimiK2(path.join(benchDir, 'kimi-k2'), 62);
