/**
 * The command's bundles (dist/cli-main.js, dist/cli-diff.js) loaded through a V8 code cache
 * (issue 11, start-up). Compiling the 420 KB bundle, and then each function the first time it
 * runs, is work every run of the command repeats; a code cache holds the bytecode of the
 * functions a run compiled, and V8 takes them from it instead. The build writes the caches
 * beside the bundles (scripts/code-cache.cjs, after a few runs of the command on the fixtures,
 * so that the functions those runs use are in them); nothing is written at run time.
 *
 * A cache is only ever an optimisation: missing, made for another bundle, or refused by V8 (made
 * by another Node, or with other V8 flags), the bundle is compiled as `require` would compile it.
 * V8 checks a cache's version and flags but, of the source, only its length: each cache holds a
 * copy of the bundle it was made from, and is used only when the bundle is that. A bundle whose
 * size, modification time (nanoseconds) and inode are those recorded when the cache was made is
 * taken to be unchanged, and the cache's copy is compiled without reading the bundle; any other
 * is compared byte for byte (one memcmp; a hash would load node:crypto, ~7 ms of start-up).
 */
import * as fs from 'fs';
import { createRequire } from 'module';
import * as path from 'path';
import * as vm from 'vm';

/** What became of a bundle's cache: none beside it, made from other bytes, refused by V8, or used. */
export type CacheUse = 'none' | 'stale' | 'rejected' | 'used';

export interface LoadedBundle<T> {
  exports: T;
  cache: CacheUse;
}

/**
 * CommonJS's function wrapper, on a line of its own: with lineOffset -1, the bundle's lines keep
 * their numbers in stack traces (and its first line its columns).
 */
const HEAD = '(function (exports, require, module, __filename, __dirname) {\n';
const TAIL = '\n})';
/**
 * A cache file: the bundle's length (4 bytes), then its modification time in nanoseconds and its
 * inode number when the cache was made (8 bytes each; all little-endian), the bundle, V8's cached
 * data.
 */
export const CACHE_HEADER_BYTES = 20;

/** The scripts loaded in this process, whose caches saveCodeCaches() writes. */
const loaded: { file: string; bytes: Buffer; script: vm.Script }[] = [];

/** The bundles loaded in this process, by file: what `ws:` requires resolve against. */
const modules = new Map<string, { exports: unknown }>();

/** Where the cache of the bundle `file` is. */
export function cacheFileOf(file: string): string {
  return `${file}.cache`;
}

/** The bundle `file` (a CommonJS module), compiled with its cache when one fits. */
export function loadBundle<T>(file: string): LoadedBundle<T> {
  let bytes: Buffer | undefined;
  let cachedData: Buffer | undefined;
  let cache: CacheUse = 'none';
  let c: Buffer | undefined;
  try {
    c = fs.readFileSync(cacheFileOf(file));
  } catch {
    // No cache (a development build, or one made without running the command): compile it all.
  }
  if (c) {
    const length = c.length >= CACHE_HEADER_BYTES ? c.readUInt32LE(0) : -1;
    const sourceEnd = CACHE_HEADER_BYTES + length;
    if (length >= 0 && c.length > sourceEnd) {
      const copy = c.subarray(CACHE_HEADER_BYTES, sourceEnd);
      // Unchanged since the cache was made (its size, modification time and inode): the cache's
      // copy is the bundle, which is not read a second time (~2.5 ms of a small command).
      // Otherwise (a copied dist/, a bundle rebuilt without its cache) the bytes decide.
      const st = fs.statSync(file, { bigint: true });
      if (st.size === BigInt(length) && st.mtimeNs === c.readBigUInt64LE(4) && st.ino === c.readBigUInt64LE(12)) bytes = copy;
      else if ((bytes = fs.readFileSync(file)).equals(copy)) bytes = copy;
      if (bytes === copy) cachedData = c.subarray(sourceEnd);
    }
    if (!cachedData) cache = 'stale';
  }
  bytes ??= fs.readFileSync(file);
  const script = new vm.Script(HEAD + bytes.toString('utf8') + TAIL, { filename: file, lineOffset: -1, cachedData });
  if (cachedData) cache = script.cachedDataRejected ? 'rejected' : 'used';
  loaded.push({ file, bytes, script });
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeRequire, module: { exports: unknown }, filename: string, dirname: string) => void;
  const mod = { exports: {} as T };
  modules.set(file, mod);
  wrapper.call(mod.exports, mod.exports, requireFor(file), mod, file, path.dirname(file));
  return { exports: mod.exports, cache };
}

/**
 * The files loaded in this process, by name (`cli-main.js`, `cli-onnx.js`): which chunks a
 * command needed.
 */
export function loadedBundles(): string[] {
  return loaded.map((b) => path.basename(b.file));
}

/**
 * `require` for a bundle's code: Node's, except for `ws:<file>:<module>`, a module another file of
 * the same build owns (scripts/cli-chunks.mjs), which loads that file the first time.
 */
function requireFor(file: string): NodeRequire {
  const node = createRequire(file);
  const dir = path.dirname(file);
  const req = ((id: string) => (id.startsWith('ws:') ? moduleOf(dir, id) : node(id))) as NodeRequire;
  return Object.assign(req, { resolve: node.resolve, cache: node.cache, main: node.main, extensions: node.extensions });
}

function moduleOf(dir: string, id: string): unknown {
  const colon = id.indexOf(':', 3);
  const name = id.slice(3, colon);
  const key = id.slice(colon + 1);
  const file = path.join(dir, name);
  let mod = modules.get(file);
  if (!mod) {
    loadBundle(file);
    mod = modules.get(file)!;
  }
  const registry = (mod.exports as { __ws?: Record<string, unknown> }).__ws;
  if (!registry || !Object.prototype.hasOwnProperty.call(registry, key)) {
    throw new Error(`${name} does not hold ${key}: the command's bundles in ${dir} come from different builds (run npm run build)`);
  }
  return registry[key];
}

/**
 * Writes the cache of each bundle loaded in this process, with the bytecode of every function
 * its runs have compiled so far (the build calls it after running the command), except the caches
 * in `except`; returns the files.
 */
export function saveCodeCaches(except: readonly string[] = []): string[] {
  const written: string[] = [];
  for (const { file, bytes, script } of loaded) {
    const out = cacheFileOf(file);
    if (except.includes(out)) continue;
    const st = fs.statSync(file, { bigint: true });
    const header = Buffer.alloc(CACHE_HEADER_BYTES);
    header.writeUInt32LE(bytes.length, 0);
    header.writeBigUInt64LE(st.mtimeNs, 4);
    header.writeBigUInt64LE(st.ino, 12);
    // Written whole, then renamed: a build stopped half way leaves no torn cache behind (V8 checks a
    // cache's length, not its contents, in release builds).
    const tmp = `${out}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, Buffer.concat([header, bytes, script.createCachedData()]));
    fs.renameSync(tmp, out);
    written.push(out);
  }
  return written;
}
