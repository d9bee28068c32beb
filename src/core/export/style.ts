/**
 * Shared presentation helpers for the exports: text width estimates for a font-free layout,
 * truncation, the tie palette and layer categories, and summary phrases.
 */
import { ModuleNode, Relation } from '../model';
import { compact, exact } from '../numbers';

/** Monospace first, with family names resvg finds unquoted on Linux, macOS and Windows. */
export const MONO = 'ui-monospace, SFMono-Regular, SF Mono, Menlo, Consolas, DejaVu Sans Mono, Liberation Mono, monospace';
export const SANS = 'system-ui, -apple-system, Segoe UI, Helvetica Neue, Helvetica, Arial, Liberation Sans, DejaVu Sans, sans-serif';

/** Monospace advance as a fraction of the font size (DejaVu Sans Mono and Menlo: 0.602). */
const MONO_ADVANCE = 0.61;

/** Display cells of a string: East Asian wide characters count 2, combining marks 0. */
export function cells(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || (c >= 0x7f && c < 0xa0) || (c >= 0xd800 && c <= 0xdfff)) continue;
    if ((c >= 0x300 && c <= 0x36f) || (c >= 0x200b && c <= 0x200f) || (c >= 0xfe00 && c <= 0xfe0f)) continue;
    if (
      (c >= 0x1100 && c <= 0x115f) ||
      (c >= 0x2e80 && c <= 0xa4cf) ||
      (c >= 0xac00 && c <= 0xd7a3) ||
      (c >= 0xf900 && c <= 0xfaff) ||
      (c >= 0xfe30 && c <= 0xfe4f) ||
      (c >= 0xff00 && c <= 0xff60) ||
      (c >= 0xffe0 && c <= 0xffe6) ||
      c >= 0x1f300
    ) {
      n += 2;
    } else n += 1;
  }
  return n;
}

export function monoWidth(s: string, size: number): number {
  return cells(s) * size * MONO_ADVANCE;
}

/** A deliberately generous estimate for proportional sans text (Arial-like widths + 10%). */
export function sansWidth(s: string, size: number, bold = false): number {
  let w = 0;
  for (const ch of s) {
    if (/[iljtfrI.,:;'|!()[\] ]/.test(ch)) w += 0.3;
    else if (/[mwMW@%]/.test(ch)) w += 0.86;
    else if (/[A-Z]/.test(ch)) w += 0.68;
    else if (/[0-9]/.test(ch)) w += 0.56;
    else if (cells(ch) === 2) w += 1;
    else w += 0.54;
  }
  return w * size * (bold ? 1.16 : 1.1);
}

/**
 * One line of displayable text from a name in the file: line breaks become spaces; other control
 * characters and lone surrogates (which no encoder can write) are dropped.
 */
export function oneLine(s: string): string {
  return (
    s
      .replace(/[\r\n\t\u2028\u2029]+/g, ' ')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '')
  );
}

/** Cut to at most `max` cells with an ellipsis. */
export function truncate(s: string, max: number): string {
  if (cells(s) <= max) return s;
  let out = '';
  let n = 0;
  for (const ch of s) {
    const w = cells(ch);
    if (n + w > max - 1) break;
    out += ch;
    n += w;
  }
  return out + '…';
}

/** One colour per shared group, distinguishable on white and in print. */
export const TIE_COLORS = ['#cf222e', '#0969da', '#bf8700', '#1a7f37', '#8250df', '#bc4c00', '#1b7c83', '#bf3989', '#57606a', '#6639ba'];

export function tieColor(group: number): string {
  return TIE_COLORS[group % TIE_COLORS.length];
}

export const RELATION_LABEL: Record<Relation, string> = {
  alias: 'same storage',
  view: 'view of one storage',
  declared: 'declared tie (not stored)',
  deduplicated: 'deduplicated (one copy of equal tensors)',
};

export function dashFor(relation: Relation): string | undefined {
  return relation === 'declared' ? '6 4' : relation === 'view' || relation === 'deduplicated' ? '1.5 3' : undefined;
}

export type Category = 'embedding' | 'linear' | 'conv' | 'norm' | 'other';

export const CATEGORY_COLORS: Record<Category, string> = {
  embedding: '#8250df',
  linear: '#0969da',
  conv: '#1b7c83',
  norm: '#1a7f37',
  other: '#8c959f',
};

export const CATEGORY_LABEL: Record<Category, string> = {
  embedding: 'embedding',
  linear: 'linear',
  conv: 'convolution',
  norm: 'normalisation',
  other: 'other layer',
};

export function category(type: string): Category {
  if (/embed/i.test(type)) return 'embedding';
  if (/norm/i.test(type)) return 'norm';
  if (/^Conv1D$/.test(type) || /linear|dense|proj/i.test(type)) return 'linear';
  if (/conv/i.test(type)) return 'conv';
  return 'other';
}

/** What a row names: the repr for leaf layers, else the type. */
export function describeType(m: ModuleNode): string {
  return m.repr && m.children.length === 0 ? m.repr : m.type;
}

/** Last path segment of a file path, for titles (no absolute paths in exports). */
export function baseName(p: string): string {
  const parts = p.split(/[\\/]/).filter(Boolean);
  return parts.length ? parts[parts.length - 1] : p;
}

export function hasInferredTypes(m: ModuleNode): boolean {
  const stack = [m];
  while (stack.length) {
    const x = stack.pop()!;
    if (x.inferred && x.repr) return true;
    for (const c of x.children) stack.push(c);
  }
  return false;
}

/** "42,784 (42.8K)"; just "264" when the short form says nothing more. */
export function exactAndCompact(n: number): string {
  const e = exact(n);
  const c = compact(n);
  return c === e || c === String(n) ? e : `${e} (${c})`;
}

export function plural(n: number, one: string, many = one + 's'): string {
  return `${exact(n)} ${n === 1 ? one : many}`;
}
