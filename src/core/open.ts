/**
 * Opening a path: a checkpoint file, a shard index JSON, or a directory holding either.
 * Picks the reader by content (falling back to the file name), reads sidecars, and returns the
 * raw checkpoint. analyze() turns it into the model the CLI and the editor show.
 */
import * as path from 'path';
import { FileAccess, ReaderContext, nodeFileAccess, pathsOf, relativeName } from './access';
import { withHead } from './bytes';
import { CheckpointError } from './errors';
import { Json, isObject, parseJson, toPlain, truncate } from './json';
import { RawCheckpoint, TensorRecord, Warning } from './model';
import { FOLDER_KINDS, FORMATS, FormatModule, isWeightFileName, moduleForName, moduleOf, pickFormat, pickInFolder, SNIFF_BYTES, unknownFormatError } from './formats';
import { bytesExact } from './numbers';
import { readQuantInputs } from './quant/payloads';
import { ScannedWeightMap, scanWeightMap } from './weight-map';
import { indexedName, isShardIndexName } from './shards';

export interface OpenOptions {
  access?: FileAccess;
  /** Read config.json beside the weights (default true). */
  sidecars?: boolean;
  /** How many shards to open at once. */
  concurrency?: number;
  /** Called when the shard list is known, then as each shard (or the one file) is read. */
  onProgress?: (p: OpenProgress) => void;
}

/** How far opening got: files (shards) read of those to read, and the bytes read so far. */
export interface OpenProgress {
  filesDone: number;
  filesTotal: number;
  bytesRead: number;
  /** The file just read. */
  file?: string;
}

const MAX_INDEX_BYTES = 512 * 1024 * 1024;
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** modules.json entries looked at (a SentenceTransformer has a handful of modules). */
const MAX_ST_MODULES = 32;

export async function readCheckpoint(inputPath: string, opts: OpenOptions = {}): Promise<RawCheckpoint> {
  const access = opts.access ?? nodeFileAccess;
  const abs = pathsOf(access).resolve(inputPath);
  const st = await access.stat(abs);
  if (!st) throw new CheckpointError('not-found', 'no such file or directory', { file: inputPath });
  let raw: RawCheckpoint;
  let dir: string;
  let names: string[] | undefined;
  if (st.isDirectory) {
    dir = abs;
    names = (await access.list(abs)).sort();
    raw = await readDirectory(abs, names, access, opts);
  } else {
    dir = pathsOf(access).dirname(abs);
    raw = await readFile(abs, dir, access, opts);
  }
  if (opts.sidecars !== false) {
    await applySidecars(raw, dir, access);
    // Only for a folder that lists modules.json: where a file was opened, or for a remote file,
    // every look beside it would be one more request, and the file opened is what was asked for.
    if (names?.includes('modules.json')) await noteSentenceTransformerModules(raw, dir, access);
  }
  await readQuantInputs(raw, dir, access, { sidecars: opts.sidecars !== false });
  return raw;
}

async function readFile(abs: string, root: string, access: FileAccess, opts: OpenOptions, asShardOf?: string): Promise<RawCheckpoint> {
  if (isShardIndexName(abs)) {
    // An index naming an index (itself, or one that names it back) would never end.
    if (asShardOf !== undefined) {
      throw new CheckpointError('bad-index', `shard "${truncate(pathsOf(access).basename(abs))}" is itself an index file; an index may only name weight files`, { file: asShardOf });
    }
    return readShardIndex(abs, root, access, opts);
  }
  const display = relativeName({ root, access }, abs);
  const src = await access.open(abs, display);
  try {
    // The sniffed bytes go to the reader with what match() parsed: nothing is read or parsed twice.
    const head = await src.read(0, Math.min(SNIFF_BYTES, src.size));
    const picked = pickFormat(head, src.size, abs);
    if (!picked) throw unknownFormatError(src.name, head);
    const raw = await picked.module.read(withHead(src, head), { access, path: abs, root }, picked.match);
    if (asShardOf === undefined) opts.onProgress?.({ filesDone: 1, filesTotal: 1, bytesRead: raw.bytesRead, file: display });
    return raw;
  } finally {
    await src.close();
  }
}

/** Pick what to open in a directory, as a user would expect (the registry's folder rules): the index, else the single weights file. */
async function readDirectory(dir: string, names: string[], access: FileAccess, opts: OpenOptions): Promise<RawCheckpoint> {
  const pick = pickInFolder(names);
  if (pick && 'file' in pick) {
    const raw = await readFile(pathsOf(access).join(dir, pick.file), dir, access, opts);
    if (pick.note) raw.warnings.push({ code: 'folder-pick', message: pick.note });
    return raw;
  }
  if (pick && 'shards' in pick) return readShardSet(dir, pick.module, pick.shards, access, opts);
  if (pick) {
    const present = pick.several;
    throw new CheckpointError('unknown-format', `folder holds several checkpoints (${present.slice(0, 4).join(', ')}${present.length > 4 ? ', …' : ''}); open one of them`, { file: dir });
  }
  // A diffusers-style folder keeps its models one level down (unet/, vae/, text_encoder/...).
  const sub: string[] = [];
  for (const n of names) {
    const st = await access.stat(pathsOf(access).join(dir, n));
    if (!st?.isDirectory) continue;
    const inner = await access.list(pathsOf(access).join(dir, n)).catch(() => [] as string[]);
    if (inner.some(isWeightFileName)) sub.push(`${n}/`);
  }
  const hint = sub.length ? `; its subfolders ${sub.slice(0, 6).join(', ')}${sub.length > 6 ? ', …' : ''} do: open one of them` : '';
  throw new CheckpointError('not-found', `folder holds no checkpoint (${FOLDER_KINDS})${hint}`, { file: dir });
}

/** A path from an index file must stay inside the index's folder. */
export function checkShardPath(p: string, where: { file: string; record?: string }): void {
  if (p === '' || path.isAbsolute(p) || path.win32.isAbsolute(p) || /^[a-zA-Z]:/.test(p)) {
    throw new CheckpointError('unsafe-path', `shard path "${truncate(p)}" is absolute; index files may only name files beside them`, where);
  }
  if (p.split(/[\\/]/).some((s) => s === '..')) {
    throw new CheckpointError('unsafe-path', `shard path "${truncate(p)}" climbs out of the index's folder with ".."`, where);
  }
  if (p.includes('\0')) throw new CheckpointError('unsafe-path', 'shard path contains a NUL byte', where);
}

/** Whether a path a sidecar names stays inside the folder (checkShardPath's rules, as a test). */
function safeSubPath(p: string): boolean {
  try {
    checkShardPath(p, { file: '' });
    return true;
  } catch {
    return false;
  }
}

/** A weight map as the strict parser reads it, its values checked to be safe shard paths. */
interface ParsedIndex {
  weightMap: ReadonlyMap<string, string>;
  /** Distinct shard paths, in the order of their first entry. */
  shards: string[];
  meta: Json | undefined;
}

/** The index through the strict parser: anything unusual is an error saying what and where. */
function parseIndex(bytes: Uint8Array, file: string): ParsedIndex {
  const doc = parseJson(bytes, { file });
  if (!isObject(doc)) throw new CheckpointError('bad-index', 'index is not a JSON object', { file, offset: 0 });
  const wm = doc.get('weight_map');
  if (!isObject(wm)) throw new CheckpointError('bad-index', 'index has no "weight_map" object', { file, record: 'weight_map' });
  // 90,000 names point at a few hundred shards: each shard path is checked once, at its first entry.
  const shards = new Set<string>();
  wm.forEach((shard, name) => {
    if (typeof shard !== 'string') throw new CheckpointError('bad-index', `weight_map entry for "${truncate(name)}" is not a file name`, { file, record: 'weight_map' });
    if (!shards.has(shard)) {
      checkShardPath(shard, { file, record: `weight_map["${truncate(name)}"]` });
      shards.add(shard);
    }
  });
  // Every value is a file name now: the parsed map is the weight map (no second 90,000-entry copy).
  return { weightMap: wm as ReadonlyMap<string, string>, shards: [...shards], meta: doc.get('metadata') };
}

async function readShardIndex(abs: string, root: string, access: FileAccess, opts: OpenOptions): Promise<RawCheckpoint> {
  const file = relativeName({ root, access }, abs);
  const src = await access.open(abs, file);
  let bytes: Uint8Array;
  try {
    if (src.size > MAX_INDEX_BYTES) throw new CheckpointError('too-large', `index file is ${bytesExact(src.size)}; the limit is ${bytesExact(MAX_INDEX_BYTES)}`, { file });
    bytes = await src.read(0, src.size);
  } finally {
    await src.close();
  }
  // A machine-written index takes the fast path (weight-map.ts); anything else, and every error,
  // goes through the strict parser.
  const scanned = scanWeightMap(bytes);
  let parsed: ParsedIndex | undefined;
  let shards: string[];
  let meta: Json | undefined;
  if (scanned) {
    scanned.shards.forEach((shard, i) => checkShardPath(shard, { file, record: `weight_map["${truncate(scanned.firstKeys[i])}"]` }));
    ({ shards, metadata: meta } = scanned);
  } else {
    parsed = parseIndex(bytes, file);
    ({ shards, meta } = parsed);
  }
  const shardFiles = shards.map((shard) => relativeName({ root, access }, pathsOf(access).join(root, shard)));
  // `model.safetensors.index.json` names safetensors shards: the format of an empty set.
  const named = moduleForName(indexedName(abs));
  const results = await readShards(root, shards, access, opts, file);

  let raw: RawCheckpoint;
  let unlisted = 0;
  let firstUnlisted = '';
  if (scanned && listsExactly(scanned, results, shardFiles)) {
    // Each stored tensor is listed once, in its own shard, and nothing else is: no name is stored
    // twice (its key would be listed twice), nothing is missing, nothing is unlisted.
    [raw] = mergeShards(results, root, named, scanned);
  } else {
    parsed ??= parseIndex(bytes, file);
    const [merged, byName] = mergeShards(results, root, named);
    raw = merged;
    const shardNames = new Map(shards.map((shard, i) => [shard, shardFiles[i]]));
    const unlistedTensors = checkWeightMap(raw, parsed.weightMap, byName, shardNames, file);
    unlisted = unlistedTensors.length;
    if (unlisted) firstUnlisted = unlistedTensors[0].name;
  }
  raw.path = abs;
  raw.files.unshift(file);
  raw.bytesRead += bytes.length;
  raw.totalBytes += bytes.length;
  if (meta !== undefined) raw.metadata.index = toPlain(meta);
  if (unlisted) {
    raw.warnings.push({ code: 'index-unlisted', message: `${unlisted} tensor(s) stored in shards are not in the index's weight_map (e.g. ${firstUnlisted})` });
  }
  const total = isObject(meta) ? meta.get('total_size') : undefined;
  if (typeof total === 'number') {
    const sum = raw.tensors.reduce((s, t) => s + t.nbytes, 0);
    if (sum !== total && moduleOf(raw.format)?.shards?.indexTotalIsTensorBytes) {
      raw.warnings.push({ code: 'index-total-size', message: `index metadata.total_size is ${bytesExact(total)} but the shards hold ${bytesExact(sum)} of tensors` });
    }
  }
  return raw;
}

/**
 * Whether the scanned weight map lists exactly the stored tensors, each under its own name in the
 * shard that holds it. Keys are unique (the scan gave up on a duplicate), so each key finds one
 * tensor; with as many keys as tensors and no tensor found twice, each tensor is listed once.
 * Anything else (a prefix stripped, a tie listed but not stored, a mismatch) is for checkWeightMap.
 */
function listsExactly(index: ScannedWeightMap, results: RawCheckpoint[], shardFiles: string[]): boolean {
  let stored = 0;
  for (const r of results) stored += r.tensors.length;
  if (stored !== index.size) return false;
  const found = new Uint8Array(index.size);
  // An index usually lists the tensors in the order the shards store them: the entry after the
  // last one found is tried first, a compare instead of a hash and a probe per tensor.
  let next = 0;
  for (let s = 0; s < results.length; s++) {
    const r = results[s];
    if (r.prefixes?.length) return false;
    const tensors = r.tensors;
    for (let k = 0; k < tensors.length; k++) {
      const t = tensors[k];
      const i = index.keyIs(next, t.name) ? next : index.find(t.name);
      if (i < 0 || found[i] !== 0 || index.shardOf[i] !== s || t.file !== shardFiles[s]) return false;
      found[i] = 1;
      next = i + 1;
    }
  }
  return true;
}

/**
 * Every name in the weight map must be in the shard it names; returns the stored tensors the map
 * leaves out. Shards saved from DataParallel have their `module.` prefix stripped by the reader.
 */
function checkWeightMap(
  raw: RawCheckpoint,
  weightMap: ReadonlyMap<string, string>,
  byName: ReadonlyMap<string, TensorRecord>,
  shardNames: ReadonlyMap<string, string>,
  file: string,
): TensorRecord[] {
  const stripped = (n: string): string | undefined => {
    for (const p of raw.prefixes ?? []) if (n.startsWith(p) && byName.has(n.slice(p.length))) return n.slice(p.length);
    return undefined;
  };
  weightMap.forEach((shard, listed) => {
    const name = byName.has(listed) ? listed : stripped(listed) ?? listed;
    const t = byName.get(name);
    const shardName = shardNames.get(shard)!;
    if (!t) {
      // A tied name may be listed in the map while only its partner is stored.
      const tie = raw.declaredTies.find((d) => d.name === name);
      if (!tie) throw new CheckpointError('bad-index', `weight_map names "${truncate(name)}" in ${shard} but that shard does not hold it`, { file, record: `weight_map["${truncate(name)}"]` });
    } else if (t.file !== shardName) {
      throw new CheckpointError('bad-index', `weight_map puts "${truncate(name)}" in ${shard} but it is stored in ${t.file}`, { file, record: `weight_map["${truncate(name)}"]` });
    }
  });
  return raw.tensors.filter((t) => !weightMap.has(t.name) && !(raw.prefixes ?? []).some((p) => weightMap.has(p + t.name)));
}

async function readShardSet(dir: string, module: FormatModule, shards: string[], access: FileAccess, opts: OpenOptions): Promise<RawCheckpoint> {
  const results = await readShards(dir, shards, access, opts, pathsOf(access).basename(dir));
  const [raw] = mergeShards(results, dir, module);
  raw.path = dir;
  raw.warnings.push({ code: 'no-index', message: `${shards.length} ${module.name} files and no index; read them as one sharded checkpoint` });
  return raw;
}

/**
 * Open shards with bounded concurrency; the results in the order of `shards`. When shards fail,
 * the error is the first failing shard's in that order, whichever failed first: shards are taken
 * in order and none is started after a failure, so every shard before a failing one was read, and
 * the same files give the same error every time.
 */
async function readShards(root: string, shards: string[], access: FileAccess, opts: OpenOptions, indexName: string): Promise<RawCheckpoint[]> {
  const results: RawCheckpoint[] = new Array(shards.length);
  let next = 0;
  let done = 0;
  let bytesRead = 0;
  let failed: { at: number; error: unknown } | undefined;
  opts.onProgress?.({ filesDone: 0, filesTotal: shards.length, bytesRead: 0 });
  const shardOpts: OpenOptions = { ...opts, sidecars: false };
  const fail = (at: number, error: unknown) => {
    if (!failed || at < failed.at) failed = { at, error };
  };
  const worker = async () => {
    while (next < shards.length && !failed) {
      const i = next++;
      const abs = pathsOf(access).join(root, shards[i]);
      try {
        results[i] = await readFile(abs, root, access, shardOpts, indexName);
      } catch (e) {
        // Whatever went wrong, a shard that is not there (or is a folder) says so: the stat is
        // made only then, not before every open.
        try {
          const st = await access.stat(abs);
          fail(i, !st || st.isDirectory ? new CheckpointError('missing-shard', `shard "${truncate(shards[i])}" named by the index does not exist`, { file: indexName }) : e);
        } catch (statError) {
          fail(i, statError);
        }
        return;
      }
      bytesRead += results[i].bytesRead;
      opts.onProgress?.({ filesDone: ++done, filesTotal: shards.length, bytesRead, file: results[i].files[0] });
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 8, shards.length));
  await Promise.all(Array.from({ length: n }, worker));
  if (failed) throw failed.error;
  return results;
}

/**
 * Merge shards into one raw checkpoint, as the first shard's format module says (its `shards`
 * rule); `named` is the module the index or the shard names point at, which decides the format of
 * a set without shards. Without `names` (every stored name, known unique), a name stored in two
 * shards is an error, and the map of names it builds to find out is returned.
 */
function mergeShards(
  results: RawCheckpoint[],
  root: string,
  named: FormatModule | undefined,
  names?: KeySource<string>,
): [RawCheckpoint, Map<string, TensorRecord>] {
  const first = results[0];
  const module = first ? moduleOf(first.format) : named ?? FORMATS[0];
  const merged: RawCheckpoint = {
    format: module?.shards?.format ?? first?.format ?? Object.keys(module!.variants)[0],
    path: root,
    files: [],
    tensors: [],
    declaredTies: [],
    metadata: {},
    warnings: [],
    bytesRead: 0,
    totalBytes: 0,
  };
  const seen = new Map<string, TensorRecord>();
  const shardMeta: Record<string, unknown> = {};
  for (const r of results) {
    merged.files.push(...r.files);
    if (names) {
      // (an index loop: for-of over 92,000 tensors allocates a result object per step until V8 optimizes it)
      for (let i = 0; i < r.tensors.length; i++) merged.tensors.push(r.tensors[i]);
    } else {
      for (const t of r.tensors) {
        const prev = seen.get(t.name);
        if (prev !== undefined) {
          throw new CheckpointError('bad-index', `tensor "${truncate(t.name)}" is stored in two shards (${prev.file} and ${t.file})`, { file: t.file, record: `tensor "${truncate(t.name)}"` });
        }
        seen.set(t.name, t);
        merged.tensors.push(t);
      }
    }
    merged.warnings.push(...r.warnings);
    merged.bytesRead += r.bytesRead;
    merged.totalBytes += r.totalBytes;
    if (r.safety) merged.safety = mergeSafety(merged.safety, r.safety);
    for (const p of r.prefixes ?? []) if (!(merged.prefixes ??= []).includes(p)) merged.prefixes.push(p);
    if (r.moduleTree) {
      merged.warnings.push({ code: 'shard-module-tree', message: `shard ${r.files[0]} holds a whole pickled module; its class tree is not merged across shards` });
    }
    if (Object.keys(r.metadata).length) shardMeta[r.files[0]] = r.metadata;
    if (r.format !== first.format) {
      merged.warnings.push({ code: 'mixed-shards', message: `shard ${r.files[0]} is ${r.format} while the first shard is ${first.format}` });
    }
  }
  if (Object.keys(shardMeta).length) merged.metadata.shards = shardMeta;
  // A shard may declare a tie to a tensor another shard stores: its module resolves it against all names.
  const all = new KeySet(names ?? seen);
  for (const r of results) {
    const ties = moduleOf(r.format)?.shards?.ties;
    merged.declaredTies.push(...(ties ? ties(r, all) : r.declaredTies));
  }
  return [merged, seen];
}

/** What KeySet needs of a collection of keys: a Map, or a scanned weight map. */
interface KeySource<K> {
  readonly size: number;
  has(k: K): boolean;
  keys(): IterableIterator<K>;
}

/** The keys of a map (or a scanned weight map) as a read-only set (no copy of 90,000 names). */
class KeySet<K> implements ReadonlySet<K> {
  constructor(private readonly map: KeySource<K>) {}
  get size(): number {
    return this.map.size;
  }
  has(k: K): boolean {
    return this.map.has(k);
  }
  forEach(fn: (value: K, key: K, set: ReadonlySet<K>) => void, thisArg?: unknown): void {
    for (const k of this.map.keys()) fn.call(thisArg, k, k, this);
  }
  keys(): SetIterator<K> {
    return this.map.keys() as SetIterator<K>;
  }
  values(): SetIterator<K> {
    return this.map.keys() as SetIterator<K>;
  }
  *entries(): SetIterator<[K, K]> {
    for (const k of this.map.keys()) yield [k, k];
  }
  [Symbol.iterator](): SetIterator<K> {
    return this.map.keys() as SetIterator<K>;
  }
}

function mergeSafety(a: RawCheckpoint['safety'], b: NonNullable<RawCheckpoint['safety']>): NonNullable<RawCheckpoint['safety']> {
  if (!a) return { verdict: b.verdict, globals: b.globals.map((g) => ({ ...g })) };
  const byName = new Map(a.globals.map((g) => [g.name, g]));
  for (const g of b.globals) {
    const have = byName.get(g.name);
    if (have) have.count += g.count;
    else {
      const copy = { ...g };
      a.globals.push(copy);
      byName.set(g.name, copy);
    }
  }
  const rank = { safe: 0, unknown: 1, dangerous: 2 } as const;
  a.verdict = rank[b.verdict] > rank[a.verdict] ? b.verdict : a.verdict;
  return a;
}

/** Read config.json beside the weights, if any. Problems with it are warnings, not errors. */
async function applySidecars(raw: RawCheckpoint, dir: string, access: FileAccess): Promise<void> {
  const cfgPath = pathsOf(access).join(dir, 'config.json');
  const st = await access.stat(cfgPath);
  if (!st || st.isDirectory) return;
  const warn = (w: Warning) => raw.warnings.push(w);
  if (st.size > MAX_CONFIG_BYTES) {
    warn({ code: 'config-too-large', message: `config.json is ${bytesExact(st.size)}; not read` });
    return;
  }
  const src = await access.open(cfgPath, 'config.json');
  try {
    const bytes = await src.read(0, src.size);
    raw.bytesRead += bytes.length;
    raw.totalBytes += bytes.length;
    const doc = parseJson(bytes, { file: 'config.json' });
    if (!isObject(doc)) {
      warn({ code: 'config-invalid', message: 'config.json is not a JSON object; ignored' });
      return;
    }
    raw.config = toPlain(doc) as Record<string, unknown>;
    raw.files.push('config.json');
    // A distributed checkpoint cannot show a tie (dcp.ts): with a config.json, its word-embedding
    // tie decides (ties.ts re-ties a head stored apart), so the reader's guess is not repeated.
    raw.warnings = raw.warnings.filter((w) => w.code !== 'dcp-possible-tie');
  } catch (e) {
    if (e instanceof CheckpointError) warn({ code: 'config-invalid', message: `config.json ignored: ${e.message}` });
    else throw e;
  } finally {
    await src.close();
  }
}

/**
 * A sentence-transformers folder in the current layout keeps its first module (the Transformer) at
 * the root, path "" in modules.json, and further modules in subfolders, some with weights of their
 * own (`2_Dense/model.safetensors` or `pytorch_model.bin`). SentenceTransformer's parameters() holds
 * them all; the weights read here are the root's alone. The modules are not merged into this count:
 * SentenceTransformer names its state_dict by module (`0.auto_model.…`, `2.linear.weight`), so
 * merging would rename every tensor of the root model and detach it from config.json. Instead,
 * when the folder is opened, a warning names the modules whose weights are left out, and how to
 * open them.
 */
async function noteSentenceTransformerModules(raw: RawCheckpoint, dir: string, access: FileAccess): Promise<void> {
  const paths = pathsOf(access);
  const file = paths.join(dir, 'modules.json');
  const st = await access.stat(file);
  if (!st || st.isDirectory || st.size > MAX_CONFIG_BYTES) return;
  let doc: Json;
  const src = await access.open(file, 'modules.json');
  try {
    const bytes = await src.read(0, src.size);
    raw.bytesRead += bytes.length;
    raw.totalBytes += bytes.length;
    doc = parseJson(bytes, { file: 'modules.json' });
  } catch (e) {
    if (e instanceof CheckpointError) {
      raw.warnings.push({ code: 'st-modules-invalid', message: `modules.json ignored: ${e.message}` });
      return;
    }
    throw e;
  } finally {
    await src.close();
  }
  if (!Array.isArray(doc)) return;
  const left: string[] = [];
  for (const entry of doc.slice(0, MAX_ST_MODULES)) {
    if (!isObject(entry)) continue;
    const sub = entry.get('path');
    // The root module ("") is what was read; a path out of the folder is not one of its modules.
    if (typeof sub !== 'string' || sub === '' || !safeSubPath(sub)) continue;
    const at = paths.join(dir, sub);
    const sst = await access.stat(at);
    if (!sst?.isDirectory) continue;
    const weights = (await access.list(at).catch(() => [] as string[])).filter(isWeightFileName).sort();
    if (!weights.length) continue;
    const type = entry.get('type');
    const kind = typeof type === 'string' ? type.slice(type.lastIndexOf('.') + 1) : 'module';
    left.push(`${truncate(sub)} (${truncate(kind)}, ${truncate(sub)}/${truncate(weights[0])})`);
  }
  if (!left.length) return;
  raw.files.push('modules.json');
  raw.warnings.push({
    code: 'st-modules-not-counted',
    message:
      `modules.json (sentence-transformers) lists ${left.length === 1 ? 'a module' : `${left.length} modules`} with weights of ${left.length === 1 ? 'its' : 'their'} own: ${left.join(', ')}. ` +
      `SentenceTransformer's parameters include ${left.length === 1 ? 'it' : 'them'}; this count is the root model's alone: open ${left.length === 1 ? 'that folder' : 'each folder'} to count ${left.length === 1 ? 'it' : 'them'}`,
  });
}

export type { ReaderContext };
