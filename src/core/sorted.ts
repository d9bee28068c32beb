/**
 * Binary searches in ascending arrays: numbers, or strings in code-unit order (what sort() gives).
 */

/** The first index of ascending `list` holding a value at least `x`; list.length when none does. */
export function lowerBound<T extends number | string>(list: ArrayLike<T>, x: T): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index of ascending `list` holding a value above `x`; list.length when none does. */
export function upperBound<T extends number | string>(list: ArrayLike<T>, x: T): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
