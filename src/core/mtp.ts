/**
 * Multi-token prediction (MTP) layers that checkpoints store beside the model.
 *
 * DeepSeek-V3, R1, V3.1 and V3.2 and the GLM-4.5 family store, after the decoder's
 * `num_hidden_layers` layers, `num_nextn_predict_layers` more under the same list
 * (`model.layers.61` of DeepSeek-V3, `model.layers.92` of GLM-4.5, `46` of GLM-4.5-Air): the
 * module that predicts a further token, for speculative decoding. Transformers' model classes
 * build `num_hidden_layers` layers and skip those tensors when loading
 * (`_keys_to_ignore_on_load_unexpected = [r"model\.layers\.61.*"]` in DeepseekV3Model, the same
 * for 92 and 46 in Glm4MoeModel). The checkpoint's count includes them (DeepSeek's "685B", its
 * model card's "671B main model weights + 14B MTP module weights"); the model's does not.
 *
 * The checkpoint's count stays what it holds; `parameters.mtp` says which layers these are, how
 * many parameters they hold and the count without them, and each layer's module node says why.
 */
import { Checkpoint, ModuleNode, MtpLayers } from './model';

/** More than this many prediction layers is not a config anyone ships: the config is not read as one. */
const MAX_MTP_LAYERS = 16;

function positiveInteger(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/**
 * The MTP layers of `cp`, when config.json says there are some (`num_nextn_predict_layers` ≥ 1)
 * and the decoder's layer list holds exactly them after its `num_hidden_layers` layers: children
 * numbered 0 to num_hidden_layers + num_nextn_predict_layers - 1 of `model.layers`, or of
 * `layers` at the root. Anything else (layers missing, more than that) is not taken as this layout.
 */
export function findMtpLayers(cp: Pick<Checkpoint, 'config' | 'modules' | 'parameters'>): { info: MtpLayers; nodes: ModuleNode[]; decoderLayers: number } | undefined {
  const k = positiveInteger(cp.config?.num_nextn_predict_layers);
  const n = positiveInteger(cp.config?.num_hidden_layers);
  if (k === undefined || n === undefined || k > MAX_MTP_LAYERS) return undefined;
  const list = childAt(cp.modules, ['model', 'layers']) ?? childAt(cp.modules, ['layers']);
  if (!list || list.children.length !== n + k) return undefined;
  const numbered = new Set(list.children.map((c) => c.name));
  for (let i = 0; i < n + k; i++) if (!numbered.has(String(i))) return undefined;
  const nodes = list.children.filter((c) => Number(c.name) >= n).sort((a, b) => Number(a.name) - Number(b.name));
  let unique = 0;
  let shared = false;
  for (const m of nodes) {
    unique += m.parameters.unique;
    if (m.sharedWith.length > 0 || m.sharedWithMore) shared = true;
  }
  const info: MtpLayers = {
    modules: nodes.map((m) => m.path),
    unique,
    // Without the layers: exact when none of their tensors shares storage with the rest of the
    // model (a safetensors file cannot share); otherwise the figure is not given.
    ...(shared ? {} : { withoutMtp: cp.parameters.unique - unique }),
    source: `config.json num_hidden_layers ${n}, num_nextn_predict_layers ${k}`,
  };
  return { info, nodes, decoderLayers: n };
}

function childAt(root: ModuleNode, path: string[]): ModuleNode | undefined {
  let m: ModuleNode | undefined = root;
  for (const name of path) m = m?.children.find((c) => c.name === name);
  return m;
}

/** Note the MTP layers on `cp`: `parameters.mtp`, and each layer's node says what it is. */
export function noteMtpLayers(cp: Checkpoint): void {
  const found = findMtpLayers(cp);
  if (!found) return;
  // A copy: the root module's counts are the same object and must not carry `mtp`.
  cp.parameters = { ...cp.parameters, mtp: found.info };
  for (const m of found.nodes) {
    m.evidence = `the multi-token prediction layer (${found.info.source}): transformers builds ${found.decoderLayers} layers and skips this one's tensors when loading${m.evidence ? `; ${m.evidence}` : ''}`;
  }
}
