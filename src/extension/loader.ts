/**
 * Parsing off the extension host's main thread. A worker_threads Worker (dist/worker.js) opens
 * the checkpoint, builds the webview payload, and then stays alive for that document: it keeps
 * the analysed Checkpoint and answers tensor pages and exports, so the host's main thread never
 * holds (or deserialises) a 100,000-tensor checkpoint; it only relays the compact payload.
 *
 * When no worker can be started, the same Backend interface runs in-process (headers only, so
 * it stays bounded). Pure Node (no vscode import), so it is tested with mocha.
 */
import { existsSync } from 'fs';
import { Worker } from 'worker_threads';
import type { Checkpoint } from '../core/model';
import type { ExportFormat, ModelPayload, TensorPage, TensorQuery } from '../../webview/src/shared/protocol';

/** Everything the host asks of an opened checkpoint. */
export interface Backend {
  readonly via: 'worker' | 'host';
  query(q: TensorQuery): Promise<TensorPage>;
  /** Any export but PNG (the webview rasterises the SVG). */
  exportAs(format: Exclude<ExportFormat, 'png'>, opts: { depth?: number }): Promise<string>;
  /** config.json, `__metadata__`, GGUF keys... in full, as pretty JSON. */
  metadataJson(fileName: string): Promise<string>;
  dispose(): void;
}

export interface LoadResult {
  payload: ModelPayload;
  backend: Backend;
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
}

// ---------------------------------------------------------------------------------------------
// Host <-> worker messages

export interface WorkerData {
  path: string;
}

export type WorkerCall =
  | { id: number; op: 'query'; query: TensorQuery }
  | { id: number; op: 'export'; format: Exclude<ExportFormat, 'png'>; depth?: number }
  | { id: number; op: 'metadata'; fileName: string };

/** A call without its id (assigned when sent). */
type CallBody = WorkerCall extends infer C ? (C extends WorkerCall ? Omit<C, 'id'> : never) : never;

export type WorkerMessage =
  | { type: 'opened'; payload: ModelPayload }
  | { type: 'failed'; error: SerializedError }
  | { type: 'result'; id: number; ok: true; result: unknown }
  | { type: 'result'; id: number; ok: false; error: SerializedError };

export interface SerializedError {
  message: string;
  code?: string;
  name?: string;
}

export function serializeError(e: unknown): SerializedError {
  if (e && typeof e === 'object') {
    const err = e as { message?: unknown; code?: unknown; name?: unknown };
    return {
      message: typeof err.message === 'string' ? err.message : String(e),
      code: typeof err.code === 'string' ? err.code : undefined,
      name: typeof err.name === 'string' ? err.name : undefined,
    };
  }
  return { message: String(e) };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (ArrayBuffer.isView(value)) return Array.from(value as Uint8Array);
  return value;
}

// ---------------------------------------------------------------------------------------------
// The checkpoint side (runs in the worker, or in-process as the fallback)

/** Opens a checkpoint and answers calls about it. Used by the worker and the fallback. */
export class CheckpointService {
  private index?: import('./view').TensorIndex;

  private constructor(
    readonly checkpoint: Checkpoint,
    readonly payload: ModelPayload,
  ) {}

  static async open(filePath: string): Promise<CheckpointService> {
    const core = await import('../core/index');
    const view = await import('./view');
    const checkpoint = await core.openCheckpoint(filePath);
    return new CheckpointService(checkpoint, view.buildPayload(checkpoint));
  }

  /** Build the tensor index ahead of the first question (called once the payload is out). */
  async warm(): Promise<void> {
    if (!this.index) {
      const view = await import('./view');
      this.index = new view.TensorIndex(this.checkpoint);
      this.index.query({ kind: 'names', names: [] });
    }
  }

  async call(c: WorkerCall): Promise<unknown> {
    switch (c.op) {
      case 'query': {
        await this.warm();
        return this.index!.query(c.query);
      }
      case 'export': {
        const { exportAs } = await import('../core/export/index');
        const out = await exportAs(this.checkpoint, c.format, { depth: c.depth });
        return typeof out === 'string' ? out : Buffer.from(out).toString('utf8');
      }
      case 'metadata': {
        const cp = this.checkpoint;
        return JSON.stringify({ file: c.fileName, format: cp.format, config: cp.config ?? null, metadata: cp.metadata }, jsonReplacer, 2);
      }
    }
  }
}

class InProcessBackend implements Backend {
  readonly via = 'host' as const;
  constructor(private readonly service: CheckpointService) {}
  query(q: TensorQuery): Promise<TensorPage> {
    return this.service.call({ id: 0, op: 'query', query: q }) as Promise<TensorPage>;
  }
  exportAs(format: Exclude<ExportFormat, 'png'>, opts: { depth?: number }): Promise<string> {
    return this.service.call({ id: 0, op: 'export', format, depth: opts.depth }) as Promise<string>;
  }
  metadataJson(fileName: string): Promise<string> {
    return this.service.call({ id: 0, op: 'metadata', fileName }) as Promise<string>;
  }
  dispose(): void {
    // Nothing to release beyond the references.
  }
}

class WorkerBackend implements Backend {
  readonly via = 'worker' as const;
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;

  constructor(private readonly worker: Worker) {
    worker.on('message', (m: WorkerMessage) => {
      if (m.type !== 'result') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new LoadError(m.error.message, m.error.code));
    });
    const fail = (e: Error) => {
      this.dead = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', (e) => fail(new Error(`the parser stopped: ${e.message}`)));
    worker.on('exit', () => fail(new Error('the parser has stopped')));
  }

  private call<T>(c: CallBody): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...c, id } as WorkerCall);
    });
  }

  query(q: TensorQuery): Promise<TensorPage> {
    return this.call({ op: 'query', query: q });
  }
  exportAs(format: Exclude<ExportFormat, 'png'>, opts: { depth?: number }): Promise<string> {
    return this.call({ op: 'export', format, depth: opts.depth });
  }
  metadataJson(fileName: string): Promise<string> {
    return this.call({ op: 'metadata', fileName });
  }
  dispose(): void {
    this.dead = this.dead ?? new Error('the checkpoint was closed');
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
    void this.worker.terminate();
  }
}

// ---------------------------------------------------------------------------------------------

function startWorker(workerPath: string, filePath: string, opts: LoadOptions): Promise<{ payload: ModelPayload; backend: Backend }> {
  return new Promise((resolve, reject) => {
    let worker: Worker;
    try {
      worker = new Worker(workerPath, {
        workerData: { path: filePath } satisfies WorkerData,
        resourceLimits: opts.maxOldGenerationSizeMb ? { maxOldGenerationSizeMb: opts.maxOldGenerationSizeMb } : undefined,
      });
    } catch (e) {
      reject(Object.assign(new Error(`worker did not start: ${(e as Error).message}`), { workerStart: true }));
      return;
    }
    let settled = false;
    const settle = (fn: () => void, keep: boolean) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (!keep) void worker.terminate();
      fn();
    };
    const onAbort = () => settle(() => reject(new LoadCancelled()), false);
    const onMessage = (m: WorkerMessage) => {
      if (m.type === 'opened') settle(() => resolve({ payload: m.payload, backend: new WorkerBackend(worker) }), true);
      else if (m.type === 'failed') settle(() => reject(new LoadError(m.error.message, m.error.code)), false);
    };
    const onError = (e: Error & { code?: string }) => {
      const oom = e.code === 'ERR_WORKER_OUT_OF_MEMORY';
      const err = new LoadError(oom ? `the checkpoint's headers need more memory than the parser may use (${e.message})` : `the parser failed: ${e.message}`, oom ? 'too-large' : undefined);
      settle(() => reject(err), false);
    };
    const onExit = (code: number) => settle(() => reject(new LoadError(`the parser exited unexpectedly (code ${code})`)), false);
    opts.signal?.addEventListener('abort', onAbort);
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

export async function loadCheckpoint(filePath: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const t0 = Date.now();
  if (opts.signal?.aborted) throw new LoadCancelled();
  let opened: { payload: ModelPayload; backend: Backend } | undefined;
  if (opts.workerPath && existsSync(opts.workerPath)) {
    try {
      opened = await startWorker(opts.workerPath, filePath, opts);
    } catch (e) {
      if (!(e as { workerStart?: boolean }).workerStart) throw e;
      opened = undefined; // no worker could start: fall back below
    }
  }
  if (!opened) {
    let service: CheckpointService;
    try {
      service = await CheckpointService.open(filePath);
    } catch (e) {
      const s = serializeError(e);
      throw new LoadError(s.message, s.code);
    }
    opened = { payload: service.payload, backend: new InProcessBackend(service) };
  }
  if (opts.signal?.aborted) {
    opened.backend.dispose();
    throw new LoadCancelled();
  }
  return { ...opened, ms: Date.now() - t0 };
}
