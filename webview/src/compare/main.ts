/**
 * Entry of the comparison view's bundle (dist/compare.js; its CSS goes to dist/compare.css):
 * the same @vscode-elements and d3 stack as the checkpoint editor, a page of its own.
 */
import '@vscode-elements/elements/dist/vscode-context-menu/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-toolbar-button/index.js';
import '../common.css';
import './compare.css';
import { CompareApp } from './app';

function start(): void {
  const root = document.getElementById('app');
  if (root) new CompareApp(root);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
