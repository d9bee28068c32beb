/**
 * The fast path for safetensors headers. A header is machine-written JSON of one shape,
 * `{"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}`:
 * this reads that shape straight into entries, without a Map per tensor, a string per key or a
 * decoder call per string. It accepts only what the strict parser (json.ts) would accept and
 * read the same way, and gives up (undefined) on anything else — an escape in a string, a
 * number that is not a plain integer, an unknown key, a duplicate key — so the caller falls back
 * to the strict parser, which reports the problem with its offset. The checks of the values
 * (known dtype, offsets, sizes) stay in safetensors.ts, shared by both paths.
 */
import { Json, isObject, parseJsonValueAt } from '../json';

export interface HeaderEntry {
  name: string;
  /** The dtype as the file writes it (`F32`). */
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface ParsedHeader {
  entries: HeaderEntry[];
  /** `__metadata__`, when it is an object of strings (anything else is left to the strict path). */
  metadata: Record<string, string>;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const bytesOf = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const KEY_DTYPE = bytesOf('dtype');
const KEY_SHAPE = bytesOf('shape');
const KEY_OFFSETS = bytesOf('data_offsets');
const KEY_METADATA = bytesOf('__metadata__');

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parse a header (the JSON bytes after the 8-byte length) the fast way, or undefined when it is
 * anything but plainly machine-written. `dtypes` maps each known dtype to the string to keep
 * (so 90,000 tensors share a handful of strings); an unknown dtype is kept as read.
 */
export function parseHeaderFast(b: Uint8Array, dtypes: ReadonlyMap<string, string>): ParsedHeader | undefined {
  const n = b.length;
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  let p = 0;
  let ok = true;
  const fail = (): undefined => {
    ok = false;
    return undefined;
  };
  const ws = () => {
    while (p < n) {
      const c = b[p];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
  };
  /** At a quote: the string's byte range [start, end) without escapes, p past the closing quote. */
  let strStart = 0;
  let strAscii = true;
  const scanString = (): boolean => {
    if (b[p] !== QUOTE) return false;
    strStart = ++p;
    strAscii = true;
    while (p < n) {
      const c = b[p];
      if (c === QUOTE) {
        p++;
        return true;
      }
      if (c === BACKSLASH || c < 0x20) return false;
      if (c >= 0x80) strAscii = false;
      p++;
    }
    return false;
  };
  const decode = (start: number, end: number, ascii: boolean): string | undefined => {
    if (ascii) return text.toString('latin1', start, end);
    try {
      return utf8.decode(b.subarray(start, end));
    } catch {
      return undefined;
    }
  };
  const is = (start: number, end: number, key: Uint8Array): boolean => {
    if (end - start !== key.length) return false;
    for (let i = 0; i < key.length; i++) if (b[start + i] !== key[i]) return false;
    return true;
  };
  /** A non-negative integer written plainly (no sign, fraction, exponent or leading zero), at most 15 digits. */
  const int = (): number => {
    const start = p;
    let v = 0;
    while (p < n) {
      const c = b[p];
      if (c < 0x30 || c > 0x39) break;
      v = v * 10 + (c - 0x30);
      p++;
    }
    const digits = p - start;
    if (digits === 0 || digits > 15 || (digits > 1 && b[start] === 0x30)) return fail() ?? -1;
    const c = b[p];
    if (c === 0x2e || c === 0x65 || c === 0x45) return fail() ?? -1;
    return v;
  };
  /** Shapes repeat (every expert has the same few): equal shapes of one file share one array. */
  const shapes = new Map<number, number[][]>();
  const dims: number[] = [];
  const list = (): number[] | undefined => {
    if (b[p] !== OPEN_BRACKET) return fail();
    p++;
    ws();
    dims.length = 0;
    if (b[p] === CLOSE_BRACKET) p++;
    else {
      for (;;) {
        ws();
        const v = int();
        if (!ok) return undefined;
        dims.push(v);
        ws();
        const c = b[p++];
        if (c === CLOSE_BRACKET) break;
        if (c !== COMMA) return fail();
      }
    }
    let h = dims.length;
    for (const d of dims) h = (Math.imul(h, 31) + (d | 0) + Math.floor(d / 4294967296)) | 0;
    const bucket = shapes.get(h);
    if (bucket) {
      for (const s of bucket) if (s.length === dims.length && s.every((x, i) => x === dims[i])) return s;
    }
    const s = dims.slice();
    if (bucket) bucket.push(s);
    else shapes.set(h, [s]);
    return s;
  };

  const entries: HeaderEntry[] = [];
  let metadata: Record<string, string> = Object.create(null);
  const names = new Set<string>();
  ws();
  if (b[p] !== OPEN_BRACE) return undefined;
  p++;
  ws();
  if (b[p] === CLOSE_BRACE) p++;
  else {
    for (;;) {
      ws();
      if (!scanString()) return undefined;
      const keyStart = strStart;
      const keyEnd = p - 1;
      const keyAscii = strAscii;
      ws();
      if (b[p++] !== COLON) return undefined;
      ws();
      if (is(keyStart, keyEnd, KEY_METADATA)) {
        if (names.has('__metadata__')) return undefined;
        names.add('__metadata__');
        // Rare and small: read with the strict parser (escapes and all), then kept only if it is an object of strings.
        let value: Json;
        try {
          const r = parseJsonValueAt(b, { file: '' }, p);
          value = r.value;
          p = r.end;
        } catch {
          return undefined;
        }
        if (!isObject(value)) return undefined;
        metadata = Object.create(null);
        for (const [k, v] of value) {
          if (typeof v !== 'string') return undefined;
          metadata[k] = v;
        }
      } else {
        const name = decode(keyStart, keyEnd, keyAscii);
        if (name === undefined || names.has(name)) return undefined;
        names.add(name);
        if (b[p] !== OPEN_BRACE) return undefined;
        p++;
        let dtype: string | undefined;
        let shape: number[] | undefined;
        let begin = -1;
        let end = -1;
        for (;;) {
          ws();
          if (!scanString()) return undefined;
          const ks = strStart;
          const ke = p - 1;
          ws();
          if (b[p++] !== COLON) return undefined;
          ws();
          if (is(ks, ke, KEY_DTYPE) && dtype === undefined) {
            if (!scanString() || !strAscii) return undefined;
            const d = text.toString('latin1', strStart, p - 1);
            dtype = dtypes.get(d) ?? d;
          } else if (is(ks, ke, KEY_SHAPE) && shape === undefined) {
            shape = list();
            if (!shape) return undefined;
          } else if (is(ks, ke, KEY_OFFSETS) && begin < 0) {
            if (b[p] !== OPEN_BRACKET) return undefined;
            p++;
            ws();
            begin = int();
            ws();
            if (!ok || b[p++] !== COMMA) return undefined;
            ws();
            end = int();
            ws();
            if (!ok || b[p++] !== CLOSE_BRACKET) return undefined;
          } else {
            return undefined;
          }
          ws();
          const c = b[p++];
          if (c === CLOSE_BRACE) break;
          if (c !== COMMA) return undefined;
        }
        if (dtype === undefined || shape === undefined || begin < 0) return undefined;
        entries.push({ name, dtype, shape, begin, end });
      }
      ws();
      const c = b[p++];
      if (c === CLOSE_BRACE) break;
      if (c !== COMMA) return undefined;
    }
  }
  ws();
  return p === n ? { entries, metadata } : undefined;
}
