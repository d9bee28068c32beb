/**
 * The checkpoint side of the host ↔ worker RPC: opens a checkpoint, keeps the analysed
 * Checkpoint, and answers `WorkerApi` calls about it (tensor pages, exports, metadata). Runs in
 * the parser worker (main.ts), or in-process over an in-memory transport when no worker can
 * start. Pure Node, no vscode import.
 */
import { EXPORT_FORMATS, exportAs, isExportFormat } from '../core/export';
import type { Checkpoint } from '../core/model';
import type { ExportRequest, ExportResult, ModelPayload, TensorPage, TensorQuery, WorkerApi, WorkerEvents } from '../shared/protocol';
import { workerApiValidators } from '../shared/protocol';
import { Handlers, RpcEndpoint, Transport } from '../shared/rpc';
import { buildPayload, displayName } from './payload';
import { TensorIndex } from './tensorIndex';

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (ArrayBuffer.isView(value)) return Array.from(value as Uint8Array);
  return value;
}

/** One opened checkpoint and what is asked of it. */
export class CheckpointService {
  private index?: TensorIndex;

  private constructor(
    readonly checkpoint: Checkpoint,
    readonly payload: ModelPayload,
  ) {}

  static async open(filePath: string, progress?: WorkerEvents['progress']): Promise<CheckpointService> {
    const core = await import('../core/index');
    progress?.({ stage: 'reading', file: filePath });
    const checkpoint = await core.openCheckpoint(filePath);
    progress?.({ stage: 'building', file: filePath });
    return new CheckpointService(checkpoint, buildPayload(checkpoint));
  }

  /** Build the tensor index ahead of the first question (called once the payload is out). */
  warm(): void {
    if (!this.index) {
      this.index = new TensorIndex(this.checkpoint);
      this.index.query({ kind: 'names', names: [] });
    }
  }

  tensors(q: TensorQuery): TensorPage {
    this.warm();
    return this.index!.query(q);
  }

  async export(p: ExportRequest): Promise<ExportResult> {
    if (!isExportFormat(p.format)) throw Object.assign(new Error(`unknown export format ${p.format}`), { code: 'bad-params' });
    return { format: p.format, data: await exportAs(this.checkpoint, p.format, { depth: p.depth, unfold: p.unfold }) };
  }

  metadata(): string {
    const cp = this.checkpoint;
    return JSON.stringify({ file: displayName(cp), format: cp.format, config: cp.config ?? null, metadata: cp.metadata }, jsonReplacer, 2);
  }
}

/**
 * Serve `WorkerApi` on a transport: the worker's whole job. `open` may be called once; the other
 * calls need it first.
 */
export function serveCheckpoints(transport: Transport): RpcEndpoint<WorkerApi, WorkerEvents> {
  let service: CheckpointService | undefined;
  let opening = false;
  const need = (): CheckpointService => {
    if (!service) throw Object.assign(new Error('no checkpoint is open'), { code: 'not-open' });
    return service;
  };
  const handlers: Handlers<WorkerApi> = {
    open: async ({ path }) => {
      if (opening || service) throw Object.assign(new Error('this worker has a checkpoint open already'), { code: 'already-open' });
      opening = true;
      service = await CheckpointService.open(path, (p) => endpoint.notify('progress', p));
      // Index the tensors while the webview draws, so the first hover or table page is quick.
      const s = service;
      setTimeout(() => s.warm(), 0);
      return s.payload;
    },
    tensors: (q) => need().tensors(q),
    export: (p) => need().export(p),
    metadata: () => need().metadata(),
  };
  const endpoint = new RpcEndpoint<WorkerApi, WorkerEvents>(transport, handlers, { name: 'worker', validate: workerApiValidators(EXPORT_FORMATS) });
  return endpoint;
}
