/**
 * The worker launcher: parsing off the extension host's main thread. A worker_threads Worker
 * (dist/worker.js, src/worker/) opens the checkpoint and stays alive for that document: it keeps
 * the analysed Checkpoint and answers `WorkerApi` calls (modules, searches, groups, tensor
 * pages, exports, metadata) over the typed RPC, so the host's main thread never holds (or
 * deserialises) a 100,000-tensor checkpoint: it keeps the head (summary and first view, a few
 * kilobytes) and relays what the webview asks for, a page at a time.
 *
 * When no worker can be started, the same service runs in-process behind an in-memory
 * transport: the host talks to it the same way. Pure Node (no vscode import), so mocha tests it.
 */
import { existsSync } from 'fs';
import { Worker } from 'worker_threads';
import type { CompareHead, ModelHead, OpenTiming, Progress, RemoteOpen, WorkerApi, WorkerEvents } from '../shared/protocol';
import { CallArgs, isRpcError, memoryPair, Method, nodePortTransport, Result, RpcEndpoint } from '../shared/rpc';
import { epochNow, serveCheckpoints } from '../worker/service';

/** How long a call may take before the host gives up on it (open: no limit, it is cancellable). */
const TIMEOUT_MS: Record<Exclude<Method<WorkerApi>, 'open'>, number> = {
  nodes: 30_000,
  search: 30_000,
  groups: 30_000,
  tensors: 30_000,
  export: 180_000,
  metadata: 30_000,
  compare: 0,
  compareRows: 30_000,
  compareTensors: 30_000,
  compareExport: 180_000,
};

/** The host's end of an opened checkpoint: calls to its worker (or the in-process service). */
export class CheckpointClient {
  constructor(
    readonly via: 'worker' | 'host',
    private readonly rpc: RpcEndpoint<WorkerEvents, WorkerApi>,
    private readonly release: () => void,
  ) {}

  call<M extends Exclude<Method<WorkerApi>, 'open'>>(method: M, ...[params, opts]: CallArgs<WorkerApi, M>): Promise<Result<WorkerApi, M>> {
    return this.rpc.call(method, ...([params, { timeoutMs: TIMEOUT_MS[method], ...opts }] as CallArgs<WorkerApi, M>));
  }

  /** Open the checkpoint in the worker; no timeout (a large one takes a while) but cancellable. */
  open(path: string, signal?: AbortSignal, expandDepth?: number, remote?: RemoteOpen): Promise<ModelHead> {
    return this.rpc.call('open', { path, ...(expandDepth === undefined ? {} : { expandDepth }), ...(remote ? { remote } : {}) }, { signal });
  }

  dispose(): void {
    this.rpc.close('the checkpoint was closed');
    this.release();
  }
}

/** A parser that answered its first call: the answer (a model's or a comparison's head) and the parser kept as the backend. */
export interface Loaded<H> {
  head: H;
  backend: CheckpointClient;
  ms: number;
  /** When the load started and when the head arrived (epoch ms, the clock `OpenTiming` uses). */
  started: number;
  arrived: number;
}

/**
 * Where an open's time went, for the log: the worker starting (or a spare ready beforehand), the
 * call reaching it, reading, analysis, the first view, the head's way back.
 */
export function openTimingText(started: number, arrived: number, t: OpenTiming): string {
  const ms = (a: number, b: number) => `${Math.max(0, Math.round(b - a))} ms`;
  const worker = t.ready <= started ? 'a spare worker, ready beforehand' : `worker start ${ms(started, t.ready)}`;
  return `${worker}, call ${ms(Math.max(started, t.ready), t.called)}, reading ${ms(t.called, t.read)}, analysis ${ms(t.read, t.analysed)}, first view ${ms(t.analysed, t.head)}, head to host ${ms(t.head, arrived)}`;
}

/** A failure to open, with the reader's reason (CheckpointError code when there is one). */
export class LoadError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'LoadError';
  }
}

export class LoadCancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'LoadCancelled';
  }
}

export interface LoadOptions {
  /** dist/worker.js; without it (or if it is missing) parsing runs in-process. */
  workerPath?: string;
  signal?: AbortSignal;
  /** Heap limit for the worker, MiB. */
  maxOldGenerationSizeMb?: number;
  /** Where a worker started ahead may be waiting (and where the next one is started). */
  pool?: ParserPool;
  onProgress?: (p: Progress) => void;
  /** Expansion depth of the first view (`weightscope.expandDepth`). */
  expandDepth?: number;
  /** Called when the parser is gone: its worker thread exited (or the in-process service closed). */
  onExit?: () => void;
  /** For an hf:// or http(s):// address: the token and cache mode (remoteAddress.ts). */
  remote?: RemoteOpen;
}

function events(opts: LoadOptions): WorkerEvents {
  return { progress: (p) => opts.onProgress?.(p) };
}

/** A worker thread, listened to from its start (an idle spare may fail too), not yet served. */
interface Started {
  worker: Worker;
  workerPath: string;
  maxOldGenerationSizeMb?: number;
  crashed?: Error & { code?: string };
  exited: boolean;
  onExit?: () => void;
}

/**
 * The parser's young generation, MiB: V8 gives it semi-spaces of a third of it, 2 MiB here.
 * Nearly everything an open allocates is kept (records, names, module nodes), and a scavenge
 * copies what survives: left to itself V8 grows each semi-space to 16 MiB, and survivors are
 * copied again at every scavenge while it grows. Kept small, they are promoted after one short
 * copy. On the DeepSeek-V3 layout (`node scripts/worker-open.mjs`, 6 rounds each way) the open
 * took 0.89-0.93x as long, the reading of the 163 headers 0.85x (docs/performance.md, "Seventh
 * pass").
 */
const PARSER_YOUNG_GENERATION_MB = 6;

/** A new worker thread; null when no worker can start here. */
function spawn(workerPath: string, maxOldGenerationSizeMb: number | undefined): Started | null {
  let worker: Worker;
  try {
    worker = new Worker(workerPath, {
      resourceLimits: { maxYoungGenerationSizeMb: PARSER_YOUNG_GENERATION_MB, ...(maxOldGenerationSizeMb ? { maxOldGenerationSizeMb } : {}) },
    });
  } catch {
    return null;
  }
  const s: Started = { worker, workerPath, maxOldGenerationSizeMb, exited: false };
  worker.once('error', (e) => (s.crashed = e));
  worker.once('exit', () => {
    s.exited = true;
    s.onExit?.();
  });
  return s;
}

/** The host's client on a started worker. */
function attach(s: Started, opts: LoadOptions): { client: CheckpointClient; crash: () => (Error & { code?: string }) | undefined } {
  s.onExit = opts.onExit;
  const rpc = new RpcEndpoint<WorkerEvents, WorkerApi>(nodePortTransport(s.worker), events(opts), { name: 'parser' });
  return { client: new CheckpointClient('worker', rpc, () => void s.worker.terminate()), crash: () => s.crashed };
}

/** A spare is started this long after an open answered (not while its first view paints). */
const SPARE_AFTER_MS = 2000;
/** An unused spare is stopped after this long (its thread and heap are freed). */
const SPARE_IDLE_MS = 10 * 60_000;

/**
 * One parser worker started ahead of the next open (issue 11). A worker takes a few hundred
 * milliseconds to start (a Node environment, then the bundle loaded and compiled) before it can
 * read a byte; a spare has done that already. The first open in a window starts its own; each
 * open then leaves a spare behind for the next (another model, a reload), started a moment after
 * the open answered so it does not compete with the first paint. A spare is unreferenced (it
 * never keeps the process alive), stopped after SPARE_IDLE_MS unused, and used only when it was
 * started with the same file and heap limit as asked for.
 */
export class ParserPool {
  private spare?: Started;
  private timer?: ReturnType<typeof setTimeout>;
  private expiry?: ReturnType<typeof setTimeout>;
  private disposed = false;

  constructor(
    private readonly afterMs = SPARE_AFTER_MS,
    private readonly idleMs = SPARE_IDLE_MS,
  ) {}

  /** The spare, if there is a usable one for these settings (it is then the caller's). */
  take(workerPath: string, maxOldGenerationSizeMb: number | undefined): Started | undefined {
    const s = this.spare;
    this.spare = undefined;
    clearTimeout(this.expiry);
    if (!s) return undefined;
    if (s.exited || s.crashed || s.workerPath !== workerPath || s.maxOldGenerationSizeMb !== maxOldGenerationSizeMb) {
      void s.worker.terminate();
      return undefined;
    }
    s.worker.ref();
    return s;
  }

  /** Start a spare for the next open, `afterMs` from now, unless one is waiting or coming. */
  refill(workerPath: string, maxOldGenerationSizeMb: number | undefined): void {
    if (this.disposed || this.spare || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.disposed || this.spare) return;
      const s = spawn(workerPath, maxOldGenerationSizeMb);
      if (!s) return;
      s.worker.unref();
      this.spare = s;
      this.expiry = setTimeout(() => this.drop(), this.idleMs);
      this.expiry.unref?.();
    }, this.afterMs);
    this.timer.unref?.();
  }

  /** A spare is waiting. */
  get ready(): boolean {
    return !!this.spare && !this.spare.exited;
  }

  private drop(): void {
    const s = this.spare;
    this.spare = undefined;
    if (s) void s.worker.terminate();
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    clearTimeout(this.expiry);
    this.drop();
  }
}

function startInProcess(opts: LoadOptions): CheckpointClient {
  const [host, service] = memoryPair();
  const server = serveCheckpoints(service);
  const rpc = new RpcEndpoint<WorkerEvents, WorkerApi>(host, events(opts), { name: 'parser' });
  return new CheckpointClient('host', rpc, () => {
    server.close('the checkpoint was closed');
    opts.onExit?.();
  });
}

/** What a failed `open` says to the user. */
function loadError(e: unknown, crash: (Error & { code?: string }) | undefined): Error {
  if (crash) {
    const oom = crash.code === 'ERR_WORKER_OUT_OF_MEMORY';
    return new LoadError(oom ? `the checkpoint's headers need more memory than the parser may use (${crash.message})` : `the parser failed: ${crash.message}`, oom ? 'too-large' : undefined);
  }
  if (isRpcError(e, 'closed')) return new LoadError(`the parser stopped unexpectedly (${e.message})`);
  if (isRpcError(e)) return new LoadError(e.message, e.code === 'internal' ? undefined : e.code);
  return new LoadError(e instanceof Error ? e.message : String(e));
}

export async function loadCheckpoint(filePath: string, opts: LoadOptions = {}): Promise<Loaded<ModelHead>> {
  // When cancelled, the worker is terminated, whatever it was doing.
  return withParser(opts, (client) => client.open(filePath, opts.signal, opts.expandDepth, opts.remote));
}

/** A comparison (issue 14): a parser worker of its own opens both checkpoints and keeps the comparison. */
export async function loadComparison(a: string, b: string, opts: LoadOptions = {}): Promise<Loaded<CompareHead>> {
  // No timeout (two large models take a while) but cancellable: the worker is terminated.
  return withParser(opts, (client) => client.call('compare', { a, b }, { signal: opts.signal }));
}

/**
 * Start a parser (a worker, else in-process) and make its first call; the parser is kept as the
 * backend when it answers, disposed when it fails or the load is cancelled.
 */
async function withParser<H>(opts: LoadOptions, first: (client: CheckpointClient) => Promise<H>): Promise<Loaded<H>> {
  const t0 = epochNow();
  if (opts.signal?.aborted) throw new LoadCancelled();
  const workerPath = opts.workerPath && existsSync(opts.workerPath) ? opts.workerPath : undefined;
  const thread = workerPath ? (opts.pool?.take(workerPath, opts.maxOldGenerationSizeMb) ?? spawn(workerPath, opts.maxOldGenerationSizeMb)) : null;
  const started = thread ? attach(thread, opts) : null;
  const client = started?.client ?? startInProcess(opts);
  try {
    const head = await first(client);
    if (opts.signal?.aborted) throw new LoadCancelled();
    const arrived = epochNow();
    return { head, backend: client, ms: Math.round(arrived - t0), started: t0, arrived };
  } catch (e) {
    client.dispose();
    if (opts.signal?.aborted || e instanceof LoadCancelled) throw new LoadCancelled();
    throw loadError(e, started?.crash());
  } finally {
    if (workerPath) opts.pool?.refill(workerPath, opts.maxOldGenerationSizeMb);
  }
}
