/**
 * NVIDIA NeMo's `.nemo` archives (ASR, TTS and NLP models on the Hugging Face Hub): a tar of the
 * folder NeMo's SaveRestoreConnector fills (nemo/core/connectors/save_restore_connector.py):
 *   - `model_config.yaml`, the model's config (its top-level `target:` names the model class);
 *   - `model_weights.ckpt`, torch.save(model.state_dict()) (a zip, or the legacy pickle stream);
 *   - artifacts (tokenizer models, vocabularies) copied in as `<uuid4 hex>_<name>`.
 * _make_nemo_file_from_folder packs it with `tar.add(folder, arcname=".")`, so members are named
 * `./model_weights.ckpt`; NeMo before 1.7 wrote the tar gzip-compressed ("w:gz").
 * Model-parallel models (NLPSaveRestoreConnector; nemo/utils/model_utils.py,
 * inject_model_parallel_rank) hold one state dict per rank instead: `mp_rank_{tp:02d}/` (pipeline
 * parallelism 1; FSDP adds `_fsdp_shard_{dp:05d}`) or `tp_rank_{tp:02d}_pp_rank_{pp:03d}/`, each
 * with its model_weights.ckpt. Megatron-Core distributed checkpointing writes a folder
 * `model_weights/` (a metadata.json naming the backend, torch_dist or zarr, and its shards).
 *
 * The weights file is read in place, through a source over its bytes in the tar (nothing is
 * extracted or copied), by the PyTorch reader: counts, ties, roles and the safety report are
 * those of the same file opened on its own; data offsets are moved to the .nemo's own.
 */
import { ByteSource, SliceByteSource } from '../../bytes';
import { CheckpointError } from '../../errors';
import { isObject, parseJson, truncate } from '../../json';
import { RawCheckpoint, Warning } from '../../model';
import { firstHeaderName, TarDirectory, TarMember } from './tar';

const WEIGHTS = 'model_weights.ckpt';
const CONFIG = 'model_config.yaml';
/** The distributed checkpoint's folder: ckpt_to_dir(model_weights.ckpt). */
const DIST_DIR = 'model_weights/';
/** A rank's weights: `mp_rank_00[_fsdp_shard_00000]/` or `tp_rank_00_pp_rank_000/`. */
const RANK_WEIGHTS = /^(?:mp_rank_(\d+)(?:_fsdp_shard_(\d+))?|tp_rank_(\d+)_pp_rank_(\d+))\/model_weights\.ckpt$/;
/** model_config.yaml up to this size is shown whole (a model's config is a few tens of kilobytes). */
export const MAX_CONFIG_TEXT = 256 * 1024;
/** megatron.core's metadata.json holds four keys. */
const MAX_DIST_METADATA = 64 * 1024;
/** Files of a distributed checkpoint walked before the walk stops (zarr writes thousands). */
const DIST_FILES_SEEN = 64;
/** Archive paths listed in the metadata. */
const MAX_LISTED = 64;
/** Regular files, as tar.ts reads the type flag. */
const REGULAR = new Set(['0', '\0', '7']);

/**
 * A member's path inside the model folder: tarfile's `./` (arcname ".") removed, and a directory's
 * trailing slash. Undefined for what NeMo's _safe_extract skips (absolute paths, `..`).
 */
export function nemoPath(name: string): string | undefined {
  let p = name;
  while (p.startsWith('./')) p = p.slice(2);
  if (p === '.') p = '';
  if (p.startsWith('/') || p.split('/').includes('..')) return undefined;
  return p;
}

/** A folder's path (ends with `/`) or a file's. */
function memberPath(m: TarMember): string | undefined {
  const p = nemoPath(m.name);
  if (p === undefined || p === '') return p;
  return m.type === '5' && !p.endsWith('/') ? `${p}/` : p;
}

/**
 * The first header of a tar packed from a folder (`./`, `./<name>`, as NeMo packs one), or named
 * as a .nemo's members are. (With a pax header first, as Python 3.8+ writes, the first name is
 * tarfile's `././@PaxHeader`, which the torch tar sniff already takes.)
 */
export function looksLikeNemoTar(head: Uint8Array): boolean {
  const name = firstHeaderName(head);
  if (name === undefined) return false;
  if (name.startsWith('./')) return true;
  return name === CONFIG || name === WEIGHTS || name === DIST_DIR || RANK_WEIGHTS.test(name) || /^(mp_rank_\d+|tp_rank_\d+_pp_rank_\d+)\/$/.test(name);
}

/** Whether a tar's members are a NeMo model's: its config, its weights, a rank's, or a distributed checkpoint. */
export function isNemoArchive(dir: TarDirectory): boolean {
  return dir.members.some((m) => {
    const p = memberPath(m);
    return p !== undefined && (p === CONFIG || p === WEIGHTS || RANK_WEIGHTS.test(p) || p.startsWith(DIST_DIR));
  });
}

/**
 * For readTarDirectory: stop once the archive is known to hold a distributed checkpoint and no
 * model_weights.ckpt (its metadata.json seen, or enough of its files): zarr writes a folder per
 * tensor and a file per chunk, thousands of headers to read one by one for nothing. (tarfile adds
 * a folder's files sorted: model_weights.ckpt would come before model_weights/, metadata.json
 * before zarr's tensor folders.)
 */
export function nemoWalkStop(): (members: readonly TarMember[]) => boolean {
  let weights = false;
  let dist = 0;
  return (members) => {
    const p = memberPath(members[members.length - 1]);
    if (p === undefined) return false;
    if (p === WEIGHTS || RANK_WEIGHTS.test(p)) weights = true;
    else if (p.startsWith(DIST_DIR) && p !== DIST_DIR) dist++;
    return !weights && (p === `${DIST_DIR}metadata.json` || dist >= DIST_FILES_SEEN);
  };
}

interface Rank {
  member: TarMember;
  path: string;
  tp: number;
  pp: number;
  /** FSDP shard (data-parallel rank), -1 without FSDP. */
  shard: number;
}

/** The weights to read, and what the archive holds beside them. */
interface Picked {
  member: TarMember;
  path: string;
  warnings: Warning[];
  ranks?: { count: number; tensorParallel: number; pipelineParallel: number; fsdpShards?: number };
}

async function pickWeights(members: TarMember[], byPath: Map<string, TarMember>, file: string, dir: TarDirectory, src: ByteSource): Promise<Picked> {
  const warnings: Warning[] = [];
  const seen = new Set<string>();
  for (const m of members) {
    const p = memberPath(m);
    if (p === undefined) continue;
    if (seen.has(p) && (p === WEIGHTS || RANK_WEIGHTS.test(p))) {
      warnings.push({ code: 'duplicate-member', message: `tar member "${truncate(m.name)}" appears more than once; extracting the archive keeps the last (at byte ${m.offset}), which is read` });
    }
    seen.add(p);
  }
  const single = byPath.get(WEIGHTS);
  if (single) return { member: single, path: single.name, warnings };
  const ranks: Rank[] = [];
  for (const [p, m] of byPath) {
    const r = RANK_WEIGHTS.exec(p);
    if (!r) continue;
    ranks.push({ member: m, path: p, tp: Number(r[1] ?? r[3]), pp: Number(r[4] ?? 0), shard: r[2] === undefined ? -1 : Number(r[2]) });
  }
  if (ranks.length) {
    ranks.sort((a, b) => a.pp - b.pp || a.tp - b.tp || a.shard - b.shard);
    const first = ranks[0];
    const tp = new Set(ranks.map((r) => r.tp)).size;
    const pp = new Set(ranks.map((r) => r.pp)).size;
    const shards = new Set(ranks.map((r) => r.shard)).size;
    if (ranks.length > 1) {
      const stage = pp > 1 ? `only pipeline stage ${first.pp}'s layers` : '';
      const split = tp > 1 ? `a 1/${tp} share of each tensor-parallel layer's weights` : '';
      const fsdp = first.shard >= 0 && shards > 1 ? `FSDP shard ${first.shard} of ${shards}` : '';
      const holds = [stage, split, fsdp].filter(Boolean).join(', ');
      const others = ranks.length - 1;
      warnings.push({
        code: 'model-parallel-ranks',
        message:
          `NeMo archive holds the weights of ${ranks.length} model-parallel ranks (tensor parallel ${tp}${pp > 1 ? `, pipeline parallel ${pp}` : ''}${shards > 1 ? `, ${shards} FSDP shards` : ''}); ` +
          `read ${first.member.name}, the first rank's${holds ? `: it holds ${holds}` : ''}. The counts are that rank's, not the whole model's; not read: ${others === 1 ? 'the other rank' : `the ${others} other ranks`}`,
      });
    }
    return { member: first.member, path: first.member.name, warnings, ranks: { count: ranks.length, tensorParallel: tp, pipelineParallel: pp, ...(shards > 1 ? { fsdpShards: shards } : {}) } };
  }
  const dist = members.filter((m) => memberPath(m)?.startsWith(DIST_DIR));
  if (dist.length) await distributedError(src, file, dir, dist, byPath);
  const names = members.map((m) => truncate(m.name, 40)).filter((n) => n !== './');
  throw new CheckpointError('unknown-format', `NeMo archive has no ${WEIGHTS} (nor one per model-parallel rank, nor a distributed model_weights/ folder), so it holds no weights (members: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''})`, { file });
}

/** Megatron-Core distributed weights: not torch.save files, not read. The error says which backend wrote them. */
async function distributedError(src: ByteSource, file: string, dir: TarDirectory, dist: TarMember[], byPath: Map<string, TarMember>): Promise<never> {
  const files = dist.filter((m) => REGULAR.has(m.type));
  let backend: string | undefined;
  const meta = byPath.get(`${DIST_DIR}metadata.json`);
  if (meta && REGULAR.has(meta.type) && meta.size <= MAX_DIST_METADATA) {
    try {
      const doc = parseJson(await src.read(meta.offset, meta.size), { file, base: meta.offset });
      const b = isObject(doc) ? doc.get('sharded_backend') : undefined;
      if (typeof b === 'string') backend = truncate(b, 40);
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
    }
  }
  backend ??= files.some((m) => m.name.endsWith('.distcp')) ? 'torch_dist' : files.some((m) => m.name.endsWith('/.zarray')) ? 'zarr' : undefined;
  const count = `${dir.stopped ? 'at least ' : ''}${files.length} file${files.length === 1 ? '' : 's'}`;
  throw new CheckpointError(
    'unsupported',
    `NeMo archive keeps its weights as a Megatron-Core distributed checkpoint (${DIST_DIR}, ${count}${backend ? `, ${backend} backend` : ''}) and has no ${WEIGHTS}: Weightscope does not read distributed checkpoints`,
    { file, offset: dist[0].headerOffset, record: `tar member "${truncate(dist[0].name)}"` },
  );
}

/** model_config.yaml's text, and the model class its top-level `target:` names (no YAML parser: one line). */
async function readConfig(src: ByteSource, m: TarMember | undefined, warnings: Warning[]): Promise<{ text?: string; target?: string }> {
  if (!m || !REGULAR.has(m.type)) return {};
  if (m.size > MAX_CONFIG_TEXT) {
    warnings.push({ code: 'nemo-config', message: `${m.name} is ${m.size} bytes; not shown (at most ${MAX_CONFIG_TEXT} are read)` });
    return {};
  }
  const text = new TextDecoder('utf-8').decode(await src.read(m.offset, m.size));
  // ModelPT records its class as `target: nemo.collections.….ClassName` at the top level (nested
  // modules name theirs `_target_:`, indented).
  const line = /^target:[ \t]*(['"]?)([A-Za-z_][\w.]{0,300})\1[ \t]*\r?$/m.exec(text);
  return { text, ...(line ? { target: line[2] } : {}) };
}

/**
 * An error from reading the weights member: its offset moved to the .nemo file's, and the member
 * named (offsets inside the message itself count from the member's start).
 */
function inMember(e: unknown, m: TarMember): unknown {
  if (!(e instanceof CheckpointError)) return e;
  const where = `tar member "${truncate(m.name)}" at byte ${m.offset} (offsets in the message count from there)`;
  return new CheckpointError(e.code, e.detail, { file: e.file, offset: e.offset === undefined ? undefined : m.offset + e.offset, record: e.record ? `${where}: ${e.record}` : where });
}

/**
 * A .nemo archive whose member list `dir` is read: its weights (rank 0's when there are several)
 * read in place by `readWeights`, its config shown as metadata. The result is the weights' own
 * checkpoint, as format `nemo`, with data offsets into the .nemo file.
 */
export async function readNemoArchive(src: ByteSource, file: string, dir: TarDirectory, readWeights: (member: ByteSource) => Promise<RawCheckpoint>): Promise<RawCheckpoint> {
  // Extracting keeps the last member of a path.
  const byPath = new Map<string, TarMember>();
  for (const m of dir.members) {
    const p = memberPath(m);
    if (p) byPath.set(p, m);
  }
  const picked = await pickWeights(dir.members, byPath, file, dir, src);
  const weights = picked.member;
  if (!REGULAR.has(weights.type)) throw new CheckpointError('bad-tar', `tar member "${truncate(weights.name)}" is not a regular file (type ${JSON.stringify(weights.type)})`, { file, offset: weights.headerOffset });
  const warnings = picked.warnings;
  const config = await readConfig(src, byPath.get(CONFIG), warnings);

  let raw: RawCheckpoint;
  try {
    raw = await readWeights(new SliceByteSource(src, weights.offset, weights.size));
  } catch (e) {
    throw inMember(e, weights);
  }
  for (const t of raw.tensors) if (t.dataOffset !== null) t.dataOffset += weights.offset;
  const nemo: Record<string, unknown> = Object.create(null);
  if (config.target) nemo.target = config.target;
  nemo.weights = weights.name;
  nemo.weights_format = raw.format;
  nemo.weights_offset = weights.offset;
  nemo.weights_bytes = weights.size;
  if (picked.ranks) nemo.ranks = picked.ranks;
  const paths = [...byPath.keys()].filter((p) => !p.endsWith('/'));
  nemo.files = paths.slice(0, MAX_LISTED).concat(paths.length > MAX_LISTED ? [`… and ${paths.length - MAX_LISTED} more`] : []);
  if (config.text !== undefined) nemo.model_config = config.text;
  const metadata: Record<string, unknown> = Object.create(null);
  metadata.nemo = nemo;
  for (const [k, v] of Object.entries(raw.metadata)) metadata[k] = v;
  raw.metadata = metadata;
  raw.format = 'nemo';
  raw.warnings.push(...warnings);
  // The model class the config names (`EncDecRNNTBPEModel`), unless the weights name one themselves.
  if (config.target && !raw.architecture) raw.architecture = config.target.slice(config.target.lastIndexOf('.') + 1);
  raw.bytesRead = src.bytesRead;
  raw.totalBytes = src.size;
  return raw;
}

/** A gzip-compressed .nemo (NeMo before 1.7): its members cannot be read in place. */
export function gzipNemoError(file: string): CheckpointError {
  return new CheckpointError(
    'unsupported',
    'is a gzip-compressed .nemo archive (NeMo before 1.7 wrote them so): its members cannot be read in place without decompressing the whole file. ' +
      `Extract it (mkdir extracted && tar -xzf ${JSON.stringify(file)} -C extracted) and open extracted/${WEIGHTS}`,
    { file, offset: 0 },
  );
}
