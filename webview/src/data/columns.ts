/**
 * The tensor table's columns: default and minimum widths, resizing by pointer or keyboard, and
 * the widths numbers need in the exact format. DOM-free.
 */
import type { NumberFormat } from '../../../src/shared/protocol';

export interface ColumnSpec {
  id: string;
  label: string;
  /** Default width, px. */
  width: number;
  /** Narrowest it may be made, px. */
  min: number;
  /** Right-aligned numbers. */
  num?: boolean;
  /** Wide enough for this many digits and separators in the exact format. */
  exactChars?: number;
}

export const TABLE_COLUMNS: readonly ColumnSpec[] = [
  { id: 'name', label: 'Name', width: 300, min: 80 },
  // `float8_e4m3fn` and GGUF's `Q4_K` names fit.
  { id: 'dtype', label: 'Dtype', width: 116, min: 48 },
  { id: 'shape', label: 'Shape', width: 140, min: 48 },
  // The exact form of a 927M-element tensor: 926,679,040.
  { id: 'elements', label: 'Elements', width: 96, min: 48, num: true, exactChars: 13 },
  { id: 'bytes', label: 'Bytes', width: 84, min: 48, num: true },
  { id: 'role', label: 'Role', width: 104, min: 48 },
  { id: 'storage', label: 'Storage', width: 260, min: 60 },
];

export const MAX_COLUMN = 2000;

/** Widths to use: saved ones where valid, defaults elsewhere; numbers wide enough for the format. */
export function columnWidths(saved: readonly number[] | undefined, fmt: NumberFormat, charPx = 7.5): number[] {
  return TABLE_COLUMNS.map((c, i) => {
    const s = saved?.[i];
    let w = typeof s === 'number' && Number.isFinite(s) ? Math.max(c.min, Math.min(MAX_COLUMN, Math.round(s))) : c.width;
    if (fmt === 'exact' && c.exactChars && !(typeof s === 'number')) w = Math.max(w, Math.ceil(c.exactChars * charPx) + 8);
    return w;
  });
}

/** Make one column wider or narrower (within its bounds). */
export function resizeColumn(widths: readonly number[], index: number, delta: number): number[] {
  const out = widths.slice();
  const c = TABLE_COLUMNS[index];
  if (!c) return out;
  out[index] = Math.max(c.min, Math.min(MAX_COLUMN, Math.round(out[index] + delta)));
  return out;
}

/** What a key does on a column's resize handle: a step in px, back to the default, or nothing. */
export function resizeKey(key: string, shift: boolean): number | 'reset' | null {
  const step = shift ? 64 : 16;
  switch (key) {
    case 'ArrowLeft':
      return -step;
    case 'ArrowRight':
      return step;
    case 'Home':
    case 'Enter':
      return 'reset';
    default:
      return null;
  }
}

/** The CSS grid template for the widths (the last column takes what is left). */
export function gridTemplate(widths: readonly number[]): string {
  return widths.map((w, i) => (i === widths.length - 1 ? `minmax(${w}px, 1fr)` : `${w}px`)).join(' ');
}
