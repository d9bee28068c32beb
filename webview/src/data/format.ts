/**
 * Byte, shape, storage and tooltip formatting for the webview. DOM-free (compiled and tested
 * under Node). The number and label helpers the host also uses are in src/shared/format.ts.
 */
import type { NumberFormat, Relation, WireGroup, WireTensor } from '../../../src/shared/protocol';
import { exactCount, formatCount } from '../../../src/shared/format';

// One number style everywhere: the CLI, the exports and the editor share src/core/numbers.ts.
import { bytes as coreBytes, percent } from '../../../src/shared/format';

/**
 * A count with its unit, and the exact number after it only when it says something more:
 * `4.1K parameters (4,096)` (compact), `4,096 parameters` (exact format, or below 1,000).
 */
export function countPhrase(n: number, mode: NumberFormat, unit: string): string {
  const shown = formatCount(n, mode);
  const ex = exactCount(n);
  return `${shown} ${unit}${shown === ex ? '' : ` (${ex})`}`;
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

/**
 * A view group whose members do not overlap (same storage, disjoint byte ranges, e.g. q, k and
 * v cut from one fused weight): each member is a *slice*, and no element is counted twice.
 */
export function isDisjoint(g: Pick<WireGroup, 'relation' | 'uniqueElements' | 'totalElements'>): boolean {
  return g.relation === 'view' && g.uniqueElements === g.totalElements;
}

/**
 * Relation and offset, as the tooltip prints them: `alias`, `view @ +4096 B`, `slice @ +256 B`
 * (a view that overlaps no other member).
 */
export function describeRelation(relation: string, storageOffset: number | null | undefined, disjoint = false): string {
  if (relation === 'deduplicated') return 'equal values, stored once by the exporter';
  const word = relation === 'view' && disjoint ? 'slice' : relation;
  if (relation === 'view' && storageOffset !== null && storageOffset !== undefined) return `${word} @ +${storageOffset} B`;
  return word;
}

/** Other names formats give our dtypes: PyTorch storage classes, ONNX element types. */
const DTYPE_ALIASES: Record<string, string> = {
  float: 'float32',
  double: 'float64',
  half: 'float16',
  long: 'int64',
  int: 'int32',
  short: 'int16',
  char: 'int8',
  byte: 'uint8',
};

/** `F32` / `torch.FloatStorage` / `FLOAT` → `float32`, for comparing with our dtype name. */
function canonicalDtype(name: string): string {
  let n = name.trim().replace(/^torch\./, '').replace(/Storage$/, '').toLowerCase();
  const short = /^(bf|f|i|u)(\d+)$/.exec(n);
  if (short) n = `${{ bf: 'bfloat', f: 'float', i: 'int', u: 'uint' }[short[1] as 'bf' | 'f' | 'i' | 'u']}${short[2]}`;
  return DTYPE_ALIASES[n] ?? n;
}

/**
 * The file's own dtype name when it says more than ours: `Q4_K in the file`, `sparse in the
 * file`; nothing for another spelling of the same type (`F32`, `torch.FloatStorage`, `FLOAT`).
 */
export function dtypeNote(dtype: string, formatDtype: string | undefined): string {
  if (!formatDtype) return '';
  if (canonicalDtype(formatDtype) === canonicalDtype(dtype)) return '';
  return `${formatDtype} in the file`;
}

/** Names for a column: the first two, then `+n`. */
function shortList(names: readonly string[]): string {
  return names.slice(0, 2).join(', ') + (names.length > 2 ? ` +${names.length - 2}` : '');
}

/**
 * The tensor table's Storage cell. A tensor alone on its storage is `own` (whatever the format
 * calls the storage: `model.safetensors:wte.weight`, `model.pt:1`; the key goes in the title).
 * Shared storage: `= b` (alias: the same bytes), `view of b` (overlapping), `slice of
 * storage: b` (a byte range of the storage b is also on, not overlapping it), a declared tie, or
 * `stored once with b (deduplicated)` (an exporter kept one copy of equal tensors).
 */
export function storageCell(
  t: Pick<WireTensor, 'name' | 'present' | 'storage' | 'storageOffset'>,
  g: Pick<WireGroup, 'tensors' | 'relation' | 'uniqueElements' | 'totalElements' | 'reason' | 'storage'> | undefined,
): { text: string; title: string; shared: boolean } {
  const at = t.storageOffset ? ` @ +${t.storageOffset} B` : '';
  const key = t.storage ?? g?.storage ?? null;
  if (!g) {
    if (!t.present) return { text: 'not stored', title: 'Not stored in the file', shared: false };
    return { text: 'own', title: key ? `Alone on storage ${key}${at}` : 'No storage on disk', shared: false };
  }
  const others = g.tensors.filter((n) => n !== t.name);
  const list = shortList(others);
  const where = key ? `\nstorage ${key}${at}` : '';
  const why = g.reason ? `\n${g.reason}` : '';
  let text: string;
  let head: string;
  if (g.relation === 'deduplicated') {
    // An exporter (torch.onnx.export) kept one copy of equal tensors: nobody tied them.
    text = `stored once with ${list} (deduplicated)`;
    head = `Deduplicated by the exporter: the file stores one copy of the equal values of this tensor and ${others.join(', ')}; each is its own tensor of the model and counts`;
  } else if (g.relation === 'declared') {
    text = t.present ? `= ${list} (declared tie)` : `= ${list} (tie, not stored)`;
    head = t.present ? `Declared tie: ${others.join(', ')} ${others.length === 1 ? 'is' : 'are'} re-tied to this tensor at load time` : `Not stored: re-tied to ${others.join(', ')} at load time`;
  } else if (g.relation === 'alias') {
    text = `= ${list}`;
    head = `Alias: the same bytes as ${others.join(', ')}`;
  } else if (isDisjoint(g)) {
    text = `slice of storage: ${list}`;
    head = `Slice: a separate byte range of the storage it shares with ${others.join(', ')} (no overlap)`;
  } else {
    text = `view of ${list}`;
    head = `View: overlaps the bytes of ${others.join(', ')}`;
  }
  return { text, title: head + where + why, shared: true };
}

/**
 * The summary's tensor count: the tensors the file stores, and the declared ties that it does
 * not (as the exports count them): `46`, `+ 1 declared tie`.
 */
export function tensorCountParts(stored: number, total: number): { value: string; extra: string; title: string } {
  const ties = Math.max(0, total - stored);
  const value = exactCount(stored);
  if (!ties) return { value, extra: '', title: `${value} tensor${stored === 1 ? '' : 's'} stored in the file` };
  const tieWord = `declared tie${ties === 1 ? '' : 's'}`;
  return {
    value,
    extra: `+ ${exactCount(ties)} ${tieWord}`,
    title: `${value} tensor${stored === 1 ? '' : 's'} stored in the file, and ${exactCount(ties)} ${tieWord} that ${ties === 1 ? 'is' : 'are'} not stored (re-tied at load time)`,
  };
}

/** How the tree's links and the map's arcs draw each relation, and what the legend says of it. */
export const RELATION_LEGEND: Readonly<Record<Relation, { label: string; title: string }>> = {
  alias: { label: 'same bytes', title: 'Alias: the names are one tensor (the same bytes), counted once' },
  view: { label: 'views of one storage', title: 'Views: byte ranges of one storage, counted once where they overlap' },
  declared: { label: 'declared tie', title: 'Declared tie: the file or config.json says the weights are tied (re-tied at load time), counted once' },
  deduplicated: {
    label: 'equal values stored once by the exporter',
    title: 'Deduplicated: the exporter (torch.onnx.export) stored one copy of tensors whose values were equal; each is its own tensor of the model and counts',
  },
};

const RELATION_ORDER: readonly Relation[] = ['alias', 'view', 'declared', 'deduplicated'];

/** The legend's entries for the relations drawn, in a fixed order. */
export function relationLegend(relations: Iterable<Relation>): { relation: Relation; label: string; title: string }[] {
  const set = new Set(relations);
  return RELATION_ORDER.filter((r) => set.has(r)).map((r) => ({ relation: r, ...RELATION_LEGEND[r] }));
}

/** A link's label (an SVG title): `declared tie: lm_head.weight = transformer.wte.weight`. */
export function linkLabel(relation: Relation, names: readonly string[]): string {
  const shown = names.slice(0, 4).join(' = ') + (names.length > 4 ? ` = … (${names.length - 4} more)` : '');
  return `${RELATION_LEGEND[relation]?.label ?? relation}: ${shown}`;
}

/**
 * The summary's note on exporter-deduplicated names (ONNX): they are separate tensors that
 * count, not shared weights: "13 tensors stored as 3 copies: equal values the exporter kept once
 * (each counted)".
 */
export function deduplicatedNote(d: { groups: number; tensors: number } | undefined): { text: string; title: string } | undefined {
  if (!d || d.groups <= 0) return undefined;
  return {
    text: `${exactCount(d.tensors)} tensors stored as ${exactCount(d.groups)} cop${d.groups === 1 ? 'y' : 'ies'}: equal values the exporter kept once (each counted)`,
    title: `The exporter (torch.onnx.export) kept one copy of tensors whose values were equal (fresh LayerNorm weights, zero biases) and forwards the other names to it. Each name is its own tensor of the model and counts in the parameters; nothing is tied. Relation: deduplicated.`,
  };
}
