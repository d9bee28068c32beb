/**
 * Markdown for model cards and READMEs: a summary table, the shared-storage (tie) groups, and one
 * table per module level (module, type, unique parameters, share, shared with). Folded runs of
 * identical blocks are one row (`transformer.h.(0-11)`, `12 x Block`); rows below them describe
 * one block and say "each". Names are code spans; `|` is escaped everywhere in tables.
 */
import { Checkpoint } from '../model';
import { bytes, compact, exact, percent } from '../numbers';
import { adapterLine, bitsText, schemeLabel } from '../quant/describe';
import { mtpText } from '../../shared/mtpText';
import { LayoutOptions, VisibleNode, layoutTree, sharedModules } from './layout';
import { boundedJoin, groupMembers, overlapNote } from '../overlaps';
import { RELATION_LABEL, baseName, describeType, exactAndCompact, hasInferredTypes, oneLine, plural } from './style';

export interface MarkdownOptions extends LayoutOptions {}

export function renderMarkdown(cp: Checkpoint, opts: MarkdownOptions = {}): string {
  const tree = layoutTree(cp, { maxRows: 300, ...opts });
  const total = cp.parameters.unique;
  const out: string[] = [];
  const title = cp.architecture ?? cp.modules.type;
  out.push(`## ${text(title)}`);
  out.push('');

  // Summary
  const p = cp.parameters;
  const rows: [string, string][] = [];
  rows.push(['Format', `${text(cp.format)} (${code(baseName(cp.path))}${cp.files.length > 1 ? `, ${plural(cp.files.length, 'file')}` : ''})`]);
  rows.push(['Parameters', `${exactAndCompact(p.unique)}, shared storage counted once${cp.quantization ? ' (the unquantized model\'s count)' : ''}`]);
  if (p.declared) rows.push(['Declared', `${exact(p.declared.count)} in ${code(p.declared.source)}`]);
  if (p.mtp) rows.push(['Multi-token prediction', `${text(mtpText(p.mtp, exact))} (${text(p.mtp.source)})`]);
  const q = cp.quantization;
  if (q) {
    rows.push(['Quantization', `${text(schemeLabel(q))} · ${bitsText(q.bitsPerWeight)} bits per weight stored (${text(q.declaredBy)})`]);
    rows.push(['Stored', `${bytes(q.storedBytes)} in parameters and quantization tensors (${exact(q.storedElements)} elements); ${exact(q.quantizedParameters)} parameters in ${plural(q.quantizedLayers, 'quantized layer')}`]);
  }
  const a = adapterLine(cp);
  if (a) rows.push(['Adapter', text(a)]);
  if (p.total !== p.unique) rows.push(['Counting each tied name', `${exactAndCompact(p.total)}, ${compact(p.total - p.unique)} more through shared storage`]);
  if (cp.buffers.total) rows.push(['Buffers', `${exact(cp.buffers.unique)} elements`]);
  if (cp.other.total) rows.push(['Other tensors', `${exact(cp.other.total)} elements (optimizer state and the like)`]);
  const present = cp.tensors.filter((t) => t.present).length;
  const declared = cp.tensors.length - present;
  rows.push(['Tensors', `${exact(present)}${declared ? ` stored, ${exact(declared)} declared tie${declared === 1 ? '' : 's'} not stored` : ''}`]);
  const dtypes = Object.entries(cp.bytesByDtype).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  if (dtypes.length) rows.push(['Storage', dtypes.map(([d, n]) => `${text(d)} ${bytes(n)}`).join(', ')]);
  rows.push(['Shared storage', cp.shared.length ? plural(cp.shared.length, 'group') : 'none']);
  if (hasInferredTypes(cp.modules)) rows.push(['Layer types', cp.format === 'onnx' ? 'from the ONNX ops that use the tensors, else inferred from names and shapes' : 'inferred from tensor names and shapes (state dict)']);
  out.push('| | |');
  out.push('|---|---|');
  for (const [k, v] of rows) out.push(`| ${k} | ${v} |`);
  out.push('');

  // Ties
  if (cp.shared.length) {
    out.push('### Shared storage');
    out.push('');
    out.push('| # | Tensors | Relation | Stored once | Not counted twice |');
    out.push('|--:|---|---|--:|--:|');
    cp.shared.forEach((g, i) => {
      const note = overlapNote(g);
      out.push(
        `| ${i + 1} | ${groupMembers(g, code)} | ${RELATION_LABEL[g.relation]}${note ? ` (${note})` : ''} | ${exact(g.uniqueElements)} | ${exact(Math.max(0, g.totalElements - g.uniqueElements))} |`,
      );
    });
    const reasons = cp.shared.map((g, i) => [i, g.reason] as const).filter(([, r]) => !!r);
    if (reasons.length) {
      out.push('');
      for (const [i, r] of reasons) out.push(`${i + 1}. ${text(r!)}`);
    }
    out.push('');
  }

  // One table per level
  const byLevel = new Map<number, VisibleNode[]>();
  for (const v of tree.rows) {
    if (v.level === 0 || v.kind === 'collapsed') continue;
    const list = byLevel.get(v.level);
    if (list) list.push(v);
    else byLevel.set(v.level, [v]);
  }
  const levels = [...byLevel.keys()].sort((a, b) => a - b);
  for (const level of levels) {
    out.push(`### Level ${level}`);
    out.push('');
    out.push('| Module | Type | Parameters | Share | Shared with |');
    out.push('|---|---|--:|--:|---|');
    for (const v of byLevel.get(level)!) out.push(tableRow(v, total));
    out.push('');
  }
  if (tree.depth < tree.modelDepth) {
    out.push(`_Levels ${tree.depth + 1} to ${tree.modelDepth} not listed._`);
    out.push('');
  }
  out.push('_Exported by Weightscope from the file headers; parameters that share storage are counted once._');
  return out.join('\n') + '\n';
}

function tableRow(v: VisibleNode, total: number): string {
  const m = v.node;
  if (v.kind === 'elided') {
    const h = v.hidden!;
    return `| … | ${plural(h.modules, 'more module')} | ${exact(h.parameters)} | ${percent(h.parameters, total)} | |`;
  }
  const type = v.kind === 'fold' ? `${v.fold!.count} x ${code(m.type)}` : code(describeType(m));
  let params: string;
  if (v.kind === 'fold') params = `${v.fold!.count} x ${exact(m.parameters.unique)}`;
  else params = `${exact(v.unique)}${v.perBlock ? ' each' : ''}`;
  const share = percent(v.unique, total) + (v.perBlock ? ' each' : '');
  const shared = boundedJoin(
    sharedModules(m),
    ', ',
    SHARED_MODULES,
    (s) => `${code(s.path)}${s.relation === 'declared' ? ' (declared)' : s.relation === 'view' ? ' (view)' : s.relation === 'deduplicated' ? ' (deduplicated)' : ''}`,
  );
  return `| ${code(v.path)} | ${type} | ${params} | ${share} | ${shared} |`;
}

/** Modules a row's "shared with" cell names, before "… and K more". */
const SHARED_MODULES = 8;

/** A code span safe inside a GFM table cell. */
export function code(s: string): string {
  const clean = oneLine(s);
  if (!clean) return '';
  let fence = '`';
  const runs = clean.match(/`+/g);
  if (runs) fence = '`'.repeat(Math.max(...runs.map((r) => r.length)) + 1);
  const pad = clean.startsWith('`') || clean.endsWith('`') || (clean.startsWith(' ') && clean.endsWith(' ')) ? ' ' : '';
  return `${fence}${pad}${clean.replace(/\|/g, '\\|')}${pad}${fence}`;
}

/** Plain text safe in Markdown (and in a table cell). */
export function text(s: string): string {
  return oneLine(s)
    .replace(/[\\`*_[\]<>|~&]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : `\\${c}`))
    .replace(/^([-=+#!])/, '\\$1');
}
