/**
 * File access for readers that need more than one file (shards, sidecars, directories).
 * The CLI and the extension's parser workers (or the host, when no worker can start) use the Node
 * implementation; tests may supply their own.
 */
import * as path from 'path';
import { ByteSource, FileByteSource } from './bytes';
import * as files from './file-calls';

export interface FileStat {
  size: number;
  isDirectory: boolean;
}

/**
 * The path operations open.ts and the readers apply to an access's paths. Local files use Node's
 * `path` (so Windows paths work on Windows); a remote access (src/core/remote/) uses `path.posix`
 * over its own virtual paths, on every platform.
 */
export type PathOps = Pick<typeof path, 'resolve' | 'join' | 'dirname' | 'basename' | 'relative' | 'sep'>;

export interface FileAccess {
  /** Path operations for this access's paths; Node's `path` when absent. */
  paths?: PathOps;
  /** Open a file for ranged reads. `display` is the name used in messages. */
  open(absPath: string, display?: string): Promise<ByteSource>;
  stat(absPath: string): Promise<FileStat | null>;
  /** Entry names in a directory. */
  list(absDir: string): Promise<string[]>;
  /**
   * At most this many separate ranges to read for the small tensor contents a quantized
   * checkpoint needs (quant/payloads.ts), where each range costs a request; no limit if absent.
   */
  readonly scatteredReads?: number;
}

export const nodeFileAccess: FileAccess = {
  open: (p, display) => FileByteSource.open(p, display ?? p),
  async stat(p) {
    try {
      const st = await files.stat(p);
      return { size: st.size, isDirectory: st.isDirectory() };
    } catch {
      return null;
    }
  },
  async list(dir) {
    return files.readdir(dir);
  },
};

/** Everything a reader gets besides the byte source of the file it was asked to read. */
export interface ReaderContext {
  access: FileAccess;
  /** Absolute path of the file being read. */
  path: string;
  /** Folder relative to which `TensorRecord.file` names are given. */
  root: string;
}

export function pathsOf(access: FileAccess | undefined): PathOps {
  return access?.paths ?? path;
}

export function relativeName(ctx: { root: string; access?: FileAccess }, absPath: string): string {
  const p = pathsOf(ctx.access);
  const rel = p.relative(ctx.root, absPath);
  return rel === '' ? p.basename(absPath) : rel.split(p.sep).join('/');
}
