/**
 * File access for readers that need more than one file (shards, sidecars, directories).
 * The CLI and the extension host both use the Node implementation; tests may supply their own.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ByteSource, FileByteSource } from './bytes';

export interface FileStat {
  size: number;
  isDirectory: boolean;
}

export interface FileAccess {
  /** Open a file for ranged reads. `display` is the name used in messages. */
  open(absPath: string, display?: string): Promise<ByteSource>;
  stat(absPath: string): Promise<FileStat | null>;
  /** Entry names in a directory. */
  list(absDir: string): Promise<string[]>;
}

export const nodeFileAccess: FileAccess = {
  open: (p, display) => FileByteSource.open(p, display ?? p),
  async stat(p) {
    try {
      const st = await fs.promises.stat(p);
      return { size: st.size, isDirectory: st.isDirectory() };
    } catch {
      return null;
    }
  },
  async list(dir) {
    return fs.promises.readdir(dir);
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

export function relativeName(ctx: { root: string }, absPath: string): string {
  const rel = path.relative(ctx.root, absPath);
  return rel === '' ? path.basename(absPath) : rel.split(path.sep).join('/');
}
