/**
 * Shared storage in the tree: which rows light up when a row is hovered, and the tie links drawn
 * between the rows of each storage group. DOM-free.
 */
import type { Relation, WireGroup } from '../../../src/shared/protocol';
import { ModelTree, Row, TreeState } from './tree';

export interface SharingIndex {
  groups: readonly WireGroup[];
  /** Group index per member tensor name. */
  groupOf: Map<string, number>;
  /** Owning module id per group member, in the group's order. */
  owners: number[][];
}

export function indexSharing(tree: ModelTree, groups: readonly WireGroup[]): SharingIndex {
  const groupOf = new Map<string, number>();
  const owners: number[][] = [];
  groups.forEach((g, i) => {
    const o: number[] = [];
    for (const name of g.tensors) {
      groupOf.set(name, i);
      o.push(tree.ownerOf(name));
    }
    owners.push(o);
  });
  return { groups, groupOf, owners };
}

/** One other place a hovered item shares storage with. */
export interface SharedPeer {
  /** The tensor in the hovered item. */
  tensor: string;
  /** The tensor elsewhere on the same storage. */
  other: string;
  relation: Relation;
  group: number;
  /** Module owning `other`. */
  owner: number;
}

/** Peers of a module: tensors of its subtree that share storage with tensors outside it. */
export function modulePeers(tree: ModelTree, sharing: SharingIndex, id: number): SharedPeer[] {
  const out: SharedPeer[] = [];
  for (const s of tree.nodes[id].m.shared ?? []) {
    const group = sharing.groupOf.get(s.tensor) ?? -1;
    for (const other of s.others) out.push({ tensor: s.tensor, other, relation: s.relation, group, owner: tree.ownerOf(other) });
  }
  return out;
}

/** Peers of one tensor: every other name on its storage. */
export function tensorPeers(tree: ModelTree, sharing: SharingIndex, tensor: string): SharedPeer[] {
  const group = sharing.groupOf.get(tensor);
  if (group === undefined) return [];
  const g = sharing.groups[group];
  const out: SharedPeer[] = [];
  g.tensors.forEach((other, i) => {
    if (other !== tensor) out.push({ tensor, other, relation: g.relation, group, owner: sharing.owners[group][i] });
  });
  return out;
}

/** Peers of whatever a row shows (a fold row: the union of its members'). */
export function rowPeers(tree: ModelTree, sharing: SharingIndex, row: Row): SharedPeer[] {
  if (row.kind === 'module') return modulePeers(tree, sharing, row.id);
  const seen = new Set<string>();
  const out: SharedPeer[] = [];
  for (const id of row.ids) {
    for (const p of modulePeers(tree, sharing, id)) {
      // Peers inside the same fold are not "elsewhere".
      if (row.ids.some((m) => m === p.owner || tree.isAncestor(m, p.owner))) continue;
      const k = `${p.tensor}\u0000${p.other}`;
      if (!seen.has(k)) {
        seen.add(k);
        out.push(p);
      }
    }
  }
  return out;
}

/**
 * The row that stands for a module at one end of a link or highlight: its own row, the folded
 * run or collapsed ancestor that hides it, or -1 when the filter hides it. A module hidden under
 * an *expanded* ancestor is filtered out: pointing at that ancestor (often the root) would say
 * the ancestor shares storage, and would link a row to its own ancestor.
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
 * The links to draw: one per storage group whose members show on two or more different rows
 * (members the filter hides are left out, see endRow).
 * Lanes are assigned so links whose row spans overlap sit side by side.
 */
export function computeLinks(state: TreeState, sharing: SharingIndex, maxLanes = 8): { links: TieLink[]; lanes: number } {
  const links: TieLink[] = [];
  sharing.groups.forEach((g, i) => {
    const set = new Set<number>();
    for (const owner of sharing.owners[i]) {
      const r = endRow(state, owner);
      if (r >= 0) set.add(r);
    }
    if (set.size < 2) return;
    const rows = [...set].sort((a, b) => a - b);
    links.push({ group: i, relation: g.relation, names: g.tensors.slice(), rows, lane: 0 });
  });
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
