/**
 * Which files beside an opened checkpoint to watch for changes, so an edit on disk reloads the
 * editor. After a successful open: the files it was read from (and config.json). After a failed
 * open too: the last known file list, the shards an index names, and any sibling with the
 * checkpoint's own extension, so fixing (or restoring) a broken shard reloads. Pure (no vscode
 * import).
 */
import * as path from 'path';

/** Index files above this size are not read just to find shard names. */
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;
/** At most this many names in one watcher's glob. */
const MAX_NAMES = 200;

/** `model.safetensors.index.json` / `pytorch_model.bin.index.json`: a sharded checkpoint's index. */
export function isIndexFile(fileName: string): boolean {
  return /\.index\.json$/i.test(fileName);
}

/**
 * The shard file names an index's `weight_map` points at (Hugging Face sharded checkpoints),
 * unique and in first-seen order. Empty when the text is not such an index.
 */
export function shardNamesFromIndex(text: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return [];
  }
  const map = json && typeof json === 'object' ? (json as { weight_map?: unknown }).weight_map : undefined;
  if (!map || typeof map !== 'object' || Array.isArray(map)) return [];
  const out = new Set<string>();
  for (const v of Object.values(map as Record<string, unknown>)) if (typeof v === 'string' && v) out.add(v);
  return [...out];
}

/**
 * The extension that siblings of the same checkpoint share: `.safetensors` for
 * `model-00001-of-00003.safetensors` and for `model.safetensors.index.json`, `.bin` for
 * `pytorch_model.bin.index.json`, `.gguf` for a split GGUF. Undefined when there is none.
 */
export function siblingExtension(fileName: string): string | undefined {
  const base = isIndexFile(fileName) ? fileName.replace(/\.index\.json$/i, '') : fileName;
  const m = /\.([A-Za-z0-9_]{1,16})$/.exec(base);
  if (!m) return undefined;
  const ext = m[1].toLowerCase();
  // A folder of .json files is not a checkpoint family.
  return ext === 'json' ? undefined : `.${ext}`;
}

export interface WatchInput {
  /** The file the editor opened. */
  openedFile: string;
  /** Files the last successful open read (names beside the opened file), if any. */
  knownFiles?: readonly string[];
  /** Shard names from the index, when the opened file is one. */
  indexShards?: readonly string[];
  /** The last open failed: also watch siblings with the checkpoint's extension. */
  failed: boolean;
}

/** Escape what a VS Code glob treats as syntax; `?` then matches that one character. */
function globSafe(name: string): string {
  return name.replace(/[{}[\]*?,]/g, '?');
}

/**
 * The glob (relative to the opened file's folder) of everything worth watching. Names in
 * subfolders are left out (the watcher is not recursive).
 */
export function watchGlob(input: WatchInput): string {
  const names = new Set<string>([path.basename(input.openedFile), 'config.json']);
  const add = (f: string) => {
    if (f && !f.includes('/') && !f.includes('\\')) names.add(f);
  };
  for (const f of input.knownFiles ?? []) add(f);
  for (const f of input.indexShards ?? []) add(f);
  const parts = [...names].slice(0, MAX_NAMES).map(globSafe);
  if (input.failed) {
    const ext = siblingExtension(path.basename(input.openedFile));
    if (ext) parts.push(`*${globSafe(ext)}`);
  }
  return parts.length === 1 ? parts[0] : `{${parts.join(',')}}`;
}
