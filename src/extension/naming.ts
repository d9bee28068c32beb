/** Default names for exported files. Pure (no vscode import). */
import * as path from 'path';
import type { ExportFormat } from '../../webview/src/shared/protocol';

export const EXPORT_EXTENSION: Record<ExportFormat, string> = {
  svg: 'svg',
  png: 'png',
  markdown: 'md',
  text: 'txt',
  mermaid: 'mmd',
  json: 'json',
};

export const EXPORT_LABEL: Record<ExportFormat, string> = {
  svg: 'SVG image',
  png: 'PNG image',
  markdown: 'Markdown',
  text: 'Text',
  mermaid: 'Mermaid',
  json: 'JSON report',
};

/** The checkpoint's stem: `model.safetensors` → `model`, `model.safetensors.index.json` → `model`. */
export function checkpointStem(checkpointPath: string): string {
  let base = path.basename(checkpointPath);
  base = base.replace(/\.index\.json$/i, '');
  base = base.replace(/\.(safetensors|gguf|pt|pth|ckpt|bin|onnx|pkl|tar)$/i, '');
  return base || 'model';
}

/**
 * `model.svg` beside the checkpoint; a folder's name when the checkpoint is a folder; the JSON
 * report is `model.weightscope.json`, so it never overwrites a config.json-like sidecar.
 */
export function defaultExportPath(checkpointPath: string, format: ExportFormat): string {
  const dir = path.dirname(checkpointPath);
  let stem = checkpointStem(checkpointPath);
  // Hub-style names (`model`, `pytorch_model`) say little: prefix the folder's name.
  if (/^(model|pytorch_model|consolidated(\.\d+)?|diffusion_pytorch_model)$/i.test(stem)) {
    const folder = path.basename(dir);
    if (folder && folder !== '.' && folder !== path.sep) stem = `${folder}-${stem}`;
  }
  const ext = format === 'json' ? 'weightscope.json' : EXPORT_EXTENSION[format];
  return path.join(dir, `${stem}.${ext}`);
}
