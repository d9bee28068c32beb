/**
 * The webview's module tree and the rows it shows: expansion, folded runs of repeated blocks,
 * filtering (text or regular expression), sorting by size. DOM-free: the tree view renders the
 * `rows` this computes, a window at a time.
 */
import { FoldRun, ModuleInfo, resolveModule, WireModule } from '../../../src/shared/protocol';

export interface TreeNode {
  id: number;
  parent: number;
  name: string;
  /** Dotted path ('' for the root). */
  path: string;
  /** 0 for the root. */
  depth: number;
  children: number[];
  m: ModuleInfo;
}

/** One item under a node: a child, or a run of identical children shown folded. */
export type Item = { kind: 'child'; id: number; size: number } | { kind: 'fold'; run: FoldRun; ids: number[]; key: string; size: number };

export class ModelTree {
  readonly nodes: TreeNode[];
  readonly byPath = new Map<string, number>();
  private readonly itemCache = new Map<number, Item[]>();
  private readonly sortedCache = new Map<number, Item[]>();

  constructor(modules: readonly WireModule[], strings: readonly string[]) {
    this.nodes = new Array(modules.length);
    for (let i = 0; i < modules.length; i++) {
      const m = resolveModule(modules[i], strings);
      const p = m.parent;
      let path = '';
      let depth = 0;
      if (p >= 0) {
        const parent = this.nodes[p];
        if (!parent) throw new Error(`module ${i} (${m.name}) comes before its parent ${p}`);
        path = parent.path ? `${parent.path}.${m.name}` : m.name;
        depth = parent.depth + 1;
        parent.children.push(i);
      } else if (i !== 0) {
        throw new Error(`module ${i} (${m.name}) has no parent`);
      }
      this.nodes[i] = { id: i, parent: p, name: m.name, path, depth, children: [], m };
      this.byPath.set(path, i);
    }
    if (!this.nodes.length) throw new Error('empty module tree');
  }

  get root(): TreeNode {
    return this.nodes[0];
  }

  get size(): number {
    return this.nodes.length;
  }

  unique(id: number): number {
    return this.nodes[id].m.params[0];
  }

  /** The module owning a tensor: the deepest existing module whose path prefixes the name. */
  ownerOf(tensorName: string): number {
    let name = tensorName;
    for (;;) {
      const dot = name.lastIndexOf('.');
      if (dot < 0) return 0;
      name = name.slice(0, dot);
      const id = this.byPath.get(name);
      if (id !== undefined) return id;
    }
  }

  isAncestor(a: number, b: number): boolean {
    for (let x = this.nodes[b].parent; x >= 0; x = this.nodes[x].parent) if (x === a) return true;
    return false;
  }

  /** Children in file order, with folded runs as single items. */
  items(id: number): Item[] {
    const cached = this.itemCache.get(id);
    if (cached) return cached;
    const n = this.nodes[id];
    const out: Item[] = [];
    const folds = n.m.folds ?? [];
    let f = 0;
    for (let i = 0; i < n.children.length; i++) {
      while (f < folds.length && folds[f].last < i) f++;
      const run = folds[f];
      if (run && run.first === i && run.last < n.children.length && run.last > run.first) {
        const ids = n.children.slice(run.first, run.last + 1);
        let size = 0;
        for (const c of ids) size += this.unique(c);
        out.push({ kind: 'fold', run, ids, key: foldKey(n.path, run), size });
        i = run.last;
        continue;
      }
      const c = n.children[i];
      out.push({ kind: 'child', id: c, size: this.unique(c) });
    }
    this.itemCache.set(id, out);
    return out;
  }

  /** Items largest first (stable for equal sizes). */
  sortedItems(id: number): Item[] {
    const cached = this.sortedCache.get(id);
    if (cached) return cached;
    const items = this.items(id)
      .map((it, i) => ({ it, i }))
      .sort((a, b) => b.it.size - a.it.size || a.i - b.i)
      .map((x) => x.it);
    this.sortedCache.set(id, items);
    return items;
  }

  /** Every fold key in the tree (for expand all). */
  allFoldKeys(): string[] {
    const keys: string[] = [];
    for (const n of this.nodes) for (const run of n.m.folds ?? []) keys.push(foldKey(n.path, run));
    return keys;
  }
}

export function foldKey(parentPath: string, run: FoldRun): string {
  return `${parentPath}#${run.first}-${run.last}`;
}

/** `(0-11): 12 x GPT2Block`, as PyTorch prints a folded ModuleList. */
export function foldLabel(run: FoldRun): string {
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
  run: FoldRun;
  ids: number[];
  key: string;
  level: number;
  expanded: boolean;
  posinset: number;
  setsize: number;
  /** Sum of the members' unique parameters. */
  unique: number;
  match: boolean;
}

export type Row = ModuleRow | FoldRow;

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
  /** Expanded paths; null when too many to keep (the default depth applies). */
  expanded: string[] | null;
  openFolds: string[];
  sort: SortMode;
  filter: Filter;
}

const MATCH_SELF = 1;
const MATCH_BELOW = 2;

/** Expansion, folds, filter and sort over a ModelTree, and the rows they produce. */
export class TreeState {
  readonly expanded = new Set<number>();
  readonly openFolds = new Set<string>();
  /** Nodes the user collapsed while a filter forces them open. */
  private readonly filterCollapsed = new Set<number>();
  private readonly filterClosedFolds = new Set<string>();
  sort: SortMode = 'natural';
  filter: Filter = { text: '', regex: false };
  filterError: string | null = null;
  private match: Uint8Array | null = null;
  matchCount = 0;

  rows: Row[] = [];
  /** Row index per node: its own row, the row of the collapsed fold holding it, or -1. */
  rowOf: Int32Array;
  readonly rowByKey = new Map<string, number>();

  constructor(readonly tree: ModelTree) {
    this.rowOf = new Int32Array(tree.size).fill(-1);
    this.expanded.add(0);
  }

  /** Expand every node above `depth` (root is depth 0). */
  expandToDepth(depth: number): void {
    this.expanded.clear();
    this.expanded.add(0);
    for (const n of this.tree.nodes) if (n.depth < depth && n.children.length) this.expanded.add(n.id);
  }

  expandAll(): void {
    for (const n of this.tree.nodes) if (n.children.length) this.expanded.add(n.id);
    for (const k of this.tree.allFoldKeys()) this.openFolds.add(k);
    this.filterCollapsed.clear();
    this.filterClosedFolds.clear();
  }

  collapseAll(): void {
    this.expanded.clear();
    this.openFolds.clear();
    this.expanded.add(0);
    if (this.match) {
      for (const n of this.tree.nodes) if (n.id !== 0 && this.match[n.id] & MATCH_BELOW) this.filterCollapsed.add(n.id);
    }
  }

  setFilter(f: Filter): void {
    this.filter = { text: f.text, regex: f.regex };
    this.filterCollapsed.clear();
    this.filterClosedFolds.clear();
    const c = compileFilter(f);
    this.filterError = null;
    this.match = null;
    this.matchCount = 0;
    if (c === null) return;
    if ('error' in c) {
      this.filterError = c.error;
      return;
    }
    const nodes = this.tree.nodes;
    const match = new Uint8Array(nodes.length);
    let count = 0;
    // Pre-order puts parents first: walk backwards so children propagate upwards.
    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i];
      if (i > 0 && (c.test(n.path) || c.test(n.m.type))) {
        match[i] |= MATCH_SELF;
        count++;
      }
      if (match[i] && n.parent >= 0) match[n.parent] |= MATCH_BELOW;
    }
    this.match = match;
    this.matchCount = count;
  }

  get filtering(): boolean {
    return this.match !== null;
  }

  isExpanded(id: number): boolean {
    if (this.match && this.match[id] & MATCH_BELOW && !this.filterCollapsed.has(id)) return true;
    return this.expanded.has(id);
  }

  isFoldOpen(key: string, ids: number[]): boolean {
    if (this.match && !this.filterClosedFolds.has(key) && ids.some((i) => this.match![i])) return true;
    return this.openFolds.has(key);
  }

  setExpanded(id: number, open: boolean): void {
    if (open) {
      this.expanded.add(id);
      this.filterCollapsed.delete(id);
    } else {
      this.expanded.delete(id);
      if (this.match && this.match[id] & MATCH_BELOW) this.filterCollapsed.add(id);
    }
  }

  setFoldOpen(key: string, open: boolean): void {
    if (open) {
      this.openFolds.add(key);
      this.filterClosedFolds.delete(key);
    } else {
      this.openFolds.delete(key);
      if (this.match) this.filterClosedFolds.add(key);
    }
  }

  /** Toggle a row; returns false when it has nothing to expand. */
  toggle(row: Row): boolean {
    if (row.kind === 'fold') {
      this.setFoldOpen(row.key, !row.expanded);
      return true;
    }
    if (!row.hasChildren) return false;
    this.setExpanded(row.id, !row.expanded);
    return true;
  }

  /** Make a node visible: expand its ancestors and open the folds holding it. */
  reveal(id: number): void {
    const nodes = this.tree.nodes;
    let child = id;
    for (let p = nodes[id].parent; p >= 0; p = nodes[p].parent) {
      this.setExpanded(p, true);
      for (const it of this.tree.items(p)) if (it.kind === 'fold' && it.ids.includes(child)) this.setFoldOpen(it.key, true);
      child = p;
    }
  }

  /** Recompute the rows. */
  rebuild(): Row[] {
    const rows: Row[] = [];
    const rowOf = this.rowOf;
    rowOf.fill(-1);
    this.rowByKey.clear();
    const match = this.match;
    const tree = this.tree;

    const push = (r: Row) => {
      this.rowByKey.set(r.key, rows.length);
      rows.push(r);
    };
    const markHidden = (ids: number[], row: number) => {
      for (const i of ids) rowOf[i] = row;
    };

    // Iterative walk; each frame is a list of items still to visit at a level.
    type Frame = { items: Item[]; i: number; level: number; inside: boolean };
    const emitNode = (id: number, level: number, posinset: number, setsize: number, inside: boolean, stack: Frame[]) => {
      const n = tree.nodes[id];
      const hasChildren = n.children.length > 0;
      const expanded = hasChildren && this.isExpanded(id);
      rowOf[id] = rows.length;
      push({ kind: 'module', id, key: n.path === '' ? '(root)' : n.path, level, hasChildren, expanded, posinset, setsize, match: !!(match && match[id] & MATCH_SELF) });
      if (expanded) {
        const selfMatch = !!(match && match[id] & MATCH_SELF);
        const items = this.visibleItems(id, inside || selfMatch);
        stack.push({ items, i: 0, level: level + 1, inside: inside || selfMatch });
      }
    };

    const stack: Frame[] = [];
    emitNode(0, 1, 1, 1, false, stack);
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
        emitNode(it.id, f.level, posinset, setsize, f.inside, stack);
        continue;
      }
      const members = f.inside || !match ? it.ids : it.ids.filter((i) => match[i]);
      const open = this.isFoldOpen(it.key, it.ids);
      const row = rows.length;
      push({
        kind: 'fold',
        parent: tree.nodes[it.ids[0]].parent,
        run: it.run,
        ids: it.ids,
        key: it.key,
        level: f.level,
        expanded: open,
        posinset,
        setsize,
        unique: it.size,
        match: !!match && it.ids.some((i) => match[i] & MATCH_SELF),
      });
      if (open) {
        stack.push({ items: members.map((id) => ({ kind: 'child' as const, id, size: tree.unique(id) })), i: 0, level: f.level + 1, inside: f.inside });
      } else {
        markHidden(it.ids, row);
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
    return items.filter((it) => (it.kind === 'child' ? match[it.id] !== 0 : it.ids.some((i) => match[i] !== 0)));
  }

  /** The row showing a node: its own, its collapsed fold's, or its nearest shown ancestor's. */
  nearestRow(id: number): number {
    const nodes = this.tree.nodes;
    for (let x = id; x >= 0; x = nodes[x].parent) if (this.rowOf[x] >= 0) return this.rowOf[x];
    return -1;
  }

  persist(): PersistedTree {
    const expanded: string[] = [];
    for (const id of this.expanded) expanded.push(this.tree.nodes[id].path);
    return { expanded, openFolds: [...this.openFolds], sort: this.sort, filter: { ...this.filter } };
  }

  /** Restore saved state; with `expanded: null` the current expansion is kept. */
  restore(p: PersistedTree): void {
    if (p.expanded) {
      this.expanded.clear();
      this.expanded.add(0);
      for (const path of p.expanded) {
        const id = this.tree.byPath.get(path);
        if (id !== undefined) this.expanded.add(id);
      }
    }
    this.openFolds.clear();
    for (const k of p.openFolds) this.openFolds.add(k);
    this.sort = p.sort === 'size' ? 'size' : 'natural';
    this.setFilter(p.filter ?? { text: '', regex: false });
  }
}

/** Label shown for a row (also what type-ahead searches). */
export function rowLabel(tree: ModelTree, row: Row, rootLabel: string): string {
  if (row.kind === 'fold') return foldLabel(row.run);
  const n = tree.nodes[row.id];
  return n.id === 0 ? rootLabel : n.name;
}

/**
 * The module a row selects: itself, or for a folded run its first block (the table lists that
 * block's tensors; the run's blocks are identical).
 */
export function selectionTarget(row: Row): number {
  return row.kind === 'fold' ? row.ids[0] : row.id;
}

/** Where a module sits in a run of identical blocks: `block 1 of (0-2): 3 x Block`. */
export function foldContext(tree: ModelTree, id: number): { run: FoldRun; position: number; key: string } | undefined {
  const parent = tree.nodes[id]?.parent ?? -1;
  if (parent < 0) return undefined;
  for (const it of tree.items(parent)) {
    if (it.kind !== 'fold') continue;
    const i = it.ids.indexOf(id);
    if (i >= 0) return { run: it.run, position: i, key: it.key };
  }
  return undefined;
}
