import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { nodeFileAccess } from '../src/core/access';
import { MemoryByteSource } from '../src/core/bytes';
import { onnxReader, scopePath, scopeTies } from '../src/core/formats/onnx';
import { ggufReader } from '../src/core/formats/gguf';
import { safetensorsReader } from '../src/core/formats/safetensors';
import { pickFormat, SNIFF_BYTES } from '../src/core/formats';
import { RawCheckpoint } from '../src/core/model';
import { openCheckpoint, toReport } from '../src/core';
import { fixture, readJson, tempDir, rejectsWith, sha256At, flipBytes, readsOrRefuses, seededRandom } from './helpers';

interface TruthInit {
  name: string;
  shape: number[];
  dtype: string;
  formatDtype: string;
  nbytes: number;
  consumers: number;
  external: boolean;
  sha256: string;
  location: string | null;
}
interface TruthModel {
  size: number;
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsetImport: { domain: string; version: number }[];
  metadataProps: Record<string, string>;
  graphName: string;
  nodeCount: number;
  opTypes: Record<string, number>;
  initializers: TruthInit[];
  sharedInitializers: Record<string, string[]>;
  inputs: string[];
  outputs: string[];
  torch: { ground_truth: { parameters: { unique: number; total: number }; shared: { tensors: string[] }[] }; parameters: Record<string, number[]>; parametersInGraph: string[] };
}

const truth = readJson<{ files: Record<string, TruthModel> }>(fixture('onnx', 'ground-truth.json'));
const GPT2 = fixture('onnx', 'tiny-gpt2.onnx');

interface OnnxMeta {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsetImport: { domain: string; version: number }[];
  graphName: string;
  nodeCount: number;
  opTypes: Record<string, number>;
  initializerCount: number;
  inputs: string[];
  outputs: string[];
  metadataProps?: Record<string, string>;
  sharedInitializers?: Record<string, string[]>;
  externalDataFiles?: string[];
  subgraphCount?: number;
  constantTensors?: { count: number; bytes: number };
}

function meta(raw: { metadata: Record<string, unknown> }): OnnxMeta {
  return raw.metadata.onnx as OnnxMeta;
}

async function readFile(p: string): Promise<RawCheckpoint> {
  const src = await nodeFileAccess.open(p, path.basename(p));
  try {
    return await onnxReader.read(src, { access: nodeFileAccess, path: p, root: path.dirname(p) });
  } finally {
    await src.close();
  }
}

/** Read bytes as the file `name` in `dir` (external data is looked up beside it). */
async function readBytes(bytes: Uint8Array, dir = path.dirname(GPT2), name = 'test.onnx'): Promise<RawCheckpoint> {
  const src = new MemoryByteSource(name, bytes);
  return onnxReader.read(src, { access: nodeFileAccess, path: path.join(dir, name), root: dir });
}

const rejects = rejectsWith;

const sha = sha256At;

// ---------------------------------------------------------------------------------------------
// A protobuf encoder for hand-made (and broken) models.

type Bytes = Uint8Array | number[];

function varint(v: number | bigint): number[] {
  let n = BigInt(v);
  if (n < 0n) n += 1n << 64n;
  const out: number[] = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) b |= 0x80;
    out.push(b);
  } while (n > 0n);
  return out;
}
function cat(...parts: Bytes[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(p)));
}
function fInt(no: number, v: number | bigint): Buffer {
  return cat(varint(no * 8), varint(v));
}
function fLen(no: number, payload: Bytes): Buffer {
  return cat(varint(no * 8 + 2), varint(payload.length), payload);
}
function fStr(no: number, s: string): Buffer {
  return fLen(no, Buffer.from(s, 'utf8'));
}

interface TensorSpec {
  name: string;
  dims: number[];
  type?: number;
  raw?: Bytes;
  external?: [string, string][];
  floatData?: number[];
}
function tensor(t: TensorSpec): Buffer {
  const parts: Buffer[] = t.dims.map((d) => fInt(1, d));
  parts.push(fInt(2, t.type ?? 1), fStr(8, t.name));
  if (t.raw) parts.push(fLen(9, t.raw));
  if (t.floatData) {
    const b = Buffer.alloc(4 * t.floatData.length);
    t.floatData.forEach((x, i) => b.writeFloatLE(x, i * 4));
    parts.push(fLen(4, b));
  }
  if (t.external) {
    for (const [k, v] of t.external) parts.push(fLen(13, cat(fStr(1, k), fStr(2, v))));
    parts.push(fInt(14, 1));
  }
  return cat(...parts);
}
function node(op: string, inputs: string[], name = '', extra: Buffer[] = []): Buffer {
  return cat(...inputs.map((i) => fStr(1, i)), fStr(2, `${name || op}_out`), fStr(3, name), fStr(4, op), ...extra);
}
function graph(opts: { nodes?: Buffer[]; inits?: Buffer[]; name?: string }): Buffer {
  return cat(...(opts.nodes ?? []).map((n) => fLen(1, n)), fStr(2, opts.name ?? 'g'), ...(opts.inits ?? []).map((t) => fLen(5, t)));
}
function model(g: Buffer, head: Buffer[] = [fInt(1, 8), fStr(2, 'test')]): Buffer {
  return cat(...head, fLen(7, g), fLen(8, cat(fStr(1, ''), fInt(2, 17))));
}

// ---------------------------------------------------------------------------------------------

describe('ONNX reader', () => {
  for (const [file, t] of Object.entries(truth.files)) {
    describe(`${file} (exported by torch.onnx)`, () => {
      const p = fixture('onnx', file);
      let raw: RawCheckpoint;
      before(async () => {
        raw = await readFile(p);
      });

      it('lists every initializer with its name, shape, dtype, size and consumer count', () => {
        assert.strictEqual(raw.format, 'onnx');
        const ours = raw.tensors.map((x) => [x.name, x.shape, x.dtype, x.formatDtype, x.nbytes, x.extra?.consumers]);
        const expected = t.initializers.map((x) => [x.name, x.shape, x.dtype, x.formatDtype, x.nbytes, x.consumers]);
        assert.deepStrictEqual(ours, expected);
      });

      it('data offsets point at exactly the tensor bytes (raw_data or external file)', () => {
        const dir = path.dirname(p);
        for (const x of t.initializers) {
          const rec = raw.tensors.find((r) => r.name === x.name)!;
          assert.ok(rec.dataOffset !== null, x.name);
          const f = x.external ? path.join(dir, x.location!) : p;
          assert.strictEqual(rec.file, x.external ? x.location : path.basename(p));
          assert.strictEqual(sha(f, rec.dataOffset!, rec.nbytes), x.sha256, x.name);
        }
      });

      it('model and graph facts: ir version, producer, opsets, op types, inputs, sharing', () => {
        const m = meta(raw);
        assert.strictEqual(m.irVersion, t.irVersion);
        assert.strictEqual(m.producerName, t.producerName);
        assert.strictEqual(m.producerVersion, t.producerVersion);
        assert.deepStrictEqual(m.opsetImport, t.opsetImport);
        assert.strictEqual(m.graphName, t.graphName);
        assert.strictEqual(m.nodeCount, t.nodeCount);
        assert.deepStrictEqual({ ...m.opTypes }, t.opTypes);
        assert.deepStrictEqual(m.inputs, t.inputs);
        assert.deepStrictEqual(m.outputs, t.outputs);
        assert.deepStrictEqual({ ...(m.metadataProps ?? {}) }, t.metadataProps);
        assert.deepStrictEqual({ ...(m.sharedInitializers ?? {}) }, t.sharedInitializers);
      });

      it('skips the raw data it holds', () => {
        // Tensors bigger than a read chunk (4 KB) are mostly skipped; small ones may be read in passing.
        const inFile = t.initializers.filter((x) => !x.external && x.nbytes > 8192).reduce((s, x) => s + x.nbytes, 0);
        assert.ok(raw.bytesRead <= t.size - inFile / 2, `${raw.bytesRead} of ${t.size}`);
      });
    });
  }

  describe('tied GPT-2: the tie is one initializer consumed by Gather and the head', () => {
    it('sharedInitializers names both consumers; the head is a declared tie, not a stored tensor', async () => {
      const raw = await readFile(GPT2);
      const shared = meta(raw).sharedInitializers!;
      assert.deepStrictEqual(shared['transformer.wte.weight'], ['/transformer/wte/Gather', '/lm_head/Transpose']);
      assert.ok(!raw.tensors.some((x) => x.name === 'lm_head.weight'));
      assert.deepStrictEqual(
        raw.declaredTies.map((d) => [d.name, d.target, d.source]),
        [['lm_head.weight', 'transformer.wte.weight', 'format']],
      );
      assert.match(raw.declaredTies[0].reason, /\/lm_head\/Transpose/);
      assert.deepStrictEqual(raw.warnings, []);
    });

    it('through openCheckpoint and toReport: parameters equal torch model.parameters()', async () => {
      const t = truth.files['tiny-gpt2.onnx'];
      const r = toReport(await openCheckpoint(GPT2));
      assert.strictEqual(r.format, 'onnx');
      // Every parameter torch has is an initializer under its own name, except the tied head.
      assert.deepStrictEqual(
        Object.keys(t.torch.parameters).filter((n) => !t.torch.parametersInGraph.includes(n)),
        ['lm_head.weight'],
      );
      assert.deepStrictEqual(r.parameters, { unique: t.torch.ground_truth.parameters.unique, total: t.torch.ground_truth.parameters.total });
      const params = new Set(r.tensors.filter((x) => x.role === 'parameter' && x.present).map((x) => x.name));
      assert.deepStrictEqual([...params].sort(), [...t.torch.parametersInGraph].sort());
      // torch's one tied group, found again from the exporter's node names.
      const g = r.shared.find((x) => x.tensors.includes('lm_head.weight'))!;
      assert.strictEqual(g.relation, 'declared');
      assert.deepStrictEqual([...g.tensors].sort(), t.torch.ground_truth.shared[0].tensors);
    });

    it('external data: same model, tensors in a side file, checked by stat only', async () => {
      const p = fixture('onnx', 'external', 'tiny-gpt2-ext.onnx');
      const t = truth.files['external/tiny-gpt2-ext.onnx'];
      const cp = await openCheckpoint(p);
      assert.deepStrictEqual(cp.files, ['tiny-gpt2-ext.onnx', 'tiny-gpt2-ext.onnx.data']);
      const dataSize = fs.statSync(fixture('onnx', 'external', 'tiny-gpt2-ext.onnx.data')).size;
      assert.strictEqual(cp.totalBytes, t.size + dataSize);
      assert.ok(cp.bytesRead <= t.size + 64, 'the data file is never read (64: the format sniff)');
      assert.strictEqual(cp.parameters.unique, t.torch.ground_truth.parameters.unique);
      assert.deepStrictEqual(meta(cp).externalDataFiles, ['tiny-gpt2-ext.onnx.data']);
      const wte = cp.tensors.find((x) => x.name === 'transformer.wte.weight')!;
      assert.strictEqual(wte.extra?.data, 'external');
      assert.strictEqual(wte.storage, `tiny-gpt2-ext.onnx.data@${wte.dataOffset}`);
    });

    it('small CNN: BatchNorm folded into exporter-named convolutions; counts are what the file holds', async () => {
      const t = truth.files['small-cnn.onnx'];
      const r = toReport(await openCheckpoint(fixture('onnx', 'small-cnn.onnx')));
      const sum = t.initializers.reduce((s, x) => s + x.shape.reduce((a, b) => a * b, 1), 0);
      assert.strictEqual(r.parameters.unique, sum);
      assert.ok(r.tensors.some((x) => x.name.startsWith('onnx::Conv_')));
    });
  });

  describe('sniffing', () => {
    it('ONNX files are recognised by content; GGUF and safetensors are not taken for ONNX', () => {
      for (const f of ['tiny-gpt2.onnx', 'small-cnn.onnx', 'external/tiny-gpt2-ext.onnx']) {
        const b = fs.readFileSync(fixture('onnx', f));
        assert.ok(onnxReader.match(b.subarray(0, 64), b.length, 'x'), f);
        assert.strictEqual(ggufReader.match(b.subarray(0, 64), b.length, 'x'), null);
        assert.strictEqual(safetensorsReader.match(b.subarray(0, 64), b.length, 'x'), null);
        assert.strictEqual(pickFormat(b.subarray(0, SNIFF_BYTES), b.length, 'model.bin')?.module.id, 'onnx');
      }
      const g = fs.readFileSync(fixture('gguf', 'tiny-llama.gguf')).subarray(0, 64);
      assert.strictEqual(onnxReader.match(g, 1e6, 'x'), null);
      assert.strictEqual(onnxReader.match(Buffer.from('{"a": 1}'), 8, 'x'), null);
      assert.strictEqual(onnxReader.match(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 100, 'x'), null);
    });
  });

  describe('hand-made models', () => {
    it('packed float_data, sparse initializers, subgraphs and Constant nodes', async () => {
      const body = graph({
        name: 'body',
        nodes: [node('MatMul', ['x', 'W'], 'inner_mm')],
        inits: [tensor({ name: 'inner_bias', dims: [3], raw: Buffer.alloc(12) })],
      });
      const ifNode = node('If', ['cond'], 'if0', [fLen(5, cat(fStr(1, 'then_branch'), fLen(6, body), fInt(20, 5)))]);
      const constNode = node('Constant', [], 'c0', [fLen(5, cat(fStr(1, 'value'), fLen(5, tensor({ name: '', dims: [4], raw: Buffer.alloc(16) }))))]);
      const sparse = cat(fLen(1, tensor({ name: 'S', dims: [2], raw: Buffer.alloc(8) })), fLen(2, tensor({ name: '', dims: [2], type: 7, raw: Buffer.alloc(16) })), fInt(3, 10), fInt(3, 10));
      const g = cat(
        graph({
          nodes: [node('Gemm', ['x', 'W', 'b'], 'gemm'), ifNode, constNode, node('Add', ['W', 'S'], 'add')],
          inits: [tensor({ name: 'W', dims: [2, 3], floatData: [1, 2, 3, 4, 5, 6] }), tensor({ name: 'b', dims: [3], type: 7, raw: Buffer.alloc(24) })],
        }),
        fLen(15, sparse),
      );
      const bytes = model(g);
      const raw = await readBytes(bytes);
      const byName = new Map(raw.tensors.map((x) => [x.name, x]));
      assert.deepStrictEqual([...byName.keys()], ['W', 'b', 'inner_bias', 'S']);
      const W = byName.get('W')!;
      assert.strictEqual(W.extra?.data, 'float_data');
      assert.strictEqual(Buffer.from(bytes).readFloatLE(W.dataOffset! + 8), 3);
      assert.strictEqual(W.extra?.consumers, 3, 'Gemm, the If body MatMul and Add');
      assert.strictEqual(byName.get('b')!.dtype, 'int64');
      assert.strictEqual(byName.get('inner_bias')!.extra?.subgraph, 'if0.then_branch');
      const S = byName.get('S')!;
      assert.deepStrictEqual(S.shape, [10, 10]);
      assert.strictEqual(S.extra?.sparse, true);
      assert.strictEqual(S.extra?.nnz, 2);
      const m = meta(raw);
      assert.strictEqual(m.subgraphCount, 1);
      assert.deepStrictEqual(m.constantTensors, { count: 1, bytes: 16 });
      assert.strictEqual(m.nodeCount, 5);
      assert.deepStrictEqual({ ...m.sharedInitializers }, { W: ['gemm', 'inner_mm', 'add'] });
    });

    it('two initializers naming the same external byte range share storage, counted once', async () => {
      const dir = tempDir();
      try {
        fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.alloc(4096));
        const same: [string, string][] = [['location', 'w.bin'], ['offset', '1024'], ['length', '64']];
        const g = graph({
          nodes: [node('MatMul', ['x', 'a'], 'mm_a'), node('MatMul', ['x', 'b'], 'mm_b')],
          inits: [tensor({ name: 'a', dims: [4, 4], external: same }), tensor({ name: 'b', dims: [4, 4], external: same })],
        });
        // No ir_version first: not sniffed as ONNX, picked by the .onnx extension.
        fs.writeFileSync(path.join(dir, 'm.onnx'), model(g, [fStr(2, 'test')]));
        const cp = await openCheckpoint(path.join(dir, 'm.onnx'));
        assert.strictEqual(cp.format, 'onnx');
        assert.deepStrictEqual(cp.files, ['m.onnx', 'w.bin']);
        assert.deepStrictEqual(cp.parameters, { unique: 16, total: 32 });
        assert.strictEqual(cp.shared.length, 1);
        assert.deepStrictEqual(cp.shared[0].tensors, ['a', 'b']);
        assert.strictEqual(cp.shared[0].relation, 'alias');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a 256 MB model (sparse file) is opened reading a few KB', async function () {
      this.timeout(60_000);
      const dir = tempDir();
      try {
        const p = path.join(dir, 'big.onnx');
        const fd = fs.openSync(p, 'w');
        // Lay the model out by hand: each initializer's raw_data is a hole in a sparse file.
        const N = 4;
        const size = 64 << 20;
        const inits: Buffer[] = [];
        for (let i = 0; i < N; i++) {
          const head = cat(fInt(1, 4096), fInt(1, 4096), fInt(2, 1), fStr(8, `layer${i}.weight`), varint(9 * 8 + 2), varint(size));
          inits.push(cat(varint(5 * 8 + 2), varint(head.length + size), head));
        }
        const nodes = cat(...Array.from({ length: N }, (_, i) => fLen(1, node('MatMul', ['x', `layer${i}.weight`], `mm${i}`))));
        const graphLen = nodes.length + inits.reduce((s, h) => s + h.length + size, 0);
        const top = cat(fInt(1, 8), fStr(2, 'bench'), varint(7 * 8 + 2), varint(graphLen), nodes);
        let pos = 0;
        fs.writeSync(fd, top, 0, top.length, pos);
        pos += top.length;
        for (const h of inits) {
          fs.writeSync(fd, h, 0, h.length, pos);
          pos += h.length + size;
        }
        fs.ftruncateSync(fd, pos);
        fs.closeSync(fd);
        const cp = await openCheckpoint(p);
        assert.strictEqual(cp.tensors.length, N);
        assert.strictEqual(cp.parameters.unique, N * 4096 * 4096);
        assert.ok(cp.bytesRead < 64 * 1024, `read ${cp.bytesRead} of ${pos}`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('broken files are typed errors naming the problem and a byte offset', () => {
    const good = fs.readFileSync(GPT2);
    const ok = (inits: Buffer[]) => model(graph({ nodes: [node('Add', ['a', 'b'])], inits }));

    it('truncated anywhere', async () => {
      for (const cut of [1, 5, 30, 1000, 20000, 60000, good.length - 100, good.length - 1]) {
        const e = await rejects(readBytes(good.subarray(0, cut)), 'truncated', /./);
        assert.ok(e.offset !== undefined, e.message);
        assert.match(e.message, /byte \d+/);
      }
    });

    it('a length of 2^62 and a length past its enclosing message', async () => {
      const huge = cat(fInt(1, 8), varint(7 * 8 + 2), varint(1n << 62n), [0, 0, 0, 0]);
      const e = await rejects(readBytes(huge), 'truncated', /ModelProto: field 7 needs 4611686018427387904 bytes/);
      assert.strictEqual(e.offset, 2);
      // A tensor whose name claims more bytes than the tensor message holds.
      const t = tensor({ name: 'w', dims: [1], raw: Buffer.alloc(4) });
      const badTensor = Buffer.from(t);
      badTensor[badTensor.indexOf(Buffer.from('w')) - 1] = 100;
      const e2 = await rejects(readBytes(ok([badTensor])), 'bad-header', /field 8 .* runs past the end of its message/);
      assert.match(e2.message, /TensorProto/);
    });

    it('malformed varints and wire types', async () => {
      const long = cat([0x08], Array(10).fill(0xff), [0x01]);
      await rejects(readBytes(long), 'bad-header', /longer than 10 bytes/);
      const overflow = cat([0x08], Array(9).fill(0xff), [0x7f]);
      await rejects(readBytes(overflow), 'bad-header', /overflows 64 bits/);
      await rejects(readBytes(cat(fInt(1, 8), [0x0b])), 'unsupported', /field 1 uses the deprecated protobuf group/);
      await rejects(readBytes(cat(fInt(1, 8), [0x0f])), 'bad-header', /invalid wire type 7/);
      await rejects(readBytes(cat(fInt(1, 8), [0x02, 0x00])), 'bad-header', /field number 0/);
      await rejects(readBytes(cat(fInt(1, 8), fInt(7, 3))), 'bad-header', /field 7 \(graph\) has wire type 0; expected 2/);
      await rejects(readBytes(cat(fInt(1, 8), fStr(2, 'x'))), 'bad-header', /no graph/);
    });

    it('raw_data of the wrong size, an unknown data_type, negative dims, a missing name', async () => {
      const e = await rejects(readBytes(ok([tensor({ name: 'w', dims: [2, 3], raw: Buffer.alloc(20) })])), 'bad-offsets', /raw_data holds 20 bytes but dims \[2, 3\] of FLOAT need 24/);
      assert.match(e.message, /initializer "w"/);
      await rejects(readBytes(ok([tensor({ name: 'w', dims: [1], type: 99, raw: Buffer.alloc(4) })])), 'bad-dtype', /unknown data_type 99/);
      await rejects(readBytes(ok([tensor({ name: 'w', dims: [1], type: 0, raw: Buffer.alloc(4) })])), 'bad-dtype', /UNDEFINED/);
      await rejects(readBytes(ok([tensor({ name: 'w', dims: [-3], raw: Buffer.alloc(4) })])), 'bad-shape', /dimension -3 is negative/);
      await rejects(readBytes(ok([tensor({ name: '', dims: [1], raw: Buffer.alloc(4) })])), 'bad-header', /initializer has no name/);
      await rejects(readBytes(ok([tensor({ name: 'w', dims: [5] })])), 'bad-shape', /holds no data/);
      await rejects(readBytes(ok([tensor({ name: 'w', dims: [5], floatData: [1, 2] })])), 'bad-shape', /float_data holds 2 values but dims \[5\]/);
    });

    it('duplicate initializer names', async () => {
      const w = tensor({ name: 'w', dims: [1], raw: Buffer.alloc(4) });
      await rejects(readBytes(ok([w, w])), 'duplicate-key', /initializer "w": two initializers have this name/);
    });

    it('external data: absolute paths, "..", missing files and ranges past the end', async () => {
      const dir = fixture('onnx', 'external');
      const ext = (kv: [string, string][]) => readBytes(ok([tensor({ name: 'w', dims: [4], external: kv })]), dir);
      await rejects(ext([['location', '/etc/passwd']]), 'unsafe-path', /is absolute/);
      await rejects(ext([['location', 'C:\\x.bin']]), 'unsafe-path', /is absolute/);
      await rejects(ext([['location', '../onnx/tiny-gpt2.onnx']]), 'unsafe-path', /climbs out/);
      await rejects(ext([['location', 'sub/../../x']]), 'unsafe-path', /climbs out/);
      await rejects(ext([['location', 'nope.bin']]), 'missing-shard', /external data file "nope.bin" does not exist/);
      const e = await rejects(ext([['location', 'tiny-gpt2-ext.onnx.data'], ['offset', '999999999'], ['length', '16']]), 'truncated', /runs past the end of tiny-gpt2-ext.onnx.data/);
      assert.ok(e.offset !== undefined);
      await rejects(ext([['location', 'tiny-gpt2-ext.onnx.data'], ['length', '15']]), 'bad-offsets', /length 15 does not match dims \[4\] of FLOAT \(16 bytes\)/);
      await rejects(ext([['location', 'tiny-gpt2-ext.onnx.data'], ['offset', '-1']]), 'bad-offsets', /offset "-1" is not a non-negative integer/);
      await rejects(ext([['offset', '0']]), 'bad-header', /no "location"/);
      const okExt = await ext([['location', 'tiny-gpt2-ext.onnx.data'], ['offset', '4096'], ['length', '16']]);
      assert.strictEqual(okExt.tensors[0].dataOffset, 4096);
      assert.strictEqual(okExt.tensors[0].file, 'tiny-gpt2-ext.onnx.data');
    });

    it('subgraph nesting is bounded', async () => {
      let g = graph({ name: 'leaf' });
      for (let i = 0; i < 40; i++) g = graph({ nodes: [node('If', ['c'], `if${i}`, [fLen(5, cat(fStr(1, 'then_branch'), fLen(6, g)))])] });
      await rejects(readBytes(model(g)), 'limit', /nested deeper than 32/);
    });

    it('random corruption never escapes as anything but a CheckpointError', async function () {
      this.timeout(60_000);
      const rand = seededRandom(777);
      const small = fs.readFileSync(fixture('onnx', 'small-cnn.onnx'));
      for (let i = 0; i < 400; i++) {
        const b = Buffer.from(i % 2 ? small : good.subarray(0, 60000));
        flipBytes(b, rand);
        await readsOrRefuses(readBytes(b));
      }
    });
  });
});

describe('ONNX ties from the exporter\'s node scopes', () => {
  it('declares a tie only for a consumer in another module, never for the owner or a stored name', () => {
    const names = new Set(['enc.emb.weight', 'dec.out.weight']);
    const ties = scopeTies(
      {
        'enc.emb.weight': ['/enc/emb/Gather', '/enc/emb/sub/Mul', '/head/MatMul', 'Identity_3', '/dec/out/MatMul'],
      },
      names,
    );
    // enc.emb and its submodule own it; Identity_3 has no scope; dec.out.weight is stored.
    assert.deepStrictEqual(ties.map((t) => [t.name, t.target, t.source]), [['head.weight', 'enc.emb.weight', 'format']]);
  });

  it('an initializer consumed from many scopes is shared input, not a tie', () => {
    const nodes = Array.from({ length: 50 }, (_, i) => `/layers.${i}/Add`);
    assert.deepStrictEqual(scopeTies({ 'bias.weight': nodes }, new Set(['bias.weight'])), []);
  });
});

describe('ONNX exporter scopes', () => {
  it('collapse indexed children into a module path, and a second call (a_1) is the same module', () => {
    assert.strictEqual(scopePath('features/features.1/block/block.1/fc2'), 'features.1.block.1.fc2');
    assert.strictEqual(scopePath('transformer/h.0/attn'), 'transformer.h.0.attn');
    assert.strictEqual(scopePath('lm_head'), 'lm_head');
    const names = new Set(['features.1.block.1.fc2.bias', 'a.weight']);
    assert.deepStrictEqual(scopeTies({ 'features.1.block.1.fc2.bias': ['/features/features.1/block/block.1/fc2/Conv', '/head/Add'] }, names).map((t) => t.name), ['head.bias']);
    assert.deepStrictEqual(scopeTies({ 'a.weight': ['/a/MatMul', '/a_1/MatMul'] }, names), []);
  });
});
