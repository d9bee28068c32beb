/**
 * Loading a Weightscope page into a webview: scripts on, command links off, resources from
 * dist/ (and any other root given), the HTML with its nonce and strict CSP (html.ts). The
 * editor (`webview`) and the comparison (`compare`) are two bundles of the same build.
 */
import * as vscode from 'vscode';
import { makeNonce, webviewHtml } from './html';

export function loadPage(webview: vscode.Webview, extensionUri: vscode.Uri, bundle: 'webview' | 'compare', title: string, otherRoots: vscode.Uri[] = []): void {
  const dist = vscode.Uri.joinPath(extensionUri, 'dist');
  const uri = (file: string) => webview.asWebviewUri(vscode.Uri.joinPath(dist, file)).toString();
  webview.options = { enableScripts: true, enableCommandUris: false, localResourceRoots: [dist, ...otherRoots] };
  webview.html = webviewHtml({
    cspSource: webview.cspSource,
    nonce: makeNonce(),
    scriptUri: uri(`${bundle}.js`),
    styleUri: uri(`${bundle}.css`),
    codiconUri: uri('codicon.css'),
    title,
  });
}
