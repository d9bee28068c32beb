/**
 * The oldest torch.save format: a tar archive (tar.ts reads its members) that torch 1.13's
 * torch.load still reads (serialization.py, legacy_load). Its members:
 *   - `storages`: a pickled count; per storage a pickled `(key, location, storage type)`, an int64
 *     element count and the data; then a pickled list of storage views `(key, root key, element
 *     offset, element count)`. We read the pickles and counts and skip the data by its size.
 *   - `tensors`: a pickled count; per tensor a pickled `(key, storage key, tensor type)` and raw
 *     metadata: int32 ndim, 4 bytes of padding, ndim int64 sizes, ndim int64 strides, int64 offset.
 *   - `pickle`: the object, whose persistent ids are `str(key)` of a tensor or storage above, or
 *     `(module class, source file, source)`.
 *   - `sys_info`: a pickled dict that torch.load never reads.
 * Keys were id() values: integers, kept here as their decimal text.
 */
import { ByteSource } from '../../bytes';
import { CheckpointError } from '../../errors';
import { truncate } from '../../json';
import { PickleHooks, PickleLimits, PickleNeedsMore, PyBytes, PyList, PyTuple, PyValue, Site, UnpickleResult, describeValue, unpickle } from './pickle';
import { SafetyRecorder } from './safety';
import { Storage, StorageRef, StorageType, TorchSession, TorchTensor } from './torch';
import { TarMember } from './tar';

/** One pickle of a member that failed or ended: the globals it named go to the safety report. */
export type OnGlobals = (g: SafetyRecorder) => void;

/** A pickle in the storages member is a header of a few dozen bytes; past this it is refused. */
export const MAX_STORAGE_PICKLE = 64 * 1024 * 1024;
/** First guess at a storage header and its count (later ones guess the previous one's length). */
const FIRST_WINDOW = 64;

/** What a key of the old format names: a storage (maybe a view into another), or a tensor. */
export type TarObject = StorageRef | TorchTensor;

/** A storage view of the storages member: its root and the elements of it it covers. */
interface ViewSlot {
  ref: StorageRef;
  numel: number;
}

/** An integer key as its decimal text (Python's int() of the persistent id or pickled key). */
function keyText(v: PyValue, what: string, where: { file: string; offset: number; record: string }): string {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? '1' : '0';
  const text = typeof v === 'string' ? v : v instanceof PyBytes ? new TextDecoder('latin1').decode(v.data) : undefined;
  // int(' 12 '), int('+12') and int('1_2') are all 12.
  if (text !== undefined && text.length <= 64 && /^\s*[+-]?\d+(_\d+)*\s*$/.test(text)) return BigInt(text.trim().replace(/_/g, '')).toString();
  throw new CheckpointError('bad-pickle', `${what} is ${describeValue(v)}, not an integer key`, where);
}

function count(v: PyValue, what: string, where: { file: string; offset: number; record: string }): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  throw new CheckpointError(typeof v === 'bigint' ? 'too-large' : 'bad-pickle', `${what} is ${describeValue(v)}, not a non-negative integer`, where);
}

/**
 * Pickles read one after another from a member, by windows: each read asks for about what the
 * previous pickle took, grows only as far as the pickle needs, and never past the member.
 */
class MemberPickles {
  private guess = FIRST_WINDOW;
  constructor(
    private readonly src: ByteSource,
    private readonly file: string,
    private readonly member: TarMember,
    private readonly limits?: Partial<PickleLimits>,
  ) {}

  get end(): number {
    return this.member.offset + this.member.size;
  }

  /** The pickle at `pos`, and the `after` bytes that follow it (read in the same window when they fit). */
  async load(pos: number, hooks: PickleHooks, globals: SafetyRecorder, after = 0): Promise<{ result: UnpickleResult; end: number; tail: Uint8Array }> {
    const left = this.end - pos;
    let buf = await this.src.read(pos, Math.min(left, this.guess));
    for (;;) {
      let r: UnpickleResult;
      try {
        r = unpickle(buf, { file: this.file, base: pos, hooks, limits: this.limits, available: left });
      } catch (e) {
        if (!(e instanceof PickleNeedsMore) || buf.length >= left) throw e;
        const want = Math.min(left, Math.max(e.needEnd, buf.length * 2));
        if (want > MAX_STORAGE_PICKLE) {
          throw new CheckpointError('limit', `a pickle in tar member "${this.member.name}" runs past ${MAX_STORAGE_PICKLE} bytes`, { file: this.file, offset: pos });
        }
        const more = await this.src.read(pos + buf.length, want - buf.length);
        const next = new Uint8Array(want);
        next.set(buf, 0);
        next.set(more, buf.length);
        buf = next;
        globals.reset();
        continue;
      }
      const end = pos + r.end;
      const need = Math.min(after, this.end - end);
      let tail = buf.subarray(r.end, r.end + need);
      if (tail.length < need) {
        const more = await this.src.read(pos + buf.length, need - tail.length);
        const t = new Uint8Array(need);
        t.set(tail, 0);
        t.set(more, tail.length);
        tail = t;
      }
      this.guess = Math.max(16, r.end + after);
      return { result: r, end, tail };
    }
  }
}

/** Storages and storage views of the `storages` member, by key; each storage's data located, never read. */
export interface TarStorages {
  storages: Storage[];
  /** Every key a tensor or the pickle may name: storages and views. */
  objects: Map<string, ViewSlot>;
  /** Bytes of the member after the view list (torch.load ignores them). */
  trailing: number;
}

export async function readTarStorages(
  src: ByteSource,
  file: string,
  member: TarMember,
  session: TorchSession,
  onGlobals: OnGlobals,
  limits?: Partial<PickleLimits>,
): Promise<TarStorages> {
  const reader = new MemberPickles(src, file, member, limits);
  const end = reader.end;
  const record = (what: string) => `tar member "storages": ${what}`;
  const run = async (pos: number, after = 0) => {
    const { hooks, globals } = session.hooks('none');
    try {
      return await reader.load(pos, hooks, globals, after);
    } finally {
      onGlobals(globals);
    }
  };
  let pos = member.offset;
  const head = await run(pos);
  const n = count(head.result.value, 'storage count', { file, offset: pos, record: record('count') });
  pos = head.end;
  const storages: Storage[] = [];
  const objects = new Map<string, ViewSlot>();
  // The count comes from the file: the loop is bounded by the member instead, each storage
  // taking at least its header's STOP and its 8-byte count.
  for (let i = 0; i < n; i++) {
    const where = { file, offset: pos, record: record(`storage ${i}`) };
    if (pos >= end) throw new CheckpointError('truncated', `member ends after ${i} of the ${n} storages it declares`, where);
    const h = await run(pos, 8);
    const items = h.result.value instanceof PyTuple ? h.result.value.items : null;
    if (!items || items.length !== 3) throw new CheckpointError('bad-pickle', `storage header is ${describeValue(h.result.value)}, not (key, location, storage type)`, where);
    const [rawKey, location, stype] = items;
    const key = keyText(rawKey, 'storage key', where);
    if (!(stype instanceof StorageType)) throw new CheckpointError('bad-pickle', `storage type is ${describeValue(stype)}, not a torch storage class`, where);
    if (objects.has(key)) throw new CheckpointError('bad-pickle', `storage key ${truncate(key)} is listed twice`, where);
    const countAt = h.end;
    if (h.tail.length < 8) throw new CheckpointError('truncated', `storage element count needs 8 bytes at byte ${countAt} but the member ends at ${end}`, { ...where, offset: countAt });
    const c = new DataView(h.tail.buffer, h.tail.byteOffset, 8).getBigInt64(0, true);
    if (c < 0n || c > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError('bad-offsets', `storage element count ${c} is out of range`, { ...where, offset: countAt });
    const numel = Number(c);
    const s = new Storage(key, `${file}:${key}`, stype, numel, typeof location === 'string' ? location : 'cpu');
    const bytes = numel * s.itemsize;
    const dataStart = countAt + 8;
    if (!Number.isSafeInteger(dataStart + bytes) || dataStart + bytes > end) {
      throw new CheckpointError('truncated', `storage data needs ${bytes} bytes at byte ${dataStart} but the member ends at ${end}`, { ...where, offset: dataStart });
    }
    s.dataOffset = dataStart;
    s.recordBytes = bytes;
    session.storages.set(key, s);
    storages.push(s);
    objects.set(key, { ref: new StorageRef(s, 0), numel });
    pos = dataStart + bytes;
  }
  // Storage views: a key for elements [offset, offset + numel) of another storage (or view).
  const viewsAt = pos;
  const where = { file, offset: viewsAt, record: record('storage views') };
  if (pos >= end) throw new CheckpointError('truncated', 'member ends before its list of storage views', where);
  const v = await run(pos);
  const list = v.result.value instanceof PyList || v.result.value instanceof PyTuple ? v.result.value.items : null;
  if (!list) throw new CheckpointError('bad-pickle', `storage views are ${describeValue(v.result.value)}, not a list`, where);
  for (const entry of list) {
    const f = entry instanceof PyTuple || entry instanceof PyList ? entry.items : null;
    if (!f || f.length !== 4) throw new CheckpointError('bad-pickle', `storage view ${describeValue(entry)} is not (key, root key, offset, size)`, where);
    const key = keyText(f[0], 'storage view key', where);
    const rootKey = keyText(f[1], 'storage view root key', where);
    const off = count(f[2], 'storage view offset', where);
    const size = count(f[3], 'storage view size', where);
    const root = objects.get(rootKey);
    if (!root) throw new CheckpointError('bad-pickle', `storage view ${truncate(key)} names root ${truncate(rootKey)}, which is no storage`, where);
    if (objects.has(key)) throw new CheckpointError('bad-pickle', `storage view key ${truncate(key)} is already a storage`, where);
    if (off + size > root.numel) throw new CheckpointError('bad-offsets', `storage view ${truncate(key)} covers elements [${off}, ${off + size}) of a ${root.numel}-element storage`, where);
    objects.set(key, { ref: new StorageRef(root.ref.storage, root.ref.elemOffset + off), numel: size });
  }
  return { storages, objects, trailing: end - v.end };
}

/**
 * The `tensors` member (in memory: it holds metadata only): each tensor as a view of its storage,
 * with the offsets of a storage view folded into its root's.
 */
export function readTarTensors(
  data: Uint8Array,
  base: number,
  file: string,
  slots: Map<string, ViewSlot>,
  session: TorchSession,
  onGlobals: OnGlobals,
  limits?: Partial<PickleLimits>,
): Map<string, TorchTensor> {
  const record = (what: string) => `tar member "tensors": ${what}`;
  const run = (start: number) => {
    const { hooks, globals } = session.hooks('none');
    try {
      return unpickle(data, { file, base, start, hooks, limits });
    } finally {
      onGlobals(globals);
    }
  };
  const first = run(0);
  const n = count(first.value, 'tensor count', { file, offset: base, record: record('count') });
  let pos = first.end;
  const tensors = new Map<string, TorchTensor>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const int64 = (at: number, what: string, where: { file: string; offset: number; record: string }): number => {
    const v = view.getBigInt64(at, true);
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError('bad-shape', `${what} ${v} is out of range`, { ...where, offset: base + at });
    return Number(v);
  };
  for (let i = 0; i < n; i++) {
    const where = { file, offset: base + pos, record: record(`tensor ${i}`) };
    if (pos >= data.length) throw new CheckpointError('truncated', `member ends after ${i} of the ${n} tensors it declares`, where);
    const h = run(pos);
    const items = h.value instanceof PyTuple ? h.value.items : null;
    if (!items || items.length !== 3) throw new CheckpointError('bad-pickle', `tensor header is ${describeValue(h.value)}, not (key, storage key, tensor type)`, where);
    const key = keyText(items[0], 'tensor key', where);
    const storageKey = keyText(items[1], 'tensor storage key', where);
    pos = h.end;
    if (pos + 8 > data.length) throw new CheckpointError('truncated', `tensor metadata needs 8 bytes at byte ${base + pos} but the member ends at ${base + data.length}`, where);
    const ndim = view.getInt32(pos, true);
    if (ndim < 0 || ndim > 64) throw new CheckpointError('bad-shape', `tensor has ${ndim} dimensions`, { ...where, offset: base + pos });
    const need = 8 + 16 * ndim + 8;
    if (pos + need > data.length) throw new CheckpointError('truncated', `tensor metadata needs ${need} bytes at byte ${base + pos} but the member ends at ${base + data.length}`, where);
    const shape: number[] = [];
    const stride: number[] = [];
    for (let d = 0; d < ndim; d++) shape.push(int64(pos + 8 + 8 * d, 'tensor size', where));
    for (let d = 0; d < ndim; d++) stride.push(int64(pos + 8 + 8 * ndim + 8 * d, 'tensor stride', where));
    const offset = int64(pos + 8 + 16 * ndim, 'tensor storage offset', where);
    pos += need;
    const slot = slots.get(storageKey);
    if (!slot) throw new CheckpointError('bad-pickle', `tensor ${truncate(key)} names storage ${truncate(storageKey)}, which the storages member does not hold`, where);
    if (tensors.has(key) || slots.has(key)) throw new CheckpointError('bad-pickle', `tensor key ${truncate(key)} is used twice`, where);
    // The view must fit in the storage (or storage view) it names; the check against the root
    // storage's bytes comes when records are made.
    let last = offset;
    for (let d = 0; d < ndim; d++) last += shape[d] === 0 ? -Infinity : (shape[d] - 1) * stride[d];
    if (Number.isFinite(last) && (!Number.isSafeInteger(last) || last >= slot.numel)) {
      throw new CheckpointError('bad-shape', `tensor ${truncate(key)} (offset ${offset}, size [${shape.join(', ')}], stride [${stride.join(', ')}]) reaches past the ${slot.numel} elements of storage ${truncate(storageKey)}`, where);
    }
    const s = slot.ref.storage;
    tensors.set(key, new TorchTensor(s, slot.ref.elemOffset + offset, shape, stride, s.type.dtype ?? 'uint8', s.type.full));
  }
  return tensors;
}

/**
 * persistent_load of the `pickle` member, as legacy_load has it: a tuple is a module class sent
 * with its source (the class is returned; torch compares the source, nothing runs here); anything
 * else is int()-ed and looked up among the tensors and storages.
 */
export function tarPersistentLoad(tensors: Map<string, TorchTensor>, slots: Map<string, ViewSlot>): NonNullable<PickleHooks['persistentLoad']> {
  return (pid: PyValue, site: Site): PyValue => {
    const where = { file: site.file, offset: site.offset, record: `pickle opcode ${site.opcode}` };
    if (pid instanceof PyTuple) {
      if (pid.items.length === 0) throw new CheckpointError('bad-pickle', 'persistent id is an empty tuple', where);
      return pid.items[0];
    }
    const key = keyText(pid, 'persistent id', where);
    const found = tensors.get(key) ?? slots.get(key)?.ref;
    if (!found) throw new CheckpointError('bad-pickle', `persistent id ${truncate(key)} names no tensor or storage of the archive`, where);
    return found;
  };
}
