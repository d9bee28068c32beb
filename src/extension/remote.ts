/**
 * Remote checkpoints in VS Code (issue 13): "Weightscope: Open from Hugging Face or URL…", the
 * Hugging Face token in VS Code's secret storage, the summary's link to the repository page, and
 * the "Hugging Face Cache" view of the models already downloaded (opened offline).
 *
 * A remote checkpoint opens in the same editor as a local file, as a `weightscope-remote:`
 * document whose URI carries the address (remoteAddress.ts); the worker reads its headers by
 * HTTP range requests (src/core/remote), nothing is downloaded. The host lists a repository's
 * files (one small JSON request, or the cache's folder) only to offer a choice when it holds
 * several checkpoints; it never opens a checkpoint itself.
 */
import * as vscode from 'vscode';
import { hubCacheDir, hubEndpoint } from '../core/remote/address';
import { CachedRepo, CachedRevision, listCachedRepos } from '../core/remote/cache';
import { listWeightChoices, WeightChoice } from '../core/remote/choices';
import { hubToken } from '../core/remote/hub';
import { CheckpointError } from '../core/errors';
import { bytes as fmtBytes } from '../core/numbers';
import type { CheckpointEditorProvider } from './provider';
import { VIEW_TYPE } from './provider';
import {
  cachedChoices as choicesOf,
  cachedRevisionAddress as revisionAddress,
  cachedRevisionLabel as revisionLabel,
  parseOpenInput,
  redactAddress,
  remoteFromUri,
  remoteOpenOptions,
  remoteUriParts,
  repoPageUrl,
  revisionError,
  TOKEN_SECRET,
  tokenError,
  withRevision,
} from './remoteAddress';

export const OPEN_REMOTE_COMMAND = 'weightscope.openRemote';
export const SET_TOKEN_COMMAND = 'weightscope.setHuggingFaceToken';
export const CLEAR_TOKEN_COMMAND = 'weightscope.clearHuggingFaceToken';
export const REPO_PAGE_COMMAND = 'weightscope.openRepositoryPage';
export const REFRESH_CACHE_COMMAND = 'weightscope.refreshHfCache';
export const OPEN_CACHED_COMMAND = 'weightscope.openCachedModel';
export const CACHE_VIEW = 'weightscope.hfCache';
/** Show the listing's progress only when it takes longer than this. */
const LISTING_PROGRESS_AFTER_MS = 400;

/** The Hub endpoint the worker will use too (it inherits this environment). */
function endpoint(): string {
  return hubEndpoint(process.env);
}

export function registerRemote(context: vscode.ExtensionContext, provider: CheckpointEditorProvider, log: vscode.LogOutputChannel): void {
  const secrets = context.secrets;
  const storedToken = async (): Promise<string | undefined> => {
    try {
      return (await secrets.get(TOKEN_SECRET)) || undefined;
    } catch (e) {
      // No keyring (a Linux session without one): the environment's token still applies.
      log.warn(`could not read the Hugging Face token from the secret storage: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  };
  provider.remoteOptions = async (ref) => remoteOpenOptions(ref, await storedToken(), endpoint());

  const register = (id: string, fn: (...args: never[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  /** Open an address in the Weightscope editor (a document per address; the same one is focused). */
  const openAddress = async (address: string, offline = false) => {
    const uri = vscode.Uri.from(remoteUriParts(address, { offline, endpoint: endpoint() }));
    log.info(`opening ${redactAddress(address)}${offline ? ' from the local Hugging Face cache' : ''}`);
    await vscode.commands.executeCommand('vscode.openWith', uri, VIEW_TYPE);
  };

  /** A quick pick when the address holds several checkpoints; the address to open, or undefined (dismissed). */
  const chooseIn = async (address: string, offline: boolean): Promise<string | undefined> => {
    const ep = endpoint();
    const ref = { address, offline };
    const opts = remoteOpenOptions(ref, await storedToken(), ep);
    let choices: WeightChoice[] = [];
    const abort = new AbortController();
    const listing = listWeightChoices(address, { ...opts, signal: abort.signal, http: { retries: 1 } });
    // A notification (with Cancel) only when the Hub is slow to answer.
    const timer = setTimeout(() => {
      void vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Weightscope: listing the files of ${redactAddress(address)}`, cancellable: true },
        (_p, cancel) => {
          cancel.onCancellationRequested(() => abort.abort());
          return listing.catch(() => undefined);
        },
      );
    }, LISTING_PROGRESS_AFTER_MS);
    try {
      choices = (await listing).choices;
    } catch (e) {
      if (e instanceof CheckpointError && e.code === 'cancelled') return undefined;
      // The editor says what went wrong (with a button for a missing token): open it there.
      log.info(`listing ${redactAddress(address)} failed (${e instanceof Error ? e.message : String(e)}); the editor will say why`);
      return address;
    } finally {
      clearTimeout(timer);
    }
    if (choices.length === 0) return address;
    if (choices.length === 1) return choices[0].address;
    const items = choices.map((c) => ({
      label: c.kind === 'folder' ? `$(folder) ${c.path}/` : `$(file-binary) ${c.path}`,
      description: c.size !== undefined ? fmtBytes(c.size) : undefined,
      choice: c,
    }));
    const pick = await vscode.window.showQuickPick(items, {
      title: `${redactAddress(address)} holds ${choices.length} checkpoints`,
      placeHolder: 'Open which one? (type to filter: Q4_K_M, fp16, unet…)',
      matchOnDescription: true,
    });
    return pick?.choice.address;
  };

  register(OPEN_REMOTE_COMMAND, async (arg?: unknown) => {
    const ep = endpoint();
    let address: string | undefined;
    if (typeof arg === 'string' && arg.trim()) {
      // From a link or another extension: the address as given, no questions but the choice.
      const r = parseOpenInput(arg, ep);
      if ('error' in r) {
        void vscode.window.showErrorMessage(`Weightscope: ${r.error}`);
        return;
      }
      address = r.address;
    } else {
      const text = await vscode.window.showInputBox({
        title: 'Open from Hugging Face or URL (1/2)',
        prompt: 'A repository id (owner/name), an hf:// address (hf://owner/name@revision/path) or an https:// URL of a checkpoint. Only the headers are read; nothing is downloaded.',
        placeHolder: 'openai-community/gpt2',
        ignoreFocusOut: true,
        validateInput: (v) => {
          if (!v.trim()) return undefined;
          const r = parseOpenInput(v, ep);
          return 'error' in r ? r.error : undefined;
        },
      });
      if (!text?.trim()) return;
      const r = parseOpenInput(text, ep);
      if ('error' in r) return;
      address = r.address;
      if (r.hub && !r.hasRevision) {
        const rev = await vscode.window.showInputBox({
          title: 'Open from Hugging Face or URL (2/2)',
          prompt: 'Revision: a branch, tag or commit. Enter for the default branch.',
          placeHolder: 'main',
          ignoreFocusOut: true,
          validateInput: (v) => revisionError(v),
        });
        if (rev === undefined) return;
        address = withRevision(address, rev, ep);
      }
    }
    const chosen = await chooseIn(address, false);
    if (chosen) await openAddress(chosen);
  });

  register(OPEN_CACHED_COMMAND, async (address?: unknown) => {
    if (typeof address === 'string') await openAddress(address, true);
  });

  /** Open again the remote editors a token may fix: the one asking, and those whose error asked for one. */
  const reloadAuthFailures = (uri?: vscode.Uri) => {
    const docs = new Set(provider.allSessions().map((s) => s.doc));
    for (const doc of docs) {
      const st = doc.state;
      const mine = uri && doc.uri.toString() === uri.toString();
      const wantsToken = st.kind === 'error' && (st.code === 'auth' || st.message.includes('Set Hugging Face Token'));
      if (remoteFromUri(doc.uri) && (mine || wantsToken)) void doc.load();
    }
  };

  register(SET_TOKEN_COMMAND, async (uri?: unknown) => {
    const host = safeHost(endpoint());
    const had = !!(await storedToken());
    const token = await vscode.window.showInputBox({
      title: 'Hugging Face token for Weightscope',
      prompt: `A read token (${host}/settings/tokens) for gated and private repositories. Kept in VS Code's secret storage; sent to ${host} for hf:// addresses only, never to other hosts.`,
      placeHolder: had ? 'A token is set: paste another to replace it' : 'hf_…',
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v ? tokenError(v) : undefined),
    });
    if (!token?.trim() || tokenError(token)) return;
    await secrets.store(TOKEN_SECRET, token.trim());
    log.info('a Hugging Face token was stored in the secret storage');
    void vscode.window.showInformationMessage(`Weightscope: Hugging Face token saved in VS Code's secret storage (sent to ${host} only).`);
    reloadAuthFailures(uri instanceof vscode.Uri ? uri : undefined);
  });

  register(CLEAR_TOKEN_COMMAND, async () => {
    const had = !!(await storedToken());
    await secrets.delete(TOKEN_SECRET);
    const fallback = hubToken(process.env) ? ' hf:// addresses now use the token from HF_TOKEN or the huggingface_hub token file.' : ' No other token is set (HF_TOKEN, the huggingface_hub token file).';
    void vscode.window.showInformationMessage(had ? `Weightscope: the Hugging Face token was removed from VS Code's secret storage.${fallback}` : `Weightscope: no Hugging Face token was stored.${fallback}`);
  });

  register(REPO_PAGE_COMMAND, async (uri?: unknown) => {
    const s = provider.target(uri instanceof vscode.Uri ? uri : undefined);
    const st = s?.doc.state;
    const source = st?.kind === 'ready' ? st.head.summary.source : undefined;
    const url = source ? repoPageUrl(source, endpoint()) : undefined;
    if (!url) {
      void vscode.window.showInformationMessage('Weightscope: this checkpoint has no repository page (it is not from the Hugging Face Hub).');
      return;
    }
    log.info(`opening the repository page ${url}`);
    await vscode.env.openExternal(vscode.Uri.parse(url, true));
  });

  // ------------------------------------------------------------------ the cache view
  const cache = new HfCacheTree(log);
  const view = vscode.window.createTreeView(CACHE_VIEW, { treeDataProvider: cache, showCollapseAll: true });
  context.subscriptions.push(view, cache);
  view.onDidChangeVisibility((e) => {
    if (e.visible) cache.refresh(false);
  });
  register(REFRESH_CACHE_COMMAND, () => cache.refresh(true));
}

function safeHost(ep: string): string {
  try {
    return new URL(ep).host;
  } catch {
    return ep;
  }
}

type CacheNode =
  | { kind: 'repo'; repo: CachedRepo; main: CachedRevision }
  | { kind: 'revision'; repo: CachedRepo; rev: CachedRevision }
  | { kind: 'choice'; repo: CachedRepo; rev: CachedRevision; choice: WeightChoice };

/** "Hugging Face Cache": models in the local cache with size and revision; each opens offline. */
export class HfCacheTree implements vscode.TreeDataProvider<CacheNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<CacheNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private repos: Promise<CachedRepo[]> | undefined;
  private listedAt = 0;

  constructor(private readonly log: vscode.LogOutputChannel) {}

  /** List the cache again (at most every few seconds unless asked for). */
  refresh(force: boolean): void {
    if (!force && Date.now() - this.listedAt < 5000) return;
    this.repos = undefined;
    this.changed.fire(undefined);
  }

  private list(): Promise<CachedRepo[]> {
    if (!this.repos) {
      this.listedAt = Date.now();
      const dir = hubCacheDir(process.env);
      this.repos = listCachedRepos({ cacheDir: dir }).then(
        // Models and whatever else holds checkpoints (datasets of parquet files do not).
        (all) => {
          const repos = all.filter((r) => r.revisions.some((v) => v.weights.length));
          this.log.info(`Hugging Face cache ${dir}: ${repos.length} repositories with checkpoints (of ${all.length})`);
          return repos;
        },
        (e) => {
          this.log.warn(`could not list the Hugging Face cache ${dir}: ${e instanceof Error ? e.message : String(e)}`);
          return [];
        },
      );
    }
    return this.repos;
  }

  async getChildren(node?: CacheNode): Promise<CacheNode[]> {
    if (!node) {
      return (await this.list()).map((repo) => ({ kind: 'repo' as const, repo, main: repo.revisions.find((r) => r.refs.includes('main')) ?? repo.revisions.find((r) => r.weights.length)! }));
    }
    if (node.kind === 'repo') {
      const revs = node.repo.revisions.filter((r) => r.weights.length);
      if (revs.length > 1) return revs.map((rev) => ({ kind: 'revision' as const, repo: node.repo, rev }));
      return choicesOf(node.repo, node.main).map((choice) => ({ kind: 'choice' as const, repo: node.repo, rev: node.main, choice }));
    }
    if (node.kind === 'revision') return choicesOf(node.repo, node.rev).map((choice) => ({ kind: 'choice' as const, repo: node.repo, rev: node.rev, choice }));
    return [];
  }

  getTreeItem(node: CacheNode): vscode.TreeItem {
    if (node.kind === 'choice') {
      const c = node.choice;
      const item = new vscode.TreeItem(c.kind === 'folder' ? `${c.path}/` : c.path, vscode.TreeItemCollapsibleState.None);
      item.description = c.size !== undefined ? fmtBytes(c.size) : undefined;
      item.iconPath = new vscode.ThemeIcon(c.kind === 'folder' ? 'folder' : 'file-binary');
      item.tooltip = `${c.address}\nopens offline from the local Hugging Face cache`;
      item.command = { command: OPEN_CACHED_COMMAND, title: 'Open', arguments: [c.address] };
      item.contextValue = 'hfCacheFile';
      return item;
    }
    const rev = node.kind === 'repo' ? node.main : node.rev;
    const multi = node.kind === 'repo' && node.repo.revisions.filter((r) => r.weights.length).length > 1;
    const several = choicesOf(node.repo, rev).length > 0;
    const label = node.kind === 'repo' ? node.repo.repo : revisionLabel(rev);
    const item = new vscode.TreeItem(label, multi || several ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = node.kind === 'repo' ? `repo:${node.repo.path}` : `rev:${node.repo.path}:${rev.commit}`;
    const size = node.kind === 'repo' ? node.repo.sizeOnDisk : rev.sizeOnDisk;
    item.description = node.kind === 'repo' ? `${fmtBytes(size)} · ${multi ? `${node.repo.revisions.length} revisions` : revisionLabel(rev)}` : fmtBytes(size);
    item.iconPath = new vscode.ThemeIcon(node.kind === 'repo' ? (node.repo.repoType === 'model' ? 'symbol-structure' : 'database') : 'git-commit');
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**${node.repo.repo}**${node.repo.repoType !== 'model' ? ` (${node.repo.repoType})` : ''}\n\n`);
    md.appendMarkdown(`${fmtBytes(size)} on disk · revision ${revisionLabel(rev)}\n\n`);
    md.appendText(`${rev.weights.length} weight file${rev.weights.length === 1 ? '' : 's'}: ${rev.weights.slice(0, 6).join(', ')}${rev.weights.length > 6 ? ', …' : ''}\n\n${rev.snapshot}`);
    item.tooltip = md;
    item.contextValue = node.kind === 'repo' ? 'hfCacheRepo' : 'hfCacheRevision';
    // A click opens it (offline); one holding several checkpoints expands to list them instead.
    if (!several && !multi) item.command = { command: OPEN_CACHED_COMMAND, title: 'Open', arguments: [revisionAddress(node.repo, rev)] };
    return item;
  }

  dispose(): void {
    this.changed.dispose();
  }
}
