/** A worker_threads worker for test/rpc.test.ts: serves TestApi on its parentPort. */
import { parentPort } from 'worker_threads';
import { CheckpointError } from '../src/core/errors';
import { nodePortTransport, RpcEndpoint } from '../src/shared/rpc';
import type { TestApi, TestEvents } from './rpc.test';

if (parentPort) {
  const rpc: RpcEndpoint<TestApi, TestEvents> = new RpcEndpoint<TestApi, TestEvents>(nodePortTransport(parentPort), {
    echo: (p) => p,
    add: ({ a, b }) => a + b,
    bytes: ({ n }) => Uint8Array.from({ length: n }, (_, i) => i & 0xff),
    fail: () => {
      throw new CheckpointError('bad-header', 'the header is not JSON', { file: 'x.safetensors', offset: 8, record: '__metadata__' });
    },
    wait: ({ ms }, ctx) =>
      new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve('done'), ms);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          rpc.notify('aborted', { why: 'cancel' });
          resolve('aborted');
        });
      }),
    poke: ({ text }) => rpc.notify('poked', { text }),
  });
}
