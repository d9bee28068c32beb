/**
 * The read-only custom editor `weightscope.checkpoint`. A CheckpointDocument parses once; every
 * editor on it (several may be open) is a PanelSession that talks to its webview through the
 * shared protocol (webview/src/shared/protocol.ts).
 */
import * as path from 'path';
import * as vscode from 'vscode';
import {
  HostMessage,
  HostRequests,
  isWebviewMessage,
  PendingRequests,
  ResponseMessage,
  WebviewMessage,
  WebviewRequests,
} from '../../webview/src/shared/protocol';
import { isDefaultEditorFile } from '../core/formats';
import { viewSettings } from './config';
import { CheckpointDocument } from './document';
import { makeNonce, webviewHtml } from './html';

export const VIEW_TYPE = 'weightscope.checkpoint';
/** The same editor as an option for files whose name says little (`*.bin`...). */
export const OPTION_VIEW_TYPE = 'weightscope.checkpointOption';

/** The editor id to open a file with: the default one when its name is a checkpoint's (the format registry's patterns). */
export function viewTypeFor(fileName: string): string {
  return isDefaultEditorFile(fileName) ? VIEW_TYPE : OPTION_VIEW_TYPE;
}

export interface SessionActions {
  export(session: PanelSession, format: import('../../webview/src/shared/protocol').ExportFormat): Promise<void>;
  copyMarkdown(session: PanelSession): Promise<void>;
  openMetadata(session: PanelSession): Promise<void>;
}

/** One editor (webview panel) showing a document. */
export class PanelSession implements vscode.Disposable {
  private readonly pending = new PendingRequests<HostRequests>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly readyEvent = new vscode.EventEmitter<void>();
  private ready = false;
  /** Hidden webviews are torn down; after being shown again they say `ready` anew. */
  private rebuilding = false;
  /** The module the user selected in this editor. */
  selected: string | null = null;

  constructor(
    readonly doc: CheckpointDocument,
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly actions: SessionActions,
    private readonly log: vscode.LogOutputChannel,
  ) {
    const dist = vscode.Uri.joinPath(extensionUri, 'dist');
    const webview = panel.webview;
    webview.options = { enableScripts: true, enableCommandUris: false, localResourceRoots: [dist, vscode.Uri.joinPath(extensionUri, 'media')] };
    webview.html = webviewHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.css')).toString(),
      codiconUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'codicon.css')).toString(),
      title: doc.fileName,
    });
    this.disposables.push(
      webview.onDidReceiveMessage((m: unknown) => {
        if (isWebviewMessage(m)) void this.onMessage(m);
        else this.log.warn(`ignored a malformed message from the webview: ${JSON.stringify(m)?.slice(0, 200)}`);
      }),
      doc.onDidChangeState(() => this.pushState()),
      panel.onDidChangeViewState((e) => {
        if (!e.webviewPanel.visible) this.rebuilding = true;
      }),
      this.readyEvent,
    );
  }

  post(m: HostMessage): void {
    if (!this.ready) return;
    void this.panel.webview.postMessage(m);
  }

  /** Ask the webview something (PNG rendering, its view state). */
  async request<M extends keyof HostRequests & string>(method: M, params: HostRequests[M]['params'], timeoutMs = 60000): Promise<HostRequests[M]['result']> {
    await this.whenReady(10000);
    const { message, result } = this.pending.create(method, params as never, timeoutMs);
    void this.panel.webview.postMessage(message);
    return result as Promise<HostRequests[M]['result']>;
  }

  /** Resolves once the (possibly just rebuilt) webview has said `ready` and shows the model. */
  private whenReady(timeoutMs: number): Promise<void> {
    if (this.ready && this.panel.visible && !this.rebuilding) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.dispose();
        reject(new Error('the Weightscope editor did not become ready'));
      }, timeoutMs);
      const sub = this.readyEvent.event(() => {
        clearTimeout(timer);
        sub.dispose();
        resolve();
      });
    });
  }

  /** Send whatever the document currently is: loading, model or error. */
  pushState(): void {
    const s = this.doc.state;
    if (s.kind === 'loading') this.post({ type: 'loading', fileName: this.doc.fileName, reloading: s.reloading });
    else if (s.kind === 'error') this.post({ type: 'error', fileName: this.doc.fileName, message: s.message, code: s.code });
    else this.post({ type: 'model', generation: s.generation, settings: viewSettings(this.doc.uri), payload: s.payload });
  }

  private async onMessage(m: WebviewMessage): Promise<void> {
    switch (m.type) {
      case 'ready':
        // Also after each tab switch: the webview was rebuilt and restores its own view state.
        this.ready = true;
        this.rebuilding = false;
        this.pushState();
        this.readyEvent.fire();
        return;
      case 'request':
        await this.answer(m);
        return;
      case 'response':
        this.pending.settle(m);
        return;
      case 'export':
        await this.actions.export(this, m.format);
        return;
      case 'copyMarkdown':
        await this.actions.copyMarkdown(this);
        return;
      case 'openMetadata':
        await this.actions.openMetadata(this);
        return;
      case 'reload':
        await this.doc.load();
        return;
      case 'selected':
        this.selected = m.path;
        return;
    }
  }

  private async answer(m: Extract<WebviewMessage, { type: 'request' }>): Promise<void> {
    const reply = (r: ResponseMessage<WebviewRequests>) => void this.panel.webview.postMessage(r);
    const s = this.doc.state;
    try {
      if (s.kind !== 'ready') throw new Error('no model is loaded');
      if (m.params.generation !== s.generation) throw new Error('the model was reloaded');
      const t0 = Date.now();
      const result = await s.backend.query(m.params.query);
      const ms = Date.now() - t0;
      if (ms > 50) this.log.debug(`tensor query ${m.params.query.kind} took ${ms} ms`);
      reply({ type: 'response', id: m.id, method: 'tensors', ok: true, result });
    } catch (e) {
      reply({ type: 'response', id: m.id, method: 'tensors', ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** The webview's state changes (settings) are pushed as they happen. */
  pushSettings(): void {
    this.post({ type: 'settings', settings: viewSettings(this.doc.uri) });
  }

  command(command: 'expandAll' | 'collapseAll' | 'focusSearch' | 'showMetadata'): void {
    this.post({ type: 'command', command });
  }

  dispose(): void {
    this.pending.rejectAll('the editor was closed');
    for (const d of this.disposables) d.dispose();
  }
}

export class CheckpointEditorProvider implements vscode.CustomReadonlyEditorProvider<CheckpointDocument> {
  private readonly sessions = new Set<PanelSession>();
  private _active: PanelSession | undefined;
  private lastActive: PanelSession | undefined;
  private readonly activeChanged = new vscode.EventEmitter<PanelSession | undefined>();
  /** The focused Weightscope editor changed (or its document did). */
  readonly onDidChangeActive = this.activeChanged.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly actions: SessionActions,
    private readonly log: vscode.LogOutputChannel,
  ) {
    context.subscriptions.push(this.activeChanged);
  }

  get active(): PanelSession | undefined {
    return this._active;
  }

  /** The session a command should act on: the one for `uri`, the active one, or the last active. */
  target(uri?: vscode.Uri): PanelSession | undefined {
    if (uri instanceof vscode.Uri) {
      const key = uri.toString();
      const matches = [...this.sessions].filter((s) => s.doc.uri.toString() === key);
      return matches.find((s) => s === this._active) ?? matches.find((s) => s.panel.visible) ?? matches[0] ?? this._active ?? this.lastActive;
    }
    return this._active ?? this.lastActive;
  }

  allSessions(): PanelSession[] {
    return [...this.sessions];
  }

  async openCustomDocument(uri: vscode.Uri, _openContext: vscode.CustomDocumentOpenContext, _token: vscode.CancellationToken): Promise<CheckpointDocument> {
    const workerPath = path.join(this.context.extensionUri.fsPath, 'dist', 'worker.js');
    const doc = new CheckpointDocument(uri, workerPath, this.log);
    void doc.load();
    return doc;
  }

  async resolveCustomEditor(doc: CheckpointDocument, panel: vscode.WebviewPanel, _token: vscode.CancellationToken): Promise<void> {
    const session = new PanelSession(doc, panel, this.context.extensionUri, this.actions, this.log);
    this.sessions.add(session);
    const sub = doc.onDidChangeState(() => {
      if (this._active === session) this.activeChanged.fire(session);
    });
    panel.onDidChangeViewState((e) => {
      if (e.webviewPanel.active) this.setActive(session);
      else if (this._active === session) this.setActive(undefined);
    });
    panel.onDidDispose(() => {
      sub.dispose();
      session.dispose();
      this.sessions.delete(session);
      if (this.lastActive === session) this.lastActive = undefined;
      if (this._active === session) this.setActive(undefined);
    });
    if (panel.active) this.setActive(session);
  }

  private setActive(s: PanelSession | undefined): void {
    this._active = s;
    if (s) this.lastActive = s;
    this.activeChanged.fire(s);
  }
}
