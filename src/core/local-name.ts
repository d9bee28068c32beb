/**
 * A tensor's local name (what follows its module's path and the dot) compared in place: the
 * readers of 92,000-tensor checkpoints ask this of every tensor, and cutting the local name out
 * would make a string per tensor.
 */

/** Whether `name`, from `at` (where its local name starts), is `local`. */
export function isLocalName(name: string, at: number, local: string): boolean {
  // The local name is the name's end: endsWith compares it in place at half startsWith's cost.
  return name.length - at === local.length && name.endsWith(local);
}

/** Whether the local name of `name` (from `at`) is `word` or ends with `_word`: `(^|_)word$` without a regular expression. */
export function endsLocalWord(name: string, at: number, word: string): boolean {
  if (!name.endsWith(word)) return false;
  const before = name.length - word.length;
  return before === at || (before > at && name.charCodeAt(before - 1) === 0x5f /* _ */);
}
