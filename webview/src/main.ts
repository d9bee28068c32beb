/**
 * Entry of the Weightscope webview bundle (dist/webview.js; its CSS goes to dist/webview.css).
 * Only the @vscode-elements components in use are imported, to keep the bundle small.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-context-menu/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-split-layout/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-toolbar-button/index.js';
import './common.css';
import './style.css';
import { App } from './ui/app';

// Timings the end-to-end bench reads (performance marks: the script ran, the model came, rows painted).
performance.mark('weightscope:script');

function start(): void {
  const root = document.getElementById('app');
  if (!root) return;
  new App(root);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
