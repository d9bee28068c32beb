/**
 * What an address offers to open, before opening it: for a Hub repository or folder that holds
 * several checkpoints (twenty GGUF quantizations, a diffusers pipeline's unet/ and vae/), the
 * choices, by the same folder rule the open uses (`pickInFolder`); for an address that opens one
 * checkpoint, none. Reads the Hub's file list (one small JSON request) or the local cache's
 * snapshot folder; never a checkpoint. Hosts (the VS Code command) ask this to show a quick pick.
 */
import * as fs from 'fs';
import { isWeightFileName, pickInFolder } from '../formats';
import { Env, formatHubAddress, HubAddress, hubCacheDir, hubEndpoint, hubOffline, parseAddress } from './address';
import { findSnapshot, walkFiles } from './cache';
import { FetchLike, HttpClient, HttpOptions, TransferProgress, originOf } from './http';
import { hubToken, listRepo } from './hub';

/** The Hub, HTTP and cache options of RemoteOptions (index.ts), which is these plus block tuning: what a listing uses. */
export interface ChoiceOptions {
  /** Bearer token for the Hub. undefined: HF_TOKEN or the huggingface_hub token file; null: none. */
  token?: string | null;
  /** Hub endpoint; default HF_ENDPOINT or https://huggingface.co. */
  endpoint?: string;
  fetch?: FetchLike;
  signal?: AbortSignal;
  /** Requests and bytes transferred, as they happen. */
  onTransfer?: (p: TransferProgress) => void;
  /** Environment to read HF_* variables from (default process.env). */
  env?: Env;
  /**
   * The local Hugging Face cache for hf:// addresses: `prefer` (default) opens a snapshot that
   * holds everything needed, offline, else goes to the Hub; `never` always goes to the Hub;
   * `only` never uses the network. HF_HUB_OFFLINE=1 makes the default `only`.
   */
  cache?: 'prefer' | 'never' | 'only';
  /** The cache folder (default HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** HTTP tuning: parallel requests, timeouts, retries (tests and benchmarks). */
  http?: Omit<HttpOptions, 'fetch' | 'signal' | 'token' | 'tokenOrigins' | 'onProgress'>;
}

export interface WeightChoice {
  /** Path inside the repository (`model-q4_k_m.gguf`, `unet`). */
  path: string;
  /** The hf:// address that opens it (with the revision asked for, when one was). */
  address: string;
  kind: 'file' | 'folder';
  /** Bytes, when known (a file's size; a folder's weight files together). */
  size?: number;
}

export interface WeightChoices {
  /** Several checkpoints at the address: open one of these. Empty: the address opens as it is. */
  choices: WeightChoice[];
  /** Where the list came from. */
  from: 'hub' | 'cache' | 'none';
  /** The commit listed (hub, cache). */
  commit?: string;
}

/**
 * The checkpoints an address holds when it is ambiguous. A URL, a file path, or a folder that
 * resolves to one checkpoint (a single file, a shard set) gives no choices; so does an address
 * the open will reject anyway (it says why better than a list could).
 */
export async function listWeightChoices(address: string, opts: ChoiceOptions = {}): Promise<WeightChoices> {
  const env: Env = opts.env ?? process.env;
  const endpoint = (opts.endpoint ?? hubEndpoint(env)).replace(/\/+$/, '');
  const a = parseAddress(address, endpoint);
  if (a.kind !== 'hf') return { choices: [], from: 'none' };
  const mode = opts.cache ?? (hubOffline(env) ? 'only' : 'prefer');
  let files: Map<string, number | undefined> | undefined;
  let from: WeightChoices['from'] = 'none';
  let commit: string | undefined;
  if (mode !== 'never') {
    const snap = findSnapshot(opts.cacheDir ?? hubCacheDir(env), a);
    if (snap) {
      const listed = await listFolder(snap.dir);
      // A snapshot holds what was downloaded: use it only when it holds a checkpoint at the path.
      if (mode === 'only' || holdsCheckpoint(listed, a.path)) {
        files = listed;
        from = 'cache';
        commit = snap.commit;
      }
    }
  }
  if (!files && mode === 'only') return { choices: [], from: 'none' };
  if (!files) {
    const token = opts.token === undefined ? hubToken(env) : opts.token ?? undefined;
    const client = new HttpClient({ ...opts.http, fetch: opts.fetch, signal: opts.signal, onProgress: opts.onTransfer, token, tokenOrigins: [originOf(endpoint)] });
    const listing = await listRepo(client, endpoint, a);
    files = new Map([...listing.files].map(([k, v]) => [k, v.size]));
    from = 'hub';
    commit = listing.sha;
  }
  return { choices: choicesIn(files, a), from, commit };
}

/** The choices in a repository's file list (path → size) at the address's folder. */
export function choicesIn(files: ReadonlyMap<string, number | undefined>, a: HubAddress): WeightChoice[] {
  const dir = a.path;
  if (files.has(dir)) return [];
  const prefix = dir ? `${dir}/` : '';
  const here: string[] = [];
  const sub = new Map<string, { size: number; known: boolean }>();
  for (const [name, size] of files) {
    if (!name.startsWith(prefix)) continue;
    const rest = name.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash < 0) {
      here.push(rest);
      continue;
    }
    // One level down only, as the open's hint does (diffusers: unet/, vae/, text_encoder/).
    const folder = rest.slice(0, slash);
    const inner = rest.slice(slash + 1);
    if (inner.includes('/') || !isWeightFileName(inner)) continue;
    const s = sub.get(folder) ?? { size: 0, known: true };
    if (size === undefined) s.known = false;
    else s.size += size;
    sub.set(folder, s);
  }
  const at = (p: string) => formatHubAddress({ ...a, path: p });
  const pick = pickInFolder(here);
  if (pick && 'several' in pick) {
    return pick.several.map((n) => {
      const size = files.get(prefix + n);
      return { path: prefix + n, address: at(prefix + n), kind: 'file' as const, ...(size !== undefined ? { size } : {}) };
    });
  }
  if (pick) return [];
  return [...sub]
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([folder, s]) => ({ path: prefix + folder, address: at(prefix + folder), kind: 'folder' as const, ...(s.known ? { size: s.size } : {}) }));
}

function holdsCheckpoint(files: ReadonlyMap<string, number | undefined>, dir: string): boolean {
  if (files.has(dir)) return true;
  const prefix = dir ? `${dir}/` : '';
  return [...files.keys()].some((n) => n.startsWith(prefix) && isWeightFileName(n.slice(prefix.length).split('/').pop() ?? ''));
}

/** Files under a snapshot folder (relative paths with `/`) and their sizes, bounded as the cache's walks are. */
async function listFolder(root: string): Promise<Map<string, number | undefined>> {
  const out = new Map<string, number | undefined>();
  await walkFiles(root, '', async (rel, abs) => {
    try {
      const st = await fs.promises.stat(abs);
      if (st.isFile()) out.set(rel, st.size);
    } catch {
      /* a dangling link: the blob is gone */
    }
  });
  return out;
}
