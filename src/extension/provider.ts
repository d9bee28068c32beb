/**
 * The read-only custom editor `weightscope.checkpoint`. A CheckpointDocument parses once; every
 * editor on it (several may be open) is a PanelSession that serves `HostApi` to its webview and
 * calls `WebviewApi` on it, over the typed RPC (src/shared/rpc.ts, src/shared/protocol.ts).
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { EXPORT_FORMATS, ExportFormat } from '../core/export';
import { isDefaultEditorFile } from '../core/formats';
import { HostApi, HostCommand, hostApiValidators, PROTOCOL_VERSION, RemoteOpen, WebviewApi } from '../shared/protocol';
import { Handlers, RpcEndpoint, vscodeWebviewTransport } from '../shared/rpc';
import { viewSettings } from './config';
import { CheckpointDocument, DocState } from './document';
import { ParserPool } from './loader';
import { loadPage } from './page';
import { EXPORT_CHOICES } from './naming';
import type { RemoteRef } from './remoteAddress';

export const VIEW_TYPE = 'weightscope.checkpoint';
/** The same editor as an option for files whose name says little (`*.bin`...). */
export const OPTION_VIEW_TYPE = 'weightscope.checkpointOption';

/** The editor id to open a file with: the default one when its name is a checkpoint's (the format registry's patterns). */
export function viewTypeFor(fileName: string): string {
  return isDefaultEditorFile(fileName) ? VIEW_TYPE : OPTION_VIEW_TYPE;
}

export interface SessionActions {
  export(session: PanelSession, format: ExportFormat): Promise<void>;
  copyMarkdown(session: PanelSession): Promise<void>;
  openMetadata(session: PanelSession): Promise<void>;
}

/** One editor (webview panel) showing a document. */
export class PanelSession implements vscode.Disposable {
  private readonly rpc: RpcEndpoint<HostApi, WebviewApi>;
  private readonly disposables: vscode.Disposable[] = [];
  /** The webview has said `ready` (hidden webviews are torn down and say it again when shown). */
  private ready = false;
  /** The module the user selected in this editor. */
  selected: string | null = null;

  constructor(
    readonly doc: CheckpointDocument,
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly actions: SessionActions,
    private readonly log: vscode.LogOutputChannel,
  ) {
    const webview = panel.webview;
    loadPage(webview, extensionUri, 'webview', doc.fileName, [vscode.Uri.joinPath(extensionUri, 'media')]);
    this.rpc = new RpcEndpoint<HostApi, WebviewApi>(vscodeWebviewTransport(webview, () => this.ready), this.handlers(), {
      name: 'webview',
      validate: hostApiValidators(EXPORT_FORMATS),
      onMalformed: (m, why) => this.log.warn(`ignored a message from the webview (${why}): ${JSON.stringify(m)?.slice(0, 200)}`),
      onNotificationError: (method, e) => this.log.warn(`${method} from the webview failed: ${e.message}`),
    });
    this.disposables.push(
      doc.onDidChangeState(() => this.pushState()),
      doc.onDidProgress((p) => this.rpc.notify('progress', p)),
    );
  }

  /**
   * Pass a webview's question on to the worker of the model it shows (same signal: cancelling in
   * the webview cancels in the worker). Nothing is kept or parsed here: pages go through.
   */
  private async relay<M extends 'nodes' | 'search' | 'groups' | 'tensors'>(
    generation: number,
    ask: (backend: Extract<DocState, { kind: 'ready' }>['backend']) => Promise<Awaited<ReturnType<HostApi[M]>>>,
    what: string,
  ): Promise<Awaited<ReturnType<HostApi[M]>>> {
    const s = this.doc.state;
    if (s.kind !== 'ready') throw new Error('no model is loaded');
    if (generation !== s.generation) throw new Error('the model was reloaded');
    const t0 = Date.now();
    const r = await ask(s.backend);
    const ms = Date.now() - t0;
    if (ms > 50) this.log.debug(`${what} took ${ms} ms`);
    return r;
  }

  private handlers(): Handlers<HostApi> {
    return {
      ready: ({ protocol }) => {
        // Also after each tab switch: the webview was rebuilt and restores its own view state.
        this.ready = true;
        if (protocol !== PROTOCOL_VERSION) {
          this.log.warn(`the webview speaks protocol ${protocol}, the host ${PROTOCOL_VERSION}`);
          this.rpc.notify('error', {
            fileName: this.doc.fileName,
            code: 'protocol',
            message: `This editor's page (protocol ${protocol}) does not match the extension (protocol ${PROTOCOL_VERSION}). Close the editor and open the file again.`,
          });
          return;
        }
        this.pushState();
      },
      nodes: ({ generation, query }, ctx) => this.relay<'nodes'>(generation, (b) => b.call('nodes', query, { signal: ctx.signal }), `node query ${query.kind}`),
      search: ({ generation, query }, ctx) => this.relay<'search'>(generation, (b) => b.call('search', query, { signal: ctx.signal }), 'search'),
      groups: ({ generation, ids }, ctx) => this.relay<'groups'>(generation, (b) => b.call('groups', { ids }, { signal: ctx.signal }), 'group query'),
      tensors: ({ generation, query }, ctx) => this.relay<'tensors'>(generation, (b) => b.call('tensors', query, { signal: ctx.signal }), `tensor query ${query.kind}`),
      export: ({ format }) => this.actions.export(this, format as ExportFormat),
      copyMarkdown: () => this.actions.copyMarkdown(this),
      openMetadata: () => this.actions.openMetadata(this),
      reload: () => this.doc.load(),
      selected: ({ path }) => {
        this.selected = path;
      },
      // Remote checkpoints (remote.ts): the source's page, and a token for an `auth` error.
      openSource: () => void vscode.commands.executeCommand('weightscope.openRepositoryPage', this.doc.uri),
      setToken: () => void vscode.commands.executeCommand('weightscope.setHuggingFaceToken', this.doc.uri),
    };
  }

  /** Send whatever the document currently is: loading, model or error. */
  pushState(): void {
    const s = this.doc.state;
    if (s.kind === 'loading') this.rpc.notify('loading', { fileName: this.doc.fileName, reloading: s.reloading, progress: s.progress });
    else if (s.kind === 'error') this.rpc.notify('error', { fileName: this.doc.fileName, message: s.message, code: s.code });
    else this.rpc.notify('model', { generation: s.generation, settings: viewSettings(this.doc.uri), head: s.head, exports: EXPORT_CHOICES.slice() });
  }

  /** The webview's state changes (settings) are pushed as they happen. */
  pushSettings(): void {
    this.rpc.notify('settings', viewSettings(this.doc.uri));
  }

  command(command: HostCommand): void {
    this.rpc.notify('command', { command });
  }

  dispose(): void {
    this.rpc.close('the editor was closed');
    for (const d of this.disposables) d.dispose();
  }
}

export class CheckpointEditorProvider implements vscode.CustomReadonlyEditorProvider<CheckpointDocument> {
  private readonly sessions = new Set<PanelSession>();
  private _active: PanelSession | undefined;
  private lastActive: PanelSession | undefined;
  private readonly activeChanged = new vscode.EventEmitter<PanelSession | undefined>();
  /** The token and cache mode for a remote document (set by remote.ts). */
  remoteOptions?: (ref: RemoteRef) => Promise<RemoteOpen>;
  /** A parser worker started ahead of the next open (after the first). */
  private readonly pool = new ParserPool();
  /** The focused Weightscope editor changed (or its document did). */
  readonly onDidChangeActive = this.activeChanged.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly actions: SessionActions,
    private readonly log: vscode.LogOutputChannel,
  ) {
    context.subscriptions.push(this.activeChanged, { dispose: () => this.pool.dispose() });
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
    const doc = new CheckpointDocument(uri, workerPath, this.log, () => viewSettings(uri).expandDepth, (ref) => this.remoteOptions?.(ref) ?? Promise.resolve({}), this.pool);
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
