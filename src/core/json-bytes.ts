/**
 * JSON written straight into UTF-8 bytes, exactly as `JSON.stringify(value, null, 2)` writes it,
 * for documents too large to be built as one string (the schema-1 report of a 92,000-tensor
 * model is about 200 MB; issue 11). The caller writes a document member by member and takes
 * the bytes in chunks (`take`) between whole values, so every chunk is valid UTF-8 by itself.
 *
 * `level` is the indentation level of the line a value starts on: the members of an object or
 * array opened at `level` go on lines at `level + 1` and its closing bracket at `level`.
 */
export class JsonBytes {
  private buf: Buffer;
  private pos = 0;
  /** Nesting of plain data being written by `value`, to hand very deep data to JSON.stringify. */
  private nesting = 0;

  /** `chunk`: `full` once this many bytes are waiting to be taken. */
  constructor(private readonly chunk: number) {
    this.buf = Buffer.allocUnsafeSlow(this.capacity());
  }

  get full(): boolean {
    return this.pos >= this.chunk;
  }

  /**
   * The bytes written since the last take. They stay valid until the next write: the buffer is
   * written over again (a new buffer per chunk would cost the collector a full GC every few
   * dozen megabytes of output, for external memory). Copy a chunk to keep it.
   */
  take(): Uint8Array {
    const b = this.buf.subarray(0, this.pos);
    this.pos = 0;
    // A value larger than a chunk made the buffer grow: the next chunk starts in one of the usual size.
    if (this.buf.length > this.capacity()) this.buf = Buffer.allocUnsafeSlow(this.capacity());
    return b;
  }

  /** ASCII text with nothing to escape: brackets, indentation, numbers, `true`. */
  raw(s: string): void {
    const n = s.length;
    this.room(n);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** Any text, encoded as UTF-8 (JSON text JSON.stringify made: lone surrogates are escaped in it). */
  text(s: string): void {
    this.room(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** A separator and the start of a line at `level`. */
  line(n: number, level: number): void {
    const width = 2 * level;
    this.room(width + 2);
    const b = this.buf;
    let p = this.pos;
    if (n > 0) b[p++] = 44; // ,
    b[p++] = 10;
    for (let i = 0; i < width; i++) b[p++] = 32;
    this.pos = p;
  }

  /** The `n`-th member's key line of an object whose members are at `level` (`key`: from `keyBytes`). */
  key(n: number, key: Uint8Array, level: number): void {
    this.line(n, level);
    const k = key.length;
    this.room(k);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < k; i++) b[p++] = key[i];
    this.pos = p;
  }

  /** Closes an object or array of `n` members opened at `level`. */
  close(bracket: '}' | ']', n: number, level: number): void {
    if (n > 0) this.line(0, level);
    this.raw(bracket);
  }

  /**
   * A member `key: v` of an object at `level + 1`, unless JSON.stringify leaves it out
   * (undefined, a function, a symbol): returns 1 if written, 0 if not.
   */
  member(n: number, key: Uint8Array, v: unknown, level: number): number {
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return 0;
    const start = this.pos;
    this.key(n, key, level);
    if (this.value(v, level)) return 1;
    this.pos = start; // an object whose toJSON gave undefined
    return 0;
  }

  /** An array element: what JSON.stringify leaves out of an object is `null` in an array. */
  element(v: unknown, level: number): void {
    if (!this.value(v, level)) this.raw('null');
  }

  /** `v` as JSON.stringify writes it at `level`; false (nothing written) where it writes no value. */
  value(v: unknown, level: number): boolean {
    switch (typeof v) {
      case 'string':
        this.string(v);
        return true;
      case 'number':
        this.number(v);
        return true;
      case 'boolean':
        this.raw(v ? 'true' : 'false');
        return true;
      case 'object':
        if (v === null) this.raw('null');
        else if (!isPlain(v) || this.nesting > MAX_NESTING) return this.opaque(v, level);
        else if (Array.isArray(v)) this.array(v, level);
        else this.object(v as Record<string, unknown>, level);
        return true;
      case 'bigint':
        return this.opaque(v, level); // JSON.stringify throws: so do we
      default:
        return false;
    }
  }

  /** A string, escaped as JSON.stringify escapes it. */
  string(s: string): void {
    const n = s.length;
    this.room(n + 2);
    const b = this.buf;
    let p = this.pos;
    b[p++] = 34; // "
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      // Printable ASCII but the quote and the backslash is written as it is; anything else
      // (control characters, non-ASCII, lone surrogates) is left to JSON.stringify.
      if (c < 0x20 || c > 0x7e || c === 34 || c === 92) return this.text(JSON.stringify(s));
      b[p++] = c;
    }
    b[p++] = 34;
    this.pos = p;
  }

  /** A number as JSON.stringify writes it: integers digit by digit, others through String(n). */
  number(n: number): void {
    if (Number.isSafeInteger(n)) {
      if (n < 0) {
        this.raw('-');
        n = -n;
      }
      this.digits(n); // -0 is a safe integer and writes as 0, as JSON.stringify writes it
    } else this.raw(Number.isFinite(n) ? String(n) : 'null');
  }

  /** A non-negative safe integer in decimal. */
  private digits(n: number): void {
    let count = 1;
    for (let x = 10; x <= n; x *= 10) count++; // powers of ten are exact doubles far beyond 2^53
    this.room(count);
    const b = this.buf;
    let p = this.pos + count;
    this.pos = p;
    while (n >= 0x80000000) {
      const d = n % 10; // exact for integers below 2^53, as is the division of n - d by 10
      b[--p] = 48 + d;
      n = (n - d) / 10;
    }
    let i = n | 0;
    do {
      const q = (i / 10) | 0;
      b[--p] = 48 + i - q * 10;
      i = q;
    } while (i > 0);
  }

  private array(a: readonly unknown[], level: number): void {
    const n = a.length;
    if (n === 0) return this.raw('[]');
    this.nesting++;
    this.raw('[');
    for (let i = 0; i < n; i++) {
      this.line(i, level + 1);
      this.element(a[i], level + 1);
    }
    this.close(']', n, level);
    this.nesting--;
  }

  private object(o: Record<string, unknown>, level: number): void {
    this.nesting++;
    this.raw('{');
    let n = 0;
    for (const k of Object.keys(o)) {
      const v = o[k];
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      const start = this.pos;
      this.line(n, level + 1);
      this.string(k);
      this.raw(': ');
      if (this.value(v, level + 1)) n++;
      else this.pos = start;
    }
    this.close('}', n, level);
    this.nesting--;
  }

  /**
   * What is not plain data (a toJSON method, a boxed primitive, a class instance, a bigint) or is
   * nested deeper than MAX_NESTING: JSON.stringify itself writes it. (One difference: a toJSON
   * method is given '0' or '' as its key rather than the member's name. The model's objects are
   * plain data and have none.)
   */
  private opaque(v: unknown, level: number): boolean {
    if (JSON.stringify(v) === undefined) return false; // a toJSON that gave undefined (a bigint throws here, as in JSON.stringify)
    this.text(atDepth(v, level));
    return true;
  }

  private capacity(): number {
    return Math.max(this.chunk, 1024) * 2;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const b = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }
}

/** Deeper plain data than this goes to JSON.stringify (which has its own limit), not our recursion. */
const MAX_NESTING = 64;

/** `"key": ` as a member of an object writes it. */
export function keyBytes(key: string): Uint8Array {
  return Buffer.from(`${JSON.stringify(key)}: `, 'utf8');
}

/**
 * Data JSON.stringify writes as an object or array of its own enumerable properties (Object.keys,
 * the same order), read here directly: an array or an object whose prototype is Object's (or
 * none), without a toJSON method.
 */
function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) return typeof (v as { toJSON?: unknown }).toJSON !== 'function';
  return proto === Array.prototype && Array.isArray(v) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/**
 * `v` as JSON.stringify(…, null, 2) writes it `depth` levels down in a document: stringified
 * inside `depth` one-element arrays, whose brackets and indentation are then cut off (no pass
 * over the text to indent it).
 */
export function atDepth(v: unknown, depth: number): string {
  if (depth === 0) return JSON.stringify(v, null, 2);
  let w: unknown = v;
  for (let i = 0; i < depth; i++) w = [w];
  const s = JSON.stringify(w, null, 2);
  // Level i (1..depth) opens with "[\n" and 2i spaces; level i (0..depth-1) closes with "\n", 2i spaces and "]".
  let head = 0;
  let tail = 0;
  for (let i = 1; i <= depth; i++) head += 2 + 2 * i;
  for (let i = 0; i < depth; i++) tail += 2 + 2 * i;
  return s.slice(head, s.length - tail);
}
