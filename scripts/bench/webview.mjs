// The editor's data path on a synthetic 100,000-tensor checkpoint: payload size and build,
// webview tree build, and expand / unfold / hover / filter timings (best of a few runs).
import { requireOut } from '../bench-lib.mjs';

const { analyze } = requireOut('src/core/analyze.js');
const { buildPayload } = requireOut('src/worker/payload.js');
const { ModelTree, TreeState } = requireOut('webview/src/data/tree.js');
const { indexSharing, rowPeers, highlightRows, computeLinks } = requireOut('webview/src/data/shared.js');
const { rawFrom } = requireOut('test/webview-helpers.js');

const ms = (t) => `${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms`;
function best(n, fn) {
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    fn();
    min = Math.min(min, Number(process.hrtime.bigint() - t) / 1e6);
  }
  return `${min.toFixed(2)} ms`;
}

export default async function (report) {
  const tensors = [{ name: 'model.embed.weight', shape: [64, 8], storage: 'emb' }];
  for (let i = 0; tensors.length < 99999; i++) {
    const p = `model.layers.${i}.`;
    for (const m of ['q', 'k', 'v', 'o']) tensors.push({ name: `${p}attn.${m}.weight`, shape: [8, 8] }, { name: `${p}attn.${m}.bias`, shape: [8] });
    tensors.push({ name: `${p}norm.weight`, shape: [8] }, { name: `${p}mlp.up.weight`, shape: [8, 16] }, { name: `${p}mlp.down.weight`, shape: [16, 8] }, { name: `${p}mlp.gate.weight`, shape: [8, 16] });
  }
  tensors.length = 99999;
  tensors.push({ name: 'lm_head.weight', shape: [64, 8], storage: 'emb' });
  const cp = analyze(rawFrom(tensors));
  let t = process.hrtime.bigint();
  const payload = buildPayload(cp);
  report('webview payload: build (100k tensors)', ms(t));
  report('webview payload: JSON size', `${(JSON.stringify(payload).length / 1e6).toFixed(1)} MB for ${payload.modules.length} modules`);
  t = process.hrtime.bigint();
  const tree = new ModelTree(payload.modules, payload.strings);
  const state = new TreeState(tree);
  state.expandToDepth(2);
  state.rebuild();
  const sharing = indexSharing(tree, payload.groups);
  report('webview: tree + first rows', ms(t));
  state.setExpanded(tree.byPath.get('model.layers'), true);
  state.rebuild();
  const fold = state.rows.find((r) => r.kind === 'fold');
  report('webview: unfold 8,334 blocks (best of 3)', best(3, () => { state.setFoldOpen(fold.key, true); state.rebuild(); computeLinks(state, sharing); state.setFoldOpen(fold.key, false); state.rebuild(); }));
  state.setFoldOpen(fold.key, true);
  state.rebuild();
  const lm = state.rows[state.rowByKey.get('lm_head')];
  report('webview: hover lm_head -> rows to light (best of 5)', best(5, () => highlightRows(state, rowPeers(tree, sharing, lm), -1)));
  report('webview: regex filter (best of 3)', best(3, () => { state.setFilter({ text: 'layers\\.7\\d{3}\\.mlp$', regex: true }); state.rebuild(); }));
  state.setFilter({ text: '', regex: false });
  report('webview: expand all (best of 2)', best(2, () => { state.expandAll(); state.rebuild(); }));
}
