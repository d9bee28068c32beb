/**
 * Tar archives, as far as the oldest torch.save layout and NeMo's .nemo archives need them: the
 * member list (names, data offsets, sizes), read header by header without reading any member's
 * data. Both were written with Python's tarfile, in PAX format since Python 3.8, so each member is
 * usually preceded by a pax extended header (its float mtime); GNU long-name headers and plain
 * ustar headers are read too.
 * Headers are checked strictly (512-byte blocks, checksums, octal numbers): what is not a valid
 * tar is a typed error naming the byte where it stops being one.
 */
import { ByteSource } from '../../bytes';
import { CheckpointError } from '../../errors';
import { truncate } from '../../json';

export const TAR_BLOCK = 512;
/** Long names and pax records hold a name and a few numbers; more than this is not a torch tar. */
const MAX_EXTENDED_HEADER = 64 * 1024;
/**
 * torch wrote four members (eight headers with pax), NeMo a few per model-parallel rank: an
 * archive of more entries is refused.
 */
const MAX_ENTRIES = 4096;

export interface TarMember {
  name: string;
  /** Type flag: '0' for a regular file. */
  type: string;
  /** Offset of the first header that describes it (a pax or long-name header, or its own). */
  headerOffset: number;
  /** Offset of its data. */
  offset: number;
  size: number;
}

export interface TarDirectory {
  /** Every member, in archive order (the same name may appear twice: tarfile reads the last). */
  members: TarMember[];
  /** Offset of the end-of-archive block, or the file's end when the archive has none. */
  end: number;
  /** Set when the walk stopped early, where the caller's `stop` said it had seen enough. */
  stopped?: boolean;
}

/** Names a torch tar checkpoint's first header can carry: a member, or the extended header before it. */
const FIRST_NAMES = ['sys_info', 'pickle', 'storages', 'tensors', '././@PaxHeader', '././@LongLink'];

/**
 * The name in a tar's first header, from its first 64 bytes: a name that ends before them, followed
 * by NULs (as tarfile pads the name field), else undefined. Only the name field is looked at: a
 * tar's checksum and magic lie past the sniffed bytes, and the reader checks them.
 */
export function firstHeaderName(head: Uint8Array): string | undefined {
  if (head.length < 64) return undefined;
  const end = head.indexOf(0);
  if (end <= 0 || end > 64 || !head.subarray(end, 64).every((b) => b === 0)) return undefined;
  return String.fromCharCode(...head.subarray(0, end));
}

/** The first bytes look like the first header of a tar written by torch.save (the name field only). */
export function looksLikeTorchTar(head: Uint8Array): boolean {
  const name = firstHeaderName(head);
  return name !== undefined && FIRST_NAMES.includes(name);
}

/** Regular files: the type flags tarfile reads as files with data. */
const REGULAR = new Set(['0', '\0', '7']);
/** Links, devices, directories, FIFOs: tarfile skips no data after them. */
const NO_DATA = new Set(['1', '2', '3', '4', '5', '6']);

/**
 * A numeric header field as tarfile's nti() reads it: octal digits (spaces around them, ended by
 * NUL or space), or GNU base-256 (first byte 0x80) for large sizes. Anything else is an error.
 */
function numberField(b: Uint8Array, at: number, len: number, what: string, file: string, where: number): number {
  const f = b.subarray(at, at + len);
  if (f[0] === 0x80) {
    let n = 0;
    for (let i = 1; i < len; i++) n = n * 256 + f[i];
    if (!Number.isSafeInteger(n)) throw new CheckpointError('too-large', `tar header ${what} (base-256) is too large`, { file, offset: where + at });
    return n;
  }
  if (f[0] === 0xff) throw new CheckpointError('bad-tar', `tar header ${what} is negative (base-256)`, { file, offset: where + at });
  const nul = f.indexOf(0);
  const text = String.fromCharCode(...f.subarray(0, nul < 0 ? len : nul)).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new CheckpointError('bad-tar', `tar header ${what} is ${JSON.stringify(truncate(text, 20))}, not an octal number`, { file, offset: where + at });
  const n = parseInt(text, 8);
  if (!Number.isSafeInteger(n)) throw new CheckpointError('too-large', `tar header ${what} ${text} is too large`, { file, offset: where + at });
  return n;
}

/** A NUL-terminated string field (tarfile's nts()), as UTF-8. */
function stringField(b: Uint8Array, at: number, len: number): string {
  const f = b.subarray(at, at + len);
  const nul = f.indexOf(0);
  return new TextDecoder('utf-8').decode(f.subarray(0, nul < 0 ? len : nul));
}

/** tarfile accepts the checksum as the unsigned or the signed sum of the header, its own field read as spaces. */
function checksumOk(b: Uint8Array, stored: number): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    const x = i >= 148 && i < 156 ? 0x20 : b[i];
    unsigned += x;
    signed += x > 127 ? x - 256 : x;
  }
  return stored === unsigned || stored === signed;
}

const padded = (n: number) => Math.ceil(n / TAR_BLOCK) * TAR_BLOCK;

/**
 * pax extended header records, `<length> <keyword>=<value>\n` each, the length counting the whole
 * record. Only `path` and `size` matter here (they override the next header's fields).
 */
function paxRecords(data: Uint8Array, file: string, offset: number): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    // tarfile stops at the first NUL: the rest of the block is padding.
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    const lenText = space < 0 ? '' : String.fromCharCode(...data.subarray(pos, Math.min(space, pos + 20)));
    const len = /^[0-9]+$/.test(lenText) ? Number(lenText) : NaN;
    if (!Number.isSafeInteger(len) || len <= space - pos + 1 || pos + len > data.length || data[pos + len - 1] !== 0x0a) {
      throw new CheckpointError('bad-tar', 'pax extended header record is malformed', { file, offset: offset + pos });
    }
    const rec = new TextDecoder('utf-8').decode(data.subarray(space + 1, pos + len - 1));
    const eq = rec.indexOf('=');
    if (eq <= 0) throw new CheckpointError('bad-tar', 'pax extended header record has no keyword', { file, offset: offset + pos });
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    pos += len;
  }
  return out;
}

/**
 * The archive's member list, reading only headers (512 bytes each, and the data of pax and
 * long-name headers). Every size is checked against the file before anything is read or skipped
 * by it, and each entry moves forward at least one block, so the walk ends within the file.
 * `stop`, asked after each member with the members so far, ends the walk early (a folder of
 * thousands of shard files need not be walked header by header once it is known to be one).
 */
export async function readTarDirectory(src: ByteSource, file: string, stop?: (members: readonly TarMember[]) => boolean): Promise<TarDirectory> {
  const members: TarMember[] = [];
  let pos = 0;
  let entries = 0;
  // What extended headers say about the next member; a pax global header about every later one.
  let pending: { name?: string; size?: string; from: number } | null = null;
  const global = new Map<string, string>();
  for (;;) {
    if (pos === src.size && pos > 0 && pending === null) return { members, end: pos };
    if (pos + TAR_BLOCK > src.size) {
      throw new CheckpointError('truncated', `tar header needs ${TAR_BLOCK} bytes at byte ${pos} but the file ends at ${src.size}`, { file, offset: pos });
    }
    const h = await src.read(pos, TAR_BLOCK);
    if (h.every((x) => x === 0)) {
      if (pos === 0) throw new CheckpointError('bad-tar', 'tar archive starts with an empty block', { file, offset: 0 });
      if (pending) throw new CheckpointError('bad-tar', 'tar archive ends after an extended header, before the member it describes', { file, offset: pos });
      return { members, end: pos };
    }
    if (++entries > MAX_ENTRIES) throw new CheckpointError('limit', `tar archive has more than ${MAX_ENTRIES} entries; torch.save wrote four members, and a .nemo archive holds a few per model-parallel rank`, { file, offset: pos });
    const stored = numberField(h, 148, 8, 'checksum', file, pos);
    if (!checksumOk(h, stored)) throw new CheckpointError('bad-tar', `tar header checksum ${stored} does not match the header: not a valid tar`, { file, offset: pos });
    const type = String.fromCharCode(h[156]);
    const size = numberField(h, 124, 12, 'size', file, pos);
    const dataAt = pos + TAR_BLOCK;
    let name = stringField(h, 0, 100);
    const where = (what: string) => ({ file, offset: pos, record: `tar member "${truncate(what)}"` });
    // The data of pax and long-name headers is read; a member's data only has to lie in the file.
    const skip = NO_DATA.has(type) ? 0 : padded(size);
    if (dataAt + skip > src.size && dataAt + size > src.size) {
      throw new CheckpointError('truncated', `tar member data needs ${size} bytes at byte ${dataAt} but the file ends at ${src.size}`, where(name));
    }
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if (size > MAX_EXTENDED_HEADER) throw new CheckpointError('limit', `tar extended header of ${size} bytes (at most ${MAX_EXTENDED_HEADER} are read)`, where(name));
      const data = await src.read(dataAt, size);
      pending ??= { from: pos };
      if (type === 'L') pending.name = stringField(data, 0, data.length);
      else if (type === 'x' || type === 'g') {
        const recs = paxRecords(data, file, dataAt);
        const into = type === 'g' ? global : undefined;
        for (const [k, v] of recs) {
          if (into) into.set(k, v);
          else if (k === 'path') pending.name = v;
          else if (k === 'size') pending.size = v;
        }
        if (type === 'g' && !pending.name && pending.size === undefined) pending = null;
      }
      pos = dataAt + skip;
      continue;
    }
    if (!REGULAR.has(type) && !NO_DATA.has(type)) {
      throw new CheckpointError('bad-tar', `tar entry type ${JSON.stringify(type)} is not one torch.save or NeMo writes`, where(name));
    }
    // A ustar name longer than 100 bytes continues in the prefix field (not for GNU headers).
    const magic = String.fromCharCode(...h.subarray(257, 263));
    const prefix = magic === 'ustar\0' ? stringField(h, 345, 155) : '';
    if (prefix) name = `${prefix}/${name}`;
    let memberSize = size;
    let memberSkip = skip;
    const sizeText = pending?.size ?? global.get('size');
    if (sizeText !== undefined) {
      if (!/^[0-9]+$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) throw new CheckpointError('bad-tar', `pax size ${JSON.stringify(truncate(sizeText, 20))} is not a byte count`, where(name));
      memberSize = Number(sizeText);
      memberSkip = NO_DATA.has(type) ? 0 : padded(memberSize);
      if (dataAt + memberSize > src.size) {
        throw new CheckpointError('truncated', `tar member data needs ${memberSize} bytes at byte ${dataAt} but the file ends at ${src.size}`, where(name));
      }
    }
    name = pending?.name ?? global.get('path') ?? name;
    members.push({ name, type, headerOffset: pending?.from ?? pos, offset: dataAt, size: NO_DATA.has(type) ? 0 : memberSize });
    pending = null;
    pos = dataAt + memberSkip;
    if (stop?.(members)) return { members, end: pos, stopped: true };
  }
}
