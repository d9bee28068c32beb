/**
 * The core's public surface: open a path and get the analysed checkpoint, or its schema-1 report.
 * Nothing here imports vscode or touches the DOM; the CLI, the extension host and the tests all
 * go through these functions.
 */
import { OpenOptions, OpenProgress, readCheckpoint } from './open';
import { analyze } from './analyze';
import { Checkpoint } from './model';
import type { RemoteOptions } from './remote';
import { isRemoteAddress } from './remote/address';

/** Open a local path, or an hf:// / http(s):// address (remote options apply to those only). */
export async function openCheckpoint(inputPath: string, opts: OpenOptions & RemoteOptions = {}): Promise<Checkpoint> {
  // The remote client (HTTP, the Hub, block cache) is loaded for addresses only (issue 11): its
  // modules' initialisation is part of every local run otherwise.
  if (isRemoteAddress(inputPath)) return (require('./remote') as typeof import('./remote')).openRemote(inputPath, opts);
  return analyze(await readCheckpoint(inputPath, opts), { consume: true });
}

export { analyze, readCheckpoint };
export type { AnalyzeOptions } from './analyze';
export type { OpenOptions, OpenProgress, RemoteOptions };
export { isRemoteAddress };
export * from './model';
export { CheckpointError, isCheckpointError } from './errors';
export { toReport, reportJsonChunks } from './report';
export type { Report } from './report';
