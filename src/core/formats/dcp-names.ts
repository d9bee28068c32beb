/** What the DCP descriptor (dcp.ts) and its reader (dcp-read.ts) both name. */

/** The module torch pickles the metadata classes from. */
export const META = 'torch.distributed.checkpoint.metadata';

/** What match() recognised. */
export interface Sniffed {
  /** `.metadata` itself, or a data file whose folder's `.metadata` is read. */
  kind: 'metadata' | 'distcp';
}

export function baseName(p: string): string {
  return p.slice(Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\')) + 1);
}
