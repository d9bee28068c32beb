/**
 * Weightscope for VS Code: a read-only custom editor for ML checkpoints, its commands, the
 * status bar item, and the suggestion to open `*.bin` checkpoints with it.
 */
import { promises as fs } from 'fs';
import * as vscode from 'vscode';
import { EXPORT_FORMATS } from '../core/export';
import { MODEL_READY_CONTEXT, SECTION, suggestForBin } from './config';
import { copyMarkdown, exportCheckpoint, metadataDocuments, openMetadata, pickExport, sessionActions } from './exports';
import { exportCommand, METADATA_SCHEME } from './naming';
import { CheckpointEditorProvider, OPTION_VIEW_TYPE, PanelSession, VIEW_TYPE, viewTypeFor } from './provider';
import { formatLabel, OPEN_DIALOG_EXTENSIONS, recognise, SNIFF_BYTES } from '../core/formats';
import { ParameterStatus } from './status';


export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Weightscope', { log: true });
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

  register('weightscope.openWith', async (uri?: vscode.Uri) => {
    let target = uri instanceof vscode.Uri ? uri : activeResource();
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

  watchBinFiles(context);
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

/**
 * `*.bin` may be anything, so Weightscope is only an optional editor for it. When one opens in
 * another editor and its first bytes say it is a checkpoint, offer to reopen it.
 */
function watchBinFiles(context: vscode.ExtensionContext): void {
  const offered = new Set<string>();
  const check = async (uri: vscode.Uri) => {
    if (uri.scheme !== 'file' || !/\.bin$/i.test(uri.fsPath) || offered.has(uri.toString()) || !suggestForBin()) return;
    offered.add(uri.toString());
    let kind: ReturnType<typeof recognise>;
    try {
      const fh = await fs.open(uri.fsPath, 'r');
      try {
        const st = await fh.stat();
        const buf = Buffer.alloc(Math.min(SNIFF_BYTES, st.size));
        await fh.read(buf, 0, buf.length, 0);
        kind = recognise(buf, st.size);
      } finally {
        await fh.close();
      }
    } catch {
      return;
    }
    if (!kind) return;
    const name = formatLabel(kind.match.variant ?? Object.keys(kind.module.variants)[0]);
    const label = `${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name} checkpoint`;
    const open = 'Open with Weightscope';
    const never = "Don't Ask Again";
    const pick = await vscode.window.showInformationMessage(`${vscode.workspace.asRelativePath(uri)} looks like ${label}.`, open, never);
    if (pick === open) await reopenWithWeightscope(uri);
    else if (pick === never) await vscode.workspace.getConfiguration(SECTION).update('suggestForBinFiles', false, vscode.ConfigurationTarget.Global);
  };
  context.subscriptions.push(
    vscode.window.tabGroups.onDidChangeTabs((e) => {
      for (const tab of e.opened) {
        const input = tab.input;
        if (input instanceof vscode.TabInputText) void check(input.uri);
      }
    }),
  );
}
