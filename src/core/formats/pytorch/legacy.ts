/**
 * The legacy torch.save format (before 1.6, or `_use_new_zipfile_serialization=False`): five
 * pickles back to back (magic number, protocol version, sys_info, the object, the storage keys),
 * then each storage as an int64 element count followed by its data. We read the pickles, then
 * hop from count to count: 8 bytes read per storage, the data skipped.
 */
import { ByteSource, withKnownRange } from '../../bytes';
import { CheckpointError } from '../../errors';
import { truncate } from '../../json';
import { PickleHooks, PickleLimits, PickleNeedsMore, PyDict, PyGlobal, PyList, PyTuple, PyValue, UnpickleResult, describeValue, unpickle } from './pickle';
import { Storage, TorchSession } from './torch';

export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
export const LEGACY_PROTOCOL = 1001;
/** The legacy format's pickles together are refused past this size (they hold structure, not data). */
export const MAX_LEGACY_PICKLE_BYTES = 1024 * 1024 * 1024;

function isMagic(v: PyValue): boolean {
  return (typeof v === 'bigint' && v === LEGACY_MAGIC) || (typeof v === 'number' && Number.isSafeInteger(v) && BigInt(v) === LEGACY_MAGIC);
}

/**
 * True when the file starts with a pickle of the torch.save magic number, in any protocol:
 * protocol 2 spells it PROTO LONG1, protocols 4 and 5 put a FRAME in between, protocols 0 and
 * 1 write it as a decimal LONG. The first pickle is parsed (inertly), not matched as bytes.
 */
export function looksLikeLegacy(head: Uint8Array): boolean {
  // Every spelling starts with PROTO, or LONG / LONG1 in protocols 0 and 1.
  if (head.length < 3 || (head[0] !== 0x80 && head[0] !== 0x4c && head[0] !== 0x8a)) return false;
  try {
    const r = unpickle(head, {
      file: '',
      hooks: { resolveGlobal: (module, name) => new PyGlobal(module, name) },
      limits: { maxObjects: 16, maxDepth: 4, maxMemo: 4, maxIntBytes: 64 },
    });
    return isMagic(r.value);
  } catch {
    return false;
  }
}

/** Pickles read from the start of a file, pulling in more bytes only when a pickle runs past them. */
export class PickleStream {
  private buf = new Uint8Array(0);
  constructor(
    private readonly src: ByteSource,
    private readonly file: string,
    private chunk = 16 * 1024,
    private readonly maxBytes = MAX_LEGACY_PICKLE_BYTES,
  ) {}

  get loaded(): number {
    return this.buf.length;
  }

  /** The bytes loaded so far, from the start of the file. */
  get bytes(): Uint8Array {
    return this.buf;
  }

  /** Load at least `atLeast` bytes (at most the file): doubling, so a long pickle costs O(n log n). */
  private async grow(atLeast: number): Promise<void> {
    if (this.buf.length >= this.src.size) return;
    const want = Math.min(this.src.size, Math.max(atLeast, this.buf.length * 2, this.chunk));
    if (want > this.maxBytes) {
      throw new CheckpointError('limit', `the legacy pickles run past ${this.maxBytes} bytes (they hold structure, not tensor data)`, { file: this.file, offset: this.buf.length });
    }
    const more = await this.src.read(this.buf.length, want - this.buf.length);
    const next = new Uint8Array(want);
    next.set(this.buf, 0);
    next.set(more, this.buf.length);
    this.buf = next;
  }

  /** `onRetry` runs before the pickle is read again with more bytes (to forget the partial run). */
  async load(start: number, hooks: PickleHooks, limits?: Partial<PickleLimits>, onRetry?: () => void): Promise<UnpickleResult> {
    if (this.buf.length === 0) await this.grow(0);
    for (;;) {
      try {
        return unpickle(this.buf, { file: this.file, start, hooks, limits, available: this.src.size });
      } catch (e) {
        // Only a read that fits in the file asks for more bytes: a length claimed past the
        // end of the file fails at once instead of loading the file to find out.
        if (e instanceof PickleNeedsMore && this.buf.length < this.src.size) {
          await this.grow(e.needEnd);
          onRetry?.();
          continue;
        }
        throw e;
      }
    }
  }
}

export interface LegacyHeader {
  sysInfo: PyValue;
  main: PyValue;
  keys: string[];
  /** File offset just past the storage key list: where the first storage's count sits. */
  storagesStart: number;
  protocol: number;
  /** Bytes of the main pickle (the object), for the structure walk's budget. */
  mainBytes: number;
  /** The file with the bytes loaded for the pickles kept in memory: read what follows through it. */
  source: ByteSource;
}

export async function readLegacyPickles(
  src: ByteSource,
  file: string,
  session: TorchSession,
  onGlobals: (g: ReturnType<TorchSession['hooks']>['globals']) => void,
  limits?: Partial<PickleLimits>,
): Promise<LegacyHeader> {
  const stream = new PickleStream(src, file);
  const run = async (start: number, kind: 'none' | 'legacy') => {
    const { hooks, globals } = session.hooks(kind);
    try {
      return await stream.load(start, hooks, limits, () => globals.reset());
    } finally {
      // Globals named before a failure are reported too (the caller names dangerous ones).
      onGlobals(globals);
    }
  };
  const magic = await run(0, 'none');
  if (!isMagic(magic.value)) {
    throw new CheckpointError('unknown-format', `first pickle holds ${describeValue(magic.value)}, not the torch.save magic number: not a PyTorch legacy checkpoint`, { file, offset: 0 });
  }
  const proto = await run(magic.end, 'none');
  if (proto.value !== LEGACY_PROTOCOL) {
    throw new CheckpointError('unsupported', `legacy protocol version ${describeValue(proto.value)} (expected ${LEGACY_PROTOCOL})`, { file, offset: magic.end });
  }
  const sys = await run(proto.end, 'none');
  const main = await run(sys.end, 'legacy');
  const keyList = await run(main.end, 'none');
  const items = keyList.value instanceof PyList || keyList.value instanceof PyTuple ? keyList.value.items : null;
  if (!items) throw new CheckpointError('bad-pickle', `storage key list is ${describeValue(keyList.value)}`, { file, offset: main.end });
  const keys = items.map((k) => {
    if (typeof k === 'string') return k;
    if (typeof k === 'number' || typeof k === 'bigint') return String(k);
    throw new CheckpointError('bad-pickle', `storage key ${describeValue(k)} is not a string`, { file, offset: main.end });
  });
  return {
    sysInfo: sys.value,
    main: main.value,
    keys,
    storagesStart: keyList.end,
    protocol: main.protocol,
    mainBytes: main.end - sys.end,
    source: withKnownRange(src, 0, stream.bytes),
  };
}

/** Walk the storage area: count, data, count, data... reading only the counts. */
export async function locateLegacyStorages(src: ByteSource, file: string, session: TorchSession, keys: string[], start: number): Promise<Storage[]> {
  let pos = start;
  const located: Storage[] = [];
  const seen = new Set<string>();
  for (const key of keys) {
    const where = { file, offset: pos, record: `storage "${truncate(key)}"` };
    if (seen.has(key)) throw new CheckpointError('bad-pickle', 'storage key listed twice', where);
    seen.add(key);
    const s = session.storages.get(key);
    if (!s) throw new CheckpointError('bad-pickle', 'storage key is listed but no tensor refers to it, so its element size is unknown', where);
    if (pos + 8 > src.size) throw new CheckpointError('truncated', `storage element count needs 8 bytes at byte ${pos} but the file ends at ${src.size}`, where);
    const b = await src.read(pos, 8);
    const n = new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0, true);
    if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError('bad-offsets', `storage element count ${n} is out of range`, where);
    const count = Number(n);
    const bytes = count * s.itemsize;
    if (count !== s.numel) {
      throw new CheckpointError('bad-offsets', `storage holds ${count} elements on disk but the pickle declares ${s.numel}`, where);
    }
    const dataStart = pos + 8;
    if (!Number.isSafeInteger(dataStart + bytes) || dataStart + bytes > src.size) {
      throw new CheckpointError('truncated', `storage data needs ${bytes} bytes at byte ${dataStart} but the file ends at ${src.size}`, where);
    }
    s.dataOffset = dataStart;
    s.recordBytes = bytes;
    located.push(s);
    pos = dataStart + bytes;
  }
  for (const s of session.storages.values()) {
    if (!seen.has(s.key)) {
      throw new CheckpointError('bad-pickle', `storage "${truncate(s.key)}" is referenced by a tensor but missing from the storage key list`, { file });
    }
  }
  return located;
}

export function sysInfoPlain(v: PyValue): Record<string, unknown> | undefined {
  if (!(v instanceof PyDict)) return undefined;
  const o: Record<string, unknown> = Object.create(null);
  for (const [k, x] of v.entries()) {
    if (typeof k !== 'string') continue;
    if (x instanceof PyDict) {
      const inner: Record<string, unknown> = Object.create(null);
      for (const [k2, y] of x.entries()) if (typeof k2 === 'string' && (typeof y === 'number' || typeof y === 'string' || typeof y === 'boolean')) inner[k2] = y;
      o[k] = inner;
    } else if (typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean') o[k] = x;
  }
  return o;
}
