/**
 * The comparison view (issue 14): two checkpoints' module trees aligned by path, one row per
 * module with a mark for what changed (`~` changed, `+` only in b, `−` only in a, `→` renamed),
 * each side's parameters and the deltas of parameters, total parameters and bytes; each side's
 * storage ties as links in a gutter (a's on the left, b's on the right; lost ties red, gained
 * green); a hover card with both sides' tensors; a "Changes only" filter; exports.
 *
 * Rows come from the parser worker a page at a time for the current view (the rows expanded and
 * the filter): comparing a 92,000-module model with itself sends what the screen shows. Rows are
 * virtualised; the tree is keyboard reachable (arrows, Home/End, Page Up/Down, Enter).
 */
import { select } from 'd3';
import { exactCount, formatCount } from '../../../src/shared/format';
import { bytes } from '../../../src/shared/format';
import type { CompareHead, CompareHostApi, CompareLink, CompareRow, CompareTensor, CompareTensorPage, CompareViewApi, NumberFormat, Progress, ViewSettings } from '../../../src/shared/protocol';
import { PROTOCOL_VERSION } from '../../../src/shared/protocol';
import { Handlers, isRpcError, RpcEndpoint } from '../../../src/shared/rpc';
import { getApi, hostTransport } from '../ui/api';
import { clear, h, icon, spinner } from '../ui/dom';
import { assignLanes, linkKey, linkPath, PAGE_ROWS, RowPages, signedBytes, signedCount, viewKey } from './rows';

const ROW = 22;
const OVERSCAN = 12;
const GUTTER = 64;
const INDENT = 14;
const TIMEOUT_MS = 30_000;
/** Tensors listed in a hover card. */
const CARD_TENSORS = 12;

interface Saved {
  v: 1;
  key: string;
  expanded: number[];
  changesOnly: boolean;
  scrollTop: number;
  active: number;
}

const MARK: Record<CompareRow['status'], string> = { equal: '', changed: '~', added: '+', removed: '−' };
const STATUS_WORD: Record<CompareRow['status'], string> = { equal: 'unchanged', changed: 'changed', added: 'only in b', removed: 'only in a' };
const TIE_WORD: Record<CompareLink['status'], string> = { lost: 'tie lost', gained: 'tie gained', changed: 'relation changed', same: 'tie on both sides' };

export class CompareApp {
  private readonly api = getApi<Saved>();
  private readonly rpc: RpcEndpoint<CompareViewApi, CompareHostApi>;
  private head?: CompareHead;
  private generation = 0;
  private settings: ViewSettings = { expandDepth: 2, numberFormat: 'compact' };
  private expanded = new Set<number>([0]);
  private changesOnly = false;
  private pages = new RowPages('');
  /** The last view's pages, drawn until the new view's first page arrives (no flash of empty rows). */
  private stale?: RowPages;
  private active = 0;
  private hovered = -1;
  private saved?: Saved;
  private readonly tooltip: HTMLElement;
  private readonly cards = new Map<number, Promise<CompareTensorPage>>();
  private frame = 0;
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  // Elements of the ready view.
  private viewport?: HTMLElement;
  private spacer?: HTMLElement;
  private rowsEl?: HTMLElement;
  private gutterA?: SVGSVGElement;
  private gutterB?: SVGSVGElement;
  private statusEl?: HTMLElement;
  private changesBox?: HTMLElement & { checked?: boolean };

  constructor(private readonly root: HTMLElement) {
    this.tooltip = document.getElementById('tooltip') ?? document.body.appendChild(h('div', { id: 'tooltip', role: 'tooltip', hidden: true }));
    this.saved = this.api.getState();
    const handlers: Handlers<CompareViewApi> = {
      loading: (p) => this.showLoading(p.a, p.b, p.progress),
      head: (p) => this.showHead(p.generation, p.head, p.settings),
      error: (p) => this.showError(p.message),
      settings: (s) => {
        this.settings = s;
        this.draw();
      },
    };
    this.rpc = new RpcEndpoint<CompareViewApi, CompareHostApi>(hostTransport(this.api as never), handlers, { name: 'host', defaultTimeoutMs: TIMEOUT_MS });
    this.rpc.notify('ready', { protocol: PROTOCOL_VERSION });
  }

  // -------------------------------------------------------------------------------- states

  private showLoading(a: string, b: string, p?: Progress): void {
    const what = p?.file ? `reading ${p.file.split(/[\\/]/).slice(-2).join('/')}${p.filesTotal && p.filesTotal > 1 ? ` (${p.filesDone ?? 0} of ${p.filesTotal} files)` : ''}` : p?.stage === 'building' ? 'comparing' : 'reading the headers';
    const text = `Comparing ${a} and ${b}: ${what}…`;
    const existing = this.root.querySelector('[data-testid="loading"] .status-text');
    if (existing && this.root.dataset.state === 'loading') {
      existing.textContent = text;
      return;
    }
    this.root.dataset.state = 'loading';
    clear(this.root);
    this.root.append(h('div', { class: 'status-view', 'data-testid': 'loading' }, h('div', { class: 'status-line' }, spinner(), h('span', { class: 'status-text' }, text))));
  }

  private showError(message: string): void {
    this.root.dataset.state = 'error';
    clear(this.root);
    this.root.append(
      h('div', { class: 'status-view error-view' }, h('div', { class: 'status-line' }, icon('error'), h('strong', null, 'The comparison could not be made')), h('div', { class: 'error-message', 'data-testid': 'error' }, message)),
    );
  }

  private showHead(generation: number, head: CompareHead, settings: ViewSettings): void {
    this.generation = generation;
    this.head = head;
    this.settings = settings;
    const key = `${head.a.path}\0${head.b.path}`;
    const saved = this.saved?.key === key ? this.saved : undefined;
    this.expanded = new Set(saved ? saved.expanded : head.expanded);
    this.expanded.add(0);
    this.changesOnly = saved?.changesOnly ?? false;
    this.active = saved?.active ?? 0;
    this.saved = { v: 1, key, expanded: [...this.expanded], changesOnly: this.changesOnly, scrollTop: saved?.scrollTop ?? 0, active: this.active };
    this.cards.clear();
    this.pages = new RowPages(viewKey(this.expanded, this.changesOnly));
    this.root.dataset.state = 'ready';
    clear(this.root);
    this.root.append(this.renderSummary(head), this.renderToolbar(), this.renderGrid());
    const top = saved?.scrollTop ?? 0;
    requestAnimationFrame(() => {
      if (this.viewport) this.viewport.scrollTop = top;
      this.draw();
    });
    this.draw();
  }

  // -------------------------------------------------------------------------------- summary

  private renderSummary(hd: CompareHead): HTMLElement {
    const fmtSide = (tag: string, s: CompareHead['a'], side: 'a' | 'b') =>
      h(
        'div',
        { class: `side-line side-${side}` },
        h('span', { class: 'side-tag' }, tag),
        h('span', { class: 'side-label mono', title: s.path }, s.label),
        h('span', { class: 'muted' }, [s.formatLabel, s.architecture, `${exactCount(s.files)} file${s.files === 1 ? '' : 's'}`, `${exactCount(s.tensors)} tensors`].filter(Boolean).join(' · ')),
        h('vscode-toolbar-button', { icon: 'go-to-file', label: `Open ${side} in the Weightscope editor`, title: `Open ${s.label} in the Weightscope editor`, onclick: () => this.rpc.notify('open', { side }) }),
      );
    const du = hd.b.parameters.unique - hd.a.parameters.unique;
    const dt = hd.b.parameters.total - hd.a.parameters.total;
    const db = hd.b.bytes - hd.a.bytes;
    const word = hd.equal ? 'Equal' : 'Different';
    const rest = hd.verdict.replace(/^(equal|different): /, '');
    const counts = h(
      'div',
      { class: 'counts-line' },
      h('span', null, 'parameters ', h('span', { class: 'num' }, exactCount(hd.a.parameters.unique)), ' → ', h('span', { class: 'num' }, exactCount(hd.b.parameters.unique)), ' '),
      h('span', { class: `delta ${sign(du)}`, 'data-testid': 'delta-unique', 'data-value': String(du) }, `(${signedCount(du, 'exact')})`),
      h('span', { class: 'muted' }, ' unique · total '),
      h('span', { class: 'num' }, `${exactCount(hd.a.parameters.total)} → ${exactCount(hd.b.parameters.total)} `),
      h('span', { class: `delta ${sign(dt)}`, 'data-testid': 'delta-total', 'data-value': String(dt) }, `(${signedCount(dt, 'exact')})`),
      h('span', { class: 'muted' }, ' · bytes '),
      h('span', { class: 'num' }, `${bytes(hd.a.bytes)} → ${bytes(hd.b.bytes)} `),
      h('span', { class: `delta ${sign(db)}`, 'data-testid': 'delta-bytes', 'data-value': String(db) }, `(${signedBytes(db)})`),
    );
    const ties = hd.ties.length
      ? h('ul', { class: 'tie-changes', 'data-testid': 'tie-changes' }, ...hd.ties.map((t) => h('li', { class: `tie-change ${t.split(':')[0].replace(/ .*/, '')}` }, h('span', { class: 'swatch' }), t)))
      : null;
    const config = hd.config.length ? h('div', { class: 'config-line mono', title: hd.config.join('\n') }, h('span', { class: 'muted' }, 'config.json: '), hd.config.slice(0, 3).join(' · '), hd.config.length > 3 ? ` · … ${hd.config.length - 3} more` : '') : null;
    return h(
      'header',
      { class: 'summary' },
      h('div', { class: 'title-line' }, icon('diff'), h('span', { class: 'model-name' }, `${hd.a.label} ↔ ${hd.b.label}`)),
      fmtSide('a', hd.a, 'a'),
      fmtSide('b', hd.b, 'b'),
      h('div', { class: `verdict ${hd.equal ? 'equal' : 'different'}`, 'data-testid': 'verdict', 'data-equal': String(hd.equal) }, h('strong', null, word), `: ${rest}`),
      counts,
      ties,
      config,
    );
  }

  private renderToolbar(): HTMLElement {
    // A toggle in the toolbar (role switch): the filter is one click or Space away.
    const box = h('vscode-toolbar-button', { 'data-testid': 'changes-only', icon: 'filter', label: 'Changes only', title: 'Show only the modules that differ (and the modules holding them)', toggleable: true }, 'Changes only') as HTMLElement & { checked?: boolean };
    box.checked = this.changesOnly;
    box.setAttribute('data-checked', String(this.changesOnly));
    box.addEventListener('change', () => this.setChangesOnly(!!box.checked));
    this.changesBox = box;
    const menu = h('vscode-context-menu', { class: 'export-menu' }) as HTMLElement & { data?: unknown; show?: boolean };
    menu.data = [
      { label: 'Export as Markdown…', value: 'markdown' },
      { label: 'Export as SVG…', value: 'svg' },
      { separator: true },
      { label: 'Copy as Markdown', value: 'copy' },
    ];
    menu.addEventListener('vsc-context-menu-select', (ev) => {
      const value = (ev as CustomEvent<{ value: string }>).detail.value;
      if (value === 'copy') this.rpc.notify('copyMarkdown');
      else if (value === 'markdown' || value === 'svg') this.rpc.notify('export', { format: value });
    });
    const exportButton = h('vscode-toolbar-button', { icon: 'export', label: 'Export', title: 'Export the comparison (Markdown, SVG)', 'data-testid': 'export' }, 'Export');
    exportButton.addEventListener('click', (ev) => {
      ev.stopPropagation();
      menu.show = !menu.show;
    });
    this.statusEl = h('span', { class: 'status muted', 'aria-live': 'polite' });
    return h(
      'div',
      { class: 'toolbar' },
      box,
      h('vscode-toolbar-button', { icon: 'expand-all', label: 'Open the changes', title: 'Expand the modules that changed (as first shown)', onclick: () => this.resetView() }),
      h('vscode-toolbar-button', { icon: 'collapse-all', label: 'Collapse all', title: 'Collapse all', onclick: () => this.setExpanded(new Set([0])) }),
      h('span', { class: 'menu-anchor' }, exportButton, menu),
      h('span', { class: 'spacer' }),
      this.statusEl,
    );
  }

  private renderGrid(): HTMLElement {
    const header = h(
      'div',
      { class: 'grid-header', 'aria-hidden': 'true' },
      h('span', { class: 'gh-gutter' }, 'ties a'),
      h('span', { class: 'gh-module' }, 'module'),
      h('span', { class: 'num', title: 'Parameters each module holds in a (shared storage counted once, at its first holder)' }, 'a'),
      h('span', { class: 'num', title: 'Parameters each module holds in b' }, 'b'),
      h('span', { class: 'num', title: 'b − a, parameters held (these add up to the unique total)' }, 'Δ params'),
      h('span', { class: 'num', title: 'b − a, total parameters of the subtree (shared storage counted for every name)' }, 'Δ total'),
      h('span', { class: 'num', title: 'b − a, bytes held' }, 'Δ bytes'),
      h('span', { class: 'gh-gutter right' }, 'ties b'),
    );
    const svg = () => document.createElementNS('http://www.w3.org/2000/svg', 'svg') as SVGSVGElement;
    this.gutterA = svg();
    this.gutterA.setAttribute('class', 'gutter gutter-a');
    this.gutterB = svg();
    this.gutterB.setAttribute('class', 'gutter gutter-b');
    this.rowsEl = h('div', { class: 'rows' });
    this.spacer = h('div', { class: 'spacer-box' }, this.gutterA, this.rowsEl, this.gutterB);
    const vp = h('div', { class: 'viewport', tabindex: 0, role: 'tree', 'aria-label': 'Modules of the two checkpoints, aligned by path', 'data-testid': 'compare-tree' }, this.spacer);
    vp.addEventListener('scroll', () => {
      this.schedule();
      this.scheduleSave();
      this.hideCard();
    });
    vp.addEventListener('keydown', (ev) => this.onKey(ev));
    vp.addEventListener('focus', () => this.describe(this.active, true));
    vp.addEventListener('blur', () => this.hideCard());
    vp.addEventListener('pointermove', (ev) => {
      const el = (ev.target as Element).closest?.('.row') as HTMLElement | null;
      const idx = el ? Number(el.dataset.index) : -1;
      if (idx !== this.hovered) {
        this.hovered = idx;
        this.describe(idx, false, el);
      }
    });
    vp.addEventListener('pointerleave', () => {
      this.hovered = -1;
      this.describe(-1, false);
    });
    vp.addEventListener('click', (ev) => {
      const el = (ev.target as Element).closest?.('.row') as HTMLElement | null;
      if (!el) return;
      const idx = Number(el.dataset.index);
      this.active = idx;
      const row = this.pages.row(idx);
      // As VS Code's Explorer: a click on a module with children opens or closes it.
      if (row?.childCount) this.toggle(row);
      else this.draw();
    });
    new ResizeObserver(() => this.schedule()).observe(vp);
    this.viewport = vp;
    return h('div', { class: 'grid' }, header, vp);
  }

  // -------------------------------------------------------------------------------- the view

  private setChangesOnly(on: boolean): void {
    if (on === this.changesOnly) return;
    const keep = this.pages.row(this.active)?.id;
    this.changesOnly = on;
    if (this.changesBox) {
      this.changesBox.checked = on;
      this.changesBox.setAttribute('data-checked', String(on));
    }
    this.newView(keep);
  }

  private setExpanded(next: Set<number>, keepId?: number): void {
    next.add(0);
    this.expanded = next;
    this.newView(keepId);
  }

  private resetView(): void {
    if (this.head) this.setExpanded(new Set(this.head.expanded));
  }

  private toggle(row: CompareRow): void {
    const next = new Set(this.expanded);
    if (next.has(row.id) && row.id !== 0) next.delete(row.id);
    else next.add(row.id);
    this.setExpanded(next, row.id);
  }

  /** A new view: new pages; the row that was active stays active where it is now. */
  private newView(keepId?: number): void {
    const oldActive = this.active;
    if (this.pages.total >= 0) this.stale = this.pages;
    this.pages = new RowPages(viewKey(this.expanded, this.changesOnly));
    this.saved!.expanded = [...this.expanded];
    this.saved!.changesOnly = this.changesOnly;
    this.scheduleSave();
    this.hideCard();
    // Rows before the kept row do not move when it is expanded or collapsed: fetch around it.
    const from = Math.max(0, Math.floor((this.viewport?.scrollTop ?? 0) / ROW) - OVERSCAN);
    void this.fetchAround(from, keepId, oldActive);
  }

  private async fetchAround(from: number, keepId: number | undefined, oldActive: number): Promise<void> {
    await this.ensure(from, from + this.visibleCount() + 2 * OVERSCAN);
    if (keepId !== undefined) {
      const at = this.pages.indexOf(keepId);
      this.active = at >= 0 ? at : Math.min(oldActive, Math.max(0, this.pages.total - 1));
    } else this.active = Math.min(oldActive, Math.max(0, this.pages.total - 1));
    this.draw();
  }

  private visibleCount(): number {
    return Math.ceil((this.viewport?.clientHeight || 600) / ROW);
  }

  /** Ask for the pages covering [from, to) that are missing. */
  private ensure(from: number, to: number): Promise<void> {
    const pages = this.pages;
    const want = pages.claim(from, to);
    if (!want.length) return Promise.resolve();
    const view = { expanded: [...this.expanded], changesOnly: this.changesOnly };
    const generation = this.generation;
    return Promise.all(
      want.map(async (p) => {
        try {
          const page = await this.rpc.call('rows', { generation, query: { view, offset: p * PAGE_ROWS, limit: PAGE_ROWS } });
          if (pages === this.pages && generation === this.generation) pages.add(p, page);
        } catch (e) {
          pages.release(p);
          if (!isRpcError(e, 'cancelled')) this.setStatus(`rows could not be loaded: ${(e as Error).message}`);
        }
      }),
    ).then(() => this.schedule());
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private draw(): void {
    const vp = this.viewport;
    if (!vp || !this.rowsEl || !this.spacer || !this.head) return;
    if (this.pages.total >= 0) this.stale = undefined;
    const pages = this.pages.total >= 0 ? this.pages : this.stale;
    if (!pages) {
      void this.ensure(0, this.visibleCount() + OVERSCAN);
      return;
    }
    const total = pages.total;
    this.spacer.style.height = `${total * ROW}px`;
    const start = Math.max(0, Math.floor(vp.scrollTop / ROW) - OVERSCAN);
    const end = Math.min(total, Math.ceil((vp.scrollTop + vp.clientHeight) / ROW) + OVERSCAN);
    if (pages === this.pages) void this.ensure(start, end);
    const fmt = this.settings.numberFormat;
    clear(this.rowsEl);
    this.rowsEl.style.top = `${start * ROW}px`;
    let activeId: string | null = null;
    const focused = document.activeElement === vp;
    for (let i = start; i < end; i++) {
      const r = pages.row(i);
      const el = r ? this.rowElement(r, i, fmt) : h('div', { class: 'row pending', 'data-index': i }, h('span', { class: 'muted' }, '…'));
      if (i === this.active) {
        el.classList.add('active');
        if (focused) el.classList.add('focused');
        if (r) activeId = el.id;
      }
      this.rowsEl.append(el);
    }
    if (activeId) vp.setAttribute('aria-activedescendant', activeId);
    else vp.removeAttribute('aria-activedescendant');
    this.drawLinks(start, end);
    this.setStatus(`${exactCount(total)} of ${exactCount(this.head.rowCount)} modules shown${pages.linkCount ? ` · ${exactCount(pages.linkCount)} tie link${pages.linkCount === 1 ? '' : 's'}` : ''}${this.changesOnly ? ' · changes only' : ''}`);
  }

  private rowElement(r: CompareRow, index: number, fmt: NumberFormat): HTMLElement {
    const owned = (s: CompareRow['a']) => (s ? formatCount(s.owned, fmt) : '—');
    const dp = (r.b?.owned ?? 0) - (r.a?.owned ?? 0);
    const dt = (r.b?.total ?? 0) - (r.a?.total ?? 0);
    const db = (r.b?.ownedBytes ?? 0) - (r.a?.ownedBytes ?? 0);
    const mark = MARK[r.status] || (r.renamed ? '→' : '');
    const twisty = r.childCount ? icon(r.expanded ? 'chevron-down' : 'chevron-right', 'twisty') : h('span', { class: 'twisty none' });
    const name = r.depth === 0 ? '' : r.name;
    const module = h(
      'span',
      { class: 'module' },
      twisty,
      h('span', { class: 'mark' }, mark),
      name ? h('span', { class: 'name' }, name) : null,
      h('span', { class: `head${r.childCount ? '' : ' leaf'}` }, r.head),
      r.note ? h('span', { class: 'note' }, r.note) : r.aPath !== undefined && r.depth > 0 ? h('span', { class: 'note renamed' }, `was ${r.aPath || '(root)'}`) : null,
    );
    // Through the CSSOM: the page's CSP refuses style attributes.
    module.style.paddingLeft = `${r.depth * INDENT + 4}px`;
    const el = h(
      'div',
      {
        class: `row status-${r.status}${r.renamed && r.status === 'equal' ? ' renamed' : ''}`,
        id: `row-${r.id}`,
        role: 'treeitem',
        'aria-level': r.depth + 1,
        'aria-expanded': r.childCount ? String(r.expanded) : null,
        'aria-selected': String(index === this.active),
        'aria-label': `${r.path || 'model'}: ${STATUS_WORD[r.status]}${dp ? `, ${signedCount(dp, 'exact')} parameters` : ''}`,
        'data-index': index,
        'data-id': r.id,
        'data-path': r.path === '' ? '(root)' : r.path,
        'data-status': r.status,
        'data-delta': String(dp),
      },
      module,
      h('span', { class: 'num side-a', title: r.a ? exactCount(r.a.owned) : 'not in a' }, owned(r.a)),
      h('span', { class: 'num side-b', title: r.b ? exactCount(r.b.owned) : 'not in b' }, owned(r.b)),
      h('span', { class: `num delta ${sign(dp)}`, title: signedCount(dp, 'exact') }, signedCount(dp, fmt)),
      h('span', { class: `num delta ${sign(dt)}`, title: signedCount(dt, 'exact') }, signedCount(dt, fmt)),
      h('span', { class: `num delta ${sign(db)}` }, signedBytes(db)),
    );
    return el;
  }

  /** Each side's links in its gutter, for the rows drawn; the hovered row's links stand out. */
  private drawLinks(start: number, end: number): void {
    if (!this.gutterA || !this.gutterB) return;
    const links = (this.pages.total >= 0 ? this.pages : this.stale ?? this.pages).linksIn(start, end);
    const lanes = assignLanes(links);
    const y = (i: number) => (i - start) * ROW + ROW / 2;
    const hot = this.hovered >= 0 ? this.hovered : document.activeElement === this.viewport ? this.active : -1;
    for (const side of ['a', 'b'] as const) {
      const svg = side === 'a' ? this.gutterA : this.gutterB;
      svg.style.top = `${start * ROW}px`;
      svg.setAttribute('height', String((end - start) * ROW));
      svg.setAttribute('width', String(GUTTER));
      const anchor = side === 'a' ? GUTTER - 3 : 3;
      const dir = side === 'a' ? -1 : 1;
      const mine = links.filter((l) => l.side === side);
      select(svg)
        .selectAll<SVGPathElement, CompareLink>('path.tie-link')
        .data(mine, linkKey)
        .join('path')
        .attr('class', (l) => `tie-link ${l.status} ${l.relation}${l.rows.includes(hot) ? ' lit' : ''}`)
        .attr('data-side', side)
        .attr('data-status', (l) => l.status)
        .attr('data-shared', (l) => l.tensors.join(' '))
        .attr('d', (l) => linkPath(l.rows, anchor, anchor + dir * (14 + lanes.get(l)! * 8), y))
        .each(function (l) {
          const t: Element = this.querySelector('title') ?? this.appendChild(document.createElementNS('http://www.w3.org/2000/svg', 'title'));
          t.textContent = `${TIE_WORD[l.status]} (${side}, ${l.relation}): ${l.tensors.join(' = ')}`;
        });
      const dots = mine.flatMap((l) => l.rows.filter((r) => r >= start && r < end).map((r) => ({ l, r })));
      select(svg)
        .selectAll<SVGCircleElement, { l: CompareLink; r: number }>('circle.tie-dot')
        .data(dots)
        .join('circle')
        .attr('class', (d) => `tie-dot ${d.l.status}`)
        .attr('cx', anchor)
        .attr('cy', (d) => y(d.r))
        .attr('r', 3);
    }
    // The rows at the other ends of the hovered row's links.
    if (hot >= 0 && this.rowsEl) {
      const partners = new Set<number>();
      for (const l of links) if (l.rows.includes(hot)) for (const r of l.rows) if (r !== hot) partners.add(r);
      for (const el of this.rowsEl.children) {
        const i = Number((el as HTMLElement).dataset.index);
        el.classList.toggle('tie-partner', partners.has(i));
      }
    }
  }

  // -------------------------------------------------------------------------------- keyboard

  private onKey(ev: KeyboardEvent): void {
    const total = this.pages.total;
    if (total <= 0) return;
    const row = this.pages.row(this.active);
    const page = Math.max(1, this.visibleCount() - 1);
    let next = this.active;
    switch (ev.key) {
      case 'ArrowDown':
        next++;
        break;
      case 'ArrowUp':
        next--;
        break;
      case 'PageDown':
        next += page;
        break;
      case 'PageUp':
        next -= page;
        break;
      case 'Home':
        next = 0;
        break;
      case 'End':
        next = total - 1;
        break;
      case 'ArrowRight':
        if (row?.childCount && !row.expanded) this.toggle(row);
        else if (row?.childCount) next++;
        break;
      case 'ArrowLeft':
        if (row?.childCount && row.expanded && row.id !== 0) this.toggle(row);
        else if (row && row.parent >= 0) {
          const p = this.pages.indexOf(row.parent);
          if (p >= 0) next = p;
        }
        break;
      case 'Enter':
      case ' ':
        if (row?.childCount) this.toggle(row);
        break;
      case 'Escape':
        this.hideCard();
        break;
      default:
        return;
    }
    ev.preventDefault();
    next = Math.max(0, Math.min(total - 1, next));
    if (next !== this.active) {
      this.active = next;
      this.saved!.active = next;
      this.scheduleSave();
      this.scrollToActive();
    }
    this.draw();
    if (ev.key !== 'Escape') this.describe(this.active, true);
  }

  private scrollToActive(): void {
    const vp = this.viewport;
    if (!vp) return;
    const top = this.active * ROW;
    if (top < vp.scrollTop) vp.scrollTop = top;
    else if (top + ROW > vp.scrollTop + vp.clientHeight) vp.scrollTop = top + ROW - vp.clientHeight;
  }

  // -------------------------------------------------------------------------------- hover card

  private hideCard(): void {
    this.tooltip.hidden = true;
    this.tooltip.dataset.id = '';
  }

  /** The card of row `index` (hovered, or the active row when the tree has the focus). */
  private describe(index: number, fromKeyboard: boolean, anchor?: HTMLElement | null): void {
    this.drawLinks(...this.windowRange());
    const row = index >= 0 ? this.pages.row(index) : undefined;
    if (!row) {
      if (!fromKeyboard) this.hideCard();
      return;
    }
    const el = anchor ?? (this.rowsEl?.querySelector(`[data-index="${index}"]`) as HTMLElement | null);
    if (!el) return;
    let page = this.cards.get(row.id);
    if (!page && row.own) {
      page = this.rpc.call('tensors', { generation: this.generation, id: row.id, offset: 0, limit: CARD_TENSORS });
      this.cards.set(row.id, page);
      page.catch(() => this.cards.delete(row.id));
    }
    this.tooltip.dataset.id = String(row.id);
    this.fillCard(row, null);
    this.place(el);
    void page?.then((p) => {
      if (this.tooltip.dataset.id !== String(row.id) || this.tooltip.hidden) return;
      this.fillCard(row, p);
      this.place(el);
    });
  }

  private windowRange(): [number, number] {
    const vp = this.viewport;
    if (!vp) return [0, 0];
    const start = Math.max(0, Math.floor(vp.scrollTop / ROW) - OVERSCAN);
    return [start, Math.min(Math.max(0, this.pages.total), Math.ceil((vp.scrollTop + vp.clientHeight) / ROW) + OVERSCAN)];
  }

  private fillCard(r: CompareRow, page: CompareTensorPage | null): void {
    const t = this.tooltip;
    clear(t);
    t.hidden = false;
    t.append(
      h('div', { class: 'tt-title' }, h('span', { class: `mark status-${r.status}` }, MARK[r.status] || (r.renamed ? '→' : '=')), h('span', null, r.path || 'model'), h('span', { class: 'tt-repr' }, STATUS_WORD[r.status] + (r.renamed ? `, ${r.renamed} tensor${r.renamed === 1 ? '' : 's'} renamed` : ''))),
    );
    if (r.aPath !== undefined) t.append(h('div', { class: 'tt-line' }, `in a: ${r.aPath || '(root)'}`));
    const cell = (s: CompareRow['a'], f: (x: NonNullable<CompareRow['a']>) => string) => h('td', { class: 'num' }, s ? f(s) : '—');
    const dcell = (f: (x: NonNullable<CompareRow['a']>) => number, byteCount = false) => {
      const d = (r.b ? f(r.b) : 0) - (r.a ? f(r.a) : 0);
      return h('td', { class: `num delta ${sign(d)}` }, byteCount ? signedBytes(d) : signedCount(d, 'exact'));
    };
    const ta = r.a ? r.a.repr ?? r.a.type : null;
    const tb = r.b ? r.b.repr ?? r.b.type : null;
    if (ta === tb) t.append(h('div', { class: 'tt-type' }, ta ?? ''));
    else t.append(h('div', { class: 'tt-type' }, `a: ${ta ?? '—'}`), h('div', { class: 'tt-type' }, `b: ${tb ?? '—'}`));
    t.append(
      h(
        'table',
        { class: 'tt-sides' },
        h('tr', null, h('td', null, ''), h('td', { class: 'num muted' }, 'a'), h('td', { class: 'num muted' }, 'b'), h('td', { class: 'num muted' }, 'Δ')),
        h('tr', null, h('td', null, 'unique'), cell(r.a, (s) => exactCount(s.unique)), cell(r.b, (s) => exactCount(s.unique)), dcell((s) => s.unique)),
        h('tr', null, h('td', null, 'total'), cell(r.a, (s) => exactCount(s.total)), cell(r.b, (s) => exactCount(s.total)), dcell((s) => s.total)),
        h('tr', { title: 'shared storage counted once, at its first holder: these add up' }, h('td', null, 'held'), cell(r.a, (s) => exactCount(s.owned)), cell(r.b, (s) => exactCount(s.owned)), dcell((s) => s.owned)),
        h('tr', null, h('td', null, 'bytes'), cell(r.a, (s) => bytes(s.bytes)), cell(r.b, (s) => bytes(s.bytes)), dcell((s) => s.bytes, true)),
      ),
    );
    if (r.note) t.append(h('div', { class: 'tt-line tt-note' }, r.note));
    if (!r.own) {
      if (r.childCount) t.append(h('div', { class: 'tt-line' }, `${exactCount(r.childCount)} child module${r.childCount === 1 ? '' : 's'}${r.changed ? `; ${exactCount(r.changed)} tensor${r.changed === 1 ? '' : 's'} differ below` : ''}`));
      return;
    }
    t.append(h('h4', null, `Tensors (${exactCount(r.own)})`));
    if (!page) {
      t.append(h('div', { class: 'tt-line' }, 'Loading…'));
      return;
    }
    const side = (x: CompareTensor['a']) => (x ? `${x.dtype} [${x.shape.join(', ')}]${x.present ? '' : ' (not stored: tied)'}` : '—');
    const rows = page.items.map((x) =>
      h(
        'tr',
        { class: `status-${x.status}`, 'data-tensor': x.key },
        h('td', { class: 'mark' }, MARK[x.status] || (x.aName ? '→' : '')),
        h('td', null, x.key.slice(r.path ? r.path.length + 1 : 0)),
        h('td', null, side(x.a)),
        h('td', null, side(x.b)),
      ),
    );
    t.append(h('table', { class: 'tt-tensors' }, h('tr', null, h('td', null, ''), h('td', { class: 'muted' }, 'name'), h('td', { class: 'muted' }, 'a'), h('td', { class: 'muted' }, 'b')), ...rows));
    for (const x of page.items) {
      const notes = [x.aName ? `${x.key}: named ${x.aName} in a` : '', x.change ? `${x.key}: ${x.change}` : '', x.sharesA?.length ? `a: ${x.key} shares storage with ${x.sharesA.join(', ')}` : '', x.sharesB?.length ? `b: ${x.key} shares storage with ${x.sharesB.join(', ')}` : ''].filter(Boolean);
      for (const n of notes) t.append(h('div', { class: `tt-reason${x.status === 'changed' ? ' changed' : ''}` }, n));
    }
    if (page.total > page.items.length) t.append(h('div', { class: 'tt-line' }, `… ${exactCount(page.total - page.items.length)} more`));
  }

  private place(anchor: HTMLElement): void {
    const r = anchor.getBoundingClientRect();
    const t = this.tooltip;
    const w = t.offsetWidth;
    const hgt = t.offsetHeight;
    let left = Math.min(window.innerWidth - w - 8, r.left + 40);
    let top = r.bottom + 4;
    if (top + hgt > window.innerHeight - 4) top = Math.max(4, r.top - hgt - 4);
    left = Math.max(4, left);
    t.style.left = `${left}px`;
    t.style.top = `${top}px`;
  }

  // -------------------------------------------------------------------------------- misc

  private setStatus(s: string): void {
    if (this.statusEl && this.statusEl.textContent !== s) this.statusEl.textContent = s;
  }

  private scheduleSave(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => {
      if (!this.saved) return;
      this.saved.scrollTop = this.viewport?.scrollTop ?? 0;
      this.saved.active = this.active;
      this.api.setState(this.saved);
    }, 80);
  }
}

function sign(n: number): string {
  return n > 0 ? 'pos' : n < 0 ? 'neg' : 'zero';
}
