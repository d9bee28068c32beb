/**
 * One opened checkpoint, shared by every editor showing it: its parse state (loading, ready,
 * error), a progress notification when opening takes a while, and a reload when the file (or a
 * shard, or config.json beside it) changes on disk.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { monitorEventLoopDelay, performance } from 'perf_hooks';
import * as vscode from 'vscode';
import type { ModelHead, Progress, RemoteOpen } from '../shared/protocol';
import { CheckpointClient, LoadCancelled, LoadError, loadCheckpoint, openTimingText, ParserPool } from './loader';
import { redactAddress, RemoteRef, remoteFromUri } from './remoteAddress';
import { isIndexFile, MAX_INDEX_BYTES, shardNamesFromIndex, watchGlob } from './watchlist';

export type DocState =
  | { kind: 'loading'; reloading: boolean; progress?: Progress }
  | { kind: 'ready'; generation: number; head: ModelHead; backend: CheckpointClient; ms: number }
  | { kind: 'error'; message: string; code?: string };

/**
 * Show a progress notification (with Cancel) only for opens slower than this. The editor shows
 * its own progress from its first frame; the notification's progress bar repaints the workbench
 * every frame, which on a 2-core machine took ~10% of a core from the worker while it opened
 * the DeepSeek-V3 layout (issue 11), so it waits until an open is long enough to want Cancel.
 */
const PROGRESS_AFTER_MS = 3000;
const RELOAD_DEBOUNCE_MS = 300;

export class CheckpointDocument implements vscode.CustomDocument {
  private _state: DocState = { kind: 'loading', reloading: false };
  private generation = 0;
  private abort?: AbortController;
  private readonly changed = new vscode.EventEmitter<DocState>();
  readonly onDidChangeState = this.changed.event;
  private readonly progressed = new vscode.EventEmitter<Progress>();
  /** How far the open got (the webviews show it). */
  readonly onDidProgress = this.progressed.event;
  private readonly disposables: vscode.Disposable[] = [this.changed, this.progressed];
  private watchers: vscode.Disposable[] = [];
  private reloadTimer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;
  private retired: CheckpointClient[] = [];
  /** The files the last successful open read: still watched after a failed reload. */
  private knownFiles: readonly string[] = [];
  /** Bumped on each watch(), so a late index read does not replace a newer watcher. */
  private watchSeq = 0;

  constructor(
    readonly uri: vscode.Uri,
    private readonly workerPath: string,
    private readonly log: vscode.LogOutputChannel,
    /** Expansion depth of the first view, read when an open starts. */
    private readonly expandDepth: () => number = () => 2,
    /** For a `weightscope-remote:` document: the token and cache mode to open its address with. */
    private readonly remoteOptions: (ref: RemoteRef) => Promise<RemoteOpen> = async () => ({}),
    /** Parser workers started ahead (shared by the documents of the window). */
    private readonly pool?: ParserPool,
  ) {}

  get state(): DocState {
    return this._state;
  }

  get fileName(): string {
    return path.basename(this.uri.fsPath || this.uri.path);
  }

  private setState(s: DocState): void {
    const old = this._state;
    // The previous parse's worker goes when its model is replaced.
    if (old.kind === 'ready' && !(s.kind === 'ready' && s.backend === old.backend)) this.retired.push(old.backend);
    this._state = s;
    if (s.kind !== 'loading') this.releaseRetired();
    if (!this.disposed) this.changed.fire(s);
  }

  /** Parse (again). Resolves when done; errors end up in the state, never thrown. */
  async load(): Promise<void> {
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    const reloading = this._state.kind === 'ready';
    this.setState({ kind: 'loading', reloading });
    // A remote checkpoint (hf://, a URL): the worker reads its headers over HTTP, nothing is downloaded.
    const remote = remoteFromUri(this.uri);
    if (this.uri.scheme !== 'file' && !remote) {
      this.setState({
        kind: 'error',
        code: 'unsupported',
        message: `Weightscope reads checkpoints from the file system with ranged reads; files from "${this.uri.scheme}:" are not supported. Open the folder locally, or through Remote-SSH / WSL / Dev Containers, where Weightscope runs beside the files.`,
      });
      return;
    }
    const file = remote ? remote.address : this.uri.fsPath;
    const shown = remote ? redactAddress(remote.address) : file;
    let remoteOpts: RemoteOpen | undefined;
    if (remote) {
      remoteOpts = await this.remoteOptions(remote);
      if (this.abort !== abort || this.disposed) return;
    }
    let done = false;
    const stall = new StallProbe();
    const work = loadCheckpoint(file, {
      workerPath: this.workerPath,
      signal: abort.signal,
      maxOldGenerationSizeMb: 4096,
      pool: this.pool,
      expandDepth: this.expandDepth(),
      remote: remoteOpts,
      onProgress: (p) => {
        if (this.abort !== abort || this.disposed) return;
        if (this._state.kind === 'loading') this._state.progress = p;
        this.progressed.fire(p);
      },
    });
    // A progress notification only when the open is slow enough to notice.
    const timer = setTimeout(() => {
      if (done || abort.signal.aborted) return;
      void vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Weightscope: reading the headers of ${this.fileName}`, cancellable: true },
        (_progress, token) => {
          token.onCancellationRequested(() => abort.abort());
          return work.catch(() => undefined);
        },
      );
    }, PROGRESS_AFTER_MS);
    try {
      const r = await work;
      if (abort.signal.aborted || this.disposed) {
        r.backend.dispose();
        return;
      }
      const split = r.head.timing ? ` (${openTimingText(r.started, r.arrived, r.head.timing)})` : '';
      this.log.info(`opened ${shown} in ${r.ms} ms (${r.backend.via}); ${r.head.summary.tensorCount} tensors, ${r.head.moduleCount} modules; ${r.head.view.nodes.length} sent for the first view${split}`);
      const t0 = performance.now();
      // The editors, the status bar and the context keys hear of it now (synchronously).
      this.setState({ kind: 'ready', generation: ++this.generation, head: r.head, backend: r.backend, ms: r.ms });
      stall.ownWork = performance.now() - t0;
      this.knownFiles = r.head.summary.files.slice();
      void this.watch(false);
      // The webviews get the model next: keep measuring through that, then say how it went.
      stall.stopAfter(500, (m) => {
        this.log.info(
          `host event loop while opening ${path.basename(shown)}: longest stall ${m.max.toFixed(1)} ms (p99 ${m.p99.toFixed(1)} ms over ${(m.ms / 1000).toFixed(1)} s; loop busy ${(100 * m.busy).toFixed(1)}%; handing the model to the editors took ${m.ownWork.toFixed(1)} ms)`,
        );
        // The same probe with nothing opening: what the machine alone does to the loop.
        new StallProbe().stopAfter(3000, (b) => this.log.info(`host event loop idle afterwards: longest stall ${b.max.toFixed(1)} ms (p99 ${b.p99.toFixed(1)} ms over ${(b.ms / 1000).toFixed(1)} s; loop busy ${(100 * b.busy).toFixed(1)}%)`));
      });
    } catch (e) {
      if (this.disposed) return;
      if (e instanceof LoadCancelled) {
        if (this.abort === abort) this.setState({ kind: 'error', code: 'cancelled', message: 'Opening was cancelled. Use "Try again" to open it.' });
        return;
      }
      const message = e instanceof Error ? e.message : String(e);
      const code = e instanceof LoadError ? e.code : undefined;
      this.log.warn(`could not open ${shown}: ${message}`);
      this.setState({ kind: 'error', message, code });
      // Keep watching every file the checkpoint is made of, so fixing a broken shard reloads.
      void this.watch(true);
    } finally {
      done = true;
      clearTimeout(timer);
      stall.stopAfter(0);
    }
  }

  private releaseRetired(): void {
    for (const b of this.retired) b.dispose();
    this.retired = [];
  }

  /**
   * Watch the files the checkpoint is read from (and its config.json) for changes. After a
   * failed open also the shards its index names and siblings with its extension.
   */
  private async watch(failed: boolean): Promise<void> {
    // A remote checkpoint has nothing on disk to watch: "Reload Checkpoint" reads it again.
    if (this.uri.scheme !== 'file') return;
    const seq = ++this.watchSeq;
    const file = this.uri.fsPath;
    let indexShards: string[] = [];
    if (failed && isIndexFile(file)) indexShards = await readIndexShards(file);
    if (seq !== this.watchSeq || this.disposed) return;
    for (const w of this.watchers) w.dispose();
    this.watchers = [];
    const glob = watchGlob({ openedFile: file, knownFiles: this.knownFiles, indexShards, failed });
    const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(path.dirname(file)), glob));
    const onChange = (uri: vscode.Uri) => {
      this.log.info(`changed on disk: ${uri.fsPath}`);
      this.scheduleReload();
    };
    w.onDidChange(onChange);
    w.onDidCreate(onChange);
    w.onDidDelete(onChange);
    this.watchers.push(w);
  }

  scheduleReload(): void {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => void this.load(), RELOAD_DEBOUNCE_MS);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.reloadTimer);
    this.abort?.abort();
    if (this._state.kind === 'ready') this._state.backend.dispose();
    this.releaseRetired();
    for (const w of this.watchers) w.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

/** Shard names from a sharded checkpoint's index (empty when it cannot be read). */
async function readIndexShards(file: string): Promise<string[]> {
  try {
    const st = await fs.stat(file);
    if (st.size > MAX_INDEX_BYTES) return [];
    return shardNamesFromIndex(await fs.readFile(file, 'utf8'));
  } catch {
    return [];
  }
}

export interface StallFigures {
  max: number;
  p99: number;
  ms: number;
  busy: number;
  ownWork: number;
}

/**
 * The extension host's event loop while a model opens (issue 11: it must never stall more than
 * 50 ms): Node's event-loop delay histogram, sampled every 10 ms.
 */
export class StallProbe {
  private readonly h = monitorEventLoopDelay({ resolution: 10 });
  private readonly t0 = Date.now();
  private readonly elu = performance.eventLoopUtilization();
  private stopped = false;
  /** Time our own code took handing the model over (ms). */
  ownWork = 0;

  constructor() {
    this.h.enable();
  }

  /** Longest stall and 99th percentile so far (ms), and the share of the time the loop was busy. */
  measure(): StallFigures {
    const elu = performance.eventLoopUtilization(this.elu);
    return { max: this.h.max / 1e6, p99: this.h.percentile(99) / 1e6, ms: Date.now() - this.t0, busy: elu.utilization, ownWork: this.ownWork };
  }

  /** Stop after `ms` (once; later calls do nothing) and report. */
  stopAfter(ms: number, report?: (m: StallFigures) => void): void {
    if (this.stopped) return;
    this.stopped = true;
    const stop = () => {
      const m = this.measure();
      this.h.disable();
      report?.(m);
    };
    if (ms > 0) setTimeout(stop, ms);
    else stop();
  }
}
