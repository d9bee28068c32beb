/**
 * safetensors: u64 LE header length N, N bytes of JSON, then the data region. We read the 8
 * bytes and the header, validate everything the spec requires, and never touch the data.
 */
import { ByteSource, checkRange } from '../bytes';
import { relativeName } from '../access';
import { CheckpointError } from '../errors';
import { Json, isObject, parseJson, toPlain, truncate } from '../json';
import { DeclaredTie, TensorRecord, Warning } from '../model';
import { SAFETENSORS_BITS, SAFETENSORS_DTYPES } from '../dtypes';
import type { FormatReader } from './index';

/** The reference implementation's limit on the header size. */
export const MAX_HEADER = 100_000_000;

export interface SafetensorsFile {
  file: string;
  headerLength: number;
  dataStart: number;
  tensors: TensorRecord[];
  metadata: Record<string, string>;
  bytesRead: number;
}

export const safetensorsReader: FormatReader = {
  id: 'safetensors',
  extensions: ['.safetensors'],
  sniff(head, size) {
    if (head.length < 9 || size < 10) return false;
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const n = view.getBigUint64(0, true);
    return n > 1n && n <= BigInt(Math.min(MAX_HEADER, size - 8)) && head[8] === 0x7b /* { */;
  },
  async read(src, ctx) {
    const f = await readSafetensorsHeader(src, relativeName(ctx, ctx.path));
    return {
      format: 'safetensors',
      path: ctx.path,
      files: [f.file],
      tensors: f.tensors,
      declaredTies: metadataTies(f.metadata, new Set(f.tensors.map((t) => t.name))),
      metadata: Object.keys(f.metadata).length ? { __metadata__: f.metadata } : {},
      warnings: [],
      bytesRead: f.bytesRead,
      totalBytes: src.size,
    };
  },
};

/** Read and validate one safetensors file's header. `file` is the name used for records and messages. */
export async function readSafetensorsHeader(src: ByteSource, file: string): Promise<SafetensorsFile> {
  const where = { file };
  if (src.size < 8) {
    throw new CheckpointError('truncated', `file is ${src.size} bytes, too short for the 8-byte safetensors header length`, where);
  }
  const lenBytes = await src.read(0, 8);
  const n64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(src.size - 8)) {
    throw new CheckpointError('bad-header', `header length ${n64} runs past the end of the file (${src.size} bytes)`, { file, offset: 0 });
  }
  const n = Number(n64);
  if (n > MAX_HEADER) {
    throw new CheckpointError('too-large', `header length ${n} exceeds the ${MAX_HEADER}-byte limit`, { file, offset: 0 });
  }
  if (n < 2) throw new CheckpointError('bad-header', `header length ${n} is too small for a JSON object`, { file, offset: 0 });
  checkRange(src, 8, n, 'header');
  const headerBytes = await src.read(8, n);
  if (headerBytes[0] !== 0x7b) {
    throw new CheckpointError('bad-header', 'header does not start with "{"', { file, offset: 8 });
  }
  const header = parseJson(headerBytes, { file, base: 8 });
  if (!isObject(header)) throw new CheckpointError('bad-header', 'header is not a JSON object', { file, offset: 8 });

  const dataStart = 8 + n;
  const dataSize = src.size - dataStart;
  const metadata: Record<string, string> = Object.create(null);
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];

  for (const [name, v] of header) {
    if (name === '__metadata__') {
      if (!isObject(v)) throw new CheckpointError('bad-header', '__metadata__ is not an object of strings', { file, offset: 8 });
      for (const [k, s] of v) {
        if (typeof s !== 'string') {
          throw new CheckpointError('bad-header', `__metadata__ value for "${truncate(k)}" is not a string`, { file, offset: 8 });
        }
        metadata[k] = s;
      }
      continue;
    }
    const rec = { file, offset: 8, record: `tensor "${truncate(name)}"` };
    if (!isObject(v)) throw new CheckpointError('bad-header', 'entry is not an object', rec);
    const dtype = v.get('dtype');
    if (typeof dtype !== 'string') throw new CheckpointError('bad-dtype', 'missing or non-string "dtype"', rec);
    if (!Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPES, dtype)) throw new CheckpointError('bad-dtype', `unknown dtype "${truncate(dtype, 20)}"`, rec);
    const shape = v.get('shape');
    if (!Array.isArray(shape) || !shape.every(isDim)) {
      throw new CheckpointError('bad-shape', '"shape" is not a list of non-negative integers', rec);
    }
    const offs = v.get('data_offsets');
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isDim)) {
      throw new CheckpointError('bad-offsets', '"data_offsets" is not a pair of non-negative integers', rec);
    }
    const [begin, end] = offs as number[];
    if (end < begin) throw new CheckpointError('bad-offsets', `data_offsets [${begin}, ${end}] end before they begin`, rec);
    if (end > dataSize) {
      throw new CheckpointError('bad-offsets', `data_offsets end ${end} is past the end of the data (${dataSize} bytes)`, { ...rec, offset: dataStart + begin });
    }
    const numel = product(shape as number[], rec);
    const bits = SAFETENSORS_BITS[dtype];
    const expectBits = numel * bits;
    if (expectBits % 8 !== 0) throw new CheckpointError('bad-shape', `${numel} elements of ${dtype} are not a whole number of bytes`, rec);
    if (end - begin !== expectBits / 8) {
      throw new CheckpointError(
        'bad-offsets',
        `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${expectBits / 8}`,
        { ...rec, offset: dataStart + begin },
      );
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // The data region must be covered exactly: sorted by offsets, no gap, no overlap, nothing left.
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of sorted) {
    if (e.begin !== expected) {
      const what = e.begin < expected ? `overlaps the previous tensor (which ends at ${expected})` : `leaves a gap of ${e.begin - expected} bytes after offset ${expected}`;
      throw new CheckpointError('bad-offsets', `data_offsets [${e.begin}, ${e.end}] ${what}`, {
        file,
        offset: dataStart + e.begin,
        record: `tensor "${truncate(e.name)}"`,
      });
    }
    expected = e.end;
  }
  if (expected !== dataSize) {
    throw new CheckpointError('bad-offsets', `tensors cover ${expected} bytes of data but the file holds ${dataSize} after the header`, {
      file,
      offset: dataStart + expected,
    });
  }

  const tensors: TensorRecord[] = entries.map((e) => ({
    name: e.name,
    dtype: SAFETENSORS_DTYPES[e.dtype],
    formatDtype: e.dtype,
    shape: e.shape,
    nbytes: e.end - e.begin,
    file,
    dataOffset: dataStart + e.begin,
    storage: `${file}:${e.name}`,
    storageOffset: 0,
    strides: null,
    storageNbytes: e.end - e.begin,
  }));
  return { file, headerLength: n, dataStart, tensors, metadata, bytesRead: src.bytesRead };
}

function isDim(x: Json): boolean {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function product(shape: number[], where: { file: string; record: string }): number {
  let p = 1;
  for (const d of shape) {
    p *= d;
    if (!Number.isSafeInteger(p)) throw new CheckpointError('bad-shape', `shape [${shape.join(', ')}] has too many elements`, where);
  }
  return p;
}

/**
 * safetensors' save_model() drops duplicate names and records `removed -> kept` in __metadata__.
 * An entry whose key is not stored and whose value is a stored tensor is such a declaration.
 */
export function metadataTies(metadata: Record<string, string>, names: Set<string>): DeclaredTie[] {
  const ties: DeclaredTie[] = [];
  for (const [k, v] of Object.entries(metadata)) {
    if (!names.has(k) && names.has(v)) {
      ties.push({ name: k, target: v, source: 'metadata', reason: `__metadata__ maps "${k}" to "${v}" (safetensors save_model)` });
    }
  }
  return ties;
}

export type { Warning };
export { toPlain };
