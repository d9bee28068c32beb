/**
 * Scale: the webview's data layer on a 100,000-tensor checkpoint gives the right rows, links and
 * highlights when expanding, unfolding 8,000 blocks, hovering, filtering and sorting. How fast
 * it does so is measured by `npm run bench` (scripts/bench/webview.mjs), not asserted here.
 */
import * as assert from 'assert';
import { analyze } from '../src/core/analyze';
import { buildPayload } from '../src/worker/payload';
import { computeLinks, highlightRows, indexSharing, rowPeers } from '../webview/src/data/shared';
import { ModelTree, TreeState } from '../webview/src/data/tree';
import { rawFrom } from './webview-helpers';

function once(fn: () => void): void {
  fn();
}

describe('webview at scale (100,000 tensors)', function () {
  this.timeout(120000);
  let tree: ModelTree;
  let payloadBytes = 0;
  let groups: ReturnType<typeof buildPayload>['groups'];

  before(() => {
    const tensors: { name: string; shape: number[]; storage?: string }[] = [{ name: 'model.embed.weight', shape: [64, 8], storage: 'emb' }];
    for (let i = 0; tensors.length < 100000 - 1; i++) {
      const p = `model.layers.${i}.`;
      for (const m of ['q', 'k', 'v', 'o']) tensors.push({ name: `${p}attn.${m}.weight`, shape: [8, 8] }, { name: `${p}attn.${m}.bias`, shape: [8] });
      tensors.push({ name: `${p}norm.weight`, shape: [8] }, { name: `${p}mlp.up.weight`, shape: [8, 16] }, { name: `${p}mlp.down.weight`, shape: [16, 8] }, { name: `${p}mlp.gate.weight`, shape: [8, 16] });
    }
    tensors.length = 99999;
    tensors.push({ name: 'lm_head.weight', shape: [64, 8], storage: 'emb' });
    const payload = buildPayload(analyze(rawFrom(tensors)));
    payloadBytes = JSON.stringify(payload).length;
    groups = payload.groups;
    tree = new ModelTree(payload.modules, payload.strings);
  });

  it('sends a compact tree (no tensor data)', () => {
    assert.ok(payloadBytes < 200 * tree.size, `${payloadBytes} bytes for ${tree.size} modules`);
  });

  it('expands, unfolds and hovers: rows, links and highlights stay right', () => {
    const state = new TreeState(tree);
    state.expandToDepth(2);
    state.rebuild();
    const sharing = indexSharing(tree, groups);
    const layers = tree.byPath.get('model.layers')!;
    once(() => {
      state.setExpanded(layers, false);
      state.rebuild();
      state.setExpanded(layers, true);
      state.rebuild();
      computeLinks(state, sharing);
    });
    const fold = state.rows.find((r) => r.kind === 'fold')!;
    assert.ok(fold && fold.kind === 'fold' && fold.run.count > 8000, 'the blocks are folded');
    once(() => {
      state.setFoldOpen(fold.key, true);
      state.rebuild();
      computeLinks(state, sharing);
      state.setFoldOpen(fold.key, false);
      state.rebuild();
    });
    state.setFoldOpen(fold.key, true);
    state.rebuild();
    const lm = state.rows[state.rowByKey.get('lm_head')!];
    once(() => {
      const peers = rowPeers(tree, sharing, lm);
      const lit = highlightRows(state, peers, state.rowByKey.get('lm_head')!);
      assert.strictEqual(state.rows[lit[0]].key, 'model.embed');
    });
  });

  it('filters with a regular expression, sorts and expands everything', () => {
    const state = new TreeState(tree);
    once(() => {
      state.setFilter({ text: 'layers\\.7\\d{3}\\.mlp$', regex: true });
      state.rebuild();
    });
    assert.strictEqual(state.matchCount, 1000);
    state.setFilter({ text: '', regex: false });
    state.sort = 'size';
    once(() => {
      state.expandAll();
      state.rebuild();
    });
    assert.strictEqual(state.rows.filter((r) => r.kind === 'module').length, tree.size);
  });
});
