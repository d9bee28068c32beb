/**
 * Tie sets of a storage group, shared by the core's exports and the webview (no DOM, no Node):
 * views of one storage are tied only where they overlap (core/overlaps.ts works that out).
 */

/** A storage group's members and, for views whose overlaps are known, each member's overlaps (positions in `tensors`). */
export interface OverlapGroup {
  tensors: readonly string[];
  overlaps?: readonly (readonly number[])[];
}

/**
 * The sets of a group's members that are tied to each other, for drawing a tie: every member for
 * an alias, a declared tie or deduplicated copies; for views, each set of members joined by
 * overlaps (members that overlap no other member are tied to nothing and left out).
 */
export function tiedSets(g: OverlapGroup): string[][] {
  return tiedPositions(g).map((set) => set.map((i) => g.tensors[i]));
}

/** tiedSets() as positions in `g.tensors` (ascending in each set), for callers that index beside it. */
export function tiedPositions(g: OverlapGroup): number[][] {
  const ov = g.overlaps;
  const n = g.tensors.length;
  if (!ov) return [Array.from({ length: n }, (_, i) => i)];
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (let i = 0; i < n; i++) for (const j of ov[i]) parent[find(i)] = find(j);
  const sets = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    if (ov[i].length === 0) continue;
    const r = find(i);
    const s = sets.get(r);
    if (s) s.push(i);
    else sets.set(r, [i]);
  }
  return [...sets.values()];
}
