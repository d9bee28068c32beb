/**
 * Inputs found by adversarial review: each must end in a typed error or a bounded answer, and
 * nothing from a file may reach a terminal as control characters.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { openCheckpoint, toReport, CheckpointError } from '../src/core';
import { analyze } from '../src/core/analyze';
import { RawCheckpoint, TensorRecord } from '../src/core/model';
import { cli, fixture, REPO, safetensorsBytes, tempDir } from './helpers';

describe('robustness', () => {
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const sub = (name: string) => {
    const p = path.join(dir, name);
    fs.mkdirSync(p, { recursive: true });
    return p;
  };

  it('an index naming itself, or two naming each other, is an error, not a loop', async () => {
    const d = sub('self-index');
    fs.writeFileSync(path.join(d, 'a.safetensors.index.json'), JSON.stringify({ weight_map: { x: 'b.safetensors.index.json' } }));
    fs.writeFileSync(path.join(d, 'b.safetensors.index.json'), JSON.stringify({ weight_map: { x: 'a.safetensors.index.json' } }));
    await assert.rejects(openCheckpoint(path.join(d, 'a.safetensors.index.json')), (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      assert.strictEqual(e.code, 'bad-index');
      assert.match(e.message, /is itself an index file/);
      return true;
    });
  });

  it('a folder with a model and its fp16 variant opens the plain one; unrelated files are not a shard set', async () => {
    const d = sub('variants');
    const st = safetensorsBytes({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 8);
    fs.writeFileSync(path.join(d, 'diffusion_pytorch_model.safetensors'), st);
    fs.writeFileSync(path.join(d, 'diffusion_pytorch_model.fp16.safetensors'), safetensorsBytes({ w: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, 4));
    const r = toReport(await openCheckpoint(d));
    assert.deepStrictEqual(r.files, ['diffusion_pytorch_model.safetensors']);
    const u = sub('unrelated');
    fs.writeFileSync(path.join(u, 'a.safetensors'), st);
    fs.writeFileSync(path.join(u, 'b.safetensors'), st);
    await assert.rejects(openCheckpoint(u), /folder holds several checkpoints \(a\.safetensors, b\.safetensors\); open one of them/);
  });

  it('a dtype named like an Object.prototype member is an unknown dtype', async () => {
    const p = path.join(dir, 'proto.safetensors');
    fs.writeFileSync(p, safetensorsBytes({ w: { dtype: 'constructor', shape: [1], data_offsets: [0, 4] } }, 4));
    await assert.rejects(openCheckpoint(p), /unknown dtype "constructor"/);
  });

  it('control characters from a file never reach the terminal: names, errors, safety lines', () => {
    const evil = 'x\u001b[2K\rsafety: safe\u001b[8m';
    const p = path.join(dir, 'esc.safetensors');
    fs.writeFileSync(p, safetensorsBytes({ [`${evil}.weight`]: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4));
    const ok = cli(p);
    assert.strictEqual(ok.status, 0, ok.stderr);
    assert.doesNotMatch(ok.stdout, /[\u001b\r]/);
    assert.match(ok.stdout, /\\x1b\[2K\\x0dsafety: safe/);
    const bad = path.join(dir, 'esc-bad.safetensors');
    fs.writeFileSync(bad, safetensorsBytes({ [evil]: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, 4));
    const err = cli(bad);
    assert.strictEqual(err.status, 1);
    assert.doesNotMatch(err.stderr, /[\u001b\r]/);
    assert.match(err.stderr, /^error: .*unknown dtype "F33"\n$/);
  });

  it('names nested 20,000 levels deep do not exhaust the stack', async () => {
    const p = path.join(dir, 'deep.safetensors');
    const name = Array.from({ length: 20_000 }, (_, i) => `m${i}`).join('.');
    fs.writeFileSync(p, safetensorsBytes({ [name]: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }, 12));
    const r = toReport(await openCheckpoint(p));
    assert.deepStrictEqual(r.parameters, { unique: 3, total: 3 });
    for (const fmt of ['text', 'json', 'svg', 'markdown', 'mermaid']) {
      const out = path.join(dir, `deep.${fmt}`);
      const r = cli(p, '--format', fmt, '-o', out);
      assert.strictEqual(r.status, 0, `${fmt}: ${r.stderr}`);
      assert.ok(fs.statSync(out).size > 0);
    }
  });

  it('thousands of strided column slices of one storage are measured within a budget', () => {
    const rows = 512;
    const tensors: TensorRecord[] = [];
    for (let c = 0; c < 2000; c++) {
      tensors.push({
        name: `cols.${c}.weight`,
        dtype: 'float32',
        shape: [rows, 1],
        nbytes: rows * 4,
        file: 'f',
        dataOffset: 0,
        storage: 's',
        storageOffset: c * 4,
        strides: [2000, 1],
        storageNbytes: rows * 2000 * 4,
      });
    }
    const raw: RawCheckpoint = { format: 'pytorch-zip', path: 'f', files: ['f'], tensors, declaredTies: [], metadata: {}, warnings: [], bytesRead: 0, totalBytes: 0 };
    const cp = analyze(raw);
    // Together the slices cover the whole matrix exactly once.
    assert.strictEqual(cp.parameters.unique, rows * 2000);
    assert.strictEqual(cp.parameters.total, rows * 2000);
  });

  it('an output file that cannot be written is one error line and exit 1', () => {
    const r = cli(fixture('safetensors', 'gpt2-tied'), '-o', path.join(dir, 'no-such-folder', 'x.txt'));
    assert.strictEqual(r.status, 1);
    assert.match(r.stderr, /^error: cannot write .*x\.txt: ENOENT\n$/);
  });

  it('usage errors: empty values, values on flags, an empty path', () => {
    const f = fixture('safetensors', 'gpt2-tied');
    for (const [args, msg] of [
      [[f, '--output='], /--output needs a value/],
      [[f, '-o'], /-o needs a value/],
      [[f, '--json=1'], /--json takes no value/],
      [[f, '--unfold=yes'], /--unfold takes no value/],
      [[''], /the checkpoint path is empty/],
      [[f, '--depth', 'x'], /--depth takes a whole number/],
      [[f, '--format', 'pdf'], /unknown format "pdf"/],
    ] as [string[], RegExp][]) {
      const r = cli(...args);
      assert.strictEqual(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
    }
  });

  it('a reader closing the pipe early (| head) is not an error and prints no stack', () => {
    const script = `node ${JSON.stringify(path.join(REPO, 'out', 'src', 'cli', 'main.js'))} ${JSON.stringify(fixture('safetensors', 'gpt2-tied'))} --json | head -c 10 >/dev/null; echo "rc=\${PIPESTATUS[0]}"`;
    const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    assert.match(r.stdout, /rc=0/);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+|EPIPE/);
  });

  it('standard output arrives whole and in order through a full non-blocking pipe (EAGAIN)', async () => {
    // Touching process.stdout makes the pipe non-blocking (libuv): the direct write meets EAGAIN
    // once the pipe is full, and the stream takes the rest and what follows.
    const pipe = path.join(REPO, 'out', 'src', 'cli', 'pipe.js');
    const size = 1 << 20;
    const script = `process.stdout; const { writeOut } = require(${JSON.stringify(pipe)}); writeOut(Buffer.alloc(${size}, 97)).then(() => writeOut('end\\n'));`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stdout.resume();
    const code = await new Promise((resolve) => child.on('close', resolve));
    const out = Buffer.concat(chunks);
    assert.strictEqual(code, 0);
    assert.strictEqual(out.length, size + 4);
    assert.ok(out.subarray(0, size).every((b) => b === 97));
    assert.strictEqual(out.subarray(size).toString(), 'end\n');
  });
});
