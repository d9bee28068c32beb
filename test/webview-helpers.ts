/**
 * Builds webview data (LazyTree, TreeState, GroupStore) from fixtures or synthetic trees, served
 * by the worker's own TreeIndex through plain async calls (no RPC), as the editor gets them.
 */
import { analyze } from '../src/core/analyze';
import { openCheckpoint } from '../src/core/index';
import { Checkpoint, RawCheckpoint, TensorRecord } from '../src/core/model';
import type { ModelHead, NodePage, NodeQuery, SearchResult } from '../src/shared/protocol';
import { buildSummary } from '../src/worker/payload';
import { TreeIndex } from '../src/worker/treeIndex';
import { LazyTree } from '../webview/src/data/lazyTree';
import { GroupStore } from '../webview/src/data/shared';
import { Filter, TreeState } from '../webview/src/data/tree';
import { fixture } from './helpers';

export interface Loaded {
  cp: Checkpoint;
  index: TreeIndex;
  head: ModelHead;
  tree: LazyTree;
  state: TreeState;
  groups: GroupStore;
  /** Node queries the tree made. */
  asked: NodeQuery[];
}

/**
 * The head for `depth` and a tree over it; with `full`, every node loaded up front (tests of the
 * row logic), else only the first view (tests of the lazy path).
 */
export async function fromCheckpoint(cp: Checkpoint, depth = 2, full = true): Promise<Loaded> {
  const index = new TreeIndex(cp);
  const head = index.head(buildSummary(cp), depth);
  const asked: NodeQuery[] = [];
  const tree = new LazyTree(async (q): Promise<NodePage> => {
    asked.push(q);
    return JSON.parse(JSON.stringify(index.nodes(q)));
  }, JSON.parse(JSON.stringify(head)));
  if (full) for (let from = 0; from < index.size; from += 2000) await tree.loadRange(from, 2000);
  asked.length = 0;
  const groups = new GroupStore(tree, async (ids) => JSON.parse(JSON.stringify(index.groups(ids))), head.groupCount);
  groups.add(head.topGroups);
  if (full) await groups.ensure(cp.shared.map((_, i) => i));
  const state = new TreeState(tree);
  state.expandIds(head.view.expanded);
  state.rebuild();
  return { cp, index, head, tree, state, groups, asked };
}

export async function loadFixture(name: string, depth = 2, full = true): Promise<Loaded> {
  return fromCheckpoint(await openCheckpoint(fixture('safetensors', name, 'model.safetensors')), depth, full);
}

/** Apply a filter the way the editor does: the worker searches, the tree takes the nodes. */
export function applyFilter(l: Pick<Loaded, 'index' | 'tree' | 'state'>, f: Filter, limit = 2000): SearchResult {
  const r = l.index.search({ text: f.text, regex: f.regex, limit });
  l.tree.add(r.nodes);
  l.state.setFilterResult(f, r);
  l.state.rebuild();
  return r;
}

/** A raw checkpoint from tensor names and shapes (float32, one storage each unless given). */
export function rawFrom(tensors: { name: string; shape: number[]; storage?: string; offset?: number }[]): RawCheckpoint {
  let off = 0;
  // Tensors on one storage have its data offset (model.ts): that of the first one.
  const storageAt = new Map<string, number>();
  const records: TensorRecord[] = tensors.map((t) => {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const storage = t.storage ?? `model.safetensors:${t.name}`;
    if (!storageAt.has(storage)) storageAt.set(storage, off);
    const r: TensorRecord = {
      name: t.name,
      dtype: 'float32',
      shape: t.shape,
      nbytes: numel * 4,
      file: 'model.safetensors',
      dataOffset: storageAt.get(storage)!,
      storage,
      storageOffset: t.offset ?? 0,
      strides: null,
    };
    off += numel * 4;
    return r;
  });
  return { format: 'safetensors', path: '/x/model.safetensors', files: ['model.safetensors'], tensors: records, declaredTies: [], metadata: {}, warnings: [], bytesRead: 0, totalBytes: off };
}

export function synthetic(tensors: { name: string; shape: number[]; storage?: string; offset?: number }[], depth = 2, full = true): Promise<Loaded> {
  return fromCheckpoint(analyze(rawFrom(tensors)), depth, full);
}

/** Visible row keys (module paths as the DOM shows them, folds by key). */
export function keys(state: TreeState): string[] {
  return state.rows.map((r) => r.key);
}

/** The 100,000-tensor synthetic model of the scale tests and the bench (a tied embedding). */
export function hundredThousand(): { name: string; shape: number[]; storage?: string }[] {
  const tensors: { name: string; shape: number[]; storage?: string }[] = [{ name: 'model.embed.weight', shape: [64, 8], storage: 'emb' }];
  for (let i = 0; tensors.length < 100000 - 1; i++) {
    const p = `model.layers.${i}.`;
    for (const m of ['q', 'k', 'v', 'o']) tensors.push({ name: `${p}attn.${m}.weight`, shape: [8, 8] }, { name: `${p}attn.${m}.bias`, shape: [8] });
    tensors.push({ name: `${p}norm.weight`, shape: [8] }, { name: `${p}mlp.up.weight`, shape: [8, 16] }, { name: `${p}mlp.down.weight`, shape: [16, 8] }, { name: `${p}mlp.gate.weight`, shape: [8, 16] });
  }
  tensors.length = 99999;
  tensors.push({ name: 'lm_head.weight', shape: [64, 8], storage: 'emb' });
  return tensors;
}
