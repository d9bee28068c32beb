/** Default names for exported files. Pure (no vscode import); the naming rule lives in core. */
import * as path from 'path';
import { EXPORTS, ExportFormat, exportFileName } from '../core/export';
import type { ExportChoice } from '../shared/protocol';

/** The webview's export menu: the registry's exports, in its order. */
export const EXPORT_CHOICES: readonly ExportChoice[] = EXPORTS.map((e) => ({ id: e.id, menuLabel: e.menuLabel, group: e.group }));

/**
 * The command of an export: `weightscope.exportSvg`... One per export in the registry; package.json
 * declares those that show in menus (a test checks they match), `weightscope.exportAs` offers all.
 */
export function exportCommand(format: ExportFormat): string {
  return `weightscope.export${format[0].toUpperCase()}${format.slice(1)}`;
}

/** The export's default path: beside the checkpoint, named after it (see exportFileName). */
export function defaultExportPath(checkpointPath: string, format: ExportFormat): string {
  return path.join(path.dirname(checkpointPath), exportFileName({ path: checkpointPath }, format));
}

/** How to show an exported file after writing it; none where the command does not exist. */
export type RevealChoice = { command: 'revealInExplorer'; label: 'Reveal in Explorer' } | { command: 'revealFileInOS'; label: string } | null;

/**
 * "Reveal" after an export: in VS Code's Explorer when the file is inside the workspace, else in
 * the OS file manager, but only in a local window that has that command (not in a remote or
 * browser window such as code-server, where `revealFileInOS` does not exist).
 */
export function revealChoice(opts: { inWorkspace: boolean; remoteName: string | undefined; uiKind: 'desktop' | 'web'; commands: readonly string[]; platform: string }): RevealChoice {
  if (opts.inWorkspace && opts.commands.includes('revealInExplorer')) return { command: 'revealInExplorer', label: 'Reveal in Explorer' };
  if (opts.remoteName === undefined && opts.uiKind === 'desktop' && opts.commands.includes('revealFileInOS')) {
    const label = opts.platform === 'darwin' ? 'Reveal in Finder' : opts.platform === 'win32' ? 'Reveal in File Explorer' : 'Open Containing Folder';
    return { command: 'revealFileInOS', label };
  }
  return null;
}

/** Scheme of the read-only "Open Metadata as JSON" documents. */
export const METADATA_SCHEME = 'weightscope-metadata';

/**
 * The path of a checkpoint's metadata document: beside it, named after it
 * (`/m/gpt2/model.safetensors.metadata.json`), so its tab says whose metadata it holds.
 */
export function metadataDocPath(checkpointPath: string): string {
  const p = checkpointPath.replace(/\\/g, '/');
  return `${p.startsWith('/') ? '' : '/'}${p}.metadata.json`;
}
