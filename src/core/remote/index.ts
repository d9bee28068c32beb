/**
 * Remote checkpoints: `hf://owner/name[@revision][/path]` on the Hugging Face Hub (or its local
 * cache) and `https://…` file URLs, opened by ranged reads through the same open.ts and readers
 * as local files. Nothing is downloaded: headers are read and the data never is.
 *
 * For hosts (CLI, extension host, worker):
 *   - `openRemote(address, opts)` → the analysed Checkpoint with `source`, `bytesTransferred`,
 *     `requests` set (what `openCheckpoint` does for an address);
 *   - `readRemote(address, opts)` → the RawCheckpoint and its source (before analysis);
 *   - `resolveAddress(address, opts)` → `{ path, options }` to give `readCheckpoint` yourself,
 *     plus the source and live transfer counts (network only; the local cache is readRemote's).
 * Options carry the token, the endpoint, a fetch implementation, an AbortSignal and a progress
 * callback, so the VS Code side can pass its SecretStorage token and its own cancellation.
 */
import * as path from 'path';
import { analyze } from '../analyze';
import { CheckpointError } from '../errors';
import { Checkpoint, CheckpointSource, RawCheckpoint } from '../model';
import { OpenOptions, readCheckpoint } from '../open';
import { Env, HubAddress, RemoteAddress, formatHubAddress, hubCacheDir, hubEndpoint, hubOffline, parseAddress, redactUrl } from './address';
import { HubAccess, UrlAccess } from './access';
import { HttpClient, TransferStats, originOf } from './http';
import type { ChoiceOptions } from './choices';
import { hubToken, listRepo } from './hub';
import { findSnapshot } from './cache';
import { BlockOptions, fmtBytes } from './source';

export { isRemoteAddress, parseAddress, formatHubAddress, hubEndpoint, hubCacheDir } from './address';
export type { RemoteAddress, HubAddress, UrlAddress, RepoType } from './address';
export { listCachedRepos, findSnapshot } from './cache';
export type { CachedRepo, CachedRevision, CachedFile } from './cache';
export { hubToken } from './hub';
export type { TransferStats, TransferProgress, FetchLike } from './http';
export { TOKEN_HELP } from './http';
export { fmtBytes } from './source';
export { listWeightChoices, choicesIn } from './choices';
export type { WeightChoice, WeightChoices, ChoiceOptions } from './choices';

/** How to reach remote checkpoints (choices.ts holds the part a listing needs too). */
export interface RemoteOptions extends ChoiceOptions {
  /** Block cache and readahead tuning. */
  blocks?: BlockOptions;
}

export interface ResolvedAddress {
  /** What to pass to readCheckpoint, with `options`. */
  path: string;
  options: OpenOptions;
  source: CheckpointSource;
  /** Requests and bytes so far (live). */
  transfer(): TransferStats;
  /** A path readCheckpoint reports (RawCheckpoint.path) as an address people can use again. */
  displayPath(p: string): string;
  /** An error from readCheckpoint with virtual paths turned into addresses and hints added. */
  explain(e: unknown): unknown;
}

function envOf(opts: RemoteOptions): Env {
  return opts.env ?? process.env;
}

/** Resolve an address to what readCheckpoint needs, over the network. */
export async function resolveAddress(address: string, opts: RemoteOptions = {}): Promise<ResolvedAddress> {
  const env = envOf(opts);
  const endpoint = (opts.endpoint ?? hubEndpoint(env)).replace(/\/+$/, '');
  const a = parseAddress(address, endpoint);
  const token = opts.token === undefined ? hubToken(env) : opts.token ?? undefined;
  const client = new HttpClient({
    ...opts.http,
    fetch: opts.fetch,
    signal: opts.signal,
    onProgress: opts.onTransfer,
    token,
    // The token goes to the Hub only: never to another host named by a URL.
    tokenOrigins: [originOf(endpoint)],
  });
  const concurrency = Math.max(8, client.maxParallel);
  if (a.kind === 'url') {
    const access = new UrlAccess(client, a.url, opts.blocks);
    const source: CheckpointSource = { kind: 'url', address: a.address, url: redactUrl(a.url) };
    return {
      path: access.root,
      options: { access, concurrency },
      source,
      transfer: () => ({ ...client.stats }),
      displayPath: (p) => (path.posix.resolve(p) === access.root ? redactUrl(a.url) : redactUrl(access.urlFor(p))),
      explain: (e) => explainUrl(e, access, (p) => (path.posix.resolve(p) === access.root ? redactUrl(a.url) : redactUrl(access.urlFor(p)))),
    };
  }
  const listing = await listRepo(client, endpoint, a);
  const access = new HubAccess(client, endpoint, a, listing, opts.blocks);
  const vpath = `/${a.path}`;
  const show = (p: string) => formatHubAddress({ ...a, path: path.posix.resolve(p).slice(1) });
  const source: CheckpointSource = {
    kind: 'hf',
    address: a.address,
    repo: a.repo,
    repoType: a.repoType,
    revision: listing.sha,
    ...(a.revision ? { ref: a.revision } : {}),
  };
  if (a.path && !(await access.stat(vpath))) {
    throw new CheckpointError('not-found', `no file or folder "${a.path}" in ${a.repo} at ${a.revision ?? 'its default branch'} (commit ${listing.sha.slice(0, 7)})${nearby(access, a.path)}`, { file: a.address });
  }
  return {
    path: vpath,
    options: { access, concurrency },
    source,
    transfer: () => ({ ...client.stats }),
    displayPath: show,
    explain: (e) => explainHub(e, access, show),
  };
}

function nearby(access: HubAccess, p: string): string {
  const dir = path.posix.dirname(`/${p}`);
  const names = access.filesIn(dir).map((f) => f.name);
  if (!names.length) return '';
  return `; ${dir === '/' ? 'the repository root' : dir.slice(1) + '/'} holds ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', …' : ''}`;
}

const WEIGHT = /\.(safetensors|bin|pt|pth|ckpt|nemo|gguf|onnx)$|\.index\.json$/i;

/** Map virtual absolute paths in a CheckpointError to addresses; list the choices in a folder. */
function explainHub(e: unknown, access: HubAccess, show: (p: string) => string): unknown {
  if (!(e instanceof CheckpointError) || !e.file?.startsWith('/')) return e;
  let detail = e.detail;
  const st = access.listing.files.has(e.file.slice(1)) ? undefined : access.filesIn(e.file);
  if (st && (e.code === 'unknown-format' || e.code === 'not-found')) {
    const weights = st.filter((f) => WEIGHT.test(f.name));
    if (weights.length > 1) {
      detail = `${detail.replace(/; open one of them$/, '')}; open one of them: ${weights
        .map((f) => `${show(path.posix.join(e.file!, f.name))}${f.size !== undefined ? ` (${fmtBytes(f.size)})` : ''}`)
        .join(', ')}`;
    }
  }
  return new CheckpointError(e.code, detail, { file: show(e.file), offset: e.offset, record: e.record });
}

function explainUrl(e: unknown, access: UrlAccess, show: (p: string) => string): unknown {
  if (!(e instanceof CheckpointError)) return e;
  let detail = e.detail;
  if (e.code === 'unknown-format') {
    const ct = access.fileAt(access.root)?.contentType ?? '';
    if (/text\/html/i.test(ct)) detail += ` — the server answered with a web page (${ct.split(';')[0]}), not a file: use the file's download address`;
  }
  if (!e.file?.startsWith('/') && detail === e.detail) return e;
  return new CheckpointError(e.code, detail, { file: e.file?.startsWith('/') ? show(e.file) : e.file, offset: e.offset, record: e.record });
}

export interface RemoteRead {
  raw: RawCheckpoint;
  source: CheckpointSource;
  transfer: TransferStats;
}

/**
 * Read an address: for hf://, the local cache's snapshot when it holds everything needed (no
 * network), else the Hub; for a URL, the URL. `raw.path` is the address of what was opened.
 */
export async function readRemote(address: string, opts: RemoteOptions & Pick<OpenOptions, 'onProgress'> = {}): Promise<RemoteRead> {
  const env = envOf(opts);
  const endpoint = (opts.endpoint ?? hubEndpoint(env)).replace(/\/+$/, '');
  const a: RemoteAddress = parseAddress(address, endpoint);
  const mode = opts.cache ?? (hubOffline(env) ? 'only' : 'prefer');
  if (a.kind === 'hf' && mode !== 'never') {
    const cached = await readFromCache(a, opts.cacheDir ?? hubCacheDir(env), mode === 'only');
    if (cached) return cached;
  }
  if (mode === 'only' && a.kind === 'hf') {
    throw new CheckpointError('not-found', `not in the local Hugging Face cache (${opts.cacheDir ?? hubCacheDir(env)}) and the network is off (HF_HUB_OFFLINE)`, { file: address });
  }
  const r = await resolveAddress(address, opts);
  let raw: RawCheckpoint;
  try {
    raw = await readCheckpoint(r.path, { ...r.options, onProgress: opts.onProgress });
  } catch (e) {
    throw r.explain(e);
  }
  raw.path = r.displayPath(raw.path);
  const source = { ...r.source };
  if (a.kind === 'hf') {
    const hub = r.options.access as HubAccess;
    const rel = hubRel(raw.path, a);
    if (hub.listing.files.has(rel)) source.url = hub.urlFor(`/${rel}`);
  }
  return { raw, source, transfer: r.transfer() };
}

/** The repository path of an hf:// address made by formatHubAddress for `a`. */
function hubRel(addr: string, a: HubAddress): string {
  const base = formatHubAddress({ ...a, path: '' });
  return addr.startsWith(base + '/') ? addr.slice(base.length + 1) : '';
}

async function readFromCache(a: HubAddress, cacheDir: string, only: boolean): Promise<RemoteRead | undefined> {
  const snap = findSnapshot(cacheDir, a);
  if (!snap) return undefined;
  const local = path.join(snap.dir, ...a.path.split('/').filter(Boolean));
  let raw: RawCheckpoint;
  try {
    raw = await readCheckpoint(local);
  } catch (e) {
    // A snapshot holds what someone downloaded: missing files send us to the Hub.
    if (!only && e instanceof CheckpointError && (e.code === 'not-found' || e.code === 'missing-shard')) return undefined;
    if (e instanceof CheckpointError) {
      throw new CheckpointError(e.code, `${e.detail} (in the local Hugging Face cache, snapshot ${snap.commit.slice(0, 7)})`, { file: e.file, offset: e.offset, record: e.record });
    }
    throw e;
  }
  const rel = path.relative(snap.dir, raw.path).split(path.sep).join('/');
  raw.path = formatHubAddress({ ...a, path: rel === '' ? '' : rel });
  const source: CheckpointSource = {
    kind: 'hf-cache',
    address: a.address,
    repo: a.repo,
    repoType: a.repoType,
    revision: snap.commit,
    ...(a.revision ? { ref: a.revision } : {}),
    snapshot: snap.dir,
    note: `opened offline from the local Hugging Face cache: snapshot ${snap.commit.slice(0, 7)}${snap.ref ? ` (${snap.ref})` : ''}, not checked against the Hub`,
  };
  return { raw, source, transfer: { bytesTransferred: 0, requests: 0, retries: 0 } };
}

/** Open and analyse an address: what openCheckpoint does for hf:// and http(s):// inputs. */
export async function openRemote(address: string, opts: RemoteOptions & Pick<OpenOptions, 'onProgress'> = {}): Promise<Checkpoint> {
  const r = await readRemote(address, opts);
  const cp = analyze(r.raw, { consume: true });
  cp.source = r.source;
  cp.bytesTransferred = r.transfer.bytesTransferred;
  cp.requests = r.transfer.requests;
  return cp;
}
