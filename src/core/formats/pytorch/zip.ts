/**
 * Just enough zip to open torch.save archives with ranged reads: the end-of-central-directory
 * record (ZIP64 included), the central directory, and each member's local header, from which the
 * member's data start follows (local header offset + 30 + local name length + local extra
 * length; torch pads the LOCAL extra field to align storages, so it differs from the central one).
 * Member data is only read for the small records we need (data.pkl, version, byteorder).
 */
import { ByteSource, Cursor, checkRange, withKnownRange } from '../../bytes';
import { CheckpointError } from '../../errors';
import { truncate } from '../../json';
import { upperBound } from '../../sorted';

const SIG_EOCD = 0x06054b50;
const SIG_Z64_LOCATOR = 0x07064b50;
const SIG_Z64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
/** A central directory larger than this is refused (a million members is ~100 MB). */
export const MAX_CENTRAL_DIRECTORY = 256 * 1024 * 1024;

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  /** Absolute file offset of the local header (archive prefix included). */
  localOffset: number;
  /** Length of the name in bytes (the local header holds the same name). */
  nameBytes: number;
}

export interface ZipDirectory {
  entries: Map<string, ZipEntry>;
  /** Entries in central-directory order. */
  order: ZipEntry[];
  zip64: boolean;
  /** Bytes before the archive proper (a self-extractor stub or other prefix). */
  prefixBytes: number;
  /** The archive's source with the tail read for the directory kept in memory: read members through it. */
  source: ByteSource;
  /** Absolute offset where the central directory starts (where the last member's data ends). */
  centralStart: number;
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: false });

export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6));
}

export async function readZipDirectory(src: ByteSource, file: string): Promise<ZipDirectory> {
  if (src.size < EOCD_SIZE) {
    throw new CheckpointError('bad-zip', `file is ${src.size} bytes, too short for a zip archive`, { file });
  }
  // Most archives have no comment: try a small tail first, then the largest a comment allows.
  let tailLen = 0;
  let tailStart = 0;
  let tail: Uint8Array = new Uint8Array(0);
  let tv = new DataView(tail.buffer);
  let at = -1;
  // What follows may lie in the tail already read (the ZIP64 record, the central directory's end).
  let known = src;
  for (const want of [1024, EOCD_SIZE + MAX_COMMENT + 20]) {
    if (tailLen >= src.size) break;
    tailLen = Math.min(src.size, want);
    tailStart = src.size - tailLen;
    tail = await known.read(tailStart, tailLen);
    known = withKnownRange(src, tailStart, tail);
    tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
      if (tv.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + tv.getUint16(i + 20, true) <= tail.length) {
        at = i;
        break;
      }
    }
    if (at >= 0) break;
  }
  if (at < 0) {
    throw new CheckpointError(
      'bad-zip',
      'no zip end-of-central-directory record: the archive is truncated or this is not a zip file',
      { file, offset: tailStart },
    );
  }
  const eocdPos = tailStart + at;
  let entriesTotal = tv.getUint16(at + 10, true);
  let cdSize = tv.getUint32(at + 12, true);
  let cdOffset = tv.getUint32(at + 16, true);
  let zip64 = false;
  let cdEnd = eocdPos;

  if (at >= 20 && tv.getUint32(at - 20, true) === SIG_Z64_LOCATOR) {
    zip64 = true;
    const declared = Number(tv.getBigUint64(at - 20 + 8, true));
    // The ZIP64 EOCD record normally sits right before its locator; a prefix shifts it.
    const expected = eocdPos - 20 - 56;
    let z64Pos = declared;
    let rec = await readMaybe(known, z64Pos, 56);
    if (!rec || new DataView(rec.buffer, rec.byteOffset).getUint32(0, true) !== SIG_Z64_EOCD) {
      z64Pos = expected;
      rec = await readMaybe(known, z64Pos, 56);
    }
    if (!rec || new DataView(rec.buffer, rec.byteOffset).getUint32(0, true) !== SIG_Z64_EOCD) {
      throw new CheckpointError('bad-zip', 'ZIP64 locator points at no ZIP64 end-of-central-directory record', { file, offset: eocdPos - 20 });
    }
    const c = new Cursor(rec, file, z64Pos);
    c.pos = 24;
    c.u64('ZIP64 entries on this disk');
    entriesTotal = c.u64('ZIP64 entry count');
    cdSize = c.u64('ZIP64 central directory size');
    cdOffset = c.u64('ZIP64 central directory offset');
    cdEnd = z64Pos;
  } else if (entriesTotal === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw new CheckpointError('bad-zip', 'zip needs ZIP64 fields but has no ZIP64 locator', { file, offset: eocdPos });
  }

  if (cdSize > MAX_CENTRAL_DIRECTORY) {
    throw new CheckpointError('too-large', `central directory of ${cdSize} bytes exceeds the ${MAX_CENTRAL_DIRECTORY}-byte limit`, { file, offset: eocdPos });
  }
  const cdStart = cdEnd - cdSize;
  if (cdStart < 0) {
    throw new CheckpointError('bad-zip', `central directory of ${cdSize} bytes does not fit before its end record at byte ${cdEnd}`, { file, offset: eocdPos });
  }
  // Offsets inside the archive are relative to its own start; bytes before it shift them all.
  const prefixBytes = cdStart - cdOffset;
  if (prefixBytes < 0) {
    throw new CheckpointError('bad-zip', `central directory offset ${cdOffset} is past where the directory ends (${cdEnd}); the archive is truncated`, { file, offset: eocdPos });
  }
  if (entriesTotal * 46 > cdSize) {
    throw new CheckpointError('bad-zip', `${entriesTotal} entries cannot fit in a ${cdSize}-byte central directory`, { file, offset: cdStart });
  }
  checkRange(src, cdStart, cdSize, 'central directory');
  // The tail we already hold usually contains the whole directory, else its end.
  const cd = await known.read(cdStart, cdSize);
  const c = new Cursor(cd, file, cdStart);
  const entries = new Map<string, ZipEntry>();
  const order: ZipEntry[] = [];
  for (let i = 0; i < entriesTotal; i++) {
    const here = c.offset;
    if (c.u32('central header signature') !== SIG_CENTRAL) {
      throw new CheckpointError('bad-zip', `central directory entry ${i} has a bad signature`, { file, offset: here });
    }
    c.pos += 4; // version made by, version needed
    const flags = c.u16();
    const method = c.u16();
    c.pos += 8; // time, date, crc
    let compressedSize = c.u32();
    let size = c.u32();
    const nameLen = c.u16();
    const extraLen = c.u16();
    const commentLen = c.u16();
    c.pos += 8; // disk, internal and external attributes
    let localOffset = c.u32();
    const nameBytes = c.bytes(nameLen, 'member name');
    const extra = c.bytes(extraLen, 'extra field');
    c.bytes(commentLen, 'member comment');
    const name = flags & 0x800 ? utf8.decode(nameBytes) : latin1.decode(nameBytes);
    // ZIP64 extended information: only the fields whose 32-bit slot is saturated, in order.
    if (size === 0xffffffff || compressedSize === 0xffffffff || localOffset === 0xffffffff) {
      const x = new Cursor(extra, file, here);
      let found = false;
      while (x.remaining >= 4) {
        const id = x.u16();
        const len = x.u16();
        if (id !== 0x0001) {
          x.bytes(len, 'extra field');
          continue;
        }
        const f = new Cursor(x.bytes(len, 'ZIP64 extra field'), file, here);
        if (size === 0xffffffff) size = f.u64('ZIP64 size');
        if (compressedSize === 0xffffffff) compressedSize = f.u64('ZIP64 compressed size');
        if (localOffset === 0xffffffff) localOffset = f.u64('ZIP64 local header offset');
        found = true;
        break;
      }
      if (!found) throw new CheckpointError('bad-zip', `member "${truncate(name)}" needs a ZIP64 extra field but has none`, { file, offset: here });
    }
    const e: ZipEntry = { name, method, flags, compressedSize, size, localOffset: localOffset + prefixBytes, nameBytes: nameLen };
    if (entries.has(name)) throw new CheckpointError('bad-zip', `member "${truncate(name)}" appears twice in the central directory`, { file, offset: here });
    entries.set(name, e);
    order.push(e);
  }
  return { entries, order, zip64, prefixBytes, source: known, centralStart: cdStart };
}

async function readMaybe(src: ByteSource, offset: number, length: number): Promise<Uint8Array | null> {
  if (offset < 0 || offset + length > src.size) return null;
  return src.read(offset, length);
}

/** Absolute offset of a member's data, from its local header (30 bytes read). */
export async function memberDataOffset(src: ByteSource, e: ZipEntry, file: string): Promise<number> {
  const where = { file, offset: e.localOffset, record: `zip member ${truncate(e.name)}` };
  if (e.localOffset + 30 > src.size) {
    throw new CheckpointError('truncated', `local header at byte ${e.localOffset} is past the end of the file (${src.size} bytes)`, where);
  }
  const h = await src.read(e.localOffset, 30);
  const v = new DataView(h.buffer, h.byteOffset, 30);
  if (v.getUint32(0, true) !== SIG_LOCAL) throw new CheckpointError('bad-zip', 'local header has a bad signature', where);
  const start = e.localOffset + 30 + v.getUint16(26, true) + v.getUint16(28, true);
  if (start + e.compressedSize > src.size) {
    throw new CheckpointError(
      'truncated',
      `member data needs ${e.compressedSize} bytes at byte ${start} but the file ends at ${src.size}`,
      { ...where, offset: start },
    );
  }
  return start;
}

/**
 * A member's data start without reading its local header, where two independent rules agree:
 *  - torch's writer pads each local header's extra field ("FB", its length, zeros) so that the
 *    data starts at the next multiple of `alignment` (64 unless `.data/.storage_alignment` says
 *    otherwise) after the header, its name and that extra field's 4-byte head (plus the ZIP64
 *    fields it adds for members or offsets past 4 GiB);
 *  - members follow one another, so a member's data ends where the next local header (or the
 *    central directory) begins, less its data descriptor when the flags say one follows (12 to
 *    24 bytes; torch writes 16).
 * Where they do not agree (an archive another tool wrote or rewrote, a gap), undefined: read the
 * header. Over the network this saves a request per storage.
 */
export function predictedDataOffsets(dir: Pick<ZipDirectory, 'order' | 'centralStart' | 'prefixBytes'>, list: readonly ZipEntry[], alignment = 64): (number | undefined)[] {
  if (!(Number.isSafeInteger(alignment) && alignment > 0)) return list.map(() => undefined);
  const starts = dir.order.map((e) => e.localOffset).sort((a, b) => a - b);
  const after = (at: number): number => {
    // The first local header beyond `at`, else the central directory.
    const k = upperBound(starts, at);
    return k < starts.length ? starts[k] : dir.centralStart;
  };
  const prefix = dir.prefixBytes;
  const roundUp = (x: number) => Math.ceil((x - prefix) / alignment) * alignment + prefix;
  return list.map((e) => {
    const header = e.localOffset + 30 + e.nameBytes;
    // torch's rule: the padding's 4-byte head, and ZIP64's 4-byte head with 16 (sizes), 8 (offset) or 24 bytes.
    const torch = [0, 20, 12, 28].map((k) => roundUp(header + 4 + k));
    const next = after(e.localOffset);
    for (const descriptor of e.flags & 0x08 ? [16, 12, 24, 20] : [0]) {
      const start = next - descriptor - e.compressedSize;
      if (start >= header && start - header <= 0xffff && torch.includes(start)) return start;
    }
    return undefined;
  });
}

/**
 * Data offsets for many members: predicted from the central directory where torch's layout
 * makes that certain (predictedDataOffsets), else from local headers read concurrently, up to
 * 1024 at a time.
 */
export async function memberDataOffsets(src: ByteSource, list: ZipEntry[], file: string, predicted: readonly (number | undefined)[] = []): Promise<number[]> {
  const out: number[] = new Array(list.length);
  const toRead: number[] = [];
  list.forEach((_, i) => {
    const p = predicted[i];
    if (p === undefined) toRead.push(i);
    else out[i] = p;
  });
  const batch = 1024;
  for (let i = 0; i < toRead.length; i += batch) {
    const part = toRead.slice(i, i + batch);
    const offs = await Promise.all(part.map((k) => memberDataOffset(src, list[k], file)));
    for (let j = 0; j < offs.length; j++) out[part[j]] = offs[j];
  }
  return out;
}

/**
 * Deflated members are inflated up to this many bytes at most, whatever their headers declare:
 * a megabyte of deflate stream can claim (and hold) a gigabyte.
 */
export const MAX_INFLATE_BYTES = 256 * 1024 * 1024;

/** Read a (small) member whole, inflating it if it is deflated. */
export async function readMember(src: ByteSource, e: ZipEntry, file: string, maxBytes: number): Promise<Uint8Array> {
  return (await readMemberAt(src, e, file, maxBytes)).data;
}

/** readMember, also giving the absolute offset of the member's (stored) data. */
export async function readMemberAt(
  src: ByteSource,
  e: ZipEntry,
  file: string,
  maxBytes: number,
  maxInflate = MAX_INFLATE_BYTES,
): Promise<{ data: Uint8Array; start: number }> {
  const where = { file, offset: e.localOffset, record: `zip member ${truncate(e.name)}` };
  if (e.flags & 1) throw new CheckpointError('unsupported', 'member is encrypted', where);
  if (e.method === 8) {
    const cap = Math.min(maxBytes, maxInflate);
    if (e.size > cap) {
      throw new CheckpointError('limit', `member declares ${e.size} bytes once inflated; deflated members are inflated up to ${cap} bytes`, where);
    }
    // The compressed bytes are read whole before inflating: their count is trusted only as far as
    // a deflate stream of e.size bytes can reach (stored blocks add 5 bytes per 64 KiB; no encoder
    // doubles its input), or a 2-byte member could have gigabytes of the file read for it.
    const most = 2 * e.size + 1024;
    if (e.compressedSize > most) {
      throw new CheckpointError('bad-zip', `member declares ${e.compressedSize} compressed bytes for ${e.size} inflated; deflate needs at most ${most}`, where);
    }
    const start = await memberDataOffset(src, e, file);
    const raw = await src.read(start, e.compressedSize);
    let out: Buffer;
    try {
      // The output is bounded by what the member declares (itself within the cap): zlib
      // stops there instead of trusting the stream to end.
      // zlib is loaded only here: most archives store their members, and start-up pays for every module loaded.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      out = (require('zlib') as typeof import('zlib')).inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new CheckpointError('limit', `member inflates to more than the ${e.size} bytes it declares; inflating stopped there`, where);
      }
      throw new CheckpointError('bad-zip', `cannot inflate member: ${(err as Error).message}`, where);
    }
    if (out.length !== e.size) throw new CheckpointError('bad-zip', `cannot inflate member: inflated to ${out.length} bytes, expected ${e.size}`, where);
    return { data: new Uint8Array(out.buffer, out.byteOffset, out.length), start };
  }
  if (e.size > maxBytes) throw new CheckpointError('too-large', `member is ${e.size} bytes; the limit is ${maxBytes}`, where);
  const start = await memberDataOffset(src, e, file);
  if (e.method === 0) {
    if (e.compressedSize !== e.size) throw new CheckpointError('bad-zip', `stored member has size ${e.size} but ${e.compressedSize} bytes of data`, where);
    return { data: await src.read(start, e.compressedSize), start };
  }
  throw new CheckpointError('unsupported', `member uses compression method ${e.method}`, where);
}
