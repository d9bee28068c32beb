import * as assert from 'assert';
import { computeLinks, endRow, filteredOut, highlightRows, linksInWindow, modulePeers, rowPeers, tensorPeers } from '../webview/src/data/shared';
import { applyFilter, loadFixture, synthetic } from './webview-helpers';

describe('webview shared storage', () => {
  it('hovering lm_head lights transformer.wte (tied GPT-2)', async () => {
    const { tree, state, groups } = await loadFixture('gpt2-tied');
    const lm = tree.byPath.get('lm_head')!;
    const peers = modulePeers(tree, lm);
    assert.deepStrictEqual(
      peers.map((p) => [p.tensor, p.other]),
      [['lm_head.weight', 'transformer.wte.weight']],
    );
    const rows = highlightRows(state, peers, state.rowOf.get(lm)!);
    assert.deepStrictEqual(rows.map((r) => state.rows[r].key), ['transformer.wte']);
    // From the other side too, and from a tensor.
    const wtePeers = rowPeers(tree, state.rows[state.rowByKey.get('transformer.wte')!]);
    assert.deepStrictEqual(highlightRows(state, wtePeers, -1).map((r) => state.rows[r].key), ['lm_head']);
    const g = tree.node(lm)!.m.shared![0].group;
    assert.deepStrictEqual(tensorPeers(groups, 'lm_head.weight', g).map((p) => p.other), ['transformer.wte.weight']);
    assert.deepStrictEqual(tensorPeers(groups, 'transformer.wpe.weight', -1), []);
  });

  it('draws one link per storage group between the rows that show its members', async () => {
    const { state, groups, tree } = await loadFixture('gpt2-tied');
    const { links, lanes } = computeLinks(state, groups.known());
    assert.strictEqual(links.length, 1);
    assert.strictEqual(lanes, 1);
    assert.deepStrictEqual([...links[0].names].sort(), ['lm_head.weight', 'transformer.wte.weight']);
    assert.deepStrictEqual(links[0].rows.map((r) => state.rows[r].key), ['transformer.wte', 'lm_head']);
    // Collapsing transformer moves the link end to its row; collapsing the root removes it.
    state.setExpanded(tree.byPath.get('transformer')!, false);
    state.rebuild();
    assert.deepStrictEqual(computeLinks(state, groups.known()).links[0].rows.map((r) => state.rows[r].key), ['transformer', 'lm_head']);
    state.setExpanded(0, false);
    state.rebuild();
    assert.strictEqual(computeLinks(state, groups.known()).links.length, 0);
    // Highlight falls back to the nearest shown row.
    state.setExpanded(0, true);
    state.rebuild();
    const peers = modulePeers(tree, tree.byPath.get('lm_head')!);
    assert.deepStrictEqual(highlightRows(state, peers, -1).map((r) => state.rows[r].key), ['transformer']);
  });

  it('draws no link and lights nothing without shared storage (untied GPT-2)', async () => {
    const { state, groups, tree } = await loadFixture('gpt2-untied');
    assert.strictEqual(computeLinks(state, groups.known()).links.length, 0);
    assert.deepStrictEqual(modulePeers(tree, tree.byPath.get('lm_head')!), []);
  });

  it('puts overlapping links in separate lanes and windows them', async () => {
    const { state, groups } = await synthetic(
      [
        { name: 'a.w', shape: [4], storage: 's1' },
        { name: 'b.w', shape: [4], storage: 's2' },
        { name: 'c.w', shape: [4], storage: 's1' },
        { name: 'd.w', shape: [4], storage: 's2' },
        { name: 'e.w', shape: [4], storage: 's3' },
        { name: 'f.w', shape: [4], storage: 's3' },
      ],
      1,
    );
    const { links, lanes } = computeLinks(state, groups.known());
    assert.strictEqual(links.length, 3);
    assert.strictEqual(lanes, 2);
    const byFirst = Object.fromEntries(links.map((l) => [state.rows[l.rows[0]].key, l.lane]));
    assert.notStrictEqual(byFirst.a, byFirst.b);
    assert.strictEqual(byFirst.e, 0, 'a later, disjoint link reuses the first free lane');
    assert.strictEqual(linksInWindow(links, 5, 7).length, 1);
    assert.strictEqual(linksInWindow(links, 0, 2).length, 1);
    assert.strictEqual(linksInWindow(links, 0, 3).length, 2);
  });

  it('a fold row only lights places outside the fold', async () => {
    const { state, tree } = await synthetic(
      [
        { name: 'emb.weight', shape: [8], storage: 'e' },
        { name: 'blocks.0.w', shape: [8], storage: 'e' },
        { name: 'blocks.1.w', shape: [8], storage: 'x' },
        { name: 'blocks.2.w', shape: [8], storage: 'x' },
      ],
      2,
    );
    const fold = state.rows.find((r) => r.kind === 'fold');
    assert.ok(fold && fold.kind === 'fold', 'the blocks fold');
    // blocks.1 and blocks.2 share inside the run: not "elsewhere".
    assert.deepStrictEqual(rowPeers(tree, fold).map((p) => [p.tensor, p.other]), [['blocks.0.w', 'emb.weight']]);
    assert.deepStrictEqual(highlightRows(state, rowPeers(tree, fold), state.rowByKey.get(fold.key)!).map((r) => state.rows[r].key), ['emb']);
  });

  it('links and lights tie partners the webview has not loaded yet, once their group is asked for', async () => {
    const l = await loadFixture('gpt2-tied', 2, false);
    const { tree, state, groups } = l;
    // Only the summary's groups came with the head, without their owners' nodes in general.
    const lm = tree.byPath.get('lm_head')!;
    const peers = rowPeers(tree, state.rows[state.rowByKey.get('lm_head')!]);
    await groups.ensure(peers.map((p) => p.group));
    assert.ok(groups.ready(peers[0].group));
    state.rebuild();
    assert.deepStrictEqual(computeLinks(state, groups.known()).links[0].rows.map((r) => state.rows[r].key), ['transformer.wte', 'lm_head']);
    assert.deepStrictEqual(highlightRows(state, peers, state.rowOf.get(lm)!).map((r) => state.rows[r].key), ['transformer.wte']);
  });

  it('drops a link or highlight whose other end the filter hides (never points at an ancestor)', async () => {
    const { state, groups, tree, index } = await loadFixture('gpt2-tied');
    applyFilter({ index, tree, state }, { text: 'wte', regex: false });
    const lm = tree.byPath.get('lm_head')!;
    const wteRow = state.rowByKey.get('transformer.wte')!;
    assert.ok(wteRow >= 0);
    assert.strictEqual(state.rowByKey.get('lm_head'), undefined, 'the filter hides lm_head');
    // lm_head would collapse onto the open root: no end there, no link root↔wte.
    assert.strictEqual(endRow(state, lm), -1);
    assert.ok(filteredOut(state, lm));
    assert.deepStrictEqual(computeLinks(state, groups.known()).links, []);
    const peers = rowPeers(tree, state.rows[wteRow]);
    assert.deepStrictEqual(peers.map((p) => p.other), ['lm_head.weight'], 'the tooltip still names the peer');
    assert.deepStrictEqual(highlightRows(state, peers, wteRow), [], 'hovering wte lights nothing (not the root)');
    assert.deepStrictEqual(highlightRows(state, tensorPeers(groups, 'transformer.wte.weight', peers[0].group), -1), []);
    // A filter matching both ends links them as before.
    applyFilter({ index, tree, state }, { text: 'wte|lm_head', regex: true });
    assert.deepStrictEqual(computeLinks(state, groups.known()).links[0].rows.map((r) => state.rows[r].key), ['transformer.wte', 'lm_head']);
    assert.ok(!filteredOut(state, lm));
  });

  it('keeps an end on a collapsed ancestor or a folded run (it stands for what it hides)', async () => {
    const { state, groups, tree } = await synthetic(
      [
        { name: 'emb.weight', shape: [8], storage: 'e' },
        { name: 'blocks.0.w', shape: [8], storage: 'x0' },
        { name: 'blocks.1.w', shape: [8], storage: 'e' },
        { name: 'blocks.2.w', shape: [8], storage: 'x2' },
      ],
      2,
    );
    const owner = tree.byPath.get('blocks.1')!;
    const r = endRow(state, owner);
    assert.ok(r >= 0);
    assert.ok(['fold', 'module'].includes(state.rows[r].kind));
    assert.notStrictEqual(state.rows[r].key, '(root)');
    assert.strictEqual(computeLinks(state, groups.known()).links.length, 1);
    state.setExpanded(tree.byPath.get('blocks')!, false);
    state.rebuild();
    assert.deepStrictEqual(computeLinks(state, groups.known()).links[0].rows.map((i) => state.rows[i].key), ['emb', 'blocks']);
    assert.ok(!filteredOut(state, owner));
  });
});
