/**
 * The comparison view (issue 14): "Weightscope: Compare with…" and "Compare Checkpoints" open a
 * webview panel of its own showing two checkpoints' module trees aligned by path. A parser
 * worker of its own opens both files and keeps the comparison (src/worker/compareService.ts);
 * the host relays the rows the webview shows, a page at a time, over the typed RPC
 * (CompareHostApi / CompareViewApi in src/shared/protocol.ts), and writes the exports the worker
 * renders (Markdown and SVG, the same as `weightscope diff --format markdown|svg`).
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { OPEN_DIALOG_EXTENSIONS } from '../core/formats';
import { CompareExportFormat, CompareHead, CompareHostApi, compareHostApiValidators, CompareViewApi, Progress, PROTOCOL_VERSION } from '../shared/protocol';
import { Handlers, RpcEndpoint, vscodeWebviewTransport } from '../shared/rpc';
import { comparePair, compareExportPath, sideName } from './compareNaming';
import { exportDepth, viewSettings } from './config';
import { loadPage } from './page';
import { CheckpointClient, LoadCancelled, loadComparison } from './loader';
import { viewTypeFor } from './provider';

export const COMPARE_VIEW_TYPE = 'weightscope.compare';

type State =
  | { kind: 'loading'; progress?: Progress }
  | { kind: 'ready'; generation: number; head: CompareHead; backend: CheckpointClient }
  | { kind: 'error'; message: string; code?: string };

/** One comparison panel. */
export class ComparePanel implements vscode.Disposable {
  static readonly panels = new Set<ComparePanel>();
  static last: ComparePanel | undefined;
  private readonly rpc: RpcEndpoint<CompareHostApi, CompareViewApi>;
  private state: State = { kind: 'loading' };
  private ready = false;
  private generation = 0;
  private readonly abort = new AbortController();

  constructor(
    readonly a: vscode.Uri,
    readonly b: vscode.Uri,
    readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {
    const webview = panel.webview;
    loadPage(webview, extensionUri, 'compare', `${this.label('a')} and ${this.label('b')}`);
    this.rpc = new RpcEndpoint<CompareHostApi, CompareViewApi>(vscodeWebviewTransport(webview, () => this.ready), this.handlers(), {
      name: 'compare webview',
      validate: compareHostApiValidators(),
      onMalformed: (m, why) => this.log.warn(`ignored a message from the comparison view (${why}): ${JSON.stringify(m)?.slice(0, 200)}`),
      onNotificationError: (method, e) => this.log.warn(`${method} from the comparison view failed: ${e.message}`),
    });
    ComparePanel.panels.add(this);
    ComparePanel.last = this;
    panel.onDidChangeViewState((e) => {
      if (e.webviewPanel.active) ComparePanel.last = this;
    });
    panel.onDidDispose(() => this.dispose());
  }

  /** The side as the user knows it: workspace-relative when inside the workspace. */
  label(side: 'a' | 'b'): string {
    return vscode.workspace.asRelativePath(side === 'a' ? this.a : this.b, false);
  }

  async load(): Promise<void> {
    this.setState({ kind: 'loading' });
    const workerPath = path.join(this.extensionUri.fsPath, 'dist', 'worker.js');
    try {
      const r = await loadComparison(this.a.fsPath, this.b.fsPath, {
        workerPath,
        signal: this.abort.signal,
        onProgress: (p) => {
          if (this.state.kind === 'loading') this.state.progress = p;
          this.rpc.notify('loading', { a: this.label('a'), b: this.label('b'), progress: p });
        },
      });
      this.log.info(`compared ${this.a.fsPath} with ${this.b.fsPath} in ${r.ms} ms (${r.backend.via})`);
      this.setState({ kind: 'ready', generation: ++this.generation, head: r.head, backend: r.backend });
    } catch (e) {
      if (e instanceof LoadCancelled) return;
      const err = e as Error & { code?: string };
      this.setState({ kind: 'error', message: err.message, code: err.code });
    }
  }

  private setState(s: State): void {
    this.state = s;
    this.push();
  }

  private push(): void {
    const s = this.state;
    if (s.kind === 'loading') this.rpc.notify('loading', { a: this.label('a'), b: this.label('b'), progress: s.progress });
    else if (s.kind === 'error') this.rpc.notify('error', { message: s.message, code: s.code });
    else this.rpc.notify('head', { generation: s.generation, head: this.labelled(s.head), settings: viewSettings(this.b) });
  }

  private labelled(h: CompareHead): CompareHead {
    return { ...h, a: { ...h.a, label: this.label('a') }, b: { ...h.b, label: this.label('b') } };
  }

  private backend(generation?: number): CheckpointClient {
    const s = this.state;
    if (s.kind !== 'ready') throw new Error(s.kind === 'loading' ? 'the comparison is still being made' : `the comparison failed: ${s.message}`);
    if (generation !== undefined && generation !== s.generation) throw new Error('the comparison was made again');
    return s.backend;
  }

  private handlers(): Handlers<CompareHostApi> {
    return {
      ready: ({ protocol }) => {
        this.ready = true;
        if (protocol !== PROTOCOL_VERSION) {
          this.rpc.notify('error', { code: 'protocol', message: `This view's page (protocol ${protocol}) does not match the extension (protocol ${PROTOCOL_VERSION}). Close it and compare again.` });
          return;
        }
        this.push();
      },
      rows: ({ generation, query }, ctx) => this.backend(generation).call('compareRows', query, { signal: ctx.signal }),
      tensors: ({ generation, id, offset, limit }, ctx) => this.backend(generation).call('compareTensors', { id, offset, limit }, { signal: ctx.signal }),
      export: ({ format }) => exportComparison(this, format),
      copyMarkdown: () => copyComparison(this),
      open: ({ side }) => {
        const uri = side === 'a' ? this.a : this.b;
        void vscode.commands.executeCommand('vscode.openWith', uri, viewTypeFor(uri.path), vscode.ViewColumn.Beside);
      },
    };
  }

  /** The export the worker renders, named as `weightscope diff A B` names the sides (workspace-relative paths). */
  render(format: CompareExportFormat): Promise<string> {
    return this.backend().call('compareExport', { format, labels: { a: this.label('a'), b: this.label('b') }, depth: exportDepth(this.b) });
  }

  pushSettings(): void {
    this.rpc.notify('settings', viewSettings(this.b));
  }

  dispose(): void {
    if (!ComparePanel.panels.delete(this)) return;
    if (ComparePanel.last === this) ComparePanel.last = [...ComparePanel.panels].pop();
    this.abort.abort();
    if (this.state.kind === 'ready') this.state.backend.dispose();
    this.rpc.close('the comparison was closed');
  }
}

export async function exportComparison(p: ComparePanel, format: CompareExportFormat): Promise<void> {
  const label = format === 'svg' ? 'SVG' : 'Markdown';
  let target: vscode.Uri | undefined;
  try {
    target = await vscode.window.showSaveDialog({
      title: `Export the comparison of ${p.label('a')} and ${p.label('b')} as ${label}`,
      defaultUri: vscode.Uri.file(compareExportPath(p.a.fsPath, p.b.fsPath, format)),
      filters: { [label]: [format === 'svg' ? 'svg' : 'md'] },
      saveLabel: 'Export',
    });
    if (!target) return;
    const text = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Weightscope: exporting the comparison as ${label}` }, () => p.render(format));
    await vscode.workspace.fs.writeFile(target, Buffer.from(text, 'utf8'));
  } catch (e) {
    void vscode.window.showErrorMessage(`Weightscope: export failed: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  const name = path.basename(target.fsPath);
  const pick = await vscode.window.showInformationMessage(`Exported ${name}`, 'Open');
  if (pick === 'Open') await vscode.window.showTextDocument(target, { preview: true });
}

export async function copyComparison(p: ComparePanel): Promise<void> {
  try {
    await vscode.env.clipboard.writeText(await p.render('markdown'));
    void vscode.window.setStatusBarMessage('$(check) Weightscope: comparison copied as Markdown', 3000);
  } catch (e) {
    void vscode.window.showErrorMessage(`Weightscope: copy failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Open a comparison panel of a and b. */
export function openComparison(a: vscode.Uri, b: vscode.Uri, extensionUri: vscode.Uri, log: vscode.LogOutputChannel): ComparePanel {
  const panel = vscode.window.createWebviewPanel(COMPARE_VIEW_TYPE, `${sideName(a.path)} ↔ ${sideName(b.path)}`, vscode.ViewColumn.Active, {
    enableScripts: true,
    enableFindWidget: false,
  });
  const p = new ComparePanel(a, b, panel, extensionUri, log);
  void p.load();
  return p;
}

async function pickCheckpoint(title: string, near?: vscode.Uri): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({
    title,
    canSelectMany: false,
    openLabel: 'Compare',
    defaultUri: near ? vscode.Uri.joinPath(near, '..') : undefined,
    filters: { Checkpoints: [...OPEN_DIALOG_EXTENSIONS], 'All files': ['*'] },
  });
  return picked?.[0];
}

/**
 * Registers the comparison commands. `current` gives the checkpoint the active Weightscope editor
 * shows (side a of "Compare with…" run from its title bar or the palette).
 */
export function registerCompare(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, current: () => vscode.Uri | undefined): void {
  const register = (id: string, fn: (...args: never[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  const start = (a: vscode.Uri, b: vscode.Uri) => {
    if (a.scheme !== 'file' || b.scheme !== 'file') {
      void vscode.window.showErrorMessage('Weightscope compares checkpoints on the file system (ranged reads).');
      return;
    }
    openComparison(a, b, context.extensionUri, log);
  };
  register('weightscope.compareWith', async (clicked?: vscode.Uri, selected?: vscode.Uri[]) => {
    const pair = comparePair(clicked instanceof vscode.Uri ? clicked : undefined, Array.isArray(selected) ? selected : undefined);
    if (pair.tooMany) {
      void vscode.window.showErrorMessage(`Weightscope compares two checkpoints; ${pair.tooMany} files are selected.`);
      return;
    }
    const a = pair.a ?? current() ?? (await pickCheckpoint('Compare: the first checkpoint (a)'));
    if (!a) return;
    const b = pair.b ?? (await pickCheckpoint(`Compare ${sideName(a.path)} with…`, a));
    if (b) start(a, b);
  });
  register('weightscope.compareCheckpoints', (clicked?: vscode.Uri, selected?: vscode.Uri[]) => {
    const pair = comparePair(clicked, selected);
    if (!pair.a || !pair.b) {
      void vscode.window.showErrorMessage(pair.tooMany ? `Weightscope compares two checkpoints; ${pair.tooMany} files are selected.` : 'Select two checkpoints in the Explorer to compare them.');
      return;
    }
    start(pair.a, pair.b);
  });
  const withPanel = (fn: (p: ComparePanel) => unknown) => () => {
    const p = ComparePanel.last;
    if (!p) {
      void vscode.window.showInformationMessage('Weightscope: open a comparison first (Weightscope: Compare with…).');
      return;
    }
    return fn(p);
  };
  register('weightscope.exportComparisonMarkdown', withPanel((p) => exportComparison(p, 'markdown')));
  register('weightscope.exportComparisonSvg', withPanel((p) => exportComparison(p, 'svg')));
  register('weightscope.copyComparisonMarkdown', withPanel((p) => copyComparison(p)));
  context.subscriptions.push(
    { dispose: () => [...ComparePanel.panels].forEach((p) => p.panel.dispose()) },
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('weightscope')) for (const p of ComparePanel.panels) p.pushSettings();
    }),
  );
}
