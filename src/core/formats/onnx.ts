/**
 * ONNX (onnx.proto, protobuf wire format). We stream the ModelProto with ranged reads and descend
 * only where the structure lives:
 *
 *   ModelProto: ir_version=1 producer_name=2 producer_version=3 domain=4 model_version=5
 *               graph=7 opset_import=8 metadata_props=14
 *   GraphProto: node=1 name=2 initializer=5 input=11 output=12 sparse_initializer=15
 *   NodeProto:  input=1 output=2 name=3 op_type=4 attribute=5 domain=7
 *   AttributeProto: t=5 g=6 tensors=10 graphs=11 sparse_tensor=22 sparse_tensors=23 (subgraphs)
 *   TensorProto: dims=1 data_type=2 segment=3 float_data=4 int32_data=5 string_data=6
 *                int64_data=7 name=8 raw_data=9 double_data=10 uint64_data=11
 *                external_data=13 (key=1 value=2) data_location=14
 *   SparseTensorProto: values=1 indices=2 dims=3
 *
 * raw_data and the typed data fields are skipped by seeking; only their offsets and lengths are
 * kept. External data files are checked with stat() only.
 */
import * as path from 'path';
import type { DeclaredTie } from '../model';
import { ReaderContext, pathsOf, relativeName } from '../access';
import { CheckpointError } from '../errors';
import { truncate } from '../json';
import { RawCheckpoint, TensorRecord, Warning } from '../model';
import { isFloating, registerDtype } from '../dtypes';
import { asSigned, ChunkedReader, decodeVarint, Field, readVarint, walkMessage, WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT } from './protobuf';
import { FormatModule, PLAUSIBLE } from './format';

export interface OnnxType {
  id: number;
  name: string;
  dtype: string;
  /** Bits per element on disk (raw_data packs sub-byte types). */
  bits: number;
}

const TYPE_TABLE: [number, string, string, number][] = [
  [1, 'FLOAT', 'float32', 32], [2, 'UINT8', 'uint8', 8], [3, 'INT8', 'int8', 8], [4, 'UINT16', 'uint16', 16],
  [5, 'INT16', 'int16', 16], [6, 'INT32', 'int32', 32], [7, 'INT64', 'int64', 64], [8, 'STRING', 'string', 8],
  [9, 'BOOL', 'bool', 8], [10, 'FLOAT16', 'float16', 16], [11, 'DOUBLE', 'float64', 64], [12, 'UINT32', 'uint32', 32],
  [13, 'UINT64', 'uint64', 64], [14, 'COMPLEX64', 'complex64', 64], [15, 'COMPLEX128', 'complex128', 128],
  [16, 'BFLOAT16', 'bfloat16', 16], [17, 'FLOAT8E4M3FN', 'float8_e4m3fn', 8], [18, 'FLOAT8E4M3FNUZ', 'float8_e4m3fnuz', 8],
  [19, 'FLOAT8E5M2', 'float8_e5m2', 8], [20, 'FLOAT8E5M2FNUZ', 'float8_e5m2fnuz', 8], [21, 'UINT4', 'uint4', 4],
  [22, 'INT4', 'int4', 4], [23, 'FLOAT4E2M1', 'float4_e2m1fn', 4], [24, 'FLOAT8E8M0', 'float8_e8m0fnu', 8],
  [25, 'UINT2', 'uint2', 2], [26, 'INT2', 'int2', 2],
];

export const ONNX_TYPES: ReadonlyMap<number, OnnxType> = new Map(TYPE_TABLE.map(([id, name, dtype, bits]) => [id, { id, name, dtype, bits }]));

// Dtypes only ONNX has. `string` tensors: nbytes is the total length of their strings.
registerDtype('uint4', { bits: 4, floating: false });
registerDtype('int4', { bits: 4, floating: false });
registerDtype('uint2', { bits: 2, floating: false });
registerDtype('int2', { bits: 2, floating: false });
registerDtype('float4_e2m1fn', { bits: 4, floating: true });
registerDtype('string', { bits: 8, floating: false });

/** Subgraph nesting (If/Loop/Scan bodies) we follow before giving up. */
export const MAX_GRAPH_DEPTH = 32;
/** Longest name (tensor, node, op type) we accept. */
const MAX_NAME = 1 << 20;
/** Longest metadata_props value kept in full. */
const MAX_PROP = 64 * 1024;
/** Longest list of graph inputs/outputs kept in the metadata. */
const MAX_IO_NAMES = 64;

export const onnxReader: FormatModule = {
  id: 'onnx',
  name: 'ONNX',
  variants: { onnx: 'ONNX' },
  extensions: ['.onnx'],
  editor: { default: ['*.onnx'], option: [] },
  sniffBytes: 64,
  // Protobuf has no magic number: a plausible ModelProto start is all the bytes can say.
  match(head, size) {
    return sniffOnnx(head, size) ? { confidence: PLAUSIBLE, variant: 'onnx' } : null;
  },
  async read(src, ctx) {
    const file = relativeName(ctx, ctx.path);
    const r = new ChunkedReader(src, file);
    const model = await new OnnxParser(r).parseModel();
    return resolveModel(model, r, ctx);
  },
  folder: { prefer: [/\.onnx$/i] },
};

/** Field number → wire type of the ModelProto fields that open a file. */
const MODEL_FIELDS: Record<number, number> = { 1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2 };

/**
 * A ModelProto starts with ir_version (field 1, varint). Accept when that field holds a plausible
 * version and every following field that fits in `head` is a ModelProto field of the right type.
 */
export function sniffOnnx(head: Uint8Array, size: number): boolean {
  if (head.length < 2 || head[0] !== 0x08) return false;
  const stop = () => new CheckpointError('truncated', '');
  let pos = 0;
  let first = true;
  try {
    while (pos < head.length) {
      const tag = decodeVarint(head.subarray(pos), '', pos, '', stop);
      if (typeof tag.value !== 'number') return false;
      const no = Math.floor(tag.value / 8);
      const wire = tag.value & 7;
      if (MODEL_FIELDS[no] !== wire) return false;
      pos += tag.len;
      const v = decodeVarint(head.subarray(pos), '', pos, '', stop);
      if (first) {
        if (no !== 1 || typeof v.value !== 'number' || v.value < 1 || v.value > 64) return false;
        first = false;
      }
      pos += v.len;
      if (wire === WIRE_LEN) {
        if (typeof v.value !== 'number' || pos + v.value > size) return false;
        pos += v.value;
      }
    }
  } catch (e) {
    // Cut short by the end of `head`: fine once ir_version was read; a malformed varint is not.
    return !first && e instanceof CheckpointError && e.code === 'truncated';
  }
  return !first;
}

interface DataField {
  /** TensorProto field number (4 float_data, 5 int32_data, ...). */
  field: number;
  pos: number;
  len: number;
  /** Elements counted so far, when countable without reading (fixed width, one per field). */
  count: number | null;
  packed: boolean;
}

interface TensorInfo {
  name: string;
  /** Offset of the field holding this tensor (the initializer's tag). */
  at: number;
  dataType: number;
  dims: number[];
  raw?: { pos: number; len: number };
  typed?: DataField;
  stringBytes: number;
  stringCount: number;
  external: [string, string][];
  externalAt: number;
  dataLocation: number;
  segment: boolean;
}

interface SparseInfo {
  at: number;
  values?: TensorInfo;
  indices?: TensorInfo;
  dims: number[];
}

interface NodeInfo {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  /** Label of the graph holding it: '' for the main graph. */
  graph: string;
}

interface ModelInfo {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  opsets: { domain: string; version: number }[];
  props: Record<string, string>;
  graphName?: string;
  hasGraph: boolean;
  nodes: NodeInfo[];
  initializers: { info: TensorInfo; graph: string }[];
  sparse: { info: SparseInfo; graph: string }[];
  inputs: string[];
  outputs: string[];
  subgraphs: number;
  constants: { count: number; bytes: number };
  functions: number;
  trainingInfo: number;
}

class OnnxParser {
  readonly model: ModelInfo = {
    opsets: [],
    props: Object.create(null),
    hasGraph: false,
    nodes: [],
    initializers: [],
    sparse: [],
    inputs: [],
    outputs: [],
    subgraphs: 0,
    constants: { count: 0, bytes: 0 },
    functions: 0,
    trainingInfo: 0,
  };

  constructor(private readonly r: ChunkedReader) {}

  private get file(): string {
    return this.r.file;
  }

  private fail(code: 'bad-header' | 'bad-shape' | 'bad-dtype' | 'limit', msg: string, offset: number, record?: string): never {
    throw new CheckpointError(code, msg, { file: this.file, offset, record });
  }

  private expect(f: Field, wire: number, message: string, what: string): void {
    if (f.wire !== wire) this.fail('bad-header', `${message}: field ${f.no} (${what}) has wire type ${f.wire}; expected ${wire}`, f.at);
  }

  private async str(f: Field, message: string, what: string): Promise<string> {
    this.expect(f, WIRE_LEN, message, what);
    if (f.len > MAX_NAME) this.fail('limit', `${message}: ${what} is ${f.len} bytes long (limit ${MAX_NAME})`, f.at);
    return this.r.utf8(f.pos, f.len, `${message} ${what}`);
  }

  /** Decode a string field and hand it to `use`: synchronously when its bytes are in memory. */
  private take(f: Field, message: string, what: string, use: (s: string) => void): void | Promise<void> {
    this.expect(f, WIRE_LEN, message, what);
    if (f.len > MAX_NAME) this.fail('limit', `${message}: ${what} is ${f.len} bytes long (limit ${MAX_NAME})`, f.at);
    const now = this.r.utf8Now(f.pos, f.len, `${message} ${what}`);
    if (now !== null) {
      use(now);
      return;
    }
    return this.r.utf8(f.pos, f.len, `${message} ${what}`).then(use);
  }

  private int(f: Field, message: string, what: string): number {
    this.expect(f, WIRE_VARINT, message, what);
    const v = asSigned(f.value);
    if (typeof v !== 'number') this.fail('bad-header', `${message}: ${what} ${v} is out of range`, f.at);
    return v;
  }

  async parseModel(): Promise<ModelInfo> {
    const m = this.model;
    const msg = 'ModelProto';
    await walkMessage(this.r, 0, this.r.size, msg, async (f) => {
      switch (f.no) {
        case 1:
          m.irVersion = this.int(f, msg, 'ir_version');
          break;
        case 2:
          m.producerName = await this.str(f, msg, 'producer_name');
          break;
        case 3:
          m.producerVersion = await this.str(f, msg, 'producer_version');
          break;
        case 4:
          m.domain = await this.str(f, msg, 'domain');
          break;
        case 5:
          m.modelVersion = this.int(f, msg, 'model_version');
          break;
        case 7:
          this.expect(f, WIRE_LEN, msg, 'graph');
          m.hasGraph = true;
          await this.parseGraph(f.pos, f.pos + f.len, 0, '');
          break;
        case 8: {
          this.expect(f, WIRE_LEN, msg, 'opset_import');
          const op = { domain: '', version: 0 };
          await walkMessage(this.r, f.pos, f.pos + f.len, 'OperatorSetIdProto', async (g) => {
            if (g.no === 1) op.domain = await this.str(g, 'OperatorSetIdProto', 'domain');
            else if (g.no === 2) op.version = this.int(g, 'OperatorSetIdProto', 'version');
          });
          m.opsets.push(op);
          break;
        }
        case 14: {
          this.expect(f, WIRE_LEN, msg, 'metadata_props');
          const [k, v] = await this.entry(f, 'metadata_props', MAX_PROP);
          m.props[k] = v;
          break;
        }
        case 20:
          m.trainingInfo++;
          break;
        case 25:
          m.functions++;
          break;
        default:
          break; // doc_string and anything newer: skipped
      }
    });
    if (!m.hasGraph) {
      throw new CheckpointError('bad-header', 'no graph in the ModelProto (field 7); not an ONNX model', { file: this.file, offset: 0 });
    }
    return m;
  }

  /** A StringStringEntryProto; values longer than `maxValue` are cut (with a note). */
  private async entry(f: Field, what: string, maxValue = MAX_NAME): Promise<[string, string]> {
    let key = '';
    let value = '';
    const msg = `${what} entry`;
    await walkMessage(this.r, f.pos, f.pos + f.len, msg, async (g) => {
      if (g.no === 1) key = await this.str(g, msg, 'key');
      else if (g.no === 2) {
        this.expect(g, WIRE_LEN, msg, 'value');
        if (g.len > maxValue) {
          const head = await this.r.view(g.pos, Math.min(g.len, 200), `${msg} value`);
          value = `${new TextDecoder('utf-8').decode(head)}… (${g.len} bytes)`;
        } else value = await this.str(g, msg, 'value');
      }
    });
    return [key, value];
  }

  private async parseGraph(start: number, end: number, depth: number, label: string): Promise<void> {
    if (depth > MAX_GRAPH_DEPTH) this.fail('limit', `subgraphs nested deeper than ${MAX_GRAPH_DEPTH} levels`, start);
    const m = this.model;
    const msg = label ? `GraphProto (${label})` : 'GraphProto';
    await walkMessage(this.r, start, end, msg, async (f) => {
      switch (f.no) {
        case 1:
          this.expect(f, WIRE_LEN, msg, 'node');
          await this.parseNode(f, depth, label);
          break;
        case 2:
          if (depth === 0) m.graphName = await this.str(f, msg, 'name');
          break;
        case 5:
          this.expect(f, WIRE_LEN, msg, 'initializer');
          m.initializers.push({ info: await this.parseTensor(f, 'initializer'), graph: label });
          break;
        case 15:
          this.expect(f, WIRE_LEN, msg, 'sparse_initializer');
          m.sparse.push({ info: await this.parseSparse(f), graph: label });
          break;
        case 11:
        case 12:
          if (depth === 0) {
            this.expect(f, WIRE_LEN, msg, f.no === 11 ? 'input' : 'output');
            let name = '';
            await walkMessage(this.r, f.pos, f.pos + f.len, 'ValueInfoProto', (g) => {
              if (g.no === 1) return this.take(g, 'ValueInfoProto', 'name', (s) => (name = s));
            });
            (f.no === 11 ? m.inputs : m.outputs).push(name);
          }
          break;
        default:
          break; // value_info, doc_string, quantization_annotation...
      }
    });
  }

  private async parseNode(f: Field, depth: number, graph: string): Promise<void> {
    const node: NodeInfo = { name: '', opType: '', domain: '', inputs: [], graph };
    const msg = 'NodeProto';
    const attrs: Field[] = [];
    await walkMessage(this.r, f.pos, f.pos + f.len, msg, (g) => {
      switch (g.no) {
        case 1:
          return this.take(g, msg, 'input', (s) => node.inputs.push(s));
        case 3:
          return this.take(g, msg, 'name', (s) => (node.name = s));
        case 4:
          return this.take(g, msg, 'op_type', (s) => (node.opType = s));
        case 7:
          return this.take(g, msg, 'domain', (s) => (node.domain = s));
        case 5:
          this.expect(g, WIRE_LEN, msg, 'attribute');
          attrs.push(g);
          return;
        default:
          return; // output, doc_string...
      }
    });
    const index = this.model.nodes.length;
    this.model.nodes.push(node);
    // Attributes after the node is known, so subgraphs can be labelled with it.
    for (const a of attrs) await this.parseAttribute(a, depth, nodeLabel(node, index));
  }

  private async parseAttribute(f: Field, depth: number, owner: string): Promise<void> {
    const msg = `AttributeProto of ${owner}`;
    let attrName = '';
    await walkMessage(this.r, f.pos, f.pos + f.len, msg, async (g) => {
      switch (g.no) {
        case 1:
          await this.take(g, msg, 'name', (s) => (attrName = s));
          break;
        case 5:
        case 10: {
          this.expect(g, WIRE_LEN, msg, g.no === 5 ? 't' : 'tensors');
          const t = await this.parseTensor(g, 'constant');
          this.model.constants.count++;
          const type = ONNX_TYPES.get(t.dataType);
          const n = numelOf(t.dims);
          if (type && n !== null) this.model.constants.bytes += type.name === 'STRING' ? t.stringBytes : Math.ceil((n * type.bits) / 8);
          break;
        }
        case 6:
        case 11:
          this.expect(g, WIRE_LEN, msg, g.no === 6 ? 'g' : 'graphs');
          this.model.subgraphs++;
          await this.parseGraph(g.pos, g.pos + g.len, depth + 1, `${owner}.${attrName || 'attribute'}`);
          break;
        default:
          break; // scalars, sparse constants, type protos
      }
    });
  }

  private async parseSparse(f: Field): Promise<SparseInfo> {
    const s: SparseInfo = { at: f.at, dims: [] };
    const msg = 'SparseTensorProto';
    await walkMessage(this.r, f.pos, f.pos + f.len, msg, async (g) => {
      if (g.no === 1) {
        this.expect(g, WIRE_LEN, msg, 'values');
        s.values = await this.parseTensor(g, 'sparse values');
      } else if (g.no === 2) {
        this.expect(g, WIRE_LEN, msg, 'indices');
        s.indices = await this.parseTensor(g, 'sparse indices');
      } else if (g.no === 3) {
        await this.dims(g, s.dims, msg);
      }
    });
    return s;
  }

  /** Append the dims held by field `g` (one varint, or a packed run of them). */
  private async dims(g: Field, out: number[], msg: string): Promise<void> {
    const push = (v: number | bigint, at: number) => {
      const d = asSigned(v);
      if (typeof d !== 'number') this.fail('bad-shape', `${msg}: dimension ${d} is out of range`, at);
      if (d < 0) this.fail('bad-shape', `${msg}: dimension ${d} is negative`, at);
      if (out.length >= 64) this.fail('bad-shape', `${msg}: more than 64 dimensions`, at);
      out.push(d);
    };
    if (g.wire === WIRE_VARINT) push(g.value, g.at);
    else if (g.wire === WIRE_LEN) {
      let p = g.pos;
      const end = g.pos + g.len;
      while (p < end) {
        const v = await readVarint(this.r, p, end, `${msg} dims`);
        push(v.value, p);
        p += v.len;
      }
    } else this.fail('bad-header', `${msg}: field ${g.no} (dims) has wire type ${g.wire}`, g.at);
  }

  private async parseTensor(f: Field, kind: string): Promise<TensorInfo> {
    const t: TensorInfo = {
      name: '',
      at: f.at,
      dataType: 0,
      dims: [],
      stringBytes: 0,
      stringCount: 0,
      external: [],
      externalAt: f.at,
      dataLocation: 0,
      segment: false,
    };
    const msg = `TensorProto (${kind} at byte ${f.at})`;
    await walkMessage(this.r, f.pos, f.pos + f.len, msg, async (g) => {
      switch (g.no) {
        case 1:
          await this.dims(g, t.dims, msg);
          break;
        case 2:
          t.dataType = this.int(g, msg, 'data_type');
          break;
        case 3:
          t.segment = true;
          break;
        case 8:
          await this.take(g, msg, 'name', (s) => (t.name = s));
          break;
        case 9:
          this.expect(g, WIRE_LEN, msg, 'raw_data');
          t.raw = { pos: g.pos, len: g.len }; // skipped: only where it is
          break;
        case 4: // float_data: fixed32
        case 10: // double_data: fixed64
          this.typed(t, g, g.no === 4 ? WIRE_I32 : WIRE_I64, g.no === 4 ? 4 : 8, msg);
          break;
        case 5: // int32_data
        case 7: // int64_data
        case 11: // uint64_data
          this.typed(t, g, WIRE_VARINT, 0, msg);
          break;
        case 6:
          this.expect(g, WIRE_LEN, msg, 'string_data');
          t.stringBytes += g.len;
          t.stringCount++;
          break;
        case 13: {
          this.expect(g, WIRE_LEN, msg, 'external_data');
          if (t.external.length === 0) t.externalAt = g.at;
          t.external.push(await this.entry(g, 'external_data'));
          break;
        }
        case 14:
          t.dataLocation = this.int(g, msg, 'data_location');
          break;
        default:
          break; // doc_string, metadata_props
      }
    });
    return t;
  }

  /** Note a typed data field (float_data...) without reading it; count elements when that is free. */
  private typed(t: TensorInfo, g: Field, elemWire: number, width: number, msg: string): void {
    let count: number | null;
    let packed: boolean;
    if (g.wire === WIRE_LEN) {
      packed = true;
      if (width) {
        if (g.len % width !== 0) this.fail('bad-header', `${msg}: packed field ${g.no} holds ${g.len} bytes, not a multiple of ${width}`, g.at);
        count = g.len / width;
      } else count = null; // varints: counting would mean reading them
    } else if (g.wire === elemWire) {
      packed = false;
      count = 1;
    } else {
      return this.fail('bad-header', `${msg}: field ${g.no} has wire type ${g.wire}`, g.at);
    }
    const d = t.typed;
    if (!d) t.typed = { field: g.no, pos: g.pos, len: g.len, count, packed };
    else {
      d.count = d.count === null || count === null ? null : d.count + count;
      d.len += g.len;
      d.packed = false; // several runs: not one contiguous block
    }
  }
}

function nodeLabel(n: NodeInfo, index: number): string {
  return n.name || `(${n.opType || 'node'} #${index})`;
}

function numelOf(dims: number[]): number | null {
  let p = 1;
  for (const d of dims) {
    p *= d;
    if (!Number.isSafeInteger(p)) return null;
  }
  return p;
}

/** An external data path must name a file inside the model's folder. */
export function checkExternalPath(p: string, where: { file: string; offset?: number; record?: string }): void {
  if (p === '' || path.isAbsolute(p) || path.win32.isAbsolute(p) || /^[a-zA-Z]:/.test(p)) {
    throw new CheckpointError('unsafe-path', `external data location "${truncate(p)}" is absolute; it must name a file beside the model`, where);
  }
  if (p.split(/[\\/]/).some((s) => s === '..')) {
    throw new CheckpointError('unsafe-path', `external data location "${truncate(p)}" climbs out of the model's folder with ".."`, where);
  }
  if (p.includes('\0')) throw new CheckpointError('unsafe-path', 'external data location contains a NUL byte', where);
}

const DECIMAL = /^[0-9]{1,16}$/;

async function resolveModel(m: ModelInfo, r: ChunkedReader, ctx: ReaderContext): Promise<RawCheckpoint> {
  const file = r.file;
  const warnings: Warning[] = [];
  const dir = pathsOf(ctx.access).dirname(ctx.path);
  const extFiles = new Map<string, { rel: string; size: number }>();
  const tensors: TensorRecord[] = [];
  const byName = new Map<string, TensorRecord>();

  // Consumers: nodes (in any graph) naming an initializer among their inputs.
  const consumers = new Map<string, string[]>();
  const initNames = new Set<string>();
  for (const { info } of m.initializers) initNames.add(info.name);
  for (const { info } of m.sparse) if (info.values) initNames.add(info.values.name);
  m.nodes.forEach((n, i) => {
    const seen = new Set<string>();
    for (const input of n.inputs) {
      if (input === '' || seen.has(input) || !initNames.has(input)) continue;
      seen.add(input);
      const list = consumers.get(input);
      const label = nodeLabel(n, i);
      if (list) list.push(label);
      else consumers.set(input, [label]);
    }
  });

  const add = (t: TensorRecord, at: number) => {
    if (byName.has(t.name)) {
      throw new CheckpointError('duplicate-key', 'two initializers have this name', { file, offset: at, record: `initializer "${truncate(t.name)}"` });
    }
    byName.set(t.name, t);
    tensors.push(t);
  };

  let segments = 0;
  // Main-graph initializers first, then those of subgraphs (If/Loop bodies), each in file order.
  const ordered = [...m.initializers.filter((x) => !x.graph), ...m.initializers.filter((x) => x.graph)];
  for (const { info, graph } of ordered) {
    const rec = await tensorRecord(info, 'initializer');
    if (graph) rec.extra = { ...rec.extra, subgraph: graph };
    if (info.segment) segments++;
    add(rec, info.at);
  }
  for (const { info, graph } of m.sparse) {
    const where = { file, offset: info.at, record: 'sparse_initializer' };
    if (!info.values) throw new CheckpointError('bad-header', 'sparse initializer has no values tensor', where);
    const values = await tensorRecord(info.values, 'sparse values');
    const indices = info.indices ? await tensorRecord(info.indices, 'sparse indices') : undefined;
    const dense = numelOf(info.dims);
    if (dense === null) throw new CheckpointError('bad-shape', `dims [${info.dims.join(', ')}] have too many elements`, { ...where, record: `sparse_initializer "${truncate(values.name)}"` });
    const nnz = numelOf(values.shape) ?? 0;
    const rec: TensorRecord = {
      ...values,
      shape: info.dims,
      nbytes: values.nbytes + (indices?.nbytes ?? 0),
      extra: { ...values.extra, sparse: true, nnz },
    };
    if (graph) rec.extra = { ...rec.extra, subgraph: graph };
    add(rec, info.at);
  }
  if (segments) warnings.push({ code: 'onnx-segment', message: `${segments} initializer(s) are segments of a larger tensor (TensorProto.segment); shown as stored` });

  // Weight sharing in the graph: one floating-point initializer feeding several nodes.
  const shared: Record<string, string[]> = Object.create(null);
  for (const t of tensors) {
    const c = consumers.get(t.name) ?? [];
    t.extra = { ...t.extra, consumers: c.length };
    if (c.length >= 2 && isFloating(t.dtype) && (numelOf(t.shape) ?? 0) >= 2) shared[t.name] = c;
  }

  const opTypes: Record<string, number> = Object.create(null);
  for (const n of m.nodes) {
    const k = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType;
    opTypes[k] = (opTypes[k] ?? 0) + 1;
  }
  const sortedOps: Record<string, number> = Object.create(null);
  for (const [k, v] of Object.entries(opTypes).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))) sortedOps[k] = v;

  const onnx: Record<string, unknown> = {
    irVersion: m.irVersion ?? null,
    producerName: m.producerName ?? '',
    producerVersion: m.producerVersion ?? '',
    opsetImport: m.opsets.map((o) => ({ domain: o.domain || 'ai.onnx', version: o.version })),
    graphName: m.graphName ?? '',
    nodeCount: m.nodes.length,
    opTypes: sortedOps,
    initializerCount: m.initializers.length,
    inputs: m.inputs.filter((n) => !initNames.has(n)).slice(0, MAX_IO_NAMES),
    outputs: m.outputs.slice(0, MAX_IO_NAMES),
  };
  if (m.domain) onnx.domain = m.domain;
  if (m.modelVersion !== undefined) onnx.modelVersion = m.modelVersion;
  if (m.sparse.length) onnx.sparseInitializerCount = m.sparse.length;
  if (Object.keys(m.props).length) onnx.metadataProps = m.props;
  if (m.subgraphs) onnx.subgraphCount = m.subgraphs;
  if (m.constants.count) onnx.constantTensors = { ...m.constants };
  if (m.functions) onnx.functionCount = m.functions;
  if (m.trainingInfo) onnx.trainingInfoCount = m.trainingInfo;
  if (extFiles.size) onnx.externalDataFiles = [...extFiles.values()].map((e) => e.rel);
  if (Object.keys(shared).length) onnx.sharedInitializers = shared;

  return {
    format: 'onnx',
    path: ctx.path,
    files: [file, ...[...extFiles.values()].map((e) => e.rel)],
    tensors,
    declaredTies: scopeTies(shared, new Set(tensors.map((t) => t.name))),
    metadata: { onnx },
    warnings,
    bytesRead: r.src.bytesRead,
    totalBytes: r.size + [...extFiles.values()].reduce((s, e) => s + e.size, 0),
  };

  async function tensorRecord(t: TensorInfo, kind: string): Promise<TensorRecord> {
    const record = `${kind} "${truncate(t.name)}"`;
    const where = { file, offset: t.at, record };
    if (t.name === '' && kind === 'initializer') throw new CheckpointError('bad-header', 'initializer has no name', where);
    const type = ONNX_TYPES.get(t.dataType);
    if (!type) {
      throw new CheckpointError('bad-dtype', t.dataType === 0 ? 'data_type is UNDEFINED (0) or missing' : `unknown data_type ${t.dataType}`, where);
    }
    const numel = numelOf(t.dims);
    if (numel === null) throw new CheckpointError('bad-shape', `dims [${t.dims.join(', ')}] have too many elements`, where);
    const expected = Math.ceil((numel * type.bits) / 8);
    const shape = t.dims.slice();
    const base = { name: t.name, dtype: type.dtype, formatDtype: type.name, shape, strides: null, storageOffset: 0 };

    if (t.dataLocation === 1 || t.external.length) {
      const kv = new Map(t.external);
      const ewhere = { file, offset: t.externalAt, record };
      if (t.dataLocation !== 1) throw new CheckpointError('bad-header', 'external_data is set but data_location is not EXTERNAL', ewhere);
      const loc = kv.get('location');
      if (loc === undefined) throw new CheckpointError('bad-header', 'data_location is EXTERNAL but external_data has no "location"', ewhere);
      checkExternalPath(loc, ewhere);
      const num = (k: string, dflt: number): number => {
        const s = kv.get(k);
        if (s === undefined) return dflt;
        if (!DECIMAL.test(s) || !Number.isSafeInteger(Number(s))) {
          throw new CheckpointError('bad-offsets', `external_data ${k} "${truncate(s, 24)}" is not a non-negative integer`, ewhere);
        }
        return Number(s);
      };
      const offset = num('offset', 0);
      const length = num('length', expected);
      if (type.name !== 'STRING' && length !== expected) {
        throw new CheckpointError('bad-offsets', `external_data length ${length} does not match dims [${shape.join(', ')}] of ${type.name} (${expected} bytes)`, ewhere);
      }
      const abs = pathsOf(ctx.access).join(dir, loc);
      let ext = extFiles.get(abs);
      if (!ext) {
        const st = await ctx.access.stat(abs);
        if (!st || st.isDirectory) {
          throw new CheckpointError('missing-shard', `external data file "${truncate(loc)}" does not exist beside the model`, ewhere);
        }
        ext = { rel: relativeName(ctx, abs), size: st.size };
        extFiles.set(abs, ext);
      }
      if (offset + length > ext.size) {
        throw new CheckpointError('truncated', `external data [${offset}, ${offset + length}) runs past the end of ${ext.rel} (${ext.size} bytes)`, ewhere);
      }
      // Storage is the byte range: two initializers naming the same range share it.
      const storage = length > 0 ? `${ext.rel}@${offset}` : `${file}:${t.name}`;
      return { ...base, nbytes: length, file: ext.rel, dataOffset: offset, storage, storageNbytes: length, extra: { data: 'external' } };
    }

    const embedded = { file, storage: `${file}:${t.name}` };
    if (t.raw) {
      if (type.name !== 'STRING' && t.raw.len !== expected) {
        throw new CheckpointError('bad-offsets', `raw_data holds ${t.raw.len} bytes but dims [${shape.join(', ')}] of ${type.name} need ${expected}`, { ...where, offset: t.raw.pos });
      }
      return { ...base, ...embedded, nbytes: t.raw.len, dataOffset: t.raw.pos, storageNbytes: t.raw.len, extra: { data: 'raw' } };
    }
    if (type.name === 'STRING') {
      if (t.stringCount !== numel) {
        throw new CheckpointError('bad-shape', `string_data holds ${t.stringCount} strings but dims [${shape.join(', ')}] need ${numel}`, where);
      }
      return { ...base, ...embedded, nbytes: t.stringBytes, dataOffset: null, storageNbytes: t.stringBytes, extra: { data: 'string_data' } };
    }
    if (t.typed) {
      const d = t.typed;
      const perElem = type.name === 'COMPLEX64' || type.name === 'COMPLEX128' ? 2 : 1;
      if (d.count !== null && d.count !== numel * perElem) {
        throw new CheckpointError('bad-shape', `${FIELD_NAMES[d.field]} holds ${d.count} values but dims [${shape.join(', ')}] of ${type.name} need ${numel * perElem}`, where);
      }
      // Packed little-endian floats/doubles are laid out like the tensor itself.
      const direct = d.packed && ((d.field === 4 && (type.name === 'FLOAT' || type.name === 'COMPLEX64')) || (d.field === 10 && (type.name === 'DOUBLE' || type.name === 'COMPLEX128')));
      return { ...base, ...embedded, nbytes: expected, dataOffset: direct ? d.pos : null, storageNbytes: expected, extra: { data: FIELD_NAMES[d.field] } };
    }
    if (numel !== 0) throw new CheckpointError('bad-shape', `holds no data for dims [${shape.join(', ')}] (${numel} elements)`, where);
    return { ...base, ...embedded, nbytes: 0, dataOffset: null, storageNbytes: 0 };
  }
}

const FIELD_NAMES: Record<number, string> = { 4: 'float_data', 5: 'int32_data', 7: 'int64_data', 10: 'double_data', 11: 'uint64_data' };

/**
 * torch.onnx.export names nodes after the module that made them (`/lm_head/MatMul`) and keeps one
 * initializer for a tied weight. An initializer named after one module (`transformer.wte.weight`)
 * and consumed by a node of another module (`/lm_head/Transpose`) is that module's tied weight:
 * declared as `lm_head.weight`, by the exporter's naming convention.
 */
const MAX_SCOPE_TIES = 4;

/**
 * The module path of an exporter scope. torch.onnx.export names each level by its attribute path
 * relative to the parent's parent, so indexed children repeat their container's name:
 * `features/features.1/block/block.1/fc2` is module `features.1.block.1.fc2`.
 */
export function scopePath(scope: string): string {
  const parts: string[] = [];
  let prev = '';
  for (const seg of scope.split('/')) {
    if (prev && seg.startsWith(prev + '.')) parts.push(seg.slice(prev.length + 1));
    else parts.push(seg);
    prev = seg;
  }
  return parts.join('.');
}

export function scopeTies(shared: Record<string, string[]>, names: Set<string>): DeclaredTie[] {
  const ties: DeclaredTie[] = [];
  const declared = new Set<string>();
  for (const [init, nodes] of Object.entries(shared)) {
    const dot = init.lastIndexOf('.');
    if (dot <= 0) continue;
    const owner = init.slice(0, dot);
    const leaf = init.slice(dot + 1);
    const found: DeclaredTie[] = [];
    const foundNames = new Set<string>();
    for (const node of nodes) {
      if (found.length > MAX_SCOPE_TIES) break;
      const m = /^\/(.+)\/[^/]+$/.exec(node);
      if (!m) continue;
      const scope = scopePath(m[1]);
      const related = (a: string) => a === owner || a.startsWith(owner + '.') || owner.startsWith(a + '.');
      // A module called twice gets scope `a_1` for its second call: still module `a`.
      if (related(scope) || related(scope.split('.').map((p) => p.replace(/_\d+$/, '')).join('.'))) continue;
      const name = `${scope}.${leaf}`;
      if (names.has(name) || declared.has(name) || foundNames.has(name)) continue;
      foundNames.add(name);
      found.push({ name, target: init, source: 'format', reason: `ONNX node ${node} (module ${scope}) uses initializer ${init}: torch.onnx.export keeps one initializer for tied weights` });
    }
    // A tie joins a handful of modules (embedding and head, encoder and decoder). A constant
    // consumed from dozens of scopes is shared input, not a tied weight.
    if (found.length > MAX_SCOPE_TIES) continue;
    for (const f of found) declared.add(f.name);
    ties.push(...found);
  }
  return ties;
}
