/**
 * Ties declared by Hugging Face's config.json: with `tie_word_embeddings` (true when absent),
 * transformers drops the output head from the file and re-ties it to the input embedding at load
 * time. When the head is absent and an embedding-shaped tensor exists, that is a declared tie,
 * not a missing tensor.
 */
import { DeclaredTie, TensorRecord, Warning } from './model';

/** Output-head names in the order we try them, by architecture. */
function headNames(arch: string, modelType: string): string[] {
  if (/gpt_?neox/i.test(arch) || modelType === 'gpt_neox') return ['embed_out.weight'];
  if (/ForMaskedLM|ForPreTraining/.test(arch) && /bert|roberta|electra|deberta/i.test(arch + modelType)) {
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
  'model.shared.weight',
  'shared.weight',
  'wte.weight',
  'embed_tokens.weight',
  'tok_embeddings.weight',
];
const EMBEDDING_PATTERN = /(^|\.)(wte|embed_tokens|embed_in|word_embeddings|tok_embeddings)\.weight$/;

const HEAD_ARCH = /(LMHead|ForCausalLM|ForMaskedLM|ForConditionalGeneration|ForPreTraining|WithLMHead|ForSeq2SeqLM)/;

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
  if (!arch || !HEAD_ARCH.test(arch)) return [];
  const tie = config.tie_word_embeddings;
  if (tie === false) return [];
  const heads = headNames(arch, modelType);
  // Only the head and embedding names are looked up: a map of those, not of every tensor.
  const wanted = new Set([...heads, ...EMBEDDING_NAMES]);
  const names = new Map<string, TensorRecord>();
  for (let i = 0; i < tensors.length; i++) if (wanted.has(tensors[i].name)) names.set(tensors[i].name, tensors[i]);
  const storedHead = heads.map((h) => names.get(h)).find((t) => t !== undefined);
  if (storedHead) {
    const emb = EMBEDDING_NAMES.map((n) => names.get(n)).find((t) => t && t.shape.length === 2 && t.shape.join() === storedHead.shape.join());
    if (emb && (emb.storage === null || emb.storage !== storedHead.storage)) {
      warnings.push({
        code: 'tie-stored-separately',
        message: `config.json (${arch}) ties word embeddings, but ${storedHead.name} and ${emb.name} are stored separately; transformers re-ties them when loading, so the loaded model has one of them`,
      });
    }
    return [];
  }
  // A head stored (or declared) under its module in another shape, e.g. lm_head.0.weight.
  const headModules = heads.map((h) => h.slice(0, h.lastIndexOf('.') + 1));
  const taken = (n: string) => headModules.some((m) => n.startsWith(m));
  if (tensors.some((t) => taken(t.name)) || declared.some((d) => taken(d.name))) return [];
  const vocab = typeof config.vocab_size === 'number' ? config.vocab_size : undefined;
  const ok = (t: TensorRecord | undefined): t is TensorRecord => !!t && t.shape.length === 2 && (vocab === undefined || t.shape[0] === vocab);
  let emb = EMBEDDING_NAMES.map((n) => names.get(n)).find(ok);
  if (!emb) emb = tensors.find((t) => EMBEDDING_PATTERN.test(t.name) && ok(t));
  if (!emb) {
    warnings.push({
      code: 'tie-target-missing',
      message: `config.json declares tied word embeddings for ${arch} but no ${heads[0]} and no embedding-shaped tensor was found`,
    });
    return [];
  }
  const why = tie === undefined ? 'tie_word_embeddings is absent (default true)' : 'tie_word_embeddings is true';
  return [{ name: heads[0], target: emb.name, source: 'config', reason: `config.json (${arch}): ${why}; ${heads[0]} is not stored and is re-tied to ${emb.name} at load time` }];
}
