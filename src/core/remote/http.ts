/**
 * The HTTP layer under remote byte sources: one client per opened address. It caps the requests
 * in flight, follows redirects itself (so a token only travels to the origin it was meant for),
 * retries transient failures with backoff inside a bounded budget, times out requests that stall,
 * and counts every request and every byte received. Failures are typed CheckpointErrors.
 *
 * It runs on the WHATWG `fetch` of Node 18+ (undici) or any fetch given to it (the VS Code
 * host's, a test's); nothing here is Node-only besides timers.
 */
import { CheckpointError, ErrorCode } from '../errors';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface TransferStats {
  /** Body bytes received (ranges, API answers, bodies of failed attempts). */
  bytesTransferred: number;
  /** HTTP requests sent: each redirect hop and each retry counts. */
  requests: number;
  /** Attempts that failed transiently and were tried again. */
  retries: number;
}

export interface TransferProgress extends TransferStats {
  /** Requests under way now. */
  inFlight: number;
}

export interface HttpOptions {
  /** A fetch implementation; default the global one. */
  fetch?: FetchLike;
  /** Cancels everything under way; the open then fails with code `cancelled`. */
  signal?: AbortSignal;
  /** Bearer token, sent only to `tokenOrigins` and never across a redirect to another origin. */
  token?: string | null;
  tokenOrigins?: string[];
  /** Requests in flight at once (default 64: a 163-shard model is three waves). */
  maxParallel?: number;
  /** Wait for response headers, and at most between two body chunks, in ms (default 30 s). */
  timeoutMs?: number;
  /** Further attempts after a transient failure (default 3). */
  retries?: number;
  /** First backoff delay in ms, doubled each attempt (default 300). */
  retryBaseMs?: number;
  /** All backoff sleeps of one client together, in ms (default 20 s): past it, failures are final. */
  retryBudgetMs?: number;
  /** Redirect hops followed per request (default 10). */
  maxRedirects?: number;
  userAgent?: string;
  onProgress?: (p: TransferProgress) => void;
}

export interface Exchange {
  res: Response;
  /** URL that answered (after redirects). */
  url: string;
  redirected: boolean;
  /** Aborts this exchange's connection (stops a body nobody will read). */
  abort(): void;
  /** Restart the stall timer (call on every body chunk). */
  touch(): void;
  /** Why the connection was aborted, if it was. */
  why(): 'timeout' | 'cancelled' | 'done' | undefined;
  /** Release the parallel slot and timers; call when done with the body. */
  done(): void;
}

export interface RequestSpec {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** What is being fetched, for messages (`model.safetensors`, `file list of org/repo`). */
  what: string;
}

/** A transient failure worth another attempt; carries the error to throw if attempts run out. */
export class TransientError extends Error {
  constructor(readonly final: CheckpointError, readonly retryAfterMs?: number) {
    super(final.message);
  }
}

const DEFAULTS = {
  maxParallel: 64,
  timeoutMs: 30_000,
  retries: 3,
  retryBaseMs: 300,
  retryBudgetMs: 20_000,
  maxRedirects: 10,
};

/** Node error codes (on `cause`) that say the network failed for good, not for a moment. */
const PERMANENT_NET = new Set(['ENOTFOUND', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_INVALID_URL']);

export class HttpClient {
  readonly stats: TransferStats = { bytesTransferred: 0, requests: 0, retries: 0 };
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private slept = 0;
  private readonly o: Required<Omit<HttpOptions, 'signal' | 'token' | 'onProgress' | 'fetch'>> & HttpOptions;
  private readonly fetchImpl: FetchLike;

  constructor(opts: HttpOptions = {}) {
    this.o = {
      ...DEFAULTS,
      tokenOrigins: [],
      userAgent: 'weightscope',
      ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
    } as HttpClient['o'];
    const f = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
    if (!f) throw new CheckpointError('unsupported', 'this runtime has no fetch(); remote checkpoints need Node 18 or later');
    this.fetchImpl = f;
  }

  get maxParallel(): number {
    return this.o.maxParallel;
  }

  get hasToken(): boolean {
    return !!this.o.token;
  }

  /** Throws `cancelled` if the caller's signal has fired. */
  checkCancelled(): void {
    if (this.o.signal?.aborted) throw new CheckpointError('cancelled', 'cancelled');
  }

  countBytes(n: number): void {
    this.stats.bytesTransferred += n;
    this.progress();
  }

  private progress(): void {
    this.o.onProgress?.({ ...this.stats, inFlight: this.inFlight });
  }

  private async acquire(): Promise<void> {
    if (this.inFlight < this.o.maxParallel) {
      this.inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    // The releasing request handed its slot over: inFlight is unchanged.
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inFlight--;
  }

  /**
   * Run `attempt` with retries: a TransientError is tried again after a backoff while attempts
   * and the client's retry budget last; anything else is thrown at once.
   */
  async withRetries<T>(attempt: () => Promise<T>): Promise<T> {
    for (let n = 0; ; n++) {
      this.checkCancelled();
      try {
        return await attempt();
      } catch (e) {
        if (!(e instanceof TransientError)) throw e;
        if (this.o.signal?.aborted) throw new CheckpointError('cancelled', 'cancelled');
        const backoff = e.retryAfterMs ?? this.o.retryBaseMs * 2 ** n * (0.5 + Math.random() / 2);
        if (n >= this.o.retries || this.slept + backoff > this.o.retryBudgetMs) {
          const f = e.final;
          const tries = n + 1;
          throw new CheckpointError(f.code, `${f.detail} (${tries} ${tries === 1 ? 'try' : 'tries'})`, { file: f.file, offset: f.offset, record: f.record });
        }
        this.slept += backoff;
        this.stats.retries++;
        await sleep(backoff, this.o.signal);
      }
    }
  }

  /**
   * One request, redirects followed by hand. The Authorization header goes to the first hop only
   * when its origin is one of `tokenOrigins`, and on to later hops only until one leaves that
   * origin (a CDN or another host never sees it, nor does a hop back after one). Resolves with the final non-redirect answer;
   * the caller reads the body and must call `done()`. Network failures and timeouts are
   * TransientErrors; statuses are left to the caller.
   */
  async exchange(url: string, spec: RequestSpec): Promise<Exchange> {
    this.checkCancelled();
    await this.acquire();
    const ac = new AbortController();
    let why: 'timeout' | 'cancelled' | 'done' | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        why = 'timeout';
        ac.abort();
      }, this.o.timeoutMs);
    };
    const onCancel = () => {
      why = 'cancelled';
      ac.abort();
    };
    this.o.signal?.addEventListener('abort', onCancel);
    let released = false;
    const done = () => {
      if (released) return;
      released = true;
      if (timer) clearTimeout(timer);
      this.o.signal?.removeEventListener('abort', onCancel);
      this.release();
      this.progress();
    };
    const authOrigin = this.o.token && this.o.tokenOrigins.includes(originOf(url)) ? originOf(url) : undefined;
    let current = url;
    // As browsers do: once a redirect leaves the token's origin, no later hop gets it back.
    let sendAuth = authOrigin !== undefined;
    try {
      for (let hop = 0; ; hop++) {
        const headers: Record<string, string> = { 'user-agent': this.o.userAgent, ...spec.headers };
        if (sendAuth && originOf(current) !== authOrigin) sendAuth = false;
        if (sendAuth) headers.authorization = `Bearer ${this.o.token}`;
        arm();
        this.stats.requests++;
        this.progress();
        let res: Response;
        try {
          res = await this.fetchImpl(current, { method: spec.method ?? 'GET', headers, redirect: 'manual', signal: ac.signal });
        } catch (e) {
          throw this.networkError(e, why, current, spec.what);
        }
        if (res.status >= 300 && res.status < 400 && res.status !== 304) {
          const loc = res.headers.get('location');
          await discard(res);
          if (!loc) throw new CheckpointError('http', `${spec.what}: HTTP ${res.status} redirect without a Location header from ${hostOf(current)}`, { file: spec.what });
          if (hop >= this.o.maxRedirects) throw new CheckpointError('http', `${spec.what}: more than ${this.o.maxRedirects} redirects (last to ${hostOf(loc)})`, { file: spec.what });
          let next: URL;
          try {
            next = new URL(loc, current);
          } catch {
            throw new CheckpointError('http', `${spec.what}: redirect to an invalid address`, { file: spec.what });
          }
          if (next.protocol !== 'https:' && next.protocol !== 'http:') {
            throw new CheckpointError('http', `${spec.what}: redirect to a ${next.protocol} address, which is not followed`, { file: spec.what });
          }
          current = next.href;
          continue;
        }
        arm();
        return {
          res,
          url: current,
          redirected: current !== url,
          abort: () => {
            why = 'done';
            ac.abort();
          },
          touch: arm,
          why: () => why,
          done,
        };
      }
    } catch (e) {
      done();
      throw e;
    }
  }

  /** A fetch/body failure as a typed error: transient (reset, timeout) or final. */
  networkError(e: unknown, why: string | undefined, url: string, what: string): Error {
    if (why === 'cancelled' || this.o.signal?.aborted) return new CheckpointError('cancelled', 'cancelled');
    if (why === 'timeout') {
      return new TransientError(new CheckpointError('timeout', `no answer from ${hostOf(url)} within ${this.o.timeoutMs / 1000} s`, { file: what }));
    }
    const code = errorCode(e);
    const detail = `cannot reach ${hostOf(url)}: ${code ?? (e as Error)?.message ?? String(e)}`;
    const err = new CheckpointError('network', detail, { file: what });
    return code && PERMANENT_NET.has(code) ? err : new TransientError(err);
  }

  /**
   * Read a body to the end, at most `limit` bytes (more is `overflow`: the stream is stopped at
   * once). Counts the bytes; restarts the stall timer on each chunk; a dropped connection is a
   * TransientError.
   */
  async readBody(ex: Exchange, limit: number, what: string): Promise<{ data: Uint8Array; overflow: boolean }> {
    const body = ex.res.body;
    if (!body) return { data: new Uint8Array(0), overflow: false };
    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let got = 0;
    try {
      for (;;) {
        let r: { done: boolean; value?: Uint8Array };
        try {
          r = await reader.read();
        } catch (e) {
          const why = ex.why() ?? (timedOut(e) ? 'timeout' : undefined);
          if (why) throw this.networkError(e, why, ex.url, what);
          const code = errorCode(e);
          throw new TransientError(new CheckpointError('network', `connection to ${hostOf(ex.url)} was cut after ${got} bytes of the answer${code ? ` (${code})` : ''}`, { file: what }));
        }
        if (r.done || !r.value) break;
        ex.touch();
        this.countBytes(r.value.length);
        if (got + r.value.length > limit) {
          const keep = limit - got;
          if (keep > 0) chunks.push(r.value.subarray(0, keep));
          got = limit;
          ex.abort();
          await reader.cancel().catch(() => undefined);
          return { data: concat(chunks, got), overflow: true };
        }
        chunks.push(r.value);
        got += r.value.length;
      }
    } finally {
      reader.releaseLock?.();
    }
    return { data: concat(chunks, got), overflow: false };
  }

  /** GET a JSON document (API answers), bounded in size; statuses mapped to typed errors. */
  async getJson(url: string, what: string, maxBytes = 64 * 1024 * 1024): Promise<{ json: unknown; headers: Headers }> {
    return this.withRetries(async () => {
      const ex = await this.exchange(url, { what, headers: { accept: 'application/json' } });
      try {
        if (ex.res.status !== 200) {
          await discard(ex.res);
          throw statusError(ex.res, what, this.hasToken, ex.url);
        }
        const { data, overflow } = await this.readBody(ex, maxBytes, what);
        if (overflow) throw new CheckpointError('too-large', `${what}: answer is larger than ${maxBytes} bytes`, { file: what });
        try {
          return { json: JSON.parse(new TextDecoder().decode(data)), headers: ex.res.headers };
        } catch {
          throw new CheckpointError('http', `${what}: the answer from ${hostOf(ex.url)} is not JSON`, { file: what });
        }
      } finally {
        ex.done();
      }
    });
  }
}

/**
 * The typed error for a non-success status: 401/403 say how to give a token, 404 says what is
 * missing, 5xx/429/408 are transient. The Hub's `X-Error-Code` refines the message.
 */
export function statusError(res: Response, what: string, hadToken: boolean, url: string): Error {
  const s = res.status;
  const hubCode = res.headers.get('x-error-code') ?? '';
  const hubMsg = res.headers.get('x-error-message');
  const host = hostOf(url);
  const where = { file: what };
  const mk = (code: ErrorCode, detail: string) => new CheckpointError(code, detail, where);
  if (hubCode === 'RepoNotFound') {
    return mk(
      'not-found',
      hadToken
        ? `repository not found on ${host} (or the token given has no access to it)`
        : `repository not found on ${host}; if it is private, a token is needed: ${TOKEN_HELP}`,
    );
  }
  if (hubCode === 'RevisionNotFound') return mk('not-found', `revision not found on ${host}${hubMsg ? ` (${hubMsg})` : ''}`);
  if (hubCode === 'EntryNotFound') return mk('not-found', `no such file in the repository on ${host}`);
  if (hubCode === 'GatedRepo' || (s === 403 && /gated/i.test(hubMsg ?? ''))) {
    return mk('auth', `this repository is gated: accept its conditions on its page on ${host}${hadToken ? ' with the account of the token given' : `, then give a token: ${TOKEN_HELP}`}`);
  }
  if (s === 401 || s === 403) {
    return mk(
      'auth',
      hadToken
        ? `${host} answered ${s} ${res.statusText || (s === 401 ? 'Unauthorized' : 'Forbidden')}: the token given was refused or has no access to this file`
        : `${host} answered ${s} ${res.statusText || (s === 401 ? 'Unauthorized' : 'Forbidden')}: this file needs a token. ${TOKEN_HELP}`,
    );
  }
  if (s === 404 || s === 410) return mk('not-found', `not found on ${host} (HTTP ${s})`);
  const e = mk('http', `${host} answered HTTP ${s}${res.statusText ? ` ${res.statusText}` : ''}`);
  if (s >= 500 || s === 429 || s === 408) return new TransientError(e, retryAfter(res));
  return e;
}

export const TOKEN_HELP =
  'Set HF_TOKEN, or log in with `hf auth login` or `huggingface-cli login` (they write the token file huggingface_hub uses: $HF_HOME/token, ~/.cache/huggingface/token by default), or in VS Code run "Weightscope: Set Hugging Face Token".';

function retryAfter(res: Response): number | undefined {
  const v = res.headers.get('retry-after');
  if (!v) return undefined;
  const secs = /^\d+$/.test(v.trim()) ? Number(v) : (Date.parse(v) - Date.now()) / 1000;
  if (!Number.isFinite(secs) || secs < 0) return undefined;
  return Math.min(secs, 10) * 1000;
}

/** Throw away a body we will not read, without downloading it. */
export async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    /* already closed */
  }
}

export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}

/** The host of a URL, for messages (never its query, which may hold a signature). */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the server';
  }
}

function errorCode(e: unknown): string | undefined {
  for (let x: unknown = e, i = 0; x && i < 5; x = (x as { cause?: unknown }).cause, i++) {
    const c = (x as { code?: unknown }).code;
    if (typeof c === 'string' && c !== 'ABORT_ERR') return c;
  }
  return undefined;
}

function timedOut(e: unknown): boolean {
  return errorCode(e) === 'UND_ERR_BODY_TIMEOUT' || errorCode(e) === 'UND_ERR_HEADERS_TIMEOUT';
}

function concat(chunks: Uint8Array[], n: number): Uint8Array {
  if (chunks.length === 1 && chunks[0].length === n) return chunks[0];
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new CheckpointError('cancelled', 'cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
