import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint, readCheckpoint, toReport, CheckpointError } from '../src/core';
import { hashAscii } from '../src/core/bytes';
import { isObject, parseJson, toPlain } from '../src/core/json';
import { scanWeightMap } from '../src/core/weight-map';
import { collidingNames, filesUnder, fixture, safetensorsBytes, tempDir } from './helpers';

const enc = (s: string) => new TextEncoder().encode(s);

/** The weight map as the strict parser reads it: keys in order, values, distinct shards. */
function strict(bytes: Uint8Array) {
  const doc = parseJson(bytes, { file: 'i' });
  assert.ok(isObject(doc));
  const wm = doc.get('weight_map');
  assert.ok(isObject(wm));
  const meta = doc.get('metadata');
  return { keys: [...wm.keys()], values: [...wm.values()] as string[], metadata: meta === undefined ? undefined : toPlain(meta) };
}

/** The same from the scan. */
function scanned(bytes: Uint8Array) {
  const s = scanWeightMap(bytes);
  assert.ok(s, 'the scan took it');
  const keys = [...s.keys()];
  return { keys, values: keys.map((_, i) => s.shards[s.shardOf[i]]), metadata: s.metadata === undefined ? undefined : toPlain(s.metadata) };
}

describe('shard index: the fast scan reads what the strict parser reads', () => {
  it('every committed index, scanned and parsed, gives the same keys, shards and metadata', () => {
    const files = filesUnder(fixture(), (n) => n.endsWith('.index.json'));
    assert.ok(files.length >= 3, `${files.length} files`);
    for (const f of files) {
      const b = fs.readFileSync(f);
      assert.deepStrictEqual(scanned(b), strict(b), f);
    }
  });

  it('takes any whitespace, keys in any order, other top-level keys, and finds every key', () => {
    const wm: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) wm[`model.layers.${i % 61}.mlp.experts.${i}.w${i % 3}.weight`] = `model-${String(1 + (i % 7)).padStart(5, '0')}-of-00007.safetensors`;
    wm[''] = 'a.safetensors';
    const doc = { weight_map: wm, extra: [1, { x: 'é\u0001' }], metadata: { total_size: 123, note: 'tab\t"q"' } };
    for (const text of [JSON.stringify(doc), JSON.stringify(doc, null, 2), ' \n' + JSON.stringify(doc, null, '\t') + '\r\n ']) {
      const b = enc(text);
      assert.deepStrictEqual(scanned(b), strict(b));
      const s = scanWeightMap(b)!;
      assert.strictEqual(s.size, 5001);
      Object.keys(wm).forEach((k, i) => assert.strictEqual(s.find(k), i, k));
      assert.deepStrictEqual(s.shards.slice(0, 2), ['model-00001-of-00007.safetensors', 'model-00002-of-00007.safetensors']);
      assert.strictEqual(s.firstKeys[1], 'model.layers.1.mlp.experts.1.w1.weight');
    }
  });

  it('finds nothing that is not a key', () => {
    const s = scanWeightMap(enc('{"weight_map": {"a.b": "s.safetensors", "a.c": "s.safetensors"}}'))!;
    for (const name of ['a', 'a.', 'a.bb', 'A.b', 'é', 'a.b\u0000', '']) assert.strictEqual(s.find(name), -1, name);
    assert.strictEqual(s.find('a.c'), 1);
    assert.ok(s.has('a.b'));
  });

  it('gives up on what it does not take plainly, the strict parser then saying what it is', () => {
    for (const text of [
      '{"weight_map": {"a\\u0062": "s.safetensors"}}', // escape in a key
      '{"weight_map": {"a": "s\\/x.safetensors"}}', // escape in a value
      '{"weight_map": {"tête": "s.safetensors"}}', // non-ASCII key
      '{"weight_map": {"a": "é.safetensors"}}', // non-ASCII shard
      '{"weight_map": {"a": 1}}', // not a file name
      '{"weight_map": {"a": "s.safetensors", "a": "t.safetensors"}}', // duplicate key
      '{"weight_map": {"a": "s.safetensors"}, "weight_map": {}}', // duplicate top-level key
      '{"weight_map": {}}', // empty
      '{"metadata": {}}', // no weight map
      '{"weight_map": []}',
      '[]',
      '{"weight_map": {"a": "s.safetensors"}} x', // trailing data
      '{"weight_map": {"a": "s.safetensors",}}',
      '{"weight_map": {"a": "s.safetensors"}, "metadata": {"x": 01}}', // bad JSON elsewhere
      '{"weight_map": {"a": "s.safetensors"}, "metadata": ' + '['.repeat(129) + ']'.repeat(129) + '}', // deeper than the strict parser allows
      '{"weight_map": {"a": "s.safetensors"',
    ]) {
      assert.strictEqual(scanWeightMap(enc(text)), undefined, text.slice(0, 80));
    }
    // One level less deep is valid JSON for the strict parser, and the scan takes it.
    const deep = '{"weight_map": {"a": "s.safetensors"}, "metadata": ' + '['.repeat(128) + ']'.repeat(128) + '}';
    assert.ok(parseJson(enc(deep), { file: 'i' }));
    assert.ok(scanWeightMap(enc(deep)));
  });
});

describe('shard index: the fast check and the general one say the same', () => {
  const dir = tempDir();
  const tensor = (begin: number) => ({ dtype: 'F32', shape: [1], data_offsets: [begin, begin + 4] });
  /** Shards of 4-byte tensors: { file: [names] }, with optional __metadata__. */
  function writeShards(sub: string, shards: Record<string, string[]>, metadata?: Record<string, string>) {
    for (const [file, names] of Object.entries(shards)) {
      const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
      names.forEach((n, i) => (header[n] = tensor(4 * i)));
      fs.writeFileSync(path.join(sub, file), safetensorsBytes(header, 4 * names.length));
    }
  }
  /**
   * The index written twice, equally long: plainly (the fast scan) and with its first key escaped
   * (the strict parser reads the same text; the scan gives up on the escape).
   */
  function bothWays(sub: string, entries: [string, string][]): [string, string] {
    const key = (k: string, escaped: boolean) => (escaped ? '"\\u' + k.charCodeAt(0).toString(16).padStart(4, '0') + JSON.stringify(k).slice(2) : ' '.repeat(5) + JSON.stringify(k));
    const text = (escaped: boolean) => `{"metadata": {"total_size": ${4 * entries.length}}, "weight_map": {${entries.map(([k, v], i) => `${key(k, escaped && i === 0)}: ${JSON.stringify(v)}`).join(', ')}}}`;
    const plain = path.join(sub, 'model.safetensors.index.json');
    const escaped = path.join(sub, 'escaped.safetensors.index.json');
    fs.writeFileSync(plain, text(false));
    fs.writeFileSync(escaped, text(true));
    assert.ok(scanWeightMap(fs.readFileSync(plain)), 'the plain index takes the fast path');
    assert.strictEqual(scanWeightMap(fs.readFileSync(escaped)), undefined, 'the escaped one does not');
    return [plain, escaped];
  }
  /** What opening says: the report (index name and path aside), or the error. */
  async function outcome(p: string) {
    try {
      const r = toReport(await openCheckpoint(p)) as unknown as Record<string, unknown>;
      return JSON.parse(JSON.stringify(r).split(path.basename(p)).join('INDEX').split(JSON.stringify(p).slice(1, -1)).join('PATH'));
    } catch (e) {
      assert.ok(e instanceof CheckpointError, String(e));
      return { code: e.code, message: e.message.split(path.basename(p)).join('INDEX'), offset: e.offset ?? null, record: e.record ?? null };
    }
  }
  const cases: { label: string; shards: Record<string, string[]>; map: [string, string][]; metadata?: Record<string, string>; expect: (o: any) => void }[] = [
    {
      label: 'every tensor listed in its shard',
      shards: { 'a.safetensors': ['x', 'y'], 'b.safetensors': ['z'] },
      map: [['z', 'b.safetensors'], ['x', 'a.safetensors'], ['y', 'a.safetensors']],
      expect: (o) => assert.deepStrictEqual(o.warnings, []),
    },
    {
      label: 'a tensor the map leaves out',
      shards: { 'a.safetensors': ['x', 'y'], 'b.safetensors': ['z'] },
      map: [['x', 'a.safetensors'], ['z', 'b.safetensors']],
      expect: (o) => assert.ok(o.warnings.some((w: any) => w.code === 'index-unlisted' && /1 tensor\(s\) .* \(e\.g\. y\)/.test(w.message)), JSON.stringify(o.warnings)),
    },
    {
      label: 'a name put in the wrong shard',
      shards: { 'a.safetensors': ['x', 'y'], 'b.safetensors': ['z'] },
      map: [['x', 'a.safetensors'], ['y', 'b.safetensors'], ['z', 'b.safetensors']],
      expect: (o) => assert.match(o.message, /weight_map puts "y" in b\.safetensors but it is stored in a\.safetensors/),
    },
    {
      label: 'a name no shard holds',
      shards: { 'a.safetensors': ['x'] },
      map: [['x', 'a.safetensors'], ['w', 'a.safetensors']],
      expect: (o) => assert.match(o.message, /weight_map names "w" in a\.safetensors but that shard does not hold it/),
    },
    {
      label: 'a tied name listed while only its partner is stored',
      shards: { 'a.safetensors': ['x', 'y'] },
      metadata: { format: 'pt', w: 'x' },
      map: [['x', 'a.safetensors'], ['y', 'a.safetensors'], ['w', 'a.safetensors']],
      expect: (o) => assert.ok(o.tensors.some((t: any) => t.name === 'w' && t.present === false), JSON.stringify(o.tensors)),
    },
    {
      label: 'a name stored in two shards',
      // as many keys as stored tensors, one of them not stored
      shards: { 'a.safetensors': ['x', 'y'], 'b.safetensors': ['y', 'z'] },
      map: [['x', 'a.safetensors'], ['y', 'a.safetensors'], ['z', 'b.safetensors'], ['w', 'b.safetensors']],
      expect: (o) => assert.match(o.message, /tensor "y" is stored in two shards \(a\.safetensors and b\.safetensors\)/),
    },
    {
      label: 'one shard named two ways',
      shards: { 'a.safetensors': ['x', 'y'] },
      map: [['x', 'a.safetensors'], ['y', './a.safetensors']],
      expect: (o) => assert.match(o.message, /stored in two shards/),
    },
  ];
  for (const c of cases) {
    it(`${c.label}: the same report or error either way`, async () => {
      const sub = fs.mkdtempSync(path.join(dir, 'idx-'));
      writeShards(sub, c.shards, c.metadata);
      const [plain, escaped] = bothWays(sub, c.map);
      const fast = await outcome(plain);
      c.expect(fast);
      assert.deepStrictEqual(fast, await outcome(escaped));
    });
  }

  it('32,768 keys made to share one hash: the scan gives up and the strict parser reads the index in linear time (8 s, quadratic, before)', async () => {
    const names = collidingNames(15);
    assert.strictEqual(new Set(names.map(hashAscii)).size, 1);
    const sub = fs.mkdtempSync(path.join(dir, 'idx-'));
    const header = `{${names.map((n, i) => `"${n}":{"dtype":"U8","shape":[1],"data_offsets":[${i},${i + 1}]}`).join(',')}}`;
    fs.writeFileSync(path.join(sub, 'model.safetensors'), safetensorsBytes(undefined, names.length, header));
    // Listed out of the shard's order: every key is looked up.
    const text = `{"metadata":{"total_size":${names.length}},"weight_map":{${[...names].reverse().map((n) => `"${n}":"model.safetensors"`).join(',')}}}`;
    const p = path.join(sub, 'model.safetensors.index.json');
    fs.writeFileSync(p, text);
    const started = Date.now();
    assert.strictEqual(scanWeightMap(enc(text)), undefined);
    const raw = await readCheckpoint(p);
    const ms = Date.now() - started;
    assert.strictEqual(raw.format, 'safetensors-sharded');
    assert.strictEqual(raw.tensors.length, names.length);
    assert.deepStrictEqual(raw.warnings, []);
    assert.ok(ms < 3000, `${ms} ms`);
  });

  it('a key listed twice is the strict parser\'s duplicate-key error, with its offset', async () => {
    const sub = fs.mkdtempSync(path.join(dir, 'idx-'));
    writeShards(sub, { 'a.safetensors': ['x'], 'b.safetensors': ['x'] });
    const text = '{"weight_map": {"x": "a.safetensors", "x": "b.safetensors"}}';
    const p = path.join(sub, 'model.safetensors.index.json');
    fs.writeFileSync(p, text);
    await assert.rejects(openCheckpoint(p), (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      assert.strictEqual(e.code, 'duplicate-key');
      assert.strictEqual(e.offset, text.lastIndexOf('"x"'));
      return true;
    });
  });
});
