/**
 * Which bytes of its storage a tensor covers. Unique counts need this: three row blocks of one
 * fused weight cover three disjoint ranges (each counts), a transposed alias covers the same range
 * (counts nothing more). Ranges are half-open byte intervals within the storage.
 */
import { dtypeInfo } from './dtypes';

export type Interval = [number, number];

/** Enumerating more contiguous runs than this falls back to the tensor's span. */
const MAX_RUNS = 100_000;

export interface CoverageInput {
  dtype: string;
  shape: number[];
  strides: number[] | null;
  storageOffset: number | null;
  nbytes: number;
}

export function numelOf(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Whether two shapes (or lists of dimensions or strides, either possibly absent) are equal. */
export function sameDims(a: readonly number[] | null | undefined, b: readonly number[] | null | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Byte intervals (sorted, disjoint) that the tensor's elements occupy in its storage; its span
 * when it has more than `maxRuns` contiguous runs, and then `spanned.spanned` is set.
 */
export function coverage(t: CoverageInput, maxRuns = MAX_RUNS, spanned?: { spanned: boolean }): Interval[] {
  const off = t.storageOffset ?? 0;
  const numel = numelOf(t.shape);
  if (numel === 0) return [];
  const info = dtypeInfo(t.dtype);
  const es = info && info.bits % 8 === 0 ? info.bits / 8 : 0;
  if (!t.strides || es === 0 || isContiguous(t.shape, t.strides)) return [[off, off + t.nbytes]];
  // Drop dimensions that do not move (size 1) and collapse broadcast (stride 0) ones.
  const dims: { size: number; stride: number }[] = [];
  for (let i = 0; i < t.shape.length; i++) {
    if (t.shape[i] !== 1 && t.strides[i] !== 0) dims.push({ size: t.shape[i], stride: Math.abs(t.strides[i]) });
  }
  if (dims.length === 0) return [[off, off + es]];
  dims.sort((a, b) => a.stride - b.stride);
  // A permutation of a dense block (a transpose) covers its whole span.
  let expect = 1;
  let dense = true;
  for (const d of dims) {
    if (d.stride !== expect) {
      dense = false;
      break;
    }
    expect *= d.size;
  }
  let spanElems = 1;
  for (const d of dims) spanElems += (d.size - 1) * d.stride;
  if (dense) return [[off, off + spanElems * es]];
  // Merge the innermost dims that are dense into one contiguous run.
  let run = 1;
  let k = 0;
  while (k < dims.length && dims[k].stride === run) {
    run *= dims[k].size;
    k++;
  }
  const outer = dims.slice(k);
  let runs = 1;
  for (const d of outer) runs *= d.size;
  if (runs > maxRuns) {
    if (spanned) spanned.spanned = true;
    return [[off, off + spanElems * es]];
  }
  const starts: number[] = [0];
  for (const d of outer) {
    const n = starts.length;
    for (let j = 1; j < d.size; j++) for (let i = 0; i < n; i++) starts.push(starts[i] + j * d.stride);
  }
  const out: Interval[] = starts.map((s) => [off + s * es, off + (s + run) * es]);
  return mergeIntervals(out);
}

/** What is left of an analysis's budget of enumerated runs, and whether a view was measured by its span for want of it. */
export interface RunBudget {
  left: number;
  spent: boolean;
}

/** A view's coverage within `cap` runs and what is left of `runs`, charged to it. */
export function enumerated(t: CoverageInput, cap: number, runs: RunBudget): Interval[] {
  const limited = runs.left < cap;
  const fell = { spanned: false };
  const part = coverage(t, Math.max(1, Math.min(cap, runs.left)), fell);
  if (limited && fell.spanned) runs.spent = true;
  runs.left -= part.length;
  return part;
}

/** Row-major strides (size-1 dimensions ignored): the elements lie in one block. */
export function isContiguous(shape: number[], strides: number[]): boolean {
  if (shape.length !== strides.length) return false;
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expect) return false;
    expect *= shape[i];
  }
  return true;
}

/** Bytes from a tensor's first element to just past its last (its span), without enumerating. */
export function spanOf(t: CoverageInput): number {
  const numel = numelOf(t.shape);
  if (numel === 0) return 0;
  const info = dtypeInfo(t.dtype);
  const es = info && info.bits % 8 === 0 ? info.bits / 8 : 0;
  if (!t.strides || es === 0 || t.strides.length !== t.shape.length) return t.nbytes;
  let span = 1;
  for (let i = 0; i < t.shape.length; i++) span += (t.shape[i] - 1) * Math.abs(t.strides[i]);
  return span * es;
}

export function mergeIntervals(list: Interval[]): Interval[] {
  if (list.length <= 1) return list.slice();
  const s = list.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: Interval[] = [[s[0][0], s[0][1]]];
  for (let i = 1; i < s.length; i++) {
    const last = out[out.length - 1];
    if (s[i][0] <= last[1]) last[1] = Math.max(last[1], s[i][1]);
    else out.push([s[i][0], s[i][1]]);
  }
  return out;
}

export function intervalsLength(list: Interval[]): number {
  let n = 0;
  for (const [a, b] of list) n += b - a;
  return n;
}
