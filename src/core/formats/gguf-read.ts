/**
 * GGUF (llama.cpp / ggml), versions 2 and 3, little-endian:
 *
 *   "GGUF" u32 version, u64 tensor_count, u64 kv_count,
 *   kv_count x (string key, u32 type, value), tensor_count x (string name, u32 n_dims,
 *   n_dims x u64 ne, u32 ggml_type, u64 offset), padding to `general.alignment`, data.
 *
 * Strings are u64 length + UTF-8 bytes. We read the header through a chunked reader (its size is
 * not known up front), skip big arrays (token lists) without keeping them, and never read tensor
 * data. Shapes are given in PyTorch order: ne[0] is the fastest-varying dimension, so it is last.
 */
import { ByteSource, u32le } from '../bytes';
import { ReaderContext, pathsOf, relativeName } from '../access';
import { CheckpointError, ErrorCode } from '../errors';
import { truncate } from '../json';
import { DeclaredTie, RawCheckpoint, TensorRecord, Warning } from '../model';
import { tensorRecord } from '../tensor-record';
import { ChunkedReader, strictUtf8 } from './protobuf';
import { GgmlType, GGML_TYPES, REMOVED_TYPES } from './gguf-types';

/** GGML_MAX_DIMS */
export const MAX_DIMS = 4;
export const DEFAULT_ALIGNMENT = 32;
/** Arrays longer than this are kept as a summary (type, count, first items), not as a list. */
export const MAX_INLINE_ARRAY = 1000;
/** Strings longer than this are kept as a summary. */
export const MAX_INLINE_STRING = 256 * 1024;
const SUMMARY_ITEMS = 8;
/**
 * Keys and tensor names longer than this are refused before they are read: a length field is
 * trusted only as far as the file reaches, and a file of many gigabytes of tensor data would
 * otherwise have all of it read as one name. llama.cpp's longest keys are under 64 bytes.
 */
export const MAX_NAME_BYTES = 64 * 1024;
/** GGML_MAX_NAME includes the terminating NUL. */
const GGML_MAX_NAME = 64;

const VALUE_TYPES = ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32', 'bool', 'string', 'array', 'uint64', 'int64', 'float64'];
const FIXED_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const T_STRING = 8;
const T_ARRAY = 9;

/** Architectures without an output head: no tie is implied when `output.weight` is absent. */
const NO_HEAD_ARCHS = new Set(['bert', 'nomic-bert', 'nomic-bert-moe', 'jina-bert-v2', 'jina-bert-v3', 'neo-bert', 'modern-bert', 't5encoder', 'clip', 'wavtokenizer-dec']);

/** A summary that stands in for a long array or string in the metadata. */
export interface ValueSummary {
  type: 'array' | 'string';
  elementType?: string;
  count: number;
  first: unknown[] | string;
}

export interface GgufFile {
  file: string;
  version: number;
  alignment: number;
  /** Absolute offset of the data section. */
  dataStart: number;
  kv: Record<string, unknown>;
  /** Value type of each key, by GGUF's names (`uint32`, `string`, `array<string>`...). */
  kvTypes: Record<string, string>;
  /** Keys in `kv`, counted as they are read: Object.keys() of a million keys takes 0.4 s. */
  kvCount: number;
  tensors: TensorRecord[];
  /** Each tensor's name, to the offset of its info. */
  names: ReadonlyMap<string, number>;
  warnings: Warning[];
  bytesRead: number;
}

/** Read a GGUF file, and the other files of a split model (gguf.ts's read(), loaded the first time a GGUF file is opened). */
export async function readGguf(src: ByteSource, ctx: ReaderContext): Promise<RawCheckpoint> {
  const file = relativeName(ctx, ctx.path);
  const first = await readGgufHeader(src, file);
  const splitCount = intValue(first.kv['split.count']);
  if (splitCount !== undefined && splitCount > 1) return readSplits(first, src, ctx, splitCount);
  return toRaw([first], [src.size], ctx);
}

function intValue(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;
}

/**
 * RoPE scaling data llama.cpp's converter stores as tensors (LLM_TENSOR_ROPE_FREQS,
 * LLM_TENSOR_ROPE_FACTORS_LONG/SHORT), at the root or, for some architectures, per block. The
 * Hugging Face model has no such parameter: it computes `inv_freq`, a non-persistent buffer, from
 * config.json's rope_scaling.
 */
const ROPE_SCALING = /^(blk\.\d+\.)?(rope_freqs|rope_factors_long|rope_factors_short)\.weight$/;
const ROPE_SCALING_REASONS: Record<string, string> = {
  rope_freqs:
    "RoPE frequency factors (llama 3.1's rope_scaling, type llama3), which llama.cpp stores as a tensor: transformers derives its rotary inv_freq, a non-persistent buffer, from config.json; not a parameter",
  rope_factors_long:
    "RoPE long-context factors (longrope's long_factor, Phi-3 128k), which llama.cpp stores as a tensor: transformers keeps them in config.json's rope_scaling and derives its rotary inv_freq buffer from them; not a parameter",
  rope_factors_short:
    "RoPE short-context factors (longrope's short_factor, Phi-3 128k), which llama.cpp stores as a tensor: transformers keeps them in config.json's rope_scaling and derives its rotary inv_freq buffer from them; not a parameter",
};

function toRaw(files: GgufFile[], sizes: number[], ctx: ReaderContext, extraWarnings: Warning[] = []): RawCheckpoint {
  const main = files[0];
  const tensors: TensorRecord[] = [];
  // The parser refuses a name twice in one file; a name in two splits is found here, by a map of
  // every name to its file, made only for a split model (400,000 names took 0.2 s).
  const seen = files.length > 1 ? new Map<string, string>() : undefined;
  for (const f of files) {
    for (const t of f.tensors) {
      if (seen) {
        const prev = seen.get(t.name);
        if (prev !== undefined) {
          throw new CheckpointError('duplicate-key', `tensor "${truncate(t.name)}" is stored in two splits (${prev} and ${f.file})`, { file: f.file, record: `tensor "${truncate(t.name)}"` });
        }
        seen.set(t.name, f.file);
      }
      const scaling = ROPE_SCALING.exec(t.name);
      if (scaling) {
        t.role = 'buffer';
        t.roleReason = ROPE_SCALING_REASONS[scaling[2]];
      }
      tensors.push(t);
    }
  }
  const declaredTies: DeclaredTie[] = [];
  const arch = typeof main.kv['general.architecture'] === 'string' ? (main.kv['general.architecture'] as string) : '';
  const stored = (name: string) => files.some((f) => f.names.has(name));
  if (!stored('output.weight') && stored('token_embd.weight') && !NO_HEAD_ARCHS.has(arch)) {
    declaredTies.push({
      name: 'output.weight',
      target: 'token_embd.weight',
      source: 'format',
      reason: 'GGUF file has no output.weight; llama.cpp uses token_embd.weight as the output head (tied embeddings)',
    });
  }
  const gguf: Record<string, unknown> = {
    version: main.version,
    alignment: main.alignment,
    dataStart: main.dataStart,
    tensorCount: tensors.length,
    kvCount: main.kvCount,
    kv: main.kv,
    kvTypes: main.kvTypes,
  };
  if (files.length > 1) {
    gguf.splits = files.map((f) => ({ file: f.file, tensorCount: f.tensors.length, dataStart: f.dataStart, alignment: f.alignment }));
  }
  const raw: RawCheckpoint = {
    format: 'gguf',
    path: ctx.path,
    files: files.map((f) => f.file),
    tensors,
    declaredTies,
    metadata: { gguf },
    warnings: [...files.flatMap((f) => f.warnings), ...extraWarnings],
    bytesRead: files.reduce((s, f) => s + f.bytesRead, 0),
    totalBytes: sizes.reduce((s, n) => s + n, 0),
  };
  const named = main.kv['general.architecture'];
  if (typeof named === 'string') raw.architecture = named;
  if (arch) raw.hyperParameters = hyperParameters(main.kv, arch);
  return raw;
}

/** The few hyper-parameters layer inference uses, in config.json's names. */
function hyperParameters(kv: Record<string, unknown>, arch: string): Record<string, unknown> {
  const f32 = (v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(6)) : undefined);
  const cfg: Record<string, unknown> = {};
  const rms = f32(kv[`${arch}.attention.layer_norm_rms_epsilon`]);
  const ln = f32(kv[`${arch}.attention.layer_norm_epsilon`]);
  if (rms !== undefined) cfg.rms_norm_eps = rms;
  if (ln !== undefined) cfg.layer_norm_eps = ln;
  return cfg;
}

const SPLIT_NAME = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i;

/** A split model (gguf-split): open every `<prefix>-0000k-of-0000n.gguf` beside this one. */
async function readSplits(opened: GgufFile, src: ByteSource, ctx: ReaderContext, count: number): Promise<RawCheckpoint> {
  const no = intValue(opened.kv['split.no']) ?? 0;
  const base = pathsOf(ctx.access).basename(ctx.path);
  const m = SPLIT_NAME.exec(base);
  if (!m || Number(m[3]) !== count || Number(m[2]) !== no + 1) {
    return toRaw([opened], [src.size], ctx, [
      {
        code: 'gguf-split',
        message: `${opened.file} is split ${no + 1} of ${count} (split.count) but its name does not follow <name>-0000k-of-0000n.gguf; only this file's ${opened.tensors.length} tensors are shown`,
      },
    ]);
  }
  const dir = pathsOf(ctx.access).dirname(ctx.path);
  const files: GgufFile[] = new Array(count);
  const sizes: number[] = new Array(count);
  for (let k = 0; k < count; k++) {
    if (k === no) {
      files[k] = opened;
      sizes[k] = src.size;
      continue;
    }
    const name = `${m[1]}-${String(k + 1).padStart(5, '0')}-of-${m[3]}.gguf`;
    const abs = pathsOf(ctx.access).join(dir, name);
    const display = relativeName(ctx, abs);
    const st = await ctx.access.stat(abs);
    if (!st || st.isDirectory) {
      throw new CheckpointError('missing-shard', `split ${k + 1} of ${count} (${name}) is missing; ${opened.file} declares split.count = ${count}`, { file: opened.file });
    }
    const s = await ctx.access.open(abs, display);
    try {
      files[k] = await readGgufHeader(s, display);
      sizes[k] = s.size;
    } finally {
      await s.close();
    }
    const f = files[k];
    if (intValue(f.kv['split.count']) !== count || (intValue(f.kv['split.no']) ?? -1) !== k) {
      throw new CheckpointError('bad-index', `split ${f.file} has ${kvText(f.kv, 'split.no')} and ${kvText(f.kv, 'split.count')}; expected ${k} and ${count}`, { file: f.file });
    }
  }
  // General metadata lives in the first split; toRaw takes it from files[0].
  const warnings: Warning[] = [{ code: 'gguf-split', message: `split model: read ${count} files (${files.map((f) => f.file).join(', ')})` }];
  const raw = toRaw(files, sizes, ctx, warnings);
  const expected = intValue(files[0].kv['split.tensors.count']);
  if (expected !== undefined && expected !== raw.tensors.length) {
    raw.warnings.push({ code: 'gguf-split', message: `split.tensors.count is ${expected} but the ${count} splits hold ${raw.tensors.length} tensors` });
  }
  return raw;
}

/** Read and validate one GGUF file's header. `file` is the name used for records and messages. */
export async function readGgufHeader(src: ByteSource, file: string): Promise<GgufFile> {
  return new GgufParser(src, file).parse();
}

/** A tensor info as read, before the data section's start is known. */
interface Info {
  name: string;
  /** Offset of the info (its name's length). */
  at: number;
  offsetAt: number;
  /** PyTorch order: ne reversed. */
  shape: number[];
  type: GgmlType;
  /** Data offset, from the data section's start. */
  offset: number;
  nbytes: number;
}

class GgufParser {
  private readonly r: ChunkedReader;
  private pos = 0;
  private readonly warnings: Warning[] = [];
  /** Whether a tensor name of GGML_MAX_NAME bytes or more was read. */
  private longName = false;

  constructor(private readonly src: ByteSource, private readonly file: string) {
    this.r = new ChunkedReader(src, file);
  }

  private err(code: ErrorCode, msg: string, offset: number, record?: string): CheckpointError {
    return new CheckpointError(code, msg, { file: this.file, offset, record });
  }

  private get remaining(): number {
    return this.src.size - this.pos;
  }

  private async u32(what: string): Promise<number> {
    const v = await this.r.u32(this.pos, what);
    this.pos += 4;
    return v;
  }

  /** A u64 count or length; each unit needs at least `unitBytes` more bytes of the file. */
  private async count(what: string, unitBytes: number, record?: string): Promise<number> {
    const at = this.pos;
    const v = await this.r.u64big(at, what);
    this.pos += 8;
    const room = BigInt(Math.floor(this.remaining / Math.max(1, unitBytes)));
    if (v > room) {
      const need = unitBytes > 1 ? ` (at least ${unitBytes} bytes each)` : '';
      throw this.err('truncated', `${what} ${v}${need} runs past the end of the file (${this.remaining} bytes remain after byte ${this.pos})`, at, record);
    }
    return Number(v);
  }

  /** A key or a tensor name: at most MAX_NAME_BYTES long. */
  private async string(what: string, record?: string): Promise<string> {
    const lengthAt = this.pos;
    const n = await this.count(`${what} length`, 1, record);
    if (n > MAX_NAME_BYTES) throw this.err('limit', `${what} is ${n} bytes long; names of more than ${MAX_NAME_BYTES} bytes are not read`, lengthAt, record);
    const at = this.pos;
    const s = await this.r.utf8(at, n, what);
    this.pos += n;
    return s;
  }

  async parse(): Promise<GgufFile> {
    const { src, file } = this;
    if (src.size < 24) throw this.err('truncated', `file is ${src.size} bytes, too short for a GGUF header (24 bytes)`, 0);
    const magic = await this.r.view(0, 4, 'magic');
    if (!(magic[0] === 0x47 && magic[1] === 0x47 && magic[2] === 0x55 && magic[3] === 0x46)) {
      throw this.err('bad-header', 'not a GGUF file (magic is not "GGUF")', 0);
    }
    this.pos = 4;
    const version = await this.u32('version');
    if (version === 1) {
      throw this.err('unsupported', 'GGUF version 1 is not supported (it predates 64-bit counts); convert the file with a current llama.cpp', 4);
    }
    if ((version & 0xffff) === 0 && version >>> 16 !== 0) {
      throw this.err('unsupported', `big-endian GGUF (version field reads ${version} little-endian) is not supported`, 4);
    }
    if (version !== 2 && version !== 3) throw this.err('unsupported', `GGUF version ${version} is not supported (2 and 3 are)`, 4);
    // Smallest tensor info: name length 8, n_dims 4, type 4, offset 8. Smallest KV: key length 8, type 4, value 1.
    const tensorCount = await this.count('tensor count', 24);
    const kvCount = await this.count('key/value count', 13);

    const kv: Record<string, unknown> = Object.create(null);
    const kvTypes: Record<string, string> = Object.create(null);
    // The keys in file order and where each starts, for the messages that name a key's offset. A
    // Map of key to offset beside the two records took as long as one of them (a million keys):
    // `key in kv` finds a duplicate, and the rare message that needs an offset searches `keys`.
    const keys: string[] = [];
    const keyAt: number[] = [];
    for (let i = 0; i < kvCount; i++) {
      const at = this.pos;
      const now = this.kvNow();
      if (now) {
        if (now.key in kv) throw this.err('duplicate-key', `duplicate key (first at byte ${keyAt[keys.indexOf(now.key)]})`, at, `key "${truncate(now.key)}"`);
        keys.push(now.key);
        keyAt.push(at);
        kv[now.key] = now.value;
        kvTypes[now.key] = VALUE_TYPES[now.type];
        this.pos = now.end;
        continue;
      }
      const key = await this.string(`key of key/value pair ${i}`);
      const rec = `key "${truncate(key)}"`;
      if (key in kv) throw this.err('duplicate-key', `duplicate key (first at byte ${keyAt[keys.indexOf(key)]})`, at, rec);
      keys.push(key);
      keyAt.push(at);
      const typeAt = this.pos;
      const type = await this.u32('value type');
      if (type >= VALUE_TYPES.length) throw this.err('bad-header', `unknown value type ${type}`, typeAt, rec);
      const { value, typeName } = await this.value(type, rec);
      kv[key] = value;
      kvTypes[key] = typeName;
    }

    let alignment = DEFAULT_ALIGNMENT;
    if ('general.alignment' in kv) {
      const a = kv['general.alignment'];
      const at = keyAt[keys.indexOf('general.alignment')];
      if (typeof a !== 'number' || !Number.isSafeInteger(a) || a <= 0 || (a & (a - 1)) !== 0 || a > 0x40000000) {
        throw this.err('bad-header', `general.alignment ${JSON.stringify(a)} is not a power of two`, at, 'key "general.alignment"');
      }
      if (kvTypes['general.alignment'] !== 'uint32') {
        this.warnings.push({ code: 'gguf-alignment-type', message: `${file}: general.alignment is ${kvTypes['general.alignment']}; llama.cpp expects uint32` });
      }
      alignment = a;
    }

    const infos: Info[] = [];
    const names = new Map<string, number>();
    for (let i = 0; i < tensorCount; i++) {
      let t = this.infoNow();
      // A duplicate name goes to the general path too, which reads the info again and names it.
      if (t === null || names.has(t.name)) t = await this.info(i, names);
      else this.pos = t.offsetAt + 8;
      names.set(t.name, t.at);
      infos.push(t);
    }
    if (this.longName) {
      this.warnings.push({ code: 'gguf-long-name', message: `${file}: some tensor names are ${GGML_MAX_NAME} bytes or longer; llama.cpp rejects them` });
    }

    const dataStart = alignUp(this.pos, alignment);
    if (tensorCount > 0 && dataStart > src.size) {
      throw this.err('truncated', `the data section starts at byte ${dataStart} (after the tensor infos, aligned to ${alignment}) but the file ends at ${src.size}`, this.pos);
    }
    for (const t of infos) {
      if (t.offset % alignment !== 0) {
        throw this.err('bad-offsets', `data offset ${t.offset} is not a multiple of the alignment ${alignment}`, t.offsetAt, `tensor "${truncate(t.name)}"`);
      }
      const begin = dataStart + t.offset;
      if (begin + t.nbytes > src.size) {
        throw this.err(
          'truncated',
          `data [${begin}, ${begin + t.nbytes}) (${t.nbytes} bytes of ${t.type.name} at data offset ${t.offset}) runs past the end of the file (${src.size} bytes)`,
          t.offsetAt,
          `tensor "${truncate(t.name)}"`,
        );
      }
    }
    // No two tensors may overlap; llama.cpp also expects them packed in info order.
    const sorted = infos.filter((t) => t.nbytes > 0).sort((a, b) => a.offset - b.offset);
    let reach: Info | undefined; // the tensor whose data ends furthest so far
    for (const t of sorted) {
      if (reach && t.offset < reach.offset + reach.nbytes) {
        throw this.err(
          'bad-offsets',
          `data at offset ${t.offset} overlaps tensor "${truncate(reach.name)}" (data offsets ${reach.offset}..${reach.offset + reach.nbytes})`,
          t.offsetAt,
          `tensor "${truncate(t.name)}"`,
        );
      }
      if (!reach || t.offset + t.nbytes > reach.offset + reach.nbytes) reach = t;
    }
    let expect = 0;
    for (const t of infos) {
      if (t.offset !== expect) {
        this.warnings.push({
          code: 'gguf-layout',
          message: `${file}: tensor "${truncate(t.name)}" is at data offset ${t.offset} where llama.cpp expects ${expect} (tensors packed in order, each padded to ${alignment})`,
        });
        break;
      }
      expect += alignUp(t.nbytes, alignment);
    }
    const tensors: TensorRecord[] = infos.map((t) =>
      tensorRecord(
        t.name,
        t.type.dtype,
        t.type.name,
        t.shape,
        t.nbytes,
        file,
        dataStart + t.offset,
        `${file}:${t.name}`,
        0,
        null,
        t.nbytes,
        t.type.block > 1 ? { bitsPerWeight: (t.type.bytes * 8) / t.type.block } : undefined,
      ),
    );
    return { file, version, alignment, dataStart, kv, kvTypes, kvCount, tensors, names, warnings: this.warnings, bytesRead: src.bytesRead };
  }

  /** Tensor info `i` at the cursor, read through the window; `names` maps the names before it to their offsets. */
  private async info(i: number, names: ReadonlyMap<string, number>): Promise<Info> {
    const at = this.pos;
    const name = await this.string(`name of tensor info ${i}`);
    const rec = `tensor "${truncate(name)}"`;
    if (names.has(name)) throw this.err('duplicate-key', `duplicate tensor name (first at byte ${names.get(name)})`, at, rec);
    if (this.pos - at - 8 >= GGML_MAX_NAME) this.longName = true;
    const dimsAt = this.pos;
    const nDims = await this.u32('n_dims');
    if (nDims > MAX_DIMS) throw this.err('bad-shape', `tensor has ${nDims} dimensions; ggml allows at most ${MAX_DIMS}`, dimsAt, rec);
    const ne: number[] = [];
    let numel = 1;
    for (let d = 0; d < nDims; d++) {
      const neAt = this.pos;
      const v = await this.r.u64big(neAt, `ne[${d}]`);
      this.pos += 8;
      if (v >= 1n << 63n) throw this.err('bad-shape', `ne[${d}] is negative (${BigInt.asIntN(64, v)})`, neAt, rec);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.err('bad-shape', `ne[${d}] = ${v} is too large`, neAt, rec);
      const n = Number(v);
      numel *= n;
      if (!Number.isSafeInteger(numel)) throw this.err('bad-shape', `shape ne = [${[...ne, n].join(', ')}] has too many elements`, neAt, rec);
      ne.push(n);
    }
    const typeAt = this.pos;
    const typeId = await this.u32('ggml type');
    const type = GGML_TYPES.get(typeId);
    if (!type) {
      const removed = REMOVED_TYPES[typeId];
      const msg = removed
        ? `ggml type ${typeId} (${removed}) was removed from ggml; this file needs an old llama.cpp`
        : `unknown ggml type ${typeId}`;
      throw this.err('bad-dtype', msg, typeAt, rec);
    }
    const ne0 = nDims > 0 ? ne[0] : 1;
    if (ne0 % type.block !== 0) {
      throw this.err('bad-shape', `ne[0] = ${ne0} is not a multiple of the ${type.name} block size ${type.block}`, dimsAt, rec);
    }
    const nbytes = numel === 0 ? 0 : (numel / type.block) * type.bytes;
    if (!Number.isSafeInteger(nbytes)) throw this.err('bad-shape', `tensor of ${numel} ${type.name} elements is too large`, dimsAt, rec);
    const offsetAt = this.pos;
    const offset = await this.r.u64big(offsetAt, 'tensor data offset');
    this.pos += 8;
    if (offset > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw this.err('bad-offsets', `data offset ${offset} is too large`, offsetAt, rec);
    }
    return { name, at, offsetAt, shape: ne.reverse(), type, offset: Number(offset), nbytes };
  }

  /**
   * The tensor info at the cursor read without waiting, when all its bytes are in memory: a header
   * of 400,000 tensor infos spent seconds on the general path's awaits alone. Null for anything
   * else (bytes not in memory, a name length past the end of the file or over MAX_NAME_BYTES, a
   * name that is not UTF-8, more than MAX_DIMS dimensions, an ne or a data offset of 2^53 or more,
   * too many elements, an unknown or removed type, ne[0] not a multiple of the block size, a size
   * too large): the general path reads it again and names what is wrong, and no message is made
   * here. The cursor does not move; the info ends at `offsetAt + 8`.
   */
  private infoNow(): Info | null {
    const r = this.r;
    const at = this.pos;
    const n = r.u64Now(at);
    if (n === null || n > MAX_NAME_BYTES || n > this.src.size - at - 8) return null;
    const dimsAt = at + 8 + n;
    const nDims = r.u32Now(dimsAt);
    if (nDims === null || nDims > MAX_DIMS) return null;
    const typeAt = dimsAt + 4 + nDims * 8;
    const offsetAt = typeAt + 4;
    // The window is one run of bytes: with its first and its last byte, the whole info is in memory.
    if (r.residentIndex(offsetAt, 8) < 0) return null;
    const name = strictUtf8(r.peek(at + 8, n)!);
    if (name === null) return null;
    let numel = 1;
    for (let d = 0; d < nDims; d++) {
      // An ne of 2^53 or more (negative ones too) reads as Infinity: no safe product either.
      numel *= r.u64Now(dimsAt + 4 + d * 8)!;
      if (!Number.isSafeInteger(numel)) return null;
    }
    const type = GGML_TYPES.get(r.u32Now(typeAt)!);
    if (!type || (nDims > 0 ? r.u64Now(dimsAt + 4)! : 1) % type.block !== 0) return null;
    const nbytes = numel === 0 ? 0 : (numel / type.block) * type.bytes;
    if (!Number.isSafeInteger(nbytes)) return null;
    const offset = r.u64Now(offsetAt)!;
    if (offset > Number.MAX_SAFE_INTEGER) return null;
    if (n >= GGML_MAX_NAME) this.longName = true;
    return { name, at, offsetAt, shape: shapeNow(r, dimsAt + 4, nDims), type, offset, nbytes };
  }

  /** One value of the given type at the cursor. */
  private async value(type: number, rec: string): Promise<{ value: unknown; typeName: string }> {
    if (type === T_ARRAY) {
      const typeAt = this.pos;
      const elem = await this.u32('array element type');
      if (elem === T_ARRAY) throw this.err('unsupported', 'nested arrays are not supported (llama.cpp rejects them too)', typeAt, rec);
      if (elem >= VALUE_TYPES.length) throw this.err('bad-header', `unknown array element type ${elem}`, typeAt, rec);
      const typeName = `array<${VALUE_TYPES[elem]}>`;
      const n = await this.count('array length', elem === T_STRING ? 8 : FIXED_SIZE[elem], rec);
      const keep = n <= MAX_INLINE_ARRAY ? n : SUMMARY_ITEMS;
      const items: unknown[] = [];
      if (elem === T_STRING) {
        for (let i = 0; i < keep; i++) items.push(await this.stringValue(rec));
        // Skip the rest: only their lengths are read (synchronously while they are in memory).
        const size = this.src.size;
        for (let i = keep; i < n; ) {
          const len = this.r.u64Now(this.pos);
          if (len !== null && len <= size - this.pos - 8) {
            this.pos += 8 + len;
            i++;
            continue;
          }
          const l = await this.count('string length', 1, rec); // reads, or throws with the offset
          this.pos += l;
          i++;
        }
      } else {
        const size = FIXED_SIZE[elem];
        for (let i = 0; i < keep; i++) items.push(await this.scalar(elem));
        this.pos += (n - keep) * size;
      }
      if (n <= MAX_INLINE_ARRAY) return { value: items, typeName };
      const summary: ValueSummary = { type: 'array', elementType: VALUE_TYPES[elem], count: n, first: items };
      return { value: summary, typeName };
    }
    if (type === T_STRING) return { value: await this.stringValue(rec), typeName: 'string' };
    return { value: await this.scalar(type), typeName: VALUE_TYPES[type] };
  }

  private async stringValue(rec: string): Promise<string | ValueSummary> {
    const at = this.pos;
    const n = await this.count('string length', 1, rec);
    if (n > MAX_INLINE_STRING) {
      // Keep a prefix; cut at a character boundary by decoding leniently.
      const head = await this.r.view(this.pos, 200, 'string');
      this.pos += n;
      return { type: 'string', count: n, first: new TextDecoder('utf-8').decode(head) };
    }
    const s = await this.r.utf8(this.pos, n, `string value at byte ${at}`);
    this.pos += n;
    return s;
  }

  /**
   * The key/value pair at the cursor read without waiting, when its key, its type and its value (a
   * scalar, or a string of at most MAX_INLINE_STRING bytes) are all in memory: a header of a
   * million pairs spent seconds on the general path's awaits alone. Null for anything else (an
   * array, a long string, bytes not in memory, a length past the end of the file, an unknown type,
   * text that is not UTF-8): the general path reads it, and names what is wrong (no message is
   * made here).
   */
  private kvNow(): { key: string; type: number; value: unknown; end: number } | null {
    const r = this.r;
    const size = this.src.size;
    let p = this.pos;
    const klen = r.u64Now(p);
    if (klen === null || klen > MAX_NAME_BYTES || klen > size - p - 8) return null;
    p += 8;
    if (r.residentIndex(p, klen + 4) < 0) return null;
    const key = strictUtf8(r.peek(p, klen)!);
    if (key === null) return null;
    p += klen;
    const type = r.u32Now(p)!;
    p += 4;
    if (type === T_ARRAY || type >= VALUE_TYPES.length) return null;
    if (type === T_STRING) {
      const n = r.u64Now(p);
      if (n === null || n > MAX_INLINE_STRING || n > size - p - 8) return null;
      const b = r.peek(p + 8, n);
      const value = b ? strictUtf8(b) : null;
      return value === null ? null : { key, type, value, end: p + 8 + n };
    }
    const b = r.peek(p, FIXED_SIZE[type]);
    return b ? { key, type, value: scalarOf(type, b), end: p + FIXED_SIZE[type] } : null;
  }

  private async scalar(type: number): Promise<number | boolean | string> {
    const size = FIXED_SIZE[type];
    const b = await this.r.view(this.pos, size, VALUE_TYPES[type]);
    this.pos += size;
    return scalarOf(type, b);
  }
}

/**
 * The n ≤ MAX_DIMS values of ne at `p` (in memory, each checked below 2^53), in PyTorch order:
 * ne[0] last. An array literal holds exactly n numbers; push would reserve room for 17.
 */
function shapeNow(r: ChunkedReader, p: number, n: number): number[] {
  switch (n) {
    case 0:
      return [];
    case 1:
      return [r.u64Now(p)!];
    case 2:
      return [r.u64Now(p + 8)!, r.u64Now(p)!];
    case 3:
      return [r.u64Now(p + 16)!, r.u64Now(p + 8)!, r.u64Now(p)!];
    default:
      return [r.u64Now(p + 24)!, r.u64Now(p + 16)!, r.u64Now(p + 8)!, r.u64Now(p)!];
  }
}

/** A value of a fixed-size type from its bytes. */
function scalarOf(type: number, b: Uint8Array): number | boolean | string {
  // Integers up to 32 bits from the bytes themselves: a DataView for each of a million values took 0.1 s.
  switch (type) {
    case 0:
      return b[0];
    case 1:
      return (b[0] << 24) >> 24;
    case 2:
      return b[0] | (b[1] << 8);
    case 3:
      return ((b[0] | (b[1] << 8)) << 16) >> 16;
    case 4:
      return u32le(b, 0);
    case 5:
      return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24);
    case 7:
      return b[0] !== 0;
  }
  const dv = new DataView(b.buffer, b.byteOffset, FIXED_SIZE[type]);
  switch (type) {
    case 6:
      return finite(dv.getFloat32(0, true));
    case 10:
      return safeOrString(dv.getBigUint64(0, true));
    case 11:
      return safeOrString(dv.getBigInt64(0, true));
    case 12:
      return finite(dv.getFloat64(0, true));
    default:
      throw new Error(`unreachable value type ${type}`);
  }
}

function finite(x: number): number | string {
  return Number.isFinite(x) ? x : String(x);
}

function safeOrString(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** `key = value` for a message, or `no key` when the file lacks it. */
function kvText(kv: Record<string, unknown>, key: string): string {
  return key in kv ? `${key} = ${String(kv[key])}` : `no ${key}`;
}
