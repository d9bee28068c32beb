/**
 * Exports of what the inspector shows: diagrams (svg, png), documents (markdown, text, mermaid)
 * and the schema-1 JSON. Used by the CLI (`--format`) and the editor's export commands.
 */
import { Checkpoint } from '../model';
import { toReport } from '../report';
import { renderText } from './text';

export type ExportFormat = 'svg' | 'png' | 'markdown' | 'text' | 'mermaid' | 'json';

export interface ExportOptions {
  /** Deepest module level to draw or list. */
  depth?: number;
}

export async function exportAs(cp: Checkpoint, format: ExportFormat, opts: ExportOptions = {}): Promise<string | Uint8Array> {
  switch (format) {
    case 'json':
      return JSON.stringify(toReport(cp), null, 2) + '\n';
    case 'text':
      return renderText(cp, { depth: opts.depth });
    default:
      throw new Error(`export format ${format} is not available yet`);
  }
}
