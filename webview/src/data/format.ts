/**
 * Number, byte and shape formatting for the webview. DOM-free (compiled and tested under Node).
 */
import type { NumberFormat, WireGroup } from '../shared/protocol';

// One number style everywhere: the CLI, the exports and the editor share src/core/numbers.ts.
import { bytes as coreBytes, compact, exact, percent } from '../../../src/core/numbers';

/** `124439808` → `124.4M`; below 1000 the plain integer. */
export function compactCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return compact(n);
}

/** `124439808` → `124,439,808`. */
export function exactCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return n < 0 ? `-${exact(-n)}` : exact(n);
}

export function formatCount(n: number, mode: NumberFormat): string {
  return mode === 'exact' ? exactCount(n) : compactCount(n);
}

/** `497759232` → `474.7 MiB`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return String(n);
  return coreBytes(n);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Share of the whole: `30.9%`, `1.25%`, `<0.1%`, `0%`. */
export function formatShare(part: number, whole: number): string {
  if (part <= 0) return '0%';
  return percent(part, whole);
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
 */
export function explainSharing(unique: number, total: number, groups: readonly WireGroup[], mode: NumberFormat = 'compact', maxGroups = 3): string {
  const diff = total - unique;
  if (diff <= 0) return '';
  const ranked = groups
    .map((g) => ({ g, saved: g.totalElements - g.uniqueElements }))
    .filter((x) => x.saved > 0)
    .sort((a, b) => b.saved - a.saved);
  const shown = ranked.slice(0, maxGroups).map((x) => groupEquation(x.g));
  const more = ranked.length - shown.length;
  let s = `${formatCount(diff, mode)} shared`;
  if (shown.length) s += `: ${shown.join('; ')}`;
  if (more > 0) s += `; +${more} more group${more === 1 ? '' : 's'}`;
  return s;
}

/** Relation and offset, as the tooltip and table print them: `alias`, `view @ +4096 B`. */
export function describeRelation(relation: string, storageOffset: number | null | undefined): string {
  if (relation === 'view' && storageOffset !== null && storageOffset !== undefined) return `view @ +${storageOffset} B`;
  return relation;
}

export const FORMAT_LABELS: Record<string, string> = {
  safetensors: 'safetensors',
  'safetensors-sharded': 'safetensors (sharded)',
  'pytorch-zip': 'PyTorch (zip)',
  'pytorch-legacy': 'PyTorch (legacy pickle)',
  gguf: 'GGUF',
  onnx: 'ONNX',
};

export function formatLabel(format: string): string {
  return FORMAT_LABELS[format] ?? format;
}
