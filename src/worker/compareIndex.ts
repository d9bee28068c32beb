/**
 * The comparison view's rows (issue 14): the aligned tree of a `CheckpointDiff` flattened in
 * pre-order, and the rows a view shows (the rows the user expanded, all or only the changes),
 * served a page at a time with the tie links that reach the page. The webview never holds the
 * aligned tree: comparing a 92,000-module model with itself sends the few rows on screen.
 * Pure (no Node, no vscode): mocha tests it on fixtures.
 */
import { formatLabel } from '../core/formats';
import { exact } from '../core/numbers';
import type { Relation } from '../core/model';
import { sideTies } from '../core/diff/compare';
import { CheckpointDiff, ModuleRow, SideCounts, TensorPair } from '../core/diff/model';
import { otherParts, rowHead, sharingChange, tensorChange, tieMembers, verdict } from '../core/diff/render';
import { keyLine, noteOf, shortLabel } from '../core/diff/svg';
import type { CompareHead, CompareLink, CompareRow, CompareRowsPage, CompareRowsQuery, CompareSide, CompareTensor, CompareTensorPage, CompareView } from '../shared/protocol';

/** Rows the first view shows at most (the changed rows are expanded while they fit). */
export const FIRST_VIEW_ROWS = 400;
/** Links sent with one page at most. */
export const MAX_PAGE_LINKS = 500;
/** Names listed per tie link and per "shares storage with". */
const MAX_NAMES = 8;

interface Group {
  side: 'a' | 'b';
  status: CompareLink['status'];
  relation: Relation;
  tensors: string[];
  /** Row ids holding its tensors (distinct, ascending). */
  rows: number[];
}

interface Visible {
  key: string;
  ids: Int32Array;
  /** id → position, for the rows shown. */
  pos: Map<number, number>;
  links?: CompareLink[];
}

export class CompareIndex {
  /** Rows in pre-order; `end[i]` is one past the last row of i's subtree. */
  readonly rows: ModuleRow[] = [];
  private readonly parent: number[] = [];
  private readonly depth: number[] = [];
  private readonly end: number[] = [];
  private readonly groups: Group[] = [];
  private readonly holder = new Map<TensorPair, number>();
  private readonly sharesOf = { a: new Map<string, string[]>(), b: new Map<string, string[]>() };
  private last?: Visible;

  constructor(readonly diff: CheckpointDiff) {
    // Pre-order without recursion (a 92,000-module tree is deep enough only in breadth, but a
    // hand-made checkpoint may nest thousands of levels).
    const stack: { r: ModuleRow; parent: number; depth: number }[] = [{ r: diff.root, parent: -1, depth: 0 }];
    const open: number[] = [];
    while (stack.length) {
      const { r, parent, depth } = stack.pop()!;
      while (open.length && this.depth[open[open.length - 1]] >= depth) this.end[open.pop()!] = this.rows.length;
      const id = this.rows.length;
      this.rows.push(r);
      this.parent.push(parent);
      this.depth.push(depth);
      this.end.push(0);
      open.push(id);
      for (const t of r.tensors) this.holder.set(t, id);
      for (let i = r.children.length - 1; i >= 0; i--) stack.push({ r: r.children[i], parent: id, depth: depth + 1 });
    }
    while (open.length) this.end[open.pop()!] = this.rows.length;
    this.buildGroups();
  }

  /** Each side's storage groups (exporter deduplication left out), what happened to them, and the rows holding them. */
  private buildGroups(): void {
    const d = this.diff;
    for (const side of ['a', 'b'] as const) {
      for (const g of (side === 'a' ? d.a : d.b).shared) {
        for (const n of g.tensors) {
          const others = g.tensors.filter((x) => x !== n);
          this.sharesOf[side].set(n, others.slice(0, MAX_NAMES).concat(others.length > MAX_NAMES ? [`… ${exact(others.length - MAX_NAMES)} more`] : []));
        }
      }
    }
    for (const t of sideTies(d)) {
      const rows = new Set<number>();
      for (const p of t.pairs) {
        const id = this.holder.get(p);
        if (id !== undefined) rows.add(id);
      }
      if (!rows.size) continue;
      this.groups.push({ side: t.side, status: t.status, relation: t.relation, tensors: t.tensors.slice(0, MAX_NAMES), rows: [...rows].sort((x, y) => x - y) });
    }
  }

  /** A row that differs in any way (its subtree holds a change or a rename). */
  differs(id: number): boolean {
    const r = this.rows[id];
    return r.status !== 'equal' || r.renamed > 0;
  }

  /** The first view: the root, and changed rows opened breadth first while the rows shown stay within `limit`. */
  firstView(limit = FIRST_VIEW_ROWS): number[] {
    const expanded = [0];
    let shown = 1 + this.rows[0].children.length;
    let level = this.childIds(0);
    while (level.length) {
      const next: number[] = [];
      for (const id of level) {
        const r = this.rows[id];
        if (!r.children.length || r.status === 'equal') continue;
        if (shown + r.children.length > limit) continue;
        expanded.push(id);
        shown += r.children.length;
        next.push(...this.childIds(id));
      }
      level = next;
    }
    return expanded;
  }

  childIds(id: number): number[] {
    const out: number[] = [];
    for (let c = id + 1; c < this.end[id]; c = this.end[c]) out.push(c);
    return out;
  }

  /** The rows a view shows, in order (memoised for the last view asked). */
  visible(view: CompareView): Visible {
    const key = `${view.changesOnly ? 1 : 0}:${view.expanded.slice().sort((x, y) => x - y).join(',')}`;
    if (this.last?.key === key) return this.last;
    const open = new Set(view.expanded);
    open.add(0);
    const ids: number[] = [];
    let i = 0;
    const n = this.rows.length;
    while (i < n) {
      if (view.changesOnly && i > 0 && !this.differs(i)) {
        i = this.end[i];
        continue;
      }
      ids.push(i);
      i = open.has(i) ? i + 1 : this.end[i];
    }
    const pos = new Map<number, number>();
    ids.forEach((id, k) => pos.set(id, k));
    this.last = { key, ids: Int32Array.from(ids), pos };
    return this.last;
  }

  /** Tie links of a view: each group joins the visible rows standing for its tensors' modules. */
  private links(v: Visible): CompareLink[] {
    if (v.links) return v.links;
    const out: CompareLink[] = [];
    const memo = new Map<number, number>();
    const shownAs = (id: number): number => {
      const hit = memo.get(id);
      if (hit !== undefined) return hit;
      const p = v.pos.get(id);
      const r = p !== undefined ? p : this.parent[id] >= 0 ? shownAs(this.parent[id]) : -1;
      memo.set(id, r);
      return r;
    };
    for (const g of this.groups) {
      const at = [...new Set(g.rows.map(shownAs).filter((p) => p >= 0))].sort((x, y) => x - y);
      // A tie inside one shown row is drawn (as a loop) only when something happened to it.
      if (!at.length || (at.length === 1 && g.status === 'same')) continue;
      out.push({ side: g.side, status: g.status, relation: g.relation, tensors: g.tensors, rows: at });
    }
    out.sort((x, y) => x.rows[0] - y.rows[0] || x.rows[x.rows.length - 1] - y.rows[y.rows.length - 1]);
    v.links = out;
    return out;
  }

  page(q: CompareRowsQuery): CompareRowsPage {
    const v = this.visible(q.view);
    const total = v.ids.length;
    const from = Math.min(q.offset, total);
    const to = Math.min(total, from + q.limit);
    const open = new Set(q.view.expanded);
    open.add(0);
    const rows: CompareRow[] = [];
    for (let k = from; k < to; k++) rows.push(this.wireRow(v.ids[k], open.has(v.ids[k])));
    const all = this.links(v);
    const links = all.filter((l) => l.rows[0] < to && l.rows[l.rows.length - 1] >= from).slice(0, MAX_PAGE_LINKS);
    return { total, offset: from, rows, links, linkCount: all.length };
  }

  wireRow(id: number, expanded: boolean): CompareRow {
    const r = this.rows[id];
    const side = (m: ModuleRow['a'], c: SideCounts | null): CompareSide | null =>
      m && c
        ? {
            type: m.type,
            repr: m.repr,
            unique: c.parameters.unique,
            total: c.parameters.total,
            owned: c.parameters.owned,
            buffers: c.buffers.unique,
            bytes: c.bytes.unique,
            ownedBytes: c.bytes.owned,
          }
        : null;
    const note = noteOf(r, this.diff, this.depth[id]);
    return {
      id,
      parent: this.parent[id],
      depth: this.depth[id],
      name: r.name,
      path: r.path,
      aPath: r.aPath,
      status: r.status,
      a: side(r.a, r.countsA),
      b: side(r.b, r.countsB),
      head: rowHead(r),
      typeChanged: r.typeChanged,
      changed: r.changed,
      renamed: r.renamed,
      own: r.tensors.length,
      childCount: r.children.length,
      expanded: expanded && r.children.length > 0,
      note: note || undefined,
    };
  }

  tensors(id: number, offset: number, limit: number): CompareTensorPage {
    const r = this.rows[id];
    if (!r) return { total: 0, offset: 0, items: [] };
    const brief = (t: TensorPair['a']) => (t ? { dtype: t.dtype, shape: t.shape.slice(), role: t.role, numel: t.numel, nbytes: t.nbytes, present: t.present } : null);
    const items = r.tensors.slice(offset, offset + limit).map((p): CompareTensor => {
      const change = p.status === 'changed' ? [tensorChange(p), p.changes.includes('sharing') ? sharingChange(p, this.diff) : ''].filter(Boolean).join(', ') : undefined;
      return {
        key: p.key,
        status: p.status,
        aName: p.aName && p.aName !== p.key ? p.aName : undefined,
        a: brief(p.a),
        b: brief(p.b),
        change: change || undefined,
        sharesA: p.a ? this.sharesOf.a.get(p.key) : undefined,
        sharesB: p.b ? this.sharesOf.b.get(p.key) : undefined,
      };
    });
    return { total: r.tensors.length, offset, items };
  }

  head(): CompareHead {
    const d = this.diff;
    const bytes = (cp: CheckpointDiff['a']) => Object.values(cp.bytesByDtype).reduce((s, x) => s + x, 0);
    const side = (cp: CheckpointDiff['a']) => ({
      path: cp.path,
      label: shortLabel(cp.path),
      format: cp.format,
      formatLabel: formatLabel(cp.format),
      architecture: cp.architecture,
      files: cp.files.length,
      tensors: cp.tensors.filter((t) => t.present).length,
      parameters: { ...cp.parameters },
      buffers: { ...cp.buffers },
      bytes: bytes(cp),
    });
    const ties = [
      ...d.shared.lost.map((t) => `lost: ${tieMembers(t.tensors)} (${t.relation} in a); in b: ${otherParts(t.other)}`),
      ...d.shared.gained.map((t) => `gained: ${tieMembers(t.tensors)} (${t.relation} in b); in a: ${otherParts(t.other)}`),
      ...d.shared.changed.map((t) => `relation changed: ${tieMembers(t.tensors)} (${t.relation.a} in a, ${t.relation.b} in b)`),
    ];
    const value = (v: unknown) => (v === undefined ? '(absent)' : (JSON.stringify(v) ?? String(v)));
    return {
      a: side(d.aOriginal),
      b: side(d.b),
      equal: d.equal,
      verdict: verdict(d),
      reasons: d.reasons.slice(),
      summary: {
        added: d.added.length,
        removed: d.removed.length,
        changed: d.changed.length,
        renamed: d.renamed.length,
        tiesLost: d.shared.lost.length,
        tiesGained: d.shared.gained.length,
        tiesChanged: d.shared.changed.length,
        config: d.config.filter((c) => !c.informational).length,
      },
      rowCount: this.rows.length,
      expanded: this.firstView(),
      ties: ties.slice(0, 50),
      config: d.config.slice(0, 50).map((c) => keyLine(c, value)),
    };
  }
}
