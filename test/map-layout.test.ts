/**
 * The model map's layout (src/shared/icicle.ts) and the Map view's data side
 * (webview/src/data/mapLayout.ts): areas by unique parameters with shared storage drawn once,
 * folded runs drawn once with their count, zoom and breadcrumb, keyboard navigation, tie arcs,
 * a lazy source, and a bounded number of cells at 100,000 tensors.
 */
import * as assert from 'assert';
import { analyze } from '../src/core/analyze';
import { openCheckpoint } from '../src/core/index';
import { MapCell, MapLayout, MapNode, MapSource, MapValues, MapZoom, mapKind, ownKind } from '../src/shared/icicle';
import {
  cellRow,
  cellZoom,
  layoutMap,
  mapNavigate,
  lazyTreeSource,
  normalizeZoom,
  zoomFromKey,
  zoomKey,
  zoomOut,
  zoomsToShow,
  zoomTrail,
} from '../webview/src/data/mapLayout';
import { fixture } from './helpers';
import { fromCheckpoint, loadFixture, Loaded, rawFrom } from './webview-helpers';

const OPTS = { width: 1000, bandHeight: 40, maxLevels: 8 };

function sourceOf(l: Loaded): MapSource {
  return lazyTreeSource(l.tree, l.groups);
}

function lay(src: MapSource, zoom: MapZoom = { kind: 'module', id: src.root }, opts: Partial<typeof OPTS & { minCellPx: number; tiedPx: number }> = {}): MapLayout {
  return layoutMap(src, new MapValues(src), zoom, { ...OPTS, ...opts });
}

function byPath(src: MapSource, layout: MapLayout, path: string): MapCell {
  const id = src.find(path);
  assert.ok(id !== undefined, `module ${path}`);
  const c = layout.cells.find((x) => x.kind === 'module' && x.id === id);
  assert.ok(c, `a cell for ${path}; cells: ${layout.cells.map((x) => x.key).join(' ')}`);
  return c!;
}

const width = (c: MapCell) => c.x1 - c.x0;

/** Every cell lies inside its parent, siblings do not overlap, and bands go one level down. */
function checkNesting(layout: MapLayout): void {
  for (const c of layout.cells) {
    assert.ok(c.x1 >= c.x0 && c.y1 > c.y0, `${c.key} has a size`);
    if (!c.parent) continue;
    assert.strictEqual(c.depth, c.parent.depth + 1, `${c.key} one band below its parent`);
    assert.ok(c.x0 >= c.parent.x0 - 1e-6 && c.x1 <= c.parent.x1 + 1 + 1e-6, `${c.key} [${c.x0}, ${c.x1}] inside ${c.parent.key} [${c.parent.x0}, ${c.parent.x1}]`);
    assert.ok(c.y0 >= c.parent.y1 - 1e-6, `${c.key} below its parent`);
  }
  for (const c of layout.cells) {
    for (let i = 1; i < c.children.length; i++) assert.ok(c.children[i].x0 >= c.children[i - 1].x1 - 1e-6, `${c.children[i].key} after ${c.children[i - 1].key}`);
  }
}

describe('model map: layout', () => {
  let tied: Loaded;
  let untied: Loaded;
  before(async () => {
    tied = await loadFixture('gpt2-tied');
    untied = await loadFixture('gpt2-untied');
  });

  it('areas are proportional to unique parameters (untied GPT-2: every module its own)', () => {
    const src = sourceOf(untied);
    const layout = lay(src);
    checkNesting(layout);
    const total = untied.cp.parameters.unique;
    assert.strictEqual(layout.total, total);
    // Width = share of the model's unique parameters (inside the run: of all three blocks).
    for (const c of layout.cells) {
      if (c.kind === 'more') continue;
      const expected = ((c.kind === 'fold' ? c.value : c.value * c.mult) / total) * OPTS.width;
      assert.ok(Math.abs(width(c) - expected) <= 1e-6, `${c.key}: ${width(c)} px, ${expected} expected`);
      if (c.kind === 'module') assert.strictEqual(c.value, untied.tree.node(c.id)!.m.params[0]);
    }
    const lm = byPath(src, layout, 'lm_head');
    assert.strictEqual(lm.value, 4096);
    assert.ok(!lm.tiedOnly);
    assert.strictEqual(layout.arcs.length, 0);
  });

  it('shared storage is drawn once, where it is first stored: the tied head is a sliver', () => {
    const src = sourceOf(tied);
    const values = new MapValues(src);
    const layout = lay(src);
    checkNesting(layout);
    const lm = byPath(src, layout, 'lm_head');
    const tr = byPath(src, layout, 'transformer');
    // The tree counts lm_head's 4,096 parameters once per subtree; the map draws them in wte only.
    assert.strictEqual(values.unique(lm.id), 4096);
    assert.strictEqual(values.drawn(lm.id), 0);
    assert.ok(lm.tiedOnly);
    assert.strictEqual(width(lm), 4, 'a sliver');
    // The root's children add up to the model's unique count, not to the 46,880 total.
    assert.strictEqual(values.drawn(tr.id) + values.drawn(lm.id), tied.cp.parameters.unique);
    assert.ok(Math.abs(width(tr) - (OPTS.width - width(lm))) <= 1e-6, `transformer ${width(tr)} px`);
    const wte = byPath(src, layout, 'transformer.wte');
    assert.strictEqual(wte.value, 4096);
    assert.ok(!wte.tiedOnly);
  });

  it('a fused weight cut into q, k, v slices counts each slice; a transposed alias is drawn once', async () => {
    const cp = await openCheckpoint(fixture('pytorch', 'fused-qkv-module.pt'));
    const src = sourceOf(await fromCheckpoint(cp));
    const values = new MapValues(src);
    const layout = lay(src);
    checkNesting(layout);
    for (const p of ['q_proj', 'k_proj', 'v_proj']) {
      const id = src.find(p)!;
      assert.strictEqual(values.drawn(id), values.unique(id), `${p}: disjoint slices, nothing drawn twice`);
    }
    const kids = layout.root.children.filter((c) => c.kind === 'module');
    const drawnSum = kids.reduce((s, c) => s + c.value, 0);
    assert.ok(drawnSum <= cp.parameters.unique, `${drawnSum} <= ${cp.parameters.unique}`);
    const outT = src.find('out_proj_t');
    if (outT !== undefined) assert.strictEqual(values.drawn(outT), 0, 'the transposed alias is stored in out_proj');
    // One arc: out_proj and its transposed alias. q, k and v are disjoint slices, not tied.
    assert.strictEqual(layout.arcs.length, 1);
  });

  it('draws a folded run once, with the area of the whole run and the inside of its first block', () => {
    const src = sourceOf(tied);
    const layout = lay(src);
    const folds = layout.cells.filter((c) => c.kind === 'fold');
    assert.strictEqual(folds.length, 1);
    const f = folds[0];
    const h = src.find('transformer.h')!;
    assert.strictEqual(f.runParent, h);
    assert.deepStrictEqual([f.run!.from, f.run!.to, f.run!.count], ['0', '2', 3]);
    assert.strictEqual(f.label, '(0-2): 3 x Block');
    assert.strictEqual(f.id, src.find('transformer.h.0'));
    // The run's area: all three blocks.
    const block = tied.tree.node(src.find('transformer.h.0')!)!.m.params[0];
    assert.strictEqual(f.value, 3 * block);
    assert.ok(Math.abs(width(f) - width(byPath(src, layout, 'transformer.h'))) <= 1, 'the run fills h');
    // Its inside is block 0's, each cell standing for 3 modules; blocks 1 and 2 are not drawn.
    const kids = f.children.filter((c) => c.kind === 'module').map((c) => src.node(c.id).path);
    assert.deepStrictEqual(kids, ['transformer.h.0.attn', 'transformer.h.0.ln_1', 'transformer.h.0.ln_2', 'transformer.h.0.mlp']);
    for (const c of f.children) assert.strictEqual(c.mult, 3);
    for (const c of layout.cells) assert.ok(!/^transformer\.h\.[12](\.|$)/.test(src.node(c.id).path), `no cell for ${src.node(c.id).path}`);
    const attn = byPath(src, layout, 'transformer.h.0.attn');
    const mlp = byPath(src, layout, 'transformer.h.0.mlp');
    assert.ok(Math.abs(width(attn) / width(mlp) - attn.value / mlp.value) < 0.02, 'inside the run, widths keep the block proportions');
    // The counterpart of a module in another block is the cell of the first block's.
    const other = layout.cellFor(src.find('transformer.h.2.mlp')!);
    assert.strictEqual(other?.cell, mlp);
    assert.ok(other?.exact);
    assert.strictEqual(layout.cellFor(src.find('transformer.h.1')!)?.cell, f);
  });

  it('colours by layer kind: embeddings, attention (with its projections), MLP, norms', () => {
    const src = sourceOf(tied);
    const layout = lay(src);
    const kind = (p: string) => byPath(src, layout, p).mapKind;
    assert.strictEqual(kind('transformer.wte'), 'embedding');
    assert.strictEqual(kind('transformer.h.0.attn'), 'attention');
    assert.strictEqual(kind('transformer.h.0.attn.c_attn'), 'attention');
    assert.strictEqual(kind('transformer.h.0.mlp'), 'linear');
    assert.strictEqual(kind('transformer.h.0.mlp.c_fc'), 'linear');
    assert.strictEqual(kind('lm_head'), 'linear');
    assert.strictEqual(kind('transformer'), 'other');
    assert.strictEqual(ownKind('LlamaRMSNorm', 'input_layernorm'), 'norm');
    assert.strictEqual(ownKind('QuantLinear', 'q_proj'), 'quantized');
    assert.strictEqual(ownKind('Linear4bit', 'q_proj'), 'quantized');
    assert.strictEqual(ownKind('Conv2d', 'conv1'), 'conv');
    assert.strictEqual(ownKind('LlamaAttention', 'self_attn'), 'attention');
    assert.strictEqual(ownKind('Module', 'ln_1'), 'norm');
    assert.strictEqual(ownKind('LlamaDecoderLayer', '0'), 'other');
    assert.strictEqual(mapKind('Linear', 'q_proj', 'attention'), 'attention');
    assert.strictEqual(mapKind('QuantLinear', 'q_proj', 'attention'), 'quantized');
    assert.strictEqual(mapKind('LayerNorm', 'q_norm', 'attention'), 'norm');
  });

  it('joins tie partners by an arc (tied GPT-2 only), and notes partners outside the zoom', () => {
    const src = sourceOf(tied);
    const layout = lay(src);
    assert.strictEqual(layout.arcs.length, 1);
    const arc = layout.arcs[0];
    assert.deepStrictEqual([...arc.tensors], ['transformer.wte.weight', 'lm_head.weight']);
    assert.strictEqual(arc.relation, 'declared');
    assert.deepStrictEqual(
      arc.cells.map((c) => src.node(c.id).path),
      ['transformer.wte', 'lm_head'],
    );
    for (const c of arc.cells) assert.deepStrictEqual(c.ties, [0]);
    assert.strictEqual(lay(sourceOf(untied)).arcs.length, 0);
    // Zoomed into the transformer: lm_head is not drawn, wte says it shares outside.
    const inside = lay(src, { kind: 'module', id: src.find('transformer')! });
    assert.strictEqual(inside.arcs.length, 0);
    assert.ok(byPath(src, inside, 'transformer.wte').tieOut);
    // Only two bands: wte is not drawn; the arc joins the cells standing for both ends.
    const shallow = lay(src, undefined, { maxLevels: 2 });
    assert.deepStrictEqual(shallow.arcs[0].cells.map((c) => src.node(c.id).path), ['transformer', 'lm_head']);
  });

  it('zooms into a module, a run, and back out by the breadcrumb', () => {
    const src = sourceOf(tied);
    const root = lay(src);
    const tr = byPath(src, root, 'transformer');
    const z1 = cellZoom(src, root, tr)!;
    assert.deepStrictEqual(z1, { kind: 'module', id: tr.id });
    const l1 = lay(src, z1);
    checkNesting(l1);
    assert.strictEqual(l1.root.id, tr.id);
    assert.ok(Math.abs(width(l1.root) - OPTS.width) <= 1);
    assert.ok(!l1.cells.some((c) => src.node(c.id).path === 'lm_head'), 'lm_head is outside');
    const fold = l1.cells.find((c) => c.kind === 'fold')!;
    const z2 = cellZoom(src, l1, fold)!;
    assert.strictEqual(z2.kind, 'fold');
    const l2 = lay(src, z2);
    assert.strictEqual(l2.root.kind, 'fold');
    assert.deepStrictEqual(
      l2.root.children.map((c) => src.node(c.id).name),
      ['attn', 'ln_1', 'ln_2', 'mlp'].filter((n) => l2.root.children.some((c) => src.node(c.id).name === n)),
    );
    assert.deepStrictEqual(
      zoomTrail(src, z2, 'model.safetensors').map((c) => c.label),
      ['model.safetensors', 'transformer', 'h', '(0-2): 3 x Block'],
    );
    const attn = byPath(src, l2, 'transformer.h.0.attn');
    const z3 = cellZoom(src, l2, attn)!;
    assert.deepStrictEqual(zoomTrail(src, z3, 'm').map((c) => c.label), ['m', 'transformer', 'h', '(0-2): 3 x Block', 'attn']);
    // Zoom out: attn → the run → h → transformer → the model → nothing.
    const outs: string[] = [];
    for (let z = zoomOut(src, z3); z; z = zoomOut(src, z)) outs.push(zoomKey(src, z));
    assert.deepStrictEqual(outs, ['f:transformer.h#0', 'm:transformer.h', 'm:transformer', 'm:']);
    // A zoom on a run's first block is the run; keys survive a tab switch.
    assert.deepStrictEqual(normalizeZoom(src, { kind: 'module', id: src.find('transformer.h.0')! }), z2);
    for (const z of [z1, z2, z3]) assert.deepStrictEqual(zoomFromKey(src, zoomKey(src, z)), normalizeZoom(src, z));
    assert.strictEqual(zoomFromKey(src, 'm:no.such.module'), undefined);
    assert.strictEqual(zoomFromKey(src, 'f:transformer#0'), undefined);
    // A leaf and the zoomed cell itself zoom nowhere.
    assert.strictEqual(cellZoom(src, l2, byPath(src, l2, 'transformer.h.0.ln_1')), undefined);
    assert.strictEqual(cellZoom(src, l2, l2.root), undefined);
  });

  it('a selected module is shown as a cell of its own: current zoom, its parent, itself', () => {
    const src = sourceOf(tied);
    const zoom = { kind: 'module' as const, id: src.find('transformer.h.0.mlp')! };
    const wte = src.find('transformer.wte')!;
    const tries = zoomsToShow(src, zoom, wte);
    assert.deepStrictEqual(tries.slice(1), [{ kind: 'module', id: src.find('transformer')! }, { kind: 'module', id: wte }]);
    assert.strictEqual(lay(src, zoom).cellFor(wte), null, 'outside the zoomed module');
    assert.ok(lay(src, tries[1]).cellFor(wte)?.exact);
    // A block of a run shows under the run's parent.
    const b1 = src.find('transformer.h.1')!;
    assert.deepStrictEqual(zoomsToShow(src, zoom, b1)[1], { kind: 'module', id: src.find('transformer.h')! });
  });

  it('gives each cell the tree row its hover card describes', () => {
    const src = sourceOf(tied);
    const layout = lay(src);
    const lm = byPath(src, layout, 'lm_head');
    const row = cellRow(tied.tree, lm)!;
    assert.strictEqual(row.kind, 'module');
    assert.strictEqual(row.key, 'lm_head');
    const f = layout.cells.find((c) => c.kind === 'fold')!;
    const frow = cellRow(tied.tree, f)!;
    assert.ok(frow.kind === 'fold');
    if (frow.kind === 'fold') {
      assert.strictEqual(frow.ids.length, 3);
      assert.strictEqual(frow.key, 'transformer.h#0-2');
      assert.strictEqual(frow.unique, f.value);
    }
  });
});

describe('model map: keyboard', () => {
  it('moves between siblings, parent and child; Enter zooms, Space selects, Escape zooms out', async () => {
    const l = await loadFixture('gpt2-tied');
    const src = sourceOf(l);
    const layout = lay(src);
    const key = (p: string) => byPath(src, layout, p).key;
    const nav = (from: string | null, k: string) => mapNavigate(layout, from, k);
    // Nothing active yet: the first key lands on the top band.
    assert.deepStrictEqual(nav(null, 'ArrowDown'), { kind: 'focus', key: layout.root.key });
    assert.deepStrictEqual(nav(layout.root.key, 'ArrowDown'), { kind: 'focus', key: key('transformer') });
    assert.deepStrictEqual(nav(key('transformer'), 'ArrowRight'), { kind: 'focus', key: key('lm_head') });
    assert.deepStrictEqual(nav(key('lm_head'), 'ArrowLeft'), { kind: 'focus', key: key('transformer') });
    assert.deepStrictEqual(nav(key('lm_head'), 'ArrowRight'), { kind: 'none' });
    assert.deepStrictEqual(nav(key('transformer'), 'ArrowDown'), { kind: 'focus', key: key('transformer.wte') });
    assert.deepStrictEqual(nav(key('transformer.wte'), 'ArrowUp'), { kind: 'focus', key: key('transformer') });
    assert.deepStrictEqual(nav(key('transformer.wte'), 'End'), { kind: 'focus', key: key('transformer.h') });
    assert.deepStrictEqual(nav(key('transformer.h'), 'Home'), { kind: 'focus', key: key('transformer.wte') });
    // Past the last sibling: the neighbour in the same band (the next parent's child).
    const attn = key('transformer.h.0.attn.c_proj');
    assert.deepStrictEqual(nav(attn, 'ArrowRight'), { kind: 'focus', key: key('transformer.h.0.mlp.c_fc') });
    assert.deepStrictEqual(nav(key('transformer'), 'Enter'), { kind: 'zoom', key: key('transformer') });
    assert.deepStrictEqual(nav(key('transformer.wte'), 'Enter'), { kind: 'select', key: key('transformer.wte') });
    assert.deepStrictEqual(nav(key('transformer.wte'), ' '), { kind: 'select', key: key('transformer.wte') });
    assert.deepStrictEqual(nav(key('transformer.wte'), 'ArrowDown'), { kind: 'none' });
    assert.deepStrictEqual(nav(key('transformer.wte'), 'Escape'), { kind: 'out' });
    assert.deepStrictEqual(nav(key('transformer.wte'), 'Backspace'), { kind: 'out' });
    assert.deepStrictEqual(nav(key('transformer.wte'), 'q'), { kind: 'none' });
    // Children not drawn (two bands only): Down zooms in.
    const shallow = lay(src, undefined, { maxLevels: 2 });
    const tr = shallow.cells.find((c) => c.kind === 'module' && c.id === src.find('transformer'))!;
    assert.ok(tr.clipped);
    assert.deepStrictEqual(mapNavigate(shallow, tr.key, 'ArrowDown'), { kind: 'zoom', key: tr.key });
  });
});

describe('model map: a lazy source', () => {
  /** The tied GPT-2 with children known only below loaded modules. */
  function lazy(l: Loaded): MapSource & { loaded: Set<number> } {
    const eager = sourceOf(l);
    const loaded = new Set<number>([0]);
    return {
      root: 0,
      groups: eager.groups,
      loaded,
      node(id): MapNode {
        const n = eager.node(id);
        return { ...n, childIds: loaded.has(id) ? n.childIds : undefined };
      },
      find(path) {
        const id = eager.find(path);
        if (id === undefined) return undefined;
        for (let x = eager.node(id).parent; x >= 0; x = eager.node(x).parent) if (!loaded.has(x)) return undefined;
        return id;
      },
      async loadChildren(id) {
        loaded.add(id);
      },
    };
  }

  it('draws modules not loaded yet as leaves marked unloaded, asks for the wide ones, and fills in after loading', async () => {
    const l = await loadFixture('gpt2-tied');
    const src = lazy(l);
    let layout = lay(src);
    const tr = layout.cells.find((c) => c.kind === 'module' && src.node(c.id).path === 'transformer')!;
    assert.ok(tr.unloaded && tr.clipped && tr.children.length === 0);
    assert.deepStrictEqual(layout.wanted, [tr.id]);
    // The tie is still drawn between the cells standing for both ends.
    assert.strictEqual(layout.arcs.length, 1);
    // Values need no module loaded: shared storage is known by tensor names.
    assert.strictEqual(new MapValues(src).drawn(src.find('lm_head')!), 0);
    for (let round = 0; round < 10 && layout.wanted.length; round++) {
      for (const id of layout.wanted) await src.loadChildren(id);
      layout = lay(src);
    }
    const eager = lay(sourceOf(l));
    assert.deepStrictEqual(
      layout.cells.map((c) => [c.key, Math.round(c.x0), Math.round(c.x1)]),
      eager.cells.map((c) => [c.key, Math.round(c.x0), Math.round(c.x1)]),
    );
  });
});

describe('model map on the editor\'s lazy tree', () => {
  it('starts from the first view, loads what it wants from the worker, and ends as the fully loaded tree draws', async () => {
    const cp = await openCheckpoint(fixture('safetensors', 'gpt2-tied', 'model.safetensors'));
    const l = await fromCheckpoint(cp, 1, false);
    const src = lazyTreeSource(l.tree, l.groups);
    let layout = lay(src);
    const start = layout.wanted.length;
    assert.ok(start > 0, 'modules of the first view without their children are wanted');
    for (let round = 0; round < 20 && layout.wanted.length; round++) {
      for (const id of layout.wanted) await src.loadChildren(id);
      layout = lay(src);
    }
    assert.deepStrictEqual(layout.wanted, []);
    assert.ok(l.asked.length > 0 && l.asked.every((q) => q.kind !== 'children' || q.folded === false), 'runs are asked for with every block');
    const eager = lay(sourceOf(await fromCheckpoint(cp)));
    assert.deepStrictEqual(
      layout.cells.map((c) => [c.key, Math.round(c.x0), Math.round(c.x1)]),
      eager.cells.map((c) => [c.key, Math.round(c.x0), Math.round(c.x1)]),
    );
    // The hover card's row for a run: the tree's fold row with the blocks loaded.
    const fold = layout.cells.find((c) => c.kind === 'fold')!;
    const row = cellRow(l.tree, fold)!;
    assert.strictEqual(row.kind, 'fold');
    assert.strictEqual(row.kind === 'fold' && row.ids.length, fold.run!.count);
  });
});

describe('model map at 100,000 tensors', function () {
  this.timeout(120000);

  async function model(foldable: boolean): Promise<MapSource> {
    const tensors: { name: string; shape: number[]; storage?: string }[] = [{ name: 'model.embed.weight', shape: [64, 8], storage: 'emb' }];
    for (let i = 0; tensors.length < 100000 - 1; i++) {
      const p = `model.layers.${i}.`;
      // Unfoldable: every block a different width, so 8,000 distinct children.
      const w = foldable ? 8 : 8 + (i % 97);
      for (const m of ['q', 'k', 'v', 'o']) tensors.push({ name: `${p}attn.${m}.weight`, shape: [w, 8] }, { name: `${p}attn.${m}.bias`, shape: [w] });
      tensors.push({ name: `${p}norm.weight`, shape: [8] }, { name: `${p}mlp.up.weight`, shape: [8, 16] }, { name: `${p}mlp.down.weight`, shape: [16, 8] }, { name: `${p}mlp.gate.weight`, shape: [8, 16] });
    }
    tensors.length = 99999;
    tensors.push({ name: 'lm_head.weight', shape: [64, 8], storage: 'emb' });
    const l = await fromCheckpoint(analyze(rawFrom(tensors)));
    assert.ok(l.tree.size > 50000);
    return sourceOf(l);
  }

  const W = 1400;
  const LEVELS = 10;
  const MIN = 4;

  it('folded blocks: one run cell for 8,333 blocks, the tie arc, a handful of cells', async () => {
    const src = await model(true);
    const layout = lay(src, undefined, { width: W, maxLevels: LEVELS, minCellPx: MIN });
    checkNesting(layout);
    const fold = layout.cells.find((c) => c.kind === 'fold')!;
    assert.ok(fold.run!.count > 8000);
    assert.ok(layout.cells.length < 40, `${layout.cells.length} cells`);
    assert.strictEqual(layout.arcs.length, 1);
    assert.deepStrictEqual([...layout.arcs[0].tensors], ['model.embed.weight', 'lm_head.weight']);
    const q = layout.cells.find((c) => src.node(c.id).path === 'model.layers.0.attn.q')!;
    assert.strictEqual(q.mult, fold.run!.count);
  });

  it('8,000 distinct blocks: small neighbours merged, cells bounded by width / minimum size per band', async () => {
    const src = await model(false);
    const values = new MapValues(src);
    const layers = src.find('model.layers')!;
    assert.ok(src.node(layers).childIds!.length > 8000 && src.node(layers).folds.length === 0, 'nothing folds');
    for (const zoom of [{ kind: 'module' as const, id: src.root }, { kind: 'module' as const, id: layers }]) {
      const layout = layoutMap(src, values, zoom, { width: W, bandHeight: 40, maxLevels: LEVELS, minCellPx: MIN });
      checkNesting(layout);
      assert.ok(layout.cells.length <= LEVELS * (W / MIN), `${layout.cells.length} cells`);
      for (const c of layout.cells) assert.ok(width(c) >= MIN - 1 || c.tiedOnly, `${c.key} is ${width(c)} px`);
      const more = layout.cells.filter((c) => c.kind === 'more');
      assert.ok(more.length >= 1);
      // The merged cells stand for every block they hold.
      const held = more.reduce((s, c) => s + c.more!.count, 0);
      const drawn = layout.cells.filter((c) => c.parent && src.node(c.parent.id).path === 'model.layers' && c.kind === 'module').length;
      assert.ok(held + drawn <= src.node(layers).childIds!.length);
    }
    // Zoomed into one block, everything is drawn.
    const block = src.find('model.layers.7')!;
    const one = layoutMap(src, values, { kind: 'module', id: block }, { width: W, bandHeight: 40, maxLevels: LEVELS, minCellPx: MIN });
    assert.deepStrictEqual(one.cells.map((c) => src.node(c.id).name).sort(), ['7', 'attn', 'down', 'gate', 'k', 'mlp', 'norm', 'o', 'q', 'up', 'v'].sort());
  });
});
