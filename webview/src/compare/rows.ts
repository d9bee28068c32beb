/**
 * The comparison view's data on the webview side (DOM-free, so mocha tests it): the pages of
 * rows the worker sent for the current view, the tie links that reach them, lanes for those
 * links in each side's gutter, and the signed numbers the view writes.
 */
import { bytes } from '../../../src/shared/format';
import { formatCount } from '../../../src/shared/format';
import type { CompareLink, CompareRow, CompareRowsPage, NumberFormat } from '../../../src/shared/protocol';

/** Rows asked for at once. */
export const PAGE_ROWS = 200;

/** `+38,597,376` (exact) or `+38.6M` (compact); `±0` for nothing. The minus is U+2212. */
export function signedCount(n: number, mode: NumberFormat): string {
  if (n === 0) return '±0';
  return `${n > 0 ? '+' : '−'}${formatCount(Math.abs(n), mode)}`;
}

export function signedBytes(n: number): string {
  if (n === 0) return '±0 B';
  return `${n > 0 ? '+' : '−'}${bytes(Math.abs(n))}`;
}

export function linkKey(l: CompareLink): string {
  return `${l.side}\0${l.tensors.join('\0')}`;
}

/**
 * The rows of one view (expanded set + filter), page by page as they arrive. A new view is a new
 * cache: rows are never mixed across views.
 */
export class RowPages {
  total = -1;
  private readonly pages = new Map<number, CompareRow[]>();
  private readonly links = new Map<string, CompareLink>();
  private readonly pending = new Set<number>();
  linkCount = 0;

  constructor(readonly viewKey: string) {}

  /** The answer for page `p` (rows [p * PAGE_ROWS, …)); a page past the end holds nothing and is not kept. */
  add(p: number, page: CompareRowsPage): void {
    this.total = page.total;
    this.linkCount = page.linkCount;
    this.pending.delete(p);
    if (p * PAGE_ROWS < page.total) this.pages.set(p, page.rows);
    for (const l of page.links) this.links.set(linkKey(l), l);
  }

  row(index: number): CompareRow | undefined {
    return this.pages.get(Math.floor(index / PAGE_ROWS))?.[index % PAGE_ROWS];
  }

  /** Pages covering [from, to) that are neither here nor asked for; marks them asked for. */
  claim(from: number, to: number): number[] {
    const out: number[] = [];
    if (this.total >= 0 && from >= this.total) return out;
    const last = this.total >= 0 ? Math.min(to, this.total) : to;
    for (let p = Math.floor(from / PAGE_ROWS); p * PAGE_ROWS < Math.max(last, from + 1); p++) {
      if (this.pages.has(p) || this.pending.has(p)) continue;
      this.pending.add(p);
      out.push(p);
    }
    return out;
  }

  /** A page's request failed or was dropped: it may be asked for again. */
  release(page: number): void {
    this.pending.delete(page);
  }

  /** Position of a row id among the loaded rows (-1 when not loaded or hidden). */
  indexOf(id: number): number {
    for (const [p, rows] of this.pages) {
      const i = rows.findIndex((r) => r.id === id);
      if (i >= 0) return p * PAGE_ROWS + i;
    }
    return -1;
  }

  /** The links with an end in [from, to) or passing over it. */
  linksIn(from: number, to: number): CompareLink[] {
    const out: CompareLink[] = [];
    for (const l of this.links.values()) if (l.rows[0] < to && l.rows[l.rows.length - 1] >= from) out.push(l);
    return out;
  }
}

/**
 * Lanes per side: shorter links nearer the tree, overlapping links never in one lane (at most
 * `max` lanes; beyond, links share the outermost ones).
 */
export function assignLanes(links: readonly CompareLink[], max = 6): Map<CompareLink, number> {
  const lanes = new Map<CompareLink, number>();
  for (const side of ['a', 'b'] as const) {
    const mine = links.filter((l) => l.side === side);
    const span = (l: CompareLink) => l.rows[l.rows.length - 1] - l.rows[0];
    mine.sort((x, y) => span(x) - span(y) || x.rows[0] - y.rows[0]);
    const used: [number, number][][] = [];
    mine.forEach((l, i) => {
      const s = l.rows[0];
      const e = l.rows[l.rows.length - 1];
      let lane = used.findIndex((u) => u.every(([a, b]) => e < a || s > b));
      if (lane < 0) {
        if (used.length < max) {
          used.push([]);
          lane = used.length - 1;
        } else lane = max - 1 - (i % 2);
      }
      used[lane].push([s, e]);
      lanes.set(l, lane);
    });
  }
  return lanes;
}

/**
 * The SVG path of a link in a gutter: a curve between consecutive ends, bowing out to its lane;
 * one end alone (a tie inside one row) is a small loop. `y(i)` is a row's middle.
 */
export function linkPath(rows: readonly number[], anchor: number, laneX: number, y: (row: number) => number): string {
  const f = (n: number) => String(Math.round(n * 10) / 10);
  if (rows.length === 1) {
    const m = y(rows[0]);
    const out = anchor + (laneX - anchor) * 0.9;
    return `M${f(anchor)} ${f(m - 4)}C${f(out)} ${f(m - 10)} ${f(out)} ${f(m + 10)} ${f(anchor)} ${f(m + 4)}`;
  }
  let d = '';
  for (let i = 0; i + 1 < rows.length; i++) {
    const y0 = y(rows[i]);
    const y1 = y(rows[i + 1]);
    d += `M${f(anchor)} ${f(y0)}C${f(laneX)} ${f(y0)} ${f(laneX)} ${f(y1)} ${f(anchor)} ${f(y1)}`;
  }
  return d;
}

/** The view's key: the rows expanded (order does not matter) and the filter. */
export function viewKey(expanded: Iterable<number>, changesOnly: boolean): string {
  return `${changesOnly ? 1 : 0}:${[...expanded].sort((x, y) => x - y).join(',')}`;
}
