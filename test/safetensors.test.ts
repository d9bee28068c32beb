import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint, toReport, CheckpointError } from '../src/core';
import { FileAccess, nodeFileAccess } from '../src/core/access';
import { canonicalShared, cli, fixture, readJson, safetensorsBytes, sparseFromHeader, tempDir, Truth, flipBytes, readsOrRefuses, seededRandom } from './helpers';

const truth = readJson<Record<string, Truth>>(fixture('safetensors', 'ground-truth.json'));

describe('safetensors fixtures match torch', () => {
  for (const name of ['gpt2-tied', 'gpt2-untied', 'gpt2-sequential', 'gpt2-sharded', 'llama-bf16']) {
    it(`${name}: parameters, buffers and sharing equal torch's figures`, async () => {
      const t = truth[name];
      const r = toReport(await openCheckpoint(fixture('safetensors', name)));
      assert.deepStrictEqual(r.parameters, t.parameters);
      assert.deepStrictEqual(r.buffers, { unique: t.buffers.unique, total: t.buffers.total });
      const ours = r.shared.filter((g) => !g.tensors.every((n) => n.endsWith('attn.bias')));
      assert.deepStrictEqual(canonicalShared(ours), canonicalShared(t.shared));
    });
  }

  it('reports the sharded format and reads every shard', async () => {
    const r = toReport(await openCheckpoint(fixture('safetensors', 'gpt2-sharded', 'model.safetensors.index.json')));
    assert.strictEqual(r.format, 'safetensors-sharded');
    const shards = new Set(r.tensors.filter((t) => t.present).map((t) => t.file));
    assert.deepStrictEqual([...shards].sort(), [1, 2, 3].map((i) => `model-0000${i}-of-00003.safetensors`));
  });

  it('a declared tie lists both names, the absent one included, and the absent one is marked', async () => {
    const r = toReport(await openCheckpoint(fixture('safetensors', 'gpt2-tied')));
    const g = r.shared.find((s) => s.relation === 'declared');
    assert.ok(g, 'a declared group');
    assert.deepStrictEqual([...g.tensors].sort(), ['lm_head.weight', 'transformer.wte.weight']);
    const head = r.tensors.find((t) => t.name === 'lm_head.weight')!;
    assert.strictEqual(head.present, false);
    const wte = r.tensors.find((t) => t.name === 'transformer.wte.weight')!;
    assert.strictEqual(head.storage, wte.storage);
  });

  it('save_model metadata (removed -> kept) is a declared tie without any config', async () => {
    const cp = await openCheckpoint(fixture('safetensors', 'gpt2-sequential'));
    assert.strictEqual(cp.config, undefined);
    const g = cp.shared.find((s) => s.tensors.includes('lm_head.0.weight'))!;
    assert.strictEqual(g.relation, 'declared');
    assert.match(g.reason ?? '', /__metadata__/);
  });

  it('the untied model has no shared parameters', async () => {
    const r = toReport(await openCheckpoint(fixture('safetensors', 'gpt2-untied')));
    assert.strictEqual(r.parameters.unique, r.parameters.total);
    assert.ok(!r.shared.some((g) => g.tensors.includes('lm_head.weight')));
  });
});

describe('full-size GPT-2 (124M) from a header with a sparse, never-read data region', () => {
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const [name, unique, total] of [
    ['gpt2-124m', 124_439_808, 163_037_184],
    ['gpt2-124m-untied', 163_037_184, 163_037_184],
  ] as const) {
    it(`${name}: ${unique.toLocaleString('en')} unique parameters, reading under 1 MB`, async () => {
      const t = truth[name];
      const sub = path.join(dir, name);
      fs.mkdirSync(sub);
      fs.copyFileSync(fixture('safetensors', name, 'config.json'), path.join(sub, 'config.json'));
      const file = sparseFromHeader(fixture('safetensors', name, 'model.safetensors.header'), t.dataSize!, path.join(sub, 'model.safetensors'));
      const size = fs.statSync(file).size;
      assert.ok(size > 490e6, 'file has its full size');
      const r = toReport(await openCheckpoint(file));
      assert.strictEqual(r.parameters.unique, unique);
      assert.strictEqual(r.parameters.unique, t.parameters.unique, 'equals torch');
      assert.strictEqual(r.parameters.total, total);
      assert.ok(r.bytesRead < 1024 * 1024, `read ${r.bytesRead} bytes`);
      assert.strictEqual(r.totalBytes, size + fs.statSync(path.join(sub, 'config.json')).size);
      assert.deepStrictEqual(canonicalShared(r.shared.filter((g) => g.tensors.includes('transformer.wte.weight'))), canonicalShared(t.shared));
    });
  }

  it('the CLI prints the exact figure for the tied model', () => {
    const sub = path.join(dir, 'gpt2-124m');
    const out = cli(sub);
    assert.strictEqual(out.status, 0, out.stderr);
    assert.match(out.stdout, /124,439,808 unique/);
    assert.match(out.stdout, /163,037,184 total/);
    const json = JSON.parse(cli(sub, '--json').stdout);
    assert.strictEqual(json.schema, 1);
    assert.strictEqual(json.parameters.unique, 124_439_808);
  });
});

/** A valid two-tensor header to break in different ways. */
function goodHeader() {
  return {
    __metadata__: { format: 'pt' },
    a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
    b: { dtype: 'F16', shape: [4], data_offsets: [24, 32] },
  };
}

describe('safetensors bad input: typed errors, no hang, no oversized allocation', () => {
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, bytes: Buffer) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, bytes);
    return p;
  };

  const cases: { name: string; make: () => Buffer; code: string; message: RegExp }[] = [
    { name: 'truncated.safetensors', make: () => safetensorsBytes(goodHeader(), 32).subarray(0, 40), code: 'bad-header', message: /header length \d+ runs past the end/ },
    { name: 'tiny.safetensors', make: () => Buffer.from([1, 2, 3]), code: 'truncated', message: /too short/ },
    {
      name: 'huge-len.safetensors',
      make: () => {
        const b = safetensorsBytes(goodHeader(), 32);
        b.writeBigUInt64LE(2n ** 62n, 0);
        return b;
      },
      code: 'bad-header',
      message: /header length 4611686018427387904 runs past the end of the file/,
    },
    { name: 'bad-json.safetensors', make: () => safetensorsBytes(null, 0, '{"a": {"dtype": "F32",'), code: 'bad-json', message: /unexpected end of JSON|expected/ },
    {
      name: 'dup.safetensors',
      make: () => safetensorsBytes(null, 8, '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'),
      code: 'duplicate-key',
      message: /duplicate key "a"/,
    },
    {
      name: 'overlap.safetensors',
      make: () => safetensorsBytes({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12),
      code: 'bad-offsets',
      message: /overlaps/,
    },
    {
      name: 'hole.safetensors',
      make: () => safetensorsBytes({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, 12),
      code: 'bad-offsets',
      message: /gap of 4 bytes/,
    },
    {
      name: 'past-end.safetensors',
      make: () => safetensorsBytes({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8),
      code: 'bad-offsets',
      message: /past the end of the data/,
    },
    {
      name: 'trailing.safetensors',
      make: () => safetensorsBytes({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 12),
      code: 'bad-offsets',
      message: /cover 4 bytes of data but the file holds 12/,
    },
    {
      name: 'size-mismatch.safetensors',
      make: () => safetensorsBytes({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8),
      code: 'bad-offsets',
      message: /needs 12/,
    },
    {
      name: 'dtype.safetensors',
      make: () => safetensorsBytes({ a: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, 16),
      code: 'bad-dtype',
      message: /unknown dtype "F128"/,
    },
    {
      name: 'shape.safetensors',
      make: () => safetensorsBytes({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4),
      code: 'bad-shape',
      message: /shape/,
    },
    {
      name: 'overflow.safetensors',
      make: () => safetensorsBytes({ a: { dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 4] } }, 4),
      code: 'bad-shape',
      message: /too many elements/,
    },
    { name: 'not-object.safetensors', make: () => safetensorsBytes(null, 0, '[1, 2, 3]'), code: 'bad-header', message: /does not start with/ },
    {
      name: 'metadata.safetensors',
      make: () => safetensorsBytes({ __metadata__: { n: 3 }, a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4),
      code: 'bad-header',
      message: /__metadata__ value for "n" is not a string/,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.code}`, async () => {
      const p = write(c.name, c.make());
      await assert.rejects(openCheckpoint(p), (e: unknown) => {
        assert.ok(e instanceof CheckpointError, `CheckpointError, got ${e}`);
        assert.strictEqual(e.code, c.code, e.message);
        assert.match(e.message, c.message);
        assert.ok(e.message.startsWith(c.name), `message names the file: ${e.message}`);
        return true;
      });
    });
  }

  it('errors name the tensor and the byte offset', async () => {
    const p = write('where.safetensors', safetensorsBytes({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, y: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, 12));
    await assert.rejects(openCheckpoint(p), /where\.safetensors: byte \d+: tensor "y": data_offsets \[8, 12\] leaves a gap/);
  });

  it('the CLI prints one error line and exits 1 for every bad file', () => {
    for (const c of cases) {
      const r = cli(path.join(dir, c.name));
      assert.strictEqual(r.status, 1, `${c.name}: ${r.stderr}`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.strictEqual(lines.length, 1, r.stderr);
      assert.match(lines[0], /^error: /);
      assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
    }
  });

  describe('shard index', () => {
    const index = (weightMap: Record<string, string>) => JSON.stringify({ metadata: { total_size: 4 }, weight_map: weightMap });
    const shard = () => safetensorsBytes({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4);

    for (const [label, map, code, msg] of [
      ['missing shard', { a: 'nope.safetensors' }, 'missing-shard', /shard "nope\.safetensors" named by the index does not exist/],
      ['parent path', { a: '../escape.safetensors' }, 'unsafe-path', /climbs out/],
      ['absolute path', { a: '/etc/passwd' }, 'unsafe-path', /is absolute/],
      ['windows drive', { a: 'C:\\x.safetensors' }, 'unsafe-path', /is absolute/],
      ['name not in shard', { zz: 's.safetensors' }, 'bad-index', /does not hold it/],
    ] as const) {
      it(`${label}: ${code}`, async () => {
        const sub = fs.mkdtempSync(path.join(dir, 'idx-'));
        fs.writeFileSync(path.join(sub, 's.safetensors'), shard());
        const p = path.join(sub, 'model.safetensors.index.json');
        fs.writeFileSync(p, index(map as Record<string, string>));
        await assert.rejects(openCheckpoint(p), (e: unknown) => {
          assert.ok(e instanceof CheckpointError);
          assert.strictEqual(e.code, code, e.message);
          assert.match(e.message, msg);
          return true;
        });
        const r = cli(p);
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /^error: .*model\.safetensors\.index\.json/);
      });
    }

    it('when several shards fail, the error is the first failing shard\'s, whichever fails first', async () => {
      const sub = fs.mkdtempSync(path.join(dir, 'idx-'));
      fs.writeFileSync(path.join(sub, 'a.safetensors'), Buffer.from('not a safetensors header at all'));
      fs.writeFileSync(path.join(sub, 'c.safetensors'), shard());
      const p = path.join(sub, 'model.safetensors.index.json');
      fs.writeFileSync(p, JSON.stringify({ weight_map: { x: 'a.safetensors', y: 'nope.safetensors', a: 'c.safetensors' } }));
      // The first shard's open is held until the missing one has failed.
      let missingFailed!: () => void;
      const missing = new Promise<void>((resolve) => (missingFailed = resolve));
      const slowFirst: FileAccess = {
        ...nodeFileAccess,
        async open(abs, display) {
          if (abs.endsWith('a.safetensors')) await missing;
          return nodeFileAccess.open(abs, display);
        },
        async stat(abs) {
          const st = await nodeFileAccess.stat(abs);
          if (abs.endsWith('nope.safetensors')) setTimeout(missingFailed, 10);
          return st;
        },
      };
      for (const access of [slowFirst, nodeFileAccess]) {
        await assert.rejects(openCheckpoint(p, { access }), (e: unknown) => {
          assert.ok(e instanceof CheckpointError);
          assert.notStrictEqual(e.code, 'missing-shard', e.message);
          assert.match(e.message, /a\.safetensors/);
          return true;
        });
      }
    });

    it('an index whose weight_map is missing', async () => {
      const sub = fs.mkdtempSync(path.join(dir, 'idx-'));
      const p = path.join(sub, 'model.safetensors.index.json');
      fs.writeFileSync(p, '{"metadata": {}}');
      await assert.rejects(openCheckpoint(p), /no "weight_map" object/);
    });
  });

  it('a file that is no checkpoint at all', async () => {
    const p = write('random.bin', Buffer.from('just some text, not a model\n'));
    await assert.rejects(openCheckpoint(p), (e: unknown) => e instanceof CheckpointError && /not a checkpoint/.test(e.message));
  });

  it('a missing path is exit 1 and a usage error is exit 2', () => {
    assert.strictEqual(cli(path.join(dir, 'does-not-exist')).status, 1);
    const u = cli('--bogus');
    assert.strictEqual(u.status, 2);
    assert.match(u.stderr, /unknown option --bogus/);
    assert.strictEqual(cli().status, 2);
  });
});

describe('safetensors random corruption', () => {
  it('never escapes as anything but a CheckpointError, and a surviving file still analyses', async function () {
    this.timeout(60_000);
    const good = fs.readFileSync(fixture('safetensors', 'gpt2-tied', 'model.safetensors'));
    const headerEnd = 8 + Number(good.readBigUInt64LE(0));
    const rand = seededRandom(2026);
    let survived = 0;
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(good);
      // Mostly the header (where the structure is), sometimes the 8-byte length.
      flipBytes(b, rand, () => (rand() < 0.1 ? Math.floor(rand() * 8) : 8 + Math.floor(rand() * (headerEnd - 8))));
      const cp = await readsOrRefuses(readMemory(b));
      if (cp) {
        assert.ok(cp.parameters.unique <= cp.parameters.total);
        survived++;
      }
    }
    assert.ok(survived < 300, 'some corruptions are caught');
  });
});

async function readMemory(b: Buffer) {
  const dir = tempDir();
  try {
    const p = path.join(dir, 'x.safetensors');
    fs.writeFileSync(p, b);
    return await openCheckpoint(p);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('safetensors byte ranges', () => {
  it('each tensor\'s byteRange is its data_offsets shifted past the header, and nothing overlaps', async () => {
    const file = fixture('safetensors', 'gpt2-untied', 'model.safetensors');
    const buf = fs.readFileSync(file);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    const r = toReport(await openCheckpoint(file));
    for (const t of r.tensors) {
      const [b, e] = header[t.name].data_offsets;
      assert.deepStrictEqual(t.byteRange, [8 + n + b, 8 + n + e], t.name);
    }
    assert.strictEqual(r.storages.length, r.tensors.length);
  });
});

describe('folders', () => {
  it('a folder whose models sit one level down says which subfolders to open', async () => {
    const dir = tempDir();
    try {
      for (const sub of ['unet', 'vae', 'scheduler']) fs.mkdirSync(path.join(dir, sub));
      fs.copyFileSync(fixture('safetensors', 'gpt2-tied', 'model.safetensors'), path.join(dir, 'unet', 'diffusion_pytorch_model.safetensors'));
      fs.copyFileSync(fixture('safetensors', 'gpt2-untied', 'model.safetensors'), path.join(dir, 'vae', 'diffusion_pytorch_model.safetensors'));
      fs.writeFileSync(path.join(dir, 'scheduler', 'scheduler_config.json'), '{}');
      await assert.rejects(openCheckpoint(dir), /folder holds no checkpoint .*; its subfolders unet\/, vae\/ do: open one of them/);
      const r = toReport(await openCheckpoint(path.join(dir, 'unet')));
      assert.strictEqual(r.format, 'safetensors');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sub-byte safetensors dtypes', () => {
  it('F4 and F6 sizes are counted in bits, and odd sizes are refused', async () => {
    const dir = tempDir();
    try {
      const ok = path.join(dir, 'ok.safetensors');
      fs.writeFileSync(
        ok,
        safetensorsBytes({ a: { dtype: 'F4', shape: [2, 4], data_offsets: [0, 4] }, b: { dtype: 'F6_E2M3', shape: [4], data_offsets: [4, 7] } }, 7),
      );
      const r = toReport(await openCheckpoint(ok));
      assert.deepStrictEqual(r.tensors.map((t) => [t.name, t.dtype, t.numel, t.nbytes]), [
        ['a', 'float4_e2m1fn', 8, 4],
        ['b', 'float6_e2m3', 4, 3],
      ]);
      assert.deepStrictEqual(r.parameters, { unique: 12, total: 12 });
      const odd = path.join(dir, 'odd.safetensors');
      fs.writeFileSync(odd, safetensorsBytes({ a: { dtype: 'F4', shape: [3], data_offsets: [0, 2] } }, 2));
      await assert.rejects(openCheckpoint(odd), /3 elements of F4 are not a whole number of bytes/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('safetensors: sizes in warnings', () => {
  it('writes a wrong total_size readably and exactly: "638 GiB (684,868,123,200 bytes)"', async () => {
    const dir = tempDir();
    try {
      fs.writeFileSync(path.join(dir, 'model-00001-of-00001.safetensors'), safetensorsBytes(goodHeader(), 32));
      fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 684_868_123_200 }, weight_map: { a: 'model-00001-of-00001.safetensors', b: 'model-00001-of-00001.safetensors' } }));
      const cp = await openCheckpoint(path.join(dir, 'model.safetensors.index.json'));
      const w = cp.warnings.find((x) => x.code === 'index-total-size');
      assert.strictEqual(w?.message, 'index metadata.total_size is 638 GiB (684,868,123,200 bytes) but the shards hold 32 bytes of tensors');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('opening reports its progress', () => {
  it('a sharded checkpoint: the shard count first, then each shard read, with the bytes read so far', async () => {
    const events: { filesDone: number; filesTotal: number; bytesRead: number; file?: string }[] = [];
    const cp = await openCheckpoint(fixture('safetensors', 'gpt2-sharded', 'model.safetensors.index.json'), { onProgress: (p) => events.push({ ...p }) });
    const shards = cp.files.filter((f) => f.endsWith('.safetensors'));
    assert.ok(shards.length >= 2, `${shards.length} shards`);
    assert.deepStrictEqual(events[0], { filesDone: 0, filesTotal: shards.length, bytesRead: 0 });
    assert.strictEqual(events.length, shards.length + 1);
    events.slice(1).forEach((e, i) => {
      assert.strictEqual(e.filesDone, i + 1);
      assert.strictEqual(e.filesTotal, shards.length);
      assert.ok(e.bytesRead > events[i].bytesRead, 'bytes read grow');
      assert.ok(e.file && shards.includes(e.file), `${e.file} is a shard`);
    });
    // The index and config.json are read besides the shards' headers.
    assert.ok(events[events.length - 1].bytesRead < cp.bytesRead);
  });

  it('a single file: one event when it is read', async () => {
    const events: { filesDone: number; filesTotal: number }[] = [];
    const cp = await openCheckpoint(fixture('safetensors', 'gpt2-tied', 'model.safetensors'), { onProgress: (p) => events.push(p) });
    assert.deepStrictEqual(events.map((e) => [e.filesDone, e.filesTotal]), [[1, 1]]);
    assert.ok(cp.tensors.length > 0);
  });
});
