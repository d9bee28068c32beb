// The loopback Hugging Face Hub and a local Hugging Face cache for the e2e test (run.sh starts it
// before code-server, whose HF_ENDPOINT and HF_HUB_CACHE point here): the test's FixtureServer
// (test/helpers/http-server.ts, bundled by run.sh with esbuild) on 127.0.0.1, serving
//
//   test/gpt2-tied   the tied GPT-2 fixture (config.json + model.safetensors)
//   test/quants      two GGUF quantizations of the tiny Llama (the quick pick)
//   test/private     the tied GPT-2 behind a token (401 without it)
//
// with half a second of latency on every answer (a far server), so the transfer progress shows. The
// cache holds test/cached-gpt2 (the untied fixture) as huggingface_hub lays it out. Nothing here
// reaches beyond the machine.
//
//   node hub.cjs BUNDLE ROOT STATE      writes STATE/hub-url when listening, STATE/hub-log.json
//                                       (the requests) as they come; runs until SIGTERM
'use strict';
const fs = require('fs');
const path = require('path');

const [bundle, root, state] = process.argv.slice(2);
const { FixtureServer } = require(bundle);

const TOKEN = 'hf_e2e_loopback_token';
const CACHED_SHA = '0123456789abcdef0123456789abcdef01234567';

async function main() {
  const fixtures = path.join(root, 'test', 'fixtures');
  const quants = path.join(state, 'hub-repos', 'quants');
  fs.mkdirSync(quants, { recursive: true });
  for (const q of ['Q4_K_M', 'Q8_0']) fs.copyFileSync(path.join(fixtures, 'gguf', 'tiny-llama.gguf'), path.join(quants, `tiny-llama-${q}.gguf`));
  fs.writeFileSync(path.join(quants, 'README.md'), '# two quantizations\n');

  // The local cache: blobs, a snapshot of links to them, refs/main.
  const cache = path.join(state, 'hf-cache');
  const repo = path.join(cache, 'models--test--cached-gpt2');
  fs.mkdirSync(path.join(repo, 'blobs'), { recursive: true });
  fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
  fs.mkdirSync(path.join(repo, 'snapshots', CACHED_SHA), { recursive: true });
  fs.writeFileSync(path.join(repo, 'refs', 'main'), CACHED_SHA);
  for (const f of ['config.json', 'model.safetensors']) {
    const blob = path.join(repo, 'blobs', `e2e-${f}`);
    fs.copyFileSync(path.join(fixtures, 'safetensors', 'gpt2-untied', f), blob);
    const link = path.join(repo, 'snapshots', CACHED_SHA, f);
    fs.rmSync(link, { force: true });
    fs.symlinkSync(path.join('..', '..', 'blobs', `e2e-${f}`), link);
  }

  const hub = await FixtureServer.start({
    latencyMs: 500,
    repos: {
      // Slower still, so that its transfer shows even when a parser worker is waiting (no start-up delay).
      'test/gpt2-tied': { dir: path.join(fixtures, 'safetensors', 'gpt2-tied'), latencyMs: 1500 },
      'test/quants': { dir: quants },
      'test/private': { dir: path.join(fixtures, 'safetensors', 'gpt2-tied'), token: TOKEN },
    },
  });
  const logFile = path.join(state, 'hub-log.json');
  // Written beside and renamed over: the tests read the log while it grows, and a reader must
  // never see the file truncated (it read an empty log once in a full run).
  const flush = () => {
    fs.writeFileSync(`${logFile}.tmp`, JSON.stringify(hub.log.map((r) => ({ method: r.method, path: r.path, range: r.range, auth: r.auth, status: r.status }))));
    fs.renameSync(`${logFile}.tmp`, logFile);
  };
  const timer = setInterval(flush, 200);
  fs.writeFileSync(path.join(state, 'hub-url'), hub.url);
  console.error(`[hub] listening on ${hub.url}; cache ${cache}`);
  const stop = async () => {
    clearInterval(timer);
    flush();
    await hub.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(`[hub] ${e.stack || e}`);
  process.exit(1);
});
