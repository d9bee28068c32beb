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
import { hashAscii } from './bytes';
import { Json, parseJsonValueAt } from './json';
import { QUOTE, COMMA, COLON, OPEN_BRACE, CLOSE_BRACE, skipWs, plainStringEnd, hashedStringEnd, lastString } from './json-scan';

/** Slots a key may step over on average, in a table at most half full, before the keys are taken for crafted collisions. */
const MAX_PROBES_PER_KEY = 8;

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
    const h = hashAscii(name);
    if (h === undefined) return -1; // every key is ASCII (the scan took no other)
    const { table, mask, hashes } = this;
    for (let pos = h & mask; ; pos = (pos + 1) & mask) {
      const i = table[pos];
      if (i < 0) return -1;
      if (hashes[i] === h && this.keyIs(i, name)) return i;
    }
  }

  /** Whether entry i has the key `name` (false when there is no entry i). */
  keyIs(i: number, name: string): boolean {
    if (i >= this.size) return false;
    const start = this.keyStart[i];
    if (this.keyEnd[i] - start !== name.length) return false;
    const bytes = this.bytes;
    for (let k = 0; k < name.length; k++) if (bytes[start + k] !== name.charCodeAt(k)) return false;
    return true;
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

/** The entries of a weight map as it is scanned: columns that double as they fill. */
class Entries {
  count = 0;
  keyStart = new Uint32Array(1024);
  keyEnd = new Uint32Array(1024);
  hashes = new Int32Array(1024);
  shardOf = new Uint32Array(1024);
  /** Distinct shard names, in the order of their first entry, and the key of that entry. */
  readonly shards: string[] = [];
  readonly firstKeys: string[] = [];
  private readonly shardIds = new Map<string, number>();

  add(keyStart: number, keyEnd: number, hash: number, shard: number): void {
    if (this.count === this.keyStart.length) this.grow();
    const i = this.count++;
    this.keyStart[i] = keyStart;
    this.keyEnd[i] = keyEnd;
    this.hashes[i] = hash;
    this.shardOf[i] = shard;
  }

  /** The number of the shard named `name` (first listed for `key`). */
  shard(name: string, key: () => string): number {
    let id = this.shardIds.get(name);
    if (id === undefined) {
      id = this.shards.length;
      this.shardIds.set(name, id);
      this.shards.push(name);
      this.firstKeys.push(key());
    }
    return id;
  }

  private grow(): void {
    const twice = <T extends Uint32Array | Int32Array>(a: T, make: (m: number) => T): T => {
      const b = make(a.length * 2);
      b.set(a);
      return b;
    };
    this.keyStart = twice(this.keyStart, (m) => new Uint32Array(m));
    this.keyEnd = twice(this.keyEnd, (m) => new Uint32Array(m));
    this.hashes = twice(this.hashes, (m) => new Int32Array(m));
    this.shardOf = twice(this.shardOf, (m) => new Uint32Array(m));
  }
}

/** Whether the string at p (a quote) holds exactly the bytes [start, end) of b. */
function sameString(b: Uint8Array, p: number, start: number, end: number): boolean {
  const close = p + 1 + end - start;
  return b[p] === QUOTE && close < b.length && b[close] === QUOTE && sameBytes(b, p + 1, close, start, end);
}

/**
 * The weight map's entries into `out`, from its opening brace at p: the position past its closing
 * brace, or -1 when it is not plainly written. (Every position is a local: this runs per byte.)
 */
function scanEntries(b: Uint8Array, p: number, out: Entries): number {
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (b[p] !== OPEN_BRACE) return -1;
  p++;
  // The shard of the entry before, as a byte range of b (prevStart < 0: none yet).
  let prevStart = -1;
  let prevEnd = -1;
  let prevShard = -1;
  for (;;) {
    p = skipWs(b, p);
    const ks = p + 1;
    const ke = hashedStringEnd(b, p);
    if (ke < 0 || lastString.bits >= 0x80) return -1;
    const hash = lastString.hash;
    p = skipWs(b, ke + 1);
    if (b[p++] !== COLON) return -1;
    p = skipWs(b, p);
    // The shard: most entries name the same shard as the one before (a plain string already),
    // compared as bytes.
    if (prevStart >= 0 && sameString(b, p, prevStart, prevEnd)) {
      p += 2 + prevEnd - prevStart;
    } else {
      const vs = p + 1;
      const ve = plainStringEnd(b, p);
      if (ve < 0) return -1;
      prevShard = out.shard(text.toString('latin1', vs, ve), () => text.toString('latin1', ks, ke));
      prevStart = vs;
      prevEnd = ve;
      p = ve + 1;
    }
    out.add(ks, ke, hash, prevShard);
    p = skipWs(b, p);
    const c = b[p++];
    if (c === CLOSE_BRACE) return p;
    if (c !== COMMA) return -1;
  }
}

/**
 * Read an index document the fast way, or undefined when it is anything but plainly
 * machine-written (see the file comment). Keys are unique when it returns.
 */
export function scanWeightMap(b: Uint8Array): ScannedWeightMap | undefined {
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const entries = new Entries();
  // The document: an object whose `weight_map` is scanned and whose other values (`metadata`...)
  // are read by the strict parser (small); nested to the same depth limit as the whole document.
  let metadata: Json | undefined;
  let scanned = false;
  const topKeys = new Set<string>();
  let p = skipWs(b, 0);
  if (b[p++] !== OPEN_BRACE) return undefined;
  p = skipWs(b, p);
  if (b[p] === CLOSE_BRACE) return undefined;
  for (;;) {
    p = skipWs(b, p);
    const ke = plainStringEnd(b, p);
    if (ke < 0) return undefined;
    const key = text.toString('latin1', p + 1, ke);
    if (topKeys.has(key)) return undefined;
    topKeys.add(key);
    p = skipWs(b, ke + 1);
    if (b[p++] !== COLON) return undefined;
    p = skipWs(b, p);
    if (key === 'weight_map') {
      p = scanEntries(b, p, entries);
      if (p < 0) return undefined;
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
    p = skipWs(b, p);
    const c = b[p++];
    if (c === CLOSE_BRACE) break;
    if (c !== COMMA) return undefined;
  }
  p = skipWs(b, p);
  const { count, keyStart, keyEnd, hashes } = entries;
  if (p !== b.length || !scanned || count === 0) return undefined;

  // The keys in an open-addressing table (entry numbers, -1 for empty); a duplicate gives up.
  // So do keys that collide far more than chance allows (FNV is not keyed: keys can be made to
  // share a hash, and each would step over all those before it, here and in every find()); the
  // strict parser's Map, keyed by V8's seeded hash, reads them in linear time.
  let cap = 1;
  while (cap < count * 2) cap *= 2;
  const table = new Int32Array(cap).fill(-1);
  const mask = cap - 1;
  let probes = MAX_PROBES_PER_KEY * count + 1024;
  for (let i = 0; i < count; i++) {
    const h = hashes[i];
    let pos = h & mask;
    for (; table[pos] >= 0; pos = (pos + 1) & mask) {
      const j = table[pos];
      if (hashes[j] === h && sameBytes(b, keyStart[i], keyEnd[i], keyStart[j], keyEnd[j])) return undefined;
      if (--probes < 0) return undefined;
    }
    table[pos] = i;
  }
  return new ScannedWeightMap(b, entries.shards, entries.firstKeys, entries.shardOf, keyStart, keyEnd, hashes, count, metadata, table);
}

function sameBytes(b: Uint8Array, s1: number, e1: number, s2: number, e2: number): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let k = 0; k < e1 - s1; k++) if (b[s1 + k] !== b[s2 + k]) return false;
  return true;
}
