/**
 * A strict JSON parser for untrusted headers and sidecars. Unlike JSON.parse it rejects
 * duplicate keys, keeps key order (objects are Maps, so `__proto__` is just a key), reports the
 * byte offset of an error, and bounds nesting depth.
 */
import { CheckpointError } from './errors';

export type Json = null | boolean | number | string | Json[] | JsonObject;
export type JsonObject = Map<string, Json>;

export interface JsonParseOptions {
  file: string;
  /** Absolute file offset of the text's first byte, for error messages. */
  base?: number;
  maxDepth?: number;
}

export function parseJson(bytes: Uint8Array, opts: JsonParseOptions): Json {
  return new Parser(bytes, opts).parseDocument();
}

/**
 * One JSON value starting at byte `start` of `bytes` (whitespace before it allowed), and the
 * offset just past it: for a caller that reads the document around it itself.
 */
export function parseJsonValueAt(bytes: Uint8Array, opts: JsonParseOptions, start: number): { value: Json; end: number } {
  return new Parser(bytes, opts).valueAt(start);
}

export function isObject(v: Json | undefined): v is JsonObject {
  return v instanceof Map;
}

/** Convert parsed JSON to plain JS (null-prototype objects), for metadata display. */
export function toPlain(v: Json): unknown {
  if (v instanceof Map) {
    const o: Record<string, unknown> = Object.create(null);
    for (const [k, x] of v) o[k] = toPlain(x);
    return o;
  }
  if (Array.isArray(v)) return v.map(toPlain);
  return v;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

class Parser {
  private pos = 0;
  private readonly file: string;
  private readonly base: number;
  private readonly maxDepth: number;
  constructor(private readonly b: Uint8Array, opts: JsonParseOptions) {
    this.file = opts.file;
    this.base = opts.base ?? 0;
    this.maxDepth = opts.maxDepth ?? 128;
  }

  private fail(msg: string, code: 'bad-json' | 'duplicate-key' = 'bad-json', at = this.pos): never {
    throw new CheckpointError(code, msg, { file: this.file, offset: this.base + at });
  }

  parseDocument(): Json {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.pos !== this.b.length) this.fail('unexpected data after the JSON value');
    return v;
  }

  valueAt(start: number): { value: Json; end: number } {
    this.pos = start;
    this.ws();
    const value = this.value(0);
    return { value, end: this.pos };
  }

  private ws(): void {
    const b = this.b;
    while (this.pos < b.length) {
      const c = b[this.pos];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.pos++;
      else break;
    }
  }

  private value(depth: number): Json {
    if (depth > this.maxDepth) this.fail(`JSON nested deeper than ${this.maxDepth} levels`);
    if (this.pos >= this.b.length) this.fail('unexpected end of JSON');
    const c = this.b[this.pos];
    switch (c) {
      case 0x7b: // {
        return this.object(depth);
      case 0x5b: // [
        return this.array(depth);
      case 0x22: // "
        return this.string();
      case 0x74: // t
        return this.literal('true', true);
      case 0x66: // f
        return this.literal('false', false);
      case 0x6e: // n
        return this.literal('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        return this.fail(`unexpected character '${String.fromCharCode(c)}' in JSON`);
    }
  }

  private literal<T extends Json>(word: string, v: T): T {
    for (let i = 0; i < word.length; i++) {
      if (this.b[this.pos + i] !== word.charCodeAt(i)) this.fail(`invalid literal in JSON (expected ${word})`);
    }
    this.pos += word.length;
    return v;
  }

  private number(): number {
    const start = this.pos;
    const b = this.b;
    if (b[this.pos] === 0x2d) this.pos++;
    const digits = (): number => {
      const s = this.pos;
      while (this.pos < b.length && b[this.pos] >= 0x30 && b[this.pos] <= 0x39) this.pos++;
      return this.pos - s;
    };
    const intStart = this.pos;
    const n = digits();
    if (n === 0) this.fail('invalid number in JSON', 'bad-json', start);
    if (n > 1 && b[intStart] === 0x30) this.fail('leading zero in JSON number', 'bad-json', start);
    if (b[this.pos] === 0x2e) {
      this.pos++;
      if (digits() === 0) this.fail('invalid number in JSON', 'bad-json', start);
    }
    if (b[this.pos] === 0x65 || b[this.pos] === 0x45) {
      this.pos++;
      if (b[this.pos] === 0x2b || b[this.pos] === 0x2d) this.pos++;
      if (digits() === 0) this.fail('invalid number in JSON', 'bad-json', start);
    }
    // One slice, not a string per digit: a number may be megabytes of digits.
    return Number(this.latin1(start, this.pos));
  }

  private string(): string {
    const b = this.b;
    const start = this.pos;
    this.pos++; // opening quote
    // Fast path: no escapes (and for ASCII, no UTF-8 decoder: a string per byte range).
    let i = this.pos;
    let ascii = true;
    for (; i < b.length; i++) {
      const c = b[i];
      if (c === 0x22 || c === 0x5c || c < 0x20) break;
      if (c >= 0x80) ascii = false;
    }
    if (i < b.length && b[i] === 0x22) {
      const s = ascii ? this.latin1(this.pos, i) : this.decode(this.pos, i, start);
      this.pos = i + 1;
      return s;
    }
    // Pieces joined a few thousand at a time: a string of millions of escapes appended one by one
    // would be a rope of millions of nodes (tens of bytes of memory per byte of input).
    const blocks: string[] = [];
    const pieces: string[] = [];
    let chunk = this.pos;
    let high = 0; // the bytes of the run since `chunk` or'ed: ASCII (a slice, no decoder) below 0x80
    const run = () => (high < 0x80 ? this.latin1(chunk, this.pos) : this.decode(chunk, this.pos, start));
    while (true) {
      if (this.pos >= b.length) this.fail('unterminated string in JSON', 'bad-json', start);
      const c = b[this.pos];
      if (c === 0x22) {
        if (chunk < this.pos) pieces.push(run());
        this.pos++;
        if (blocks.length === 0) return pieces.join('');
        blocks.push(pieces.join(''));
        return blocks.join('');
      }
      if (c < 0x20) this.fail('control character in JSON string');
      if (c === 0x5c) {
        if (pieces.length >= 4096) {
          blocks.push(pieces.join(''));
          pieces.length = 0;
        }
        if (chunk < this.pos) pieces.push(run());
        this.pos++;
        const e = b[this.pos++];
        switch (e) {
          case 0x22: pieces.push('"'); break;
          case 0x5c: pieces.push('\\'); break;
          case 0x2f: pieces.push('/'); break;
          case 0x62: pieces.push('\b'); break;
          case 0x66: pieces.push('\f'); break;
          case 0x6e: pieces.push('\n'); break;
          case 0x72: pieces.push('\r'); break;
          case 0x74: pieces.push('\t'); break;
          case 0x75: {
            let code = 0;
            for (let k = 0; k < 4; k++) {
              const h = b[this.pos++];
              const d = h >= 0x30 && h <= 0x39 ? h - 0x30 : h >= 0x61 && h <= 0x66 ? h - 0x57 : h >= 0x41 && h <= 0x46 ? h - 0x37 : -1;
              if (d < 0) this.fail('invalid \\u escape in JSON string', 'bad-json', this.pos - 1);
              code = code * 16 + d;
            }
            pieces.push(String.fromCharCode(code));
            break;
          }
          default:
            this.fail('invalid escape in JSON string', 'bad-json', this.pos - 1);
        }
        chunk = this.pos;
        high = 0;
        continue;
      }
      high |= c;
      this.pos++;
    }
  }

  private text: Buffer | undefined;
  private latin1(from: number, to: number): string {
    const t = (this.text ??= Buffer.from(this.b.buffer, this.b.byteOffset, this.b.byteLength));
    return t.toString('latin1', from, to);
  }

  private decode(from: number, to: number, start: number): string {
    try {
      return decoder.decode(this.b.subarray(from, to));
    } catch {
      return this.fail('JSON string is not valid UTF-8', 'bad-json', start);
    }
  }

  private array(depth: number): Json[] {
    this.pos++;
    const out: Json[] = [];
    this.ws();
    if (this.b[this.pos] === 0x5d) {
      this.pos++;
      return out;
    }
    while (true) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.b[this.pos++];
      if (c === 0x5d) return out;
      if (c !== 0x2c) this.fail("expected ',' or ']' in JSON array", 'bad-json', this.pos - 1);
    }
  }

  private object(depth: number): JsonObject {
    this.pos++;
    const out: JsonObject = new Map();
    this.ws();
    if (this.b[this.pos] === 0x7d) {
      this.pos++;
      return out;
    }
    while (true) {
      this.ws();
      if (this.b[this.pos] !== 0x22) this.fail('expected a string key in JSON object');
      const keyAt = this.pos;
      const key = this.string();
      if (out.has(key)) this.fail(`duplicate key "${truncate(key)}" in JSON object`, 'duplicate-key', keyAt);
      this.ws();
      if (this.b[this.pos++] !== 0x3a) this.fail("expected ':' after a key in JSON object", 'bad-json', this.pos - 1);
      this.ws();
      out.set(key, this.value(depth + 1));
      this.ws();
      const c = this.b[this.pos++];
      if (c === 0x7d) return out;
      if (c !== 0x2c) this.fail("expected ',' or '}' in JSON object", 'bad-json', this.pos - 1);
    }
  }
}

export function truncate(s: string, n = 80): string {
  return s.length > n ? s.slice(0, n) + '…' : s;
}
