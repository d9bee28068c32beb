/**
 * Number and label formatting shared by the webview and the host (status bar). DOM-free.
 * One number style everywhere: the CLI, the exports and the editor share src/core/numbers.ts.
 */
import { compact, exact } from '../core/numbers';

/** The core's number rule, for the webview (which imports nothing from the core but types). */
export { bytes, exact, percent } from '../core/numbers';
import type { NumberFormat, WireGroup } from './protocol';

/** `124439808` → `124M`, `7168` → `7.17K` (three significant digits); below 1000 the plain integer. */
export function compactCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return compact(n);
}

/** `124439808` → `124,439,808`. */
export function exactCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return exact(n);
}

export function formatCount(n: number, mode: NumberFormat): string {
  return mode === 'exact' ? exactCount(n) : compactCount(n);
}

/** A group's members as `a = b = c`. */
export function groupEquation(g: Pick<WireGroup, 'tensors'>, max = 4): string {
  const names = g.tensors.slice(0, max);
  const more = g.tensors.length - names.length;
  return names.join(' = ') + (more > 0 ? ` = … (${more} more)` : '');
}

/**
 * Why the plain total exceeds the unique count:
 * `38.6M shared: lm_head.weight = transformer.wte.weight`. Empty when nothing is shared.
 * `groups` may be the few that save the most; `savingGroups` then says how many save anything.
 */
export function explainSharing(unique: number, total: number, groups: readonly WireGroup[], mode: NumberFormat = 'compact', maxGroups = 3, savingGroups?: number): string {
  const diff = total - unique;
  if (diff <= 0) return '';
  const ranked = groups
    .map((g) => ({ g, saved: g.totalElements - g.uniqueElements }))
    .filter((x) => x.saved > 0)
    .sort((a, b) => b.saved - a.saved);
  const shown = ranked.slice(0, maxGroups).map((x) => groupEquation(x.g));
  const more = Math.max(ranked.length, savingGroups ?? 0) - shown.length;
  let s = `${formatCount(diff, mode)} shared`;
  if (shown.length) s += `: ${shown.join('; ')}`;
  if (more > 0) s += `; +${more} more group${more === 1 ? '' : 's'}`;
  return s;
}
