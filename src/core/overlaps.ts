/**
 * Which views of one storage overlap. Tensors on one storage are tied only where their elements
 * meet: `vector_to_parameters` or FSDP's flat parameter make thousands of parameters that are
 * disjoint views of one buffer, each overlapping none of its siblings (and, in FSDP, the flat
 * parameter alone). The module tree, the hover partners and the tie links draw a tie from this.
 *
 * Runs are swept in start order with a max-end segment tree, so a storage of 100,000 disjoint
 * views costs O(n log n), and each overlap is found in O(log n): never n².
 */
import { CoverageInput, enumerated, RunBudget } from './coverage';
import type { SharedGroup, SharedWith } from './model';
import { lowerBound } from './sorted';
export { tiedSets } from '../shared/tiedSets';

/** Overlapping runs enumerated per storage before giving up and calling every member tied. */
const PAIR_BUDGET = 4_000_000;

/** Contiguous runs enumerated per storage; past it a strided view stands as its span (as measure() does). */
const RUN_BUDGET = 2_000_000;

/**
 * For each member, the positions of the other members whose bytes it overlaps (ascending);
 * undefined when the overlaps are too many to list (then every member is taken as tied to every
 * other, as before this was worked out). Byte ranges within the storage: views of different
 * dtypes on one storage compare by the bytes they cover.
 *
 * Every member's contiguous runs (one for a contiguous view; a strided one, such as a column of
 * a matrix, has one per row) are swept together in start order: a run's overlaps are found in
 * O(log R) each, so 2,000 column slices of one matrix, whose spans all overlap and whose
 * elements never do, cost their runs, not 2,000² comparisons.
 */
export function viewOverlaps(members: readonly CoverageInput[], runs: RunBudget = { left: Infinity, spent: false }): number[][] | undefined {
  const n = members.length;
  const lo: number[] = [];
  const hi: number[] = [];
  const owner: number[] = [];
  let budget = RUN_BUDGET;
  for (let i = 0; i < n; i++) {
    // An empty view covers nothing and meets nothing.
    const c = enumerated(members[i], Math.min(100_000, budget), runs);
    budget -= c.length;
    for (const [a, b] of c) {
      if (!(b > a)) continue;
      lo.push(a);
      hi.push(b);
      owner.push(i);
    }
  }
  const r = lo.length;
  const order = Int32Array.from({ length: r }, (_, k) => k).sort((a, b) => lo[a] - lo[b] || a - b);
  const starts = Float64Array.from(order, (k) => lo[k]);
  // A segment tree of the largest end over the runs in start order.
  let size = 1;
  while (size < r) size *= 2;
  const tree = new Float64Array(2 * size).fill(-Infinity);
  for (let p = 0; p < r; p++) tree[size + p] = hi[order[p]];
  for (let v = size - 1; v >= 1; v--) tree[v] = Math.max(tree[2 * v], tree[2 * v + 1]);

  const out: number[][] = Array.from({ length: n }, () => []);
  let pairs = PAIR_BUDGET;
  const stack: number[] = [];
  for (let k = 0; k < r; k++) {
    const i = owner[k];
    // Runs starting before this one ends whose end is past its start: the ones it overlaps.
    const stop = lowerBound(starts, hi[k]);
    stack.length = 0;
    // Each entry: a node, the first run position it covers, and how many it covers.
    stack.push(1, 0, size);
    while (stack.length) {
      const width = stack.pop()!;
      const first = stack.pop()!;
      const v = stack.pop()!;
      if (first >= stop || tree[v] <= lo[k]) continue;
      if (v >= size) {
        const j = owner[order[first]];
        if (j === i) continue;
        if (--pairs < 0) return undefined;
        out[i].push(j);
        continue;
      }
      const half = width / 2;
      stack.push(2 * v + 1, first + half, half, 2 * v, first, half);
    }
  }
  for (let i = 0; i < n; i++) {
    const o = out[i];
    if (o.length < 2) continue;
    // A strided view meets another through several runs: each member once.
    o.sort((a, b) => a - b);
    let w = 1;
    for (let x = 1; x < o.length; x++) if (o[x] !== o[w - 1]) o[w++] = o[x];
    o.length = w;
  }
  return out;
}

/**
 * The names a shared tensor is tied to, of those `sharedWith` lists, and how many more: its
 * overlaps for a view whose overlaps are known, else every name on its storage.
 */
export function tiePartners(s: SharedWith): { names: string[]; more: number } {
  if (s.overlaps) return { names: s.overlaps, more: s.overlapsMore ?? 0 };
  return { names: s.others, more: s.more ?? 0 };
}

/** Names a group's entry lists in the text and Markdown exports, before "… and K more". */
export const GROUP_NAMES = 8;

/**
 * A group's members for one line of a shared-storage list, at most `max` names: joined by ` = `
 * where all are tied (an alias, a declared tie), by commas for views whose overlaps are known
 * (they are on one storage, not necessarily one weight). A storage viewed by 10,000 tensors must
 * not become one line of 10,000 names.
 */
export function groupMembers(g: SharedGroup, fmt: (name: string) => string, max = GROUP_NAMES): string {
  return boundedJoin(g.tensors, g.overlaps ? ', ' : ' = ', max, fmt);
}

/** The first `max` names (or items, with `fmt`) joined by `sep`, then "… and K more". */
export function boundedJoin<T = string>(names: readonly T[], sep: string, max = GROUP_NAMES, fmt: (name: T) => string = String): string {
  const shown = names.slice(0, max).map(fmt);
  const rest = names.length - shown.length;
  return shown.join(sep) + (rest > 0 ? ` … and ${rest} more` : '');
}

/** For views whose overlaps are known: how many of them overlap another (the ones tied), in words. */
export function overlapNote(g: SharedGroup): string | undefined {
  const ov = g.overlaps;
  if (!ov) return undefined;
  let tied = 0;
  for (const o of ov) if (o.length) tied++;
  if (tied === 0) return `${ov.length} disjoint views, none tied`;
  if (tied === ov.length) return undefined;
  return `${ov.length} views, ${tied} overlapping another`;
}
