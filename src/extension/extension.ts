/**
 * Weightscope for VS Code: a read-only custom editor for ML checkpoints, its commands, the
 * status bar item, and the offer to open `*.bin` checkpoints with it (binOffer.ts).
 */
import * as vscode from 'vscode';
import { EXPORT_FORMATS } from '../core/export';
import { MODEL_READY_CONTEXT, SECTION } from './config';
import { copyMarkdown, exportCheckpoint, metadataDocuments, openMetadata, pickExport, sessionActions } from './exports';
import { exportCommand, METADATA_SCHEME } from './naming';
import { CheckpointEditorProvider, OPTION_VIEW_TYPE, PanelSession, VIEW_TYPE, viewTypeFor } from './provider';
import { OPEN_DIALOG_EXTENSIONS } from '../core/formats';
import { BinOffer } from './binOffer';
import { ParameterStatus } from './status';
import { registerCompare } from './compare';
import { registerRemote } from './remote';


export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Weightscope', { log: true });
  // When it activates matters for the .bin offer (workspaceContains at start-up, or later).
  log.info('activated');
  const provider = new CheckpointEditorProvider(context, sessionActions, log);
  const status = new ParameterStatus();
  context.subscriptions.push(
    log,
    status,
    // The same editor twice: the default for checkpoint extensions, an option for `*.bin` & co.
    ...[VIEW_TYPE, OPTION_VIEW_TYPE].map((viewType) =>
      vscode.window.registerCustomEditorProvider(viewType, provider, {
        supportsMultipleEditorsPerDocument: true,
        // No retainContextWhenHidden: the webview keeps its view state with setState instead.
        webviewOptions: { enableFindWidget: false },
      }),
    ),
    provider.onDidChangeActive((s) => {
      status.show(s);
      // Exports need a model: the editor title's Export menu hides while the editor shows an error.
      void vscode.commands.executeCommand('setContext', MODEL_READY_CONTEXT, s?.doc.state.kind === 'ready');
    }),
    metadataDocuments,
    vscode.workspace.registerTextDocumentContentProvider(METADATA_SCHEME, metadataDocuments),
  );
  metadataDocuments.lookup = (uri) => provider.allSessions().find((s) => s.doc.uri.toString() === uri.toString());

  /** The editor a command acts on: the one for the given resource, else the active one. */
  const withSession = (fn: (s: PanelSession) => unknown) => (uri?: vscode.Uri) => {
    const s = provider.target(uri);
    if (!s) {
      void vscode.window.showInformationMessage('Weightscope: open a checkpoint in the Weightscope editor first.');
      return;
    }
    return fn(s);
  };

  const register = (id: string, fn: (...args: never[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  register('weightscope.openWith', async (uri?: vscode.Uri | string) => {
    // A command link (the .bin offer's hover) passes the URI as a string.
    let target = uri instanceof vscode.Uri ? uri : typeof uri === 'string' ? vscode.Uri.parse(uri) : activeResource();
    if (!target) {
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false,
        openLabel: 'Open with Weightscope',
        filters: { Checkpoints: [...OPEN_DIALOG_EXTENSIONS], 'All files': ['*'] },
      });
      target = picked?.[0];
    }
    if (target) await reopenWithWeightscope(target);
  });
  register('weightscope.exportAs', withSession((s) => pickExport(s)));
  for (const format of EXPORT_FORMATS) register(exportCommand(format), withSession((s) => exportCheckpoint(s, format)));
  register('weightscope.copyMarkdown', withSession((s) => copyMarkdown(s)));
  register('weightscope.showMetadata', withSession((s) => openMetadata(s)));
  register('weightscope.reload', withSession((s) => s.doc.load()));
  register('weightscope.expandAll', withSession((s) => s.command('expandAll')));
  register('weightscope.collapseAll', withSession((s) => s.command('collapseAll')));
  register('weightscope.focusFilter', withSession((s) => s.command('focusSearch')));
  register('weightscope.copyParameterCount', async () => {
    const n = status.exactUnique;
    if (n === undefined) return;
    await vscode.env.clipboard.writeText(String(n));
    void vscode.window.setStatusBarMessage(`$(check) Copied ${n} to the clipboard`, 3000);
  });

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration(SECTION)) return;
      for (const s of provider.allSessions()) s.pushSettings();
      status.update();
    }),
  );

  // Remote checkpoints: hf:// and URLs, the token, the Hugging Face cache view (remote.ts).
  registerRemote(context, provider, log);

  const offer = new BinOffer(log);
  context.subscriptions.push(offer);
  register('weightscope.dismissBinOffer', (uri?: vscode.Uri | string) => {
    const target = uri ?? activeResource();
    if (target) offer.decline(target);
  });

  // Comparing two checkpoints (issue 14): side a is the clicked file or the active editor's.
  registerCompare(context, log, () => provider.target()?.doc.uri);
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}

function activeResource(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input instanceof vscode.TabInputText || input instanceof vscode.TabInputCustom) return input.uri;
  return vscode.window.activeTextEditor?.document.uri;
}

/** A tab showing `uri` in an editor other than Weightscope's (text, binary notice, hex...). */
function isOtherEditorOf(tab: vscode.Tab, key: string): boolean {
  const input = tab.input;
  if (input instanceof vscode.TabInputText) return input.uri.toString() === key;
  if (input instanceof vscode.TabInputCustom) return input.uri.toString() === key && !input.viewType.startsWith('weightscope.');
  return false;
}

/**
 * Open a file with Weightscope in place of the editor showing it, as VS Code's "Reopen Editor
 * With…" does: in the same editor group, and the old tab (e.g. "binary file") closes.
 */
async function reopenWithWeightscope(uri: vscode.Uri): Promise<void> {
  const key = uri.toString();
  const groups = vscode.window.tabGroups;
  const active = groups.activeTabGroup;
  const candidates = groups.all.flatMap((g) => g.tabs.filter((t) => isOtherEditorOf(t, key)));
  const old = candidates.find((t) => t.group === active && t.isActive) ?? candidates.find((t) => t.group === active) ?? candidates[0];
  const column = old?.group.viewColumn ?? active.viewColumn;
  await vscode.commands.executeCommand('vscode.openWith', uri, viewTypeFor(uri.path), column);
  if (!old) return;
  // The tab objects are snapshots: find the old one again in its group, and leave it if dirty.
  const group = groups.all.find((g) => g.viewColumn === column);
  const stale = group?.tabs.find((t) => isOtherEditorOf(t, key) && t.label === old.label);
  if (stale && !stale.isDirty) await groups.close(stale, true);
}
