/**
 * The comparison as a diagram (`weightscope diff A B --format svg`, and the editor's comparison
 * view's Export): the two module trees aligned by path as nested boxes, one row per module, with
 * a mark and a tint for what changed (`~` changed, `+` only in b, `−` only in a), the parameters
 * each side's module holds and the deltas of parameters and bytes; unchanged subtrees drawn as
 * one row and runs of identical blocks once, as the text comparison prints them. Ties are drawn
 * on both sides: a's storage links in a gutter left of the tree, b's right of it, the lost ones
 * red and the gained ones green. Below: the ties that changed, the tensors that differ and the
 * config.json keys.
 *
 * The same look and rules as the architecture diagram (../export/svg.ts): self-contained
 * (attributes only, no CSS, fonts or references) and deterministic (byte-identical for the same
 * two checkpoints and labels); widths estimated from monospace metrics.
 */
import { Relation } from '../model';
import { bytes as fmtBytes, compact, exact } from '../numbers';
import { MONO, SANS, dashFor, monoWidth, oneLine, plural, sansWidth, truncate } from '../export/style';
import { esc, escAttr, num } from '../export/xml';
import { sideTies, TieStatus } from './compare';
import { CheckpointDiff, KeyChange, ModuleRow, PairStatus, TensorPair } from './model';
import { foldKeys, otherParts, rowHead, rowNote, sharingChange, signed, signedBytes, tensorChange, tieMembers, verdict } from './render';
import { boundedJoin } from '../overlaps';

export interface DiffSvgOptions {
  /** Deepest module level drawn (root = 0). Default: unlimited (changed subtrees open, the rest one row each). */
  depth?: number;
  /** How to name the two sides (default: the checkpoints' paths); shortened to their last segments. */
  labels?: { a: string; b: string };
  /** Rows drawn before the rest of a level is summarised as "… N more" (default 300). */
  maxRows?: number;
  /** Entries listed per section below the tree (default 20). */
  limit?: number;
}

// Geometry (px), as the architecture diagram.
const M = 28;
const ROW = 26;
const FS = 12;
const INDENT = 18;
const INSET = 8;
const PAD_BOTTOM = 6;
const COL_GAP = 16;
const LANE = 14;
const NAME_MAX = 40;
const HEAD_MAX = 72;
const NOTE_MAX = 64;

// Palette (light), shared with ../export/svg.ts.
const INK = '#1f2328';
const MUTED = '#59636e';
const FAINT = '#818b98';
const BORDER = '#d1d9e0';
const LEVEL_FILLS = ['#ffffff', '#f6f8fa'];
const FOLD_INK = '#6639ba';

/** Per status: the mark, its ink, the row's fill and border. */
const STATUS: Record<PairStatus, { mark: string; ink: string; fill: string; stroke: string }> = {
  equal: { mark: '', ink: MUTED, fill: '', stroke: BORDER },
  changed: { mark: '~', ink: '#9a6700', fill: '#fff8c5', stroke: '#d4a72c' },
  added: { mark: '+', ink: '#1a7f37', fill: '#dafbe1', stroke: '#4ac26b' },
  removed: { mark: '−', ink: '#cf222e', fill: '#ffebe9', stroke: '#ff8182' },
};
const RENAMED_INK = '#0969da';

/** Tie links by what happened to them. */
const TIE_INK: Record<TieStatus, string> = { lost: '#cf222e', gained: '#1a7f37', changed: '#bf8700', same: '#8c959f' };
const TIE_LABEL: Record<TieStatus, string> = { lost: 'tie lost', gained: 'tie gained', changed: 'relation changed', same: 'tie on both sides' };

/** A drawn row: a module, a run of identical blocks (drawn once), or "… N more". */
interface DRow {
  kind: 'module' | 'fold' | 'elided';
  row: ModuleRow;
  /** The rows it stands for: the run's blocks for a fold, else the row itself. */
  members: ModuleRow[];
  level: number;
  name: string;
  head: string;
  note: string;
  status: PairStatus;
  renamed: boolean;
  children: DRow[];
  /** For "… N more": how many modules. */
  hidden?: number;
}

interface Placed {
  top: number;
  bottom: number;
  x: number;
  right: number;
}

interface TieLink {
  side: 'a' | 'b';
  status: TieStatus;
  relation: Relation;
  tensors: string[];
  rows: DRow[];
}

/** A label as the diagram shows it: the last segment, with its folder for a generic file name. */
export function shortLabel(s: string): string {
  const parts = s.split(/[\\/]/).filter(Boolean);
  if (!parts.length) return s;
  const last = parts[parts.length - 1];
  if (parts.length >= 2 && /^(model|pytorch_model|diffusion_pytorch_model|consolidated|weights|checkpoint)([.-].*)?$/i.test(last)) return `${parts[parts.length - 2]}/${last}`;
  return last;
}

/** The note without its leading size (the delta columns show it). */
export function noteOf(r: ModuleRow, d: CheckpointDiff, level: number): string {
  if (r.status === 'equal' && level > 0) return r.renamed && r.aPath !== undefined ? `was ${r.aPath || '(root)'}` : '';
  return rowNote(r, d).replace(/^[+−±]\S+( B| [KMGT]iB)?(\s+\(\d+ tensors\))?\s*/, '');
}

/** The rows drawn: changed subtrees open, unchanged ones one row each, runs folded, at most `maxRows`. */
function visibleRows(d: CheckpointDiff, maxDepth: number, maxRows: number): { root: DRow; rows: DRow[] } {
  const sig = foldKeys(d);
  const rows: DRow[] = [];
  const make = (r: ModuleRow, level: number, name: string, members: ModuleRow[]): DRow => {
    const fold = members.length > 1;
    let note = noteOf(r, d, level);
    if (note && fold) note += ' (each)';
    const head = rowHead(r);
    return {
      kind: fold ? 'fold' : 'module',
      row: r,
      members,
      level,
      name,
      head: fold ? `${members.length} x ${r.b?.type ?? r.a?.type ?? head}` : head,
      note,
      status: r.status,
      renamed: r.renamed > 0,
      children: [],
    };
  };
  const walk = (v: DRow) => {
    rows.push(v);
    const r = v.row;
    const open = r.children.length > 0 && v.level < maxDepth && (r.status === 'changed' || v.level === 0);
    if (!open) return;
    const kids = r.children;
    for (let i = 0; i < kids.length; i++) {
      if (rows.length >= maxRows) {
        v.children.push({ kind: 'elided', row: kids[i], members: [], level: v.level + 1, name: '', head: `… ${plural(kids.length - i, 'more module')}`, note: '', status: 'equal', renamed: false, children: [], hidden: kids.length - i });
        rows.push(v.children[v.children.length - 1]);
        return;
      }
      let j = i;
      if (/^\d+$/.test(kids[i].name)) {
        while (j + 1 < kids.length && /^\d+$/.test(kids[j + 1].name) && Number(kids[j + 1].name) === Number(kids[j].name) + 1 && sig(kids[j + 1]) === sig(kids[i])) j++;
      }
      const name = j > i ? `(${kids[i].name}-${kids[j].name})` : kids[i].name;
      const child = make(kids[i], v.level + 1, name, kids.slice(i, j + 1));
      v.children.push(child);
      walk(child);
      i = j;
    }
  };
  const root = make(d.root, 0, '', [d.root]);
  walk(root);
  return { root, rows };
}

/** Owned counts of a drawn row on one side (null when no member has the side). */
function sideSum(v: DRow, side: 'a' | 'b', what: 'parameters' | 'bytes'): number | null {
  let any = false;
  let n = 0;
  for (const m of v.members) {
    const c = side === 'a' ? m.countsA : m.countsB;
    if (!c) continue;
    any = true;
    n += what === 'parameters' ? c.parameters.owned : c.bytes.owned;
  }
  return any ? n : null;
}

interface RowText {
  mark: string;
  name: string;
  head: string;
  note: string;
  a: string;
  b: string;
  dp: string;
  db: string;
  dpSign: number;
  dbSign: number;
}

function rowText(v: DRow): RowText {
  const mark = v.kind === 'elided' ? '' : STATUS[v.status].mark || (v.renamed ? '→' : '');
  if (v.kind === 'elided') return { mark, name: '', head: v.head, note: '', a: '', b: '', dp: '', db: '', dpSign: 0, dbSign: 0 };
  const pa = sideSum(v, 'a', 'parameters');
  const pb = sideSum(v, 'b', 'parameters');
  const ba = sideSum(v, 'a', 'bytes');
  const bb = sideSum(v, 'b', 'bytes');
  const dp = (pb ?? 0) - (pa ?? 0);
  const db = (bb ?? 0) - (ba ?? 0);
  return {
    mark,
    name: v.level === 0 ? '' : truncate(oneLine(v.name === '' ? '""' : v.name), NAME_MAX),
    head: truncate(oneLine(v.head), HEAD_MAX),
    note: truncate(oneLine(v.note), NOTE_MAX),
    a: pa === null ? '—' : compact(pa),
    b: pb === null ? '—' : compact(pb),
    dp: signed(dp),
    db: signedBytes(db),
    dpSign: Math.sign(dp),
    dbSign: Math.sign(db),
  };
}

/** Where each tensor's module is drawn: its own row, else the nearest drawn ancestor (or the run that holds it). */
function rowFinder(d: CheckpointDiff, rows: DRow[]): (p: TensorPair) => DRow | undefined {
  const drawn = new Map<ModuleRow, DRow>();
  for (const v of rows) {
    if (v.kind === 'elided') continue;
    drawn.set(v.row, v);
    // The other blocks of a run are drawn by the run's row.
    for (const m of v.members.slice(1)) drawn.set(m, v);
  }
  const parent = new Map<ModuleRow, ModuleRow>();
  const holder = new Map<TensorPair, ModuleRow>();
  const stack = [d.root];
  while (stack.length) {
    const r = stack.pop()!;
    for (const t of r.tensors) holder.set(t, r);
    for (const c of r.children) {
      parent.set(c, r);
      stack.push(c);
    }
  }
  const memo = new Map<ModuleRow, DRow | undefined>();
  const find = (r: ModuleRow): DRow | undefined => {
    if (memo.has(r)) return memo.get(r);
    const hit = drawn.get(r);
    const out = hit ?? (parent.has(r) ? find(parent.get(r)!) : undefined);
    memo.set(r, out);
    return out;
  };
  return (p) => {
    const r = holder.get(p);
    return r ? find(r) : undefined;
  };
}

/** Each side's storage groups with what happened to them, and the rows they join. */
function tieLinks(d: CheckpointDiff, rows: DRow[]): TieLink[] {
  const find = rowFinder(d, rows);
  const order = new Map<DRow, number>(rows.map((v, i) => [v, i]));
  const links: TieLink[] = [];
  for (const t of sideTies(d)) {
    const at = new Set<DRow>();
    for (const p of t.pairs) {
      const v = find(p);
      if (v) at.add(v);
    }
    // A tie inside one drawn row is drawn (as a loop) only when something happened to it.
    if (at.size === 0 || (at.size === 1 && t.status === 'same')) continue;
    links.push({ side: t.side, status: t.status, relation: t.relation, tensors: t.tensors, rows: [...at].sort((x, y) => order.get(x)! - order.get(y)!) });
  }
  return links;
}

/** Lanes: shorter links nearer the tree; links that overlap never share a lane (at most 16 per side). */
function assignLanes(links: TieLink[], order: Map<DRow, number>): Map<TieLink, number> {
  const lanes = new Map<TieLink, number>();
  const span = (l: TieLink) => [order.get(l.rows[0])!, order.get(l.rows[l.rows.length - 1])!] as const;
  const sorted = links.slice().sort((x, y) => {
    const [x0, x1] = span(x);
    const [y0, y1] = span(y);
    return x1 - x0 - (y1 - y0) || x0 - y0;
  });
  const used: [number, number][][] = [];
  const MAX = 16;
  sorted.forEach((l, i) => {
    const [s, e] = span(l);
    let lane = used.findIndex((u) => u.every(([a, b]) => e < a || s > b));
    if (lane < 0) {
      if (used.length < MAX) {
        used.push([]);
        lane = used.length - 1;
      } else lane = i % MAX;
    }
    used[lane].push([s, e]);
    lanes.set(l, lane);
  });
  return lanes;
}

export function renderDiffSvg(d: CheckpointDiff, opts: DiffSvgOptions = {}): string {
  const limit = opts.limit ?? 20;
  const labels = { a: shortLabel(opts.labels?.a ?? d.aOriginal.path), b: shortLabel(opts.labels?.b ?? d.b.path) };
  const { root, rows } = visibleRows(d, opts.depth ?? Infinity, Math.max(2, opts.maxRows ?? 300));
  const texts = new Map<DRow, RowText>(rows.map((v) => [v, rowText(v)]));
  const order = new Map<DRow, number>(rows.map((v, i) => [v, i]));
  const links = tieLinks(d, rows);
  const lanes = assignLanes(links, order);
  const laneCount = (side: 'a' | 'b') => links.reduce((n, l) => (l.side === side ? Math.max(n, lanes.get(l)! + 1) : n), 0);
  const lanesA = laneCount('a');
  const lanesB = laneCount('b');

  // Columns, measured.
  // At least as wide as their headings (sans capitals, letter-spaced).
  const headW = (s: string) => sansWidth(s, 10.5, true) + 0.4 * s.length;
  const colW = { a: headW('A'), b: headW('B'), dp: headW('Δ PARAMS'), db: headW('Δ BYTES') };
  let textW = 0;
  let maxLevel = 0;
  for (const v of rows) {
    const t = texts.get(v)!;
    maxLevel = Math.max(maxLevel, v.level);
    const markW = monoWidth('~ ', FS);
    let w = v.level * INDENT + 12 + markW + monoWidth(t.name, FS) + (t.name ? monoWidth('  ', FS) : 0) + monoWidth(t.head, FS);
    if (t.note) w += monoWidth('   ', FS) + monoWidth(t.note, FS - 1);
    textW = Math.max(textW, w);
    colW.a = Math.max(colW.a, monoWidth(t.a, FS));
    colW.b = Math.max(colW.b, monoWidth(t.b, FS));
    colW.dp = Math.max(colW.dp, monoWidth(t.dp, FS));
    colW.db = Math.max(colW.db, monoWidth(t.db, FS));
  }
  const colsW = colW.a + COL_GAP + colW.b + COL_GAP + colW.dp + COL_GAP + colW.db;
  const treeW = Math.max(420, textW + 28 + colsW + maxLevel * INSET + 14);

  const header = renderHeader(d, labels);
  const gutterA = lanesA ? 30 + lanesA * LANE : 0;
  const rootX = M + gutterA;
  const rootRight = rootX + treeW;
  const colRight = rootRight - maxLevel * INSET - 12;
  const dbRight = colRight;
  const dpRight = dbRight - colW.db - COL_GAP;
  const bRight = dpRight - colW.dp - COL_GAP;
  const aRight = bRight - colW.b - COL_GAP;

  let y = M + header.height;
  const hy = y + 10;
  const heading = (x: number, s: string, anchor = 'end') =>
    `<text x="${num(x)}" y="${num(hy)}" font-family="${SANS}" font-size="10.5" font-weight="600" letter-spacing="0.4" fill="${FAINT}"${anchor === 'end' ? ' text-anchor="end"' : ''}>${esc(s)}</text>`;
  const headings = [heading(aRight, 'A'), heading(bRight, 'B'), heading(dpRight, 'Δ PARAMS'), heading(dbRight, 'Δ BYTES'), heading(rootX + 12, 'MODULE', 'start')];
  if (lanesA) headings.push(heading(rootX - 6, 'TIES A'));
  if (lanesB) headings.push(heading(rootRight + 6, 'TIES B', 'start'));
  y += 18;

  // Vertical placement: pre-order tops, post-order bottoms (containers enclose their children).
  const placed = new Map<DRow, Placed>();
  const stack: { v: DRow; exit: boolean }[] = [{ v: root, exit: false }];
  while (stack.length) {
    const { v, exit } = stack.pop()!;
    if (!exit) {
      placed.set(v, { top: y, bottom: y + ROW, x: rootX + v.level * INDENT, right: rootRight - v.level * INSET });
      y += ROW;
      if (v.children.length) {
        stack.push({ v, exit: true });
        for (let i = v.children.length - 1; i >= 0; i--) stack.push({ v: v.children[i], exit: false });
      }
    } else {
      const last = v.children[v.children.length - 1];
      y += PAD_BOTTOM + (last.kind === 'fold' ? 3 : 0);
      placed.get(v)!.bottom = y;
    }
  }

  const body: string[] = [];
  for (const v of rows) body.push(renderRow(v, texts.get(v)!, placed.get(v)!, { aRight, bRight, dpRight, dbRight }));
  const ties = renderTies(links, lanes, placed, rootX, rootRight);
  const legend = renderLegend(d, links, y + 18, limit);

  const rightEdge = Math.max(rootRight + (lanesB ? 30 + lanesB * LANE : 0) + M, M + header.width + M, M + legend.width + M);
  const width = Math.ceil(rightEdge);
  const height = Math.ceil(legend.bottom + M);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${MONO}" font-size="${FS}" role="img">`);
  out.push(`<title>${esc(`${labels.a} → ${labels.b}: ${verdict(d)}`)}</title>`);
  out.push(
    `<desc>${esc('Checkpoint comparison exported by Weightscope: the two module trees aligned by path, changed rows marked, parameter and byte deltas per module, and the storage ties of each side with the lost and gained ones highlighted.')}</desc>`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<g class="header">${header.svg.join('')}</g>`);
  out.push(`<g class="columns">${headings.join('')}</g>`);
  out.push(`<g class="modules">\n${body.join('\n')}\n</g>`);
  if (ties.length) out.push(`<g class="ties">\n${ties.join('\n')}\n</g>`);
  out.push(`<g class="legend">${legend.svg.join('')}</g>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function renderHeader(d: CheckpointDiff, labels: { a: string; b: string }): { svg: string[]; width: number; height: number } {
  const A = d.aOriginal;
  const B = d.b;
  const side = (tag: string, label: string, cp: typeof A) =>
    `${tag}: ${label} · ${cp.format}${cp.architecture ? ` · ${cp.architecture}` : ''} · ${plural(cp.files.length, 'file')} · ${plural(cp.tensors.filter((t) => t.present).length, 'tensor')}`;
  const title = `${labels.a} → ${labels.b}`;
  const lineA = side('a', labels.a, A);
  const lineB = side('b', labels.b, B);
  const v = verdict(d);
  const word = d.equal ? 'Equal' : 'Different';
  const rest = v.replace(/^(equal|different): /, '');
  const bytesOf = (cp: typeof A) => Object.values(cp.bytesByDtype).reduce((s, x) => s + x, 0);
  const counts = `parameters ${exact(A.parameters.unique)} → ${exact(B.parameters.unique)} (${signed(B.parameters.unique - A.parameters.unique, exact)}) unique · bytes ${fmtBytes(bytesOf(A))} → ${fmtBytes(bytesOf(B))} (${signedBytes(bytesOf(B) - bytesOf(A))})`;
  const svg: string[] = [];
  let y = M;
  svg.push(`<text x="${M}" y="${num(y + 20)}" font-family="${SANS}" font-size="20" font-weight="700" fill="${INK}">${esc(title)}</text>`);
  y += 30;
  svg.push(`<text x="${M}" y="${num(y + 14)}" font-family="${SANS}" font-size="12.5" fill="${MUTED}">${esc(lineA)}</text>`);
  y += 19;
  svg.push(`<text x="${M}" y="${num(y + 14)}" font-family="${SANS}" font-size="12.5" fill="${MUTED}">${esc(lineB)}</text>`);
  y += 23;
  const verdictInk = d.equal ? '#1a7f37' : '#cf222e';
  svg.push(
    `<text class="verdict" data-equal="${d.equal}" x="${M}" y="${num(y + 14)}" font-family="${SANS}" font-size="13.5"><tspan font-weight="700" fill="${verdictInk}">${esc(word)}</tspan><tspan fill="${INK}">${esc(`: ${rest}`)}</tspan></text>`,
  );
  y += 21;
  svg.push(`<text x="${M}" y="${num(y + 14)}" font-family="${SANS}" font-size="12.5" fill="${INK}">${esc(counts)}</text>`);
  y += 19 + 14;
  const width = Math.max(sansWidth(title, 20, true), sansWidth(lineA, 12.5), sansWidth(lineB, 12.5), sansWidth(`${word}: ${rest}`, 13.5, true), sansWidth(counts, 12.5));
  return { svg, width, height: y - M };
}

function renderRow(v: DRow, t: RowText, pl: Placed, cols: { aRight: number; bRight: number; dpRight: number; dbRight: number }): string {
  const mid = pl.top + ROW / 2;
  const baseline = num(mid + FS * 0.36);
  const st = STATUS[v.status];
  const out: string[] = [];
  out.push(`<g data-path="${escAttr(v.row.path)}" data-kind="${v.kind}" data-status="${v.kind === 'elided' ? 'elided' : v.status}">`);
  if (v.kind === 'elided') {
    out.push(`<title>${esc(`${v.row.path}…: ${t.head.replace(/^… /, '')} not drawn`)}</title>`);
    out.push(`<text x="${num(pl.x + 12)}" y="${baseline}" font-size="${FS}" font-style="italic" fill="${FAINT}">${esc(t.head)}</text></g>`);
    return out.join('');
  }
  out.push(`<title>${esc(rowTitle(v))}</title>`);
  const boxTop = pl.top + 2;
  const boxH = pl.bottom - pl.top - 4;
  const w = pl.right - pl.x;
  const isLeaf = v.row.children.length === 0 || v.children.length === 0;
  const fill = st.fill || (isLeaf && v.level > 0 ? '#ffffff' : LEVEL_FILLS[v.level % 2]);
  if (v.kind === 'fold') out.push(`<rect x="${num(pl.x + 3)}" y="${num(boxTop + 3)}" width="${num(w)}" height="${num(boxH)}" rx="5" fill="${fill}" stroke="${st.stroke}"/>`);
  out.push(`<rect x="${num(pl.x)}" y="${num(boxTop)}" width="${num(w)}" height="${num(boxH)}" rx="5" fill="${fill}" stroke="${st.stroke}"/>`);
  if (v.status !== 'equal') out.push(`<rect x="${num(pl.x + 4)}" y="${num(boxTop + 5)}" width="3" height="${num(Math.min(ROW - 14, boxH - 10))}" rx="1.5" fill="${st.ink}"/>`);
  const tx = pl.x + 12;
  const parts: string[] = [];
  const markInk = v.status === 'equal' ? RENAMED_INK : st.ink;
  parts.push(`<tspan font-weight="700" fill="${markInk}">${esc(t.mark || ' ')}</tspan>`);
  let x = tx + monoWidth('~ ', FS);
  if (t.name) {
    parts.push(`<tspan x="${num(x)}" font-weight="700" fill="${v.kind === 'fold' ? FOLD_INK : INK}">${esc(t.name)}</tspan>`);
    x += monoWidth(t.name, FS) + monoWidth('  ', FS);
  }
  const headInk = v.kind === 'fold' ? FOLD_INK : v.level === 0 ? INK : v.row.children.length === 0 ? '#0550ae' : MUTED;
  parts.push(`<tspan x="${num(x)}" fill="${headInk}"${v.level === 0 ? ' font-weight="700"' : ''}>${esc(t.head)}</tspan>`);
  x += monoWidth(t.head, FS);
  if (t.note) parts.push(`<tspan x="${num(x + monoWidth('   ', FS))}" font-size="${FS - 1}" fill="${v.status === 'equal' ? RENAMED_INK : st.ink}">${esc(t.note)}</tspan>`);
  out.push(`<text x="${num(tx)}" y="${baseline}" font-size="${FS}">${parts.join('')}</text>`);
  const num_ = (right: number, s: string, fill: string, bold = false) =>
    `<text x="${num(right)}" y="${baseline}" font-size="${FS}" fill="${fill}" text-anchor="end"${bold ? ' font-weight="700"' : ''}>${esc(s)}</text>`;
  out.push(num_(cols.aRight, t.a, t.a === '—' ? FAINT : MUTED));
  out.push(num_(cols.bRight, t.b, t.b === '—' ? FAINT : INK));
  const signInk = (s: number) => (s > 0 ? '#1a7f37' : s < 0 ? '#cf222e' : FAINT);
  out.push(num_(cols.dpRight, t.dp, signInk(t.dpSign), t.dpSign !== 0));
  out.push(num_(cols.dbRight, t.db, signInk(t.dbSign)));
  out.push('</g>');
  return out.join('');
}

function rowTitle(v: DRow): string {
  const r = v.row;
  const path = v.kind === 'fold' ? `${v.members[0].path} … ${v.members[v.members.length - 1].path}` : r.path || '(root)';
  const parts = [`${path}: ${v.status === 'equal' ? (v.renamed ? 'renamed' : 'unchanged') : v.status === 'added' ? 'only in b' : v.status === 'removed' ? 'only in a' : 'changed'}`];
  const own = (c: ModuleRow['countsA']) => (c ? exact(c.parameters.owned) : '—');
  if (v.kind === 'module') parts.push(`parameters held: a ${own(r.countsA)}, b ${own(r.countsB)}`);
  if (r.changed) parts.push(plural(r.changed, 'tensor differs', 'tensors differ'));
  if (r.renamed) parts.push(plural(r.renamed, 'tensor renamed', 'tensors renamed'));
  if (v.note) parts.push(v.note);
  return parts.join('; ');
}

/** a's links in the gutter left of the tree, b's right of it: one curve per storage group, dots on its rows. */
function renderTies(links: TieLink[], lanes: Map<TieLink, number>, placed: Map<DRow, Placed>, rootX: number, rootRight: number): string[] {
  const out: string[] = [];
  for (const link of links) {
    const left = link.side === 'a';
    const anchor = left ? rootX - 10 : rootRight + 10;
    const dir = left ? -1 : 1;
    const laneX = anchor + dir * (18 + lanes.get(link)! * LANE);
    const ctrl = anchor + (laneX - anchor) / 0.75;
    const ink = TIE_INK[link.status];
    const mids = link.rows.map((v) => placed.get(v)!.top + ROW / 2);
    let d = '';
    if (mids.length === 1) {
      const m = mids[0];
      d = `M${num(anchor)} ${num(m - 3)}C${num(anchor + dir * 26)} ${num(m - 13)} ${num(anchor + dir * 26)} ${num(m + 13)} ${num(anchor)} ${num(m + 3)}`;
    } else {
      for (let i = 0; i + 1 < mids.length; i++) d += `M${num(anchor)} ${num(mids[i])}C${num(ctrl)} ${num(mids[i])} ${num(ctrl)} ${num(mids[i + 1])} ${num(anchor)} ${num(mids[i + 1])}`;
    }
    const dash = dashFor(link.relation);
    const strong = link.status !== 'same';
    const g: string[] = [`<g data-side="${link.side}" data-status="${link.status}">`];
    for (const v of link.rows) {
      const pl = placed.get(v)!;
      const m = pl.top + ROW / 2;
      g.push(`<line x1="${num(left ? pl.x : pl.right)}" y1="${num(m)}" x2="${num(anchor)}" y2="${num(m)}" stroke="${ink}" stroke-width="1" stroke-opacity="0.55" stroke-dasharray="2 2"/>`);
    }
    g.push(
      `<path class="tie-link ${link.status}" data-side="${link.side}" data-shared="${escAttr(boundedJoin(link.tensors, ' ', 64))}" data-relation="${link.relation}" d="${d}" fill="none" stroke="${ink}" stroke-width="${strong ? 2.4 : 1.6}" stroke-linecap="round"${dash ? ` stroke-dasharray="${dash}"` : ''}><title>${esc(`${TIE_LABEL[link.status]} (${link.side}, ${link.relation}): ${tieMembers(link.tensors)}`)}</title></path>`,
    );
    for (const m of mids) g.push(`<circle cx="${num(anchor)}" cy="${num(m)}" r="3.5" fill="${ink}" stroke="#ffffff" stroke-width="1.5"/>`);
    g.push('</g>');
    out.push(g.join(''));
  }
  return out;
}

/** Below the tree: the ties that changed, the tensors that differ, config.json keys, the key, the footer. */
function renderLegend(d: CheckpointDiff, links: TieLink[], top: number, limit: number): { svg: string[]; width: number; bottom: number } {
  const svg: string[] = [];
  let y = top;
  let width = 0;
  const line = (x: number, s: string, fill: string, size = 11.5) => {
    width = Math.max(width, x - M + monoWidth(s, size));
    svg.push(`<text x="${num(x)}" y="${num(y + 11)}" font-size="${size}" fill="${fill}">${esc(s)}</text>`);
    y += 17;
  };
  const title = (s: string) => {
    y += 6;
    svg.push(`<text x="${M}" y="${num(y + 12)}" font-family="${SANS}" font-size="12.5" font-weight="700" fill="${INK}">${esc(s)}</text>`);
    width = Math.max(width, sansWidth(s, 12.5, true));
    y += 22;
  };
  const names = (ns: string[]) => truncate(oneLine(tieMembers(ns)), 110);
  const other = (ps: string[][]) => truncate(oneLine(otherParts(ps)), 110);

  title('Ties');
  const tieLine = (status: TieStatus, main: string, sub: string) => {
    svg.push(`<line x1="${M}" y1="${num(y + 7)}" x2="${M + 30}" y2="${num(y + 7)}" stroke="${TIE_INK[status]}" stroke-width="2.4" stroke-linecap="round"/>`);
    line(M + 40, main, INK);
    if (sub) line(M + 40, sub, MUTED, 11);
    y += 4;
  };
  let ties = 0;
  for (const t of d.shared.lost.slice(0, limit)) {
    tieLine('lost', `lost: ${names(t.tensors)} (${t.relation} in a)`, `in b: ${other(t.other)}`);
    ties++;
  }
  for (const t of d.shared.gained.slice(0, limit)) {
    tieLine('gained', `gained: ${names(t.tensors)} (${t.relation} in b)`, `in a: ${other(t.other)}`);
    ties++;
  }
  for (const t of d.shared.changed.slice(0, limit)) {
    tieLine('changed', `relation changed: ${names(t.tensors)}`, `${t.relation.a} in a, ${t.relation.b} in b`);
    ties++;
  }
  const more = d.shared.lost.length + d.shared.gained.length + d.shared.changed.length - ties;
  if (more > 0) line(M + 40, `… and ${plural(more, 'more')}`, MUTED);
  const same = d.shared.same.length;
  if (!ties) line(M, same ? `no tie lost or gained; ${plural(same, 'tie')} on both sides` : 'no tie on either side', MUTED);
  else if (same) line(M + 40, `${plural(same, 'tie')} unchanged on both sides (grey)`, MUTED, 11);

  const tensors = [...d.changed, ...d.added, ...d.removed].sort((p, q) => p.order - q.order);
  if (tensors.length) {
    title(`Tensors that differ (${exact(tensors.length)})`);
    for (const p of tensors.slice(0, limit)) {
      const t = (p.b ?? p.a)!;
      const mark = STATUS[p.status];
      let what: string;
      if (p.status === 'added') what = `${t.dtype} [${t.shape.join(', ')}] only in b`;
      else if (p.status === 'removed') what = `${t.dtype} [${t.shape.join(', ')}] only in a`;
      else what = [tensorChange(p), p.changes.includes('sharing') ? sharingChange(p, d) : ''].filter(Boolean).join(', ');
      const s = truncate(oneLine(`${mark.mark} ${p.status === 'removed' ? (p.aName ?? p.key) : p.key} · ${what}`), 130);
      line(M, s, mark.ink);
    }
    if (tensors.length > limit) line(M, `… ${exact(tensors.length - limit)} more (--json lists all)`, MUTED);
  }
  if (d.renamed.length) {
    title(`Renamed (${exact(d.renamed.length)})`);
    for (const p of d.renamed.slice(0, Math.min(limit, 8))) line(M, truncate(oneLine(`→ ${p.renamed!.from} → ${p.renamed!.to}`), 130), RENAMED_INK);
    if (d.renamed.length > Math.min(limit, 8)) line(M, `… ${exact(d.renamed.length - Math.min(limit, 8))} more`, MUTED);
  }
  const config = d.config;
  if (config.length) {
    const where = !d.a.config ? ' (only in b; not part of the verdict)' : !d.b.config ? ' (only in a; not part of the verdict)' : '';
    title(`config.json${where}`);
    const value = (v: unknown) => (v === undefined ? '(absent)' : (JSON.stringify(v) ?? String(v)));
    for (const c of config.slice(0, limit)) line(M, truncate(oneLine(keyLine(c, value)), 130), c.informational ? MUTED : INK);
    if (config.length > limit) line(M, `… ${exact(config.length - limit)} more`, MUTED);
  }
  if (d.data) {
    title('Data');
    line(M, `${exact(d.data.compared)} tensor pairs compared by SHA-256 (${fmtBytes(d.data.bytesHashed)} hashed): ${exact(d.data.equal)} equal, ${exact(d.data.different)} different${d.data.unknown ? `, ${exact(d.data.unknown)} without a known byte range` : ''}`, INK);
  }

  // The key.
  y += 10;
  const ky = y + 11;
  const key: string[] = [];
  let kx = M;
  for (const s of ['changed', 'added', 'removed'] as const) {
    const st = STATUS[s];
    key.push(`<rect x="${num(kx)}" y="${num(ky - 10)}" width="14" height="13" rx="3" fill="${st.fill}" stroke="${st.stroke}"/>`);
    key.push(`<text x="${num(kx + 4)}" y="${num(ky)}" font-size="11" font-weight="700" fill="${st.ink}">${esc(st.mark)}</text>`);
    const label = s === 'changed' ? 'changed' : s === 'added' ? 'only in b' : 'only in a';
    key.push(`<text x="${num(kx + 20)}" y="${num(ky)}" font-size="11" fill="${MUTED}">${label}</text>`);
    kx += 20 + monoWidth(label, 11) + 18;
  }
  const drawn = new Set(links.map((l) => l.status));
  for (const s of ['lost', 'gained', 'changed', 'same'] as const) {
    if (!drawn.has(s)) continue;
    key.push(`<line x1="${num(kx)}" y1="${num(ky - 4)}" x2="${num(kx + 22)}" y2="${num(ky - 4)}" stroke="${TIE_INK[s]}" stroke-width="2.4" stroke-linecap="round"/>`);
    key.push(`<text x="${num(kx + 28)}" y="${num(ky)}" font-size="11" fill="${MUTED}">${esc(TIE_LABEL[s])}</text>`);
    kx += 28 + monoWidth(TIE_LABEL[s], 11) + 18;
  }
  svg.push(...key);
  width = Math.max(width, kx - M);
  y += 22;
  const foot = 'A, B: parameters each module holds (shared storage counted once, at its first holder); Δ = b − a';
  svg.push(`<text x="${M}" y="${num(y + 4)}" font-size="11" fill="${MUTED}">${esc(foot)}</text>`);
  width = Math.max(width, monoWidth(foot, 11));
  y += 20;
  svg.push(`<text x="${M}" y="${num(y + 4)}" font-family="${SANS}" font-size="10.5" fill="${FAINT}">weightscope diff · read from file headers${d.data ? ' and tensor bytes' : ''}</text>`);
  y += 4;
  return { svg, width, bottom: y };
}

export function keyLine(c: KeyChange, value: (v: unknown) => string): string {
  const mark = c.status === 'added' ? '+' : c.status === 'removed' ? '−' : '~';
  const v = c.status === 'added' ? value(c.b) : c.status === 'removed' ? value(c.a) : `${value(c.a)} → ${value(c.b)}`;
  return `${mark} ${c.key}: ${v}${c.informational ? '  (bookkeeping; not a difference)' : ''}`;
}
