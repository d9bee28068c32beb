/**
 * Remote checkpoints in the editor, the pure part (no vscode import, so mocha tests it): what the
 * "Open from Hugging Face or URL…" box accepts, the `weightscope-remote:` URI an opened address
 * lives under (the custom editor's document; nothing is downloaded), which token goes to the
 * worker, and the repository page the summary links to.
 */
import { CheckpointError } from '../core/errors';
import { formatHubAddress, parseAddress, redactUrl } from '../core/remote/address';
import type { CachedRepo, CachedRevision } from '../core/remote/cache';
import { choicesIn, WeightChoice } from '../core/remote/choices';
import type { RemoteOpen, WireSource } from '../shared/protocol';

/** The scheme of a remote checkpoint's document: `weightscope-remote:/owner/name/file?address=…`. */
export const REMOTE_SCHEME = 'weightscope-remote';

/** The key of the Hugging Face token in VS Code's SecretStorage. */
export const TOKEN_SECRET = 'weightscope.huggingFaceToken';

export interface OpenInput {
  /** The address to open: `hf://…` or an `http(s)://` URL. */
  address: string;
  /** A Hugging Face Hub address (also a Hub page or file URL): a revision and a token apply. */
  hub: boolean;
  /** The address names a revision already (`@v1.0`, `/tree/main/…`). */
  hasRevision: boolean;
}

/**
 * What the user typed in the open box: `owner/name[@revision][/path]` (a repository id, as the
 * Hub shows it), `hf://…`, a Hub page or file URL, or any `https://` file URL. A message when it
 * is none of them.
 */
export function parseOpenInput(text: string, endpoint: string): OpenInput | { error: string } {
  const t = text.trim();
  if (!t) return { error: 'Give a repository id (owner/name), an hf:// address or an https:// URL.' };
  let address = t;
  if (/^(huggingface\.co|hf\.co)\//i.test(t)) address = `https://${t}`;
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t)) {
    if (!/^(hf|https?):\/\//i.test(t)) return { error: `"${t.split(':')[0]}:" addresses are not read: give an hf:// address or an http(s):// URL.` };
  } else if (/^([/~.\\]|[a-z]:[\\/])/i.test(t)) {
    return { error: 'That looks like a local path: open local files from the Explorer, or with "Weightscope: Open with Weightscope".' };
  } else address = `hf://${t}`;
  try {
    const a = parseAddress(address, endpoint);
    if (a.kind === 'hf') return { address, hub: true, hasRevision: a.revision !== undefined };
    return { address, hub: false, hasRevision: false };
  } catch (e) {
    return { error: e instanceof CheckpointError ? capitalise(e.detail) + '.' : String(e) };
  }
}

function capitalise(s: string): string {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

/**
 * A Hub address with the revision the second box gave (empty: the default branch), as an
 * hf:// address. Addresses that name a revision already, and URLs, are returned as they are.
 */
export function withRevision(address: string, revision: string, endpoint: string): string {
  const rev = revision.trim();
  if (!rev) return address;
  const a = parseAddress(address, endpoint);
  if (a.kind !== 'hf' || a.revision !== undefined) return address;
  return formatHubAddress({ ...a, revision: rev });
}

/** A revision the second box accepts: a branch, tag or commit (refs/pr/N too); no spaces. */
export function revisionError(revision: string): string | undefined {
  const r = revision.trim();
  if (!r) return undefined;
  if (/\s/.test(r) || r.includes('..') || r.startsWith('/') || r.endsWith('/') || /[~^:?*[\\\x00-\x1f]/.test(r)) return `"${r}" is not a branch, tag or commit name.`;
  return undefined;
}

export interface RemoteRef {
  address: string;
  /** Open from the local Hugging Face cache only (the cache view): never the network. */
  offline: boolean;
}

/** The parts of a remote checkpoint's document URI (give them to `vscode.Uri.from`). */
export function remoteUriParts(address: string, opts: { offline?: boolean; endpoint: string }): { scheme: string; path: string; query: string } {
  const q = new URLSearchParams({ address });
  if (opts.offline) q.set('offline', '1');
  return { scheme: REMOTE_SCHEME, path: `/${remoteLabelPath(address, opts.endpoint)}`, query: q.toString() };
}

/**
 * What the URI's path shows (its last segment is the tab's title): `owner/name@rev/file` for the
 * Hub, `host/path` for a URL (without its query, which may hold a signature).
 */
export function remoteLabelPath(address: string, endpoint: string): string {
  try {
    const a = parseAddress(address, endpoint);
    if (a.kind === 'hf') return `${a.repo}${a.revision ? `@${a.revision.replace(/\//g, '_')}` : ''}${a.path ? `/${a.path}` : ''}`;
    const u = new URL(redactUrl(a.url));
    return `${u.host}${u.pathname}`.replace(/\/+$/, '');
  } catch {
    return 'remote';
  }
}

/** The address a document URI stands for; undefined for a URI this extension did not make. */
export function remoteFromUri(uri: { scheme: string; query: string }): RemoteRef | undefined {
  if (uri.scheme !== REMOTE_SCHEME) return undefined;
  const q = new URLSearchParams(uri.query);
  const address = q.get('address');
  if (!address || !/^(hf|https?):\/\//i.test(address)) return undefined;
  return { address, offline: q.get('offline') === '1' };
}

/** An address for logs and titles: a URL without its query (it may hold a signature). */
export function redactAddress(address: string): string {
  if (!/^https?:\/\//i.test(address)) return address;
  try {
    return redactUrl(address);
  } catch {
    return address;
  }
}

/**
 * What the worker gets with a remote address. The token from VS Code's secret storage goes with
 * Hub addresses only (the core then sends it to the Hub's origin only); without one the worker
 * falls back to HF_TOKEN or the huggingface_hub token file, as the CLI does. A plain URL gets no
 * stored token.
 */
export function remoteOpenOptions(ref: RemoteRef, storedToken: string | undefined, endpoint: string): RemoteOpen {
  const o: RemoteOpen = {};
  let hub = false;
  try {
    hub = parseAddress(ref.address, endpoint).kind === 'hf';
  } catch {
    /* the worker reports the address's error */
  }
  if (hub && storedToken) o.token = storedToken;
  if (ref.offline) o.cache = 'only';
  return o;
}

/** A token the set-token box accepts (what the Hub issues: printable, no spaces). */
export function tokenError(token: string): string | undefined {
  const t = token.trim();
  if (!t) return 'Paste a token, or press Escape to keep the current one.';
  if (/\s/.test(t) || /[^\x21-\x7e]/.test(t)) return 'A token has no spaces or special characters.';
  if (t.length > 4096) return 'That is too long for a token.';
  return undefined;
}

/** The repository's page on the Hub (at the revision asked for), for the summary's link. */
export function repoPageUrl(source: Pick<WireSource, 'kind' | 'repo' | 'repoType' | 'ref'>, endpoint: string): string | undefined {
  if (source.kind === 'url' || !source.repo) return undefined;
  const prefix = source.repoType === 'dataset' ? 'datasets/' : source.repoType === 'space' ? 'spaces/' : '';
  const repo = source.repo.split('/').map(encodeURIComponent).join('/');
  const tree = source.ref ? `/tree/${encodeURIComponent(source.ref)}` : '';
  return `${endpoint.replace(/\/+$/, '')}/${prefix}${repo}${tree}`;
}

// ---------------------------------------------------------------------------------------------
// The Hugging Face Cache view (remote.ts draws it from these).

/** The revision in a cached revision's address: none for `main` (the default), else a ref, else the commit. */
function cachedRevision(rev: CachedRevision): string | undefined {
  return rev.refs.includes('main') ? undefined : (rev.refs[0] ?? rev.commit);
}

/** The hf:// address that opens a cached revision (offline, by the view). */
export function cachedRevisionAddress(repo: Pick<CachedRepo, 'repoType' | 'repo'>, rev: CachedRevision): string {
  return formatHubAddress({ repoType: repo.repoType, repo: repo.repo, revision: cachedRevision(rev) });
}

/** `main (607a30d)`, or the short commit of a revision no ref points to. */
export function cachedRevisionLabel(rev: Pick<CachedRevision, 'refs' | 'commit'>): string {
  return rev.refs.length ? `${rev.refs.join(', ')} (${rev.commit.slice(0, 7)})` : rev.commit.slice(0, 7);
}

/** The checkpoints a cached revision offers when it holds several (as the open box's quick pick). */
export function cachedChoices(repo: Pick<CachedRepo, 'repoType' | 'repo'>, rev: CachedRevision): WeightChoice[] {
  const files = new Map(rev.files.map((f) => [f.path, f.size] as [string, number]));
  return choicesIn(files, { kind: 'hf', repoType: repo.repoType, repo: repo.repo, revision: cachedRevision(rev), path: '', address: cachedRevisionAddress(repo, rev) });
}
