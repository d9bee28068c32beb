/**
 * The CLI as bin/weightscope.js runs it: dist/cli.js (src/cli/launch.ts), which answers
 * `--version` by itself, loads dist/cli-diff.js for `diff` and dist/cli-main.js (src/cli/main.ts)
 * for everything else, and main.ts's export registry (dist/cli-export.js), loaded only when a
 * format or the help is asked for (issue 11). The command's and diff's bundles are loaded with the
 * V8 code caches the build writes beside them (src/cli/bundles.ts).
 * The bundled tests need `npm run build`; they are skipped without dist/.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { cli, fixture, REPO, safetensorsBytes, tempDir } from './helpers';
import { CACHE_HEADER_BYTES, cacheFileOf } from '../src/cli/bundles';
import { EXPORT_FORMATS } from '../src/core/export';

const BIN = path.join(REPO, 'bin', 'weightscope.js');

function bin(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const LAUNCH = path.join(REPO, 'dist', 'cli.js');

/** dist/cli.js's main() in a new process: its status, output, and the bundles its main thread loaded. */
function launched(...args: string[]) {
  const code = `const c = require(${JSON.stringify(LAUNCH)}); c.main(${JSON.stringify(args)}).then((code) => process.stderr.write('@@' + code + ' ' + JSON.stringify(c.loadedBundles())))`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 30 });
  const m = /@@(\d+) (.*)$/.exec(r.stderr);
  assert.ok(m, `${args.join(' ')}: ${r.error ?? r.signal ?? r.stderr}`);
  return { status: Number(m[1]), stdout: r.stdout, stderr: r.stderr.slice(0, m.index), mainThreadLoaded: JSON.parse(m[2]) as string[] };
}

describe('CLI start-up', () => {
  it('--help lists every format of the export registry', () => {
    const help = cli('--help');
    assert.strictEqual(help.status, 0, help.stderr);
    for (const f of EXPORT_FORMATS) assert.match(help.stdout, new RegExp(`^ {21}${f} +\\S`, 'm'), f);
  });

  it('--format and --json are checked against the registry', () => {
    const bad = cli(fixture('safetensors', 'gpt2-124m'), '--format', 'pdf');
    assert.strictEqual(bad.status, 2);
    assert.match(bad.stderr, new RegExp(`unknown format "pdf" \\(choose ${EXPORT_FORMATS.join(', ')}\\)`));
    assert.match(bad.stderr, /^usage: weightscope <path> \[options\]$/m);
    assert.strictEqual(cli('--json', '--format', 'svg', 'x').status, 2);
  });

  it('text and JSON output load none of the exporters; other formats load the registry', () => {
    // main.ts writes text and JSON itself: both are registry formats all the same.
    assert.ok(EXPORT_FORMATS.includes('text') && EXPORT_FORMATS.includes('json'));
    const main = path.join(REPO, 'out', 'src', 'cli', 'main.js');
    const registry = path.join(REPO, 'out', 'src', 'core', 'export', 'index.js');
    const loaded = (...args: string[]): boolean => {
      const code = `require(${JSON.stringify(main)}).main(${JSON.stringify(args)}).then((c) => process.stderr.write('@@' + c + ' ' + (${JSON.stringify(registry)} in require.cache)))`;
      const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60_000 });
      const m = /@@(\d+) (true|false)$/.exec(r.stderr);
      assert.ok(m && m[1] === '0', `${args.join(' ')}: ${r.stderr}`);
      return m[2] === 'true';
    };
    const model = fixture('safetensors', 'gpt2-tied');
    assert.strictEqual(loaded(model), false);
    assert.strictEqual(loaded(model, '--json'), false);
    assert.strictEqual(loaded(model, '--format', 'json'), false);
    assert.strictEqual(loaded(model, '--format', 'text'), false);
    assert.strictEqual(loaded(model, '--format', 'markdown'), true);
  });

  describe('code caches (src/cli/bundles.ts)', () => {
    const BUNDLES = path.join(REPO, 'out', 'src', 'cli', 'bundles.js');
    /** Loads `file` with loadBundle in a new process (V8 would take a second compile in one process from its own cache), saving the caches when asked. */
    const load = (file: string, save = false): { cache: string; value: number; line: number } => {
      const code = `const b = require(${JSON.stringify(BUNDLES)}); const r = b.loadBundle(${JSON.stringify(file)}); ${save ? 'b.saveCodeCaches();' : ''} process.stdout.write(JSON.stringify({ cache: r.cache, value: r.exports.value(), line: r.exports.line() }))`;
      const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60_000 });
      assert.strictEqual(r.status, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    // A bundle as esbuild writes one: CommonJS, strict; line() says on which line its stack frame is.
    const bundle = (n: number) =>
      ['"use strict";', `exports.value = () => ${n};`, String.raw`exports.line = () => Number(/:(\d+):\d+\)?$/.exec(new Error().stack.split('\n')[1])[1]);`, ''].join('\n');

    it('a cache is used for the bundle it was made from, and for nothing else', () => {
      const file = path.join(tempDir('ws-cache-'), 'cli-main.js');
      fs.writeFileSync(file, bundle(41));
      assert.deepStrictEqual(load(file, true), { cache: 'none', value: 41, line: 3 });
      const cacheFile = cacheFileOf(file);
      assert.ok(fs.statSync(cacheFile).size > fs.statSync(file).size, 'the cache holds the bundle and the code');
      assert.deepStrictEqual(load(file), { cache: 'used', value: 41, line: 3 });
      // Rebuilt to bytes of the same length (all V8 itself compares): the cache is not used.
      fs.writeFileSync(file, bundle(42));
      assert.deepStrictEqual(load(file), { cache: 'stale', value: 42, line: 3 });
      // Refused by V8 (as one made by another Node would be): compiled from the source.
      fs.writeFileSync(file, bundle(41));
      const c = fs.readFileSync(cacheFile);
      const v8Data = CACHE_HEADER_BYTES + c.readUInt32LE(0);
      c.fill(0, v8Data, v8Data + 16);
      fs.writeFileSync(cacheFile, c);
      assert.deepStrictEqual(load(file), { cache: 'rejected', value: 41, line: 3 });
      // A truncated cache file.
      fs.writeFileSync(cacheFile, c.subarray(0, 10));
      assert.deepStrictEqual(load(file), { cache: 'stale', value: 41, line: 3 });
    });

    it('a bundle unchanged since its cache was made is not read again; a copied one is compared', () => {
      const dir = tempDir('ws-cache-');
      const file = path.join(dir, 'cli-main.js');
      // Whole seconds, which utimes sets exactly.
      const time = 1_700_000_000;
      fs.writeFileSync(file, bundle(41));
      fs.utimesSync(file, time, time);
      load(file, true);
      // Rewritten in place to other bytes of the same size, its modification time put back: the
      // bundle looks unchanged (size, time, inode), so the cache's copy runs and the file is not
      // read. (The build writes a bundle and then its cache; only this deliberate edit gets here.)
      fs.writeFileSync(file, bundle(42));
      fs.utimesSync(file, time, time);
      assert.deepStrictEqual(load(file), { cache: 'used', value: 41, line: 3 });
      // Copied elsewhere (a new inode and time): compared byte for byte, and used when equal.
      const other = path.join(tempDir('ws-cache-'), 'cli-main.js');
      fs.writeFileSync(other, bundle(41));
      fs.copyFileSync(cacheFileOf(file), cacheFileOf(other));
      assert.deepStrictEqual(load(other), { cache: 'used', value: 41, line: 3 });
      fs.writeFileSync(other, bundle(43));
      assert.deepStrictEqual(load(other), { cache: 'stale', value: 43, line: 3 });
    });

    it("the build's caches are used by this Node", function () {
      for (const name of ['cli-main.js', 'cli-diff.js', 'cli-onnx.js', 'cli-gguf.js', 'cli-dcp.js', 'cli-quant.js']) {
        const file = path.join(REPO, 'dist', name);
        if (!fs.existsSync(file)) this.skip();
        const code = `process.stdout.write(require(${JSON.stringify(BUNDLES)}).loadBundle(${JSON.stringify(file)}).cache)`;
        const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60_000 });
        assert.strictEqual(r.stdout, 'used', `dist/${name}: its cache is ${r.stdout || r.stderr} (npm run build writes it; a watch build leaves it stale)`);
      }
    });
  });

  describe('chunks (scripts/cli-chunks.mjs, src/cli/bundles.ts)', () => {
    const BUNDLES = path.join(REPO, 'out', 'src', 'cli', 'bundles.js');
    const run = (dir: string, code: string) => {
      const r = spawnSync(process.execPath, ['-e', `const b = require(${JSON.stringify(BUNDLES)}); ${code}`], { encoding: 'utf8', timeout: 60_000, cwd: dir });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };

    it('a module another file owns is that file\'s, loaded on first use, one instance for all', () => {
      // What cli-chunks.mjs writes: the command's bundle owns `errors`, a chunk owns `reader` and
      // imports `errors` from the command's bundle; the command requires the chunk in a function.
      const dir = tempDir('ws-chunks-');
      fs.writeFileSync(path.join(dir, 'cli-main.js'), [
        '"use strict";',
        'class CheckpointError extends Error {}',
        'const errors = { CheckpointError };',
        'exports.__ws = { "src/core/errors.ts": errors };',
        'exports.reader = () => require("ws:cli-x.js:src/reader.ts");',
        'exports.read = () => { try { exports.reader().read(); } catch (e) { return e instanceof CheckpointError ? "same class" : "other class"; } };',
        '',
      ].join('\n'));
      fs.writeFileSync(path.join(dir, 'cli-x.js'), [
        '"use strict";',
        'const errors = require("ws:cli-main.js:src/core/errors.ts");',
        'exports.__ws = { "src/reader.ts": { read() { throw new errors.CheckpointError("bad"); } } };',
        '',
      ].join('\n'));
      const main = JSON.stringify(path.join(dir, 'cli-main.js'));
      const r = run(dir, `const m = b.loadBundle(${main}).exports; const before = b.loadedBundles(); process.stdout.write(JSON.stringify([before, m.read(), b.loadedBundles()]))`);
      assert.strictEqual(r.status, 0, r.stderr);
      assert.deepStrictEqual(JSON.parse(r.stdout), [['cli-main.js'], 'same class', ['cli-main.js', 'cli-x.js']]);
      // A chunk from another build, without the module asked for: an error naming both, not undefined.
      fs.writeFileSync(path.join(dir, 'cli-x.js'), '"use strict";\nexports.__ws = {};\n');
      const stale = run(dir, `b.loadBundle(${main}).exports.reader()`);
      assert.notStrictEqual(stale.status, 0);
      assert.match(stale.stderr, /cli-x\.js does not hold src\/reader\.ts: the command's bundles in .* come from different builds \(run npm run build\)/);
    });

    it('each input loads the chunks its format needs, and prints what the unbundled command prints', function () {
      if (!fs.existsSync(path.join(REPO, 'dist', 'cli-main.js'))) this.skip();
      this.timeout(120_000);
      const cases: [string, string[]][] = [
        [fixture('safetensors', 'gpt2-tied'), []],
        [fixture('pytorch', 'gpt2-tied.pt'), []],
        [fixture('nemo', 'asr.nemo'), []],
        [fixture('onnx', 'tiny-gpt2.onnx'), ['cli-onnx.js']],
        [fixture('gguf', 'tiny-llama.gguf'), ['cli-gguf.js', 'cli-quant.js']],
        [fixture('dcp', 'titan'), ['cli-dcp.js']],
        [fixture('quant', 'fp8-block'), ['cli-quant.js']],
      ];
      for (const [input, chunks] of cases) {
        for (const args of [[input], [input, '--json']]) {
          const r = launched(...args);
          assert.deepStrictEqual(r.mainThreadLoaded.sort(), ['cli-main.js', ...chunks].sort(), args.join(' '));
          const unbundled = cli(...args);
          assert.deepStrictEqual({ status: r.status, stdout: r.stdout }, { status: unbundled.status, stdout: unbundled.stdout }, args.join(' '));
        }
      }
    });
  });

  describe('a large model runs in a worker thread (src/cli/launch.ts)', () => {
    /** A sharded safetensors model of `n` one-element tensors with long names, and its index. */
    const model = (n: number, missingShard = false): string => {
      const dir = tempDir('ws-large-');
      const weightMap: Record<string, string> = {};
      for (let shard = 0; shard < 2; shard++) {
        const file = `model-0000${shard + 1}-of-00002.safetensors`;
        const header: Record<string, unknown> = {};
        for (let i = shard; i < n; i += 2) {
          const name = `model.encoder.layers.${i}.attention_block.output_projection.low_rank_adapter.scale`;
          header[name] = { dtype: 'F32', shape: [1], data_offsets: [(i >> 1) * 4, (i >> 1) * 4 + 4] };
          weightMap[name] = file;
        }
        if (!(missingShard && shard === 1)) fs.writeFileSync(path.join(dir, file), safetensorsBytes(header, Math.ceil((n - shard) / 2) * 4));
      }
      fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
      return dir;
    };
    before(function () {
      if (!fs.existsSync(LAUNCH)) this.skip();
    });

    it('a shard index of 1 MiB or more, or its folder: the same output, the same status, from a worker', function () {
      this.timeout(120_000);
      const dir = model(12_000);
      const index = path.join(dir, 'model.safetensors.index.json');
      assert.ok(fs.statSync(index).size >= 1024 * 1024, 'the test model is large enough');
      for (const args of [[index], [dir], [index, '--format', 'markdown']]) {
        const r = launched(...args);
        // The main thread loaded no bundle: the worker ran the command.
        assert.deepStrictEqual(r.mainThreadLoaded, [], args.join(' '));
        const unbundled = cli(...args);
        assert.deepStrictEqual({ status: r.status, stdout: r.stdout, stderr: r.stderr }, { status: unbundled.status, stdout: unbundled.stdout, stderr: unbundled.stderr }, args.join(' '));
      }
      assert.match(launched(index).stdout, /parameters: 12,000 unique/);
      // An error comes back with its message and status.
      const broken = path.join(model(12_000, true), 'model.safetensors.index.json');
      const e = launched(broken);
      assert.deepStrictEqual(e.mainThreadLoaded, []);
      assert.strictEqual(e.status, 1);
      assert.match(e.stderr, /^error: .*shard "model-00002-of-00002\.safetensors" named by the index does not exist\n$/);
      assert.deepStrictEqual({ status: e.status, stderr: e.stderr }, { status: cli(broken).status, stderr: cli(broken).stderr });
      // A reader closing the pipe early: status 0, no stack.
      const script = `node ${JSON.stringify(BIN)} ${JSON.stringify(index)} --json | head -c 10 >/dev/null; echo "rc=\${PIPESTATUS[0]}"`;
      const piped = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      assert.match(piped.stdout, /rc=0/);
      assert.doesNotMatch(piped.stderr, /at .*\.js:\d+|EPIPE/);
    });

    it('a small model, a comparison, or an index under 1 MiB runs in the main thread', function () {
      this.timeout(60_000);
      const small = fixture('safetensors', 'gpt2-sharded', 'model.safetensors.index.json');
      assert.deepStrictEqual(launched(small).mainThreadLoaded, ['cli-main.js']);
      const large = path.join(model(12_000), 'model.safetensors.index.json');
      assert.deepStrictEqual(launched('diff', large, large).mainThreadLoaded, ['cli-diff.js']);
    });
  });

  describe('bundled (bin/weightscope.js)', () => {
    before(function () {
      if (!fs.existsSync(path.join(REPO, 'dist', 'cli.js')) || !fs.existsSync(path.join(REPO, 'dist', 'cli-main.js'))) this.skip();
    });

    it('answers --version alone as the command does', () => {
      const fast = bin('--version');
      assert.strictEqual(fast.status, 0, fast.stderr);
      assert.match(fast.stdout, /^\d+\.\d+\.\d+\S*\n$/);
      // The command's own answer (through main.ts): `--version` after another option.
      assert.deepStrictEqual(bin('--unfold', '--version'), fast);
      assert.deepStrictEqual(cli('--version'), fast);
    });

    it('runs everything else through the command: text, JSON, exports, diff, help, usage errors', function () {
      // 22 whole processes: past mocha's 20 s on a loaded 2-core machine.
      this.timeout(60_000);
      const target = fixture('safetensors', 'gpt2-tied');
      const other = fixture('safetensors', 'gpt2-untied');
      for (const args of [[target], [target, '--json'], [target, '--format', 'mermaid'], [target, '--format', 'svg'], ['diff', target, other], ['diff', target, other, '--json'], ['diff', '--help'], ['--help'], ['--bogus'], [], ['/nonexistent/x.safetensors']]) {
        assert.deepStrictEqual(bin(...args), cli(...args), args.join(' '));
      }
    });
  });
});
