// GGUF and ONNX: opening reads headers only.
//  - a TinyLlama-1.1B-shaped Q4_K GGUF (~640 MB, sparse: header written, the rest ftruncate'd),
//    with a real 32,000-entry token list, scores and token types in its metadata;
//  - an ONNX model with ~200 MB of raw_data written as real bytes, plus 2,000 graph nodes;
//  - an ONNX graph of 50,000 nodes (tiny initializers) for the protobuf walk itself.
// Reports bytes read and the time to open next to the time to read the whole file once.
import * as fs from 'fs';
import * as path from 'path';
import { benchDir, core, timeIt, readWhole, dropCaches } from '../bench-lib.mjs';





/** Open and whole-file read times with an empty page cache (needs root), or null. */
async function cold(file) {
  if (!dropCaches()) return null;
  const open = await timeIt(() => core.openCheckpoint(file), 1);
  dropCaches();
  const read = await timeIt(() => readWhole(file), 1);
  return { open: open.ms, read: read.ms };
}

const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
const int = (n) => n.toLocaleString('en');

// ---------------------------------------------------------------------------------------------
// GGUF

function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function u64(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
function f32(x) {
  const b = Buffer.alloc(4);
  b.writeFloatLE(x);
  return b;
}
function gstr(s) {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([u64(b.length), b]);
}
const kvU32 = (k, v) => Buffer.concat([gstr(k), u32(4), u32(v)]);
const kvStr = (k, v) => Buffer.concat([gstr(k), u32(8), gstr(v)]);
function kvArr(k, elemType, items, enc) {
  return Buffer.concat([gstr(k), u32(9), u32(elemType), u64(items.length), ...items.map(enc)]);
}

// ggml type id -> [elements per block, bytes per block]
const GGML = { 0: [1, 4], 12: [256, 144], 14: [256, 210] };

export function makeGguf(file) {
  if (fs.existsSync(file)) return file;
  const V = 32000, D = 2048, FF = 5632, L = 22, KV = 256;
  const tensors = [['token_embd.weight', [D, V], 12]];
  for (let i = 0; i < L; i++) {
    tensors.push(
      [`blk.${i}.attn_norm.weight`, [D], 0],
      [`blk.${i}.attn_q.weight`, [D, D], 12],
      [`blk.${i}.attn_k.weight`, [D, KV], 12],
      [`blk.${i}.attn_v.weight`, [D, KV], 12],
      [`blk.${i}.attn_output.weight`, [D, D], 12],
      [`blk.${i}.ffn_norm.weight`, [D], 0],
      [`blk.${i}.ffn_gate.weight`, [D, FF], 12],
      [`blk.${i}.ffn_up.weight`, [D, FF], 12],
      [`blk.${i}.ffn_down.weight`, [FF, D], 14],
    );
  }
  tensors.push(['output_norm.weight', [D], 0], ['output.weight', [D, V], 14]);
  const tokens = Array.from({ length: V }, (_, i) => (i < 3 ? ['<unk>', '<s>', '</s>'][i] : `▁token${i}`));
  const kvs = [
    kvStr('general.architecture', 'llama'),
    kvStr('general.name', 'bench-tinyllama-1.1b'),
    kvU32('llama.block_count', L),
    kvU32('llama.embedding_length', D),
    kvU32('llama.feed_forward_length', FF),
    kvU32('general.alignment', 32),
    kvStr('tokenizer.ggml.model', 'llama'),
    kvArr('tokenizer.ggml.tokens', 8, tokens, gstr),
    kvArr('tokenizer.ggml.scores', 6, tokens.map((_, i) => -i), f32),
    kvArr('tokenizer.ggml.token_type', 5, tokens.map(() => 1), u32),
  ];
  const parts = [Buffer.from('GGUF'), u32(3), u64(tensors.length), u64(kvs.length), ...kvs];
  let off = 0;
  for (const [name, ne, type] of tensors) {
    const [blk, bytes] = GGML[type];
    parts.push(gstr(name), u32(ne.length), ...ne.map(u64), u32(type), u64(off));
    off += Math.ceil(((ne.reduce((a, b) => a * b, 1) / blk) * bytes) / 32) * 32;
  }
  const head = Buffer.concat(parts);
  const dataStart = Math.ceil(head.length / 32) * 32;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, head, 0, head.length, 0);
  fs.ftruncateSync(fd, dataStart + off);
  fs.closeSync(fd);
  return file;
}

// ---------------------------------------------------------------------------------------------
// ONNX (protobuf written by hand)

function varint(v) {
  let n = BigInt(v);
  const out = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) b |= 0x80;
    out.push(b);
  } while (n > 0n);
  return Buffer.from(out);
}
const fInt = (no, v) => Buffer.concat([varint(no * 8), varint(v)]);
const fLen = (no, payload) => Buffer.concat([varint(no * 8 + 2), varint(payload.length), payload]);
const fStr = (no, s) => fLen(no, Buffer.from(s, 'utf8'));
const node = (op, inputs, name) => Buffer.concat([...inputs.map((i) => fStr(1, i)), fStr(2, `${name}_out`), fStr(3, name), fStr(4, op)]);

/** A graph with `nodes` nodes and initializers of the given sizes; raw data real (pseudo-random) or sparse. */
function makeOnnx(file, { nodes, inits, realData }) {
  if (fs.existsSync(file)) return file;
  const nodeBufs = [];
  for (let i = 0; i < nodes; i++) {
    const w = inits.length ? `layers.${i % inits.length}.weight` : 'x';
    nodeBufs.push(fLen(1, node(i % 3 ? 'Add' : 'MatMul', [`h${i}`, w], `/layers.${i}/op`)));
  }
  const heads = inits.map(([rows, cols], i) => {
    const size = rows * cols * 4;
    const head = Buffer.concat([fInt(1, rows), fInt(1, cols), fInt(2, 1), fStr(8, `layers.${i}.weight`), varint(9 * 8 + 2), varint(size)]);
    return { pre: Buffer.concat([varint(5 * 8 + 2), varint(head.length + size), head]), size };
  });
  const nodesBuf = Buffer.concat(nodeBufs);
  const graphLen = nodesBuf.length + heads.reduce((s, h) => s + h.pre.length + h.size, 0);
  const top = Buffer.concat([fInt(1, 8), fStr(2, 'weightscope-bench'), fStr(3, '1'), Buffer.concat([varint(7 * 8 + 2), varint(graphLen)]), nodesBuf]);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, top);
  const chunk = Buffer.alloc(4 << 20);
  let x = 0x2468ace1;
  for (let i = 0; i < chunk.length; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    chunk.writeInt32LE(x | 0, i);
  }
  let pos = top.length;
  for (const h of heads) {
    fs.writeSync(fd, h.pre, 0, h.pre.length, pos);
    pos += h.pre.length;
    if (realData) {
      for (let left = h.size; left > 0; ) {
        const n = Math.min(left, chunk.length);
        fs.writeSync(fd, chunk, 0, n, pos);
        pos += n;
        left -= n;
      }
    } else pos += h.size;
  }
  fs.ftruncateSync(fd, pos);
  fs.closeSync(fd);
  return file;
}

async function section(report, label, file, runs) {
  const size = fs.statSync(file).size;
  const open = await timeIt(() => core.openCheckpoint(file), runs);
  const cp = open.last;
  report(`${label}: file size`, mb(size));
  report(`${label}: tensors / parameters`, `${int(cp.tensors.length)} / ${int(cp.parameters.unique)}`);
  report(`${label}: bytes read to open`, `${int(cp.bytesRead)} (${((100 * cp.bytesRead) / size).toFixed(3)}% of the file)`);
  report(`${label}: open + analyse, median of ${runs}`, `${open.ms.toFixed(1)} ms`);
  return { size, open };
}

export default async function (report) {
  const gguf = makeGguf(path.join(benchDir, 'gguf', 'tinyllama-1.1b-q4_k.gguf'));
  const g = await section(report, 'GGUF 1.1B Q4_K (sparse data)', gguf, 7);
  const gw = await timeIt(() => readWhole(gguf), 3);
  report('GGUF: read the whole file once (sparse, warm), median of 3', `${gw.ms.toFixed(1)} ms`);
  report('GGUF: ratio reading the file / opening it (warm)', `${(gw.ms / g.open.ms).toFixed(1)}x`);
  const gc = await cold(gguf);
  if (gc) {
    report('GGUF cold cache: open + analyse', `${gc.open.toFixed(1)} ms`);
    report('GGUF cold cache: read the whole (sparse) file once', `${gc.read.toFixed(1)} ms (holes: no disk reads)`);
  }

  const onnx = makeOnnx(path.join(benchDir, 'onnx', 'raw-200mb.onnx'), {
    nodes: 2000,
    inits: Array.from({ length: 50 }, () => [1024, 1024]),
    realData: true,
  });
  const o = await section(report, 'ONNX 200 MB raw_data (real bytes)', onnx, 7);
  const ow = await timeIt(() => readWhole(onnx), 3);
  report('ONNX: read the whole file once (warm), median of 3', `${ow.ms.toFixed(1)} ms`);
  report('ONNX: ratio reading the file / opening it (warm)', `${(ow.ms / o.open.ms).toFixed(1)}x`);
  const oc = await cold(onnx);
  if (oc) {
    report('ONNX cold cache: open + analyse', `${oc.open.toFixed(1)} ms`);
    report('ONNX cold cache: read the whole file once', `${oc.read.toFixed(1)} ms`);
    report('ONNX cold cache: ratio reading the file / opening it', `${(oc.read / oc.open).toFixed(1)}x`);
  } else report('cold cache figures', 'skipped (dropping the page cache needs root)');

  const wide = makeOnnx(path.join(benchDir, 'onnx', 'nodes-50k.onnx'), { nodes: 50_000, inits: [[4, 4]], realData: false });
  const w = await section(report, 'ONNX 50,000 nodes', wide, 3);
  report('ONNX 50,000 nodes: nodes per second', int(Math.round(50_000 / (w.open.ms / 1000))));
}
