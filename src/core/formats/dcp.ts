/**
 * PyTorch Distributed Checkpoint (DCP) folders: what the registry needs to know of the format
 * (its names, how `.metadata` and `.distcp` files are recognised). The reader, dcp-read.ts,
 * is loaded the first time one is read (issue 11).
 */
import { baseName, META, Sniffed } from './dcp-names';
import { CERTAIN, FormatModule } from './format';

const reader = () => require('./dcp-read') as typeof import('./dcp-read');

const enc = new TextEncoder();
const META_BYTES = enc.encode(META);

function contains(head: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= head.length; i++) {
    for (let j = 0; j < needle.length; j++) if (head[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

export const dcpReader: FormatModule<Sniffed> = {
  id: 'dcp',
  name: 'PyTorch Distributed Checkpoint (.metadata)',
  variants: { dcp: 'PyTorch Distributed Checkpoint (DCP)' },
  extensions: ['.metadata', '.distcp'],
  // `.metadata` is the name FileSystemWriter gives it (other tools' files may end in .metadata: offered only).
  editor: { default: ['.metadata', '*.distcp'], option: ['*.metadata'] },
  // The pickle's first global (protocol 2: `c<module>\n`; 4: a frame, then the module's name).
  sniffBytes: 96,
  match(head, _size, fileName) {
    // A data file is a run of torch.save archives (it sniffs as a zip): its name says what it is.
    if (fileName && /\.distcp$/i.test(baseName(fileName))) return { confidence: CERTAIN, variant: 'dcp', state: { kind: 'distcp' } };
    if (head.length >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5 && contains(head, META_BYTES)) {
      return { confidence: CERTAIN, variant: 'dcp', state: { kind: 'metadata' } };
    }
    return null;
  },
  read(src, ctx, match) {
    return reader().readDcp(src, ctx, match?.state);
  },
  folder: { prefer: ['.metadata'] },
};
