/**
 * Keyboard navigation of the tree rows, as VS Code's own trees behave: arrows, Home/End,
 * PageUp/PageDown, Enter/Space, and type-ahead on labels. DOM-free: the view maps the action.
 */
export interface NavRow {
  level: number;
  expandable: boolean;
  expanded: boolean;
}

export type NavAction =
  | { kind: 'none' }
  | { kind: 'move'; index: number }
  | { kind: 'expand'; index: number }
  | { kind: 'collapse'; index: number }
  | { kind: 'toggle'; index: number }
  | { kind: 'select'; index: number };

export function navigate(rows: readonly NavRow[], current: number, key: string, pageSize: number): NavAction {
  const n = rows.length;
  if (!n) return { kind: 'none' };
  const cur = Math.min(Math.max(current, 0), n - 1);
  const clamp = (i: number) => Math.min(Math.max(i, 0), n - 1);
  const r = rows[cur];
  switch (key) {
    case 'ArrowDown':
      return { kind: 'move', index: clamp(current < 0 ? 0 : cur + 1) };
    case 'ArrowUp':
      return { kind: 'move', index: clamp(current < 0 ? 0 : cur - 1) };
    case 'Home':
      return { kind: 'move', index: 0 };
    case 'End':
      return { kind: 'move', index: n - 1 };
    case 'PageDown':
      return { kind: 'move', index: clamp(cur + Math.max(1, pageSize - 1)) };
    case 'PageUp':
      return { kind: 'move', index: clamp(cur - Math.max(1, pageSize - 1)) };
    case 'ArrowRight':
      if (r.expandable && !r.expanded) return { kind: 'expand', index: cur };
      if (r.expandable && r.expanded && cur + 1 < n && rows[cur + 1].level > r.level) return { kind: 'move', index: cur + 1 };
      return { kind: 'none' };
    case 'ArrowLeft': {
      if (r.expandable && r.expanded) return { kind: 'collapse', index: cur };
      const p = parentRow(rows, cur);
      return p >= 0 ? { kind: 'move', index: p } : { kind: 'none' };
    }
    case 'Enter':
      return r.expandable ? { kind: 'toggle', index: cur } : { kind: 'select', index: cur };
    case ' ':
      return { kind: 'select', index: cur };
    default:
      return { kind: 'none' };
  }
}

/** The row of the parent: the nearest row above with a smaller level. */
export function parentRow(rows: readonly NavRow[], index: number): number {
  const level = rows[index].level;
  for (let i = index - 1; i >= 0; i--) if (rows[i].level < level) return i;
  return -1;
}

/**
 * Type-ahead: printable keys typed within `delay` ms build a prefix; the next row (after the
 * current one, wrapping) whose label starts with it is the match (`findByPrefix`, shared with
 * the worker, which answers the tensor table's type-ahead). Typing the same character
 * repeatedly cycles through rows starting with it.
 */
export class TypeAhead {
  private buffer = '';
  private last = -Infinity;

  constructor(private readonly delay = 700) {}

  /** Feed one key; returns the prefix to search, or null if the key is not printable. */
  push(key: string, now: number): string | null {
    if (key.length !== 1 || (key === ' ' && this.buffer === '')) return null;
    if (now - this.last > this.delay) this.buffer = '';
    this.last = now;
    this.buffer += key.toLowerCase();
    return this.buffer;
  }

  reset(): void {
    this.buffer = '';
    this.last = -Infinity;
  }
}
