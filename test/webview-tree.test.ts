import * as assert from 'assert';
import { compileFilter, foldContext, foldLabel, rowLabel, selectionTarget } from '../webview/src/data/tree';
import { keys, loadFixture, synthetic } from './webview-helpers';

describe('webview module tree', () => {
  it('shows the root and two levels by default, with repeated blocks folded', async () => {
    const { tree, state } = await loadFixture('gpt2-tied');
    assert.strictEqual(tree.root.path, '');
    assert.deepStrictEqual(keys(state), ['(root)', 'transformer', 'transformer.wte', 'transformer.wpe', 'transformer.h', 'transformer.ln_f', 'lm_head']);
    const h = state.rows[state.rowByKey.get('transformer.h')!];
    assert.ok(h.kind === 'module' && h.hasChildren && !h.expanded);
    assert.strictEqual(h.level, 3);
    state.toggle(h);
    state.rebuild();
    const fold = state.rows[state.rowByKey.get('transformer.h')! + 1];
    assert.strictEqual(fold.kind, 'fold');
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
    const wte = tree.nodes[tree.byPath.get('transformer.wte')!];
    assert.strictEqual(wte.m.type, 'Embedding');
    assert.match(wte.m.shapes ?? '', /^weight \[\d+, \d+\]$/);
  });

  it('filters by substring or regular expression and reports bad expressions', async () => {
    const { state, tree } = await loadFixture('gpt2-tied');
    state.setFilter({ text: 'c_proj', regex: false });
    state.rebuild();
    const k = keys(state);
    assert.ok(k.includes('transformer.h.0.attn.c_proj') && k.includes('transformer.h.1.mlp.c_proj'), k.join(' '));
    assert.ok(!k.includes('lm_head'));
    assert.ok(!k.includes('transformer.wte'));
    assert.strictEqual(state.matchCount, 2 * tree.nodes[tree.byPath.get('transformer.h')!].children.length);
    state.setFilter({ text: '^transformer\\.h\\.1\\.mlp$', regex: true });
    state.rebuild();
    assert.strictEqual(state.matchCount, 1);
    assert.ok(keys(state).includes('transformer.h.1.mlp'));
    assert.ok(!keys(state).includes('transformer.h.0'), 'the other block is filtered out');
    state.setFilter({ text: '(', regex: true });
    assert.ok(state.filterError);
    assert.ok(!state.filtering);
    assert.deepStrictEqual(compileFilter({ text: '  ', regex: true }), null);
    // Type names match too.
    state.setFilter({ text: 'LayerNorm', regex: false });
    state.rebuild();
    assert.ok(keys(state).includes('transformer.ln_f'));
  });

  it('lets the user collapse a node the filter opened', async () => {
    const { state, tree } = await loadFixture('gpt2-tied');
    state.setFilter({ text: 'c_fc', regex: false });
    state.rebuild();
    const t = state.rows[state.rowByKey.get('transformer')!];
    assert.ok(t.expanded);
    state.toggle(t);
    state.rebuild();
    assert.ok(!state.rows[state.rowByKey.get('transformer')!].expanded);
    assert.ok(!keys(state).includes('transformer.h'));
    void tree;
  });

  it('sorts children by size, keeping folded runs together', () => {
    const { state } = synthetic(
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
    state.expandAll();
    state.rebuild();
    assert.strictEqual(state.rows.filter((r) => r.kind === 'module').length, tree.size);
    state.collapseAll();
    state.rebuild();
    assert.deepStrictEqual(keys(state), ['(root)', 'transformer', 'lm_head']);
    state.reveal(tree.byPath.get('transformer.h.1.attn.c_attn')!);
    state.rebuild();
    assert.ok(keys(state).includes('transformer.h.1.attn.c_attn'));
    state.sort = 'size';
    state.setFilter({ text: 'attn', regex: false });
    const saved = JSON.parse(JSON.stringify(state.persist()));
    const other = (await loadFixture('gpt2-tied', 0)).state;
    other.restore(saved);
    other.rebuild();
    assert.deepStrictEqual(keys(other), (state.rebuild(), keys(state)));
    assert.strictEqual(other.sort, 'size');
    // A saved state without its expansion keeps the default depth.
    const third = (await loadFixture('gpt2-tied', 2)).state;
    third.restore({ ...saved, expanded: null, filter: { text: '', regex: false } });
    third.rebuild();
    assert.ok(keys(third).includes('transformer.wte'));
  });

  it('rejects a module list whose parent comes later', () => {
    const { ModelTree } = require('../webview/src/data/tree') as typeof import('../webview/src/data/tree');
    assert.throws(() => new ModelTree([{ parent: 1, name: 'a', type: 0, params: [0, 0], bytes: 0, tensorCount: 0, own: 0 }], ['x']));
  });

  it('a folded run selects its first block, which knows its place in the run', async () => {
    const { tree, state } = await loadFixture('gpt2-tied', 3);
    const fold = state.rows.find((r) => r.kind === 'fold');
    assert.ok(fold && fold.kind === 'fold');
    const first = selectionTarget(fold);
    assert.strictEqual(tree.nodes[first].path, 'transformer.h.0');
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
