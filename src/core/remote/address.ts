/**
 * Remote addresses: `hf://[datasets/|spaces/]owner/name[@revision][/path]` and `http(s)://` URLs.
 * A URL of a Hugging Face Hub page or file (`…/owner/name`, `…/blob/main/x`, `…/resolve/main/x`,
 * `…/tree/main/unet`) on the Hub's host is read as the hf:// address it stands for, so the file
 * list, the pinned commit and the token apply to it as well.
 */
import * as os from 'os';
import * as path from 'path';
import { CheckpointError } from '../errors';

export type RepoType = 'model' | 'dataset' | 'space';

export interface HubAddress {
  kind: 'hf';
  repoType: RepoType;
  /** `owner/name` (or a legacy single `name`). */
  repo: string;
  /** Branch, tag or commit asked for; undefined: the repository's default branch. */
  revision?: string;
  /** Path inside the repository, '' for its root; no leading or trailing slash. */
  path: string;
  /** The address as given. */
  address: string;
}

export interface UrlAddress {
  kind: 'url';
  url: URL;
  address: string;
}

export type RemoteAddress = HubAddress | UrlAddress;

/** True for what the CLI and openCheckpoint treat as remote: hf://, http://, https://. */
export function isRemoteAddress(s: string): boolean {
  return /^(hf|https?):\/\//i.test(s.trim());
}

const TYPE_PREFIX: Record<RepoType, string> = { model: '', dataset: 'datasets/', space: 'spaces/' };

export function repoTypePrefix(t: RepoType): string {
  return TYPE_PREFIX[t];
}

/** `hf://owner/name@rev/path` for a Hub address (revision and path when set). */
export function formatHubAddress(a: { repoType: RepoType; repo: string; revision?: string; path?: string }): string {
  const rev = a.revision ? `@${/\//.test(a.revision) && !/^refs\//.test(a.revision) ? encodeURIComponent(a.revision) : a.revision}` : '';
  return `hf://${TYPE_PREFIX[a.repoType]}${a.repo}${rev}${a.path ? `/${a.path}` : ''}`;
}

export function parseAddress(input: string, endpoint: string): RemoteAddress {
  const address = input.trim();
  if (/^hf:\/\//i.test(address)) return parseHub(address.slice(5), address);
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new CheckpointError('not-found', 'not a valid URL', { file: address });
  }
  if (url.username || url.password) {
    throw new CheckpointError('unsupported', 'user names and passwords in URLs are not sent; for the Hugging Face Hub give a token (HF_TOKEN)', { file: redactUrl(url) });
  }
  const hub = hubUrl(url, endpoint);
  if (hub) return hub;
  return { kind: 'url', url, address };
}

function parseHub(rest: string, address: string): HubAddress {
  let segs = rest.split('/').filter((s) => s !== '');
  let repoType: RepoType = 'model';
  if (segs[0] === 'datasets' || segs[0] === 'spaces' || segs[0] === 'models') {
    repoType = segs[0] === 'datasets' ? 'dataset' : segs[0] === 'spaces' ? 'space' : 'model';
    segs = segs.slice(1);
  }
  if (segs.length === 0) throw new CheckpointError('not-found', 'hf:// address names no repository (expected hf://owner/name[@revision][/path])', { file: address });
  // owner/name[@revision]; a legacy repository without owner is hf://name[@revision].
  let repoSegs: string[];
  let revision: string | undefined;
  const at0 = segs[0].indexOf('@');
  if (at0 >= 0 || segs.length === 1) {
    repoSegs = [at0 >= 0 ? segs[0].slice(0, at0) : segs[0]];
    revision = at0 >= 0 ? segs[0].slice(at0 + 1) : undefined;
    segs = segs.slice(1);
  } else {
    const at = segs[1].indexOf('@');
    repoSegs = [segs[0], at >= 0 ? segs[1].slice(0, at) : segs[1]];
    revision = at >= 0 ? segs[1].slice(at + 1) : undefined;
    segs = segs.slice(2);
  }
  // refs/pr/N and refs/convert/X are revisions with slashes.
  if (revision === 'refs' && segs.length >= 2) {
    revision = `refs/${segs[0]}/${segs[1]}`;
    segs = segs.slice(2);
  }
  if (revision !== undefined) {
    try {
      revision = decodeURIComponent(revision);
    } catch {
      /* keep as given */
    }
    if (revision === '') throw new CheckpointError('not-found', 'empty revision after "@"', { file: address });
  }
  for (const s of repoSegs) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s) || s.includes('..')) {
      throw new CheckpointError('not-found', `"${s}" is not a valid repository name`, { file: address });
    }
  }
  const p = segs.join('/');
  checkRepoPath(p, address);
  return { kind: 'hf', repoType, repo: repoSegs.join('/'), revision, path: p, address };
}

/** A path inside a repository: relative, no `..`, no NUL. */
export function checkRepoPath(p: string, file: string): void {
  if (p.split('/').some((s) => s === '..' || s === '.') || p.includes('\0') || p.includes('\\')) {
    throw new CheckpointError('unsafe-path', `path "${p}" inside the repository is not a plain relative path`, { file });
  }
}

/** A Hub page or file URL on the endpoint's host, as an hf:// address; undefined otherwise. */
function hubUrl(url: URL, endpoint: string): HubAddress | undefined {
  let ep: URL;
  try {
    ep = new URL(endpoint);
  } catch {
    return undefined;
  }
  const hubHosts = new Set([ep.host, 'huggingface.co', 'hf.co']);
  if (!hubHosts.has(url.host)) return undefined;
  const base = url.host === ep.host ? ep.pathname.replace(/\/+$/, '') : '';
  if (!url.pathname.startsWith(base + '/')) return undefined;
  let segs = url.pathname.slice(base.length + 1).split('/').map(safeDecode);
  while (segs.length && segs[segs.length - 1] === '') segs.pop();
  let repoType: RepoType = 'model';
  if (segs[0] === 'datasets' || segs[0] === 'spaces') {
    repoType = segs[0] === 'datasets' ? 'dataset' : 'space';
    segs = segs.slice(1);
  }
  if (segs.length < 2 || ['api', 'docs', 'blog', 'models', 'settings', 'organizations', 'join', 'login'].includes(segs[0])) return undefined;
  const repo = `${segs[0]}/${segs[1]}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(repo)) return undefined;
  if (segs.length === 2) return { kind: 'hf', repoType, repo, path: '', address: url.href };
  if (!['resolve', 'blob', 'tree'].includes(segs[2]) || segs.length < 4) return undefined;
  let revision = segs[3];
  let rest = segs.slice(4);
  if (revision === 'refs' && rest.length >= 2) {
    revision = `refs/${rest[0]}/${rest[1]}`;
    rest = rest.slice(2);
  }
  const p = rest.join('/');
  checkRepoPath(p, url.href);
  return { kind: 'hf', repoType, repo, revision, path: p, address: url.href };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A URL for messages and reports: no credentials, no query (it may hold a signature). */
export function redactUrl(u: URL | string): string {
  const url = typeof u === 'string' ? new URL(u) : u;
  return `${url.protocol}//${url.host}${url.pathname}`;
}

// ---------------------------------------------------------------------------------------------
// The Hub's environment, as huggingface_hub reads it.

export type Env = Record<string, string | undefined>;

export function hubEndpoint(env: Env): string {
  return (env.HF_ENDPOINT?.trim() || 'https://huggingface.co').replace(/\/+$/, '');
}

export function hfHome(env: Env): string {
  if (env.HF_HOME) return expandHome(env.HF_HOME);
  return path.join(env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache'), 'huggingface');
}

export function hubCacheDir(env: Env): string {
  const c = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  return c ? expandHome(c) : path.join(hfHome(env), 'hub');
}

export function tokenPath(env: Env): string {
  return env.HF_TOKEN_PATH ? expandHome(env.HF_TOKEN_PATH) : path.join(hfHome(env), 'token');
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** Offline mode (`HF_HUB_OFFLINE=1`): the local cache only, no network. */
export function hubOffline(env: Env): boolean {
  return /^(1|on|yes|true)$/i.test(env.HF_HUB_OFFLINE?.trim() ?? '');
}
