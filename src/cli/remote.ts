/**
 * What the CLI adds for hf:// and http(s):// addresses: a progress line on stderr while headers
 * arrive (only when stderr is a terminal), and one closing line saying where the checkpoint came
 * from and what the network carried.
 */
import type { Checkpoint } from '../core/model';
import type { RemoteOptions, TransferProgress } from '../core/remote';
import { exact } from '../core/numbers';

export interface RemoteCli {
  options: RemoteOptions;
  /** Clear the progress line (call once the open has ended, either way). */
  finish(): void;
  /** The closing line for a remote checkpoint. */
  line(cp: Checkpoint): string | undefined;
}

export function remoteCli(stderr: NodeJS.WriteStream): RemoteCli {
  const tty = !!stderr.isTTY;
  let shown = false;
  let last = 0;
  const onProgress = (p: TransferProgress) => {
    const now = Date.now();
    if (now - last < 100) return;
    last = now;
    shown = true;
    stderr.write(`\r\x1b[Kreading headers: ${p.requests} request${p.requests === 1 ? '' : 's'}, ${exact(p.bytesTransferred)} bytes${p.inFlight ? `, ${p.inFlight} under way` : ''}`);
  };
  return {
    options: tty ? { onTransfer: onProgress } : {},
    finish() {
      if (shown) stderr.write('\r\x1b[K');
      shown = false;
    },
    line: transferLine,
  };
}

export function transferLine(cp: Checkpoint): string | undefined {
  const s = cp.source;
  if (!s) return undefined;
  if (s.kind === 'hf-cache') return `source: ${s.address}: ${s.note ?? 'from the local Hugging Face cache'}`;
  const n = cp.requests ?? 0;
  const commit = s.revision ? ` at commit ${s.revision.slice(0, 12)}` : '';
  return `source: ${s.address}${commit}: transferred ${exact(cp.bytesTransferred ?? 0)} bytes in ${n} request${n === 1 ? '' : 's'}`;
}
