/**
 * The webview application: talks to the host through the shared protocol, keeps the view state
 * across tab switches (setState), and wires the summary, toolbar, tree, tooltip and details.
 */
import { exactCount } from '../data/format';
import { filteredOut, indexSharing, SharingIndex, tensorPeers } from '../data/shared';
import { TensorCache } from '../data/tensorCache';
import { foldContext, foldLabel, ModelTree, PersistedTree, Row, selectionTarget, TreeState } from '../data/tree';
import {
  domPath,
  ExportFormat,
  HostMessage,
  HostRequests,
  isHostMessage,
  ModelPayload,
  PendingRequests,
  PROTOCOL_VERSION,
  ResponseMessage,
  ViewSettings,
  WebviewMessage,
  WebviewRequests,
} from '../shared/protocol';
import { getApi } from './api';
import { renderMetadata, renderSafety, renderWarnings } from './details';
import { clear, h, icon } from './dom';
import { svgToPng } from './png';
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

const TAB_INDEX = { tensors: 0, metadata: 1, warnings: 2, safety: 3 } as const;
/** Expanded-set sizes above this are not saved (the default depth is used instead). */
const MAX_SAVED_EXPANDED = 5000;

export class App {
  private readonly api = getApi<SavedState>();
  private readonly requests = new PendingRequests<WebviewRequests>();
  private readonly root: HTMLElement;
  private readonly tooltip = new Tooltip();
  private generation = -1;
  private settings: ViewSettings = { expandDepth: 2, numberFormat: 'compact' };
  private payload?: ModelPayload;
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
  private selected: string | null = null;

  constructor(root: HTMLElement) {
    this.root = root;
    this.saved = this.api.getState() ?? { v: 1, selected: null, scrollTop: 0, tab: 0 };
    this.cache = new TensorCache((query) => {
      const { message, result } = this.requests.create('tensors', { generation: this.generation, query }, 30000);
      this.post(message);
      return result;
    });
    window.addEventListener('message', (ev: MessageEvent) => {
      if (isHostMessage(ev.data)) this.onMessage(ev.data);
    });
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
    this.post({ type: 'ready', protocol: PROTOCOL_VERSION });
  }

  private post(m: WebviewMessage): void {
    this.api.postMessage(m);
  }

  // ------------------------------------------------------------------------------ messages

  private onMessage(m: HostMessage): void {
    switch (m.type) {
      case 'loading':
        if (!m.reloading || !this.payload) this.showStatus('loading', `Reading the headers of ${m.fileName}…`);
        break;
      case 'error':
        this.showError(m.fileName, m.message, m.code);
        break;
      case 'model':
        this.showModel(m.generation, m.settings, m.payload);
        break;
      case 'settings':
        this.applySettings(m.settings);
        break;
      case 'command':
        this.onCommand(m.command);
        break;
      case 'response':
        this.requests.settle(m);
        break;
      case 'request':
        void this.onRequest(m);
        break;
    }
  }

  private async onRequest(m: Extract<HostMessage, { type: 'request' }>): Promise<void> {
    const reply = (r: ResponseMessage<HostRequests>) => this.post(r);
    try {
      if (m.method === 'renderPng') {
        const result = await svgToPng(m.params.svg, m.params.scale);
        reply({ type: 'response', id: m.id, method: 'renderPng', ok: true, result });
      } else if (m.method === 'viewState') {
        const expandedPaths = this.state ? this.state.persist().expanded ?? [] : [];
        reply({ type: 'response', id: m.id, method: 'viewState', ok: true, result: { expandedPaths, selected: this.selected } });
      }
    } catch (e) {
      reply({ type: 'response', id: m.id, method: m.method, ok: false, error: e instanceof Error ? e.message : String(e) } as ResponseMessage<HostRequests>);
    }
  }

  private onCommand(c: 'expandAll' | 'collapseAll' | 'focusSearch' | 'showMetadata'): void {
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
        this.showTab(TAB_INDEX.metadata);
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
    this.requests.rejectAll('the model was unloaded');
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
          h('vscode-button', { icon: 'refresh', onclick: () => this.post({ type: 'reload' }) }, 'Try again'),
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
    this.requests.rejectAll('the model was reloaded');
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
      showTab: (t) => this.showTab(TAB_INDEX[t]),
      reload: () => this.post({ type: 'reload' }),
    });
  }

  private buildLayout(): void {
    const p = this.payload!;
    clear(this.root);
    this.root.dataset.state = 'model';
    const header = this.renderHeader();

    // Toolbar: filter (text or regex), sort, expand/collapse, export.
    // The filter matches a module's dotted path (`transformer.h.0.attn`) or its type.
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
    const exportMenu = h('vscode-context-menu', { class: 'export-menu' });
    exportMenu.data = [
      { label: 'Export as SVG…', value: 'svg' },
      { label: 'Export as PNG…', value: 'png' },
      { separator: true },
      { label: 'Export as Markdown…', value: 'markdown' },
      { label: 'Copy as Markdown', value: 'copy' },
      { separator: true },
      { label: 'Export as text (print(model))…', value: 'text' },
      { label: 'Export as Mermaid…', value: 'mermaid' },
      { label: 'Export report as JSON…', value: 'json' },
    ];
    exportMenu.addEventListener('vsc-context-menu-select', (ev) => {
      const value = (ev as CustomEvent<{ value: string }>).detail.value;
      if (value === 'copy') this.post({ type: 'copyMarkdown' });
      else if (value) this.post({ type: 'export', format: value as ExportFormat });
    });
    const exportButton = h('vscode-toolbar-button', { icon: 'export', label: 'Export', title: 'Export the hierarchy (SVG, PNG, Markdown, text, Mermaid, JSON)' }, 'Export');
    exportButton.addEventListener('click', (ev) => {
      ev.stopPropagation();
      exportMenu.show = !exportMenu.show;
    });
    const toolbar = h(
      'div',
      { class: 'toolbar', role: 'toolbar', 'aria-label': 'Hierarchy' },
      search,
      status,
      sort,
      h('vscode-toolbar-button', { icon: 'expand-all', label: 'Expand all', title: 'Expand all', onclick: () => this.onCommand('expandAll') }),
      h('vscode-toolbar-button', { icon: 'collapse-all', label: 'Collapse all', title: 'Collapse all', onclick: () => this.onCommand('collapseAll') }),
      h('span', { class: 'spacer' }),
      h('vscode-toolbar-button', { icon: 'file-media', label: 'Export as SVG', title: 'Export as SVG', onclick: () => this.post({ type: 'export', format: 'svg' }) }),
      h('vscode-toolbar-button', { icon: 'copy', label: 'Copy as Markdown', title: 'Copy as Markdown', onclick: () => this.post({ type: 'copyMarkdown' }) }),
      h('span', { class: 'menu-anchor' }, exportButton, exportMenu),
    );
    this.search = search;
    this.filterStatus = status;

    // Tree.
    const treeView = new TreeView({
      select: (row) => this.onSelectRow(row),
      describe: (row, anchor, peers) => {
        this.describeRow(row, anchor, peers);
      },
      changed: () => this.scheduleSave(),
    });
    treeView.numberFormat = this.settings.numberFormat;
    this.treeView = treeView;

    // Details: tensors, metadata, warnings, safety.
    const table = new TensorTable({
      open: (t) => this.revealTensor(t.name),
      find: (path, prefix, from) => {
        const { message, result } = this.requests.create('tensors', { generation: this.generation, query: { kind: 'find', path, subtree: true, prefix, from } }, 30000);
        this.post(message);
        return result;
      },
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
    this.table = table;
    const warnCount = p.summary.warningCount;
    const tabs = h(
      'vscode-tabs',
      { panel: true },
      h('vscode-tab-header', { slot: 'header' }, 'Tensors'),
      h('vscode-tab-panel', null, table.element),
      h('vscode-tab-header', { slot: 'header' }, 'Metadata'),
      h('vscode-tab-panel', null, renderMetadata(p.summary, () => this.post({ type: 'openMetadata' }))),
      h('vscode-tab-header', { slot: 'header' }, warnCount ? `Warnings (${warnCount})` : 'Warnings'),
      h('vscode-tab-panel', null, renderWarnings(p.summary)),
      h('vscode-tab-header', { slot: 'header' }, 'Safety'),
      h('vscode-tab-panel', null, renderSafety(p.summary)),
    );
    tabs.addEventListener('vsc-tabs-select', (ev) => {
      this.saved.tab = (ev as CustomEvent<{ selectedIndex: number }>).detail.selectedIndex;
      this.scheduleSave();
    });
    this.tabs = tabs;
    const split = h(
      'vscode-split-layout',
      { split: 'horizontal', 'initial-handle-position': '62%', 'handle-position': this.saved.split ?? '62%', 'min-start': '120px', 'min-end': '90px' },
      h('div', { slot: 'start', class: 'pane' }, treeView.element),
      h('div', { slot: 'end', class: 'pane' }, tabs),
    );
    split.addEventListener('vsc-split-layout-change', (ev) => {
      const d = (ev as CustomEvent<{ positionInPercentage: number }>).detail;
      if (d && typeof d.positionInPercentage === 'number') {
        this.saved.split = `${d.positionInPercentage.toFixed(1)}%`;
        this.scheduleSave();
      }
    });
    this.split = split;

    this.root.append(header, toolbar, split);

    // Restore toolbar state, then wire it.
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

    treeView.setModel(this.tree!, st, this.sharing!, this.rootLabel());
    this.updateFilterStatus();
    // Select the saved tab once the tabs element has upgraded.
    const tab = this.saved.tab;
    requestAnimationFrame(() => {
      if (this.tabs && tab) this.tabs.selectedIndex = tab;
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

  private showTab(index: number): void {
    if (!this.tabs) return;
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
    this.selected = path;
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
    this.post({ type: 'selected', path });
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
