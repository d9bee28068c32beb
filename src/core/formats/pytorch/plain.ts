/**
 * Pickles that are not torch.save checkpoints, and pickles hidden after another one's STOP.
 *
 * torch.load (without weights_only) runs the first pickle of any file that does not start with
 * a zip header before it even checks the magic number, and pickle.load runs it too; so a plain
 * `.pkl` of any protocol (0-5) gets a safety report, as a checkpoint of format `pickle` with no
 * tensors. Bytes after a STOP are read as further pickles (torch.load ignores them; a loader
 * that calls pickle.load again does not), and a first pickle that is a *call* followed by the
 * legacy protocol number (picklescan's "magic number bypass") is reported for what it is: torch
 * accepts whatever the call returns as its magic number and goes on. Everything runs in the
 * inert machine of pickle.ts; scans are bounded in bytes and in pickles.
 */
import { ByteSource, withHead } from '../../bytes';
import { ReaderContext } from '../../access';
import { CheckpointError } from '../../errors';
import { RawCheckpoint, SafetyGlobal, Warning } from '../../model';
import { LEGACY_MAGIC, LEGACY_PROTOCOL } from './legacy';
import { PickleLimits, PickleNameTooLong, PickleNeedsMore, PyGlobal, PyObject, PyValue, describeValue, unpickle } from './pickle';
import { SafetyRecorder, SafetyTracker, classifyGlobal } from './safety';
import { TorchSession } from './torch';
import { renderValue } from './render';

/** A plain pickle is scanned up to this many bytes (it holds no tensor data worth reading). */
export const MAX_PLAIN_SCAN = 64 * 1024 * 1024;
/** Bytes after a checkpoint's end scanned for hidden pickles. */
export const MAX_TRAILING_SCAN = 16 * 1024 * 1024;
/** Pickles read back to back in one file or zip member, at most. */
export const MAX_PICKLES = 16;
/** Bytes looked at first, to decide whether a file is a pickle at all. */
const FIRST_LOOK = 64 * 1024;

/** One pickle read from a buffer. */
export interface PickleRun {
  /** Index in the buffer where it starts. */
  start: number;
  /** Index just past its STOP; null when it stopped making sense first. */
  end: number | null;
  value?: PyValue;
  protocol: number;
  globals: SafetyRecorder;
  error?: CheckpointError;
}

export interface PickleScan {
  runs: PickleRun[];
  /** Index where unread bytes start (junk, a zip, or pickles past MAX_PICKLES); null when none. */
  rest: number | null;
  /** The scan stopped at MAX_PICKLES. */
  capped: boolean;
  /** Why the bytes at `rest` are not a pickle, when they were tried. */
  restError?: CheckpointError;
}

const IDENT_MODULE = /^[A-Za-z_][\w.]*$/;
const IDENT_NAME = /^[A-Za-z_<][\w.<>]*$/;

/**
 * Pickle-shaped: it reached STOP, or it named a global that reads like a Python name before
 * failing (also one whose name is too long to look up), or (`partial`) it made sense up to the end of the bytes in view.
 */
function isPickle(run: PickleRun, partial: boolean): boolean {
  if (run.end !== null) return true;
  if (partial && run.error instanceof PickleNeedsMore) return true;
  if (run.error instanceof PickleNameTooLong && IDENT_MODULE.test(run.error.globalModule) && IDENT_NAME.test(run.error.globalName)) return true;
  for (const s of run.globals.seen.values()) {
    if (s.count > 0 && IDENT_MODULE.test(s.module) && IDENT_NAME.test(s.name)) return true;
  }
  return false;
}

/** Runs pickles back to back from `start`: the first, then whatever follows each STOP. */
export function runPickles(
  buf: Uint8Array,
  opts: { file: string; base?: number; start?: number; available?: number; limits?: Partial<PickleLimits>; partial?: boolean },
): PickleScan {
  const runs: PickleRun[] = [];
  let pos = opts.start ?? 0;
  const total = opts.available ?? buf.length;
  while (pos < buf.length) {
    if (runs.length >= MAX_PICKLES) return { runs, rest: pos, capped: true };
    const { hooks, globals } = new TorchSession(opts.file).hooks('none');
    // A persistent id is data here (a storage reference in a pickle hidden inside data.pkl).
    hooks.persistentLoad = (pid) => pid;
    const run: PickleRun = { start: pos, end: null, protocol: 0, globals };
    try {
      const r = unpickle(buf, { file: opts.file, base: opts.base, start: pos, hooks, limits: opts.limits, available: opts.available });
      run.end = r.end;
      run.value = r.value;
      run.protocol = r.protocol;
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      run.error = e;
    }
    if (!isPickle(run, opts.partial === true)) return { runs, rest: pos, capped: false, restError: run.error };
    runs.push(run);
    if (run.end === null) return { runs, rest: null, capped: false };
    pos = run.end;
  }
  return { runs, rest: pos < total ? pos : null, capped: false };
}

/** The unsafe globals of one run, judged alone, with their decoded calls. */
function unsafeOf(run: PickleRun): SafetyGlobal[] {
  const t = new SafetyTracker();
  t.merge(run.globals);
  return t.report().globals.filter((g) => g.unsafe);
}

/** "posix.system('ls'), builtins.eval('1') and 2 more" for messages. */
function describeCalls(globals: SafetyGlobal[], max = 3): string {
  const all = [...new Set(globals.slice(0, 32).map((g) => g.calls?.[0] ?? g.name))];
  // A call shown inside another one (an argument, or the head of a chain) is not repeated.
  const outer = all.filter((c) => !all.some((o) => o !== c && o.includes(c)));
  const parts = outer.slice(0, max);
  const more = Math.max(0, globals.length - 32) + outer.length - parts.length;
  return parts.join(', ') + (more > 0 ? ` and ${more} more` : '');
}

function whatItDoes(run: PickleRun): string {
  const bad = unsafeOf(run);
  const calling = bad.filter((g) => g.action === 'call');
  const rewriting = bad.filter((g) => g.action === 'modify');
  const making = bad.filter((g) => g.action === 'class');
  const naming = bad.filter((g) => g.action === 'reference');
  const parts: string[] = [];
  if (calling.length) parts.push(`it would call ${describeCalls(calling)}`);
  if (rewriting.length) parts.push(`it would rewrite ${describeCalls(rewriting)}`);
  if (making.length) parts.push(`it would instantiate ${describeCalls(making)}`);
  if (naming.length) parts.push(`it would import ${describeCalls(naming)}`);
  return parts.join('; ');
}

const ORDINALS = ['first', 'second', 'third'];

/** Warnings for pickles after the first one torch.load reads, and for bytes that are no pickle. */
export function trailingWarnings(
  scan: PickleScan,
  buf: Uint8Array,
  firstTrailing: number,
  where: { member?: string; base?: number; size: number; label?: (i: number) => string },
): Warning[] {
  const out: Warning[] = [];
  const base = where.base ?? 0;
  const inMember = where.member ? ` in ${where.member}` : '';
  const label = where.label ?? ((i: number) => (i === 1 ? 'a second pickle after the first' : `a pickle after the first (the ${ORDINALS[i] ?? `${i + 1}th`} in the file)`));
  for (let i = firstTrailing; i < scan.runs.length; i++) {
    const run = scan.runs[i];
    const nth = label(i);
    const does = whatItDoes(run);
    const broken = run.error ? `; it stops making sense at byte ${run.error.offset ?? '?'} (${run.error.detail})` : '';
    out.push({
      code: 'trailing-pickle',
      message: `${nth}${inMember}, at byte ${base + run.start}: torch.load ignores it, other loaders may not; ${does || (run.end !== null ? `it holds ${describeValue(run.value)} and calls nothing` : 'it calls nothing')}${broken}`,
    });
  }
  if (scan.rest !== null) {
    const n = where.size - scan.rest;
    const at = base + scan.rest;
    if (scan.capped) {
      out.push({ code: 'trailing-pickle', message: `more bytes follow${inMember} from byte ${at} (${n} bytes): only the first ${MAX_PICKLES} pickles were scanned` });
    } else if (n > 0) {
      const zip = scan.rest + 4 <= buf.length && buf[scan.rest] === 0x50 && buf[scan.rest + 1] === 0x4b && buf[scan.rest + 2] === 3 && buf[scan.rest + 3] === 4;
      out.push({
        code: 'trailing-bytes',
        message: zip
          ? `${n} bytes after the pickle${inMember} (from byte ${at}) hold a zip archive: torch.load does not open it, since the file does not start with one; it runs the pickle instead`
          : `${n} bytes after the last pickle's STOP${inMember} (from byte ${at}) do not form a pickle`,
      });
    }
  }
  return out;
}

/** The value of a Python int literal (`0x1950A86A20F9469CFC6C`, `119547037146038801333356`), if it is one. */
function intLiteral(s: string): bigint | undefined {
  const t = s.trim().replace(/_/g, '');
  try {
    if (/^[+-]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[1-9]\d*|0+)[lL]?$/.test(t)) {
      const neg = t.startsWith('-');
      const body = t.replace(/^[+-]/, '').replace(/[lL]$/, '');
      const v = /^0[oO]/.test(body) ? BigInt('0o' + body.slice(2)) : BigInt(body);
      return neg ? -v : v;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** A first pickle that is a call: what it is, and whether it evaluates to the torch.save magic number. */
function describeBypass(v: PyObject): string {
  const call = renderValue(v, 160);
  const fn = v.callable instanceof PyGlobal ? classifyGlobal(v.callable.module, v.callable.name) : undefined;
  const a0 = v.args[0];
  const isEval = v.callable instanceof PyGlobal && /^(builtins|__builtin__)$/.test(v.callable.module) && v.callable.name === 'eval';
  if (isEval && typeof a0 === 'string' && intLiteral(a0) === LEGACY_MAGIC) return `${call}, which evaluates to it`;
  return `${call}${fn?.verdict === 'dangerous' ? '' : ' (torch.load accepts whatever it returns if that equals the magic number)'}`;
}

export interface PlainOptions {
  limits?: Partial<PickleLimits>;
}

/**
 * A file that starts with a pickle and is not a torch.save checkpoint: its safety report, as a
 * checkpoint of format `pickle` with no tensors. Undefined when the file does not start with a
 * pickle at all (the caller explains what else it is not).
 */
export async function readPlainPickle(src: ByteSource, ctx: ReaderContext, file: string, opts: PlainOptions = {}): Promise<RawCheckpoint | undefined> {
  const size = src.size;
  let buf = await src.read(0, Math.min(size, FIRST_LOOK));
  let scan = runPickles(buf, { file, available: size, limits: opts.limits });
  // A pickle that makes sense up to the end of the first look (a long list, a big array) needs more bytes to decide.
  const undecided = scan.runs.length === 0 && scan.restError instanceof PickleNeedsMore && scan.rest === 0 && buf.length < size;
  if (scan.runs.length === 0 && !undecided) {
    // PROTO 2-5 says "pickle" plainly: say where it breaks. Anything else may be another format.
    const e = scan.restError;
    if (e && buf.length >= 2 && buf[0] === 0x80 && buf[1] >= 2 && buf[1] <= 5 && !(e instanceof PickleNeedsMore)) {
      throw new CheckpointError('bad-pickle', `a pickle (protocol ${buf[1]}) without the torch.save magic number, and it stops making sense before naming anything: ${e.detail}`, {
        file,
        offset: e.offset,
        record: e.record,
      });
    }
    return undefined;
  }
  if (buf.length < size) {
    // A pickle: read it (bounded) and scan again with every byte in view.
    buf = await withHead(src, buf).read(0, Math.min(size, MAX_PLAIN_SCAN));
    scan = runPickles(buf, { file, available: size, limits: opts.limits, partial: true });
    if (scan.runs.length === 0) return undefined;
  }
  const { runs } = scan;
  const first = runs[0];
  const safety = new SafetyTracker();
  const warnings: Warning[] = [];

  // torch.load reads five pickles when the first one passes as the magic number.
  const bypass = runs.length >= 2 && first.value instanceof PyObject && runs[1].value === LEGACY_PROTOCOL;
  const readByTorch = bypass ? Math.min(5, runs.length) : 1;
  for (let i = 0; i < runs.length; i++) safety.merge(runs[i].globals, { trailing: i >= readByTorch });

  const scanned = buf.length;
  if (first.error) {
    const e = first.error;
    const stillNeeds = e instanceof PickleNeedsMore;
    const why = stillNeeds
      ? `the pickle runs past the first ${scanned} bytes, the most Weightscope scans of a plain pickle; globals after that point are not listed`
      : `the pickle stops making sense at byte ${e.offset ?? '?'} (${e.detail})`;
    safety.markIncomplete(why);
  } else if (scan.rest !== null && scan.rest >= scanned && scanned < size) {
    safety.markIncomplete(`only the first ${scanned} bytes were scanned`);
  }
  for (const run of runs.slice(1, readByTorch)) if (run.error) safety.markIncomplete(`a pickle at byte ${run.start} stops making sense (${run.error.detail})`);

  if (bypass) {
    const later = runs.slice(1, readByTorch).map(whatItDoes).filter(Boolean).join('; ');
    warnings.push({
      code: 'magic-bypass',
      message: `the first pickle is not the torch.save magic number (${LEGACY_MAGIC.toString(16)}) but a call, ${describeBypass(first.value as PyObject)}: torch.load calls it to read the magic number, takes the file for a legacy checkpoint and reads the next four pickles${later ? `, where ${later}` : ''}`,
    });
  } else if (first.error) {
    const does = whatItDoes(first);
    warnings.push({
      code: 'broken-pickle',
      message: `a pickle, not a checkpoint, and it stops making sense at byte ${first.error.offset ?? '?'} (${first.error.detail}): pickle.load and torch.load would fail there${does ? `, but first ${does.replace(/^it /, '')}` : ''}`,
    });
  } else {
    const does = whatItDoes(first);
    warnings.push({
      code: 'not-a-checkpoint',
      message: `a pickle, not a checkpoint: ${does || `pickle.load would return ${describeValue(first.value)} and call nothing`}`,
    });
  }
  warnings.push(...safety.warnings());
  warnings.push(...trailingWarnings(scan, buf, readByTorch, { size }));

  const info: Record<string, unknown> = Object.create(null);
  info.protocol = Math.max(...runs.map((r) => r.protocol));
  info.pickles = runs.length;
  if (first.end !== null) info.bytes = first.end;
  if (first.value !== undefined) info.value = describeValue(first.value);
  if (bypass) info.magic_bypass = true;
  const metadata: Record<string, unknown> = Object.create(null);
  metadata.pickle = info;
  return {
    format: 'pickle',
    path: ctx.path,
    files: [file],
    tensors: [],
    declaredTies: [],
    metadata,
    warnings,
    safety: safety.report(),
    bytesRead: src.bytesRead,
    totalBytes: size,
  };
}

/**
 * Pickles hidden after a checkpoint's own pickle: in data.pkl after its STOP, or after a legacy
 * file's last storage. They are merged into `safety` as trailing (torch.load ignores them) and
 * each gets a warning; bytes that form no pickle get one too when `junk` says so. Returns
 * whether anything pickle-shaped was found.
 */
export function scanTrailing(
  buf: Uint8Array,
  start: number,
  safety: SafetyTracker,
  warnings: Warning[],
  where: { file: string; member?: string; base?: number; limits?: Partial<PickleLimits>; label: string; junk: boolean },
): boolean {
  if (start >= buf.length) return false;
  const scan = runPickles(buf, { file: where.file, base: where.base, start, limits: where.limits });
  if (scan.runs.length === 0 && !where.junk) return false;
  for (const run of scan.runs) safety.merge(run.globals, { trailing: true });
  const label = (i: number) => (i === 0 ? where.label : `another pickle after that one (the ${ORDINALS[i + 1] ?? `${i + 2}th`} in a row)`);
  warnings.push(...trailingWarnings(scan, buf, 0, { member: where.member, base: where.base, size: buf.length, label }));
  return scan.runs.length > 0;
}

/**
 * Whether the first bytes of a file are a pickle: PROTO, or protocol 0/1 opcodes that complete a
 * pickle or name a global that reads like a Python name. Parsed inertly, within tight bounds.
 */
export function looksLikePickle(head: Uint8Array, size: number): boolean {
  if (head.length < 2) return false;
  if (head[0] === 0x80) return head[1] <= 5;
  try {
    return runPickles(head, { file: '', available: size, limits: { maxObjects: 4096, maxDepth: 64, maxMemo: 4096, maxIntBytes: 64 } }).runs.length > 0;
  } catch {
    return false;
  }
}
