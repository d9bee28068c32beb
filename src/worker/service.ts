/**
 * The checkpoint side of the host ↔ worker RPC: opens a checkpoint, keeps the analysed
 * Checkpoint and its module index, and answers `WorkerApi` calls about it (the head, modules on
 * demand, searches, groups, tensor pages, exports, metadata). Runs in the parser worker
 * (main.ts), or in-process over an in-memory transport when no worker can start. Pure Node, no
 * vscode import.
 */
import { EXPORT_FORMATS, exportAs, isExportFormat } from '../core/export';
import type { Checkpoint } from '../core/model';
import type { ExportRequest, ExportResult, GroupPage, ModelHead, NodePage, NodeQuery, Progress, RemoteOpen, SearchQuery, SearchResult, TensorPage, TensorQuery, WorkerApi, WorkerEvents } from '../shared/protocol';
import { workerApiValidators } from '../shared/protocol';
import { Handlers, RpcEndpoint, Transport } from '../shared/rpc';
import { buildSummary, displayName } from './payload';
import { wireSource } from './source';
import { TensorIndex } from './tensorIndex';
import { TreeIndex } from './treeIndex';
import { CompareService } from './compareService';

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (ArrayBuffer.isView(value)) return Array.from(value as Uint8Array);
  return value;
}

/** Default expansion depth when the host does not say (`weightscope.expandDepth`'s default). */
const DEFAULT_EXPAND_DEPTH = 2;

/** Now on the clock every thread of the process shares (epoch ms). */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** One opened checkpoint and what is asked of it. */
export class CheckpointService {
  private index?: TensorIndex;

  private constructor(
    readonly checkpoint: Checkpoint,
    readonly tree: TreeIndex,
    readonly head: ModelHead,
  ) {}

  static async open(filePath: string, progress?: (p: Progress) => void, expandDepth = DEFAULT_EXPAND_DEPTH, remote?: RemoteOpen): Promise<CheckpointService> {
    const called = epochNow();
    const core = await import('../core/index');
    progress?.({ stage: 'reading', file: filePath });
    let raw: Awaited<ReturnType<typeof core.readCheckpoint>>;
    let source: Pick<Checkpoint, 'source' | 'bytesTransferred' | 'requests'> | undefined;
    let shards: Pick<Progress, 'filesDone' | 'filesTotal'> = {};
    if (core.isRemoteAddress(filePath)) {
      // hf:// or a URL: ranged reads over HTTP (or the local Hugging Face cache); the shards'
      // progress and the transfer's go out as one line.
      const { readRemote } = await import('../core/remote');
      let files: Partial<Progress> = {};
      let transfer: Partial<Progress> = {};
      const send = () => progress?.({ stage: 'reading', ...files, ...transfer });
      const r = await readRemote(filePath, {
        ...remote,
        onProgress: (p) => {
          files = p;
          send();
        },
        onTransfer: (t) => {
          transfer = { requests: t.requests, bytesTransferred: t.bytesTransferred, inFlight: t.inFlight };
          send();
        },
      });
      raw = r.raw;
      source = { source: r.source, bytesTransferred: r.transfer.bytesTransferred, requests: r.transfer.requests };
    } else {
      raw = await core.readCheckpoint(filePath, {
        onProgress: (p) => {
          shards = { filesDone: p.filesDone, filesTotal: p.filesTotal };
          progress?.({ stage: 'reading', ...p });
        },
      });
    }
    // The shards read stay on the line: a fast read may be over before the webview can show it.
    const read = epochNow();
    progress?.({ stage: 'analysing', file: filePath, tensors: raw.tensors.length, bytesRead: raw.bytesRead, ...shards });
    const checkpoint = core.analyze(raw, { consume: true });
    const analysed = epochNow();
    if (source) Object.assign(checkpoint, source);
    progress?.({ stage: 'building', file: filePath, tensors: checkpoint.tensors.length });
    const tree = new TreeIndex(checkpoint);
    const summary = buildSummary(checkpoint);
    const src = wireSource(checkpoint);
    if (src) summary.source = src;
    const head = tree.head(summary, expandDepth);
    head.timing = { ready: called, called, read, analysed, head: epochNow() };
    return new CheckpointService(checkpoint, tree, head);
  }

  /** Build the lookups ahead of the first question (called once the head is out). */
  warm(): void {
    if (!this.index) {
      this.tree.warm();
      this.index = new TensorIndex(this.tree);
    }
  }

  nodes(q: NodeQuery): NodePage {
    return this.tree.nodes(q);
  }

  search(q: SearchQuery): SearchResult {
    return this.tree.search(q);
  }

  groups(ids: readonly number[]): GroupPage {
    return this.tree.groups(ids);
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

/** Progress at most this often (the last shard, and a new stage, always go). */
const PROGRESS_EVERY_MS = 50;

/**
 * Serve `WorkerApi` on a transport: the worker's whole job. `open` may be called once; the other
 * calls need it first.
 */
export function serveCheckpoints(transport: Transport): RpcEndpoint<WorkerApi, WorkerEvents> {
  const ready = epochNow();
  let service: CheckpointService | undefined;
  let opening = false;
  let comparison: CompareService | undefined;
  const needComparison = (): CompareService => {
    if (!comparison) throw Object.assign(new Error('no comparison is open'), { code: 'not-open' });
    return comparison;
  };
  const need = (): CheckpointService => {
    if (!service) throw Object.assign(new Error('no checkpoint is open'), { code: 'not-open' });
    return service;
  };
  let lastSent = 0;
  let lastStage = '';
  const progress = (p: Progress) => {
    const now = Date.now();
    const final = p.filesTotal !== undefined && p.filesDone === p.filesTotal;
    if (p.stage === lastStage && !final && now - lastSent < PROGRESS_EVERY_MS) return;
    lastSent = now;
    lastStage = p.stage;
    endpoint.notify('progress', p);
  };
  const handlers: Handlers<WorkerApi> = {
    open: async ({ path, expandDepth, remote }) => {
      if (opening || service || comparison) throw Object.assign(new Error('this worker has a checkpoint open already'), { code: 'already-open' });
      opening = true;
      service = await CheckpointService.open(path, progress, expandDepth, remote);
      // Started ahead of the open (a spare worker), the thread was ready before it was asked.
      if (service.head.timing) service.head.timing.ready = ready;
      // Index the tensors while the webview draws, so the first hover or table page is quick.
      const s = service;
      setTimeout(() => s.warm(), 0);
      return s.head;
    },
    nodes: (q) => need().nodes(q),
    search: (q) => need().search(q),
    groups: ({ ids }) => need().groups(ids),
    tensors: (q) => need().tensors(q),
    export: (p) => need().export(p),
    metadata: () => need().metadata(),
    // A comparison worker (issue 14): opens two checkpoints instead of one.
    compare: async ({ a, b }) => {
      if (opening || service || comparison) throw Object.assign(new Error('this worker has a checkpoint open already'), { code: 'already-open' });
      opening = true;
      comparison = await CompareService.open(a, b, progress);
      return comparison.head();
    },
    compareRows: (q) => needComparison().rows(q),
    compareTensors: ({ id, offset, limit }) => needComparison().tensors(id, offset, limit),
    compareExport: (p) => needComparison().export(p),
  };
  const endpoint = new RpcEndpoint<WorkerApi, WorkerEvents>(transport, handlers, { name: 'worker', validate: workerApiValidators(EXPORT_FORMATS) });
  return endpoint;
}
