/**
 * The core's public surface: open a path and get the analysed checkpoint, or its schema-1 report.
 * Nothing here imports vscode or touches the DOM; the CLI, the extension host and the tests all
 * go through these functions.
 */
import { OpenOptions, OpenProgress, readCheckpoint } from './open';
import { analyze } from './analyze';
import { Checkpoint } from './model';
import { RemoteOptions, isRemoteAddress, openRemote } from './remote';

/** Open a local path, or an hf:// / http(s):// address (remote options apply to those only). */
export async function openCheckpoint(inputPath: string, opts: OpenOptions & RemoteOptions = {}): Promise<Checkpoint> {
  if (isRemoteAddress(inputPath)) return openRemote(inputPath, opts);
  return analyze(await readCheckpoint(inputPath, opts));
}

export { analyze, readCheckpoint };
export type { OpenOptions, OpenProgress, RemoteOptions };
export { isRemoteAddress };
export * from './model';
export { CheckpointError, isCheckpointError } from './errors';
export { toReport, reportJsonChunks } from './report';
export type { Report } from './report';
