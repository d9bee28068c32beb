/**
 * The tensor table for the selected module (its whole subtree): virtualised rows, pages fetched
 * from the host as they scroll into view.
 */
import { select } from 'd3';
import { columnWidths, gridTemplate, resizeColumn, resizeKey, TABLE_COLUMNS } from '../data/columns';
import { formatBytes, storageCell } from '../data/format';
import { shapeCell } from '../data/quant';
import { exactCount, formatCount } from '../../../src/shared/format';
import { TypeAhead } from '../data/keyboard';
import { GroupStore, groupColour } from '../data/shared';
import { TensorCache } from '../data/tensorCache';
import { visibleWindow } from '../data/virtual';
import type { NumberFormat, TensorPage, WireTensor } from '../../../src/shared/protocol';
import { h, onNextFrame } from './dom';
import { ROW_HEIGHT } from './treeView';

export interface TensorTableCallbacks {
  hover(t: WireTensor | null, el: HTMLElement | null): void;
  /** Enter on a row: reveal and select the module that owns the tensor. */
  open(t: WireTensor): void;
  /** Type-ahead: the next tensor whose shown name starts with `prefix` (a `find` query). */
  find(path: string, prefix: string, from: number): Promise<TensorPage>;
  /** The list scrolled (its position is kept across tab switches). */
  scrolled(): void;
  /** The columns were resized (their widths are kept across tab switches). */
  resized?(widths: number[]): void;
}

/** What to show along with a module's tensors. */
export interface ShowOptions {
  /** A note after the title (e.g. the folded run the module is a block of). */
  note?: string;
  /** Scroll position to restore (a tab switch); applied once the table is visible. */
  scrollTop?: number;
  /** Make this tensor the active row once its page is here (Enter revealed its module). */
  activeName?: string;
}

interface Cell {
  index: number;
}

export class TensorTable {
  readonly element: HTMLElement;
  private readonly title: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly body: HTMLElement;
  private path: string | null = null;
  private label = '';
  private expected = 0;
  /** Render on the next frame (scrolls and resizes arrive faster than frames). */
  private readonly schedule = onNextFrame(() => this.render());
  private hoverIndex = -1;
  /** Row reached with the keyboard (arrows, Home/End, Page Up/Down); -1 when none. */
  private activeIndex = -1;
  private highlightNames = new Set<string>();
  private note = '';
  /** A scroll position waiting for the table to be laid out (hidden tab, no rows yet). */
  private pendingScroll: number | null = null;
  private readonly typeAhead = new TypeAhead();
  /** Bumped per type-ahead search and per list shown: late answers are dropped. */
  private findSeq = 0;
  cache?: TensorCache;
  groups?: GroupStore;
  private fmt: NumberFormat = 'compact';
  private readonly table: HTMLElement;
  private readonly handles: HTMLElement[] = [];
  /** Column widths the user set (px); undefined: the defaults for the number format. */
  private saved?: number[];
  private widths: number[] = columnWidths(undefined, 'compact');
  /** A scroll we caused (keyboard) is not the user scrolling. */
  private ownScrollTop: number | null = null;

  constructor(private readonly cb: TensorTableCallbacks) {
    this.title = h('div', { class: 'detail-title' });
    // Each header cell has a handle on its right edge: drag it, or focus it and use the arrows.
    const head = h(
      'div',
      { class: 'trow head', role: 'row' },
      ...TABLE_COLUMNS.map((c, i) => {
        const handle = h('span', {
          class: 'col-resize',
          role: 'separator',
          tabindex: 0,
          'aria-orientation': 'vertical',
          'aria-label': `Resize the ${c.label} column (arrow keys; Home resets)`,
          'aria-valuemin': c.min,
        });
        this.wireHandle(handle, i);
        this.handles.push(handle);
        return h('span', { role: 'columnheader', class: c.num ? 'num' : '' }, h('span', { class: 'col-label' }, c.label), handle);
      }),
    );
    this.body = h('div', { class: 'tbody', role: 'rowgroup' });
    this.table = h('div', { class: 'ttable', role: 'table', 'aria-label': 'Tensors of the selected module' }, head, this.body);
    this.viewport = h('div', { class: 'table-viewport' }, this.table);
    this.element = h('div', { class: 'detail-body' }, this.title, this.viewport);
    this.applyWidths();
    this.viewport.addEventListener('scroll', () => {
      const own = this.ownScrollTop !== null && Math.abs(this.viewport.scrollTop - this.ownScrollTop) < 1;
      this.ownScrollTop = null;
      // The row under the pointer, or the active one, moved away: its card goes with it.
      if (!own && this.pendingScroll === null) this.dropCard();
      this.schedule();
      if (this.pendingScroll === null) this.cb.scrolled();
    });
    this.viewport.addEventListener('wheel', () => this.dropCard(), { passive: true });
    // pointermove, not mouseover: rows scrolling under a still pointer do not take the card.
    this.viewport.addEventListener('pointermove', (ev) => {
      const el = (ev.target as Element).closest?.('.trow:not(.head)') as HTMLElement | null;
      const idx = el ? Number(el.dataset.index) : -1;
      if (idx === this.hoverIndex) return;
      this.hoverIndex = idx;
      const t = idx >= 0 && this.path !== null ? this.cache?.at(this.path, true, idx) : undefined;
      this.cb.hover(t ?? null, t ? el : null);
      this.render();
    });
    this.viewport.addEventListener('pointerleave', () => {
      this.hoverIndex = -1;
      this.cb.hover(null, null);
      this.render();
    });
    // Keyboard: the table is one tab stop; arrows move an active row, which shows its tooltip
    // (with the other names on its storage) as hovering does.
    this.viewport.tabIndex = 0;
    this.viewport.setAttribute('aria-label', 'Tensors of the selected module; arrow keys move between rows, typing jumps to a name, Enter reveals its module');
    this.viewport.addEventListener('keydown', (ev) => this.onKey(ev));
    this.viewport.addEventListener('focus', () => {
      if (this.activeIndex < 0 && this.rowCount() > 0) this.moveTo(0);
    });
    this.viewport.addEventListener('blur', () => this.cb.hover(null, null));
    new ResizeObserver(() => this.schedule()).observe(this.viewport);
    this.showEmpty('Select a module to list its tensors.');
  }

  get numberFormat(): NumberFormat {
    return this.fmt;
  }

  set numberFormat(f: NumberFormat) {
    this.fmt = f;
    this.widths = columnWidths(this.saved, f);
    this.applyWidths();
  }

  /** Widths the user chose (kept across tab switches), or undefined for the defaults. */
  get columnWidths(): number[] | undefined {
    return this.saved?.slice();
  }

  set columnWidths(w: number[] | undefined) {
    this.saved = w?.slice();
    this.widths = columnWidths(this.saved, this.fmt);
    this.applyWidths();
  }

  private applyWidths(): void {
    this.table.style.setProperty('--tcols', gridTemplate(this.widths));
    // Columns, gaps and padding: the table scrolls sideways when it is wider than the pane.
    this.table.style.minWidth = `${this.widths.reduce((a, b) => a + b, 0) + 10 * (this.widths.length - 1) + 26}px`;
    this.handles.forEach((hd, i) => {
      hd.setAttribute('aria-valuenow', String(this.widths[i]));
      hd.setAttribute('aria-valuetext', `${this.widths[i]} pixels`);
    });
  }

  private setWidths(w: number[]): void {
    this.saved = w;
    this.widths = columnWidths(w, this.fmt);
    this.applyWidths();
    this.cb.resized?.(w.slice());
  }

  private wireHandle(handle: HTMLElement, i: number): void {
    handle.addEventListener('pointerdown', (ev) => {
      ev.preventDefault();
      ev.stopPropagation();
      handle.setPointerCapture(ev.pointerId);
      const x0 = ev.clientX;
      const start = this.widths.slice();
      handle.classList.add('dragging');
      const move = (e: PointerEvent) => this.setWidths(resizeColumn(start, i, e.clientX - x0));
      const up = () => {
        handle.classList.remove('dragging');
        handle.removeEventListener('pointermove', move);
        handle.removeEventListener('pointerup', up);
        handle.removeEventListener('pointercancel', up);
      };
      handle.addEventListener('pointermove', move);
      handle.addEventListener('pointerup', up);
      handle.addEventListener('pointercancel', up);
    });
    handle.addEventListener('keydown', (ev) => {
      const k = resizeKey(ev.key, ev.shiftKey);
      if (k === null) return;
      ev.preventDefault();
      ev.stopPropagation();
      if (k === 'reset') {
        const w = this.widths.slice();
        w[i] = columnWidths(undefined, this.fmt)[i];
        this.setWidths(w);
      } else this.setWidths(resizeColumn(this.widths, i, k));
    });
    // A double click puts the column back to its default width.
    handle.addEventListener('dblclick', (ev) => {
      ev.stopPropagation();
      const w = this.widths.slice();
      w[i] = columnWidths(undefined, this.fmt)[i];
      this.setWidths(w);
    });
  }

  /** The card follows the pointer or the keyboard: a scroll ends both. */
  private dropCard(): void {
    if (this.hoverIndex < 0 && !this.viewport.matches(':focus')) return;
    this.hoverIndex = -1;
    this.cb.hover(null, null);
  }

  private rowCount(): number {
    if (!this.cache || this.path === null) return 0;
    return this.cache.total(this.path, true) ?? this.expected;
  }

  private onKey(ev: KeyboardEvent): void {
    const n = this.rowCount();
    if (n === 0 || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const page = Math.max(1, Math.floor((this.viewport.clientHeight || 300) / ROW_HEIGHT) - 1);
    const at = Math.max(0, this.activeIndex);
    let next: number;
    switch (ev.key) {
      case 'ArrowDown': next = at + 1; break;
      case 'ArrowUp': next = at - 1; break;
      case 'PageDown': next = at + page; break;
      case 'PageUp': next = at - page; break;
      case 'Home': next = 0; break;
      case 'End': next = n - 1; break;
      case 'Escape':
        this.typeAhead.reset();
        this.cb.hover(null, null);
        return;
      case 'Enter': {
        ev.preventDefault();
        const t = this.activeIndex >= 0 && this.path !== null ? this.cache?.at(this.path, true, this.activeIndex) : undefined;
        if (t) this.cb.open(t);
        return;
      }
      default: {
        const prefix = this.typeAhead.push(ev.key, performance.now());
        if (prefix === null) return;
        ev.preventDefault();
        void this.findAndMove(prefix);
        return;
      }
    }
    ev.preventDefault();
    this.typeAhead.reset();
    this.moveTo(Math.min(n - 1, Math.max(0, next)));
  }

  /** Type-ahead: ask the host (the list may be far longer than the pages here) and move there. */
  private async findAndMove(prefix: string): Promise<void> {
    const path = this.path;
    if (path === null) return;
    const seq = ++this.findSeq;
    try {
      const page = await this.cb.find(path, prefix, Math.max(0, this.activeIndex));
      if (seq !== this.findSeq || this.path !== path || !page.items.length) return;
      await this.cache?.ensureRange(path, true, page.offset, page.offset + 1);
      if (seq !== this.findSeq || this.path !== path) return;
      this.moveTo(page.offset);
    } catch {
      // The model was reloaded or the editor closed: nothing to move to.
    }
  }

  private moveTo(index: number): void {
    this.activeIndex = index;
    // Keep the active row in view (the sticky header takes one row at the top).
    const top = (index + 1) * ROW_HEIGHT;
    const vh = this.viewport.clientHeight || 300;
    let to = this.viewport.scrollTop;
    if (top - ROW_HEIGHT < this.viewport.scrollTop + ROW_HEIGHT) to = Math.max(0, top - 2 * ROW_HEIGHT);
    else if (top + ROW_HEIGHT > this.viewport.scrollTop + vh) to = top + ROW_HEIGHT - vh;
    if (Math.abs(to - this.viewport.scrollTop) >= 1) {
      this.ownScrollTop = to;
      this.viewport.scrollTop = to;
    }
    this.render();
    const el = this.body.querySelector<HTMLElement>(`.trow[data-index="${index}"]`);
    const t = this.path !== null ? this.cache?.at(this.path, true, index) : undefined;
    this.viewport.setAttribute('aria-activedescendant', el ? el.id : '');
    this.cb.hover(t ?? null, t && el ? el : null);
  }

  private showEmpty(text: string): void {
    this.path = null;
    this.title.replaceChildren(h('span', null, text));
    this.body.replaceChildren();
    this.body.style.height = '0px';
  }

  /** List the tensors of a module's subtree. */
  show(path: string | null, label: string, tensorCount: number, opts: ShowOptions = {}): void {
    if (path === null || !this.cache) {
      this.showEmpty('Select a module to list its tensors.');
      return;
    }
    this.path = path;
    this.label = label;
    this.note = opts.note ?? '';
    this.expected = tensorCount;
    this.activeIndex = -1;
    this.findSeq++;
    this.typeAhead.reset();
    this.body.replaceChildren();
    this.pendingScroll = opts.scrollTop && opts.scrollTop > 0 ? opts.scrollTop : null;
    this.viewport.scrollTop = 0;
    this.renderTitle();
    this.render();
    if (opts.activeName) void this.activate(path, opts.activeName);
  }

  /** Make a tensor the active row once the first page of the list is here. */
  private async activate(path: string, name: string): Promise<void> {
    const cache = this.cache;
    if (!cache) return;
    const seq = this.findSeq;
    try {
      await cache.ensureRange(path, true, 0, cache.pageSize);
    } catch {
      return;
    }
    if (seq !== this.findSeq || this.path !== path) return;
    const n = Math.min(cache.total(path, true) ?? 0, cache.pageSize);
    for (let i = 0; i < n; i++) {
      if (cache.at(path, true, i)?.name === name) {
        this.moveTo(i);
        return;
      }
    }
  }

  get scrollTop(): number {
    return this.pendingScroll ?? this.viewport.scrollTop;
  }

  /** Tensor names lit up because the hovered tree row shares storage with them. */
  setHighlight(names: Iterable<string>): void {
    this.highlightNames = new Set(names);
    this.render();
  }

  private renderTitle(): void {
    const total = this.path !== null ? this.cache?.total(this.path, true) ?? this.expected : 0;
    const parts: HTMLElement[] = [h('span', null, 'Tensors in '), h('b', null, this.label)];
    if (this.note) parts.push(h('span', { class: 'detail-note' }, this.note));
    parts.push(h('span', null, `${exactCount(total)} tensor${total === 1 ? '' : 's'}`));
    this.title.replaceChildren(...parts);
  }


  render(): void {
    const cache = this.cache;
    const path = this.path;
    if (!cache || path === null) return;
    const total = cache.total(path, true) ?? this.expected;
    this.body.style.height = `${total * ROW_HEIGHT}px`;
    if (this.pendingScroll !== null && this.viewport.clientHeight > 0) {
      // Restored position (tab switch): once the table is laid out and tall enough.
      this.viewport.scrollTop = this.pendingScroll;
      this.pendingScroll = null;
    }
    const vh = this.viewport.clientHeight || 300;
    // The sticky header takes one row at the top.
    const win = visibleWindow(Math.max(0, this.viewport.scrollTop - ROW_HEIGHT), vh, ROW_HEIGHT, total);
    let missing = false;
    for (let i = win.start; i < win.end; i++) if (!cache.at(path, true, i)) missing = true;
    if (missing) {
      const requested = path;
      cache.ensureRange(path, true, win.start, win.end).then(
        () => {
          if (this.path === requested) {
            this.renderTitle();
            this.render();
          }
        },
        () => undefined,
      );
    }
    const data: Cell[] = [];
    for (let i = win.start; i < win.end; i++) data.push({ index: i });
    const strip = path ? path.length + 1 : 0;
    const fmt = this.fmt;
    const groups = this.groups;
    select(this.body)
      .selectAll<HTMLDivElement, Cell>('div.trow')
      .data(data, (d) => String(d.index))
      .join((enter) =>
        enter.append('div').each(function () {
          for (let c = 0; c < 7; c++) (this as HTMLElement).append(h('span', { role: 'cell', class: c === 3 || c === 4 ? 'num' : c === 0 ? 'tname' : '' }));
        }),
      )
      .each((d, i, nodes) => {
        const el = nodes[i];
        const t = cache.at(path, true, d.index);
        el.setAttribute('role', 'row');
        el.id = `tensor-row-${d.index}`;
        el.dataset.index = String(d.index);
        el.style.top = `${d.index * ROW_HEIGHT}px`;
        const cls = ['trow'];
        if (d.index === this.hoverIndex) cls.push('hovered');
        if (d.index === this.activeIndex) cls.push('active');
        if (t && this.highlightNames.has(t.name)) cls.push('peer-highlight');
        if (t && t.group >= 0) cls.push(`tie-c${groupColour(t.group)}`);
        el.className = cls.join(' ');
        const cells = el.children as HTMLCollectionOf<HTMLElement>;
        if (!t) {
          cells[0].textContent = '…';
          for (let c = 1; c < 7; c++) cells[c].textContent = '';
          delete el.dataset.name;
          return;
        }
        el.dataset.name = t.name;
        // No native titles on cells: the hover card (#tooltip) describes the row. The storage
        // cell keeps one, for the storage key the card does not show.
        cells[0].textContent = t.name.slice(strip) || t.name;
        cells[0].className = `tname${t.present ? '' : ' absent'}`;
        cells[1].textContent = t.dtype;
        // A packed quantized weight shows the shape stored and the shape it stands for.
        cells[2].textContent = shapeCell(t).text;
        cells[3].textContent = formatCount(t.numel, fmt);
        cells[4].textContent = formatBytes(t.nbytes);
        cells[5].textContent = t.present ? t.role : `${t.role} (tied, not stored)`;
        const storage = cells[6];
        const g = t.group >= 0 && groups ? groups.group(t.group) : undefined;
        const cell = storageCell(t, g);
        storage.replaceChildren();
        storage.title = cell.title;
        if (cell.shared && g) {
          storage.className = 'storage';
          storage.append(h('span', { class: 'storage-shared' }, h('span', { class: `dot${g.relation === 'declared' || g.relation === 'deduplicated' ? ` ${g.relation}` : ''}` }), h('span', { class: 'storage-text' }, cell.text)));
        } else {
          storage.className = 'storage muted';
          storage.textContent = cell.text;
        }
      });
  }
}
