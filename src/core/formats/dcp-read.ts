/**
 * PyTorch Distributed Checkpoint (DCP) folders: what torch.distributed.checkpoint.save writes
 * through its FileSystemWriter (torchtitan, FSDP2, accelerate's SHARDED_STATE_DICT
 * `pytorch_model_fsdp_0/`, Megatron-Core and NeMo 2's `torch_dist` weights):
 *   - `.metadata`, `pickle.dump` of torch.distributed.checkpoint.metadata.Metadata: for each key
 *     of the flattened state dict (`model.layers.0.attention.wq.weight`,
 *     `optimizer.state.<fqn>.exp_avg`) a TensorStorageMetadata (TensorProperties with the dtype,
 *     the whole tensor's size, and the chunks each rank wrote: offsets and sizes) or a
 *     BytesStorageMetadata (any other object, torch.save'd); `planner_data`, each flat key's path
 *     in the nested state dict; `storage_data`, {MetadataIndex(fqn, offset): _StorageInfo(
 *     relative_path, offset, length)}: where each chunk's bytes are;
 *   - `__<rank>_<n>.distcp` files holding those bytes (a torch.save archive per tensor chunk).
 * Megatron-Core adds `metadata.json` ({"sharded_backend": "torch_dist", ...}) and `common.pt`
 * (torch.save of what is not sharded).
 *
 * The whole model is described by `.metadata` alone: it is read with the pickle machine that
 * never executes anything (the dataclasses stay data), its state dict rebuilt as tensors without
 * data and read like any torch.save state dict (structure.ts: `model.` and optimizer state are
 * told apart as in a training checkpoint). The data files are never read: their presence and
 * sizes are checked against storage_data, and the chunks against each tensor's size.
 */
import { ReaderContext, pathsOf, relativeName } from '../access';
import { ByteSource } from '../bytes';
import { itemSize } from '../dtypes';
import { CheckpointError } from '../errors';
import { truncate } from '../json';
import { RawCheckpoint, Warning } from '../model';
import { bytesExact } from '../numbers';
import { baseName, META, Sniffed } from './dcp-names';
import { PyDict, PyList, PyNative, PyObject, PyTuple, PyValue, UnpickleResult, describeValue, unpickle } from './pytorch/pickle';
import { scanTrailing } from './pytorch/plain';
import { SafetyTracker } from './pytorch/safety';
import { interpret } from './pytorch/structure';
import { NamedTensor, TorchConstant, TorchDtype, TorchSession, TorchTensor, toRecords } from './pytorch/torch';

/** torch 2.0 to 2.3 pickle TensorProperties from here (metadata.py imported it). */
const OLD_PROPERTIES = 'torch.distributed._shard.sharded_tensor.metadata.TensorProperties';
/** `.metadata` holds structure only; a model with a hundred thousand tensors in a thousand chunks each is far below this. */
export const MAX_METADATA_BYTES = 1024 * 1024 * 1024;
/** Chunks of one tensor compared pairwise for overlap (torch's own check is pairwise); past this, volume and bounds only. */
const MAX_OVERLAP_CHUNKS = 2048;
/** Data files whose size is looked up (a stat each); a checkpoint written one file per tensor may have thousands. */
const MAX_FILES_CHECKED = 4096;
/** Names listed in one warning. */
const LISTED = 5;
/**
 * Chunk records read per byte of `.metadata`, all tensors together. torch pickles every chunk
 * apart (tens of bytes each); a pickle that hands one memoized chunk list to every key would
 * otherwise make each key walk it again.
 */
const CHUNKS_PER_BYTE = 1;
/** Chunk pairs compared for overlap per byte of `.metadata` (a real file needs under 30), past a floor. */
const OVERLAP_PAIRS_PER_BYTE = 64;
const OVERLAP_PAIRS_FLOOR = 1 << 22;

/** A data file opened on its own: its folder's `.metadata` describes it and the rest. */
export async function readDcp(src: ByteSource, ctx: ReaderContext, sniffed?: Sniffed): Promise<RawCheckpoint> {
  const kind = sniffed?.kind ?? (/\.distcp$/i.test(baseName(ctx.path)) ? 'distcp' : 'metadata');
  if (kind === 'metadata') return readDcpMetadata(src, ctx);
  const p = pathsOf(ctx.access);
  const metaPath = p.join(p.dirname(ctx.path), '.metadata');
  const st = await ctx.access.stat(metaPath);
  const file = relativeName(ctx, ctx.path);
  if (!st || st.isDirectory) {
    throw new CheckpointError('not-found', 'is a data file of a PyTorch Distributed Checkpoint, and its folder has no .metadata (which describes every tensor); without it the data cannot be read', { file });
  }
  const meta = await ctx.access.open(metaPath, relativeName(ctx, metaPath));
  try {
    const raw = await readDcpMetadata(meta, { ...ctx, path: metaPath });
    raw.warnings.push({ code: 'folder-pick', message: `${file} is one data file of a PyTorch Distributed Checkpoint: read the folder's .metadata, which describes them all` });
    return raw;
  } finally {
    await meta.close();
  }
}

/** A BytesStorageMetadata entry: an object torch.save'd into a data file, not read. */
class DcpBytes extends PyNative {
  constructor(readonly fqn: string, readonly where: string) {
    super();
  }
  describe(): string {
    return `<object saved by torch.save${this.where}>`;
  }
}

/** Where one chunk's bytes are. */
interface Stored {
  file: string;
  offset: number;
  length: number;
}

interface Chunk {
  offsets: number[];
  sizes: number[];
  stored?: Stored;
}

interface TensorEntry {
  fqn: string;
  tensor: TorchTensor;
  chunks: Chunk[];
}

function fail(file: string, record: string, why: string): never {
  throw new CheckpointError('bad-dcp', why, { file, record });
}

/** A dataclass instance as pickle writes it (NEWOBJ, then BUILD with its __dict__); its class's short name. */
function dataclassOf(v: PyValue | undefined, names: readonly string[]): { name: string; state: PyValue | undefined } | undefined {
  if (!(v instanceof PyObject)) return undefined;
  const c = v.className;
  if (c === undefined) return undefined;
  for (const n of names) if (c === n || c.endsWith(`.${n}`)) return { name: n, state: v.state };
  return undefined;
}

function field(state: PyValue | undefined, name: string): PyValue | undefined {
  return state instanceof PyDict ? state.get(name) : undefined;
}

function ints(v: PyValue | undefined, file: string, record: string, what: string): number[] {
  const items = v instanceof PyTuple || v instanceof PyList ? v.items : fail(file, record, `${what} is ${describeValue(v ?? null)}, not a torch.Size`);
  if (items.length > 64) fail(file, record, `${what} has ${items.length} dimensions`);
  return items.map((x) => (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? x : fail(file, record, `${what} holds ${describeValue(x)}, not a non-negative integer`)));
}

/** TensorProperties' dtype: its pickled state is the tuple its __getstate__ returns (a dict in any other writer). */
function propertiesDtype(v: PyValue | undefined, file: string, record: string): { dtype: TorchDtype; requiresGrad: boolean; layout?: string } {
  const props = v instanceof PyObject && (v.className === `${META}.TensorProperties` || v.className === OLD_PROPERTIES || v.className?.endsWith('.TensorProperties')) ? v : undefined;
  if (!props) fail(file, record, `properties is ${describeValue(v ?? null)}, not TensorProperties`);
  const st = props.state;
  const dtype = st instanceof PyTuple ? st.items[0] : field(st, 'dtype');
  const layout = st instanceof PyTuple ? st.items[1] : field(st, 'layout');
  const grad = st instanceof PyTuple ? st.items[2] : field(st, 'requires_grad');
  if (!(dtype instanceof TorchDtype)) fail(file, record, `dtype is ${describeValue(dtype ?? null)}, not a torch dtype`);
  return { dtype, requiresGrad: grad === true, layout: layout instanceof TorchConstant ? layout.name : undefined };
}

/** `__0_0.distcp`, `shards/a.distcp`: inside the folder, like an index's shard names. */
function checkRelative(p: string, file: string, record: string): void {
  if (p === '' || p.startsWith('/') || p.startsWith('\\') || /^[a-zA-Z]:/.test(p) || p.split(/[\\/]/).includes('..') || p.includes('\0')) {
    throw new CheckpointError('unsafe-path', `storage file "${truncate(p)}" is not a file inside the checkpoint's folder`, { file, record });
  }
}

function numel(shape: number[], file: string, record: string): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) fail(file, record, `size [${shape.join(', ')}] has too many elements`);
  }
  return n;
}

/** Chunk pairs still to compare, and the tensors whose chunks were not compared. */
interface OverlapBudget {
  left: number;
  unchecked: number;
}

/**
 * What default_planner._validate_global_plan checks before torch writes a checkpoint: each chunk
 * inside the tensor, no two overlapping, their volumes adding up to the tensor's. Undefined when
 * they do, else what is wrong.
 */
function chunkProblem(size: number[], chunks: Chunk[], file: string, record: string, pairs: OverlapBudget): string | undefined {
  if (size.length === 0) return chunks.length ? undefined : 'no chunk';
  const whole = numel(size, file, record);
  let volume = 0;
  for (const c of chunks) {
    if (c.offsets.length !== size.length || c.sizes.length !== size.length) return `a chunk has ${c.offsets.length} dimensions, the tensor ${size.length}`;
    for (let i = 0; i < size.length; i++) {
      if (c.offsets[i] + c.sizes[i] > size[i]) return `chunk at [${c.offsets.join(', ')}] of size [${c.sizes.join(', ')}] reaches past the tensor's size [${size.join(', ')}]`;
    }
    volume += numel(c.sizes, file, record);
  }
  const n = (chunks.length * (chunks.length - 1)) / 2;
  if (chunks.length > MAX_OVERLAP_CHUNKS || n > pairs.left) pairs.unchecked++;
  else {
    pairs.left -= n;
    for (let a = 0; a < chunks.length; a++) {
      for (let b = a + 1; b < chunks.length; b++) {
        const x = chunks[a];
        const y = chunks[b];
        if (x.sizes.every((_, i) => x.offsets[i] < y.offsets[i] + y.sizes[i] && y.offsets[i] < x.offsets[i] + x.sizes[i])) {
          return `chunks at [${x.offsets.join(', ')}] and [${y.offsets.join(', ')}] overlap`;
        }
      }
    }
  }
  if (volume !== whole) return `its ${chunks.length} chunk${chunks.length === 1 ? ' holds' : 's hold'} ${volume.toLocaleString('en-US')} of its ${whole.toLocaleString('en-US')} elements`;
  return undefined;
}

/** The key's path in the nested state dict (planner_data), when it is one that spells the key. */
function pathOf(planner: PyDict | undefined, fqn: string): string[] {
  const p = planner?.get(fqn);
  if (!(p instanceof PyTuple || p instanceof PyList) || p.items.length === 0 || p.items.length > 64) return [fqn];
  // Matched piece by piece, never joined: a pickle may give every key the same long path.
  const parts: string[] = [];
  let at = 0;
  for (const x of p.items) {
    const s = typeof x === 'string' ? x : typeof x === 'number' && Number.isSafeInteger(x) ? String(x) : undefined;
    if (s === undefined || (parts.length && fqn[at++] !== '.') || !fqn.startsWith(s, at)) return [fqn];
    parts.push(s);
    at += s.length;
  }
  return at === fqn.length ? parts : [fqn];
}

/** Put a value at its path, making dicts on the way; false where the path runs into a value. */
function place(root: PyDict, path: string[], v: PyValue): boolean {
  let d = root;
  for (let i = 0; i < path.length - 1; i++) {
    let next = d.get(path[i]);
    if (next === undefined) {
      next = new PyDict();
      d.set(path[i], next);
    }
    if (!(next instanceof PyDict)) return false;
    d = next;
  }
  if (d.has(path[path.length - 1])) return false;
  d.set(path[path.length - 1], v);
  return true;
}

export async function readDcpMetadata(src: ByteSource, ctx: ReaderContext): Promise<RawCheckpoint> {
  const file = relativeName(ctx, ctx.path);
  const safety = new SafetyTracker();
  try {
    return await readMetadataBody(src, ctx, file, safety);
  } catch (e) {
    throw withDangerous(e, safety);
  }
}

/** A failure after the pickle named dangerous globals still names them (as the torch.save reader does). */
function withDangerous(e: unknown, safety: SafetyTracker): unknown {
  if (!(e instanceof CheckpointError)) return e;
  const dangerous = safety.report().globals.filter((g) => g.verdict === 'dangerous');
  if (dangerous.length === 0) return e;
  const names = dangerous.slice(0, LISTED).map((g) => `${g.name} (dangerous)`).join(', ') + (dangerous.length > LISTED ? `, and ${dangerous.length - LISTED} more` : '');
  return new CheckpointError(e.code, `${e.detail}; before failing it references ${names}: pickle.load, which torch.distributed.checkpoint uses for .metadata, would run code (nothing was executed here)`, { file: e.file, offset: e.offset, record: e.record });
}

async function readMetadataBody(src: ByteSource, ctx: ReaderContext, file: string, safety: SafetyTracker): Promise<RawCheckpoint> {
  if (src.size > MAX_METADATA_BYTES) throw new CheckpointError('too-large', `.metadata is ${bytesExact(src.size)}; the limit is ${bytesExact(MAX_METADATA_BYTES)}`, { file });
  const bytes = await src.read(0, src.size);
  const session = new TorchSession(file);
  const warnings: Warning[] = [];
  // FileSystemReader.read_metadata calls pickle.load on it: nothing here is called, every global is reported.
  const { hooks, globals } = session.hooks('none');
  let result: UnpickleResult;
  try {
    result = unpickle(bytes, { file, hooks });
  } finally {
    safety.merge(globals);
  }
  scanTrailing(bytes, result.end, safety, warnings, { file, label: 'a second pickle after the first', junk: true });
  const md = dataclassOf(result.value, ['Metadata']);
  if (!md || !(result.value as PyObject).className?.startsWith(`${META}.`)) {
    throw new CheckpointError('unknown-format', `pickles ${describeValue(result.value)}, not ${META}.Metadata`, { file, offset: 0 });
  }
  const sdm = field(md.state, 'state_dict_metadata');
  if (!(sdm instanceof PyDict)) fail(file, 'Metadata.state_dict_metadata', `state_dict_metadata is ${describeValue(sdm ?? null)}, not a dict`);
  const plannerRaw = field(md.state, 'planner_data');
  const planner = plannerRaw instanceof PyDict ? plannerRaw : undefined;
  const storageRaw = field(md.state, 'storage_data');
  const version = field(md.state, 'version');

  // Where each chunk's bytes are: storage_data keyed by MetadataIndex(fqn, offset).
  const storage = new Map<string, Stored>();
  const transformed: string[] = [];
  let transforms: string | undefined;
  const key = (fqn: string, offsets: readonly number[] | null) => `${fqn}\0${offsets ? offsets.join(',') : '-'}`;
  if (storageRaw instanceof PyDict) {
    for (const [k, v] of storageRaw.entries()) {
      const index = dataclassOf(k, ['MetadataIndex']);
      const info = dataclassOf(v, ['_StorageInfo']);
      const fqn = field(index?.state, 'fqn');
      if (!index || typeof fqn !== 'string') fail(file, 'Metadata.storage_data', `storage_data has a key ${describeValue(k)}, not a MetadataIndex`);
      const record = `storage_data[MetadataIndex("${truncate(fqn)}")]`;
      if (!info) fail(file, record, `is ${describeValue(v)}, not a _StorageInfo`);
      const rel = field(info.state, 'relative_path');
      const offset = field(info.state, 'offset');
      const length = field(info.state, 'length');
      if (typeof rel !== 'string') fail(file, record, `relative_path is ${describeValue(rel ?? null)}`);
      checkRelative(rel, file, record);
      if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) fail(file, record, `offset is ${describeValue(offset ?? null)}, not a byte offset`);
      if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) fail(file, record, `length is ${describeValue(length ?? null)}, not a byte count`);
      const off = field(index.state, 'offset');
      storage.set(key(fqn, off === null || off === undefined ? null : ints(off, file, record, 'offset')), { file: rel, offset, length });
      const td = field(info.state, 'transform_descriptors');
      if (td instanceof PyList && td.items.length) {
        // One warning for them all: a compressed checkpoint has thousands of such entries.
        transformed.push(record);
        transforms ??= td.items.slice(0, 3).map((x) => describeValue(x)).join(', ');
      }
    }
  } else if (storageRaw !== null && storageRaw !== undefined) {
    warnings.push({ code: 'dcp-storage', message: `storage_data is ${describeValue(storageRaw)}, not FileSystemWriter's {MetadataIndex: _StorageInfo}: where the data is was not checked` });
  } else {
    warnings.push({ code: 'dcp-storage', message: 'the metadata has no storage_data (a storage writer other than FileSystemWriter): where the data is was not checked' });
  }

  const tensors: TensorEntry[] = [];
  const byTensor = new Map<TorchTensor, TensorEntry>();
  const root = new PyDict();
  const unknown: string[] = [];
  const badChunks: string[] = [];
  const unplaced: string[] = [];
  const noStorage: string[] = [];
  let bytesEntries = 0;
  let chunksLeft = Math.max(100_000, CHUNKS_PER_BYTE * bytes.length);
  const pairs: OverlapBudget = { left: Math.max(OVERLAP_PAIRS_FLOOR, OVERLAP_PAIRS_PER_BYTE * bytes.length), unchecked: 0 };
  for (const [k, v] of sdm.entries()) {
    if (typeof k !== 'string') fail(file, 'Metadata.state_dict_metadata', `has a key ${describeValue(k)}, not a name`);
    const record = `state_dict_metadata["${truncate(k)}"]`;
    const entry = dataclassOf(v, ['TensorStorageMetadata', 'BytesStorageMetadata']);
    let value: PyValue;
    if (entry?.name === 'TensorStorageMetadata') {
      const props = propertiesDtype(field(entry.state, 'properties'), file, record);
      const size = ints(field(entry.state, 'size'), file, record, 'size');
      numel(size, file, record);
      if (itemSize(props.dtype.name) === undefined) fail(file, record, `dtype ${props.dtype.name} has no whole-byte element size`);
      const list = field(entry.state, 'chunks');
      if (!(list instanceof PyList)) fail(file, record, `chunks is ${describeValue(list ?? null)}, not a list`);
      if ((chunksLeft -= list.items.length) < 0) {
        throw new CheckpointError('limit', `the state dict's chunk lists hold more than ${Math.max(100_000, CHUNKS_PER_BYTE * bytes.length)} chunks in all, more than a .metadata of ${bytesExact(bytes.length)} can describe (one chunk list shared by many keys)`, { file, record: `${record}.chunks` });
      }
      const chunks: Chunk[] = list.items.map((c, i) => {
        const cm = dataclassOf(c, ['ChunkStorageMetadata']);
        if (!cm) fail(file, `${record}.chunks[${i}]`, `is ${describeValue(c)}, not a ChunkStorageMetadata`);
        const offsets = ints(field(cm.state, 'offsets'), file, `${record}.chunks[${i}]`, 'offsets');
        return { offsets, sizes: ints(field(cm.state, 'sizes'), file, `${record}.chunks[${i}]`, 'sizes'), stored: storage.get(key(k, offsets)) };
      });
      const problem = chunkProblem(size, chunks, file, record, pairs);
      if (problem) badChunks.push(`${truncate(k)} (${problem})`);
      if (storage.size && chunks.some((c) => !c.stored)) noStorage.push(truncate(k));
      const t = new TorchTensor(null, 0, size, null, props.dtype.name, `torch.${props.dtype.spelled}`);
      t.requiresGrad = props.requiresGrad;
      const te = { fqn: k, tensor: t, chunks };
      tensors.push(te);
      byTensor.set(t, te);
      value = t;
    } else if (entry?.name === 'BytesStorageMetadata') {
      bytesEntries++;
      const s = storage.get(key(k, null));
      if (storage.size && !s) noStorage.push(truncate(k));
      value = new DcpBytes(k, s ? ` in ${s.file}, ${s.length} bytes` : '');
    } else {
      unknown.push(`${truncate(k)} (${describeValue(v)})`);
      continue;
    }
    if (!place(root, pathOf(planner, k), value) && !place(root, [k], value)) unplaced.push(truncate(k));
  }
  const list = (xs: string[]) => `${xs.slice(0, LISTED).join(', ')}${xs.length > LISTED ? `, and ${xs.length - LISTED} more` : ''}`;
  if (transformed.length) {
    warnings.push({
      code: 'dcp-transforms',
      message: `${transformed.length} storage entr${transformed.length === 1 ? 'y passes' : 'ies pass'} through storage transforms (the first: ${transforms}); not read here either way: ${list(transformed)}`,
    });
  }
  if (unknown.length) warnings.push({ code: 'dcp-unknown-entry', message: `${unknown.length} state dict entr${unknown.length === 1 ? 'y is' : 'ies are'} neither TensorStorageMetadata nor BytesStorageMetadata, not counted: ${list(unknown)}` });
  if (badChunks.length) warnings.push({ code: 'dcp-chunks', message: `the saved chunks do not cover ${badChunks.length === 1 ? 'a tensor' : `${badChunks.length} tensors`} exactly (torch checks this before it writes): ${list(badChunks)}; sizes are the metadata's` });
  if (pairs.unchecked) warnings.push({ code: 'dcp-chunks', message: `whether chunks overlap was not checked for ${pairs.unchecked} tensor${pairs.unchecked === 1 ? '' : 's'} (more than ${MAX_OVERLAP_CHUNKS} chunks, or more pairs of chunks in all than a .metadata of this size holds); their volume and bounds were` });
  if (noStorage.length) warnings.push({ code: 'dcp-storage', message: `${noStorage.length} entr${noStorage.length === 1 ? 'y has' : 'ies have'} a chunk storage_data does not locate: ${list(noStorage)}` });
  if (unplaced.length) warnings.push({ code: 'dcp-unknown-entry', message: `${unplaced.length} entr${unplaced.length === 1 ? 'y' : 'ies'} could not be placed in the state dict (a name that is also a prefix of others): ${list(unplaced)}` });

  const files = await checkFiles(ctx, storage, warnings);
  const interp = interpret(root, file, { maxNodes: Math.min(2_000_000, 100_000 + 16 * bytes.length) });
  const named: NamedTensor[] = interp.tensors;
  const records = toRecords(named, file);
  named.forEach((n, i) => {
    const te = byTensor.get(n.tensor);
    if (!te) return;
    const r = records[i];
    const where = [...new Set(te.chunks.map((c) => c.stored?.file).filter((f): f is string => f !== undefined))];
    if (where.length) r.file = relativeName(ctx, pathsOf(ctx.access).join(pathsOf(ctx.access).dirname(ctx.path), where[0]));
    // Each key's bytes are its own (DCP writes every name apart, a tied weight under each name):
    // one storage per key, so that what relates tensors by storage (a head config.json re-ties
    // to its embedding) sees them as separate. The data, in chunks across files, is not located.
    r.storage = `${file}:${te.fqn}`;
    r.storageOffset = 0;
    r.storageNbytes = r.nbytes;
    r.strides = contiguous(r.shape);
    const extra: Record<string, string | number | boolean> = Object.assign(Object.create(null), r.extra ?? {});
    extra.dcp_key = te.fqn;
    extra.chunks = te.chunks.length;
    if (where.length > 1) extra.files = where.length;
    r.extra = extra;
  });
  const tie = possibleTie(records);
  if (tie) warnings.push(tie);

  const dcp: Record<string, unknown> = Object.create(null);
  dcp.entries = sdm.size;
  dcp.tensors = tensors.length;
  dcp.bytes_entries = bytesEntries;
  dcp.chunks = tensors.reduce((s, t) => s + t.chunks.length, 0);
  dcp.files = files.names.length;
  if (typeof version === 'string') dcp.version = truncate(version, 40);
  dcp.pickle_protocol = result.protocol;
  dcp.layout = interp.layout;
  const meta: Record<string, unknown> = Object.create(null);
  meta.dcp = dcp;
  if (interp.checkpoint) meta.checkpoint = interp.checkpoint;
  const raw: RawCheckpoint = {
    format: 'dcp',
    path: ctx.path,
    files: [file, ...files.names],
    tensors: records,
    declaredTies: [],
    metadata: meta,
    warnings: [...safety.warnings(), ...warnings, ...interp.warnings],
    safety: safety.report(),
    bytesRead: src.bytesRead,
    totalBytes: src.size + files.bytes,
  };
  if (interp.prefixes.length) raw.prefixes = interp.prefixes;
  return raw;
}

/**
 * The data files storage_data names: each must exist beside `.metadata` and hold the ranges it
 * gives. Nothing is read from them; problems are warnings (the sizes come from the metadata).
 */
async function checkFiles(ctx: ReaderContext, storage: Map<string, Stored>, warnings: Warning[]): Promise<{ names: string[]; bytes: number }> {
  const p = pathsOf(ctx.access);
  const dir = p.dirname(ctx.path);
  const ends = new Map<string, number>();
  for (const s of storage.values()) ends.set(s.file, Math.max(ends.get(s.file) ?? 0, s.offset + s.length));
  const names: string[] = [];
  const missing: string[] = [];
  const short: string[] = [];
  let bytes = 0;
  let checked = 0;
  for (const [rel, end] of [...ends].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    if (checked++ >= MAX_FILES_CHECKED) break;
    const st = await ctx.access.stat(p.join(dir, rel));
    if (!st || st.isDirectory) {
      missing.push(truncate(rel));
      continue;
    }
    names.push(relativeName(ctx, p.join(dir, rel)));
    bytes += st.size;
    if (end > st.size) short.push(`${truncate(rel)} (${bytesExact(st.size)}; storage_data reaches byte ${end})`);
  }
  const list = (xs: string[]) => `${xs.slice(0, LISTED).join(', ')}${xs.length > LISTED ? `, and ${xs.length - LISTED} more` : ''}`;
  if (missing.length) warnings.push({ code: 'dcp-missing-file', message: `${missing.length} data file${missing.length === 1 ? '' : 's'} named by storage_data ${missing.length === 1 ? 'is' : 'are'} not in the folder: ${list(missing)}; torch.distributed.checkpoint.load would fail. Sizes are the metadata's` });
  if (short.length) warnings.push({ code: 'dcp-truncated-file', message: `${short.length} data file${short.length === 1 ? ' is' : 's are'} shorter than storage_data says: ${list(short)}` });
  if (ends.size > MAX_FILES_CHECKED) warnings.push({ code: 'dcp-files-unchecked', message: `storage_data names ${ends.size} files; the first ${MAX_FILES_CHECKED} were checked` });
  return { names, bytes };
}

function contiguous(shape: number[]): number[] {
  const out = new Array<number>(shape.length);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    out[i] = step;
    step *= shape[i];
  }
  return out;
}

const EMBEDDING = /(^|\.)(tok_embeddings|embed_tokens|word_embeddings|wte|embedding|embeddings|embed_in)\.weight$/;
const HEAD = /(^|\.)(output|lm_head|embed_out|output_layer)\.weight$/;

/**
 * A tied embedding cannot be seen in DCP: the state dict names the shared Parameter twice, and
 * DCP, which deduplicates by key, writes each name's bytes apart. An output head of the
 * embedding's shape and dtype may be it.
 */
function possibleTie(records: RawCheckpoint['tensors']): Warning | undefined {
  const emb = records.find((r) => r.shape.length === 2 && EMBEDDING.test(r.name));
  if (!emb) return undefined;
  const head = records.find((r) => r !== emb && HEAD.test(r.name) && r.dtype === emb.dtype && r.shape.length === 2 && r.shape[0] === emb.shape[0] && r.shape[1] === emb.shape[1]);
  if (!head) return undefined;
  const n = emb.shape[0] * emb.shape[1];
  return {
    code: 'dcp-possible-tie',
    message: `${head.name} has the shape of ${emb.name} [${emb.shape.join(', ')}]: a distributed checkpoint stores a tied weight under each of its names, so the file cannot say whether they are one Parameter; if the model ties them, PyTorch counts ${n.toLocaleString('en-US')} fewer parameters (a config.json beside the checkpoint with tie_word_embeddings is followed)`,
  };
}
