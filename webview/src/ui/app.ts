/**
 * The webview application: serves `WebviewApi` to the host and calls `HostApi` on it over the
 * typed RPC, keeps the view state across tab switches (setState), and wires the summary,
 * toolbar, tree, tooltip and details panels. The module tree comes lazily (issue 11): the head
 * (summary and first view) with `model`, the rest through `nodes`, `search` and `groups` calls.
 */
import { exactCount } from '../../../src/shared/format';
import { ExportChoice, HostApi, HostCommand, domPath, ModelHead, NodeQuery, PROTOCOL_VERSION, TensorPage, TensorQuery, ViewSettings, WebviewApi } from '../../../src/shared/protocol';
import { CallOptions, Handlers, isRpcError, RpcEndpoint } from '../../../src/shared/rpc';
import { LazyTree } from '../data/lazyTree';
import { filteredOut, GroupStore, rowPeers, tensorPeers } from '../data/shared';
import { TensorCache } from '../data/tensorCache';
import { compileFilter, Filter, foldContext, foldLabel, PersistedTree, Row, selectionTarget, TreeState } from '../data/tree';
import { cellRow, lazyTreeSource, MapCell, MapSource } from '../data/mapLayout';
import { progressText } from '../data/progress';
import { getApi, hostTransport } from './api';
import { clear, h, icon, spinner } from './dom';
import { mapCard, MapView, moreCard } from './map';
import { panelIndex, PANELS } from './panels';
import { renderSummary } from './summary';
import { renderMetadata, renderSafety, renderWarnings } from './details';
import { isPlainPickle } from '../data/safety';
import { TensorTable } from './tensorTable';
import { CARD_TENSORS, rowCard, tensorCard, Tooltip, TooltipContext } from './tooltip';
import { TreeView } from './treeView';

/** What survives a tab switch (the webview is rebuilt; VS Code keeps this for us). */
interface SavedState {
  v: 1;
  /** The file the state belongs to. */
  path?: string;
  tree?: PersistedTree;
  selected: string | null;
  scrollTop: number;
  /** The tensor table's scroll position. */
  tableScrollTop?: number;
  tab: number;
  split?: string;
  /** Tree or Map, and the map's zoom (mapLayout.ts `zoomKey`). */
  view?: 'tree' | 'map';
  mapZoom?: string;
  /** The tensor table's column widths, when the user resized them. */
  columns?: number[];
}

/** How long the webview waits for a tensor page, nodes or a search. */
const TENSORS_TIMEOUT_MS = 30000;
/** Expanded-set sizes above this are not saved (the default depth is used instead). */
const MAX_SAVED_EXPANDED = 5000;
/** Matches a search sends at most (with their ancestors); the status says when there are more. */
const SEARCH_LIMIT = 2000;
/** Nodes per page while expanding all. */
const EXPAND_ALL_PAGE = 2000;
/** Expand all refuses beyond this many rows (and says so): expand a module instead. */
const MAX_EXPAND_ALL_ROWS = 500_000;

export class App {
  private readonly api = getApi<SavedState>();
  private readonly rpc: RpcEndpoint<WebviewApi, HostApi>;
  /** Aborted when the model is replaced or unloaded: its tensor requests are moot. */
  private modelCalls = new AbortController();
  private readonly root: HTMLElement;
  private readonly tooltip = new Tooltip();
  private generation = -1;
  private settings: ViewSettings = { expandDepth: 2, numberFormat: 'compact' };
  private head?: ModelHead;
  private exports: ExportChoice[] = [];
  private tree?: LazyTree;
  private state?: TreeState;
  private groups?: GroupStore;
  /** The loading view's text line, while it shows. */
  private statusText?: HTMLElement;
  private loadingFile = '';
  /** Bumped per search: a late answer for an older filter is dropped. */
  private filterSeq = 0;
  /** What the tree status says while expand all loads. */
  private loadStatus?: HTMLElement;
  private readonly cache: TensorCache;
  private treeView?: TreeView;
  private mapView?: MapView;
  private mapSource?: MapSource;
  private view: 'tree' | 'map' = 'tree';
  private viewSwitch?: { tree: HTMLElement; map: HTMLElement; toolbar: HTMLElement };
  private table?: TensorTable;
  private tabs?: HTMLElementTagNameMap['vscode-tabs'];
  private split?: HTMLElementTagNameMap['vscode-split-layout'];
  private filterStatus?: HTMLElement;
  private search?: HTMLElementTagNameMap['vscode-textfield'];
  private regex?: HTMLElementTagNameMap['vscode-toolbar-button'];
  private sort?: HTMLElementTagNameMap['vscode-single-select'];
  private saved: SavedState;
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  private filterTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(root: HTMLElement) {
    this.root = root;
    this.saved = this.api.getState() ?? { v: 1, selected: null, scrollTop: 0, tab: 0 };
    this.rpc = new RpcEndpoint<WebviewApi, HostApi>(hostTransport(this.api), this.handlers(), {
      name: 'host',
      onMalformed: (m, why) => console.warn(`[weightscope] ignored a message (${why})`, m),
      onNotificationError: (method, e) => console.error(`[weightscope] ${method} failed: ${e.message}`),
    });
    this.cache = new TensorCache((query) =>
      this.tensors(query).then((page) => {
        // The page names the storage groups its tensors are in.
        this.groups?.add(page.groups);
        return page;
      }),
    );
    window.addEventListener('keydown', (ev) => {
      if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && ev.key.toLowerCase() === 'f' && this.search) {
        ev.preventDefault();
        this.setView('tree');
        this.search.focus();
      }
    });
    // The webview is torn down on a tab switch: save what is pending before it goes.
    window.addEventListener('pagehide', () => this.saveNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') {
        this.saveNow();
        this.hideTooltips();
      }
    });
    // A tooltip never outlives the window's focus (another editor, a menu...), nor the pointer
    // leaving the page.
    window.addEventListener('blur', () => this.hideTooltips());
    document.documentElement.addEventListener('mouseleave', () => this.hideTooltips());
    this.showStatus('loading', root.dataset.file ? progressText(root.dataset.file, undefined) : 'Opening…');
    this.rpc.notify('ready', { protocol: PROTOCOL_VERSION });
  }

  // ------------------------------------------------------------------------------ messages

  private handlers(): Handlers<WebviewApi> {
    return {
      loading: (m) => {
        this.loadingFile = m.fileName;
        if (!m.reloading || !this.head) this.showStatus('loading', progressText(m.fileName, m.progress));
      },
      progress: (p) => {
        if (this.statusText && !this.head) this.statusText.textContent = progressText(this.loadingFile || this.root.dataset.file || 'the checkpoint', p);
      },
      error: (m) => this.showError(m.fileName, m.message, m.code),
      model: (m) => {
        performance.mark('weightscope:model');
        this.exports = m.exports;
        this.showModel(m.generation, m.settings, m.head);
        // The summary and the first rows are in the page: the next frame paints them.
        performance.mark('weightscope:rows');
        requestAnimationFrame(() => performance.mark('weightscope:painted'));
      },
      settings: (s) => this.applySettings(s),
      command: (m) => this.onCommand(m.command),
    };
  }

  /** A page of tensor descriptions of the model shown now. */
  private tensors(query: TensorQuery, opts: CallOptions = {}): Promise<TensorPage> {
    return this.rpc.call('tensors', { generation: this.generation, query }, { timeoutMs: TENSORS_TIMEOUT_MS, signal: this.modelCalls.signal, ...opts });
  }

  private callOptions(opts: CallOptions = {}): CallOptions {
    return { timeoutMs: TENSORS_TIMEOUT_MS, signal: this.modelCalls.signal, ...opts };
  }

  /** A request of the model's failed: a reload or a closing editor cancels them; others are logged. */
  private requestFailed(e: unknown): void {
    if (isRpcError(e, 'cancelled') || isRpcError(e, 'superseded') || isRpcError(e, 'closed')) return;
    console.warn('[weightscope] a request failed', e);
  }

  private hideTooltips(): void {
    this.treeView?.pageHidden();
    this.tooltip.hide();
  }

  /** The model was replaced or unloaded: its pending tensor requests are cancelled. */
  private cancelModelCalls(): void {
    this.modelCalls.abort();
    this.modelCalls = new AbortController();
  }

  private onCommand(c: HostCommand): void {
    if (!this.state || !this.treeView) return;
    switch (c) {
      case 'expandAll':
        this.expandAll();
        break;
      case 'collapseAll':
        this.state.collapseAll();
        this.setLoadStatus('');
        this.treeView.refresh();
        this.scheduleSave();
        break;
      case 'focusSearch':
        this.setView('tree');
        this.search?.focus();
        break;
      case 'showMetadata':
        this.showPanel('metadata');
        break;
    }
  }

  // ------------------------------------------------------------------------------ states

  /**
   * The loading view: the same spinner and line as the page's own HTML (html.ts), so the pane
   * is never blank and nothing jumps when the script takes over.
   */
  private showStatus(kind: 'loading', text: string): void {
    this.tooltip.hide();
    this.dropModel();
    clear(this.root);
    this.root.dataset.state = kind;
    this.statusText = h('span', { class: 'status-text', 'aria-live': 'polite' }, text);
    this.root.append(
      h('div', { class: 'status-view', 'data-testid': 'loading' }, h('div', { class: 'status-line' }, spinner(), this.statusText)),
    );
  }

  /** Forget the model shown (a new one, an error, a reload from scratch). */
  private dropModel(): void {
    this.head = undefined;
    this.tree?.dispose();
    this.groups?.dispose();
    this.tree = undefined;
    this.groups = undefined;
    this.state = undefined;
    this.treeView = undefined;
  }

  private showError(fileName: string, message: string, code?: string): void {
    this.tooltip.hide();
    this.dropModel();
    this.statusText = undefined;
    this.cancelModelCalls();
    clear(this.root);
    this.root.dataset.state = 'error';
    this.root.append(
      h(
        'div',
        { class: 'status-view error-view', role: 'alert' },
        h('div', { class: 'status-line' }, icon('error'), h('b', null, `Weightscope could not open ${fileName}`)),
        h('div', { class: 'error-message', 'data-testid': 'error', 'data-code': code ?? '' }, message),
        h(
          'div',
          { class: 'status-line' },
          h('vscode-button', { icon: 'refresh', onclick: () => this.rpc.notify('reload') }, 'Try again'),
          // A gated or private repository (or one the Hub hides without a token): the error names the
          // command; here it is a button (the token goes to VS Code's secret storage), then it opens again.
          code === 'auth' || message.includes('Weightscope: Set Hugging Face Token') ? h('vscode-button', { icon: 'key', secondary: true, 'data-testid': 'set-token', onclick: () => this.rpc.notify('setToken') }, 'Set Hugging Face Token…') : null,
          code ? h('span', { class: 'muted' }, `error code: ${code}`) : null,
        ),
      ),
    );
  }

  private applySettings(s: ViewSettings): void {
    const formatChanged = s.numberFormat !== this.settings.numberFormat;
    this.settings = s;
    if (!this.head || !formatChanged) return;
    if (this.treeView) {
      this.treeView.numberFormat = s.numberFormat;
      this.treeView.redraw();
    }
    if (this.table) {
      this.table.numberFormat = s.numberFormat;
      this.table.render();
    }
    if (this.mapView) {
      this.mapView.numberFormat = s.numberFormat;
      this.mapView.render();
    }
    const header = this.root.querySelector('header.summary');
    if (header) header.replaceWith(this.renderHeader());
  }

  private showModel(generation: number, settings: ViewSettings, head: ModelHead): void {
    const reload = this.head !== undefined && this.tree !== undefined && this.saved.path === head.summary.path;
    // Keep what the user was looking at across reloads and tab switches.
    if (reload) this.saveNow();
    this.statusText = undefined;
    this.dropModel();
    this.generation = generation;
    this.settings = settings;
    this.head = head;
    this.cache.reset();
    this.cancelModelCalls();
    this.tooltip.hide();

    const tree = new LazyTree((query: NodeQuery) => this.rpc.call('nodes', { generation, query }, this.callOptions()), head);
    const groups = new GroupStore(tree, (ids) => this.rpc.call('groups', { generation, ids }, this.callOptions()), head.groupCount);
    groups.add(head.topGroups);
    const state = new TreeState(tree);
    state.expandIds(head.view.expanded);
    const saved = this.saved.path === head.summary.path ? this.saved : undefined;
    this.tree = tree;
    this.state = state;
    this.groups = groups;
    this.saved = saved ?? { v: 1, path: head.summary.path, selected: null, scrollTop: 0, tab: 0 };
    this.saved.path = head.summary.path;
    // A pickle without tensors (a plain .pkl): its safety report is the view, not an empty model.
    if (isPlainPickle(head.summary)) {
      this.buildPickleLayout();
      return;
    }
    // The summary and the first view paint now; saved state (a tab switch, a reload) follows.
    this.buildLayout();
    if (saved && (saved.tree || saved.selected !== null)) void this.restoreSaved(saved, generation);
    else this.selectPath(null, { tableScrollTop: saved?.tableScrollTop });
  }

  /** Put back what the view showed: expansion, filter, sort, selection, scroll positions. */
  private async restoreSaved(saved: SavedState, generation: number): Promise<void> {
    const tree = this.tree!;
    const state = this.state!;
    const paths = [...(saved.tree?.expanded ?? [])];
    const sel = saved.selected;
    if (sel !== null) paths.push(sel);
    let found: number[] = [];
    try {
      found = paths.length ? await tree.locate({ paths }) : [];
    } catch (e) {
      this.requestFailed(e);
      return;
    }
    if (generation !== this.generation || tree !== this.tree) return;
    const ids = new Map<string, number>();
    paths.forEach((p, i) => ids.set(p, found[i] ?? -1));
    if (saved.tree) {
      state.restore(saved.tree, ids);
      this.syncToolbar();
      if (state.filter.text.trim()) await this.runFilter(state.filter);
      if (generation !== this.generation) return;
      if (state.allOpen) void this.loadEverything(generation);
    }
    this.treeView?.refresh();
    if (sel !== null && (ids.get(sel) ?? -1) >= 0) {
      // The expansion was restored with the rest: mark the selection without unfolding anything.
      this.treeView?.markSelected(sel);
      this.selectPath(sel, { tableScrollTop: saved.tableScrollTop });
    } else {
      this.selectPath(null, { tableScrollTop: saved.tableScrollTop });
    }
    const top = saved.scrollTop;
    requestAnimationFrame(() => {
      if (this.treeView) this.treeView.scrollTop = top;
    });
  }

  private rootLabel(): string {
    return this.head?.summary.fileName ?? 'model';
  }

  private renderHeader(): HTMLElement {
    return renderSummary(this.head!, this.settings.numberFormat, {
      showPanel: (id) => this.showPanel(id),
      reload: () => this.rpc.notify('reload'),
      openSource: () => this.rpc.notify('openSource'),
    });
  }

  /**
   * A plain pickle's view: the summary with the decoded calls, then the whole safety report, the
   * warnings and the metadata (what pickle.load would return) — no tree, no tensor table.
   */
  private buildPickleLayout(): void {
    clear(this.root);
    this.root.dataset.state = 'pickle';
    this.table = undefined;
    this.tabs = undefined;
    this.split = undefined;
    this.mapView = undefined;
    this.mapSource = undefined;
    const s = this.head!.summary;
    const section = (id: string, title: string, body: HTMLElement) => h('section', { class: 'pickle-section', 'data-panel-section': id }, h('h2', null, title), body);
    this.root.append(
      this.renderHeader(),
      h(
        'div',
        { class: 'pickle-view', 'data-testid': 'pickle-view' },
        section('safety', 'Safety', renderSafety(s)),
        section('warnings', s.warningCount ? `Warnings (${s.warningCount})` : 'Warnings', renderWarnings(s)),
        section('metadata', 'Metadata', renderMetadata(s, () => this.rpc.notify('openMetadata'))),
      ),
    );
  }

  /** The whole view for a model: summary, toolbar, and the tree over the details panels. */
  private buildLayout(): void {
    clear(this.root);
    this.root.dataset.state = 'model';
    const toolbar = this.buildToolbar();
    const treeView = this.buildTree();
    const mapView = this.buildMap();
    this.table = this.buildTensorTable();
    const split = this.buildSplit(h('div', { class: 'pane view-host' }, treeView.element, mapView.element), this.buildPanels());
    this.root.append(this.renderHeader(), toolbar.element, split);
    this.wireFilter(toolbar, treeView);
    treeView.setModel(this.tree!, this.state!, this.groups!, this.rootLabel());
    this.mapSource = lazyTreeSource(this.tree!, this.groups!);
    mapView.setModel(this.mapSource, this.rootLabel(), this.saved.mapZoom);
    this.updateFilterStatus();
    this.setView(this.saved.view === 'map' ? 'map' : 'tree');
  }

  /**
   * Filter (text or regex; it matches a module's dotted path, `transformer.h.0.attn`, or its
   * type), sort, expand/collapse, export.
   */
  private buildToolbar(): { element: HTMLElement; search: HTMLElementTagNameMap['vscode-textfield']; regex: HTMLElementTagNameMap['vscode-toolbar-button']; sort: HTMLElementTagNameMap['vscode-single-select'] } {
    const search = h('vscode-textfield', { placeholder: 'Filter modules by path or type', 'aria-label': 'Filter modules by path or type', type: 'search' });
    search.append(h('vscode-icon', { slot: 'content-before', name: 'filter', title: 'Filter' }));
    const regex = h('vscode-toolbar-button', { slot: 'content-after', icon: 'regex', toggleable: true, label: 'Use regular expression', title: 'Use regular expression' });
    search.append(regex);
    const status = h('span', { class: 'filter-status', 'aria-live': 'polite' });
    this.loadStatus = h('span', { class: 'filter-status load-status', 'aria-live': 'polite' });
    const sort = h(
      'vscode-single-select',
      { 'aria-label': 'Sort', title: 'Order of modules' },
      h('vscode-option', { value: 'natural' }, 'File order'),
      h('vscode-option', { value: 'size' }, 'Largest first'),
    );
    const element = h(
      'div',
      { class: 'toolbar', role: 'toolbar', 'aria-label': 'Hierarchy' },
      this.buildViewSwitch(),
      search,
      status,
      sort,
      this.loadStatus,
      h('vscode-toolbar-button', { class: 'tree-only', icon: 'expand-all', label: 'Expand all', title: 'Expand all', onclick: () => this.onCommand('expandAll') }),
      h('vscode-toolbar-button', { class: 'tree-only', icon: 'collapse-all', label: 'Collapse all', title: 'Collapse all', onclick: () => this.onCommand('collapseAll') }),
      h('span', { class: 'spacer' }),
      h('vscode-toolbar-button', {
        icon: 'file-media',
        label: 'Export as SVG',
        title: 'Export as SVG (the view shown: the tree diagram or the map)',
        onclick: () => this.rpc.notify('export', { format: this.view === 'map' && this.exports.some((e) => e.id === 'mapsvg') ? 'mapsvg' : 'svg' }),
      }),
      h('vscode-toolbar-button', { icon: 'copy', label: 'Copy as Markdown', title: 'Copy as Markdown', onclick: () => this.rpc.notify('copyMarkdown') }),
      this.buildExportMenu(),
    );
    search.classList.add('tree-only');
    status.classList.add('tree-only');
    sort.classList.add('tree-only');
    this.search = search;
    this.regex = regex;
    this.sort = sort;
    this.filterStatus = status;
    if (this.viewSwitch) this.viewSwitch.toolbar = element;
    return { element, search, regex, sort };
  }

  /** Tree | Map, beside the tree's own tools (which hide while the map shows). */
  private buildViewSwitch(): HTMLElement {
    const button = (view: 'tree' | 'map', iconName: string, text: string, title: string) =>
      h('button', { type: 'button', 'data-testid': `view-${view}`, 'aria-pressed': 'false', title, onclick: () => this.setView(view, true) }, icon(iconName), text);
    const tree = button('tree', 'list-tree', 'Tree', 'The module tree');
    const map = button('map', 'map', 'Map', 'A map of the model: area is unique parameters, colour is the kind of layer');
    this.viewSwitch = { tree, map, toolbar: tree };
    return h('span', { class: 'view-switch', role: 'group', 'aria-label': 'View' }, tree, map);
  }

  /** Show the tree or the map in the hierarchy pane. */
  private setView(view: 'tree' | 'map', focus = false): void {
    const sw = this.viewSwitch;
    if (!this.treeView || !this.mapView || !sw) return;
    const changed = view !== this.view;
    this.view = view;
    this.saved.view = view;
    sw.tree.setAttribute('aria-pressed', String(view === 'tree'));
    sw.map.setAttribute('aria-pressed', String(view === 'map'));
    sw.toolbar.classList.toggle('map-mode', view === 'map');
    this.tooltip.hide();
    if (view === 'map') {
      this.treeView.element.hidden = true;
      this.mapView.show();
      if (focus) this.mapView.focus();
    } else {
      this.mapView.hide();
      this.treeView.element.hidden = false;
      // A module chosen in the map was revealed while the tree was hidden: scroll to it now.
      const sel = this.saved.selected;
      const id = sel !== null ? this.tree?.byPath.get(sel) : undefined;
      if (changed && id !== undefined) this.treeView.reveal(id, false);
      else this.treeView.refresh();
      if (focus) this.treeView.focus();
    }
    if (changed) this.scheduleSave();
  }

  /**
   * The Export button's menu: the exports the host offers (the core's registry), a separator
   * between groups, and "Copy as Markdown" after the Markdown export.
   */
  private buildExportMenu(): HTMLElement {
    const menu = h('vscode-context-menu', { class: 'export-menu' });
    const items: { label?: string; value?: string; separator?: boolean }[] = [];
    let group: string | undefined;
    for (const e of this.exports) {
      if (group !== undefined && e.group !== group) items.push({ separator: true });
      group = e.group;
      items.push({ label: e.menuLabel, value: e.id });
      if (e.id === 'markdown') items.push({ label: 'Copy as Markdown', value: 'copy' });
    }
    menu.data = items;
    menu.addEventListener('vsc-context-menu-select', (ev) => {
      const value = (ev as CustomEvent<{ value: string }>).detail.value;
      if (value === 'copy') this.rpc.notify('copyMarkdown');
      else if (value) this.rpc.notify('export', { format: value });
    });
    const names = this.exports.map((e) => e.menuLabel.replace(/^Export (?:report )?(map )?as /, '$1').replace(/…$/, '').replace(/ \(.*\)$/, ''));
    const button = h('vscode-toolbar-button', { icon: 'export', label: 'Export', title: `Export the hierarchy (${names.join(', ')})` }, 'Export');
    button.addEventListener('click', (ev) => {
      ev.stopPropagation();
      menu.show = !menu.show;
    });
    return h('span', { class: 'menu-anchor' }, button, menu);
  }

  private buildTree(): TreeView {
    const treeView = new TreeView({
      select: (row) => this.onSelectRow(row),
      describe: (row, anchor, peers) => {
        this.describeRow(row, anchor, peers);
      },
      changed: () => this.scheduleSave(),
      failed: (e) => this.requestFailed(e),
      shown: (paths) => this.cache.prefetchHeads(paths, CARD_TENSORS).catch((e) => this.requestFailed(e)),
    });
    treeView.numberFormat = this.settings.numberFormat;
    this.treeView = treeView;
    return treeView;
  }

  private buildMap(): MapView {
    const mapView = new MapView({
      select: (id) => {
        const path = this.mapSource?.node(id).path;
        if (path === undefined) return;
        if (this.treeView) {
          this.treeView.selectedKey = domPath(path);
          this.treeView.reveal(id, false);
        }
        this.selectPath(path);
      },
      describe: (cell, anchor) => this.describeMapCell(cell, anchor),
      changed: () => this.scheduleSave(),
    });
    mapView.numberFormat = this.settings.numberFormat;
    this.mapView = mapView;
    return mapView;
  }

  /** The map's hover card: the tree's card for the module or run the cell stands for. */
  private describeMapCell(cell: MapCell | null, anchor: HTMLElement | null): void {
    const ctx = this.tooltipContext();
    const row = cell && this.tree ? cellRow(this.tree, cell) : null;
    if (!cell || !ctx) {
      this.tooltip.hide();
      this.table?.setHighlight([]);
      return;
    }
    if (!row) {
      if (this.mapSource) this.tooltip.show(anchor, () => moreCard(cell, this.mapSource!, this.settings.numberFormat, !!cell.parent?.parent));
      this.table?.setHighlight([]);
      return;
    }
    const peers = rowPeers(ctx.tree, row);
    this.tooltip.show(anchor, () => mapCard(rowCard(ctx, row, peers)));
    this.table?.setHighlight(peers.map((p) => p.other));
  }

  /** The Tensors panel's table: pages from the host, type-ahead answered by the worker. */
  private buildTensorTable(): TensorTable {
    const table = new TensorTable({
      open: (t) => void this.revealTensor(t.name),
      // A newer search supersedes the one still on its way.
      find: (path, prefix, from) => this.tensors({ kind: 'find', path, subtree: true, prefix, from }, { supersede: 'find' }),
      scrolled: () => this.scheduleSave(),
      resized: (w) => {
        this.saved.columns = w;
        this.scheduleSave();
      },
      hover: (t, el) => {
        if (!t || !this.tree || !this.groups) {
          this.treeView?.setExternalPeers(null);
          this.tooltip.hide();
          return;
        }
        const peers = tensorPeers(this.groups, t.name, t.group);
        this.treeView?.setExternalPeers(peers.length ? peers : null);
        const ctx = this.tooltipContext();
        if (ctx) this.tooltip.show(el, () => tensorCard(ctx, t, peers));
      },
    });
    table.cache = this.cache;
    table.groups = this.groups;
    table.numberFormat = this.settings.numberFormat;
    table.columnWidths = this.saved.columns;
    return table;
  }

  /** The details area: one tab per registered panel (./panels), the saved one selected. */
  private buildPanels(): HTMLElement {
    const p = this.head!;
    const ctx = { summary: p.summary, groups: p.topGroups, table: this.table!, openMetadata: () => this.rpc.notify('openMetadata') };
    const tabs = h('vscode-tabs', { panel: true });
    // A panel is drawn when first shown (the first paint has the summary, the tree and the table).
    const bodies: HTMLElement[] = [];
    const drawn = new Set<number>();
    const draw = (i: number) => {
      if (drawn.has(i) || !PANELS[i]) return;
      drawn.add(i);
      bodies[i].append(PANELS[i].render(ctx));
    };
    PANELS.forEach((panel, i) => {
      bodies.push(h('vscode-tab-panel', null));
      tabs.append(h('vscode-tab-header', { slot: 'header', 'data-panel': panel.id }, panel.title(p.summary)), bodies[i]);
    });
    draw(0);
    tabs.addEventListener('vsc-tabs-select', (ev) => {
      const i = (ev as CustomEvent<{ selectedIndex: number }>).detail.selectedIndex;
      draw(i);
      this.saved.tab = i;
      this.scheduleSave();
    });
    this.tabs = tabs;
    // Select the saved tab once the tabs element has upgraded.
    const tab = this.saved.tab;
    draw(tab);
    requestAnimationFrame(() => {
      if (this.tabs && tab) this.tabs.selectedIndex = tab;
    });
    return tabs;
  }

  /** Tree above, details below, the handle where the user left it. */
  private buildSplit(tree: HTMLElement, details: HTMLElement): HTMLElement {
    const split = h(
      'vscode-split-layout',
      { split: 'horizontal', 'initial-handle-position': '62%', 'handle-position': this.saved.split ?? '62%', 'min-start': '120px', 'min-end': '90px' },
      h('div', { slot: 'start', class: 'pane' }, tree),
      h('div', { slot: 'end', class: 'pane' }, details),
    );
    split.addEventListener('vsc-split-layout-change', (ev) => {
      const d = (ev as CustomEvent<{ positionInPercentage: number }>).detail;
      if (d && typeof d.positionInPercentage === 'number') {
        this.saved.split = `${d.positionInPercentage.toFixed(1)}%`;
        this.scheduleSave();
      }
    });
    this.split = split;
    return split;
  }

  /** The toolbar shows the tree state's filter and sort (after a restore). */
  private syncToolbar(): void {
    const st = this.state;
    if (!st) return;
    if (this.search) this.search.value = st.filter.text;
    if (this.regex) this.regex.checked = st.filter.regex;
    if (this.sort) this.sort.value = st.sort;
  }

  /** Run a filter in the worker (over the whole tree) and show its matches. */
  private async runFilter(f: Filter): Promise<void> {
    const st = this.state;
    const tree = this.tree;
    if (!st || !tree) return;
    const seq = ++this.filterSeq;
    const c = compileFilter(f);
    if (!c || 'error' in c) {
      st.setFilter(f);
      this.updateFilterStatus();
      this.treeView?.refresh();
      return;
    }
    if (this.filterStatus) this.filterStatus.textContent = 'searching…';
    try {
      const r = await this.rpc.call('search', { generation: this.generation, query: { text: f.text, regex: f.regex, limit: SEARCH_LIMIT } }, this.callOptions({ supersede: 'search' }));
      if (seq !== this.filterSeq || tree !== this.tree) return;
      tree.add(r.nodes);
      st.setFilterResult(f, r);
    } catch (e) {
      if (seq === this.filterSeq) this.requestFailed(e);
      return;
    }
    this.updateFilterStatus();
    this.treeView?.refresh();
  }

  /** Apply the filter and sort as the user changes them. */
  private wireFilter(toolbar: ReturnType<App['buildToolbar']>, treeView: TreeView): void {
    const { search, regex, sort } = toolbar;
    this.syncToolbar();
    const applyFilter = () => {
      void this.runFilter({ text: search.value, regex: !!regex.checked }).then(() => this.scheduleSave());
    };
    search.addEventListener('input', () => {
      clearTimeout(this.filterTimer);
      this.filterTimer = setTimeout(applyFilter, 120);
    });
    search.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && search.value) {
        search.value = '';
        applyFilter();
      } else if (ev.key === 'Enter' || ev.key === 'ArrowDown') {
        ev.preventDefault();
        clearTimeout(this.filterTimer);
        applyFilter();
        treeView.focus();
      }
    });
    regex.addEventListener('change', applyFilter);
    sort.addEventListener('change', () => {
      const st = this.state;
      if (!st) return;
      st.sort = sort.value === 'size' ? 'size' : 'natural';
      treeView.refresh();
      this.scheduleSave();
    });
  }

  private updateFilterStatus(): void {
    const st = this.state;
    const el = this.filterStatus;
    if (!st || !el) return;
    el.classList.toggle('error', !!st.filterError);
    if (st.filterError) el.textContent = 'invalid regex';
    else if (st.filtering) {
      const n = st.matchCount;
      const more = n > st.matchShown ? `first ${exactCount(st.matchShown)} of ` : '';
      el.textContent = `${more}${n === 1 ? '1 match' : `${exactCount(n)} matches`}${st.matchPartial ? ' (search stopped early)' : ''}`;
    } else el.textContent = '';
    el.title = st.filterError ?? (st.matchPartial ? 'The search took too long and stopped; the count is of the modules it looked at.' : '');
    if (this.search) this.search.invalid = !!st.filterError;
    // Nothing matches: say so under the (root) row rather than leaving the tree looking empty.
    const text = st.filter.text.trim();
    this.treeView?.setEmptyMessage(st.filtering && st.matchCount === 0 ? `No module matches “${text}” (the filter looks at module paths and types).` : null);
  }

  private setLoadStatus(text: string, title = ''): void {
    if (!this.loadStatus) return;
    this.loadStatus.textContent = text;
    this.loadStatus.title = title;
  }

  /**
   * Expand all, bounded: say how many rows it makes, open everything at once (rows not loaded
   * are placeholders) and load the tree in pages, in order, while the rows fill in.
   */
  private expandAll(): void {
    const st = this.state;
    if (!st || !this.treeView) return;
    const rows = st.allRows;
    if (rows > MAX_EXPAND_ALL_ROWS) {
      this.setLoadStatus(`expand all would show ${exactCount(rows)} rows: expand modules one at a time`);
      return;
    }
    st.expandAll();
    this.treeView.refresh();
    this.scheduleSave();
    void this.loadEverything(this.generation);
  }

  private async loadEverything(generation: number): Promise<void> {
    const tree = this.tree;
    const st = this.state;
    if (!tree || !st) return;
    const rows = exactCount(st.allRows);
    for (let from = 0; from < tree.moduleCount; from += EXPAND_ALL_PAGE) {
      if (generation !== this.generation || tree !== this.tree || !st.allOpen) return;
      if (tree.size >= tree.moduleCount) break;
      this.setLoadStatus(`${rows} rows · loading ${exactCount(Math.min(tree.moduleCount, from + EXPAND_ALL_PAGE))} of ${exactCount(tree.moduleCount)} modules…`);
      try {
        await tree.loadRange(from, EXPAND_ALL_PAGE);
      } catch (e) {
        this.requestFailed(e);
        this.setLoadStatus('');
        return;
      }
    }
    if (generation === this.generation && st.allOpen) this.setLoadStatus(`${rows} rows`, 'Every module expanded and every run of blocks unfolded');
  }

  private showPanel(id: string): void {
    if (!this.tabs) {
      // The pickle view has sections, not tabs.
      this.root.querySelector(`[data-panel-section="${CSS.escape(id)}"]`)?.scrollIntoView({ block: 'start' });
      return;
    }
    const index = panelIndex(id);
    this.tabs.selectedIndex = index;
    this.tabs.dispatchEvent(new CustomEvent('vsc-tabs-select', { detail: { selectedIndex: index } }));
    this.saved.tab = index;
    this.scheduleSave();
    this.split?.scrollIntoView?.({ block: 'nearest' });
  }

  private tooltipContext(): TooltipContext | undefined {
    if (!this.tree || !this.groups) return undefined;
    const state = this.state;
    return {
      tree: this.tree,
      groups: this.groups,
      cache: this.cache,
      numberFormat: this.settings.numberFormat,
      rootLabel: this.rootLabel(),
      filteredOut: state ? (owner) => filteredOut(state, owner) : undefined,
    };
  }

  private describeRow(row: Row | null, anchor: HTMLElement | null, peers: ReturnType<typeof tensorPeers>): void {
    const ctx = this.tooltipContext();
    if (!row || !ctx) {
      this.tooltip.hide();
      this.table?.setHighlight([]);
      return;
    }
    this.tooltip.show(anchor, () => rowCard(ctx, row, peers));
    this.table?.setHighlight(peers.map((p) => p.other));
  }

  /** A tree row was selected: its module, or a folded run's first block. */
  private onSelectRow(row: Row): void {
    const n = this.tree?.node(selectionTarget(row));
    if (n) this.selectPath(n.path);
  }

  /** Enter on a tensor-table row: reveal and select the module that owns the tensor. */
  private async revealTensor(name: string): Promise<void> {
    const tree = this.tree;
    if (!tree) return;
    let id: number;
    try {
      [id] = await tree.locate({ tensors: [name] });
    } catch (e) {
      this.requestFailed(e);
      return;
    }
    const n = tree === this.tree && id >= 0 ? tree.node(id) : undefined;
    if (!n) return;
    if (this.treeView) {
      this.treeView.selectedKey = domPath(n.path);
      this.treeView.reveal(id, false);
    }
    this.selectPath(n.path, { activeName: name });
  }

  private selectPath(path: string | null, opts: { tableScrollTop?: number; activeName?: string } = {}): void {
    this.saved.selected = path;
    const tree = this.tree;
    if (!tree || !this.table) return;
    if (path === null) {
      this.mapView?.setSelected(-1);
      // Nothing chosen yet: list the whole model.
      this.table.show('', this.rootLabel(), tree.root.m.tensorCount, { scrollTop: opts.tableScrollTop });
      return;
    }
    const id = tree.byPath.get(path);
    const n = id !== undefined ? tree.node(id) : undefined;
    if (!n) return;
    this.mapView?.setSelected(n.id);
    // A block of a folded run says so: clicking `(0-11): 12 x Block` lists block 0.
    const fold = foldContext(tree, n.id);
    const note = fold ? `block ${n.name} of ${foldLabel(fold.run)}` : undefined;
    this.table.show(path, path || this.rootLabel(), n.m.tensorCount, { note, scrollTop: opts.tableScrollTop, activeName: opts.activeName });
    this.rpc.notify('selected', { path });
    this.scheduleSave();
  }

  // ------------------------------------------------------------------------------ persistence

  private scheduleSave(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => this.saveNow(), 60);
  }

  private saveNow(): void {
    clearTimeout(this.saveTimer);
    if (this.state) {
      const tree = this.state.persist();
      if (tree.expanded && tree.expanded.length > MAX_SAVED_EXPANDED) tree.expanded = null;
      this.saved.tree = tree;
    }
    if (this.treeView) this.saved.scrollTop = this.treeView.scrollTop;
    if (this.mapView) this.saved.mapZoom = this.mapView.zoomKey;
    if (this.table) this.saved.tableScrollTop = this.table.scrollTop;
    this.api.setState(this.saved);
  }
}
