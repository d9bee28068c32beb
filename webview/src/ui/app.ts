/**
 * The webview application: serves `WebviewApi` to the host and calls `HostApi` on it over the
 * typed RPC, keeps the view state across tab switches (setState), and wires the summary,
 * toolbar, tree, tooltip and details panels.
 */
import { exactCount } from '../../../src/shared/format';
import { ExportChoice, HostApi, HostCommand, domPath, ModelPayload, PROTOCOL_VERSION, TensorPage, TensorQuery, ViewSettings, WebviewApi } from '../../../src/shared/protocol';
import { CallOptions, Handlers, RpcEndpoint } from '../../../src/shared/rpc';
import { filteredOut, indexSharing, SharingIndex, tensorPeers } from '../data/shared';
import { TensorCache } from '../data/tensorCache';
import { foldContext, foldLabel, ModelTree, PersistedTree, Row, selectionTarget, TreeState } from '../data/tree';
import { getApi, hostTransport } from './api';
import { clear, h, icon } from './dom';
import { panelIndex, PANELS } from './panels';
import { renderSummary } from './summary';
import { TensorTable } from './tensorTable';
import { rowCard, tensorCard, Tooltip, TooltipContext } from './tooltip';
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
}

/** How long the webview waits for a tensor page. */
const TENSORS_TIMEOUT_MS = 30000;
/** Expanded-set sizes above this are not saved (the default depth is used instead). */
const MAX_SAVED_EXPANDED = 5000;

export class App {
  private readonly api = getApi<SavedState>();
  private readonly rpc: RpcEndpoint<WebviewApi, HostApi>;
  /** Aborted when the model is replaced or unloaded: its tensor requests are moot. */
  private modelCalls = new AbortController();
  private readonly root: HTMLElement;
  private readonly tooltip = new Tooltip();
  private generation = -1;
  private settings: ViewSettings = { expandDepth: 2, numberFormat: 'compact' };
  private payload?: ModelPayload;
  private exports: ExportChoice[] = [];
  private tree?: ModelTree;
  private state?: TreeState;
  private sharing?: SharingIndex;
  private readonly cache: TensorCache;
  private treeView?: TreeView;
  private table?: TensorTable;
  private tabs?: HTMLElementTagNameMap['vscode-tabs'];
  private split?: HTMLElementTagNameMap['vscode-split-layout'];
  private filterStatus?: HTMLElement;
  private search?: HTMLElementTagNameMap['vscode-textfield'];
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
    this.cache = new TensorCache((query) => this.tensors(query));
    window.addEventListener('keydown', (ev) => {
      if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && ev.key.toLowerCase() === 'f' && this.search) {
        ev.preventDefault();
        this.search.focus();
      }
    });
    // The webview is torn down on a tab switch: save what is pending before it goes.
    window.addEventListener('pagehide', () => this.saveNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') this.saveNow();
    });
    this.showStatus('loading', 'Opening…');
    this.rpc.notify('ready', { protocol: PROTOCOL_VERSION });
  }

  // ------------------------------------------------------------------------------ messages

  private handlers(): Handlers<WebviewApi> {
    return {
      loading: (m) => {
        if (!m.reloading || !this.payload) this.showStatus('loading', `Reading the headers of ${m.fileName}…`);
      },
      error: (m) => this.showError(m.fileName, m.message, m.code),
      model: (m) => {
        this.exports = m.exports;
        this.showModel(m.generation, m.settings, m.payload);
      },
      settings: (s) => this.applySettings(s),
      command: (m) => this.onCommand(m.command),
    };
  }

  /** A page of tensor descriptions of the model shown now. */
  private tensors(query: TensorQuery, opts: CallOptions = {}): Promise<TensorPage> {
    return this.rpc.call('tensors', { generation: this.generation, query }, { timeoutMs: TENSORS_TIMEOUT_MS, signal: this.modelCalls.signal, ...opts });
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
        this.state.expandAll();
        this.treeView.refresh();
        this.scheduleSave();
        break;
      case 'collapseAll':
        this.state.collapseAll();
        this.treeView.refresh();
        this.scheduleSave();
        break;
      case 'focusSearch':
        this.search?.focus();
        break;
      case 'showMetadata':
        this.showPanel('metadata');
        break;
    }
  }

  // ------------------------------------------------------------------------------ states

  private showStatus(kind: 'loading', text: string): void {
    this.tooltip.hide();
    this.payload = undefined;
    clear(this.root);
    this.root.dataset.state = kind;
    this.root.append(
      h('div', { class: 'status-view', 'data-testid': 'loading' }, h('div', { class: 'status-line' }, h('vscode-progress-ring', { 'aria-label': 'Loading' }), h('span', null, text))),
    );
  }

  private showError(fileName: string, message: string, code?: string): void {
    this.tooltip.hide();
    this.payload = undefined;
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
          code ? h('span', { class: 'muted' }, `error code: ${code}`) : null,
        ),
      ),
    );
  }

  private applySettings(s: ViewSettings): void {
    const formatChanged = s.numberFormat !== this.settings.numberFormat;
    this.settings = s;
    if (!this.payload || !formatChanged) return;
    if (this.treeView) {
      this.treeView.numberFormat = s.numberFormat;
      this.treeView.redraw();
    }
    if (this.table) {
      this.table.numberFormat = s.numberFormat;
      this.table.render();
    }
    const header = this.root.querySelector('header.summary');
    if (header) header.replaceWith(this.renderHeader());
  }

  private showModel(generation: number, settings: ViewSettings, payload: ModelPayload): void {
    const reload = this.payload !== undefined && this.tree !== undefined && this.saved.path === payload.summary.path;
    // Keep what the user was looking at across reloads and tab switches.
    if (reload) this.saveNow();
    this.generation = generation;
    this.settings = settings;
    this.payload = payload;
    this.cache.reset();
    this.cancelModelCalls();
    this.tooltip.hide();

    const tree = new ModelTree(payload.modules, payload.strings);
    const state = new TreeState(tree);
    const saved = this.saved.path === payload.summary.path ? this.saved : undefined;
    state.expandToDepth(settings.expandDepth);
    if (saved?.tree) state.restore(saved.tree);
    this.tree = tree;
    this.state = state;
    this.sharing = indexSharing(tree, payload.groups);
    this.saved = saved ?? { v: 1, path: payload.summary.path, selected: null, scrollTop: 0, tab: 0 };
    this.saved.path = payload.summary.path;
    this.buildLayout();
    const sel = saved?.selected ?? null;
    if (sel !== null && tree.byPath.has(sel)) {
      // The expansion was restored with the rest: mark the selection without unfolding anything.
      this.treeView?.markSelected(sel);
      this.selectPath(sel, { tableScrollTop: saved?.tableScrollTop });
    } else {
      this.selectPath(null, { tableScrollTop: saved?.tableScrollTop });
    }
    if (saved) {
      const top = saved.scrollTop;
      requestAnimationFrame(() => {
        if (this.treeView) this.treeView.scrollTop = top;
      });
    }
  }

  private rootLabel(): string {
    return this.payload?.summary.fileName ?? 'model';
  }

  private renderHeader(): HTMLElement {
    const p = this.payload!;
    return renderSummary(p.summary, p.groups, this.settings.numberFormat, {
      showPanel: (id) => this.showPanel(id),
      reload: () => this.rpc.notify('reload'),
    });
  }

  /** The whole view for a model: summary, toolbar, and the tree over the details panels. */
  private buildLayout(): void {
    clear(this.root);
    this.root.dataset.state = 'model';
    const toolbar = this.buildToolbar();
    const treeView = this.buildTree();
    this.table = this.buildTensorTable();
    const split = this.buildSplit(treeView.element, this.buildPanels());
    this.root.append(this.renderHeader(), toolbar.element, split);
    this.wireFilter(toolbar, treeView);
    treeView.setModel(this.tree!, this.state!, this.sharing!, this.rootLabel());
    this.updateFilterStatus();
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
    const sort = h(
      'vscode-single-select',
      { 'aria-label': 'Sort', title: 'Order of modules' },
      h('vscode-option', { value: 'natural' }, 'File order'),
      h('vscode-option', { value: 'size' }, 'Largest first'),
    );
    const element = h(
      'div',
      { class: 'toolbar', role: 'toolbar', 'aria-label': 'Hierarchy' },
      search,
      status,
      sort,
      h('vscode-toolbar-button', { icon: 'expand-all', label: 'Expand all', title: 'Expand all', onclick: () => this.onCommand('expandAll') }),
      h('vscode-toolbar-button', { icon: 'collapse-all', label: 'Collapse all', title: 'Collapse all', onclick: () => this.onCommand('collapseAll') }),
      h('span', { class: 'spacer' }),
      h('vscode-toolbar-button', { icon: 'file-media', label: 'Export as SVG', title: 'Export as SVG', onclick: () => this.rpc.notify('export', { format: 'svg' }) }),
      h('vscode-toolbar-button', { icon: 'copy', label: 'Copy as Markdown', title: 'Copy as Markdown', onclick: () => this.rpc.notify('copyMarkdown') }),
      this.buildExportMenu(),
    );
    this.search = search;
    this.filterStatus = status;
    return { element, search, regex, sort };
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
    const names = this.exports.map((e) => e.menuLabel.replace(/^Export (report )?as /, '').replace(/…$/, '').replace(/ \(.*\)$/, ''));
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
    });
    treeView.numberFormat = this.settings.numberFormat;
    this.treeView = treeView;
    return treeView;
  }

  /** The Tensors panel's table: pages from the host, type-ahead answered by the worker. */
  private buildTensorTable(): TensorTable {
    const table = new TensorTable({
      open: (t) => this.revealTensor(t.name),
      // A newer search supersedes the one still on its way.
      find: (path, prefix, from) => this.tensors({ kind: 'find', path, subtree: true, prefix, from }, { supersede: 'find' }),
      scrolled: () => this.scheduleSave(),
      hover: (t, el) => {
        if (!t || !this.tree || !this.sharing) {
          this.treeView?.setExternalPeers(null);
          this.tooltip.hide();
          return;
        }
        const peers = tensorPeers(this.tree, this.sharing, t.name);
        this.treeView?.setExternalPeers(peers.length ? peers : null);
        const ctx = this.tooltipContext();
        if (ctx) this.tooltip.show(el, () => tensorCard(ctx, t, peers));
      },
    });
    table.cache = this.cache;
    table.sharing = this.sharing;
    table.numberFormat = this.settings.numberFormat;
    return table;
  }

  /** The details area: one tab per registered panel (./panels), the saved one selected. */
  private buildPanels(): HTMLElement {
    const p = this.payload!;
    const ctx = { summary: p.summary, groups: p.groups, table: this.table!, openMetadata: () => this.rpc.notify('openMetadata') };
    const tabs = h('vscode-tabs', { panel: true });
    for (const panel of PANELS) {
      tabs.append(h('vscode-tab-header', { slot: 'header', 'data-panel': panel.id }, panel.title(p.summary)), h('vscode-tab-panel', null, panel.render(ctx)));
    }
    tabs.addEventListener('vsc-tabs-select', (ev) => {
      this.saved.tab = (ev as CustomEvent<{ selectedIndex: number }>).detail.selectedIndex;
      this.scheduleSave();
    });
    this.tabs = tabs;
    // Select the saved tab once the tabs element has upgraded.
    const tab = this.saved.tab;
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

  /** Restore the filter and sort from the tree state, then apply them as the user changes them. */
  private wireFilter(toolbar: ReturnType<App['buildToolbar']>, treeView: TreeView): void {
    const { search, regex, sort } = toolbar;
    const st = this.state!;
    search.value = st.filter.text;
    regex.checked = st.filter.regex;
    sort.value = st.sort;
    const applyFilter = () => {
      st.setFilter({ text: search.value, regex: !!regex.checked });
      this.updateFilterStatus();
      treeView.refresh();
      this.scheduleSave();
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
    else if (st.filtering) el.textContent = st.matchCount === 1 ? '1 match' : `${exactCount(st.matchCount)} matches`;
    else el.textContent = '';
    el.title = st.filterError ?? '';
    if (this.search) this.search.invalid = !!st.filterError;
    // Nothing matches: say so under the (root) row rather than leaving the tree looking empty.
    const text = st.filter.text.trim();
    this.treeView?.setEmptyMessage(st.filtering && st.matchCount === 0 ? `No module matches “${text}” (the filter looks at module paths and types).` : null);
  }

  private showPanel(id: string): void {
    if (!this.tabs) return;
    const index = panelIndex(id);
    this.tabs.selectedIndex = index;
    this.saved.tab = index;
    this.scheduleSave();
    this.split?.scrollIntoView?.({ block: 'nearest' });
  }

  private tooltipContext(): TooltipContext | undefined {
    if (!this.tree || !this.sharing) return undefined;
    const state = this.state;
    return {
      tree: this.tree,
      sharing: this.sharing,
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
    if (this.tree) this.selectPath(this.tree.nodes[selectionTarget(row)].path);
  }

  /** Enter on a tensor-table row: reveal and select the module that owns the tensor. */
  private revealTensor(name: string): void {
    const tree = this.tree;
    if (!tree) return;
    const path = tree.nodes[tree.ownerOf(name)].path;
    if (this.treeView) {
      this.treeView.selectedKey = domPath(path);
      this.treeView.reveal(path, false);
    }
    this.selectPath(path, { activeName: name });
  }

  private selectPath(path: string | null, opts: { tableScrollTop?: number; activeName?: string } = {}): void {
    this.saved.selected = path;
    const tree = this.tree;
    if (!tree || !this.table) return;
    if (path === null) {
      // Nothing chosen yet: list the whole model.
      this.table.show('', this.rootLabel(), tree.root.m.tensorCount, { scrollTop: opts.tableScrollTop });
      return;
    }
    const id = tree.byPath.get(path);
    if (id === undefined) return;
    // A block of a folded run says so: clicking `(0-11): 12 x Block` lists block 0.
    const fold = foldContext(tree, id);
    const note = fold ? `block ${tree.nodes[id].name} of ${foldLabel(fold.run)}` : undefined;
    this.table.show(path, path || this.rootLabel(), tree.nodes[id].m.tensorCount, { note, scrollTop: opts.tableScrollTop, activeName: opts.activeName });
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
    if (this.table) this.saved.tableScrollTop = this.table.scrollTop;
    this.api.setState(this.saved);
  }
}
