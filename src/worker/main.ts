/**
 * The parser worker (bundled to dist/worker.js): serves `WorkerApi` (src/shared/protocol.ts)
 * on its parentPort. The host calls `open`; the worker keeps the analysed checkpoint and
 * answers tensor pages, exports (every format, PNG included) and metadata until it is
 * terminated. The host's main thread never parses or holds the checkpoint.
 */
import { parentPort } from 'worker_threads';
import { nodePortTransport } from '../shared/rpc';
import { serveCheckpoints } from './service';

if (parentPort) serveCheckpoints(nodePortTransport(parentPort));
