/**
 * The `weightscope` command: the same core as the editor, for terminals and CI.
 *   weightscope <path> [--json] [--format FMT] [-o FILE] [--depth N]
 * Exit codes: 0 success; 1 the input cannot be read as a checkpoint (one `error:` line on
 * stderr saying what and where); 2 usage error.
 */
import * as fs from 'fs';
import { argTokens, chooseFormat, depthValue, UsageError } from './args';
import { openCheckpoint, isCheckpointError, Checkpoint } from '../core';
import { reportJsonBytes } from '../core/report';
import type { ExportFormat } from '../core/export';
import { renderSummary, renderText } from '../core/export/text';
import { exact, compact } from '../core/numbers';
import { groupMembers, overlapNote } from '../core/overlaps';
import { safeLine, safeText } from '../core/safe-text';
import { isRemoteAddress } from '../core/remote/address';
import { remoteCli } from './remote';
import { writeOut } from './pipe';
import { VERSION } from './version';
import { safetyLines } from '../core/formats/pytorch/safety';

// The formats come from the export registry (src/core/export/index.ts, a bundle of its own in
// the built CLI), loaded only when a command names a format this file does not write itself or
// asks for help: text and JSON output need none of the exporters (issue 11).
const exportRegistry = () => require('../core/export') as typeof import('../core/export');
type Fmt = ExportFormat;
/** The formats render() writes without the registry (both are in it too). */
const OWN_FORMATS: readonly Fmt[] = ['text', 'json'];
/** The list `v` is checked against: the registry is loaded only for a format render() does not write itself. */
const formatsFor = (v: string): readonly Fmt[] => ((OWN_FORMATS as readonly string[]).includes(v) ? OWN_FORMATS : exportRegistry().EXPORT_FORMATS);
const formatHelp = () => exportRegistry().EXPORTS.map((e) => `                     ${e.id.padEnd(9)} ${e.help}`).join('\n');

const USAGE_LINE = 'usage: weightscope <path> [options]';
const usage = () => `${USAGE_LINE}
       weightscope diff <a> <b> [--json] [--format text|markdown] [--data] [-o FILE] [--depth N]

Show the model inside a checkpoint: module tree, parameters counted once per storage, tied weights.
<path> is a checkpoint file (.safetensors, .bin/.pt/.pth/.ckpt, .nemo, .gguf, .onnx), a shard index
(*.safetensors.index.json, *.bin.index.json) or a folder holding one; or, read by ranges without
downloading, hf://owner/name[@revision][/path] (Hugging Face Hub; HF_TOKEN, HF_ENDPOINT) or an
https:// URL of such a file.

options:
  --json             print the schema-1 JSON report (same as --format json)
  --format FMT       one of:
${formatHelp()}
  -o, --output FILE  write the output to FILE instead of stdout
  --depth N          deepest module level to show in tree, svg, markdown, mermaid
  --unfold           do not fold repeated blocks
  -h, --help         show this help
  --version          print the version

exit status: 0 ok, 1 unreadable checkpoint or unwritable output (one "error:" line on stderr), 2 usage error
(weightscope diff: 0 equal, 3 different; weightscope diff --help for more)`;

interface Args {
  path: string;
  format: Fmt;
  output?: string;
  depth?: number;
  unfold: boolean;
}

export function parseArgs(argv: string[]): Args | 'help' | 'version' {
  let path: string | undefined;
  let format: Fmt | undefined;
  let output: string | undefined;
  let depth: number | undefined;
  let unfold = false;
  for (const { arg: a, name, value, flag } of argTokens(argv)) {
    switch (name) {
      case '-h':
      case '--help':
        return 'help';
      case '--version':
        return 'version';
      case '--json':
        flag();
        format = chooseFormat(format, 'json', formatsFor('json'));
        break;
      case '--format': {
        const v = value();
        format = chooseFormat(format, v, formatsFor(v));
        break;
      }
      case '-o':
      case '--output':
        output = value();
        break;
      case '--depth':
        depth = depthValue(value());
        break;
      case '--unfold':
        flag();
        unfold = true;
        break;
      default:
        if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
        if (path !== undefined) throw new UsageError(`one path only (got "${path}" and "${a}")`);
        if (a === '') throw new UsageError('the checkpoint path is empty');
        path = a;
    }
  }
  if (path === undefined) throw new UsageError('no checkpoint path given');
  return { path, format: format ?? 'text', output, depth, unfold };
}

async function render(cp: Checkpoint, args: Args): Promise<string | Uint8Array | Iterable<Uint8Array>> {
  // Written chunk by chunk as it is made: never the whole document at once (issue 11).
  if (args.format === 'json') return reportJsonBytes(cp);
  if (args.format === 'text') return renderCli(cp, args);
  // Diagram and document exports live in core/export (issue 5).
  return exportRegistry().exportAs(cp, args.format, { depth: args.depth, unfold: args.unfold });
}

function renderCli(cp: Checkpoint, args: Args): string {
  const out: string[] = [];
  // The verdict first, with the decoded call of every flagged global (never executed).
  if (cp.safety) out.push(...safetyLines(cp.safety));
  out.push(renderSummary(cp).trimEnd());
  // A plain pickle holds no tensors: its verdict and warnings are the report.
  if (cp.format !== 'pickle') out.push('', renderText(cp, { depth: args.depth, unfold: args.unfold, scheme: false }).trimEnd());
  if (cp.shared.length) {
    out.push('');
    out.push(`shared storage (${cp.shared.length} group${cp.shared.length === 1 ? '' : 's'}):`);
    for (const g of cp.shared) {
      const saved = g.totalElements - g.uniqueElements;
      const what =
        g.relation === 'deduplicated'
          ? `one copy stored for ${g.tensors.length} equal tensors, each counted: ${compact(g.uniqueElements)}`
          : `${compact(g.uniqueElements)} stored once${saved > 0 ? `, ${compact(saved)} not counted twice` : ''}`;
      const views = overlapNote(g);
      out.push(`  ${g.relation.padEnd(8)} ${groupMembers(g, safeLine)}  (${what}${views ? `; ${views}` : ''})`);
      if (g.reason) out.push(`           ${g.reason}`);
    }
  }
  if (cp.warnings.length) {
    out.push('');
    out.push('warnings:');
    for (const w of cp.warnings) out.push(`  [${w.code}] ${w.message}`);
  }
  out.push('');
  out.push(`read ${exact(cp.bytesRead)} of ${exact(cp.totalBytes)} bytes${cp.bytesRead < cp.totalBytes ? ' (headers only)' : ' (a small file, read whole)'}`);
  return out.join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  // `weightscope diff A B` compares two checkpoints (src/cli/diff.ts, a bundle of its own in the
  // built CLI, which the launcher loads directly); `./diff` opens a file named diff.
  if (argv[0] === 'diff') return (require('./diff') as typeof import('./diff')).diffMain(argv.slice(1));
  let args: Args;
  try {
    const parsed = parseArgs(argv);
    if (parsed === 'help') {
      await writeOut(usage() + '\n');
      return 0;
    }
    if (parsed === 'version') {
      await writeOut(`${VERSION}\n`);
      return 0;
    }
    args = parsed;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`weightscope: ${e.message}\n${USAGE_LINE}\n`);
      return 2;
    }
    throw e;
  }
  try {
    const remote = isRemoteAddress(args.path) ? remoteCli(process.stderr) : undefined;
    let cp: Checkpoint;
    try {
      cp = await openCheckpoint(args.path, remote?.options);
    } finally {
      remote?.finish();
    }
    let out = await render(cp, args);
    const transfer = remote?.line(cp);
    if (transfer && args.format === 'text' && typeof out === 'string') out += transfer + '\n';
    else if (transfer) process.stderr.write(safeLine(transfer) + '\n');
    if (args.output) {
      try {
        writeFile(args.output, out);
      } catch (e) {
        process.stderr.write(`error: cannot write ${oneLine(args.output)}: ${oneLine((e as NodeJS.ErrnoException).code ?? String(e))}\n`);
        return 1;
      }
    } else if (typeof out !== 'string' && !(out instanceof Uint8Array)) {
      // Each chunk is written before the next is asked for: the writer reuses its buffer.
      for (const chunk of out) await writeOut(chunk);
    } else if (typeof out === 'string') await writeOut(args.format === 'json' || args.format === 'svg' ? out : safeText(out));
    else {
      if (process.stdout.isTTY) {
        process.stderr.write('weightscope: refusing to write binary PNG to a terminal; use -o FILE\n');
        return 2;
      }
      await writeOut(out);
    }
    return 0;
  } catch (e) {
    if (isCheckpointError(e) || (e instanceof Error && e.name === 'ExportError')) {
      process.stderr.write(`error: ${oneLine((e as Error).message)}\n`);
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

/** Write the output to a file: a string or bytes at once, chunks as they come. */
function writeFile(file: string, out: string | Uint8Array | Iterable<Uint8Array>): void {
  if (typeof out === 'string' || out instanceof Uint8Array) return fs.writeFileSync(file, out);
  const fd = fs.openSync(file, 'w');
  try {
    // writeSync may write part of a chunk (a pipe named by -o): the rest follows.
    for (const chunk of out) for (let at = 0; at < chunk.length; ) at += fs.writeSync(fd, chunk, at);
  } finally {
    fs.closeSync(fd);
  }
}

/** A message on one line, with anything a terminal would interpret escaped. */
function oneLine(s: string): string {
  return safeLine(s.replace(/\s*\n\s*/g, ' '));
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`error: internal error: ${oneLine(String((e as Error)?.message ?? e))}\n`);
      process.exitCode = 1;
    },
  );
}
