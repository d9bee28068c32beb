/**
 * Adapters: a PEFT folder (`adapter_config.json` + `adapter_model.safetensors` or `.bin`) and the
 * LoRA files of the diffusion tools (kohya's sd-scripts: `lora_unet_…` / `lora_te_…` modules with
 * `lora_down`, `lora_up`, `alpha`; diffusers: `….lora.down.weight` or `….lora_A.weight`).
 * Facts and sources in docs/quantization.md ("Adapters").
 *
 * - PEFT saves `get_peft_model_state_dict`: the adapter's own tensors (`lora_A.weight` [r, in],
 *   `lora_B.weight` [out, r], `lora_embedding_A` [r, num_embeddings], `lora_embedding_B`
 *   [dim, r], DoRA's `lora_magnitude_vector` [out], modules_to_save copies, biases when
 *   `bias` is not "none") under `base_model.model.<base model's names>`, the adapter name
 *   removed. Those are what print_trainable_parameters counts as trainable; we count them, and
 *   strip the prefix so the tree reads as the base model does.
 * - kohya's LoRAModule registers `alpha` as a buffer; lora_down/lora_up are its parameters.
 */
import { AdapterInfo, ModuleNode, RawCheckpoint, Tensor, Warning } from './model';

export interface AdaptedModule {
  kind: 'Linear' | 'Conv2d' | 'Embedding';
  rank?: number;
  inFeatures?: number;
  outFeatures?: number;
  dora: boolean;
}

export interface AdapterAnnotations {
  info: AdapterInfo;
  /** Name prefix stripped from every tensor (`base_model.model.`). */
  prefix?: string;
  modules: Map<string, AdaptedModule>;
}

const PEFT_PREFIX = 'base_model.model.';
const PEFT_TYPES: Record<string, string> = {
  LORA: 'LoRA', ADALORA: 'AdaLoRA', LOHA: 'LoHa', LOKR: 'LoKr', IA3: 'IA3', OFT: 'OFT', BOFT: 'BOFT',
  VERA: 'VeRA', FOURIERFT: 'FourierFT', LN_TUNING: 'LN tuning', PREFIX_TUNING: 'prefix tuning',
  PROMPT_TUNING: 'prompt tuning', P_TUNING: 'P-tuning', MULTITASK_PROMPT_TUNING: 'multitask prompt tuning',
  ADAPTION_PROMPT: 'adaption prompt', POLY: 'Poly', XLORA: 'X-LoRA', HRA: 'HRA', VBLORA: 'VB-LoRA', BONE: 'Bone',
};

/** `<module>.<part>`: the tensor names of an adapted module, and the part they are. */
const PEFT_PART = /^(.*)\.(lora_A|lora_B)\.weight$|^(.*)\.(lora_embedding_A|lora_embedding_B|lora_magnitude_vector)(\.weight)?$/;
const DIFFUSERS_PART = /^(.*)\.lora\.(down|up)\.weight$/;
/** Tensors only adapters have: PEFT's tuner prefixes and prompt-learning embeddings. */
const ADAPTER_TENSOR = /(^|\.)(lora_|hada_|lokr_|ia3_|oft_|boft_|vera_|prompt_embeddings|prefix_task_|adaption_)/;
const KOHYA_PART = /^(lora_[A-Za-z0-9]+_[^.]+)\.(lora_down\.weight|lora_up\.weight|alpha|dora_scale|hada_w[12]_[ab]|hada_t[12]|lokr_w[12](_[ab])?|lokr_t2)$/;

/**
 * The tensor's shape as the module holds it. An ONNX exporter's constant folding can store a
 * Linear's weight as weight.T ([in, out]) for a MatMul; the ONNX reader marks those
 * `extra.transposed`, and the rank is then the stored shape's last axis, not its first.
 */
function moduleShape(t: Tensor): number[] {
  return t.extra?.transposed === true && t.shape.length === 2 ? [t.shape[1], t.shape[0]] : t.shape;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

export function annotateAdapter(raw: RawCheckpoint, tensors: Tensor[], warnings: Warning[]): AdapterAnnotations | undefined {
  const cfg = obj(raw.sidecars?.['adapter_config.json']);
  // Counted, not listed: this runs on every checkpoint, 100,000 names for the largest.
  let presentCount = 0;
  let kohya = 0;
  let lora = 0;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    if (!t.present) continue;
    presentCount++;
    // Every name the three patterns match holds `lora`: the regexes run on those alone.
    if (!t.name.includes('lora')) continue;
    if (KOHYA_PART.test(t.name)) kohya++;
    if (PEFT_PART.test(t.name) || DIFFUSERS_PART.test(t.name)) lora++;
  }
  if (presentCount === 0) return undefined;
  if (!cfg && kohya > 0 && kohya * 2 >= presentCount) return annotateKohya(raw, tensors);
  if (!cfg && lora === 0) return undefined;
  // Without adapter_config.json, LoRA-named tensors make an adapter only when they are most of the file.
  if (!cfg && lora * 2 < presentCount) return undefined;
  const present = tensors.filter((t) => t.present);

  let prefix: string | undefined;
  if (present.every((t) => t.name.startsWith(PEFT_PREFIX))) {
    prefix = PEFT_PREFIX;
    for (const t of tensors) if (t.name.startsWith(PEFT_PREFIX)) t.name = t.name.slice(PEFT_PREFIX.length);
  }
  const modules = new Map<string, AdaptedModule>();
  const mod = (p: string): AdaptedModule => {
    let m = modules.get(p);
    if (!m) modules.set(p, (m = { kind: 'Linear', dora: false }));
    return m;
  };
  for (const t of tensors) {
    if (!t.present) continue;
    const shape = moduleShape(t);
    const d = DIFFUSERS_PART.exec(t.name);
    if (d) {
      const m = mod(d[1]);
      if (shape.length === 4) m.kind = 'Conv2d';
      if (d[2] === 'down') {
        m.rank = shape[0];
        m.inFeatures = shape[1];
      } else m.outFeatures = shape[0];
      t.roleReason = `LoRA ${d[2]} projection of ${d[1]} (trainable)`;
      continue;
    }
    const p = PEFT_PART.exec(t.name);
    if (!p) continue;
    const path = p[1] ?? p[3];
    const part = p[2] ?? p[4];
    const m = mod(path);
    if (part === 'lora_A') {
      m.rank = shape[0];
      m.inFeatures = shape[1];
      if (shape.length === 4) m.kind = 'Conv2d';
    } else if (part === 'lora_B') {
      m.outFeatures = shape[0];
    } else if (part === 'lora_embedding_A') {
      m.kind = 'Embedding';
      m.rank = shape[0];
      m.inFeatures = shape[1];
    } else if (part === 'lora_embedding_B') {
      m.kind = 'Embedding';
      m.outFeatures = shape[0];
    } else {
      m.dora = true;
    }
    t.roleReason = part === 'lora_magnitude_vector' ? `DoRA magnitude of ${path} (trainable)` : `${part} of the adapter on ${path} (trainable)`;
  }
  const peftType = typeof cfg?.peft_type === 'string' ? cfg.peft_type : 'LORA';
  // adapter_config.json beside weights that hold no adapter tensor (a merged model): not an adapter.
  if (cfg && modules.size === 0 && !prefix && !present.some((t) => ADAPTER_TENSOR.test(t.name))) {
    warnings.push({ code: 'adapter-config-unused', message: 'adapter_config.json is beside weights that hold no adapter tensors (a merged model?); read as a model' });
    return undefined;
  }
  const dora = cfg?.use_dora === true || [...modules.values()].some((m) => m.dora);
  const type = dora && peftType === 'LORA' ? 'DoRA' : PEFT_TYPES[peftType] ?? peftType;
  const ranks = [...modules.values()].map((m) => m.rank).filter((r): r is number => r !== undefined);
  const rank = mostCommon(ranks) ?? (typeof cfg?.r === 'number' ? cfg.r : undefined);
  if (typeof cfg?.r === 'number' && ranks.length && !ranks.includes(cfg.r) && !obj(cfg.rank_pattern)) {
    warnings.push({ code: 'adapter-config-mismatch', message: `adapter_config.json says r=${cfg.r} but the adapter's matrices have rank ${rank}` });
  }
  const targets = targetsOf(cfg?.target_modules, [...modules.keys()]);
  const info: AdapterInfo = {
    type,
    ...(rank !== undefined ? { rank } : {}),
    ...(typeof cfg?.lora_alpha === 'number' ? { alpha: cfg.lora_alpha } : {}),
    targets,
    ...(typeof cfg?.base_model_name_or_path === 'string' && cfg.base_model_name_or_path ? { base: cfg.base_model_name_or_path } : {}),
    format: cfg || prefix ? 'peft' : 'diffusers',
    modules: modules.size,
  };
  if (Array.isArray(cfg?.modules_to_save) && cfg.modules_to_save.length) markModulesToSave(cfg.modules_to_save, tensors, warnings);
  return { info, prefix, modules };
}

/** A modules_to_save entry's dotted parts, as a trie: `index` is the first entry ending here. */
interface SaveNode {
  next?: Map<string, SaveNode>;
  index?: number;
}

/**
 * Tensors under a modules_to_save entry (`<n>.` at the start of the name or `.<n>.` inside it;
 * the first entry in the list that matches names it). The entries are a trie of their dotted
 * parts, walked from each part of a name: a list of 100,000 names against 100,000 tensors was
 * each tensor against each entry (minutes). A walk is as long as the entry it follows, so a
 * crafted deep entry against deep names could still be quadratic: the characters walked are
 * bounded by a multiple of the names' own, past which the rest are left as they are, with a warning.
 */
function markModulesToSave(list: unknown[], tensors: Tensor[], warnings: Warning[]): void {
  const root: SaveNode = {};
  for (let i = 0; i < list.length; i++) {
    const n = list[i];
    if (typeof n !== 'string') continue;
    let node = root;
    for (const part of n.split('.')) {
      node.next ??= new Map();
      let c = node.next.get(part);
      if (!c) node.next.set(part, (c = {}));
      node = c;
    }
    node.index ??= i;
  }
  let budget = 1_000_000;
  for (let k = 0; k < tensors.length; k++) {
    const t = tensors[k];
    const name = t.name;
    budget += 16 * name.length;
    if (!t.present || PEFT_PART.test(name)) continue;
    let best = -1;
    // From the name's start and from after each dot: the entries whose parts follow there, each
    // followed by a dot.
    for (let s = 0; s >= 0; s = name.indexOf('.', s) + 1 || -1) {
      let node = root;
      let at = s;
      while (node.next) {
        const dot = name.indexOf('.', at);
        if (dot < 0) break;
        budget -= dot - at + 1;
        const c = node.next.get(name.slice(at, dot));
        if (!c) break;
        node = c;
        if (node.index !== undefined && (best < 0 || node.index < best)) best = node.index;
        at = dot + 1;
      }
      if (budget < 0) {
        warnings.push({ code: 'adapter-config-limit', message: `adapter_config.json modules_to_save: its entries and the tensor names are too many parts deep to match in bounded time; tensor ${k + 1} of ${tensors.length} and those after it are not marked as trained copies` });
        return;
      }
    }
    if (best >= 0) t.roleReason = `trained copy of ${list[best] as string} (modules_to_save)`;
  }
}

function annotateKohya(raw: RawCheckpoint, tensors: Tensor[]): AdapterAnnotations {
  const meta = obj(raw.metadata.__metadata__) ?? {};
  const modules = new Map<string, AdaptedModule>();
  const components = new Map<string, number>();
  let type = 'LoRA';
  for (const t of tensors) {
    if (!t.present) continue;
    const k = KOHYA_PART.exec(t.name);
    if (!k) continue;
    let m = modules.get(k[1]);
    if (!m) {
      modules.set(k[1], (m = { kind: 'Linear', dora: false }));
      const comp = /^lora_(unet|te\d?|transformer)_/.exec(k[1])?.[1] ?? k[1].split('_')[1];
      const name = comp === 'unet' ? 'unet' : comp === 'te' || comp === 'te1' ? 'text_encoder' : /^te\d$/.test(comp) ? `text_encoder_${comp.slice(2)}` : comp;
      components.set(name, (components.get(name) ?? 0) + 1);
    }
    const part = k[2];
    const shape = moduleShape(t);
    if (part === 'lora_down.weight') {
      m.rank = shape[0];
      m.inFeatures = shape[1];
      if (shape.length === 4) m.kind = 'Conv2d';
      t.roleReason = `LoRA down projection of ${k[1]} (trainable)`;
    } else if (part === 'lora_up.weight') {
      m.outFeatures = shape[0];
      t.roleReason = `LoRA up projection of ${k[1]} (trainable)`;
    } else if (part === 'alpha') {
      t.role = 'buffer';
      t.roleReason = 'LoRA alpha: a registered buffer of kohya\'s LoRAModule (scale = alpha / rank), not trained';
    } else if (part === 'dora_scale') {
      m.dora = true;
    } else if (part.startsWith('hada')) type = 'LoHa';
    else if (part.startsWith('lokr')) type = 'LoKr';
  }
  const ranks = [...modules.values()].map((m) => m.rank).filter((r): r is number => r !== undefined);
  const alphaMeta = Number(meta.ss_network_alpha);
  const rank = mostCommon(ranks) ?? (Number.isInteger(Number(meta.ss_network_dim)) ? Number(meta.ss_network_dim) : undefined);
  const base = [meta.ss_sd_model_name, meta.ss_base_model_version, meta['modelspec.architecture']].find((v) => typeof v === 'string' && v) as string | undefined;
  const info: AdapterInfo = {
    type: [...modules.values()].some((m) => m.dora) && type === 'LoRA' ? 'DoRA' : type,
    ...(rank !== undefined ? { rank } : {}),
    ...(Number.isFinite(alphaMeta) && typeof meta.ss_network_alpha === 'string' ? { alpha: alphaMeta } : {}),
    targets: [...components.keys()],
    ...(base ? { base } : {}),
    format: 'kohya',
    modules: modules.size,
  };
  return { info, modules };
}

function targetsOf(declared: unknown, paths: string[]): string[] {
  if (Array.isArray(declared)) return declared.filter((x): x is string => typeof x === 'string');
  if (typeof declared === 'string') return [declared];
  // A set: 100,000 adapted modules with distinct names made this quadratic (seconds to minutes).
  const seen = new Set<string>();
  for (const p of paths) seen.add(p.slice(p.lastIndexOf('.') + 1));
  return [...seen];
}

function mostCommon(xs: number[]): number | undefined {
  const n = new Map<number, number>();
  let best: number | undefined;
  for (const x of xs) {
    const c = (n.get(x) ?? 0) + 1;
    n.set(x, c);
    if (best === undefined || c > n.get(best)! || (c === n.get(best)! && x > best)) best = x;
  }
  return best;
}

/** Adapted modules read as PEFT prints them: `lora.Linear(r=16)` over lora_A and lora_B. */
export function describeAdapted(root: ModuleNode, ann: AdapterAnnotations): void {
  const stack: ModuleNode[] = [root];
  while (stack.length) {
    const m = stack.pop()!;
    const a = ann.modules.get(m.path);
    if (a) {
      const ns = ann.info.type === 'LoHa' ? 'loha' : ann.info.type === 'LoKr' ? 'lokr' : 'lora';
      const kindType = `${ns}.${a.kind}`;
      m.type = kindType;
      m.inferred = true;
      m.repr = `${kindType}(r=${a.rank ?? '?'}${a.dora ? ', use_dora=True' : ''})`;
      const shape = a.inFeatures !== undefined && a.outFeatures !== undefined ? `: ${a.inFeatures} → ${a.outFeatures}` : '';
      m.evidence = `${ann.info.type} adapter on a ${a.kind}${shape}, rank ${a.rank ?? 'unknown'}${ann.info.alpha !== undefined ? `, alpha ${ann.info.alpha}` : ''}`;
    }
    for (const c of m.children) stack.push(c);
  }
}
