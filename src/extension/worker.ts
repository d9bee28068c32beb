/**
 * The parser worker (bundled to dist/worker.js). Opens the checkpoint named in workerData,
 * posts the webview payload (or the error with its reason), then keeps the analysed checkpoint
 * and answers the host's calls (tensor pages, exports, metadata) until it is terminated.
 */
import { parentPort, workerData } from 'worker_threads';
import { CheckpointService, serializeError, WorkerCall, WorkerData, WorkerMessage } from './loader';

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const post = (m: WorkerMessage) => port.postMessage(m);
  let service: CheckpointService;
  try {
    service = await CheckpointService.open((workerData as WorkerData).path);
  } catch (e) {
    post({ type: 'failed', error: serializeError(e) });
    return;
  }
  port.on('message', (c: WorkerCall) => {
    service.call(c).then(
      (result) => post({ type: 'result', id: c.id, ok: true, result }),
      (e) => post({ type: 'result', id: c.id, ok: false, error: serializeError(e) }),
    );
  });
  post({ type: 'opened', payload: service.payload });
  // Index the tensors while the webview draws, so the first hover or table page is quick.
  setImmediate(() => void service.warm());
}

void main();
