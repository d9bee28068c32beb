/**
 * The webview's HTML: one script and two stylesheets from the extension's dist/ folder, a strict
 * Content-Security-Policy with a fresh nonce, and no remote content. The page shows a loading
 * icon and what it is opening before its script runs, so the pane is never blank; the script
 * turns the icon (webview/src/ui/dom.ts `spinner`: no CSS animation). Pure (no vscode import).
 */
import { randomBytes } from 'crypto';

export interface HtmlParts {
  /** `webview.cspSource`. */
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUri: string;
  codiconUri: string;
  title: string;
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64').replace(/[+/=]/g, '');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data: blob:`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    "connect-src 'none'",
    "frame-src 'none'",
    "worker-src 'none'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function webviewHtml(p: HtmlParts): string {
  const n = escapeAttr(p.nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(p.cspSource, p.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link id="vscode-codicon-stylesheet" rel="stylesheet" nonce="${n}" href="${escapeAttr(p.codiconUri)}">
<link rel="stylesheet" nonce="${n}" href="${escapeAttr(p.styleUri)}">
<title>${escapeAttr(p.title)}</title>
</head>
<body>
<div id="app" data-state="loading" data-file="${escapeAttr(p.title)}"><div class="status-view" data-testid="loading"><div class="status-line"><span class="codicon codicon-loading" aria-hidden="true"></span><span class="status-text">Reading the headers of ${escapeAttr(p.title)}…</span></div></div></div>
<div id="tooltip" role="tooltip" hidden></div>
<script nonce="${n}" src="${escapeAttr(p.scriptUri)}" defer></script>
</body>
</html>
`;
}
