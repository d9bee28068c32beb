/**
 * The fast path for safetensors headers. A header is machine-written JSON of one shape,
 * `{"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}`:
 * this reads that shape straight into columns (names, dtypes, shapes, offsets), without an object
 * or a Map per tensor, a string per key or a decoder call per string. It accepts only what the
 * strict parser (json.ts) would accept and read the same way, and gives up (undefined) on
 * anything else — an escape in a string, a number that is not a plain integer, an unknown key, a
 * duplicate key — so the caller falls back to the strict parser, which reports the problem with
 * its offset. The checks of the values (known dtype, offsets, sizes) stay in safetensors.ts,
 * shared by both paths.
 */
import { Json, isObject, parseJsonValueAt } from '../json';
import { COMMA, COLON, OPEN_BRACE, CLOSE_BRACE, OPEN_BRACKET, CLOSE_BRACKET, skipWs, plainStringEnd, hashedStringEnd, lastString } from '../json-scan';

/** A header's tensors as columns, in the header's order (no object per tensor). */
export interface ParsedHeader {
  names: string[];
  /** The dtype as the file writes it (`F32`). */
  dtypes: string[];
  /** Shapes; equal shapes of one file share one array on the fast path. */
  shapes: number[][];
  /** data_offsets, relative to the data region. */
  begins: number[];
  ends: number[];
  /** `__metadata__`, when it is an object of strings (anything else is left to the strict path). */
  metadata: Record<string, string>;
}

export function emptyHeader(): ParsedHeader {
  return { names: [], dtypes: [], shapes: [], begins: [], ends: [], metadata: Object.create(null) };
}

const bytesOf = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
/** Entry keys with their quotes, matched in place. */
const KEY_DTYPE = bytesOf('"dtype"');
const KEY_SHAPE = bytesOf('"shape"');
const KEY_OFFSETS = bytesOf('"data_offsets"');
const KEY_METADATA = bytesOf('__metadata__');

const utf8 = new TextDecoder('utf-8', { fatal: true });

/*
 * The scanner below keeps its position in locals and passes it between small functions that
 * return the next position (-1: not plainly written, give up). Closures sharing a mutable
 * position would keep it in a context object, a memory access per byte of a 100 KB header.
 */

/** Whether `key` (bytes) is at p. */
function at(b: Uint8Array, p: number, key: Uint8Array): boolean {
  if (p + key.length > b.length) return false;
  for (let i = 0; i < key.length; i++) if (b[p + i] !== key[i]) return false;
  return true;
}

/** Past `:` and the whitespace around it, from p; -1 when there is none. */
function colon(b: Uint8Array, p: number): number {
  p = skipWs(b, p);
  return b[p] === COLON ? skipWs(b, p + 1) : -1;
}

/** The value of the last integer read by `int` (positions are returned, values kept here). */
let intValue = 0;

/** A non-negative integer written plainly (no sign, fraction, exponent or leading zero), at most 15 digits: the position past it, or -1. */
function int(b: Uint8Array, p: number): number {
  const start = p;
  let v = 0;
  for (; p < b.length; p++) {
    const c = b[p];
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
  }
  const digits = p - start;
  if (digits === 0 || digits > 15 || (digits > 1 && b[start] === 0x30)) return -1;
  const c = b[p];
  if (c === 0x2e || c === 0x65 || c === 0x45) return -1;
  intValue = v;
  return p;
}

/** Distinct shapes kept under one hash (real files have a few dozen shapes in all). */
const MAX_BUCKET = 8;

/** Shapes repeat (every expert has the same few): equal shapes of one file share one array. */
class Shapes {
  private readonly byHash = new Map<number, number[][]>();
  /**
   * The dims of the list being read: the first `count`. The array is kept at its longest, not
   * emptied per shape: emptying it (length = 0) lets V8 drop its backing store, and each shape
   * would allocate a new one.
   */
  readonly dims: number[] = [];
  count = 0;

  /** The shared array equal to the dims read. */
  take(): number[] {
    const { dims, count } = this;
    let h = count;
    for (let i = 0; i < count; i++) h = (Math.imul(h, 31) + (dims[i] | 0) + Math.floor(dims[i] / 4294967296)) | 0;
    const bucket = this.byHash.get(h);
    if (bucket) {
      for (const s of bucket) if (this.holds(s)) return s;
    }
    const s = dims.slice(0, count);
    // Sharing only saves memory: a full bucket (shapes made to share a hash, [0, a, K - 31a]...)
    // takes no more, or each shape read would compare itself with every one before it.
    if (bucket) {
      if (bucket.length < MAX_BUCKET) bucket.push(s);
    } else this.byHash.set(h, [s]);
    return s;
  }

  /** Whether `s` is the dims read. */
  private holds(s: number[]): boolean {
    if (s.length !== this.count) return false;
    for (let i = 0; i < s.length; i++) if (s[i] !== this.dims[i]) return false;
    return true;
  }
}

/** `[d, d, ...]` at p into shapes.dims: the position past it, or -1. */
function dimList(b: Uint8Array, p: number, shapes: Shapes): number {
  if (b[p] !== OPEN_BRACKET) return -1;
  const dims = shapes.dims;
  shapes.count = 0;
  p = skipWs(b, p + 1);
  if (b[p] === CLOSE_BRACKET) return p + 1;
  for (;;) {
    p = int(b, skipWs(b, p));
    if (p < 0) return -1;
    dims[shapes.count++] = intValue;
    p = skipWs(b, p);
    const c = b[p++];
    if (c === CLOSE_BRACKET) return p;
    if (c !== COMMA) return -1;
  }
}

/** A known dtype as bytes, with the string kept for it. */
interface KnownDtype {
  bytes: Uint8Array;
  name: string;
}

/** The table of each dtype map passed in (in practice one: built once, not once per header). */
const dtypeTables = new WeakMap<ReadonlyMap<string, string>, KnownDtype[]>();

/** The known dtypes as bytes, with the string kept for each (one string per dtype, whatever the number of tensors). */
function dtypeTable(dtypes: ReadonlyMap<string, string>): KnownDtype[] {
  let table = dtypeTables.get(dtypes);
  if (!table) {
    table = [...dtypes].map(([k, name]) => ({ bytes: bytesOf(k), name }));
    dtypeTables.set(dtypes, table);
  }
  return table;
}

/** The dtype string for the bytes [s, e): the kept one when known, else as read. */
function dtypeOf(b: Uint8Array, s: number, e: number, known: KnownDtype[], text: Buffer): string {
  for (let i = 0; i < known.length; i++) {
    const k = known[i].bytes;
    if (k.length === e - s && at(b, s, k)) return known[i].name;
  }
  return text.toString('latin1', s, e);
}

/** Slots a name may step over on average before the names are taken for crafted collisions. */
const MAX_PROBES_PER_NAME = 8;

/** Names seen in one header, by hash (computed as each name is scanned): a duplicate gives up. */
class NameTable {
  private readonly slots: Int32Array;
  private readonly hashes: Int32Array;
  private count = 0;
  /** Slots stepped over so far. A table half full steps over one or two per name; names made to share a hash (FNV is not keyed) step over every one before them. */
  private probes = 0;
  constructor(headerBytes: number) {
    // An entry takes at least 40 bytes of JSON: a table of twice as many slots never fills.
    let cap = 16;
    while (cap < headerBytes / 20) cap *= 2;
    this.slots = new Int32Array(cap).fill(-1);
    this.hashes = new Int32Array(cap >> 1);
  }
  /**
   * Adds names[i] (its hash `h`); false when an equal name is there already, or when the names
   * collide far more than chance allows (the strict parser, whose Map is keyed by V8's seeded
   * hash, reads them in linear time instead).
   */
  add(h: number, names: string[], i: number): boolean {
    const { slots, hashes } = this;
    if (this.count >= hashes.length) return false; // more entries than the JSON can hold: not plain
    const mask = slots.length - 1;
    let pos = h & mask;
    for (; slots[pos] >= 0; pos = (pos + 1) & mask) {
      const j = slots[pos];
      if (hashes[j] === h && names[j] === names[i]) return false;
      if (++this.probes > MAX_PROBES_PER_NAME * this.count + 1024) return false;
    }
    slots[pos] = i;
    hashes[i] = h;
    this.count++;
    return true;
  }
}

/**
 * Parse a header (the JSON bytes after the 8-byte length) the fast way, or undefined when it is
 * anything but plainly machine-written. `dtypes` maps each known dtype to the string to keep
 * (so 90,000 tensors share a handful of strings); an unknown dtype is kept as read.
 */
export function parseHeaderFast(b: Uint8Array, dtypes: ReadonlyMap<string, string>): ParsedHeader | undefined {
  const n = b.length;
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const out = emptyHeader();
  const known = dtypeTable(dtypes);
  const shapes = new Shapes();
  const seen = new NameTable(n);
  let sawMetadata = false;
  let p = skipWs(b, 0);
  if (b[p] !== OPEN_BRACE) return undefined;
  p = skipWs(b, p + 1);
  if (b[p] === CLOSE_BRACE) return skipWs(b, p + 1) === n ? out : undefined;
  for (;;) {
    // The key: a tensor's name (hashed as it is scanned), or __metadata__.
    p = skipWs(b, p);
    const ks = p + 1;
    const ke = hashedStringEnd(b, p);
    if (ke < 0) return undefined;
    const { hash, bits } = lastString;
    p = colon(b, ke + 1);
    if (p < 0) return undefined;
    if (ke - ks === KEY_METADATA.length && at(b, ks, KEY_METADATA)) {
      if (sawMetadata) return undefined;
      sawMetadata = true;
      p = metadata(b, p, out);
    } else {
      const i = out.names.length;
      out.names.push(bits < 0x80 ? text.toString('latin1', ks, ke) : decodeUtf8(b, ks, ke));
      if (out.names[i] === '' && bits >= 0x80) return undefined; // not UTF-8 (a real empty name is ASCII)
      if (!seen.add(hash, out.names, i)) return undefined;
      p = entry(b, p, out, shapes, known, text);
    }
    if (p < 0) return undefined;
    p = skipWs(b, p);
    const c = b[p++];
    if (c === CLOSE_BRACE) break;
    if (c !== COMMA) return undefined;
  }
  return skipWs(b, p) === n ? out : undefined;
}

/** The bytes [s, e) as UTF-8, or '' when they are not UTF-8. */
function decodeUtf8(b: Uint8Array, s: number, e: number): string {
  try {
    return utf8.decode(b.subarray(s, e));
  } catch {
    return '';
  }
}

/** __metadata__ at p, rare and small: read with the strict parser (escapes and all), kept only if it is an object of strings. */
function metadata(b: Uint8Array, p: number, out: ParsedHeader): number {
  let value: Json;
  try {
    const r = parseJsonValueAt(b, { file: '' }, p);
    value = r.value;
    p = r.end;
  } catch {
    return -1;
  }
  if (!isObject(value)) return -1;
  const md: Record<string, string> = Object.create(null);
  for (const [k, v] of value) {
    if (typeof v !== 'string') return -1;
    md[k] = v;
  }
  out.metadata = md;
  return p;
}

/** One tensor's `{"dtype": .., "shape": [..], "data_offsets": [b, e]}` (keys in any order, each once) at p into `out`. */
function entry(b: Uint8Array, p: number, out: ParsedHeader, shapes: Shapes, known: KnownDtype[], text: Buffer): number {
  if (b[p] !== OPEN_BRACE) return -1;
  p++;
  let dtype: string | undefined;
  let shape: number[] | undefined;
  let begin = -1;
  let end = -1;
  for (;;) {
    p = skipWs(b, p);
    if (dtype === undefined && at(b, p, KEY_DTYPE)) {
      p = colon(b, p + KEY_DTYPE.length);
      const e = p < 0 ? -1 : plainStringEnd(b, p);
      if (e < 0) return -1;
      dtype = dtypeOf(b, p + 1, e, known, text);
      p = e + 1;
    } else if (shape === undefined && at(b, p, KEY_SHAPE)) {
      p = colon(b, p + KEY_SHAPE.length);
      p = p < 0 ? -1 : dimList(b, p, shapes);
      if (p < 0) return -1;
      shape = shapes.take();
    } else if (begin < 0 && at(b, p, KEY_OFFSETS)) {
      p = colon(b, p + KEY_OFFSETS.length);
      if (p < 0 || b[p] !== OPEN_BRACKET) return -1;
      p = int(b, skipWs(b, p + 1));
      if (p < 0) return -1;
      begin = intValue;
      p = skipWs(b, p);
      if (b[p] !== COMMA) return -1;
      p = int(b, skipWs(b, p + 1));
      if (p < 0) return -1;
      end = intValue;
      p = skipWs(b, p);
      if (b[p++] !== CLOSE_BRACKET) return -1;
    } else {
      return -1;
    }
    p = skipWs(b, p);
    const c = b[p++];
    if (c === CLOSE_BRACE) break;
    if (c !== COMMA) return -1;
  }
  if (dtype === undefined || shape === undefined || begin < 0) return -1;
  out.dtypes.push(dtype);
  out.shapes.push(shape);
  out.begins.push(begin);
  out.ends.push(end);
  return p;
}
