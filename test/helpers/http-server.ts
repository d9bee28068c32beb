/**
 * A loopback HTTP server for the remote tests and the remote benchmark (127.0.0.1 only; nothing
 * leaves the machine). It serves folders with Range support and the Hugging Face Hub's layout:
 *
 *   /files/<path>                                   a folder as plain files (any web server)
 *   /api/models/<owner>/<name>[/revision/<rev>]     the Hub's file list ({ sha, siblings })
 *   /<owner>/<name>/resolve/<rev>/<path>            a repository's files; "LFS" files redirect
 *                                                   to the `cdn` server (another origin) when set
 *   /cdn/<owner>/<name>/<path>?sig=…                what the CDN serves
 *
 * and misbehaves on request: ignores ranges, drops connections mid-answer, stalls, answers 503,
 * wants a token, changes a file's ETag between reads, adds latency to every answer. Every
 * request is logged (method, path, range, whether it carried a token) for the tests to check.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { AddressInfo } from 'net';

export interface RepoSpec {
  /** Folder holding the repository's files. */
  dir: string;
  /** Commit id the Hub reports (default: derived from the repo id). */
  sha?: string;
  /** Token required for the API and the files (401 without it). */
  token?: string;
  /** Delay added to every answer about this repository (API, resolve, CDN), after `latencyMs`. */
  latencyMs?: number;
  /** The Hub's error code on a 401 without token (e.g. GatedRepo, RepoNotFound). */
  authErrorCode?: string;
  /** Leave sizes out of the file list (as the API does without blobs=true). */
  noSizes?: boolean;
}

export interface Faults {
  /** Answer 200 with the whole file, whatever the Range header says. */
  ignoreRanges?: boolean;
  /** Drop the connection after this many body bytes, on the first `dropTimes` file answers. */
  dropAfterBytes?: number;
  dropTimes?: number;
  /** Wait this long before answering, on the first `stallTimes` file requests. */
  stallMs?: number;
  stallTimes?: number;
  /** Answer 503 to the first `fail503Times` file requests. */
  fail503Times?: number;
  /** Change every file's ETag after this many file answers. */
  etagChangeAfter?: number;
  /** Token required for /files/ (401 without it). */
  filesToken?: string;
}

export interface ServerOptions {
  /** Folder served under /files/. */
  files?: string;
  /** Hub repositories by id (`owner/name`). */
  repos?: Record<string, RepoSpec>;
  /** Another server (another origin) that resolve redirects "LFS" files to. */
  cdn?: FixtureServer;
  /** Files at least this large are "LFS" and redirect to the CDN (default 1024 bytes). */
  lfsThreshold?: number;
  /** Delay before every answer, ms (a round trip to a far server). */
  latencyMs?: number;
  faults?: Faults;
}

export interface LoggedRequest {
  method: string;
  path: string;
  range?: string;
  auth: boolean;
  status?: number;
  /** When the request arrived and when its answer was finished (performance.now(), ms). */
  start: number;
  end?: number;
}

/**
 * Round trips on the critical path of a set of requests (several servers' logs together): each
 * request is one more than the deepest request that had finished before it started. Requests
 * made in parallel share a depth; a chain of dependent ones (list, resolve, redirect) adds up.
 */
export function roundTrips(log: LoggedRequest[]): number {
  const rs = [...log].sort((a, b) => a.start - b.start);
  const depth: number[] = [];
  let max = 0;
  for (let i = 0; i < rs.length; i++) {
    let d = 0;
    for (let j = 0; j < i; j++) if (rs[j].end !== undefined && rs[j].end! <= rs[i].start) d = Math.max(d, depth[j]);
    depth.push(d + 1);
    max = Math.max(max, d + 1);
  }
  return max;
}

export class FixtureServer {
  readonly log: LoggedRequest[] = [];
  /** Most requests in progress at once. */
  maxConcurrent = 0;
  private concurrent = 0;
  private fileAnswers = 0;
  private readonly server: http.Server;
  private readonly sockets = new Set<import('net').Socket>();
  url = '';

  private constructor(readonly opts: ServerOptions) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(opts: ServerOptions = {}): Promise<FixtureServer> {
    const s = new FixtureServer(opts);
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  resetLog(): void {
    this.log.length = 0;
    this.maxConcurrent = 0;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    const u = new URL(req.url ?? '/', 'http://x');
    const entry: LoggedRequest = { method: req.method ?? 'GET', path: u.pathname + u.search, range: req.headers.range, auth: !!req.headers.authorization, start: performance.now() };
    res.on('close', () => {
      this.concurrent--;
      entry.end = performance.now();
    });
    this.log.push(entry);
    const send = (status: number, body: string | object, headers: Record<string, string> = {}) => {
      entry.status = status;
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    try {
      if (this.opts.latencyMs) await delay(this.opts.latencyMs);
      const segs = u.pathname.split('/').slice(1).map(decodeURIComponent);
      const about = segs[0] === 'cdn' || segs[0] === 'api' ? `${segs[segs[0] === 'api' ? 2 : 1]}/${segs[segs[0] === 'api' ? 3 : 2]}` : `${segs[0]}/${segs[1]}`;
      const slow = this.opts.repos?.[about]?.latencyMs;
      if (slow) await delay(slow);
      if (segs[0] === 'files' && this.opts.files) {
        const t = this.opts.faults?.filesToken;
        if (t && req.headers.authorization !== `Bearer ${t}`) return send(401, 'token needed');
        return await this.serveFile(req, res, entry, safeJoin(this.opts.files, segs.slice(1)));
      }
      if (segs[0] === 'cdn') {
        const repo = this.opts.repos?.[`${segs[1]}/${segs[2]}`];
        if (!repo || !u.searchParams.get('sig')) return send(403, 'signature required');
        return await this.serveFile(req, res, entry, safeJoin(repo.dir, segs.slice(3)));
      }
      if (segs[0] === 'api' && segs[1] === 'models') {
        const id = `${segs[2]}/${segs[3]}`;
        const repo = this.opts.repos?.[id];
        if (!repo) return send(401, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
        if (!this.authorized(req, repo)) return send(401, { error: 'token needed' }, repo.authErrorCode ? { 'x-error-code': repo.authErrorCode } : {});
        const rev = segs[4] === 'revision' ? segs.slice(5).join('/') : 'main';
        const sha = shaOf(id, repo);
        if (rev !== 'main' && rev !== sha) return send(404, { error: 'Revision not found' }, { 'x-error-code': 'RevisionNotFound', 'x-error-message': `Invalid rev id: ${rev}` });
        const blobs = u.searchParams.get('blobs') === 'true' && !repo.noSizes;
        const siblings = listFiles(repo.dir).map((f) => (blobs ? { rfilename: f.name, size: f.size } : { rfilename: f.name }));
        return send(200, { id, modelId: id, sha, siblings });
      }
      if (segs[2] === 'resolve') {
        const id = `${segs[0]}/${segs[1]}`;
        const repo = this.opts.repos?.[id];
        if (!repo) return send(401, 'Repository not found', { 'x-error-code': 'RepoNotFound' });
        if (!this.authorized(req, repo)) return send(401, 'token needed', repo.authErrorCode ? { 'x-error-code': repo.authErrorCode } : {});
        const rev = segs[3];
        if (rev !== 'main' && rev !== shaOf(id, repo)) return send(404, 'Revision not found', { 'x-error-code': 'RevisionNotFound' });
        const file = safeJoin(repo.dir, segs.slice(4));
        let st: fs.Stats;
        try {
          st = fs.statSync(file);
        } catch {
          return send(404, 'Entry not found', { 'x-error-code': 'EntryNotFound' });
        }
        if (this.opts.cdn && st.size >= (this.opts.lfsThreshold ?? 1024)) {
          const to = `${this.opts.cdn.url}/cdn/${id}/${segs.slice(4).map(encodeURIComponent).join('/')}?sig=${crypto.randomBytes(6).toString('hex')}`;
          entry.status = 302;
          res.writeHead(302, { location: to, 'x-repo-commit': shaOf(id, repo), 'content-length': '0' });
          return void res.end();
        }
        return await this.serveFile(req, res, entry, file);
      }
      send(404, 'not found');
    } catch (e) {
      if (!res.headersSent) send(500, String(e));
      else res.destroy();
    }
  }

  private authorized(req: http.IncomingMessage, repo: RepoSpec): boolean {
    return !repo.token || req.headers.authorization === `Bearer ${repo.token}`;
  }

  private async serveFile(req: http.IncomingMessage, res: http.ServerResponse, entry: LoggedRequest, file: string): Promise<void> {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
      if (!st.isFile()) throw new Error('not a file');
    } catch {
      entry.status = 404;
      res.writeHead(404, { 'content-length': '9' });
      return void res.end('not found');
    }
    const f = this.opts.faults ?? {};
    const n = this.fileAnswers++;
    if (f.stallMs && n < (f.stallTimes ?? Infinity)) await delay(f.stallMs);
    if (res.destroyed) return;
    if (f.fail503Times && n < f.fail503Times) {
      entry.status = 503;
      res.writeHead(503, { 'content-length': '11', 'retry-after': '0' });
      return void res.end('unavailable');
    }
    const version = f.etagChangeAfter !== undefined && n >= f.etagChangeAfter ? 2 : 1;
    const etag = `"${crypto.createHash('sha1').update(`${file}:${st.size}:${version}`).digest('hex').slice(0, 16)}"`;
    const type = file.endsWith('.html') ? 'text/html; charset=utf-8' : file.endsWith('.json') ? 'application/json' : 'application/octet-stream';
    const headers: Record<string, string> = { etag, 'accept-ranges': 'bytes', 'content-type': type };
    let start = 0;
    let end = st.size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range && !f.ignoreRanges) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (!m || (m[1] === '' && m[2] === '')) {
        entry.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${st.size}`, 'content-length': '0' });
        return void res.end();
      }
      if (m[1] === '') start = Math.max(0, st.size - Number(m[2]));
      else {
        start = Number(m[1]);
        end = m[2] === '' ? st.size - 1 : Math.min(Number(m[2]), st.size - 1);
      }
      if (start >= st.size || start > end) {
        entry.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${st.size}`, 'content-length': '0' });
        return void res.end();
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${st.size}`;
    }
    const length = end - start + 1;
    headers['content-length'] = String(length);
    entry.status = status;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || length === 0) return void res.end();
    const dropAt = f.dropAfterBytes !== undefined && n < (f.dropTimes ?? Infinity) ? f.dropAfterBytes : undefined;
    await streamRange(file, start, end, res, dropAt);
  }
}

/** Write [start, end] of a file; with dropAt, write that many bytes and then cut the connection. */
async function streamRange(file: string, start: number, end: number, res: http.ServerResponse, dropAt?: number): Promise<void> {
  const fd = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    let at = start;
    let sent = 0;
    while (at <= end && !res.destroyed) {
      let want = Math.min(buf.length, end - at + 1);
      if (dropAt !== undefined) want = Math.min(want, dropAt - sent);
      if (want <= 0) break;
      const { bytesRead } = await fd.read(buf, 0, want, at);
      if (bytesRead === 0) break;
      const ok = res.write(Buffer.from(buf.subarray(0, bytesRead)));
      at += bytesRead;
      sent += bytesRead;
      // A response the client has already dropped never drains (and has already said 'close').
      if (!ok && !res.destroyed) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
    if (dropAt !== undefined && at <= end) {
      await delay(5);
      res.socket?.destroy();
      return;
    }
    res.end();
  } finally {
    await fd.close();
  }
}

function safeJoin(root: string, segs: string[]): string {
  if (segs.some((s) => s === '..' || s.includes('\0'))) return path.join(root, '\0invalid');
  return path.join(root, ...segs);
}

function shaOf(id: string, repo: RepoSpec): string {
  return repo.sha ?? crypto.createHash('sha1').update(id).digest('hex');
}

/** Files under a folder, recursively, as repository paths with sizes. */
export function listFiles(dir: string, rel = ''): { name: string; size: number }[] {
  const out: { name: string; size: number }[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, r));
    else out.push({ name: r, size: fs.statSync(path.join(dir, r)).size });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
