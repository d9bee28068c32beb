/** The VS Code webview API, typed with our protocol; a stand-in outside VS Code (harnesses). */
import type { WebviewMessage } from '../shared/protocol';

export interface VsCodeApi<S> {
  postMessage(message: WebviewMessage): void;
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
