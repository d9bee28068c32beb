/**
 * Remote checkpoints in the editor (issue 13, item 5): what the open box accepts, the
 * `weightscope-remote:` URI of an opened address, which token goes to the worker, the choices a
 * repository offers, and the worker opening hf:// addresses (the loopback Hub), the local cache
 * (offline) and plain URLs, with the source the summary shows. Nothing leaves 127.0.0.1.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { choicesIn, listCachedRepos, listWeightChoices } from '../src/core/remote';
import { LoadCancelled, LoadError, loadCheckpoint } from '../src/extension/loader';
import {
  cachedChoices,
  cachedRevisionAddress,
  cachedRevisionLabel,
  parseOpenInput,
  redactAddress,
  REMOTE_SCHEME,
  remoteFromUri,
  remoteLabelPath,
  remoteOpenOptions,
  remoteUriParts,
  repoPageUrl,
  revisionError,
  tokenError,
  withRevision,
} from '../src/extension/remoteAddress';
import type { Progress } from '../src/shared/protocol';
import { wireSource } from '../src/worker/source';
import { sourceLine, transferText } from '../webview/src/data/source';
import { fixture, REPO, tempDir } from './helpers';
import { FixtureServer } from './helpers/http-server';

const EP = 'https://huggingface.co';
const WORKER = path.join(REPO, 'out', 'src', 'worker', 'main.js');
const TIED = fixture('safetensors', 'gpt2-tied');
const TRUTH = JSON.parse(fs.readFileSync(fixture('safetensors', 'ground-truth.json'), 'utf8'));

function ok(text: string, endpoint = EP) {
  const r = parseOpenInput(text, endpoint);
  if ('error' in r) assert.fail(`"${text}" was refused: ${r.error}`);
  return r;
}

function refused(text: string, why: RegExp) {
  const r = parseOpenInput(text, EP);
  assert.ok('error' in r, `"${text}" was accepted as ${JSON.stringify(r)}`);
  assert.match(r.error, new RegExp(why.source, 'i'));
}

describe('extension: remote checkpoints, the open box', () => {
  it('takes a repository id as the Hub shows it, with a revision and a path', () => {
    assert.deepStrictEqual(ok('openai-community/gpt2'), { address: 'hf://openai-community/gpt2', hub: true, hasRevision: false });
    assert.deepStrictEqual(ok('  org/name@v1.0/unet  '), { address: 'hf://org/name@v1.0/unet', hub: true, hasRevision: true });
    assert.deepStrictEqual(ok('gpt2'), { address: 'hf://gpt2', hub: true, hasRevision: false });
    assert.deepStrictEqual(ok('datasets/org/set'), { address: 'hf://datasets/org/set', hub: true, hasRevision: false });
  });

  it('takes hf:// addresses, Hub page and file URLs (with or without https://) and any https:// file URL', () => {
    assert.deepStrictEqual(ok('hf://org/name@refs/pr/3/model.safetensors'), { address: 'hf://org/name@refs/pr/3/model.safetensors', hub: true, hasRevision: true });
    assert.deepStrictEqual(ok('https://huggingface.co/org/name'), { address: 'https://huggingface.co/org/name', hub: true, hasRevision: false });
    assert.deepStrictEqual(ok('https://huggingface.co/org/name/blob/main/x.gguf'), { address: 'https://huggingface.co/org/name/blob/main/x.gguf', hub: true, hasRevision: true });
    assert.deepStrictEqual(ok('huggingface.co/org/name'), { address: 'https://huggingface.co/org/name', hub: true, hasRevision: false });
    assert.deepStrictEqual(ok('https://example.com/m/model.safetensors?sig=abc'), { address: 'https://example.com/m/model.safetensors?sig=abc', hub: false, hasRevision: false });
    // A Hub on another endpoint (HF_ENDPOINT, a mirror): its page URLs are Hub addresses too.
    assert.deepStrictEqual(ok('http://127.0.0.1:8080/org/name', 'http://127.0.0.1:8080'), { address: 'http://127.0.0.1:8080/org/name', hub: true, hasRevision: false });
  });

  it('refuses what it cannot open, saying why', () => {
    refused('', /repository id/);
    refused('/home/me/model.safetensors', /local path/);
    refused('./model.safetensors', /local path/);
    refused('C:\\models\\x.safetensors', /local path/);
    refused('s3://bucket/model.safetensors', /"s3:" addresses are not read/);
    refused('org/na me', /not a valid repository name/);
    refused('hf://', /names no repository/);
    refused('org/name@', /empty revision/i);
    refused('https://user:pw@example.com/x.safetensors', /user names and passwords/);
    refused('org/name/../../etc', /not a plain relative path/);
  });

  it('adds the revision of the second box to Hub addresses that name none', () => {
    assert.strictEqual(withRevision('hf://org/name', 'v1.0', EP), 'hf://org/name@v1.0');
    assert.strictEqual(withRevision('hf://org/name/unet', 'refs/pr/3', EP), 'hf://org/name@refs/pr/3/unet');
    assert.strictEqual(withRevision('https://huggingface.co/org/name', 'dev', EP), 'hf://org/name@dev');
    assert.strictEqual(withRevision('hf://org/name', '  ', EP), 'hf://org/name');
    assert.strictEqual(withRevision('hf://org/name@main', 'dev', EP), 'hf://org/name@main');
    assert.strictEqual(withRevision('https://example.com/x.gguf', 'dev', EP), 'https://example.com/x.gguf');
    // What goes in must come out: the revision reaches the parser as given.
    assert.strictEqual(ok(withRevision('hf://org/name', 'refs/pr/3', EP)).hasRevision, true);
    assert.strictEqual(revisionError(''), undefined);
    assert.strictEqual(revisionError('main'), undefined);
    assert.strictEqual(revisionError('refs/pr/3'), undefined);
    assert.strictEqual(revisionError('0123456789abcdef0123456789abcdef01234567'), undefined);
    for (const bad of ['a b', '../x', 'x..y', '/main', 'main/', 'a:b']) assert.ok(revisionError(bad), bad);
  });
});

describe('extension: remote checkpoints, the document URI', () => {
  /** What VS Code gives back: the query decoded once (URLSearchParams is what encodes it). */
  const roundTrip = (parts: { scheme: string; query: string }) => remoteFromUri({ scheme: parts.scheme, query: parts.query });

  it('maps an address to a weightscope-remote: URI whose last segment is the tab title, and back', () => {
    const p = remoteUriParts('hf://openai-community/gpt2', { endpoint: EP });
    assert.strictEqual(p.scheme, REMOTE_SCHEME);
    assert.strictEqual(p.path, '/openai-community/gpt2');
    assert.deepStrictEqual(roundTrip(p), { address: 'hf://openai-community/gpt2', offline: false });
    const f = remoteUriParts('hf://org/name@refs/pr/3/unet/model.safetensors', { endpoint: EP, offline: true });
    assert.strictEqual(f.path, '/org/name@refs_pr_3/unet/model.safetensors');
    assert.deepStrictEqual(roundTrip(f), { address: 'hf://org/name@refs/pr/3/unet/model.safetensors', offline: true });
  });

  it('keeps a URL whole in the query (a signature needs it) but never in the path or in logs', () => {
    const url = 'https://cdn.example.com/m/model.safetensors?X-Amz-Signature=secret&x=1#frag';
    const p = remoteUriParts(url, { endpoint: EP });
    assert.strictEqual(p.path, '/cdn.example.com/m/model.safetensors');
    assert.doesNotMatch(p.path, /secret/);
    assert.strictEqual(roundTrip(p)!.address, url);
    assert.strictEqual(redactAddress(url), 'https://cdn.example.com/m/model.safetensors');
    assert.strictEqual(redactAddress('hf://org/name'), 'hf://org/name');
    assert.strictEqual(remoteLabelPath('https://example.com/', EP), 'example.com');
  });

  it('only maps back what it made: another scheme, no address or another kind of address is no remote document', () => {
    assert.strictEqual(remoteFromUri({ scheme: 'file', query: 'address=hf%3A%2F%2Forg%2Fname' }), undefined);
    assert.strictEqual(remoteFromUri({ scheme: REMOTE_SCHEME, query: '' }), undefined);
    assert.strictEqual(remoteFromUri({ scheme: REMOTE_SCHEME, query: 'address=file%3A%2F%2F%2Fetc%2Fpasswd' }), undefined);
    assert.strictEqual(remoteFromUri({ scheme: REMOTE_SCHEME, query: 'address=%2Fetc%2Fpasswd' }), undefined);
  });
});

describe('extension: remote checkpoints, the token', () => {
  it('sends the stored token with Hub addresses only; without one the worker falls back to HF_TOKEN or the token file', () => {
    assert.deepStrictEqual(remoteOpenOptions({ address: 'hf://org/private', offline: false }, 'hf_stored', EP), { token: 'hf_stored' });
    assert.deepStrictEqual(remoteOpenOptions({ address: 'https://huggingface.co/org/private/blob/main/x.gguf', offline: false }, 'hf_stored', EP), { token: 'hf_stored' });
    // Another host never gets it (the core would not send it there either).
    assert.deepStrictEqual(remoteOpenOptions({ address: 'https://example.com/x.safetensors', offline: false }, 'hf_stored', EP), {});
    assert.deepStrictEqual(remoteOpenOptions({ address: 'hf://org/private', offline: false }, undefined, EP), {});
    assert.deepStrictEqual(remoteOpenOptions({ address: 'hf://org/name', offline: true }, 'hf_stored', EP), { token: 'hf_stored', cache: 'only' });
  });

  it('the set-token box takes what the Hub issues and refuses what cannot be one', () => {
    assert.strictEqual(tokenError('hf_abcDEF123'), undefined);
    assert.match(tokenError('')!, /Paste a token/);
    assert.match(tokenError('hf_a b')!, /no spaces/);
    assert.match(tokenError('hf_é')!, /no spaces or special/);
  });

  it('links the repository page at the revision asked for; a URL has none', () => {
    assert.strictEqual(repoPageUrl({ kind: 'hf', repo: 'openai-community/gpt2', repoType: 'model' }, EP), 'https://huggingface.co/openai-community/gpt2');
    assert.strictEqual(repoPageUrl({ kind: 'hf-cache', repo: 'org/set', repoType: 'dataset', ref: 'refs/pr/3' }, 'http://127.0.0.1:9/'), 'http://127.0.0.1:9/datasets/org/set/tree/refs%2Fpr%2F3');
    assert.strictEqual(repoPageUrl({ kind: 'url', repo: undefined }, EP), undefined);
  });
});

describe('extension: remote checkpoints, what a repository offers', () => {
  const hubAddr = (p = '') => ({ kind: 'hf' as const, repoType: 'model' as const, repo: 'org/q', path: p, address: 'hf://org/q' });
  const files = (xs: Record<string, number>) => new Map(Object.entries(xs));

  it('several GGUF quantizations are choices (the folder rule of the open); one checkpoint or a shard set is none', () => {
    assert.deepStrictEqual(choicesIn(files({ 'README.md': 9, 'm-Q4_K_M.gguf': 400, 'm-Q8_0.gguf': 800 }), hubAddr()), [
      { path: 'm-Q4_K_M.gguf', address: 'hf://org/q/m-Q4_K_M.gguf', kind: 'file', size: 400 },
      { path: 'm-Q8_0.gguf', address: 'hf://org/q/m-Q8_0.gguf', kind: 'file', size: 800 },
    ]);
    assert.deepStrictEqual(choicesIn(files({ 'config.json': 1, 'model.safetensors': 5, 'pytorch_model.bin': 5 }), hubAddr()), []);
    assert.deepStrictEqual(choicesIn(files({ 'model.safetensors.index.json': 1, 'model-00001-of-00002.safetensors': 5, 'model-00002-of-00002.safetensors': 5 }), hubAddr()), []);
    // A GGUF split is one checkpoint (its first part opens it).
    assert.deepStrictEqual(choicesIn(files({ 'x-00001-of-00002.gguf': 5, 'x-00002-of-00002.gguf': 5 }), hubAddr()), []);
    // A file path is what it is.
    assert.deepStrictEqual(choicesIn(files({ 'a.gguf': 1, 'b.gguf': 1 }), hubAddr('a.gguf')), []);
  });

  it('a diffusers pipeline offers its subfolders, with their weights sizes; the revision stays in the addresses', () => {
    const a = { ...hubAddr(), revision: 'fp16' };
    assert.deepStrictEqual(
      choicesIn(files({ 'model_index.json': 1, 'unet/config.json': 1, 'unet/diffusion_pytorch_model.safetensors': 100, 'vae/diffusion_pytorch_model.safetensors': 30, 'scheduler/scheduler_config.json': 1 }), a),
      [
        { path: 'unet', address: 'hf://org/q@fp16/unet', kind: 'folder', size: 100 },
        { path: 'vae', address: 'hf://org/q@fp16/vae', kind: 'folder', size: 30 },
      ],
    );
  });

  describe('from the loopback Hub and a local cache', () => {
    let hub: FixtureServer;
    let quants: string;
    before(async () => {
      quants = tempDir();
      for (const q of ['Q4_K_M', 'F16']) fs.copyFileSync(fixture('gguf/tiny-llama.gguf'), path.join(quants, `tiny-${q}.gguf`));
      hub = await FixtureServer.start({ repos: { 'test/quants': { dir: quants, token: 'hf_sekrit' }, 'test/gpt2-tied': { dir: TIED } } });
    });
    after(async () => {
      await hub.close();
      fs.rmSync(quants, { recursive: true, force: true });
    });

    it('lists the GGUF files of a repository (one API request, with the token), and nothing for a plain one', async () => {
      hub.resetLog();
      const r = await listWeightChoices('hf://test/quants', { endpoint: hub.url, token: 'hf_sekrit', cache: 'never' });
      assert.strictEqual(r.from, 'hub');
      const size = fs.statSync(fixture('gguf/tiny-llama.gguf')).size;
      assert.deepStrictEqual(r.choices.map((c) => [c.address, c.size]), [
        ['hf://test/quants/tiny-F16.gguf', size],
        ['hf://test/quants/tiny-Q4_K_M.gguf', size],
      ]);
      assert.deepStrictEqual(hub.log.map((l) => [l.path.replace(/\?.*/, ''), l.auth]), [['/api/models/test/quants', true]]);
      assert.deepStrictEqual((await listWeightChoices('hf://test/gpt2-tied', { endpoint: hub.url, token: null, cache: 'never' })).choices, []);
      assert.deepStrictEqual((await listWeightChoices('https://example.invalid/x.safetensors', { endpoint: hub.url })).choices, []);
      await assert.rejects(listWeightChoices('hf://test/quants', { endpoint: hub.url, token: null, cache: 'never' }), (e: { code?: string }) => e.code === 'auth');
    });

    it('lists from the local cache when the snapshot holds the checkpoints, without the network', async () => {
      const cache = tempDir();
      try {
        const sha = 'b'.repeat(40);
        const snap = path.join(cache, 'models--test--quants', 'snapshots', sha);
        fs.mkdirSync(snap, { recursive: true });
        fs.mkdirSync(path.join(cache, 'models--test--quants', 'refs'));
        fs.writeFileSync(path.join(cache, 'models--test--quants', 'refs', 'main'), sha);
        for (const f of fs.readdirSync(quants)) fs.copyFileSync(path.join(quants, f), path.join(snap, f));
        hub.resetLog();
        const r = await listWeightChoices('hf://test/quants', { endpoint: hub.url, cacheDir: cache, token: null });
        assert.strictEqual(r.from, 'cache');
        assert.strictEqual(r.commit, sha);
        assert.deepStrictEqual(r.choices.map((c) => c.path), ['tiny-F16.gguf', 'tiny-Q4_K_M.gguf']);
        assert.strictEqual(hub.log.length, 0);
      } finally {
        fs.rmSync(cache, { recursive: true, force: true });
      }
    });
  });
});

describe('extension: remote checkpoints through the worker', function () {
  this.timeout(60_000);
  let hub: FixtureServer;
  let files: FixtureServer;
  let cache: string;
  const saved: Record<string, string | undefined> = {};
  const SHA = 'c'.repeat(40);

  before(async function () {
    if (!fs.existsSync(WORKER)) this.skip();
    // The worker inherits this environment: no token from the machine it runs on.
    for (const k of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_ENDPOINT', 'HF_HUB_OFFLINE']) saved[k] = process.env[k];
    delete process.env.HF_TOKEN;
    delete process.env.HUGGING_FACE_HUB_TOKEN;
    delete process.env.HF_HUB_OFFLINE;
    process.env.HF_TOKEN_PATH = path.join(tempDir(), 'no-token');
    hub = await FixtureServer.start({ repos: { 'test/private': { dir: TIED, token: 'hf_sekrit' }, 'test/gpt2-tied': { dir: TIED } } });
    files = await FixtureServer.start({ files: fixture('safetensors'), latencyMs: 0 });
    process.env.HF_ENDPOINT = hub.url;
    cache = tempDir();
    const repo = path.join(cache, 'models--test--cached');
    fs.mkdirSync(path.join(repo, 'snapshots', SHA), { recursive: true });
    fs.mkdirSync(path.join(repo, 'blobs'));
    fs.mkdirSync(path.join(repo, 'refs'));
    fs.writeFileSync(path.join(repo, 'refs', 'main'), SHA);
    for (const f of ['config.json', 'model.safetensors']) {
      fs.copyFileSync(path.join(TIED, f), path.join(repo, 'blobs', `blob-${f}`));
      fs.symlinkSync(path.join('..', '..', 'blobs', `blob-${f}`), path.join(repo, 'snapshots', SHA, f));
    }
  });
  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await hub?.close();
    await files?.close();
    if (cache) fs.rmSync(cache, { recursive: true, force: true });
  });

  it('opens hf:// from the Hub with the stored token, shows the transfer while it reads, and the source in the summary', async () => {
    hub.resetLog();
    const progress: Progress[] = [];
    const ref = { address: 'hf://test/private', offline: false };
    const r = await loadCheckpoint(ref.address, { workerPath: WORKER, remote: remoteOpenOptions(ref, 'hf_sekrit', hub.url), onProgress: (p) => progress.push(p) });
    try {
      const s = r.head.summary;
      assert.strictEqual(String(s.parameters.unique), String(TRUTH['gpt2-tied'].parameters.unique));
      assert.strictEqual(s.path, 'hf://test/private/model.safetensors');
      assert.strictEqual(s.fileName, 'model.safetensors');
      const src = s.source!;
      assert.strictEqual(src.kind, 'hf');
      assert.strictEqual(src.repo, 'test/private');
      assert.strictEqual(src.file, 'model.safetensors');
      assert.match(src.revision!, /^[0-9a-f]{40}$/);
      // Every request carried the token, and the headers only travelled.
      assert.ok(hub.log.length >= 2 && hub.log.every((l) => l.auth), JSON.stringify(hub.log.map((l) => [l.path, l.auth])));
      assert.ok(src.requests! >= 2 && src.bytesTransferred! > 0 && src.bytesTransferred! < fs.statSync(path.join(TIED, 'model.safetensors')).size);
      assert.ok(progress.some((p) => p.stage === 'reading' && (p.requests ?? 0) > 0), JSON.stringify(progress));
      assert.match(transferText(progress.filter((p) => p.requests !== undefined).pop()!)!, /^\d+ requests?, .+ transferred/);
    } finally {
      r.backend.dispose();
    }
  });

  it('without a stored token falls back to the environment, and a private repository says how to give one', async () => {
    await assert.rejects(
      loadCheckpoint('hf://test/private', { workerPath: WORKER, remote: remoteOpenOptions({ address: 'hf://test/private', offline: false }, undefined, hub.url) }),
      (e: unknown) => e instanceof LoadError && e.code === 'auth' && /Weightscope: Set Hugging Face Token/.test(e.message),
    );
    process.env.HF_TOKEN = 'hf_sekrit';
    try {
      const r = await loadCheckpoint('hf://test/private', { workerPath: WORKER, remote: {} });
      r.backend.dispose();
    } finally {
      delete process.env.HF_TOKEN;
    }
  });

  it('a plain URL: the stored token is not sent, the URL shows without its query', async () => {
    files.resetLog();
    const url = `${files.url}/files/gpt2-tied/model.safetensors?sig=secret`;
    const r = await loadCheckpoint(url, { workerPath: WORKER, remote: remoteOpenOptions({ address: url, offline: false }, 'hf_sekrit', hub.url) });
    try {
      const src = r.head.summary.source!;
      assert.strictEqual(src.kind, 'url');
      assert.strictEqual(src.address, `${files.url}/files/gpt2-tied/model.safetensors`);
      assert.doesNotMatch(JSON.stringify(r.head.summary), /secret/);
      assert.ok(files.log.length > 0 && files.log.every((l) => !l.auth));
      assert.strictEqual(sourceLine(src).hasPage, false);
    } finally {
      r.backend.dispose();
    }
  });

  it('the editor gets the typed errors: a server that ignores ranges (stopped, not downloaded), a missing file', async () => {
    const big = tempDir();
    const noRanges = await FixtureServer.start({ files: big, faults: { ignoreRanges: true } });
    try {
      // Larger than what the first read asks for: answering it whole would download the file.
      fs.writeFileSync(path.join(big, 'model.safetensors'), Buffer.concat([fs.readFileSync(path.join(TIED, 'model.safetensors')), Buffer.alloc(4 << 20)]));
      await assert.rejects(
        loadCheckpoint(`${noRanges.url}/files/model.safetensors`, { workerPath: WORKER, remote: {} }),
        (e: unknown) => e instanceof LoadError && e.code === 'no-ranges' && /range/i.test(e.message),
      );
      await assert.rejects(
        loadCheckpoint(`${files.url}/files/gpt2-tied/nothing.safetensors`, { workerPath: WORKER, remote: {} }),
        (e: unknown) => e instanceof LoadError && e.code === 'not-found' && /404/.test(e.message),
      );
    } finally {
      await noRanges.close();
      fs.rmSync(big, { recursive: true, force: true });
    }
  });

  it('opens a cached model offline (no request) and says so', async () => {
    hub.resetLog();
    const ref = { address: 'hf://test/cached', offline: true };
    const r = await loadCheckpoint(ref.address, { workerPath: WORKER, remote: { ...remoteOpenOptions(ref, undefined, hub.url), cacheDir: cache } });
    try {
      const src = r.head.summary.source!;
      assert.strictEqual(src.kind, 'hf-cache');
      assert.strictEqual(src.revision, SHA);
      assert.strictEqual(src.file, 'model.safetensors');
      assert.match(src.note!, /offline from the local Hugging Face cache/);
      assert.strictEqual(String(r.head.summary.parameters.unique), String(TRUTH['gpt2-tied'].parameters.unique));
      assert.strictEqual(hub.log.length, 0);
      const line = sourceLine(src);
      assert.strictEqual(line.transfer, 'nothing transferred');
      assert.strictEqual(line.revision, SHA.slice(0, 7));
    } finally {
      r.backend.dispose();
    }
    // Offline means offline: a model not in the cache is an error, not a request.
    await assert.rejects(loadCheckpoint('hf://test/gpt2-tied', { workerPath: WORKER, remote: { cache: 'only', cacheDir: cache } }), (e: unknown) => e instanceof LoadError && e.code === 'not-found');
    assert.strictEqual(hub.log.length, 0);
  });

  it('closing the editor while the headers travel stops the worker', async () => {
    const slow = await FixtureServer.start({ repos: { 'test/slow': { dir: TIED } }, latencyMs: 400 });
    try {
      const ac = new AbortController();
      let exited = false;
      const p = loadCheckpoint('hf://test/slow', { workerPath: WORKER, signal: ac.signal, remote: { endpoint: slow.url }, onExit: () => (exited = true) });
      setTimeout(() => ac.abort(), 100);
      await assert.rejects(p, (e: unknown) => e instanceof LoadCancelled);
      const until = Date.now() + 5000;
      while (!exited && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.ok(exited, 'the worker did not exit');
    } finally {
      await slow.close();
    }
  });
});

describe('extension: remote checkpoints, the summary source line', () => {
  it('says where, which revision and file, and what travelled', () => {
    const l = sourceLine({ kind: 'hf', address: 'hf://openai-community/gpt2@main', repo: 'openai-community/gpt2', repoType: 'model', revision: '607a30d783dfa663caf39e06633721c8d4cfcd7e', ref: 'main', file: 'model.safetensors', bytesTransferred: 66010, requests: 4 });
    assert.deepStrictEqual(
      { where: l.where, what: l.what, revision: l.revision, file: l.file, transfer: l.transfer, hasPage: l.hasPage },
      { where: 'Hugging Face Hub', what: 'openai-community/gpt2', revision: 'main · 607a30d', file: 'model.safetensors', transfer: '64.5 KiB in 4 requests', hasPage: true },
    );
    assert.match(l.title, /commit 607a30d783dfa663caf39e06633721c8d4cfcd7e \(main\)/);
    assert.match(l.title, /66,010 bytes transferred in 4 HTTP requests/);
    assert.strictEqual(sourceLine({ kind: 'hf', address: 'hf://d/s', repo: 'd/s', repoType: 'dataset' }).what, 'datasets/d/s');
  });

  it('the worker fills it from the checkpoint, URLs without their query', () => {
    assert.strictEqual(wireSource({ path: '/x' }), undefined);
    const w = wireSource({ path: 'https://h/x.gguf', source: { kind: 'url', address: 'https://h/x.gguf?sig=s', url: 'https://h/x.gguf' }, bytesTransferred: 10, requests: 1 })!;
    assert.deepStrictEqual(w, { kind: 'url', address: 'https://h/x.gguf', url: 'https://h/x.gguf', bytesTransferred: 10, requests: 1 });
    const h = wireSource({ path: 'hf://o/n@v1/unet/m.safetensors', source: { kind: 'hf', address: 'hf://o/n@v1/unet', repo: 'o/n', repoType: 'model', revision: 'a'.repeat(40), ref: 'v1' } })!;
    assert.strictEqual(h.file, 'unet/m.safetensors');
  });
});

describe('extension: the Hugging Face Cache view', () => {
  it('each cached revision opens by its ref (main: no @) or its commit, and offers its checkpoints when it holds several', async () => {
    const cache = tempDir();
    try {
      const A = 'a'.repeat(40);
      const B = 'b'.repeat(40);
      const C = 'c'.repeat(40);
      const repo = path.join(cache, 'models--test--quants');
      const snap = (sha: string, files: Record<string, string>) => {
        for (const [name, from] of Object.entries(files)) {
          fs.mkdirSync(path.dirname(path.join(repo, 'snapshots', sha, name)), { recursive: true });
          fs.copyFileSync(from, path.join(repo, 'snapshots', sha, name));
        }
      };
      const gguf = fixture('gguf/tiny-llama.gguf');
      snap(A, { 'm-Q4_K_M.gguf': gguf, 'm-Q8_0.gguf': gguf });
      snap(B, { 'model.safetensors': path.join(TIED, 'model.safetensors'), 'config.json': path.join(TIED, 'config.json') });
      snap(C, { 'model.safetensors': path.join(TIED, 'model.safetensors') });
      // huggingface_hub names a ref file after the revision asked for (refs/v1, refs/refs/pr/3).
      fs.mkdirSync(path.join(repo, 'refs', 'refs', 'pr'), { recursive: true });
      fs.writeFileSync(path.join(repo, 'refs', 'main'), A);
      fs.writeFileSync(path.join(repo, 'refs', 'v1'), B);
      fs.writeFileSync(path.join(repo, 'refs', 'refs', 'pr', '3'), B);
      // A dataset of parquet files holds no checkpoint: the view leaves it out (remote.ts filters on weights).
      fs.mkdirSync(path.join(cache, 'datasets--org--set', 'snapshots', C), { recursive: true });
      fs.writeFileSync(path.join(cache, 'datasets--org--set', 'snapshots', C, 'train.parquet'), 'PAR1');
      const repos = await listCachedRepos({ cacheDir: cache });
      assert.deepStrictEqual(repos.map((r) => [r.repo, r.revisions.some((v) => v.weights.length)]), [['org/set', false], ['test/quants', true]]);
      const q = repos[1];
      const byCommit = new Map(q.revisions.map((r) => [r.commit, r]));
      const a = byCommit.get(A)!;
      const b = byCommit.get(B)!;
      const c = byCommit.get(C)!;
      assert.strictEqual(cachedRevisionAddress(q, a), 'hf://test/quants');
      assert.deepStrictEqual(b.refs, ['refs/pr/3', 'v1']);
      assert.strictEqual(cachedRevisionAddress(q, b), 'hf://test/quants@refs/pr/3');
      assert.strictEqual(cachedRevisionAddress(q, c), `hf://test/quants@${C}`);
      assert.strictEqual(cachedRevisionLabel(a), 'main (aaaaaaa)');
      assert.strictEqual(cachedRevisionLabel(c), 'ccccccc');
      const size = fs.statSync(gguf).size;
      assert.deepStrictEqual(cachedChoices(q, a).map((x) => [x.address, x.size]), [
        ['hf://test/quants/m-Q4_K_M.gguf', size],
        ['hf://test/quants/m-Q8_0.gguf', size],
      ]);
      assert.deepStrictEqual(cachedChoices(q, b), []);
      // What the view opens is what the worker finds in the cache: the address resolves to the snapshot.
      const { findSnapshot } = await import('../src/core/remote');
      const { parseAddress } = await import('../src/core/remote/address');
      for (const [rev, sha] of [[a, A], [b, B], [c, C]] as const) {
        const addr = parseAddress(cachedRevisionAddress(q, rev), EP);
        assert.ok(addr.kind === 'hf');
        assert.strictEqual(findSnapshot(cache, addr)!.commit, sha);
      }
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });
});
