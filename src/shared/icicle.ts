/**
 * The model map: the module hierarchy as a zoomable icicle, shared by the webview's Map view
 * (webview/src/ui/map.ts) and the core's map export (src/core/export/map.ts), so both draw the
 * same cells, colours, folds and tie arcs. DOM-free and Node-free: numbers in, rectangles out.
 *
 * Why an icicle (d3.partition) and not a treemap: a transformer is deep and regular
 * (model › layers › (0-31) › self_attn › q_proj). A treemap nests every level inside the last,
 * so below two or three levels the labels no longer fit and the hierarchy has to be read from
 * borders; an icicle gives each level its own band, so the path from the model down to a
 * projection reads top to bottom with every name on screen, and the width of each cell is still
 * its share of the parameters (the treemap's one advantage, proportion, is kept along one axis).
 * Zooming (a module becomes the full width, a breadcrumb leads back) keeps small modules legible.
 *
 * The rules:
 *  - **Area = unique parameters, shared storage counted once** (bytes when the file has no
 *    parameters, as the tree does). Storage several modules hold is drawn where it is first
 *    stored (the group's first tensor) and subtracted everywhere else (`MapValues`), so the
 *    cells of a parent add up to at most the parent and the root is the model's unique total. A
 *    module whose parameters are all stored elsewhere (a tied `lm_head`) is drawn as a hatched
 *    sliver a few pixels wide, joined to the place that stores them by an arc.
 *  - **Folded runs** (`(0-11): 12 x Block`) are one cell with the area of the whole run; below it
 *    the inside of the run's first block, stretched to the run's width.
 *  - **Bounded**: bands down to `maxLevels`, cells narrower than `minCellPx` merged with their
 *    small neighbours into one "n more" cell (or left as blank space when even that is too narrow),
 *    cells narrower than `minOpenPx` not opened: at most `maxLevels × width / minCellPx` cells, and
 *    only the children of cells `minOpenPx` wide are looked at, whatever the model's size.
 *  - **Colour by layer kind** (`mapKind`), from the module's type (and its name, for the generic
 *    `Module` a state dict gives); projections inside attention count as attention.
 *  - **Tie arcs**: one per storage group whose tensors show in two or more different cells.
 *
 * The layout reads the model through `MapSource`, which may not have loaded every module's
 * children yet (a lazy store): such a module is drawn as a leaf marked `unloaded` and listed in
 * `wanted` so the view can load it.
 */
import { hierarchy, partition } from 'd3-hierarchy';
import type { FoldRun, Relation } from '../core/model';
import { tiedSets } from './tiedSets';

// ---------------------------------------------------------------------------------------------
// The source

export type MapId = number;

export interface MapNode {
  /** Attribute name under the parent ('' for the root). */
  name: string;
  /** Dotted path ('' for the root). */
  path: string;
  type: string;
  /** The parent's id; -1 for the root. */
  parent: MapId;
  /** Unique parameters of the subtree (shared storage counted once), as the tree shows them. */
  unique: number;
  /** Bytes of the subtree's stored tensors, storage counted once (the measure of a file without parameters). */
  bytes: number;
  /** Children in file order; `undefined` while they are not loaded. */
  childIds: readonly MapId[] | undefined;
  /** Whether the module has children at all (known before they are loaded). */
  hasChildren: boolean;
  /** Runs of identical consecutive children (indices into `childIds`). */
  folds: readonly FoldRun[];
}

/** A storage group: tensor names (full, file order), as the payload and the core list them. */
export interface MapGroup {
  tensors: readonly string[];
  relation: Relation;
  uniqueElements: number;
  totalElements: number;
  /** Views' overlaps, when known: each member's overlapping members (positions in `tensors`); see tiedSets.ts. */
  overlaps?: readonly (readonly number[])[];
}

export interface MapSource {
  readonly root: MapId;
  node(id: MapId): MapNode;
  /** The module at a dotted path, if it is loaded. */
  find(path: string): MapId | undefined;
  /** Load a module's children (resolved at once by an eager source). */
  loadChildren(id: MapId): Promise<void>;
  readonly groups: readonly MapGroup[];
}

// ---------------------------------------------------------------------------------------------
// Layer kinds

export type MapKind = 'embedding' | 'attention' | 'linear' | 'norm' | 'conv' | 'quantized' | 'other';

/** Legend order and labels. */
export const MAP_KINDS: readonly { kind: MapKind; label: string }[] = [
  { kind: 'embedding', label: 'embedding' },
  { kind: 'attention', label: 'attention' },
  { kind: 'linear', label: 'MLP / linear' },
  { kind: 'norm', label: 'normalisation' },
  { kind: 'conv', label: 'convolution' },
  { kind: 'quantized', label: 'quantized linear' },
  { kind: 'other', label: 'container / other' },
];

/** Types that say nothing about what a module does (a state dict's inferred containers). */
const GENERIC = /^(Module|ModuleList|ModuleDict|Sequential|ParameterList|ParameterDict|Identity|)$/;

/**
 * A module's own kind from its type, or from its name when the type is generic. Containers
 * (`GPT2Block`, `ModuleList`, `LlamaModel`) are `other`.
 */
export function ownKind(type: string, name: string): MapKind {
  const t = type;
  if (!GENERIC.test(t)) {
    if (/quant|4bit|8bit|gptq|awq|marlin|exllama|fp8|nf4|int4|int8|mxfp4|nvfp4|qlinear/i.test(t) && !/embed|norm/i.test(t)) return 'quantized';
    if (/embed/i.test(t)) return 'embedding';
    if (/norm/i.test(t)) return 'norm';
    if (/attention|attn|multihead/i.test(t)) return 'attention';
    if (/^Conv1D$/.test(t) || /linear|dense|mlp|feedforward|feed_forward|ffn|proj|expert|moe/i.test(t)) return 'linear';
    if (/conv/i.test(t)) return 'conv';
    return 'other';
  }
  const n = name.toLowerCase();
  if (/embed|^wte$|^wpe$|^tok_embeddings$/.test(n)) return 'embedding';
  if (/norm|^ln(_|\d|$)/.test(n)) return 'norm';
  if (/attn|attention/.test(n)) return 'attention';
  if (/mlp|ffn|feed_forward|feedforward|experts?$|^moe$/.test(n)) return 'linear';
  return 'other';
}

/** The kind a cell is coloured by: linear layers and plain modules inside attention are attention. */
export function mapKind(type: string, name: string, parentKind: MapKind | undefined): MapKind {
  const own = ownKind(type, name);
  if (parentKind === 'attention' && (own === 'linear' || own === 'other')) return 'attention';
  return own;
}

// ---------------------------------------------------------------------------------------------
// Values: unique parameters with shared storage drawn once

/**
 * What each module's area stands for. `drawn(id)` is the module's unique parameters less the
 * storage it shares with a place outside it that is drawn there (the group's first tensor holds
 * it). Per group, the elements counted twice (`total − unique`) are taken off the other members
 * evenly, at most the group's unique elements per module: exact for aliases and declared ties
 * (each member is the whole storage) and for disjoint slices (nothing to take off), an even
 * split for views that partly overlap. Computed from tensor names only, so it needs no module
 * loaded and works unchanged on a lazy source.
 */
export class MapValues {
  readonly metric: 'params' | 'bytes';
  /** Parameters subtracted per module path. */
  private readonly away = new Map<string, number>();

  constructor(private readonly source: MapSource) {
    const root = source.node(source.root);
    this.metric = root.unique > 0 || root.bytes <= 0 ? 'params' : 'bytes';
    if (this.metric !== 'params') return;
    for (const g of source.groups) {
      const k = g.tensors.length;
      const excess = g.totalElements - g.uniqueElements;
      if (k < 2 || !(excess > 0)) continue;
      const each = excess / (k - 1);
      const home = new Set(prefixes(g.tensors[0]));
      const perPath = new Map<string, number>();
      for (let i = 1; i < k; i++) {
        for (const p of prefixes(g.tensors[i])) {
          if (home.has(p)) break;
          perPath.set(p, (perPath.get(p) ?? 0) + each);
        }
      }
      for (const [p, v] of perPath) this.away.set(p, (this.away.get(p) ?? 0) + Math.min(v, g.uniqueElements));
    }
  }

  /** The module's measure as the tree shows it (unique parameters, or bytes). */
  unique(id: MapId): number {
    const n = this.source.node(id);
    return this.metric === 'params' ? n.unique : n.bytes;
  }

  /** The part of it drawn in this module (shared storage drawn where it is first stored). */
  drawn(id: MapId): number {
    const n = this.source.node(id);
    if (this.metric === 'bytes') return n.bytes;
    if (this.away.size === 0) return n.unique;
    const away = this.away.get(n.path);
    return away ? Math.max(0, n.unique - away) : n.unique;
  }
}

/** Module paths a tensor name lies under, deepest first, ending with '' (the root). */
function prefixes(tensor: string): string[] {
  const out: string[] = [];
  let i = tensor.lastIndexOf('.');
  while (i > 0) {
    out.push(tensor.slice(0, i));
    i = tensor.lastIndexOf('.', i - 1);
  }
  out.push('');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Zoom

/** What fills the map's top band: a module, or a folded run of its children. */
export type MapZoom = { kind: 'module'; id: MapId } | { kind: 'fold'; parent: MapId; first: number };

/** The run of `parent`'s children starting at index `first`, if any. */
export function runAt(node: MapNode, first: number): FoldRun | undefined {
  return node.folds.find((f) => f.first === first && f.last > f.first && node.childIds !== undefined && f.last < node.childIds.length);
}

/** A zoom on a run's first block is the run: the map draws a run as its first block. */
export function normalizeZoom(source: MapSource, z: MapZoom): MapZoom {
  if (z.kind === 'fold') return z;
  const n = source.node(z.id);
  if (n.parent < 0) return z;
  const p = source.node(n.parent);
  const index = p.childIds?.indexOf(z.id) ?? -1;
  const run = index >= 0 ? runAt(p, index) : undefined;
  return run ? { kind: 'fold', parent: n.parent, first: run.first } : z;
}

export function sameZoom(a: MapZoom, b: MapZoom): boolean {
  return a.kind === 'module' ? b.kind === 'module' && a.id === b.id : b.kind === 'fold' && a.parent === b.parent && a.first === b.first;
}

// ---------------------------------------------------------------------------------------------
// Layout

export interface MapLayoutOptions {
  /** Pixels across. */
  width: number;
  /** Height of one band (one level of the hierarchy). */
  bandHeight: number;
  /** Bands at most, the zoomed module's included. */
  maxLevels: number;
  /** Narrower cells are merged with their small neighbours (default 4). */
  minCellPx?: number;
  /** Narrower cells are not opened: what is inside them shows when zoomed into (default 2 × minCellPx). */
  minOpenPx?: number;
  /** Width of a module whose parameters are all stored elsewhere (default 4). */
  tiedPx?: number;
  /** Unloaded modules at least this wide are listed in `wanted` (default 24). */
  loadPx?: number;
  /** Gap d3's partition leaves at the right and bottom of each cell (default 0: the renderers inset). */
  padding?: number;
  /** Arcs drawn at most (default 400). */
  maxArcs?: number;
}

export interface MapCell {
  /** Stable across layouts: `m<id>`, `f<parent>:<first>`, `s<parent>:<first index>`. */
  key: string;
  /** A module, a folded run, or several small siblings merged. */
  kind: 'module' | 'fold' | 'more';
  /** The module drawn (a run: its first block; merged siblings: their parent). */
  id: MapId;
  parent: MapCell | null;
  children: MapCell[];
  /** Band, 0 for the zoomed module. */
  depth: number;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  /** Label: the attribute name, `(0-11): 12 x Block`, or `5 more`. */
  label: string;
  type: string;
  mapKind: MapKind;
  /**
   * What the area stands for, per instance: a module's drawn parameters, a run's (all blocks),
   * merged siblings' sum. Inside a folded run a cell stands for `mult` identical modules.
   */
  value: number;
  /** The module's unique parameters as the tree shows them (a run: one block's). */
  unique: number;
  /** Identical modules the cell stands for: 1, or the product of the enclosing runs' counts. */
  mult: number;
  /** For a fold cell: the run, and its parent module. */
  run?: FoldRun;
  runParent?: MapId;
  /** For merged siblings: how many, and their child indices. */
  more?: { count: number; first: number; last: number };
  /** All its parameters are stored elsewhere: drawn as a sliver. */
  tiedOnly: boolean;
  /** Zooming into it shows more: a module with children, a run, merged siblings. */
  expandable: boolean;
  /** Has children the source has not loaded yet. */
  unloaded: boolean;
  /** Has children that are not drawn (depth, size or not loaded): zooming in shows them. */
  clipped: boolean;
  /** 1-based position among its drawn siblings, and their number. */
  posinset: number;
  setsize: number;
  /** Storage groups of arcs ending here. */
  ties: number[];
  /** Shares storage with a module outside the zoomed one. */
  tieOut: boolean;
}

export interface MapArc {
  /** Index in the source's groups. */
  group: number;
  relation: Relation;
  tensors: readonly string[];
  /** Endpoints, left to right. */
  cells: MapCell[];
}

export interface MapLayout {
  zoom: MapZoom;
  root: MapCell;
  /** Pre-order. */
  cells: MapCell[];
  byKey: Map<string, MapCell>;
  /** Cells of each band, left to right. */
  bands: MapCell[][];
  width: number;
  /** Height of the bands drawn. */
  height: number;
  bandHeight: number;
  arcs: MapArc[];
  /** Groups with endpoints on screen that were not drawn (over `maxArcs`). */
  arcsDropped: number;
  /** The zoomed module's measure (the root cell's area). */
  total: number;
  /** Unloaded modules wide enough to be worth loading. */
  wanted: MapId[];
  /** The cell standing for a module: its own, the one of a run or small group holding it, or an ancestor's. */
  cellFor(id: MapId): { cell: MapCell; exact: boolean } | null;
}

interface Datum {
  key: string;
  kind: 'module' | 'fold' | 'more' | 'gap';
  id: MapId;
  weight: number;
  label: string;
  type: string;
  mapKind: MapKind;
  value: number;
  unique: number;
  mult: number;
  run?: FoldRun;
  runParent?: MapId;
  more?: { count: number; first: number; last: number };
  tiedOnly: boolean;
  expandable: boolean;
  /** Drawn a few pixels wide for being stored elsewhere: its inside shows when zoomed into. */
  sliver: boolean;
  /** Lay the subtree out by unique parameters (inside a module stored elsewhere). */
  byUnique: boolean;
  unloaded: boolean;
  clipped: boolean;
  depth: number;
  children?: Datum[];
}

/** A module's children as drawn: single modules and folded runs. */
interface Item {
  first: number;
  last: number;
  run?: FoldRun;
}

function itemsOf(n: MapNode): Item[] {
  const ids = n.childIds ?? [];
  const out: Item[] = [];
  for (let i = 0; i < ids.length; i++) {
    const run = runAt(n, i);
    if (run) {
      out.push({ first: i, last: run.last, run });
      i = run.last;
    } else out.push({ first: i, last: i });
  }
  return out;
}

export function layoutMap(source: MapSource, values: MapValues, zoomIn: MapZoom, opts: MapLayoutOptions): MapLayout {
  const W = Math.max(1, opts.width);
  const minPx = opts.minCellPx ?? 4;
  const openPx = opts.minOpenPx ?? 2 * minPx;
  const tiedPx = opts.tiedPx ?? 4;
  const loadPx = opts.loadPx ?? 24;
  const maxLevels = Math.max(1, Math.floor(opts.maxLevels));
  const pad = opts.padding ?? 0;
  const zoom = normalizeZoom(source, zoomIn);
  const wanted: MapId[] = [];

  // ---- the root datum
  let root: Datum;
  if (zoom.kind === 'fold') {
    const p = source.node(zoom.parent);
    const run = runAt(p, zoom.first);
    if (!run || !p.childIds) throw new Error(`no folded run at child ${zoom.first} of ${p.path || '(root)'}`);
    const ids = p.childIds.slice(run.first, run.last + 1);
    let value = 0;
    for (const c of ids) value += values.drawn(c);
    const rep = source.node(ids[0]);
    const parentKind = kindAt(source, zoom.parent);
    root = datum({
      key: foldKey(zoom.parent, run.first),
      kind: 'fold',
      id: ids[0],
      label: foldLabel(run),
      type: run.type,
      mapKind: mapKind(rep.type, rep.name, parentKind),
      value,
      unique: values.unique(ids[0]),
      mult: 1,
      run,
      runParent: zoom.parent,
      depth: 0,
    });
    root.byUnique = value <= 0;
    root.expandable = true;
  } else {
    const n = source.node(zoom.id);
    const value = values.drawn(zoom.id);
    root = datum({
      key: `m${zoom.id}`,
      kind: 'module',
      id: zoom.id,
      label: n.name,
      type: n.type,
      mapKind: mapKind(n.type, n.name, n.parent >= 0 ? kindAt(source, n.parent) : undefined),
      value,
      unique: values.unique(zoom.id),
      mult: 1,
      depth: 0,
      expandable: n.hasChildren,
    });
    root.byUnique = value <= 0;
    root.tiedOnly = value <= 0 && root.unique > 0;
  }
  root.weight = W;

  // ---- the visible tree: top-down, widths known as we go
  const stack: Datum[] = [root];
  while (stack.length) {
    const d = stack.pop()!;
    if (d.kind === 'more' || d.kind === 'gap') continue;
    const n = source.node(d.id);
    if (!n.hasChildren) continue;
    if (d.sliver) {
      // A sliver: its inside shows when zoomed into.
      d.clipped = true;
      continue;
    }
    if (n.childIds === undefined) {
      d.unloaded = true;
      d.clipped = true;
      if (d.weight >= loadPx && d.depth + 1 < maxLevels) wanted.push(d.id);
      continue;
    }
    if (d.depth + 1 >= maxLevels || d.weight < openPx) {
      d.clipped = n.childIds.length > 0;
      continue;
    }
    const ids = n.childIds;
    // Runs of identical children are one item; without runs, each child is one (no list made).
    const items = n.folds.length ? itemsOf(n) : undefined;
    const count = items ? items.length : ids.length;
    const vals = new Float64Array(count);
    const tied = new Uint8Array(count);
    const byUnique = d.byUnique;
    let sum = 0;
    let tiedCount = 0;
    for (let i = 0; i < count; i++) {
      const first = items ? items[i].first : i;
      const last = items ? items[i].last : i;
      let v = 0;
      for (let j = first; j <= last; j++) v += byUnique ? values.unique(ids[j]) : values.drawn(ids[j]);
      vals[i] = v;
      sum += v;
      // Modules stored elsewhere get a sliver each, taken from the rest.
      if (!byUnique && v <= 0 && first === last && values.unique(ids[first]) > 0) {
        tied[i] = 1;
        tiedCount++;
      }
    }
    let base = byUnique ? values.unique(d.id) : values.drawn(d.id);
    // Never wider than the parent, whatever the counts say.
    if (sum > base) base = sum;
    if (base <= 0) {
      d.clipped = ids.length > 0;
      continue;
    }
    const sliver = tiedCount ? Math.min(tiedPx, (d.weight * 0.25) / tiedCount) : 0;
    const k = (d.weight - sliver * tiedCount) / base;
    const kids: Datum[] = [];
    let bucket: { w: number; first: number; last: number; count: number; value: number } | null = null;
    const flush = () => {
      if (!bucket) return;
      const b = bucket;
      bucket = null;
      if (b.w >= minPx) {
        kids.push(
          datum({ key: `s${d.id}:${b.first}`, kind: 'more', id: d.id, label: `${b.count} more`, type: '', mapKind: 'other', value: b.value, unique: b.value, mult: d.mult * (d.kind === 'fold' ? d.run!.count : 1), depth: d.depth + 1, weight: b.w, more: { count: b.count, first: b.first, last: b.last } }),
        );
      } else {
        kids.push(datum({ key: `g${d.id}:${b.first}`, kind: 'gap', id: d.id, label: '', type: '', mapKind: 'other', value: 0, unique: 0, mult: 1, depth: d.depth + 1, weight: b.w }));
      }
    };
    const mult = d.mult * (d.kind === 'fold' ? d.run!.count : 1);
    for (let i = 0; i < count; i++) {
      const first = items ? items[i].first : i;
      const last = items ? items[i].last : i;
      const run = items ? items[i].run : undefined;
      const w = tied[i] ? sliver : vals[i] * k;
      if (w < minPx) {
        const n = last - first + 1;
        if (bucket) {
          bucket.w += w;
          bucket.last = last;
          bucket.count += n;
          bucket.value += vals[i];
        } else bucket = { w, first: first, last: last, count: n, value: vals[i] };
        continue;
      }
      flush();
      const c = source.node(ids[first]);
      if (run) {
        kids.push(
          datum({
            key: foldKey(d.id, first),
            kind: 'fold',
            id: ids[first],
            label: foldLabel(run),
            type: run.type,
            mapKind: mapKind(c.type, c.name, d.mapKind),
            value: vals[i],
            unique: values.unique(ids[first]),
            mult,
            run: run,
            runParent: d.id,
            depth: d.depth + 1,
            weight: w,
            byUnique: d.byUnique,
          }),
        );
      } else {
        kids.push(
          datum({
            key: `m${ids[first]}`,
            kind: 'module',
            id: ids[first],
            label: c.name,
            type: c.type,
            mapKind: mapKind(c.type, c.name, d.mapKind),
            value: vals[i],
            unique: values.unique(ids[first]),
            mult,
            depth: d.depth + 1,
            weight: w,
            tiedOnly: tied[i] === 1 || (d.byUnique && d.tiedOnly),
            expandable: c.hasChildren,
            sliver: tied[i] === 1,
            byUnique: d.byUnique,
          }),
        );
      }
    }
    flush();
    d.clipped = kids.some((x) => x.kind === 'gap' || x.kind === 'more');
    // Nothing wide enough to draw: no band below for blank space alone.
    if (kids.every((x) => x.kind === 'gap')) continue;
    d.children = kids;
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]);
  }

  // ---- geometry: d3's partition lays the bands out, one per level
  const h = hierarchy<Datum>(root, (d) => d.children);
  // The weights are already pixels: the root's is the width, so the partition maps them 1:1.
  h.each((x) => {
    (x as { value?: number }).value = x.data.weight;
  });
  const bandHeight = opts.bandHeight;
  const laid = partition<Datum>()
    .size([W, bandHeight * (h.height + 1)])
    .padding(pad)(h);

  const cells: MapCell[] = [];
  const byKey = new Map<string, MapCell>();
  const bands: MapCell[][] = [];
  const toCell = new Map<Datum, MapCell>();
  laid.eachBefore((r) => {
    const d = r.data;
    if (d.kind === 'gap') return;
    const parent = r.parent ? toCell.get(r.parent.data) ?? null : null;
    const cell: MapCell = {
      key: d.key,
      kind: d.kind,
      id: d.id,
      parent,
      children: [],
      depth: d.depth,
      x0: r.x0,
      x1: r.x1,
      y0: r.y0,
      y1: r.y1,
      label: d.label,
      type: d.type,
      mapKind: d.mapKind,
      value: d.value,
      unique: d.unique,
      mult: d.mult,
      run: d.run,
      runParent: d.runParent,
      more: d.more,
      tiedOnly: d.tiedOnly,
      expandable: d.expandable,
      unloaded: d.unloaded,
      clipped: d.clipped,
      posinset: 1,
      setsize: 1,
      ties: [],
      tieOut: false,
    };
    toCell.set(d, cell);
    if (parent) parent.children.push(cell);
    cells.push(cell);
    byKey.set(cell.key, cell);
    (bands[cell.depth] ??= []).push(cell);
  });
  for (const c of cells) {
    c.children.forEach((k, i) => {
      k.posinset = i + 1;
      k.setsize = c.children.length;
    });
  }
  for (const b of bands) b.sort((a, z) => a.x0 - z.x0);
  const rootCell = cells[0];

  // ---- which cell stands for a module
  const moduleCell = new Map<MapId, MapCell>();
  for (const c of cells) if (c.kind === 'module') moduleCell.set(c.id, c);
  const cellFor = (id: MapId): { cell: MapCell; exact: boolean } | null => standIn(source, zoom, rootCell, moduleCell, id);

  // ---- arcs
  const arcs: MapArc[] = [];
  let arcsDropped = 0;
  const maxArcs = opts.maxArcs ?? 400;
  source.groups.forEach((g, gi) => {
    // One arc per set of members tied to each other: views of one storage that overlap nothing
    // are not tied (tiedSets.ts).
    for (const tensors of tiedSets(g)) {
      const ends = new Set<MapCell>();
      let outside = false;
      for (const t of tensors) {
        const owner = ownerOf(source, t);
        const at = owner === undefined ? null : cellFor(owner);
        if (!at) outside = true;
        else ends.add(at.cell);
      }
      // A cell joined to its own ancestor says nothing (the ancestor holds both ends).
      const list = [...ends].filter((c) => ![...ends].some((o) => o !== c && isAncestor(c, o)));
      if (list.length < 1) continue;
      if (list.length < 2) {
        if (outside) for (const c of list) c.tieOut = true;
        continue;
      }
      if (arcs.length >= maxArcs) {
        arcsDropped++;
        continue;
      }
      list.sort((a, b) => a.x0 + a.x1 - (b.x0 + b.x1) || a.y0 - b.y0);
      for (const c of list) {
        c.ties.push(gi);
        if (outside) c.tieOut = true;
      }
      arcs.push({ group: gi, relation: g.relation, tensors, cells: list });
    }
  });

  return {
    zoom,
    root: rootCell,
    cells,
    byKey,
    bands,
    width: W,
    height: bandHeight * (h.height + 1),
    bandHeight,
    arcs,
    arcsDropped,
    total: root.value,
    wanted,
    cellFor,
  };
}

function datum(p: Partial<Datum> & Pick<Datum, 'key' | 'kind' | 'id' | 'label' | 'type' | 'mapKind' | 'value' | 'unique' | 'mult' | 'depth'>): Datum {
  return { weight: 0, tiedOnly: false, expandable: p.kind !== 'module' && p.kind !== 'gap', sliver: false, byUnique: false, unloaded: false, clipped: false, ...p };
}

export function foldKey(parent: MapId, first: number): string {
  return `f${parent}:${first}`;
}

/** `(0-11): 12 x GPT2Block`, as PyTorch prints a folded ModuleList. */
export function foldLabel(run: FoldRun): string {
  return `(${run.from}-${run.to}): ${run.count} x ${run.type}`;
}

export function isAncestor(a: MapCell, b: MapCell): boolean {
  for (let x = b.parent; x; x = x.parent) if (x === a) return true;
  return false;
}

/** The kind of a module in context (its ancestors' kinds decide whether a projection is attention). */
function kindAt(source: MapSource, id: MapId): MapKind | undefined {
  const chain: MapNode[] = [];
  for (let x = id; x >= 0; x = source.node(x).parent) chain.push(source.node(x));
  let kind: MapKind | undefined;
  for (let i = chain.length - 1; i >= 0; i--) kind = mapKind(chain[i].type, chain[i].name, kind);
  return kind;
}

/** The deepest loaded module whose path prefixes a tensor name. */
export function ownerOf(source: MapSource, tensor: string): MapId | undefined {
  for (const p of prefixes(tensor)) {
    const id = source.find(p);
    if (id !== undefined) return id;
  }
  return undefined;
}

/**
 * The cell standing for a module in a layout: its own cell; inside a folded run, the cell of the
 * same module in the run's first block (h.7.attn → the `attn` under `(0-11): 12 x Block`); or
 * the deepest drawn cell holding it (a run, merged siblings, an ancestor cut by depth or size).
 * `exact` says the cell is the module itself (or its counterpart in a run). Null when the module
 * is outside the zoomed one.
 */
function standIn(source: MapSource, zoom: MapZoom, root: MapCell, moduleCell: Map<MapId, MapCell>, id: MapId): { cell: MapCell; exact: boolean } | null {
  const direct = moduleCell.get(id);
  if (direct) return { cell: direct, exact: true };
  const chain: MapId[] = [];
  for (let x = id; x >= 0; x = source.node(x).parent) chain.push(x);
  chain.reverse();
  let i: number;
  let m: MapId;
  let translating = false;
  if (zoom.kind === 'module') {
    i = chain.indexOf(zoom.id);
    if (i < 0) return null;
    m = zoom.id;
  } else {
    i = chain.indexOf(zoom.parent);
    const p = source.node(zoom.parent);
    const run = runAt(p, zoom.first);
    const idx = i >= 0 && i + 1 < chain.length ? p.childIds!.indexOf(chain[i + 1]) : -1;
    if (!run || idx < run.first || idx > run.last) return null;
    i += 1;
    if (i === chain.length - 1) return { cell: root, exact: idx === run.first };
    m = p.childIds![run.first];
    translating = true;
  }
  let cur = root;
  for (i = i + 1; i < chain.length; i++) {
    const t = chain[i];
    let tid: MapId | undefined = t;
    if (translating) {
      const name = source.node(t).name;
      tid = source.node(m).childIds?.find((c) => source.node(c).name === name);
      if (tid === undefined) return { cell: cur, exact: false };
    }
    const parent = source.node(m);
    const index = parent.childIds?.indexOf(tid) ?? -1;
    let next: MapCell | undefined;
    for (const c of cur.children) {
      if (c.kind === 'module' && c.id === tid) next = c;
      else if (c.kind === 'fold' && c.runParent === m && c.run && index >= c.run.first && index <= c.run.last) next = c;
      else if (c.kind === 'more' && c.more && index >= c.more.first && index <= c.more.last) next = c;
      if (next) break;
    }
    if (!next) return { cell: cur, exact: false };
    if (next.kind === 'more') return { cell: next, exact: false };
    cur = next;
    if (next.kind === 'fold') {
      m = next.id;
      translating = true;
      // The run's first block is drawn as the run itself.
      if (i === chain.length - 1) return { cell: next, exact: index === next.run!.first };
    } else m = tid;
  }
  return { cell: cur, exact: true };
}

// ---------------------------------------------------------------------------------------------
// Arc geometry (the same curves in the webview and the export)

/** Where an arc meets a cell: the middle of its bottom edge, just inside. */
export function arcAnchor(c: MapCell): { x: number; y: number } {
  return { x: (c.x0 + c.x1) / 2, y: Math.max(c.y0 + 1, c.y1 - 3) };
}

/**
 * An SVG path joining the endpoints left to right, each pair by a cubic curve hanging below the
 * lower of the two, deeper for farther ends, never below `bottom`.
 */
export function arcPath(cells: readonly MapCell[], bottom: number, dx = 0, dy = 0): string {
  let d = '';
  const pt = (x: number, y: number) => `${fmt(x + dx)} ${fmt(y + dy)}`;
  for (let i = 0; i + 1 < cells.length; i++) {
    const a = arcAnchor(cells[i]);
    const b = arcAnchor(cells[i + 1]);
    const low = Math.max(a.y, b.y);
    // A cubic with both controls `dip` below its ends reaches 3/4 of it.
    const dip = Math.max(0, Math.min(Math.max(18, Math.abs(b.x - a.x) * 0.35), (bottom - low) / 0.75));
    d += `M${pt(a.x, a.y)}C${pt(a.x, low + dip)} ${pt(b.x, low + dip)} ${pt(b.x, b.y)}`;
  }
  return d;
}

function fmt(x: number): string {
  const r = Math.round(x * 10) / 10;
  return Object.is(r, -0) ? '0' : String(r);
}
