/**
 * GGUF (llama.cpp / ggml): what the registry needs to know of the format (its names, how a
 * file is recognised; ggml's types, which register their dtypes, are gguf-types.ts). The reader,
 * gguf-read.ts, is loaded the first time a GGUF file is read (issue 11).
 */
import { CERTAIN, FormatModule } from './format';

const reader = () => require('./gguf-read') as typeof import('./gguf-read');

export { GGML_TYPES } from './gguf-types';

export const ggufReader: FormatModule = {
  id: 'gguf',
  name: 'GGUF',
  variants: { gguf: 'GGUF' },
  extensions: ['.gguf'],
  editor: { default: ['*.gguf'], option: [] },
  sniffBytes: 4,
  match(head) {
    const magic = head.length >= 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46; // "GGUF"
    return magic ? { confidence: CERTAIN, variant: 'gguf' } : null;
  },
  read(src, ctx) {
    return reader().readGguf(src, ctx);
  },
  folder: {
    prefer: [/\.gguf$/i],
    // A split model (gguf-split) opens from its first file, which reads the others.
    choose(names) {
      const first = names.find((n) => /-0*1-of-\d+\.gguf$/i.test(n));
      return first && names.every((n) => /-\d+-of-\d+\.gguf$/i.test(n)) ? { file: first } : undefined;
    },
  },
};
