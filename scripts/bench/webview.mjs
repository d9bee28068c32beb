// The lazy editor's data path on a synthetic 100,000-tensor checkpoint (no browser): the worker's
// module index and head, what crosses to the webview before the first paint, and the webview's
// rows over the tree as it arrives: expand, unfold 8,333 blocks, hover, filter, expand all
// (best of a few runs). The editor in a real VS Code: scripts/bench/editor.mjs.
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import { repo, requireOut, deepseekIndex } from '../bench-lib.mjs';
const { loadCheckpoint } = requireOut('src/extension/loader.js');
const { analyze } = requireOut('src/core/analyze.js');
const { buildSummary } = requireOut('src/worker/payload.js');
const { TreeIndex } = requireOut('src/worker/treeIndex.js');
const { LazyTree } = requireOut('webview/src/data/lazyTree.js');
const { TreeState } = requireOut('webview/src/data/tree.js');
const { GroupStore, rowPeers, highlightRows, computeLinks } = requireOut('webview/src/data/shared.js');
const { rawFrom, hundredThousand } = requireOut('test/webview-helpers.js');

const ms = (t) => `${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms`;
async function best(n, fn) {
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn();
    min = Math.min(min, Number(process.hrtime.bigint() - t) / 1e6);
  }
  return `${min.toFixed(2)} ms`;
}

export default async function (report) {
  // The host's side of opening the 163-shard DeepSeek-V3 layout in a worker, as the extension
  // does it (no VS Code): the event loop of this thread while the worker reads and analyses.
  const index = deepseekIndex();
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const t0 = process.hrtime.bigint();
  const r = await loadCheckpoint(index, { workerPath: path.join(repo, 'out', 'src', 'worker', 'main.js') });
  const opened = ms(t0);
  h.disable();
  report('host: open DeepSeek-V3 layout (163 shards) in a worker', `${opened}; head ${(JSON.stringify(r.head).length / 1024).toFixed(1)} KB`);
  report('host: longest event-loop stall meanwhile (p99)', `${(h.max / 1e6).toFixed(1)} ms (${(h.percentile(99) / 1e6).toFixed(1)} ms)`);
  r.backend.dispose();

  const cp = analyze(rawFrom(hundredThousand()));
  let t = process.hrtime.bigint();
  const tree100k = new TreeIndex(cp);
  report('worker: module index (100k tensors)', `${ms(t)} for ${tree100k.size} modules`);
  t = process.hrtime.bigint();
  const head = tree100k.head(buildSummary(cp), 2);
  report('worker: head (summary + first view)', ms(t));
  report('webview: bytes before the first paint', `${(JSON.stringify(head).length / 1024).toFixed(1)} KB (${head.view.nodes.length} nodes)`);
  // The webview side, fed by the index through structured clones as through postMessage.
  const fetchNodes = async (q) => structuredClone(tree100k.nodes(q));
  const tree = new LazyTree(fetchNodes, structuredClone(head));
  const groups = new GroupStore(tree, async (ids) => structuredClone(tree100k.groups(ids)), head.groupCount);
  groups.add(head.topGroups);
  const state = new TreeState(tree);
  state.expandIds(head.view.expanded);
  t = process.hrtime.bigint();
  state.rebuild();
  report('webview: first rows', ms(t));
  const fold = state.rows.find((r) => r.kind === 'fold');
  report(`webview: unfold ${fold.run.count} blocks (rows, best of 3)`, await best(3, () => {
    state.setFoldOpen(fold.key, true);
    state.rebuild();
    state.setFoldOpen(fold.key, false);
    state.rebuild();
  }));
  state.setFoldOpen(fold.key, true);
  state.rebuild();
  report('webview: load 40 blocks scrolled into view (best of 3)', await best(3, async () => {
    const pending = state.rows.filter((r) => r.kind === 'pending').slice(0, 40).map((r) => r.index);
    await tree.ensureChildren(fold.parent, pending, false);
    state.rebuild();
  }));
  const lm = state.rows[state.rowByKey.get('lm_head')];
  await groups.ensure(rowPeers(tree, lm).map((p) => p.group));
  state.rebuild();
  report('webview: hover lm_head -> rows to light (best of 5)', await best(5, () => highlightRows(state, rowPeers(tree, lm), -1)));
  report('webview: links (best of 5)', await best(5, () => computeLinks(state, groups.known())));
  report('worker: regex search over every module (best of 3)', await best(3, () => tree100k.search({ text: 'layers\\.7\\d{3}\\.mlp$', regex: true, limit: 2000 })));
  t = process.hrtime.bigint();
  state.expandAll();
  for (let from = 0; from < tree.moduleCount; from += 2000) await tree.loadRange(from, 2000);
  state.rebuild();
  report('webview: expand all (load in pages + rows)', `${ms(t)} for ${state.rows.length} rows`);
}
