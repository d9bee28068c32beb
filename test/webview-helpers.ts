/** Builds webview data (ModelTree, TreeState, sharing index) from fixtures or synthetic trees. */
import { analyze } from '../src/core/analyze';
import { openCheckpoint } from '../src/core/index';
import { Checkpoint, RawCheckpoint, TensorRecord } from '../src/core/model';
import { buildPayload } from '../src/worker/payload';
import { indexSharing, SharingIndex } from '../webview/src/data/shared';
import { ModelTree, TreeState } from '../webview/src/data/tree';
import type { ModelPayload } from '../src/shared/protocol';
import { fixture } from './helpers';

export interface Loaded {
  cp: Checkpoint;
  payload: ModelPayload;
  tree: ModelTree;
  state: TreeState;
  sharing: SharingIndex;
}

export function fromCheckpoint(cp: Checkpoint, depth = 2): Loaded {
  const payload = buildPayload(cp);
  const tree = new ModelTree(payload.modules, payload.strings);
  const state = new TreeState(tree);
  state.expandToDepth(depth);
  state.rebuild();
  return { cp, payload, tree, state, sharing: indexSharing(tree, payload.groups) };
}

export async function loadFixture(name: string, depth = 2): Promise<Loaded> {
  return fromCheckpoint(await openCheckpoint(fixture('safetensors', name, 'model.safetensors')), depth);
}

/** A raw checkpoint from tensor names and shapes (float32, one storage each unless given). */
export function rawFrom(tensors: { name: string; shape: number[]; storage?: string; offset?: number }[]): RawCheckpoint {
  let off = 0;
  const records: TensorRecord[] = tensors.map((t) => {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const r: TensorRecord = {
      name: t.name,
      dtype: 'float32',
      shape: t.shape,
      nbytes: numel * 4,
      file: 'model.safetensors',
      dataOffset: off,
      storage: t.storage ?? `model.safetensors:${t.name}`,
      storageOffset: t.offset ?? 0,
      strides: null,
    };
    off += numel * 4;
    return r;
  });
  return { format: 'safetensors', path: '/x/model.safetensors', files: ['model.safetensors'], tensors: records, declaredTies: [], metadata: {}, warnings: [], bytesRead: 0, totalBytes: off };
}

export function synthetic(tensors: { name: string; shape: number[]; storage?: string; offset?: number }[], depth = 2): Loaded {
  return fromCheckpoint(analyze(rawFrom(tensors)), depth);
}

/** Visible row keys (module paths as the DOM shows them, folds by key). */
export function keys(state: TreeState): string[] {
  return state.rows.map((r) => r.key);
}
