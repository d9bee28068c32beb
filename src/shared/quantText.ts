/**
 * How a quantized checkpoint's scheme line and an adapter read, for the CLI, the exports and the
 * editor alike (src/core/quant/describe.ts uses these with the compact numbers; the webview with
 * the user's number format). DOM-free and Node-free.
 */
import type { AdapterInfo } from '../core/model';
import { compact } from '../core/numbers';

/** 4.6 → "4.6", 4.1563 → "4.16", 16 → "16". */
export function bitsText(b: number): string {
  return b >= 10 ? b.toFixed(1).replace(/\.0$/, '') : b.toFixed(2).replace(/\.?0+$/, '');
}

/**
 * "8.03B parameters · 4-bit GPTQ (g128) · 4.6 bits per weight stored": the unquantized model's
 * parameters, the scheme (the core's `schemeLabel`) and the bits each weight takes on disk.
 */
export function quantizationText(parameters: number, scheme: string, bitsPerWeight: number, count: (n: number) => string = compact): string {
  return `${count(parameters)} parameters · ${scheme} · ${bitsText(bitsPerWeight)} bits per weight stored`;
}

/** Target modules as a short list: the first four, then `+n`. */
export function targetsText(targets: readonly string[]): string {
  return targets.length > 4 ? `${targets.slice(0, 4).join(', ')} +${targets.length - 4}` : targets.join(', ');
}

/** "LoRA r=16 on q_proj, v_proj of meta-llama/Llama-2-7b-hf: 6.8M trainable parameters". */
export function adapterText(a: Pick<AdapterInfo, 'type' | 'rank' | 'targets' | 'base'>, trainable: number, count: (n: number) => string = compact): string {
  const targets = targetsText(a.targets);
  return `${a.type}${a.rank !== undefined ? ` r=${a.rank}` : ''}${targets ? ` on ${targets}` : ''}${a.base ? ` of ${a.base}` : ''}: ${count(trainable)} trainable parameters`;
}
