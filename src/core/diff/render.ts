/**
 * The comparison for people: a unified, `print(model)`-style tree with `+` (only in B), `-` (only
 * in A) and `~` (changed) marks and the count deltas, then the tensors, ties and keys that differ;
 * and the same as Markdown for pull requests. Names come from files: escaped (safe-text.ts) in
 * text, code spans in Markdown.
 */
import { safeLine } from '../safe-text';
import { bytes as fmtBytes, compact, exact } from '../numbers';
import { cells } from '../export/style';
import { code, text as mdText } from '../export/markdown';
import { boundedJoin } from '../overlaps';
import { Checkpoint, ModuleNode } from '../model';
import { CheckpointDiff, KeyChange, ModuleRow, TensorPair, TieChange } from './model';

export interface DiffRenderOptions {
  /** Deepest module level shown (root = 0). Default: unlimited. */
  depth?: number;
  /** Entries listed per section before "… N more" (default 40). */
  limit?: number;
  /** How to name the two sides (default: their paths), e.g. the paths as the user typed them. */
  labels?: { a: string; b: string };
}

const safe = safeLine;

export function signed(n: number, fmt: (x: number) => string = compact): string {
  if (n === 0) return '±0';
  return n > 0 ? `+${fmt(n)}` : `−${fmt(-n)}`;
}

export function signedBytes(n: number): string {
  return n === 0 ? '±0 B' : `${n > 0 ? '+' : '−'}${fmtBytes(Math.abs(n))}`;
}

const shapeStr = (s: number[]) => `[${s.join(', ')}]`;

function head(m: ModuleNode): string {
  return m.repr && m.children.length === 0 ? m.repr : m.type;
}

export function rowHead(r: ModuleRow): string {
  const a = r.a ? head(r.a) : '';
  const b = r.b ? head(r.b) : '';
  if (r.typeChanged) return `${safe(a)} → ${safe(b)}`;
  return safe(b || a);
}

const owned = (r: ModuleRow, side: 'a' | 'b') => (side === 'a' ? r.countsA : r.countsB)?.parameters.owned ?? 0;
const bytesOf = (r: ModuleRow, side: 'a' | 'b') => (side === 'a' ? r.countsA : r.countsB)?.bytes.owned ?? 0;

/** Partners a tensor lost or gained: the group's names outside the part it is in on the other side. */
export function partners(t: TensorPair, tie: TieChange): string[] {
  const part = tie.other.find((ps) => ps.includes(t.key)) ?? [t.key];
  const inPart = new Set(part);
  return tie.tensors.filter((n) => n !== t.key && !inPart.has(n));
}

function nameList(names: string[], max = 2): string {
  return names.slice(0, max).map(safe).join(', ') + (names.length > max ? ` +${names.length - max}` : '');
}

/** What changed about one tensor, in a few words. */
export function tensorChange(p: TensorPair): string {
  const parts: string[] = [];
  if (p.a && p.b) {
    if (p.changes.includes('dtype')) parts.push(`dtype ${p.a.dtype} → ${p.b.dtype}`);
    if (p.changes.includes('shape')) parts.push(`shape ${shapeStr(p.a.shape)} → ${shapeStr(p.b.shape)}`);
    if (p.changes.includes('role')) parts.push(`role ${p.a.role} → ${p.b.role}`);
    if (p.changes.includes('data')) parts.push('data differs');
  }
  return parts.join(', ');
}

/** Notes for one row: its parameter delta (bytes when parameters did not move), ties, own tensor changes. */
export function rowNote(r: ModuleRow, d: CheckpointDiff): string {
  const parts: string[] = [];
  const dp = owned(r, 'b') - owned(r, 'a');
  const db = bytesOf(r, 'b') - bytesOf(r, 'a');
  const size = (n: number, bytes: number) => (n !== 0 || bytes === 0 ? signed(n) : signedBytes(bytes));
  if (r.status === 'added') parts.push(`${size(owned(r, 'b'), bytesOf(r, 'b'))}${r.b && r.b.children.length && r.b.tensorCount ? ` (${r.b.tensorCount} tensors)` : ''}`);
  else if (r.status === 'removed') parts.push(`${size(-owned(r, 'a'), -bytesOf(r, 'a'))}${r.a && r.a.children.length && r.a.tensorCount ? ` (${r.a.tensorCount} tensors)` : ''}`);
  else if (dp !== 0) parts.push(signed(dp));
  else if (db !== 0) parts.push(signedBytes(db));
  if (r.status === 'added' || r.status === 'removed') return parts.join('  ');
  const lost = new Set<string>();
  const gained = new Set<string>();
  const changes = new Map<string, number>();
  for (const t of r.tensors) {
    if (t.tieLost !== undefined) for (const n of partners(t, d.shared.lost[t.tieLost])) lost.add(n);
    if (t.tieGained !== undefined) for (const n of partners(t, d.shared.gained[t.tieGained])) gained.add(n);
    let c = '';
    if (t.status === 'added') c = `+${t.key.slice(r.path ? r.path.length + 1 : 0)}`;
    else if (t.status === 'removed') c = `-${t.key.slice(r.path ? r.path.length + 1 : 0)}`;
    else c = tensorChange(t);
    if (c) changes.set(c, (changes.get(c) ?? 0) + 1);
  }
  if (lost.size) parts.push(`tie lost: ${nameList([...lost])}`);
  if (gained.size) parts.push(`tie gained: ${nameList([...gained])}`);
  const cs = [...changes].map(([c, n]) => (n > 1 ? `${safe(c)} (${n} tensors)` : safe(c)));
  if (cs.length) parts.push(cs.slice(0, 2).join('; ') + (cs.length > 2 ? `; +${cs.length - 2} more` : ''));
  if (r.path === '' && r.renamed) parts.push(`${exact(r.renamed)} tensor${r.renamed === 1 ? '' : 's'} renamed`);
  if (r.aPath !== undefined && r.path !== '' && (!r.children.length || r.children.every((c) => c.aPath === undefined))) parts.push(`was ${safe(r.aPath || '(root)')}`);
  return parts.join('  ');
}

const MARK: Record<ModuleRow['status'], string> = { equal: ' ', changed: '~', added: '+', removed: '-' };

/**
 * Fold keys for consecutive numbered blocks. An unchanged block prints on one line, so its type
 * and counts decide; a changed block is expanded, so its whole subtree (statuses, heads, notes)
 * must match. Computed on demand: a 60,000-module tree that is equal costs nothing here.
 */
export function foldKeys(d: CheckpointDiff): (r: ModuleRow) => string {
  const memo = new Map<ModuleRow, string>();
  const key = (r: ModuleRow): string => {
    let k = memo.get(r);
    if (k !== undefined) return k;
    const own = [r.status, rowHead(r), owned(r, 'a'), owned(r, 'b'), bytesOf(r, 'a'), bytesOf(r, 'b'), (r.b ?? r.a)!.tensorCount].join('|');
    k = r.status === 'equal' ? own : `${own}|${rowNote(r, d)}{${r.children.map((c) => `${c.name}:${key(c)}`).join(',')}}`;
    memo.set(r, k);
    return k;
  };
  return key;
}

interface Line {
  mark: string;
  text: string;
  note: string;
}

function treeLines(d: CheckpointDiff, opts: DiffRenderOptions): Line[] {
  const lines: Line[] = [];
  const maxDepth = opts.depth ?? Infinity;
  const sig = foldKeys(d);
  const walk = (r: ModuleRow, label: string, indent: string, level: number, each: number) => {
    let note = r.status === 'equal' && level > 0 ? '' : rowNote(r, d);
    if (note && each > 1) note += ' (each)';
    const node = (r.b ?? r.a)!;
    const kids = r.children;
    const collapsed = kids.length === 0 || level >= maxDepth || r.status === 'added' || r.status === 'removed' || (r.status === 'equal' && level > 0);
    const h = rowHead(r);
    if (collapsed) {
      const suffix = kids.length ? '(…)' : node.repr ? '' : '()';
      lines.push({ mark: MARK[r.status], text: `${indent}${label}${h}${suffix}`, note });
      return;
    }
    lines.push({ mark: MARK[r.status], text: `${indent}${label}${h}(`, note });
    const inner = indent + '  ';
    for (let i = 0; i < kids.length; i++) {
      let j = i;
      if (/^\d+$/.test(kids[i].name)) {
        while (j + 1 < kids.length && /^\d+$/.test(kids[j + 1].name) && Number(kids[j + 1].name) === Number(kids[j].name) + 1 && sig(kids[j + 1]) === sig(kids[i])) j++;
      }
      if (j > i) {
        walk(kids[i], `(${safe(kids[i].name)}-${safe(kids[j].name)}): ${j - i + 1} x `, inner, level + 1, j - i + 1);
        i = j;
      } else walk(kids[i], `(${safe(kids[i].name)}): `, inner, level + 1, 1);
    }
    lines.push({ mark: ' ', text: `${indent})`, note: '' });
  };
  walk(d.root, '', '', 0, 1);
  return lines;
}

function sideLine(cp: Checkpoint, label?: string): string {
  return `${safe(label ?? cp.path)}  (${cp.format}${cp.architecture ? `, ${safe(cp.architecture)}` : ''}, ${cp.files.length} file${cp.files.length === 1 ? '' : 's'})`;
}

function countLine(label: string, a: number, b: number, fmt: (n: number) => string = exact): string {
  return `${label}${fmt(a)} → ${fmt(b)}  (${signed(b - a, fmt === exact ? exact : fmt)})`;
}

function bytesTotal(cp: Checkpoint): number {
  return Object.values(cp.bytesByDtype).reduce((s, v) => s + v, 0);
}

/** The one-line answer: same model or not, and why. */
export function verdict(d: CheckpointDiff): string {
  if (!d.equal) {
    // Training checkpoint vs exported weights: say when the model itself is the same.
    const model = (t: TensorPair['a']) => !!t && (t.role === 'parameter' || t.role === 'buffer');
    const onlyBeside =
      [...d.added, ...d.removed, ...d.changed].every((p) => !model(p.a) && !model(p.b)) &&
      d.renamed.length === 0 &&
      d.shared.lost.length + d.shared.gained.length + d.shared.changed.length === 0 &&
      d.reasons.length === [d.added, d.removed, d.changed].filter((l) => l.length).length;
    return `different: ${d.reasons.join(', ')}${onlyBeside ? ' (all optimizer state or values saved beside the model; the model\'s tensors are equal)' : ''}`;
  }
  const restated = d.shared.same.filter((s) => s.relation.a !== s.relation.b);
  let s = 'equal: same tensors, dtypes, shapes, roles, counts and sharing';
  if (restated.length) s += ` (${restated.length === 1 ? 'a tie' : `${restated.length} ties`} declared on one side and stored on the other: the same sharing)`;
  if (!d.data) s += '; data not compared (--data hashes the bytes)';
  else if (d.data.unknown) s += `; data equal for the ${exact(d.data.equal)} tensors whose bytes could be located, ${exact(d.data.unknown)} not comparable`;
  else s += `; data equal (${exact(d.data.equal)} tensors, ${fmtBytes(d.data.bytesHashed)} hashed)`;
  return s;
}

/**
 * A tie's members, and how they are grouped on the other side, at most GROUP_NAMES names (and
 * parts) each, as the other exports list groups: a storage 10,000 tensors view, lost or gained,
 * must not become a line of 10,000 names.
 */
export function tieMembers(names: readonly string[], fmt: (name: string) => string = String): string {
  return boundedJoin(names, ' = ', undefined, fmt);
}

/** The parts a tie's members fall into on the other side: `a = b; c alone`, bounded like tieMembers. */
export function otherParts(parts: readonly string[][], fmt: (name: string) => string = String): string {
  return boundedJoin(parts, '; ', undefined, (ps) => (ps.length === 1 ? `${fmt(ps[0])} alone` : tieMembers(ps, fmt)));
}

function tieText(t: TieChange): string {
  return `${tieMembers(t.tensors, safe)} (${t.relation})`;
}

function otherText(t: TieChange): string {
  return otherParts(t.other, safe);
}

function keyValue(v: unknown): string {
  if (v === undefined) return '(absent)';
  return safe(typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v));
}

function section<T>(out: string[], title: string, items: T[], limit: number, fmt: (x: T) => string, count = true): void {
  if (!items.length) return;
  out.push('');
  out.push(count ? `${title} (${exact(items.length)}):` : `${title}:`);
  for (const x of items.slice(0, limit)) out.push(`  ${fmt(x)}`);
  if (items.length > limit) out.push(`  … ${exact(items.length - limit)} more (--json lists all)`);
}

function tensorLine(p: TensorPair, d: CheckpointDiff): string {
  const t = (p.b ?? p.a)!;
  if (p.status === 'added') return `+ ${safe(p.key)}  ${t.dtype} ${shapeStr(t.shape)}  ${t.role}${t.present ? '' : ' (declared tie)'}`;
  if (p.status === 'removed') return `- ${safe(p.aName ?? p.key)}  ${t.dtype} ${shapeStr(t.shape)}  ${t.role}${t.present ? '' : ' (declared tie)'}`;
  const what = [tensorChange(p)];
  if (p.changes.includes('sharing')) what.push(sharingChange(p, d));
  return `~ ${safe(p.key)}  ${what.filter(Boolean).join(', ')}`;
}

/** How a tensor's storage partners changed, in words. */
export function sharingChange(p: TensorPair, d: CheckpointDiff): string {
  const parts: string[] = [];
  if (p.tieLost !== undefined) parts.push(`tie lost: ${nameList(partners(p, d.shared.lost[p.tieLost]))}`);
  if (p.tieGained !== undefined) parts.push(`tie gained: ${nameList(partners(p, d.shared.gained[p.tieGained]))}`);
  if (!parts.length && p.a && p.b) {
    const ga = p.a.group >= 0 ? d.a.shared[p.a.group].relation : 'own';
    const gb = p.b.group >= 0 ? d.b.shared[p.b.group].relation : 'own';
    parts.push(`storage relation ${ga} → ${gb}`);
  }
  return parts.join(', ');
}

export function renderDiffText(d: CheckpointDiff, opts: DiffRenderOptions = {}): string {
  const limit = opts.limit ?? 40;
  const A = d.aOriginal;
  const B = d.b;
  const out: string[] = [];
  out.push(`--- a: ${sideLine(A, opts.labels?.a)}`);
  out.push(`+++ b: ${sideLine(B, opts.labels?.b)}`);
  out.push('');
  out.push(verdict(d));
  out.push(`${countLine('parameters: ', A.parameters.unique, B.parameters.unique)} unique; total ${exact(A.parameters.total)} → ${exact(B.parameters.total)}`);
  if (A.buffers.total || B.buffers.total) out.push(countLine('buffers:    ', A.buffers.unique, B.buffers.unique) + ' unique');
  if (A.other.total || B.other.total) out.push(countLine('other:      ', A.other.total, B.other.total) + ' elements (optimizer state, values saved beside the model)');
  const ba = bytesTotal(A);
  const bb = bytesTotal(B);
  out.push(`bytes:      ${fmtBytes(ba)} → ${fmtBytes(bb)}  (${signedBytes(bb - ba)})`);
  out.push('');
  const lines = treeLines(d, opts);
  let widest = 0;
  for (const l of lines) widest = Math.max(widest, cells(l.text));
  const width = Math.min(86, widest + 2);
  out.push('# + only in b, - only in a, ~ changed; deltas count shared storage once, at its first holder');
  for (const l of lines) {
    const t = `${l.mark} ${l.text}`;
    out.push(l.note ? `${t}${' '.repeat(Math.max(2, width + 2 - cells(t)))}${l.note}` : t);
  }
  const changedOrMoved = [...d.changed, ...d.added, ...d.removed].sort((x, y) => x.order - y.order);
  section(out, 'tensors', changedOrMoved, limit, (p) => tensorLine(p, d));
  if (d.renamed.length) {
    const rules = new Map<string, number>();
    for (const p of d.renamed) {
      const r = p.renamed!;
      const k = r.rule === 'gguf' ? 'GGUF names ↔ Hugging Face names' : `prefix ${JSON.stringify(r.prefix!.from)} → ${JSON.stringify(r.prefix!.to)}`;
      rules.set(k, (rules.get(k) ?? 0) + 1);
    }
    section(out, `renamed (${[...rules].map(([k, n]) => `${safe(k)}: ${exact(n)}`).join('; ')})`, d.renamed, Math.min(limit, 10), (p) => `${safe(p.renamed!.from)} → ${safe(p.renamed!.to)}`, false);
  }
  const ties: string[] = [];
  for (const t of d.shared.lost) ties.push(`- lost    ${tieText(t)}; in b: ${otherText(t)}`);
  for (const t of d.shared.gained) ties.push(`+ gained  ${tieText(t)}; in a: ${otherText(t)}`);
  for (const t of d.shared.changed) ties.push(`~ relation ${tieMembers(t.tensors, safe)}: ${t.relation.a} → ${t.relation.b}`);
  for (const t of d.shared.same) if (t.relation.a !== t.relation.b) ties.push(`= same    ${tieMembers(t.tensors, safe)}: ${t.relation.a} in a, ${t.relation.b} in b`);
  section(out, 'shared storage', ties, limit, (s) => s);
  const keyLine = (c: KeyChange) =>
    `${c.status === 'added' ? '+' : c.status === 'removed' ? '-' : '~'} ${safe(c.key)}: ${c.status === 'added' ? keyValue(c.b) : c.status === 'removed' ? keyValue(c.a) : `${keyValue(c.a)} → ${keyValue(c.b)}`}${c.informational ? '  (bookkeeping; not a difference)' : ''}`;
  section(out, !d.a.config ? 'config.json (only in b; not part of the verdict)' : !d.b.config ? 'config.json (only in a; not part of the verdict)' : 'config.json', d.config, limit, (c) =>
    d.a.config && d.b.config ? keyLine(c) : keyLine({ ...c, informational: false }),
  );
  section(out, 'metadata (not part of the verdict)', d.metadata, Math.min(limit, 20), keyLine);
  if (d.data) {
    out.push('');
    out.push(`data: ${exact(d.data.compared)} tensor pairs compared (${fmtBytes(d.data.bytesHashed)} hashed): ${exact(d.data.equal)} equal, ${exact(d.data.different)} different${d.data.unknown ? `, ${exact(d.data.unknown)} without a known byte range` : ''}${d.data.skipped ? `, ${exact(d.data.skipped)} not hashed (dtype or shape differ)` : ''}`);
  }
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Markdown

function mdRows(d: CheckpointDiff, maxDepth: number): ModuleRow[] {
  const rows: ModuleRow[] = [];
  const walk = (r: ModuleRow, level: number) => {
    if (r.status === 'equal' && level > 0) return;
    rows.push(r);
    if (level >= maxDepth || r.status === 'added' || r.status === 'removed') return;
    for (const c of r.children) walk(c, level + 1);
  };
  walk(d.root, 0);
  return rows;
}

export function renderDiffMarkdown(d: CheckpointDiff, opts: DiffRenderOptions = {}): string {
  const limit = opts.limit ?? 40;
  const A = d.aOriginal;
  const B = d.b;
  const out: string[] = [];
  out.push(`### Checkpoint comparison: ${code(opts.labels?.a ?? A.path)} → ${code(opts.labels?.b ?? B.path)}`);
  out.push('');
  out.push(`**${d.equal ? 'Equal' : 'Different'}**: ${mdText(verdict(d).replace(/^(equal|different): /, ''))}`);
  out.push('');
  out.push('| | a | b | Δ |');
  out.push('|---|---:|---:|---:|');
  out.push(`| format | ${A.format} | ${B.format} | |`);
  out.push(`| parameters (unique) | ${exact(A.parameters.unique)} | ${exact(B.parameters.unique)} | ${signed(B.parameters.unique - A.parameters.unique, exact)} |`);
  out.push(`| parameters (total) | ${exact(A.parameters.total)} | ${exact(B.parameters.total)} | ${signed(B.parameters.total - A.parameters.total, exact)} |`);
  if (A.buffers.total || B.buffers.total) out.push(`| buffers (unique) | ${exact(A.buffers.unique)} | ${exact(B.buffers.unique)} | ${signed(B.buffers.unique - A.buffers.unique, exact)} |`);
  out.push(`| bytes | ${fmtBytes(bytesTotal(A))} | ${fmtBytes(bytesTotal(B))} | ${signedBytes(bytesTotal(B) - bytesTotal(A))} |`);
  out.push(`| tensors | ${exact(A.tensors.filter((t) => t.present).length)} | ${exact(B.tensors.filter((t) => t.present).length)} | |`);
  const rows = mdRows(d, opts.depth ?? Infinity);
  if (rows.length > 1 || d.root.status !== 'equal') {
    out.push('');
    out.push('#### Modules that differ');
    out.push('');
    out.push('| | module | type | parameters Δ | bytes Δ | notes |');
    out.push('|---|---|---|---:|---:|---|');
    for (const r of rows.slice(0, limit * 2)) {
      const dp = owned(r, 'b') - owned(r, 'a');
      const db = bytesOf(r, 'b') - bytesOf(r, 'a');
      const note = rowNote(r, d).replace(/^[+−±]\S+(\s+\(\d+ tensors\))?\s*/, '');
      out.push(`| ${MARK[r.status].trim() || ' '} | ${r.path ? code(r.path) : '(root)'} | ${mdText(rowHead(r))} | ${signed(dp, exact)} | ${signedBytes(db)} | ${mdText(note)} |`);
    }
    if (rows.length > limit * 2) out.push(`| | … ${exact(rows.length - limit * 2)} more | | | | |`);
  }
  const tensors = [...d.changed, ...d.added, ...d.removed].sort((x, y) => x.order - y.order);
  if (tensors.length) {
    out.push('');
    out.push(`#### Tensors (${exact(tensors.length)})`);
    out.push('');
    out.push('| | tensor | a | b | what |');
    out.push('|---|---|---|---|---|');
    const desc = (t: TensorPair['a']) => (t ? `${t.dtype} ${shapeStr(t.shape)}${t.present ? '' : ' (declared)'}` : '');
    for (const p of tensors.slice(0, limit)) {
      const what = p.status === 'changed' ? [tensorChange(p), p.changes.includes('sharing') ? 'sharing' : ''].filter(Boolean).join(', ') : p.status;
      out.push(`| ${p.status === 'added' ? '+' : p.status === 'removed' ? '-' : '~'} | ${code(p.status === 'removed' ? p.aName ?? p.key : p.key)} | ${desc(p.a)} | ${desc(p.b)} | ${mdText(what)} |`);
    }
    if (tensors.length > limit) out.push(`| | … ${exact(tensors.length - limit)} more | | | |`);
  }
  if (d.renamed.length) {
    out.push('');
    out.push(`#### Renamed (${exact(d.renamed.length)})`);
    out.push('');
    for (const p of d.renamed.slice(0, 10)) out.push(`- ${code(p.renamed!.from)} → ${code(p.renamed!.to)}`);
    if (d.renamed.length > 10) out.push(`- … ${exact(d.renamed.length - 10)} more`);
  }
  const ties: string[] = [];
  for (const t of d.shared.lost) ties.push(`- **lost**: ${tieMembers(t.tensors, code)} (${t.relation}); in b: ${otherParts(t.other, code)}`);
  for (const t of d.shared.gained) ties.push(`- **gained**: ${tieMembers(t.tensors, code)} (${t.relation}); in a: ${otherParts(t.other, code)}`);
  for (const t of d.shared.changed) ties.push(`- **relation changed**: ${tieMembers(t.tensors, code)}: ${t.relation.a} → ${t.relation.b}`);
  for (const t of d.shared.same) if (t.relation.a !== t.relation.b) ties.push(`- same: ${tieMembers(t.tensors, code)}: ${t.relation.a} in a, ${t.relation.b} in b`);
  if (ties.length) {
    out.push('');
    out.push('#### Shared storage');
    out.push('');
    out.push(...ties.slice(0, limit));
  }
  const keys = (title: string, list: KeyChange[]) => {
    if (!list.length) return;
    out.push('');
    out.push(`#### ${title}`);
    out.push('');
    out.push('| key | a | b |');
    out.push('|---|---|---|');
    for (const c of list.slice(0, limit)) out.push(`| ${code(c.key)}${c.informational ? ' (bookkeeping)' : ''} | ${c.a === undefined ? '' : code(JSON.stringify(c.a) ?? '')} | ${c.b === undefined ? '' : code(JSON.stringify(c.b) ?? '')} |`);
    if (list.length > limit) out.push(`| … ${exact(list.length - limit)} more | | |`);
  };
  keys(!d.a.config ? 'config.json (only in b; not part of the verdict)' : !d.b.config ? 'config.json (only in a; not part of the verdict)' : 'config.json', d.config);
  keys('Metadata (not part of the verdict)', d.metadata);
  if (d.data) {
    out.push('');
    out.push(`Data: ${exact(d.data.compared)} tensor pairs compared by SHA-256 (${fmtBytes(d.data.bytesHashed)} hashed): ${exact(d.data.equal)} equal, ${exact(d.data.different)} different${d.data.unknown ? `, ${exact(d.data.unknown)} without a known byte range` : ''}.`);
  }
  return out.join('\n') + '\n';
}
