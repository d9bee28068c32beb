/**
 * How multi-token prediction layers (src/core/mtp.ts) read, for the CLI, the exports and the editor
 * alike: the CLI with exact numbers, the editor with the user's number format. DOM-free and Node-free.
 */
import type { MtpLayers } from '../core/model';
import { compact } from '../core/numbers';

/**
 * "927M in model.layers.61, the multi-token prediction layer, which transformers skips when
 * loading: 671B without it".
 */
export function mtpText(m: Pick<MtpLayers, 'modules' | 'unique' | 'withoutMtp'>, count: (n: number) => string = compact): string {
  const one = m.modules.length === 1;
  const where = one ? m.modules[0] : `${m.modules.length} layers (${m.modules.join(', ')})`;
  const what = one ? 'the multi-token prediction layer, which transformers skips' : 'the multi-token prediction layers, which transformers skips';
  return `${count(m.unique)} in ${where}, ${what} when loading${m.withoutMtp !== undefined ? `: ${count(m.withoutMtp)} without ${one ? 'it' : 'them'}` : ''}`;
}
