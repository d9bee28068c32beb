/**
 * Shared storage in the tree: which rows light up when a row is hovered, and the tie links drawn
 * between the rows of each storage group. DOM-free.
 *
 * The groups come on demand (GroupStore): with a tensor page, with the summary (the largest
 * few), or asked for when a row sharing storage shows or is hovered — the answer brings the
 * modules owning the members (and their ancestors) into the tree, so each end of a link has a
 * row to point at: its own, or the folded run or collapsed ancestor hiding it.
 */
import type { GroupPage, Relation, WireGroup, WireGroupInfo, WireShared } from '../../../src/shared/protocol';
import type { LazyTree } from './lazyTree';
import { tiedPositions } from '../../../src/shared/tiedSets';
import { Row, TreeState } from './tree';

export type GroupFetcher = (ids: number[]) => Promise<GroupPage>;

/** Storage groups known to the webview, and the way to ask for more. */
export class GroupStore {
  private readonly map = new Map<number, WireGroupInfo>();
  private readonly inflight = new Map<number, Promise<void>>();
  /** Groups asked for already: not asked again (a group with thousands of owners may not bring them all). */
  private readonly fetched = new Set<number>();
  private epoch = 0;

  constructor(
    private readonly tree: LazyTree,
    private readonly fetch: GroupFetcher,
    /** Groups in the model. */
    readonly count = 0,
  ) {}

  get(index: number): WireGroupInfo | undefined {
    return this.map.get(index);
  }

  group(index: number): WireGroup | undefined {
    return this.map.get(index)?.group;
  }

  known(): IterableIterator<WireGroupInfo> {
    return this.map.values();
  }

  add(infos: readonly WireGroupInfo[] | undefined): void {
    for (const g of infos ?? []) this.map.set(g.index, g);
  }

  /** A group is ready when known and every owner it lists is in the tree. */
  ready(index: number): boolean {
    const g = this.map.get(index);
    return !!g && g.owners.every((o) => this.tree.node(o) !== undefined);
  }

  /**
   * Ask for the groups (and their owners) not ready yet; resolves with whether any was missing
   * (whether the rows may change).
   */
  ensure(indices: Iterable<number>): Promise<boolean> {
    const ask: number[] = [];
    const waits: Promise<void>[] = [];
    for (const i of new Set(indices)) {
      if (i < 0 || this.ready(i) || (this.fetched.has(i) && !this.inflight.has(i))) continue;
      const w = this.inflight.get(i);
      if (w) waits.push(w);
      else ask.push(i);
    }
    if (ask.length) {
      const epoch = this.epoch;
      const p = this.fetch(ask).then(
        (page) => {
          for (const i of ask) {
            this.inflight.delete(i);
            this.fetched.add(i);
          }
          if (epoch !== this.epoch) return;
          this.add(page.groups);
          this.tree.add(page.nodes);
        },
        (e) => {
          for (const i of ask) this.inflight.delete(i);
          throw e;
        },
      );
      for (const i of ask) this.inflight.set(i, p);
      waits.push(p);
    }
    return waits.length ? Promise.all(waits).then(() => true) : Promise.resolve(false);
  }

  dispose(): void {
    this.epoch++;
  }
}

/** One other place a hovered item shares storage with. */
export interface SharedPeer {
  /** The tensor in the hovered item. */
  tensor: string;
  /** The tensor elsewhere on the same storage. */
  other: string;
  relation: Relation;
  group: number;
  /** Module owning `other` (it may not be loaded yet: GroupStore.ensure brings it). */
  owner: number;
}

function peersOf(list: readonly WireShared[] | undefined): SharedPeer[] {
  const out: SharedPeer[] = [];
  for (const s of list ?? []) s.others.forEach((other, i) => out.push({ tensor: s.tensor, other, relation: s.relation, group: s.group, owner: s.owners[i] ?? -1 }));
  return out;
}

/** Peers of a module: tensors of its subtree that share storage with tensors outside it. */
export function modulePeers(tree: LazyTree, id: number): SharedPeer[] {
  return peersOf(tree.node(id)?.m.shared);
}

/** Peers of one tensor: every other name on its storage (the group must be known). */
export function tensorPeers(groups: GroupStore, tensor: string, group: number): SharedPeer[] {
  const info = groups.get(group);
  if (!info) return [];
  const out: SharedPeer[] = [];
  const ov = info.group.overlaps;
  const at = info.group.tensors.indexOf(tensor);
  if (ov && at >= 0) {
    // A view is tied only to the views it overlaps, not to every other view of its storage.
    for (const i of ov[at] ?? []) out.push({ tensor, other: info.group.tensors[i], relation: info.group.relation, group, owner: info.owners[i] });
    return out;
  }
  info.group.tensors.forEach((other, i) => {
    if (other !== tensor) out.push({ tensor, other, relation: info.group.relation, group, owner: info.owners[i] });
  });
  return out;
}

/** Peers of whatever a row shows (a fold row: its blocks' peers outside the run). */
export function rowPeers(tree: LazyTree, row: Row): SharedPeer[] {
  if (row.kind === 'module') return modulePeers(tree, row.id);
  if (row.kind === 'fold') return peersOf(row.run.shared);
  return [];
}

/** Groups a row takes part in. */
export function rowGroups(tree: LazyTree, row: Row): number[] {
  const list = row.kind === 'module' ? tree.node(row.id)?.m.shared : row.kind === 'fold' ? row.run.shared : undefined;
  if (!list?.length) return [];
  return [...new Set(list.map((s) => s.group))];
}

/**
 * The row that stands for a module at one end of a link or highlight: its own row, the folded
 * run or collapsed ancestor that hides it, or -1 when the filter hides it (or it is not loaded).
 * A module hidden under an *expanded* ancestor is filtered out: pointing at that ancestor (often
 * the root) would say the ancestor shares storage, and would link a row to its own ancestor.
 */
export function endRow(state: TreeState, owner: number): number {
  const r = state.nearestRow(owner);
  if (r < 0) return -1;
  const row = state.rows[r];
  if (row.kind === 'module' && row.id !== owner && row.expanded) return -1;
  return r;
}

/** The filter hides this module (and nothing on screen stands for it). */
export function filteredOut(state: TreeState, owner: number): boolean {
  return state.filtering && endRow(state, owner) < 0;
}

/** Rows to light up for a set of peers (the row standing for each owner), minus `exclude`. */
export function highlightRows(state: TreeState, peers: readonly SharedPeer[], exclude: number): number[] {
  const rows = new Set<number>();
  for (const p of peers) {
    const r = endRow(state, p.owner);
    if (r >= 0 && r !== exclude) rows.add(r);
  }
  return [...rows].sort((a, b) => a - b);
}

export interface TieLink {
  group: number;
  relation: Relation;
  /** Member tensor names (the `data-shared` attribute). */
  names: string[];
  /** Distinct rows joined, ascending. */
  rows: number[];
  /** Gutter lane, 0 nearest the rows. */
  lane: number;
}

/**
 * The links to draw: one per known storage group whose members show on two or more different
 * rows (members the filter hides are left out, see endRow). Lanes are assigned so links whose
 * row spans overlap sit side by side.
 */
export function computeLinks(state: TreeState, groups: Iterable<WireGroupInfo>, maxLanes = 8): { links: TieLink[]; lanes: number } {
  const links: TieLink[] = [];
  for (const g of groups) {
    // One link per set of members tied to each other: views that overlap nothing get none.
    for (const members of tiedPositions(g.group)) {
      const set = new Set<number>();
      for (const i of members) {
        const r = endRow(state, g.owners[i]);
        if (r >= 0) set.add(r);
      }
      if (set.size < 2) continue;
      const rows = [...set].sort((a, b) => a - b);
      links.push({ group: g.index, relation: g.group.relation, names: members.map((i) => g.group.tensors[i]), rows, lane: 0 });
    }
  }
  links.sort((a, b) => a.group - b.group);
  // Greedy interval colouring by start row.
  const order = links.slice().sort((a, b) => a.rows[0] - b.rows[0] || b.rows[b.rows.length - 1] - a.rows[a.rows.length - 1]);
  const laneEnd: number[] = [];
  for (const l of order) {
    const start = l.rows[0];
    const end = l.rows[l.rows.length - 1];
    let lane = laneEnd.findIndex((e) => e < start);
    if (lane < 0) {
      if (laneEnd.length < maxLanes) {
        lane = laneEnd.length;
        laneEnd.push(end);
      } else {
        // Out of lanes: share the one that frees up first.
        lane = laneEnd.indexOf(Math.min(...laneEnd));
        laneEnd[lane] = Math.max(laneEnd[lane], end);
      }
    } else {
      laneEnd[lane] = end;
    }
    l.lane = lane;
  }
  return { links, lanes: laneEnd.length };
}

/** Links that cross the row window [start, end). */
export function linksInWindow(links: readonly TieLink[], start: number, end: number): TieLink[] {
  return links.filter((l) => l.rows[0] < end && l.rows[l.rows.length - 1] >= start);
}

/** Number of distinct colours for storage groups (the theme's chart colours). */
export const GROUP_COLOURS = 6;

export function groupColour(group: number): number {
  return ((group % GROUP_COLOURS) + GROUP_COLOURS) % GROUP_COLOURS;
}
