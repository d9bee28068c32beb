/**
 * The fast path for a shard index (`model.safetensors.index.json` and its kin). An index is
 * machine-written JSON of one shape, `{"metadata": {...}, "weight_map": {"<tensor>": "<shard>", ...}}`,
 * with up to 100,000 entries: this reads the weight map byte by byte into columns (each entry's key
 * as a byte range of the document with its hash, its shard as a number) and an open-addressing
 * table of the keys, instead of a 100,000-entry Map of strings. Nothing per entry is a JS object.
 *
 * It accepts only what the strict parser (json.ts) accepts and reads the same way, and gives up
 * (undefined) on anything else: an escape, a control character or a non-ASCII byte in a key or a
 * shard name, a value that is not a string, an empty weight map, a duplicate key (in the weight
 * map or at the top level), a document that is not an object. The caller then reads the index with
 * the strict parser, which says what is wrong and where.
 */
import { Json, parseJsonValueAt } from './json';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** FNV-1a over bytes (or, for ASCII text, the same over char codes), then a final mix for the low bits. */
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The weight map of an index, read by scanWeightMap. */
export class ScannedWeightMap {
  /** Number of entries (distinct keys). */
  readonly size: number;
  private readonly table: Int32Array;
  private readonly mask: number;

  constructor(
    private readonly bytes: Uint8Array,
    /** Distinct shard names, in the order of their first entry. */
    readonly shards: string[],
    /** The key of each shard's first entry (for messages). */
    readonly firstKeys: string[],
    /** Each entry's shard, as a position in `shards`. */
    readonly shardOf: Uint32Array,
    private readonly keyStart: Uint32Array,
    private readonly keyEnd: Uint32Array,
    private readonly hashes: Int32Array,
    size: number,
    /** The top-level `metadata` value, when there is one. */
    readonly metadata: Json | undefined,
    table: Int32Array,
  ) {
    this.size = size;
    this.table = table;
    this.mask = table.length - 1;
  }

  /** The entry whose key is `name`, or -1. */
  find(name: string): number {
    let h = FNV_OFFSET;
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (c >= 0x80) return -1; // every key is ASCII (the scan took no other)
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    h = mix(h);
    const { table, mask, hashes, keyStart, keyEnd, bytes } = this;
    for (let pos = h & mask; ; pos = (pos + 1) & mask) {
      const i = table[pos];
      if (i < 0) return -1;
      if (hashes[i] !== h) continue;
      const start = keyStart[i];
      if (keyEnd[i] - start !== name.length) continue;
      let k = 0;
      while (k < name.length && bytes[start + k] === name.charCodeAt(k)) k++;
      if (k === name.length) return i;
    }
  }

  has(name: string): boolean {
    return this.find(name) >= 0;
  }

  /** The keys, in the document's order (decoded one at a time). */
  *keys(): IterableIterator<string> {
    const text = Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    for (let i = 0; i < this.size; i++) yield text.toString('latin1', this.keyStart[i], this.keyEnd[i]);
  }
}

/** A column of numbers that doubles as it fills. */
function grown<T extends Uint32Array | Int32Array>(a: T, make: (n: number) => T): T {
  const b = make(a.length * 2);
  b.set(a);
  return b;
}

/**
 * Read an index document the fast way, or undefined when it is anything but plainly
 * machine-written (see the file comment). Keys are unique when it returns.
 */
export function scanWeightMap(b: Uint8Array): ScannedWeightMap | undefined {
  const n = b.length;
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  let p = 0;
  const ws = () => {
    while (p < n) {
      const c = b[p];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
  };
  /** At a quote: past a plain ASCII string (no escape or control character), or -1. Returns its end (the closing quote). */
  const plainString = (): number => {
    if (b[p] !== QUOTE) return -1;
    p++;
    while (p < n) {
      const c = b[p];
      if (c === QUOTE) return p++;
      if (c === BACKSLASH || c < 0x20 || c >= 0x80) return -1;
      p++;
    }
    return -1;
  };

  let keyStart = new Uint32Array(1024);
  let keyEnd = new Uint32Array(1024);
  let hashes = new Int32Array(1024);
  let shardOf = new Uint32Array(1024);
  let count = 0;
  const shards: string[] = [];
  const firstKeys: string[] = [];
  const shardIds = new Map<string, number>();

  /** The weight map's entries, p at its opening brace; false when it is not plainly written. */
  const weightMap = (): boolean => {
    if (b[p] !== OPEN_BRACE) return false;
    p++;
    let prevStart = 0;
    let prevEnd = 0;
    let prevShard = -1;
    for (;;) {
      ws();
      // The key, hashed as it is scanned.
      if (b[p] !== QUOTE) return false;
      const ks = ++p;
      let h = FNV_OFFSET;
      for (;;) {
        if (p >= n) return false;
        const c = b[p];
        if (c === QUOTE) break;
        if (c === BACKSLASH || c < 0x20 || c >= 0x80) return false;
        h = Math.imul(h ^ c, FNV_PRIME);
        p++;
      }
      const ke = p++;
      ws();
      if (b[p++] !== COLON) return false;
      ws();
      // The shard: most entries name the same shard as the one before, compared as bytes.
      const vs = p + 1;
      const ve = plainString();
      if (ve < 0) return false;
      let shard = prevShard;
      let same = prevShard >= 0 && ve - vs === prevEnd - prevStart;
      for (let k = 0; same && k < ve - vs; k++) same = b[vs + k] === b[prevStart + k];
      if (!same) {
        const s = text.toString('latin1', vs, ve);
        shard = shardIds.get(s) ?? -1;
        if (shard < 0) {
          shard = shards.length;
          shardIds.set(s, shard);
          shards.push(s);
          firstKeys.push(text.toString('latin1', ks, ke));
        }
        prevStart = vs;
        prevEnd = ve;
        prevShard = shard;
      }
      if (count === keyStart.length) {
        keyStart = grown(keyStart, (m) => new Uint32Array(m));
        keyEnd = grown(keyEnd, (m) => new Uint32Array(m));
        hashes = grown(hashes, (m) => new Int32Array(m));
        shardOf = grown(shardOf, (m) => new Uint32Array(m));
      }
      keyStart[count] = ks;
      keyEnd[count] = ke;
      hashes[count] = mix(h);
      shardOf[count] = shard;
      count++;
      ws();
      const c = b[p++];
      if (c === CLOSE_BRACE) return true;
      if (c !== COMMA) return false;
    }
  };

  // The document: an object whose `weight_map` is scanned and whose other values (`metadata`...)
  // are read by the strict parser (small); nested to the same depth limit as the whole document.
  let metadata: Json | undefined;
  let scanned = false;
  const topKeys = new Set<string>();
  ws();
  if (b[p++] !== OPEN_BRACE) return undefined;
  ws();
  if (b[p] === CLOSE_BRACE) return undefined;
  for (;;) {
    ws();
    const ks = p + 1;
    const ke = plainString();
    if (ke < 0) return undefined;
    const key = text.toString('latin1', ks, ke);
    if (topKeys.has(key)) return undefined;
    topKeys.add(key);
    ws();
    if (b[p++] !== COLON) return undefined;
    ws();
    if (key === 'weight_map') {
      if (!weightMap()) return undefined;
      scanned = true;
    } else {
      try {
        const r = parseJsonValueAt(b, { file: '', maxDepth: 127 }, p);
        if (key === 'metadata') metadata = r.value;
        p = r.end;
      } catch {
        return undefined;
      }
    }
    ws();
    const c = b[p++];
    if (c === CLOSE_BRACE) break;
    if (c !== COMMA) return undefined;
  }
  ws();
  if (p !== n || !scanned || count === 0) return undefined;

  // The keys in an open-addressing table (entry numbers, -1 for empty); a duplicate gives up.
  let cap = 1;
  while (cap < count * 2) cap *= 2;
  const table = new Int32Array(cap).fill(-1);
  const mask = cap - 1;
  for (let i = 0; i < count; i++) {
    const h = hashes[i];
    let pos = h & mask;
    for (; table[pos] >= 0; pos = (pos + 1) & mask) {
      const j = table[pos];
      if (hashes[j] === h && sameBytes(b, keyStart[i], keyEnd[i], keyStart[j], keyEnd[j])) return undefined;
    }
    table[pos] = i;
  }
  return new ScannedWeightMap(b, shards, firstKeys, shardOf, keyStart, keyEnd, hashes, count, metadata, table);
}

function sameBytes(b: Uint8Array, s1: number, e1: number, s2: number, e2: number): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let k = 0; k < e1 - s1; k++) if (b[s1 + k] !== b[s2 + k]) return false;
  return true;
}
