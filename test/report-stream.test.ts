/**
 * `--json` is written chunk by chunk (reportJsonBytes, straight from the model's objects): the
 * chunks joined must be exactly the UTF-8 of JSON.stringify(toReport(cp), null, 2) + '\n', on
 * every fixture, on names holding any character, and on a model large enough to take every
 * streaming path (tensors row by row, a module tree written subtree by subtree).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { openCheckpoint, toReport, reportJsonChunks, Checkpoint } from '../src/core';
import { reportJson, reportJsonBytes } from '../src/core/report';
import { exportAs } from '../src/core/export';
import { FIXTURES, REPO, filesUnder, fixture, safetensorsBytes, tempDir } from './helpers';

/** Every file and shard index under test/fixtures a checkpoint might be (those that open). */
const candidates = (dir: string): string[] => filesUnder(dir, (n) => /\.(safetensors|bin|pt|pth|ckpt|gguf|onnx|pkl)$|\.index\.json$/.test(n));

function whole(cp: Checkpoint): string {
  return JSON.stringify(toReport(cp), null, 2) + '\n';
}

/** The chunks of reportJsonBytes joined (each copied as it comes: the writer reuses its buffer). */
function bytes(cp: Checkpoint, chunk?: number): Buffer {
  const parts: Buffer[] = [];
  for (const b of reportJsonBytes(cp, chunk)) parts.push(Buffer.from(b));
  return Buffer.concat(parts);
}

/** Names no tokenizer would make but a file may hold: JSON's escapes, control characters, lone surrogates, U+2028. */
const HOSTILE = ['quote"d', 'back\\slash', 'ctl\u0001\u001f\u007f', 'tab\tnl\n', 'ls\u2028ps\u2029', 'lone\ud800', 'low\udc00', 'pair🦙', 'é模型'];

describe('streamed --json (issue 11)', function () {
  this.timeout(120_000);

  it('joins to the same bytes as one JSON.stringify on every fixture that opens', async () => {
    let opened = 0;
    for (const f of candidates(FIXTURES)) {
      let cp: Checkpoint;
      try {
        cp = await openCheckpoint(f);
      } catch {
        continue; // bad-input fixtures: their errors are tested elsewhere
      }
      opened++;
      // A tiny chunk size, so chunks break everywhere.
      assert.strictEqual([...reportJsonChunks(cp, 64)].join(''), whole(cp), f);
      assert.deepStrictEqual(bytes(cp), Buffer.from(whole(cp), 'utf8'), f);
      // The editor's "Export report as JSON…" gives the same document as one string.
      assert.strictEqual(reportJson(cp), whole(cp), f);
    }
    assert.ok(opened >= 40, `only ${opened} fixtures opened`);
  });

  it('writes tensor names holding any character as JSON.stringify does, read from a file', async () => {
    const header: Record<string, unknown> = { __metadata__: { format: 'pt', [HOSTILE.join('|')]: HOSTILE.join('\n') } };
    HOSTILE.forEach((h, i) => {
      header[`layer.${h}.weight`] = { dtype: 'F32', shape: [2, 2], data_offsets: [i * 16, i * 16 + 16] };
      header[`${h}.bias`] = { dtype: 'F16', shape: [2], data_offsets: [HOSTILE.length * 16 + i * 4, HOSTILE.length * 16 + i * 4 + 4] };
    });
    const file = path.join(tempDir(), 'hostile.safetensors');
    fs.writeFileSync(file, safetensorsBytes(header, HOSTILE.length * 20));
    const cp = await openCheckpoint(file);
    assert.ok(cp.tensors.some((t) => t.name.includes('\ud800')) && cp.tensors.some((t) => t.name.includes('\u2028')), 'the names reached the model');
    for (const chunk of [1, 64, undefined]) assert.deepStrictEqual(bytes(cp, chunk), Buffer.from(whole(cp), 'utf8'), `chunks of ${chunk}`);
    assert.strictEqual(await exportAs(cp, 'json', {}), whole(cp), 'Export report as JSON…');
  });

  it('writes every field of every shape with hostile strings and numbers as JSON.stringify does', async () => {
    const cp = await openCheckpoint(fixture('safetensors', 'gpt2-tied', 'model.safetensors'));
    assert.ok(cp.shared.length > 0 && cp.modules.children.length > 0);
    let i = 0;
    const h = (): string => HOSTILE[i++ % HOSTILE.length];
    for (const t of cp.tensors) {
      t.roleReason = h();
      t.file = h();
      t.formatDtype = h();
      t.extra = { [h()]: h(), n: -0, big: 2 ** 53 + 2, f: 0.1, ok: true };
      t.dataOffset = 2 ** 40 + i;
    }
    for (const s of cp.storages) s.id = h();
    for (const g of cp.shared) g.reason = h();
    const walk = (m: Checkpoint['modules']): void => {
      m.type = h();
      m.repr = h();
      m.evidence = h();
      m.bytesByDtype = { [h()]: 1e21, [h()]: NaN };
      m.children.forEach(walk);
    };
    walk(cp.modules);
    cp.warnings.push({ code: h(), message: h() });
    for (const chunk of [1, 64, undefined]) assert.deepStrictEqual(bytes(cp, chunk), Buffer.from(whole(cp), 'utf8'), `chunks of ${chunk}`);
  });

  it('a hundred names nested 256 levels deep: the tree stops at 64 levels, and its JSON comes in bounded chunks, the same bytes', async () => {
    const header: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) header[[`b${i}`, ...Array.from({ length: 255 }, () => 'm'), 'weight'].join('.')] = { dtype: 'F32', shape: [1], data_offsets: [4 * i, 4 * i + 4] };
    const p = path.join(tempDir(), 'deep.safetensors');
    fs.writeFileSync(p, safetensorsBytes(header, 400));
    const cp = await openCheckpoint(p);
    let depth = 0;
    const walk = (m: Checkpoint['modules'], d: number): void => {
      depth = Math.max(depth, d);
      m.children.forEach((c) => walk(c, d + 1));
    };
    walk(cp.modules, 0);
    assert.strictEqual(depth, 64);
    assert.strictEqual(cp.parameters.unique, 100);
    const text = whole(cp);
    const pieces: Buffer[] = [];
    for (const b of reportJsonBytes(cp, 1 << 16)) pieces.push(Buffer.from(b));
    assert.ok(pieces.length > 20, `${pieces.length} pieces of ${text.length} bytes`);
    const largest = Math.max(...pieces.map((b) => b.length));
    assert.ok(largest < 2 << 20, `largest piece ${largest} bytes`);
    assert.ok(Buffer.concat(pieces).equals(Buffer.from(text, 'utf8')), 'the same bytes as JSON.stringify');
  });

  describe('a DeepSeek-V3-like model (8 experts a layer, 7 shards)', () => {
    let cp: Checkpoint;
    let index: string;
    before(async () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { makeDeepSeekV3 } = require(path.join(REPO, 'scripts', 'deepseek-v3.cjs')) as { makeDeepSeekV3: (d: string, shards: number, o: { experts: number }) => string };
      index = makeDeepSeekV3(path.join(tempDir(), 'dsv3'), 7, { experts: 8 });
      cp = await openCheckpoint(index);
    });

    it('takes the streaming paths and joins to the same bytes', () => {
      assert.ok(cp.tensors.length > 1000, `${cp.tensors.length} tensors`);
      assert.ok(cp.modules.tensorCount > 512 && cp.modules.children.length > 0);
      const pieces = [...reportJsonChunks(cp, 4096)];
      assert.ok(pieces.length > 50, `${pieces.length} pieces`);
      assert.strictEqual(pieces.join(''), whole(cp));
      assert.deepStrictEqual(bytes(cp), Buffer.from(whole(cp), 'utf8'));
    });

    it('yields pieces of bounded size, not the document', () => {
      const text = whole(cp);
      const pieces = [...reportJsonBytes(cp, 1 << 14)].map((b) => b.length);
      const largest = Math.max(...pieces);
      assert.ok(largest < text.length / 10, `largest piece ${largest} of ${text.length}`);
    });

    it('the CLI writes it to stdout and to -o identically', function () {
      const cli = path.join(REPO, 'bin', 'weightscope.js');
      if (!fs.existsSync(path.join(REPO, 'dist', 'cli.js'))) this.skip();
      const r = spawnSync(process.execPath, [cli, index, '--json'], { encoding: 'utf8', maxBuffer: 1 << 28 });
      assert.strictEqual(r.status, 0, r.stderr);
      assert.strictEqual(r.stdout, whole(cp));
      const out = path.join(tempDir(), 'r.json');
      const w = spawnSync(process.execPath, [cli, index, '--json', '-o', out], { encoding: 'utf8' });
      assert.strictEqual(w.status, 0, w.stderr);
      assert.strictEqual(fs.readFileSync(out, 'utf8'), r.stdout);
    });
  });
});
