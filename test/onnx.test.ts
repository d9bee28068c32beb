import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { nodeFileAccess } from '../src/core/access';
import { MemoryByteSource } from '../src/core/bytes';
import { onnxReader } from '../src/core/formats/onnx';
import { scopePath, scopeTies } from '../src/core/formats/onnx-read';
import { ggufReader } from '../src/core/formats/gguf';
import { safetensorsReader } from '../src/core/formats/safetensors';
import { pickFormat, SNIFF_BYTES } from '../src/core/formats';
import { RawCheckpoint } from '../src/core/model';
import { analyze, openCheckpoint, toReport } from '../src/core';
import { fixture, readJson, tempDir, rejectsWith, sha256At, flipBytes, readsOrRefuses, seededRandom } from './helpers';
import type { Checkpoint, ModuleNode } from '../src/core/model';
import { renderText } from '../src/core/export/text';
import { renderMarkdown } from '../src/core/export/markdown';
import { renderMermaid } from '../src/core/export/mermaid';
import { compareCheckpoints } from '../src/core/diff';

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
  constantWeights?: { count: number; elements: number };
}

function meta(raw: { metadata: Record<string, unknown> }): OnnxMeta {
  return raw.metadata.onnx as OnnxMeta;
}

/** The name the ONNX file gives a tensor (the reader may show it under another). */
function onnxName(t: { name: string; extra?: Record<string, unknown> }): string {
  return typeof t.extra?.onnxName === 'string' ? t.extra.onnxName : t.name;
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
function f32(...xs: number[]): Buffer {
  const b = Buffer.alloc(4 * xs.length);
  xs.forEach((x, i) => b.writeFloatLE(x, i * 4));
  return b;
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

      it('lists every initializer with its ONNX name, shape, dtype, size and consumer count', () => {
        assert.strictEqual(raw.format, 'onnx');
        // Initializers in file order; names the exporter forwards through Identity nodes are listed too (deduplicatedFrom).
        const inits = raw.tensors.filter((x) => x.extra?.deduplicatedFrom === undefined);
        const ours = inits.map((x) => [onnxName(x), x.shape, x.dtype, x.formatDtype, x.nbytes, x.extra?.consumers]);
        const expected = t.initializers.map((x) => [x.name, x.shape, x.dtype, x.formatDtype, x.nbytes, x.consumers]);
        assert.deepStrictEqual(ours, expected);
      });

      it('data offsets point at exactly the tensor bytes (raw_data or external file)', () => {
        const dir = path.dirname(p);
        for (const x of t.initializers) {
          const rec = raw.tensors.find((r) => onnxName(r) === x.name)!;
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

    it('small CNN: BatchNorm folded into exporter-named convolutions, placed under their modules; counts are what the file holds', async () => {
      const t = truth.files['small-cnn.onnx'];
      const cp = await openCheckpoint(fixture('onnx', 'small-cnn.onnx'));
      const r = toReport(cp);
      const sum = t.initializers.reduce((s, x) => s + x.shape.reduce((a, b) => a * b, 1), 0);
      assert.strictEqual(r.parameters.unique, sum);
      // onnx::Conv_* are named by the Conv nodes that use them: /features/features.0/Conv.
      const conv = r.tensors.filter((x) => onnxName(x).startsWith('onnx::Conv_'));
      assert.deepStrictEqual(conv.map((x) => x.name), ['features.0.weight', 'features.0.bias', 'features.3.weight', 'features.3.bias']);
      assert.match(String(conv[0].extra?.placement), /weight of ONNX Conv node \/features\/features\.0\/Conv/);
      const features = cp.modules.children.find((c) => c.name === 'features')!;
      assert.deepStrictEqual(
        features.children.map((c) => [c.name, c.repr]),
        [
          ['0', 'Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))'],
          ['3', 'Conv2d(8, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))'],
        ],
      );
      const w = cp.warnings.find((x) => x.code === 'onnx-exporter-names')!;
      assert.match(w.message, /^4 weights were named by the exporter \(onnx::Conv_27 → features\.0\.weight/);
      assert.match(w.message, /a BatchNorm folded into a convolution/);
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
      const constNode = node('Constant', [], 'c0', [fLen(5, cat(fStr(1, 'value'), fLen(5, tensor({ name: '', dims: [4], raw: f32(1.5, 2.5, 3.5, 4.5) }))))]);
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
      // The Constant's float [4] counts as a weight (more than one element, not a setting of any node).
      assert.deepStrictEqual([...byName.keys()], ['W', 'b', 'inner_bias', 'S', 'c0_out']);
      const c0 = byName.get('c0_out')!;
      assert.deepStrictEqual([c0.shape, c0.dtype, c0.extra?.constantNode, c0.role], [[4], 'float32', 'c0', 'parameter']);
      assert.match(c0.roleReason!, /held in Constant node c0 \(no initializer\)/);
      assert.deepStrictEqual([0, 4, 8, 12].map((k) => Buffer.from(bytes).readFloatLE(c0.dataOffset! + k)), [1.5, 2.5, 3.5, 4.5]);
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

// ---------------------------------------------------------------------------------------------
// Graphs whose weights are not plain initializers (scripts/fixtures/make_onnx_extra.py).

interface ExtraTruth {
  torch: {
    ground_truth: { parameters: { unique: number; total: number }; buffers: { unique: number; total: number }; shared: { tensors: string[] }[] };
    parameters: Record<string, number[]>;
    modules: Record<string, { className: string; repr: string }>;
  };
  /** Name shown → key of torch.parameters. */
  expectedNames: Record<string, string>;
  buffers?: string[];
  /** Float Constants the exporter wrote for a recurrent op's initial state (output → what they hold), found from the recurrent nodes. */
  stateConstants?: Record<string, { shape: number[]; zeros: boolean }>;
  config?: { vocab_size: number; n_embd: number };
  /** LoRA branches by module path: torch's lora_A.weight.shape[0] and the two outer sizes. */
  lora?: Record<string, { rank: number; inFeatures: number; outFeatures: number }>;
  /** How many times each module runs in forward (forward hooks). */
  calls?: Record<string, number>;
  /** Identity outputs read only by a module's second or later call: that module's own tensor, used again. */
  repeatedCallCopies?: string[];
  /** Float Constants the exporter made for a norm's scale and bias (ones or zeros), found from the norm nodes. */
  normFillers?: Record<string, { shape: number[]; ones: boolean; zeros: boolean }>;
  onnx: {
    size: number;
    initializers: { name: string; shape: number[]; sha256: string }[];
    floatConstants: { output: string; tensorName: string; shape: number[]; numel: number; sha256: string; depth: number }[];
    otherConstants: number;
    identities: { input: string; output: string }[];
  };
}

const extraTruth = readJson<{ files: Record<string, ExtraTruth> }>(fixture('onnx', 'extra', 'ground-truth.json'));

/**
 * Where a count differs from torch's, and why. Everything else equals
 * sum(p.numel() for p in model.parameters()).
 */
const COUNT_EXCEPTIONS: Record<string, { extra: (t: ExtraTruth) => number; why: string }> = {
  // The window buffer's Constant has neither a tensor name nor a layer using it: an elementwise
  // factor of 16 floats could be a parameter or a buffer, and the file does not say.
  'vad-constants.onnx': { extra: (t) => t.torch.ground_truth.buffers.total, why: 'an anonymous buffer counts as a parameter' },
  // Constant folding made the tied head a transposed copy of the embedding: stored twice.
  'gpt2-folded.onnx': { extra: (t) => t.config!.vocab_size * t.config!.n_embd, why: 'the folded copy of the tied head' },
  // One weight tied to two Linears, folded per use: stored as two equal tensors, like two equal Linears (warned).
  'tied-linears-folded.onnx': { extra: (t) => t.torch.parameters['a.weight'].reduce((a, b) => a * b, 1), why: 'the folded copy of the tied weight' },
};

const WARNINGS: Record<string, string[]> = {
  'vad-constants.onnx': ['onnx-constant-weights'],
  'vad-constants-if.onnx': ['onnx-constant-weights'],
  'encoder-ln17.onnx': ['onnx-exporter-names'],
  'encoder-dedup.onnx': ['onnx-exporter-names'],
  'gpt2-dedup.onnx': [],
  'gpt2-folded.onnx': ['onnx-exporter-names', 'onnx-possible-tie'],
  'gpt2-folded-untied.onnx': ['onnx-exporter-names', 'onnx-possible-tie'],
  'rnn-zero-state.onnx': [],
  // Deep copies of one block: the file cannot tell their deduplicated weights from tied ones.
  'clones-folded.onnx': ['onnx-exporter-names', 'onnx-possible-tie'],
  'lora-folded.onnx': ['onnx-exporter-names'],
  // proj_1 is a deep copy of proj (the calls of fc, block and layers.0 are not copies).
  'called-twice-folded.onnx': ['onnx-exporter-names', 'onnx-possible-tie'],
  'tied-linears-folded.onnx': ['onnx-exporter-names', 'onnx-possible-tie'],
  'norms-folded.onnx': ['onnx-exporter-names'],
  'norms-training.onnx': [],
};

function moduleAt(root: ModuleNode, p: string): ModuleNode | undefined {
  let m: ModuleNode | undefined = root;
  for (const part of p.split('.')) m = m?.children.find((c) => c.name === part);
  return m;
}

describe('ONNX weights the exporter moved, renamed or deduplicated (ground truth from torch)', () => {
  for (const [file, t] of Object.entries(extraTruth.files)) {
    describe(file, () => {
      const p = fixture('onnx', 'extra', file);
      let cp: Checkpoint;
      before(async () => {
        cp = await openCheckpoint(p);
      });

      it('parameters equal torch model.parameters() (or differ by what the file cannot say)', () => {
        const exception = COUNT_EXCEPTIONS[file];
        const expected = t.torch.ground_truth.parameters.unique + (exception ? exception.extra(t) : 0);
        assert.strictEqual(cp.parameters.unique, expected, exception?.why);
        assert.deepStrictEqual(cp.warnings.map((w) => w.code), WARNINGS[file]);
      });

      it('every torch parameter is found under its own name, with its shape', () => {
        const byName = new Map(cp.tensors.map((x) => [x.name, x]));
        for (const [ours, key] of Object.entries(t.expectedNames)) {
          const x = byName.get(ours);
          assert.ok(x, `${ours} missing; have ${[...byName.keys()].join(', ')}`);
          assert.strictEqual(x.role, 'parameter', `${ours}: ${x.roleReason}`);
          const shape = t.torch.parameters[key];
          // A folded MatMul weight is stored [in, out]: torch's [out, in] transposed, and said so.
          let stored = x.extra?.transposed ? [...x.shape].reverse() : x.shape;
          // A GroupNorm's weight folded with the Unsqueeze before its Mul is stored [C, 1]: placed by its use, the ONNX name kept.
          if (x.extra?.onnxName !== undefined && stored.length > shape.length && stored.slice(shape.length).every((d) => d === 1)) stored = stored.slice(0, shape.length);
          assert.deepStrictEqual(stored, shape, ours);
        }
        const params = cp.tensors.filter((x) => x.role === 'parameter').map((x) => x.name);
        const unexpected = params.filter((n) => !(n in t.expectedNames));
        assert.deepStrictEqual(unexpected, file === 'vad-constants.onnx' ? ['Constant_0_output'] : [], 'no other parameters');
        for (const b of t.buffers ?? []) assert.strictEqual(byName.get(b)?.role, 'buffer', b);
      });

      it('layer types and reprs come from the ops and equal torch repr()', () => {
        for (const [path, mod] of Object.entries(t.torch.modules)) {
          const m = moduleAt(cp.modules, path);
          assert.ok(m, `module ${path}`);
          if (mod.className === 'Conv1D') assert.strictEqual(m.type, 'Conv1D', path);
          else if (mod.className === 'LSTM') {
            assert.strictEqual(m.type, 'LSTM', path);
            // batch_first is a Transpose around the op, not a setting of it.
            assert.strictEqual(m.repr, mod.repr.replace(', batch_first=True', ''), path);
          } else assert.strictEqual(m.repr, mod.repr, `${path}: ${m.evidence}`);
          assert.match(m.evidence ?? '', /^ONNX /, path);
        }
      });

      it('byte ranges of initializers and Constant weights hold exactly their bytes', () => {
        const byOnnx = new Map(cp.tensors.filter((x) => x.present && x.extra?.deduplicatedFrom === undefined).map((x) => [onnxName(x), x]));
        for (const x of t.onnx.initializers) {
          const rec = byOnnx.get(x.name)!;
          assert.strictEqual(sha(p, rec.dataOffset!, rec.nbytes), x.sha256, x.name);
        }
        const constants = cp.tensors.filter((x) => x.extra?.constantNode !== undefined);
        for (const c of t.onnx.floatConstants) {
          const rec = byOnnx.get(c.output);
          // A recurrent op's zero initial state is the exporter's, not a weight, whatever its size.
          if (t.stateConstants?.[c.output]) assert.ok(!rec, `${c.output}, an initial state, is not a weight`);
          // So are the ones and zeros it makes for a norm's scale and bias.
          else if (t.normFillers?.[c.output]) assert.ok(!rec, `${c.output}, a norm's filler, is not a weight`);
          // More than one element, or a one-element parameter (a bias of size 1): a weight.
          else if (c.numel >= 2 || (rec && rec.name in t.expectedNames)) {
            assert.ok(rec, `Constant ${c.output} [${c.shape}] is a weight`);
            assert.strictEqual(sha(p, rec.dataOffset!, rec.nbytes), c.sha256, c.output);
            assert.match(rec.roleReason, /held in Constant node/);
          } else assert.ok(!rec, `one-element literal ${c.output} is not a weight`);
        }
        assert.strictEqual(constants.length, [...byOnnx.values()].filter((x) => x.extra?.constantNode !== undefined).length);
      });

      it('names forwarded through Identity nodes are tensors of their own, deduplicated, never declared', () => {
        const byName = new Map(cp.tensors.map((x) => [x.name, x]));
        for (const { input, output } of t.onnx.identities) {
          // A module's second call reads its first call's tensor again: no tensor of its own (see called-twice-folded).
          if (t.repeatedCallCopies?.includes(output)) continue;
          // torch.onnx.export forwards every deduplicated copy: under its state_dict() name, or
          // under a name it made (a folded onnx::MatMul_*), then placed by the nodes using it.
          const made = output.startsWith('onnx::');
          const copy = made ? cp.tensors.find((x) => onnxName(x) === output) : byName.get(output);
          assert.ok(copy && copy.present, output);
          const source = cp.tensors.find((x) => onnxName(x) === input && x.extra?.deduplicatedFrom === undefined)!;
          assert.strictEqual(copy.extra?.deduplicatedFrom, source.name);
          assert.strictEqual(copy.storage, source.storage);
          const how = made ? `as ${output.replace(/[.:]/g, '\\$&')}, placed by the nodes using it` : 'under this name';
          assert.match(copy.roleReason, new RegExp(`Identity node .* forwards ${source.name.replace(/\./g, '\\.')} ${how}`));
          const g = cp.shared[copy.group];
          assert.strictEqual(g.relation, 'deduplicated');
          assert.ok(g.tensors.includes(source.name));
          assert.strictEqual(g.uniqueElements, g.totalElements, 'each copy counts');
          assert.match(g.reason ?? '', /one copy of \d+ equal tensors/);
        }
        for (const g of cp.shared) {
          if (g.relation === 'declared') assert.ok(!g.tensors.some((n) => byName.get(n)!.extra?.deduplicatedFrom), 'a copy is never a declared tie');
        }
      });
    });
  }

  it('encoder-dedup: norm1 runs LayerNormalization (not an RMSNorm guessed from a lone weight); norm2 exists only through Identity nodes', async () => {
    const before = await readFile(fixture('onnx', 'extra', 'encoder-dedup.onnx'));
    const inits = before.tensors.filter((x) => x.extra?.deduplicatedFrom === undefined && x.name.startsWith('layers.0.norm'));
    assert.deepStrictEqual(inits.map((x) => x.name), ['layers.0.norm1.weight'], 'the file stores only norm1.weight of layer 0');
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'encoder-dedup.onnx'));
    for (const path of ['layers.0.norm1', 'layers.0.norm2', 'layers.1.norm1', 'layers.1.norm2']) {
      const m = moduleAt(cp.modules, path)!;
      assert.strictEqual(m.type, 'LayerNorm', path);
      assert.strictEqual(m.parameters.unique, 32, path);
    }
    assert.strictEqual(cp.modules.children.find((c) => c.name === 'layers')!.folds[0]?.count, 2, 'the two blocks fold');
  });

  it('gpt2-dedup: the tied head is one initializer used by two modules (declared), the equal biases are deduplicated', async () => {
    const t = extraTruth.files['gpt2-dedup.onnx'];
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'gpt2-dedup.onnx'));
    const tie = cp.shared.find((g) => g.relation === 'declared')!;
    assert.deepStrictEqual([...tie.tensors].sort(), t.torch.ground_truth.shared.map((g) => g.tensors).find((n) => n.includes('lm_head.weight')));
    assert.strictEqual(cp.tensors.find((x) => x.name === 'lm_head.weight')!.present, false);
    assert.strictEqual(moduleAt(cp.modules, 'lm_head')!.repr, 'Linear(in_features=16, out_features=64, bias=False)');
    assert.strictEqual(cp.parameters.total, t.torch.ground_truth.parameters.total);
    // Decomposed LayerNorm (opset 14): the ops in its scope say it, not the name.
    assert.match(moduleAt(cp.modules, 'transformer.h.0.ln_2')!.evidence!, /ONNX nodes in transformer\.h\.0\.ln_2 \(.*ReduceMean.*Sub.*\): a norm the exporter decomposed/);
  });

  it('gpt2-folded: the head is a transposed copy named onnx::MatMul_*, placed as lm_head.weight, with a warning that the file cannot tell a tie', async () => {
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'gpt2-folded.onnx'));
    const head = cp.tensors.find((x) => x.name === 'lm_head.weight')!;
    assert.match(onnxName(head), /^onnx::MatMul_\d+$/);
    assert.strictEqual(head.extra?.transposed, true);
    assert.deepStrictEqual(head.shape, [16, 64]);
    assert.match(String(head.extra?.placement), /weight of ONNX MatMul node \/lm_head\/MatMul/);
    const w = cp.warnings.find((x) => x.code === 'onnx-possible-tie')!;
    assert.match(w.message, /^lm_head\.weight \(onnx::MatMul_\d+\) is a tensor the exporter made with the shape of transformer\.wte\.weight transposed: .* PyTorch counts 1,024 fewer parameters/);
    assert.ok(!cp.shared.some((g) => g.relation === 'declared'), 'nothing in the file declares the tie');
    // The folded, deduplicated attention mask and masked_bias are graph constants, not parameters.
    const mask = cp.tensors.filter((x) => /^onnx::Where_/.test(onnxName(x)));
    // One per block as torch has them (attn.bias, attn.masked_bias): block 1's are deduplicated copies.
    assert.deepStrictEqual(mask.map((x) => [x.name, x.role, x.extra?.deduplicatedFrom]).sort(), [
      ['transformer.h.0.attn.Where_421', 'buffer', undefined],
      ['transformer.h.0.attn.Where_422', 'buffer', undefined],
      ['transformer.h.1.attn.Where_472', 'buffer', 'transformer.h.0.attn.Where_421'],
      ['transformer.h.1.attn.Where_473', 'buffer', 'transformer.h.0.attn.Where_422'],
    ]);
  });

  it('clones-folded: folded equal weights forwarded under exporter names are each block\'s own tensor, placed in that block', async () => {
    const t = extraTruth.files['clones-folded.onnx'];
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'clones-folded.onnx'));
    assert.strictEqual(cp.parameters.unique, t.torch.ground_truth.parameters.unique);
    for (const leaf of ['fc.weight', 'down.weight', 'up.weight']) {
      const names = [0, 1, 2].map((k) => `layers.${k}.${leaf}`);
      const [first, ...copies] = names.map((n) => cp.tensors.find((x) => x.name === n)!);
      assert.match(onnxName(first), /^onnx::MatMul_\d+$/);
      assert.strictEqual(first.extra?.deduplicatedFrom, undefined);
      for (const c of copies) {
        assert.match(onnxName(c), /^onnx::MatMul_\d+$/);
        assert.strictEqual(c.extra?.deduplicatedFrom, first.name);
        assert.strictEqual(c.extra?.transposed, true, 'stored as the folded weight.T it copies');
      }
      const g = cp.shared[first.group];
      assert.deepStrictEqual([g.relation, [...g.tensors].sort()], ['deduplicated', names]);
    }
    assert.ok(!cp.tensors.some((x) => /^layers\.(weight|fc|down|up)/.test(x.name)), 'nothing left at the blocks\' common parent');
    // Equal copies, or one weight tied to three blocks: the file cannot say which, and a warning says so
    // (not of the biases: forwarded under their state_dict() names, each is a tensor of its own).
    const copies = cp.tensors.filter((x) => x.extra?.deduplicatedFrom !== undefined && onnxName(x).startsWith('onnx::'));
    const elements = copies.reduce((s, x) => s + x.shape.reduce((a, b) => a * b, 1), 0);
    const w = cp.warnings.find((x) => x.code === 'onnx-possible-tie')!;
    assert.match(w.message, new RegExp(`^${copies.length} weights are stored as copies \\(layers\\.1\\.down\\.weight of layers\\.0\\.down\\.weight, .*; one initializer forwarded through Identity nodes\\): .*PyTorch counts ${elements.toLocaleString('en-US')} fewer parameters; the file cannot say$`));
  });


  it('lora-folded: LoRA matrices stored as the folded weight.T give torch\'s rank and sizes, not the stored first axis', async () => {
    const t = extraTruth.files['lora-folded.onnx'];
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'lora-folded.onnx'));
    const a = cp.tensors.find((x) => x.name === 'q.lora_A.weight')!;
    assert.strictEqual(a.extra?.transposed, true, 'the fixture stores lora_A as [in, r]');
    const ranks = new Set(Object.values(t.lora!).map((l) => l.rank));
    assert.strictEqual(ranks.size, 1);
    assert.strictEqual(cp.adapter?.rank, [...ranks][0]);
    for (const [path, l] of Object.entries(t.lora!)) {
      const m = moduleAt(cp.modules, path)!;
      assert.strictEqual(m.repr, `lora.Linear(r=${l.rank})`, path);
      assert.match(m.evidence ?? '', new RegExp(`: ${l.inFeatures} → ${l.outFeatures}, rank ${l.rank}\\b`), path);
    }
  });

  it('called-twice-folded: a module\'s second and third calls (fc_1, fc_2, block/lin_1, layers.0_1) read its own weight again, counted once; proj_1, a module of its own, counts', async () => {
    const t = extraTruth.files['called-twice-folded.onnx'];
    assert.deepStrictEqual([t.calls!.fc, t.calls!.block, t.calls!['block.lin'], t.calls!['layers.0'], t.calls!.proj_1], [3, 2, 2, 2, 1]);
    assert.strictEqual(t.repeatedCallCopies!.length, 4, 'fc_1, fc_2, block.lin_1 and layers.0_1 each read a folded copy');
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'called-twice-folded.onnx'));
    assert.strictEqual(cp.parameters.unique, t.torch.ground_truth.parameters.unique);
    assert.deepStrictEqual(cp.tensors.map((x) => x.name).sort(), [...Object.keys(t.torch.parameters)].sort(), 'no tensor of a module fc_1, fc_2, block.lin_1, block_1 or layers.0_1');
    for (const out of t.repeatedCallCopies!) assert.ok(!cp.tensors.some((x) => onnxName(x) === out), `${out} is not a tensor of its own`);
    // fc's one weight is read by the MatMuls of its three calls, the copies' readers merged into it.
    const fc = cp.tensors.find((x) => x.name === 'fc.weight')!;
    assert.match(onnxName(fc), /^onnx::MatMul_\d+$/);
    assert.strictEqual(fc.extra?.deduplicatedFrom, undefined);
    assert.ok(!cp.shared.some((g) => g.tensors.includes('fc.weight') || g.tensors.includes('block.lin.weight')), 'not a deduplicated pair');
    assert.strictEqual(moduleAt(cp.modules, 'fc')!.repr, t.torch.modules.fc.repr);
    assert.ok(!cp.modules.children.some((c) => /_\d+$/.test(c.name) && c.name !== 'proj_1'), cp.modules.children.map((c) => c.name).join(', '));
    // proj_1 is a deep copy of proj: its folded weight is the exporter's copy (placed under proj_1), its bias keeps its state_dict() name.
    const copy = cp.tensors.find((x) => x.name === 'proj_1.weight')!;
    assert.strictEqual(copy.extra?.deduplicatedFrom, 'proj.weight');
    assert.deepStrictEqual(cp.shared.map((g) => [g.relation, [...g.tensors].sort()]).sort(), [
      ['deduplicated', ['proj.bias', 'proj_1.bias']],
      ['deduplicated', ['proj.weight', 'proj_1.weight']],
    ]);
    const w = cp.warnings.find((x) => x.code === 'onnx-possible-tie')!;
    assert.match(w.message, /^proj_1\.weight is stored as a copy of proj\.weight \(one initializer forwarded through an Identity node\): .* PyTorch counts 64 fewer parameters; the file cannot say$/);
  });

  it('tied-linears-folded: a weight tied to two Linears, folded per use, is stored like two equal weights: counted twice, with a warning that the file cannot tell', async () => {
    const t = extraTruth.files['tied-linears-folded.onnx'];
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'tied-linears-folded.onnx'));
    const b = cp.tensors.find((x) => x.name === 'b.weight')!;
    assert.strictEqual(b.extra?.deduplicatedFrom, 'a.weight');
    assert.deepStrictEqual(cp.shared.map((g) => g.relation), ['deduplicated']);
    const w = cp.warnings.find((x) => x.code === 'onnx-possible-tie')!;
    const n = t.torch.parameters['a.weight'].reduce((x, y) => x * y, 1);
    assert.strictEqual(cp.parameters.unique - n, t.torch.ground_truth.parameters.unique, 'what the warning says torch counts');
    assert.match(w.message, new RegExp(`^b\\.weight is stored as a copy of a\\.weight .*ties to two layers.*only hold equal values.*PyTorch counts ${n} fewer parameters`));
  });

  for (const file of ['norms-folded.onnx', 'norms-training.onnx']) {
    it(`${file}: the ones and zeros the exporter makes for a norm's scale and bias are not parameters; a GroupNorm's own weight and bias are, under its name`, async () => {
      const t = extraTruth.files[file];
      const cp = await openCheckpoint(fixture('onnx', 'extra', file));
      assert.strictEqual(cp.parameters.unique, t.torch.ground_truth.parameters.unique);
      for (const out of Object.keys(t.normFillers!)) assert.ok(!cp.tensors.some((x) => onnxName(x) === out), `${out} is the exporter's, not a tensor`);
      // Without affine, a norm has no parameter (its running statistics are buffers).
      for (const m of ['gn_plain', 'inorm', 'inorm_stats', 'bn']) assert.ok(!cp.tensors.some((x) => x.name.startsWith(`${m}.`) && x.role === 'parameter'), m);
      const gn = ['gn.weight', 'gn.bias'].map((n) => cp.tensors.find((x) => x.name === n)!);
      assert.deepStrictEqual(gn.map((x) => x.role), ['parameter', 'parameter']);
      if (file === 'norms-folded.onnx') {
        // Folded with the Unsqueeze before the Mul and Add: exporter-named, stored [C, 1].
        assert.deepStrictEqual(gn.map((x) => [onnxName(x).replace(/_\d+$/, ''), x.shape]), [['onnx::Mul', [4, 1]], ['onnx::Add', [4, 1]]]);
        assert.match(String(gn[0].extra?.placement), /^weight of ONNX Mul node \/gn\/Mul$/);
        assert.strictEqual(moduleAt(cp.modules, 'inorm_stats')!.repr, 'InstanceNorm(4, eps=1e-05, momentum=0.1, affine=False, track_running_stats=True)');
      } else assert.deepStrictEqual(gn.map((x) => onnxName(x)), ['gn.weight', 'gn.bias']);
      assert.match(moduleAt(cp.modules, 'gn')!.evidence ?? '', /^ONNX InstanceNormalization node \/gn\/InstanceNormalization over 2 groups/);
      assert.strictEqual(moduleAt(cp.modules, 'bn')!.repr, 'BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=False, track_running_stats=True)');
    });
  }

  it('an Identity is a copy only where it forks a tensor another node reads; a lone rename or an unread output is not', async () => {
    const io = (op: string, inputs: string[], outputs: string[], name: string) =>
      cat(...inputs.map((i) => fStr(1, i)), ...outputs.map((o) => fStr(2, o)), fStr(3, name), fStr(4, op));
    const w = (name: string) => tensor({ name, dims: [4, 4], raw: Buffer.alloc(64) });
    const g = graph({
      nodes: [
        io('Identity', ['onnx::MatMul_1'], ['onnx::MatMul_9'], 'Identity_0'), // fork: MatMul_1 is also read by /a
        io('Identity', ['onnx::MatMul_2'], ['onnx::MatMul_8'], 'Identity_1'), // the only reader of MatMul_2: a rename
        io('Identity', ['onnx::MatMul_1'], ['onnx::MatMul_7'], 'Identity_2'), // nothing reads its output
        io('MatMul', ['x', 'onnx::MatMul_1'], ['a'], '/a/MatMul'),
        io('MatMul', ['a', 'onnx::MatMul_9'], ['b'], '/b/MatMul'),
        io('MatMul', ['b', 'onnx::MatMul_8'], ['c'], '/c/MatMul'),
      ],
      inits: [w('onnx::MatMul_1'), w('onnx::MatMul_2')],
    });
    const raw = await readBytes(model(g));
    assert.deepStrictEqual(raw.tensors.map((x) => [x.name, onnxName(x), x.extra?.deduplicatedFrom]), [
      ['a.weight', 'onnx::MatMul_1', undefined],
      ['b.weight', 'onnx::MatMul_9', 'a.weight'],
      ['c.weight', 'onnx::MatMul_2', undefined],
    ]);
  });

  it('no-params (export_params=False): the weights are graph inputs the file does not hold; a warning lists them, with torch\'s element count', async () => {
    const truth = readJson<{ weightsAsInputs: Record<string, { torch: { ground_truth: { parameters: { unique: number } } }; onnx: { initializers: number; inputs: Record<string, { elemType: string; shape: number[] }> } }> }>(
      fixture('onnx', 'extra', 'ground-truth.json'),
    ).weightsAsInputs['no-params.onnx'];
    assert.strictEqual(truth.onnx.initializers, 0);
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'no-params.onnx'));
    assert.deepStrictEqual(cp.parameters, { unique: 0, total: 0 }, 'nothing stored, nothing counted');
    // Every float input of a fixed shape is one of the model's weights; the token ids are not.
    const expected = Object.entries(truth.onnx.inputs).filter(([, x]) => x.elemType === 'FLOAT');
    const listed = (cp.metadata.onnx as { weightInputs: { name: string; dtype: string; shape: number[] }[] }).weightInputs;
    assert.deepStrictEqual(listed, expected.map(([name, x]) => ({ name, dtype: 'float32', shape: x.shape })));
    const elements = expected.reduce((s, [, x]) => s + x.shape.reduce((a, b) => a * b, 1), 0);
    assert.strictEqual(elements, truth.torch.ground_truth.parameters.unique);
    const w = cp.warnings.find((x) => x.code === 'onnx-weights-not-stored')!;
    assert.ok(w, cp.warnings.map((x) => x.code).join(', '));
    assert.match(w.message, new RegExp(`^${expected.length} graph inputs are weights the file does not hold \\(emb\\.weight \\[48, 16\\], .*; ${elements.toLocaleString('en-US')} elements\\): .*export_params=False`));
  });

  it('graph inputs: only floating-point ones of fixed shape that a layer reads as its weight, or named by a state_dict() path, are weights not stored', async () => {
    const io = (op: string, inputs: string[], outputs: string[], name: string) =>
      cat(...inputs.map((i) => fStr(1, i)), ...outputs.map((o) => fStr(2, o)), fStr(3, name), fStr(4, op));
    const input = (name: string, elem: number, dims: (number | string)[]) => {
      const dim = (d: number | string) => fLen(1, typeof d === 'number' ? fInt(1, d) : fStr(2, d));
      const tensorType = cat(fInt(1, elem), fLen(2, cat(...dims.map(dim))));
      return fLen(11, cat(fStr(1, name), fLen(2, fLen(1, tensorType))));
    };
    const g = cat(
      graph({
        nodes: [
          io('Conv', ['input.1', 'conv.weight'], ['c'], '/conv/Conv'),
          io('Transpose', ['W'], ['Wt'], '/fc/Transpose'),
          io('MatMul', ['c', 'Wt'], ['m'], '/fc/MatMul'),
          io('Mul', ['m', 'x.3'], ['y'], '/Mul'),
          io('Add', ['y', 'norm.bias'], ['z'], '/norm/Add'),
          io('Add', ['z', 'dyn'], ['o'], '/Add'),
        ],
        inits: [tensor({ name: 'conv.weight', dims: [2, 3, 1, 1], raw: Buffer.alloc(24) })],
      }),
      input('input.1', 1, [1, 3, 4, 4]), // data: its name ends in torch's number, Conv reads it as data
      input('conv.weight', 1, [2, 3, 1, 1]), // an initializer listed as an input (keep_initializers_as_inputs)
      input('W', 1, [4, 4]), // a weight: MatMul's second operand through a Transpose
      input('x.3', 1, [4]), // data
      input('norm.bias', 10, [4]), // a state_dict() path, float16
      input('dyn', 1, ['batch', 4]), // a symbolic dimension: data
    );
    const cp = await openBytes(model(g));
    assert.deepStrictEqual(cp.parameters, { unique: 6, total: 6 });
    assert.deepStrictEqual((cp.metadata.onnx as { weightInputs: unknown }).weightInputs, [
      { name: 'W', dtype: 'float32', shape: [4, 4] },
      { name: 'norm.bias', dtype: 'float16', shape: [4] },
    ]);
    assert.match(cp.warnings.find((w) => w.code === 'onnx-weights-not-stored')!.message, /^2 graph inputs are weights the file does not hold \(W \[4, 4\], norm\.bias \[4\]; 20 elements\)/);
  });

  it('vad-constants-if: two models in the branches of an If, one tensor name in each: each under its branch', async () => {
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'vad-constants-if.onnx'));
    assert.deepStrictEqual(cp.modules.children.map((c) => c.name), ['If_0']);
    assert.deepStrictEqual(moduleAt(cp.modules, 'If_0')!.children.map((c) => c.name).sort(), ['else_branch', 'then_branch']);
    const w = cp.warnings.find((x) => x.code === 'onnx-constant-weights')!;
    assert.match(w.message, /^the graph keeps its weights in 26 Constant nodes \(7,434 elements\) and no initializers/);
    const basis = cp.tensors.find((x) => x.name === 'If_0.then_branch.window_buffer')!;
    assert.deepStrictEqual([basis.role, basis.extra?.subgraph], ['buffer', 'If_0.then_branch']);
    assert.deepStrictEqual(meta(cp).constantWeights, { count: 26, elements: 7434 });
  });

  it('rnn-zero-state: the zero Constants torch wrote for the initial states are not parameters of the LSTM, GRU or RNN; each module counts what torch does', async () => {
    const t = extraTruth.files['rnn-zero-state.onnx'];
    const states = Object.entries(t.stateConstants ?? {});
    // The file does exercise the case: one zero state per recurrent module, more than one element each.
    assert.deepStrictEqual(states.map(([v, s]) => [v, s.zeros]), [['/lstm/Constant_output_0', true], ['/gru/Constant_output_0', true], ['/rnn/Constant_output_0', true]]);
    assert.ok(states.every(([, s]) => s.shape.reduce((a, b) => a * b, 1) >= 2));
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'rnn-zero-state.onnx'));
    assert.deepStrictEqual(cp.tensors.filter((x) => t.stateConstants![onnxName(x)]).map((x) => x.name), []);
    for (const m of ['lstm', 'gru', 'rnn', 'head']) {
      const torchCount = Object.entries(t.torch.parameters).filter(([n]) => n.startsWith(`${m}.`)).reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
      assert.strictEqual(moduleAt(cp.modules, m)!.parameters.unique, torchCount, m);
    }
    assert.strictEqual(meta(cp).constantWeights, undefined, 'no Constant holds a weight');
  });

  it('random corruption of these graphs never escapes as anything but a CheckpointError, through analysis and export', async function () {
    this.timeout(60_000);
    const rand = seededRandom(4242);
    const files = Object.keys(extraTruth.files).map((f) => fs.readFileSync(fixture('onnx', 'extra', f)));
    for (let i = 0; i < 140; i++) {
      const b = Buffer.from(files[i % files.length]);
      flipBytes(b, rand);
      const raw = await readsOrRefuses(readBytes(b, fixture('onnx', 'extra')));
      if (raw) renderText(analyze(raw));
    }
  });

  it('weightscope diff: the same model with and without the exporter\'s deduplication is equal (not a tie lost), counts add up', async () => {
    const a = await openCheckpoint(fixture('onnx', 'extra', 'encoder-dedup.onnx'));
    const b = await openCheckpoint(fixture('onnx', 'extra', 'encoder-ln17.onnx'));
    const d = await compareCheckpoints(a, b, { data: false });
    assert.deepStrictEqual([d.shared.lost.length, d.shared.gained.length], [0, 0]);
    assert.strictEqual(d.equal, true);
    assert.strictEqual(d.root.countsA!.parameters.owned, a.parameters.unique, 'each deduplicated name owns its elements');
    assert.strictEqual(d.root.countsA!.bytes.owned, Object.values(a.bytesByDtype).reduce((s, v) => s + v, 0), 'their bytes once');
  });

  it('exports name the deduplicated relation, never a declared tie', async () => {
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'encoder-dedup.onnx'));
    const text = renderText(cp);
    assert.match(text, /\(norm1\): LayerNorm\(\(16,\), eps=1e-06, elementwise_affine=True\) +32 +stored once with .* \(deduplicated\)/);
    assert.ok(!/declared/.test(text));
    assert.match(text, /^# layer types from the ONNX ops/);
    const md = renderMarkdown(cp);
    assert.match(md, /\| deduplicated \(one copy of equal tensors\) \|/);
    assert.match(renderMermaid(cp), /-\.-\|deduplicated\|/);
    assert.strictEqual(toReport(cp).shared[0].relation, 'deduplicated');
  });
});

// ---------------------------------------------------------------------------------------------
// Layer ops, roles and placement on hand-made graphs (the ONNX operator specs are the truth here).

function aInt(name: string, v: number): Buffer {
  return fLen(5, cat(fStr(1, name), fInt(3, v), fInt(20, 2)));
}
function aFloat(name: string, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeFloatLE(v, 0);
  return fLen(5, cat(fStr(1, name), varint(2 * 8 + 5), b, fInt(20, 1)));
}
function aInts(name: string, vs: number[]): Buffer {
  return fLen(5, cat(fStr(1, name), fLen(8, cat(...vs.map((v) => varint(v)))), fInt(20, 7)));
}
function aStr(name: string, s: string): Buffer {
  return fLen(5, cat(fStr(1, name), fStr(4, s), fInt(20, 3)));
}
function aFloats(name: string, vs: number[]): Buffer {
  return fLen(5, cat(fStr(1, name), fLen(7, f32(...vs)), fInt(20, 6)));
}
/** A node with explicit outputs and attributes (domain when not the default one). */
function op(type: string, name: string, inputs: string[], outputs: string[], attrs: Buffer[] = [], domain = ''): Buffer {
  return cat(...inputs.map((i) => fStr(1, i)), ...outputs.map((o) => fStr(2, o)), fStr(3, name), fStr(4, type), ...attrs, ...(domain ? [fStr(7, domain)] : []));
}
function zeros(name: string, dims: number[]): Buffer {
  return tensor({ name, dims, raw: Buffer.alloc(4 * dims.reduce((a, b) => a * b, 1)) });
}
function constant(name: string, out: string, value: Buffer): Buffer {
  return op('Constant', name, [], [out], [value]);
}
function tValue(dims: number[], tensorName = '', type = 1, raw?: Buffer): Buffer {
  const n = dims.reduce((a, b) => a * b, 1);
  return fLen(5, cat(fStr(1, 'value'), fLen(5, tensor({ name: tensorName, dims, type, raw: raw ?? Buffer.alloc((type === 7 ? 8 : 4) * n) })), fInt(20, 4)));
}
async function openBytes(bytes: Buffer): Promise<Checkpoint> {
  const dir = tempDir();
  try {
    fs.writeFileSync(path.join(dir, 'm.onnx'), bytes);
    return await openCheckpoint(path.join(dir, 'm.onnx'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('ONNX layer types, roles and names from the ops', () => {
  it('an unfolded BatchNorm: exporter-named inputs placed as weight, bias, running_mean, running_var (buffers); BatchNorm2d beside a Conv2d', async () => {
    const g = graph({
      nodes: [
        op('Conv', '/features/features.0/Conv', ['x', 'onnx::Conv_1'], ['c'], [aInts('kernel_shape', [3, 3]), aInts('strides', [1, 1]), aInts('pads', [0, 0, 0, 0])]),
        op('BatchNormalization', '/features/features.1/BatchNormalization', ['c', 'onnx::BN_2', 'onnx::BN_3', 'onnx::BN_4', 'onnx::BN_5'], ['y'], [aFloat('epsilon', 1e-3), aFloat('momentum', 0.99)]),
      ],
      inits: [zeros('onnx::Conv_1', [4, 2, 3, 3]), zeros('onnx::BN_2', [4]), zeros('onnx::BN_3', [4]), zeros('onnx::BN_4', [4]), zeros('onnx::BN_5', [4])],
    });
    const cp = await openBytes(model(g));
    assert.deepStrictEqual(
      cp.tensors.map((x) => [x.name, x.role]),
      [
        ['features.0.weight', 'parameter'],
        ['features.1.weight', 'parameter'],
        ['features.1.bias', 'parameter'],
        ['features.1.running_mean', 'buffer'],
        ['features.1.running_var', 'buffer'],
      ],
    );
    assert.match(cp.tensors[3].roleReason, /BatchNormalization running_mean \(input 3 of ONNX node \/features\/features\.1\/BatchNormalization\)/);
    const bn = moduleAt(cp.modules, 'features.1')!;
    assert.strictEqual(bn.repr, 'BatchNorm2d(4, eps=0.001, momentum=0.01, affine=True, track_running_stats=True)');
    assert.strictEqual(moduleAt(cp.modules, 'features.0')!.repr, 'Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), bias=False)');
    assert.deepStrictEqual(cp.parameters, { unique: 4 * 2 * 9 + 8, total: 4 * 2 * 9 + 8 });
  });

  it('Gemm: transB=1 is nn.Linear [out, in]; transB=0 with a model name is a weight used as stored [in, out]', async () => {
    const g = graph({
      nodes: [
        op('Gemm', '/fc/Gemm', ['x', 'fc.weight', 'fc.bias'], ['y'], [aInt('transB', 1)]),
        op('Gemm', '/proj/Gemm', ['y', 'proj.weight'], ['z']),
      ],
      inits: [zeros('fc.weight', [6, 5]), zeros('fc.bias', [6]), zeros('proj.weight', [6, 3])],
    });
    const cp = await openBytes(model(g));
    assert.strictEqual(moduleAt(cp.modules, 'fc')!.repr, 'Linear(in_features=5, out_features=6, bias=True)');
    assert.match(moduleAt(cp.modules, 'fc')!.evidence!, /ONNX Gemm node \/fc\/Gemm \(transB=1: weight \[out=6, in=5\]\)/);
    assert.strictEqual(moduleAt(cp.modules, 'proj')!.repr, 'Linear(in_features=6, out_features=3, bias=False)');
    assert.match(moduleAt(cp.modules, 'proj')!.evidence!, /used as stored \(x @ W\), not nn\.Linear's \[out, in\]/);
    assert.ok(!cp.tensors.some((x) => x.extra?.transposed), 'model-named weights are the model\'s own layout');
  });

  it('norms: LayerNormalization without bias, com.microsoft SimplifiedLayerNormalization, a decomposed RMSNorm and a decomposed LayerNorm', async () => {
    const g = graph({
      nodes: [
        op('LayerNormalization', '/ln/LayerNormalization', ['x', 'ln.weight'], ['a'], [aFloat('epsilon', 1e-6)]),
        op('SimplifiedLayerNormalization', '/rms/SimplifiedLayerNormalization', ['a', 'rms.weight'], ['b'], [aFloat('epsilon', 1e-6)], 'com.microsoft'),
        // Llama's RMSNorm at opset 14: Pow, ReduceMean, Add, Sqrt, Div, Mul. No Sub: not centred.
        op('Pow', '/norm/Pow', ['b', 'two'], ['p']),
        op('ReduceMean', '/norm/ReduceMean', ['p'], ['m']),
        op('Sqrt', '/norm/Sqrt', ['m'], ['s']),
        op('Div', '/norm/Div', ['b', 's'], ['d']),
        op('Mul', '/norm/Mul', ['d', 'onnx::Mul_9'], ['e']),
        op('ReduceMean', '/ln2/ReduceMean', ['e'], ['m2']),
        op('Sub', '/ln2/Sub', ['e', 'm2'], ['c2']),
        op('Sqrt', '/ln2/Sqrt', ['c2'], ['s2']),
        op('Div', '/ln2/Div', ['c2', 's2'], ['d2']),
        op('Mul', '/ln2/Mul', ['d2', 'ln2.weight'], ['e2']),
        op('Add', '/ln2/Add', ['e2', 'ln2.bias'], ['f2']),
      ],
      inits: [zeros('ln.weight', [8]), zeros('rms.weight', [8]), zeros('onnx::Mul_9', [8]), zeros('ln2.weight', [8]), zeros('ln2.bias', [8])],
    });
    const cp = await openBytes(model(g));
    const repr = (p: string) => moduleAt(cp.modules, p)!.repr;
    assert.strictEqual(repr('ln'), 'LayerNorm((8,), eps=1e-06, elementwise_affine=True, bias=False)');
    assert.strictEqual(repr('rms'), 'RMSNorm((8,), eps=1e-06)');
    assert.strictEqual(repr('norm'), 'RMSNorm((8,), eps=1e-06)');
    assert.ok(cp.tensors.some((x) => x.name === 'norm.weight' && onnxName(x) === 'onnx::Mul_9'), 'placed as the norm\'s weight');
    assert.strictEqual(repr('ln2'), 'LayerNorm((8,), eps=1e-05, elementwise_affine=True)');
  });

  it('a two-layer bidirectional LSTM with folded W, R, B: torch\'s names per layer and one LSTM module', async () => {
    const H = 4;
    const nodes = [
      op('LSTM', '/rnn/LSTM', ['x', 'onnx::LSTM_1', 'onnx::LSTM_2', 'onnx::LSTM_3'], ['y'], [aInt('hidden_size', H), aStr('direction', 'bidirectional')]),
      op('LSTM', '/rnn/LSTM_1', ['y', 'onnx::LSTM_11', 'onnx::LSTM_12', 'onnx::LSTM_13'], ['z'], [aInt('hidden_size', H), aStr('direction', 'bidirectional')]),
    ];
    const inits = [
      zeros('onnx::LSTM_1', [2, 4 * H, 8]), zeros('onnx::LSTM_2', [2, 4 * H, H]), zeros('onnx::LSTM_3', [2, 8 * H]),
      zeros('onnx::LSTM_11', [2, 4 * H, 2 * H]), zeros('onnx::LSTM_12', [2, 4 * H, H]), zeros('onnx::LSTM_13', [2, 8 * H]),
    ];
    const cp = await openBytes(model(graph({ nodes, inits })));
    assert.deepStrictEqual(cp.tensors.map((x) => x.name), ['rnn.weight_ih_l0', 'rnn.weight_hh_l0', 'rnn.bias_l0', 'rnn.weight_ih_l1', 'rnn.weight_hh_l1', 'rnn.bias_l1']);
    assert.strictEqual(moduleAt(cp.modules, 'rnn')!.repr, 'LSTM(8, 4, num_layers=2, bidirectional=True)');
    // torch: 2 directions x (4H*in + 4H*H + 8H) per layer.
    assert.strictEqual(cp.parameters.unique, 2 * (16 * 8 + 16 * 4 + 32) + 2 * (16 * 8 + 16 * 4 + 32));
  });

  it('a zero initial state in a Constant (torch.onnx.export\'s, through Expand, Slice, Identity, Cast, Reshape) is not a weight; W, R, B and a folded initializer stay parameters', async () => {
    const H = 4;
    const nodes = [
      // Folded (per layer): one [1, 1, H] zero for initial_h and initial_c, expanded to the batch.
      constant('/rnn/Constant', '/rnn/Constant_output_0', tValue([1, 1, H])),
      op('Expand', '/rnn/Expand', ['/rnn/Constant_output_0', 'batch_shape'], ['h0']),
      op('Identity', '/rnn/Identity', ['/rnn/Constant_output_0'], ['c0a']),
      op('Cast', '/rnn/Cast', ['c0a'], ['c0b']),
      op('Reshape', '/rnn/Reshape', ['c0b', 'state_shape'], ['c0']),
      op('LSTM', '/rnn/LSTM', ['x', 'onnx::LSTM_1', 'onnx::LSTM_2', 'onnx::LSTM_3', '', 'h0', 'c0'], ['y'], [aInt('hidden_size', H)]),
      // Unfolded: one zero for all layers, sliced per layer (the bounds are integer Constants).
      constant('/gru/Constant', '/gru/Constant_output_0', tValue([2, 1, H])),
      op('Slice', '/gru/Slice', ['/gru/Constant_output_0', 'starts', 'ends', 'axes'], ['s0']),
      op('Expand', '/gru/Expand', ['s0', 'batch_shape'], ['g0']),
      op('GRU', '/gru/GRU', ['y', 'onnx::GRU_4', 'onnx::GRU_5', 'onnx::GRU_6', '', 'g0'], ['z'], [aInt('hidden_size', H)]),
      // A learned initial state that constant folding sliced per layer: an initializer the exporter named.
      op('RNN', '/cell/RNN', ['z', 'onnx::RNN_7', 'onnx::RNN_8', '', '', 'onnx::RNN_9'], ['u'], [aInt('hidden_size', H)]),
      // A Constant expanded into data (Add) is a weight as before.
      constant('/shift/Constant', '/shift/Constant_output_0', tValue([1, 1, H])),
      op('Expand', '/shift/Expand', ['/shift/Constant_output_0', 'batch_shape'], ['e']),
      op('Add', '/shift/Add', ['u', 'e'], ['out']),
    ];
    const inits = [
      zeros('onnx::LSTM_1', [1, 4 * H, 2]), zeros('onnx::LSTM_2', [1, 4 * H, H]), zeros('onnx::LSTM_3', [1, 8 * H]),
      zeros('onnx::GRU_4', [1, 3 * H, H]), zeros('onnx::GRU_5', [1, 3 * H, H]), zeros('onnx::GRU_6', [1, 6 * H]),
      zeros('onnx::RNN_7', [1, H, H]), zeros('onnx::RNN_8', [1, H, H]), zeros('onnx::RNN_9', [1, 1, H]),
    ];
    const cp = await openBytes(model(graph({ nodes, inits })));
    assert.deepStrictEqual(cp.tensors.map((x) => [x.name, x.role]), [
      ['rnn.weight_ih_l0', 'parameter'], ['rnn.weight_hh_l0', 'parameter'], ['rnn.bias_l0', 'parameter'],
      ['gru.weight_ih_l0', 'parameter'], ['gru.weight_hh_l0', 'parameter'], ['gru.bias_l0', 'parameter'],
      ['cell.weight_ih_l0', 'parameter'], ['cell.weight_hh_l0', 'parameter'],
      // The file cannot tell a learned h0 from a zero one an optimizer stored: counted, as torch counts h0.
      ['cell.RNN_9', 'parameter'],
      ['shift.Constant_output_0', 'parameter'],
    ]);
    assert.strictEqual(moduleAt(cp.modules, 'rnn')!.repr, 'LSTM(2, 4)');
    assert.strictEqual(moduleAt(cp.modules, 'gru')!.repr, 'GRU(4, 4)');
    assert.strictEqual(moduleAt(cp.modules, 'cell')!.repr, 'RNN(4, 4, bias=False)');
    // torch: LSTM 4H*in + 4H*H + 8H, GRU 3H*in + 3H*H + 6H, RNN H*in + H*H; the h0 and the shift.
    assert.strictEqual(cp.parameters.unique, (4 * H * 2 + 4 * H * H + 8 * H) + (3 * H * H + 3 * H * H + 6 * H) + (H * H + H * H) + H + H);
    assert.deepStrictEqual(meta(cp).constantWeights, { count: 1, elements: H });
  });

  it('nodes without scopes (older exporters: Conv_143, numbered values): the layer node is the module', async () => {
    const g = graph({
      nodes: [
        op('Conv', 'Conv_143', ['x', '1110', '1111'], ['y'], [aInts('kernel_shape', [1]), aInts('strides', [2])]),
        op('LSTM', 'LSTM_951', ['y', '1072', '1074', '1076'], ['z'], [aInt('hidden_size', 4)]),
        op('Gemm', 'gemm', ['z', 'W'], ['out']),
      ],
      inits: [zeros('1110', [6, 3, 1]), zeros('1111', [6]), zeros('1072', [1, 16, 6]), zeros('1074', [1, 16, 4]), zeros('1076', [1, 32]), zeros('W', [4, 2])],
    });
    const cp = await openBytes(model(g));
    assert.deepStrictEqual(cp.tensors.map((x) => x.name), ['Conv_143.weight', 'Conv_143.bias', 'LSTM_951.weight_ih_l0', 'LSTM_951.weight_hh_l0', 'LSTM_951.bias_l0', 'W']);
    assert.match(String(cp.tensors[0].extra?.placement), /weight of ONNX Conv node Conv_143 \(no scope: placed under the node\)/);
    assert.strictEqual(moduleAt(cp.modules, 'Conv_143')!.repr, 'Conv1d(3, 6, kernel_size=(1,), stride=(2,))');
    assert.strictEqual(moduleAt(cp.modules, 'LSTM_951')!.repr, 'LSTM(6, 4)');
  });

  it('ConvTranspose with groups and output_padding; PRelu; Embedding from Gather', async () => {
    const g = graph({
      nodes: [
        op('Gather', '/emb/Gather', ['onnx::Gather_1', 'ids'], ['e']),
        op('ConvTranspose', '/up/ConvTranspose', ['x', 'up.weight', 'up.bias'], ['u'], [aInt('group', 2), aInts('strides', [2]), aInts('pads', [1, 1]), aInts('output_padding', [1])]),
        op('PRelu', '/act/PRelu', ['u', 'act.weight'], ['v']),
      ],
      inits: [zeros('onnx::Gather_1', [10, 4]), zeros('up.weight', [6, 3, 5]), zeros('up.bias', [6]), zeros('act.weight', [6])],
    });
    const cp = await openBytes(model(g));
    assert.strictEqual(moduleAt(cp.modules, 'emb')!.repr, 'Embedding(10, 4)');
    assert.strictEqual(moduleAt(cp.modules, 'up')!.repr, 'ConvTranspose1d(6, 6, kernel_size=(5,), stride=(2,), padding=(1,), output_padding=(1,), groups=2)');
    assert.strictEqual(moduleAt(cp.modules, 'act')!.repr, 'PReLU(num_parameters=6)');
  });

  it('Constant nodes: a weight in a weight slot or of several elements counts; literals, settings and integers do not', async () => {
    const g = graph({
      nodes: [
        constant('w', 'cw', tValue([3, 2])), // MatMul weight
        constant('b', 'cb', tValue([1])), // a one-element bias: a weight by its slot
        constant('eps', 'ce', aFloat('value_float', 1e-5)), // a literal
        constant('two', 'c2', tValue([])), // Pow's exponent
        constant('scales', 'cs', tValue([4])), // only Resize's scales: a setting
        constant('shape', 'cshape', tValue([2], '', 7)), // int64: never
        constant('gamma', 'cg', aFloats('value_floats', [0.5, 1.5, 2.5])), // elementwise factor of 3 floats
        op('MatMul', '/fc/MatMul', ['x', 'cw'], ['m']),
        op('Add', '/fc/Add', ['m', 'cb'], ['a']),
        op('Add', '/Add', ['a', 'ce'], ['a2']),
        op('Pow', '/Pow', ['a2', 'c2'], ['p']),
        op('Resize', '/Resize', ['p', '', 'cs'], ['r']),
        op('Reshape', '/Reshape', ['r', 'cshape'], ['rs']),
        op('Mul', '/scale/Mul', ['rs', 'cg'], ['out']),
      ],
    });
    const bytes = model(g);
    const cp = await openBytes(bytes);
    assert.deepStrictEqual(
      cp.tensors.map((x) => [x.name, onnxName(x), x.shape, x.role]),
      [
        ['fc.weight', 'cw', [3, 2], 'parameter'],
        ['fc.bias', 'cb', [1], 'parameter'],
        ['scale.cg', 'cg', [3], 'parameter'],
      ],
    );
    const gamma = cp.tensors[2];
    assert.strictEqual(gamma.extra?.data, 'value_floats');
    assert.deepStrictEqual([0, 4, 8].map((k) => bytes.readFloatLE(gamma.dataOffset! + k)), [0.5, 1.5, 2.5]);
    assert.strictEqual(cp.tensors[0].extra?.transposed, true, 'an anonymous MatMul weight is stored [in, out]');
    assert.deepStrictEqual(cp.warnings.map((w) => w.code), ['onnx-constant-weights']);
  });

  it('a norm\'s scale and bias in Constant nodes torch.onnx.export named (/n/Constant_1) are its fillers, not weights; in Constants named otherwise they are weights', async () => {
    const norm = (prefix: string, named: boolean) => {
      const c = (k: number) => (named ? `/${prefix}/Constant_${k}` : '');
      const out = (k: number) => (named ? `/${prefix}/Constant_${k}_output_0` : `Constant_${prefix}_${k}_output`);
      return [
        constant(c(1), out(1), tValue([4])),
        constant(c(2), out(2), tValue([4])),
        op('InstanceNormalization', `/${prefix}/InstanceNormalization`, [`${prefix}_in`, out(1), out(2)], [`${prefix}_out`], [aFloat('epsilon', 1e-5)]),
      ];
    };
    const g = graph({ nodes: [...norm('a', true), ...norm('b', false)], inits: [zeros('fc.weight', [4, 4])] });
    const cp = await openBytes(model(g));
    assert.deepStrictEqual(cp.tensors.map((x) => [x.name, onnxName(x), x.role]), [
      ['fc.weight', 'fc.weight', 'parameter'],
      ['b.weight', 'Constant_b_1_output', 'parameter'],
      ['b.bias', 'Constant_b_2_output', 'parameter'],
    ]);
    // A torch-named Constant read elsewhere too (a data input) is not only a filler: it stays (the bias, only a filler, goes).
    const h = graph({ nodes: [...norm('a', true), op('Mul', '/m/Mul', ['x', '/a/Constant_1_output_0'], ['y'])] });
    assert.deepStrictEqual((await openBytes(model(h))).tensors.map((x) => onnxName(x)), ['/a/Constant_1_output_0']);
  });

  it('a second call\'s scope (a_1) is module a only if it can be nothing else: not with tensors of its own, a scope inside it, or a weight a does not use', async () => {
    const w = (name: string) => tensor({ name, dims: [4, 4], raw: Buffer.alloc(64) });
    // /a/ and /a_1/ read one folded weight, forwarded to /a_1/ through an Identity (the exporter's copy).
    const calls = (extra: Buffer[] = [], inits: Buffer[] = []) =>
      graph({
        nodes: [
          op('Identity', 'Identity_0', ['onnx::MatMul_1'], ['onnx::MatMul_2']),
          op('MatMul', '/a/MatMul', ['x', 'onnx::MatMul_1'], ['y']),
          op('MatMul', '/a_1/MatMul', ['y', 'onnx::MatMul_2'], ['z']),
          ...extra,
        ],
        inits: [w('onnx::MatMul_1'), ...inits],
      });
    const names = async (g: Buffer) => (await openBytes(model(g))).tensors.map((x) => [x.name, onnxName(x), x.extra?.deduplicatedFrom]);
    assert.deepStrictEqual(await names(calls()), [['a.weight', 'onnx::MatMul_1', undefined]]);
    // a_1 has a bias of its own: a module a_1, its weight the exporter's copy of a's.
    const own = [['a.weight', 'onnx::MatMul_1', undefined], ['a_1.bias', 'a_1.bias', undefined], ['a_1.weight', 'onnx::MatMul_2', 'a.weight']];
    assert.deepStrictEqual((await names(calls([op('Add', '/a_1/Add', ['z', 'a_1.bias'], ['o'])], [zeros('a_1.bias', [4])]))).sort(), own);
    // A scope inside a_1 (a_1/sub): a second call's suffix is only ever on the last part.
    assert.deepStrictEqual(
      (await names(calls([op('MatMul', '/a_1/sub/MatMul', ['z', 'onnx::MatMul_3'], ['o'])], [w('onnx::MatMul_3')]))).sort(),
      [['a.weight', 'onnx::MatMul_1', undefined], ['a_1.sub.weight', 'onnx::MatMul_3', undefined], ['a_1.weight', 'onnx::MatMul_2', 'a.weight']],
    );
    // a_1 also reads a weight a never reads: another module.
    assert.deepStrictEqual(
      (await names(calls([op('MatMul', '/a_1/MatMul_1', ['z', 'onnx::MatMul_3'], ['o'])], [w('onnx::MatMul_3')]))).map((x) => x[0]).sort(),
      ['a.weight', 'a_1.weight', 'a_1.weight_2'],
    );
  });

  it('an op type named like an Object property (toString) is an op like any other, not an internal error', async () => {
    const g = graph({ nodes: [constant('', 'c', tValue([4])), op('toString', '/t/toString', ['x', 'c'], ['y'])] });
    const cp = await openBytes(model(g));
    // Four floats that no setting input reads: a weight, as for any op the reader does not know.
    assert.deepStrictEqual(cp.tensors.map((x) => [onnxName(x), x.shape, x.role]), [['c', [4], 'parameter']]);
  });

  it('names forwarded by Identity: a dotted state_dict name is a deduplicated copy; other Identity outputs and cycles are not', async () => {
    const g = graph({
      nodes: [
        op('Identity', 'Identity_0', ['a.weight'], ['b.weight']),
        op('Identity', 'Identity_1', ['a.weight'], ['tmp']),
        op('Identity', 'Identity_2', ['loop2'], ['loop1']),
        op('Identity', 'Identity_3', ['loop1'], ['loop2']),
        op('Identity', 'Identity_4', ['loop2'], ['c.weight']),
        op('Gemm', '/a/Gemm', ['x', 'a.weight'], ['y'], [aInt('transB', 1)]),
        op('Gemm', '/b/Gemm', ['y', 'b.weight'], ['z'], [aInt('transB', 1)]),
        op('Gemm', '/t/Gemm', ['z', 'tmp'], ['w'], [aInt('transB', 1)]),
      ],
      inits: [zeros('a.weight', [4, 4])],
    });
    const cp = await openBytes(model(g));
    assert.deepStrictEqual(cp.tensors.map((x) => [x.name, x.extra?.deduplicatedFrom]), [['a.weight', undefined], ['b.weight', 'a.weight']]);
    assert.deepStrictEqual(cp.parameters, { unique: 32, total: 32 });
    assert.deepStrictEqual(cp.shared.map((s) => [s.relation, s.tensors]), [['deduplicated', ['a.weight', 'b.weight']]]);
    assert.deepStrictEqual(cp.bytesByDtype, { float32: 64 }, 'the bytes are stored once');
  });

  it('one tensor name in two branches of an If is prefixed by its branch; twice in one graph, suffixed', async () => {
    const branch = (name: string, d: number) =>
      graph({ name, nodes: [constant('', `${name}_w`, tValue([d, 2], 'enc.weight')), constant('', `${name}_w2`, tValue([d, 3], 'enc.weight')), op('MatMul', `${name}/enc/MatMul`, ['x', `${name}_w`], ['y']), op('MatMul', `${name}/enc/MatMul_1`, ['y', `${name}_w2`], ['z'])] });
    const ifNode = op('If', 'If_0', ['cond'], ['out'], [fLen(5, cat(fStr(1, 'then_branch'), fLen(6, branch('t', 4)), fInt(20, 5))), fLen(5, cat(fStr(1, 'else_branch'), fLen(6, branch('e', 2)), fInt(20, 5)))]);
    const cp = await openBytes(model(graph({ nodes: [ifNode] })));
    assert.deepStrictEqual(cp.tensors.map((x) => [x.name, x.shape]), [
      ['If_0.then_branch.enc.weight', [4, 2]],
      ['If_0.then_branch.enc.weight_2', [4, 3]],
      ['If_0.else_branch.enc.weight', [2, 2]],
      ['If_0.else_branch.enc.weight_2', [2, 3]],
    ]);
  });

  it('a Constant weight whose raw_data does not match its dims is a typed error naming the node', async () => {
    const g = graph({ nodes: [constant('c', 'cw', tValue([3, 2], '', 1, Buffer.alloc(20))), op('MatMul', '/fc/MatMul', ['x', 'cw'], ['y'])] });
    await rejects(readBytes(model(g)), 'bad-offsets', /raw_data holds 20 bytes but dims \[3, 2\] of FLOAT need 24/);
    const e = await rejects(readBytes(model(g)), 'bad-offsets', /./);
    assert.match(e.record ?? '', /Constant "cw" value/);
  });
});

describe('ONNX initializers named after their module', () => {
  it('an initializer called like the module that uses it (c_attn) is that module\'s weight; top-level parameters keep their names', async () => {
    const g = graph({
      nodes: [
        op('Gemm', '/transformer/h.0/attn/c_attn/Gemm', ['x', 'c_attn', 'c_attn_b'], ['y']),
        op('Add', '/Add', ['y', 'pos_embed'], ['z']),
        op('MatMul', '/head/MatMul', ['z', 'head_w'], ['out']),
      ],
      inits: [zeros('c_attn', [4, 12]), zeros('c_attn_b', [12]), zeros('pos_embed', [3, 12]), zeros('head_w', [12, 2])],
    });
    const cp = await openBytes(model(g));
    assert.deepStrictEqual(cp.tensors.map((x) => [x.name, onnxName(x)]), [
      ['transformer.h.0.attn.c_attn.weight', 'c_attn'],
      ['c_attn_b', 'c_attn_b'],
      ['pos_embed', 'pos_embed'],
      ['head_w', 'head_w'],
    ]);
    assert.strictEqual(moduleAt(cp.modules, 'transformer.h.0.attn.c_attn')!.type, 'Conv1D');
  });
});

// ---------------------------------------------------------------------------------------------
// Hostile graphs: work that grows faster than the file.

describe('ONNX graph analysis on hostile graphs stays linear', () => {
  /** A graph where `/fc/MatMul` reads onnx::W and each of n calls fc_1..fc_n reads a copy of it forwarded by an Identity (with a shared bias). */
  function calls(n: number, asBias = false): Buffer {
    const nodes: Buffer[] = asBias
      ? [op('Conv', '/fc/Conv', ['x', 'wc', 'onnx::W'], ['c'])]
      : [op('MatMul', '/fc/MatMul', ['x', 'onnx::W'], ['m0']), op('Add', '/fc/Add', ['m0', 'onnx::b'], ['a0'])];
    for (let i = 1; i <= n; i++) {
      nodes.push(op('Identity', `/Identity_${i}`, ['onnx::W'], [`onnx::MatMul_c${i}`]));
      nodes.push(op('MatMul', `/fc_${i}/MatMul`, ['x', `onnx::MatMul_c${i}`], [`m${i}`]));
      if (!asBias) nodes.push(op('Add', `/fc_${i}/Add`, [`m${i}`, 'onnx::b'], [`a${i}`]));
    }
    const inits = [zeros('onnx::W', [2, 2]), asBias ? zeros('wc', [2, 2, 1]) : zeros('onnx::b', [2])];
    return model(graph({ nodes, inits }));
  }

  it('20,000 calls of one module reading copies of its weight merge into it in one pass (each merge re-sorted the uses and scanned every MatMul bias: minutes)', async function () {
    this.timeout(30000);
    const raw = await readBytes(calls(20000));
    assert.deepStrictEqual(raw.tensors.map((t) => t.name), ['fc.weight', 'fc.bias']);
    assert.deepStrictEqual(Object.keys(raw.layers ?? {}), ['fc']);
  });

  it('20,000 copies read by calls with no tensor to merge into are each looked up once (every copy was tried for every copy: minutes)', async function () {
    this.timeout(30000);
    const raw = await readBytes(calls(20000, true));
    assert.strictEqual(raw.tensors.filter((t) => t.extra?.deduplicatedFrom !== undefined).length, 20000);
    assert.ok(!raw.warnings.some((w) => w.code === 'onnx-graph-limit'));
  });

  it('a copy needing two uses that hundreds of tensors each half-hold stops looking after MAX_TARGET_CHECKS, with a warning', async () => {
    const nodes: Buffer[] = [op('MatMul', '/fc/MatMul_0', ['x', 'onnx::W'], ['m'])];
    for (let j = 0; j < 300; j++) {
      nodes.push(op('Identity', `/Identity_c${j}`, ['onnx::W'], [`onnx::c${j}`]), op('MatMul', `/fc/MatMul_c${j}`, ['x', `onnx::c${j}`], [`mc${j}`]));
      nodes.push(op('Identity', `/Identity_e${j}`, ['onnx::W'], [`onnx::e${j}`]), op('Gemm', `/fc/Gemm_e${j}`, ['x', 'x', `onnx::e${j}`], [`ge${j}`]));
    }
    // fc's second call reads its copy as a Gemm's weight and bias: no tensor fc's nodes read is both.
    nodes.push(op('Identity', '/Identity_d', ['onnx::W'], ['onnx::d']), op('Gemm', '/fc_1/Gemm', ['x', 'onnx::d', 'onnx::d'], ['gd']));
    const raw = await readBytes(model(graph({ nodes, inits: [zeros('onnx::W', [2, 2])] })));
    const w = raw.warnings.find((x) => x.code === 'onnx-graph-limit');
    assert.ok(w, 'a warning says the look stopped');
    assert.match(w.message, /^1 copy of a weight read by a module's repeated calls .* stopped after 256 candidates$/);
    assert.ok(raw.tensors.some((t) => t.extra?.onnxName === 'onnx::d'), 'the copy stays a tensor of its own');
  });
});

describe('ONNX repeated calls with long scopes and names', () => {
  it('a scope thousands of levels deep, many times over, and thousands of long model names cost their length, not its square', async function () {
    this.timeout(30000);
    const deep = Array(4000).fill('a').join('/');
    const nodes: Buffer[] = [op('MatMul', '/fc/MatMul', ['x', 'onnx::W'], ['m0']), op('MatMul', '/fc_1/MatMul', ['x', 'onnx::W'], ['m1'])];
    for (let i = 0; i < 600; i++) nodes.push(op('Relu', `/b${i}/${deep}/Relu`, ['x'], [`r${i}`]));
    const long = Array(2040).fill('a').join('.');
    const inits = [zeros('onnx::W', [2, 2])];
    for (let i = 0; i < 2000; i++) inits.push(zeros(`p${i}.${long}`, [1]));
    const raw = await readBytes(model(graph({ nodes, inits })));
    assert.strictEqual(raw.tensors.length, 2001);
    assert.deepStrictEqual(Object.keys(raw.layers ?? {}), ['fc']);
  });

  it('fc_1 is fc called again unless a scope lies inside it or a tensor is named under it', async () => {
    const base = [op('MatMul', '/fc/MatMul', ['x', 'onnx::W'], ['m0']), op('MatMul', '/fc_1/MatMul', ['x', 'onnx::W'], ['m1'])];
    const layers = async (nodes: Buffer[], inits: Buffer[] = []) => Object.keys((await readBytes(model(graph({ nodes: [...base, ...nodes], inits: [zeros('onnx::W', [2, 2]), ...inits] })))).layers ?? {}).sort();
    assert.deepStrictEqual(await layers([]), ['fc']);
    assert.deepStrictEqual(await layers([op('Relu', '/fc_1/inner/Relu', ['x'], ['r'])]), ['fc', 'fc_1']);
    assert.deepStrictEqual(await layers([op('Relu', '/fc_1x/inner/Relu', ['x'], ['r'])]), ['fc']);
    assert.deepStrictEqual(await layers([], [zeros('fc_1.extra.scale', [1])]), ['fc', 'fc_1']);
    assert.deepStrictEqual(await layers([], [zeros('fc_1', [1])]), ['fc', 'fc_1']);
    assert.deepStrictEqual(await layers([], [zeros('fc_10.scale', [1]), zeros('fc_1x', [1])]), ['fc']);
  });
});
