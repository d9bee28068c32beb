/**
 * `--json` is written piece by piece (reportJsonChunks): the pieces joined must be exactly
 * JSON.stringify(toReport(cp), null, 2) + '\n', on every fixture and on a model large enough to
 * take every streaming path (tensors in batches, a module tree written subtree by subtree).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { openCheckpoint, toReport, reportJsonChunks, Checkpoint } from '../src/core';
import { FIXTURES, REPO, tempDir } from './helpers';

/** Every file and shard index under test/fixtures a checkpoint might be (those that open). */
function candidates(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) candidates(p, out);
    else if (/\.(safetensors|bin|pt|pth|ckpt|gguf|onnx|pkl)$|\.index\.json$/.test(e.name)) out.push(p);
  }
  return out;
}

function whole(cp: Checkpoint): string {
  return JSON.stringify(toReport(cp), null, 2) + '\n';
}

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
      // A tiny chunk size, so pieces break everywhere.
      assert.strictEqual([...reportJsonChunks(cp, 64)].join(''), whole(cp), f);
    }
    assert.ok(opened >= 40, `only ${opened} fixtures opened`);
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
    });

    it('yields pieces of bounded size, not the document', () => {
      const text = whole(cp);
      const pieces = [...reportJsonChunks(cp, 1 << 14)];
      const largest = Math.max(...pieces.map((p) => p.length));
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
