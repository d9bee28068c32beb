/**
 * The Map view: the module hierarchy as a zoomable icicle (layout: src/shared/icicle.ts, the
 * same as the map export; zoom, breadcrumb and keys: ../data/mapLayout.ts). Cells are
 * absolutely positioned elements joined by d3 (text is cut by CSS, focus and ARIA come with
 * them); tie arcs are an SVG layer above. Only what the layout keeps is in the DOM: the bands
 * down to a depth that fits the height, cells at least a few pixels wide.
 *
 * Keyboard: every cell is a treeitem with a roving tabindex; arrows move between siblings
 * (Left/Right), to the parent (Up) and the first child (Down); Enter zooms in, Space selects,
 * Escape or Backspace zoom out. Hover or keyboard focus shows the tree's hover card.
 */
import { select } from 'd3';
import { formatCount, exactCount } from '../../../src/shared/format';
import { arcPath, foldLabel, isAncestor } from '../../../src/shared/icicle';
import type { NumberFormat } from '../../../src/shared/protocol';
import { formatShare, relationLegend } from '../data/format';
import { cellTarget, cellZoom, layoutMap, MapAction, MapCell, MapId, MapLayout, MAP_KINDS, mapNavigate, MapSource, MapValues, MapZoom, normalizeZoom, sameZoom, zoomFromKey, zoomKey, zoomOut, zoomsToShow, zoomTrail } from '../data/mapLayout';
import { groupColour } from '../data/shared';
import { clear, h, onNextFrame } from './dom';
import './map.css';

/** Band heights: a name and a detail line fit in the smallest. */
const MIN_BAND = 36;
const MAX_BAND = 60;
const MAX_LEVELS = 12;
/** Room under the bands for arcs to hang. */
const ARC_ROOM = 8;
/** Width of a module whose parameters are stored elsewhere (the export's too). */
const TIED_PX = 6;
const MAX_ANIMATED = 150;

export interface MapViewCallbacks {
  /** A module was chosen in the map (click, Enter, Space); a run chooses its first block. */
  select(id: MapId): void;
  /** The cell to describe changed (hover or keyboard focus); null when none. */
  describe(cell: MapCell | null, anchor: HTMLElement | null): void;
  /** The zoom changed: worth saving. */
  changed(): void;
}

export class MapView {
  readonly element: HTMLElement;
  private readonly crumbs: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly cellsEl: HTMLElement;
  private readonly svg: SVGSVGElement;
  private readonly legend: HTMLElement;
  private readonly note: HTMLElement;
  /** A point the hover card is placed beside (the pointer, or the focused cell's label). */
  private readonly anchor: HTMLElement;
  private source?: MapSource;
  private values?: MapValues;
  private layout?: MapLayout;
  private zoom: MapZoom = { kind: 'module', id: 0 };
  private rootLabel = 'model';
  private selected: MapId = -1;
  private activeKey: string | null = null;
  private hoverKey: string | null = null;
  private keyboard = false;
  private shown = false;
  private readonly loading = new Set<MapId>();
  private animateTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly schedule = onNextFrame(() => this.render());
  numberFormat: NumberFormat = 'compact';
  /** Time the last draw took (layout and DOM), for the benchmark. */
  lastDrawMs = 0;

  constructor(private readonly cb: MapViewCallbacks) {
    this.crumbs = h('nav', { class: 'map-crumbs', 'aria-label': 'Zoom' });
    this.cellsEl = h('div', { class: 'map-cells', role: 'tree', 'aria-label': 'Model map: area is unique parameters' });
    this.svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    this.svg.setAttribute('class', 'map-arcs');
    this.svg.setAttribute('aria-hidden', 'true');
    this.anchor = h('div', { class: 'map-anchor', 'aria-hidden': 'true' }, h('span', { class: 'label' }));
    this.viewport = h('div', { class: 'map-viewport' }, this.cellsEl, this.svg, this.anchor);
    this.note = h('span', { class: 'map-note' });
    this.legend = h('div', { class: 'map-legend', 'aria-label': 'Legend' });
    this.element = h('div', { class: 'pane map-pane', 'data-testid': 'map' }, this.crumbs, this.viewport, h('div', { class: 'map-foot' }, this.legend, this.note));

    this.cellsEl.addEventListener('mouseover', (ev) => this.onPointer(ev));
    this.cellsEl.addEventListener('mousemove', (ev) => this.onPointer(ev));
    this.viewport.addEventListener('mouseleave', () => this.setHover(null));
    this.cellsEl.addEventListener('mousedown', () => {
      this.keyboard = false;
    });
    this.cellsEl.addEventListener('click', (ev) => this.onClick(ev));
    this.cellsEl.addEventListener('keydown', (ev) => this.onKey(ev));
    this.cellsEl.addEventListener('focusin', (ev) => this.onFocus(ev));
    this.cellsEl.addEventListener('focusout', (ev) => {
      if (!this.cellsEl.contains(ev.relatedTarget as Node | null)) {
        this.keyboard = false;
        if (!this.hoverKey) this.cb.describe(null, null);
      }
    });
    new ResizeObserver(() => {
      if (this.shown) this.schedule();
    }).observe(this.viewport);
  }

  /** A new model (or the same one reloaded): keep the saved zoom when it still exists. */
  setModel(source: MapSource, rootLabel: string, savedZoom?: string): void {
    this.source = source;
    this.values = new MapValues(source);
    this.rootLabel = rootLabel;
    this.zoom = zoomFromKey(source, savedZoom) ?? { kind: 'module', id: source.root };
    this.layout = undefined;
    this.activeKey = null;
    this.hoverKey = null;
    this.loading.clear();
    if (this.shown) this.render();
  }

  get zoomKey(): string | undefined {
    return this.source ? zoomKey(this.source, this.zoom) : undefined;
  }

  show(): void {
    this.shown = true;
    this.element.hidden = false;
    this.revealSelected();
    this.render();
  }

  /** Hidden: its cells leave the DOM (the tree's rows are the only treeitems then). */
  hide(): void {
    this.shown = false;
    this.element.hidden = true;
    this.hoverKey = null;
    select(this.cellsEl).selectAll('div.map-cell').remove();
    select(this.svg).selectAll('*').remove();
  }

  get visible(): boolean {
    return this.shown;
  }

  focus(): void {
    const el = this.activeKey ? this.cellEl(this.activeKey) : null;
    (el ?? (this.cellsEl.querySelector('.map-cell') as HTMLElement | null))?.focus();
  }

  /** The module selected elsewhere (the tree, the tensor table); shown when the map is. */
  setSelected(id: MapId): void {
    this.selected = id;
    if (!this.shown) return;
    this.revealSelected();
    this.render();
  }

  /** Zoom so the selected module is a cell of its own (only when it is not one already). */
  private revealSelected(): void {
    const source = this.source;
    if (!source || !this.values || this.selected < 0) return;
    const size = this.size();
    if (!size) return;
    for (const z of zoomsToShow(source, this.zoom, this.selected)) {
      const at = this.compute(z, size).cellFor(this.selected);
      if (at?.exact) {
        if (!sameZoom(normalizeZoom(source, z), normalizeZoom(source, this.zoom))) {
          this.zoom = normalizeZoom(source, z);
          this.cb.changed();
        }
        this.activeKey = at.cell.key;
        return;
      }
    }
  }

  private size(): { width: number; height: number } | null {
    const width = this.viewport.clientWidth;
    const height = this.viewport.clientHeight;
    return width > 0 && height > 0 ? { width, height } : null;
  }

  /** The layout for a zoom: as many bands as fit, taller when the model is shallow. */
  private compute(zoom: MapZoom, size: { width: number; height: number }): MapLayout {
    const room = size.height - ARC_ROOM;
    const levels = Math.max(2, Math.min(MAX_LEVELS, Math.floor(room / MIN_BAND)));
    const opts = { width: size.width, bandHeight: Math.max(MIN_BAND, room / levels), maxLevels: levels, tiedPx: TIED_PX };
    let layout = layoutMap(this.source!, this.values!, zoom, opts);
    const used = layout.bands.length;
    if (used < levels) layout = layoutMap(this.source!, this.values!, zoom, { ...opts, bandHeight: Math.min(MAX_BAND, room / used) });
    return layout;
  }

  // ------------------------------------------------------------------------------ drawing

  render(): void {
    const source = this.source;
    if (!source || !this.values || !this.shown) return;
    const size = this.size();
    if (!size) return;
    // Shown before it had a size (restored after a tab switch): show the selection now.
    if (!this.layout) this.revealSelected();
    const t0 = performance.now();
    const layout = this.compute(this.zoom, size);
    this.layout = layout;
    if (!this.activeKey || !layout.byKey.has(this.activeKey)) this.activeKey = layout.root.key;
    this.renderCrumbs(source);
    this.renderCells(layout);
    this.renderArcs(layout, size.height);
    this.renderLegend(layout);
    this.lastDrawMs = performance.now() - t0;
    this.element.dataset.drawMs = this.lastDrawMs.toFixed(2);
    this.element.dataset.cells = String(layout.cells.length);
    this.loadWanted(layout.wanted);
  }

  private renderCrumbs(source: MapSource): void {
    clear(this.crumbs);
    const trail = zoomTrail(source, this.zoom, this.rootLabel);
    trail.forEach((c, i) => {
      if (i > 0) this.crumbs.append(h('span', { class: 'map-sep codicon codicon-chevron-right', 'aria-hidden': 'true' }));
      const last = i === trail.length - 1;
      this.crumbs.append(
        last
          ? h('span', { class: 'map-crumb current', 'aria-current': 'location' }, c.label)
          : h('button', { class: 'map-crumb', type: 'button', title: `Zoom out to ${c.label}`, onclick: () => this.setZoom(c.zoom, true) }, c.label),
      );
    });
    if (trail.length > 1) this.crumbs.append(h('span', { class: 'map-hint' }, 'Esc: zoom out'));
  }

  private renderCells(layout: MapLayout): void {
    const self = this;
    const lit = this.litCells(layout);
    const sel = this.selectedKey(layout);
    const join = select(this.cellsEl)
      .selectAll<HTMLDivElement, MapCell>('div.map-cell')
      .data(layout.cells, (c) => c.key);
    join.exit().remove();
    join
      .enter()
      .append('div')
      .attr('role', 'treeitem')
      .each(function () {
        this.append(h('span', { class: 'name' }), h('span', { class: 'detail' }));
      })
      .merge(join)
      .each(function (c) {
        self.updateCell(this, c, layout, c.key === sel, lit.cells.has(c));
      });
  }

  private updateCell(el: HTMLDivElement, c: MapCell, layout: MapLayout, selected: boolean, lit: boolean): void {
    const w = c.x1 - c.x0;
    const hgt = c.y1 - c.y0;
    const cls = ['map-cell', `k-${c.mapKind}`, c.kind];
    if (c.tiedOnly) cls.push('tied');
    if (c.unloaded) cls.push('unloaded');
    if (c.mult > 1) cls.push('in-run');
    if (selected) cls.push('selected');
    if (c.key === this.hoverKey) cls.push('hovered');
    if (lit) cls.push('shared-highlight');
    if (c.ties.length) cls.push(`tie-c${groupColour(c.ties[0])}`);
    if (w < 22) cls.push('tiny');
    else if (w < 64 || hgt < 32) cls.push('one-line');
    el.className = cls.join(' ');
    el.style.left = `${c.x0}px`;
    el.style.top = `${c.y0}px`;
    // A pixel of the editor's background between cells.
    el.style.width = `${Math.max(1, w - 1)}px`;
    el.style.height = `${Math.max(1, hgt - 1)}px`;
    el.id = `map-${c.key}`;
    el.dataset.key = c.key;
    const source = this.source!;
    if (c.kind === 'module') el.dataset.path = source.node(c.id).path || '(root)';
    else delete el.dataset.path;
    if (c.kind === 'fold') el.dataset.fold = `${source.node(c.runParent!).path}#${c.run!.first}-${c.run!.last}`;
    else delete el.dataset.fold;
    el.tabIndex = c.key === this.activeKey ? 0 : -1;
    el.setAttribute('aria-level', String(c.depth + 1));
    el.setAttribute('aria-posinset', String(c.posinset));
    el.setAttribute('aria-setsize', String(c.setsize));
    el.setAttribute('aria-selected', selected ? 'true' : 'false');
    if (c.expandable) el.setAttribute('aria-expanded', c.children.length ? 'true' : 'false');
    else el.removeAttribute('aria-expanded');
    const { name, detail, label } = this.texts(c, layout);
    el.setAttribute('aria-label', label);
    const [nameEl, detailEl] = el.children as unknown as HTMLElement[];
    nameEl.textContent = name;
    detailEl.textContent = detail;
  }

  /** The name and detail lines of a cell, and what a screen reader says for it. */
  private texts(c: MapCell, layout: MapLayout): { name: string; detail: string; label: string } {
    const fmt = this.numberFormat;
    const whole = this.values!.drawn(this.source!.root) || 1;
    const unit = this.values!.metric === 'params' ? 'parameters' : 'bytes';
    const share = formatShare(c.value * c.mult, whole);
    const more = c.unloaded ? ' …' : '';
    if (c.kind === 'fold') {
      const each = c.run!.count ? c.value / c.run!.count : 0;
      const detail = `${formatCount(c.value, fmt)} · ${formatCount(each, fmt)} each · ${share}`;
      return { name: foldLabel(c.run!) + more, detail, label: `${foldLabel(c.run!)}: ${exactCount(c.value)} ${unit} in ${c.run!.count} identical blocks, ${share} of the model` };
    }
    if (c.kind === 'more') {
      const detail = `${formatCount(c.value, fmt)}${c.mult > 1 ? ' each' : ''} · ${share}`;
      return { name: `${c.more!.count} more`, detail, label: `${c.more!.count} smaller modules: ${exactCount(c.value)} ${unit}, ${share} of the model` };
    }
    const name = (c === layout.root && this.source!.node(c.id).parent < 0 ? this.rootLabel : c.label || '""') + more;
    const count = formatCount(c.tiedOnly ? c.unique : c.value, fmt) + (c.mult > 1 ? ` ×${c.mult}` : '');
    const detail = c.tiedOnly ? `${c.type} · ${count} · stored elsewhere` : `${c.type} · ${count} · ${share}`;
    const label = c.tiedOnly
      ? `${name}: ${c.type}, ${exactCount(c.unique)} ${unit} stored in another module (shared storage)`
      : `${name}: ${c.type}, ${exactCount(c.value)} ${unit}${c.mult > 1 ? ` in each of ${c.mult} identical blocks` : ''}, ${share} of the model`;
    return { name, detail, label };
  }

  private renderArcs(layout: MapLayout, height: number): void {
    const svg = select(this.svg);
    svg.attr('width', layout.width).attr('height', height);
    const lit = this.litCells(layout).groups;
    const bottom = height - 2;
    const data = layout.arcs.map((a) => ({ a, d: arcPath(a.cells, bottom) }));
    svg
      .selectAll<SVGPathElement, (typeof data)[number]>('path.map-tie-halo')
      .data(data, (x) => `${x.a.group}:${x.a.tensors[0]}`)
      .join('path')
      .attr('class', 'map-tie-halo')
      .attr('d', (x) => x.d);
    svg
      .selectAll<SVGPathElement, (typeof data)[number]>('path.map-tie')
      .data(data, (x) => `${x.a.group}:${x.a.tensors[0]}`)
      .join('path')
      .attr('class', (x) => `map-tie tie-c${groupColour(x.a.group)}${x.a.relation === 'declared' || x.a.relation === 'deduplicated' ? ` ${x.a.relation}` : ''}${lit.has(x.a.group) ? ' lit' : ''}`)
      .attr('data-shared', (x) => x.a.tensors.join(' '))
      .attr('data-relation', (x) => x.a.relation)
      .attr('d', (x) => x.d);
    const dots = layout.arcs.flatMap((a) => a.cells.map((c) => ({ key: `${a.group}:${a.tensors[0]}:${c.key}`, group: a.group, x: (c.x0 + c.x1) / 2, y: Math.max(c.y0 + 1, c.y1 - 3) })));
    svg
      .selectAll<SVGCircleElement, (typeof dots)[number]>('circle.map-tie-dot')
      .data(dots, (d) => d.key)
      .join('circle')
      .attr('class', (d) => `map-tie-dot tie-dot tie-c${groupColour(d.group)}`)
      .attr('cx', (d) => d.x)
      .attr('cy', (d) => d.y)
      .attr('r', 3);
  }

  private renderLegend(layout: MapLayout): void {
    clear(this.legend);
    const present = new Set(layout.cells.map((c) => c.mapKind));
    for (const k of MAP_KINDS) {
      if (!present.has(k.kind)) continue;
      this.legend.append(h('span', { class: `map-key k-${k.kind}` }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), k.label));
    }
    if (layout.cells.some((c) => c.tiedOnly)) this.legend.append(h('span', { class: 'map-key tied-key' }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), 'stored elsewhere (tied)'));
    // One key per relation among the arcs: shared storage (solid), a declared tie (dashed), equal
    // values an exporter stored once (dotted: separate tensors, each counted).
    const relations = new Set(layout.arcs.map((a) => a.relation));
    const shared = relations.has('alias') || relations.has('view');
    if (shared) this.legend.append(h('span', { class: 'map-key arc-key', 'data-relation': 'alias' }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), 'shared storage'));
    for (const e of relationLegend(relations)) {
      if (e.relation === 'alias' || e.relation === 'view') continue;
      this.legend.append(h('span', { class: `map-key arc-key ${e.relation}`, 'data-relation': e.relation, title: e.title }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), e.label));
    }
    const unit = this.values?.metric === 'bytes' ? 'bytes' : 'unique parameters (shared storage drawn once, where first stored)';
    let note = `Width: ${unit}.`;
    if (layout.arcsDropped) note += ` ${layout.arcsDropped} more shared-storage arcs not drawn.`;
    this.note.textContent = note;
  }

  /** Cells and arcs lit by the described cell: the other ends of the storage it shares. */
  private litCells(layout: MapLayout): { cells: Set<MapCell>; groups: Set<number> } {
    const cells = new Set<MapCell>();
    const groups = new Set<number>();
    const key = this.describedKey();
    const cur = key ? layout.byKey.get(key) : undefined;
    if (!cur) return { cells, groups };
    for (const a of layout.arcs) {
      if (!a.cells.some((c) => c === cur || isAncestor(cur, c))) continue;
      groups.add(a.group);
      for (const c of a.cells) if (c !== cur && !isAncestor(cur, c)) cells.add(c);
    }
    return { cells, groups };
  }

  private selectedKey(layout: MapLayout): string | null {
    if (this.selected < 0) return null;
    return layout.cellFor(this.selected)?.cell.key ?? null;
  }

  private cellEl(key: string): HTMLElement | null {
    return this.cellsEl.querySelector<HTMLElement>(`#${CSS.escape(`map-${key}`)}`);
  }

  // ------------------------------------------------------------------------------ zoom

  private setZoom(z: MapZoom, animate: boolean): void {
    const source = this.source;
    if (!source) return;
    const next = normalizeZoom(source, z);
    if (sameZoom(next, this.zoom)) return;
    const hadFocus = this.cellsEl.contains(document.activeElement);
    this.zoom = next;
    this.activeKey = null;
    // Cells glide to their new places, unless there are many (a transition lays them all out
    // again on every frame: ~60 ms more for 300 cells, measured) or motion is reduced.
    if (animate && (this.layout?.cells.length ?? 0) <= MAX_ANIMATED && !window.matchMedia?.('(prefers-reduced-motion: reduce)').matches) {
      this.cellsEl.classList.add('animate');
      clearTimeout(this.animateTimer);
      this.animateTimer = setTimeout(() => this.cellsEl.classList.remove('animate'), 260);
    }
    const target = next.kind === 'module' ? next.id : next.parent;
    const n = source.node(target);
    if (n.hasChildren && n.childIds === undefined) this.load(target);
    this.render();
    if (this.layout) this.activeKey = this.layout.root.key;
    if (hadFocus) this.focus();
    this.describe();
    this.cb.changed();
  }

  private loadWanted(ids: MapId[]): void {
    for (const id of ids.slice(0, 8)) this.load(id);
  }

  private load(id: MapId): void {
    if (this.loading.has(id) || !this.source) return;
    this.loading.add(id);
    const source = this.source;
    source.loadChildren(id).then(
      () => {
        if (this.source === source) this.schedule();
      },
      (e) => console.warn(`[weightscope] map: loading the children of ${source.node(id).path} failed: ${e instanceof Error ? e.message : e}`),
    );
  }

  // ------------------------------------------------------------------------------ events

  private cellOf(target: EventTarget | null): MapCell | undefined {
    const el = (target as Element | null)?.closest?.('.map-cell') as HTMLElement | null;
    const key = el?.dataset.key;
    return key ? this.layout?.byKey.get(key) : undefined;
  }

  private onPointer(ev: MouseEvent): void {
    const c = this.cellOf(ev.target);
    if ((c?.key ?? null) === this.hoverKey) return;
    const r = this.viewport.getBoundingClientRect();
    this.anchor.style.left = `${ev.clientX - r.left}px`;
    this.anchor.style.top = `${ev.clientY - r.top}px`;
    this.setHover(c ?? null);
  }

  private setHover(c: MapCell | null): void {
    const key = c?.key ?? null;
    if (key === this.hoverKey) return;
    this.hoverKey = key;
    this.describe();
  }

  private describedKey(): string | null {
    if (this.hoverKey) return this.hoverKey;
    return this.keyboard ? this.activeKey : null;
  }

  /** Tell the app what to describe, and light the places sharing its storage. */
  private describe(): void {
    const layout = this.layout;
    if (!layout) return;
    this.renderHighlight(layout);
    const key = this.describedKey();
    const cell = key ? layout.byKey.get(key) : undefined;
    if (!cell) {
      this.cb.describe(null, null);
      return;
    }
    if (!this.hoverKey) {
      // Keyboard: beside the focused cell's name.
      const el = this.cellEl(cell.key);
      const r = this.viewport.getBoundingClientRect();
      const name = el?.querySelector('.name')?.getBoundingClientRect();
      // A cell too narrow for its name hides it: then beside the cell itself.
      const nr = name && name.height > 0 ? name : el?.getBoundingClientRect();
      if (nr) {
        this.anchor.style.left = `${Math.min(nr.right, r.right - 40) - r.left}px`;
        this.anchor.style.top = `${nr.top - r.top}px`;
      }
    }
    this.cb.describe(cell, this.anchor);
  }

  /** Hover classes only: no layout. */
  private renderHighlight(layout: MapLayout): void {
    const lit = this.litCells(layout);
    select(this.cellsEl)
      .selectAll<HTMLDivElement, MapCell>('div.map-cell')
      .classed('hovered', (c) => c.key === this.hoverKey)
      .classed('shared-highlight', (c) => lit.cells.has(c));
    select(this.svg)
      .selectAll<SVGPathElement, { a: { group: number } }>('path.map-tie')
      .classed('lit', (x) => lit.groups.has(x.a.group));
  }

  private onClick(ev: MouseEvent): void {
    const c = this.cellOf(ev.target);
    if (!c || !this.layout || !this.source) return;
    this.activeKey = c.key;
    this.activate(c, true);
  }

  /** Choose a cell: select its module and zoom into it when that shows more. */
  private activate(c: MapCell, zoom: boolean): void {
    const target = cellTarget(c);
    if (target !== undefined) {
      this.selected = target;
      this.cb.select(target);
    }
    const z = zoom ? cellZoom(this.source!, this.layout!, c) : undefined;
    if (z) this.setZoom(z, true);
    else this.render();
  }

  private onFocus(ev: FocusEvent): void {
    const c = this.cellOf(ev.target);
    if (!c) return;
    const changed = c.key !== this.activeKey;
    this.activeKey = c.key;
    if ((ev.target as HTMLElement).matches(':focus-visible')) this.keyboard = true;
    if (changed) {
      for (const el of this.cellsEl.querySelectorAll<HTMLElement>('.map-cell[tabindex="0"]')) if (el !== ev.target) el.tabIndex = -1;
      (ev.target as HTMLElement).tabIndex = 0;
    }
    if (this.keyboard) this.describe();
  }

  private onKey(ev: KeyboardEvent): void {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || !this.layout || !this.source) return;
    const action: MapAction = mapNavigate(this.layout, this.activeKey, ev.key);
    if (action.kind === 'none') return;
    ev.preventDefault();
    ev.stopPropagation();
    this.keyboard = true;
    this.hoverKey = null;
    switch (action.kind) {
      case 'focus': {
        this.activeKey = action.key;
        const el = this.cellEl(action.key);
        if (el) {
          el.tabIndex = 0;
          el.focus();
        }
        break;
      }
      case 'zoom': {
        const c = this.layout.byKey.get(action.key);
        if (c) this.activate(c, true);
        break;
      }
      case 'select': {
        const c = this.layout.byKey.get(action.key);
        if (c) this.activate(c, false);
        this.focus();
        break;
      }
      case 'out': {
        const z = zoomOut(this.source, this.zoom);
        if (z) {
          const from = this.layout.root.key;
          this.setZoom(z, true);
          // Focus lands where we came from.
          if (this.layout?.byKey.has(from)) {
            this.activeKey = from;
            this.render();
            this.focus();
            this.describe();
          }
        }
        break;
      }
    }
  }
}

/**
 * The hover card the tree builds for a row, worded for the map: a run is zoomed into, not
 * unfolded.
 */
export function mapCard(card: { content: Node[]; pending?: Promise<unknown> }): { content: Node[]; pending?: Promise<unknown> } {
  for (const n of card.content) {
    if (n instanceof HTMLElement && n.classList.contains('tt-line') && /^Click to (un)?fold the run/.test(n.textContent ?? '')) {
      n.textContent = 'Click to zoom into the run; the table lists its first block.';
    }
  }
  return card;
}

/** The card for merged small modules (they have no tree row). */
export function moreCard(cell: MapCell, source: MapSource, fmt: NumberFormat, zoomable: boolean): { content: Node[] } {
  const parent = source.node(cell.id);
  const ids = parent.childIds?.slice(cell.more!.first, cell.more!.last + 1) ?? [];
  const names = ids.slice(0, 6).map((id) => source.node(id).name);
  return {
    content: [
      h('div', { class: 'tt-title' }, `${cell.more!.count} smaller modules of ${parent.path || 'the model'}`),
      h('div', { class: 'tt-line' }, `${formatCount(cell.value, fmt)} parameters${cell.mult > 1 ? ` in each of ${cell.mult} blocks` : ''}: ${names.join(', ')}${ids.length > names.length ? ', …' : ''}`),
      h('div', { class: 'tt-line muted' }, zoomable ? 'Too narrow to draw one by one: click to zoom into their parent.' : 'Too narrow to draw one by one at this width; the tree lists them.'),
    ],
  };
}
