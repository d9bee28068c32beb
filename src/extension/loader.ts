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
import type { CompareHead, ModelHead, Progress, RemoteOpen, WorkerApi, WorkerEvents } from '../shared/protocol';
import { CallArgs, isRpcError, memoryPair, Method, nodePortTransport, Result, RpcEndpoint } from '../shared/rpc';
import { serveCheckpoints } from '../worker/service';

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

export interface LoadResult {
  head: ModelHead;
  backend: CheckpointClient;
  ms: number;
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

/** A client on a new worker; null when no worker can start here. */
function startWorker(workerPath: string, opts: LoadOptions): { client: CheckpointClient; crash: () => (Error & { code?: string }) | undefined } | null {
  let worker: Worker;
  try {
    worker = new Worker(workerPath, {
      resourceLimits: opts.maxOldGenerationSizeMb ? { maxOldGenerationSizeMb: opts.maxOldGenerationSizeMb } : undefined,
    });
  } catch {
    return null;
  }
  let crashed: (Error & { code?: string }) | undefined;
  worker.once('error', (e) => (crashed = e));
  worker.once('exit', () => opts.onExit?.());
  const rpc = new RpcEndpoint<WorkerEvents, WorkerApi>(nodePortTransport(worker), events(opts), { name: 'parser' });
  return { client: new CheckpointClient('worker', rpc, () => void worker.terminate()), crash: () => crashed };
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

export async function loadCheckpoint(filePath: string, opts: LoadOptions = {}): Promise<LoadResult> {
  // When cancelled, the worker is terminated, whatever it was doing.
  return withParser(opts, (client) => client.open(filePath, opts.signal, opts.expandDepth, opts.remote));
}

/** A comparison (issue 14): a parser worker of its own opens both checkpoints and keeps the comparison. */
export async function loadComparison(a: string, b: string, opts: LoadOptions = {}): Promise<{ head: CompareHead; backend: CheckpointClient; ms: number }> {
  // No timeout (two large models take a while) but cancellable: the worker is terminated.
  return withParser(opts, (client) => client.call('compare', { a, b }, { signal: opts.signal }));
}

/**
 * Start a parser (a worker, else in-process) and make its first call; the parser is kept as the
 * backend when it answers, disposed when it fails or the load is cancelled.
 */
async function withParser<H>(opts: LoadOptions, first: (client: CheckpointClient) => Promise<H>): Promise<{ head: H; backend: CheckpointClient; ms: number }> {
  const t0 = Date.now();
  if (opts.signal?.aborted) throw new LoadCancelled();
  const started = opts.workerPath && existsSync(opts.workerPath) ? startWorker(opts.workerPath, opts) : null;
  const client = started?.client ?? startInProcess(opts);
  try {
    const head = await first(client);
    if (opts.signal?.aborted) throw new LoadCancelled();
    return { head, backend: client, ms: Date.now() - t0 };
  } catch (e) {
    client.dispose();
    if (opts.signal?.aborted || e instanceof LoadCancelled) throw new LoadCancelled();
    throw loadError(e, started?.crash());
  }
}
