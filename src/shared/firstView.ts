/**
 * The first view of a model (issue 12): which modules are expanded when a checkpoint opens.
 * Pure and DOM-free; the worker runs it over its whole tree, tests over any tree.
 *
 * Two rules, both bounded by `weightscope.expandDepth` (N):
 *  - breadth, as before: every module above depth N is expanded (root = depth 0; N = 2 shows
 *    `transformer.h`), so small models look as they always did;
 *  - structure: from the root, the path that holds the most parameters is followed down and
 *    expanded until the module whose largest item is a folded run of identical blocks (which then
 *    shows: `(3-60): 58 x Block`), a leaf, or depth 2N. On DeepSeek-V3 (N = 2): `model` →
 *    `layers` → `(3-60): 58 x DeepseekV3DecoderLayer` shows instead of six rows over an empty
 *    pane. N = 0 keeps only the root open.
 */
import type { FoldRun } from './protocol';

/** What the rule needs to know of a tree. */
export interface ShapeOfTree {
  readonly root: number;
  children(id: number): readonly number[];
  depth(id: number): number;
  /** Unique parameters of the subtree (what the tree's bars show). */
  unique(id: number): number;
  folds(id: number): readonly FoldRun[];
}

/** The largest item of a node: a child, or a folded run (its blocks together). */
export function heaviestItem(t: ShapeOfTree, id: number): { kind: 'child'; id: number } | { kind: 'fold'; run: FoldRun } | undefined {
  const kids = t.children(id);
  if (!kids.length) return undefined;
  const folds = t.folds(id).filter((f) => f.last > f.first && f.last < kids.length);
  let best: { kind: 'child'; id: number } | { kind: 'fold'; run: FoldRun } | undefined;
  let bestSize = -1;
  let f = 0;
  for (let i = 0; i < kids.length; i++) {
    while (f < folds.length && folds[f].last < i) f++;
    const run = folds[f];
    if (run && run.first === i) {
      let size = 0;
      for (let k = run.first; k <= run.last; k++) size += t.unique(kids[k]);
      if (size > bestSize) {
        best = { kind: 'fold', run };
        bestSize = size;
      }
      i = run.last;
      continue;
    }
    const size = t.unique(kids[i]);
    if (size > bestSize) {
      best = { kind: 'child', id: kids[i] };
      bestSize = size;
    }
  }
  return best;
}

/** The modules expanded in the first view (the root always), in tree order of discovery. */
export function firstViewExpansion(t: ShapeOfTree, expandDepth: number): number[] {
  const depth = Math.max(0, Math.floor(expandDepth));
  const expanded = new Set<number>([t.root]);
  // Breadth: every module above `depth` (a BFS that stops at the depth).
  const queue: number[] = [t.root];
  for (let q = 0; q < queue.length; q++) {
    const id = queue[q];
    if (t.depth(id) >= depth) continue;
    const kids = t.children(id);
    if (!kids.length) continue;
    expanded.add(id);
    for (const c of kids) if (t.children(c).length) queue.push(c);
  }
  // Structure: the heaviest path, down to the first folded run.
  const limit = 2 * depth;
  let cur = t.root;
  for (;;) {
    const item = heaviestItem(t, cur);
    if (!item || item.kind === 'fold') break;
    const next = item.id;
    if (t.depth(next) >= limit || !t.children(next).length) break;
    expanded.add(next);
    cur = next;
  }
  return [...expanded];
}
