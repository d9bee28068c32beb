/**
 * Type-ahead matching, shared by the webview's tree (labels it has) and the worker (the tensor
 * table's labels, which only the worker holds). DOM-free.
 */

/**
 * The next label (after `current`, wrapping) starting with `prefix` (lower case); -1 if none.
 * A one-character repeated prefix (`ww`) cycles through the labels starting with that character.
 */
export function findByPrefix(labels: (i: number) => string, count: number, current: number, prefix: string): number {
  if (!count || !prefix) return -1;
  const cycling = prefix.length > 1 && [...prefix].every((c) => c === prefix[0]);
  const p = cycling ? prefix[0] : prefix;
  // A longer prefix may still match the current row; a fresh or cycling one starts after it.
  const startOffset = prefix.length > 1 && !cycling ? 0 : 1;
  for (let k = 0; k < count; k++) {
    const i = (Math.max(current, 0) + startOffset + k) % count;
    if (labels(i).toLowerCase().startsWith(p)) return i;
  }
  return -1;
}
