/**
 * Pure helpers of the comparison commands (issue 14; no vscode import, so mocha tests them):
 * which two files a command compares, and the default name of an exported comparison.
 */
import * as path from 'path';

/** File names that say nothing about the model: the folder names it instead. */
const GENERIC = /^(model|pytorch_model|diffusion_pytorch_model|consolidated|weights|checkpoint|adapter_model)([.-].*)?$/i;
const CHECKPOINT_EXT = /(\.safetensors\.index\.json|\.bin\.index\.json|\.index\.json|\.safetensors|\.gguf|\.onnx|\.pth\.tar|\.pt|\.pth|\.ckpt|\.nemo|\.bin|\.pkl|\.pickle)$/i;

/** How a side is named in a file name and a tab title: `gpt2-tied` for `gpt2-tied/model.safetensors`. */
export function sideName(p: string): string {
  const parts = p.split(/[\\/]/).filter(Boolean);
  const last = parts[parts.length - 1] ?? p;
  if (parts.length >= 2 && GENERIC.test(last)) return parts[parts.length - 2];
  return last.replace(CHECKPOINT_EXT, '') || last;
}

/** `gpt2-tied-vs-gpt2-untied.diff.svg`, beside b (the "after" side). */
export function compareExportPath(a: string, b: string, format: 'markdown' | 'svg'): string {
  const name = `${safeStem(sideName(a))}-vs-${safeStem(sideName(b))}.diff.${format === 'svg' ? 'svg' : 'md'}`;
  return path.join(path.dirname(b), name);
}

function safeStem(s: string): string {
  return s.replace(/[^\w.+-]+/g, '_').slice(0, 80) || 'checkpoint';
}

/**
 * What "Compare with…" / "Compare Checkpoints" got from VS Code: the Explorer passes the clicked
 * file and the selection (`listMultiSelection`). Two selected files are compared in the order
 * selected... as VS Code lists them; one file is side a, and b is asked for.
 */
export function comparePair<U>(clicked: U | undefined, selected: readonly U[] | undefined): { a?: U; b?: U; tooMany?: number } {
  const sel = selected ?? [];
  if (sel.length > 2) return { tooMany: sel.length };
  if (sel.length === 2) return { a: sel[0], b: sel[1] };
  return { a: clicked ?? sel[0] };
}
