// Writes the code caches of the command's bundles (dist/cli-main.js.cache, dist/cli-diff.js.cache;
// see src/cli/bundles.ts), run by scripts/build.mjs after bundling, with its output discarded.
// A cache holds the functions compiled by the time it is made, and V8 reads all of it on every
// run (a cache of every path, GGUF and ONNX included, took ~4 ms more to load than it saved), so
// the command first runs here on the inputs most runs are: a sharded safetensors index, a torch
// zip state dict and an FP8 checkpoint, as text and as --json; and a comparison. Other paths
// compile as they would without a cache. A missing fixture is skipped: the cache then holds less,
// and the command works the same without any.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const cli = require(path.join(root, 'dist', 'cli.js'));
const f = (p) => path.join(root, 'test', 'fixtures', p);

const INPUTS = ['safetensors/gpt2-sharded/model.safetensors.index.json', 'pytorch/gpt2-tied.pt', 'quant/fp8-block'];
const DIFFS = [['diff/st-plain', 'diff/pruned']];

async function run() {
  for (const input of INPUTS) {
    if (!fs.existsSync(f(input))) continue;
    await cli.main([f(input)]);
    await cli.main([f(input), '--json']);
  }
  for (const [a, b] of DIFFS) {
    if (!fs.existsSync(f(a)) || !fs.existsSync(f(b))) continue;
    await cli.main(['diff', f(a), f(b)]);
    await cli.main(['diff', f(a), f(b), '--json']);
  }
  cli.saveCodeCaches();
}

run().catch((e) => {
  process.stderr.write(`code cache not written: ${e && e.stack ? e.stack : e}\n`);
  process.exitCode = 1;
});
