/**
 * What torch.save pickles mean, without running any of it: storages named by persistent ids,
 * tensors rebuilt (as records) from `_rebuild_tensor_v2` and friends, parameters, quantized
 * tensors, dtypes, OrderedDicts. Globals without a handler stay opaque data; every global is
 * counted for the safety report.
 */
import { CheckpointError } from '../../errors';
import { truncate } from '../../json';
import { itemSize } from '../../dtypes';
import { TensorRecord } from '../../model';
import { tensorRecord } from '../../tensor-record';
import { SafetyRecorder, TORCHSCRIPT_LIST_TAGS } from './safety';
import {
  PickleHooks,
  PyBytes,
  PyDict,
  PyGlobal,
  PyList,
  PyNative,
  PyObject,
  PySet,
  PyTuple,
  PyValue,
  Site,
  Work,
  describeValue,
} from './pickle';

// ---------------------------------------------------------------------------------------------
// dtypes and storage classes

/** Legacy typed storage class name (without `Storage`) → canonical dtype. */
export const STORAGE_DTYPES: Record<string, string> = {
  Double: 'float64',
  Float: 'float32',
  Half: 'float16',
  BFloat16: 'bfloat16',
  Long: 'int64',
  Int: 'int32',
  Short: 'int16',
  Char: 'int8',
  Byte: 'uint8',
  Bool: 'bool',
  ComplexFloat: 'complex64',
  ComplexDouble: 'complex128',
  QInt8: 'qint8',
  QUInt8: 'quint8',
  QInt32: 'qint32',
  QUInt4x2: 'quint4x2',
  QUInt2x4: 'quint2x4',
};

/** `torch.<name>` dtype attributes → canonical dtype. */
export const TORCH_DTYPES: Record<string, string> = {
  float32: 'float32', float: 'float32', float64: 'float64', double: 'float64', float16: 'float16', half: 'float16',
  bfloat16: 'bfloat16', complex32: 'complex32', chalf: 'complex32', complex64: 'complex64', cfloat: 'complex64',
  complex128: 'complex128', cdouble: 'complex128', uint8: 'uint8', int8: 'int8', int16: 'int16', short: 'int16',
  int32: 'int32', int: 'int32', int64: 'int64', long: 'int64', bool: 'bool', uint16: 'uint16', uint32: 'uint32',
  uint64: 'uint64', qint8: 'qint8', quint8: 'quint8', qint32: 'qint32', quint4x2: 'quint4x2', quint2x4: 'quint2x4',
  float8_e4m3fn: 'float8_e4m3fn', float8_e4m3fnuz: 'float8_e4m3fnuz', float8_e5m2: 'float8_e5m2',
  float8_e5m2fnuz: 'float8_e5m2fnuz', float8_e8m0fnu: 'float8_e8m0fnu', float4_e2m1fn_x2: 'float4_e2m1fn_x2',
  bits8: 'bits8', bits16: 'bits16', bits1x8: 'bits1x8', bits2x4: 'bits2x4', bits4x2: 'bits4x2',
};

export class TorchDtype extends PyNative {
  constructor(readonly name: string, readonly spelled: string) {
    super();
  }
  describe(): string {
    return `torch.${this.spelled}`;
  }
}

export class TorchConstant extends PyNative {
  constructor(readonly kind: 'qscheme' | 'layout' | 'memory_format', readonly name: string) {
    super();
  }
  describe(): string {
    return `torch.${this.name}`;
  }
}

export class StorageType extends PyNative {
  constructor(
    /** As the pickle names it, e.g. `torch.FloatStorage`. */
    readonly full: string,
    /** Canonical dtype; null for UntypedStorage (its numel counts bytes). */
    readonly dtype: string | null,
  ) {
    super();
  }
  describe(): string {
    return this.full;
  }
}

/** One storage of the checkpoint, shared by every tensor that names its key. */
export class Storage extends PyNative {
  /** Absolute offset of the data in the file, once located. */
  dataOffset: number | null = null;
  /** Bytes the file holds for it (zip record size, or legacy count * element size). */
  recordBytes: number | null = null;
  constructor(
    readonly key: string,
    /** Unique id within the checkpoint: `${file}:${key}`. */
    readonly id: string,
    readonly type: StorageType,
    /** Elements of `type.dtype`, or bytes for an untyped storage. */
    readonly numel: number,
    readonly location: string,
  ) {
    super();
  }
  get itemsize(): number {
    return this.type.dtype ? itemSize(this.type.dtype) ?? 1 : 1;
  }
  get nbytes(): number {
    return this.numel * this.itemsize;
  }
  describe(): string {
    return `storage ${this.key}`;
  }
}

/** What a persistent id resolves to: a storage, maybe at an element offset (legacy views). */
export class StorageRef extends PyNative {
  constructor(readonly storage: Storage, readonly elemOffset: number) {
    super();
  }
  describe(): string {
    return `storage ${this.storage.key}`;
  }
}

export interface Quantization {
  scheme: string;
  scale?: number;
  zeroPoint?: number;
  axis?: number;
}

export class TorchTensor extends PyNative {
  parameter = false;
  requiresGrad = false;
  quant?: Quantization;
  /** Class when rebuilt as a Tensor subclass other than Parameter. */
  subclass?: string;
  /**
   * For a tensor with no storage of its own (sparse, nested, a wrapper subclass): the tensors
   * that hold its data, whose bytes are its bytes. Its own shape and dtype are what the model has.
   */
  parts?: { name: string; tensor: TorchTensor }[];
  /** Made by `_rebuild_wrapper_subclass`: its data are the tensors of the state it is given next. */
  wrapper = false;
  /** Device, when it is not its storage's location (a wrapper subclass, an XLA tensor saved from the CPU). */
  device?: string;
  layout = 'strided';
  constructor(
    readonly storage: Storage | null,
    /** Element offset (in elements of `dtype`) of the first element within the storage. */
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[] | null,
    readonly dtype: string,
    readonly formatDtype: string,
  ) {
    super();
  }
  describe(): string {
    return `tensor(${this.dtype}, [${this.shape.join(', ')}])`;
  }
  /** A Parameter wrapping the same storage view (a new object, as in Python). */
  asParameter(requiresGrad: boolean): TorchTensor {
    const p = new TorchTensor(this.storage, this.offset, this.shape, this.stride, this.dtype, this.formatDtype);
    p.parameter = true;
    p.requiresGrad = requiresGrad;
    p.quant = this.quant;
    p.layout = this.layout;
    p.parts = this.parts;
    p.wrapper = this.wrapper;
    p.device = this.device;
    if (this.wrapper) p.subclass = this.subclass;
    p.depth = this.depth;
    return p;
  }
  override build(): void {
    // Legacy `set_` state or subclass state: nothing changes the storage view we record.
  }
}

// ---------------------------------------------------------------------------------------------
// The session: storages by key, globals seen

export class TorchSession {
  readonly storages = new Map<string, Storage>();
  /**
   * `dir`: the zip folder its storages' records sit in. TorchScript archives keep the tensors of
   * constants.pkl in `constants/`, numbered from 0 like those of data.pkl in `data/`, so a second
   * session reads them and its storage ids carry the folder (`file:constants/0`): equal keys in
   * two folders are two storages, never a tie.
   */
  constructor(readonly file: string, readonly dir = 'data') {}

  /**
   * Hooks for one pickle run; `globals` records what it named and asked for (merged into a
   * SafetyTracker once the run ends, also when it fails part way).
   */
  hooks(persistent: 'zip' | 'legacy' | 'none'): { hooks: PickleHooks; globals: SafetyRecorder } {
    const globals = new SafetyRecorder();
    const hooks = globals.hooks(resolveGlobal);
    if (persistent !== 'none') hooks.persistentLoad = (pid, site) => this.persistentLoad(pid, site, persistent);
    return { hooks, globals };
  }

  private persistentLoad(pid: PyValue, site: Site, kind: 'zip' | 'legacy'): PyValue {
    const fail = (why: string): never => {
      throw new CheckpointError('bad-pickle', `persistent id ${why}`, { file: site.file, offset: site.offset, record: `pickle opcode ${site.opcode}` });
    };
    // Protocol 0 writes a persistent id as a line of text: torch.save(..., pickle_protocol=0)
    // writes str() of the tuple, which torch.load cannot read back either.
    const text = typeof pid === 'string' && site.opcode === 'PERSID' ? ' (a protocol-0 pickle: torch.save with pickle_protocol=0 writes the tuple as text, which torch.load cannot read either)' : '';
    const items = pid instanceof PyTuple ? pid.items : fail(`is ${describeValue(pid)}, not a tuple${text}`);
    const typename = items[0] instanceof PyBytes ? new TextDecoder('latin1').decode(items[0].data) : items[0];
    if (typename === 'module' && kind === 'legacy') {
      // ('module', class, source file, source): torch checked the source; we return the class.
      return items[1] ?? null;
    }
    if (typename !== 'storage') fail(`has type ${describeValue(typename as PyValue)}, expected "storage"`);
    if (items.length < 5) fail(`has ${items.length} fields, expected at least 5`);
    const [, stype, rawKey, location, numel] = items;
    if (!(stype instanceof StorageType)) fail(`names ${describeValue(stype)} as its storage class`);
    const key = typeof rawKey === 'string' ? rawKey : typeof rawKey === 'number' || typeof rawKey === 'bigint' ? String(rawKey) : fail('key is not a string');
    const n = asCount(numel, 'storage size', site);
    const loc = typeof location === 'string' ? location : 'cpu';
    let s = this.storages.get(key);
    if (!s) {
      s = new Storage(key, this.dir === 'data' ? `${this.file}:${key}` : `${this.file}:${this.dir}/${key}`, stype as StorageType, n, loc);
      this.storages.set(key, s);
    }
    let elemOffset = 0;
    const view = items[5];
    if (kind === 'legacy' && view instanceof PyTuple && view.items.length >= 3) {
      // (view_key, offset, view_size): a slice of the root storage, in elements.
      elemOffset = asCount(view.items[1], 'storage view offset', site);
      const viewSize = asCount(view.items[2], 'storage view size', site);
      if (elemOffset + viewSize > s.numel) fail(`views elements [${elemOffset}, ${elemOffset + viewSize}) of a ${s.numel}-element storage`);
    }
    return new StorageRef(s, elemOffset);
  }
}

function asCount(v: PyValue | undefined, what: string, site: Site): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new CheckpointError(typeof v === 'bigint' ? 'too-large' : 'bad-pickle', `${what} ${typeof v === 'bigint' ? String(v) + ' is too large' : 'is ' + describeValue(v ?? null) + ', not a non-negative integer'}`, {
    file: site.file,
    offset: site.offset,
    record: `pickle opcode ${site.opcode}`,
  });
}

function badArgs(site: Site, fn: string, why: string): never {
  throw new CheckpointError('bad-pickle', `${fn}: ${why}`, { file: site.file, offset: site.offset, record: `pickle opcode ${site.opcode}` });
}

function intList(v: PyValue | undefined, site: Site, fn: string, what: string): number[] {
  const items = v instanceof PyTuple || v instanceof PyList ? v.items : badArgs(site, fn, `${what} is ${describeValue(v)}, not a tuple`);
  if (items.length > 64) badArgs(site, fn, `${what} has ${items.length} dimensions`);
  return items.map((x) => {
    if (typeof x === 'number' && Number.isSafeInteger(x)) return x;
    if (typeof x === 'boolean') return x ? 1 : 0;
    return badArgs(site, fn, `${what} holds ${describeValue(x)}, not an integer`);
  });
}

function count(v: PyValue | undefined, site: Site, fn: string, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  return badArgs(site, fn, `${what} is ${describeValue(v)}, not a non-negative integer`);
}

function storageRef(v: PyValue | undefined, site: Site, fn: string): StorageRef {
  if (v instanceof StorageRef) return v;
  return badArgs(site, fn, `storage argument is ${describeValue(v)}`);
}

/** Build the tensor record object of a strided rebuild, checking its arguments. */
function strided(ref: StorageRef, offset: PyValue | undefined, size: PyValue | undefined, stride: PyValue | undefined, dtype: TorchDtype | null, site: Site, fn: string): TorchTensor {
  const off = count(offset, site, fn, 'storage offset');
  const shape = intList(size, site, fn, 'size');
  const strides = intList(stride, site, fn, 'stride');
  if (shape.some((d) => d < 0)) badArgs(site, fn, `size [${shape.join(', ')}] has a negative dimension`);
  if (strides.length !== shape.length) badArgs(site, fn, `stride has ${strides.length} dimensions but size has ${shape.length}`);
  const st = ref.storage.type;
  let canonical: string;
  let formatDtype: string;
  let elemOffset = off;
  if (dtype) {
    canonical = dtype.name;
    formatDtype = `torch.${dtype.spelled}`;
  } else if (st.dtype) {
    canonical = st.dtype;
    formatDtype = st.full;
  } else {
    canonical = 'uint8';
    formatDtype = st.full;
  }
  if (ref.elemOffset) {
    // Legacy storage views: the view offset is in elements of the storage's own type.
    const es = itemSize(canonical) ?? 1;
    const bytes = ref.elemOffset * ref.storage.itemsize;
    if (bytes % es !== 0) badArgs(site, fn, 'storage view offset is not a whole number of elements');
    elemOffset += bytes / es;
  }
  return new TorchTensor(ref.storage, elemOffset, shape, strides, canonical, formatDtype);
}

function bool(v: PyValue | undefined): boolean {
  return v === true || v === 1;
}

function num(v: PyValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Handlers: GLOBAL → value. Handlers only build records from their arguments.

/** `work`: what copying a memoized value costs (PickleLimits.maxCopies). */
type Handler = (args: PyValue[], site: Site, work: Work) => PyValue;

const HANDLERS = new Map<string, Handler>();

HANDLERS.set('collections.OrderedDict', (args, site, work) => {
  const d = new PyDict('collections.OrderedDict');
  fillDict(d, args[0], site, 'OrderedDict', work);
  return d;
});
HANDLERS.set('builtins.dict', (args, site, work) => {
  const d = new PyDict();
  fillDict(d, args[0], site, 'dict', work);
  return d;
});
HANDLERS.set('collections.defaultdict', () => new PyDict('collections.defaultdict'));
// TorchScript's data.pkl tags typed lists (torch/jit/_pickle.py): each returns its first argument.
for (const f of TORCHSCRIPT_LIST_TAGS) HANDLERS.set(`torch.jit._pickle.${f}`, (args) => args[0] ?? null);
HANDLERS.set('builtins.set', (args, _site, work) => new PySet(listItems(args[0], work, 'set')));
HANDLERS.set('builtins.frozenset', (args, _site, work) => new PySet(listItems(args[0], work, 'frozenset'), true));
HANDLERS.set('builtins.list', (args, _site, work) => new PyList(listItems(args[0], work, 'list')));
HANDLERS.set('builtins.tuple', (args, _site, work) => new PyTuple(listItems(args[0], work, 'tuple')));
HANDLERS.set('builtins.bytearray', (args, _site, work) => bytesFrom(args, 'bytearray', work));
HANDLERS.set('builtins.bytes', (args, _site, work) => bytesFrom(args, 'bytes', work));
HANDLERS.set('_codecs.encode', (args, _site, work) => bytesFrom(args, 'bytes', work));
HANDLERS.set('torch.Size', (args, _site, work) => new PyTuple(listItems(args[0], work, 'torch.Size')));
HANDLERS.set('torch.device', (args) => {
  const type = typeof args[0] === 'string' ? args[0] : 'cpu';
  return typeof args[1] === 'number' ? `${type}:${args[1]}` : type;
});
HANDLERS.set('torch.serialization._get_layout', (args) => new TorchConstant('layout', typeof args[0] === 'string' ? args[0].replace(/^torch\./, '') : 'strided'));

HANDLERS.set('torch._utils._rebuild_tensor', (args, site) =>
  strided(storageRef(args[0], site, '_rebuild_tensor'), args[1], args[2], args[3], null, site, '_rebuild_tensor'),
);
HANDLERS.set('torch._utils._rebuild_tensor_v2', (args, site) => {
  const t = strided(storageRef(args[0], site, '_rebuild_tensor_v2'), args[1], args[2], args[3], null, site, '_rebuild_tensor_v2');
  t.requiresGrad = bool(args[4]);
  return t;
});
HANDLERS.set('torch._utils._rebuild_tensor_v3', (args, site) => {
  const dtype = args[6] instanceof TorchDtype ? args[6] : badArgs(site, '_rebuild_tensor_v3', `dtype is ${describeValue(args[6])}`);
  const t = strided(storageRef(args[0], site, '_rebuild_tensor_v3'), args[1], args[2], args[3], dtype, site, '_rebuild_tensor_v3');
  t.requiresGrad = bool(args[4]);
  return t;
});
// A Parameter around a tensor rebuild the reader does not read stays that rebuild: the warning
// about it names the function inside, and the model loses one tensor rather than the whole file.
HANDLERS.set('torch._utils._rebuild_parameter', (args, site) => {
  if (unreadRebuild(args[0])) return args[0];
  if (!(args[0] instanceof TorchTensor)) return badArgs(site, '_rebuild_parameter', `data is ${describeValue(args[0])}`);
  return args[0].asParameter(bool(args[1]));
});
HANDLERS.set('torch._utils._rebuild_parameter_with_state', (args, site) => {
  if (unreadRebuild(args[0])) return args[0];
  if (!(args[0] instanceof TorchTensor)) return badArgs(site, '_rebuild_parameter_with_state', `data is ${describeValue(args[0])}`);
  return args[0].asParameter(bool(args[1]));
});
HANDLERS.set('torch.nn.parameter.Parameter', (args) => {
  if (args[0] instanceof TorchTensor) return args[0].asParameter(args.length > 1 ? bool(args[1]) : true);
  if (unreadRebuild(args[0])) return args[0];
  return new PyObject(new PyGlobal('torch.nn.parameter', 'Parameter'), args, 'reduce');
});
HANDLERS.set('torch._utils._rebuild_qtensor', (args, site) => {
  const fn = '_rebuild_qtensor';
  const t = strided(storageRef(args[0], site, fn), args[1], args[2], args[3], null, site, fn);
  const q = args[4] instanceof PyTuple ? args[4].items : [];
  const scheme = q[0] instanceof TorchConstant ? q[0].name : 'unknown';
  t.quant = { scheme };
  if (scheme === 'per_tensor_affine' || scheme === 'per_tensor_symmetric') {
    t.quant.scale = num(q[1]);
    t.quant.zeroPoint = num(q[2]);
  } else if (scheme.startsWith('per_channel')) {
    t.quant.axis = num(q[3]);
  }
  t.requiresGrad = bool(args[5]);
  return t;
});
HANDLERS.set('torch._utils._rebuild_meta_tensor_no_storage', (args, site) => {
  const fn = '_rebuild_meta_tensor_no_storage';
  const dtype = args[0] instanceof TorchDtype ? args[0] : badArgs(site, fn, `dtype is ${describeValue(args[0])}`);
  const shape = intList(args[1], site, fn, 'size');
  const stride = intList(args[2], site, fn, 'stride');
  const t = new TorchTensor(null, 0, shape, stride, dtype.name, `torch.${dtype.spelled}`);
  t.requiresGrad = bool(args[3]);
  t.layout = 'meta';
  return t;
});
/** Component names of a sparse layout, in the order torch pickles them. */
const SPARSE_PARTS: Record<string, string[]> = {
  sparse_coo: ['indices', 'values'],
  sparse_csr: ['crow_indices', 'col_indices', 'values'],
  sparse_csc: ['ccol_indices', 'row_indices', 'values'],
  sparse_bsr: ['crow_indices', 'col_indices', 'values'],
  sparse_bsc: ['ccol_indices', 'row_indices', 'values'],
};

/**
 * A sparse tensor is one tensor of its dense shape (as model.parameters() counts it), with
 * no storage of its own: its components (indices, values) are kept as parts, and its bytes
 * are theirs.
 */
function rebuildSparse(fn: string): Handler {
  return (args, site, work) => {
    const layout = args[0] instanceof TorchConstant ? args[0].name : 'sparse';
    const data = args[1] instanceof PyTuple ? args[1].items : badArgs(site, fn, `data is ${describeValue(args[1])}`);
    work.copy(data.length, fn);
    const tensors = data.filter((x): x is TorchTensor => x instanceof TorchTensor);
    const sizeArg = data.find((x) => x instanceof PyTuple || x instanceof PyList);
    const shape = sizeArg ? intList(sizeArg, site, fn, 'size') : badArgs(site, fn, 'data holds no size');
    if (shape.some((d) => d < 0)) badArgs(site, fn, `size [${shape.join(', ')}] has a negative dimension`);
    if (tensors.length === 0) badArgs(site, fn, 'data holds no component tensors');
    if (tensors.some((x) => x.parts)) badArgs(site, fn, 'a component is itself sparse');
    const values = tensors[tensors.length - 1];
    const t = new TorchTensor(null, 0, shape, null, values.dtype, values.formatDtype);
    t.layout = layout;
    const names = SPARSE_PARTS[layout] ?? [];
    t.parts = tensors.map((x, i) => ({ name: i === tensors.length - 1 ? 'values' : names[i] ?? `part${i}`, tensor: x }));
    return t;
  };
}
HANDLERS.set('torch._utils._rebuild_sparse_tensor', rebuildSparse('_rebuild_sparse_tensor'));
HANDLERS.set('torch._utils._rebuild_sparse_csr_tensor', rebuildSparse('_rebuild_sparse_csr_tensor'));
/**
 * A wrapper tensor subclass (torchao's AffineQuantizedTensor and Float8Tensor, DTensor...), which
 * has no storage: torch saves the class, dtype, size and strides the model sees, and
 * `_rebuild_from_type_v2` then gives it the state holding its data (wrapperParts). It counts as
 * one tensor of that size, whatever its data (packed integers and scales, or one shard).
 */
HANDLERS.set('torch._utils._rebuild_wrapper_subclass', (args, site) => {
  const fn = '_rebuild_wrapper_subclass';
  const [cls, dtype, size, stride, , layout, device, requiresGrad] = args;
  const dt = dtype instanceof TorchDtype ? dtype : badArgs(site, fn, `dtype is ${describeValue(dtype)}`);
  const shape = intList(size, site, fn, 'size');
  if (shape.some((d) => d < 0)) badArgs(site, fn, `size [${shape.join(', ')}] has a negative dimension`);
  const strides = stride === null || stride === undefined ? null : intList(stride, site, fn, 'stride');
  const t = new TorchTensor(null, 0, shape, strides, dt.name, `torch.${dt.spelled}`);
  t.wrapper = true;
  t.parts = [];
  if (cls instanceof PyGlobal) t.subclass = cls.full;
  if (layout instanceof TorchConstant && layout.kind === 'layout') t.layout = layout.name;
  if (typeof device === 'string') t.device = device;
  t.requiresGrad = bool(requiresGrad);
  return t;
});

/**
 * The tensors holding a wrapper subclass's data, from the state torch saved with it (its
 * `__dict__`, or `(__dict__, slots)`): torchao's int_data, scale and zero_point, DTensor's
 * `_local_tensor`. A wrapper inside (torchao's tensor_impl) brings its own, under its name. Other
 * objects of the state (DTensor's `_spec`, whose device mesh holds a tensor of ranks) are not the
 * weight's data and are not searched.
 */
function wrapperParts(state: PyValue | undefined, work: Work): { name: string; tensor: TorchTensor }[] {
  const out: { name: string; tensor: TorchTensor }[] = [];
  const seen = new Set<TorchTensor>();
  const what = 'the state of a tensor subclass';
  const add = (name: string, v: PyValue) => {
    if (!(v instanceof TorchTensor) || seen.has(v)) return;
    seen.add(v);
    if (v.parts && !v.storage) for (const p of v.parts) out.push({ name: `${name}.${p.name}`, tensor: p.tensor });
    else out.push({ name, tensor: v });
  };
  if (state instanceof PyTuple) work.copy(state.items.length, what);
  const dicts = state instanceof PyDict ? [state] : state instanceof PyTuple ? state.items.filter((x): x is PyDict => x instanceof PyDict) : [];
  for (const d of dicts) {
    work.copy(d.size, what);
    for (const [k, v] of d.entries()) {
      const key = typeof k === 'string' ? k : describeValue(k);
      if (v instanceof PyList || v instanceof PyTuple) {
        work.copy(v.items.length, what);
        v.items.forEach((x, i) => add(`${key}.${i}`, x));
      } else add(key, v);
    }
  }
  return out;
}

/** `_is_param` in a custom tensor's state: torch 2.x's nn.Parameter of one is the tensor itself, flagged. */
function flaggedParameter(state: PyValue | undefined, work: Work): boolean {
  if (state instanceof PyTuple) work.copy(state.items.length, 'the state of a tensor subclass');
  const dicts = state instanceof PyDict ? [state] : state instanceof PyTuple ? state.items.filter((x): x is PyDict => x instanceof PyDict) : [];
  return dicts.some((d) => d.get('_is_param') === true);
}

HANDLERS.set('torch._tensor._rebuild_from_type_v2', (args, site, work) => {
  const [func, newType, fargs, state] = args;
  let inner: PyValue;
  if (func instanceof PyGlobal && func.call && fargs instanceof PyTuple) inner = func.call(fargs.items, site, work);
  else return new PyObject(new PyGlobal('torch._tensor', '_rebuild_from_type_v2'), args, 'reduce');
  if (!(inner instanceof TorchTensor)) return inner;
  if (inner.wrapper) {
    inner.parts = wrapperParts(state, work);
    if (flaggedParameter(state, work)) inner.parameter = true;
  }
  if (newType instanceof PyGlobal) {
    if (newType.full === 'torch.nn.parameter.Parameter') return inner.asParameter(inner.requiresGrad);
    if (newType.full !== 'torch.Tensor' && newType.full !== 'torch._tensor.Tensor') inner.subclass = newType.full;
  }
  return inner;
});

/**
 * A nested tensor (torch.nested, strided layout): torch saves its buffer (`values()`: the
 * components' elements one after another) and the components' sizes, strides and offsets as
 * int64 tensors. It is one tensor, of the buffer's elements: a nested tensor's numel() is the sum
 * of its components' elements, which is its buffer for the contiguous ones torch.nested makes.
 */
HANDLERS.set('torch._utils._rebuild_nested_tensor', (args, site) => {
  const fn = '_rebuild_nested_tensor';
  const parts = ['values', 'sizes', 'strides', 'offsets'].map((name, i) => {
    const x = args[i];
    if (!(x instanceof TorchTensor) || x.parts) return badArgs(site, fn, `${name} is ${describeValue(x)}, not a tensor`);
    return { name, tensor: x };
  });
  const values = parts[0].tensor;
  const t = new TorchTensor(null, 0, values.shape.slice(), null, values.dtype, values.formatDtype);
  t.layout = 'nested';
  t.parts = parts;
  t.requiresGrad = values.requiresGrad;
  return t;
});

/**
 * An XLA, MTIA or MAIA tensor as torch 2.x saves it: a CPU copy, and the dtype and device it goes
 * back to (`data.to(dtype=dtype, device=device)`). On the copy's storage when the dtype is the
 * copy's (always, as torch writes it); otherwise the copy is its data.
 */
HANDLERS.set('torch._utils._rebuild_device_tensor_from_cpu_tensor', (args, site) => {
  const fn = '_rebuild_device_tensor_from_cpu_tensor';
  const cpu = args[0] instanceof TorchTensor ? args[0] : badArgs(site, fn, `data is ${describeValue(args[0])}`);
  const dtype = args[1] instanceof TorchDtype ? args[1] : badArgs(site, fn, `dtype is ${describeValue(args[1])}`);
  let t: TorchTensor;
  if (cpu.dtype === dtype.name && cpu.storage) {
    t = new TorchTensor(cpu.storage, cpu.offset, cpu.shape, cpu.stride, cpu.dtype, cpu.formatDtype);
  } else {
    t = new TorchTensor(null, 0, cpu.shape.slice(), null, dtype.name, `torch.${dtype.spelled}`);
    t.parts = [{ name: 'cpu', tensor: cpu }];
  }
  if (typeof args[2] === 'string') t.device = args[2];
  t.requiresGrad = bool(args[3]);
  return t;
});

/**
 * An XLA (ORT, HPU) tensor as torch before 2.6 saves it: a numpy array of its values inside the
 * pickle, and the dtype and device it goes back to. The array is read as data, never built: numpy pickles it as `_reconstruct` with the
 * state `(version, shape, dtype, fortran, bytes)`, or (protocol 5) `_frombuffer(bytes, dtype, shape,
 * order)`. The tensor has no storage in the archive; an array of another form stays unread.
 */
function rebuildFromNumpy(fn: string): Handler {
  return (args, site, work) => {
    const shape = numpyShape(args[0], work);
    const dtype = args[1];
    if (!shape || !(dtype instanceof TorchDtype)) return new PyObject(new PyGlobal('torch._utils', fn), args, 'reduce');
    if (shape.length > 64) badArgs(site, fn, `the array has ${shape.length} dimensions`);
    const t = new TorchTensor(null, 0, shape, null, dtype.name, `torch.${dtype.spelled}`);
    if (typeof args[2] === 'string') t.device = args[2];
    t.requiresGrad = bool(args[3]);
    return t;
  };
}
HANDLERS.set('torch._utils._rebuild_device_tensor_from_numpy', rebuildFromNumpy('_rebuild_device_tensor_from_numpy'));

const NUMPY_MULTIARRAY = /^numpy(\._core|\.core)?\.(multiarray|numeric)$/;

/** The shape of a pickled numpy array, read from its pickled form; undefined for anything else. */
function numpyShape(v: PyValue | undefined, work: Work): number[] | undefined {
  if (!(v instanceof PyObject) || !(v.callable instanceof PyGlobal) || !NUMPY_MULTIARRAY.test(v.callable.module)) return undefined;
  let shape: PyValue | undefined;
  if (v.callable.name === '_reconstruct' && v.state instanceof PyTuple && v.state.items.length >= 5) shape = v.state.items[1];
  else if (v.callable.name === '_frombuffer') shape = v.args[2];
  if (!(shape instanceof PyTuple || shape instanceof PyList)) return undefined;
  work.copy(shape.items.length, 'the shape of a numpy array');
  const dims: number[] = [];
  for (const d of shape.items) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return undefined;
    dims.push(d);
  }
  return dims;
}

/**
 * The torch function of a tensor rebuild the reader does not read (a `torch._utils._rebuild_*`, or
 * `_rebuild_from_type_v2` around a function it does not know), which torch.load would make a
 * tensor of and the reader keeps as opaque data; undefined for anything else.
 */
export function unreadRebuild(v: PyValue | undefined): string | undefined {
  if (!(v instanceof PyObject) || !(v.callable instanceof PyGlobal)) return undefined;
  const c = v.callable;
  if (c.module === 'torch._tensor' && c.name.startsWith('_rebuild_from_type')) {
    const f = v.args[0];
    return `${c.full}(${f instanceof PyGlobal ? f.full : describeValue(f ?? null)}, …)`;
  }
  if (c.module === 'torch._utils' && c.name.startsWith('_rebuild_')) return c.full;
  return undefined;
}

/** A TorchScript class object as torch.save pickles it: its class and the state it was saved with. */
export interface ScriptObjectState {
  /** The TorchScript class without `__torch__.`, e.g. `torch.classes.quantized.LinearPackedParamsBase`. */
  className: string;
  /** What the class's own `__getstate__` returned: `(weight, bias)` for LinearPackedParamsBase. */
  payload: PyValue;
}

const SCRIPT_OBJECT = new Set(['torch.ScriptObject', 'torch._C.ScriptObject']);

/**
 * A TorchScript class object (`torch.classes.*`: quantized layers' packed weights, a dynamic
 * quantized LSTM's cell parameters) when `v` is one. torch pickles it as `torch.ScriptObject`
 * made by NEWOBJ, then BUILD with `(payload, qualified class name)`; a real unpickler would hand
 * that to the class's C++ `__setstate__`, which repacks the tensors. The payload is plain pickled
 * data (tensors, numbers, lists, nested script objects) and is read as such; nothing is called
 * (the safety report still names the `__setstate__` torch.load would run).
 */
export function scriptObjectState(v: PyValue | undefined): ScriptObjectState | undefined {
  if (!(v instanceof PyObject) || !(v.callable instanceof PyGlobal) || !SCRIPT_OBJECT.has(v.callable.full)) return undefined;
  const st = v.state;
  if (!(st instanceof PyTuple) || st.items.length !== 2 || typeof st.items[1] !== 'string') return undefined;
  return { className: st.items[1].replace(/^__torch__\./, ''), payload: st.items[0] };
}

/** TorchScript classes whose state is a quantized layer's packed weights and biases. */
export function isPackedParamsClass(className: string): boolean {
  return className.startsWith('torch.classes.quantized.') || className.startsWith('torch.classes.rnn.');
}

function fillDict(d: PyDict, src: PyValue | undefined, site: Site, fn: string, work: Work): void {
  if (src === undefined || src === null) return;
  if (src instanceof PyDict) {
    work.copy(src.size, fn);
    for (const [k, v] of src.entries()) d.set(k, v);
    return;
  }
  for (const pair of listItems(src, work, fn)) {
    const kv = pair instanceof PyTuple || pair instanceof PyList ? pair.items : badArgs(site, fn, 'items are not pairs');
    if (kv.length !== 2) badArgs(site, fn, 'items are not pairs');
    d.set(kv[0], kv[1]);
  }
}

function listItems(v: PyValue | undefined, work: Work, what: string): PyValue[] {
  if (v instanceof PyList || v instanceof PyTuple || v instanceof PySet) {
    work.copy(v.items.length, what);
    return v.items.slice();
  }
  return [];
}

function bytesFrom(args: PyValue[], kind: 'bytes' | 'bytearray', work: Work): PyBytes {
  const a = args[0];
  if (typeof a === 'string') {
    work.copy(a.length, kind);
    const enc = typeof args[1] === 'string' ? args[1].toLowerCase().replace(/[-_]/g, '') : 'utf8';
    if (enc === 'latin1' || enc === 'iso88591') {
      const out = new Uint8Array(a.length);
      for (let i = 0; i < a.length; i++) out[i] = a.charCodeAt(i) & 0xff;
      return new PyBytes(out, kind);
    }
    return new PyBytes(new TextEncoder().encode(a), kind);
  }
  if (a instanceof PyBytes) return new PyBytes(a.data, kind);
  if (a instanceof PyList || a instanceof PyTuple) {
    work.copy(a.items.length, kind);
    return new PyBytes(Uint8Array.from(a.items.map((x) => (typeof x === 'number' ? x & 0xff : 0))), kind);
  }
  return new PyBytes(new Uint8Array(0), kind);
}

const STORAGE_MODULES = new Set(['torch', 'torch.cuda', 'torch.storage', 'torch.xpu', 'torch.mps']);

/** GLOBAL module.name → a value. Unknown names become opaque PyGlobals that nothing calls. */
export function resolveGlobal(module: string, name: string, _site: Site): PyValue {
  const mod = module === '__builtin__' ? 'builtins' : module;
  const full = `${mod}.${name}`;
  if (mod === 'torch' && Object.prototype.hasOwnProperty.call(TORCH_DTYPES, name)) return new TorchDtype(TORCH_DTYPES[name], name);
  if (STORAGE_MODULES.has(mod) && name.endsWith('Storage')) {
    const kind = name.slice(0, -'Storage'.length);
    if (kind === 'Untyped' || kind === '_Untyped' || kind === 'Typed') return new StorageType(`${module}.${name}`, null);
    if (Object.prototype.hasOwnProperty.call(STORAGE_DTYPES, kind)) return new StorageType(`${module}.${name}`, STORAGE_DTYPES[kind]);
  }
  if (mod === 'torch' && /^per_(tensor|channel)_/.test(name)) return new TorchConstant('qscheme', name);
  if (mod === 'torch' && /^(strided|sparse_coo|sparse_csr|sparse_csc|sparse_bsr|sparse_bsc|_mkldnn|jagged)$/.test(name)) return new TorchConstant('layout', name);
  if (mod === 'torch' && /^(contiguous_format|channels_last|channels_last_3d|preserve_format)$/.test(name)) return new TorchConstant('memory_format', name);
  const h = HANDLERS.get(full);
  return new PyGlobal(module, name, h);
}

// ---------------------------------------------------------------------------------------------
// Records

export interface NamedTensor {
  name: string;
  tensor: TorchTensor;
  role?: TensorRecord['role'];
  roleReason?: string;
  extra?: Record<string, string | number | boolean>;
}

/** Elements of a shape, refusing counts past 2^53. */
function numelOf(shape: number[], file: string, rec: string): number {
  let numel = 1;
  for (const d of shape) {
    numel *= d;
    if (!Number.isSafeInteger(numel)) throw new CheckpointError('bad-shape', `shape [${shape.join(', ')}] has too many elements`, { file, record: rec });
  }
  return numel;
}

/** A strided tensor's bytes, checking that its view fits inside its storage. */
function stridedBytes(t: TorchTensor, file: string, rec: string): number {
  const es = itemSize(t.dtype);
  if (es === undefined) throw new CheckpointError('bad-dtype', `dtype ${t.dtype} has no whole-byte element size`, { file, record: rec });
  const numel = numelOf(t.shape, file, rec);
  const s = t.storage;
  if (s && numel > 0 && t.stride) {
    let last = t.offset;
    for (let i = 0; i < t.shape.length; i++) {
      if (t.stride[i] < 0) throw new CheckpointError('bad-shape', `negative stride ${t.stride[i]}`, { file, record: rec });
      last += (t.shape[i] - 1) * t.stride[i];
    }
    const endByte = (last + 1) * es;
    if (!Number.isSafeInteger(endByte) || endByte > s.nbytes) {
      throw new CheckpointError(
        'bad-shape',
        `view (offset ${t.offset}, size [${t.shape.join(', ')}], stride [${t.stride.join(', ')}]) of ${t.dtype} reaches byte ${endByte} but storage "${truncate(s.key)}" holds ${s.nbytes} bytes`,
        { file, record: rec },
      );
    }
  }
  return numel * es;
}

/** Components named in a record's `components` (a wrapper subclass's state may hold many). */
const MAX_COMPONENTS_LISTED = 16;

/** Turn named tensors into records, checking that each view fits inside its storage. */
export function toRecords(list: NamedTensor[], file: string): TensorRecord[] {
  const out: TensorRecord[] = [];
  for (const n of list) {
    const t = n.tensor;
    const rec = `tensor "${truncate(n.name)}"`;
    const extra: Record<string, string | number | boolean> = Object.create(null);
    if (n.extra) Object.assign(extra, n.extra);
    let nbytes: number;
    if (t.parts && !t.storage) {
      // Sparse (the dense shape), nested (its buffer's elements), a wrapper subclass (the size the
      // model sees, not its packed data's or its shard's): its own shape and numel, and the bytes
      // of the tensors holding its data, each checked.
      if (itemSize(t.dtype) === undefined) throw new CheckpointError('bad-dtype', `dtype ${t.dtype} has no whole-byte element size`, { file, record: rec });
      numelOf(t.shape, file, rec);
      nbytes = 0;
      for (const p of t.parts) nbytes += stridedBytes(p.tensor, file, `${rec} (${p.name})`);
      if (t.layout.startsWith('sparse') && t.parts.length) {
        const values = t.parts[t.parts.length - 1].tensor;
        extra.nnz = values.shape.length ? values.shape[0] : 1;
      }
      const listed = t.parts.slice(0, MAX_COMPONENTS_LISTED).map((p) => `${p.name} ${p.tensor.dtype} [${p.tensor.shape.join(', ')}]`);
      if (t.parts.length > MAX_COMPONENTS_LISTED) listed.push(`… ${t.parts.length - MAX_COMPONENTS_LISTED} more`);
      extra.components = listed.length ? listed.join(', ') : 'none (no tensor in its state)';
    } else {
      nbytes = stridedBytes(t, file, rec);
    }
    const es = itemSize(t.dtype)!;
    const s = t.storage;
    if (t.requiresGrad) extra.requires_grad = true;
    if (t.parameter) extra.parameter = true;
    if (t.subclass) extra.subclass = t.subclass;
    if (t.layout !== 'strided') extra.layout = t.layout;
    if (t.quant) {
      extra.qscheme = t.quant.scheme;
      if (t.quant.scale !== undefined) extra.scale = t.quant.scale;
      if (t.quant.zeroPoint !== undefined) extra.zero_point = t.quant.zeroPoint;
      if (t.quant.axis !== undefined) extra.axis = t.quant.axis;
    }
    const device = t.device ?? s?.location;
    if (device && device !== 'cpu') extra.device = device;
    const r = tensorRecord(
      n.name,
      t.dtype,
      t.formatDtype,
      t.shape.slice(),
      nbytes,
      file,
      s ? s.dataOffset : null,
      s ? s.id : null,
      s ? t.offset * es : null,
      t.stride ? t.stride.slice() : null,
      s ? s.nbytes : undefined,
      Object.keys(extra).length ? extra : undefined,
    );
    if (n.role) r.role = n.role;
    if (n.roleReason) r.roleReason = n.roleReason;
    out.push(r);
  }
  return out;
}
