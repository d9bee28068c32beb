// remote: opening checkpoints over HTTP, never downloading them. A loopback server (the tests'
// test/helpers/http-server.ts) serves the Hugging Face Hub's layout: the file list API, then
// /resolve/ answering with a 302 to a "CDN" on another origin, as the Hub does for large files;
// every answer waits 50 ms (a far server's round trip). For each checkpoint: bytes transferred
// and requests made to open it as hf://…, the wall time in round trips, next to the local open.
// The 163-shard model is also opened with one request at a time, to show what parallel shards
// save. Files are sparse (headers written, data ftruncate'd): nothing here is 500 MB on disk.
import * as fs from 'fs';
import * as path from 'path';
import { repo, benchDir, core, requireOut, timeIt } from '../bench-lib.mjs';
import { makeGguf } from './gguf_onnx.mjs';
import { makeSharded } from './safetensors.mjs';

const { FixtureServer, roundTrips } = requireOut('test/helpers/http-server.js');
const { rebuildSkeleton, sparseFromHeader } = requireOut('test/helpers.js');

const RTT = 50;
const dir = path.join(benchDir, 'remote');
const int = (n) => n.toLocaleString('en');
const fixture = (...p) => path.join(repo, 'test', 'fixtures', ...p);

function gpt2Config(to) {
  fs.mkdirSync(to, { recursive: true });
  fs.copyFileSync(fixture('safetensors', 'gpt2-124m', 'config.json'), path.join(to, 'config.json'));
}

function build() {
  const st = path.join(dir, 'gpt2-safetensors');
  if (!fs.existsSync(path.join(st, 'model.safetensors'))) {
    gpt2Config(st);
    const truth = JSON.parse(fs.readFileSync(fixture('safetensors', 'ground-truth.json'), 'utf8'))['gpt2-124m'];
    sparseFromHeader(fixture('safetensors', 'gpt2-124m', 'model.safetensors.header'), truth.dataSize, path.join(st, 'model.safetensors'));
  }
  const bin = path.join(dir, 'gpt2-bin');
  if (!fs.existsSync(path.join(bin, 'pytorch_model.bin'))) {
    gpt2Config(bin);
    rebuildSkeleton(fixture('pytorch', 'gpt2-124m-tied.bin.skel.gz'), path.join(bin, 'pytorch_model.bin'));
  }
  const gguf = path.join(dir, 'gguf');
  makeGguf(path.join(gguf, 'tinyllama-1.1b-q4_k.gguf'));
  const shards = path.join(dir, 'shards-163');
  makeSharded(shards, 163);
  return { 'bench/gpt2-safetensors': st, 'bench/gpt2-bin': bin, 'bench/tinyllama-gguf': gguf, 'bench/shards-163': shards };
}

const MODELS = [
  ['bench/gpt2-safetensors', 'GPT-2 124M model.safetensors (548 MB)'],
  ['bench/gpt2-bin', 'GPT-2 124M pytorch_model.bin (510 MB)'],
  ['bench/tinyllama-gguf', 'TinyLlama 1.1B Q4_K GGUF (702 MB)'],
  ['bench/shards-163', '163 safetensors shards + index (109 GB)'],
];

/** Hub + CDN servers with `latencyMs` added to every answer. */
async function hubPair(specs, latencyMs) {
  const cdn = await FixtureServer.start({ repos: specs, latencyMs });
  const hub = await FixtureServer.start({ repos: specs, cdn, latencyMs });
  return { hub, cdn, opts: { endpoint: hub.url, env: {}, cache: 'never' }, close: async () => (await hub.close(), await cdn.close()) };
}

export default async function (report) {
  const repos = build();
  const specs = Object.fromEntries(Object.entries(repos).map(([id, d]) => [id, { dir: d }]));
  // The same opens against servers that answer at once and servers that wait RTT ms: the
  // difference is the time spent waiting on the network, in round trips (CPU time cancels out,
  // which matters on a shared machine).
  const fast = await hubPair(specs, 0);
  const far = await hubPair(specs, RTT);
  report('round trip added to every answer (hub and CDN)', `${RTT} ms`);
  try {
    for (const [id, label] of MODELS) {
      const local = await timeIt(() => core.openCheckpoint(repos[id]), 3);
      const files = local.last.files.length;
      await core.openCheckpoint(`hf://${id}`, fast.opts); // warm-up (JIT), not counted
      const t0 = await timeIt(() => core.openCheckpoint(`hf://${id}`, fast.opts), 3);
      const t1 = await timeIt(async () => {
        far.hub.resetLog();
        far.cdn.resetLog();
        return core.openCheckpoint(`hf://${id}`, far.opts);
      }, 3);
      const cp = t1.last;
      const depth = roundTrips([...far.hub.log, ...far.cdn.log]);
      const same = cp.parameters.unique === local.last.parameters.unique && cp.bytesRead === local.last.bytesRead;
      report(`${label}: local bytes read`, `${int(local.last.bytesRead)} (${files} file${files === 1 ? '' : 's'})`);
      report(`${label}: hf:// bytes transferred`, `${int(cp.bytesTransferred)}${same ? '' : '  MISMATCH with the local report'}`);
      report(`${label}: hf:// requests`, `${cp.requests} (the file list, then ${((cp.requests - 1) / files).toFixed(2)} per file)`);
      report(`${label}: hf:// round trips on the critical path`, `${depth} (open: ${t1.ms.toFixed(0)} ms at ${RTT} ms a round trip, ${t0.ms.toFixed(0)} ms at 0 ms; local ${local.ms.toFixed(0)} ms)`);
    }
    // The same shards one request at a time: what opening them one after the other would cost.
    const one = { http: { maxParallel: 1 } };
    far.hub.resetLog();
    far.cdn.resetLog();
    const s1 = await timeIt(() => core.openCheckpoint('hf://bench/shards-163', { ...far.opts, ...one }), 1);
    report('163 shards, one request at a time (for comparison)', `${roundTrips([...far.hub.log, ...far.cdn.log])} round trips, open ${s1.ms.toFixed(0)} ms`);
    // A plain URL (no file list, no redirect): the file alone, and config.json looked for beside it.
    const direct = await FixtureServer.start({ files: dir });
    try {
      for (const [rel, label] of [['gpt2-safetensors/model.safetensors', 'GPT-2 safetensors'], ['gpt2-bin/pytorch_model.bin', 'GPT-2 .bin'], ['gguf/tinyllama-1.1b-q4_k.gguf', 'TinyLlama GGUF']]) {
        const cp = await core.openCheckpoint(`${direct.url}/files/${rel}`, fast.opts);
        report(`${label} by https:// URL: transferred, requests`, `${int(cp.bytesTransferred)}, ${cp.requests} (1 of them for config.json)`);
      }
    } finally {
      await direct.close();
    }
  } finally {
    await fast.close();
    await far.close();
  }
}
