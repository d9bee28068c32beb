/**
 * The Hugging Face Hub: the token, the file list of a repository at one commit
 * (`/api/{models|datasets|spaces}/{repo}/revision/{revision}?blobs=true`: its `sha` and
 * `siblings` with sizes) and the `/{repo}/resolve/{commit}/{file}` address of each file. Files
 * are resolved at the commit the list names, so every file read belongs to the same commit.
 */
import * as fs from 'fs';
import { CheckpointError } from '../errors';
import { Env, HubAddress, formatHubAddress, repoTypePrefix, tokenPath } from './address';
import { HttpClient } from './http';

/** The token huggingface_hub would use: HF_TOKEN, then the token file it writes. */
export function hubToken(env: Env): string | undefined {
  const t = env.HF_TOKEN?.trim() || env.HUGGING_FACE_HUB_TOKEN?.trim();
  if (t) return t;
  try {
    const fromFile = fs.readFileSync(tokenPath(env), 'utf8').trim();
    return fromFile || undefined;
  } catch {
    return undefined;
  }
}

export interface HubFile {
  /** Size in bytes; undefined when the Hub did not say (then a first ranged GET learns it). */
  size?: number;
}

export interface HubListing {
  /** The commit the revision resolved to. */
  sha: string;
  /** Repository path (no leading slash) → file. */
  files: Map<string, HubFile>;
}

function encodeRepo(repo: string): string {
  return repo.split('/').map(encodeURIComponent).join('/');
}

export function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}

export function resolveUrl(endpoint: string, a: HubAddress, commit: string, file: string): string {
  return `${endpoint}/${repoTypePrefix(a.repoType)}${encodeRepo(a.repo)}/resolve/${encodeURIComponent(commit)}/${encodePath(file)}`;
}

/** Largest file list accepted (the API answer), and most entries. */
const MAX_LISTING_BYTES = 128 * 1024 * 1024;
const MAX_FILES = 1_000_000;

export async function listRepo(client: HttpClient, endpoint: string, a: HubAddress): Promise<HubListing> {
  const kind = a.repoType === 'model' ? 'models' : a.repoType === 'dataset' ? 'datasets' : 'spaces';
  const url = `${endpoint}/api/${kind}/${encodeRepo(a.repo)}${a.revision ? `/revision/${encodeURIComponent(a.revision)}` : ''}?blobs=true`;
  const what = formatHubAddress(a);
  const { json } = await client.getJson(url, what, MAX_LISTING_BYTES);
  const bad = (why: string) => new CheckpointError('http', `the Hub's file list for ${what} is not what was expected: ${why}`, { file: what });
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw bad('not a JSON object');
  const doc = json as { sha?: unknown; siblings?: unknown };
  if (typeof doc.sha !== 'string' || !/^[0-9a-f]{40,64}$/.test(doc.sha)) throw bad('no commit "sha"');
  if (!Array.isArray(doc.siblings)) throw bad('no "siblings" list');
  if (doc.siblings.length > MAX_FILES) throw bad(`${doc.siblings.length} files`);
  const files = new Map<string, HubFile>();
  for (const s of doc.siblings as unknown[]) {
    if (!s || typeof s !== 'object') continue;
    const e = s as { rfilename?: unknown; size?: unknown; lfs?: { size?: unknown } };
    const name = e.rfilename;
    // Names come from the server: keep only plain relative paths.
    if (typeof name !== 'string' || name === '' || name.startsWith('/') || name.includes('\\') || name.includes('\0')) continue;
    if (name.split('/').some((x) => x === '' || x === '.' || x === '..')) continue;
    const size = typeof e.size === 'number' ? e.size : typeof e.lfs?.size === 'number' ? e.lfs.size : undefined;
    files.set(name, { size: size !== undefined && Number.isSafeInteger(size) && size >= 0 ? size : undefined });
  }
  return { sha: doc.sha, files };
}
