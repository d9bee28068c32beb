/**
 * Exports of what the inspector shows: diagrams (svg, png), documents (markdown, text, mermaid)
 * and the schema-1 JSON. Used by the CLI (`--format`) and the editor's export commands.
 * Every export is deterministic: the same checkpoint gives byte-identical output.
 */
import { ExportError } from './errors';
import { Checkpoint } from '../model';
import { toReport } from '../report';
import { renderText } from './text';
import { renderSvg } from './svg';
import { renderMarkdown } from './markdown';
import { renderMermaid } from './mermaid';

export type ExportFormat = 'svg' | 'png' | 'markdown' | 'text' | 'mermaid' | 'json';

export const EXPORT_FORMATS: readonly ExportFormat[] = ['svg', 'png', 'markdown', 'text', 'mermaid', 'json'];

/** File extension for each format (without the dot). */
export const EXPORT_EXTENSIONS: Record<ExportFormat, string> = {
  svg: 'svg',
  png: 'png',
  markdown: 'md',
  text: 'txt',
  mermaid: 'mmd',
  json: 'json',
};

/**
 * A default file name for an export, from the checkpoint: `model.safetensors` in a folder
 * `gpt2` gives `gpt2.svg`; `resnet18.pt` gives `resnet18.svg`. The JSON report is
 * `<stem>.weightscope.json`, so it never overwrites a `config.json`-like sidecar.
 */
export function exportFileName(cp: { path: string }, format: ExportFormat): string {
  const parts = cp.path.split(/[\\/]/).filter(Boolean);
  const file = parts[parts.length - 1] ?? 'checkpoint';
  let stem = file.replace(/(\.safetensors|\.bin)?\.index\.json$/i, '').replace(/\.(safetensors|bin|pt|pth|ckpt|gguf|onnx|pkl|tar)$/i, '');
  stem = stem.replace(/-\d{5}-of-\d{5}$/, '');
  if (/^(model|pytorch_model|diffusion_pytorch_model|tf_model|flax_model|consolidated(\.\d+)?|weights|checkpoint)$/i.test(stem) && parts.length >= 2) stem = parts[parts.length - 2];
  stem = stem.replace(/[^\w.+-]+/g, '_').replace(/^[._]+/, '') || 'checkpoint';
  return `${stem}.${format === 'json' ? 'weightscope.json' : EXPORT_EXTENSIONS[format]}`;
}

export interface ExportOptions {
  /** Deepest module level to draw or list (root = 0). Default: unlimited for text; for the
   * diagrams and documents, the deepest level that keeps them legible. */
  depth?: number;
  /** Don't fold runs of identical blocks. */
  unfold?: boolean;
  /** PNG: pixels per SVG unit (default 2). */
  scale?: number;
}

export async function exportAs(cp: Checkpoint, format: ExportFormat, opts: ExportOptions = {}): Promise<string | Uint8Array> {
  switch (format) {
    case 'json':
      return JSON.stringify(toReport(cp), null, 2) + '\n';
    case 'text':
      return renderText(cp, { depth: opts.depth, unfold: opts.unfold });
    case 'svg':
      return renderSvg(cp, { depth: opts.depth, unfold: opts.unfold });
    case 'markdown':
      return renderMarkdown(cp, { depth: opts.depth, unfold: opts.unfold });
    case 'mermaid':
      return renderMermaid(cp, { depth: opts.depth, unfold: opts.unfold });
    case 'png': {
      const { renderPng } = await import('./png');
      return renderPng(cp, { depth: opts.depth, unfold: opts.unfold, scale: opts.scale });
    }
    default:
      throw new ExportError(`unknown export format ${String(format)}`);
  }
}

export { renderText, renderSummary } from './text';
export { renderSvg } from './svg';
export { renderMarkdown } from './markdown';
export { renderMermaid } from './mermaid';
export { layoutTree } from './layout';

export { ExportError };
