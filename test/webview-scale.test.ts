/**
 * Scale: the lazy editor on a 100,000-tensor checkpoint. What reaches the webview before the
 * first paint is bounded (the head: summary and first view), and expanding, unfolding 8,000
 * blocks, hovering, filtering and expanding all give the right rows, links and highlights over a
 * tree that arrives in pages. How fast is measured by `npm run bench`, not asserted here.
 */
import * as assert from 'assert';
import { analyze } from '../src/core/analyze';
import { Checkpoint } from '../src/core/model';
import { buildSummary } from '../src/worker/payload';
import { TreeIndex } from '../src/worker/treeIndex';
import { computeLinks, highlightRows, rowPeers } from '../webview/src/data/shared';
import { applyFilter, fromCheckpoint, hundredThousand, keys, rawFrom } from './webview-helpers';

describe('webview at scale (100,000 tensors)', function () {
  this.timeout(180000);
  let cp: Checkpoint;

  before(() => {
    cp = analyze(rawFrom(hundredThousand()));
  });

  it('sends the summary and the first view only: under 200 KB, nothing proportional to the tensors', () => {
    const index = new TreeIndex(cp);
    const head = index.head(buildSummary(cp), 2);
    const bytes = JSON.stringify(head).length;
    assert.ok(bytes < 200 * 1024, `the head is ${bytes} bytes`);
    assert.ok(head.view.nodes.length < 50, `${head.view.nodes.length} nodes in the first view, of ${index.size}`);
    assert.ok(index.size > 90000, `${index.size} modules in the tree`);
    assert.strictEqual(head.summary.tensorCount, 100000);
    // The first view shows the structure: the layers' run of identical blocks.
    const layers = head.view.nodes.find((n) => n.name === 'layers')!;
    assert.ok(head.view.expanded.includes(layers.id));
    assert.ok(layers.folds && layers.folds[0].count > 8000);
  });

  it('expands, unfolds 8,000 blocks page by page, and hovers: rows, links and highlights stay right', async () => {
    const l = await fromCheckpoint(cp, 2, false);
    const { tree, state, groups } = l;
    assert.deepStrictEqual(keys(state).slice(0, 4), ['(root)', 'model', 'model.embed', 'model.layers']);
    const fold = state.rows.find((r) => r.kind === 'fold')!;
    assert.ok(fold && fold.kind === 'fold' && fold.run.count > 8000, 'the blocks are folded');
    state.setFoldOpen(fold.key, true);
    state.rebuild();
    const pending = state.rows.filter((r) => r.kind === 'pending');
    assert.strictEqual(pending.length, fold.run.count - 1, 'every block but the first is a placeholder');
    // Rows scrolled into view are asked for, a page at a time.
    const window = pending.slice(4000, 4040).map((r) => (r.kind === 'pending' ? r.index : -1));
    await tree.ensureChildren(fold.parent, window, false);
    state.rebuild();
    assert.ok(keys(state).includes(`model.layers.${window[0]}`));
    assert.ok(l.asked.length <= 2, `${l.asked.length} requests for 40 rows`);
    // Hovering lm_head lights the embedding (the group and its owners come on demand).
    const lm = state.rows[state.rowByKey.get('lm_head')!];
    const peers = rowPeers(tree, lm);
    assert.deepStrictEqual(peers.map((p) => p.other), ['model.embed.weight']);
    await groups.ensure(peers.map((p) => p.group));
    state.rebuild();
    const lit = highlightRows(state, peers, state.rowByKey.get('lm_head')!);
    assert.strictEqual(state.rows[lit[0]].key, 'model.embed');
    assert.strictEqual(computeLinks(state, groups.known()).links.length, 1);
  });

  it('filters with a regular expression in the worker, sorts, and expands everything in pages', async () => {
    const l = await fromCheckpoint(cp, 2, false);
    const { tree, state } = l;
    const r = applyFilter(l, { text: 'layers\\.7\\d{3}\\.mlp$', regex: true });
    assert.strictEqual(r.count, 1000);
    assert.strictEqual(state.matchCount, 1000);
    assert.strictEqual(state.rows.filter((x) => x.match).length, 1000);
    applyFilter(l, { text: '', regex: false });
    state.sort = 'size';
    state.expandAll();
    for (let from = 0; from < tree.moduleCount; from += 2000) await tree.loadRange(from, 2000);
    state.rebuild();
    assert.strictEqual(state.rows.filter((x) => x.kind === 'module').length, tree.moduleCount);
    assert.strictEqual(state.rows.length, state.allRows);
  });
});
