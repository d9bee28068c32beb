/**
 * Multi-token prediction (MTP) layers that checkpoints store beside the model.
 *
 * DeepSeek-V3, R1, V3.1 and V3.2 and the GLM-4.5 family store, after the decoder's
 * `num_hidden_layers` layers, `num_nextn_predict_layers` more under the same list
 * (`model.layers.61` of DeepSeek-V3, `model.layers.92` of GLM-4.5, `46` of GLM-4.5-Air): the
 * module that predicts a further token, for speculative decoding. Transformers' model classes
 * build `num_hidden_layers` layers and skip those tensors when loading
 * (`_keys_to_ignore_on_load_unexpected = [r"model\.layers\.61.*"]` in DeepseekV3Model, the same
 * for 92 and 46 in Glm4MoeModel). Qwen3-Next and Qwen3.5 keep theirs in a module `mtp` at the root
 * (`mtp_num_hidden_layers`), which their classes skip the same way (`[r"^mtp.*"]`). The
 * checkpoint's count includes them (DeepSeek's "685B", its model card's "671B main model weights
 * + 14B MTP module weights"); the model's does not.
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

/** What findMtpLayers found: the layers, their nodes, and what each node's evidence says. */
interface Found {
  info: MtpLayers;
  nodes: ModuleNode[];
  why: string;
}

/**
 * The MTP layers of `cp`, in either layout config.json describes:
 * - `num_nextn_predict_layers` ≥ 1 (DeepSeek-V3, GLM-4.5): the decoder's layer list
 *   (`model.layers`, or `layers` at the root) holds exactly num_hidden_layers +
 *   num_nextn_predict_layers children numbered from 0, the last ones being the MTP layers;
 * - `mtp_num_hidden_layers` ≥ 1, at the top or in `text_config` (Qwen3-Next, Qwen3.5): a module
 *   `mtp` at the root (`mtp.layers.0`, `mtp.fc`...), which their model classes skip (`^mtp.*`).
 * Anything else (layers missing, more than that, no such module) is not taken as this layout.
 */
export function findMtpLayers(cp: Pick<Checkpoint, 'config' | 'modules' | 'parameters'>): Found | undefined {
  const config = cp.config;
  if (!config) return undefined;
  let found: Omit<Found, 'info'> & { source: string } | undefined;
  const k = positiveInteger(config.num_nextn_predict_layers);
  const n = positiveInteger(config.num_hidden_layers);
  if (k !== undefined && n !== undefined && k <= MAX_MTP_LAYERS) {
    const list = childAt(cp.modules, ['model', 'layers']) ?? childAt(cp.modules, ['layers']);
    if (list && list.children.length === n + k && everyNumbered(list, n + k)) {
      found = {
        nodes: list.children.filter((c) => Number(c.name) >= n).sort((a, b) => Number(a.name) - Number(b.name)),
        source: `config.json num_hidden_layers ${n}, num_nextn_predict_layers ${k}`,
        why: `transformers builds ${n} layers and skips this one's tensors when loading`,
      };
    }
  }
  const text = config.text_config;
  const m = positiveInteger(config.mtp_num_hidden_layers) ?? (text && typeof text === 'object' ? positiveInteger((text as Record<string, unknown>).mtp_num_hidden_layers) : undefined);
  const root = m !== undefined && m <= MAX_MTP_LAYERS ? cp.modules.children.find((c) => c.name === 'mtp') : undefined;
  if (!found && root) {
    found = {
      nodes: [root],
      source: `config.json mtp_num_hidden_layers ${m}`,
      why: "transformers' model classes skip its tensors (mtp.*) when loading",
    };
  }
  if (!found) return undefined;
  let unique = 0;
  let shared = false;
  for (const node of found.nodes) {
    unique += node.parameters.unique;
    if (node.sharedWith.length > 0 || node.sharedWithMore) shared = true;
  }
  const info: MtpLayers = {
    modules: found.nodes.map((node) => node.path),
    unique,
    // Without the layers: exact when none of their tensors shares storage with the rest of the
    // model (a safetensors file cannot share); otherwise the figure is not given.
    ...(shared ? {} : { withoutMtp: cp.parameters.unique - unique }),
    source: found.source,
  };
  return { info, nodes: found.nodes, why: found.why };
}

/** Whether `list`'s children are named 0 to count - 1. */
function everyNumbered(list: ModuleNode, count: number): boolean {
  const numbered = new Set(list.children.map((c) => c.name));
  for (let i = 0; i < count; i++) if (!numbered.has(String(i))) return false;
  return true;
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
    m.evidence = `the multi-token prediction layer (${found.info.source}): ${found.why}${m.evidence ? `; ${m.evidence}` : ''}`;
  }
}
