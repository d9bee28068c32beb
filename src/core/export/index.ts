/**
 * Exports of what the inspector shows: diagrams (svg, png), documents (markdown, text, mermaid)
 * and the schema-1 JSON. Used by the CLI (`--format`) and the editor's export commands.
 * Every export is deterministic: the same checkpoint gives byte-identical output.
 */
import { ExportError } from './errors';
import { Checkpoint } from '../model';
import { reportJson } from '../report';
import { defineExport, ExportDef, ExportOptions } from './define';
import { pngExport } from './png';
import { mapExports } from './map';
import { renderText } from './text';
import { renderSvg } from './svg';
import { renderMarkdown } from './markdown';
import { renderMermaid } from './mermaid';

/**
 * The export registry: every format the CLI and the editor offer, in menu order. A new export is
 * its module (exporting a `defineExport({...})`) and one line here.
 */
export const EXPORTS = [
  defineExport({
    id: 'svg',
    label: 'SVG image',
    menuLabel: 'Export as SVG…',
    extension: 'svg',
    binary: false,
    group: 'image',
    help: 'the module hierarchy as a diagram',
    render: (cp, o) => renderSvg(cp, { depth: o.depth, unfold: o.unfold }),
  }),
  pngExport,
  ...mapExports,
  defineExport({
    id: 'markdown',
    label: 'Markdown',
    menuLabel: 'Export as Markdown…',
    extension: 'md',
    binary: false,
    group: 'document',
    help: 'summary and module table',
    render: (cp, o) => renderMarkdown(cp, { depth: o.depth, unfold: o.unfold }),
  }),
  defineExport({
    id: 'text',
    label: 'Text',
    menuLabel: 'Export as text (print(model))…',
    extension: 'txt',
    binary: false,
    group: 'document',
    help: 'the tree as print(model) shows it (default)',
    render: (cp, o) => renderText(cp, { depth: o.depth, unfold: o.unfold }),
  }),
  defineExport({
    id: 'mermaid',
    label: 'Mermaid',
    menuLabel: 'Export as Mermaid…',
    extension: 'mmd',
    binary: false,
    group: 'document',
    help: 'a Mermaid flowchart',
    render: (cp, o) => renderMermaid(cp, { depth: o.depth, unfold: o.unfold }),
  }),
  defineExport({
    id: 'json',
    label: 'JSON report',
    menuLabel: 'Export report as JSON…',
    extension: 'json',
    suffix: 'weightscope.json',
    binary: false,
    group: 'data',
    help: 'the schema-1 report (same as --json)',
    render: (cp) => reportJson(cp),
  }),
] as const satisfies readonly ExportDef[];

export type ExportFormat = (typeof EXPORTS)[number]['id'];

export const EXPORT_FORMATS: readonly ExportFormat[] = EXPORTS.map((e) => e.id);

const BY_ID = new Map<string, ExportDef<ExportFormat>>(EXPORTS.map((e) => [e.id, e]));

export function isExportFormat(id: unknown): id is ExportFormat {
  return typeof id === 'string' && BY_ID.has(id);
}

/** The registry entry of a format. */
export function exportDef(format: ExportFormat): ExportDef<ExportFormat> {
  const def = BY_ID.get(format);
  if (!def) throw new ExportError(`unknown export format ${String(format)}`);
  return def;
}

/**
 * A default file name for an export, from the checkpoint: `model.safetensors` in a folder
 * `gpt2` gives `gpt2.svg`; `resnet18.pt` gives `resnet18.svg`. The JSON report is
 * `<stem>.weightscope.json`, so it never overwrites a `config.json`-like sidecar.
 */
export function exportFileName(cp: { path: string }, format: ExportFormat): string {
  const parts = cp.path.split(/[\\/]/).filter(Boolean);
  const file = parts[parts.length - 1] ?? 'checkpoint';
  let stem = file.replace(/(\.safetensors|\.bin)?\.index\.json$/i, '').replace(/\.(safetensors|bin|pt|pth|ckpt|nemo|gguf|onnx|pkl|tar)$/i, '');
  stem = stem.replace(/-\d{5}-of-\d{5}$/, '');
  if (/^(model|pytorch_model|diffusion_pytorch_model|tf_model|flax_model|consolidated(\.\d+)?|weights|checkpoint)$/i.test(stem) && parts.length >= 2) stem = parts[parts.length - 2];
  stem = stem.replace(/[^\w.+-]+/g, '_').replace(/^[._]+/, '') || 'checkpoint';
  const def = exportDef(format);
  return `${stem}.${def.suffix ?? def.extension}`;
}

export async function exportAs(cp: Checkpoint, format: ExportFormat, opts: ExportOptions = {}): Promise<string | Uint8Array> {
  return exportDef(format).render(cp, opts);
}

export { renderText, renderSummary } from './text';
export { renderSvg } from './svg';
export { renderMarkdown } from './markdown';
export { renderMermaid } from './mermaid';
export { layoutTree } from './layout';

export { ExportError, defineExport };
export type { ExportDef, ExportOptions };
