/**
 * The module hierarchy: a virtualised list of tree rows drawn with d3 (only the rows in view
 * exist in the DOM), tie links between rows sharing storage in the left gutter, ARIA tree
 * semantics and keyboard navigation. The tree is loaded lazily (../data/lazyTree.ts): rows of
 * children not loaded yet are placeholders, asked for as they scroll into view; the storage
 * groups of rows that show are asked for too, so their links and highlights appear.
 */
import { path as d3path, select } from 'd3';
import { formatShare, linkLabel, relationLegend } from '../data/format';
import { exactCount, formatCount } from '../../../src/shared/format';
import { DescribeState } from '../data/describe';
import { navigate, NavRow, TypeAhead } from '../data/keyboard';
import { findByPrefix } from '../../../src/shared/typeahead';
import { computeLinks, GroupStore, groupColour, highlightRows, linksInWindow, rowGroups, rowPeers, SharedPeer, TieLink } from '../data/shared';
import type { LazyTree } from '../data/lazyTree';
import { Row, rowLabel, selectionTarget, TreeState } from '../data/tree';
import { scrollToReveal, visibleWindow } from '../data/virtual';
import { domPath, NumberFormat } from '../../../src/shared/protocol';
import { h, onNextFrame } from './dom';

export const ROW_HEIGHT = 22;
const INDENT = 12;
const LANE = 8;
/** How long a toggle waits for its children before it shows placeholders. */
const EXPAND_WAIT_MS = 80;

export interface TreeViewCallbacks {
  /** A row was selected (click, Enter, Space); a folded run selects its first block. */
  select(row: Row): void;
  /** The row to describe changed (hover or keyboard focus); null when none. */
  describe(row: Row | null, anchor: HTMLElement | null, peers: SharedPeer[]): void;
  /** Expansion, sort or scroll changed: the view state is worth saving. */
  changed(): void;
  /** A request for rows or groups failed (the model was reloaded, the editor closed...). */
  failed?(e: unknown): void;
  /** Modules with tensors of their own on screen (after a scroll settles): worth prefetching. */
  shown?(paths: string[]): void;
}

interface RowView {
  index: number;
  row: Row;
}

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** How long the rows must stay put before their modules are prefetched. */
const SHOWN_DELAY_MS = 40;

export class TreeView {
  readonly element: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly rowsEl: HTMLElement;
  private readonly svg: SVGSVGElement;
  private readonly countHead: HTMLElement;
  private tree?: LazyTree;
  private state?: TreeState;
  private groups?: GroupStore;
  private links: TieLink[] = [];
  private readonly legendEl: HTMLElement;
  private legendKey = '';
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
  /** Who is described: the pointer's row or the keyboard's. */
  private readonly describeState = new DescribeState();
  /** The row described now (its key), so a change is told once. */
  private describedKey: string | null = null;
  /** Row index described by a tensor-table hover (highlight source outside the tree). */
  private externalPeers: SharedPeer[] | null = null;
  private highlight = new Set<number>();
  private litGroups = new Set<number>();
  private readonly typeAhead = new TypeAhead();
  /** Render on the next frame (scrolls and resizes arrive faster than frames). */
  private readonly schedule = onNextFrame(() => this.render());
  /** Rebuild the rows on the next frame (nodes arrived). */
  private readonly scheduleRefresh = onNextFrame(() => this.refresh());
  /** The rendered window. */
  private win = { start: 0, end: 0 };
  /** A scroll we caused (keyboard, reveal) is not the user scrolling. */
  private ownScrollTop: number | null = null;
  private shownTimer: ReturnType<typeof setTimeout> | undefined;
  private keyPrefetch: ReturnType<typeof setTimeout> | undefined;

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
    this.countHead = h('span', { class: 'col-count' }, 'Parameters');
    const head = h(
      'div',
      { class: 'tree-head', 'aria-hidden': 'true' },
      h('span', { class: 'col-main' }, 'Module'),
      h('span', { class: 'col-bar' }, 'Share'),
      h('span', { class: 'col-share' }, ''),
      this.countHead,
    );
    this.legendEl = h('div', { class: 'tie-legend', 'data-testid': 'tie-legend', 'aria-label': 'Links between modules', hidden: true });
    this.element = h('div', { class: 'pane tree-pane' }, head, this.viewport, this.legendEl);

    this.viewport.addEventListener('scroll', () => {
      const own = this.ownScrollTop !== null && Math.abs(this.viewport.scrollTop - this.ownScrollTop) < 1;
      this.ownScrollTop = null;
      if (!own) {
        // The user scrolled: what was under the pointer, or the active row, has moved away.
        this.describeState.scrolled();
        this.updateDescription();
      }
      this.schedule();
      this.cb.changed();
    });
    this.viewport.addEventListener('wheel', () => {
      this.describeState.scrolled();
      this.updateDescription();
    }, { passive: true });
    // pointermove, not mouseover: the browser sends mouseover when rows scroll under a pointer
    // that did not move (after End, say), and the card must then stay with the keyboard.
    this.viewport.addEventListener('pointermove', (ev) => this.onPointerMove(ev));
    this.viewport.addEventListener('pointerleave', () => {
      this.describeState.pointerLeave();
      this.updateDescription();
    });
    this.viewport.addEventListener('click', (ev) => this.onClick(ev));
    this.viewport.addEventListener('mousedown', () => this.describeState.pointerDown());
    this.viewport.addEventListener('keydown', (ev) => this.onKeyDown(ev));
    this.viewport.addEventListener('focus', () => {
      this.describeState.focus();
      // Tabbing in describes the active row at once; a click does not.
      if (this.viewport.matches(':focus-visible')) this.describeState.keyboardMoved();
      this.updateDescription();
    });
    this.viewport.addEventListener('blur', () => {
      this.describeState.blur();
      this.updateDescription();
    });
    new ResizeObserver(() => this.schedule()).observe(this.viewport);
  }

  setModel(tree: LazyTree, state: TreeState, groups: GroupStore, rootLabel: string): void {
    this.tree = tree;
    this.state = state;
    this.groups = groups;
    this.rootLabel = rootLabel;
    const root = tree.root.m;
    this.metric = root.params[0] > 0 ? 'params' : 'bytes';
    this.metricTotal = Math.max(1, this.metric === 'params' ? root.params[0] : root.bytes);
    this.countHead.textContent = this.metric === 'params' ? 'Parameters' : 'Bytes';
    this.describeState.dismiss();
    this.describedKey = null;
    this.externalPeers = null;
    tree.onLoad(() => this.scheduleRefresh());
    this.sizeColumns();
    this.refresh();
  }

  get rows(): Row[] {
    return this.state?.rows ?? [];
  }

  get scrollTop(): number {
    return this.viewport.scrollTop;
  }

  set scrollTop(v: number) {
    this.setScroll(v);
  }

  private setScroll(v: number): void {
    if (Math.abs(this.viewport.scrollTop - v) < 1) return;
    this.ownScrollTop = v;
    this.viewport.scrollTop = v;
  }

  focus(): void {
    this.viewport.focus();
  }

  /**
   * The count column fits the widest number it shows (the root's, in the chosen format: `684B`
   * or `684,489,845,504`), so the exact form never runs into the share column.
   */
  private sizeColumns(): void {
    if (!this.tree) return;
    const widest = formatCount(this.metricTotal, this.numberFormat) + (this.metric === 'bytes' ? ' B' : '');
    this.element.style.setProperty('--count-width', `calc(${Math.max(widest.length, 10)}ch + 18px)`);
  }

  /** Rows, links and highlights recomputed (after expand, filter, sort, new nodes, new model). */
  refresh(): void {
    if (!this.state || !this.groups) return;
    const keyOf = (i: number) => this.state!.rows[i]?.key;
    const activeKey = keyOf(this.active);
    this.state.rebuild();
    const rows = this.state.rows;
    this.active = activeKey !== undefined ? this.state.rowByKey.get(activeKey) ?? Math.min(this.active, rows.length - 1) : 0;
    if (this.active < 0) this.active = 0;
    if (this.describeState.hover >= 0) {
      // Keep describing the row under the pointer if it is still there (by key).
      const idx = this.describedKey !== null ? this.state.rowByKey.get(this.describedKey) : undefined;
      this.describeState.hover = idx ?? -1;
    }
    const { links, lanes } = computeLinks(this.state, this.groups.known());
    this.links = links;
    this.renderLegend();
    this.gutter = lanes ? lanes * LANE + 10 : 0;
    this.spacer.style.height = `${rows.length * ROW_HEIGHT + (this.emptyEl.hidden ? 0 : 2 * ROW_HEIGHT)}px`;
    this.emptyEl.style.top = `${rows.length * ROW_HEIGHT + 6}px`;
    this.render();
  }

  /** What the links drawn mean, one entry per relation among them (dashed: declared, dotted: deduplicated). */
  private renderLegend(): void {
    const entries = relationLegend(this.links.map((l) => l.relation));
    const key = entries.map((e) => e.relation).join(' ');
    if (key === this.legendKey) return;
    this.legendKey = key;
    this.legendEl.replaceChildren(...entries.map((e) => h('span', { class: `tie-key ${e.relation}`, 'data-relation': e.relation, title: e.title }, legendSwatch(e.relation), e.label)));
    this.legendEl.hidden = entries.length === 0;
  }

  /** A note under the rows (e.g. `No module matches "x"`), or none. */
  setEmptyMessage(text: string | null): void {
    this.emptyEl.hidden = !text;
    this.emptyEl.textContent = text ?? '';
    this.spacer.style.height = `${this.rows.length * ROW_HEIGHT + (text ? 2 * ROW_HEIGHT : 0)}px`;
    this.emptyEl.style.top = `${this.rows.length * ROW_HEIGHT + 6}px`;
  }

  /** The selected module's id, if it is loaded. */
  private selectedId(): number {
    if (this.selectedKey === null || !this.tree) return -1;
    return this.selectedKey === domPath('') ? 0 : this.tree.byPath.get(this.selectedKey) ?? -1;
  }

  /** The row is the selected module's, or the folded run that hides it. */
  private isSelectedRow(row: Row, index: number): boolean {
    if (row.key === this.selectedKey) return true;
    if (row.kind !== 'fold' || row.expanded || !this.state) return false;
    const id = this.selectedId();
    return id >= 0 && row.ids.includes(id) && this.state.rowOf.get(id) === index;
  }

  /** Draw the rows and links in view, and ask for what they need that is not here yet. */
  render(): void {
    const state = this.state;
    const tree = this.tree;
    if (!state || !tree) return;
    const rows = state.rows;
    const win = visibleWindow(this.viewport.scrollTop, this.viewport.clientHeight || 600, ROW_HEIGHT, rows.length);
    this.win = win;
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
          h('span', { class: 'bar', 'aria-hidden': 'true' }, h('span', { class: 'fill' }), h('span', { class: 'fill shared-part' })),
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
    this.loadVisible(data);
    clearTimeout(this.shownTimer);
    this.shownTimer = setTimeout(() => this.reportShown(), SHOWN_DELAY_MS);
    // The described row may have scrolled out of the window (its element recycled).
    const described = this.describeState.described(this.active, win.start, win.end);
    const key = described >= 0 ? rows[described]?.key ?? null : null;
    if (key !== this.describedKey) this.updateDescription();
  }

  /**
   * The rows on screen stayed put: ask for what a hover or a click on them would need — the
   * first tensors of the modules with tensors of their own (their cards list them), the items of
   * the collapsed rows and the first blocks of the folded runs (a click opens them at once).
   */
  private reportShown(): void {
    const tree = this.tree;
    if (!tree) return;
    const paths: string[] = [];
    const closed: number[] = [];
    for (let i = this.win.start; i < this.win.end; i++) {
      const row = this.rows[i];
      if (row?.kind === 'fold' && !row.expanded && row.ids.length < row.run.count) {
        // A folded run: the blocks an unfold shows first.
        tree.ensureChildren(row.parent, rangeOf(row.run.first, Math.min(row.run.last, row.run.first + 59)), false).catch((e) => this.cb.failed?.(e));
        continue;
      }
      if (row?.kind !== 'module') continue;
      const n = tree.node(row.id);
      if (!n) continue;
      if (n.m.own > 0) paths.push(n.path);
      if (row.hasChildren && !row.expanded) closed.push(n.id);
    }
    if (paths.length) this.cb.shown?.(paths);
    if (closed.length) tree.prefetchItems(closed).catch((e) => this.cb.failed?.(e));
  }

  /**
   * The pointer rests on a row: what a click would open (its children, the first blocks of a
   * run) is asked for now, so the click shows it at once.
   */
  private prefetchFor(row: Row | undefined): void {
    const tree = this.tree;
    if (!tree || !row || row.expanded) return;
    if (row.kind === 'module' && row.hasChildren) tree.loadChildren(row.id).catch(() => undefined);
    else if (row.kind === 'fold') tree.ensureChildren(row.parent, rangeOf(row.run.first, Math.min(row.run.last, row.run.first + 80)), false).catch(() => undefined);
  }

  /** Ask for the children behind placeholder rows, first blocks of runs, and the groups of rows sharing storage. */
  private loadVisible(data: RowView[]): void {
    const tree = this.tree!;
    const want = new Map<string, { parent: number; indices: number[]; folded: boolean }>();
    const groups: number[] = [];
    for (const { row } of data) {
      if (row.kind === 'pending') {
        const k = `${row.parent}:${!row.inRun}`;
        let w = want.get(k);
        if (!w) want.set(k, (w = { parent: row.parent, indices: [], folded: !row.inRun }));
        w.indices.push(row.index);
      } else if (row.kind === 'fold' && !row.ids.length) {
        const k = `${row.parent}:true`;
        let w = want.get(k);
        if (!w) want.set(k, (w = { parent: row.parent, indices: [], folded: true }));
        w.indices.push(row.run.first);
      }
      for (const g of rowGroups(tree, row)) groups.push(g);
    }
    for (const w of want.values()) tree.ensureChildren(w.parent, w.indices, w.folded).catch((e) => this.cb.failed?.(e));
    if (groups.length && this.groups) this.groups.ensure(groups).then((got) => got && this.scheduleRefresh(), (e) => this.cb.failed?.(e));
  }

  private updateRow(el: HTMLDivElement, d: RowView): void {
    const tree = this.tree!;
    const { row, index } = d;
    const fold = row.kind === 'fold';
    const pending = row.kind === 'pending';
    const node = row.kind === 'module' ? tree.node(row.id)! : null;
    const m = node?.m;
    const expandable = fold || (row.kind === 'module' && row.hasChildren);
    const cls = ['row'];
    if (fold) cls.push('fold');
    if (pending) cls.push('pending');
    if (row.match) cls.push('match');
    const selected = this.isSelectedRow(row, index);
    if (selected) cls.push('selected');
    if (index === this.active) cls.push('active');
    if (index === this.describeState.hover) cls.push('hovered');
    if (this.highlight.has(index)) cls.push('shared-highlight');
    const groups = rowGroups(tree, row);
    if (groups.length) cls.push(`tie-c${groupColour(groups[0])}`);
    el.className = cls.join(' ');
    el.id = `ws-row-${index}`;
    el.style.top = `${index * ROW_HEIGHT}px`;
    el.dataset.index = String(index);
    if (row.kind === 'module') {
      el.dataset.path = domPath(node!.path);
      delete el.dataset.fold;
    } else if (row.kind === 'fold') {
      el.dataset.fold = row.key;
      delete el.dataset.path;
    } else {
      delete el.dataset.fold;
      delete el.dataset.path;
    }
    el.setAttribute('aria-level', String(row.level));
    el.setAttribute('aria-posinset', String(row.posinset));
    el.setAttribute('aria-setsize', String(row.setsize));
    el.setAttribute('aria-selected', selected ? 'true' : 'false');
    if (pending) el.setAttribute('aria-busy', 'true');
    else el.removeAttribute('aria-busy');
    if (expandable) el.setAttribute('aria-expanded', row.expanded ? 'true' : 'false');
    else el.removeAttribute('aria-expanded');

    const main = el.firstElementChild as HTMLElement;
    main.style.paddingLeft = `${this.gutter + 2}px`;
    const [indent, twistie, kind, label, type, badge, shapes] = Array.from(main.children) as HTMLElement[];
    indent.style.width = `${(row.level - 1) * INDENT}px`;
    twistie.className = `twistie codicon ${expandable ? (row.expanded ? 'codicon-chevron-down' : 'codicon-chevron-right') : 'codicon-blank leaf'}`;
    const bar = el.children[1] as HTMLElement;
    const share = el.children[2] as HTMLElement;
    const count = el.children[3] as HTMLElement;
    label.textContent = rowLabel(tree, row, this.rootLabel);
    if (row.kind === 'pending') {
      kind.className = 'kind codicon codicon-loading codicon-modifier-spin';
      type.textContent = '';
      shapes.textContent = '';
      badge.hidden = true;
      (bar.children[0] as HTMLElement).style.width = '0';
      (bar.children[1] as HTMLElement).style.width = '0';
      share.textContent = '';
      count.textContent = '';
      return;
    }
    let typeText = '';
    let shapesText = '';
    let kindIcon: string;
    let unique: number;
    let sharedPart = 0;
    if (row.kind === 'fold') {
      kindIcon = 'symbol-array';
      unique = row.unique;
      const each = row.run.count ? Math.round(row.unique / row.run.count) : 0;
      shapesText = `${formatCount(each, this.numberFormat)} each`;
    } else {
      typeText = m!.type;
      shapesText = m!.shapes ?? (m!.repr && !node!.childCount ? m!.repr : '');
      // Subtrees without parameters (optimizer state, buffers only) say what they do hold.
      if (!shapesText && m!.params[0] === 0) {
        if (m!.other?.[0]) shapesText = `${formatCount(m!.other[0], this.numberFormat)} elements of optimizer state / other`;
        else if (m!.buffers?.[0]) shapesText = `${formatCount(m!.buffers[0], this.numberFormat)} buffer elements`;
      }
      // The root of a model sharing storage: each row counts a shared storage once in its own
      // subtree, so the rows' shares add up to more than 100%; the root says how it counts.
      if (node!.id === 0 && m!.params[1] > m!.params[0] && this.metric === 'params') shapesText = `shared storage counted once (${formatCount(m!.params[1] - m!.params[0], this.numberFormat)} not counted twice)`;
      kindIcon = node!.id === 0 ? 'package' : node!.childCount ? (m!.type === 'ModuleList' || m!.type === 'Sequential' ? 'symbol-array' : 'symbol-class') : 'symbol-field';
      unique = this.metric === 'params' ? m!.params[0] : m!.bytes;
      if (this.metric === 'params') sharedPart = Math.min(unique, m!.sharedParams ?? 0);
    }
    // No native titles here: the hover card (#tooltip) describes the row.
    kind.className = `kind codicon codicon-${kindIcon}`;
    type.textContent = typeText;
    type.className = `type${m?.inferred ? ' inferred' : ''}`;
    shapes.textContent = shapesText;
    badge.hidden = !groups.length;
    const frac = Math.max(0, Math.min(1, unique / this.metricTotal));
    const sharedFrac = Math.max(0, Math.min(frac, sharedPart / this.metricTotal));
    // The shared part is hatched: it is counted in this row and in its partner's.
    (bar.children[0] as HTMLElement).style.width = `${((frac - sharedFrac) * 100).toFixed(2)}%`;
    const hatch = bar.children[1] as HTMLElement;
    hatch.style.left = `${((frac - sharedFrac) * 100).toFixed(2)}%`;
    hatch.style.width = `${(sharedFrac * 100).toFixed(2)}%`;
    share.textContent = formatShare(unique, this.metricTotal);
    share.classList.toggle('has-shared', sharedPart > 0);
    const text = this.metric === 'params' ? formatCount(unique, this.numberFormat) : `${formatCount(unique, this.numberFormat)} B`;
    count.textContent = text;
    count.dataset.exact = exactCount(unique);
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
      // A group may draw several links (views tied in separate sets): the first name tells them apart.
      .data(visible, (l) => `${l.group}:${l.names[0]}`)
      .join('path')
      .attr('class', (l) => `tie-link tie-c${groupColour(l.group)}${l.relation === 'declared' || l.relation === 'deduplicated' ? ` ${l.relation}` : ''}${this.litGroups.has(l.group) ? ' lit' : ''}`)
      .attr('data-shared', (l) => l.names.join(' '))
      .attr('data-relation', (l) => l.relation)
      .attr('aria-label', (l) => linkLabel(l.relation, l.names))
      .attr('d', pathOf);
    const dots: { key: string; group: number; y: number }[] = [];
    for (const l of visible) for (const r of l.rows) if (r >= start && r < end) dots.push({ key: `${l.group}:${l.names[0]}:${r}`, group: l.group, y: y(r) });
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

  /** Light up places sharing storage with something outside the tree (a tensor-table row). */
  setExternalPeers(peers: SharedPeer[] | null): void {
    this.externalPeers = peers;
    if (peers?.length && this.groups) this.groups.ensure(peers.map((p) => p.group)).then((got) => got && this.scheduleRefresh(), (e) => this.cb.failed?.(e));
    this.updateHighlight();
    this.render();
  }

  private describedIndex(): number {
    return this.describeState.described(this.active, this.win.start, this.win.end);
  }

  /** Tell who is described now (the tooltip follows), and light up its peers. */
  private updateDescription(): void {
    const idx = this.describedIndex();
    const row = idx >= 0 ? this.rows[idx] : undefined;
    const key = row?.key ?? null;
    const changed = key !== this.describedKey;
    this.describedKey = key;
    this.updateHighlight();
    this.render();
    if (!changed) return;
    if (!row || !this.tree || row.kind === 'pending') {
      this.cb.describe(null, null, []);
      return;
    }
    const el = this.rowsEl.querySelector<HTMLElement>(`#ws-row-${idx}`);
    const peers = rowPeers(this.tree, row);
    // Partners not loaded yet: ask, and light them up when they come.
    if (peers.length && this.groups) this.groups.ensure(peers.map((p) => p.group)).then((got) => got && this.scheduleRefresh(), (e) => this.cb.failed?.(e));
    this.cb.describe(row, el, peers);
  }

  private updateHighlight(): void {
    this.highlight.clear();
    this.litGroups.clear();
    if (!this.state || !this.tree) return;
    let peers: SharedPeer[];
    let exclude = -1;
    if (this.externalPeers) {
      peers = this.externalPeers;
    } else {
      const idx = this.describedIndex();
      const row = idx >= 0 ? this.state.rows[idx] : undefined;
      if (!row) return;
      peers = rowPeers(this.tree, row);
      exclude = idx;
    }
    for (const r of highlightRows(this.state, peers, exclude)) this.highlight.add(r);
    for (const p of peers) if (p.group >= 0) this.litGroups.add(p.group);
  }

  /** The page was hidden or the window lost focus: describe nothing. */
  pageHidden(): void {
    this.describeState.pageHidden();
    this.updateDescription();
  }

  // ------------------------------------------------------------------------------- events

  private rowIndexOf(target: EventTarget | null): number {
    const el = (target as Element | null)?.closest?.('.row') as HTMLElement | null;
    if (!el || el.dataset.index === undefined) return -1;
    return Number(el.dataset.index);
  }

  private onPointerMove(ev: PointerEvent): void {
    const idx = this.rowIndexOf(ev.target);
    if (idx === this.describeState.hover) return;
    this.describeState.pointerOver(idx);
    this.updateDescription();
    this.prefetchFor(this.rows[idx]);
  }

  private onClick(ev: MouseEvent): void {
    const idx = this.rowIndexOf(ev.target);
    if (idx < 0) return;
    this.active = idx;
    const row = this.rows[idx];
    if (!row || row.kind === 'pending') return;
    this.selectRow(idx);
    if (row.kind === 'fold' || row.hasChildren) void this.toggle(idx);
    else this.render();
  }

  /** Select what a row stands for: its module, or a folded run's first block. */
  private selectRow(idx: number): void {
    const row = this.rows[idx];
    if (!row || !this.tree) return;
    const target = this.tree.node(selectionTarget(row));
    if (!target) return;
    this.selectedKey = domPath(target.path);
    this.cb.select(row);
    this.cb.changed();
  }

  /**
   * Expand or collapse a row. Expanding asks for the children (or the run's blocks) and waits a
   * moment for them, so the rows come in one go rather than as placeholders first.
   */
  private async toggle(idx: number, open?: boolean): Promise<void> {
    const row = this.rows[idx];
    if (!row || !this.state || !this.tree) return;
    if (open !== undefined && row.expanded === open) return;
    if (!this.state.toggle(row)) return;
    const opening = !row.expanded;
    if (opening) {
      const load =
        row.kind === 'module'
          ? this.tree.loadChildren(row.id)
          : row.kind === 'fold'
            ? this.tree.ensureChildren(row.parent, rangeOf(row.run.first, Math.min(row.run.last, row.run.first + 80)), false)
            : Promise.resolve();
      load.catch((e) => this.cb.failed?.(e));
      await Promise.race([load.catch(() => undefined), wait(EXPAND_WAIT_MS)]);
    }
    this.refresh();
    // The card of the row just toggled says "fold"/"unfold": draw it again.
    if (this.describedKey === row.key) {
      this.describedKey = null;
      this.updateDescription();
    }
    this.cb.changed();
  }

  private navRows(): NavRow[] {
    return this.rows.map((r) => ({ level: r.level, expandable: r.kind === 'fold' || (r.kind === 'module' && r.hasChildren), expanded: r.expanded }));
  }

  private onKeyDown(ev: KeyboardEvent): void {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const rows = this.rows;
    if (!rows.length) return;
    const page = Math.max(1, Math.floor(this.viewport.clientHeight / ROW_HEIGHT));
    if (ev.key === 'Escape') {
      this.describeState.dismiss();
      this.updateDescription();
      return;
    }
    if (ev.key !== 'Tab' && ev.key !== 'Shift') this.describeState.keyboardMoved();
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
        void this.toggle(action.index, true);
        break;
      case 'collapse':
        void this.toggle(action.index, false);
        break;
      case 'toggle':
        this.selectRow(action.index);
        void this.toggle(action.index);
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
    // Resting on a row with the keyboard, as with the pointer: what Right would open is asked for.
    clearTimeout(this.keyPrefetch);
    this.keyPrefetch = setTimeout(() => this.prefetchFor(this.rows[this.active]), 150);
    this.setScroll(scrollToReveal(this.viewport.scrollTop, this.viewport.clientHeight, ROW_HEIGHT, this.active));
    // The window follows the scroll at once, so the active row is described where it now is.
    this.render();
    this.updateDescription();
  }

  /** Mark a module selected (and keyboard-active if it shows) without expanding or scrolling. */
  markSelected(path: string): void {
    this.selectedKey = domPath(path);
    const id = this.tree?.byPath.get(path);
    const idx = id !== undefined && this.state ? this.state.rowOf.get(id) ?? -1 : -1;
    if (idx >= 0) this.active = idx;
    this.render();
  }

  /** Show a loaded module: expand its ancestors, scroll to it, and select it if asked. */
  reveal(id: number, select = true): void {
    if (!this.state || !this.tree || !this.tree.node(id)) return;
    this.state.reveal(id);
    this.refresh();
    const idx = this.state.rowOf.get(id) ?? -1;
    if (idx < 0) return;
    this.active = idx;
    if (select) this.selectRow(idx);
    this.setScroll(scrollToReveal(this.viewport.scrollTop, this.viewport.clientHeight, ROW_HEIGHT, idx));
    this.render();
  }

  /** Re-render after a setting such as the number format changed. */
  redraw(): void {
    this.sizeColumns();
    this.render();
  }
}

/** A short line drawn as the tree's links of a relation are (solid, dashed, dotted). */
function legendSwatch(relation: string): SVGSVGElement {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('class', 'tie-swatch');
  svg.setAttribute('width', '22');
  svg.setAttribute('height', '8');
  svg.setAttribute('aria-hidden', 'true');
  const line = document.createElementNS(NS, 'line');
  for (const [k, v] of [['x1', '1'], ['x2', '21'], ['y1', '4'], ['y2', '4']]) line.setAttribute(k, v);
  line.setAttribute('class', `tie-link ${relation}`);
  svg.append(line);
  return svg;
}

function rangeOf(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}
