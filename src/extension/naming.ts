/** Default names for exported files. Pure (no vscode import); the naming rule lives in core. */
import * as path from 'path';
import type { ExportFormat } from '../../webview/src/shared/protocol';
import { EXPORT_EXTENSIONS, exportFileName } from '../core/export';

export const EXPORT_EXTENSION: Record<ExportFormat, string> = EXPORT_EXTENSIONS;

export const EXPORT_LABEL: Record<ExportFormat, string> = {
  svg: 'SVG image',
  png: 'PNG image',
  markdown: 'Markdown',
  text: 'Text',
  mermaid: 'Mermaid',
  json: 'JSON report',
};

/** The export's default path: beside the checkpoint, named after it (see exportFileName). */
export function defaultExportPath(checkpointPath: string, format: ExportFormat): string {
  return path.join(path.dirname(checkpointPath), exportFileName({ path: checkpointPath }, format));
}
