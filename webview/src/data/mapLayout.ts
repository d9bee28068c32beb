/**
 * The Map view's data side, DOM-free (mocha tests it): the source the map reads (the editor's
 * lazy tree), zooming (the breadcrumb, zoom out, what a cell zooms into, keys saved across tab
 * switches) and the keyboard model. The layout itself, shared with the core's
 * map export, is in src/shared/icicle.ts (why an icicle: see there).
 *
 * The seam for a lazy tree: the map reads the model only through `MapSource`
 * (`node(id)` with `childIds: undefined` while not loaded, `loadChildren(id)`, `find(path)`,
 * the storage groups). A module whose children are not loaded is drawn as a leaf with a "…" cue;
 * the view loads it when zoomed into, moved into with the keyboard, or when it is wide enough
 * to be worth showing (`MapLayout.wanted`), and draws again when the load settles.
 */
import { foldLabel, MapCell, MapId, MapLayout, MapNode, MapSource, MapZoom, normalizeZoom, runAt, sameZoom } from '../../../src/shared/icicle';
import { foldKey, LazyTree } from './lazyTree';
import type { GroupStore } from './shared';
import type { FoldRow, ModuleRow } from './tree';

export type { MapCell, MapGroup, MapId, MapKind, MapLayout, MapNode, MapSource, MapZoom } from '../../../src/shared/icicle';
export { layoutMap, MapValues, MAP_KINDS, normalizeZoom, sameZoom } from '../../../src/shared/icicle';

// ---------------------------------------------------------------------------------------------
// The lazy tree as a source

/**
 * The editor's LazyTree as a map source (map ids are tree node ids). A module's children count
 * as known once every one of them is loaded, the blocks of folded runs included (the map sums a
 * run's blocks); `loadChildren` asks the worker for them all, a page at a time. The storage
 * groups are those the webview knows when the map is set up: the largest ones come with the
 * summary, which are the ones the map draws as arcs and subtracts where they are shared.
 */
export function lazyTreeSource(tree: LazyTree, groups: GroupStore): MapSource {
  const cache = new Map<MapId, { version: number; node: MapNode }>();
  return {
    root: 0,
    groups: [...groups.known()].sort((a, b) => a.index - b.index).map((g) => g.group),
    node(id) {
      const n = tree.node(id);
      if (!n) throw new Error(`map: module ${id} is not loaded`);
      const hit = cache.get(id);
      if (hit && hit.version === n.version) return hit.node;
      const node: MapNode = {
        name: n.name,
        path: n.path,
        type: n.m.type,
        parent: n.parent,
        unique: n.m.params[0],
        bytes: n.m.bytes,
        childIds: tree.children(id),
        hasChildren: n.childCount > 0,
        folds: n.m.folds ?? [],
      };
      cache.set(id, { version: n.version, node });
      return node;
    },
    find: (path) => tree.byPath.get(path),
    loadChildren: (id) => tree.loadChildren(id, { members: true }),
  };
}

/**
 * A tree row for a map cell, so the hover card is the tree's (`rowCard`): a module's row, or a
 * folded run's. Merged siblings have no row (the view describes them itself).
 */
export function cellRow(tree: LazyTree, cell: MapCell): ModuleRow | FoldRow | null {
  if (cell.kind === 'module') {
    const n = tree.node(cell.id);
    if (!n) return null;
    return { kind: 'module', id: cell.id, key: n.path === '' ? '(root)' : n.path, level: n.depth + 1, hasChildren: n.childCount > 0, expanded: false, posinset: cell.posinset, setsize: cell.setsize, match: false };
  }
  if (cell.kind === 'fold' && cell.run && cell.runParent !== undefined) {
    const p = tree.node(cell.runParent);
    const first = cell.run.first;
    const run = p?.m.folds?.find((f) => f.first === first);
    if (!p || !run) return null;
    const ids: number[] = [];
    for (let i = run.first; i <= run.last; i++) if (p.kids[i] >= 0) ids.push(p.kids[i]);
    return { kind: 'fold', parent: p.id, run, ids, key: foldKey(p.path, run), level: p.depth + 2, expanded: false, posinset: cell.posinset, setsize: cell.setsize, unique: run.unique, match: false };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Zoom

export interface Crumb {
  zoom: MapZoom;
  label: string;
}

/**
 * The way from the model down to a zoom: one crumb per module, a run's first block shown as the
 * run (`model › transformer › h › (0-11): 12 x Block › attn`).
 */
export function zoomTrail(source: MapSource, zoomIn: MapZoom, rootLabel: string): Crumb[] {
  const zoom = normalizeZoom(source, zoomIn);
  const target = zoom.kind === 'module' ? zoom.id : zoom.parent;
  const chain: MapId[] = [];
  for (let x = target; x >= 0; x = source.node(x).parent) chain.push(x);
  chain.reverse();
  const out: Crumb[] = [];
  for (const id of chain) {
    const z = normalizeZoom(source, { kind: 'module', id });
    out.push({ zoom: z, label: crumbLabel(source, z, rootLabel) });
  }
  if (zoom.kind === 'fold') out.push({ zoom, label: crumbLabel(source, zoom, rootLabel) });
  return out;
}

function crumbLabel(source: MapSource, z: MapZoom, rootLabel: string): string {
  if (z.kind === 'fold') {
    const run = runAt(source.node(z.parent), z.first);
    return run ? foldLabel(run) : '?';
  }
  const n = source.node(z.id);
  return n.parent < 0 ? rootLabel : n.name;
}

/** One step up the breadcrumb; undefined at the model. */
export function zoomOut(source: MapSource, zoom: MapZoom): MapZoom | undefined {
  const trail = zoomTrail(source, zoom, '');
  return trail.length >= 2 ? trail[trail.length - 2].zoom : undefined;
}

/**
 * What zooming into a cell shows: a module with children, a run, or for merged small siblings
 * their parent. Undefined when it would show nothing new (a leaf, the zoomed cell itself).
 */
export function cellZoom(source: MapSource, layout: MapLayout, cell: MapCell): MapZoom | undefined {
  let z: MapZoom | undefined;
  if (cell.kind === 'fold' && cell.run && cell.runParent !== undefined) z = { kind: 'fold', parent: cell.runParent, first: cell.run.first };
  else if (cell.kind === 'more') z = { kind: 'module', id: cell.id };
  else if (cell.expandable) z = normalizeZoom(source, { kind: 'module', id: cell.id });
  if (!z || sameZoom(normalizeZoom(source, z), layout.zoom)) return undefined;
  return z;
}

/** The module a cell selects (in the tree and the tensor table): itself, or a run's first block. */
export function cellTarget(cell: MapCell): MapId | undefined {
  return cell.kind === 'more' ? undefined : cell.id;
}

/** A zoom as saved across tab switches: `m:<path>` or `f:<parent path>#<first>`. */
export function zoomKey(source: MapSource, zoom: MapZoom): string {
  return zoom.kind === 'module' ? `m:${source.node(zoom.id).path}` : `f:${source.node(zoom.parent).path}#${zoom.first}`;
}

export function zoomFromKey(source: MapSource, key: string | undefined): MapZoom | undefined {
  if (!key) return undefined;
  if (key.startsWith('m:')) {
    const id = source.find(key.slice(2));
    return id === undefined ? undefined : normalizeZoom(source, { kind: 'module', id });
  }
  const m = /^f:(.*)#(\d+)$/s.exec(key);
  if (!m) return undefined;
  const parent = source.find(m[1]);
  if (parent === undefined || !runAt(source.node(parent), Number(m[2]))) return undefined;
  return { kind: 'fold', parent, first: Number(m[2]) };
}

/**
 * Zooms to try, in order, to show a module as a cell of its own: the current one, its parent's
 * (the module is then a cell right under the top band), itself.
 */
export function zoomsToShow(source: MapSource, current: MapZoom, id: MapId): MapZoom[] {
  const out: MapZoom[] = [current];
  const n = source.node(id);
  if (n.parent >= 0) {
    const own = normalizeZoom(source, { kind: 'module', id });
    // A run's block shows under the run's parent; anything else under its own parent.
    const parent = own.kind === 'fold' ? own.parent : n.parent;
    out.push(normalizeZoom(source, { kind: 'module', id: parent }));
    out.push(own);
  } else out.push({ kind: 'module', id });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Keyboard

export type MapAction =
  | { kind: 'none' }
  | { kind: 'focus'; key: string }
  | { kind: 'zoom'; key: string }
  | { kind: 'out' }
  | { kind: 'select'; key: string };

/**
 * Keys on the map, as a tree's: Left/Right move between siblings (past the last one, to the
 * neighbour in the same band), Up to the parent, Down to the first child (or zooms in when the
 * children are not drawn), Home/End to the first/last sibling, Enter zooms in (selects a leaf),
 * Space selects, Escape/Backspace zoom out.
 */
export function mapNavigate(layout: MapLayout, activeKey: string | null, key: string): MapAction {
  const known = activeKey !== null && layout.byKey.has(activeKey);
  const cur = known ? layout.byKey.get(activeKey!)! : layout.root;
  const focus = (c: MapCell | undefined): MapAction => (c && (c !== cur || !known) ? { kind: 'focus', key: c.key } : { kind: 'none' });
  const siblings = cur.parent ? cur.parent.children : [cur];
  const i = siblings.indexOf(cur);
  const band = layout.bands[cur.depth] ?? [cur];
  const b = band.indexOf(cur);
  switch (key) {
    case 'ArrowRight':
      if (!known) return focus(cur);
      return focus(i + 1 < siblings.length ? siblings[i + 1] : band[b + 1]);
    case 'ArrowLeft':
      if (!known) return focus(cur);
      return focus(i > 0 ? siblings[i - 1] : band[b - 1]);
    case 'ArrowUp':
      return focus(known ? cur.parent ?? undefined : cur);
    case 'ArrowDown':
      if (!known) return focus(cur);
      if (cur.children.length) return focus(cur.children[0]);
      return cur.expandable && cur !== layout.root ? { kind: 'zoom', key: cur.key } : { kind: 'none' };
    case 'Home':
      return focus(siblings[0]);
    case 'End':
      return focus(siblings[siblings.length - 1]);
    case 'Enter':
      if (cur.expandable && cur !== layout.root) return { kind: 'zoom', key: cur.key };
      return cur.kind === 'more' ? { kind: 'none' } : { kind: 'select', key: cur.key };
    case ' ':
      return cur.kind === 'more' ? { kind: 'none' } : { kind: 'select', key: cur.key };
    case 'Escape':
    case 'Backspace':
      return { kind: 'out' };
    default:
      return { kind: 'none' };
  }
}
