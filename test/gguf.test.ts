import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { nodeFileAccess } from '../src/core/access';
import { MemoryByteSource } from '../src/core/bytes';
import { CheckpointError, ErrorCode } from '../src/core/errors';
import { ggufReader, GGML_TYPES } from '../src/core/formats/gguf';
import { ChunkedReader } from '../src/core/formats/protobuf';
import { pickFormat, SNIFF_BYTES } from '../src/core/formats';
import { withHead } from '../src/core/bytes';
import { Checkpoint, ModuleNode, RawCheckpoint } from '../src/core/model';
import { openCheckpoint, toReport } from '../src/core';
import { fixture, readJson, tempDir, rejectsWith, sha256At, flipBytes, readsOrRefuses, seededRandom } from './helpers';

interface TruthTensor {
  name: string;
  shape: number[];
  dtype: string;
  formatDtype: string;
  ggmlType: number;
  nbytes: number;
  file: string;
  dataOffset: number;
  sha256: string;
}
interface TruthFile {
  size: number;
  alignment: number;
  dataStart: number;
  kv: Record<string, unknown>;
  kvTypes: Record<string, string>;
  tensors: TruthTensor[];
  files?: string[];
  sizes?: number[];
}
interface GgufTruth {
  config: { v: number; d: number };
  torch: { ground_truth: { parameters: { unique: number; total: number } }; parameters: Record<string, number[]> };
  files: Record<string, TruthFile>;
  tie: { name: string; target: string };
}

const truth = readJson<GgufTruth>(fixture('gguf', 'ground-truth.json'));
const LLAMA = fixture('gguf', 'tiny-llama.gguf');

/** Read bytes through the GGUF reader as if they were the file `name`. */
async function readBytes(bytes: Uint8Array, name = 'test.gguf'): Promise<RawCheckpoint> {
  const dir = path.dirname(LLAMA);
  const src = new MemoryByteSource(name, bytes);
  return ggufReader.read(src, { access: nodeFileAccess, path: path.join(dir, name), root: dir });
}

async function rejects(bytes: Uint8Array, code: string, message: RegExp): Promise<CheckpointError> {
  return rejectsWith(readBytes(bytes), code, message);
}

const sha = sha256At;

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------------------------------------
// A small GGUF writer for hand-made (and broken) inputs.

const T = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9, u64: 10, i64: 11, f64: 12 };

function gstr(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([n, b]);
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
function kvU32(key: string, v: number): Buffer {
  return Buffer.concat([gstr(key), u32(T.u32), u32(v)]);
}
function kvStr(key: string, v: string): Buffer {
  return Buffer.concat([gstr(key), u32(T.str), gstr(v)]);
}

interface TInfo {
  name: string;
  ne: number[];
  type: number;
  /** Data offset; default: packed in order, padded to the alignment. */
  offset?: number;
}

/** A GGUF v3 header up to the data start, and the size of the data section it describes. */
function ggufHead(opts: { version?: number; kvs?: Buffer[]; tensors?: TInfo[]; alignment?: number }): { head: Buffer; dataSize: number } {
  const a = opts.alignment ?? 32;
  const tensors = opts.tensors ?? [];
  const kvs = opts.kvs ?? [];
  const parts: Buffer[] = [Buffer.from('GGUF'), u32(opts.version ?? 3), u64(tensors.length), u64(kvs.length), ...kvs];
  let off = 0;
  let end = 0;
  for (const t of tensors) {
    const ty = GGML_TYPES.get(t.type);
    const n = ty ? (numel(t.ne) / ty.block) * ty.bytes : 0;
    const o = t.offset ?? off;
    parts.push(gstr(t.name), u32(t.ne.length), ...t.ne.map((x) => u64(x)), u32(t.type), u64(o));
    off = Math.ceil((o + n) / a) * a;
    end = Math.max(end, o + n);
  }
  const head = Buffer.concat(parts);
  const dataStart = Math.ceil(head.length / a) * a;
  return { head: Buffer.concat([head, Buffer.alloc(dataStart - head.length)]), dataSize: end };
}

/** A whole small GGUF file: header, then zero-filled data (plus `extraData` bytes). */
function gguf(opts: { version?: number; kvs?: Buffer[]; tensors?: TInfo[]; alignment?: number; extraData?: number }): Buffer {
  const { head, dataSize } = ggufHead(opts);
  return Buffer.concat([head, Buffer.alloc(dataSize + (opts.extraData ?? 0))]);
}

/** A tensor info as written: ne and the data offset as u64s (bigints past 2^53, or wrapped negative ones), the name as text or as raw bytes. */
interface RawInfo {
  name: string | Buffer;
  ne: (number | bigint)[];
  type: number;
  /** Data offset; default: packed after the infos before it that have no offset of their own, each padded to 32. */
  offset?: number | bigint;
}

/** Where an info and its fields start in the file. */
interface InfoAt {
  at: number;
  dimsAt: number;
  neAt: number[];
  typeAt: number;
  offsetAt: number;
}

/** Bytes of an info's data; 0 when ggml would refuse the info. */
function nbytesOf(t: RawInfo): number {
  const ty = GGML_TYPES.get(t.type);
  const numel = t.ne.reduce<number>((a, x) => a * Number(x), 1);
  const n = !ty || numel === 0 ? 0 : (numel / ty.block) * ty.bytes;
  return Number.isSafeInteger(n) ? n : 0;
}

/**
 * A GGUF v3 file whose tensor infos follow a string value of `pad` bytes (which moves them
 * against the reader's window), with where each info and its fields start, and each info's data
 * offset. The data section is zeros.
 */
function infoFile(infos: RawInfo[], pad: number): { bytes: Buffer; where: InfoAt[]; dataStart: number; offsets: number[] } {
  const parts: Buffer[] = [Buffer.from('GGUF'), u32(3), u64(infos.length), u64(1), kvStr('pad', 'p'.repeat(pad))];
  let pos = parts.reduce((s, b) => s + b.length, 0);
  const where: InfoAt[] = [];
  const offsets: number[] = [];
  let packed = 0;
  for (const t of infos) {
    const name = typeof t.name === 'string' ? Buffer.from(t.name, 'utf8') : t.name;
    const dimsAt = pos + 8 + name.length;
    const typeAt = dimsAt + 4 + 8 * t.ne.length;
    where.push({ at: pos, dimsAt, neAt: t.ne.map((_, d) => dimsAt + 4 + 8 * d), typeAt, offsetAt: typeAt + 4 });
    const offset = t.offset ?? packed;
    parts.push(u64(name.length), name, u32(t.ne.length), ...t.ne.map((x) => u64(x)), u32(t.type), u64(offset));
    pos = typeAt + 12;
    offsets.push(Number(offset));
    if (t.offset === undefined) packed = Math.ceil((packed + nbytesOf(t)) / 32) * 32;
  }
  const dataStart = Math.ceil(pos / 32) * 32;
  return { bytes: Buffer.concat([...parts, Buffer.alloc(dataStart - pos + packed)]), where, dataStart, offsets };
}

/** The records the reader should make of `infos` (all valid) in test.gguf. */
function expectedRecords(infos: RawInfo[], f: { dataStart: number; offsets: number[] }): object[] {
  return infos.map((t, k) => {
    const ty = GGML_TYPES.get(t.type)!;
    const name = String(t.name);
    const nbytes = nbytesOf(t);
    return {
      name,
      shape: t.ne.map(Number).reverse(),
      dtype: ty.dtype,
      formatDtype: ty.name,
      nbytes,
      dataOffset: f.dataStart + f.offsets[k],
      storage: `test.gguf:${name}`,
      storageOffset: 0,
      storageNbytes: nbytes,
      extra: ty.block > 1 ? { bitsPerWeight: (ty.bytes * 8) / ty.block } : undefined,
    };
  });
}

function recordsOf(raw: RawCheckpoint): object[] {
  return raw.tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    dtype: t.dtype,
    formatDtype: t.formatDtype,
    nbytes: t.nbytes,
    dataOffset: t.dataOffset,
    storage: t.storage,
    storageOffset: t.storageOffset,
    storageNbytes: t.storageNbytes,
    extra: t.extra,
  }));
}

/** `bytes` refused with exactly this error: code, message, offset and record. */
async function refusedWith(bytes: Buffer, code: ErrorCode, detail: string, offset: number, record: string | undefined, context: string): Promise<void> {
  const want = new CheckpointError(code, detail, { file: 'test.gguf', offset, record });
  await assert.rejects(readBytes(bytes), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `${context}: ${String(e)}`);
    assert.deepStrictEqual({ code: e.code, message: e.message, offset: e.offset, record: e.record }, { code, message: want.message, offset, record }, context);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------

describe('GGUF reader', () => {
  describe('tiny llama fixture (written from torch tensors)', () => {
    const t = truth.files['tiny-llama.gguf'];
    let raw: RawCheckpoint;
    before(async () => {
      const src = await nodeFileAccess.open(LLAMA, 'tiny-llama.gguf');
      try {
        const head = await src.read(0, SNIFF_BYTES);
        const picked = pickFormat(head, src.size, LLAMA);
        assert.strictEqual(picked?.module, ggufReader);
        raw = await ggufReader.read(withHead(src, head), { access: nodeFileAccess, path: LLAMA, root: path.dirname(LLAMA) }, picked.match);
      } finally {
        await src.close();
      }
    });

    it('lists every tensor with its ground-truth name, PyTorch-order shape, dtype, size and offset', () => {
      assert.strictEqual(raw.format, 'gguf');
      const ours = raw.tensors.map((x) => ({
        name: x.name,
        shape: x.shape,
        dtype: x.dtype,
        formatDtype: x.formatDtype,
        nbytes: x.nbytes,
        file: x.file,
        dataOffset: x.dataOffset,
      }));
      const expected = t.tensors.map((x) => ({
        name: x.name,
        shape: x.shape,
        dtype: x.dtype,
        formatDtype: x.formatDtype,
        nbytes: x.nbytes,
        file: x.file,
        dataOffset: x.dataOffset,
      }));
      assert.deepStrictEqual(ours, expected);
      for (const x of raw.tensors) {
        assert.strictEqual(x.storage, `tiny-llama.gguf:${x.name}`);
        assert.strictEqual(x.storageOffset, 0);
      }
    });

    it('data offsets point at exactly the bytes that were written', () => {
      for (const x of t.tensors) assert.strictEqual(sha(LLAMA, x.dataOffset, x.nbytes), x.sha256, x.name);
    });

    it('covers F16 and block-quantized Q8_0 tensors (34 bytes per 32 weights)', () => {
      const emb = raw.tensors.find((x) => x.name === 'token_embd.weight')!;
      assert.strictEqual(emb.dtype, 'float16');
      assert.deepStrictEqual(emb.shape, [truth.config.v, truth.config.d]);
      const q = raw.tensors.find((x) => x.name === 'blk.1.ffn_down.weight')!;
      assert.strictEqual(q.dtype, 'Q8_0');
      assert.strictEqual(q.nbytes, (numel(q.shape) / 32) * 34);
      assert.strictEqual(q.extra?.bitsPerWeight, 8.5);
    });

    it('element count equals torch model.parameters() (the tied head counted once)', () => {
      const sum = raw.tensors.reduce((s, x) => s + numel(x.shape), 0);
      assert.strictEqual(sum, truth.torch.ground_truth.parameters.unique);
    });

    it('declares output.weight tied to token_embd.weight (llama.cpp convention)', () => {
      assert.deepStrictEqual(
        raw.declaredTies.map((d) => [d.name, d.target, d.source]),
        [[truth.tie.name, truth.tie.target, 'format']],
      );
      assert.match(raw.declaredTies[0].reason, /output\.weight/);
    });

    it('keeps every key/value pair, long arrays as a summary', () => {
      const g = raw.metadata.gguf as { version: number; alignment: number; dataStart: number; kv: Record<string, unknown>; kvTypes: Record<string, string> };
      assert.strictEqual(g.version, 3);
      assert.strictEqual(g.alignment, t.alignment);
      assert.strictEqual(g.dataStart, t.dataStart);
      assert.deepStrictEqual(JSON.parse(JSON.stringify(g.kv)), t.kv);
      assert.deepStrictEqual({ ...g.kvTypes }, t.kvTypes);
      const tokens = g.kv['tokenizer.ggml.tokens'] as { count: number; first: string[] };
      assert.strictEqual(tokens.count, truth.config.v);
      assert.strictEqual(tokens.first.length, 8);
    });

    it('reads only the header', () => {
      assert.ok(raw.bytesRead <= t.dataStart + 4096, `read ${raw.bytesRead} bytes; data starts at ${t.dataStart}`);
      assert.ok(raw.bytesRead < t.size / 4);
      assert.strictEqual(raw.totalBytes, t.size);
    });
  });

  describe('through openCheckpoint and toReport', () => {
    it('parameter counts equal torch: unique counts the tie once, total counts the head', async () => {
      const r = toReport(await openCheckpoint(LLAMA));
      assert.strictEqual(r.format, 'gguf');
      assert.deepStrictEqual([r.parameters.unique, r.parameters.total], [truth.torch.ground_truth.parameters.unique, truth.torch.ground_truth.parameters.total]);
      const head = r.tensors.find((x) => x.name === 'output.weight')!;
      assert.strictEqual(head.present, false);
      const g = r.shared.find((s) => s.tensors.includes('output.weight'))!;
      assert.strictEqual(g.relation, 'declared');
      assert.deepStrictEqual([...g.tensors].sort(), ['output.weight', 'token_embd.weight']);
      assert.ok(r.bytesRead < r.totalBytes / 4);
    });
  });

  describe('split models', () => {
    const t = truth.files['split/tiny-llama-split-00001-of-00002.gguf'];
    for (const which of [0, 1]) {
      it(`opening split ${which + 1} reads both splits`, async () => {
        const p = fixture('gguf', 'split', t.files![which]);
        const r = toReport(await openCheckpoint(p));
        assert.deepStrictEqual(r.files, t.files);
        assert.strictEqual(r.totalBytes, t.size);
        const ours = r.tensors.filter((x) => x.present).map((x) => [x.name, x.file, x.dataOffset, x.nbytes]);
        assert.deepStrictEqual(ours, t.tensors.map((x) => [x.name, x.file, x.dataOffset, x.nbytes]));
        for (const x of t.tensors) assert.strictEqual(sha(fixture('gguf', 'split', x.file), x.dataOffset, x.nbytes), x.sha256);
        assert.deepStrictEqual([r.parameters.unique, r.parameters.total], [truth.torch.ground_truth.parameters.unique, truth.torch.ground_truth.parameters.total]);
        assert.ok(r.warnings.some((w) => w.code === 'gguf-split' && /2 files/.test(w.message)));
        const g = r.metadata.gguf as { alignment: number; kv: Record<string, unknown> };
        assert.strictEqual(g.alignment, 64);
        assert.strictEqual(g.kv['general.name'], 'tiny-llama-split');
      });
    }

    it('a missing split is an error naming it', async () => {
      const dir = tempDir();
      try {
        const name = t.files![0];
        fs.copyFileSync(fixture('gguf', 'split', name), path.join(dir, name));
        await assert.rejects(openCheckpoint(path.join(dir, name)), (e: unknown) => {
          assert.ok(e instanceof CheckpointError);
          assert.strictEqual(e.code, 'missing-shard');
          assert.match(e.message, /split 2 of 2 \(tiny-llama-split-00002-of-00002\.gguf\) is missing/);
          return true;
        });
        // Renamed out of the split pattern: only its own tensors, with a warning.
        fs.renameSync(path.join(dir, name), path.join(dir, 'renamed.gguf'));
        const r = await openCheckpoint(path.join(dir, 'renamed.gguf'));
        assert.ok(r.warnings.some((w) => w.code === 'gguf-split' && /only this file/.test(w.message)));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('a 256 MB file (sparse) is opened from its header alone', () => {
    let dir: string;
    before(() => {
      dir = tempDir();
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('bytes read are a tiny fraction of the file', async () => {
      const tensors: TInfo[] = [
        { name: 'token_embd.weight', ne: [4096, 32000], type: 12 }, // Q4_K
        { name: 'output.weight', ne: [4096, 32000], type: 14 }, // Q6_K
        { name: 'blk.0.attn_q.weight', ne: [4096, 4096], type: 30 }, // BF16
      ];
      const { head, dataSize } = ggufHead({ kvs: [kvStr('general.architecture', 'llama')], tensors });
      const p = path.join(dir, 'big.gguf');
      const fd = fs.openSync(p, 'w');
      fs.writeSync(fd, head, 0, head.length, 0);
      fs.ftruncateSync(fd, head.length + dataSize);
      fs.closeSync(fd);
      const size = fs.statSync(p).size;
      assert.ok(size > 200e6);
      const cp = await openCheckpoint(p);
      assert.deepStrictEqual(cp.tensors.map((x) => x.dtype), ['Q4_K', 'Q6_K', 'bfloat16']);
      assert.deepStrictEqual(cp.tensors[0].shape, [32000, 4096]);
      assert.strictEqual(cp.tensors[0].nbytes, (4096 * 32000 * 144) / 256);
      assert.ok(cp.bytesRead < 16 * 1024, `read ${cp.bytesRead} of ${size} bytes`);
      assert.strictEqual(cp.shared.length, 0, 'output.weight is stored: no tie');
    });

    it('a key or a tensor name whose length reaches 1.5 GB into the file: refused as a limit before it is read (read whole, seconds and 1.5 GB of memory, before)', async () => {
      const n = 1_500_000_000;
      for (const [name, counts, what] of [
        ['long-key.gguf', [0, 1], 'key of key/value pair 0'],
        ['long-name.gguf', [1, 0], 'name of tensor info 0'],
      ] as const) {
        const p = path.join(dir, name);
        const head = Buffer.concat([Buffer.from('GGUF'), u32(3), u64(counts[0]), u64(counts[1]), u64(n)]);
        const fd = fs.openSync(p, 'w');
        fs.writeSync(fd, head, 0, head.length, 0);
        fs.ftruncateSync(fd, head.length + n + 64);
        fs.closeSync(fd);
        const src = await nodeFileAccess.open(p, name);
        const started = Date.now();
        try {
          const e = await rejectsWith(ggufReader.read(src, { access: nodeFileAccess, path: p, root: dir }), 'limit', new RegExp(`${what} is ${n} bytes long; names of more than 65536 bytes are not read`));
          assert.strictEqual(e.offset, 24);
          assert.ok(src.bytesRead < 64 * 1024, `read ${src.bytesRead} bytes`);
          assert.ok(Date.now() - started < 2000);
        } finally {
          await src.close();
        }
      }
    });
  });

  describe('broken files are typed errors naming the problem and a byte offset', () => {
    const good = fs.readFileSync(LLAMA);

    it('truncated anywhere: in the header, the key/values, the tensor infos or the data', async () => {
      const t = truth.files['tiny-llama.gguf'];
      for (const cut of [3, 10, 23, 40, 5000, t.dataStart - 100, t.dataStart - 1, t.dataStart + 10, good.length - 1]) {
        const e = await rejects(good.subarray(0, cut), 'truncated', /./);
        assert.ok(e.offset !== undefined || cut < 24, `cut at ${cut}: ${e.message}`);
        assert.match(e.message, /byte \d+/);
      }
    });

    it('a length field of 2^62 is rejected before anything is allocated', async () => {
      const b = Buffer.from(good);
      b.writeBigUInt64LE(1n << 62n, 24); // length of the first key
      const e = await rejects(b, 'truncated', /key of key\/value pair 0 length 4611686018427387904 runs past the end of the file/);
      assert.strictEqual(e.offset, 24);
      const c = Buffer.from(good);
      c.writeBigUInt64LE(1n << 62n, 8); // tensor count
      const e2 = await rejects(c, 'truncated', /tensor count 4611686018427387904/);
      assert.strictEqual(e2.offset, 8);
      // An array count of 2^62 (the token list).
      const arr = gguf({ kvs: [Buffer.concat([gstr('tokens'), u32(T.arr), u32(T.str), u64(1n << 62n)])] });
      const e3 = await rejects(arr, 'truncated', /array length 4611686018427387904 \(at least 8 bytes each\)/);
      assert.match(e3.message, /key "tokens"/);
    });

    it('unknown and removed ggml type ids', async () => {
      const e = await rejects(gguf({ tensors: [{ name: 'w', ne: [32], type: 99 }] }), 'bad-dtype', /unknown ggml type 99/);
      assert.match(e.message, /tensor "w"/);
      assert.ok(e.offset! > 24);
      await rejects(gguf({ tensors: [{ name: 'w', ne: [32], type: 4 }] }), 'bad-dtype', /Q4_2\) was removed/);
    });

    it('unaligned, overlapping and out-of-file data offsets', async () => {
      const e = await rejects(gguf({ tensors: [{ name: 'w', ne: [8], type: 0, offset: 4 }], extraData: 64 }), 'bad-offsets', /offset 4 is not a multiple of the alignment 32/);
      assert.ok(e.offset! > 24);
      await rejects(
        gguf({ tensors: [{ name: 'a', ne: [16], type: 0 }, { name: 'b', ne: [16], type: 0, offset: 32 }], extraData: 64 }),
        'bad-offsets',
        /overlaps tensor "a"/,
      );
      const big = gguf({ tensors: [{ name: 'w', ne: [8], type: 0 }] });
      const past = Buffer.concat([big.subarray(0, big.length - 32)]);
      await rejects(past, 'truncated', /runs past the end of the file/);
      const far = ggufHead({ tensors: [{ name: 'w', ne: [8], type: 0, offset: 2 ** 40 }] }).head;
      const e2 = await rejects(Buffer.concat([far, Buffer.alloc(64)]), 'truncated', /data \[\d+, \d+\) .* at data offset 1099511627776\) runs past the end of the file/);
      assert.match(e2.message, /tensor "w"/);
    });

    it('more than 4 dimensions, a bad block multiple, negative ne', async () => {
      await rejects(gguf({ tensors: [{ name: 'w', ne: [1, 1, 1, 1, 1], type: 0 }] }), 'bad-shape', /5 dimensions; ggml allows at most 4/);
      await rejects(gguf({ tensors: [{ name: 'w', ne: [48], type: 8 }] }), 'bad-shape', /ne\[0\] = 48 is not a multiple of the Q8_0 block size 32/);
      const neg = gguf({ tensors: [{ name: 'w', ne: [8], type: 0 }] });
      const at = neg.indexOf(Buffer.from('w')) + 1 + 4;
      neg.writeBigInt64LE(-5n, at);
      await rejects(neg, 'bad-shape', /ne\[0\] is negative/);
    });

    it('version 1, unknown versions, big-endian files and a bad magic', async () => {
      const v1 = Buffer.from(good);
      v1.writeUInt32LE(1, 4);
      const e = await rejects(v1, 'unsupported', /GGUF version 1 is not supported/);
      assert.strictEqual(e.offset, 4);
      const v9 = Buffer.from(good);
      v9.writeUInt32LE(9, 4);
      await rejects(v9, 'unsupported', /version 9/);
      const be = Buffer.from(good);
      be.writeUInt32BE(3, 4);
      await rejects(be, 'unsupported', /big-endian/);
      const bad = Buffer.from(good);
      bad.write('GGML', 0);
      await rejects(bad, 'bad-header', /magic/);
    });

    it('duplicate keys and duplicate tensor names', async () => {
      const e = await rejects(gguf({ kvs: [kvU32('a', 1), kvU32('a', 2)] }), 'duplicate-key', /key "a": duplicate key \(first at byte 24\)/);
      assert.ok(e.offset! > 24);
      await rejects(gguf({ tensors: [{ name: 'w', ne: [8], type: 0 }, { name: 'w', ne: [8], type: 0 }] }), 'duplicate-key', /tensor "w": duplicate tensor name/);
    });

    it('bad alignment, unknown value types and nested arrays', async () => {
      await rejects(gguf({ kvs: [kvU32('general.alignment', 48)] }), 'bad-header', /general\.alignment 48 is not a power of two/);
      await rejects(gguf({ kvs: [Buffer.concat([gstr('k'), u32(13), u32(0)])] }), 'bad-header', /unknown value type 13/);
      await rejects(gguf({ kvs: [Buffer.concat([gstr('k'), u32(T.arr), u32(T.arr), u64(1), u32(T.u8), u64(0)])] }), 'unsupported', /nested arrays/);
    });

    it('a non-default alignment is honoured', async () => {
      const b = gguf({ kvs: [kvU32('general.alignment', 64)], tensors: [{ name: 'a', ne: [8], type: 0 }, { name: 'b', ne: [8], type: 0 }], alignment: 64 });
      const raw = await readBytes(b);
      assert.strictEqual(raw.tensors[1].dataOffset! - raw.tensors[0].dataOffset!, 64);
      assert.strictEqual(raw.tensors[0].dataOffset! % 64, 0);
      assert.deepStrictEqual(raw.warnings, []);
    });

    it('key/value pairs read without waiting (in memory) and read through the window give the same values, types and errors', async () => {
      // 30,000 pairs of every scalar type and strings, short and long, and arrays between them: the
      // reader's window (4 KiB growing to 1 MiB) ends inside many pairs, which the general path reads.
      const kvs: Buffer[] = [];
      const want: Record<string, unknown> = {};
      const types: Record<string, string> = {};
      const scalars: [number, string, (i: number) => Buffer, (i: number) => unknown][] = [
        [T.u8, 'uint8', (i) => Buffer.from([i & 0xff]), (i) => i & 0xff],
        [T.i8, 'int8', (i) => Buffer.from([(i & 0x7f) | 0x80]), (i) => ((i & 0x7f) | 0x80) - 256],
        [T.u16, 'uint16', (i) => Buffer.from([i & 0xff, 0x81]), (i) => (i & 0xff) + 0x8100],
        [T.i16, 'int16', (i) => Buffer.from([i & 0xff, 0xff]), (i) => (i & 0xff) - 256],
        [T.u32, 'uint32', (i) => u32(0xfff00000 + i * 29), (i) => 0xfff00000 + i * 29],
        [T.i32, 'int32', (i) => { const b = Buffer.alloc(4); b.writeInt32LE(-i); return b; }, (i) => -i],
        [T.f32, 'float32', (i) => { const b = Buffer.alloc(4); b.writeFloatLE(i + 0.5); return b; }, (i) => i + 0.5],
        [T.bool, 'bool', (i) => Buffer.from([i & 1]), (i) => (i & 1) === 1],
        [T.u64, 'uint64', (i) => u64(BigInt(i) * 2n ** 40n), (i) => (BigInt(i) * 2n ** 40n > BigInt(Number.MAX_SAFE_INTEGER) ? (BigInt(i) * 2n ** 40n).toString() : i * 2 ** 40)],
        [T.i64, 'int64', (i) => { const b = Buffer.alloc(8); b.writeBigInt64LE(-BigInt(i)); return b; }, (i) => -i],
        [T.f64, 'float64', (i) => { const b = Buffer.alloc(8); b.writeDoubleLE(i / 4); return b; }, (i) => i / 4],
      ];
      for (let i = 0; i < 30_000; i++) {
        const key = `k.${i}.${'é'.repeat(i % 7)}`;
        const kind = i % 14;
        if (kind < scalars.length) {
          const [type, name, bytes, value] = scalars[kind];
          kvs.push(Buffer.concat([gstr(key), u32(type), bytes(i)]));
          want[key] = value(i);
          types[key] = name;
        } else if (kind === 11) {
          const v = `v${i}`.repeat(i % 300);
          kvs.push(kvStr(key, v));
          want[key] = v;
          types[key] = 'string';
        } else if (kind === 12) {
          kvs.push(Buffer.concat([gstr(key), u32(T.arr), u32(T.u32), u64(2), u32(i), u32(i + 1)]));
          want[key] = [i, i + 1];
          types[key] = 'array<uint32>';
        } else if (i % 2000 !== 13) {
          kvs.push(kvStr(key, ''));
          want[key] = '';
          types[key] = 'string';
        } else {
          // A string past the inline limit (256 KiB) is kept as a summary by either path.
          const v = 'x'.repeat(300_000);
          kvs.push(kvStr(key, v));
          want[key] = { type: 'string', count: v.length, first: 'x'.repeat(200) };
          types[key] = 'string';
        }
      }
      const raw = await readBytes(gguf({ kvs, tensors: [{ name: 'w', ne: [8], type: 0 }] }));
      const g = raw.metadata.gguf as { kv: Record<string, unknown>; kvTypes: Record<string, string> };
      assert.deepStrictEqual({ ...g.kv }, want);
      assert.deepStrictEqual({ ...g.kvTypes }, types);
      // Errors in a pair that is all in memory are the general path's: bad UTF-8 in a key or a
      // value, a duplicate key, a string or key length past the end of the file, an unknown type.
      const badKey = Buffer.concat([u64(2), Buffer.from([0xc3, 0x28]), u32(T.u32), u32(1)]);
      await rejects(gguf({ kvs: [kvU32('a', 1), badKey] }), 'bad-header', /key of key\/value pair 1/);
      const badValue = Buffer.concat([gstr('a'), u32(T.str), u64(2), Buffer.from([0xc3, 0x28])]);
      await rejects(gguf({ kvs: [badValue] }), 'bad-header', /byte 45: string value at byte 37 is not valid UTF-8/);
      // A duplicate key is named before its value is read, even a value that is not UTF-8 (read whole in memory, it was that error).
      await rejects(gguf({ kvs: [kvU32('a', 1), badValue] }), 'duplicate-key', /key "a": duplicate key \(first at byte 24\)/);
      const dup = await rejects(gguf({ kvs: [kvU32('a', 1), kvStr('b', 'x'), kvU32('a', 2)] }), 'duplicate-key', /key "a": duplicate key \(first at byte 24\)/);
      assert.strictEqual(dup.offset, 24 + 13 + 4 + 9 + 4 + 9);
      const long = Buffer.concat([gstr('a'), u32(T.str), u64(1000)]);
      await rejects(gguf({ kvs: [long] }), 'truncated', /string length 1000 runs past the end of the file/);
      await rejects(gguf({ kvs: [Buffer.concat([gstr('k'), u32(13), u32(0)])] }), 'bad-header', /key "k": unknown value type 13/);
    });

    describe('tensor infos read without waiting (in memory) and read through the window give the same records and errors', () => {
      // The reader's first window is the file's first 8 KiB; 200 infos of 39 bytes after a `pad`
      // string of 250 to 399 bytes put info 200 (and those after it) before that edge, across it
      // at every byte of its fields, and after it, in the next window.
      const plain = (i: number): RawInfo => ({ name: `t${String(i).padStart(6, '0')}`, ne: [4], type: 0 });
      const around = (infos: RawInfo[]) => [...Array.from({ length: 200 }, (_, i) => plain(i)), ...infos, ...Array.from({ length: 5 }, (_, i) => plain(300 + i))];
      const PADS = Array.from({ length: 150 }, (_, i) => 250 + i);

      it('valid infos: every shape size, large dims of empty tensors, quantized types, UTF-8 and long names', async () => {
        const unusual: RawInfo[] = [
          { name: 'four.dims', ne: [256, 3, 2, 5], type: 12 }, // Q4_K
          { name: 'scalar', ne: [], type: 0 },
          { name: 'empty.wide', ne: [2 ** 40, 0, 2 ** 53 - 1], type: 0 }, // ne past 2^32: only an empty tensor fits the file
          { name: 'empty.first', ne: [0, 3_000_000_000, 2 ** 45], type: 30 },
          { name: `ünïcödé.${'é'.repeat(40)}`, ne: [32, 2], type: 8 }, // 92 bytes: a long name, and not ASCII
          { name: 'i8', ne: [7], type: 24 },
        ];
        const infos = around(unusual);
        for (const pad of PADS) {
          const f = infoFile(infos, pad);
          const raw = await readBytes(f.bytes);
          assert.deepStrictEqual(recordsOf(raw), expectedRecords(infos, f), `pad ${pad}`);
          assert.deepStrictEqual(raw.warnings, [{ code: 'gguf-long-name', message: 'test.gguf: some tensor names are 64 bytes or longer; llama.cpp rejects them' }], `pad ${pad}`);
        }
        // Without the long name, no warning, wherever the info was read.
        for (const pad of PADS) {
          const raw = await readBytes(infoFile(around(unusual.slice(0, 4)), pad).bytes);
          assert.deepStrictEqual(raw.warnings, [], `pad ${pad}`);
        }
      });

      type Expected = [ErrorCode, string, (w: InfoAt) => number, boolean];
      const bad: [string, RawInfo, Expected][] = [
        ['5 dims', { name: 'x', ne: [1, 1, 1, 1, 1], type: 0 }, ['bad-shape', 'tensor has 5 dimensions; ggml allows at most 4', (w) => w.dimsAt, true]],
        ['unknown type', { name: 'x', ne: [32], type: 99 }, ['bad-dtype', 'unknown ggml type 99', (w) => w.typeAt, true]],
        ['removed type', { name: 'x', ne: [32], type: 4 }, ['bad-dtype', 'ggml type 4 (Q4_2) was removed from ggml; this file needs an old llama.cpp', (w) => w.typeAt, true]],
        ['block multiple', { name: 'x', ne: [48], type: 8 }, ['bad-shape', 'ne[0] = 48 is not a multiple of the Q8_0 block size 32', (w) => w.dimsAt, true]],
        ['negative ne', { name: 'x', ne: [8, 2n ** 64n - 5n], type: 0 }, ['bad-shape', 'ne[1] is negative (-5)', (w) => w.neAt[1], true]],
        ['ne of 2^53', { name: 'x', ne: [2n ** 53n], type: 0 }, ['bad-shape', 'ne[0] = 9007199254740992 is too large', (w) => w.neAt[0], true]],
        // The product overflows before the 0 that would make it 0: refused, as in file order.
        ['too many elements', { name: 'x', ne: [2 ** 40, 2 ** 40, 0], type: 0 }, ['bad-shape', 'shape ne = [1099511627776, 1099511627776] has too many elements', (w) => w.neAt[1], true]],
        ['too many bytes', { name: 'x', ne: [2 ** 26, 2 ** 26], type: 0 }, ['bad-shape', 'tensor of 4503599627370496 F32 elements is too large', (w) => w.dimsAt, true]],
        ['offset of 2^53', { name: 'x', ne: [4], type: 0, offset: 2n ** 53n }, ['bad-offsets', 'data offset 9007199254740992 is too large', (w) => w.offsetAt, true]],
        ['name not UTF-8', { name: Buffer.from([0x78, 0xc3, 0x28]), ne: [4], type: 0 }, ['bad-header', 'name of tensor info 200 is not valid UTF-8', (w) => w.at + 8, false]],
        ['name over 64 KiB', { name: 'n'.repeat(70_000), ne: [4], type: 0 }, ['limit', 'name of tensor info 200 is 70000 bytes long; names of more than 65536 bytes are not read', (w) => w.at, false]],
      ];
      for (const [what, info, [code, detail, offset, named]] of bad) {
        it(`${what}: the same error wherever the info lies`, async () => {
          for (const pad of PADS) {
            const f = infoFile(around([info]), pad);
            await refusedWith(f.bytes, code, detail, offset(f.where[200]), named ? 'tensor "x"' : undefined, `pad ${pad}`);
          }
        });
      }

      it('a duplicate name: the same error wherever either info lies', async () => {
        for (const pad of PADS) {
          for (const first of [0, 150, 199]) {
            const f = infoFile(around([{ name: plain(first).name, ne: [4], type: 0 }]), pad);
            const name = String(plain(first).name);
            await refusedWith(f.bytes, 'duplicate-key', `duplicate tensor name (first at byte ${f.where[first].at})`, f.where[200].at, `tensor "${name}"`, `pad ${pad}, first ${first}`);
          }
        }
      });

      it('20,000 infos across growing windows: the records of the general path, which reads the few that cross a window edge', async () => {
        const rand = seededRandom(2024);
        const types = [0, 1, 2, 8, 12, 14, 24, 30];
        const infos: RawInfo[] = [];
        for (let i = 0; i < 20_000; i++) {
          const type = types[Math.floor(rand() * types.length)];
          const block = GGML_TYPES.get(type)!.block;
          // A tensor without dims is one element, not a whole block of a quantized type.
          const nDims = Math.floor(rand() * 5) || (block > 1 ? 1 : 0);
          const ne = Array.from({ length: nDims }, (_, d) => (d === 0 ? block : 1 + Math.floor(rand() * 3)));
          const name = i % 997 === 0 ? `blk.${i}.ünïcödé` : i === 12_345 ? `blk.${i}.${'long'.repeat(16)}` : `blk.${i >> 4}.t${i & 15}.weight`;
          infos.push({ name, ne: i % 499 === 0 ? [block * 2 ** 20, 0, 2 ** 44] : ne, type });
        }
        const f = infoFile(infos, 0);
        // Count the infos the general path reads: it reads each data offset with u64big.
        const u64big = ChunkedReader.prototype.u64big;
        let general = 0;
        ChunkedReader.prototype.u64big = function (this: ChunkedReader, pos: number, what: string) {
          if (what === 'tensor data offset') general++;
          return u64big.call(this, pos, what);
        };
        let raw: RawCheckpoint;
        try {
          raw = await readBytes(f.bytes);
        } finally {
          ChunkedReader.prototype.u64big = u64big;
        }
        assert.deepStrictEqual(recordsOf(raw), expectedRecords(infos, f));
        assert.deepStrictEqual(raw.warnings, [{ code: 'gguf-long-name', message: 'test.gguf: some tensor names are 64 bytes or longer; llama.cpp rejects them' }]);
        assert.ok(general > 0 && general < 50, `${general} of 20,000 infos read by the general path`);
      });
    });

    it('random corruption never escapes as anything but a CheckpointError', async function () {
      this.timeout(60_000);
      const rand = seededRandom(12345);
      const head = good.subarray(0, truth.files['tiny-llama.gguf'].dataStart + 256);
      for (let i = 0; i < 300; i++) {
        const b = Buffer.from(head);
        flipBytes(b, rand);
        await readsOrRefuses(readBytes(b));
      }
    });
  });
});

describe('GGUF split folder', () => {
  it('a folder of splits opens as one checkpoint from its first split', async () => {
    const r = toReport(await openCheckpoint(fixture('gguf', 'split')));
    assert.strictEqual(r.format, 'gguf');
    assert.strictEqual(r.files.length, 2);
    const whole = toReport(await openCheckpoint(LLAMA));
    assert.deepStrictEqual(r.parameters, whole.parameters);
  });
});

// GGUF tensors that are not one-to-one with the Hugging Face model's parameters
// (scripts/fixtures/make_gguf_onnx.py, make_gguf_more).
interface MoreTruth {
  torch: {
    ground_truth: { parameters: { unique: number; total: number } };
    parameters: Record<string, number[]>;
    /** model.named_buffers(), non-persistent ones (inv_freq) included. */
    buffers: Record<string, number[]>;
  };
  tensors: Record<string, number[]>;
  ropeTensors?: string[];
  experts?: Record<string, { count: number; repr: string }>;
}

const moreTruth = readJson<{ files: Record<string, MoreTruth> }>(fixture('gguf', 'ground-truth-more.json'));

function moduleAt(root: ModuleNode, p: string): ModuleNode | undefined {
  let m: ModuleNode | undefined = root;
  for (const part of p.split('.')) m = m?.children.find((c) => c.name === part);
  return m;
}

describe('GGUF tensors llama.cpp adds or stacks (ground truth from torch)', () => {
  for (const [file, t] of Object.entries(moreTruth.files)) {
    describe(file, () => {
      let cp: Checkpoint;
      before(async () => {
        cp = await openCheckpoint(fixture('gguf', file));
      });

      it('parameters equal torch model.parameters(); every tensor is listed with its shape', () => {
        assert.deepStrictEqual(cp.parameters, { unique: t.torch.ground_truth.parameters.unique, total: t.torch.ground_truth.parameters.total });
        const stored = cp.tensors.filter((x) => x.present);
        assert.deepStrictEqual(Object.fromEntries(stored.map((x) => [x.name, x.shape])), t.tensors);
      });

      it('RoPE scaling tensors are buffers with the reason, not parameters', () => {
        const rope = t.ropeTensors ?? [];
        for (const name of rope) {
          const x = cp.tensors.find((y) => y.name === name)!;
          assert.strictEqual(x.role, 'buffer', name);
          assert.match(x.roleReason, /^RoPE .* llama\.cpp stores as a tensor: transformers .*inv_freq.*; not a parameter$/, name);
        }
        assert.strictEqual(cp.buffers.unique, rope.reduce((s, n) => s + numel(t.tensors[n]), 0));
        assert.ok(cp.tensors.filter((x) => x.role === 'parameter').every((x) => !/rope/.test(x.name)));
      });

      it('stacked expert tensors are shown as experts, each the Linear torch has', () => {
        for (const [path, e] of Object.entries(t.experts ?? {})) {
          const m = moduleAt(cp.modules, path)!;
          assert.strictEqual(m.type, 'Experts', `${path}: ${m.repr}`);
          const [, inF, out] = /in_features=(\d+), out_features=(\d+)/.exec(e.repr)!;
          assert.strictEqual(m.repr, `Experts(num_experts=${e.count}, in_features=${inF}, out_features=${out}, bias=False)`);
          assert.ok(m.evidence!.includes(`${e.count} x ${e.repr}, one per expert`), m.evidence);
        }
      });
    });
  }

  it('llama 3.1: the buffer count is torch\'s model.buffers() (its non-persistent inv_freq has the size of rope_freqs)', async () => {
    const t = moreTruth.files['llama31-rope-freqs.gguf'];
    const cp = await openCheckpoint(fixture('gguf', 'llama31-rope-freqs.gguf'));
    assert.strictEqual(cp.buffers.unique, Object.values(t.torch.buffers).reduce((s, shape) => s + numel(shape), 0));
  });
});
