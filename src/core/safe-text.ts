/**
 * Text that came from a file (tensor names, metadata, pickle globals) must never reach a terminal
 * as control characters: an escape sequence in a name could rewrite what the user sees (even
 * a safety verdict). Control characters, bidirectional overrides and lone surrogates are shown
 * as escapes instead.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escape(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One line of file-derived text, safe for a terminal (tabs and newlines escaped too). */
export function safeLine(s: string): string {
  return s.replace(UNSAFE, escape).replace(/[\t\n]/g, escape);
}

/** Multi-line text safe for a terminal: newlines (and tabs) kept, everything else escaped. */
export function safeText(s: string): string {
  return s.replace(UNSAFE, escape);
}
