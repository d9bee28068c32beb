/** The VS Code webview API as an RPC transport; a stand-in outside VS Code (harnesses). */
import type { RpcMessage, Transport } from '../../../src/shared/rpc';

export interface VsCodeApi<S> {
  postMessage(message: RpcMessage): void;
  getState(): S | undefined;
  setState(state: S): void;
}

declare function acquireVsCodeApi<S>(): VsCodeApi<S>;

export function getApi<S>(): VsCodeApi<S> {
  if (typeof acquireVsCodeApi === 'function') return acquireVsCodeApi<S>();
  let state: S | undefined;
  return {
    postMessage: (m) => console.debug('[weightscope] postMessage', m),
    getState: () => state,
    setState: (s) => {
      state = s;
    },
  };
}

/** Messages to the host through `acquireVsCodeApi().postMessage`, from it through window `message`. */
export function hostTransport(api: VsCodeApi<unknown>): Transport {
  return {
    send: (m) => api.postMessage(m),
    listen(receive) {
      const onMessage = (ev: MessageEvent) => receive(ev.data);
      window.addEventListener('message', onMessage);
      return () => window.removeEventListener('message', onMessage);
    },
  };
}
