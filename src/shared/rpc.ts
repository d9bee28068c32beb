/**
 * One typed RPC for every conversation Weightscope has: host ↔ parser worker (worker_threads)
 * and host ↔ webview (VS Code's postMessage), and an in-memory pair for the in-process fallback
 * and the tests.
 *
 * Each side of a conversation is an `RpcEndpoint<Local, Remote>`: it serves the methods of the
 * `Local` interface and calls those of `Remote`. The interfaces (src/shared/protocol.ts) are
 * plain TypeScript: `tensors(q: TensorQuery): TensorPage` gives a call whose parameter is a
 * `TensorQuery` and whose result is a `Promise<TensorPage>`. A method takes at most one
 * parameter (an object when it needs several values); one returning `void` may be sent as a
 * notification, which gets no reply.
 *
 * A call has an id, an optional timeout, an optional AbortSignal and an optional `supersede`
 * key (a newer call with the same key cancels the older one: type-ahead, filters). A cancelled
 * call sends `cancel` so the serving side can abort (its handler sees `ctx.signal`) and does not
 * reply. Errors travel as values (code, message, and file/offset/record for a CheckpointError)
 * and are rethrown on the calling side as `RpcError`. Anything arriving that is not a well-formed
 * message, or names a method the endpoint does not serve, or fails the method's validator, is
 * dropped (or answered with an error, for a call) and reported through `onMalformed`.
 *
 * No Node or DOM import: the transports are typed structurally, so the webview bundle and the
 * Node side both compile this file.
 */

// ---------------------------------------------------------------------------------------------
// Types derived from an API interface

/** The method names of an API interface. */
export type Method<A> = Extract<keyof A, string>;

/** The parameter of a method (`void` for a method without one, so it can be left out). */
export type Params<A, M extends keyof A> = A[M] extends (...args: infer P) => unknown ? (P extends [] ? void : P[0]) : never;

/** What a method's call resolves to. */
export type Result<A, M extends keyof A> = A[M] extends (...args: never[]) => infer R ? Awaited<R> : never;

/** The arguments after the method name: the parameter (left out when it is `void`) and options. */
export type CallArgs<A, M extends keyof A> = [Params<A, M>] extends [void] ? [params?: void, opts?: CallOptions] : [params: Params<A, M>, opts?: CallOptions];

/** The methods that return nothing: the ones that may be sent as notifications. */
export type NotificationMethod<A> = { [M in Method<A>]: Result<A, M> extends void ? M : never }[Method<A>];

/** What a handler is told besides its parameter. */
export interface CallContext {
  /** Aborted when the caller cancels, times out, is superseded, or the endpoint closes. */
  readonly signal: AbortSignal;
  /** Whether the caller waits for a reply (false for a notification). */
  readonly call: boolean;
}

/** The serving side's implementation of an API interface. */
export type Handlers<A> = { [M in Method<A>]: (params: Params<A, M>, ctx: CallContext) => Result<A, M> | Promise<Result<A, M>> };

/** Structural checks on incoming parameters, per method (a method without one accepts any). */
export type Validators<A> = { [M in Method<A>]?: (params: unknown) => boolean };

export interface CallOptions {
  /** Reject with code `timeout` (and cancel the call) after this long; 0: never. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** A newer call with the same key cancels this one (code `superseded`). */
  supersede?: string;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** Codes the RPC itself gives; a served method's own errors keep their codes (CheckpointError's...). */
export type RpcFailure = 'timeout' | 'cancelled' | 'superseded' | 'closed' | 'unknown-method' | 'bad-params' | 'internal';

/** An error as it travels. */
export interface RpcErrorData {
  code: string;
  message: string;
  /** The original error's class name (`CheckpointError`, `ExportError`...). */
  name?: string;
  file?: string;
  offset?: number;
  record?: string;
}

/** A failed call, as the caller sees it. */
export class RpcError extends Error {
  readonly code: string;
  /** The class name of the error thrown on the serving side, when it threw one. */
  readonly remoteName?: string;
  readonly file?: string;
  readonly offset?: number;
  readonly record?: string;

  constructor(data: RpcErrorData) {
    super(data.message);
    this.name = 'RpcError';
    this.code = data.code;
    this.remoteName = data.name;
    this.file = data.file;
    this.offset = data.offset;
    this.record = data.record;
  }

  toData(): RpcErrorData {
    return errorData(this);
  }
}

export function isRpcError(e: unknown, code?: string): e is RpcError {
  return e instanceof RpcError && (code === undefined || e.code === code);
}

/** Any thrown value as an RpcErrorData (keeps a CheckpointError's code and location). */
export function errorData(e: unknown): RpcErrorData {
  if (e instanceof RpcError) {
    return strip({ code: e.code, message: e.message, name: e.remoteName, file: e.file, offset: e.offset, record: e.record });
  }
  if (e && typeof e === 'object') {
    const err = e as { message?: unknown; code?: unknown; name?: unknown; file?: unknown; offset?: unknown; record?: unknown };
    return strip({
      code: typeof err.code === 'string' ? err.code : 'internal',
      message: typeof err.message === 'string' ? err.message : String(e),
      name: typeof err.name === 'string' ? err.name : undefined,
      file: typeof err.file === 'string' ? err.file : undefined,
      offset: typeof err.offset === 'number' ? err.offset : undefined,
      record: typeof err.record === 'string' ? err.record : undefined,
    });
  }
  return { code: 'internal', message: String(e) };
}

function strip(d: RpcErrorData): RpcErrorData {
  for (const k of Object.keys(d) as (keyof RpcErrorData)[]) if (d[k] === undefined) delete d[k];
  return d;
}

// ---------------------------------------------------------------------------------------------
// Wire messages

export type RpcMessage =
  | { rpc: 'call'; id: number; method: string; params?: unknown }
  | { rpc: 'notify'; method: string; params?: unknown }
  | { rpc: 'result'; id: number; value?: unknown }
  | { rpc: 'error'; id: number; error: RpcErrorData }
  | { rpc: 'cancel'; id: number };

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 100;

/** A structural check of the envelope (what a method's parameters are is checked by its validator). */
export function isRpcMessage(m: unknown): m is RpcMessage {
  if (typeof m !== 'object' || m === null) return false;
  const x = m as Record<string, unknown>;
  switch (x.rpc) {
    case 'call':
      return isId(x.id) && isName(x.method);
    case 'notify':
      return isName(x.method);
    case 'result':
    case 'cancel':
      return isId(x.id);
    case 'error': {
      const e = x.error as Record<string, unknown> | null;
      return isId(x.id) && typeof e === 'object' && e !== null && typeof e.code === 'string' && typeof e.message === 'string';
    }
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Transports

/** How an endpoint sends and receives; the RPC neither knows nor cares what is underneath. */
export interface Transport {
  send(message: RpcMessage): void;
  /** Deliver every incoming message to `receive`; returns a function that stops it. */
  listen(receive: (message: unknown) => void): () => void;
  /** Called once when the other side is gone for good (a worker that exited). */
  onClose?(closed: (reason: string) => void): void;
}

/** worker_threads: a `Worker` (host side) or `parentPort` (worker side). */
export interface NodePortLike {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  once?(event: 'exit' | 'error', listener: (arg: unknown) => void): unknown;
}

export function nodePortTransport(port: NodePortLike): Transport {
  return {
    send: (m) => port.postMessage(m),
    listen(receive) {
      port.on('message', receive);
      return () => port.off('message', receive);
    },
    onClose(closed) {
      // A Worker emits `exit` (and `error` first when it crashed); parentPort emits neither.
      port.once?.('error', (e) => closed(`the worker failed: ${(e as Error)?.message ?? e}`));
      port.once?.('exit', (code) => closed(`the worker exited (code ${code})`));
    },
  };
}

/** The host's end of a VS Code webview (`panel.webview`). */
export interface VsCodeWebviewLike {
  postMessage(message: unknown): unknown;
  onDidReceiveMessage(listener: (message: unknown) => void): { dispose(): unknown };
}

export function vscodeWebviewTransport(webview: VsCodeWebviewLike, canSend: () => boolean = () => true): Transport {
  return {
    send(m) {
      // A hidden webview is torn down; what it would have missed is sent again on `ready`.
      if (canSend()) void webview.postMessage(m);
    },
    listen(receive) {
      const sub = webview.onDidReceiveMessage(receive);
      return () => void sub.dispose();
    },
  };
}

/**
 * Two connected in-memory transports. Messages are delivered asynchronously and as structured
 * clones, as through a real postMessage, so what passes here passes a worker or a webview too.
 */
export function memoryPair(): [Transport, Transport] {
  const make = (peer: () => Set<(m: unknown) => void>, own: Set<(m: unknown) => void>): Transport => ({
    send(m) {
      const copy = structuredClone(m);
      queueMicrotask(() => {
        for (const r of peer()) r(copy);
      });
    },
    listen(receive) {
      own.add(receive);
      return () => own.delete(receive);
    },
  });
  const a = new Set<(m: unknown) => void>();
  const b = new Set<(m: unknown) => void>();
  return [make(() => b, a), make(() => a, b)];
}

// ---------------------------------------------------------------------------------------------
// The endpoint

export interface EndpointOptions<Local> {
  /** Names the endpoint in error messages (`worker`, `webview`). */
  name?: string;
  /** Timeout for calls that give none; 0 (default): none. */
  defaultTimeoutMs?: number;
  validate?: Validators<Local>;
  /** A message was dropped or refused: not an RPC message, an unknown method, bad parameters. */
  onMalformed?: (message: unknown, why: string) => void;
  /** A notification's handler failed (there is nobody to tell). */
  onNotificationError?: (method: string, error: RpcErrorData) => void;
}

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: RpcError) => void;
  cleanup: () => void;
}

export class RpcEndpoint<Local, Remote> {
  private next = 1;
  private readonly pending = new Map<number, Pending>();
  /** Calls being served, by the caller's id: aborted on `cancel`. */
  private readonly serving = new Map<number, AbortController>();
  private readonly superseding = new Map<string, number>();
  private readonly stop: () => void;
  private closedReason: string | null = null;
  private readonly name: string;

  constructor(
    private readonly transport: Transport,
    private readonly handlers: Handlers<Local>,
    private readonly options: EndpointOptions<Local> = {},
  ) {
    this.name = options.name ?? 'peer';
    this.stop = transport.listen((m) => this.receive(m));
    transport.onClose?.((reason) => this.close(reason));
  }

  /** Call a remote method; resolves with its result or rejects with an RpcError. */
  call<M extends Method<Remote>>(method: M, ...[params, opts = {}]: CallArgs<Remote, M>): Promise<Result<Remote, M>> {
    if (this.closedReason !== null) return Promise.reject(new RpcError({ code: 'closed', message: `${method}: ${this.closedReason}` }));
    if (opts.signal?.aborted) return Promise.reject(new RpcError({ code: 'cancelled', message: `${method}: cancelled` }));
    const id = this.next++;
    if (opts.supersede !== undefined) {
      const older = this.superseding.get(opts.supersede);
      if (older !== undefined) this.abandon(older, 'superseded', 'a newer request replaced it');
      this.superseding.set(opts.supersede, id);
    }
    return new Promise<Result<Remote, M>>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.options.defaultTimeoutMs ?? 0;
      const timer = timeoutMs > 0 ? setTimeout(() => this.abandon(id, 'timeout', `no answer from the ${this.name} within ${timeoutMs} ms`), timeoutMs) : undefined;
      const onAbort = () => this.abandon(id, 'cancelled', 'cancelled');
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        method,
        resolve: resolve as (v: unknown) => void,
        reject,
        cleanup: () => {
          if (timer !== undefined) clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
          if (opts.supersede !== undefined && this.superseding.get(opts.supersede) === id) this.superseding.delete(opts.supersede);
        },
      });
      this.send({ rpc: 'call', id, method, params }, id);
    });
  }

  /** Send a notification: no reply, no id. */
  notify<M extends NotificationMethod<Remote>>(method: M, ...[params]: [Params<Remote, M>] extends [void] ? [params?: void] : [params: Params<Remote, M>]): void {
    if (this.closedReason !== null) return;
    try {
      this.transport.send({ rpc: 'notify', method, params });
    } catch {
      // A notification has no one to tell; a transport that cannot send is closing anyway.
    }
  }

  /** Calls waiting for a reply. */
  get pendingCount(): number {
    return this.pending.size;
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }

  /** Stop: pending calls reject with `closed`, calls being served are aborted. Idempotent. */
  close(reason = 'the connection was closed'): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.stop();
    for (const [id] of this.pending) this.settle(id, new RpcError({ code: 'closed', message: `${this.pending.get(id)!.method}: ${reason}` }));
    for (const ac of this.serving.values()) ac.abort();
    this.serving.clear();
  }

  // ------------------------------------------------------------------------------- internals

  private send(m: RpcMessage, id?: number): void {
    try {
      this.transport.send(m);
    } catch (e) {
      if (id !== undefined) this.settle(id, new RpcError({ code: 'closed', message: `${m.rpc === 'call' ? m.method : 'reply'}: could not send (${errorData(e).message})` }));
    }
  }

  private settle(id: number, outcome: { value: unknown } | RpcError): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.cleanup();
    if (outcome instanceof RpcError) p.reject(outcome);
    else p.resolve(outcome.value);
  }

  /** Give up on a call of ours and tell the other side, which may then stop working on it. */
  private abandon(id: number, code: 'timeout' | 'cancelled' | 'superseded', why: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.settle(id, new RpcError({ code, message: `${p.method}: ${why}` }));
    if (this.closedReason === null) this.send({ rpc: 'cancel', id });
  }

  private refuse(message: unknown, why: string): void {
    this.options.onMalformed?.(message, why);
  }

  private receive(m: unknown): void {
    if (this.closedReason !== null) return;
    if (!isRpcMessage(m)) {
      this.refuse(m, 'not an RPC message');
      return;
    }
    switch (m.rpc) {
      case 'result':
        this.settle(m.id, { value: m.value });
        return;
      case 'error':
        this.settle(m.id, new RpcError(m.error));
        return;
      case 'cancel':
        this.serving.get(m.id)?.abort();
        this.serving.delete(m.id);
        return;
      case 'call':
      case 'notify':
        this.serve(m);
        return;
    }
  }

  private serve(m: Extract<RpcMessage, { rpc: 'call' | 'notify' }>): void {
    const isCall = m.rpc === 'call';
    const fail = (error: RpcErrorData) => {
      if (isCall) this.send({ rpc: 'error', id: m.id, error });
      else this.options.onNotificationError?.(m.method, error);
    };
    // Own properties only: `toString` or `__proto__` are no methods of ours.
    const handler = Object.prototype.hasOwnProperty.call(this.handlers, m.method) ? (this.handlers as Record<string, unknown>)[m.method] : undefined;
    if (typeof handler !== 'function') {
      this.refuse(m, `unknown method ${m.method}`);
      fail({ code: 'unknown-method', message: `the ${this.name} has no method ${m.method}` });
      return;
    }
    const validate = (this.options.validate as Record<string, ((p: unknown) => boolean) | undefined> | undefined)?.[m.method];
    if (validate && !validate(m.params)) {
      this.refuse(m, `bad parameters for ${m.method}`);
      fail({ code: 'bad-params', message: `${m.method}: malformed parameters` });
      return;
    }
    const ac = new AbortController();
    if (isCall) {
      // An id already being served means the peer started again (a webview rebuilt after a tab
      // switch counts from 1 anew): whoever sent the first call is gone; serve the new one.
      this.serving.get(m.id)?.abort();
      this.serving.set(m.id, ac);
    }
    const ctx: CallContext = { signal: ac.signal, call: isCall };
    Promise.resolve()
      .then(() => (handler as (p: unknown, c: CallContext) => unknown).call(this.handlers, m.params, ctx))
      .then(
        (value) => {
          if (!isCall) return;
          if (this.serving.get(m.id) !== ac || ac.signal.aborted) return; // cancelled: nobody waits
          this.serving.delete(m.id);
          this.send({ rpc: 'result', id: m.id, value });
        },
        (e) => {
          if (isCall) {
            if (this.serving.get(m.id) !== ac || ac.signal.aborted) return;
            this.serving.delete(m.id);
          }
          fail(errorData(e));
        },
      );
  }
}
