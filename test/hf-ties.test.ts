import * as assert from 'assert';
import { openCheckpoint, toReport } from '../src/core';
import { canonicalShared, fixture, readJson, Truth } from './helpers';

/** make_hf_ties.py's figures: torch's, and the warning codes the tool must give. */
type TieTruth = Truth & { warnings: string[] };
const truth = readJson<Record<string, TieTruth>>(fixture('hf-ties', 'ground-truth.json'));
const open = async (name: string) => toReport(await openCheckpoint(fixture('hf-ties', name)));
/** Warnings about ties: the ones these folders may give. */
const TIE_CODES = /^(tie-|head-not-stored)/;

describe('Hugging Face ties beyond the output head match torch', () => {
  for (const name of Object.keys(truth)) {
    it(`${name}: parameters, buffers, sharing and tie warnings equal torch's figures`, async () => {
      const t = truth[name];
      const r = await open(name);
      assert.deepStrictEqual(r.parameters, t.parameters);
      assert.deepStrictEqual(r.buffers, { unique: t.buffers.unique, total: t.buffers.total });
      assert.deepStrictEqual(canonicalShared(r.shared), canonicalShared(t.shared));
      assert.deepStrictEqual(r.warnings.map((w) => w.code).filter((c) => TIE_CODES.test(c)), t.warnings);
    });
  }

  it('T5: the stacks embed with shared whatever tie_word_embeddings says; v1.1 keeps its own head', async () => {
    const t5 = await open('t5');
    const g = t5.shared.find((s) => s.tensors.includes('shared.weight'))!;
    assert.match(g.reason ?? '', /encoder and decoder embed tokens with the model's shared embedding/);
    const v11 = await open('t5-v1_1');
    const head = v11.tensors.find((t) => t.name === 'lm_head.weight')!;
    assert.strictEqual(head.present, true);
    assert.ok(!v11.shared.some((s) => s.tensors.includes('lm_head.weight')), 'tie_word_embeddings false: the head is untied');
    assert.strictEqual(v11.tensors.find((t) => t.name === 'decoder.embed_tokens.weight')?.present, false);
  });

  it("BERT's and RoBERTa's MLM decoder bias is the head's bias", async () => {
    for (const [name, prefix] of [['bert-mlm', 'cls.predictions.'], ['roberta-mlm', 'lm_head.']]) {
      const r = await open(name);
      const g = r.shared.find((s) => s.tensors.includes(`${prefix}decoder.bias`));
      assert.ok(g, `${name}: ${prefix}decoder.bias is declared`);
      assert.deepStrictEqual([...g.tensors].sort(), [`${prefix}bias`, `${prefix}decoder.bias`]);
    }
  });

  it('a tied head stored in another .bin shard than its embedding counts once, and says what is stored', async () => {
    const r = await open('llama-bin-shards-tied');
    const head = r.tensors.find((t) => t.name === 'lm_head.weight')!;
    assert.strictEqual(head.present, true);
    assert.strictEqual(head.file, 'pytorch_model-00001-of-00002.bin', 'its own place in the files is kept');
    assert.strictEqual(head.extra?.tiedTo, 'model.embed_tokens.weight');
    const w = r.warnings.find((x) => x.code === 'tie-stored-separately')!;
    assert.match(w.message, /counted once/);
    assert.match(w.message, /pytorch_model-00001-of-00002\.bin and pytorch_model-00002-of-00002\.bin/);
  });

  it("a missing tie_word_embeddings takes the config class's default, and the reason says so", async () => {
    const r = await open('llama-nokey-nohead');
    const w = r.warnings.find((x) => x.code === 'head-not-stored')!;
    assert.match(w.message, /tie_word_embeddings is absent \(LlamaConfig's default: false\)/);
    assert.ok(!r.tensors.some((t) => t.name === 'lm_head.weight'), 'no head is declared');
    const bert = await open('bert-mlm');
    const g = bert.shared.find((s) => s.tensors.includes('cls.predictions.decoder.weight'))!;
    assert.match(g.reason ?? '', /tie_word_embeddings is absent \(PretrainedConfig's default: true\)/);
  });
});
