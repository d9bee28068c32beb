/**
 * The typed RPC (src/shared/rpc.ts): ids, timeouts, cancellation and supersede, typed errors,
 * notifications, malformed messages, over the in-memory pair and a real worker_threads worker.
 */
import * as assert from 'assert';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { CheckpointError } from '../src/core/errors';
import { errorData, Handlers, isRpcError, isRpcMessage, memoryPair, nodePortTransport, RpcEndpoint, RpcError, RpcMessage, Transport } from '../src/shared/rpc';
import { REPO } from './helpers';

export interface TestApi {
  echo(p: { s: string }): { s: string };
  add(p: { a: number; b: number }): number;
  bytes(p: { n: number }): Uint8Array;
  fail(): string;
  wait(p: { ms: number }): string;
  poke(p: { text: string }): void;
}

export interface TestEvents {
  aborted(p: { why: string }): void;
  poked(p: { text: string }): void;
}

const tick = () => new Promise((r) => setTimeout(r, 5));

/** A server with TestApi and a client, over an in-memory pair whose traffic is recorded. */
function pair(opts: { serverOpts?: ConstructorParameters<typeof RpcEndpoint<TestApi, TestEvents>>[2]; events?: Partial<Handlers<TestEvents>> } = {}) {
  const [a, b] = memoryPair();
  const sent: RpcMessage[] = [];
  const spy: Transport = { ...a, send: (m) => (sent.push(m), a.send(m)), listen: a.listen };
  const started: string[] = [];
  const aborted: string[] = [];
  const server = new RpcEndpoint<TestApi, TestEvents>(
    b,
    {
      echo: (p) => p,
      add: ({ a, b }) => a + b,
      bytes: ({ n }) => new Uint8Array(n),
      fail: () => {
        throw new CheckpointError('truncated', 'the file ends early', { file: 'm.gguf', offset: 1234, record: 'tensor blk.0' });
      },
      wait: ({ ms }, ctx) =>
        new Promise((resolve) => {
          started.push(`wait ${ms}`);
          const t = setTimeout(() => resolve(`waited ${ms}`), ms);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(t);
            aborted.push(`wait ${ms}`);
            resolve('aborted');
          });
        }),
      poke: ({ text }) => {
        server.notify('poked', { text: text.toUpperCase() });
      },
    },
    opts.serverOpts,
  );
  const client = new RpcEndpoint<TestEvents, TestApi>(spy, { aborted: () => undefined, poked: () => undefined, ...opts.events });
  return { server, client, sent, started, aborted };
}

describe('rpc', () => {
  it('pairs results with calls by id, whatever order they finish in', async () => {
    const { client, sent } = pair();
    const slow = client.call('wait', { ms: 30 });
    const fast = client.call('add', { a: 2, b: 3 });
    const echo = client.call('echo', { s: 'x' });
    assert.strictEqual(await fast, 5);
    assert.deepStrictEqual(await echo, { s: 'x' });
    assert.strictEqual(await slow, 'waited 30');
    const ids = sent.filter((m) => m.rpc === 'call').map((m) => (m as { id: number }).id);
    assert.strictEqual(new Set(ids).size, 3, 'each call has its own id');
    assert.strictEqual(client.pendingCount, 0);
  });

  it('carries bytes', async () => {
    const { client } = pair();
    const b = await client.call('bytes', { n: 300 });
    assert.ok(b instanceof Uint8Array);
    assert.strictEqual(b.length, 300);
  });

  it('times out a call, and tells the server to stop', async () => {
    const { client, sent, aborted } = pair();
    await assert.rejects(client.call('wait', { ms: 2000 }, { timeoutMs: 20 }), (e: unknown) => isRpcError(e, 'timeout') && /within 20 ms/.test((e as Error).message));
    await tick();
    assert.ok(sent.some((m) => m.rpc === 'cancel'), 'a cancel message was sent');
    assert.deepStrictEqual(aborted, ['wait 2000'], "the server's handler saw its signal abort");
    assert.strictEqual(client.pendingCount, 0);
  });

  it('a default timeout applies to calls that give none', async () => {
    const [a, b] = memoryPair();
    new RpcEndpoint<TestApi, TestEvents>(b, { wait: ({ ms }: { ms: number }) => new Promise((r) => setTimeout(() => r('late'), ms)) } as unknown as Handlers<TestApi>);
    const client = new RpcEndpoint<TestEvents, TestApi>(a, { aborted: () => undefined, poked: () => undefined }, { defaultTimeoutMs: 15 });
    await assert.rejects(client.call('wait', { ms: 500 }), (e: unknown) => isRpcError(e, 'timeout'));
  });

  it('cancels with an AbortSignal, before or after sending', async () => {
    const { client, sent, aborted } = pair();
    const ac = new AbortController();
    const p = client.call('wait', { ms: 2000 }, { signal: ac.signal });
    await tick();
    ac.abort();
    await assert.rejects(p, (e: unknown) => isRpcError(e, 'cancelled'));
    await tick();
    assert.deepStrictEqual(aborted, ['wait 2000']);
    const before = sent.length;
    await assert.rejects(client.call('add', { a: 1, b: 1 }, { signal: ac.signal }), (e: unknown) => isRpcError(e, 'cancelled'));
    assert.strictEqual(sent.length, before, 'an already aborted call is not sent');
  });

  it('a newer call with the same supersede key cancels the older one', async () => {
    const { client, aborted } = pair();
    const first = client.call('wait', { ms: 1000 }, { supersede: 'find' });
    const other = client.call('wait', { ms: 20 }, { supersede: 'other' });
    await tick();
    const second = client.call('wait', { ms: 10 }, { supersede: 'find' });
    await assert.rejects(first, (e: unknown) => isRpcError(e, 'superseded'));
    assert.strictEqual(await second, 'waited 10');
    assert.strictEqual(await other, 'waited 20', 'another key is left alone');
    await tick();
    assert.deepStrictEqual(aborted, ['wait 1000']);
    // Once settled, the key is free: the next call supersedes nothing.
    assert.strictEqual(await client.call('wait', { ms: 1 }, { supersede: 'find' }), 'waited 1');
  });

  it('rethrows errors as RpcError with the CheckpointError code and location', async () => {
    const { client } = pair();
    await assert.rejects(client.call('fail'), (e: unknown) => {
      assert.ok(e instanceof RpcError);
      assert.strictEqual(e.code, 'truncated');
      assert.strictEqual(e.remoteName, 'CheckpointError');
      assert.strictEqual(e.file, 'm.gguf');
      assert.strictEqual(e.offset, 1234);
      assert.strictEqual(e.record, 'tensor blk.0');
      assert.match(e.message, /m\.gguf.*1234.*the file ends early/);
      return true;
    });
    assert.deepStrictEqual(errorData('plain'), { code: 'internal', message: 'plain' });
    assert.strictEqual(errorData(new TypeError('x')).code, 'internal');
  });

  it('sends notifications without ids or replies, both ways', async () => {
    const got: string[] = [];
    const { client, sent } = pair({ events: { poked: ({ text }) => void got.push(text) } });
    client.notify('poke', { text: 'hi' });
    await tick();
    assert.deepStrictEqual(got, ['HI']);
    const n = sent.find((m) => m.rpc === 'notify')!;
    assert.ok(!('id' in n));
    assert.strictEqual(client.pendingCount, 0);
  });

  it('ignores malformed messages and refuses unknown methods and bad parameters', async () => {
    const [a, b] = memoryPair();
    const refused: string[] = [];
    const calls: unknown[] = [];
    new RpcEndpoint<TestApi, TestEvents>(
      b,
      { add: (p: { a: number; b: number }) => (calls.push(p), p.a + p.b) } as unknown as Handlers<TestApi>,
      { validate: { add: (p) => typeof p === 'object' && p !== null && typeof (p as { a?: unknown }).a === 'number' && typeof (p as { b?: unknown }).b === 'number' }, onMalformed: (_m, why) => void refused.push(why) },
    );
    const replies: unknown[] = [];
    a.listen((m) => replies.push(m));
    for (const junk of [null, 'add', 42, { rpc: 'call', method: 'add' }, { rpc: 'call', id: 0, method: 'add' }, { rpc: 'call', id: 1.5, method: 'add' }, { type: 'ready' }, { rpc: 'bogus', id: 1 }]) a.send(junk as RpcMessage);
    a.send({ rpc: 'call', id: 7, method: 'toString' });
    a.send({ rpc: 'call', id: 8, method: '__proto__' });
    a.send({ rpc: 'call', id: 9, method: 'add', params: { a: '1', b: 2 } });
    a.send({ rpc: 'notify', method: 'add', params: { a: 1 } });
    a.send({ rpc: 'result', id: 99, value: 1 });
    a.send({ rpc: 'call', id: 10, method: 'add', params: { a: 1, b: 2 } });
    await tick();
    assert.deepStrictEqual(calls, [{ a: 1, b: 2 }], 'only the well-formed call ran');
    assert.ok(isRpcMessage({ rpc: 'cancel', id: 3 }));
    assert.ok(!isRpcMessage({ rpc: 'error', id: 3, error: { message: 'no code' } }));
    const byId = (id: number) => replies.find((r) => (r as { id?: number }).id === id) as { rpc: string; error?: { code: string }; value?: unknown };
    assert.strictEqual(byId(7).error?.code, 'unknown-method');
    assert.strictEqual(byId(8).error?.code, 'unknown-method');
    assert.strictEqual(byId(9).error?.code, 'bad-params');
    assert.deepStrictEqual(byId(10), { rpc: 'result', id: 10, value: 3 });
    assert.strictEqual(replies.length, 4, 'junk and late results get no reply');
    assert.strictEqual(refused.filter((w) => w === 'not an RPC message').length, 8);
  });

  it('a call id served again (a rebuilt webview counts from 1 anew) aborts the old call and answers the new one', async () => {
    const [a, b] = memoryPair();
    const aborted: number[] = [];
    new RpcEndpoint<TestApi, TestEvents>(b, {
      wait: ({ ms }: { ms: number }, ctx: { signal: AbortSignal }) =>
        new Promise((resolve) => {
          const t = setTimeout(() => resolve(`waited ${ms}`), ms);
          ctx.signal.addEventListener('abort', () => (clearTimeout(t), aborted.push(ms), resolve('aborted')));
        }),
    } as unknown as Handlers<TestApi>);
    const replies: unknown[] = [];
    a.listen((m) => replies.push(m));
    a.send({ rpc: 'call', id: 1, method: 'wait', params: { ms: 1000 } });
    await tick();
    a.send({ rpc: 'call', id: 1, method: 'wait', params: { ms: 5 } });
    const deadline = Date.now() + 2000;
    while (!replies.length && Date.now() < deadline) await tick();
    await tick();
    assert.deepStrictEqual(aborted, [1000]);
    assert.deepStrictEqual(replies, [{ rpc: 'result', id: 1, value: 'waited 5' }]);
  });

  it('close rejects pending calls, aborts served ones, and refuses new calls', async () => {
    const { client, server, aborted } = pair();
    const p = client.call('wait', { ms: 2000 });
    await tick();
    server.close('server gone');
    await tick();
    assert.deepStrictEqual(aborted, ['wait 2000']);
    client.close('the editor was closed');
    await assert.rejects(p, (e: unknown) => isRpcError(e, 'closed') && /the editor was closed/.test((e as Error).message));
    await assert.rejects(client.call('add', { a: 1, b: 2 }), (e: unknown) => isRpcError(e, 'closed'));
    assert.strictEqual(client.pendingCount, 0);
  });

  describe('over a worker_threads worker', function () {
    this.timeout(20000);
    const script = path.join(REPO, 'out', 'test', 'rpc-worker.js');
    let worker: Worker;
    let client: RpcEndpoint<TestEvents, TestApi>;
    const events: string[] = [];

    before(() => {
      worker = new Worker(script);
      client = new RpcEndpoint<TestEvents, TestApi>(nodePortTransport(worker), {
        aborted: ({ why }) => void events.push(`aborted:${why}`),
        poked: ({ text }) => void events.push(`poked:${text}`),
      });
    });
    after(() => worker.terminate());

    it('round-trips calls, bytes, typed errors, notifications and cancellation', async () => {
      assert.strictEqual(await client.call('add', { a: 20, b: 22 }), 42);
      const b = await client.call('bytes', { n: 1000 });
      assert.ok(b instanceof Uint8Array);
      assert.strictEqual(b[999], 999 & 0xff);
      await assert.rejects(client.call('fail'), (e: unknown) => e instanceof RpcError && e.code === 'bad-header' && e.offset === 8 && e.record === '__metadata__' && e.file === 'x.safetensors');
      client.notify('poke', { text: 'x' });
      await assert.rejects(client.call('wait', { ms: 5000 }, { timeoutMs: 50 }), (e: unknown) => isRpcError(e, 'timeout'));
      const deadline = Date.now() + 5000;
      while (events.length < 2 && Date.now() < deadline) await tick();
      assert.deepStrictEqual(events.sort(), ['aborted:cancel', 'poked:x']);
    });

    it('rejects pending calls with `closed` when the worker exits', async () => {
      const p = client.call('wait', { ms: 5000 });
      await worker.terminate();
      await assert.rejects(p, (e: unknown) => isRpcError(e, 'closed') && /exited/.test((e as Error).message));
      assert.ok(client.closed);
    });
  });
});
