import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { contentSecurityPolicy, makeNonce, webviewHtml } from '../src/extension/html';
import { LoadCancelled, LoadError, loadCheckpoint, openTimingText, ParserPool } from '../src/extension/loader';
import { defaultExportPath } from '../src/extension/naming';
import { binOffers } from '../src/extension/offers';
import { openCheckpoint } from '../src/core';
import { EXPORT_FORMATS, exportAs } from '../src/core/export';
import { RpcError } from '../src/shared/rpc';
import { progressText } from '../webview/src/data/progress';
import { fixture, REPO, tempDir } from './helpers';

const TIED = fixture('safetensors', 'gpt2-tied', 'model.safetensors');
const WORKER = path.join(REPO, 'out', 'src', 'worker', 'main.js');

describe('extension: webview HTML', () => {
  it('has a strict CSP with a nonce and no remote or inline sources', () => {
    const nonce = makeNonce();
    assert.match(nonce, /^[A-Za-z0-9]{20,}$/);
    assert.notStrictEqual(nonce, makeNonce());
    const csp = contentSecurityPolicy('vscode-webview://abc', nonce);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, new RegExp(`script-src 'nonce-${nonce}'`));
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:|\*/);
    const html = webviewHtml({ cspSource: 'vscode-webview://abc', nonce, scriptUri: 'S"<', styleUri: 'st', codiconUri: 'co', title: '<b>x</b>' });
    assert.ok(html.includes(`<script nonce="${nonce}" src="S&quot;&lt;" defer></script>`));
    // The pane is never blank: a spinner and what is opening, before the script runs.
    assert.match(html, /<div id="app" data-state="loading" data-file="&lt;b&gt;x&lt;\/b&gt;"><div class="status-view" data-testid="loading">.*codicon-loading.*Reading the headers of &lt;b&gt;x&lt;\/b&gt;…/);
    assert.ok(html.includes('id="vscode-codicon-stylesheet"'));
    // No CSS animation while a model opens: Chromium would draw every frame (dom.ts `spinner`).
    assert.doesNotMatch(html, /modifier-spin|animation/);
    assert.ok(html.includes('<div id="tooltip" role="tooltip" hidden></div>'));
    assert.ok(html.includes('&lt;b&gt;x&lt;/b&gt;'));
    assert.doesNotMatch(html, /<script(?![^>]*nonce)/);
  });
});

describe('extension: export file names', () => {
  it('names exports after the checkpoint, beside it', () => {
    assert.strictEqual(defaultExportPath('/m/gpt2.safetensors', 'svg'), path.join('/m', 'gpt2.svg'));
    assert.strictEqual(defaultExportPath('/m/llama/model.safetensors', 'markdown'), path.join('/m/llama', 'llama.md'));
    assert.strictEqual(defaultExportPath('/m/x.gguf', 'json'), path.join('/m', 'x.weightscope.json'));
    assert.strictEqual(defaultExportPath('/m/x.gguf', 'mermaid'), path.join('/m', 'x.mmd'));
    assert.strictEqual(defaultExportPath('/m/x.gguf', 'text'), path.join('/m', 'x.txt'));
    assert.strictEqual(defaultExportPath('/m/x.gguf', 'png'), path.join('/m', 'x.png'));
    assert.strictEqual(defaultExportPath('/m/ckpt.pth', 'svg'), path.join('/m', 'ckpt.svg'));
    assert.strictEqual(defaultExportPath('/m/gpt2/model.safetensors.index.json', 'svg'), path.join('/m/gpt2', 'gpt2.svg'));
  });
});

describe('extension: parsing off the main thread', function () {
  this.timeout(30000);

  it('parses in a worker, which then answers tensor pages, exports and metadata', async () => {
    assert.ok(fs.existsSync(WORKER), `${WORKER} (compiled by tsc)`);
    const r = await loadCheckpoint(TIED, { workerPath: WORKER });
    try {
      assert.strictEqual(r.backend.via, 'worker');
      assert.ok(r.head.moduleCount > 5);
      const kids = await r.backend.call('nodes', { kind: 'children', id: 0, from: 0, to: 10, folded: true });
      assert.ok(kids.nodes.some((n) => n.name === 'lm_head'));
      const page = await r.backend.call('tensors', { kind: 'module', path: 'lm_head', subtree: false, offset: 0, limit: 10 });
      assert.deepStrictEqual(page.items.map((t) => t.name), ['lm_head.weight']);
      const md = await r.backend.call('export', { format: 'markdown' });
      assert.match(md.data as string, /lm_head/);
      const svg = await r.backend.call('export', { format: 'svg', depth: 2 });
      assert.match(svg.data as string, /^<svg|^<\?xml/);
      const meta = JSON.parse(await r.backend.call('metadata'));
      assert.strictEqual(meta.format, 'safetensors');
      assert.strictEqual(meta.file, 'model.safetensors');
      assert.ok(meta.config);
      await assert.rejects(r.backend.call('tensors', { kind: 'module', path: 'nope', subtree: false, offset: 0, limit: 1 }), /no module/);
    } finally {
      r.backend.dispose();
    }
    await assert.rejects(r.backend.call('tensors', { kind: 'names', names: [] }), /closed/);
  });

  it('opens a TorchScript archive in the worker as the CLI does: summary, classes, roles', async () => {
    const file = path.join(REPO, 'test', 'fixtures', 'torchscript', 'traced-bn.pt');
    const r = await loadCheckpoint(file, { workerPath: WORKER });
    try {
      const cp = await openCheckpoint(file);
      assert.deepStrictEqual([r.head.summary.parameters, r.head.summary.buffers], [cp.parameters, cp.buffers]);
      const kids = await r.backend.call('nodes', { kind: 'children', id: 0, from: 0, to: 10, folded: true });
      assert.deepStrictEqual(
        kids.nodes.filter((n) => n.name === 'conv' || n.name === 'bn').map((n) => [n.name, n.type]),
        [['conv', 'Conv2d'], ['bn', 'BatchNorm2d']],
      );
      const page = await r.backend.call('tensors', { kind: 'module', path: 'bn', subtree: false, offset: 0, limit: 10 });
      assert.deepStrictEqual(
        page.items.map((t) => [t.name, t.role]),
        cp.tensors.filter((t) => t.name.startsWith('bn.')).map((t) => [t.name, t.role]),
      );
      assert.ok(page.items.some((t) => t.name === 'bn.running_mean' && t.role === 'buffer'));
    } finally {
      r.backend.dispose();
    }
  });

  it('the worker renders every export, PNG included, byte-identical to the CLI (one pipeline)', async () => {
    const cp = await openCheckpoint(TIED);
    for (const workerPath of [WORKER, undefined]) {
      const r = await loadCheckpoint(TIED, { workerPath });
      try {
        assert.strictEqual(r.backend.via, workerPath ? 'worker' : 'host');
        for (const format of EXPORT_FORMATS) {
          const got = await r.backend.call('export', { format });
          assert.strictEqual(got.format, format);
          assert.deepStrictEqual(got.data, await exportAs(cp, format), `${format} via ${r.backend.via}`);
        }
        await assert.rejects(r.backend.call('export', { format: 'exe' }), (e: unknown) => e instanceof RpcError && e.code === 'bad-params');
      } finally {
        r.backend.dispose();
      }
    }
  });

  it("reports the reader's reason and code", async () => {
    const dir = tempDir();
    const bad = path.join(dir, 'broken.safetensors');
    fs.writeFileSync(bad, Buffer.from('not a safetensors file at all, sorry'));
    for (const workerPath of [WORKER, undefined]) {
      await assert.rejects(loadCheckpoint(bad, { workerPath }), (e: unknown) => {
        assert.ok(e instanceof LoadError);
        assert.match(e.message, /broken\.safetensors/);
        assert.ok(e.code, 'a CheckpointError code');
        return true;
      });
    }
  });

  it('falls back to the host when there is no worker', async () => {
    const r = await loadCheckpoint(TIED, { workerPath: path.join(tempDir(), 'missing.js') });
    assert.strictEqual(r.backend.via, 'host');
    const page = await r.backend.call('tensors', { kind: 'names', names: ['transformer.wte.weight'] });
    assert.strictEqual(page.items.length, 1);
    const r2 = await loadCheckpoint(TIED, {});
    assert.strictEqual(r2.backend.via, 'host');
    assert.deepStrictEqual(r2.head.summary.parameters, r.head.summary.parameters);
  });

  it('says where the time of an open went, on one clock for host and worker', async () => {
    const r = await loadCheckpoint(TIED, { workerPath: WORKER });
    try {
      const t = r.head.timing!;
      assert.ok(t, 'the head carries the timing');
      // In order: the worker ready after the host started it, then the call, reading, analysis, head.
      const order = [r.started, t.ready, t.called, t.read, t.analysed, t.head, r.arrived];
      for (let i = 1; i < order.length; i++) assert.ok(order[i] >= order[i - 1], `step ${i} of ${JSON.stringify(order)}`);
      assert.match(openTimingText(r.started, r.arrived, t), /^worker start \d+ ms, call \d+ ms, reading \d+ ms, analysis \d+ ms, first view \d+ ms, head to host \d+ ms$/);
      assert.match(openTimingText(t.ready + 1, r.arrived, t), /^a spare worker, ready beforehand, call/);
    } finally {
      r.backend.dispose();
    }
  });

  it('a spare worker started after an open serves the next one; one with another heap limit is not used', async () => {
    const pool = new ParserPool(0);
    const spare = async () => {
      for (let i = 0; i < 500 && !pool.ready; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(pool.ready, 'a spare was started after the open');
    };
    try {
      const a = await loadCheckpoint(TIED, { workerPath: WORKER, pool, maxOldGenerationSizeMb: 512 });
      a.backend.dispose();
      await spare();
      // The open takes the spare (synchronously, before it awaits anything).
      const opening = loadCheckpoint(TIED, { workerPath: WORKER, pool, maxOldGenerationSizeMb: 512 });
      assert.strictEqual(pool.ready, false);
      const b = await opening;
      try {
        assert.strictEqual(b.backend.via, 'worker');
        assert.deepStrictEqual(b.head.summary, a.head.summary);
        const page = await b.backend.call('tensors', { kind: 'names', names: ['transformer.wte.weight'] });
        assert.strictEqual(page.items.length, 1);
      } finally {
        b.backend.dispose();
      }
      // Another heap limit, or another worker file: the spare is stopped, not used.
      await spare();
      assert.strictEqual(pool.take(WORKER, 1024), undefined);
      assert.strictEqual(pool.ready, false);
      pool.refill(WORKER, 512);
      await spare();
      assert.strictEqual(pool.take(path.join(tempDir(), 'other.js'), 512), undefined);
      pool.refill(WORKER, 512);
      await spare();
      const taken = pool.take(WORKER, 512);
      assert.ok(taken);
      await taken.worker.terminate();
    } finally {
      pool.dispose();
    }
    assert.strictEqual(pool.ready, false);
  });

  it('can be cancelled', async () => {
    const ac = new AbortController();
    const p = loadCheckpoint(TIED, { workerPath: WORKER, signal: ac.signal });
    ac.abort();
    await assert.rejects(p, (e: unknown) => e instanceof LoadCancelled);
  });
});

describe('extension: closing the editor stops the work', function () {
  this.timeout(120000);
  let dir: string;
  let index: string;
  before(() => {
    dir = tempDir();
    const { makeDeepSeekV3 } = require(path.join(REPO, 'scripts', 'deepseek-v3.cjs')) as { makeDeepSeekV3: (d: string, shards?: number) => string };
    index = makeDeepSeekV3(path.join(dir, 'dsv3'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('aborting an open of the 163-shard model terminates its worker mid-read', async () => {
    const ac = new AbortController();
    const progress: number[] = [];
    let exited = false;
    let afterAbort = 0;
    const gone = new Promise<void>((resolve) => {
      const p = loadCheckpoint(index, {
        workerPath: WORKER,
        signal: ac.signal,
        onExit: () => {
          exited = true;
          resolve();
        },
        onProgress: (e) => {
          if (ac.signal.aborted) afterAbort++;
          if (e.filesDone !== undefined) progress.push(e.filesDone);
          // The tab closes while the shards are being read.
          if (e.stage === 'reading' && e.filesTotal === 163 && !ac.signal.aborted) ac.abort();
        },
      });
      void assert.rejects(p, (e: unknown) => e instanceof LoadCancelled);
    });
    await gone;
    assert.ok(exited, 'the worker thread exited');
    assert.ok(progress.length >= 1 && Math.max(...progress) < 163, `it stopped before reading every shard (${Math.max(...progress)} of 163)`);
    // Nothing comes from a terminated worker.
    await new Promise((r) => setTimeout(r, 300));
    assert.strictEqual(afterAbort, 0);
  });

  it('the loading line says how many of the 163 shards are read, then how many tensors are analysed', async () => {
    // The pane's line for every progress event the worker sends during a real open, in order.
    const lines: string[] = [];
    const r = await loadCheckpoint(index, { workerPath: WORKER, onProgress: (e) => lines.push(progressText('model.safetensors.index.json', e)) });
    r.backend.dispose();
    const seen = JSON.stringify(lines);
    // First the index itself, then the shards as they are read (the last one always sent).
    assert.strictEqual(lines[0], 'Reading the headers of model.safetensors.index.json…', seen);
    const shards = lines.slice(1).filter((l) => l.startsWith('Reading'));
    for (const l of shards) assert.match(l, /^Reading the headers of model\.safetensors\.index\.json: \d{1,3} of 163 shards, [\d.]+ (B|KiB|MiB) read…$/);
    const done = shards.map((l) => Number(/: (\d+) of/.exec(l)![1]));
    assert.deepStrictEqual(done, [...done].sort((a, b) => a - b), seen);
    assert.strictEqual(done[done.length - 1], 163, seen);
    assert.deepStrictEqual(lines.slice(1 + shards.length), [
      'Analysing 91,991 tensors of model.safetensors.index.json (163 of 163 shards read)…',
      'Building the view of model.safetensors.index.json…',
    ]);
  });
});

describe('extension: the .bin offer', () => {
  it('offers a sniffed checkpoint shown in another editor, and withdraws once Weightscope has it open', () => {
    const bin = 'file:///w/pytorch_model.bin';
    const other = 'file:///w/other.bin';
    const cps = new Set([bin, other]);
    // The binary-file editor is active: offered there, and the other .bin tab gets its button.
    let o = binOffers(
      [
        { uri: bin, editor: 'other', active: true },
        { uri: other, editor: 'other', active: false },
      ],
      cps,
      new Set(),
    );
    assert.deepStrictEqual(o, { all: [bin, other], active: bin });
    // Opened in Weightscope (in another group too): no offer for it any more.
    o = binOffers(
      [
        { uri: bin, editor: 'other', active: false },
        { uri: bin, editor: 'weightscope', active: true },
        { uri: other, editor: 'other', active: false },
      ],
      cps,
      new Set(),
    );
    assert.deepStrictEqual(o, { all: [other] });
    // Not a checkpoint, or waved off: nothing.
    assert.deepStrictEqual(binOffers([{ uri: 'file:///w/x.bin', editor: 'other', active: true }], cps, new Set()), { all: [] });
    assert.deepStrictEqual(binOffers([{ uri: other, editor: 'other', active: true }], cps, new Set([other])), { all: [] });
  });

  it('activates early enough to catch a .bin opened in the first seconds', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    assert.ok(pkg.activationEvents.includes('workspaceContains:**/*.bin'), 'at start-up when the workspace has .bin files');
    assert.ok(!pkg.activationEvents.includes('*'), 'not on every start-up');
    const title = pkg.contributes.menus['editor/title'].find((m: { command: string }) => m.command === 'weightscope.openWith');
    assert.match(title.when, /resourcePath in weightscope\.binOffers/);
  });
});
