/**
 * The module tree as the worker serves it to the lazy editor (issue 11): a pre-order index of
 * the analysed Checkpoint's modules, answering node queries (children, a page of a long child
 * list, located nodes, the first view), searches over every module path and type, and storage
 * groups with the modules that own their members. Built once per opened checkpoint, in time
 * and memory linear in modules and tensors; every answer is bounded whatever the model's size.
 * Pure Node (no vscode import), so mocha tests it.
 */
import type { Checkpoint, FoldRun, ModuleNode, SharedWith, Tensor } from '../core/model';
import { tiePartners } from '../core/overlaps';
import { firstViewExpansion, ShapeOfTree } from '../shared/firstView';
import type { GroupPage, ModelHead, NodePage, NodeQuery, SearchQuery, SearchResult, WireFold, WireGroup, WireGroupInfo, WireNode, WireShared, WireSummary } from '../shared/protocol';
import { shapeSummary } from './payload';

/** Nodes in one answer (a page of children, of a pre-order range). */
export const MAX_NODES_PAGE = 2000;
/** Rows the first view sends (more than a screen; the rest is asked for when it scrolls in). */
export const FIRST_VIEW_ROWS = 400;
/** `items`: nodes with more items than this are left to load when opened. */
export const MAX_PREFETCH_ITEMS = 100;
/** Members of a storage group listed per group (a storage 10,000 views share lists the first). */
export const MAX_GROUP_MEMBERS = 256;
/** Entries of a folded run's `shared` list. */
const MAX_FOLD_SHARED = 64;
/** A search stops after this long and says so (a pathological regular expression). */
const SEARCH_BUDGET_MS = 3000;
/** Groups the summary names. */
const TOP_GROUPS = 3;

/** A folded run is one when it spans two children or more, all present. */
function isValidFold(node: ModuleNode, f: FoldRun): boolean {
  return f.last > f.first && f.first >= 0 && f.last < node.children.length;
}

const NO_FOLDS: FoldRun[] = [];

function validFolds(node: ModuleNode): FoldRun[] {
  // Most modules fold nothing: no array made for them.
  return node.folds.length ? node.folds.filter((f) => isValidFold(node, f)) : NO_FOLDS;
}

function countValidFolds(node: ModuleNode): number {
  let n = 0;
  for (let i = 0; i < node.folds.length; i++) if (isValidFold(node, node.folds[i])) n++;
  return n;
}

/** Modules in the tree under (and with) `root`. */
function countModules(root: ModuleNode): number {
  let n = 0;
  const stack: ModuleNode[] = [root];
  while (stack.length) {
    const node = stack.pop()!;
    n++;
    for (let i = 0; i < node.children.length; i++) stack.push(node.children[i]);
  }
  return n;
}

function sumBytes(b: Record<string, number>): number {
  let s = 0;
  for (const k in b) s += b[k];
  return s;
}

export class TreeIndex implements ShapeOfTree {
  readonly root = 0;
  /** Modules in pre-order (children in file order). */
  readonly modules: ModuleNode[];
  readonly parentOf: Int32Array;
  /** Position among the parent's children. */
  readonly indexOf: Int32Array;
  /** End (exclusive) of each subtree in pre-order: the subtree of `id` is [id, end[id]). */
  readonly end: Int32Array;
  readonly depthOf: Int32Array;
  /** Rows under each node with everything expanded and unfolded (modules and fold rows). */
  readonly rowsUnder: Float64Array;
  /** Parameter elements of each subtree on storage used outside it too (computed on first use). */
  private shared?: Float64Array;
  /** Lookups over every module and tensor: built after the head is out (`warm`), or on first use. */
  private paths?: Map<string, number>;
  private names?: Map<string, Tensor>;
  private owners?: Map<string, number>;
  /** Child ids by name, for nodes with many children (resolving names before the maps exist). */
  private readonly childByName = new Map<number, Map<string, number>>();
  /** Child id lists, built on first use (a node with 50,000 children is listed once). */
  private readonly childCache = new Map<number, number[]>();
  private readonly foldCache = new Map<number, WireFold[] | undefined>();

  /**
   * Only what the head needs is built here (a pre-order walk into typed arrays); the maps over
   * every path and tensor name wait until the head is on its way (`warm`).
   */
  constructor(readonly cp: Checkpoint) {
    // Counted first, so the walk writes straight into typed arrays (this is on the way to the
    // first paint: no per-module arrays or objects).
    const n = countModules(cp.modules);
    this.modules = new Array<ModuleNode>(n);
    this.parentOf = new Int32Array(n);
    this.indexOf = new Int32Array(n);
    this.depthOf = new Int32Array(n);
    const stackNodes: ModuleNode[] = [cp.modules];
    const stackInfo: number[] = [-1, 0, 0];
    let id = 0;
    while (stackNodes.length) {
      const node = stackNodes.pop()!;
      const depth = stackInfo.pop()!;
      const index = stackInfo.pop()!;
      const parent = stackInfo.pop()!;
      this.modules[id] = node;
      this.parentOf[id] = parent;
      this.indexOf[id] = index;
      this.depthOf[id] = depth;
      for (let i = node.children.length - 1; i >= 0; i--) {
        stackNodes.push(node.children[i]);
        stackInfo.push(id, i, depth + 1);
      }
      id++;
    }
    const size = new Int32Array(n).fill(1);
    this.rowsUnder = new Float64Array(n);
    for (let id = n - 1; id >= 0; id--) {
      this.rowsUnder[id] += countValidFolds(this.modules[id]);
      const p = this.parentOf[id];
      if (p >= 0) {
        size[p] += size[id];
        this.rowsUnder[p] += 1 + this.rowsUnder[id];
      }
    }
    this.end = new Int32Array(n);
    for (let id = 0; id < n; id++) this.end[id] = id + size[id];
  }

  /** Build the lookups now (called once the head is sent, so the first hover finds them ready). */
  warm(): void {
    void this.byPath;
    void this.byName;
    void this.ownerByTensor;
    void this.sharedParams;
  }

  get byPath(): Map<string, number> {
    if (!this.paths) {
      const m = new Map<string, number>();
      for (let id = 0; id < this.modules.length; id++) m.set(this.modules[id].path, id);
      this.paths = m;
    }
    return this.paths;
  }

  get byName(): Map<string, Tensor> {
    if (!this.names) {
      const m = new Map<string, Tensor>();
      for (const t of this.cp.tensors) m.set(t.name, t);
      this.names = m;
    }
    return this.names;
  }

  private get ownerByTensor(): Map<string, number> {
    if (!this.owners) {
      const m = new Map<string, number>();
      for (let id = 0; id < this.modules.length; id++) for (const t of this.modules[id].tensors) if (!m.has(t)) m.set(t, id);
      this.owners = m;
    }
    return this.owners;
  }

  get sharedParams(): Float64Array {
    if (!this.shared) this.shared = this.computeSharedParams();
    return this.shared;
  }

  get size(): number {
    return this.modules.length;
  }

  // ------------------------------------------------------------------------- ShapeOfTree

  children(id: number): number[] {
    let kids = this.childCache.get(id);
    if (!kids) {
      kids = [];
      for (let c = id + 1; c < this.end[id]; c = this.end[c]) kids.push(c);
      this.childCache.set(id, kids);
      if (this.childCache.size > 256) this.childCache.delete(this.childCache.keys().next().value as number);
    }
    return kids;
  }

  depth(id: number): number {
    return this.depthOf[id];
  }

  unique(id: number): number {
    return this.modules[id].parameters.unique;
  }

  folds(id: number): FoldRun[] {
    return validFolds(this.modules[id]);
  }

  // ------------------------------------------------------------------------- lookups

  /** The module owning a tensor: the one listing it, else the deepest module prefixing its name. */
  ownerOf(tensorName: string): number {
    if (!this.owners) return this.walkOwner(tensorName);
    const id = this.owners.get(tensorName);
    if (id !== undefined) return id;
    let name = tensorName;
    for (;;) {
      const dot = name.lastIndexOf('.');
      if (dot < 0) return 0;
      name = name.slice(0, dot);
      const m = this.byPath.get(name);
      if (m !== undefined) return m;
    }
  }

  /**
   * The owner found by walking the name down from the root, child by child (before the maps
   * exist: the head needs the owners of a few tied tensors only). A module lists the tensors
   * directly under it, so the deepest module the name reaches owns it.
   */
  private walkOwner(tensorName: string): number {
    let id = 0;
    for (;;) {
      const node = this.modules[id];
      if (!node.children.length) return id;
      const prefix = node.path ? `${node.path}.` : '';
      if (!tensorName.startsWith(prefix)) return id;
      const next = this.childNamed(id, tensorName.slice(prefix.length));
      if (next < 0) return id;
      id = next;
    }
  }

  /** The child whose name starts `rest` (followed by a dot), or -1. */
  private childNamed(id: number, rest: string): number {
    const kids = this.children(id);
    if (kids.length <= 32) {
      for (const c of kids) {
        const name = this.modules[c].name;
        if (rest.startsWith(name) && rest.charCodeAt(name.length) === 46) return c;
      }
      return -1;
    }
    let byName = this.childByName.get(id);
    if (!byName) {
      byName = new Map(kids.map((c) => [this.modules[c].name, c]));
      this.childByName.set(id, byName);
    }
    for (let dot = rest.indexOf('.'); dot >= 0; dot = rest.indexOf('.', dot + 1)) {
      const c = byName.get(rest.slice(0, dot));
      if (c !== undefined) return c;
    }
    return -1;
  }

  /**
   * Per subtree, the parameter elements on a storage that a module outside it uses too: for each
   * storage group, the members' elements summed up every ancestor of their owners; an ancestor
   * holding only some of the members shares (at most the group's unique elements).
   */
  private computeSharedParams(): Float64Array {
    const out = new Float64Array(this.modules.length);
    const elems = new Map<number, number>();
    const count = new Map<number, number>();
    for (const g of this.cp.shared) {
      // Names an exporter stored once each count in full (relation `deduplicated`): no row counts
      // another's parameters.
      if (g.relation === 'deduplicated') continue;
      elems.clear();
      count.clear();
      let members = 0;
      for (const name of g.tensors) {
        const t = this.tensor(name);
        if (!t || t.role !== 'parameter') continue;
        members++;
        const n = t.logicalNumel ?? t.numel;
        for (let a = this.ownerOf(name); a >= 0; a = this.parentOf[a]) {
          elems.set(a, (elems.get(a) ?? 0) + n);
          count.set(a, (count.get(a) ?? 0) + 1);
        }
      }
      if (members < 2) continue;
      for (const [a, c] of count) if (c < members) out[a] += Math.min(elems.get(a)!, g.uniqueElements);
    }
    return out;
  }

  // ------------------------------------------------------------------------- wire

  /** A node's ties for the webview: views list only the views they overlap, and one overlapping none is left out (overlaps.ts). */
  private wireShared(list: SharedWith[]): WireShared[] {
    const out: WireShared[] = [];
    for (const s of list) {
      const tie = tiePartners(s);
      if (!tie.names.length && !tie.more) continue;
      const w: WireShared = { tensor: s.tensor, others: tie.names.slice(), owners: tie.names.map((o) => this.ownerOf(o)), relation: s.relation, group: s.group };
      if (tie.more) w.more = tie.more;
      out.push(w);
    }
    return out;
  }

  /** A node's folded runs with their blocks' size and their sharing with outside the run. */
  private wireFolds(id: number): WireFold[] | undefined {
    if (this.foldCache.has(id)) return this.foldCache.get(id);
    const runs = this.folds(id);
    let out: WireFold[] | undefined;
    if (runs.length) {
      const kids = this.children(id);
      out = runs.map((run) => {
        const first = kids[run.first];
        const stop = this.end[kids[run.last]];
        let unique = 0;
        const shared: WireShared[] = [];
        for (let k = run.first; k <= run.last; k++) {
          const m = this.modules[kids[k]];
          unique += m.parameters.unique;
          if (shared.length >= MAX_FOLD_SHARED) continue;
          for (const s of m.sharedWith) {
            // Sharing between blocks of the run is not "elsewhere".
            const others: string[] = [];
            const owners: number[] = [];
            tiePartners(s).names.forEach((o) => {
              const owner = this.ownerOf(o);
              if (owner < first || owner >= stop) {
                others.push(o);
                owners.push(owner);
              }
            });
            if (others.length && shared.length < MAX_FOLD_SHARED) shared.push({ tensor: s.tensor, others, owners, relation: s.relation, group: s.group });
          }
        }
        const f: WireFold = { ...run, unique };
        if (shared.length) f.shared = shared;
        return f;
      });
    }
    this.foldCache.set(id, out);
    if (this.foldCache.size > 1024) this.foldCache.delete(this.foldCache.keys().next().value as number);
    return out;
  }

  /** A tensor by name: from the map once built, else from a few the head looked up. */
  private tensor(name: string): Tensor | undefined {
    // Before the map exists (the head), the tensors the head needs were found by lookFor().
    if (!this.names && this.few?.has(name)) return this.few.get(name);
    return this.byName.get(name);
  }

  private few?: Map<string, Tensor | undefined>;

  /** Find these tensors in one pass over the checkpoint's list (the head's shapes and ties). */
  private lookFor(names: Iterable<string>): void {
    if (this.names) return;
    if (!this.few) this.few = new Map();
    const want = new Set<string>();
    for (const n of names) if (!this.few.has(n)) want.add(n);
    if (!want.size) return;
    for (const t of this.cp.tensors) if (want.has(t.name)) this.few.set(t.name, t);
    for (const n of want) if (!this.few.has(n)) this.few.set(n, undefined);
  }

  wire(id: number): WireNode {
    const node = this.modules[id];
    const own: Tensor[] = [];
    for (let i = 0; i < Math.min(node.tensors.length, 4); i++) {
      const t = this.tensor(node.tensors[i]);
      if (t) own.push(t);
    }
    const w: WireNode = {
      id,
      parent: this.parentOf[id],
      index: this.indexOf[id],
      name: node.name,
      type: node.type,
      params: [node.parameters.unique, node.parameters.total],
      bytes: sumBytes(node.bytesByDtype),
      tensorCount: node.tensorCount,
      own: node.tensors.length,
      childCount: node.children.length,
      descendantRows: this.rowsUnder[id],
    };
    if (node.inferred) w.inferred = true;
    if (node.repr) w.repr = node.repr;
    if (node.evidence) w.evidence = node.evidence;
    if (node.buffers.unique || node.buffers.total) w.buffers = [node.buffers.unique, node.buffers.total];
    if (node.other.unique || node.other.total) w.other = [node.other.unique, node.other.total];
    const shapes = shapeSummary(node.path, own, node.tensors.length);
    if (shapes) w.shapes = shapes;
    const folds = this.wireFolds(id);
    if (folds) w.folds = folds;
    if (node.sharedWith.length) {
      const shared = this.wireShared(node.sharedWith);
      if (shared.length) w.shared = shared;
    }
    if (node.sharedWithMore) w.sharedMore = node.sharedWithMore;
    if (this.sharedParams[id] > 0) w.sharedParams = this.sharedParams[id];
    if (node.stored) w.stored = { ...node.stored };
    return w;
  }

  /** Wire nodes for `ids` with every ancestor, ancestors first, each once, in tree order. */
  closed(ids: Iterable<number>): WireNode[] {
    const want = new Set<number>();
    for (const id of ids) {
      for (let a = id; a >= 0 && !want.has(a); a = this.parentOf[a]) want.add(a);
    }
    // Pre-order ids: sorting puts every ancestor before its descendants.
    return [...want].sort((a, b) => a - b).map((id) => this.wire(id));
  }

  private check(id: number): void {
    if (!(id >= 0 && id < this.modules.length)) throw Object.assign(new Error(`no module with id ${id}`), { code: 'bad-params' });
  }

  nodes(q: NodeQuery): NodePage {
    switch (q.kind) {
      case 'children': {
        this.check(q.id);
        const { ids, next } = this.shown(q.id, q.folded, q.from, q.to, MAX_NODES_PAGE);
        const page: NodePage = { nodes: this.closed([q.id, ...ids]) };
        if (next !== undefined) page.next = next;
        return page;
      }
      case 'range': {
        const from = Math.max(0, Math.min(q.from, this.modules.length));
        const stop = Math.min(this.modules.length, from + Math.min(q.count, MAX_NODES_PAGE));
        const ids: number[] = [];
        for (let id = from; id < stop; id++) ids.push(id);
        return { nodes: this.closed(ids) };
      }
      case 'locate': {
        const ids = (q.ids ?? []).filter((id) => id >= 0 && id < this.modules.length);
        const found: number[] = [];
        for (const p of q.paths ?? []) found.push(this.byPath.get(p) ?? -1);
        for (const t of q.tensors ?? []) found.push(this.byName.has(t) || this.ownerByTensor.has(t) ? this.ownerOf(t) : -1);
        const all = ids.concat(found.filter((id) => id >= 0));
        return { nodes: this.closed(all.slice(0, MAX_NODES_PAGE)), found };
      }
      case 'view':
        return this.view(q.expandDepth);
      case 'items': {
        const out: number[] = [];
        for (const id of q.ids.slice(0, 500)) {
          if (!(id >= 0 && id < this.modules.length)) continue;
          const items = this.items(id);
          if (items.length > MAX_PREFETCH_ITEMS || out.length + items.length > MAX_NODES_PAGE) continue;
          out.push(id, ...items);
        }
        return { nodes: this.closed(out) };
      }
    }
  }

  /** A node's children as its rows show them: a folded run by its first block. */
  private items(id: number): number[] {
    return this.shown(id, true, 0, Infinity, Infinity).ids;
  }

  /**
   * The children of `id` from index `from` up to `to`, at most `limit` of them; `folded`: a
   * folded run by its first block only. `next`: the index to go on from, when `limit` cut it.
   */
  private shown(id: number, folded: boolean, from: number, to: number, limit: number): { ids: number[]; next?: number } {
    const kids = this.children(id);
    const runs = folded ? this.folds(id) : [];
    const ids: number[] = [];
    const end = Math.min(kids.length, to);
    let i = Math.max(0, from);
    let f = 0;
    for (; i < end && ids.length < limit; i++) {
      while (f < runs.length && runs[f].last < i) f++;
      const run = runs[f];
      if (run && i > run.first && i <= run.last) {
        i = run.last;
        continue;
      }
      ids.push(kids[i]);
    }
    return i < end ? { ids, next: i } : { ids };
  }

  /**
   * The first view: the expansion of firstView.ts, and the nodes of its first rows (each
   * expanded module's items, a folded run by its first block), at most FIRST_VIEW_ROWS.
   */
  view(expandDepth: number): NodePage {
    const expanded = new Set(firstViewExpansion(this, expandDepth));
    const sent: number[] = [];
    const open: number[] = [];
    // Walk the rows the view shows, in order, until the budget is spent.
    const stack: number[] = [this.root];
    while (stack.length && sent.length < FIRST_VIEW_ROWS) {
      const id = stack.pop()!;
      sent.push(id);
      if (!expanded.has(id)) continue;
      open.push(id);
      const kids = this.children(id);
      const runs = this.folds(id);
      const items: number[] = [];
      let f = 0;
      for (let i = 0; i < kids.length; i++) {
        while (f < runs.length && runs[f].last < i) f++;
        const run = runs[f];
        if (run && i >= run.first && i <= run.last) {
          // A folded run's row stands for its blocks; its first block comes along.
          if (i === run.first) sent.push(kids[i]);
          i = run.last;
          continue;
        }
        items.push(kids[i]);
      }
      for (let k = items.length - 1; k >= 0; k--) stack.push(items[k]);
    }
    return { nodes: this.closed(sent), expanded: open };
  }

  search(q: SearchQuery): SearchResult {
    const text = q.text.trim();
    if (!text) return { count: 0, matched: [], nodes: [] };
    let test: (s: string) => boolean;
    if (q.regex) {
      let re: RegExp;
      try {
        re = new RegExp(text, 'i');
      } catch (e) {
        return { count: 0, matched: [], nodes: [], error: e instanceof Error ? e.message : String(e) };
      }
      test = (s) => re.test(s);
    } else {
      const needle = text.toLowerCase();
      test = (s) => s.toLowerCase().includes(needle);
    }
    const limit = Math.min(q.limit, MAX_NODES_PAGE);
    const matched: number[] = [];
    let count = 0;
    let partial = false;
    const t0 = Date.now();
    for (let id = 1; id < this.modules.length; id++) {
      const m = this.modules[id];
      if (test(m.path) || test(m.type)) {
        count++;
        if (matched.length < limit) matched.push(id);
      }
      if ((id & 4095) === 0 && Date.now() - t0 > SEARCH_BUDGET_MS) {
        partial = true;
        break;
      }
    }
    const r: SearchResult = { count, matched, nodes: this.closed(matched) };
    if (partial) r.partial = true;
    return r;
  }

  groupInfo(index: number): WireGroupInfo | undefined {
    const g = this.cp.shared[index];
    if (!g) return undefined;
    const tensors = g.tensors.slice(0, MAX_GROUP_MEMBERS);
    const group: WireGroup = { tensors, relation: g.relation, storage: g.storage, uniqueElements: g.uniqueElements, totalElements: g.totalElements };
    if (g.reason) group.reason = g.reason;
    if (g.overlaps) {
      // Each listed member's overlaps among the listed members (positions ascend: a prefix).
      const n = tensors.length;
      group.overlaps = g.overlaps.slice(0, n).map((o) => {
        let k = 0;
        while (k < o.length && o[k] < n) k++;
        return o.slice(0, k);
      });
    }
    const info: WireGroupInfo = { index, group, owners: tensors.map((t) => this.ownerOf(t)) };
    if (g.tensors.length > tensors.length) info.more = g.tensors.length - tensors.length;
    return info;
  }

  groups(ids: readonly number[]): GroupPage {
    const groups: WireGroupInfo[] = [];
    const owners = new Set<number>();
    for (const i of ids.slice(0, 256)) {
      const info = this.groupInfo(i);
      if (!info) continue;
      groups.push(info);
      for (const o of info.owners) owners.add(o);
    }
    return { groups, nodes: this.closed([...owners].slice(0, MAX_NODES_PAGE)) };
  }

  /** What the webview gets first. */
  head(summary: WireSummary, expandDepth: number): ModelHead {
    const shared = this.cp.shared;
    const saving: { index: number; saved: number }[] = [];
    shared.forEach((g, index) => {
      const saved = g.totalElements - g.uniqueElements;
      if (saved > 0) saving.push({ index, saved });
    });
    saving.sort((a, b) => b.saved - a.saved || a.index - b.index);
    // The tensors the head's nodes name (their shapes, the tied ones), found in one pass.
    const want: string[] = [];
    for (const g of shared) for (const t of g.tensors) want.push(t);
    const take = (id: number) => {
      for (const t of this.modules[id].tensors.slice(0, 4)) want.push(t);
    };
    take(0);
    for (const id of firstViewExpansion(this, expandDepth)) for (const c of this.children(id).slice(0, FIRST_VIEW_ROWS)) take(c);
    this.lookFor(want);
    const view = this.view(expandDepth);
    return {
      summary,
      moduleCount: this.modules.length,
      groupCount: shared.length,
      savingGroups: saving.length,
      topGroups: saving.slice(0, TOP_GROUPS).map((s) => this.groupInfo(s.index)!),
      view: { nodes: view.nodes, expanded: view.expanded ?? [] },
    };
  }
}
