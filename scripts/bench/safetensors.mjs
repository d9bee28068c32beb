// safetensors: opening a full-size GPT-2 (124M, ~500 MB) reads only its header.
// Reports bytes read and the time to open it next to the time to read the whole file once,
// plus the time to open and analyse a synthetic 100,000-tensor checkpoint.
import * as fs from 'fs';
import * as path from 'path';
import { repo, benchDir, core, timeIt, readWhole, dropCaches } from '../bench-lib.mjs';
import { writeSparseSafetensors } from '../sparse-safetensors.cjs';



/** The committed GPT-2 header followed by `dataSize` bytes of real (pseudo-random) data. */
function makeGpt2(dir) {
  const truth = JSON.parse(fs.readFileSync(path.join(repo, 'test/fixtures/safetensors/ground-truth.json'), 'utf8'))['gpt2-124m'];
  const file = path.join(dir, 'model.safetensors');
  const header = fs.readFileSync(path.join(repo, 'test/fixtures/safetensors/gpt2-124m/model.safetensors.header'));
  const want = header.length + truth.dataSize;
  if (fs.existsSync(file) && fs.statSync(file).size === want) return file;
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(repo, 'test/fixtures/safetensors/gpt2-124m/config.json'), path.join(dir, 'config.json'));
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, header);
  const chunk = Buffer.alloc(16 << 20);
  let x = 0x12345678;
  for (let i = 0; i < chunk.length; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    chunk.writeInt32LE(x | 0, i);
  }
  let left = truth.dataSize;
  while (left > 0) {
    const n = Math.min(left, chunk.length);
    fs.writeSync(fd, chunk, 0, n);
    left -= n;
  }
  fs.closeSync(fd);
  return file;
}



/** A synthetic checkpoint with `n` tensors in blocks of 50 (header only; sparse data). */
export function makeWide(dir, n) {
  const file = path.join(dir, `wide-${n}.safetensors`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(dir, { recursive: true });
  const header = {};
  let off = 0;
  for (let i = 0; i < n; i++) {
    const block = Math.floor(i / 50);
    const shape = i % 50 === 0 ? [64, 64] : [64];
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[`model.layers.${block}.sub${(i % 50) % 7}.t${i % 50}.weight`] = { dtype: 'F32', shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  writeSparseSafetensors(file, header, off);
  return file;
}

/** A sharded checkpoint: `shards` files of 20 bf16 [4096, 4096] tensors each (sparse data). */
export function makeSharded(dir, shards) {
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(index)) return index;
  fs.mkdirSync(dir, { recursive: true });
  const weightMap = {};
  let total = 0;
  for (let i = 0; i < shards; i++) {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const header = {};
    let off = 0;
    for (let j = 0; j < 20; j++) {
      const name = `model.layers.${i}.w${j}.weight`;
      header[name] = { dtype: 'BF16', shape: [4096, 4096], data_offsets: [off, off + 4096 * 4096 * 2] };
      off += 4096 * 4096 * 2;
      weightMap[name] = file;
    }
    total += off;
    writeSparseSafetensors(path.join(dir, file), header, off);
  }
  fs.writeFileSync(index, JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  return index;
}

export default async function (report) {
  const file = makeGpt2(path.join(benchDir, 'gpt2-124m'));
  const size = fs.statSync(file).size;
  report('GPT-2 124M safetensors file size', `${(size / 1e6).toFixed(1)} MB`);
  const open = await timeIt(() => core.openCheckpoint(file), 7);
  const cp = open.last;
  report('parameters (unique / total)', `${cp.parameters.unique.toLocaleString('en')} / ${cp.parameters.total.toLocaleString('en')}`);
  report('bytes read to open (target <= 1 MB)', `${cp.bytesRead.toLocaleString('en')} (${((100 * cp.bytesRead) / size).toFixed(4)}% of the file)`);
  report('open + analyse, median of 7', `${open.ms.toFixed(1)} ms`);
  const whole = await timeIt(() => readWhole(file), 3);
  report('read the whole file once (page cache warm), median of 3', `${whole.ms.toFixed(1)} ms`);
  report('ratio: reading the file / opening it (warm)', `${(whole.ms / open.ms).toFixed(1)}x`);
  // Cold cache: what a user sees the first time they open a file. Needs root (drop_caches).
  if (dropCaches()) {
    const coldOpen = await timeIt(() => core.openCheckpoint(file), 1);
    dropCaches();
    const coldRead = await timeIt(() => readWhole(file), 1);
    report('cold cache: open + analyse', `${coldOpen.ms.toFixed(1)} ms`);
    report('cold cache: read the whole file once', `${coldRead.ms.toFixed(1)} ms`);
    report('ratio: reading the file / opening it (cold)', `${(coldRead.ms / coldOpen.ms).toFixed(1)}x`);
  } else {
    report('cold cache figures', 'skipped (dropping the page cache needs root)');
  }

  const sharded = makeSharded(path.join(benchDir, 'sharded-300'), 300);
  const sh = await timeIt(() => core.openCheckpoint(sharded), 3);
  report('300 shards, 201 GB (sparse): open + analyse, median of 3', `${sh.ms.toFixed(0)} ms, ${sh.last.bytesRead.toLocaleString('en')} bytes read, ${(sh.last.parameters.unique / 1e9).toFixed(1)}B parameters`);

  const wide = makeWide(benchDir, 100_000);
  const w = await timeIt(() => core.openCheckpoint(wide), 3);
  report('100,000-tensor checkpoint: open + analyse, median of 3', `${w.ms.toFixed(0)} ms`);
  report('100,000-tensor checkpoint: bytes read', `${w.last.bytesRead.toLocaleString('en')} of ${fs.statSync(wide).size.toLocaleString('en')}`);
  const t0 = process.hrtime.bigint();
  const json = JSON.stringify(core.toReport(w.last));
  report('100,000-tensor checkpoint: schema-1 JSON', `${(json.length / 1e6).toFixed(1)} MB in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms`);
}
