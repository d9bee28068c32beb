/**
 * dist/cli.js, what bin/weightscope.js runs (issue 11, start-up): it answers `weightscope
 * --version` by itself, without reading the command's bundle (dist/cli-main.js, main.ts and the
 * whole core), loads dist/cli-diff.js for `weightscope diff` and the command's bundle for
 * everything else. A model of tens of thousands of tensors is read in a worker thread with a
 * small young generation (largeInput, inWorker).
 */
import * as fs from 'fs';
import * as path from 'path';
import { isShardIndexName } from '../core/shards';
import { loadBundle } from './bundles';
import { writeOut } from './pipe';
import { VERSION } from './version';

export { loadedBundles, saveCodeCaches } from './bundles';

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 1 && argv[0] === '--version') {
    await writeOut(`${VERSION}\n`);
    return 0;
  }
  // Not `diff`: comparing two models makes short-lived garbage too, which a small young
  // generation promotes (1.09x the time in a worker, docs/performance.md).
  if (argv[0] !== 'diff' && argv.some(largeInput)) return inWorker(argv);
  return command(argv);
}

function command(argv: string[]): Promise<number> {
  // Built beside this file by scripts/build.mjs, with their code caches (bundles.ts). `diff` goes
  // straight to its own bundle, as main.ts would send it there.
  if (argv[0] === 'diff') {
    const diff = loadBundle<{ diffMain(argv: string[]): Promise<number> }>(path.join(__dirname, 'cli-diff.js')).exports;
    return diff.diffMain(argv.slice(1));
  }
  const command = loadBundle<{ main(argv: string[]): Promise<number> }>(path.join(__dirname, 'cli-main.js')).exports;
  return command.main(argv);
}

/**
 * A shard index this large (1 MiB: about 10,000 tensors) names a model whose reading keeps nearly
 * all it allocates. V8 grows the main thread's young generation to 16 MiB semi-spaces while
 * survival is high, and copies the survivors again at each scavenge; node's command line could
 * keep it small (`--max-semi-space-size`), a script cannot. A worker thread's can be set.
 */
const LARGE_INDEX_BYTES = 1024 * 1024;
/** The young generation of that worker, as the editor's parser has (src/extension/loader.ts): 2 MiB semi-spaces. */
const YOUNG_GENERATION_MB = 6;

/**
 * Whether an argument names a large model: a shard index (`*.index.json`, isShardIndexName) of LARGE_INDEX_BYTES or
 * more, or a folder holding one. Only where the command runs depends on it, never what it prints:
 * an argument that is not an input (an output file, a format) costs one stat.
 */
function largeInput(arg: string): boolean {
  if (arg.startsWith('-') || arg.includes('://')) return false;
  const bigIndex = (file: string) => {
    try {
      return isShardIndexName(file) && fs.statSync(file).size >= LARGE_INDEX_BYTES;
    } catch {
      return false;
    }
  };
  try {
    if (!fs.statSync(arg).isDirectory()) return bigIndex(arg);
    return fs.readdirSync(arg).some((name) => bigIndex(path.join(arg, name)));
  } catch {
    return false;
  }
}

/**
 * The command in a worker thread of this file, its young generation kept small. It writes its
 * output to file descriptor 1 itself (pipe.ts) and its messages through this thread's stderr;
 * its exit status comes back as a message. Measured on the 163-shard layout: docs/performance.md.
 */
function inWorker(argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    let status: number | undefined;
    let exited: number | undefined;
    let ended = false;
    const done = () => {
      if (exited !== undefined && ended) resolve(status ?? exited);
    };
    // worker_threads is required here, not at the top: loading it takes ~3 ms of every run.
    const { Worker } = require('worker_threads') as typeof import('worker_threads');
    // `stdout: true`: what the worker writes through process.stdout (pipe.ts, when a direct write
    // cannot finish) comes here and goes out through pipe.ts too. Left to Node, it would go
    // through this thread's process.stdout, whose creation makes a pipe non-blocking (so the
    // worker's direct writes would stop at EAGAIN) and which has no handler for a reader closing
    // the pipe early.
    const worker = new Worker(`require(${JSON.stringify(__filename)}).workerMain()`, {
      eval: true,
      workerData: { argv },
      stdout: true,
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    let writing = Promise.resolve();
    worker.stdout.on('data', (b: Buffer) => (writing = writing.then(() => writeOut(b))));
    worker.stdout.on('end', () => writing.then(() => ((ended = true), done())));
    worker.on('message', (code: number) => (status = code));
    worker.on('error', reject);
    // A reader closing the pipe ends the worker with status 0 (pipe.ts); a sent status wins otherwise.
    worker.on('exit', (code) => ((exited = code), done()));
  });
}

/** The worker thread inWorker() starts: the command, its status sent back. */
export function workerMain(): void {
  const { parentPort, workerData } = require('worker_threads') as typeof import('worker_threads');
  command(workerData.argv as string[]).then((code) => parentPort!.postMessage(code));
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
