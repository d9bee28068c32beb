/**
 * A file behind an HTTP(S) URL, read by ranges through a block cache.
 *
 * - Blocks are aligned (1 KiB) and kept in one bounded LRU cache per opened address; a range read
 *   twice costs one request.
 * - Reads that miss are not sent at once: misses of the same tick (a reader's Promise.all, several
 *   shards) are gathered, and neighbouring ranges (gaps up to 32 KiB) go out as one request.
 * - Readahead follows the access pattern: the first read of a file takes a 64 KiB window (a
 *   safetensors header, a zip's first member, in one request; 256 KiB for GGUF, whose header
 *   holds the tokenizer), reads that continue where the last one ended (small skips included)
 *   take three times the last window, up to 8 MiB (long vocabularies, ONNX graphs), a read at the end of a file
 *   takes its last 64 KiB (zip central directories), and scattered reads (zip local headers)
 *   fetch only their own blocks.
 * - Every answer is checked: 206 with the Content-Range asked for, the same size and ETag as
 *   before (a file that changes between reads is a `changed` error, never a mix of versions),
 *   no content coding. A server that ignores ranges is stopped at once (`no-ranges`).
 */
import { ByteSource, checkRange } from '../bytes';
import { CheckpointError } from '../errors';
import { HttpClient, TransientError, discard, hostOf, statusError } from './http';

export interface BlockOptions {
  /** Cache block size (default 1 KiB). */
  blockSize?: number;
  /** Window of a file's first read (default 64 KiB: a safetensors header, a zip's first member). */
  firstWindow?: number;
  /** First window for GGUF files, whose headers carry the tokenizer (default 256 KiB). */
  firstWindowGguf?: number;
  /** Window taken when a read touches a file's end (default 64 KiB). */
  tailWindow?: number;
  /** Largest readahead for sequential reads (default 8 MiB). */
  maxReadahead?: number;
  /** Largest single request (default 16 MiB). */
  maxRequestBytes?: number;
  /** Missing ranges this close together are fetched as one (default 32 KiB). */
  mergeGap?: number;
  /** Block cache capacity per opened address (default 64 MiB). */
  cacheBytes?: number;
}

type BlockDefaults = Required<BlockOptions>;
const DEFAULTS: BlockDefaults = {
  blockSize: 1024,
  firstWindow: 64 * 1024,
  firstWindowGguf: 256 * 1024,
  tailWindow: 64 * 1024,
  maxReadahead: 8 * 1024 * 1024,
  maxRequestBytes: 16 * 1024 * 1024,
  mergeGap: 32 * 1024,
  cacheBytes: 64 * 1024 * 1024,
};

export function blockOptions(o: BlockOptions = {}): BlockDefaults {
  const r = { ...DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) } as BlockDefaults;
  // Windows are whole blocks.
  for (const k of ['firstWindow', 'firstWindowGguf', 'tailWindow', 'maxReadahead', 'maxRequestBytes', 'mergeGap'] as const) {
    r[k] = Math.max(r.blockSize, Math.ceil(r[k] / r.blockSize) * r.blockSize);
  }
  return r;
}

/** LRU of blocks by bytes, shared by the files of one opened address. */
export class BlockCache {
  private readonly map = new Map<string, Uint8Array>();
  private bytes = 0;
  constructor(readonly capacity: number) {}
  get(key: string): Uint8Array | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  has(key: string): boolean {
    return this.map.has(key);
  }
  put(key: string, v: Uint8Array): void {
    const old = this.map.get(key);
    if (old) {
      this.bytes -= old.length;
      this.map.delete(key);
    }
    this.map.set(key, v);
    this.bytes += v.length;
    while (this.bytes > this.capacity && this.map.size > 1) {
      const [k, b] = this.map.entries().next().value as [string, Uint8Array];
      this.map.delete(k);
      this.bytes -= b.length;
    }
  }
  get size(): number {
    return this.bytes;
  }
}

interface Deferred {
  promise: Promise<Uint8Array>;
  resolve(b: Uint8Array): void;
  reject(e: unknown): void;
}

function deferred(): Deferred {
  let resolve!: (b: Uint8Array) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<Uint8Array>((a, b) => {
    resolve = a;
    reject = b;
  });
  // Readahead blocks may fail with nobody waiting for them: that is not an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

let nextFileId = 0;

/** A server that ignores ranges may still send a JSON sidecar whole, up to this size. */
const WHOLE_JSON_LIMIT = 64 * 1024 * 1024;

/** One remote file: its identity (size, ETag), its cached blocks and the reads under way. */
export class RemoteFile {
  /** Where requests go: the URL, or where it last redirected (a CDN), to save a hop per read. */
  private location: string;
  size?: number;
  etag?: string;
  lastModified?: string;
  contentType?: string;
  private readonly id = nextFileId++;
  private readonly inflight = new Map<number, Promise<Uint8Array>>();
  private pending = new Map<number, Deferred>();
  private flushQueued = false;
  private fetchedAny = false;
  private lastEnd = -1;
  private window = 0;
  private probing?: Promise<void>;
  private readonly firstWindow: number;

  constructor(
    readonly client: HttpClient,
    readonly cache: BlockCache,
    readonly url: string,
    /** Name for messages (relative file name). */
    readonly name: string,
    readonly o: BlockDefaults,
    size?: number,
  ) {
    this.location = url;
    this.size = size;
    this.firstWindow = /\.gguf$/i.test(name) ? o.firstWindowGguf : o.firstWindow;
  }

  /** Learn the size (and ETag) with a first ranged GET, whose bytes are kept: reads start warm. */
  ensureSize(): Promise<void> {
    if (this.size !== undefined) return Promise.resolve();
    this.probing ??= (async () => {
      const data = await this.fetchRange(0, this.firstWindow);
      this.fetchedAny = true;
      this.window = this.firstWindow;
      this.lastEnd = 0;
      this.store(0, data);
    })();
    return this.probing;
  }

  private key(b: number): string {
    return `${this.id}:${b}`;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    await this.ensureSize();
    checkRange({ name: this.name, size: this.size! }, offset, length);
    if (length === 0) return new Uint8Array(0);
    const B = this.o.blockSize;
    const b0 = Math.floor(offset / B);
    const b1 = Math.floor((offset + length - 1) / B);
    this.plan(offset, length, b0, b1);
    const parts: Promise<Uint8Array>[] = [];
    for (let b = b0; b <= b1; b++) {
      const hit = this.cache.get(this.key(b));
      parts.push(hit ? Promise.resolve(hit) : this.inflight.get(b)!);
    }
    const blocks = await Promise.all(parts);
    const out = new Uint8Array(length);
    let at = 0;
    for (let i = 0; i < blocks.length; i++) {
      const blockStart = (b0 + i) * B;
      const from = Math.max(offset, blockStart) - blockStart;
      const to = Math.min(offset + length, blockStart + blocks[i].length) - blockStart;
      out.set(blocks[i].subarray(from, to), at);
      at += to - from;
    }
    if (at !== length) throw new CheckpointError('truncated', `read ${at} of ${length} bytes at byte ${offset}`, { file: this.name, offset });
    return out;
  }

  /** Register the blocks this read needs, plus readahead, as pending; queue a flush. */
  private plan(offset: number, length: number, b0: number, b1: number): void {
    const B = this.o.blockSize;
    const isMissing = (b: number) => !this.inflight.has(b) && !this.cache.has(this.key(b));
    // Streaming: a read of at least 1 KiB that starts where the last one ended, or a little
    // after it (a parser skipping a small field): a header walked chunk by chunk. Lookups of a
    // few bytes (zip local headers) and seeks far ahead are not; they fetch only their blocks.
    const gap = offset - this.lastEnd;
    const streaming = this.lastEnd >= 0 && length >= 1024 && gap >= -B && gap <= Math.max(this.o.mergeGap * 2, this.window);
    this.lastEnd = offset + length;
    let from = -1;
    let to = -1;
    for (let b = b0; b <= b1; b++) {
      if (!isMissing(b)) continue;
      if (from < 0) from = b;
      to = b;
    }
    if (from < 0) return;
    const last = Math.floor((this.size! - 1) / B);
    if (!this.fetchedAny) {
      this.window = this.firstWindow;
      to = Math.max(to, b0 + this.firstWindow / B - 1);
    } else if (streaming) {
      // Windows triple: a 930 KiB GGUF header is two requests (256 + 768 KiB), a 7 MiB one four.
      this.window = Math.min(Math.max(this.window, 16 * 1024) * 3, this.o.maxReadahead);
      to = Math.max(to, from + Math.ceil(this.window / B) - 1);
    } else {
      this.window = 0;
    }
    const tailFirst = Math.max(0, last - this.o.tailWindow / B + 1);
    if (b1 >= tailFirst) from = Math.min(from, tailFirst);
    to = Math.min(to, last);
    this.fetchedAny = true;
    for (let b = from; b <= to; b++) {
      if (!isMissing(b)) continue;
      const d = deferred();
      this.pending.set(b, d);
      this.inflight.set(b, d.promise);
    }
    if (!this.flushQueued) {
      this.flushQueued = true;
      // One macrotask later: every read issued in this tick (Promise.all, other shards) is pending.
      setImmediate(() => this.flush());
    }
  }

  /** Send the pending blocks as few requests as possible. */
  private flush(): void {
    this.flushQueued = false;
    const pending = this.pending;
    this.pending = new Map();
    const blocks = [...pending.keys()].sort((a, b) => a - b);
    const B = this.o.blockSize;
    const gap = this.o.mergeGap / B;
    const maxRun = this.o.maxRequestBytes / B;
    const runs: [number, number][] = [];
    for (const b of blocks) {
      const run = runs[runs.length - 1];
      if (run && b - run[1] - 1 <= gap && b - run[0] < maxRun && !this.inflightBetween(run[1] + 1, b, pending)) run[1] = b;
      else runs.push([b, b]);
    }
    for (const [s, e] of runs) {
      const start = s * B;
      const end = Math.min((e + 1) * B, this.size!);
      this.fetchRange(start, end).then(
        (data) => {
          for (let b = s; b <= e; b++) {
            const block = data.subarray((b - s) * B, Math.min((b - s + 1) * B, data.length));
            this.cache.put(this.key(b), block);
            const d = pending.get(b);
            if (d) {
              this.inflight.delete(b);
              d.resolve(block);
            }
          }
        },
        (err) => {
          for (let b = s; b <= e; b++) {
            const d = pending.get(b);
            if (d) {
              this.inflight.delete(b);
              d.reject(err);
            }
          }
        },
      );
    }
  }

  /** True when a block strictly between two pending runs is already being fetched by another request. */
  private inflightBetween(from: number, to: number, pending: Map<number, Deferred>): boolean {
    for (let b = from; b < to; b++) if (this.inflight.has(b) && !pending.has(b)) return true;
    return false;
  }

  private store(start: number, data: Uint8Array): void {
    const B = this.o.blockSize;
    for (let at = 0; at < data.length; at += B) this.cache.put(this.key((start + at) / B), data.subarray(at, Math.min(at + B, data.length)));
  }

  /**
   * GET bytes [start, end) (end clamped to the file's size), with retries. Checks the answer is
   * exactly that range of the same file as every earlier answer.
   */
  fetchRange(start: number, end: number): Promise<Uint8Array> {
    const c = this.client;
    return c.withRetries(async () => {
      for (let fresh = false; ; fresh = true) {
        const target = this.location;
        const ex = await c.exchange(target, {
          what: this.name,
          headers: { range: `bytes=${start}-${end - 1}`, 'accept-encoding': 'identity' },
        });
        try {
          const res = ex.res;
          const st = res.status;
          if (st === 206 || st === 200 || st === 416) {
            if (ex.redirected && target === this.url) this.location = ex.url;
            return await this.accept(ex, start, end);
          }
          await discard(res);
          // A signed CDN address may have expired: go back through the original URL once.
          if (target !== this.url && !fresh && (st === 401 || st === 403 || st === 404 || st === 410)) {
            this.location = this.url;
            continue;
          }
          throw statusError(res, this.name, c.hasToken, ex.url);
        } finally {
          ex.done();
        }
      }
    });
  }

  private async accept(ex: import('./http').Exchange, start: number, end: number): Promise<Uint8Array> {
    const res = ex.res;
    const host = hostOf(ex.url);
    const where = { file: this.name, offset: start };
    const enc = res.headers.get('content-encoding');
    if (enc && enc.toLowerCase() !== 'identity') {
      await discard(res);
      throw new CheckpointError('http', `${host} sent the range with content-encoding ${enc}; byte ranges of an encoded body cannot be read`, where);
    }
    if (res.status === 416) {
      await discard(res);
      const cr = parseContentRange(res.headers.get('content-range'));
      const total = cr?.total;
      if (total === undefined || total === null) throw new CheckpointError('http', `${host} answered 416 (range not satisfiable) for bytes ${start}-${end - 1}`, where);
      this.identity(total, res);
      if (total === 0 && start === 0) return new Uint8Array(0);
      throw new CheckpointError('changed', `${this.name} is now ${total} bytes; bytes ${start}-${end - 1} are past its end`, where);
    }
    const length = contentLength(res);
    if (res.status === 200) {
      // The whole file. Acceptable when it is no more than was asked for, or a JSON sidecar (an
      // index, config.json: read whole anyway) of reasonable size.
      const asked = end - start;
      const whole = start === 0 ? (/\.json$/i.test(this.name) ? Math.max(asked, WHOLE_JSON_LIMIT) : asked) : 0;
      if (start === 0 && (length === undefined || length <= whole)) {
        const { data, overflow } = await this.client.readBody(ex, whole, this.name);
        if (!overflow && (length === undefined || data.length === length)) {
          this.identity(data.length, res);
          if (data.length <= asked) return data;
          this.store(0, data);
          return data.subarray(0, asked);
        }
      }
      ex.abort();
      await discard(res);
      throw new CheckpointError(
        'no-ranges',
        `${host} ignores Range requests (it answered 200 with the whole file${length !== undefined ? `, ${fmtBytes(length)}` : ''}); only headers are read here, so the transfer was stopped. Download the file and open the local copy`,
        { file: this.name },
      );
    }
    const cr = parseContentRange(res.headers.get('content-range'));
    if (!cr || cr.start !== start) {
      await discard(res);
      throw new CheckpointError('http', `${host} answered 206 with Content-Range "${res.headers.get('content-range') ?? ''}" for bytes ${start}-${end - 1}`, where);
    }
    const total = cr.total ?? this.size;
    if (total === undefined || total === null) {
      await discard(res);
      throw new CheckpointError('http', `${host} does not give the file's size (Content-Range "${res.headers.get('content-range')}")`, where);
    }
    this.identity(total, res);
    const want = Math.min(end, total) - start;
    if (cr.end + 1 - start !== want || (length !== undefined && length !== want)) {
      await discard(res);
      throw new CheckpointError('http', `${host} answered bytes ${cr.start}-${cr.end} (${length ?? '?'} bytes) for bytes ${start}-${start + want - 1}`, where);
    }
    const { data, overflow } = await this.client.readBody(ex, want, this.name);
    if (overflow) throw new CheckpointError('http', `${host} sent more than the ${want} bytes its Content-Range announced`, where);
    if (data.length < want) {
      throw new TransientError(new CheckpointError('network', `connection to ${host} closed after ${data.length} of ${want} bytes`, where));
    }
    return data;
  }

  /** Record the file's size and ETag on the first answer; any later difference is `changed`. */
  private identity(total: number, res: Response): void {
    const etag = res.headers.get('etag') ?? undefined;
    const lm = res.headers.get('last-modified') ?? undefined;
    this.contentType ??= res.headers.get('content-type') ?? undefined;
    const changed = (what: string) =>
      new CheckpointError('changed', `${this.name} changed on the server while it was being read (${what}); open it again`, { file: this.name });
    if (this.size === undefined) this.size = total;
    else if (total !== this.size) throw changed(`size ${this.size} became ${total}`);
    if (etag !== undefined) {
      if (this.etag === undefined) this.etag = etag;
      else if (etag !== this.etag) throw changed(`ETag ${this.etag} became ${etag}`);
    } else if (this.etag === undefined && lm !== undefined) {
      if (this.lastModified === undefined) this.lastModified = lm;
      else if (lm !== this.lastModified) throw changed(`Last-Modified ${this.lastModified} became ${lm}`);
    }
  }
}

/** `bytes a-b/n` or `bytes a-b/*` or `bytes *\/n`. */
export function parseContentRange(v: string | null): { start: number; end: number; total: number | null } | { start: -1; end: -1; total: number } | undefined {
  if (!v) return undefined;
  let m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(v);
  if (m) {
    const start = Number(m[1]);
    const end = Number(m[2]);
    const total = m[3] === '*' ? null : Number(m[3]);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start || (total !== null && (!Number.isSafeInteger(total) || end >= total))) return undefined;
    return { start, end, total };
  }
  m = /^\s*bytes\s+\*\/(\d+)\s*$/i.exec(v);
  if (m && Number.isSafeInteger(Number(m[1]))) return { start: -1, end: -1, total: Number(m[1]) };
  return undefined;
}

function contentLength(res: Response): number | undefined {
  const v = res.headers.get('content-length');
  if (v === null || !/^\d+$/.test(v.trim())) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** The ByteSource readers get: a view of a RemoteFile that counts what the reader asked for. */
export class RemoteByteSource implements ByteSource {
  private _bytesRead = 0;
  constructor(
    readonly file: RemoteFile,
    readonly name: string,
  ) {}
  get size(): number {
    return this.file.size ?? 0;
  }
  /**
   * Bytes the reader asked for, counted exactly as a local file counts them, so the report's
   * `bytesRead` is the same for a remote and a local copy; what crossed the network is the
   * client's `bytesTransferred`.
   */
  get bytesRead(): number {
    return this._bytesRead;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const buf = await this.file.read(offset, length);
    this._bytesRead += length;
    return buf;
  }
  async close(): Promise<void> {}
}
