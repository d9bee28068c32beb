/**
 * The visible tree every diagram and document export draws from: the module tree cut at a depth,
 * runs of identical blocks folded into one row (`(0-11): 12 x Block`), very long child lists
 * elided in the middle, and each shared-storage group mapped onto the rows that show its
 * tensors. Pure data, no formatting: svg.ts, mermaid.ts and markdown.ts render it.
 */
import { Checkpoint, FoldRun, ModuleNode, Relation } from '../model';
import { tiedSets, tiePartners } from '../overlaps';

export interface LayoutOptions {
  /** Deepest level to show (root = 0). Default: the deepest level that keeps `maxRows` rows. */
  depth?: number;
  /** Row budget for the automatic depth. */
  maxRows?: number;
  /** A container with more visible children than this shows its head and tail and elides the middle. */
  maxChildren?: number;
  /** Don't fold runs of identical blocks. */
  unfold?: boolean;
}

export interface VisibleNode {
  /** Pre-order index among the rows. */
  id: number;
  kind: 'module' | 'fold' | 'collapsed' | 'elided';
  /** The module shown (for a fold: the run's first block, which stands for all of them). */
  node: ModuleNode;
  /** Row label: '' for the root, the attribute name, or `(0-11)` for a fold. */
  label: string;
  /** Dotted display path; a fold contributes `(0-11)`, e.g. `transformer.h.(0-11).attn`. */
  path: string;
  level: number;
  /** For a fold row. */
  fold?: FoldRun;
  /** True inside a folded run: counts are per block. */
  perBlock: boolean;
  /** Unique parameters this row stands for (a fold: the sum over its blocks). */
  unique: number;
  /** For collapsed and elided rows: what they stand for. */
  hidden?: { modules: number; tensors: number; parameters: number };
  children: VisibleNode[];
  parent?: VisibleNode;
}

export interface TieLink {
  /** Index in Checkpoint.shared. */
  group: number;
  relation: Relation;
  tensors: string[];
  /** The distinct rows showing the group's tensors, in row order. */
  rows: VisibleNode[];
}

export interface VisibleTree {
  root: VisibleNode;
  /** All rows in pre-order. */
  rows: VisibleNode[];
  /** The depth used. */
  depth: number;
  /** Deepest level in the whole model (root = 0). */
  modelDepth: number;
  ties: TieLink[];
  /** Rows showing each tensor's module (deepest visible), for tensors that share storage. */
  rowOf(tensor: string): VisibleNode;
}

const DEFAULT_MAX_ROWS = 400;
const DEFAULT_MAX_CHILDREN = 48;

/** How many children to keep at each end of a cut list of `max`: about three quarters at the head. */
function headTail(max: number): [number, number] {
  const head = Math.max(2, Math.floor((max - 1) * 0.75));
  return [head, Math.max(1, max - 1 - head)];
}

export function layoutTree(cp: Checkpoint, opts: LayoutOptions = {}): VisibleTree {
  const maxChildren = Math.max(4, opts.maxChildren ?? DEFAULT_MAX_CHILDREN);
  const modelDepth = depthOf(cp.modules);
  const depth = chooseDepth(cp.modules, modelDepth, maxChildren, opts);
  const builder = new RowBuilder(depth, maxChildren, !!opts.unfold);
  const root = builder.build(cp.modules);
  const rowOf = (tensor: string) => builder.rowOf(tensor);
  return { root, rows: builder.rows, depth, modelDepth, ties: tieLinks(cp, rowOf), rowOf };
}

/** The depth asked for, else the deepest level whose layout keeps within the row budget. */
function chooseDepth(modules: ModuleNode, modelDepth: number, maxChildren: number, opts: LayoutOptions): number {
  if (opts.depth !== undefined) return Math.max(0, Math.floor(opts.depth));
  const budget = opts.maxRows ?? DEFAULT_MAX_ROWS;
  for (let d = modelDepth; d >= 1; d--) {
    if (countRows(modules, d, maxChildren, !!opts.unfold, budget) <= budget) return d;
  }
  return 1;
}

/** A row to be made: children are laid out depth-first in the order they are pushed. */
interface Job {
  kind: 'module' | 'fold' | 'elided';
  m: ModuleNode;
  label: string;
  path: string;
  parent: VisibleNode;
  fold?: FoldRun;
  unique: number;
  hidden?: VisibleNode['hidden'];
  /** Child names under the parent that resolve to this row. */
  keys: string[];
}

/** Makes the rows in pre-order, and remembers which row each child name resolves to. */
class RowBuilder {
  readonly rows: VisibleNode[] = [];
  private readonly resolveKids = new Map<VisibleNode, Map<string, VisibleNode>>();
  private readonly head: number;
  private readonly tail: number;
  private root?: VisibleNode;

  constructor(
    private readonly depth: number,
    private readonly maxChildren: number,
    private readonly unfold: boolean,
  ) {
    [this.head, this.tail] = headTail(maxChildren);
  }

  build(modules: ModuleNode): VisibleNode {
    const root = this.make({ kind: 'module', node: modules, label: '', path: '', level: 0, perBlock: false, unique: modules.parameters.unique });
    this.root = root;
    // Iterative pre-order so very deep trees cannot exhaust the stack.
    const stack: Job[] = this.expand(root, modules).reverse();
    while (stack.length) {
      const j = stack.pop()!;
      const v = this.make({
        kind: j.kind,
        node: j.m,
        label: j.label,
        path: j.path,
        level: j.parent.level + 1,
        fold: j.fold,
        perBlock: j.parent.perBlock || j.parent.kind === 'fold',
        unique: j.unique,
        parent: j.parent,
        hidden: j.hidden,
      });
      const kidsMap = this.resolveKids.get(j.parent)!;
      for (const k of j.keys) kidsMap.set(k, v);
      if (j.kind === 'elided') {
        this.resolveKids.set(v, new Map());
        continue;
      }
      const inner = this.expand(v, j.m);
      for (let i = inner.length - 1; i >= 0; i--) stack.push(inner[i]);
    }
    return root;
  }

  /** The deepest visible row showing a tensor's module. */
  rowOf(tensor: string): VisibleNode {
    const parts = tensor.split('.');
    let v = this.root!;
    for (let i = 0; i < parts.length - 1; i++) {
      const next = this.resolveKids.get(v)?.get(parts[i]);
      if (!next) break;
      v = next;
      if (v.kind === 'elided') break;
    }
    // A module cut at the depth has no resolvable children: its own row stands for its subtree.
    return v;
  }

  private make(v: Omit<VisibleNode, 'id' | 'children'>): VisibleNode {
    const n: VisibleNode = { ...v, id: this.rows.length, children: [] };
    this.rows.push(n);
    if (v.parent) v.parent.children.push(n);
    return n;
  }

  /** The jobs for a row's children: a collapsed row past the depth, folds, and an elided middle for long lists. */
  private expand(v: VisibleNode, m: ModuleNode): Job[] {
    this.resolveKids.set(v, new Map());
    if (!m.children.length) return [];
    if (v.level >= this.depth) {
      this.make({
        kind: 'collapsed',
        node: m,
        label: '',
        path: v.path,
        level: v.level + 1,
        perBlock: v.perBlock || v.kind === 'fold',
        unique: 0,
        parent: v,
        hidden: { modules: countModules(m) - 1, tensors: m.tensorCount - m.tensors.length, parameters: m.parameters.unique },
      });
      return [];
    }
    const items = visibleItems(m, this.unfold);
    const cut = items.length > this.maxChildren;
    const shown: (Item | null)[] = cut ? [...items.slice(0, this.head), null, ...items.slice(items.length - this.tail)] : items;
    const childPath = (seg: string) => (v.path ? `${v.path}.${seg}` : seg);
    return shown.map((it): Job => {
      if (it === null) return this.elidedJob(v, m, items.slice(this.head, items.length - this.tail));
      const child = m.children[it.first];
      if (!it.fold) return { kind: 'module', m: child, label: child.name, path: childPath(child.name), parent: v, unique: child.parameters.unique, keys: [child.name] };
      // Blocks may share storage among themselves: never more than the parent holds.
      let unique = 0;
      for (let i = it.first; i <= it.last; i++) unique += m.children[i].parameters.unique;
      unique = Math.min(unique, m.parameters.unique);
      const label = `(${it.fold.from}-${it.fold.to})`;
      return { kind: 'fold', m: child, label, path: childPath(label), parent: v, fold: it.fold, unique, keys: names(m, it) };
    });
  }

  /** One row standing for the middle of a long child list, with what it hides. */
  private elidedJob(v: VisibleNode, m: ModuleNode, elided: Item[]): Job {
    const hidden = { modules: 0, tensors: 0, parameters: 0 };
    const keys: string[] = [];
    for (const e of elided) {
      for (let i = e.first; i <= e.last; i++) {
        const c = m.children[i];
        hidden.modules += countModules(c);
        hidden.tensors += c.tensorCount;
        hidden.parameters += c.parameters.unique;
        keys.push(c.name);
      }
    }
    hidden.parameters = Math.min(hidden.parameters, m.parameters.unique);
    return { kind: 'elided', m, label: '', path: v.path, parent: v, unique: hidden.parameters, hidden, keys };
  }
}

/** Each shared-storage group mapped onto the distinct rows showing its tensors, in row order. */
function tieLinks(cp: Checkpoint, rowOf: (tensor: string) => VisibleNode): TieLink[] {
  const out: TieLink[] = [];
  cp.shared.forEach((g, i) => {
    // One link per set of members tied to each other: views of one storage that overlap
    // nothing get none (overlaps.ts).
    for (const tensors of tiedSets(g)) {
      const seen = new Set<VisibleNode>();
      for (const t of tensors) seen.add(rowOf(t));
      const list = [...seen].sort((a, b) => a.id - b.id);
      out.push({ group: i, relation: g.relation, tensors, rows: list });
    }
  });
  return out;
}

interface Item {
  first: number;
  last: number;
  fold?: FoldRun;
}

/** A module's children as shown: folded runs become one item. */
export function visibleItems(m: ModuleNode, unfold: boolean): Item[] {
  const items: Item[] = [];
  const byFirst = new Map<number, FoldRun>();
  if (!unfold) for (const f of m.folds) byFirst.set(f.first, f);
  for (let i = 0; i < m.children.length; i++) {
    const f = byFirst.get(i);
    if (f) {
      items.push({ first: f.first, last: f.last, fold: f });
      i = f.last;
    } else items.push({ first: i, last: i });
  }
  return items;
}

function names(m: ModuleNode, it: Item): string[] {
  const out: string[] = [];
  for (let i = it.first; i <= it.last; i++) out.push(m.children[i].name);
  return out;
}

/** Rows a layout at `depth` would have, stopping early past `budget`. */
function countRows(m: ModuleNode, depth: number, maxChildren: number, unfold: boolean, budget: number): number {
  let rows = 1;
  const stack: [ModuleNode, number][] = [[m, 0]];
  while (stack.length && rows <= budget) {
    const [n, level] = stack.pop()!;
    if (!n.children.length) continue;
    if (level >= depth) {
      rows += 1;
      continue;
    }
    const items = visibleItems(n, unfold);
    const [HEAD, TAIL] = headTail(maxChildren);
    const shown = items.length > maxChildren ? [...items.slice(0, HEAD), ...items.slice(items.length - TAIL)] : items;
    if (items.length > maxChildren) rows += 1;
    for (const it of shown) {
      rows += 1;
      stack.push([n.children[it.first], level + 1]);
    }
  }
  return rows;
}

export function depthOf(m: ModuleNode): number {
  let max = 0;
  const stack: [ModuleNode, number][] = [[m, 0]];
  while (stack.length) {
    const [n, d] = stack.pop()!;
    if (d > max) max = d;
    for (const c of n.children) stack.push([c, d + 1]);
  }
  return max;
}

export function countModules(m: ModuleNode): number {
  let n = 0;
  const stack = [m];
  while (stack.length) {
    const x = stack.pop()!;
    n++;
    for (const c of x.children) stack.push(c);
  }
  return n;
}

/** The module path that owns a tensor (`a.b.weight` → `a.b`; a root tensor → ''). */
export function ownerPath(tensor: string): string {
  const i = tensor.lastIndexOf('.');
  return i < 0 ? '' : tensor.slice(0, i);
}

/** Module paths other than the module's own that it shares storage with, with how. */
export function sharedModules(m: ModuleNode): { path: string; relation: Relation }[] {
  const out = new Map<string, Relation>();
  for (const s of m.sharedWith) {
    // Views tie only to those they overlap (overlaps.ts).
    for (const o of tiePartners(s).names) {
      const p = ownerPath(o) || o;
      if (!out.has(p)) out.set(p, s.relation);
    }
  }
  return [...out].map(([path, relation]) => ({ path, relation }));
}
