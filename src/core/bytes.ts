/**
 * Byte sources with ranged reads. Readers only ever ask for the ranges they need (headers,
 * pickles, zip directories); tensor data is never read. Every source counts the bytes it has
 * read so tests and the benchmark can prove it; a reader reads each range once (the bytes the
 * format sniff read are handed to it through withHead).
 */
import { CheckpointError } from './errors';
import * as files from './file-calls';

export interface ByteSource {
  /** Display name / path of the underlying file. */
  readonly name: string;
  readonly size: number;
  /** Bytes returned by read() so far. */
  readonly bytesRead: number;
  /**
   * Read exactly `length` bytes at `offset`. A range past the end is a typed `truncated` error,
   * so no caller ever allocates more than the file holds.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Read exactly `length` bytes at `offset` into `into` at `at`, where a source can: a read that
   * fills part of a larger buffer (the rest of a header past the sniffed bytes) then needs no
   * buffer of its own and no copy.
   */
  readInto?(into: Uint8Array, at: number, offset: number, length: number): Promise<void>;
  close(): Promise<void>;
}

export function checkRange(src: { name: string; size: number }, offset: number, length: number, what = 'read'): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new CheckpointError('bad-offsets', `invalid ${what} range (offset ${offset}, length ${length})`, { file: src.name });
  }
  if (offset + length > src.size) {
    throw new CheckpointError(
      'truncated',
      `${what} needs ${length} bytes at byte ${offset} but the file ends at ${src.size}`,
      { file: src.name, offset },
    );
  }
}

/** Bytes of a file already in memory, from `start`. */
export interface KnownRange {
  start: number;
  data: Uint8Array;
}

/**
 * A source with some ranges of its bytes already in memory (the bytes sniffing read, a small file
 * read whole, a zip's tail, a parser's earlier windows): reads inside one of them cost nothing,
 * reads overlapping them read only what is missing. `bytesRead` stays the underlying source's,
 * which counted those bytes once.
 */
class KnownRangesSource implements ByteSource {
  constructor(private readonly inner: ByteSource, private readonly ranges: readonly KnownRange[]) {}
  get name(): string {
    return this.inner.name;
  }
  get size(): number {
    return this.inner.size;
  }
  get bytesRead(): number {
    return this.inner.bytesRead;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const end = offset + length;
    for (const r of this.ranges) {
      if (offset >= r.start && end <= r.start + r.data.length) return r.data.subarray(offset - r.start, end - r.start);
    }
    const parts = this.ranges.filter((r) => r.start < end && r.start + r.data.length > offset).sort((x, y) => x.start - y.start);
    if (parts.length === 0) return this.inner.read(offset, length);
    const out = new Uint8Array(length);
    let at = offset;
    for (const r of parts) {
      if (r.start > at) {
        await this.readMissing(out, at - offset, at, r.start - at);
        at = r.start;
      }
      const stop = Math.min(end, r.start + r.data.length);
      if (stop > at) {
        out.set(r.data.subarray(at - r.start, stop - r.start), at - offset);
        at = stop;
      }
    }
    if (at < end) await this.readMissing(out, at - offset, at, end - at);
    return out;
  }
  /** The bytes at [offset, offset + length), not in memory, into `out` at `at`. */
  private async readMissing(out: Uint8Array, at: number, offset: number, length: number): Promise<void> {
    if (this.inner.readInto) await this.inner.readInto(out, at, offset, length);
    else out.set(await this.inner.read(offset, length), at);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** `src` with the given ranges of its bytes (read from it before) served from memory. */
export function withKnownRanges(src: ByteSource, ranges: readonly KnownRange[]): ByteSource {
  const some = ranges.filter((r) => r.data.length > 0);
  return some.length === 0 ? src : new KnownRangesSource(src, some);
}

/** `src` with the bytes `data`, read from it at `offset`, served from memory. */
export function withKnownRange(src: ByteSource, offset: number, data: Uint8Array): ByteSource {
  return withKnownRanges(src, [{ start: offset, data }]);
}

/** `src` with its first bytes `head` (read from it at offset 0) served from memory. */
export function withHead(src: ByteSource, head: Uint8Array): ByteSource {
  return withKnownRange(src, 0, head);
}

/**
 * Bytes [start, start + size) of a source as a source of their own: an archive member read in
 * place (a .nemo's model_weights.ckpt inside its tar), by the same ranged reads, never copied out.
 * Offsets count from `start`; a read past `size` is the same typed `truncated` error as a read past
 * a file's end, so a reader of the member cannot reach the bytes after it. `bytesRead` is the whole
 * source's, and closing it leaves the source open (its owner closes it).
 */
export class SliceByteSource implements ByteSource {
  constructor(private readonly inner: ByteSource, readonly start: number, readonly size: number) {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size) || start < 0 || size < 0 || start + size > inner.size) {
      throw new CheckpointError('bad-offsets', `bytes [${start}, ${start + size}) are not inside the ${inner.size}-byte file`, { file: inner.name, offset: start });
    }
  }
  get name(): string {
    return this.inner.name;
  }
  get bytesRead(): number {
    return this.inner.bytesRead;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.inner.read(this.start + offset, length);
  }
  async readInto(into: Uint8Array, at: number, offset: number, length: number): Promise<void> {
    checkRange(this, offset, length);
    if (this.inner.readInto) await this.inner.readInto(into, at, this.start + offset, length);
    else into.set(await this.inner.read(this.start + offset, length), at);
  }
  async close(): Promise<void> {}
}

/** A file opened read-only; reads go through positional reads on its descriptor. */
export class FileByteSource implements ByteSource {
  private _bytesRead = 0;
  /** The file descriptor; -1 once closed, so that closing twice cannot close a descriptor reused since. */
  private fd: number;
  private constructor(readonly name: string, readonly size: number, fd: number) {
    this.fd = fd;
  }

  static async open(path: string, name = path): Promise<FileByteSource> {
    let fd: number;
    try {
      fd = await files.openRead(path);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new CheckpointError(err.code === 'ENOENT' ? 'not-found' : 'io', `cannot open: ${err.code ?? err.message}`, { file: name });
    }
    try {
      const st = await files.fstat(fd);
      if (st.isDirectory()) throw new CheckpointError('io', 'is a directory', { file: name });
      if (!st.isFile()) throw new CheckpointError('io', 'is not a regular file (a pipe, socket or device)', { file: name });
      return new FileByteSource(name, st.size, fd);
    } catch (e) {
      await files.close(fd);
      throw e;
    }
  }

  get bytesRead(): number {
    return this._bytesRead;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const buf = new Uint8Array(length);
    await this.readInto(buf, 0, offset, length);
    return buf;
  }

  async readInto(into: Uint8Array, at: number, offset: number, length: number): Promise<void> {
    checkRange(this, offset, length);
    let done = 0;
    while (done < length) {
      const bytesRead = await files.readAt(this.fd, into, at + done, length - done, offset + done);
      if (bytesRead === 0) {
        throw new CheckpointError('truncated', `file shrank while reading (got ${done} of ${length} bytes)`, { file: this.name, offset: offset + done });
      }
      done += bytesRead;
    }
    this._bytesRead += length;
  }

  async close(): Promise<void> {
    const fd = this.fd;
    if (fd < 0) return;
    this.fd = -1;
    await files.close(fd);
  }
}

/** An in-memory source (tests, and hosts that can only hand us a whole buffer). */
export class MemoryByteSource implements ByteSource {
  private _bytesRead = 0;
  constructor(readonly name: string, private readonly data: Uint8Array) {}
  get size(): number {
    return this.data.length;
  }
  get bytesRead(): number {
    return this._bytesRead;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    this._bytesRead += length;
    return this.data.slice(offset, offset + length);
  }
  async close(): Promise<void> {}
}

/**
 * Sequential little-endian reader over a buffer already in memory (a header, a pickle).
 * Every read is bounds-checked and reports the absolute file offset on failure.
 */
export class Cursor {
  pos = 0;
  private readonly view: DataView;
  constructor(
    readonly buf: Uint8Array,
    readonly file: string,
    /** Absolute file offset of buf[0], for error messages. */
    readonly base = 0,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  get offset(): number {
    return this.base + this.pos;
  }
  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.buf.length) {
      throw new CheckpointError('truncated', `${what} needs ${n} bytes but only ${this.remaining} remain`, { file: this.file, offset: this.offset });
    }
  }
  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }
  u16(what = 'u16'): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  i32(what = 'i32'): number {
    this.need(4, what);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** u64 as a number; values past 2^53 are a typed error (no file is that large). */
  u64(what = 'u64'): number {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new CheckpointError('too-large', `${what} ${v} is too large`, { file: this.file, offset: this.offset });
    }
    this.pos += 8;
    return Number(v);
  }
  i64(what = 'i64'): number {
    this.need(8, what);
    const v = this.view.getBigInt64(this.pos, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new CheckpointError('too-large', `${what} ${v} is out of range`, { file: this.file, offset: this.offset });
    }
    this.pos += 8;
    return Number(v);
  }
  f32(what = 'f32'): number {
    this.need(4, what);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f64(what = 'f64'): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  bytes(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  utf8(n: number, what = 'string'): string {
    return decodeUtf8(this.bytes(n, what), this.file, this.offset - n, what);
  }
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true });
export function decodeUtf8(b: Uint8Array, file: string, offset: number, what: string): string {
  try {
    return strictDecoder.decode(b);
  } catch {
    throw new CheckpointError('bad-header', `${what} is not valid UTF-8`, { file, offset });
  }
}

/**
 * The little-endian u32 at `i` of `b` (no range check): four byte loads, where a DataView made
 * for one value costs an object, and the top byte multiplied so the result stays unsigned.
 */
export function u32le(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)) + b[i + 3] * 0x1000000;
}

/**
 * A 32-bit hash of names scanned as bytes (FNV-1a, then a final mix so the low bits a table
 * uses depend on every byte): `h = FNV_OFFSET`, then `h = Math.imul(h ^ byte, FNV_PRIME)` per
 * byte inside the scanning loop, then `hashFinish(h)`. For ASCII text, hashing the char codes
 * gives the same value (`hashAscii`).
 */
export const FNV_OFFSET = 0x811c9dc5 | 0;
export const FNV_PRIME = 0x01000193;
export function hashFinish(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}
/** The hash of an ASCII string, equal to that of its bytes; undefined when it is not ASCII. */
export function hashAscii(s: string): number | undefined {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return undefined;
    h = Math.imul(h ^ c, FNV_PRIME);
  }
  return hashFinish(h);
}
