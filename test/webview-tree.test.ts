import * as assert from 'assert';
import * as path from 'path';
import { analyze } from '../src/core/analyze';
import { RawCheckpoint, TensorRecord } from '../src/core/model';
import { firstViewExpansion, ShapeOfTree } from '../src/shared/firstView';
import { LazyTree } from '../webview/src/data/lazyTree';
import { compileFilter, foldContext, foldLabel, rowLabel, selectionTarget, TreeState } from '../webview/src/data/tree';
import { REPO } from './helpers';
import { applyFilter, fromCheckpoint, keys, loadFixture, synthetic } from './webview-helpers';

describe('webview module tree', () => {
  it('opens on structure: two levels, and the heaviest path down to its folded run (tied GPT-2)', async () => {
    const { tree, state } = await loadFixture('gpt2-tied');
    assert.strictEqual(tree.root.path, '');
    // transformer.h holds most parameters and its blocks fold: the run shows at once.
    assert.deepStrictEqual(keys(state), ['(root)', 'transformer', 'transformer.wte', 'transformer.wpe', 'transformer.h', 'transformer.h#0-2', 'transformer.ln_f', 'lm_head']);
    const h = state.rows[state.rowByKey.get('transformer.h')!];
    assert.ok(h.kind === 'module' && h.hasChildren && h.expanded);
    assert.strictEqual(h.level, 3);
    const fold = state.rows[state.rowByKey.get('transformer.h')! + 1];
    assert.ok(fold.kind === 'fold');
    assert.strictEqual(foldLabel(fold.run), `(0-${fold.run.count - 1}): ${fold.run.count} x ${fold.run.type}`);
    assert.ok(fold.run.count >= 2);
    assert.strictEqual(fold.expanded, false);
    // Folded members map to the fold row.
    assert.strictEqual(state.nearestRow(tree.byPath.get('transformer.h.1.attn')!), state.rowByKey.get(fold.key));
    assert.ok(!keys(state).includes('transformer.h.0'));
    state.toggle(fold);
    state.rebuild();
    assert.ok(keys(state).includes('transformer.h.0') && keys(state).includes('transformer.h.1'));
    const h0 = state.rows[state.rowByKey.get('transformer.h.0')!];
    assert.strictEqual(h0.level, 5, 'blocks sit one level under their fold row');
    assert.strictEqual(rowLabel(tree, state.rows[0], 'model.safetensors'), 'model.safetensors');
  });

  it('keeps module parameter totals from the core', async () => {
    const { tree, cp } = await loadFixture('gpt2-tied');
    assert.strictEqual(tree.root.m.params[0], cp.parameters.unique);
    assert.strictEqual(tree.root.m.params[1], cp.parameters.total);
    const wte = tree.node(tree.byPath.get('transformer.wte')!)!;
    assert.strictEqual(wte.m.type, 'Embedding');
    assert.match(wte.m.shapes ?? '', /^weight \[\d+, \d+\]$/);
  });

  it('filters by substring or regular expression (searched in the worker) and reports bad expressions', async () => {
    const l = await loadFixture('gpt2-tied', 2, false);
    const { state, tree } = l;
    const r = applyFilter(l, { text: 'c_proj', regex: false });
    const k = keys(state);
    assert.ok(k.includes('transformer.h.0.attn.c_proj') && k.includes('transformer.h.1.mlp.c_proj'), k.join(' '));
    assert.ok(!k.includes('lm_head'));
    assert.ok(!k.includes('transformer.wte'));
    const blocks = tree.node(tree.byPath.get('transformer.h')!)!.childCount;
    assert.strictEqual(state.matchCount, 2 * blocks);
    assert.strictEqual(r.count, 2 * blocks);
    // Every match came with its ancestors, though the tree had only the first view.
    for (const id of r.matched) assert.ok(tree.node(id), `match ${id} loaded`);
    applyFilter(l, { text: '^transformer\\.h\\.1\\.mlp$', regex: true });
    assert.strictEqual(state.matchCount, 1);
    assert.ok(keys(state).includes('transformer.h.1.mlp'));
    assert.ok(!keys(state).includes('transformer.h.0'), 'the other block is filtered out');
    applyFilter(l, { text: '(', regex: true });
    assert.ok(state.filterError);
    assert.ok(!state.filtering);
    assert.deepStrictEqual(compileFilter({ text: '  ', regex: true }), null);
    // Type names match too.
    applyFilter(l, { text: 'LayerNorm', regex: false });
    assert.ok(keys(state).includes('transformer.ln_f'));
  });

  it('a search says how many match when it sends only the first ones', async () => {
    const l = await synthetic(
      Array.from({ length: 50 }, (_, i) => ({ name: `layers.${i}.w.weight`, shape: [i + 1] })),
      1,
      false,
    );
    const r = applyFilter(l, { text: 'w', regex: false }, 10);
    assert.strictEqual(r.count, 50, 'every match is counted');
    assert.strictEqual(r.matched.length, 10);
    assert.strictEqual(l.state.matchCount, 50);
    assert.strictEqual(l.state.matchShown, 10);
  });

  it('lets the user collapse a node the filter opened', async () => {
    const l = await loadFixture('gpt2-tied');
    const { state } = l;
    applyFilter(l, { text: 'c_fc', regex: false });
    const t = state.rows[state.rowByKey.get('transformer')!];
    assert.ok(t.expanded);
    state.toggle(t);
    state.rebuild();
    assert.ok(!state.rows[state.rowByKey.get('transformer')!].expanded);
    assert.ok(!keys(state).includes('transformer.h'));
  });

  it('sorts children by size, keeping folded runs together', async () => {
    const { state } = await synthetic(
      [
        { name: 'small.weight', shape: [2] },
        { name: 'big.weight', shape: [100] },
        { name: 'blocks.0.w', shape: [10] },
        { name: 'blocks.1.w', shape: [10] },
        { name: 'blocks.2.w', shape: [10] },
      ],
      3,
    );
    assert.deepStrictEqual(keys(state).slice(1, 4), ['small', 'big', 'blocks']);
    state.sort = 'size';
    state.rebuild();
    assert.deepStrictEqual(keys(state).slice(1, 4), ['big', 'blocks', 'blocks#0-2']);
  });

  it('expands all, collapses all, reveals, and survives persist/restore', async () => {
    const { state, tree } = await loadFixture('gpt2-tied');
    assert.strictEqual(state.allRows, 1 + tree.root.m.descendantRows);
    state.expandAll();
    state.rebuild();
    assert.strictEqual(state.rows.filter((r) => r.kind === 'module').length, tree.moduleCount);
    assert.strictEqual(state.rows.length, state.allRows, 'descendantRows counts what expand all shows');
    // Collapsing one row while everything is open closes that row only.
    const h = state.rows[state.rowByKey.get('transformer.h')!];
    state.toggle(h);
    state.rebuild();
    assert.ok(!keys(state).includes('transformer.h.0'));
    assert.ok(keys(state).includes('transformer.ln_f'));
    state.collapseAll();
    state.rebuild();
    assert.deepStrictEqual(keys(state), ['(root)', 'transformer', 'lm_head']);
    state.reveal(tree.byPath.get('transformer.h.1.attn.c_attn')!);
    state.rebuild();
    assert.ok(keys(state).includes('transformer.h.1.attn.c_attn'));
    state.sort = 'size';
    const saved = JSON.parse(JSON.stringify(state.persist()));
    const other = (await loadFixture('gpt2-tied', 0)).state;
    other.restore(saved, new Map([...tree.byPath].map(([p, id]) => [p, id])));
    other.rebuild();
    assert.deepStrictEqual(keys(other), (state.rebuild(), keys(state)));
    assert.strictEqual(other.sort, 'size');
    // A saved state without its expansion keeps the first view.
    const third = (await loadFixture('gpt2-tied', 2)).state;
    third.restore({ ...saved, expanded: null, filter: { text: '', regex: false } }, new Map());
    third.rebuild();
    assert.ok(keys(third).includes('transformer.wte'));
  });

  it('refuses a node whose parent it does not have', () => {
    assert.throws(
      () =>
        new LazyTree(async () => ({ nodes: [] }), {
          moduleCount: 2,
          view: { nodes: [{ id: 1, parent: 0, index: 0, name: 'a', type: 'x', params: [0, 0], bytes: 0, tensorCount: 0, own: 0, childCount: 0, descendantRows: 0 }] },
        }),
      /came before its parent/,
    );
  });

  it('a folded run selects its first block, which knows its place in the run', async () => {
    const { tree, state } = await loadFixture('gpt2-tied', 3);
    const fold = state.rows.find((r) => r.kind === 'fold');
    assert.ok(fold && fold.kind === 'fold');
    const first = selectionTarget(fold);
    assert.strictEqual(tree.node(first)!.path, 'transformer.h.0');
    const ctx = foldContext(tree, first);
    assert.ok(ctx);
    assert.strictEqual(ctx.position, 0);
    assert.strictEqual(ctx.key, fold.key);
    assert.strictEqual(foldContext(tree, tree.byPath.get('transformer.h.1')!)?.position, 1);
    const lm = state.rows[state.rowByKey.get('lm_head')!];
    assert.strictEqual(selectionTarget(lm), tree.byPath.get('lm_head'));
    assert.strictEqual(foldContext(tree, tree.byPath.get('lm_head')!), undefined);
    assert.strictEqual(foldContext(tree, 0), undefined);
  });
});

describe('the first view (issue 12)', () => {
  /** A tree given as nested [name, unique, children] with optional folds. */
  type Spec = { name: string; unique: number; children?: Spec[]; folds?: { first: number; last: number }[] };
  function shape(root: Spec): ShapeOfTree & { ids: Map<string, number> } {
    const nodes: { spec: Spec; depth: number; kids: number[]; path: string }[] = [];
    const ids = new Map<string, number>();
    const walk = (s: Spec, depth: number, parentPath: string): number => {
      const id = nodes.length;
      const p = parentPath ? `${parentPath}.${s.name}` : s.name;
      nodes.push({ spec: s, depth, kids: [], path: p });
      ids.set(p, id);
      for (const c of s.children ?? []) nodes[id].kids.push(walk(c, depth + 1, p));
      return id;
    };
    walk(root, 0, '');
    return {
      root: 0,
      ids,
      children: (id) => nodes[id].kids,
      depth: (id) => nodes[id].depth,
      unique: (id) => nodes[id].spec.unique,
      folds: (id) => (nodes[id].spec.folds ?? []).map((f) => ({ ...f, from: String(f.first), to: String(f.last), count: f.last - f.first + 1, type: 'Block' })),
    };
  }
  const leaf = (name: string, unique: number): Spec => ({ name, unique });
  const block = (name: string, unique: number): Spec => ({ name, unique, children: [leaf('attn', unique / 2), leaf('mlp', unique / 2)] });

  it('follows the heaviest path down to the first folded run, within 2 x expandDepth', () => {
    const t = shape({
      name: '',
      unique: 1000,
      children: [
        {
          name: 'model',
          unique: 990,
          children: [leaf('embed', 10), { name: 'layers', unique: 970, children: [block('0', 10), block('1', 320), block('2', 320), block('3', 320)], folds: [{ first: 1, last: 3 }] }, leaf('norm', 1)],
        },
        leaf('lm_head', 10),
      ],
    });
    const open = (d: number) => firstViewExpansion(t, d).map((id) => [...t.ids].find(([, i]) => i === id)![0]).sort();
    assert.deepStrictEqual(open(2), ['', 'model', 'model.layers'], 'layers opens: its run shows');
    assert.deepStrictEqual(open(1), ['', 'model'], 'depth 1 lets the path reach depth 1 only');
    assert.deepStrictEqual(open(0), [''], 'depth 0: only the root');
    assert.deepStrictEqual(open(4), ['', 'model', 'model.layers', 'model.layers.0', 'model.layers.1', 'model.layers.2', 'model.layers.3'], 'breadth as before: every module above depth 4');
  });

  it('goes past a child that is heavier than a folded run beside it, and stops at a leaf', () => {
    const t = shape({
      name: '',
      unique: 100,
      children: [{ name: 'a', unique: 90, children: [{ name: 'b', unique: 80, children: [leaf('c', 80)] }, block('0', 5), block('1', 5)], folds: [{ first: 1, last: 2 }] }],
    });
    const names = firstViewExpansion(t, 2).map((id) => [...t.ids].find(([, i]) => i === id)![0]).sort();
    assert.deepStrictEqual(names, ['', 'a', 'a.b'], 'b (80) outweighs the run (10): followed; c is a leaf');
  });

  it('DeepSeek-V3: model → layers → (3-60): 58 x Block shows, not six rows over an empty pane', async () => {
    // The real layout with 4 experts a layer instead of 256: the same structure.
    const { tensorsOf } = require(path.join(REPO, 'scripts', 'deepseek-v3.cjs')) as { tensorsOf: (o: { experts: number }) => [string, string, number[]][] };
    const records: TensorRecord[] = tensorsOf({ experts: 4 }).map(([name, , shape]) => {
      const numel = shape.reduce((a, b) => a * b, 1);
      return { name, dtype: 'float32', shape, nbytes: numel * 4, file: 'x.safetensors', dataOffset: 0, storage: name, storageOffset: 0, strides: null };
    });
    const raw: RawCheckpoint = { format: 'safetensors', path: '/x/model.safetensors', files: ['x.safetensors'], tensors: records, declaredTies: [], metadata: {}, warnings: [], bytesRead: 0, totalBytes: 0 };
    const l = await fromCheckpoint(analyze(raw), 2, false);
    const k = keys(l.state);
    assert.deepStrictEqual(k.slice(0, 4), ['(root)', 'model', 'model.embed_tokens', 'model.layers']);
    assert.ok(k.includes('model.layers#3-60'), k.join(' '));
    const run = l.state.rows[l.state.rowByKey.get('model.layers#3-60')!];
    assert.ok(run.kind === 'fold' && run.run.count === 58);
    assert.ok(k.includes('model.layers.61'), 'the prediction layer differs: its own row');
    assert.ok(k.includes('lm_head') && k.includes('model.norm'));
    assert.ok(!l.state.rows.some((r) => r.kind === 'pending'), 'the first view has what it shows');
  });
});

describe('the lazy tree', () => {
  it('starts from the first view and asks for children, a run’s blocks and pages as they are shown', async () => {
    const tensors = [{ name: 'embed.weight', shape: [4] }];
    for (let i = 0; i < 300; i++) tensors.push({ name: `blocks.${i}.w`, shape: [3] });
    for (let i = 0; i < 250; i++) tensors.push({ name: `misc.t${i}.w`, shape: [1] });
    const l = await synthetic(tensors, 1, false);
    const { tree, state, index } = l;
    assert.ok(tree.size < 10, `the first view sends ${tree.size} nodes, not ${index.size}`);
    const misc = tree.byPath.get('misc');
    assert.ok(misc !== undefined);
    // Expanding misc shows placeholders until its children are asked for.
    state.setExpanded(misc, true);
    state.rebuild();
    const pending = state.rows.filter((r) => r.kind === 'pending');
    assert.strictEqual(pending.length, 250);
    await tree.ensureChildren(misc, pending.slice(0, 30).map((r) => (r.kind === 'pending' ? r.index : -1)), true);
    assert.deepStrictEqual(l.asked, [{ kind: 'children', id: misc, from: 0, to: 100, folded: true }], 'one page of 100 children');
    state.rebuild();
    assert.strictEqual(state.rows.filter((r) => r.kind === 'pending').length, 150);
    assert.ok(keys(state).includes('misc.t0'));
    // A run of 300 blocks comes as one block and its count; unfolding asks for the others.
    const blocks = tree.byPath.get('blocks')!;
    await tree.loadChildren(blocks);
    assert.strictEqual(tree.node(blocks)!.loaded, 1, 'only the first block');
    state.setExpanded(blocks, true);
    state.rebuild();
    const fold = state.rows.find((r) => r.kind === 'fold')!;
    assert.ok(fold.kind === 'fold' && fold.run.count === 300 && fold.unique === 900);
    state.toggle(fold);
    state.rebuild();
    assert.strictEqual(state.rows.filter((r) => r.kind === 'pending' && r.inRun).length, 299);
    await tree.loadChildren(blocks, { members: true });
    state.rebuild();
    assert.strictEqual(state.rows.filter((r) => r.kind === 'pending' && r.inRun).length, 0);
    assert.deepStrictEqual(tree.children(blocks)?.length, 300);
  });

  it('loads everything in pre-order pages for expand all, and locates paths and tensor owners', async () => {
    const tensors = [];
    for (let i = 0; i < 40; i++) tensors.push({ name: `a.${i}.x.w`, shape: [i + 1] }, { name: `a.${i}.y.w`, shape: [2] });
    const l = await synthetic(tensors, 0, false);
    const { tree, state, index } = l;
    state.expandAll();
    state.rebuild();
    for (let from = 0; from < tree.moduleCount; from += 50) await tree.loadRange(from, 50);
    assert.strictEqual(tree.size, index.size);
    state.rebuild();
    assert.strictEqual(state.rows.length, state.allRows);
    assert.ok(!state.rows.some((r) => r.kind === 'pending'));
    const l2 = await synthetic(tensors, 0, false);
    const [byPath, byTensor, none] = await l2.tree.locate({ paths: ['a.17.y'], tensors: ['a.30.x.w', 'nope'] });
    assert.strictEqual(l2.tree.node(byPath)!.path, 'a.17.y');
    assert.strictEqual(l2.tree.node(byTensor)!.path, 'a.30.x');
    assert.strictEqual(none, -1);
    assert.ok(l2.tree.node(l2.tree.byPath.get('a.30')!), 'ancestors come along');
  });
});

describe('the lazy tree: prefetching what a click would open', () => {
  it('asks for the items of the collapsed rows on screen in one request, skipping big ones', async () => {
    const tensors = [];
    for (let i = 0; i < 5; i++) for (const m of ['a', 'b', 'c']) tensors.push({ name: `small${i}.${m}.w`, shape: [100 + i] });
    for (let i = 0; i < 150; i++) tensors.push({ name: `big.t${i}.w`, shape: [1] });
    const l = await synthetic(tensors, 1, false);
    const { tree, index } = l;
    const ids = ['small0', 'small1', 'small2', 'big'].map((p) => tree.byPath.get(p)!);
    assert.ok(ids.every((id) => id !== undefined && tree.children(id) === undefined), 'not loaded yet');
    await tree.prefetchItems(ids);
    assert.strictEqual(l.asked.length, 1, 'one request');
    assert.deepStrictEqual(l.asked[0], { kind: 'items', ids });
    for (const id of ids.slice(0, 3)) assert.strictEqual(tree.children(id)?.length, 3);
    assert.strictEqual(tree.children(ids[3]), undefined, 'a node with 150 children loads when opened');
    await tree.prefetchItems(ids);
    assert.strictEqual(l.asked.length, 1, 'not asked again');
    assert.ok(index.size > tree.size);
  });
});

describe('tree state without a loaded tree', () => {
  it('a state over the first view alone builds rows', async () => {
    const l = await loadFixture('gpt2-untied', 2, false);
    const s = new TreeState(l.tree);
    s.expandIds(l.head.view.expanded);
    assert.ok(s.rebuild().length > 3);
  });
});
