/**
 * PyTorch checkpoints (`torch.save`): the zip format (>= 1.6), the legacy pickle stream and the
 * older tar archive (tar.ts, tarlegacy.ts); NeMo's .nemo archives, tars holding a torch.save
 * state dict read in place (nemo.ts); and
 * TorchScript archives (`torch.jit.save`), zips of the same layout whose module script.ts reads.
 * Reads the pickles with a VM that never executes anything, locates every storage's data without
 * reading it, and reports every global the pickles name with a safety verdict.
 */
import { ByteSource, withHead } from '../../bytes';
import { ReaderContext, relativeName } from '../../access';
import { CheckpointError } from '../../errors';
import { truncate } from '../../json';
import { RawCheckpoint, Warning } from '../../model';
import { CERTAIN, FormatModule, PLAUSIBLE } from '../format';
import { bytesExact } from '../../numbers';
import { looksLikeLegacy, locateLegacyStorages, readLegacyPickles, sysInfoPlain } from './legacy';
import { PickleLimits, PyValue, UnpickleResult, unpickle } from './pickle';
import { looksLikePickle, MAX_TRAILING_SCAN, readPlainPickle, scanTrailing } from './plain';
import { SafetyRecorder, SafetyTracker } from './safety';
import { gzipNemoError, isNemoArchive, looksLikeNemoTar, nemoWalkStop, readNemoArchive } from './nemo';
import { looksLikeTorchTar, readTarDirectory, TarDirectory, TarMember } from './tar';
import { readTarStorages, readTarTensors, tarPersistentLoad } from './tarlegacy';
import { interpretScript, isTorchScriptArchive, readScriptClasses, ScriptClasses } from './script';
import { DEFAULT_WALK, Interpretation, interpret } from './structure';
import { Storage, TorchSession, toRecords } from './torch';
import { looksLikeZip, memberDataOffsets, predictedDataOffsets, readMember, readMemberAt, readZipDirectory, ZipDirectory } from './zip';

/** data.pkl larger than this is refused (a pickle holds structure, not tensor data). */
export const MAX_PICKLE_BYTES = 1024 * 1024 * 1024;

/** Options for tests: tighter bounds on the pickle VM and on inflating data.pkl. */
export interface PytorchReadOptions {
  limits?: Partial<PickleLimits>;
  maxInflateBytes?: number;
  /**
   * Reading the weights member of a .nemo archive: a tar inside is read as torch.save's tar only
   * (an archive nested in its own member would otherwise be followed as deep as the file allows).
   */
  inNemo?: boolean;
}

/**
 * Nodes the structure walk may visit for a pickle of `bytes` bytes. Memo references let a tiny
 * pickle describe an exponentially large tree (a list holding the previous list twice, twenty
 * times over); a legitimate pickle spells out nearly everything it holds, so its walk is
 * proportional to its size.
 */
export function walkBudget(bytes: number): number {
  return Math.min(DEFAULT_WALK.maxNodes, 100_000 + 16 * bytes);
}

/**
 * A failure after the pickle named dangerous globals still names them: a malicious file that
 * is also broken must not look merely broken.
 */
function withDangerous(e: unknown, safety: SafetyTracker): unknown {
  if (!(e instanceof CheckpointError)) return e;
  const dangerous = safety.report().globals.filter((g) => g.verdict === 'dangerous');
  if (dangerous.length === 0) return e;
  const list = dangerous.slice(0, 5).map((g) => `${g.name} (dangerous)`).join(', ') + (dangerous.length > 5 ? `, and ${dangerous.length - 5} more` : '');
  return new CheckpointError(e.code, `${e.detail}; before failing it references ${list}: loading it with torch.load would run code (nothing was executed here)`, {
    file: e.file,
    offset: e.offset,
    record: e.record,
  });
}

/** Files up to this size are read whole in one read. */
const SMALL_FILE = 64 * 1024;

/** What match() recognised: the layout, so read() does not sniff again. */
interface Sniffed {
  kind: 'zip' | 'legacy' | 'tar' | 'pickle';
}

/** The first member of a zip written by torch.save: `<archive>/data.pkl`, `.data/version`, `byteorder`... */
const TORCH_FIRST_MEMBER = /(^|\/)(data\.pkl|\.data\/version|version|byteorder|\.format_version|\.storage_alignment)$/;

/** Whether a zip's first local header names a record torch.save writes (as far as `head` holds the name). */
function torchFirstMember(head: Uint8Array): boolean {
  if (head.length < 30 || head[2] !== 3 || head[3] !== 4) return false;
  const nameLen = head[26] | (head[27] << 8);
  const name = String.fromCharCode(...head.subarray(30, Math.min(head.length, 30 + nameLen)));
  return TORCH_FIRST_MEMBER.test(name) || /\/data\//.test(name);
}

export const pytorchReader: FormatModule<Sniffed> = {
  id: 'pytorch',
  name: 'PyTorch zip or legacy pickle',
  variants: { 'pytorch-zip': 'PyTorch (zip)', 'pytorch-legacy': 'PyTorch (legacy pickle)', 'pytorch-tar': 'PyTorch (legacy tar)', pickle: 'plain pickle', nemo: 'NeMo (.nemo)' },
  extensions: ['.bin', '.pt', '.pth', '.ckpt', '.nemo', '.pkl', '.pickle', '.tar'],
  // `*.bin` and pickles may be anything: Weightscope is offered for them, not the default.
  editor: { default: ['*.pt', '*.pth', '*.ckpt', '*.nemo', '*.bin.index.json'], option: ['*.bin', '*.pkl', '*.pickle', '*.tar', '*.pth.tar'] },
  // A zip's first local header and member name; the legacy magic number's pickle.
  sniffBytes: 64,
  match(head, size) {
    // Any zip may be a torch.save archive (the reader says what it is); one whose first member is torch's is one.
    if (looksLikeZip(head)) return { confidence: torchFirstMember(head) ? CERTAIN : PLAUSIBLE, variant: 'pytorch-zip', state: { kind: 'zip' } };
    if (looksLikeLegacy(head)) return { confidence: CERTAIN, variant: 'pytorch-legacy', state: { kind: 'legacy' } };
    // The first header's name only (a tar's checksum and magic lie past the sniffed bytes). A
    // .nemo written by Python 3.8+ starts with a pax header too: its members tell it apart.
    if (looksLikeTorchTar(head)) return { confidence: PLAUSIBLE, variant: 'pytorch-tar', state: { kind: 'tar' } };
    if (looksLikeNemoTar(head)) return { confidence: PLAUSIBLE, variant: 'nemo', state: { kind: 'tar' } };
    // Any other pickle: torch.load would run it, so it is read for its safety report.
    if (looksLikePickle(head, size)) return { confidence: PLAUSIBLE, variant: 'pickle', state: { kind: 'pickle' } };
    return null;
  },
  read(src, ctx, match) {
    return readPytorch(src, ctx, {}, match?.state);
  },
  folder: {
    prefer: ['pytorch_model.bin.index.json', 'pytorch_model.bin', /\.bin\.index\.json$/, 'adapter_model.bin', /\.(pt|pth|ckpt|bin|nemo)$/i],
    choose: chooseDeepSpeed,
  },
};

/** DeepSpeed's model states (`mp_rank_00_model_states.pt`; ZeRO-3: `zero_pp_rank_0_mp_rank_00_model_states.pt`). */
const DS_MODEL_STATES = /^(?:zero_pp_rank_(\d+)_)?mp_rank_(\d+)_model_states\.pt$/;
/** DeepSpeed's optimizer partitions (`zero_pp_rank_0_mp_rank_00_optim_states.pt`, `bf16_…`). */
const DS_OPTIM_STATES = /^(?:bf16_)?zero_pp_rank_\d+_mp_rank_\d+_optim_states\.pt$/;

/**
 * A DeepSpeed checkpoint folder (a `global_step*` folder of engine.save_checkpoint): the model's states and
 * the optimizer's partitions. The model is in the model-states file (module, param_shapes); ZeRO-3
 * writes one per data-parallel rank, each with the same shapes, so the lowest rank's is read. With
 * several model-parallel ranks each holds a slice of the model, and with pipeline parallelism
 * (`layer_*-model_states.pt`) the layers are elsewhere: no single file is the model, so the user
 * chooses. Anything else beside them is not this layout.
 */
function chooseDeepSpeed(names: string[]): { file: string; note: string } | undefined {
  const states: { name: string; dp: number; mp: number }[] = [];
  let optim = 0;
  for (const n of names) {
    const m = DS_MODEL_STATES.exec(n);
    if (m) states.push({ name: n, dp: m[1] === undefined ? -1 : Number(m[1]), mp: Number(m[2]) });
    else if (DS_OPTIM_STATES.test(n)) optim++;
    else return undefined;
  }
  if (!states.length || new Set(states.map((s) => s.mp)).size > 1) return undefined;
  states.sort((a, b) => a.dp - b.dp);
  const chosen = states[0].name;
  const others = states.length - 1;
  const left = [
    optim ? `${optim} optimizer state file${optim === 1 ? '' : 's'} (*_optim_states.pt)` : '',
    others ? `the model states of ${others} other data-parallel rank${others === 1 ? '' : 's'} (the same shapes)` : '',
  ].filter(Boolean);
  return { file: chosen, note: `DeepSpeed checkpoint folder: read ${chosen}, the model's states${left.length ? `; not read: ${left.join(', ')}` : ''}` };
}

export async function readPytorch(source: ByteSource, ctx: ReaderContext, opts: PytorchReadOptions = {}, sniffed?: Sniffed): Promise<RawCheckpoint> {
  const file = relativeName(ctx, ctx.path);
  // Small files are read once, whole; large ones by ranges. Either way the first bytes are read once.
  const whole = source.size <= SMALL_FILE ? withHead(source, await source.read(0, source.size)) : source;
  const head = await whole.read(0, Math.min(64, whole.size));
  const src = withHead(whole, head);
  let kind = sniffed?.kind ?? (looksLikeZip(head) ? 'zip' : looksLikeLegacy(head) ? 'legacy' : looksLikeTorchTar(head) || looksLikeNemoTar(head) ? 'tar' : undefined);
  if (kind === undefined && !opts.inNemo && ctx.path.toLowerCase().endsWith('.nemo')) {
    // NeMo before 1.7 wrote .nemo archives gzip-compressed; any other .nemo is a tar, which the
    // tar reader explains if it is not one.
    if (head[0] === 0x1f && head[1] === 0x8b) throw gzipNemoError(file);
    kind = 'tar';
  }
  if (kind === 'zip') return readZipCheckpoint(src, ctx, file, opts);
  if (kind === 'legacy') return readLegacyCheckpoint(src, ctx, file, opts);
  if (kind === 'tar') return readTarArchive(src, ctx, file, opts);
  // Any other file that starts with a pickle is one torch.load would run: report what it does.
  const plain = await readPlainPickle(src, ctx, file, { limits: opts.limits });
  if (plain) return plain;
  // Not recognisable: let the zip reader explain (most .pt/.bin files are zips).
  return readZipCheckpoint(src, ctx, file, opts);
}

async function readZipCheckpoint(archive: ByteSource, ctx: ReaderContext, file: string, opts: PytorchReadOptions): Promise<RawCheckpoint> {
  let dir: ZipDirectory;
  try {
    dir = await readZipDirectory(archive, file);
  } catch (e) {
    if (e instanceof CheckpointError && e.code === 'bad-zip' && !looksLikeZip(await archive.read(0, Math.min(4, archive.size)))) {
      const first = Array.from(await archive.read(0, Math.min(8, archive.size)), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new CheckpointError('unknown-format', `not a checkpoint this tool reads: neither a PyTorch zip archive nor a legacy torch.save pickle, nor safetensors, GGUF or ONNX (first bytes ${first})`, { file, offset: 0 });
    }
    throw e;
  }
  // Members are read through the directory's source, which holds the archive's tail already.
  const src = dir.source;
  const names = dir.order.map((e) => e.name);
  const candidates = dir.order.filter((e) => /^([^/]+\/)?data\.pkl$/.test(e.name));
  if (candidates.length === 0) {
    throw new CheckpointError(
      'unknown-format',
      `zip archive has no data.pkl, so it is not a torch.save checkpoint (members: ${names.slice(0, 5).map((n) => truncate(n, 40)).join(', ')}${names.length > 5 ? ', …' : ''})`,
      { file },
    );
  }
  const warnings: Warning[] = [];
  const pklEntry = candidates.find((e) => e.name.includes('/')) ?? candidates[0];
  if (candidates.length > 1) warnings.push({ code: 'several-archives', message: `zip holds ${candidates.length} data.pkl records; read ${pklEntry.name}` });
  const prefix = pklEntry.name.slice(0, -'data.pkl'.length);

  const small = async (name: string): Promise<string | undefined> => {
    const e = dir.entries.get(prefix + name);
    if (!e || e.size > 4096) return undefined;
    return new TextDecoder('latin1').decode(await readMember(src, e, file, 4096)).trim();
  };
  // torch.jit.save writes `.data/version` where torch.save writes `version`.
  const version = (await small('version')) ?? (await small('.data/version'));
  const byteorder = (await small('byteorder')) ?? 'little';
  const formatVersion = await small('.format_version');
  const alignment = await small('.storage_alignment');

  const { data: pkl, start } = await readMemberAt(src, pklEntry, file, MAX_PICKLE_BYTES, opts.maxInflateBytes);
  const pklStart = pklEntry.method === 0 ? start : 0;
  const session = new TorchSession(file);
  const safety = new SafetyTracker();
  const { hooks, globals } = session.hooks('zip');
  let result: UnpickleResult;
  try {
    result = unpickle(pkl, { file, base: pklStart, hooks, limits: opts.limits });
  } catch (e) {
    // Globals named before the failure are still reported.
    safety.merge(globals);
    throw withDangerous(e, safety);
  }
  safety.merge(globals);
  // Bytes after data.pkl's STOP: a hidden pickle torch.load ignores and other loaders may not.
  scanTrailing(pkl, result.end, safety, warnings, { file, member: pklEntry.name, base: pklStart, limits: opts.limits, label: 'a second pickle after the first', junk: true });
  try {
    const records = { version, byteorder, formatVersion, alignment };
    const script = isTorchScriptArchive(names, prefix) ? await readScriptParts(src, dir, prefix, file, globals, safety, opts) : undefined;
    return await finishZip({ src, ctx, file, dir, prefix, pklBytes: pkl.length, result, session, safety, warnings, records, script });
  } catch (e) {
    throw withDangerous(e, safety);
  }
}

/** What a TorchScript archive holds beside data.pkl. */
interface ScriptParts {
  /** constants.pkl's value (a tuple of tensors and other constants), if the archive has one. */
  constants?: PyValue;
  /** The session of constants.pkl's storages (records in `constants/`). */
  session: TorchSession;
  classes: ScriptClasses;
}

/**
 * constants.pkl (unpickled like data.pkl, its globals judged the same way) and the declarations
 * of the classes data.pkl names (from `code/`; nothing of the code is run).
 */
async function readScriptParts(src: ByteSource, dir: ZipDirectory, prefix: string, file: string, data: SafetyRecorder, safety: SafetyTracker, opts: PytorchReadOptions): Promise<ScriptParts> {
  const session = new TorchSession(file, 'constants');
  let constants: PyValue | undefined;
  const entry = dir.entries.get(`${prefix}constants.pkl`);
  if (entry) {
    const { data: pkl, start } = await readMemberAt(src, entry, file, MAX_PICKLE_BYTES, opts.maxInflateBytes);
    const { hooks, globals } = session.hooks('zip');
    try {
      constants = unpickle(pkl, { file, base: entry.method === 0 ? start : 0, hooks, limits: opts.limits }).value;
    } finally {
      safety.merge(globals);
    }
  }
  const { classes } = await readScriptClasses(src, dir, prefix, file, [...data.seen.values()].map((g) => g.module));
  return { constants, session, classes };
}

/** A zip checkpoint once its data.pkl is unpickled: what is left to do needs all of it. */
interface UnpickledZip {
  src: ByteSource;
  ctx: ReaderContext;
  file: string;
  dir: ZipDirectory;
  /** Record name prefix, e.g. `archive/`. */
  prefix: string;
  /** Size of data.pkl (bounds the structure walk). */
  pklBytes: number;
  result: UnpickleResult;
  session: TorchSession;
  safety: SafetyTracker;
  warnings: Warning[];
  /** The small records beside data.pkl. */
  records: { version?: string; byteorder: string; formatVersion?: string; alignment?: string };
  /** Set for a TorchScript archive (torch.jit.save). */
  script?: ScriptParts;
}

async function finishZip(z: UnpickledZip): Promise<RawCheckpoint> {
  const { src, file, dir, prefix, session, warnings } = z;
  const { version, byteorder, formatVersion, alignment } = z.records;

  // Each storage's record, located from its local header; its data is never read.
  // A TorchScript archive's constants.pkl names storages of its own, in `constants/`.
  const sessions = z.script ? [session, z.script.session] : [session];
  const storages = sessions.flatMap((x) => [...x.storages.values()]);
  const entries = sessions.flatMap((x) =>
    [...x.storages.values()].map((s) => {
      const e = dir.entries.get(`${prefix}${x.dir}/${s.key}`);
      if (!e) throw new CheckpointError('bad-zip', `storage "${truncate(s.key)}" has no record ${prefix}${x.dir}/${truncate(s.key)}`, { file });
      return e;
    }),
  );
  // torch aligns storage data (64 bytes, or what .storage_alignment says): where the central
  // directory and that rule agree, no local header is read (a request each, over the network).
  const align = alignment !== undefined && /^\s*\d+\s*$/.test(alignment) ? Number(alignment) : 64;
  const offsets = await memberDataOffsets(src, entries, file, predictedDataOffsets(dir, entries, align));
  let compressed = 0;
  storages.forEach((s, i) => {
    const e = entries[i];
    s.recordBytes = e.size;
    s.dataOffset = e.method === 0 ? offsets[i] : null;
    if (e.method !== 0) compressed++;
    checkStorageSize(s, file, `record ${e.name} holds ${e.size} bytes`);
  });
  if (compressed) warnings.push({ code: 'compressed-storage', message: `${compressed} storage record(s) are compressed; their data offsets are not byte offsets into the file` });
  if (byteorder !== 'little') warnings.push({ code: 'big-endian', message: `storages are stored ${byteorder}-endian` });

  const limits = { maxNodes: walkBudget(z.pklBytes) };
  const interp = z.script ? interpretScript(z.result.value, z.script.constants, z.script.classes, file, limits) : interpret(z.result.value, file, limits);
  const archive: Record<string, unknown> = Object.create(null);
  archive.prefix = prefix.replace(/\/$/, '');
  if (z.script) archive.torchscript = true;
  if (version !== undefined) archive.version = version;
  archive.byteorder = byteorder;
  if (formatVersion !== undefined) archive.format_version = formatVersion;
  if (alignment !== undefined) archive.storage_alignment = alignment;
  archive.pickle_protocol = z.result.protocol;
  archive.storages = storages.length;
  if (dir.zip64) archive.zip64 = true;
  if (dir.prefixBytes) archive.prefix_bytes = dir.prefixBytes;
  return finish({ src, ctx: z.ctx, file, format: 'pytorch-zip', interp, safety: z.safety, warnings, archive });
}

async function readLegacyCheckpoint(src: ByteSource, ctx: ReaderContext, file: string, opts: PytorchReadOptions): Promise<RawCheckpoint> {
  const session = new TorchSession(file);
  const safety = new SafetyTracker();
  try {
    return await readLegacyBody(src, ctx, file, opts, session, safety);
  } catch (e) {
    throw withDangerous(e, safety);
  }
}

async function readLegacyBody(fileSource: ByteSource, ctx: ReaderContext, file: string, opts: PytorchReadOptions, session: TorchSession, safety: SafetyTracker): Promise<RawCheckpoint> {
  const header = await readLegacyPickles(fileSource, file, session, (g) => safety.merge(g), opts.limits);
  // The storage counts (and a trailing pickle) are read through the source that keeps the pickles' bytes.
  const src = header.source;
  const storages = await locateLegacyStorages(src, file, session, header.keys, header.storagesStart);
  for (const s of storages) checkStorageSize(s, file, `the file holds ${s.recordBytes} bytes for it`);
  const warnings: Warning[] = [];
  const sys = sysInfoPlain(header.sysInfo);
  if (sys && sys.little_endian === false) warnings.push({ code: 'big-endian', message: 'storages are stored big-endian (sys_info little_endian is False)' });
  const interp = interpret(header.main, file, { maxNodes: walkBudget(header.mainBytes) });
  const archive: Record<string, unknown> = Object.create(null);
  archive.legacy = true;
  archive.pickle_protocol = header.protocol;
  archive.storages = storages.length;
  if (sys) archive.sys_info = sys;
  const end = storages.length ? storages[storages.length - 1].dataOffset! + storages[storages.length - 1].recordBytes! : header.storagesStart;
  if (end < src.size) {
    // A pickle hidden after the last storage is reported for what it would do; other bytes are just counted.
    const tail = await src.read(end, Math.min(src.size - end, MAX_TRAILING_SCAN));
    if (!scanTrailing(tail, 0, safety, warnings, { file, base: end, limits: opts.limits, label: 'a pickle after the last storage', junk: false })) {
      warnings.push({ code: 'trailing-bytes', message: `${bytesExact(src.size - end)} follow the last storage` });
    }
  }
  return finish({ src, ctx, file, format: 'pytorch-legacy', interp, safety, warnings, archive });
}

/** The members torch.save wrote into a tar checkpoint. */
const TAR_MEMBERS = ['sys_info', 'pickle', 'tensors', 'storages'];
/** sys_info is a small dict torch.load never reads: a larger one is left unread. */
const MAX_SYS_INFO = 64 * 1024;

/** A tar: torch.save's oldest layout, or a .nemo archive holding a torch.save file, told apart by their members. */
async function readTarArchive(src: ByteSource, ctx: ReaderContext, file: string, opts: PytorchReadOptions): Promise<RawCheckpoint> {
  if (opts.inNemo) return readTarCheckpoint(src, ctx, file, opts, await readTarDirectory(src, file));
  const dir = await readTarDirectory(src, file, nemoWalkStop());
  if (isNemoArchive(dir)) return readNemoArchive(src, file, dir, (member) => readPytorch(member, ctx, { ...opts, inNemo: true }));
  return readTarCheckpoint(src, ctx, file, opts, dir);
}

async function readTarCheckpoint(src: ByteSource, ctx: ReaderContext, file: string, opts: PytorchReadOptions, dir: TarDirectory): Promise<RawCheckpoint> {
  const session = new TorchSession(file);
  const safety = new SafetyTracker();
  try {
    return await readTarBody(src, ctx, file, opts, session, safety, dir);
  } catch (e) {
    throw withDangerous(e, safety);
  }
}

/** A member holding structure (pickles, tensor metadata), read whole. */
async function readTarMember(src: ByteSource, m: TarMember, file: string): Promise<Uint8Array> {
  if (m.size > MAX_PICKLE_BYTES) throw new CheckpointError('limit', `tar member "${m.name}" of ${m.size} bytes is larger than ${MAX_PICKLE_BYTES} (it holds structure, not tensor data)`, { file, offset: m.offset });
  return src.read(m.offset, m.size);
}

/**
 * In torch.load's order: the storages (headers and counts read, data skipped), the tensors on
 * them, then the pickle whose persistent ids name those tensors and storages.
 */
async function readTarBody(src: ByteSource, ctx: ReaderContext, file: string, opts: PytorchReadOptions, session: TorchSession, safety: SafetyTracker, dir: TarDirectory): Promise<RawCheckpoint> {
  const warnings: Warning[] = [];
  // tarfile looks a member up by name and finds the last of that name.
  const byName = new Map<string, TarMember>();
  for (const m of dir.members) {
    if (byName.has(m.name) && TAR_MEMBERS.includes(m.name)) {
      warnings.push({ code: 'duplicate-member', message: `tar member "${m.name}" appears more than once; torch.load reads the last (at byte ${m.offset}), and so does this reader` });
    }
    byName.set(m.name, m);
  }
  const member = (name: string): TarMember => {
    const m = byName.get(name);
    if (!m) {
      const names = dir.members.map((x) => truncate(x.name, 40));
      throw new CheckpointError('unknown-format', `tar archive has no member "${name}", so it is not a torch.save checkpoint${opts.inNemo ? '' : ', nor a .nemo archive (no model_config.yaml or model_weights.ckpt)'} (members: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''})`, { file });
    }
    if (!['0', '\0', '7'].includes(m.type)) throw new CheckpointError('bad-tar', `tar member "${name}" is not a regular file (type ${JSON.stringify(m.type)})`, { file, offset: m.headerOffset });
    return m;
  };
  const storagesMember = member('storages');
  const tensorsMember = member('tensors');
  const pickleMember = member('pickle');
  const others = [...byName.keys()].filter((n) => !TAR_MEMBERS.includes(n));
  if (others.length) warnings.push({ code: 'unknown-member', message: `tar archive holds members torch.load ignores: ${others.slice(0, 5).map((n) => `"${truncate(n, 40)}"`).join(', ')}${others.length > 5 ? ', …' : ''}` });

  const onGlobals = (g: SafetyRecorder) => safety.merge(g);
  const stored = await readTarStorages(src, file, storagesMember, session, onGlobals, opts.limits);
  for (const s of stored.storages) checkStorageSize(s, file, `the file holds ${s.recordBytes} bytes for it`);
  if (stored.trailing > 0) warnings.push({ code: 'trailing-bytes', message: `${bytesExact(stored.trailing)} follow the storage views in tar member "storages"` });
  const tensorsData = await readTarMember(src, tensorsMember, file);
  const tensors = readTarTensors(tensorsData, tensorsMember.offset, file, stored.objects, session, onGlobals, opts.limits);

  const pkl = await readTarMember(src, pickleMember, file);
  const { hooks, globals } = session.hooks('none');
  hooks.persistentLoad = tarPersistentLoad(tensors, stored.objects);
  let result: UnpickleResult;
  try {
    result = unpickle(pkl, { file, base: pickleMember.offset, hooks, limits: opts.limits });
  } finally {
    // Globals named before a failure are reported too.
    safety.merge(globals);
  }
  scanTrailing(pkl, result.end, safety, warnings, { file, member: 'pickle', base: pickleMember.offset, limits: opts.limits, label: 'a second pickle after the first', junk: true });

  // sys_info only informs: torch.load never reads it, so a broken one is a warning.
  let sys: Record<string, unknown> | undefined;
  const sysMember = byName.get('sys_info');
  if (sysMember && sysMember.size <= MAX_SYS_INFO) {
    const { hooks: sysHooks, globals: sysGlobals } = session.hooks('none');
    try {
      sys = sysInfoPlain(unpickle(await src.read(sysMember.offset, sysMember.size), { file, base: sysMember.offset, hooks: sysHooks, limits: opts.limits }).value);
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      warnings.push({ code: 'sys-info', message: `tar member "sys_info" is unreadable (${e.message}); torch.load does not read it` });
    } finally {
      safety.merge(sysGlobals);
    }
  }
  if (sys && sys.little_endian === false) warnings.push({ code: 'big-endian', message: 'storages are stored big-endian (sys_info little_endian is False)' });

  const interp = interpret(result.value, file, { maxNodes: walkBudget(pkl.length) });
  const archive: Record<string, unknown> = Object.create(null);
  archive.tar = true;
  archive.pickle_protocol = result.protocol;
  archive.storages = stored.storages.length;
  if (sys) archive.sys_info = sys;
  return finish({ src, ctx, file, format: 'pytorch-tar', interp, safety, warnings, archive });
}

function checkStorageSize(s: Storage, file: string, holds: string): void {
  if (s.recordBytes === null || s.recordBytes >= s.nbytes) return;
  const what = s.type.dtype ? `${s.numel} ${s.type.dtype} elements (${s.nbytes} bytes)` : `${s.numel} bytes`;
  throw new CheckpointError('bad-offsets', `declares ${what} but ${holds}`, { file, offset: s.dataOffset ?? undefined, record: `storage "${truncate(s.key)}"` });
}

/** Everything a read gathered, for the RawCheckpoint. */
interface Finished {
  src: ByteSource;
  ctx: ReaderContext;
  file: string;
  format: 'pytorch-zip' | 'pytorch-legacy' | 'pytorch-tar';
  interp: Interpretation;
  safety: SafetyTracker;
  warnings: Warning[];
  /** `metadata.pytorch`: what the archive says about itself. */
  archive: Record<string, unknown>;
}

function finish({ src, ctx, file, format, interp, safety, warnings, archive }: Finished): RawCheckpoint {
  const meta: Record<string, unknown> = Object.create(null);
  const tensors = toRecords(interp.tensors, file);
  archive.layout = interp.layout;
  meta.pytorch = archive;
  if (interp.checkpoint) meta.checkpoint = interp.checkpoint;
  const raw: RawCheckpoint = {
    format,
    path: ctx.path,
    files: [file],
    tensors,
    declaredTies: [],
    metadata: meta,
    warnings: [...safety.warnings(), ...warnings, ...interp.warnings],
    safety: safety.report(),
    bytesRead: src.bytesRead,
    totalBytes: src.size,
  };
  if (interp.moduleTree) raw.moduleTree = interp.moduleTree;
  if (interp.prefixes.length) raw.prefixes = interp.prefixes;
  return raw;
}
