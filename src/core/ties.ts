/**
 * Ties declared by Hugging Face's config.json and by the model classes themselves: transformers
 * builds some modules to share one Parameter, so save_pretrained writes one name of each such
 * set (safetensors cannot store two names on one storage) and loading ties the others back. When
 * a tied name is absent and the name it is tied to is stored, that is a declared tie, not a
 * missing tensor. Two kinds:
 *
 * - word embeddings: with `tie_word_embeddings` (its default depends on the config class, see
 *   TIE_DEFAULTS), tie_weights() makes the output head's weight the input embedding's;
 * - structure: some classes pass one module to several places, or assign one Parameter to two
 *   attributes, in __init__, whatever the config says (T5's `shared` is its encoder's and
 *   decoder's `embed_tokens`; BERT's MLM decoder bias is `cls.predictions.bias`).
 *
 * Only names transformers ties are listed, with the class each comes from (its
 * `_tied_weights_keys`). A name the file stores is not re-declared: its storage says what it
 * shares, except a head stored apart from the embedding that the config ties it to, which
 * transformers replaces by the embedding at load time (a declared tie over a stored tensor).
 */
import { DeclaredTie, TensorRecord, Warning } from './model';
import { exact } from './numbers';

/**
 * `tie_word_embeddings` defaults of the config classes that override PretrainedConfig's (true),
 * by model_type, as each class's __init__ declares it. A model_type not listed keeps true.
 */
const TIE_DEFAULTS: Record<string, { tie: boolean; cls: string }> = {
  llama: { tie: false, cls: 'LlamaConfig' },
  mistral: { tie: false, cls: 'MistralConfig' },
  mixtral: { tie: false, cls: 'MixtralConfig' },
  qwen2: { tie: false, cls: 'Qwen2Config' },
  qwen2_moe: { tie: false, cls: 'Qwen2MoeConfig' },
  qwen3: { tie: false, cls: 'Qwen3Config' },
  phi: { tie: false, cls: 'PhiConfig' },
  phi3: { tie: false, cls: 'Phi3Config' },
  gpt_neox: { tie: false, cls: 'GPTNeoXConfig' },
  gptj: { tie: false, cls: 'GPTJConfig' },
  gemma: { tie: true, cls: 'GemmaConfig' },
  gemma2: { tie: true, cls: 'Gemma2Config' },
};

/** Whether the config ties word embeddings, and where that value comes from (for the reasons shown). */
function wordTie(config: Record<string, unknown>, modelType: string): { tie: boolean; why: string } {
  const v = config.tie_word_embeddings;
  if (typeof v === 'boolean') return { tie: v, why: `tie_word_embeddings is ${v}` };
  const d = Object.prototype.hasOwnProperty.call(TIE_DEFAULTS, modelType) ? TIE_DEFAULTS[modelType] : undefined;
  if (d) return { tie: d.tie, why: `tie_word_embeddings is absent (${d.cls}'s default: ${d.tie})` };
  return { tie: true, why: `tie_word_embeddings is absent (PretrainedConfig's default: true)` };
}

/** Output-head names in the order we try them, by architecture. */
function headNames(arch: string, modelType: string): string[] {
  if (/gpt_?neox/i.test(arch) || modelType === 'gpt_neox') return ['embed_out.weight'];
  // XLNetLMHeadModel._tied_weights_keys: lm_loss.weight (to transformer.word_embedding.weight).
  if (modelType === 'xlnet') return ['lm_loss.weight'];
  // AlbertForMaskedLM / AlbertForPreTraining._tied_weights_keys: predictions.decoder.weight.
  if (modelType === 'albert') return ['predictions.decoder.weight'];
  // DistilBertForMaskedLM._tied_weights_keys: vocab_projector.weight.
  if (modelType === 'distilbert') return ['vocab_projector.weight'];
  if (/ForMaskedLM|ForPreTraining/.test(arch) && /bert|roberta|electra|deberta/i.test(arch + modelType)) {
    // BertForMaskedLM, DebertaForMaskedLM: cls.predictions.decoder.weight; RobertaForMaskedLM:
    // lm_head.decoder.weight; ElectraForMaskedLM: generator_lm_head.weight.
    return ['cls.predictions.decoder.weight', 'lm_head.decoder.weight', 'generator_lm_head.weight'];
  }
  return ['lm_head.weight'];
}

/** Embedding names in order of preference; the first present, 2-D one wins. */
const EMBEDDING_NAMES = [
  'transformer.wte.weight',
  'model.embed_tokens.weight',
  'model.language_model.embed_tokens.weight',
  'model.decoder.embed_tokens.weight',
  'gpt_neox.embed_in.weight',
  'transformer.word_embeddings.weight',
  'transformer.embedding.word_embeddings.weight',
  'transformer.word_embedding.weight',
  'model.shared.weight',
  'shared.weight',
  'wte.weight',
  'embed_tokens.weight',
  'tok_embeddings.weight',
];
const EMBEDDING_PATTERN = /(^|\.)(wte|embed_tokens|embed_in|word_embeddings?|tok_embeddings)\.weight$/;

const HEAD_ARCH = /(LMHead|ForCausalLM|ForMaskedLM|ForConditionalGeneration|ForPreTraining|WithLMHead|ForSeq2SeqLM)/;

/**
 * Encoder-decoder classes whose encoder and decoder take the model's `shared` embedding in
 * __init__ (T5Stack(config, self.shared); BartEncoder and the like assign
 * `self.embed_tokens.weight = embed_tokens.weight`): one Parameter under three names whatever
 * tie_word_embeddings says. The names are under `model.` in the ...ForConditionalGeneration
 * classes of BART's family and at the root in T5's and in the base models.
 * T5ForConditionalGeneration / MT5ForConditionalGeneration._tied_weights_keys: encoder.embed_tokens.weight,
 * decoder.embed_tokens.weight (T5EncoderModel: encoder.embed_tokens.weight); Bart-, MBart-,
 * Pegasus-, Marian-, M2M100ForConditionalGeneration (NLLB's class, model_type m2m_100):
 * model.encoder.embed_tokens.weight, model.decoder.embed_tokens.weight.
 */
const SHARED_EMBEDDING_TYPES = new Set(['t5', 'mt5', 'bart', 'mbart', 'pegasus', 'marian', 'm2m_100']);

/**
 * MLM prediction heads whose decoder's bias is the head's own `bias` Parameter, assigned in
 * __init__ (`self.decoder.bias = self.bias`), by model_type: the head's module prefixes.
 * BertLMPredictionHead (BertForMaskedLM / BertForPreTraining / BertLMHeadModel._tied_weights_keys:
 * cls.predictions.decoder.bias), its copy DebertaLMPredictionHead (DeBERTa and DeBERTa-v2,
 * cls.predictions.decoder.bias), RobertaLMHead (RobertaForMaskedLM and its copies in XLM-RoBERTa and
 * CamemBERT: lm_head.decoder.bias), AlbertMLMHead (AlbertForMaskedLM: predictions.decoder.bias).
 */
const DECODER_BIAS_HEADS: Record<string, string[]> = {
  bert: ['cls.predictions.'],
  deberta: ['cls.predictions.'],
  'deberta-v2': ['cls.predictions.'],
  roberta: ['lm_head.'],
  'xlm-roberta': ['lm_head.'],
  camembert: ['lm_head.'],
  albert: ['predictions.'],
};

export function configTies(
  config: Record<string, unknown> | undefined,
  tensors: TensorRecord[],
  declared: DeclaredTie[],
  warnings: Warning[],
): DeclaredTie[] {
  if (!config) return [];
  const archs = Array.isArray(config.architectures) ? config.architectures.filter((a): a is string => typeof a === 'string') : [];
  const arch = archs[0] ?? '';
  const modelType = typeof config.model_type === 'string' ? config.model_type : '';
  const label = arch || modelType;
  if (!label) return [];
  const found: DeclaredTie[] = [];
  const structural = structuralTies(config, modelType, tensors, declared);
  for (const [name, target, how] of structural) {
    found.push({
      name,
      target,
      source: 'config',
      reason: `config.json (${label}, model_type ${modelType}): ${how} (set in __init__, whatever tie_word_embeddings says); ${name} is not stored and is ${target} in the loaded model`,
    });
  }
  if (!arch || !HEAD_ARCH.test(arch)) return found;
  const { tie, why } = wordTie(config, modelType);
  const heads = headNames(arch, modelType);
  // Only the head and embedding names are looked up: a map of those, not of every tensor.
  const wanted = new Set([...heads, ...EMBEDDING_NAMES]);
  const names = new Map<string, TensorRecord>();
  for (let i = 0; i < tensors.length; i++) if (wanted.has(tensors[i].name)) names.set(tensors[i].name, tensors[i]);
  const storedHead = heads.map((h) => names.get(h)).find((t) => t !== undefined);
  if (storedHead) {
    if (!tie) return found;
    const emb = EMBEDDING_NAMES.map((n) => names.get(n)).find((t) => t && t.shape.length === 2 && t.shape.join() === storedHead.shape.join());
    if (emb && (emb.storage === null || emb.storage !== storedHead.storage)) {
      // transformers' tie_weights() sets the head's weight to the embedding's after loading:
      // the loaded model has the embedding once and the head's stored values are not used.
      const over = sameLayout(emb, storedHead);
      warnings.push({
        code: 'tie-stored-separately',
        message:
          `config.json (${arch}): ${why}, but ${storedHead.name} and ${emb.name} are stored separately` +
          ` (${storedHead.file} and ${emb.file}); transformers re-ties them when loading, so the loaded model has one of them` +
          (over ? `: counted once, and the ${storedHead.nbytes} stored bytes of ${storedHead.name} are not used` : ` (not counted once: their layouts differ)`),
      });
      if (over) {
        found.push({
          name: storedHead.name,
          target: emb.name,
          source: 'config',
          reason: `config.json (${arch}): ${why}; ${storedHead.name} is stored apart (${storedHead.file}), but transformers re-ties it to ${emb.name} at load time`,
        });
      }
    }
    return found;
  }
  // A head stored (or declared) under its module in another shape, e.g. lm_head.0.weight; the
  // head's own bias (GPT-J's and Phi's lm_head.bias) is not its weight.
  const headModules = heads.map((h) => h.slice(0, h.lastIndexOf('.') + 1));
  const taken = (n: string) => headModules.some((m) => n.startsWith(m) && n !== `${m}bias`);
  if (tensors.some((t) => taken(t.name)) || declared.some((d) => taken(d.name))) {
    if (tie) exl2Head(arch, why, headModules, tensors, names, warnings);
    return found;
  }
  // Of several classes' head names, the one whose head module the file has (RoBERTa's lm_head.dense...).
  const top = (h: string) => h.slice(0, h.indexOf('.') + 1);
  const head = heads.length === 1 ? heads[0] : (heads.find((h) => tensors.some((t) => t.name.startsWith(top(h)))) ?? heads[0]);
  const vocab = typeof config.vocab_size === 'number' ? config.vocab_size : undefined;
  const ok = (t: TensorRecord | undefined): t is TensorRecord => !!t && t.shape.length === 2 && (vocab === undefined || t.shape[0] === vocab);
  let emb = EMBEDDING_NAMES.map((n) => names.get(n)).find(ok);
  if (!emb) emb = tensors.find((t) => EMBEDDING_PATTERN.test(t.name) && ok(t));
  if (!tie) {
    // Only beside the model's embedding: a file without one (an adapter, a part) has no head to lack.
    if (!emb) return found;
    warnings.push({
      code: 'head-not-stored',
      message: `config.json (${arch}): ${why}, and no ${head} is stored: transformers creates a new, untied ${head} when loading, which is not counted here`,
    });
    return found;
  }
  if (!emb) {
    warnings.push({
      code: 'tie-target-missing',
      message: `config.json declares tied word embeddings for ${arch} but no ${head} and no embedding-shaped tensor was found`,
    });
    return found;
  }
  found.push({ name: head, target: emb.name, source: 'config', reason: `config.json (${arch}): ${why}; ${head} is not stored and is re-tied to ${emb.name} at load time` });
  return found;
}

/**
 * ExLlamaV2's and ExLlamaV3's converters quantize a tied model's output head from the embedding
 * (the head's alt_key is the embedding's key) and write it as `lm_head.q_weight` (EXL2) or
 * `lm_head.trellis` (EXL3) beside the float embedding: the checkpoint holds the embedding and a
 * quantized head, the loader uses both, and both are counted, while the float model the config
 * describes holds one matrix. (ExLlamaV3's converter writes tie_word_embeddings false for this
 * layout; a config that still declares the tie gets the same warning.)
 */
function exl2Head(arch: string, why: string, headModules: string[], tensors: TensorRecord[], names: Map<string, TensorRecord>, warnings: Warning[]): void {
  let q: TensorRecord | undefined;
  let loader = '';
  for (const [local, name] of [['q_weight', 'ExLlamaV2'], ['trellis', 'ExLlamaV3']]) {
    q = headModules.map((m) => tensors.find((t) => t.name === `${m}${local}`)).find((t) => t !== undefined);
    if (q) {
      loader = name;
      break;
    }
  }
  if (!q) return;
  const emb = EMBEDDING_NAMES.map((n) => names.get(n)).find((t) => t && t.shape.length === 2);
  if (!emb) return;
  const n = emb.shape[0] * emb.shape[1];
  warnings.push({
    code: 'tie-stored-separately',
    message:
      `config.json (${arch}): ${why}, but ${q.name} is stored beside ${emb.name}: ${loader} quantizes a copy of the tied embedding as its own output head, ` +
      `and uses both, so both are counted; the float model the config describes holds one matrix (${exact(n)} parameters fewer)`,
  });
}

/** Same dtype, shape, place in its storage and strides: one can stand for the other. */
function sameLayout(a: TensorRecord, b: TensorRecord): boolean {
  return (
    a.dtype === b.dtype &&
    a.shape.join() === b.shape.join() &&
    (a.storageOffset ?? 0) === (b.storageOffset ?? 0) &&
    (a.strides === null || b.strides === null ? a.strides === b.strides : a.strides.join() === b.strides.join())
  );
}

/**
 * Ties the classes make in __init__ whatever the config says (SHARED_EMBEDDING_TYPES,
 * DECODER_BIAS_HEADS), for names absent from the file and not declared already: [name, target, how].
 */
function structuralTies(
  config: Record<string, unknown>,
  modelType: string,
  tensors: TensorRecord[],
  declared: DeclaredTie[],
): [string, string, string][] {
  const biasHeads = DECODER_BIAS_HEADS[modelType];
  // MarianModel gives its encoder and decoder copies of `shared` (and drops it) when
  // share_encoder_decoder_embeddings is false.
  const shared = SHARED_EMBEDDING_TYPES.has(modelType) && !(modelType === 'marian' && config.share_encoder_decoder_embeddings === false);
  if (!shared && !biasHeads) return [];
  const byName = new Map<string, TensorRecord>();
  for (let i = 0; i < tensors.length; i++) byName.set(tensors[i].name, tensors[i]);
  const absent = (n: string) => !byName.has(n) && !declared.some((d) => d.name === n);
  const out: [string, string, string][] = [];
  if (shared) {
    const how = 'the encoder and decoder embed tokens with the model\'s shared embedding';
    for (const p of ['', 'model.']) {
      const group = [`${p}shared.weight`, `${p}encoder.embed_tokens.weight`, `${p}decoder.embed_tokens.weight`];
      const target = group.find((n) => byName.get(n)?.shape.length === 2);
      if (!target) continue;
      for (const n of group) {
        // A stack's embedding only where the stack is stored (T5EncoderModel has no decoder).
        const stack = n.slice(0, n.length - 'embed_tokens.weight'.length);
        if (n === target || !absent(n)) continue;
        if (n !== `${p}shared.weight` && !tensors.some((t) => t.name.startsWith(stack))) continue;
        out.push([n, target, how]);
      }
    }
  }
  for (const p of biasHeads ?? []) {
    const bias = byName.get(`${p}bias`);
    if (bias && bias.shape.length === 1 && absent(`${p}decoder.bias`)) {
      out.push([`${p}decoder.bias`, `${p}bias`, `the masked-LM head ${p.slice(0, -1)} uses its bias as its decoder's bias`]);
    }
  }
  return out;
}
