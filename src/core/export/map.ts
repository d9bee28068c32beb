/**
 * The model map as an image: the same icicle the editor's Map view draws (src/shared/icicle.ts:
 * width by unique parameters with shared storage drawn once, colour by layer kind, folded runs
 * drawn once with their count, tie arcs), at a fixed width, as a self-contained deterministic
 * SVG (attributes only, no CSS, scripts, fonts or references), and as a PNG through the same
 * resvg pipeline as the tree diagram.
 */
import { Checkpoint, ModuleNode } from '../model';
import { compact, exact, percent } from '../numbers';
import { adapterLine, quantizationLine } from '../quant/describe';
import { arcAnchor, arcPath, foldLabel, layoutMap, MapCell, MapKind, MAP_KINDS, MapLayout, MapSource, MapValues } from '../../shared/icicle';
import { defineExport } from './define';
import { svgToPng } from './png';
import { RELATION_LABEL, SANS, MONO, baseName, dashFor, plural, sansWidth, tieColor, truncate } from './style';
import { boundedJoin, groupMembers } from '../overlaps';
import { esc, escAttr, num, stripInvalid } from './xml';

export interface MapOptions {
  /** Deepest module level drawn (root = 0); default: all levels that fit `MAX_LEVELS` bands. */
  depth?: number;
  /** Don't fold runs of identical blocks. */
  unfold?: boolean;
}

const M = 28;
const W = 1200;
const BAND = 44;
const MAX_LEVELS = 10;
const ARC_ROOM = 28;
const MIN_CELL = 4;
const TIED_PX = 6;

const INK = '#1f2328';
const MUTED = '#59636e';
const FAINT = '#818b98';
const BG = '#ffffff';

/** Light-theme colours of the layer kinds (the webview takes VS Code's chart colours). */
export const MAP_KIND_COLORS: Record<MapKind, string> = {
  embedding: '#8250df',
  attention: '#bc4c00',
  linear: '#0969da',
  norm: '#1a7f37',
  conv: '#bf8700',
  quantized: '#cf222e',
  other: '#8c959f',
};

/** A checkpoint's module tree as a map source (ids in pre-order). */
export function checkpointMapSource(cp: Checkpoint, unfold = false): MapSource {
  const nodes: { m: ModuleNode; parent: number; children: number[] }[] = [];
  const byPath = new Map<string, number>();
  const stack: [ModuleNode, number][] = [[cp.modules, -1]];
  while (stack.length) {
    const [m, parent] = stack.pop()!;
    const id = nodes.length;
    nodes.push({ m, parent, children: [] });
    if (parent >= 0) nodes[parent].children.push(id);
    byPath.set(m.path, id);
    for (let i = m.children.length - 1; i >= 0; i--) stack.push([m.children[i], id]);
  }
  const cache = nodes.map((n) => ({
    name: n.m.name,
    path: n.m.path,
    type: n.m.type,
    parent: n.parent,
    unique: n.m.parameters.unique,
    bytes: Object.values(n.m.bytesByDtype).reduce((a, b) => a + b, 0),
    childIds: n.children,
    hasChildren: n.children.length > 0,
    folds: unfold ? [] : n.m.folds,
  }));
  return {
    root: 0,
    groups: cp.shared,
    node: (id) => cache[id],
    find: (path) => byPath.get(path),
    loadChildren: () => Promise.resolve(),
  };
}

/** `#rrggbb` mixed with white: `t` of the colour. */
function tint(hex: string, t: number): string {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return '#' + c.map((v) => Math.round(255 + (v - 255) * t).toString(16).padStart(2, '0')).join('');
}

/** Text cut to fit `width` px (estimated: no font is measured). */
function fit(s: string, width: number, size: number, bold = false): string {
  if (sansWidth(s, size, bold) <= width) return s;
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (sansWidth(s.slice(0, mid) + '…', size, bold) <= width) lo = mid;
    else hi = mid - 1;
  }
  return lo > 0 ? s.slice(0, lo) + '…' : '';
}

export function renderMapSvg(cp: Checkpoint, opts: MapOptions = {}): string {
  const source = checkpointMapSource(cp, !!opts.unfold);
  const values = new MapValues(source);
  const levels = opts.depth !== undefined ? Math.max(1, Math.floor(opts.depth) + 1) : MAX_LEVELS;
  const layout = layoutMap(source, values, { kind: 'module', id: source.root }, { width: W, bandHeight: BAND, maxLevels: levels, minCellPx: MIN_CELL, tiedPx: TIED_PX });
  const whole = values.drawn(source.root) || 1;
  const unit = values.metric === 'params' ? 'parameters' : 'bytes';

  // ---- header
  const title = cp.architecture ?? cp.modules.type;
  const p = cp.parameters;
  const sub1 = `${cp.format} · ${baseName(cp.path)}${cp.files.length > 1 ? ` · ${plural(cp.files.length, 'file')}` : ''} · ${plural(cp.tensors.filter((t) => t.present).length, 'tensor')}`;
  let sub2 = `${exact(p.unique)} parameters${compact(p.unique) !== exact(p.unique) ? ` (${compact(p.unique)})` : ''}, shared storage counted once`;
  if (p.total !== p.unique) sub2 += ` · ${exact(p.total)} if each tied name were counted`;
  const scheme = quantizationLine(cp) ?? adapterLine(cp) ?? '';
  const sub3 =
    values.metric === 'params'
      ? 'Map: width is unique parameters (shared storage drawn once, where first stored); one band per level; a folded run is drawn once, its first block below it.'
      : 'Map: width is bytes (the file holds no parameters); one band per level; a folded run is drawn once, its first block below it.';
  let y = M;
  const head: string[] = [];
  const line = (text: string, size: number, fill: string, extra = '') => {
    head.push(`<text x="${M}" y="${num(y + size + 2)}" font-family="${SANS}" font-size="${size}" fill="${fill}"${extra}>${esc(text)}</text>`);
    y += size + 7;
  };
  line(title, 20, INK, ' font-weight="700"');
  y += 3;
  line(sub1, 12.5, MUTED);
  line(sub2, 12.5, INK);
  if (scheme) line(scheme, 12.5, INK, ' class="scheme"');
  line(sub3, 12, FAINT, ' font-style="italic"');
  y += 12;

  // ---- cells
  const top = y;
  const boxes: string[] = [];
  const labels: string[] = [];
  for (const c of layout.cells) {
    const { box, label } = cellSvg(c, layout, source, whole, unit, cp, top);
    boxes.push(box);
    if (label) labels.push(label);
  }

  // ---- arcs
  const arcs: string[] = [];
  const bottom = layout.height + ARC_ROOM - 4;
  for (const a of layout.arcs) {
    const color = tieColor(a.group);
    const dash = dashFor(a.relation);
    const d = arcPath(a.cells, bottom, M, top);
    const g: string[] = [`<g data-group="${a.group}">`];
    g.push(`<path d="${d}" fill="none" stroke="${BG}" stroke-width="5" stroke-opacity="0.85" stroke-linecap="round"/>`);
    g.push(
      `<path class="tie-link" data-shared="${escAttr(boundedJoin(a.tensors, ' ', 64))}" data-relation="${a.relation}" d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-linecap="round"${dash ? ` stroke-dasharray="${dash}"` : ''}><title>${esc(`${RELATION_LABEL[a.relation]}: ${boundedJoin(a.tensors, ' = ')}`)}</title></path>`,
    );
    for (const c of a.cells) {
      const pt = arcAnchor(c);
      g.push(`<circle cx="${num(pt.x + M)}" cy="${num(pt.y + top)}" r="3.5" fill="${color}" stroke="${BG}" stroke-width="1.5"/>`);
    }
    g.push('</g>');
    arcs.push(g.join(''));
  }
  y = top + layout.height + (layout.arcs.length ? ARC_ROOM : 8) + 14;

  // ---- legend: kinds, then the storage groups
  const legend: string[] = [];
  let kx = M;
  const ky = y + 10;
  const kinds = new Set(layout.cells.map((c) => c.mapKind));
  const key = (swatch: string, label: string) => {
    legend.push(swatch);
    legend.push(`<text x="${num(kx + 20)}" y="${num(ky)}" font-family="${SANS}" font-size="11.5" fill="${MUTED}">${esc(label)}</text>`);
    kx += 20 + sansWidth(label, 11.5) + 16;
  };
  for (const k of MAP_KINDS) {
    if (!kinds.has(k.kind)) continue;
    const col = MAP_KIND_COLORS[k.kind];
    key(`<rect x="${num(kx)}" y="${num(ky - 10)}" width="14" height="11" fill="${tint(col, 0.22)}"/><rect x="${num(kx)}" y="${num(ky - 10)}" width="14" height="3" fill="${col}"/>`, k.label);
  }
  if (layout.cells.some((c) => c.tiedOnly)) key(`<rect x="${num(kx)}" y="${num(ky - 10)}" width="14" height="11" fill="${BG}" stroke="${FAINT}" stroke-dasharray="2 2"/>`, 'stored elsewhere (tied)');
  if (layout.cells.some((c) => c.kind === 'more')) key(`<rect x="${num(kx)}" y="${num(ky - 10)}" width="14" height="11" fill="#eef1f4"/>`, 'smaller modules, merged');
  y += 26;
  const legendW = kx - M;
  if (cp.shared.length) {
    legend.push(`<text x="${M}" y="${num(y + 12)}" font-family="${SANS}" font-size="12.5" font-weight="700" fill="${INK}">Shared storage</text>`);
    y += 22;
    const LIMIT = 12;
    cp.shared.slice(0, LIMIT).forEach((g, i) => {
      const color = tieColor(i);
      const dash = dashFor(g.relation);
      legend.push(`<line x1="${M}" y1="${num(y + 7)}" x2="${M + 30}" y2="${num(y + 7)}" stroke="${color}" stroke-width="2.2" stroke-linecap="round"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
      const names = g.tensors.length > 4 ? `${groupMembers(g, (n) => n, 3)} (${g.tensors.length} tensors)` : groupMembers(g, (n) => n);
      legend.push(`<text x="${M + 40}" y="${num(y + 11)}" font-family="${MONO}" font-size="11.5" fill="${INK}">${esc(truncate(names, 150))}</text>`);
      y += 18;
    });
    if (cp.shared.length > LIMIT) {
      legend.push(`<text x="${M + 40}" y="${num(y + 11)}" font-family="${SANS}" font-size="11.5" fill="${MUTED}">${esc(`… and ${plural(cp.shared.length - LIMIT, 'more group')}`)}</text>`);
      y += 18;
    }
    if (layout.arcsDropped) {
      legend.push(`<text x="${M + 40}" y="${num(y + 11)}" font-family="${SANS}" font-size="11.5" fill="${MUTED}">${esc(`${plural(layout.arcsDropped, 'arc')} not drawn`)}</text>`);
      y += 18;
    }
    y += 6;
  }
  legend.push(`<text x="${M}" y="${num(y + 8)}" font-family="${SANS}" font-size="10.5" fill="${FAINT}">weightscope · read from file headers</text>`);
  y += 8;

  const headW = Math.max(sansWidth(title, 20, true), sansWidth(sub1, 12.5), sansWidth(sub2, 12.5), sansWidth(sub3, 12), sansWidth(scheme, 12.5));
  const width = Math.ceil(Math.max(W + 2 * M, headW + 2 * M, legendW + 2 * M));
  const height = Math.ceil(y + M);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${SANS}" font-size="12" role="img">`);
  out.push(`<title>${esc(`${title}: ${exact(p.unique)} parameters (${cp.format}), model map`)}</title>`);
  out.push(`<desc>${esc('Model map exported by Weightscope: the module hierarchy as an icicle, one band per level, width by unique parameters (shared storage drawn once), colour by layer kind, folded repeated blocks drawn once, and arcs joining modules that share storage.')}</desc>`);
  out.push(`<rect width="${width}" height="${height}" fill="${BG}"/>`);
  out.push(`<g class="header">${head.join('')}</g>`);
  // Boxes, then the arcs over them, then the names over both.
  out.push(`<g class="map">\n${boxes.join('\n')}\n</g>`);
  if (arcs.length) out.push(`<g class="ties">\n${arcs.join('\n')}\n</g>`);
  out.push(`<g class="labels">\n${labels.join('\n')}\n</g>`);
  out.push(`<g class="legend">${legend.join('')}</g>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** One cell: its box (tinted by kind, the kind's colour as a top edge), and its name and detail. */
function cellSvg(c: MapCell, layout: MapLayout, source: MapSource, whole: number, unit: string, cp: Checkpoint, top: number): { box: string; label: string } {
  const x = c.x0 + M;
  const y = c.y0 + top;
  const w = Math.max(1, c.x1 - c.x0 - 1);
  const h = Math.max(1, c.y1 - c.y0 - 1);
  const col = MAP_KIND_COLORS[c.mapKind];
  const n = source.node(c.id);
  const attrs = c.kind === 'module' ? ` data-path="${escAttr(n.path)}"` : c.kind === 'fold' ? ` data-path="${escAttr(`${source.node(c.runParent!).path}#${c.run!.first}-${c.run!.last}`)}"` : ` data-path="${escAttr(n.path)}"`;
  const share = percent(c.value * c.mult, whole);
  let name: string;
  let detail: string;
  let tip: string;
  if (c.kind === 'fold') {
    name = foldLabel(c.run!);
    const each = c.run!.count ? c.value / c.run!.count : 0;
    detail = `${compact(c.value)} · ${compact(each)} each · ${share}`;
    tip = `${n.path.replace(/\.[^.]*$/, '') || '(root)'}: ${name}; ${exact(c.value)} ${unit} in all`;
  } else if (c.kind === 'more') {
    name = `${c.more!.count} more`;
    detail = `${compact(c.value)}${c.mult > 1 ? ' each' : ''} · ${share}`;
    tip = `${c.more!.count} smaller modules of ${n.path || '(root)'}: ${exact(c.value)} ${unit}`;
  } else {
    name = c === layout.root ? baseName(cp.path) : c.label || '""';
    const count = compact(c.tiedOnly ? c.unique : c.value) + (c.mult > 1 ? ` ×${c.mult}` : '');
    detail = c.tiedOnly ? `${c.type} · ${count} · stored elsewhere` : `${c.type} · ${count} · ${share}`;
    tip = c.tiedOnly
      ? `${n.path || '(root)'}: ${c.type}; ${exact(c.unique)} ${unit}, stored in another module (shared storage)`
      : `${n.path || '(root)'}: ${c.type}; ${exact(c.value)} ${unit}${c.mult > 1 ? ` in each of ${c.mult} identical blocks` : ''}, ${share} of the model`;
  }
  name = stripInvalid(name);
  detail = stripInvalid(detail);
  const out: string[] = [`<g data-key="${c.key}" data-kind="${c.kind}" data-layer="${c.mapKind}"${attrs}>`, `<title>${esc(tip)}</title>`];
  if (c.kind === 'fold') out.push(`<rect x="${num(x)}" y="${num(y + 3)}" width="${num(w)}" height="${num(h)}" fill="${tint(col, 0.4)}"/>`);
  if (c.tiedOnly) {
    out.push(`<rect x="${num(x)}" y="${num(y)}" width="${num(w)}" height="${num(h)}" fill="${BG}" stroke="${col}" stroke-width="1" stroke-dasharray="2 2"/>`);
  } else if (c.kind === 'more') {
    out.push(`<rect x="${num(x)}" y="${num(y)}" width="${num(w)}" height="${num(h)}" fill="#eef1f4"/>`);
  } else {
    out.push(`<rect x="${num(x)}" y="${num(y)}" width="${num(w)}" height="${num(h)}" fill="${tint(col, 0.2)}"/>`);
    out.push(`<rect x="${num(x)}" y="${num(y)}" width="${num(w)}" height="3" fill="${col}"/>`);
  }
  out.push('</g>');
  const text: string[] = [];
  const room = w - 10;
  if (room >= 14) {
    const shown = fit(name, room, 12, true);
    if (shown) text.push(`<text x="${num(x + 5)}" y="${num(y + 17)}" font-size="12" font-weight="700" fill="${c.kind === 'more' ? MUTED : INK}"${c.kind === 'fold' ? ' font-style="italic"' : ''}>${esc(shown)}</text>`);
    const d = h >= 34 && room >= 40 ? fit(detail, room, 11) : '';
    if (d) text.push(`<text x="${num(x + 5)}" y="${num(y + 32)}" font-size="11" fill="${MUTED}">${esc(d)}</text>`);
  }
  return { box: out.join(''), label: text.length ? `<g data-key="${c.key}">${text.join('')}</g>` : '' };
}

export function renderMapPng(cp: Checkpoint, opts: MapOptions & { scale?: number } = {}): Promise<Uint8Array> {
  return svgToPng(renderMapSvg(cp, opts), opts.scale ?? 2);
}

/** The map's two exports, registered together in index.ts. */
export const mapExports = [
  defineExport({
    id: 'mapsvg',
    label: 'SVG image (model map)',
    menuLabel: 'Export map as SVG…',
    extension: 'svg',
    suffix: 'map.svg',
    binary: false,
    group: 'image',
    help: 'the model map: one band per level, width by unique parameters, tie arcs',
    render: (cp, o) => renderMapSvg(cp, { depth: o.depth, unfold: o.unfold }),
  }),
  defineExport({
    id: 'mappng',
    label: 'PNG image (model map)',
    menuLabel: 'Export map as PNG…',
    extension: 'png',
    suffix: 'map.png',
    binary: true,
    group: 'image',
    help: 'the model map as an image, 2x (same bytes on every machine)',
    render: (cp, o) => renderMapPng(cp, { depth: o.depth, unfold: o.unfold, scale: o.scale }),
  }),
] as const;
