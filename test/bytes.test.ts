import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { openCheckpoint } from '../src/core';
import { FileByteSource, MemoryByteSource, withHead } from '../src/core/bytes';
import { CallPace, filePace } from '../src/core/file-calls';
import { FIXTURES, REPO } from './helpers';

describe('byte sources', () => {
  const data = Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 7) & 0xff));

  it('a read past the sniffed head reads the rest into the result: no buffer of its own, no copy', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ws-bytes-')), 'f.bin');
    fs.writeFileSync(file, data);
    const src = await FileByteSource.open(file);
    try {
      const head = await src.read(0, 64);
      const read = src.read.bind(src);
      let reads = 0;
      src.read = (offset, length) => {
        reads++;
        return read(offset, length);
      };
      const got = await withHead(src, head).read(8, 150);
      assert.deepStrictEqual(Buffer.from(got), data.subarray(8, 158));
      assert.strictEqual(reads, 0);
      assert.strictEqual(src.bytesRead, 158, 'each byte counted once');
    } finally {
      await src.close();
      fs.rmSync(path.dirname(file), { recursive: true });
    }
  });

  it('a source that cannot read into a buffer is read and copied', async () => {
    const src = new MemoryByteSource('m', data);
    const head = await src.read(0, 64);
    assert.deepStrictEqual(Buffer.from(await withHead(src, head).read(60, 100)), data.subarray(60, 160));
    assert.strictEqual(src.bytesRead, 64 + 96);
  });
});

describe('file calls: synchronous while storage answers fast (src/core/file-calls.ts)', () => {
  afterEach(() => filePace.async(false));

  /** A pace on a clock that only the calls move: a call `ms` long (a disk seeking, a network round trip) advances it by `ms`. */
  const paced = () => {
    let clock = 0;
    const pace = new CallPace(() => clock);
    const call = (ms: number, bytes?: number) =>
      pace.call(
        () => {
          clock += ms;
          return 'sync';
        },
        () => Promise.resolve('pool'),
        bytes,
      );
    return { pace, call };
  };

  it('calls are synchronous while fast; an error is the promise rejected', async () => {
    const { pace, call } = paced();
    for (let i = 0; i < 100; i++) assert.strictEqual(await call(0.2), 'sync');
    await assert.rejects(
      pace.call(() => fs.openSync(path.join(os.tmpdir(), 'ws-no-such-dir', 'x'), 'r'), () => Promise.resolve(-1)),
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
    );
    assert.strictEqual(pace.async(), false);
  });

  it('after three slow calls, calls go through the thread pool; a read is allowed time for its size', async () => {
    const { pace, call } = paced();
    // A read of 1 MB is allowed 10 ms more than a call without bytes: 8 ms is not slow for it.
    for (let i = 0; i < 5; i++) assert.strictEqual(await call(8, 1_000_000), 'sync');
    // One slow call (a thread descheduled mid-call) is not enough, nor two ...
    assert.strictEqual(await call(8), 'sync');
    assert.strictEqual(await call(0.1), 'sync');
    assert.strictEqual(await call(8), 'sync');
    assert.strictEqual(pace.async(), false);
    // ... a third is, and the slow call itself has its answer.
    assert.strictEqual(await call(8), 'sync');
    assert.strictEqual(pace.async(), true);
    assert.strictEqual(await call(0), 'pool');
    // Set back, the count starts again.
    pace.async(false);
    assert.strictEqual(await call(8), 'sync');
    assert.strictEqual(await call(8), 'sync');
    assert.strictEqual(pace.async(), false);
  });

  it('a checkpoint read either way is the same', async () => {
    const targets = [
      path.join(FIXTURES, 'safetensors', 'gpt2-sharded', 'model.safetensors.index.json'),
      path.join(FIXTURES, 'pytorch', 'gpt2-tied.pt'),
      path.join(FIXTURES, 'gguf', 'split', 'tiny-llama-split-00001-of-00002.gguf'),
      path.join(FIXTURES, 'onnx', 'external', 'tiny-gpt2-ext.onnx'),
      path.join(FIXTURES, 'quant', 'fp8-block'),
    ];
    for (const target of targets) {
      filePace.async(true);
      const pooled = await openCheckpoint(target);
      filePace.async(false);
      const sync = await openCheckpoint(target);
      assert.deepStrictEqual(sync, pooled, target);
      assert.ok(sync.tensors.length > 0, target);
    }
  });
});

describe('files that are not regular files', () => {
  it('a FIFO is a typed error at once, not an open waiting for a writer (both ways of calling)', async function () {
    if (process.platform === 'win32') this.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-fifo-'));
    const fifo = path.join(dir, 'model.safetensors');
    if (spawnSync('mkfifo', [fifo]).status !== 0) this.skip();
    try {
      // In a process of its own: an open that waits for a writer would hold this one too (a
      // synchronous call), where a timeout can end the child.
      const core = JSON.stringify(path.join(REPO, 'out', 'src', 'core', 'index.js'));
      const calls = JSON.stringify(path.join(REPO, 'out', 'src', 'core', 'file-calls.js'));
      const code = `const { openCheckpoint } = require(${core}); const { filePace } = require(${calls});
        (async () => { for (const pooled of [false, true]) { filePace.async(pooled);
          try { await openCheckpoint(${JSON.stringify(fifo)}); console.log('opened'); } catch (e) { console.log(e.code, e.file, e.detail); } } })();`;
      const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 20_000 });
      assert.strictEqual(r.signal, null, 'the open waited for a writer');
      const line = 'io model.safetensors is not a regular file (a pipe, socket or device)';
      assert.strictEqual(r.stdout, `${line}\n${line}\n`, r.stderr);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});
