/**
 * The module hierarchy: a virtualised list of tree rows drawn with d3 (only the rows in view
 * exist in the DOM), tie links between rows sharing storage in the left gutter, ARIA tree
 * semantics and keyboard navigation.
 */
import { path as d3path, select } from 'd3';
import { formatShare } from '../data/format';
import { formatCount } from '../../../src/shared/format';
import { navigate, NavRow, TypeAhead } from '../data/keyboard';
import { findByPrefix } from '../../../src/shared/typeahead';
import { computeLinks, groupColour, linksInWindow, rowPeers, SharingIndex, TieLink, highlightRows, SharedPeer } from '../data/shared';
import { ModelTree, Row, rowLabel, selectionTarget, TreeState } from '../data/tree';
import { scrollToReveal, visibleWindow } from '../data/virtual';
import { domPath, NumberFormat } from '../../../src/shared/protocol';
import { h, onNextFrame } from './dom';

export const ROW_HEIGHT = 22;
const INDENT = 12;
const LANE = 8;

export interface TreeViewCallbacks {
  /** A row was selected (click, Enter, Space); a folded run selects its first block. */
  select(row: Row): void;
  /** The row to describe changed (hover or keyboard focus); null when none. */
  describe(row: Row | null, anchor: HTMLElement | null, peers: SharedPeer[]): void;
  /** Expansion, sort or scroll changed: the view state is worth saving. */
  changed(): void;
}

interface RowView {
  index: number;
  row: Row;
}

export class TreeView {
  readonly element: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly rowsEl: HTMLElement;
  private readonly svg: SVGSVGElement;
  private tree?: ModelTree;
  private state?: TreeState;
  private sharing?: SharingIndex;
  private links: TieLink[] = [];
  private gutter = 0;
  private rootLabel = '';
  private metric: 'params' | 'bytes' = 'params';
  private metricTotal = 1;
  numberFormat: NumberFormat = 'compact';

  /** Keyboard-focused row. */
  active = 0;
  /** The selected module's row key (its dotted path, `(root)` for the root). */
  selectedKey: string | null = null;
  private readonly emptyEl: HTMLElement;
  private hoverIndex = -1;
  /** Row index described by a tensor-table hover (highlight source outside the tree). */
  private externalPeers: SharedPeer[] | null = null;
  private highlight = new Set<number>();
  private litGroups = new Set<number>();
  private readonly typeAhead = new TypeAhead();
  /** Render on the next frame (scrolls and resizes arrive faster than frames). */
  private readonly schedule = onNextFrame(() => this.render());
  private focused = false;
  /** The active row is described (tooltip, highlight) only while the keyboard drives. */
  private keyboardMode = false;

  constructor(private readonly cb: TreeViewCallbacks) {
    this.rowsEl = h('div', { class: 'tree-rows', role: 'presentation' });
    this.svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    this.svg.setAttribute('class', 'tie-layer');
    this.svg.setAttribute('aria-hidden', 'true');
    this.spacer = h('div', { class: 'tree-spacer' });
    this.emptyEl = h('div', { class: 'tree-empty', role: 'status', hidden: true });
    this.spacer.append(this.svg, this.rowsEl, this.emptyEl);
    this.viewport = h('div', { class: 'tree-viewport', role: 'tree', tabindex: 0, 'aria-label': 'Modules', 'aria-multiselectable': 'false' });
    this.viewport.append(this.spacer);
    const head = h(
      'div',
      { class: 'tree-head', 'aria-hidden': 'true' },
      h('span', { class: 'col-main' }, 'Module'),
      h('span', { class: 'col-bar' }, 'Share'),
      h('span', { class: 'col-share' }, ''),
      h('span', { class: 'col-count' }, 'Parameters'),
    );
    this.element = h('div', { class: 'pane tree-pane' }, head, this.viewport);

    this.viewport.addEventListener('scroll', () => {
      this.schedule();
      this.cb.changed();
    });
    this.viewport.addEventListener('mouseover', (ev) => this.onMouseOver(ev));
    this.viewport.addEventListener('mouseleave', () => this.setHover(-1));
    this.viewport.addEventListener('click', (ev) => this.onClick(ev));
    this.viewport.addEventListener('mousedown', () => {
      this.keyboardMode = false;
    });
    this.viewport.addEventListener('keydown', (ev) => this.onKeyDown(ev));
    this.viewport.addEventListener('focus', () => {
      this.focused = true;
      // Tabbing in describes the active row at once; a click does not.
      if (this.viewport.matches(':focus-visible')) this.keyboardMode = true;
      this.updateDescription();
      this.render();
    });
    this.viewport.addEventListener('blur', () => {
      this.focused = false;
      this.updateDescription();
    });
    new ResizeObserver(() => this.schedule()).observe(this.viewport);
  }

  setModel(tree: ModelTree, state: TreeState, sharing: SharingIndex, rootLabel: string): void {
    this.tree = tree;
    this.state = state;
    this.sharing = sharing;
    this.rootLabel = rootLabel;
    const rootParams = tree.root.m.params[0];
    this.metric = rootParams > 0 ? 'params' : 'bytes';
    this.metricTotal = Math.max(1, this.metric === 'params' ? rootParams : tree.root.m.bytes);
    this.hoverIndex = -1;
    this.externalPeers = null;
    this.refresh();
  }

  get rows(): Row[] {
    return this.state?.rows ?? [];
  }

  get scrollTop(): number {
    return this.viewport.scrollTop;
  }

  set scrollTop(v: number) {
    this.viewport.scrollTop = v;
  }

  focus(): void {
    this.viewport.focus();
  }

  /** Rows, links and highlights recomputed (after expand, filter, sort, new model). */
  refresh(): void {
    if (!this.state || !this.sharing) return;
    const keyOf = (i: number) => this.state!.rows[i]?.key;
    const activeKey = keyOf(this.active);
    const hoverKey = this.hoverIndex >= 0 ? keyOf(this.hoverIndex) : undefined;
    this.state.rebuild();
    const rows = this.state.rows;
    this.active = activeKey !== undefined ? this.state.rowByKey.get(activeKey) ?? Math.min(this.active, rows.length - 1) : 0;
    if (this.active < 0) this.active = 0;
    this.hoverIndex = hoverKey !== undefined ? this.state.rowByKey.get(hoverKey) ?? -1 : -1;
    const lostHover = hoverKey !== undefined && this.hoverIndex < 0;
    const { links, lanes } = computeLinks(this.state, this.sharing);
    this.links = links;
    this.gutter = lanes ? lanes * LANE + 10 : 0;
    this.spacer.style.height = `${rows.length * ROW_HEIGHT + (this.emptyEl.hidden ? 0 : 2 * ROW_HEIGHT)}px`;
    this.emptyEl.style.top = `${rows.length * ROW_HEIGHT + 6}px`;
    if (lostHover) {
      this.updateDescription();
      return;
    }
    this.updateHighlight();
    this.render();
  }

  /** A note under the rows (e.g. `No module matches "x"`), or none. */
  setEmptyMessage(text: string | null): void {
    this.emptyEl.hidden = !text;
    this.emptyEl.textContent = text ?? '';
    this.spacer.style.height = `${this.rows.length * ROW_HEIGHT + (text ? 2 * ROW_HEIGHT : 0)}px`;
    this.emptyEl.style.top = `${this.rows.length * ROW_HEIGHT + 6}px`;
  }

  /** The selected module's id, if it is in the tree. */
  private selectedId(): number {
    if (this.selectedKey === null || !this.tree) return -1;
    return this.selectedKey === domPath('') ? 0 : this.tree.byPath.get(this.selectedKey) ?? -1;
  }

  /** The row is the selected module's, or the folded run that hides it. */
  private isSelectedRow(row: Row, index: number): boolean {
    if (row.key === this.selectedKey) return true;
    if (row.kind !== 'fold' || row.expanded || !this.state) return false;
    const id = this.selectedId();
    return id >= 0 && row.ids.includes(id) && this.state.rowOf[id] === index;
  }


  /** Draw the rows and links in view. */
  render(): void {
    const state = this.state;
    const tree = this.tree;
    if (!state || !tree) return;
    const rows = state.rows;
    const win = visibleWindow(this.viewport.scrollTop, this.viewport.clientHeight || 600, ROW_HEIGHT, rows.length);
    const data: RowView[] = [];
    for (let i = win.start; i < win.end; i++) data.push({ index: i, row: rows[i] });

    const sel = select(this.rowsEl)
      .selectAll<HTMLDivElement, RowView>('div.row')
      .data(data, (d) => d.row.key);
    sel.exit().remove();
    const entered = sel
      .enter()
      .append('div')
      .attr('role', 'treeitem')
      .each(function () {
        const el = this as HTMLDivElement;
        el.append(
          h('span', { class: 'main' }, h('span', { class: 'indent' }), h('span', { class: 'twistie codicon' }), h('span', { class: 'kind codicon' }), h('span', { class: 'label' }), h('span', { class: 'type' }), h('span', { class: 'tie-badge codicon codicon-link', hidden: true }), h('span', { class: 'shapes' })),
          h('span', { class: 'bar', 'aria-hidden': 'true' }, h('span', { class: 'fill' })),
          h('span', { class: 'share col-share' }),
          h('span', { class: 'count col-count' }),
        );
      });
    const self = this;
    entered.merge(sel).each(function (d) {
      self.updateRow(this as HTMLDivElement, d);
    });

    const active = rows[this.active];
    if (active && this.active >= win.start && this.active < win.end) this.viewport.setAttribute('aria-activedescendant', `ws-row-${this.active}`);
    else this.viewport.removeAttribute('aria-activedescendant');

    this.renderLinks(win.start, win.end);
  }

  private updateRow(el: HTMLDivElement, d: RowView): void {
    const tree = this.tree!;
    const { row, index } = d;
    const fold = row.kind === 'fold';
    const node = row.kind === 'module' ? tree.nodes[row.id] : null;
    const m = node?.m;
    const expandable = fold || (row.kind === 'module' && row.hasChildren);
    const cls = ['row'];
    if (fold) cls.push('fold');
    if (row.match) cls.push('match');
    const selected = this.isSelectedRow(row, index);
    if (selected) cls.push('selected');
    if (index === this.active) cls.push('active');
    if (index === this.hoverIndex) cls.push('hovered');
    if (this.highlight.has(index)) cls.push('shared-highlight');
    const groups = this.rowGroups(row);
    if (groups.length) cls.push(`tie-c${groupColour(groups[0])}`);
    el.className = cls.join(' ');
    el.id = `ws-row-${index}`;
    el.style.top = `${index * ROW_HEIGHT}px`;
    el.dataset.index = String(index);
    if (row.kind === 'module') {
      el.dataset.path = domPath(node!.path);
      delete el.dataset.fold;
    } else {
      el.dataset.fold = row.key;
      delete el.dataset.path;
    }
    el.setAttribute('aria-level', String(row.level));
    el.setAttribute('aria-posinset', String(row.posinset));
    el.setAttribute('aria-setsize', String(row.setsize));
    el.setAttribute('aria-selected', selected ? 'true' : 'false');
    if (expandable) el.setAttribute('aria-expanded', row.expanded ? 'true' : 'false');
    else el.removeAttribute('aria-expanded');

    const main = el.firstElementChild as HTMLElement;
    main.style.paddingLeft = `${this.gutter + 2}px`;
    const [indent, twistie, kind, label, type, badge, shapes] = Array.from(main.children) as HTMLElement[];
    indent.style.width = `${(row.level - 1) * INDENT}px`;
    twistie.className = `twistie codicon ${expandable ? (row.expanded ? 'codicon-chevron-down' : 'codicon-chevron-right') : 'codicon-blank leaf'}`;
    const labelText = rowLabel(tree, row, this.rootLabel);
    let typeText = '';
    let shapesText = '';
    let kindIcon: string;
    let unique: number;
    if (row.kind === 'fold') {
      kindIcon = 'symbol-array';
      unique = row.unique;
      const each = tree.unique(row.ids[0]);
      shapesText = `${formatCount(each, this.numberFormat)} each`;
    } else {
      typeText = m!.type;
      shapesText = m!.shapes ?? (m!.repr && !node!.children.length ? m!.repr : '');
      // Subtrees without parameters (optimizer state, buffers only) say what they do hold.
      if (!shapesText && m!.params[0] === 0) {
        if (m!.other?.[0]) shapesText = `${formatCount(m!.other[0], this.numberFormat)} elements of optimizer state / other`;
        else if (m!.buffers?.[0]) shapesText = `${formatCount(m!.buffers[0], this.numberFormat)} buffer elements`;
      }
      kindIcon = node!.id === 0 ? 'package' : node!.children.length ? (m!.type === 'ModuleList' || m!.type === 'Sequential' ? 'symbol-array' : 'symbol-class') : 'symbol-field';
      unique = this.metric === 'params' ? m!.params[0] : m!.bytes;
    }
    // No native titles here: the hover card (#tooltip) describes the row.
    kind.className = `kind codicon codicon-${kindIcon}`;
    label.textContent = labelText;
    type.textContent = typeText;
    type.className = `type${m?.inferred ? ' inferred' : ''}`;
    shapes.textContent = shapesText;
    badge.hidden = !(m?.shared && m.shared.length);
    const bar = el.children[1] as HTMLElement;
    const share = el.children[2] as HTMLElement;
    const count = el.children[3] as HTMLElement;
    const frac = Math.max(0, Math.min(1, unique / this.metricTotal));
    (bar.firstElementChild as HTMLElement).style.width = `${(frac * 100).toFixed(2)}%`;
    share.textContent = formatShare(unique, this.metricTotal);
    count.textContent = this.metric === 'params' ? formatCount(unique, this.numberFormat) : `${formatCount(unique, this.numberFormat)} B`;
  }

  /** Storage groups a row takes part in (for its colour). */
  private rowGroups(row: Row): number[] {
    if (!this.sharing || !this.tree || row.kind !== 'module') return [];
    const shared = this.tree.nodes[row.id].m.shared;
    if (!shared?.length) return [];
    const g = this.sharing.groupOf.get(shared[0].tensor);
    return g === undefined ? [] : [g];
  }

  private renderLinks(start: number, end: number): void {
    const svg = select(this.svg);
    const top = start * ROW_HEIGHT;
    const height = Math.max(0, (end - start) * ROW_HEIGHT);
    svg.attr('width', this.gutter).attr('height', height).style('top', `${top}px`).style('width', `${this.gutter}px`).style('height', `${height}px`);
    const visible = linksInWindow(this.links, start, end);
    const y = (r: number) => Math.max(-ROW_HEIGHT, Math.min(height + ROW_HEIGHT, (r - start) * ROW_HEIGHT + ROW_HEIGHT / 2));
    const edge = this.gutter - 1;
    const pathOf = (l: TieLink) => {
      const x = this.gutter - 6 - l.lane * LANE;
      const p = d3path();
      const r = Math.min(4, (edge - x) / 2);
      const ys = l.rows.map(y);
      const y0 = ys[0];
      const y1 = ys[ys.length - 1];
      p.moveTo(edge, y0);
      p.lineTo(x + r, y0);
      p.quadraticCurveTo(x, y0, x, y0 + r);
      p.lineTo(x, y1 - r);
      p.quadraticCurveTo(x, y1, x + r, y1);
      p.lineTo(edge, y1);
      for (const yi of ys.slice(1, -1)) {
        p.moveTo(x, yi);
        p.lineTo(edge, yi);
      }
      return p.toString();
    };
    svg
      .selectAll<SVGPathElement, TieLink>('path.tie-link')
      .data(visible, (l) => String(l.group))
      .join('path')
      .attr('class', (l) => `tie-link tie-c${groupColour(l.group)}${l.relation === 'declared' ? ' declared' : ''}${this.litGroups.has(l.group) ? ' lit' : ''}`)
      .attr('data-shared', (l) => l.names.join(' '))
      .attr('data-relation', (l) => l.relation)
      .attr('d', pathOf);
    const dots: { key: string; group: number; y: number }[] = [];
    for (const l of visible) for (const r of l.rows) if (r >= start && r < end) dots.push({ key: `${l.group}:${r}`, group: l.group, y: y(r) });
    svg
      .selectAll<SVGCircleElement, { key: string; group: number; y: number }>('circle.tie-dot')
      .data(dots, (d) => d.key)
      .join('circle')
      .attr('class', (d) => `tie-dot tie-c${groupColour(d.group)}`)
      .attr('cx', edge)
      .attr('cy', (d) => d.y)
      .attr('r', 2.5);
  }

  // ------------------------------------------------------------------------------- highlight

  private setHover(index: number): void {
    if (index === this.hoverIndex) return;
    this.hoverIndex = index;
    this.updateDescription();
  }

  /** Light up places sharing storage with something outside the tree (a tensor-table row). */
  setExternalPeers(peers: SharedPeer[] | null): void {
    this.externalPeers = peers;
    this.updateHighlight();
    this.render();
  }

  private describedIndex(): number {
    if (this.hoverIndex >= 0) return this.hoverIndex;
    if (this.focused && this.keyboardMode) return this.active;
    return -1;
  }

  private updateDescription(): void {
    const idx = this.describedIndex();
    this.updateHighlight();
    this.render();
    const row = idx >= 0 ? this.rows[idx] : undefined;
    if (!row || !this.tree || !this.sharing) {
      this.cb.describe(null, null, []);
      return;
    }
    const el = this.rowsEl.querySelector<HTMLElement>(`#ws-row-${idx}`);
    this.cb.describe(row, el, rowPeers(this.tree, this.sharing, row));
  }

  private updateHighlight(): void {
    this.highlight.clear();
    this.litGroups.clear();
    if (!this.state || !this.tree || !this.sharing) return;
    let peers: SharedPeer[];
    let exclude = -1;
    if (this.externalPeers) {
      peers = this.externalPeers;
    } else {
      const idx = this.describedIndex();
      const row = idx >= 0 ? this.state.rows[idx] : undefined;
      if (!row) return;
      peers = rowPeers(this.tree, this.sharing, row);
      exclude = idx;
    }
    for (const r of highlightRows(this.state, peers, exclude)) this.highlight.add(r);
    for (const p of peers) if (p.group >= 0) this.litGroups.add(p.group);
  }

  // ------------------------------------------------------------------------------- events

  private rowIndexOf(target: EventTarget | null): number {
    const el = (target as Element | null)?.closest?.('.row') as HTMLElement | null;
    if (!el || el.dataset.index === undefined) return -1;
    return Number(el.dataset.index);
  }

  private onMouseOver(ev: MouseEvent): void {
    this.setHover(this.rowIndexOf(ev.target));
  }

  private onClick(ev: MouseEvent): void {
    const idx = this.rowIndexOf(ev.target);
    if (idx < 0) return;
    this.active = idx;
    const row = this.rows[idx];
    this.selectRow(idx);
    if (row.kind === 'fold' || row.hasChildren) this.toggle(idx);
    else this.render();
  }

  /** Select what a row stands for: its module, or a folded run's first block. */
  private selectRow(idx: number): void {
    const row = this.rows[idx];
    if (!row || !this.tree) return;
    this.selectedKey = domPath(this.tree.nodes[selectionTarget(row)].path);
    this.cb.select(row);
    this.cb.changed();
  }

  private toggle(idx: number, open?: boolean): void {
    const row = this.rows[idx];
    if (!row || !this.state) return;
    if (open !== undefined && row.expanded === open) return;
    if (!this.state.toggle(row)) return;
    this.refresh();
    // The card of the row just toggled says "fold"/"unfold": draw it again.
    if (this.describedIndex() >= 0) this.updateDescription();
    this.cb.changed();
  }

  private navRows(): NavRow[] {
    return this.rows.map((r) => ({ level: r.level, expandable: r.kind === 'fold' || r.hasChildren, expanded: r.expanded }));
  }

  private onKeyDown(ev: KeyboardEvent): void {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const rows = this.rows;
    if (!rows.length) return;
    const page = Math.max(1, Math.floor(this.viewport.clientHeight / ROW_HEIGHT));
    if (ev.key === 'Escape') {
      this.hoverIndex = -1;
      this.keyboardMode = false;
      this.updateDescription();
      return;
    }
    if (ev.key !== 'Tab' && ev.key !== 'Shift') this.keyboardMode = true;
    const action = navigate(this.navRows(), this.active, ev.key, page);
    if (action.kind === 'none') {
      const prefix = this.typeAhead.push(ev.key, performance.now());
      if (prefix === null) return;
      const found = findByPrefix((i) => rowLabel(this.tree!, this.rows[i], this.rootLabel), rows.length, this.active, prefix);
      ev.preventDefault();
      if (found >= 0) this.moveActive(found);
      return;
    }
    ev.preventDefault();
    this.typeAhead.reset();
    switch (action.kind) {
      case 'move':
        this.moveActive(action.index);
        break;
      case 'expand':
        this.toggle(action.index, true);
        break;
      case 'collapse':
        this.toggle(action.index, false);
        break;
      case 'toggle':
        this.selectRow(action.index);
        this.toggle(action.index);
        break;
      case 'select':
        this.selectRow(action.index);
        this.render();
        break;
    }
  }

  /** Move keyboard focus to a row, scrolling it into view. */
  moveActive(index: number): void {
    this.active = Math.max(0, Math.min(index, this.rows.length - 1));
    this.hoverIndex = -1;
    this.viewport.scrollTop = scrollToReveal(this.viewport.scrollTop, this.viewport.clientHeight, ROW_HEIGHT, this.active);
    this.render();
    this.updateDescription();
  }

  /** Mark a module selected (and keyboard-active if it shows) without expanding or scrolling. */
  markSelected(path: string): void {
    this.selectedKey = domPath(path);
    const id = this.tree?.byPath.get(path);
    const idx = id !== undefined && this.state ? this.state.rowOf[id] : -1;
    if (idx >= 0) this.active = idx;
    this.render();
  }

  /** Select a module by path, revealing it. */
  reveal(path: string, select = true): void {
    if (!this.state || !this.tree) return;
    const id = this.tree.byPath.get(path);
    if (id === undefined) return;
    this.state.reveal(id);
    this.refresh();
    const idx = this.state.rowOf[id];
    if (idx < 0) return;
    this.active = idx;
    if (select) this.selectRow(idx);
    this.viewport.scrollTop = scrollToReveal(this.viewport.scrollTop, this.viewport.clientHeight, ROW_HEIGHT, idx);
    this.render();
  }

  /** Re-render after a setting such as the number format changed. */
  redraw(): void {
    this.render();
  }
}
