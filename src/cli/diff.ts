/**
 * `weightscope diff A B`: compare two checkpoints (any formats) the way `diff` compares files.
 * Exit codes: 0 the checkpoints are equal; 3 they differ; 1 one cannot be read (one `error:` line
 * on stderr) or the output cannot be written; 2 usage error.
 */
import * as fs from 'fs';
import { argTokens, chooseFormat, depthValue, UsageError } from './args';
import { openCheckpoint, isCheckpointError } from '../core';
import { compareCheckpoints, renderDiffMarkdown, renderDiffSvg, renderDiffText, toDiffReport, DataProgress } from '../core/diff';
import { bytes as fmtBytes } from '../core/numbers';
import { safeLine, safeText } from '../core/safe-text';
import { writeOut } from './pipe';

const FORMATS = ['text', 'json', 'markdown', 'svg'] as const;
type Fmt = (typeof FORMATS)[number];

export const DIFF_USAGE = `usage: weightscope diff <a> <b> [options]

Compare two checkpoints (any formats): tensors added, removed, changed (dtype, shape, role,
sharing) and renamed (module., model., transformer., base_model.model. prefixes; GGUF and
Hugging Face names), ties gained and lost, per-module count deltas, config and metadata keys.
Headers only: equal structure is not equal data unless --data hashes the bytes.

options:
  --json             print the schema-1 JSON comparison (same as --format json)
  --format FMT       text (default), json, markdown, svg (a diagram of the aligned trees)
  --data             also compare tensor bytes (SHA-256, streamed; local files)
  -o, --output FILE  write the output to FILE instead of stdout
  --depth N          deepest module level to show in text, markdown and svg
  -h, --help         show this help

exit status: 0 equal, 3 different, 1 unreadable checkpoint or unwritable output (one "error:"
line on stderr), 2 usage error`;

interface DiffArgs {
  a: string;
  b: string;
  format: Fmt;
  data: boolean;
  output?: string;
  depth?: number;
}

export function parseDiffArgs(argv: string[]): DiffArgs | 'help' {
  const paths: string[] = [];
  let format: Fmt | undefined;
  let output: string | undefined;
  let depth: number | undefined;
  let data = false;
  for (const { arg: a, name, value, flag } of argTokens(argv)) {
    switch (name) {
      case '-h':
      case '--help':
        return 'help';
      case '--json':
        flag();
        format = chooseFormat(format, 'json', FORMATS);
        break;
      case '--format':
        format = chooseFormat(format, value(), FORMATS);
        break;
      case '--data':
        flag();
        data = true;
        break;
      case '-o':
      case '--output':
        output = value();
        break;
      case '--depth':
        depth = depthValue(value());
        break;
      default:
        if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
        if (a === '') throw new UsageError('a checkpoint path is empty');
        paths.push(a);
    }
  }
  if (paths.length !== 2) throw new UsageError(paths.length < 2 ? 'diff needs two checkpoint paths' : `diff compares two checkpoints (got ${paths.length} paths)`);
  return { a: paths[0], b: paths[1], format: format ?? 'text', data, output, depth };
}

/** Progress on stderr while hashing, only for a terminal, at most every 200 ms. */
function progressReporter(): ((p: DataProgress) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < 200 && p.bytesHashed < p.totalBytes) return;
    last = now;
    const pct = p.totalBytes ? Math.floor((100 * p.bytesHashed) / p.totalBytes) : 100;
    process.stderr.write(`\rhashing tensor data: ${fmtBytes(p.bytesHashed)} of ${fmtBytes(p.totalBytes)} (${pct}%)\x1b[K`);
    if (p.bytesHashed >= p.totalBytes) process.stderr.write('\r\x1b[K');
  };
}

export async function diffMain(argv: string[]): Promise<number> {
  let args: DiffArgs;
  try {
    const parsed = parseDiffArgs(argv);
    if (parsed === 'help') {
      await writeOut(DIFF_USAGE + '\n');
      return 0;
    }
    args = parsed;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`weightscope diff: ${e.message}\n${DIFF_USAGE.split('\n')[0]}\n`);
      return 2;
    }
    throw e;
  }
  try {
    // Both sides are opened together; when both fail, the error is a's, whichever failed first.
    const [ra, rb] = await Promise.allSettled([openCheckpoint(args.a), openCheckpoint(args.b)]);
    if (ra.status === 'rejected') throw ra.reason;
    if (rb.status === 'rejected') throw rb.reason;
    const a = ra.value;
    const b = rb.value;
    const d = await compareCheckpoints(a, b, { data: args.data, onProgress: args.data ? progressReporter() : undefined });
    const out =
      args.format === 'json'
        ? JSON.stringify(toDiffReport(d), null, 2) + '\n'
        : args.format === 'markdown'
          ? renderDiffMarkdown(d, { depth: args.depth, labels: { a: args.a, b: args.b } })
          : args.format === 'svg'
            ? renderDiffSvg(d, { depth: args.depth, labels: { a: args.a, b: args.b } })
            : renderDiffText(d, { depth: args.depth, labels: { a: args.a, b: args.b } });
    if (args.output) {
      try {
        fs.writeFileSync(args.output, out);
      } catch (e) {
        process.stderr.write(`error: cannot write ${oneLine(args.output)}: ${oneLine((e as NodeJS.ErrnoException).code ?? String(e))}\n`);
        return 1;
      }
    } else await writeOut(args.format === 'json' || args.format === 'svg' ? out : safeText(out));
    return d.equal ? 0 : 3;
  } catch (e) {
    if (isCheckpointError(e)) {
      process.stderr.write(`error: ${oneLine(e.message)}\n`);
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) {
      process.stderr.write(`error: ${oneLine(err.message)}\n`);
      return 1;
    }
    process.stderr.write(`error: internal error: ${oneLine(String(err?.message ?? e))} (please report this)\n`);
    return 1;
  }
}

function oneLine(s: string): string {
  return safeLine(s.replace(/\s*\n\s*/g, ' '));
}
