import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint, readCheckpoint, toReport, CheckpointError } from '../src/core';
import { hashAscii } from '../src/core/bytes';
import { parseHeaderFast } from '../src/core/formats/safetensors-header';
import { SAFETENSORS_DTYPES } from '../src/core/formats/safetensors';
import { isObject, parseJson } from '../src/core/json';
import { collidingNames, filesUnder, fixture, safetensorsBytes, tempDir } from './helpers';

const DTYPES = new Map(Object.keys(SAFETENSORS_DTYPES).map((k) => [k, k]));
const enc = (s: string) => new TextEncoder().encode(s);

/** The header as the strict parser reads it, in the fast path's terms. */
function strict(bytes: Uint8Array) {
  const doc = parseJson(bytes, { file: 'h' });
  assert.ok(isObject(doc));
  const out = { names: [] as string[], dtypes: [] as string[], shapes: [] as number[][], begins: [] as number[], ends: [] as number[], metadata: Object.create(null) as Record<string, string> };
  for (const [name, v] of doc) {
    assert.ok(isObject(v));
    if (name === '__metadata__') {
      for (const [k, s] of v) out.metadata[k] = s as string;
      continue;
    }
    const [begin, end] = v.get('data_offsets') as number[];
    out.names.push(name);
    out.dtypes.push(v.get('dtype') as string);
    out.shapes.push(v.get('shape') as number[]);
    out.begins.push(begin);
    out.ends.push(end);
  }
  return out;
}

/** The header bytes of a safetensors file (after the 8-byte length). */
function headerOf(file: string): Uint8Array {
  const b = fs.readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  return new Uint8Array(b.buffer, b.byteOffset + 8, n);
}

describe('safetensors headers: the fast path reads what the strict parser reads', () => {
  const files = filesUnder(fixture(), (n) => n.endsWith('.safetensors') || n.endsWith('.safetensors.header'));

  it('every committed safetensors header, fast and strict, gives the same entries and metadata', () => {
    assert.ok(files.length >= 20, `${files.length} files`);
    let fast = 0;
    for (const f of files) {
      const b = headerOf(f);
      const got = parseHeaderFast(b, DTYPES);
      if (!got) continue; // left to the strict parser (a deliberately odd fixture)
      fast++;
      assert.deepStrictEqual(got, strict(b), f);
    }
    // Machine-written headers (torch, safetensors' Rust writer, transformers) all take the fast path.
    assert.ok(fast >= files.length - 2, `${fast} of ${files.length} took the fast path`);
  });

  it('takes whitespace anywhere, keys in any order, empty shapes, non-ASCII names and metadata with escapes', () => {
    const header = {
      __metadata__: { format: 'pt', 'lm_head.weight': 'wte.weight', note: 'tab\there "quoted" é' },
      'wte.weight': { shape: [4, 2], data_offsets: [0, 32], dtype: 'F32' },
      'blocks.0.ln.weight': { dtype: 'BF16', data_offsets: [32, 36], shape: [2] },
      scalar: { dtype: 'F32', shape: [], data_offsets: [36, 40] },
      'tête.poids': { data_offsets: [40, 48], dtype: 'F32', shape: [2] },
    };
    for (const text of [JSON.stringify(header), JSON.stringify(header, null, 2), JSON.stringify(header, null, '\t') + '   \n  ']) {
      const b = enc(text);
      const got = parseHeaderFast(b, DTYPES);
      assert.ok(got, text.slice(0, 40));
      assert.deepStrictEqual(got, strict(b));
    }
  });

  it('equal shapes of one file share one array (90,000 experts hold a handful of shapes)', () => {
    const got = parseHeaderFast(enc('{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[2,3],"data_offsets":[24,48]},"c":{"dtype":"F32","shape":[3,2],"data_offsets":[48,72]}}'), DTYPES)!;
    assert.strictEqual(got.shapes[0], got.shapes[1]);
    assert.notStrictEqual(got.shapes[0], got.shapes[2]);
    assert.deepStrictEqual(got.shapes[2], [3, 2]);
  });

  it('leaves everything unusual to the strict parser', () => {
    const entry = '"dtype":"F32","shape":[2],"data_offsets":[0,8]';
    const cases: Record<string, string> = {
      'an escape in a name': `{"a\\u0041":{${entry}}}`,
      'a duplicate name': `{"a":{${entry}},"a":{${entry}}}`,
      'a duplicate key in an entry': '{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
      'a duplicate __metadata__': `{"__metadata__":{},"__metadata__":{},"a":{${entry}}}`,
      'an unknown key in an entry': `{"a":{${entry},"extra":1}}`,
      'a missing key': '{"a":{"dtype":"F32","shape":[2]}}',
      'an exponent': '{"a":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}',
      'a fraction': '{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}',
      'a leading zero': '{"a":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}}',
      'a negative number': '{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}',
      'sixteen digits': '{"a":{"dtype":"F32","shape":[1000000000000000],"data_offsets":[0,8]}}',
      'three offsets': '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}',
      'a number as dtype': '{"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}}',
      'a non-string metadata value': `{"__metadata__":{"k":1},"a":{${entry}}}`,
      'metadata that is not an object': `{"__metadata__":[],"a":{${entry}}}`,
      'a trailing comma': `{"a":{${entry}},}`,
      'trailing data': `{"a":{${entry}}} x`,
      'a control character in a name': `{"a\nb":{${entry}}}`,
      'an entry that is not an object': '{"a":[1]}',
    };
    for (const [what, text] of Object.entries(cases)) assert.strictEqual(parseHeaderFast(enc(text), DTYPES), undefined, what);
    assert.strictEqual(parseHeaderFast(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x7b, 0x7d, 0x7d]), DTYPES), undefined, 'invalid UTF-8');
  });

  describe('through the reader: errors keep their words and offsets', () => {
    let dir: string;
    before(() => {
      dir = tempDir();
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const open = async (name: string, raw: string, dataSize: number) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, safetensorsBytes(undefined, dataSize, raw));
      return openCheckpoint(p);
    };
    const rejects = (p: Promise<unknown>, code: string, message: RegExp, offset?: number) =>
      assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof CheckpointError, String(e));
        assert.strictEqual(e.code, code);
        assert.match(e.message, message);
        if (offset !== undefined) assert.strictEqual(e.offset, offset);
        return true;
      });

    it('a duplicate name: the strict parser names it at the second occurrence', async () => {
      const raw = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
      await rejects(open('dup.safetensors', raw, 8), 'duplicate-key', /duplicate key "w"/, 8 + raw.indexOf('"w"', 2));
    });
    it('values the fast path parsed but that do not fit: the same messages as before', async () => {
      await rejects(open('dtype.safetensors', '{"w":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}', 8), 'bad-dtype', /unknown dtype "F99"/);
      await rejects(open('size.safetensors', '{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8), 'bad-offsets', /hold 8 bytes but shape \[3\] of F32 needs 12/);
      await rejects(open('gap.safetensors', '{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', 16), 'bad-offsets', /leaves a gap of 8 bytes/);
    });
    it('65,536 names made to share one hash: the fast path gives up and the strict parser reads them in linear time (11 s, quadratic, before)', async () => {
      const names = collidingNames(16);
      assert.strictEqual(new Set(names.map(hashAscii)).size, 1);
      const text = `{${names.map((n, i) => `"${n}":{"dtype":"U8","shape":[1],"data_offsets":[${i},${i + 1}]}`).join(',')}}`;
      const p = path.join(dir, 'colliding.safetensors');
      fs.writeFileSync(p, safetensorsBytes(undefined, names.length, text));
      const started = Date.now();
      assert.strictEqual(parseHeaderFast(enc(text), DTYPES), undefined);
      const raw = await readCheckpoint(p);
      const ms = Date.now() - started;
      assert.strictEqual(raw.tensors.length, names.length);
      assert.deepStrictEqual([raw.tensors[0].name, raw.tensors[names.length - 1].name], [names[0], names[names.length - 1]]);
      assert.strictEqual(raw.tensors[names.length - 1].dataOffset, fs.statSync(p).size - 1);
      assert.ok(ms < 3000, `${ms} ms`);
    });
    it('65,536 distinct shapes made to share one hash ([0, a, K - 31a]): read in linear time, equal shapes still shared (13 s, quadratic, before)', async () => {
      const n = 65536;
      const K = 31 * n;
      const entries: string[] = [];
      for (let i = 0; i < n; i++) entries.push(`"t${i}":{"dtype":"U8","shape":[0,${i},${K - 31 * i}],"data_offsets":[0,0]}`);
      entries.push(`"u0":{"dtype":"U8","shape":[0,7,${K - 31 * 7}],"data_offsets":[0,0]}`, `"u1":{"dtype":"U8","shape":[0,7,${K - 31 * 7}],"data_offsets":[0,0]}`);
      const text = `{${entries.join(',')}}`;
      const started = Date.now();
      const h = parseHeaderFast(enc(text), DTYPES);
      const ms = Date.now() - started;
      assert.ok(h);
      assert.strictEqual(h.names.length, n + 2);
      assert.deepStrictEqual(h.shapes[1000], [0, 1000, K - 31000]);
      assert.deepStrictEqual(h.shapes[n - 1], [0, n - 1, K - 31 * (n - 1)]);
      assert.strictEqual(h.shapes[n], h.shapes[7], 'a shape among the first under its hash is shared');
      assert.notStrictEqual(h.shapes[n + 1], h.shapes[1000]);
      assert.ok(ms < 3000, `${ms} ms`);
    });
    it('a valid header read either way gives the same report', async () => {
      const header = { __metadata__: { format: 'pt' }, 'a.weight': { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] }, 'a.bias': { dtype: 'F32', shape: [2], data_offsets: [16, 24] } };
      const text = JSON.stringify(header);
      // An escaped name (5 bytes longer) sends the whole header to the strict parser; the fast one is padded alike.
      fs.mkdirSync(path.join(dir, 'fast'));
      fs.mkdirSync(path.join(dir, 'slow'));
      const fast = toReport(await open('fast/m.safetensors', text + ' '.repeat(5), 24));
      const slow = toReport(await open('slow/m.safetensors', text.replace('"a.bias"', '"a.\\u0062ias"'), 24));
      assert.ok(parseHeaderFast(enc(text), DTYPES) && !parseHeaderFast(enc(text.replace('"a.bias"', '"a.\\u0062ias"')), DTYPES));
      assert.deepStrictEqual({ ...slow, path: '' }, { ...fast, path: '' });
      assert.strictEqual(slow.tensors.length, 2);
    });
  });
});
