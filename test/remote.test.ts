/**
 * Remote checkpoints (src/core/remote/): every fixture opened through a loopback HTTP server
 * (plain files and the Hugging Face Hub's layout) must give the same report as the local file,
 * bar the source fields; transport failures end in typed errors; the local HF cache is used
 * offline. Nothing leaves 127.0.0.1.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { openCheckpoint, readCheckpoint, toReport, CheckpointError, Checkpoint } from '../src/core';
import { FileAccess, nodeFileAccess } from '../src/core/access';
import { exportAs } from '../src/core/export';
import { remoteCli } from '../src/cli/remote';
import { formatHubAddress, isRemoteAddress, listCachedRepos, parseAddress, RemoteOptions } from '../src/core/remote';
import { HttpClient } from '../src/core/remote/http';
import { BlockCache, RemoteFile, blockOptions } from '../src/core/remote/source';
import { FIXTURES, REPO, fixture, readJson, rebuildSkeleton, rejectsWith, sparseFromHeader, tempDir } from './helpers';
import { FixtureServer, RepoSpec } from './helpers/http-server';

/** Options that keep a test off the real cache, the real token and the real Hub. */
function opts(endpoint: string, more: RemoteOptions = {}): RemoteOptions {
  return { endpoint, env: {}, cache: 'never', ...more, http: { retryBaseMs: 5, ...more.http } };
}

const SOURCE_FIELDS = ['path', 'source', 'bytesTransferred', 'requests'];
function comparable(cp: Checkpoint): unknown {
  const r = toReport(cp) as unknown as Record<string, unknown>;
  for (const k of SOURCE_FIELDS) delete r[k];
  return r;
}

async function outcome(p: Promise<Checkpoint>): Promise<{ ok: Checkpoint } | { code: string }> {
  try {
    return { ok: await p };
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    return { code: e.code };
  }
}

/** Every fixture file a reader is meant for (no ground truth, no skeletons). */
function fixtureFiles(): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(FIXTURES, rel), { withFileTypes: true })) {
      const r = path.posix.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else if (!/ground-truth\.json$|\.skel\.gz$|\.header$|^safetensors\/.*config\.json$/.test(r)) out.push(r);
    }
  };
  for (const d of ['safetensors', 'pytorch', 'pytorch-extra', 'layouts', 'gguf', 'onnx']) walk(d);
  return out.sort();
}

const HUB_REPOS: Record<string, string> = {
  'test/gpt2-tied': 'safetensors/gpt2-tied',
  'test/gpt2-untied': 'safetensors/gpt2-untied',
  'test/gpt2-sharded': 'safetensors/gpt2-sharded',
  'test/llama-bf16': 'safetensors/llama-bf16',
  'test/gguf-split': 'gguf/split',
  'test/onnx-external': 'onnx/external',
  'test/pytorch': 'pytorch',
};

describe('remote checkpoints', function () {
  this.timeout(60_000);
  let files: FixtureServer; // a plain web server (another origin than the Hub)
  let cdn: FixtureServer;
  let hub: FixtureServer;

  before(async () => {
    files = await FixtureServer.start({ files: FIXTURES });
    const repos: Record<string, RepoSpec> = {};
    for (const [id, dir] of Object.entries(HUB_REPOS)) repos[id] = { dir: fixture(dir) };
    repos['test/private'] = { dir: fixture('safetensors/gpt2-tied'), token: 'hf_secret' };
    repos['test/gated'] = { dir: fixture('safetensors/gpt2-tied'), token: 'hf_secret', authErrorCode: 'GatedRepo' };
    repos['test/no-sizes'] = { dir: fixture('safetensors/gpt2-sharded'), noSizes: true };
    cdn = await FixtureServer.start({ repos });
    hub = await FixtureServer.start({ repos, cdn, lfsThreshold: 1024 });
  });
  after(async () => {
    await files?.close();
    await hub?.close();
    await cdn?.close();
  });

  describe('the same report as the local file', () => {
    it('every fixture file over a plain URL: same JSON (bar the source fields) or the same error code', async () => {
      const names = fixtureFiles();
      assert.ok(names.length > 40, `only ${names.length} fixtures found`);
      let opened = 0;
      for (const rel of names) {
        const local = await outcome(openCheckpoint(fixture(rel)));
        const remote = await outcome(openCheckpoint(`${files.url}/files/${rel}`, opts(hub.url)));
        if ('code' in local) {
          assert.ok('code' in remote, `${rel}: local fails with ${local.code}, remote opens`);
          assert.strictEqual(remote.code, local.code, rel);
          continue;
        }
        assert.ok('ok' in remote, `${rel}: local opens, remote fails with ${'code' in remote ? remote.code : ''}`);
        assert.deepStrictEqual(comparable(remote.ok), comparable(local.ok), rel);
        assert.strictEqual(remote.ok.source?.kind, 'url');
        assert.ok(remote.ok.requests! >= 1);
        opened++;
      }
      // Every format family is among those that open.
      assert.ok(opened >= 35, `${opened} opened`);
    });

    for (const [id, dir] of Object.entries(HUB_REPOS)) {
      if (id === 'test/pytorch') continue;
      it(`hf://${id} (a repository folder, files behind a CDN redirect) = the local folder ${dir}`, async () => {
        const local = await openCheckpoint(fixture(dir));
        const remote = await openCheckpoint(`hf://${id}`, opts(hub.url));
        assert.deepStrictEqual(comparable(remote), comparable(local));
        assert.strictEqual(remote.source?.kind, 'hf');
        assert.strictEqual(remote.source?.repo, id);
        assert.match(remote.source!.revision!, /^[0-9a-f]{40}$/);
        assert.ok(remote.path.startsWith(`hf://${id}`), remote.path);
      });
    }

    it('a file list without sizes: each file\'s first range tells its size', async () => {
      const cp = await openCheckpoint('hf://test/no-sizes', opts(hub.url));
      assert.deepStrictEqual(comparable(cp), comparable(await openCheckpoint(fixture('safetensors/gpt2-sharded'))));
    });

    it('hf:// single files, PyTorch zip and legacy, equal their local files', async () => {
      for (const f of ['gpt2-tied.pt', 'gpt2-legacy.pt', 'gpt2-module.pt', 'malicious.pt']) {
        const local = await openCheckpoint(fixture('pytorch', f));
        const remote = await openCheckpoint(`hf://test/pytorch/${f}`, opts(hub.url));
        assert.deepStrictEqual(comparable(remote), comparable(local), f);
        assert.strictEqual(remote.path, `hf://test/pytorch/${f}`);
      }
    });

    it('the URL of a shard index opens the sharded checkpoint, and the shards are read in parallel', async () => {
      const slow = await FixtureServer.start({ files: FIXTURES, latencyMs: 30 });
      try {
        const cp = await openCheckpoint(`${slow.url}/files/safetensors/gpt2-sharded/model.safetensors.index.json`, opts(hub.url));
        assert.strictEqual(cp.format, 'safetensors-sharded');
        assert.deepStrictEqual(comparable(cp), comparable(await openCheckpoint(fixture('safetensors/gpt2-sharded/model.safetensors.index.json'))));
        // index, config.json, 3 shards; the shards' requests overlapped.
        assert.ok(slow.maxConcurrent >= 3, `at most ${slow.maxConcurrent} requests at once`);
        assert.strictEqual(cp.requests, slow.log.length);
      } finally {
        await slow.close();
      }
    });
  });

  describe('transfer', () => {
    it('a full-size GPT-2 safetensors (548 MB, sparse) opens in at most 1 MiB and 3 requests', async () => {
      const dir = tempDir();
      const truth = readJson(fixture('safetensors', 'ground-truth.json'))['gpt2-124m'];
      sparseFromHeader(fixture('safetensors/gpt2-124m/model.safetensors.header'), truth.dataSize, path.join(dir, 'model.safetensors'));
      fs.copyFileSync(fixture('safetensors/gpt2-124m/config.json'), path.join(dir, 'config.json'));
      const s = await FixtureServer.start({ files: dir });
      try {
        const cp = await openCheckpoint(`${s.url}/files/model.safetensors`, opts(hub.url));
        assert.strictEqual(cp.parameters.unique, truth.parameters.unique);
        assert.ok(cp.totalBytes > 500e6);
        assert.ok(cp.requests! <= 3, `${cp.requests} requests`);
        assert.ok(cp.bytesTransferred! <= 1 << 20, `${cp.bytesTransferred} bytes`);
        assert.deepStrictEqual(comparable(cp), comparable(await openCheckpoint(path.join(dir, 'model.safetensors'))));
      } finally {
        await s.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a full-size GPT-2 pytorch_model.bin (510 MB): same report, at most 1 MiB transferred', async () => {
      const dir = tempDir();
      rebuildSkeleton(fixture('pytorch', 'gpt2-124m-tied.bin.skel.gz'), path.join(dir, 'pytorch_model.bin'));
      const s = await FixtureServer.start({ files: dir });
      try {
        const cp = await openCheckpoint(`${s.url}/files/pytorch_model.bin`, opts(hub.url));
        assert.strictEqual(cp.parameters.unique, 124_439_808);
        assert.ok(cp.bytesTransferred! <= 1 << 20, `${cp.bytesTransferred} bytes`);
        // Scattered zip local headers are fetched block by block: never a whole tensor's data.
        for (const r of s.log) {
          const m = /bytes=(\d+)-(\d+)/.exec(r.range ?? '');
          assert.ok(m && Number(m[2]) - Number(m[1]) < 1 << 20, `request for ${r.range}`);
        }
        assert.deepStrictEqual(comparable(cp), comparable(await openCheckpoint(path.join(dir, 'pytorch_model.bin'))));
      } finally {
        await s.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('neighbouring reads issued together go out as one request; far ones as several, at most maxParallel at once', async () => {
      const s = await FixtureServer.start({ files: FIXTURES, latencyMs: 20 });
      try {
        const client = new HttpClient({ maxParallel: 2 });
        const o = blockOptions({ firstWindow: 4096, firstWindowGguf: 4096 });
        const f = new RemoteFile(client, new BlockCache(1 << 20), `${s.url}/files/gguf/tiny-llama.gguf`, 'tiny-llama.gguf', o, fs.statSync(fixture('gguf/tiny-llama.gguf')).size);
        f['fetchedAny'] = true; // past the first-read window
        // Ten 100-byte reads within 20 KiB of each other: one request.
        await Promise.all(Array.from({ length: 10 }, (_, i) => f.read(100_000 + i * 2000, 100)));
        assert.strictEqual(s.log.length, 1, JSON.stringify(s.log));
        // The same ranges again: from the cache.
        await Promise.all(Array.from({ length: 10 }, (_, i) => f.read(100_000 + i * 2000, 100)));
        assert.strictEqual(s.log.length, 1);
        // Five reads 60 KiB apart: five requests, never more than two at once.
        s.resetLog();
        const local = fs.readFileSync(fixture('gguf/tiny-llama.gguf'));
        const got = await Promise.all(Array.from({ length: 5 }, (_, i) => f.read(140_000 + i * 61_440, 50)));
        assert.strictEqual(s.log.length, 5);
        assert.ok(s.maxConcurrent <= 2, `${s.maxConcurrent} at once`);
        got.forEach((b, i) => assert.deepStrictEqual(Buffer.from(b), local.subarray(140_000 + i * 61_440, 140_000 + i * 61_440 + 50)));
      } finally {
        await s.close();
      }
    });
  });

  describe('typed failures', () => {
    const big = () => {
      const dir = tempDir();
      const truth = readJson(fixture('safetensors', 'ground-truth.json'))['gpt2-124m'];
      sparseFromHeader(fixture('safetensors/gpt2-124m/model.safetensors.header'), truth.dataSize, path.join(dir, 'model.safetensors'));
      return dir;
    };

    it('a server that ignores ranges: no-ranges error, and the transfer is stopped (never the whole file)', async () => {
      const dir = big();
      const s = await FixtureServer.start({ files: dir, faults: { ignoreRanges: true } });
      let seen = 0;
      try {
        const e = await rejectsWith(
          openCheckpoint(`${s.url}/files/model.safetensors`, opts(hub.url, { onTransfer: (p) => (seen = p.bytesTransferred) })),
          'no-ranges',
          /ignores Range requests .*548\.\d MiB|ignores Range requests .*5\d\d MiB/,
        );
        assert.match(e.message, /Download the file/);
        assert.ok(seen < 8 << 20, `${seen} bytes received`);
      } finally {
        await s.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a small file from a server that ignores ranges still opens (it is all we asked for)', async () => {
      const s = await FixtureServer.start({ files: FIXTURES, faults: { ignoreRanges: true } });
      try {
        // 56 KB: within the first 64 KiB window, so the whole file is what was asked for.
        const cp = await openCheckpoint(`${s.url}/files/safetensors/llama-bf16/model.safetensors`, opts(hub.url));
        assert.deepStrictEqual(comparable(cp), comparable(await openCheckpoint(fixture('safetensors/llama-bf16/model.safetensors'))));
        assert.deepStrictEqual(s.log.map((r) => r.status), [200, 200], 'the weights and config.json, whole');
      } finally {
        await s.close();
      }
      // A JSON sidecar larger than the first window is taken whole too: it is read whole anyway.
      const dir = tempDir();
      const t = await FixtureServer.start({ files: dir, faults: { ignoreRanges: true } });
      try {
        fs.copyFileSync(fixture('safetensors/llama-bf16/model.safetensors'), path.join(dir, 'model.safetensors'));
        const cfg = { ...readJson(fixture('safetensors/llama-bf16/config.json')), notes: 'x'.repeat(200_000) };
        fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
        const cp = await openCheckpoint(`${t.url}/files/model.safetensors`, opts(hub.url));
        assert.strictEqual((cp.config as { notes: string }).notes.length, 200_000);
      } finally {
        await t.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('hf://owner/name/subfolder opens a model one level down (diffusers layout); the root says where to look', async () => {
      const dir = tempDir();
      fs.mkdirSync(path.join(dir, 'unet'));
      for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(fixture('safetensors/gpt2-tied', f), path.join(dir, 'unet', f));
      fs.writeFileSync(path.join(dir, 'model_index.json'), '{}');
      const s = await FixtureServer.start({ repos: { 'test/diffusers': { dir } } });
      try {
        const cp = await openCheckpoint('hf://test/diffusers/unet', opts(s.url));
        assert.deepStrictEqual(comparable(cp), comparable(await openCheckpoint(path.join(dir, 'unet'))));
        assert.strictEqual(cp.path, 'hf://test/diffusers/unet/model.safetensors');
        await rejectsWith(openCheckpoint('hf://test/diffusers', opts(s.url)), 'not-found', /^hf:\/\/test\/diffusers: folder holds no checkpoint .*subfolders unet\/ do: open one of them/);
      } finally {
        await s.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('connections dropped mid-answer are retried; dropped every time, a network error', async () => {
      const flaky = await FixtureServer.start({ files: FIXTURES, faults: { dropAfterBytes: 1000, dropTimes: 2 } });
      const dead = await FixtureServer.start({ files: FIXTURES, faults: { dropAfterBytes: 1000 } });
      try {
        const cp = await openCheckpoint(`${flaky.url}/files/gguf/tiny-llama.gguf`, opts(hub.url));
        assert.deepStrictEqual(comparable(cp), comparable(await openCheckpoint(fixture('gguf/tiny-llama.gguf'))));
        assert.ok(cp.requests! >= 3, `${cp.requests} requests`);
        await rejectsWith(openCheckpoint(`${dead.url}/files/gguf/tiny-llama.gguf`, opts(hub.url, { http: { retries: 2 } })), 'network', /connection to 127\.0\.0\.1:\d+ was cut after 1000 bytes of the answer.*\(3 tries\)/);
      } finally {
        await flaky.close();
        await dead.close();
      }
    });

    it('a server that stalls: the request times out and is retried; stalling every time, a timeout error', async () => {
      const once = await FixtureServer.start({ files: FIXTURES, faults: { stallMs: 2000, stallTimes: 1 } });
      const always = await FixtureServer.start({ files: FIXTURES, faults: { stallMs: 2000 } });
      try {
        const cp = await openCheckpoint(`${once.url}/files/safetensors/llama-bf16/model.safetensors`, opts(hub.url, { http: { timeoutMs: 250 } }));
        assert.strictEqual(cp.format, 'safetensors');
        await rejectsWith(openCheckpoint(`${always.url}/files/safetensors/llama-bf16/model.safetensors`, opts(hub.url, { http: { timeoutMs: 250, retries: 1 } })), 'timeout', /no answer from 127\.0\.0\.1:\d+ within 0\.25 s \(2 tries\)/);
      } finally {
        await once.close();
        await always.close();
      }
    });

    it('503 answers are retried', async () => {
      const s = await FixtureServer.start({ files: FIXTURES, faults: { fail503Times: 2 } });
      try {
        const cp = await openCheckpoint(`${s.url}/files/safetensors/llama-bf16/model.safetensors`, opts(hub.url));
        assert.strictEqual(cp.format, 'safetensors');
        assert.deepStrictEqual(s.log.slice(0, 3).map((r) => r.status), [503, 503, 206]);
      } finally {
        await s.close();
      }
    });

    it('a file whose ETag changes between two reads: changed error, not a mix of versions', async () => {
      const s = await FixtureServer.start({ files: FIXTURES, faults: { etagChangeAfter: 1 } });
      try {
        // The first answer is the first 256 KiB; the GGUF header of the full-size... here the small
        // file's second read (past the first window) is answered by "another version".
        const client = new HttpClient({});
        const f = new RemoteFile(client, new BlockCache(1 << 20), `${s.url}/files/gguf/tiny-llama.gguf`, 'tiny-llama.gguf', blockOptions({ firstWindow: 4096, firstWindowGguf: 4096 }));
        await f.read(0, 100);
        await rejectsWith(f.read(300_000, 100), 'changed', /tiny-llama\.gguf changed on the server while it was being read \(ETag ".*" became ".*"\)/);
      } finally {
        await s.close();
      }
    });

    it('a web page instead of a file: unknown-format, saying the server sent a page', async () => {
      const dir = tempDir();
      const s = await FixtureServer.start({ files: dir });
      try {
        fs.writeFileSync(path.join(dir, 'model.html'), '<!DOCTYPE html><html><body>model page</body></html>');
        await rejectsWith(openCheckpoint(`${s.url}/files/model.html`, opts(hub.url)), 'unknown-format', /not a checkpoint .*the server answered with a web page \(text\/html\), not a file/);
      } finally {
        await s.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('404: not-found; a folder URL: a clear error (web servers cannot list folders)', async () => {
      await rejectsWith(openCheckpoint(`${files.url}/files/safetensors/nope.safetensors`, opts(hub.url)), 'not-found', /nope\.safetensors: not found on 127\.0\.0\.1:\d+ \(HTTP 404\)/);
      await rejectsWith(openCheckpoint(`${files.url}/files/safetensors/gpt2-tied/`, opts(hub.url)), 'unsupported', /cannot list a folder over HTTP.*hf:\/\/owner\/name/);
    });

    it('a private repository: 401 says how to give a token; with the token it opens; HF_TOKEN and the token file work', async () => {
      const e = await rejectsWith(openCheckpoint('hf://test/private', opts(hub.url)), 'auth', /answered 401.*needs a token.*HF_TOKEN.*token file/);
      assert.match(e.message, /Weightscope: Set Hugging Face Token/);
      const local = comparable(await openCheckpoint(fixture('safetensors/gpt2-tied')));
      assert.deepStrictEqual(comparable(await openCheckpoint('hf://test/private', opts(hub.url, { token: 'hf_secret' }))), local);
      assert.deepStrictEqual(comparable(await openCheckpoint('hf://test/private', opts(hub.url, { env: { HF_TOKEN: 'hf_secret' } }))), local);
      const home = tempDir();
      try {
        fs.writeFileSync(path.join(home, 'token'), 'hf_secret\n');
        assert.deepStrictEqual(comparable(await openCheckpoint('hf://test/private', opts(hub.url, { env: { HF_HOME: home } }))), local);
        fs.writeFileSync(path.join(home, 'other-token'), 'hf_secret');
        assert.deepStrictEqual(comparable(await openCheckpoint('hf://test/private', opts(hub.url, { env: { HF_TOKEN_PATH: path.join(home, 'other-token') } }))), local);
      } finally {
        fs.rmSync(home, { recursive: true, force: true });
      }
      await rejectsWith(openCheckpoint('hf://test/private', opts(hub.url, { token: 'hf_wrong' })), 'auth', /the token given was refused/);
      await rejectsWith(openCheckpoint('hf://test/gated', opts(hub.url)), 'auth', /gated: accept its conditions/);
      await rejectsWith(openCheckpoint('hf://test/no-such-repo', opts(hub.url)), 'not-found', /repository not found/);
    });

    it('the token goes to the Hub only: not across the redirect to the CDN, never to another host', async () => {
      hub.resetLog();
      cdn.resetLog();
      files.resetLog();
      await openCheckpoint('hf://test/private', opts(hub.url, { token: 'hf_secret' }));
      assert.ok(hub.log.length >= 2 && hub.log.every((r) => r.auth), JSON.stringify(hub.log));
      assert.ok(cdn.log.length >= 1, 'the weights came from the CDN');
      assert.ok(cdn.log.every((r) => !r.auth), 'no Authorization header reached the CDN');
      await openCheckpoint(`${files.url}/files/safetensors/gpt2-tied/model.safetensors`, opts(hub.url, { token: 'hf_secret' }));
      assert.ok(files.log.length >= 1 && files.log.every((r) => !r.auth), 'no Authorization header for a URL on another host');
    });

    it('a redirect chain that leaves the token\'s origin never carries the token again (through a fetch given in the options)', async () => {
      const calls: { url: string; auth: boolean }[] = [];
      const fake = async (url: string, init?: RequestInit): Promise<Response> => {
        calls.push({ url, auth: !!(init?.headers as Record<string, string>).authorization });
        if (url === 'https://hub.test/a') return new Response(null, { status: 302, headers: { location: '/b' } });
        if (url === 'https://hub.test/b') return new Response(null, { status: 307, headers: { location: 'https://cdn.test/c' } });
        if (url === 'https://cdn.test/c') return new Response(null, { status: 302, headers: { location: 'https://hub.test/d' } });
        return new Response('ok', { status: 200 });
      };
      const c = new HttpClient({ fetch: fake, token: 't', tokenOrigins: ['https://hub.test'] });
      const ex = await c.exchange('https://hub.test/a', { what: 'x' });
      ex.done();
      assert.deepStrictEqual(calls, [
        { url: 'https://hub.test/a', auth: true },
        { url: 'https://hub.test/b', auth: true },
        { url: 'https://cdn.test/c', auth: false },
        { url: 'https://hub.test/d', auth: false },
      ]);
      assert.strictEqual(c.stats.requests, 4);
    });

    it('a repository with several GGUF files lists them; the one named opens', async () => {
      const dir = tempDir();
      const s = await FixtureServer.start({ repos: { 'test/quants': { dir } } });
      try {
        for (const q of ['Q4_K_M', 'Q8_0', 'F16']) fs.copyFileSync(fixture('gguf/tiny-llama.gguf'), path.join(dir, `tiny-${q}.gguf`));
        fs.writeFileSync(path.join(dir, 'README.md'), '# quants\n');
        await rejectsWith(
          openCheckpoint('hf://test/quants', opts(s.url)),
          'unknown-format',
          /hf:\/\/test\/quants: folder holds several checkpoints .*open one of them: hf:\/\/test\/quants\/tiny-F16\.gguf \(421 KiB\), hf:\/\/test\/quants\/tiny-Q4_K_M\.gguf \(421 KiB\), hf:\/\/test\/quants\/tiny-Q8_0\.gguf/,
        );
        const cp = await openCheckpoint('hf://test/quants/tiny-Q8_0.gguf', opts(s.url));
        assert.deepStrictEqual(comparable(cp), comparable(await openCheckpoint(path.join(dir, 'tiny-Q8_0.gguf'))));
        await rejectsWith(openCheckpoint('hf://test/quants/tiny-Q2.gguf', opts(s.url)), 'not-found', /no file or folder "tiny-Q2\.gguf" .*holds README\.md, tiny-F16\.gguf/);
      } finally {
        await s.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a revision: pinned in the resolve URLs; an unknown one is not-found', async () => {
      const sha = (await openCheckpoint('hf://test/gpt2-tied', opts(hub.url))).source!.revision!;
      hub.resetLog();
      const cp = await openCheckpoint(`hf://test/gpt2-tied@${sha}/model.safetensors`, opts(hub.url));
      assert.strictEqual(cp.source!.revision, sha);
      assert.ok(hub.log.filter((r) => r.path.includes('/resolve/')).every((r) => r.path.includes(`/resolve/${sha}/`)));
      await rejectsWith(openCheckpoint('hf://test/gpt2-tied@v9', opts(hub.url)), 'not-found', /revision not found/);
    });

    it('a cancelled open ends with code cancelled', async () => {
      const s = await FixtureServer.start({ files: FIXTURES, latencyMs: 500 });
      try {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 50);
        await rejectsWith(openCheckpoint(`${s.url}/files/gguf/tiny-llama.gguf`, opts(hub.url, { signal: ac.signal })), 'cancelled', /cancelled/);
      } finally {
        await s.close();
      }
    });
  });

  describe('the local Hugging Face cache', () => {
    /** A cache laid out as huggingface_hub does: blobs, snapshot symlinks, refs/main. */
    function makeCache(files: string[], fromDir: string, sha = 'a'.repeat(40)): string {
      const cache = tempDir();
      const repoDir = path.join(cache, 'models--test--gpt2-tied');
      fs.mkdirSync(path.join(repoDir, 'refs'), { recursive: true });
      fs.mkdirSync(path.join(repoDir, 'blobs'));
      fs.mkdirSync(path.join(repoDir, 'snapshots', sha), { recursive: true });
      fs.writeFileSync(path.join(repoDir, 'refs', 'main'), sha);
      for (const f of files) {
        const blob = path.join(repoDir, 'blobs', `blob-${f}`);
        fs.copyFileSync(path.join(fromDir, f), blob);
        fs.symlinkSync(path.join('..', '..', 'blobs', `blob-${f}`), path.join(repoDir, 'snapshots', sha, f));
      }
      return cache;
    }

    it('a complete snapshot opens offline (no request), says so, and equals the remote report', async () => {
      const cache = makeCache(['config.json', 'model.safetensors'], fixture('safetensors/gpt2-tied'));
      try {
        hub.resetLog();
        const cp = await openCheckpoint('hf://test/gpt2-tied', opts(hub.url, { cache: 'prefer', cacheDir: cache }));
        assert.strictEqual(hub.log.length, 0, 'no request');
        assert.strictEqual(cp.source!.kind, 'hf-cache');
        assert.strictEqual(cp.source!.revision, 'a'.repeat(40));
        assert.match(cp.source!.note!, /offline from the local Hugging Face cache: snapshot aaaaaaa \(main\)/);
        assert.strictEqual(cp.requests, 0);
        assert.strictEqual(cp.path, 'hf://test/gpt2-tied/model.safetensors');
        const remote = await openCheckpoint('hf://test/gpt2-tied', opts(hub.url));
        assert.deepStrictEqual(comparable(cp), comparable(remote));
        // HF_HUB_CACHE is where it is looked for by default.
        const viaEnv = await openCheckpoint('hf://test/gpt2-tied', { endpoint: hub.url, env: { HF_HUB_CACHE: cache } });
        assert.strictEqual(viaEnv.source!.kind, 'hf-cache');
      } finally {
        fs.rmSync(cache, { recursive: true, force: true });
      }
    });

    it('an incomplete snapshot (config.json only) goes to the Hub; offline it is an error', async () => {
      const cache = makeCache(['config.json'], fixture('safetensors/gpt2-tied'));
      try {
        const cp = await openCheckpoint('hf://test/gpt2-tied', opts(hub.url, { cache: 'prefer', cacheDir: cache }));
        assert.strictEqual(cp.source!.kind, 'hf');
        await rejectsWith(openCheckpoint('hf://test/gpt2-tied', { endpoint: hub.url, env: { HF_HUB_OFFLINE: '1', HF_HUB_CACHE: cache } }), 'not-found', /folder holds no checkpoint/);
        await rejectsWith(openCheckpoint('hf://test/gpt2-untied', { endpoint: hub.url, env: { HF_HUB_OFFLINE: '1', HF_HUB_CACHE: cache } }), 'not-found', /not in the local Hugging Face cache .*network is off \(HF_HUB_OFFLINE\)/);
      } finally {
        fs.rmSync(cache, { recursive: true, force: true });
      }
    });

    it('listCachedRepos: repositories, revisions with refs, files, weights and sizes on disk', async () => {
      const cache = makeCache(['config.json', 'model.safetensors'], fixture('safetensors/gpt2-tied'));
      try {
        const repos = await listCachedRepos({ cacheDir: cache });
        assert.strictEqual(repos.length, 1);
        const r = repos[0];
        assert.strictEqual(r.repo, 'test/gpt2-tied');
        assert.strictEqual(r.address, 'hf://test/gpt2-tied');
        const sizes = ['config.json', 'model.safetensors'].map((f) => fs.statSync(fixture('safetensors/gpt2-tied', f)).size);
        assert.strictEqual(r.sizeOnDisk, sizes[0] + sizes[1]);
        assert.strictEqual(r.revisions.length, 1);
        assert.deepStrictEqual(r.revisions[0].refs, ['main']);
        assert.deepStrictEqual(r.revisions[0].files, [
          { path: 'config.json', size: sizes[0] },
          { path: 'model.safetensors', size: sizes[1] },
        ]);
        assert.deepStrictEqual(r.revisions[0].weights, ['model.safetensors']);
        assert.deepStrictEqual(await listCachedRepos({ cacheDir: path.join(cache, 'nope') }), []);
      } finally {
        fs.rmSync(cache, { recursive: true, force: true });
      }
    });
  });

  describe('addresses', () => {
    const ep = 'https://huggingface.co';
    it('hf:// with revision, path, repository types and refs/pr/N', () => {
      const p = (s: string) => {
        const a = parseAddress(s, ep);
        assert.strictEqual(a.kind, 'hf');
        return a.kind === 'hf' ? { t: a.repoType, repo: a.repo, rev: a.revision, path: a.path } : undefined;
      };
      assert.deepStrictEqual(p('hf://openai-community/gpt2'), { t: 'model', repo: 'openai-community/gpt2', rev: undefined, path: '' });
      assert.deepStrictEqual(p('hf://org/repo@v1.0/unet/'), { t: 'model', repo: 'org/repo', rev: 'v1.0', path: 'unet' });
      assert.deepStrictEqual(p('hf://org/repo@refs/pr/12/model.safetensors'), { t: 'model', repo: 'org/repo', rev: 'refs/pr/12', path: 'model.safetensors' });
      assert.deepStrictEqual(p('hf://datasets/org/data@main/x.gguf'), { t: 'dataset', repo: 'org/data', rev: 'main', path: 'x.gguf' });
      assert.deepStrictEqual(p('hf://gpt2'), { t: 'model', repo: 'gpt2', rev: undefined, path: '' });
      assert.deepStrictEqual(p('https://huggingface.co/org/repo/blob/main/sub/model.safetensors'), { t: 'model', repo: 'org/repo', rev: 'main', path: 'sub/model.safetensors' });
      assert.deepStrictEqual(p('https://huggingface.co/org/repo/resolve/refs%2Fpr%2F3/model.gguf?download=true'), { t: 'model', repo: 'org/repo', rev: 'refs/pr/3', path: 'model.gguf' });
      assert.deepStrictEqual(p('https://huggingface.co/org/repo'), { t: 'model', repo: 'org/repo', rev: undefined, path: '' });
      assert.strictEqual(parseAddress('https://example.com/org/repo/model.safetensors', ep).kind, 'url');
      assert.strictEqual(formatHubAddress({ repoType: 'dataset', repo: 'o/n', revision: 'dev', path: 'a/b.bin' }), 'hf://datasets/o/n@dev/a/b.bin');
      assert.ok(isRemoteAddress('HF://x/y') && isRemoteAddress('https://a/b') && !isRemoteAddress('C:\\models\\x.pt') && !isRemoteAddress('./hf:/x'));
    });
    it('rejects paths that climb out of the repository and credentials in URLs', () => {
      assert.throws(() => parseAddress('hf://org/repo/../other/x', ep), (e: CheckpointError) => e.code === 'unsafe-path');
      assert.throws(() => parseAddress('hf://org/re po', ep), (e: CheckpointError) => e.code === 'not-found');
      assert.throws(() => parseAddress('https://user:pw@example.com/x.gguf', ep), (e: CheckpointError) => e.code === 'unsupported' && !e.message.includes('pw'));
    });
  });

  describe('the FileAccess seam', () => {
    it('open.ts and the readers use the access path operations: a Windows-style access opens a sharded folder on any platform', async () => {
      // Virtual paths like C:\models\gpt2-sharded\model.safetensors.index.json, mapped onto the fixtures.
      const base = fixture('safetensors');
      const toLocal = (p: string) => path.join(base, ...path.win32.relative('C:\\models', p).split('\\'));
      const win: FileAccess = {
        paths: path.win32,
        open: (p, d) => nodeFileAccess.open(toLocal(p), d),
        stat: (p) => nodeFileAccess.stat(toLocal(p)),
        list: (p) => nodeFileAccess.list(toLocal(p)),
      };
      const raw = await readCheckpoint('C:\\models\\gpt2-sharded', { access: win });
      const local = await readCheckpoint(fixture('safetensors/gpt2-sharded'));
      assert.strictEqual(raw.path, 'C:\\models\\gpt2-sharded\\model.safetensors.index.json');
      assert.deepStrictEqual(raw.files, local.files);
      assert.deepStrictEqual(raw.tensors, local.tensors);
      assert.deepStrictEqual(raw.config, local.config);
    });
  });

  describe('CLI', () => {
    function run(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
      return new Promise((resolve) => {
        const p = spawn(process.execPath, [path.join(REPO, 'out', 'src', 'cli', 'main.js'), ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d) => (stdout += d));
        p.stderr.on('data', (d) => (stderr += d));
        p.on('close', (status) => resolve({ status, stdout, stderr }));
      });
    }
    const env = () => ({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: path.join(REPO, 'no-such-cache'), HOME: tempDir() });

    it('weightscope hf://… prints the report and the transfer line; --json carries the source fields', async () => {
      const t = await run(['hf://test/gpt2-tied'], env());
      assert.strictEqual(t.status, 0, t.stderr);
      assert.match(t.stdout, /GPT2LMHeadModel · safetensors/);
      // The file list, the weights (a redirect to the CDN, then the CDN), config.json.
      assert.match(t.stdout, /source: hf:\/\/test\/gpt2-tied at commit [0-9a-f]{12}: transferred [\d,]+ bytes in 4 requests\n$/);
      assert.strictEqual(t.stderr, '', 'no progress line when stderr is not a terminal');
      const j = await run(['hf://test/gpt2-tied', '--json'], env());
      assert.strictEqual(j.status, 0, j.stderr);
      const doc = JSON.parse(j.stdout);
      assert.strictEqual(doc.source.kind, 'hf');
      assert.strictEqual(doc.requests, 4);
      assert.ok(doc.bytesTransferred > 0);
      assert.match(j.stderr, /^source: hf:\/\/test\/gpt2-tied at commit [0-9a-f]{12}: transferred [\d,]+ bytes in 4 requests\n$/);
      const local = await run([fixture('safetensors/gpt2-tied'), '--json'], env());
      const ldoc = JSON.parse(local.stdout);
      for (const k of SOURCE_FIELDS) {
        delete doc[k];
        delete ldoc[k];
      }
      assert.deepStrictEqual(doc, ldoc);
    });

    it('every export format is the same for a URL as for the local file; the CLI writes the transfer line to stderr', async () => {
      const url = `${files.url}/files/safetensors/gpt2-tied/model.safetensors`;
      const remote = await openCheckpoint(url, opts(hub.url));
      const local = await openCheckpoint(fixture('safetensors/gpt2-tied/model.safetensors'));
      for (const fmt of ['text', 'markdown', 'mermaid', 'svg', 'png'] as const) {
        const [r, l] = await Promise.all([exportAs(remote, fmt, {}), exportAs(local, fmt, {})]);
        assert.deepStrictEqual(r, l, fmt);
      }
      const r = await run([url, '--format', 'mermaid'], env());
      const l = await run([fixture('safetensors/gpt2-tied/model.safetensors'), '--format', 'mermaid'], env());
      assert.strictEqual(r.status, 0, r.stderr);
      assert.strictEqual(r.stdout, l.stdout);
      assert.match(r.stderr, /^source: http:\/\/127\.0\.0\.1:\d+\/files\/safetensors\/gpt2-tied\/model\.safetensors: transferred [\d,]+ bytes in 2 requests\n$/);
    });

    it('the progress line: only on a terminal, rewritten in place, cleared at the end', async () => {
      const fake = (isTTY: boolean) => {
        const out: string[] = [];
        return { out, stream: { isTTY, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream };
      };
      const pipe = fake(false);
      assert.strictEqual(remoteCli(pipe.stream).options.onTransfer, undefined);
      const tty = fake(true);
      const r = remoteCli(tty.stream);
      const cp = await openCheckpoint(`${files.url}/files/safetensors/gpt2-tied/model.safetensors`, opts(hub.url, r.options));
      r.finish();
      assert.ok(tty.out.length >= 2, tty.out.join('|'));
      assert.match(tty.out[0], /^\r\x1b\[Kreading headers: \d+ requests?, [\d,]+ bytes/);
      assert.strictEqual(tty.out[tty.out.length - 1], '\r\x1b[K');
      assert.match(r.line(cp)!, /transferred [\d,]+ bytes in 2 requests$/);
    });

    it('errors are one line with exit status 1', async () => {
      const r = await run(['hf://test/private'], env());
      assert.strictEqual(r.status, 1);
      assert.match(r.stderr, /^error: hf:\/\/test\/private: 127\.0\.0\.1:\d+ answered 401 .*HF_TOKEN.*\n$/);
      const ok = await run(['hf://test/private'], { ...env(), HF_TOKEN: 'hf_secret' });
      assert.strictEqual(ok.status, 0, ok.stderr);
    });
  });
});
