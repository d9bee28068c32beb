/**
 * PyTorch checkpoints (`torch.save`): the zip format (>= 1.6) and the legacy pickle stream; and
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

const TAR_MEMBERS = ['sys_info', 'pickle', 'storages', 'tensors'];

function looksLikeOldTar(head: Uint8Array): boolean {
  if (head.length < 64) return false;
  const name = new TextDecoder('latin1').decode(head.subarray(0, 16)).replace(/\0.*$/s, '');
  return TAR_MEMBERS.includes(name) && head.subarray(name.length, 64).every((b) => b === 0);
}

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
  variants: { 'pytorch-zip': 'PyTorch (zip)', 'pytorch-legacy': 'PyTorch (legacy pickle)', pickle: 'plain pickle' },
  extensions: ['.bin', '.pt', '.pth', '.ckpt', '.pkl', '.pickle', '.tar'],
  // `*.bin` and pickles may be anything: Weightscope is offered for them, not the default.
  editor: { default: ['*.pt', '*.pth', '*.ckpt', '*.bin.index.json'], option: ['*.bin', '*.pkl', '*.pickle', '*.tar', '*.pth.tar'] },
  // A zip's first local header and member name; the legacy magic number's pickle.
  sniffBytes: 64,
  match(head, size) {
    // Any zip may be a torch.save archive (the reader says what it is); one whose first member is torch's is one.
    if (looksLikeZip(head)) return { confidence: torchFirstMember(head) ? CERTAIN : PLAUSIBLE, variant: 'pytorch-zip', state: { kind: 'zip' } };
    if (looksLikeLegacy(head)) return { confidence: CERTAIN, variant: 'pytorch-legacy', state: { kind: 'legacy' } };
    if (looksLikeOldTar(head)) return { confidence: PLAUSIBLE, state: { kind: 'tar' } };
    // Any other pickle: torch.load would run it, so it is read for its safety report.
    if (looksLikePickle(head, size)) return { confidence: PLAUSIBLE, variant: 'pickle', state: { kind: 'pickle' } };
    return null;
  },
  read(src, ctx, match) {
    return readPytorch(src, ctx, {}, match?.state);
  },
  folder: {
    prefer: ['pytorch_model.bin.index.json', 'pytorch_model.bin', /\.bin\.index\.json$/, 'adapter_model.bin', /\.(pt|pth|ckpt|bin)$/i],
  },
};

export async function readPytorch(source: ByteSource, ctx: ReaderContext, opts: PytorchReadOptions = {}, sniffed?: Sniffed): Promise<RawCheckpoint> {
  const file = relativeName(ctx, ctx.path);
  // Small files are read once, whole; large ones by ranges. Either way the first bytes are read once.
  const whole = source.size <= SMALL_FILE ? withHead(source, await source.read(0, source.size)) : source;
  const head = await whole.read(0, Math.min(64, whole.size));
  const src = withHead(whole, head);
  const kind = sniffed?.kind ?? (looksLikeZip(head) ? 'zip' : looksLikeLegacy(head) ? 'legacy' : looksLikeOldTar(head) ? 'tar' : undefined);
  if (kind === 'zip') return readZipCheckpoint(src, ctx, file, opts);
  if (kind === 'legacy') return readLegacyCheckpoint(src, ctx, file, opts);
  if (kind === 'tar') {
    throw new CheckpointError('unsupported', 'this is a tar-format PyTorch checkpoint (torch < 0.4); that layout is not supported yet', { file, offset: 0 });
  }
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
  format: 'pytorch-zip' | 'pytorch-legacy';
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
