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
import { AttrValue, GraphIndex, GraphNode, HeldTensor, isDefaultDomain, isExporterName, isModelName, isStateDictPath, LAYER_ATTR_OPS, MAX_TARGET_CHECKS, needsOutputs, passesOn, readsAsWeight, scopePath, SubgraphInfo, Use } from './onnx-graph';
import { decideRole } from '../roles';
import type { DeclaredTie } from '../model';
import { ReaderContext, pathsOf, relativeName } from '../access';
import { CheckpointError } from '../errors';
import { truncate } from '../json';
import { RawCheckpoint, Role, TensorRecord, Warning } from '../model';
import { isFloating } from '../dtypes';
import { copyRecord } from '../tensor-record';
import type { ByteSource } from '../bytes';
import { asSigned, ChunkedReader, Field, readVarint, walkMessage, WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT } from './protobuf';

export { scopePath } from './onnx-graph';

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

/** Subgraph nesting (If/Loop/Scan bodies) we follow before giving up. */
export const MAX_GRAPH_DEPTH = 32;
/** Longest name (tensor, node, op type) we accept. */
const MAX_NAME = 1 << 20;
/** Longest metadata_props value kept in full. */
const MAX_PROP = 64 * 1024;
/** Longest list of graph inputs/outputs kept in the metadata. */
const MAX_IO_NAMES = 64;
/** Layer-op settings kept: string attributes up to this many bytes, ints lists up to this many values. */
const MAX_ATTR_STRING = 64;
const MAX_ATTR_INTS = 16;
const lenientText = new TextDecoder('utf-8');
/** The outputs of nodes whose outputs nothing follows (most of them). */
const NO_OUTPUTS: string[] = Object.freeze([]) as unknown as string[];

/** Read an ONNX file (onnx.ts's read(), loaded the first time an ONNX file is opened). */
export async function readOnnx(src: ByteSource, ctx: ReaderContext): Promise<RawCheckpoint> {
  const file = relativeName(ctx, ctx.path);
  const r = new ChunkedReader(src, file);
  const model = await new OnnxParser(r).parseModel();
  return resolveModel(model, r, ctx);
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

interface NodeInfo extends GraphNode {}

/** A Constant node's tensor, as the attribute holds it (never read: only where its bytes are). */
interface ConstantInfo {
  /** Index of the Constant node in ModelInfo.nodes. */
  node: number;
  /** The attribute: `value`, `value_float`, `value_floats` or `sparse_value`. */
  attr: string;
  tensor?: TensorInfo;
  sparse?: SparseInfo;
  /** value_float / value_floats: FLOAT values in the attribute itself. */
  floats?: { pos: number; count: number; packed: boolean; scalar: boolean };
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
  /** The main graph's inputs' tensor types, by input (element type and dims; a symbolic dim is its name). */
  inputTypes: Map<string, { elemType: number; dims: (number | string)[] }>;
  outputs: string[];
  subgraphs: number;
  /** Subgraphs by label: the node and attribute holding them and the graph that node is in. */
  graphs: Map<string, SubgraphInfo>;
  constants: { count: number; bytes: number };
  /** Constant nodes holding a floating-point or sparse tensor (candidate weights). */
  constantNodes: ConstantInfo[];
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
    inputTypes: new Map(),
    outputs: [],
    subgraphs: 0,
    graphs: new Map(),
    constants: { count: 0, bytes: 0 },
    constantNodes: [],
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
            let type: { elemType: number; dims: (number | string)[] } | undefined;
            await walkMessage(this.r, f.pos, f.pos + f.len, 'ValueInfoProto', async (g) => {
              if (g.no === 1) return this.take(g, 'ValueInfoProto', 'name', (s) => (name = s));
              if (g.no === 2 && f.no === 11 && g.wire === WIRE_LEN) type = await this.tensorType(g);
            });
            (f.no === 11 ? m.inputs : m.outputs).push(name);
            if (type && !m.inputTypes.has(name)) m.inputTypes.set(name, type);
          }
          break;
        default:
          break; // value_info, doc_string, quantization_annotation...
      }
    });
  }

  /**
   * A TypeProto's tensor type (tensor_type=1: elem_type=1, shape=2 of dim=1, each dim_value=1 or
   * dim_param=2), for a graph input: the weights of a model exported without them are inputs.
   */
  private async tensorType(f: Field): Promise<{ elemType: number; dims: (number | string)[] } | undefined> {
    let out: { elemType: number; dims: (number | string)[] } | undefined;
    await walkMessage(this.r, f.pos, f.pos + f.len, 'TypeProto', async (g) => {
      if (g.no !== 1 || g.wire !== WIRE_LEN) return; // sequence, map, optional types: not a tensor
      const t = { elemType: 0, dims: [] as (number | string)[] };
      out = t;
      await walkMessage(this.r, g.pos, g.pos + g.len, 'TypeProto.Tensor', async (h) => {
        if (h.no === 1 && h.wire === WIRE_VARINT) t.elemType = this.int(h, 'TypeProto.Tensor', 'elem_type');
        else if (h.no === 2 && h.wire === WIRE_LEN) {
          await walkMessage(this.r, h.pos, h.pos + h.len, 'TensorShapeProto', async (d) => {
            if (d.no !== 1 || d.wire !== WIRE_LEN || t.dims.length >= 64) return;
            let dim: number | string = '?';
            await walkMessage(this.r, d.pos, d.pos + d.len, 'TensorShapeProto.Dimension', async (e) => {
              if (e.no === 1 && e.wire === WIRE_VARINT) dim = this.int(e, 'TensorShapeProto.Dimension', 'dim_value');
              else if (e.no === 2) dim = truncate(await this.str(e, 'TensorShapeProto.Dimension', 'dim_param'), 64);
            });
            t.dims.push(dim);
          });
        }
      });
    });
    return out;
  }

  private async parseNode(f: Field, depth: number, graph: string): Promise<void> {
    const node: NodeInfo = { name: '', opType: '', domain: '', inputs: [], outputs: NO_OUTPUTS, graph };
    const msg = 'NodeProto';
    const attrs: Field[] = [];
    const outputs: Field[] = [];
    await walkMessage(this.r, f.pos, f.pos + f.len, msg, (g) => {
      switch (g.no) {
        case 1:
          return this.take(g, msg, 'input', (s) => node.inputs.push(s));
        case 2:
          this.expect(g, WIRE_LEN, msg, 'output');
          outputs.push(g);
          return;
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
          return; // doc_string, overload, metadata_props...
      }
    });
    // Output names only where the graph analysis follows them (see needsOutputs).
    if (outputs.length && needsOutputs(node.opType)) {
      node.outputs = [];
      for (const g of outputs) await this.take(g, msg, 'output', (s) => node.outputs.push(s));
    }
    const index = this.model.nodes.length;
    this.model.nodes.push(node);
    // Attributes after the node is known, so subgraphs can be labelled with it.
    for (const a of attrs) await this.parseAttribute(a, depth, node, index);
  }

  /**
   * One attribute: subgraphs are walked, tensors located (Constant nodes keep theirs as candidate
   * weights), and the scalar settings of layer ops (kernel_shape, transB, epsilon...) kept.
   */
  private async parseAttribute(f: Field, depth: number, node: NodeInfo, index: number): Promise<void> {
    const owner = nodeLabel(node, index);
    const msg = `AttributeProto of ${owner}`;
    const keep = LAYER_ATTR_OPS.has(node.opType);
    const constant = node.opType === 'Constant' && isDefaultDomain(node.domain);
    let attrName = '';
    let value: AttrValue | undefined;
    let ints: number[] | undefined;
    let tensor: TensorInfo | undefined;
    let sparse: SparseInfo | undefined;
    let floats: ConstantInfo['floats'];
    const addFloats = (g: Field, count: number, packed: boolean, scalar: boolean) => {
      if (!floats) floats = { pos: g.pos, count, packed, scalar };
      else {
        floats.count += count;
        floats.packed = false; // several runs: not one contiguous block
      }
    };
    await walkMessage(this.r, f.pos, f.pos + f.len, msg, async (g) => {
      switch (g.no) {
        case 1:
          await this.take(g, msg, 'name', (s) => (attrName = s));
          break;
        case 2: // f
          if (g.wire !== WIRE_I32) break;
          if (keep) {
            const b = await this.r.view(g.pos, 4, `${msg} f`);
            value = new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
          }
          if (constant) addFloats(g, 1, true, true);
          break;
        case 3: // i
          if (keep && g.wire === WIRE_VARINT) {
            const v = asSigned(g.value);
            if (typeof v === 'number') value = v;
          }
          break;
        case 4: // s
          if (keep && g.wire === WIRE_LEN && g.len <= MAX_ATTR_STRING) {
            value = lenientText.decode(await this.r.view(g.pos, g.len, `${msg} s`));
          }
          break;
        case 7: // floats
          if (!constant) break;
          if (g.wire === WIRE_LEN) {
            if (g.len % 4 !== 0) this.fail('bad-header', `${msg}: packed floats hold ${g.len} bytes, not a multiple of 4`, g.at);
            addFloats(g, g.len / 4, true, false);
          } else if (g.wire === WIRE_I32) addFloats(g, 1, false, false);
          break;
        case 8: // ints
          if (keep) ints = await this.ints(g, msg, ints ?? []);
          break;
        case 5:
        case 10: {
          this.expect(g, WIRE_LEN, msg, g.no === 5 ? 't' : 'tensors');
          const t = await this.parseTensor(g, 'constant');
          this.model.constants.count++;
          const type = ONNX_TYPES.get(t.dataType);
          const n = numelOf(t.dims);
          if (type && n !== null) this.model.constants.bytes += type.name === 'STRING' ? t.stringBytes : Math.ceil((n * type.bits) / 8);
          if (g.no === 5) tensor = t;
          break;
        }
        case 22: // sparse_tensor
          if (constant && g.wire === WIRE_LEN) sparse = await this.parseSparse(g);
          break;
        case 6:
        case 11: {
          this.expect(g, WIRE_LEN, msg, g.no === 6 ? 'g' : 'graphs');
          this.model.subgraphs++;
          const label = `${owner}.${attrName || 'attribute'}`;
          if (!this.model.graphs.has(label)) this.model.graphs.set(label, { node: index, attr: attrName || 'attribute', parent: node.graph });
          await this.parseGraph(g.pos, g.pos + g.len, depth + 1, label);
          break;
        }
        default:
          break; // type protos, strings, sparse tensor lists
      }
    });
    if (keep && attrName) {
      const v = ints ?? value;
      if (v !== undefined) (node.attrs ??= Object.create(null) as Record<string, AttrValue>)[attrName] = v;
    }
    if (constant) {
      const c: ConstantInfo = { node: index, attr: attrName };
      if (attrName === 'value' && tensor) c.tensor = tensor;
      else if ((attrName === 'value_float' || attrName === 'value_floats') && floats) c.floats = floats;
      else if (attrName === 'sparse_value' && sparse) c.sparse = sparse;
      else return;
      const type = c.tensor ? ONNX_TYPES.get(c.tensor.dataType) : c.sparse?.values ? ONNX_TYPES.get(c.sparse.values.dataType) : ONNX_TYPES.get(1);
      // Integer, bool and string constants are shapes, axes, indices and flags: never weights.
      if (type && isFloating(type.dtype)) this.model.constantNodes.push(c);
    }
  }

  /** The first MAX_ATTR_INTS values of an ints attribute (packed or not), appended to `out`. */
  private async ints(g: Field, msg: string, out: number[]): Promise<number[]> {
    const push = (v: number | bigint) => {
      const s = asSigned(v);
      if (out.length < MAX_ATTR_INTS) out.push(typeof s === 'number' ? s : Number(s));
    };
    if (g.wire === WIRE_VARINT) push(g.value);
    else if (g.wire === WIRE_LEN) {
      let p = g.pos;
      const end = g.pos + g.len;
      while (p < end && out.length < MAX_ATTR_INTS) {
        const v = await readVarint(this.r, p, end, `${msg} ints`);
        push(v.value);
        p += v.len;
      }
    }
    return out;
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

/**
 * From the parsed protobuf to what the file holds, in steps: the tensors (initializers, sparse
 * initializers, weights held in Constant nodes, names the exporter forwards through Identity
 * nodes), how the graph uses them (names, roles and layer types from the nodes that consume
 * them), and the graph's facts for the metadata.
 */
async function resolveModel(m: ModelInfo, r: ChunkedReader, ctx: ReaderContext): Promise<RawCheckpoint> {
  const file = r.file;
  const records = new TensorRecords(file, ctx);
  const consumers = initializerConsumers(m);
  const { tensors: initRecords, segments } = await collectInitializers(m, records);
  const warnings: Warning[] = [];
  if (segments) warnings.push({ code: 'onnx-segment', message: `${segments} initializer(s) are segments of a larger tensor (TensorProto.segment); shown as stored` });
  const shared = sharedInitializers(initRecords, consumers.byName);
  const graph = await heldTensors(m, records, initRecords);
  const names = nameHeld(graph, m);
  const tensors = finalRecords(graph, names, m);
  const final = new Set(tensors.map((t) => t.name));
  const sharedByName: Record<string, string[]> = Object.create(null);
  for (const h of graph.held.values()) if (h.kind === 'initializer' && shared[h.value]) sharedByName[names.get(h)!.name] = shared[h.value];
  warnings.push(...graphWarnings(graph, names));
  const extFiles = [...records.extFiles.values()];
  const onnx = graphMetadata(m, consumers.initNames, extFiles, shared);
  const held = [...graph.held.values()];
  const constants = held.filter((h) => h.kind === 'constant');
  if (constants.length) onnx.constantWeights = { count: constants.length, elements: constants.reduce((s, h) => s + (numelOf(h.record.shape) ?? 0), 0) };
  const copies = held.filter((h) => h.kind === 'copy').length;
  if (copies) onnx.deduplicatedNames = copies;
  const placed = held.filter((h) => names.get(h)!.placed).length;
  if (placed) onnx.placedTensors = placed;
  const inputs = weightInputs(m, consumers.initNames);
  if (inputs.length) {
    onnx.weightInputs = inputs.slice(0, MAX_IO_NAMES).map((x) => ({ name: x.name, dtype: x.dtype, shape: x.shape }));
    warnings.push(weightInputsWarning(inputs));
  }
  return {
    format: 'onnx',
    path: ctx.path,
    files: [file, ...extFiles.map((e) => e.rel)],
    tensors,
    declaredTies: scopeTies(sharedByName, final),
    metadata: { onnx },
    warnings,
    bytesRead: r.src.bytesRead,
    totalBytes: r.size + extFiles.reduce((s, e) => s + e.size, 0),
    layers: graph.layers(
      (h) => names.get(h)?.name,
      (h) => names.get(h)?.made ?? false,
    ),
  };
}

/**
 * Everything the graph holds, indexed by the value carrying it, with its uses by layer ops:
 *
 * - initializers;
 * - Constant nodes holding a floating-point tensor, when it is a weight: it fills a weight slot of
 *   a layer op (Conv's bias, Gemm's C, a norm's scale: any size), or it holds more than one
 *   element and is not only a setting (Resize's scales, Pow's exponent) or a recurrent op's state
 *   (torch's zero initial_h and initial_c, expanded to the batch). A one-element float
 *   elsewhere is a literal of the forward code (an epsilon, 1/√d); integer and bool constants are
 *   shapes, axes and indices and never weights (the parser keeps only floating-point ones).
 *   The ones and zeros torch.onnx.export makes up for a norm's scale and bias (a norm without
 *   affine, a GroupNorm's InstanceNormalization) are not weights either: torch names such a
 *   Constant in the module's scope, and never writes a parameter as one (see normFiller);
 * - copies the exporter forwards through Identity nodes when it stores one copy of equal tensors:
 *   torch.onnx.export's deduplication keeps the removed tensor's name as the Identity's output, or,
 *   after constant folding, a name of its own (see forkingIdentities).
 */
async function heldTensors(m: ModelInfo, records: TensorRecords, initRecords: TensorRecord[]): Promise<GraphIndex> {
  const graph = new GraphIndex(m.nodes);
  const initGraph = new Map<string, string>();
  for (const { info, graph: g } of m.initializers) initGraph.set(info.name, g);
  for (const { info, graph: g } of m.sparse) if (info.values) initGraph.set(info.values.name, g);
  for (const rec of initRecords) graph.add({ value: rec.name, kind: 'initializer', record: rec, graph: initGraph.get(rec.name) ?? '' });

  const storages = new Set(initRecords.map((t) => t.storage));
  const constants: HeldTensor[] = [];
  for (const c of m.constantNodes) {
    const node = m.nodes[c.node];
    const value = node.outputs[0];
    if (!value || graph.held.has(value)) continue;
    const rec = await constantRecord(c, node, records);
    // Unique storage ids: a Constant's bytes are its own, wherever its output name repeats.
    let storage = `${records.file}:${value}`;
    for (let k = 2; storages.has(storage); k++) storage = `${records.file}:${value}#${k}`;
    storages.add(storage);
    rec.storage = storage;
    const h: HeldTensor = { value, kind: 'constant', record: rec, graph: node.graph, node: c.node, tensorName: c.tensor?.name ?? c.sparse?.values?.name };
    graph.add(h);
    constants.push(h);
  }

  // Identity nodes forwarding a held tensor as another tensor of the model: the exporter's deduplication.
  const forks = forkingIdentities(m);
  graph.index((i, source) => {
    const n = m.nodes[i];
    const out = n.outputs[0];
    if (!isStateDictPath(out) && !forks.has(i)) return undefined;
    const rec: TensorRecord = { ...source.record, name: out, shape: source.record.shape.slice(), extra: { ...source.record.extra } };
    return { value: out, kind: 'copy', record: rec, graph: n.graph, node: i, source };
  });
  const copiesOf = new Map<HeldTensor, HeldTensor[]>();
  for (const x of graph.held.values()) {
    if (!x.source) continue;
    const list = copiesOf.get(x.source);
    if (list) list.push(x);
    else copiesOf.set(x.source, [x]);
  }
  for (const h of constants) {
    const copies = copiesOf.get(h) ?? [];
    if (graph.normFiller(h)) {
      graph.dropFiller(h);
      for (const x of copies) graph.remove(x);
      continue;
    }
    const used = graph.uses.has(h) || copies.some((x) => graph.uses.has(x));
    const many = (numelOf(h.record.shape) ?? 0) >= 2;
    if (used || (many && !graph.onlySettingsOrState(h.value) && !copies.some((x) => graph.onlySettingsOrState(x.value)))) continue;
    graph.remove(h);
    for (const x of copies) graph.remove(x);
  }
  return graph;
}

/**
 * Identity nodes (default domain) whose output is a second tensor equal to their input, though the
 * exporter named it (`onnx::MatMul_12`): torch.onnx.export stores one copy of equal tensors (clones
 * of one layer before training, zero-initialised LoRA B) and forwards it through an Identity to each
 * other consumer, constant folding having renamed both. An Identity is such a fork when its output
 * has a name an exporter made, nodes read it, and its input is read elsewhere too: by another node,
 * or by an earlier such Identity that carries it on. The first Identity of an input nothing else
 * reads is the tensor itself passed on (a rename), not a copy; an output named otherwise (`tmp`)
 * says nothing of a copy. Identities forwarding under a state_dict() name are copies whatever else
 * reads their input (see heldTensors).
 */
function forkingIdentities(m: ModelInfo): Set<number> {
  const isIdentity = (n: NodeInfo) => n.opType === 'Identity' && isDefaultDomain(n.domain);
  // Inputs of Identity nodes, with those nodes in order; and their outputs, to learn which are read.
  const byInput = new Map<string, { direct: boolean; nodes: number[] }>();
  const read = new Map<string, boolean>();
  m.nodes.forEach((n, i) => {
    if (!isIdentity(n) || !n.inputs[0] || !n.outputs[0]) return;
    const e = byInput.get(n.inputs[0]);
    if (e) e.nodes.push(i);
    else byInput.set(n.inputs[0], { direct: false, nodes: [i] });
    read.set(n.outputs[0], false);
  });
  const forks = new Set<number>();
  if (!byInput.size) return forks;
  m.nodes.forEach((n) => {
    const identity = isIdentity(n);
    for (const v of n.inputs) {
      if (read.has(v)) read.set(v, true);
      const e = identity ? undefined : byInput.get(v);
      if (e) e.direct = true;
    }
  });
  for (const e of byInput.values()) {
    // Identities whose output nodes read and that forward under a name the exporter made.
    const live = e.nodes.filter((i) => read.get(m.nodes[i].outputs[0]) && isExporterName(m.nodes[i].outputs[0]));
    // Without another reader of the input, the first of them carries the tensor itself on.
    for (const i of e.direct ? live : live.slice(1)) forks.add(i);
  }
  return forks;
}

/** A Constant's tensor as a record: the attribute's bytes are located, never read. */
async function constantRecord(c: ConstantInfo, node: NodeInfo, records: TensorRecords): Promise<TensorRecord> {
  const value = node.outputs[0];
  let rec: TensorRecord;
  if (c.tensor) rec = await records.tensor(c.tensor, `Constant "${truncate(value)}" value`);
  else if (c.sparse) rec = await records.sparse(c.sparse);
  else {
    const f = c.floats!;
    const nbytes = f.count * 4;
    rec = {
      name: value,
      dtype: 'float32',
      formatDtype: 'FLOAT',
      shape: f.scalar ? [] : [f.count],
      nbytes,
      file: records.file,
      dataOffset: f.packed ? f.pos : null,
      storage: null,
      storageOffset: 0,
      strides: null,
      storageNbytes: nbytes,
      extra: { data: c.attr },
    };
  }
  rec.name = value;
  return rec;
}

interface HeldName {
  name: string;
  /** Named by the nodes using it rather than by the file. */
  placed: boolean;
  /** Placed because the exporter made its name up or left it empty (not the model's own tensor name): constant folding may have transformed it. */
  made: boolean;
  how?: string;
}

/**
 * The name each held tensor is shown under. A name the model gave (`encoder.0.weight`, `cls_token`)
 * is kept: a Constant's own tensor name, the initializer's (unless it is only the name of the
 * module using it: `c_attn` used by /h.0/attn/c_attn/Gemm); a dotted state_dict() path on an
 * Identity's or a Constant's output. What an exporter made up (`onnx::MatMul_335`,
 * `/Constant_output_0`, `Constant_7_output`) or left empty is placed
 * by the nodes using it (GraphIndex.placement), a deduplicated copy too (it is stored as its source is). Two tensors of different subgraphs with one name
 * (two models in the branches of an If) get their branch as a prefix; other clashes a suffix.
 */
function nameHeld(graph: GraphIndex, m: ModelInfo): Map<HeldTensor, HeldName> {
  const names = new Map<HeldTensor, HeldName>();
  for (const h of graph.held.values()) {
    // A Constant's own tensor name before its output's (a graph value, often prefixed by an inliner).
    if (h.kind === 'constant' && isModelName(h.tensorName)) names.set(h, { name: h.tensorName, placed: false, made: false, how: 'the name the Constant gives its tensor' });
    else if (h.kind === 'initializer' ? isModelName(h.value) && !graph.namesItsModule(h) : isStateDictPath(h.value)) names.set(h, { name: h.value, placed: false, made: false });
    else {
      const p = graph.placement(h);
      // A copy is stored as its source is (folded and transposed with it, or the model's own layout).
      const made = h.source ? (names.get(h.source)?.made ?? true) : !(h.kind === 'initializer' && isModelName(h.value));
      names.set(h, p ? { name: p.name, placed: true, made, how: p.how } : { name: h.value || `constant_${h.node}`, placed: false, made: false });
    }
  }
  const groups = (): Map<string, HeldTensor[]> => {
    const by = new Map<string, HeldTensor[]>();
    for (const [h, n] of names) {
      const list = by.get(n.name);
      if (list) list.push(h);
      else by.set(n.name, [h]);
    }
    return by;
  };
  for (const list of groups().values()) {
    if (list.length < 2) continue;
    for (const h of list) {
      const q = h.graph ? branchOf(m, h.graph) : '';
      if (q) names.get(h)!.name = `${q}.${names.get(h)!.name}`;
    }
  }
  const taken = new Set<string>();
  for (const list of groups().values()) {
    // The file's own names keep theirs; placed ones give way.
    list.sort((a, b) => Number(names.get(a)!.placed) - Number(names.get(b)!.placed));
    taken.add(names.get(list[0])!.name);
  }
  // Numbered from where the last clash of that name stopped: thousands of one name stay linear.
  const next = new Map<string, number>();
  for (const list of groups().values()) {
    for (const h of list.slice(1)) {
      const n = names.get(h)!;
      let k = next.get(n.name) ?? 2;
      while (taken.has(`${n.name}_${k}`)) k++;
      next.set(n.name, k + 1);
      n.name = `${n.name}_${k}`;
      taken.add(n.name);
    }
  }
  return names;
}

/** The outermost subgraph holding a graph, as a module path: `If_0.then_branch`. */
function branchOf(m: ModelInfo, label: string): string {
  let info = m.graphs.get(label);
  for (let i = 0; info && info.parent !== '' && i <= MAX_GRAPH_DEPTH; i++) info = m.graphs.get(info.parent);
  if (!info) return '';
  const n = m.nodes[info.node];
  return `${(n.name || `${n.opType}_${info.node}`).replace(/[./]/g, '_')}.${info.attr.replace(/\./g, '_')}`;
}

/**
 * The records as the checkpoint lists them: initializers (file order), then Constant weights
 * (node order), with forwarded names placed before the first tensor used after them. Names,
 * roles and the facts behind them (original ONNX name, Constant node, transposed layout).
 */
function finalRecords(graph: GraphIndex, names: Map<HeldTensor, HeldName>, m: ModelInfo): TensorRecord[] {
  const firstUse = (h: HeldTensor) => graph.firstConsumer(h.value);
  const held = [...graph.held.values()];
  const base = held.filter((h) => h.kind !== 'copy');
  const copies = held.filter((h) => h.kind === 'copy').map((h) => ({ h, at: firstUse(h) }));
  copies.sort((a, b) => a.at - b.at);
  const order: HeldTensor[] = [];
  const baseAt = base.map(firstUse);
  let c = 0;
  base.forEach((h, i) => {
    while (c < copies.length && copies[c].at < baseAt[i] && baseAt[i] !== Infinity) order.push(copies[c++].h);
    order.push(h);
  });
  while (c < copies.length) order.push(copies[c++].h);

  return order.map((h) => {
    const n = names.get(h)!;
    const rec = h.record;
    const extra: Record<string, string | number | boolean> = { ...rec.extra };
    if (n.name !== h.value) extra.onnxName = h.value;
    if (n.how) extra.placement = n.how;
    if (h.graph && extra.subgraph === undefined) extra.subgraph = h.graph;
    if (h.kind !== 'initializer') extra.consumers = graph.directConsumers(h.value).length;
    const uses = graph.uses.get(h) ?? [];
    const label = h.node !== undefined ? nodeLabel(m.nodes[h.node], h.node) : '';
    if (h.kind === 'constant') extra.constantNode = label;
    if (h.source) extra.deduplicatedFrom = names.get(h.source)!.name;
    // Stored [in, out] for a matrix product by the exporter (constant folding of weight.T).
    const mm = uses.find((u) => ['MatMul', 'Gemm'].includes(graph.nodes[u.node].opType) && u.role === 'weight' && u.slot === 1);
    if (mm && n.made && !mm.transposed && !(graph.nodes[mm.node].opType === 'Gemm' && graph.nodes[mm.node].attrs?.transB)) extra.transposed = true;
    const out = copyRecord(rec);
    out.name = n.name;
    out.extra = extra;
    const role = roleOf(out, h, uses, graph, n, label, names);
    if (role) {
      out.role = role.role;
      out.roleReason = role.reason;
    }
    return out;
  });
}

/**
 * Roles the graph decides: running statistics by the BatchNormalization slot that reads them; a
 * one-element tensor the exporter made and no layer uses as a weight is a folded literal or buffer
 * (masked_bias, a scale); Constant weights and forwarded names say where they come from. Other
 * initializers are left to the name and dtype rules (roles.ts).
 */
function roleOf(
  t: TensorRecord,
  h: HeldTensor,
  uses: Use[],
  graph: GraphIndex,
  n: HeldName,
  label: string,
  names: Map<HeldTensor, HeldName>,
): { role: Role; reason: string } | undefined {
  const stat = uses.find((u) => u.role === 'running_mean' || u.role === 'running_var');
  const base = decideRole(t);
  let decided: { role: Role; reason: string } | undefined;
  if (stat) decided = { role: 'buffer', reason: `BatchNormalization ${stat.role} (input ${stat.slot} of ONNX node ${graph.nodes[stat.node].name || `#${stat.node}`})` };
  else if ((n.made || !isModelName(h.value)) && (numelOf(t.shape) ?? 0) <= 1 && uses.length === 0 && base.role === 'parameter') {
    decided = { role: 'buffer', reason: `a one-element constant the exporter made (${h.value}) that no layer uses as a weight: a literal or buffer of the forward pass, not a parameter` };
  }
  if (h.kind === 'constant') {
    const d = decided ?? base;
    return { role: d.role, reason: `${d.reason}; held in Constant node ${label} (no initializer)` };
  }
  if (h.kind === 'copy') {
    const d = decided ?? base;
    const how = n.placed ? `as ${h.value}, placed by the nodes using it` : 'under this name';
    return { role: d.role, reason: `${d.reason}; the exporter stored one copy of equal tensors: Identity node ${label} forwards ${names.get(h.source!)!.name} ${how}` };
  }
  return decided;
}

/** Possible folded ties worth a warning each (an embedding and its head; encoder and decoder). */
const MAX_TIE_WARNINGS = 4;

/** What the reader should say about how the graph keeps its weights. */
function graphWarnings(graph: GraphIndex, names: Map<HeldTensor, HeldName>): Warning[] {
  const warnings: Warning[] = [];
  const held = [...graph.held.values()];
  const weight = (h: HeldTensor) => isFloating(h.record.dtype);
  const constants = held.filter((h) => h.kind === 'constant');
  if (constants.length && !held.some((h) => h.kind === 'initializer' && weight(h))) {
    const elements = constants.reduce((s, h) => s + (numelOf(h.record.shape) ?? 0), 0);
    warnings.push({
      code: 'onnx-constant-weights',
      message: `the graph keeps its weights in ${constants.length} Constant node${constants.length === 1 ? '' : 's'} (${elements.toLocaleString('en-US')} elements) and no initializers: counted as weights and placed by the nodes that use them`,
    });
  }
  const placed = held.filter((h) => h.kind !== 'constant' && names.get(h)!.made && names.get(h)!.placed && graph.uses.has(h));
  if (placed.length) {
    const examples = placed.slice(0, 3).map((h) => `${h.value} → ${names.get(h)!.name}`).join(', ');
    warnings.push({
      code: 'onnx-exporter-names',
      message: `${placed.length} weight${placed.length === 1 ? ' was' : 's were'} named by the exporter (${examples}${placed.length > 3 ? ', …' : ''}): placed under the modules whose nodes use them; constant folding may store a weight transposed or merge tensors (a BatchNorm folded into a convolution), so counts follow the graph`,
    });
  }
  // A weight the exporter stored once for several uses, under names it made (constant folding: each
  // use's weight.T folded anew, equal results deduplicated): torch.onnx.export deduplicates one
  // tensor tied to two layers (b.weight = a.weight) and two tensors that merely hold equal values
  // (copies of one layer, zero-initialised branches) alike. A copy under a state_dict() name is a
  // tensor of its own; one used by a second call of the same module is merged (GraphIndex.repeatedCalls).
  const forks = held.filter((h) => h.kind === 'copy' && h.source && !isStateDictPath(h.value) && weight(h) && (numelOf(h.record.shape) ?? 0) >= 2 && graph.uses.has(h));
  forks.sort((a, b) => (names.get(a)!.name < names.get(b)!.name ? -1 : 1));
  if (forks.length) {
    const elements = forks.reduce((s, h) => s + (numelOf(h.record.shape) ?? 0), 0).toLocaleString('en-US');
    const copyOf = (h: HeldTensor) => `${names.get(h)!.name} of ${names.get(h.source!)!.name}`;
    const what =
      forks.length === 1
        ? `${names.get(forks[0])!.name} is stored as a copy of ${names.get(forks[0].source!)!.name} (one initializer forwarded through an Identity node)`
        : `${forks.length} weights are stored as copies (${forks.slice(0, 3).map(copyOf).join(', ')}${forks.length > 3 ? ', …' : ''}; one initializer forwarded through Identity nodes)`;
    warnings.push({
      code: 'onnx-possible-tie',
      message: `${what}: torch.onnx.export stores one copy both of a weight the model ties to two layers and of weights that only hold equal values (copies of one layer, zero-initialised); counted as tensors of their own; if the model ties them, PyTorch counts ${elements} fewer parameters; the file cannot say`,
    });
  }
  if (graph.unsettledCopies) {
    warnings.push({
      code: 'onnx-graph-limit',
      message: `${graph.unsettledCopies} cop${graph.unsettledCopies === 1 ? 'y' : 'ies'} of a weight read by a module's repeated calls (scopes like fc_1) were left as tensors of their own: the look for the tensor each one repeats stopped after ${MAX_TARGET_CHECKS} candidates`,
    });
  }
  // A weight the exporter made with the shape of an embedding table (or its transpose): tied or not, the file cannot tell.
  const tables = new Map<string, HeldTensor>();
  for (const h of held) {
    if (h.record.shape.length !== 2 || names.get(h)!.made || !(graph.uses.get(h) ?? []).some((u) => graph.nodes[u.node].opType === 'Gather')) continue;
    const key = h.record.shape.join('x');
    if (!tables.has(key)) tables.set(key, h);
  }
  let ties = 0;
  for (const h of held) {
    const n = names.get(h)!;
    if (ties === MAX_TIE_WARNINGS) break;
    if (!n.made || h.record.shape.length !== 2 || !(graph.uses.get(h) ?? []).some((u) => u.role === 'weight')) continue;
    const [a, b] = h.record.shape;
    const e = tables.get(`${b}x${a}`) ?? tables.get(`${a}x${b}`);
    if (!e) continue;
    const count = (a * b).toLocaleString('en-US');
    ties++;
    warnings.push({
      code: 'onnx-possible-tie',
      message: `${n.name} (${h.value}) is a tensor the exporter made with the shape of ${names.get(e)!.name}${e.record.shape[0] === b ? ' transposed' : ''}: if the model ties them (tie_word_embeddings), PyTorch counts ${count} fewer parameters; the file stores both and cannot say`,
    });
  }
  return warnings;
}

/**
 * Graph inputs (not initializers) that are weights: floating point, every dimension fixed, and
 * read by a layer op as its weight (directly or through Identity, Transpose, Cast...), or named by
 * a state_dict() path (a decomposed norm's scale, a bias added after a MatMul). torch's own names
 * for data inputs (`input.1`, `x.3`) end in a number: a parameter's name never does (but an
 * nn.ParameterList entry's: such an input counts only by its use). torch.onnx.export with
 * export_params=False writes every parameter so: the file has their names and shapes, not their values.
 */
function weightInputs(m: ModelInfo, initNames: Set<string>): { name: string; dtype: string; shape: number[]; numel: number }[] {
  const candidates = new Map<string, { name: string; dtype: string; shape: number[]; numel: number }>();
  for (const name of m.inputs) {
    const type = m.inputTypes.get(name);
    const dtype = type && ONNX_TYPES.get(type.elemType)?.dtype;
    if (initNames.has(name) || candidates.has(name) || !dtype || !isFloating(dtype) || !type.dims.every((d) => typeof d === 'number')) continue;
    const shape = type.dims as number[];
    const numel = numelOf(shape);
    if (numel !== null) candidates.set(name, { name, dtype, shape, numel });
  }
  if (!candidates.size) return [];
  // Values carrying a candidate on through pass-through ops, and which candidates a layer reads as its weight.
  const carried = new Map<string, string>();
  for (const name of candidates.keys()) carried.set(name, name);
  const weights = new Set<string>();
  for (const n of m.nodes) {
    n.inputs.forEach((v, slot) => {
      const c = carried.get(v);
      if (c === undefined) return;
      if (readsAsWeight(n, slot)) weights.add(c);
      else if (passesOn(n, slot) && n.outputs[0]) carried.set(n.outputs[0], c);
    });
  }
  const named = (s: string) => isStateDictPath(s) && !/\.\d+$/.test(s);
  return [...candidates.values()].filter((x) => weights.has(x.name) || named(x.name));
}

function weightInputsWarning(inputs: { name: string; shape: number[]; numel: number }[]): Warning {
  const elements = inputs.reduce((s, x) => s + x.numel, 0);
  const examples = inputs.slice(0, 3).map((x) => `${x.name} [${x.shape.join(', ')}]`).join(', ');
  const many = inputs.length !== 1;
  return {
    code: 'onnx-weights-not-stored',
    message: `${inputs.length} graph input${many ? 's are weights' : ' is a weight'} the file does not hold (${examples}${inputs.length > 3 ? ', …' : ''}; ${elements.toLocaleString('en-US')} elements): the model was exported without ${many ? 'their values' : 'its values'} (torch.onnx.export with export_params=False) and is fed them at run time; they are not counted`,
  };
}

/** Nodes (in any graph) naming an initializer among their inputs, by initializer name. */
function initializerConsumers(m: ModelInfo): { byName: Map<string, string[]>; initNames: Set<string> } {
  const byName = new Map<string, string[]>();
  const initNames = new Set<string>();
  for (const { info } of m.initializers) initNames.add(info.name);
  for (const { info } of m.sparse) if (info.values) initNames.add(info.values.name);
  m.nodes.forEach((n, i) => {
    const seen = new Set<string>();
    for (const input of n.inputs) {
      if (input === '' || seen.has(input) || !initNames.has(input)) continue;
      seen.add(input);
      const list = byName.get(input);
      const label = nodeLabel(n, i);
      if (list) list.push(label);
      else byName.set(input, [label]);
    }
  });
  return { byName, initNames };
}

/**
 * Initializer and sparse initializer records: main-graph initializers first, then those of
 * subgraphs (If/Loop bodies), each in file order, then the sparse ones. Names must be unique.
 */
async function collectInitializers(m: ModelInfo, records: TensorRecords): Promise<{ tensors: TensorRecord[]; segments: number }> {
  const file = records.file;
  const tensors: TensorRecord[] = [];
  const byName = new Set<string>();
  const add = (t: TensorRecord, at: number) => {
    if (byName.has(t.name)) {
      throw new CheckpointError('duplicate-key', 'two initializers have this name', { file, offset: at, record: `initializer "${truncate(t.name)}"` });
    }
    byName.add(t.name);
    tensors.push(t);
  };
  let segments = 0;
  const ordered = [...m.initializers.filter((x) => !x.graph), ...m.initializers.filter((x) => x.graph)];
  for (const { info, graph } of ordered) {
    const rec = await records.tensor(info, 'initializer');
    if (graph) rec.extra = { ...rec.extra, subgraph: graph };
    if (info.segment) segments++;
    add(rec, info.at);
  }
  for (const { info, graph } of m.sparse) {
    const rec = await records.sparse(info);
    if (graph) rec.extra = { ...rec.extra, subgraph: graph };
    add(rec, info.at);
  }
  return { tensors, segments };
}

/** Weight sharing in the graph: one floating-point initializer feeding several nodes. Also notes each tensor's consumer count. */
function sharedInitializers(tensors: TensorRecord[], consumers: Map<string, string[]>): Record<string, string[]> {
  const shared: Record<string, string[]> = Object.create(null);
  for (const t of tensors) {
    const c = consumers.get(t.name) ?? [];
    t.extra = { ...t.extra, consumers: c.length };
    if (c.length >= 2 && isFloating(t.dtype) && (numelOf(t.shape) ?? 0) >= 2) shared[t.name] = c;
  }
  return shared;
}

/** Op types by count (most used first), with their domain when it is not the default one. */
function sortedOpTypes(nodes: NodeInfo[]): Record<string, number> {
  const opTypes: Record<string, number> = Object.create(null);
  for (const n of nodes) {
    const k = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType;
    opTypes[k] = (opTypes[k] ?? 0) + 1;
  }
  const sortedOps: Record<string, number> = Object.create(null);
  for (const [k, v] of Object.entries(opTypes).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))) sortedOps[k] = v;
  return sortedOps;
}

/** The model's and graph's facts, as `metadata.onnx`. */
function graphMetadata(
  m: ModelInfo,
  initNames: Set<string>,
  extFiles: { rel: string; size: number }[],
  shared: Record<string, string[]>,
): Record<string, unknown> {
  const onnx: Record<string, unknown> = {
    irVersion: m.irVersion ?? null,
    producerName: m.producerName ?? '',
    producerVersion: m.producerVersion ?? '',
    opsetImport: m.opsets.map((o) => ({ domain: o.domain || 'ai.onnx', version: o.version })),
    graphName: m.graphName ?? '',
    nodeCount: m.nodes.length,
    opTypes: sortedOpTypes(m.nodes),
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
  if (extFiles.length) onnx.externalDataFiles = extFiles.map((e) => e.rel);
  if (Object.keys(shared).length) onnx.sharedInitializers = shared;
  return onnx;
}

/**
 * TensorProto → TensorRecord: dtype, shape and where the bytes are (raw_data, a typed data field,
 * or an external file checked by stat() only). External files are remembered for the file list.
 */
class TensorRecords {
  readonly extFiles = new Map<string, { rel: string; size: number }>();
  private readonly dir: string;

  constructor(
    readonly file: string,
    private readonly ctx: ReaderContext,
  ) {
    this.dir = pathsOf(ctx.access).dirname(ctx.path);
  }

  async sparse(info: SparseInfo): Promise<TensorRecord> {
    const where = { file: this.file, offset: info.at, record: 'sparse_initializer' };
    if (!info.values) throw new CheckpointError('bad-header', 'sparse initializer has no values tensor', where);
    const values = await this.tensor(info.values, 'sparse values');
    const indices = info.indices ? await this.tensor(info.indices, 'sparse indices') : undefined;
    const dense = numelOf(info.dims);
    if (dense === null) throw new CheckpointError('bad-shape', `dims [${info.dims.join(', ')}] have too many elements`, { ...where, record: `sparse_initializer "${truncate(values.name)}"` });
    const nnz = numelOf(values.shape) ?? 0;
    return {
      ...values,
      shape: info.dims,
      nbytes: values.nbytes + (indices?.nbytes ?? 0),
      extra: { ...values.extra, sparse: true, nnz },
    };
  }

  async tensor(t: TensorInfo, kind: string): Promise<TensorRecord> {
    const file = this.file;
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

    if (t.dataLocation === 1 || t.external.length) return this.external(t, type, expected, base, record);

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

  /** A tensor whose bytes are in a file beside the model: the path is checked, the file stat()ed. */
  private async external(
    t: TensorInfo,
    type: OnnxType,
    expected: number,
    base: Pick<TensorRecord, 'name' | 'dtype' | 'formatDtype' | 'shape' | 'strides' | 'storageOffset'>,
    record: string,
  ): Promise<TensorRecord> {
    const file = this.file;
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
      throw new CheckpointError('bad-offsets', `external_data length ${length} does not match dims [${base.shape.join(', ')}] of ${type.name} (${expected} bytes)`, ewhere);
    }
    const abs = pathsOf(this.ctx.access).join(this.dir, loc);
    let ext = this.extFiles.get(abs);
    if (!ext) {
      const st = await this.ctx.access.stat(abs);
      if (!st || st.isDirectory) {
        throw new CheckpointError('missing-shard', `external data file "${truncate(loc)}" does not exist beside the model`, ewhere);
      }
      ext = { rel: relativeName(this.ctx, abs), size: st.size };
      this.extFiles.set(abs, ext);
    }
    if (offset + length > ext.size) {
      throw new CheckpointError('truncated', `external data [${offset}, ${offset + length}) runs past the end of ${ext.rel} (${ext.size} bytes)`, ewhere);
    }
    // Storage is the byte range: two initializers naming the same range share it.
    const storage = length > 0 ? `${ext.rel}@${offset}` : `${file}:${t.name}`;
    return { ...base, nbytes: length, file: ext.rel, dataOffset: offset, storage, storageNbytes: length, extra: { data: 'external' } };
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
