/**
 * The module tree as far as the webview has it (issue 11: the lazy editor). The worker holds the
 * whole tree; this store holds the nodes asked for so far — the first view, then children, a
 * folded run's blocks, search results, the owners of tie partners — and asks for more. DOM-free.
 *
 * API (the tree view uses it; so can any other view of the hierarchy, such as a map):
 *
 *   node(id): TreeNode | undefined      a module, if loaded: name, path, depth, `m` (the wire node:
 *                                       type, params [unique, total], bytes, folds, shared...)
 *   children(id): number[] | undefined  every child id, once all children are loaded
 *   items(id): Item[]                   the children as the tree shows them: a folded run as one
 *                                       item (`run.count` blocks, `run.unique` parameters; its
 *                                       first block is loaded with it), children not loaded yet
 *                                       as `pending` items
 *   foldMembers(id, run): Item[]        the blocks of a run (loaded or pending)
 *   loadChildren(id, {members}?)        load the items (with `members`: every block of every run)
 *   ensureChildren(id, indices, folded) load some children (what scrolls into view)
 *   prefetchItems(ids)                  load the items of several nodes in one request
 *   loadRange(from, count)              pre-order pages (expand all)
 *   locate({ids, paths, tensors})       nodes by id, path, or the owners of tensors (+ ancestors)
 *   onLoad(listener)                    called with the new ids after nodes arrive
 *
 * Ids are the worker's pre-order indices (root 0), stable for one model generation. Every page
 * of nodes is ancestor-closed, so a loaded node always has its ancestors loaded: paths and depths
 * are computed here.
 */
import type { ModelHead, NodePage, NodeQuery, WireFold, WireNode } from '../../../src/shared/protocol';

export type NodeFetcher = (q: NodeQuery) => Promise<NodePage>;

export interface TreeNode {
  id: number;
  parent: number;
  /** Position among the parent's children. */
  index: number;
  name: string;
  /** Dotted path ('' for the root). */
  path: string;
  /** 0 for the root. */
  depth: number;
  childCount: number;
  /** The module as the worker sent it. */
  m: WireNode;
  /** Child id per child index; -1 where that child is not loaded. */
  kids: Int32Array;
  /** Children loaded. */
  loaded: number;
  /** Bumped when a child arrives (item lists are cached per version). */
  version: number;
}

/** One item under a node: a child, a run of identical children shown folded, or a child not loaded yet. */
export type Item =
  | { kind: 'child'; id: number; size: number }
  | { kind: 'fold'; parent: number; run: WireFold; ids: number[]; key: string; size: number }
  | { kind: 'pending'; parent: number; index: number; key: string };

export function foldKey(parentPath: string, run: Pick<WireFold, 'first' | 'last'>): string {
  return `${parentPath}#${run.first}-${run.last}`;
}

/** A placeholder row's key: it is replaced by the child's own row when the child arrives. */
export function pendingKey(parent: number, index: number): string {
  return `\u2026${parent}:${index}`;
}

/** Children per request when loading what scrolls into view. */
export const CHILD_PAGE = 100;

export class LazyTree {
  private readonly map = new Map<number, TreeNode>();
  readonly byPath = new Map<string, number>();
  /** Modules in the whole tree (most not loaded). */
  readonly moduleCount: number;
  private readonly listeners = new Set<(ids: number[]) => void>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly itemCache = new Map<number, { version: number; items: Item[] }>();
  private readonly sortedCache = new Map<number, { version: number; items: Item[] }>();
  /** Bumped by `reset`: answers to older requests are dropped. */
  private epoch = 0;

  constructor(
    private readonly fetch: NodeFetcher,
    head: Pick<ModelHead, 'moduleCount'> & { view: { nodes: WireNode[] } },
  ) {
    this.moduleCount = head.moduleCount;
    this.add(head.view.nodes, false);
    if (!this.map.has(0)) throw new Error('the first view has no root');
  }

  get root(): TreeNode {
    return this.map.get(0)!;
  }

  /** Modules loaded so far. */
  get size(): number {
    return this.map.size;
  }

  node(id: number): TreeNode | undefined {
    return this.map.get(id);
  }

  /** Every loaded node (in no particular order). */
  loadedNodes(): IterableIterator<TreeNode> {
    return this.map.values();
  }

  unique(id: number): number {
    return this.map.get(id)?.m.params[0] ?? 0;
  }

  /** Every child id, once all are loaded. */
  children(id: number): number[] | undefined {
    const n = this.map.get(id);
    if (!n || n.loaded < n.childCount) return undefined;
    return Array.from(n.kids);
  }

  /** The child id at a child index, or -1. */
  kid(id: number, index: number): number {
    const n = this.map.get(id);
    return n && index >= 0 && index < n.childCount ? n.kids[index] : -1;
  }

  isAncestor(a: number, b: number): boolean {
    for (let x = this.map.get(b)?.parent ?? -1; x >= 0; x = this.map.get(x)?.parent ?? -1) if (x === a) return true;
    return false;
  }

  onLoad(listener: (ids: number[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Forget the listeners and drop every answer still on its way (the model is replaced). */
  dispose(): void {
    this.epoch++;
    this.listeners.clear();
  }

  /** Take nodes in (ancestor-closed pages); returns the ids that were new. */
  add(nodes: readonly WireNode[], notify = true): number[] {
    const added: number[] = [];
    for (const w of nodes) {
      if (this.map.has(w.id)) continue;
      let path = '';
      let depth = 0;
      if (w.parent >= 0) {
        const p = this.map.get(w.parent);
        if (!p) throw new Error(`module ${w.id} (${w.name}) came before its parent ${w.parent}`);
        path = p.path ? `${p.path}.${w.name}` : w.name;
        depth = p.depth + 1;
        if (w.index >= 0 && w.index < p.childCount && p.kids[w.index] !== w.id) {
          if (p.kids[w.index] < 0) p.loaded++;
          p.kids[w.index] = w.id;
          p.version++;
        }
      } else if (w.id !== 0) {
        throw new Error(`module ${w.id} (${w.name}) has no parent`);
      }
      const kids = new Int32Array(w.childCount).fill(-1);
      this.map.set(w.id, { id: w.id, parent: w.parent, index: w.index, name: w.name, path, depth, childCount: w.childCount, m: w, kids, loaded: 0, version: 0 });
      this.byPath.set(path, w.id);
      added.push(w.id);
    }
    if (notify && added.length) for (const l of this.listeners) l(added);
    return added;
  }

  private request(key: string, q: NodeQuery): Promise<void> {
    const hit = this.inflight.get(key);
    if (hit) return hit;
    const epoch = this.epoch;
    const p = this.fetch(q).then(
      (page) => {
        this.inflight.delete(key);
        if (epoch === this.epoch) this.add(page.nodes);
      },
      (e) => {
        this.inflight.delete(key);
        throw e;
      },
    );
    this.inflight.set(key, p);
    return p;
  }

  /** Requests on their way (for tests and progress). */
  get pending(): number {
    return this.inflight.size;
  }

  /**
   * Load a node's items: its children, a folded run by its first block (with `members`, every
   * block). Pages until done.
   */
  loadChildren(id: number, opts: { members?: boolean } = {}): Promise<void> {
    const folded = !opts.members;
    const key = `all:${id}:${folded}`;
    const hit = this.inflight.get(key);
    if (hit) return hit;
    const p = this.loadAll(id, folded).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async loadAll(id: number, folded: boolean): Promise<void> {
    const n = this.map.get(id);
    if (!n) throw new Error(`module ${id} is not loaded`);
    const epoch = this.epoch;
    let from = 0;
    for (;;) {
      const missing = this.firstMissing(n, from, folded);
      if (missing < 0) return;
      const page = await this.fetch({ kind: 'children', id, from: missing, to: n.childCount, folded });
      if (epoch !== this.epoch) return;
      this.add(page.nodes);
      if (page.next === undefined || page.next <= missing) return;
      from = page.next;
    }
  }

  /** The first child index ≥ from that is not loaded (and is not hidden in a folded run's tail when folded). */
  private firstMissing(n: TreeNode, from: number, folded: boolean): number {
    const runs = folded ? n.m.folds ?? [] : [];
    let f = 0;
    for (let i = from; i < n.childCount; i++) {
      while (f < runs.length && runs[f].last < i) f++;
      const run = runs[f];
      if (run && i > run.first && i <= run.last) {
        i = run.last;
        continue;
      }
      if (n.kids[i] < 0) return i;
    }
    return -1;
  }

  /**
   * Load the children at these indices (rows that scrolled into view), a page of CHILD_PAGE
   * children at a time; `folded`: a run inside a page sends its first block only.
   */
  ensureChildren(id: number, indices: Iterable<number>, folded: boolean): Promise<void> {
    const n = this.map.get(id);
    if (!n) return Promise.resolve();
    // All the children are on their way already (an expand): wait for those.
    const all = this.inflight.get(`all:${id}:${folded}`) ?? this.inflight.get(`all:${id}:false`);
    if (all) return all;
    const pages = new Set<number>();
    for (const i of indices) if (i >= 0 && i < n.childCount && n.kids[i] < 0) pages.add(Math.floor(i / CHILD_PAGE));
    const waits: Promise<void>[] = [];
    for (const p of pages) {
      const from = p * CHILD_PAGE;
      const to = Math.min(n.childCount, from + CHILD_PAGE);
      waits.push(this.request(`p:${id}:${p}:${folded}`, { kind: 'children', id, from, to, folded }));
    }
    return Promise.all(waits).then(() => undefined);
  }

  /** Nodes whose items were asked for in a batch (not asked again). */
  private readonly prefetched = new Set<number>();

  /**
   * Load the items of several nodes in one request (the collapsed rows on screen: a click then
   * opens them at once). Nodes whose items are here, or were asked for, are skipped; the worker
   * skips nodes with many items.
   */
  prefetchItems(ids: Iterable<number>): Promise<void> {
    const ask: number[] = [];
    for (const id of ids) {
      const n = this.map.get(id);
      if (!n || !n.childCount || this.prefetched.has(id) || this.firstMissing(n, 0, true) < 0) continue;
      this.prefetched.add(id);
      ask.push(id);
    }
    if (!ask.length) return Promise.resolve();
    return this.request(`items:${ask.join(',')}`, { kind: 'items', ids: ask.slice(0, 500) });
  }

  /** Load nodes [from, from + count) in pre-order; resolves with the page. */
  async loadRange(from: number, count: number): Promise<NodePage> {
    const epoch = this.epoch;
    const page = await this.fetch({ kind: 'range', from, count });
    if (epoch === this.epoch) this.add(page.nodes);
    return page;
  }

  /**
   * Load nodes by id, path, or the modules owning tensors; resolves with the ids found for the
   * paths, then the tensors (-1 for none).
   */
  async locate(q: { ids?: number[]; paths?: string[]; tensors?: string[] }): Promise<number[]> {
    const ids = (q.ids ?? []).filter((id) => !this.map.has(id));
    const paths = q.paths ?? [];
    const tensors = q.tensors ?? [];
    if (!ids.length && !tensors.length && paths.every((p) => this.byPath.has(p))) return paths.map((p) => this.byPath.get(p)!);
    const epoch = this.epoch;
    const page = await this.fetch({ kind: 'locate', ids, paths, tensors });
    if (epoch === this.epoch) this.add(page.nodes);
    return page.found ?? [];
  }

  /** Children in file order, folded runs as single items, children not loaded as pending items. */
  items(id: number): Item[] {
    const n = this.map.get(id);
    if (!n) return [];
    const cached = this.itemCache.get(id);
    if (cached && cached.version === n.version) return cached.items;
    const out: Item[] = [];
    const runs = n.m.folds ?? [];
    let f = 0;
    for (let i = 0; i < n.childCount; i++) {
      while (f < runs.length && runs[f].last < i) f++;
      const run = runs[f];
      if (run && run.first === i && run.last < n.childCount && run.last > run.first) {
        const ids: number[] = [];
        for (let k = run.first; k <= run.last; k++) if (n.kids[k] >= 0) ids.push(n.kids[k]);
        out.push({ kind: 'fold', parent: id, run, ids, key: foldKey(n.path, run), size: run.unique });
        i = run.last;
        continue;
      }
      const c = n.kids[i];
      if (c >= 0) out.push({ kind: 'child', id: c, size: this.unique(c) });
      else out.push({ kind: 'pending', parent: id, index: i, key: pendingKey(id, i) });
    }
    this.itemCache.set(id, { version: n.version, items: out });
    return out;
  }

  /** Items largest first (stable for equal sizes); items not loaded go last, in file order. */
  sortedItems(id: number): Item[] {
    const n = this.map.get(id);
    if (!n) return [];
    const cached = this.sortedCache.get(id);
    if (cached && cached.version === n.version) return cached.items;
    const size = (it: Item) => (it.kind === 'pending' ? -1 : it.size);
    const items = this.items(id)
      .map((it, i) => ({ it, i }))
      .sort((a, b) => size(b.it) - size(a.it) || a.i - b.i)
      .map((x) => x.it);
    this.sortedCache.set(id, { version: n.version, items });
    return items;
  }

  /** The blocks of a folded run: loaded ones, and pending ones for the others. */
  foldMembers(id: number, run: Pick<WireFold, 'first' | 'last'>): Item[] {
    const n = this.map.get(id);
    if (!n) return [];
    const out: Item[] = [];
    for (let i = run.first; i <= run.last && i < n.childCount; i++) {
      const c = n.kids[i];
      out.push(c >= 0 ? { kind: 'child', id: c, size: this.unique(c) } : { kind: 'pending', parent: id, index: i, key: pendingKey(id, i) });
    }
    return out;
  }

  /** The folded run of a node's parent that holds it, with its position there. */
  foldOf(id: number): { run: WireFold; position: number; key: string; parent: number } | undefined {
    const n = this.map.get(id);
    const p = n && n.parent >= 0 ? this.map.get(n.parent) : undefined;
    if (!n || !p) return undefined;
    for (const run of p.m.folds ?? []) {
      if (run.last > run.first && n.index >= run.first && n.index <= run.last) return { run, position: n.index - run.first, key: foldKey(p.path, run), parent: p.id };
    }
    return undefined;
  }
}
