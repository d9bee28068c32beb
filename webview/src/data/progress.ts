/**
 * The loading line of the editor (pure; the DOM is ui/app.ts): what is being read and how far,
 * from the worker's progress events, while a model opens.
 */
import { bytes, exactCount } from '../../../src/shared/format';
import type { Progress } from '../../../src/shared/protocol';
import { transferText } from './source';

/** The loading line: what is being read, how far. */
export function progressText(fileName: string, p: Progress | undefined): string {
  if (!p) return `Reading the headers of ${fileName}…`;
  // Shards are counted only for a sharded checkpoint (more than one file).
  const shards = p.filesTotal !== undefined && p.filesTotal > 1 ? p.filesTotal : undefined;
  // A remote checkpoint: what the network carried so far (and the shards, for a sharded one).
  const transfer = p.stage === 'reading' ? transferText(p) : undefined;
  if (transfer) {
    const read = shards !== undefined ? `${exactCount(p.filesDone ?? 0)} of ${exactCount(shards)} shards, ` : '';
    return `Reading the headers of ${fileName} over the network: ${read}${transfer}…`;
  }
  if (p.stage === 'analysing') {
    const read = shards !== undefined ? ` (${exactCount(p.filesDone ?? shards)} of ${exactCount(shards)} shards read)` : '';
    return `Analysing ${p.tensors !== undefined ? `${exactCount(p.tensors)} tensors` : 'the tensors'} of ${fileName}${read}…`;
  }
  if (p.stage === 'building') return `Building the view of ${fileName}…`;
  if (shards !== undefined) return `Reading the headers of ${fileName}: ${exactCount(p.filesDone ?? 0)} of ${exactCount(shards)} shards, ${bytes(p.bytesRead ?? 0)} read…`;
  return `Reading the headers of ${fileName}…`;
}
