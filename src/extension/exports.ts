/**
 * The editor's exports: SVG, PNG, Markdown, text, Mermaid and the JSON report, saved through
 * the save dialog, and "Copy as Markdown". The core writes every format but PNG here: the host
 * bundle carries no native module, so the webview rasterises the SVG (canvas, 2x) instead.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import type { ExportFormat } from '../../webview/src/shared/protocol';
import { exportDepth } from './config';
import { defaultExportPath, EXPORT_EXTENSION, EXPORT_LABEL } from './naming';
import type { PanelSession, SessionActions } from './provider';

/** The opened checkpoint's backend (the worker that keeps it), or why there is none. */
function readyBackend(session: PanelSession) {
  const s = session.doc.state;
  if (s.kind !== 'ready') {
    throw new Error(s.kind === 'loading' ? `${session.doc.fileName} is still opening` : `${session.doc.fileName} could not be opened: ${s.message}`);
  }
  return s.backend;
}

async function render(session: PanelSession, format: ExportFormat): Promise<string | Uint8Array> {
  const backend = readyBackend(session);
  const depth = exportDepth(session.doc.uri);
  if (format === 'png') {
    // The webview draws the PNG, so it has to exist (hidden webviews are torn down).
    if (!session.panel.visible) session.panel.reveal(undefined, true);
    const svg = await backend.exportAs('svg', { depth });
    const png = await session.request('renderPng', { svg, scale: 2 });
    return Buffer.from(png.base64, 'base64');
  }
  return backend.exportAs(format, { depth });
}

export async function exportCheckpoint(session: PanelSession, format: ExportFormat): Promise<void> {
  try {
    readyBackend(session);
    const target = await vscode.window.showSaveDialog({
      title: `Export ${session.doc.fileName} as ${EXPORT_LABEL[format]}`,
      defaultUri: vscode.Uri.file(defaultExportPath(session.doc.uri.fsPath, format)),
      filters: { [EXPORT_LABEL[format]]: [EXPORT_EXTENSION[format]] },
      saveLabel: 'Export',
    });
    if (!target) return;
    const data = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: `Weightscope: exporting ${EXPORT_LABEL[format]}` },
      () => render(session, format),
    );
    await vscode.workspace.fs.writeFile(target, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    const open = format === 'png' || format === 'svg' ? 'Reveal' : 'Open';
    const pick = await vscode.window.showInformationMessage(`Exported ${path.basename(target.fsPath)}`, open);
    if (pick === 'Open') await vscode.window.showTextDocument(target, { preview: true });
    else if (pick === 'Reveal') await vscode.commands.executeCommand('revealFileInOS', target);
  } catch (e) {
    void vscode.window.showErrorMessage(`Weightscope: export failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export async function copyMarkdown(session: PanelSession): Promise<void> {
  try {
    const md = await render(session, 'markdown');
    await vscode.env.clipboard.writeText(typeof md === 'string' ? md : Buffer.from(md).toString('utf8'));
    void vscode.window.setStatusBarMessage('$(check) Weightscope: Markdown copied', 3000);
  } catch (e) {
    void vscode.window.showErrorMessage(`Weightscope: copy failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The full metadata (config.json, `__metadata__`, GGUF keys) as an untitled JSON document. */
export async function openMetadata(session: PanelSession): Promise<void> {
  try {
    const content = await readyBackend(session).metadataJson(session.doc.fileName);
    const doc = await vscode.workspace.openTextDocument({ language: 'json', content });
    await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  } catch (e) {
    void vscode.window.showErrorMessage(`Weightscope: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export const sessionActions: SessionActions = {
  export: exportCheckpoint,
  copyMarkdown,
  openMetadata,
};
