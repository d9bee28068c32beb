/**
 * safetensors: u64 LE header length N, N bytes of JSON, then the data region. We read the 8
 * bytes and the header, validate everything the spec requires, and never touch the data.
 * Shards (`model-0000k-of-0000n.safetensors`, with or without an index) merge into one
 * `safetensors-sharded` checkpoint; ties declared in any shard's `__metadata__` resolve against
 * every shard's names.
 */
import { ByteSource, checkRange } from '../bytes';
import { relativeName } from '../access';
import { CheckpointError } from '../errors';
import { Json, isObject, parseJson, toPlain, truncate } from '../json';
import { DeclaredTie, TensorRecord, Warning } from '../model';
import { shardSet } from '../shards';
import { tensorRecord } from '../tensor-record';
import { ParsedHeader, emptyHeader, parseHeaderFast } from './safetensors-header';
import { CERTAIN, FormatModule } from './format';

/** The reference implementation's limit on the header size. */
export const MAX_HEADER = 100_000_000;

/** safetensors dtype strings → canonical names (dtypes.ts). */
export const SAFETENSORS_DTYPES: Record<string, string> = {
  BOOL: 'bool',
  U8: 'uint8',
  I8: 'int8',
  U16: 'uint16',
  I16: 'int16',
  U32: 'uint32',
  I32: 'int32',
  U64: 'uint64',
  I64: 'int64',
  F16: 'float16',
  BF16: 'bfloat16',
  F32: 'float32',
  F64: 'float64',
  C64: 'complex64',
  F8_E4M3: 'float8_e4m3fn',
  F8_E5M2: 'float8_e5m2',
  F8_E8M0: 'float8_e8m0fnu',
  F6_E2M3: 'float6_e2m3',
  F6_E3M2: 'float6_e3m2',
  // safetensors counts F4 values one by one (4 bits each), not torch's packed pairs.
  F4: 'float4_e2m1fn',
};

/** Bits per element as the safetensors spec counts them (F4 is 4 bits per element there). */
export const SAFETENSORS_BITS: Record<string, number> = {
  BOOL: 8, U8: 8, I8: 8, U16: 16, I16: 16, U32: 32, I32: 32, U64: 64, I64: 64,
  F16: 16, BF16: 16, F32: 32, F64: 64, C64: 64,
  F8_E4M3: 8, F8_E5M2: 8, F8_E8M0: 8, F6_E2M3: 6, F6_E3M2: 6, F4: 4,
};

export interface SafetensorsFile {
  file: string;
  headerLength: number;
  dataStart: number;
  tensors: TensorRecord[];
  metadata: Record<string, string>;
  bytesRead: number;
}

/** What match() read: the header length, already checked against the file size and the limit. */
interface Sniffed {
  headerLength: number;
}

/** Variants of one model saved side by side (diffusers' `*.fp16.safetensors`): not shards. */
const VARIANT_FILE = /\.(fp16|bf16|fp32|ema|non_ema|int8|fp8)\.safetensors$/i;

export const safetensorsReader: FormatModule<Sniffed> = {
  id: 'safetensors',
  name: 'safetensors',
  variants: { safetensors: 'safetensors', 'safetensors-sharded': 'safetensors (sharded)' },
  extensions: ['.safetensors'],
  editor: { default: ['*.safetensors', '*.safetensors.index.json'], option: [] },
  sniffBytes: 9,
  match(head, size) {
    if (head.length < 9 || size < 10) return null;
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const n = view.getBigUint64(0, true);
    if (n <= 1n || n > BigInt(Math.min(MAX_HEADER, size - 8)) || head[8] !== 0x7b /* { */) return null;
    return { confidence: CERTAIN, variant: 'safetensors', state: { headerLength: Number(n) } };
  },
  async read(src, ctx, match) {
    const f = await readSafetensorsHeader(src, relativeName(ctx, ctx.path), match?.state);
    const hasMetadata = Object.keys(f.metadata).length > 0;
    return {
      format: 'safetensors',
      path: ctx.path,
      files: [f.file],
      tensors: f.tensors,
      // Most files have no __metadata__ to declare ties: no set of their names is built for them.
      declaredTies: hasMetadata ? metadataTies(f.metadata, new Set(f.tensors.map((t) => t.name))) : [],
      metadata: hasMetadata ? { __metadata__: f.metadata } : {},
      warnings: [],
      bytesRead: f.bytesRead,
      totalBytes: src.size,
    };
  },
  folder: {
    prefer: ['model.safetensors.index.json', 'model.safetensors', 'adapter_model.safetensors', /\.safetensors\.index\.json$/, /\.safetensors$/],
    choose(names) {
      // Several weight files and no index: a shard set only when they are named as one
      // (model-00001-of-00003.safetensors...); variants such as diffusers' `*.fp16.safetensors`
      // beside the full-precision file are alternatives, and the plain one is what loads by default.
      if (!names.every((n) => n.endsWith('.safetensors'))) return undefined;
      const set = shardSet(names);
      if (set) return { shards: set };
      const plain = names.filter((n) => !VARIANT_FILE.test(n));
      return plain.length === 1 ? { file: plain[0] } : undefined;
    },
  },
  shards: {
    format: 'safetensors-sharded',
    indexTotalIsTensorBytes: true,
    // save_model() may drop a name in one shard whose partner is stored in another.
    ties(shard, names) {
      const md = (shard.metadata as { __metadata__?: Record<string, string> }).__metadata__;
      return md ? metadataTies(md, names) : shard.declaredTies;
    },
  },
};

/** Read and validate one safetensors file's header. `file` is the name used for records and messages. */
export async function readSafetensorsHeader(src: ByteSource, file: string, sniffed?: Sniffed): Promise<SafetensorsFile> {
  const n = sniffed?.headerLength ?? (await readHeaderLength(src, file));
  checkRange(src, 8, n, 'header');
  const headerBytes = await src.read(8, n);
  if (headerBytes[0] !== 0x7b) {
    throw new CheckpointError('bad-header', 'header does not start with "{"', { file, offset: 8 });
  }
  const dataStart = 8 + n;
  const dataSize = src.size - dataStart;
  // Machine-written headers take the fast path; anything it does not take (and every error) is
  // read again by the strict parser, which says what is wrong and where.
  let parsed: ParsedHeader | undefined;
  try {
    parsed = parseHeaderFast(headerBytes, DTYPE_KEYS);
    if (parsed) for (let i = 0; i < parsed.names.length; i++) checkEntry(parsed, i, file, dataStart, dataSize);
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    parsed = undefined;
  }
  const header = parsed ?? parseHeaderStrict(headerBytes, file, dataStart, dataSize);
  checkCoverage(header, file, dataStart, dataSize);

  const { names, dtypes, shapes, begins, ends } = header;
  const tensors: TensorRecord[] = new Array(names.length);
  // Each storage id is one concatenation (`file:` + name) rather than two: one string object less
  // per tensor, and all of them live as long as the checkpoint.
  const storagePrefix = `${file}:`;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const nbytes = smallInt(ends[i] - begins[i]);
    // Each tensor is a storage of its own: at offset 0 in it, no strides, all of its bytes.
    tensors[i] = tensorRecord(name, SAFETENSORS_DTYPES[dtypes[i]], dtypes[i], shapes[i], nbytes, file, dataStart + begins[i], storagePrefix + name, 0, null, nbytes, undefined);
  }
  return { file, headerLength: n, dataStart, tensors, metadata: header.metadata, bytesRead: src.bytesRead };
}

/**
 * `x` (a non-negative integer) as V8's small integer when it is one. Offsets past 2^31 make a
 * header's offset columns arrays of doubles, and a difference of two doubles is a double: stored in
 * a record, V8 gives the field a double representation and boxes it in every record (a 16-byte
 * heap number each, 92,000 per size field on DeepSeek-V3). A bitwise-or makes it an integer again.
 */
function smallInt(x: number): number {
  return x <= 0x7fffffff ? x | 0 : x;
}

/**
 * The data region must be covered exactly: in the order of the offsets, no gap, no overlap,
 * nothing left. Headers are usually written in that order already, and then not sorted.
 */
function checkCoverage(h: ParsedHeader, file: string, dataStart: number, dataSize: number): void {
  const { begins, ends } = h;
  let order: number[] | undefined;
  for (let i = 1; i < begins.length && !order; i++) {
    if (begins[i] < begins[i - 1] || (begins[i] === begins[i - 1] && ends[i] < ends[i - 1])) {
      // (a stable sort: equal offsets keep the header's order)
      order = Array.from(begins, (_, k) => k).sort((x, y) => begins[x] - begins[y] || ends[x] - ends[y]);
    }
  }
  let expected = 0;
  for (let k = 0; k < begins.length; k++) {
    const i = order ? order[k] : k;
    if (begins[i] !== expected) {
      const what = begins[i] < expected ? `overlaps the previous tensor (which ends at ${expected})` : `leaves a gap of ${begins[i] - expected} bytes after offset ${expected}`;
      throw new CheckpointError('bad-offsets', `data_offsets [${begins[i]}, ${ends[i]}] ${what}`, {
        file,
        offset: dataStart + begins[i],
        record: `tensor "${truncate(h.names[i])}"`,
      });
    }
    expected = ends[i];
  }
  if (expected !== dataSize) {
    throw new CheckpointError('bad-offsets', `tensors cover ${expected} bytes of data but the file holds ${dataSize} after the header`, {
      file,
      offset: dataStart + expected,
    });
  }
}

/** The header read by the strict JSON parser, every entry checked in order. */
function parseHeaderStrict(headerBytes: Uint8Array, file: string, dataStart: number, dataSize: number): ParsedHeader {
  const header = parseJson(headerBytes, { file, base: 8 });
  if (!isObject(header)) throw new CheckpointError('bad-header', 'header is not a JSON object', { file, offset: 8 });
  const out = emptyHeader();
  for (const [name, v] of header) {
    if (name === '__metadata__') {
      if (!isObject(v)) throw new CheckpointError('bad-header', '__metadata__ is not an object of strings', { file, offset: 8 });
      for (const [k, s] of v) {
        if (typeof s !== 'string') {
          throw new CheckpointError('bad-header', `__metadata__ value for "${truncate(k)}" is not a string`, { file, offset: 8 });
        }
        out.metadata[k] = s;
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
    out.names.push(name);
    out.dtypes.push(dtype);
    out.shapes.push(shape as number[]);
    out.begins.push(begin);
    out.ends.push(end);
    checkEntry(out, out.names.length - 1, file, dataStart, dataSize);
  }
  return out;
}

/** The dtype strings the fast path keeps (one string per dtype, whatever the number of tensors). */
const DTYPE_KEYS: ReadonlyMap<string, string> = new Map(Object.keys(SAFETENSORS_DTYPES).map((k) => [k, k]));

/** Where entry i is, for its errors (made only for an error: not a closure per entry). */
function entryAt(h: ParsedHeader, i: number, file: string): { file: string; offset: number; record: string } {
  return { file, offset: 8, record: `tensor "${truncate(h.names[i])}"` };
}

/** Entry i's values checked against each other and the data region (both paths). */
function checkEntry(h: ParsedHeader, i: number, file: string, dataStart: number, dataSize: number): void {
  const dtype = h.dtypes[i];
  const shape = h.shapes[i];
  const begin = h.begins[i];
  const end = h.ends[i];
  if (!Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPES, dtype)) throw new CheckpointError('bad-dtype', `unknown dtype "${truncate(dtype, 20)}"`, entryAt(h, i, file));
  if (end < begin) throw new CheckpointError('bad-offsets', `data_offsets [${begin}, ${end}] end before they begin`, entryAt(h, i, file));
  if (end > dataSize) {
    throw new CheckpointError('bad-offsets', `data_offsets end ${end} is past the end of the data (${dataSize} bytes)`, { ...entryAt(h, i, file), offset: dataStart + begin });
  }
  let numel = 1;
  for (const d of shape) {
    numel *= d;
    if (!Number.isSafeInteger(numel)) throw new CheckpointError('bad-shape', `shape [${shape.join(', ')}] has too many elements`, entryAt(h, i, file));
  }
  const bits = SAFETENSORS_BITS[dtype];
  const expectBits = numel * bits;
  if (expectBits % 8 !== 0) throw new CheckpointError('bad-shape', `${numel} elements of ${dtype} are not a whole number of bytes`, entryAt(h, i, file));
  if (end - begin !== expectBits / 8) {
    throw new CheckpointError(
      'bad-offsets',
      `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${expectBits / 8}`,
      { ...entryAt(h, i, file), offset: dataStart + begin },
    );
  }
}

/** The u64 header length, checked against the file size and the limit. */
async function readHeaderLength(src: ByteSource, file: string): Promise<number> {
  if (src.size < 8) {
    throw new CheckpointError('truncated', `file is ${src.size} bytes, too short for the 8-byte safetensors header length`, { file });
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
  return n;
}

function isDim(x: Json): boolean {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * safetensors' save_model() drops duplicate names and records `removed -> kept` in __metadata__.
 * An entry whose key is not stored and whose value is a stored tensor is such a declaration.
 */
export function metadataTies(metadata: Record<string, string>, names: ReadonlySet<string>): DeclaredTie[] {
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
