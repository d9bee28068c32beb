/**
 * FileAccess over HTTP, so open.ts and the readers open remote checkpoints exactly as local
 * ones (folders, shard indexes, sidecars, GGUF splits, ONNX external data) through the same
 * seam. Paths are virtual POSIX paths (`/unet/config.json`) handled with `path.posix` on every
 * platform; each access maps them to URLs.
 *
 * - HubAccess: a repository at one commit; stat and list come from the Hub's file list (no
 *   request), files are read from `/resolve/{commit}/{path}`.
 * - UrlAccess: a file URL; its neighbours (config.json, shards, splits, external data) are the
 *   URLs beside it. A web server cannot list a folder, so a folder URL is an error that says so.
 */
import * as path from 'path';
import { FileAccess, FileStat } from '../access';
import { ByteSource } from '../bytes';
import { CheckpointError } from '../errors';
import { HubAddress } from './address';
import { HttpClient, hostOf } from './http';
import { HubListing, encodePath, resolveUrl } from './hub';
import { BlockCache, RemoteByteSource, RemoteFile, blockOptions, BlockOptions } from './source';

const posix = path.posix;

abstract class RemoteAccess implements FileAccess {
  readonly paths = posix;
  /** Each separate range is a request: 256 of them for shape tensors at most (a real writer needs one per shard). */
  readonly scatteredReads = 256;
  protected readonly files = new Map<string, RemoteFile>();
  protected readonly cache: BlockCache;
  protected readonly blocks: ReturnType<typeof blockOptions>;

  constructor(
    readonly client: HttpClient,
    blocks: BlockOptions = {},
  ) {
    this.blocks = blockOptions(blocks);
    this.cache = new BlockCache(this.blocks.cacheBytes);
  }

  abstract urlFor(p: string): string;
  abstract stat(p: string): Promise<FileStat | null>;
  abstract list(dir: string): Promise<string[]>;
  protected knownSize(_p: string): number | undefined {
    return undefined;
  }

  protected fileFor(p: string, display?: string): RemoteFile {
    const key = posix.resolve(p);
    let f = this.files.get(key);
    if (!f) {
      f = new RemoteFile(this.client, this.cache, this.urlFor(key), display ?? posix.basename(key), this.blocks, this.knownSize(key));
      this.files.set(key, f);
    }
    return f;
  }

  async open(p: string, display?: string): Promise<ByteSource> {
    const f = this.fileFor(p, display);
    await f.ensureSize();
    return new RemoteByteSource(f, display ?? posix.basename(p));
  }

  /** The remote file behind a path (its content type, ETag...), once opened or stat'ed. */
  fileAt(p: string): RemoteFile | undefined {
    return this.files.get(posix.resolve(p));
  }
}

/** A Hub repository at one commit. */
export class HubAccess extends RemoteAccess {
  private readonly dirs = new Map<string, Set<string>>();

  constructor(
    client: HttpClient,
    readonly endpoint: string,
    readonly address: HubAddress,
    readonly listing: HubListing,
    blocks?: BlockOptions,
  ) {
    super(client, blocks);
    this.dirs.set('/', new Set());
    for (const name of listing.files.keys()) {
      const parts = name.split('/');
      let dir = '/';
      for (let i = 0; i < parts.length; i++) {
        this.dirs.get(dir)!.add(parts[i]);
        if (i === parts.length - 1) break;
        dir = posix.join(dir, parts[i]);
        if (!this.dirs.has(dir)) this.dirs.set(dir, new Set());
      }
    }
  }

  urlFor(p: string): string {
    return resolveUrl(this.endpoint, this.address, this.listing.sha, posix.resolve(p).slice(1));
  }

  protected override knownSize(p: string): number | undefined {
    return this.listing.files.get(posix.resolve(p).slice(1))?.size;
  }

  async stat(p: string): Promise<FileStat | null> {
    const key = posix.resolve(p);
    const f = this.listing.files.get(key.slice(1));
    if (f) {
      if (f.size !== undefined) return { size: f.size, isDirectory: false };
      const rf = this.fileFor(key);
      await rf.ensureSize();
      return { size: rf.size!, isDirectory: false };
    }
    if (this.dirs.has(key)) return { size: 0, isDirectory: true };
    return null;
  }

  async list(dir: string): Promise<string[]> {
    const d = this.dirs.get(posix.resolve(dir));
    if (!d) throw new CheckpointError('not-found', 'no such folder in the repository', { file: dir });
    return [...d];
  }

  /** Files directly in a folder, with sizes (for messages that list choices). */
  filesIn(dir: string): { name: string; size?: number }[] {
    const d = this.dirs.get(posix.resolve(dir));
    if (!d) return [];
    const out: { name: string; size?: number }[] = [];
    for (const n of [...d].sort()) {
      const rel = posix.join(posix.resolve(dir), n).slice(1);
      const f = this.listing.files.get(rel);
      if (f) out.push({ name: n, size: f.size });
    }
    return out;
  }
}

/** A file URL and the URLs beside it. */
export class UrlAccess extends RemoteAccess {
  /** Virtual path of the URL given (its decoded path, without a trailing slash). */
  readonly root: string;
  private readonly rootIsDir: boolean;

  constructor(
    client: HttpClient,
    readonly url: URL,
    blocks?: BlockOptions,
  ) {
    super(client, blocks);
    this.rootIsDir = url.pathname.endsWith('/');
    this.root = posix.resolve('/', ...url.pathname.split('/').map(decodeSegment));
  }

  urlFor(p: string): string {
    const key = posix.resolve(p);
    if (key === this.root) return this.url.href;
    return new URL(encodePath(key), this.url.origin).href;
  }

  async stat(p: string): Promise<FileStat | null> {
    const key = posix.resolve(p);
    if (key === this.root && this.rootIsDir) return { size: 0, isDirectory: true };
    const f = this.fileFor(key);
    try {
      await f.ensureSize();
    } catch (e) {
      // Beside the file asked for, "not there" and "not yours" (S3 answers 403 for a missing key) are both absent.
      if (key !== this.root && e instanceof CheckpointError && (e.code === 'not-found' || e.code === 'auth')) {
        this.files.delete(key);
        return null;
      }
      throw e;
    }
    return { size: f.size!, isDirectory: false };
  }

  async list(dir: string): Promise<string[]> {
    throw new CheckpointError(
      'unsupported',
      `${hostOf(this.url.href)} cannot list a folder over HTTP: give the address of a checkpoint file (.safetensors, its .index.json, .bin, .gguf, .onnx...), or hf://owner/name for a Hugging Face repository`,
      { file: dir },
    );
  }
}

function decodeSegment(s: string): string {
  try {
    const d = decodeURIComponent(s);
    return d.includes('/') || d.includes('\0') ? s : d;
  } catch {
    return s;
  }
}
