/**
 * The architecture diagram: the module tree as nested boxes, one row per module, with its type
 * (the layer repr for leaves), unique parameters and a bar for its share of the model's unique
 * parameters; folded runs drawn once as `(0-11): 12 x Block`; curves in a right-hand gutter
 * joining the modules that share storage, one colour per shared group (declared ties dashed).
 *
 * The document is self-contained (attributes only: no CSS, scripts, fonts or external
 * references) so it renders the same in browsers, resvg and image viewers, and deterministic:
 * the same checkpoint gives byte-identical output. Widths are estimated from monospace metrics
 * since no font is measured.
 */
import { Checkpoint } from '../model';
import { compact, exact, percent } from '../numbers';
import { adapterLine, quantizationLine } from '../quant/describe';
import { LayoutOptions, TieLink, VisibleNode, VisibleTree, layoutTree } from './layout';
import {
  CATEGORY_COLORS,
  CATEGORY_LABEL,
  Category,
  MONO,
  RELATION_LABEL,
  SANS,
  baseName,
  category,
  dashFor,
  exactAndCompact,
  describeType,
  hasInferredTypes,
  monoWidth,
  plural,
  sansWidth,
  tieColor,
  truncate,
} from './style';
import { esc, escAttr, num, stripInvalid } from './xml';
import { boundedJoin, groupMembers, overlapNote } from '../overlaps';

export interface SvgOptions extends LayoutOptions {}

// Geometry (px).
const M = 28; // outer margin
const ROW = 26; // row height
const FS = 12; // row font size
const INDENT = 18; // left indent per level
const INSET = 8; // right inset per level
const PAD_BOTTOM = 6; // below a container's last child
const COL_GAP = 14;
const BAR_W = 84;
const NAME_MAX = 40; // cells
const TYPE_MAX = 64; // cells

// Palette (light).
const INK = '#1f2328';
const MUTED = '#59636e';
const FAINT = '#818b98';
const BORDER = '#d1d9e0';
const BAR_TRACK = '#eef1f4';
const BAR_FILL = '#218bff';
const BAR_FILL_BLOCK = '#80ccff';
const FOLD_FILL = '#f3f0ff';
const FOLD_STROKE = '#c9bdf5';
const FOLD_INK = '#6639ba';
const LEVEL_FILLS = ['#ffffff', '#f6f8fa'];

interface Placed {
  v: VisibleNode;
  top: number;
  bottom: number;
  x: number;
  right: number;
}

interface RowText {
  name: string;
  type: string;
  params: string;
  share: string;
  shareFrac: number;
}

export function renderSvg(cp: Checkpoint, opts: SvgOptions = {}): string {
  const tree = layoutTree(cp, { maxRows: 250, ...opts });
  const rows = measureRows(tree, cp.parameters.unique);
  const header = renderHeader(cp, tree);
  let y = M + header.height;
  const cols = columns(rows, y);
  y += 18;
  const placed = placeRows(tree, cols, y);
  y = placed.bottom;
  const modules = renderRows(tree, rows.texts, placed.rows, cols);
  const ties = renderTies(tree, placed.rows, cols);
  const legend = renderLegend(cp, tree, modules.categories, y + 18);
  y = legend.bottom;

  const width = Math.ceil(Math.max(ties.right + M - 12, M + header.width + M, M + legend.width + M, M + rows.treeW + M));
  const height = Math.ceil(y + M);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${MONO}" font-size="${FS}" role="img">`,
  );
  out.push(`<title>${esc(`${header.title}: ${exact(cp.parameters.unique)} parameters (${cp.format})`)}</title>`);
  out.push(`<desc>${esc('Architecture diagram exported by Weightscope: module tree with unique parameter counts, share of the model, folded repeated blocks and shared-storage (tied weight) links.')}</desc>`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<g class="header">${header.svg.join('')}</g>`);
  out.push(`<g class="columns">${[...cols.headings, ...ties.headings].join('')}</g>`);
  out.push(`<g class="modules">\n${modules.svg.join('\n')}\n</g>`);
  if (ties.svg.length) out.push(`<g class="ties">\n${ties.svg.join('\n')}\n</g>`);
  out.push(`<g class="legend">${legend.svg.join('')}</g>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Each row's texts, and the widths of the tree and its columns they need. */
interface MeasuredRows {
  texts: Map<VisibleNode, RowText>;
  /** Width of the outermost box. */
  treeW: number;
  paramsW: number;
  shareW: number;
  maxLevel: number;
}

function measureRows(tree: VisibleTree, total: number): MeasuredRows {
  const texts = new Map<VisibleNode, RowText>();
  let treeTextW = 0;
  let paramsW = monoWidth('parameters', FS - 1);
  let shareW = monoWidth('100%', FS);
  let maxLevel = 0;
  for (const v of tree.rows) {
    const t = rowText(v, total);
    texts.set(v, t);
    maxLevel = Math.max(maxLevel, v.level);
    const left = v.level * INDENT + 12 + (v.kind === 'module' && v.node.children.length === 0 && v.level > 0 ? 6 : 0);
    const w = left + monoWidth(t.name, FS) + (t.name && t.type ? monoWidth('  ', FS) : 0) + monoWidth(t.type, FS);
    treeTextW = Math.max(treeTextW, w);
    paramsW = Math.max(paramsW, monoWidth(t.params, FS));
    shareW = Math.max(shareW, monoWidth(t.share, FS));
  }
  const colsW = paramsW + COL_GAP + shareW + 8 + BAR_W;
  const treeW = Math.max(360, treeTextW + 28 + colsW + maxLevel * INSET + 14);
  return { texts, treeW, paramsW, shareW, maxLevel };
}

/** Title, the format and size line, the parameter line and notes, from the top margin. */
function renderHeader(cp: Checkpoint, tree: VisibleTree): { svg: string[]; title: string; width: number; height: number } {
  const title = cp.architecture ?? cp.modules.type;
  const sub1 = `${cp.format} · ${baseName(cp.path)}${cp.files.length > 1 ? ` · ${plural(cp.files.length, 'file')}` : ''} · ${plural(cp.tensors.filter((t) => t.present).length, 'tensor')}`;
  const p = cp.parameters;
  const short = exactAndCompact(p.unique);
  let sub2 = `${exact(p.unique)} parameters${short.includes('(') ? ` (${compact(p.unique)})` : ''}, shared storage counted once`;
  if (p.total !== p.unique) sub2 += ` · ${exact(p.total)} if each tied name were counted`;
  if (cp.buffers.unique) sub2 += ` · ${plural(cp.buffers.unique, 'buffer element')}`;
  const notes: string[] = [];
  if (hasInferredTypes(cp.modules)) notes.push('Layer types inferred from tensor names and shapes (state dict).');
  if (tree.depth < tree.modelDepth) notes.push(`Showing ${tree.depth} of ${tree.modelDepth} levels.`);
  const sub3 = notes.join(' ');
  const scheme = quantizationLine(cp) ?? adapterLine(cp) ?? '';

  let y = M;
  const svg: string[] = [];
  svg.push(`<text x="${M}" y="${num(y + 20)}" font-family="${SANS}" font-size="20" font-weight="700" fill="${INK}">${esc(title)}</text>`);
  y += 30;
  svg.push(`<text x="${M}" y="${num(y + 14)}" font-family="${SANS}" font-size="12.5" fill="${MUTED}">${esc(sub1)}</text>`);
  y += 19;
  svg.push(`<text x="${M}" y="${num(y + 14)}" font-family="${SANS}" font-size="12.5" fill="${INK}">${esc(sub2)}</text>`);
  y += 19;
  if (scheme) {
    svg.push(`<text class="scheme" x="${M}" y="${num(y + 14)}" font-family="${SANS}" font-size="12.5" fill="${INK}">${esc(scheme)}</text>`);
    y += 19;
  }
  if (sub3) {
    svg.push(`<text x="${M}" y="${num(y + 14)}" font-family="${SANS}" font-size="12" font-style="italic" fill="${FAINT}">${esc(sub3)}</text>`);
    y += 19;
  }
  const width = Math.max(sansWidth(title, 20, true), sansWidth(sub1, 12.5), sansWidth(sub2, 12.5), sansWidth(sub3, 12), sansWidth(scheme, 12.5));
  y += 14;
  return { svg, title, width, height: y - M };
}

/** Where the tree and its columns go, and the column headings at `y`. */
interface Columns {
  rootX: number;
  rootRight: number;
  barX: number;
  shareRight: number;
  paramsRight: number;
  /** Baseline of the headings. */
  hy: number;
  headings: string[];
}

function columns(rows: MeasuredRows, y: number): Columns {
  const rootX = M;
  const rootRight = M + rows.treeW;
  const colRight = rootRight - rows.maxLevel * INSET - 12; // right edge of the bar column
  const barX = colRight - BAR_W;
  const shareRight = barX - 8;
  const paramsRight = shareRight - rows.shareW - COL_GAP;
  const hy = y + 10;
  const headings = [
    `<text x="${num(paramsRight)}" y="${num(hy)}" font-family="${SANS}" font-size="10.5" font-weight="600" letter-spacing="0.4" fill="${FAINT}" text-anchor="end">PARAMETERS</text>`,
    `<text x="${num(barX)}" y="${num(hy)}" font-family="${SANS}" font-size="10.5" font-weight="600" letter-spacing="0.4" fill="${FAINT}">SHARE</text>`,
  ];
  return { rootX, rootRight, barX, shareRight, paramsRight, hy, headings };
}

/** Vertical placement from `top`: pre-order tops, post-order bottoms (containers enclose their children). */
function placeRows(tree: VisibleTree, cols: Columns, top: number): { rows: Map<VisibleNode, Placed>; bottom: number } {
  const placed = new Map<VisibleNode, Placed>();
  let cursor = top;
  const stack: { v: VisibleNode; exit: boolean }[] = [{ v: tree.root, exit: false }];
  while (stack.length) {
    const { v, exit } = stack.pop()!;
    if (!exit) {
      const x = cols.rootX + v.level * INDENT;
      const right = cols.rootRight - v.level * INSET;
      const pl: Placed = { v, top: cursor, bottom: cursor + ROW, x, right };
      placed.set(v, pl);
      cursor += ROW;
      if (v.children.length) {
        stack.push({ v, exit: true });
        for (let i = v.children.length - 1; i >= 0; i--) stack.push({ v: v.children[i], exit: false });
      }
    } else {
      // A folded last child draws a shadow box 3px below itself.
      const last = v.children[v.children.length - 1];
      cursor += PAD_BOTTOM + (last.kind === 'fold' ? 3 : 0);
      placed.get(v)!.bottom = cursor;
    }
  }
  return { rows: placed, bottom: cursor };
}

/** One group per row: its box, name and type, parameters, share and bar; and the layer categories drawn. */
function renderRows(tree: VisibleTree, texts: Map<VisibleNode, RowText>, placed: Map<VisibleNode, Placed>, cols: Columns): { svg: string[]; categories: Set<Category> } {
  const { paramsRight, shareRight, barX } = cols;
  const body: string[] = [];
  const categories = new Set<Category>();
  for (const v of tree.rows) {
    const pl = placed.get(v)!;
    const t = texts.get(v)!;
    const mid = pl.top + ROW / 2;
    const baseline = num(mid + FS * 0.36);
    const isLeaf = v.kind === 'module' && v.node.children.length === 0;
    const out: string[] = [];
    out.push(`<g data-path="${escAttr(v.path)}" data-kind="${v.kind}">`);
    out.push(`<title>${esc(tooltip(v, t))}</title>`);
    if (v.kind === 'collapsed' || v.kind === 'elided') {
      out.push(`<text x="${num(pl.x + 12)}" y="${baseline}" font-size="${FS}" font-style="italic" fill="${FAINT}">${esc(t.type)}</text>`);
      if (t.params) out.push(`<text x="${num(paramsRight)}" y="${baseline}" font-size="${FS}" fill="${FAINT}" text-anchor="end">${esc(t.params)}</text>`);
      out.push('</g>');
      body.push(out.join(''));
      continue;
    }
    const boxTop = pl.top + 2;
    const boxH = pl.bottom - pl.top - 4;
    const w = pl.right - pl.x;
    if (v.kind === 'fold') {
      out.push(`<rect x="${num(pl.x + 3)}" y="${num(boxTop + 3)}" width="${num(w)}" height="${num(boxH)}" rx="5" fill="${FOLD_FILL}" stroke="${FOLD_STROKE}"/>`);
      out.push(`<rect x="${num(pl.x)}" y="${num(boxTop)}" width="${num(w)}" height="${num(boxH)}" rx="5" fill="${FOLD_FILL}" stroke="${FOLD_STROKE}"/>`);
    } else {
      const fill = isLeaf ? '#ffffff' : LEVEL_FILLS[v.level % 2];
      out.push(`<rect x="${num(pl.x)}" y="${num(boxTop)}" width="${num(w)}" height="${num(boxH)}" rx="5" fill="${fill}" stroke="${BORDER}"/>`);
    }
    let tx = pl.x + 12;
    if (isLeaf && v.level > 0) {
      const cat = category(v.node.type);
      categories.add(cat);
      out.push(`<rect x="${num(pl.x + 5)}" y="${num(boxTop + 5)}" width="3" height="${num(boxH - 10)}" rx="1.5" fill="${CATEGORY_COLORS[cat]}"/>`);
      tx += 6;
    }
    const parts: string[] = [];
    if (t.name) parts.push(`<tspan font-weight="700" fill="${v.kind === 'fold' ? FOLD_INK : INK}">${esc(t.name)}</tspan>`);
    if (t.type) {
      const gap = t.name ? monoWidth('  ', FS) : 0;
      const color = v.kind === 'fold' ? FOLD_INK : isLeaf ? '#0550ae' : v.level === 0 ? INK : MUTED;
      const weight = v.level === 0 ? ' font-weight="700"' : '';
      parts.push(`<tspan x="${num(tx + (t.name ? monoWidth(t.name, FS) + gap : 0))}" fill="${color}"${weight}>${esc(t.type)}</tspan>`);
    }
    out.push(`<text x="${num(tx)}" y="${baseline}" font-size="${FS}">${parts.join('')}</text>`);
    // parameters, share, bar
    out.push(`<text x="${num(paramsRight)}" y="${baseline}" font-size="${FS}" fill="${t.params === '—' ? FAINT : INK}" text-anchor="end">${esc(t.params)}</text>`);
    out.push(`<text x="${num(shareRight)}" y="${baseline}" font-size="${FS}" fill="${MUTED}" text-anchor="end">${esc(t.share)}</text>`);
    if (t.share) out.push(`<rect x="${num(barX)}" y="${num(mid - 3.5)}" width="${BAR_W}" height="7" rx="3.5" fill="${BAR_TRACK}"/>`);
    const bw = BAR_W * Math.min(1, Math.max(0, t.shareFrac));
    if (bw > 0) out.push(`<rect x="${num(barX)}" y="${num(mid - 3.5)}" width="${num(Math.max(bw, 2))}" height="7" rx="3.5" fill="${v.perBlock ? BAR_FILL_BLOCK : BAR_FILL}"/>`);
    out.push('</g>');
    body.push(out.join(''));
  }
  return { svg: body, categories };
}

/** The tie gutter right of the tree: one curve per shared group joining its rows, and its heading. */
function renderTies(tree: VisibleTree, placed: Map<VisibleNode, Placed>, cols: Columns): { svg: string[]; headings: string[]; right: number } {
  const ties = tree.ties.filter((l) => l.rows.length > 0);
  const anchorX = cols.rootRight + 12;
  const lanes = assignLanes(ties);
  const laneCount = lanes.size ? Math.max(...lanes.values()) + 1 : 0;
  const tieSvg: string[] = [];
  for (const link of ties) {
    const color = tieColor(link.group);
    const lane = lanes.get(link) ?? 0;
    const laneX = anchorX + 18 + lane * 14;
    const ctrl = anchorX + (laneX - anchorX) / 0.75;
    const mids = link.rows.map((r) => placed.get(r)!.top + ROW / 2);
    let d = '';
    if (mids.length === 1) {
      const m = mids[0];
      d = `M${num(anchorX)} ${num(m - 3)}C${num(anchorX + 26)} ${num(m - 13)} ${num(anchorX + 26)} ${num(m + 13)} ${num(anchorX)} ${num(m + 3)}`;
    } else {
      for (let i = 0; i + 1 < mids.length; i++) {
        d += `M${num(anchorX)} ${num(mids[i])}C${num(ctrl)} ${num(mids[i])} ${num(ctrl)} ${num(mids[i + 1])} ${num(anchorX)} ${num(mids[i + 1])}`;
      }
    }
    const dash = dashFor(link.relation);
    const names = boundedJoin(link.tensors, ' ', 64);
    const g: string[] = [];
    g.push(`<g data-group="${link.group}">`);
    for (const r of link.rows) {
      const pl = placed.get(r)!;
      const m = pl.top + ROW / 2;
      g.push(`<line x1="${num(pl.right)}" y1="${num(m)}" x2="${num(anchorX)}" y2="${num(m)}" stroke="${color}" stroke-width="1" stroke-opacity="0.55" stroke-dasharray="2 2"/>`);
    }
    g.push(
      `<path class="tie-link" data-shared="${escAttr(names)}" data-relation="${link.relation}" d="${d}" fill="none" stroke="${color}" stroke-width="1.8" stroke-linecap="round"${dash ? ` stroke-dasharray="${dash}"` : ''}><title>${esc(`${RELATION_LABEL[link.relation]}: ${boundedJoin(link.tensors, ' = ')}`)}</title></path>`,
    );
    for (const r of link.rows) {
      const m = placed.get(r)!.top + ROW / 2;
      g.push(`<circle cx="${num(anchorX)}" cy="${num(m)}" r="3.5" fill="${color}" stroke="#ffffff" stroke-width="1.5"/>`);
    }
    g.push('</g>');
    tieSvg.push(g.join(''));
  }
  const headings: string[] = [];
  if (ties.length) {
    headings.push(`<text x="${num(anchorX - 4)}" y="${num(cols.hy)}" font-family="${SANS}" font-size="10.5" font-weight="600" letter-spacing="0.4" fill="${FAINT}">TIES</text>`);
  }
  const right = ties.length ? anchorX + 18 + Math.max(0, laneCount - 1) * 14 + 30 : cols.rootRight;
  return { svg: tieSvg, headings, right };
}

/** Below the tree from `top`: the shared storage groups, the key to line styles, layer colours and bars, the footer. */
function renderLegend(cp: Checkpoint, tree: VisibleTree, categories: Set<Category>, top: number): { svg: string[]; width: number; bottom: number } {
  let y = top;
  const legend: string[] = [];
  let legendW = 0;
  const lineText = (x: number, yy: number, s: string, fill: string, extra = '') => {
    legendW = Math.max(legendW, x - M + monoWidth(s, 11.5));
    return `<text x="${num(x)}" y="${num(yy)}" font-size="11.5" fill="${fill}"${extra}>${esc(s)}</text>`;
  };
  legend.push(`<text x="${M}" y="${num(y + 12)}" font-family="${SANS}" font-size="12.5" font-weight="700" fill="${INK}">Shared storage</text>`);
  y += 24;
  const LEGEND_MAX = 12;
  if (!cp.shared.length) {
    legend.push(lineText(M, y + 10, 'none: every tensor has storage of its own', MUTED));
    y += 20;
  }
  cp.shared.slice(0, LEGEND_MAX).forEach((g, i) => {
    const color = tieColor(i);
    const dash = dashFor(g.relation);
    const my = y + 7;
    legend.push(`<line x1="${M}" y1="${num(my)}" x2="${M + 30}" y2="${num(my)}" stroke="${color}" stroke-width="2.2" stroke-linecap="round"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    const names = g.tensors.length > 4 ? `${groupMembers(g, (n) => n, 3)} (${g.tensors.length} tensors)` : groupMembers(g, (n) => n);
    legend.push(lineText(M + 40, y + 11, truncate(names, 120), INK));
    const saved = g.totalElements - g.uniqueElements;
    const views = overlapNote(g);
    const detail = `${RELATION_LABEL[g.relation]}${views ? ` (${views})` : ''} · ${compact(g.uniqueElements)} elements stored once${saved > 0 ? `, ${compact(saved)} not counted twice` : ''}`;
    legend.push(lineText(M + 40, y + 26, detail, MUTED));
    y += 38;
  });
  if (cp.shared.length > LEGEND_MAX) {
    legend.push(lineText(M + 40, y + 10, `… and ${plural(cp.shared.length - LEGEND_MAX, 'more group')}`, MUTED));
    y += 20;
  }
  const key = renderKey(cp, tree, categories, y + 12);
  legendW = Math.max(legendW, key.right - M);
  legend.push(...key.svg);
  y += 30;
  const footer = `weightscope · read from file headers`;
  legend.push(`<text x="${M}" y="${num(y + 4)}" font-family="${SANS}" font-size="10.5" fill="${FAINT}">${esc(footer)}</text>`);
  y += 4;
  return { svg: legend, width: legendW, bottom: y };
}

/** One line of keys at baseline `ky`: the tie line styles present, the layer colours drawn, the bars. */
function renderKey(cp: Checkpoint, tree: VisibleTree, categories: Set<Category>, ky: number): { svg: string[]; right: number } {
  const keyParts: string[] = [];
  let kx = M;
  const relations = new Set(cp.shared.map((g) => g.relation));
  for (const rel of ['alias', 'view', 'declared', 'deduplicated'] as const) {
    if (!relations.has(rel)) continue;
    const dash = dashFor(rel);
    keyParts.push(`<line x1="${num(kx)}" y1="${num(ky - 4)}" x2="${num(kx + 22)}" y2="${num(ky - 4)}" stroke="${MUTED}" stroke-width="1.8" stroke-linecap="round"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    const label = rel === 'alias' ? 'same storage' : rel === 'view' ? 'view of one storage' : rel === 'declared' ? 'declared tie' : 'deduplicated copy';
    keyParts.push(`<text x="${num(kx + 28)}" y="${num(ky)}" font-size="11" fill="${MUTED}">${esc(label)}</text>`);
    kx += 28 + monoWidth(label, 11) + 22;
  }
  for (const cat of ['embedding', 'linear', 'conv', 'norm', 'other'] as const) {
    if (!categories.has(cat)) continue;
    keyParts.push(`<rect x="${num(kx)}" y="${num(ky - 9)}" width="3" height="11" rx="1.5" fill="${CATEGORY_COLORS[cat]}"/>`);
    keyParts.push(`<text x="${num(kx + 8)}" y="${num(ky)}" font-size="11" fill="${MUTED}">${esc(CATEGORY_LABEL[cat])}</text>`);
    kx += 8 + monoWidth(CATEGORY_LABEL[cat], 11) + 18;
  }
  keyParts.push(`<rect x="${num(kx)}" y="${num(ky - 8)}" width="22" height="7" rx="3.5" fill="${BAR_FILL}"/>`);
  keyParts.push(`<text x="${num(kx + 28)}" y="${num(ky)}" font-size="11" fill="${MUTED}">share of unique parameters</text>`);
  kx += 28 + monoWidth('share of unique parameters', 11);
  if (tree.rows.some((v) => v.perBlock && v.kind !== 'collapsed')) {
    kx += 18;
    keyParts.push(`<rect x="${num(kx)}" y="${num(ky - 8)}" width="22" height="7" rx="3.5" fill="${BAR_FILL_BLOCK}"/>`);
    keyParts.push(`<text x="${num(kx + 28)}" y="${num(ky)}" font-size="11" fill="${MUTED}">one block of a folded run</text>`);
    kx += 28 + monoWidth('one block of a folded run', 11);
  }
  return { svg: keyParts, right: kx };
}

function rowText(v: VisibleNode, total: number): RowText {
  const m = v.node;
  if (v.kind === 'collapsed') {
    const h = v.hidden!;
    return { name: '', type: `… ${plural(h.modules, 'submodule')}, ${plural(h.tensors, 'tensor')}`, params: '', share: '', shareFrac: 0 };
  }
  if (v.kind === 'elided') {
    const h = v.hidden!;
    return { name: '', type: `… ${plural(h.modules, 'more module')}, ${plural(h.tensors, 'tensor')}`, params: compact(h.parameters), share: '', shareFrac: 0 };
  }
  const name = v.level === 0 ? '' : v.label === '' ? '""' : truncate(stripInvalid(v.label), NAME_MAX);
  let type: string;
  if (v.kind === 'fold') type = `${v.fold!.count} x ${m.type}`;
  else if (v.level === 0) type = m.type;
  else type = describeType(m);
  type = truncate(stripInvalid(type), TYPE_MAX);
  const unique = v.unique;
  let params: string;
  if (unique === 0 && m.parameters.total === 0) params = '—';
  else if (v.kind === 'fold') params = `${v.fold!.count} x ${compact(m.parameters.unique)}`;
  else params = compact(unique) + (v.perBlock ? ' each' : '');
  const share = params === '—' ? '' : percent(unique, total);
  return { name, type, params, share, shareFrac: total > 0 ? unique / total : 0 };
}

function tooltip(v: VisibleNode, t: RowText): string {
  const m = v.node;
  if (v.kind === 'collapsed') return `${v.path || 'model'}: ${t.type.replace(/^… /, '')} not shown (depth limit)`;
  if (v.kind === 'elided') return `${v.path || 'model'}: ${t.type.replace(/^… /, '')} not shown, ${compact(v.hidden!.parameters)} parameters`;
  const head = v.kind === 'fold' ? `${v.path}: ${v.fold!.count} x ${m.type}` : `${v.path || '(root)'}: ${describeType(m)}`;
  const parts = [head];
  if (m.parameters.total || v.unique) {
    parts.push(
      v.kind === 'fold'
        ? `${exact(m.parameters.unique)} parameters each, ${exact(v.unique)} in all`
        : `${exact(v.unique)} unique parameters${m.parameters.total !== m.parameters.unique ? ` (${exact(m.parameters.total)} counting tied names)` : ''}${v.perBlock ? ' per block' : ''}`,
    );
  }
  if (m.buffers.total) parts.push(`${exact(m.buffers.unique)} buffer elements`);
  if (m.inferred && m.evidence && m.repr) parts.push(`inferred: ${m.evidence}`);
  return parts.join('; ');
}

/** Lanes in the tie gutter: shorter links inside, links that overlap in rows never share a lane. */
function assignLanes(ties: TieLink[]): Map<TieLink, number> {
  const lanes = new Map<TieLink, number>();
  const span = (l: TieLink) => [l.rows[0].id, l.rows[l.rows.length - 1].id] as const;
  const order = ties.slice().sort((a, b) => {
    const [a0, a1] = span(a);
    const [b0, b1] = span(b);
    return a1 - a0 - (b1 - b0) || a0 - b0 || a.group - b.group;
  });
  const MAX_LANES = 24;
  if (order.length > 400) {
    // Too many to place carefully: spread them over the lanes.
    order.forEach((l, i) => lanes.set(l, i % MAX_LANES));
    return lanes;
  }
  const used: [number, number][][] = [];
  for (const l of order) {
    const [s, e] = span(l);
    let lane = -1;
    for (let i = 0; i < used.length && lane < 0; i++) {
      if (used[i].every(([a, b]) => e < a || s > b)) lane = i;
    }
    if (lane < 0) {
      if (used.length < MAX_LANES) {
        used.push([]);
        lane = used.length - 1;
      } else lane = l.group % MAX_LANES;
    }
    used[lane].push([s, e]);
    lanes.set(l, lane);
  }
  return lanes;
}
