/**
 * The local Hugging Face cache (`$HF_HUB_CACHE`, default `$HF_HOME/hub`, default
 * `~/.cache/huggingface/hub`), as huggingface_hub lays it out:
 *
 *   models--owner--name/
 *     refs/main                       the commit a branch or tag points to (one line)
 *     snapshots/<commit>/config.json  symlinks (copies on Windows without symlinks) ...
 *     blobs/<etag>                    ... to the files' contents
 *
 * Only read here, never written. A snapshot holds just the files someone downloaded.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Env, HubAddress, RepoType, hubCacheDir } from './address';

const FOLDER_PREFIX: Record<RepoType, string> = { model: 'models', dataset: 'datasets', space: 'spaces' };

export function repoFolderName(repoType: RepoType, repo: string): string {
  return `${FOLDER_PREFIX[repoType]}--${repo.split('/').join('--')}`;
}

export interface CachedSnapshot {
  /** The snapshot folder (joined with the address's path gives what to open). */
  dir: string;
  commit: string;
  /** The ref that led there (`main`, a tag), when the revision was a ref. */
  ref?: string;
}

/** The snapshot an address means in the cache, if that snapshot folder exists. */
export function findSnapshot(cacheDir: string, a: HubAddress): CachedSnapshot | undefined {
  const repoDir = path.join(cacheDir, repoFolderName(a.repoType, a.repo));
  const rev = a.revision ?? 'main';
  let commit: string | undefined;
  let ref: string | undefined;
  if (/^[0-9a-f]{40}$/.test(rev)) commit = rev;
  else {
    // A ref name must stay inside refs/ (no "..", no absolute path).
    if (rev.split('/').some((s) => s === '..' || s === '' || s === '.')) return undefined;
    try {
      commit = fs.readFileSync(path.join(repoDir, 'refs', ...rev.split('/')), 'utf8').trim();
      ref = rev;
    } catch {
      return undefined;
    }
    if (!/^[0-9a-f]{40}$/.test(commit)) return undefined;
  }
  const dir = path.join(repoDir, 'snapshots', commit);
  try {
    if (!fs.statSync(dir).isDirectory()) return undefined;
  } catch {
    return undefined;
  }
  return { dir, commit, ref };
}

export interface CachedFile {
  /** Path inside the repository (`unet/config.json`). */
  path: string;
  size: number;
}

export interface CachedRevision {
  commit: string;
  /** Branches and tags pointing at it (`main`). */
  refs: string[];
  snapshot: string;
  files: CachedFile[];
  /** Files that are checkpoints this tool opens (weights, shard indexes). */
  weights: string[];
  /** Bytes of the distinct blobs its files point to. */
  sizeOnDisk: number;
  /** Newest modification time among its files, ms since the epoch. */
  lastModified: number;
}

export interface CachedRepo {
  repoType: RepoType;
  /** `owner/name`. */
  repo: string;
  /** The hf:// address that opens its default snapshot. */
  address: string;
  /** Folder in the cache. */
  path: string;
  /** Bytes of all its blobs (every revision, files counted once). */
  sizeOnDisk: number;
  revisions: CachedRevision[];
}

const WEIGHTS = /\.(safetensors|bin|pt|pth|ckpt|nemo|gguf|onnx)$|\.index\.json$/i;
const MAX_ENTRIES = 200_000;

/**
 * Every repository in the local cache with its revisions, files and sizes on disk: what a
 * "cached models" view lists. Unreadable entries are skipped; a missing cache is an empty list.
 */
export async function listCachedRepos(opts: { cacheDir?: string; env?: Env } = {}): Promise<CachedRepo[]> {
  const cacheDir = opts.cacheDir ?? hubCacheDir(opts.env ?? process.env);
  let names: string[];
  try {
    names = await fs.promises.readdir(cacheDir);
  } catch {
    return [];
  }
  const out: CachedRepo[] = [];
  for (const folder of names.sort()) {
    const m = /^(models|datasets|spaces)--(.+)$/.exec(folder);
    if (!m) continue;
    const repoType: RepoType = m[1] === 'models' ? 'model' : m[1] === 'datasets' ? 'dataset' : 'space';
    const repo = m[2].split('--').join('/');
    const dir = path.join(cacheDir, folder);
    const refs = await readRefs(path.join(dir, 'refs'));
    let snaps: string[] = [];
    try {
      snaps = (await fs.promises.readdir(path.join(dir, 'snapshots'))).filter((s) => /^[0-9a-f]{40}$/.test(s));
    } catch {
      /* no snapshots */
    }
    const revisions: CachedRevision[] = [];
    for (const commit of snaps) {
      const snapshot = path.join(dir, 'snapshots', commit);
      const files: CachedFile[] = [];
      const blobs = new Map<string, number>();
      let lastModified = 0;
      await walkFiles(snapshot, '', async (rel, abs) => {
        try {
          const st = await fs.promises.stat(abs);
          if (!st.isFile()) return;
          files.push({ path: rel, size: st.size });
          blobs.set(await fs.promises.realpath(abs), st.size);
          lastModified = Math.max(lastModified, st.mtimeMs);
        } catch {
          /* a dangling link: the blob is gone */
        }
      });
      files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      revisions.push({
        commit,
        refs: [...refs].filter(([, c]) => c === commit).map(([r]) => r).sort(),
        snapshot,
        files,
        weights: files.filter((f) => WEIGHTS.test(f.path)).map((f) => f.path),
        sizeOnDisk: [...blobs.values()].reduce((a, b) => a + b, 0),
        lastModified,
      });
    }
    revisions.sort((a, b) => b.lastModified - a.lastModified);
    let sizeOnDisk = 0;
    try {
      for (const b of await fs.promises.readdir(path.join(dir, 'blobs'))) {
        try {
          const st = await fs.promises.lstat(path.join(dir, 'blobs', b));
          if (st.isFile()) sizeOnDisk += st.size;
        } catch {
          /* gone */
        }
      }
    } catch {
      // No blobs folder (copies instead of links): count the snapshots' files.
      const seen = new Map<string, number>();
      for (const r of revisions) for (const f of r.files) seen.set(`${r.commit}/${f.path}`, f.size);
      sizeOnDisk = [...seen.values()].reduce((a, b) => a + b, 0);
    }
    const prefix = repoType === 'model' ? '' : `${m[1]}/`;
    out.push({ repoType, repo, address: `hf://${prefix}${repo}`, path: dir, sizeOnDisk, revisions });
  }
  return out;
}

async function readRefs(dir: string): Promise<Map<string, string>> {
  const refs = new Map<string, string>();
  await walkFiles(dir, '', async (rel, abs) => {
    try {
      const c = (await fs.promises.readFile(abs, 'utf8')).trim();
      if (/^[0-9a-f]{40}$/.test(c)) refs.set(rel, c);
    } catch {
      /* unreadable */
    }
  });
  return refs;
}

/** Depth-first walk over files (following symlinked files, not symlinked folders), bounded. */
export async function walkFiles(root: string, rel: string, onFile: (rel: string, abs: string) => Promise<void>, budget = { n: MAX_ENTRIES }): Promise<void> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(path.join(root, rel), { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (--budget.n < 0) return;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) await walkFiles(root, r, onFile, budget);
    else await onFile(r, path.join(root, r));
  }
}
