/** XML text and attribute escaping for the SVG export. */

/** Characters XML 1.0 does not allow at all (controls, lone surrogates, U+FFFE/U+FFFF). */
const INVALID = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

export function stripInvalid(s: string): string {
  return s.replace(INVALID, '');
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Escapes text content and attribute values alike (double- or single-quoted). */
export function esc(s: string): string {
  return stripInvalid(s).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** For attribute values: also keeps tabs and newlines from being normalised to spaces. */
export function escAttr(s: string): string {
  return esc(s).replace(/[\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A stable short decimal for coordinates: at most 2 decimals, no trailing zeros, no `-0`. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return '0';
  const r = Math.round(x * 100) / 100;
  return Object.is(r, -0) || r === 0 ? '0' : String(r);
}
