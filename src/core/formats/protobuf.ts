/**
 * Streaming reads for headers that have no length up front (GGUF key/value and tensor-info
 * sections, ONNX protobuf messages), and a protobuf wire-format walker built on them.
 *
 * ChunkedReader keeps one window of the file in memory and refills it with ranged reads: the
 * window grows while reads stay sequential (a long node list, a token array) and falls back to a
 * small size after a seek (skipping a tensor's raw data), so bulk fields are never read.
 *
 * The walker visits the fields of one message between two absolute offsets. Every length is
 * checked against the enclosing message and the file before anything is read or allocated.
 */
import { ByteSource, KnownRange, u32le, withKnownRanges } from '../bytes';
import { CheckpointError } from '../errors';

const MIN_CHUNK = 4096;
const MAX_CHUNK = 1 << 20;
/** Earlier windows kept (bytes, count), so a parser that comes back (ONNX attributes after their node) reads nothing twice. */
const HISTORY_BYTES = 4 * MAX_CHUNK;
const HISTORY_WINDOWS = 64;

export class ChunkedReader {
  private buf: Uint8Array = new Uint8Array(0);
  /** Absolute offset of buf[0]. */
  private start = 0;
  private chunk = MIN_CHUNK;
  /** Windows read before the current one, oldest first, at most HISTORY_BYTES in all. */
  private history: KnownRange[] = [];
  private historyBytes = 0;

  constructor(
    readonly src: ByteSource,
    /** Name used in error messages. */
    readonly file: string,
    private readonly minChunk = MIN_CHUNK,
    private readonly maxChunk = MAX_CHUNK,
  ) {
    this.chunk = minChunk;
  }

  get size(): number {
    return this.src.size;
  }

  /** The window in memory (see residentIndex). */
  get resident(): Uint8Array {
    return this.buf;
  }

  /** Index in `resident` of absolute offset `pos` when [pos, pos+n) is in memory, else -1. */
  residentIndex(pos: number, n: number): number {
    const rel = pos - this.start;
    return rel >= 0 && rel + n <= this.buf.length ? rel : -1;
  }

  /**
   * The u64 at `pos` if its bytes are in memory: a number, or Infinity when it exceeds 2^53.
   * Null when the bytes are not in memory.
   */
  u64Now(pos: number): number | null {
    const rel = pos - this.start;
    if (rel < 0 || rel + 8 > this.buf.length) return null;
    const b = this.buf;
    const lo = u32le(b, rel);
    const hi = u32le(b, rel + 4);
    // Below 2^32, `lo` itself: before the function is optimized, `hi * 2^32 + lo` is a boxed
    // double even when small, and one such stored in a record makes that field boxed in every
    // record after it (GGUF tensor sizes and offsets, 48 bytes a tensor).
    if (hi === 0) return lo;
    return hi >= 0x200000 ? Infinity : hi * 0x100000000 + lo;
  }

  /** The u32 at `pos` if its bytes are in memory, else null. */
  u32Now(pos: number): number | null {
    const rel = pos - this.start;
    return rel < 0 || rel + 4 > this.buf.length ? null : u32le(this.buf, rel);
  }

  /** The bytes [pos, pos+n) if they are already in memory, else null. */
  peek(pos: number, n: number): Uint8Array | null {
    const rel = pos - this.start;
    if (rel >= 0 && rel + n <= this.buf.length) return this.buf.subarray(rel, rel + n);
    return null;
  }

  /**
   * The bytes [pos, pos+n), read if needed. The view is valid until the next call on this reader:
   * decode it at once. A range past the end of the file is a typed `truncated` error.
   */
  async view(pos: number, n: number, what: string): Promise<Uint8Array> {
    const have = this.peek(pos, n);
    if (have) return have;
    if (!Number.isSafeInteger(pos) || !Number.isSafeInteger(n) || pos < 0 || n < 0) {
      throw new CheckpointError('bad-offsets', `invalid range for ${what} (offset ${pos}, length ${n})`, { file: this.file });
    }
    if (pos + n > this.size) {
      throw new CheckpointError('truncated', `${what} needs ${n} bytes at byte ${pos} but the file ends at ${this.size}`, { file: this.file, offset: pos });
    }
    await this.fill(pos, n);
    return this.buf.subarray(pos - this.start, pos - this.start + n);
  }

  private async fill(pos: number, n: number): Promise<void> {
    const end = this.start + this.buf.length;
    const overlaps = pos >= this.start && pos < end;
    // Sequential reading (continuing at or inside the window) grows the window; a seek resets it.
    this.chunk = overlaps || pos === end ? Math.min(this.chunk * 2, this.maxChunk) : this.minChunk;
    let want = Math.min(Math.max(n, this.chunk), this.size - pos);
    // Moving on keeps a little of what lies behind (a parser may look back at the field it is
    // in); a look just before the window keeps the window. No byte in memory is read again.
    let from = pos;
    if (overlaps) from = Math.max(this.start, pos - this.minChunk);
    else if (pos < this.start && pos + want >= this.start) want = Math.max(want, end - pos);
    const known = withKnownRanges(this.src, [...this.history, { start: this.start, data: this.buf }]);
    const buf = await known.read(from, pos + want - from);
    if (from > this.start || from + buf.length < this.start + this.buf.length) this.remember(this.start, this.buf);
    this.buf = buf;
    this.start = from;
  }

  /** Keep a window the reader moves away from, dropping the oldest past the budget. */
  private remember(start: number, buf: Uint8Array): void {
    if (buf.length === 0) return;
    this.history.push({ start, data: buf });
    this.historyBytes += buf.length;
    while (this.history.length > 1 && (this.historyBytes > HISTORY_BYTES || this.history.length > HISTORY_WINDOWS)) this.historyBytes -= this.history.shift()!.data.length;
  }

  async u8(pos: number, what: string): Promise<number> {
    return (await this.view(pos, 1, what))[0];
  }

  async u32(pos: number, what: string): Promise<number> {
    return u32le(await this.view(pos, 4, what), 0);
  }

  /** Unsigned 64-bit little-endian value as a bigint. */
  async u64big(pos: number, what: string): Promise<bigint> {
    const b = await this.view(pos, 8, what);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  }

  /** Unsigned 64-bit value that must fit a safe integer (a length, a count, an offset). */
  async u64(pos: number, what: string): Promise<number> {
    const v = await this.u64big(pos, what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new CheckpointError('too-large', `${what} ${v} is too large`, { file: this.file, offset: pos });
    }
    return Number(v);
  }

  /** Strict UTF-8 text of [pos, pos+n). */
  async utf8(pos: number, n: number, what: string): Promise<string> {
    return decodeText(await this.view(pos, n, what), this.file, pos, what);
  }

  /** The text of [pos, pos+n) if those bytes are in memory, else null. */
  utf8Now(pos: number, n: number, what: string): string | null {
    const b = this.peek(pos, n);
    return b ? decodeText(b, this.file, pos, what) : null;
  }
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8 decoding, with a fast path for short ASCII names. */
export function decodeText(b: Uint8Array, file: string, offset: number, what: string): string {
  const s = strictUtf8(b);
  if (s === null) throw new CheckpointError('bad-header', `${what} is not valid UTF-8`, { file, offset });
  return s;
}

/** The text of `b`, or null when it is not valid UTF-8: decodeText for a caller that reports that another way. */
export function strictUtf8(b: Uint8Array): string | null {
  if (b.length <= 64) {
    let ascii = true;
    for (let i = 0; i < b.length; i++) {
      if (b[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, b as unknown as number[]);
  }
  try {
    return utf8Decoder.decode(b);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire format

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** A decoded varint: a number when it fits a safe integer, else a bigint (up to 2^64 - 1). */
export type VarintValue = number | bigint;

export interface Varint {
  value: VarintValue;
  /** Encoded length in bytes (1..10). */
  len: number;
}

/**
 * Decode a varint from `b` (whose first byte sits at absolute offset `at`). At most 10 bytes; the
 * 10th may only carry the 64th bit. Running off the end of `b` means the varint is cut short.
 */
export function decodeVarint(b: Uint8Array, file: string, at: number, what: string, cutShort: () => CheckpointError, start = 0, limit = b.length): Varint {
  let value = 0;
  let mul = 1;
  let i = 0;
  const avail = Math.min(limit, b.length - start);
  // Up to 7 bytes (49 bits) fit a double exactly.
  for (; i < 7; i++) {
    if (i >= avail) throw cutShort();
    const c = b[start + i];
    value += (c & 0x7f) * mul;
    if (c < 0x80) return { value, len: i + 1 };
    mul *= 128;
  }
  let big = BigInt(value);
  let shift = 49n;
  for (; i < 10; i++) {
    if (i >= avail) throw cutShort();
    const c = b[start + i];
    if (i === 9 && c >= 0x80) break;
    if (i === 9 && c > 1) {
      throw new CheckpointError('bad-header', `${what}: varint overflows 64 bits`, { file, offset: at });
    }
    big |= BigInt(c & 0x7f) << shift;
    shift += 7n;
    if (c < 0x80) {
      return { value: big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big, len: i + 1 };
    }
  }
  throw new CheckpointError('bad-header', `${what}: varint is longer than 10 bytes`, { file, offset: at });
}

/** A varint read as protobuf int64/int32: two's complement for values of 2^63 and above. */
export function asSigned(v: VarintValue): number | bigint {
  if (typeof v === 'number') return v;
  if (v >= 1n << 63n) {
    const s = v - (1n << 64n);
    return s >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(s) : s;
  }
  return v;
}

export interface Field {
  /** Field number. */
  no: number;
  wire: number;
  /** Absolute offset of the field's tag. */
  at: number;
  /** Absolute offset of the value (after the tag, and after the length for LEN fields). */
  pos: number;
  /** Length of the value in bytes (LEN payload; 8 or 4 for fixed; varint length). */
  len: number;
  /** The value of a VARINT field; 0 for other wire types. */
  value: VarintValue;
}

/** Read a varint at `pos`, which must end before `end` (the enclosing message's end). */
export async function readVarint(r: ChunkedReader, pos: number, end: number, what: string): Promise<Varint> {
  return varintNow(r, pos, end, what) ?? decodeVarint(await r.view(pos, Math.min(10, end - pos), what), r.file, pos, what, () => cutShort(r, pos, end, what));
}

/** The varint at `pos` if its bytes are in memory, else null (no promise on the hot path). */
function varintNow(r: ChunkedReader, pos: number, end: number, what: string): Varint | null {
  const n = Math.min(10, end - pos);
  const at = r.residentIndex(pos, n);
  return at < 0 ? null : decodeVarint(r.resident, r.file, pos, what, () => cutShort(r, pos, end, what), at, n);
}

function cutShort(r: ChunkedReader, pos: number, end: number, what: string): CheckpointError {
  if (end >= r.size) {
    return new CheckpointError('truncated', `${what}: varint at byte ${pos} runs past the end of the file (${r.size} bytes)`, { file: r.file, offset: pos });
  }
  return new CheckpointError('bad-header', `${what}: varint runs past the end of its message at byte ${end}`, { file: r.file, offset: pos });
}

/**
 * Visit every field of the message occupying [start, end). The visitor may read or descend into a
 * LEN field; whatever it does, the walk continues after the field, so fields it ignores are
 * skipped without being read.
 */
export async function walkMessage(
  r: ChunkedReader,
  start: number,
  end: number,
  message: string,
  visit: (f: Field) => void | Promise<void>,
): Promise<void> {
  if (end > r.size) {
    throw new CheckpointError('truncated', `${message} ends at byte ${end} but the file ends at ${r.size}`, { file: r.file, offset: start });
  }
  let pos = start;
  while (pos < end) {
    const at = pos;
    const tag = varintNow(r, pos, end, `${message} field tag`) ?? (await readVarint(r, pos, end, `${message} field tag`));
    pos += tag.len;
    if (typeof tag.value !== 'number' || tag.value > 0xffffffff) {
      throw new CheckpointError('bad-header', `${message}: field tag ${tag.value} is out of range`, { file: r.file, offset: at });
    }
    const no = Math.floor(tag.value / 8);
    const wire = tag.value & 7;
    if (no === 0) throw new CheckpointError('bad-header', `${message}: field number 0 is invalid`, { file: r.file, offset: at });
    const f: Field = { no, wire, at, pos, len: 0, value: 0 };
    switch (wire) {
      case WIRE_VARINT: {
        const v = varintNow(r, pos, end, `${message} field ${no}`) ?? (await readVarint(r, pos, end, `${message} field ${no}`));
        f.value = v.value;
        f.len = v.len;
        break;
      }
      case WIRE_I64:
        f.len = 8;
        break;
      case WIRE_I32:
        f.len = 4;
        break;
      case WIRE_LEN: {
        const l = varintNow(r, pos, end, `${message} field ${no} length`) ?? (await readVarint(r, pos, end, `${message} field ${no} length`));
        if (typeof l.value !== 'number') {
          throw new CheckpointError('truncated', `${message}: field ${no} needs ${l.value} bytes at byte ${pos + l.len} but the file ends at ${r.size}`, { file: r.file, offset: at });
        }
        f.pos = pos + l.len;
        f.len = l.value;
        break;
      }
      case 3:
      case 4:
        throw new CheckpointError('unsupported', `${message}: field ${no} uses the deprecated protobuf group encoding (wire type ${wire})`, { file: r.file, offset: at });
      default:
        throw new CheckpointError('bad-header', `${message}: field ${no} has invalid wire type ${wire}`, { file: r.file, offset: at });
    }
    const valueEnd = f.pos + f.len;
    if (valueEnd > end) {
      if (end >= r.size) {
        throw new CheckpointError('truncated', `${message}: field ${no} needs ${f.len} bytes at byte ${f.pos} but the file ends at ${r.size}`, { file: r.file, offset: at });
      }
      throw new CheckpointError('bad-header', `${message}: field ${no} (${f.len} bytes at byte ${f.pos}) runs past the end of its message at byte ${end}`, { file: r.file, offset: at });
    }
    const ret = visit(f);
    if (ret) await ret;
    pos = valueEnd;
  }
}
