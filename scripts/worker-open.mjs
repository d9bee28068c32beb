// The editor's open without VS Code (issue 11): the host's loader starting the parser worker
// (dist/worker.js) on the DeepSeek-V3 layout, as the extension does, with and without a spare
// worker started ahead; prints where the time went (the same split as the extension's log) and
// the host's longest event-loop stall. After `npm run build && npx tsc -p .`:
//   node scripts/worker-open.mjs [ROUNDS]
import { createRequire } from 'module';
import { monitorEventLoopDelay } from 'perf_hooks';
import * as path from 'path';
import { deepseekIndex, repo } from './bench-lib.mjs';

const require = createRequire(import.meta.url);
const { loadCheckpoint, ParserPool, openTimingText } = require(path.join(repo, 'out/src/extension/loader.js'));
const SMALL = path.join(repo, 'test/fixtures/safetensors/gpt2-tied/model.safetensors');
const index = deepseekIndex();
const rounds = Number(process.argv[2] ?? 3);

/** A window in use: a small model opened and closed first, then the large one. */
async function round(withPool) {
  const pool = withPool ? new ParserPool() : undefined;
  const opts = { workerPath: path.join(repo, 'dist/worker.js'), maxOldGenerationSizeMb: 4096, expandDepth: 2, pool };
  (await loadCheckpoint(SMALL, opts)).backend.dispose();
  await new Promise((r) => setTimeout(r, 5000));
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const r = await loadCheckpoint(index, opts);
  loop.disable();
  console.log(`${withPool ? 'spare   ' : 'no spare'} ${r.ms} ms: ${openTimingText(r.started, r.arrived, r.head.timing)}; host loop's longest stall ${(loop.max / 1e6).toFixed(0)} ms`);
  r.backend.dispose();
  pool?.dispose();
}

for (let i = 0; i < rounds; i++) {
  await round(false);
  await round(true);
}
