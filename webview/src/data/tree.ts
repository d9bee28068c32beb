/**
 * The rows the module tree shows: expansion, folded runs of repeated blocks, the filter (the
 * worker searches; see `setFilterResult`), sorting by size, expand all. DOM-free: the tree view
 * renders the `rows` this computes, a window at a time. Works over a partially loaded tree
 * (./lazyTree.ts): a child not loaded yet is a `pending` row, which the view asks for when it
 * scrolls into sight and which becomes the child's own row when it arrives.
 */
import type { SearchResult, WireFold } from '../../../src/shared/protocol';
import { foldKey, Item, LazyTree } from './lazyTree';

export { foldKey };

/** `(0-11): 12 x GPT2Block`, as PyTorch prints a folded ModuleList. */
export function foldLabel(run: Pick<WireFold, 'from' | 'to' | 'count' | 'type'>): string {
  return `(${run.from}-${run.to}): ${run.count} x ${run.type}`;
}

export type SortMode = 'natural' | 'size';

export interface ModuleRow {
  kind: 'module';
  id: number;
  key: string;
  /** ARIA level: 1 for the root. */
  level: number;
  hasChildren: boolean;
  expanded: boolean;
  posinset: number;
  setsize: number;
  /** Filter: the node's own path or type matches. */
  match: boolean;
}

export interface FoldRow {
  kind: 'fold';
  parent: number;
  run: WireFold;
  /** The run's blocks that are loaded (the first always is). */
  ids: number[];
  key: string;
  level: number;
  expanded: boolean;
  posinset: number;
  setsize: number;
  /** Sum of the blocks' unique parameters. */
  unique: number;
  match: boolean;
}

/** A child not loaded yet (a placeholder the view asks for when it shows). */
export interface PendingRow {
  kind: 'pending';
  parent: number;
  /** Child index under the parent. */
  index: number;
  /** Inside an unfolded run (asked for block by block, not by its first block). */
  inRun: boolean;
  key: string;
  level: number;
  expanded: false;
  posinset: number;
  setsize: number;
  match: false;
}

export type Row = ModuleRow | FoldRow | PendingRow;

export interface Filter {
  text: string;
  regex: boolean;
}

/** Compile a filter: plain text matches case-insensitively as a substring; regex with `i`. */
export function compileFilter(f: Filter): { test: (s: string) => boolean } | { error: string } | null {
  const text = f.text.trim();
  if (!text) return null;
  if (f.regex) {
    try {
      const re = new RegExp(text, 'i');
      return { test: (s) => re.test(s) };
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
  }
  const needle = text.toLowerCase();
  return { test: (s) => s.toLowerCase().includes(needle) };
}

/** What the view remembers across tab switches (through the webview's setState). */
export interface PersistedTree {
  /** Expanded paths; null when too many to keep (the default view applies). */
  expanded: string[] | null;
  openFolds: string[];
  sort: SortMode;
  filter: Filter;
  /** Expand all was on. */
  all?: boolean;
}

const MATCH_SELF = 1;
const MATCH_BELOW = 2;

/** Expansion, folds, filter and sort over a LazyTree, and the rows they produce. */
export class TreeState {
  readonly expanded = new Set<number>();
  readonly openFolds = new Set<string>();
  /** Expand all: every module expanded and every run unfolded, but those closed since. */
  allOpen = false;
  private readonly closedInAll = new Set<number>();
  private readonly closedFoldsInAll = new Set<string>();
  /** Nodes the user collapsed while a filter forces them open. */
  private readonly filterCollapsed = new Set<number>();
  private readonly filterClosedFolds = new Set<string>();
  sort: SortMode = 'natural';
  filter: Filter = { text: '', regex: false };
  filterError: string | null = null;
  private match: Map<number, number> | null = null;
  /** Modules matching the filter (all of them: the worker counts). */
  matchCount = 0;
  /** Matches shown (the worker sends the first ones). */
  matchShown = 0;
  /** The search stopped at its time budget. */
  matchPartial = false;

  rows: Row[] = [];
  /** Row index per loaded node: its own row, the row of the collapsed fold holding it. */
  readonly rowOf = new Map<number, number>();
  readonly rowByKey = new Map<string, number>();

  constructor(readonly tree: LazyTree) {
    this.expanded.add(0);
  }

  /** Expand these modules (the first view the worker computed), and only these. */
  expandIds(ids: Iterable<number>): void {
    this.expanded.clear();
    this.expanded.add(0);
    for (const id of ids) this.expanded.add(id);
  }

  /** Rows expand all would show: every module and fold row under the root, and the root. */
  get allRows(): number {
    return 1 + this.tree.root.m.descendantRows;
  }

  expandAll(): void {
    this.allOpen = true;
    this.closedInAll.clear();
    this.closedFoldsInAll.clear();
    this.filterCollapsed.clear();
    this.filterClosedFolds.clear();
  }

  collapseAll(): void {
    this.allOpen = false;
    this.closedInAll.clear();
    this.closedFoldsInAll.clear();
    this.expanded.clear();
    this.openFolds.clear();
    this.expanded.add(0);
    if (this.match) {
      for (const [id, m] of this.match) if (id !== 0 && m & MATCH_BELOW) this.filterCollapsed.add(id);
    }
  }

  /** Clear the filter, or mark it invalid. */
  setFilter(f: Filter): void {
    this.filter = { text: f.text, regex: f.regex };
    this.filterCollapsed.clear();
    this.filterClosedFolds.clear();
    this.match = null;
    this.matchCount = 0;
    this.matchShown = 0;
    this.matchPartial = false;
    const c = compileFilter(f);
    this.filterError = c && 'error' in c ? c.error : null;
  }

  /**
   * Apply what the worker found for a filter: its matches (their nodes and ancestors are in the
   * tree by now) light up, and their ancestors open.
   */
  setFilterResult(f: Filter, r: Pick<SearchResult, 'count' | 'matched' | 'partial' | 'error'>): void {
    this.setFilter(f);
    if (r.error) {
      this.filterError = r.error;
      return;
    }
    if (!f.text.trim()) return;
    const match = new Map<number, number>();
    for (const id of r.matched) {
      if (!this.tree.node(id)) continue;
      match.set(id, (match.get(id) ?? 0) | MATCH_SELF);
      for (let a = this.tree.node(id)!.parent; a >= 0; a = this.tree.node(a)?.parent ?? -1) {
        const m = match.get(a) ?? 0;
        if (m & MATCH_BELOW) break;
        match.set(a, m | MATCH_BELOW);
      }
    }
    this.match = match;
    this.matchCount = r.count;
    this.matchShown = r.matched.length;
    this.matchPartial = !!r.partial;
  }

  get filtering(): boolean {
    return this.match !== null;
  }

  private matchOf(id: number): number {
    return this.match?.get(id) ?? 0;
  }

  isExpanded(id: number): boolean {
    if (this.match && this.matchOf(id) & MATCH_BELOW && !this.filterCollapsed.has(id)) return true;
    if (this.allOpen) return !this.closedInAll.has(id);
    return this.expanded.has(id);
  }

  isFoldOpen(key: string, ids: readonly number[]): boolean {
    if (this.match && !this.filterClosedFolds.has(key) && ids.some((i) => this.matchOf(i))) return true;
    if (this.allOpen) return !this.closedFoldsInAll.has(key);
    return this.openFolds.has(key);
  }

  setExpanded(id: number, open: boolean): void {
    if (open) {
      this.expanded.add(id);
      this.closedInAll.delete(id);
      this.filterCollapsed.delete(id);
    } else {
      this.expanded.delete(id);
      if (this.allOpen) this.closedInAll.add(id);
      if (this.match && this.matchOf(id) & MATCH_BELOW) this.filterCollapsed.add(id);
    }
  }

  setFoldOpen(key: string, open: boolean): void {
    if (open) {
      this.openFolds.add(key);
      this.closedFoldsInAll.delete(key);
      this.filterClosedFolds.delete(key);
    } else {
      this.openFolds.delete(key);
      if (this.allOpen) this.closedFoldsInAll.add(key);
      if (this.match) this.filterClosedFolds.add(key);
    }
  }

  /** Toggle a row; returns false when it has nothing to expand. */
  toggle(row: Row): boolean {
    if (row.kind === 'pending') return false;
    if (row.kind === 'fold') {
      this.setFoldOpen(row.key, !row.expanded);
      return true;
    }
    if (!row.hasChildren) return false;
    this.setExpanded(row.id, !row.expanded);
    return true;
  }

  /** Make a (loaded) node visible: expand its ancestors and open the folds holding it. */
  reveal(id: number): void {
    let child = this.tree.node(id);
    while (child && child.parent >= 0) {
      const p = child.parent;
      this.setExpanded(p, true);
      const fold = this.tree.foldOf(child.id);
      if (fold) this.setFoldOpen(fold.key, true);
      child = this.tree.node(p);
    }
  }

  /** Recompute the rows. */
  rebuild(): Row[] {
    const rows: Row[] = [];
    const rowOf = this.rowOf;
    rowOf.clear();
    this.rowByKey.clear();
    const match = this.match;
    const tree = this.tree;

    const push = (r: Row) => {
      this.rowByKey.set(r.key, rows.length);
      rows.push(r);
    };

    // Iterative walk; each frame is a list of items still to visit at a level.
    type Frame = { items: Item[]; i: number; level: number; inside: boolean; inRun: boolean };
    const stack: Frame[] = [];
    const emitNode = (id: number, level: number, posinset: number, setsize: number, inside: boolean) => {
      const n = tree.node(id)!;
      const hasChildren = n.childCount > 0;
      const expanded = hasChildren && this.isExpanded(id);
      const selfMatch = !!(match && (match.get(id) ?? 0) & MATCH_SELF);
      rowOf.set(id, rows.length);
      push({ kind: 'module', id, key: n.path === '' ? '(root)' : n.path, level, hasChildren, expanded, posinset, setsize, match: selfMatch });
      if (expanded) stack.push({ items: this.visibleItems(id, inside || selfMatch), i: 0, level: level + 1, inside: inside || selfMatch, inRun: false });
    };

    emitNode(0, 1, 1, 1, false);
    while (stack.length) {
      const f = stack[stack.length - 1];
      if (f.i >= f.items.length) {
        stack.pop();
        continue;
      }
      const it = f.items[f.i++];
      const posinset = f.i;
      const setsize = f.items.length;
      if (it.kind === 'child') {
        emitNode(it.id, f.level, posinset, setsize, f.inside);
        continue;
      }
      if (it.kind === 'pending') {
        push({ kind: 'pending', parent: it.parent, index: it.index, inRun: f.inRun, key: it.key, level: f.level, expanded: false, posinset, setsize, match: false });
        continue;
      }
      const open = this.isFoldOpen(it.key, it.ids);
      const row = rows.length;
      push({
        kind: 'fold',
        parent: it.parent,
        run: it.run,
        ids: it.ids,
        key: it.key,
        level: f.level,
        expanded: open,
        posinset,
        setsize,
        unique: it.size,
        match: !!match && it.ids.some((i) => (match.get(i) ?? 0) & MATCH_SELF),
      });
      if (open) {
        const members = f.inside || !match ? tree.foldMembers(it.parent, it.run) : it.ids.filter((i) => match.has(i)).map((id) => ({ kind: 'child' as const, id, size: tree.unique(id) }));
        stack.push({ items: members, i: 0, level: f.level + 1, inside: f.inside, inRun: true });
      } else {
        for (const i of it.ids) rowOf.set(i, row);
      }
    }
    this.rows = rows;
    return rows;
  }

  /** A node's items as shown: sorted if asked, and filtered to matches unless inside one. */
  private visibleItems(id: number, inside: boolean): Item[] {
    const items = this.sort === 'size' ? this.tree.sortedItems(id) : this.tree.items(id);
    const match = this.match;
    if (!match || inside) return items;
    return items.filter((it) => (it.kind === 'child' ? match.has(it.id) : it.kind === 'fold' ? it.ids.some((i) => match.has(i)) : false));
  }

  /** The row showing a node: its own, its collapsed fold's, or its nearest shown ancestor's. */
  nearestRow(id: number): number {
    for (let x = id; x >= 0; ) {
      const r = this.rowOf.get(x);
      if (r !== undefined) return r;
      const n = this.tree.node(x);
      if (!n) return -1;
      x = n.parent;
    }
    return -1;
  }

  persist(): PersistedTree {
    const expanded: string[] = [];
    for (const id of this.expanded) {
      const n = this.tree.node(id);
      if (n) expanded.push(n.path);
    }
    return { expanded, openFolds: [...this.openFolds], sort: this.sort, filter: { ...this.filter }, all: this.allOpen || undefined };
  }

  /**
   * Restore saved state; `ids` maps the saved paths to nodes (located beforehand). With
   * `expanded: null` the current expansion is kept. The filter is set but not applied: the
   * caller runs the search.
   */
  restore(p: PersistedTree, ids: ReadonlyMap<string, number>): void {
    if (p.expanded) {
      this.expanded.clear();
      this.expanded.add(0);
      for (const path of p.expanded) {
        const id = ids.get(path);
        if (id !== undefined && id >= 0) this.expanded.add(id);
      }
    }
    this.openFolds.clear();
    for (const k of p.openFolds) this.openFolds.add(k);
    this.sort = p.sort === 'size' ? 'size' : 'natural';
    if (p.all) this.expandAll();
    this.setFilter(p.filter ?? { text: '', regex: false });
  }
}

/** Label shown for a row (also what type-ahead searches). */
export function rowLabel(tree: LazyTree, row: Row, rootLabel: string): string {
  if (row.kind === 'fold') return foldLabel(row.run);
  if (row.kind === 'pending') return '…';
  const n = tree.node(row.id)!;
  return n.id === 0 ? rootLabel : n.name;
}

/**
 * The module a row selects: itself, or for a folded run its first block (the table lists that
 * block's tensors; the run's blocks are identical). -1 for a row not loaded yet.
 */
export function selectionTarget(row: Row): number {
  return row.kind === 'fold' ? row.ids[0] ?? -1 : row.kind === 'pending' ? -1 : row.id;
}

/** Where a module sits in a run of identical blocks: `block 1 of (0-2): 3 x Block`. */
export function foldContext(tree: LazyTree, id: number): { run: WireFold; position: number; key: string } | undefined {
  const f = tree.foldOf(id);
  return f ? { run: f.run, position: f.position, key: f.key } : undefined;
}
