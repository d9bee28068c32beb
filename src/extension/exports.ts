/**
 * The editor's exports, every one from the core's export registry (src/core/export/index.ts):
 * the worker renders the format (PNG too) and the host writes the bytes where the save dialog
 * says. Also "Copy as Markdown" and "Open Metadata as JSON".
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { EXPORTS, exportDef, ExportFormat } from '../core/export';
import { exportDepth } from './config';
import { defaultExportPath, METADATA_SCHEME, metadataDocPath, revealChoice } from './naming';
import type { PanelSession, SessionActions } from './provider';

/** The opened checkpoint's client (the worker that keeps it), or why there is none. */
function readyBackend(session: PanelSession) {
  const s = session.doc.state;
  if (s.kind !== 'ready') {
    throw new Error(s.kind === 'loading' ? `${session.doc.fileName} is still opening` : `${session.doc.fileName} could not be opened: ${s.message}`);
  }
  return s.backend;
}

/** The export, made by the worker. */
async function render(session: PanelSession, format: ExportFormat): Promise<string | Uint8Array> {
  const r = await readyBackend(session).call('export', { format, depth: exportDepth(session.doc.uri) });
  return r.data;
}

/** "Weightscope: Export…": the registry's exports in a quick pick. */
export async function pickExport(session: PanelSession): Promise<void> {
  const items = EXPORTS.map((e) => ({ label: e.menuLabel.replace(/…$/, ''), description: `.${e.suffix ?? e.extension}`, detail: e.help, format: e.id as ExportFormat }));
  const pick = await vscode.window.showQuickPick(items, { title: `Export ${session.doc.fileName}`, placeHolder: 'Format' });
  if (pick) await exportCheckpoint(session, pick.format);
}

export async function exportCheckpoint(session: PanelSession, format: ExportFormat): Promise<void> {
  const def = exportDef(format);
  let target: vscode.Uri | undefined;
  try {
    readyBackend(session);
    target = await vscode.window.showSaveDialog({
      title: `Export ${session.doc.fileName} as ${def.label}`,
      defaultUri: exportDefaultUri(session, format),
      filters: { [def.label]: [def.extension] },
      saveLabel: 'Export',
    });
    if (!target) return;
    const data = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: `Weightscope: exporting ${def.label}` },
      () => render(session, format),
    );
    await vscode.workspace.fs.writeFile(target, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  } catch (e) {
    void vscode.window.showErrorMessage(`Weightscope: export failed: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  // The file is written: what follows (open, reveal) is no export failure.
  await afterExport(target, format);
}

/** "Exported x.svg" with Open and, where it exists, Reveal; their own failures reported as such. */
async function afterExport(target: vscode.Uri, format: ExportFormat): Promise<void> {
  const def = exportDef(format);
  const name = path.basename(target.fsPath);
  let action = 'show it';
  try {
    const reveal = revealChoice({
      inWorkspace: vscode.workspace.getWorkspaceFolder(target) !== undefined,
      remoteName: vscode.env.remoteName,
      uiKind: vscode.env.uiKind === vscode.UIKind.Web ? 'web' : 'desktop',
      commands: await vscode.commands.getCommands(true),
      platform: process.platform,
    });
    const open = 'Open';
    const image = def.group === 'image';
    const buttons = image && reveal ? [reveal.label, open] : reveal ? [open, reveal.label] : [open];
    const pick = await vscode.window.showInformationMessage(`Exported ${name}`, ...buttons);
    if (pick === open) {
      action = `open ${name}`;
      // Binary files (images) open in VS Code's own viewer; text formats in a text editor.
      if (def.binary) await vscode.commands.executeCommand('vscode.open', target, { preview: true });
      else await vscode.window.showTextDocument(target, { preview: true });
    } else if (reveal && pick === reveal.label) {
      action = `reveal ${name}`;
      await vscode.commands.executeCommand(reveal.command, target);
    }
  } catch (e) {
    void vscode.window.showWarningMessage(`Weightscope: exported ${name}, but could not ${action}: ${e instanceof Error ? e.message : String(e)}`);
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

/**
 * "Open Metadata as JSON": read-only virtual documents (`weightscope-metadata:`), so closing one
 * never asks to save. The content is fetched from the checkpoint's backend when opened.
 */
export class MetadataDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly content = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly subs: vscode.Disposable[] = [this.changed];
  /** Finds the editor of a checkpoint, to fetch its metadata when VS Code asks again. */
  lookup?: (checkpoint: vscode.Uri) => PanelSession | undefined;

  constructor() {
    this.subs.push(
      vscode.workspace.onDidCloseTextDocument((d) => {
        if (d.uri.scheme === METADATA_SCHEME) this.content.delete(d.uri.toString());
      }),
    );
  }

  uriFor(session: PanelSession): vscode.Uri {
    const cp = session.doc.uri;
    return vscode.Uri.from({ scheme: METADATA_SCHEME, path: metadataDocPath(cp.fsPath || cp.path), query: cp.toString() });
  }

  set(uri: vscode.Uri, text: string): void {
    const key = uri.toString();
    const old = this.content.get(key);
    this.content.set(key, text);
    if (old !== undefined && old !== text) this.changed.fire(uri);
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const hit = this.content.get(uri.toString());
    if (hit !== undefined) return hit;
    let checkpoint: vscode.Uri | undefined;
    try {
      checkpoint = vscode.Uri.parse(uri.query, true);
    } catch {
      checkpoint = undefined;
    }
    const session = checkpoint && this.lookup?.(checkpoint);
    if (!session) return JSON.stringify({ error: 'Open the checkpoint in Weightscope to see its metadata.' }, null, 2);
    const text = await readyBackend(session).call('metadata');
    this.content.set(uri.toString(), text);
    return text;
  }

  dispose(): void {
    for (const d of this.subs) d.dispose();
    this.content.clear();
  }
}

export const metadataDocuments = new MetadataDocuments();

/** The full metadata (config.json, `__metadata__`, GGUF keys) as a read-only JSON document. */
export async function openMetadata(session: PanelSession): Promise<void> {
  try {
    const text = await readyBackend(session).call('metadata');
    const uri = metadataDocuments.uriFor(session);
    metadataDocuments.set(uri, text);
    let doc = await vscode.workspace.openTextDocument(uri);
    if (doc.languageId !== 'json') doc = await vscode.languages.setTextDocumentLanguage(doc, 'json');
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

/**
 * Where the save dialog starts: beside a local checkpoint; for a remote one (nothing on disk),
 * in the first workspace folder, named after it.
 */
function exportDefaultUri(session: PanelSession, format: ExportFormat): vscode.Uri {
  const uri = session.doc.uri;
  if (uri.scheme === 'file') return vscode.Uri.file(defaultExportPath(uri.fsPath, format));
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const name = path.basename(defaultExportPath(uri.path, format));
  return folder ? vscode.Uri.joinPath(folder, name) : vscode.Uri.file(defaultExportPath(uri.path, format));
}
