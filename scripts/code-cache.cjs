// Writes the code caches of the command's bundles (dist/cli-main.js.cache, dist/cli-diff.js.cache
// and its chunks'; see src/cli/bundles.ts), run by scripts/build.mjs after bundling, with its
// output discarded. A cache holds the functions compiled by the time it is made, and V8 reads all
// of it whenever its bundle loads (a cache of every path, GGUF and ONNX included, took ~4 ms more
// to load than it saved when they were one bundle), so the command first runs here on the inputs
// most runs are: a sharded safetensors index, a torch zip state dict and an FP8 checkpoint, as
// text and as --json; and a comparison. Those caches written, it runs on an ONNX, a GGUF and a DCP
// input for the caches of their readers' chunks (scripts/cli-chunks.mjs), which only those inputs
// load. Other paths compile as they would without a cache. A missing fixture is skipped: the
// cache then holds less, and the command works the same without any.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const cli = require(path.join(root, 'dist', 'cli.js'));
const f = (p) => path.join(root, 'test', 'fixtures', p);

const INPUTS = ['safetensors/gpt2-sharded/model.safetensors.index.json', 'pytorch/gpt2-tied.pt', 'quant/fp8-block'];
const DIFFS = [['diff/st-plain', 'diff/pruned']];
// Then the formats whose readers are chunks of their own (scripts/cli-chunks.mjs): their chunks'
// caches are written after the command's, which these runs would otherwise fill with code only
// they use.
const CHUNK_INPUTS = ['onnx/tiny-gpt2.onnx', 'gguf/tiny-llama.gguf', 'dcp/titan'];

async function runAll(inputs) {
  for (const input of inputs) {
    if (!fs.existsSync(f(input))) continue;
    await cli.main([f(input)]);
    await cli.main([f(input), '--json']);
  }
}

async function run() {
  await runAll(INPUTS);
  for (const [a, b] of DIFFS) {
    if (!fs.existsSync(f(a)) || !fs.existsSync(f(b))) continue;
    await cli.main(['diff', f(a), f(b)]);
    await cli.main(['diff', f(a), f(b), '--json']);
  }
  const written = cli.saveCodeCaches();
  await runAll(CHUNK_INPUTS);
  cli.saveCodeCaches(written);
}

run().catch((e) => {
  process.stderr.write(`code cache not written: ${e && e.stack ? e.stack : e}\n`);
  process.exitCode = 1;
});
