/**
 * Comparing two checkpoints (issue 14): every pair is made by torch (scripts/fixtures/make_diff.py
 * and the existing fixtures), and what the comparison says is checked against what torch says
 * about the two models: counts, which tensors differ in dtype, shape or bytes, renames, ties.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { analyze, openCheckpoint } from '../src/core';
import { compareCheckpoints, compareStructure, renderDiffMarkdown, renderDiffSvg, renderDiffText, toDiffReport, walkRows, CheckpointDiff, ModuleRow } from '../src/core/diff';
import type { RawCheckpoint, TensorRecord } from '../src/core/model';
import { CompareIndex } from '../src/worker/compareIndex';
import { ggufToHf, prefixChange, stripChain } from '../src/core/diff/names';
import { cli, fixture, readJson, rebuildSkeleton, safetensorsBytes, sparseFromHeader, tempDir } from './helpers';

const DT = readJson(fixture('diff', 'ground-truth.json'));
const ST = readJson(fixture('safetensors', 'ground-truth.json'));
const PT = readJson(fixture('pytorch', 'ground-truth.json')).fixtures;

const open = (p: string) => openCheckpoint(p);

async function compare(a: string, b: string, data = false): Promise<CheckpointDiff> {
  return compareCheckpoints(await open(a), await open(b), { data });
}

const names = (list: { key: string }[]) => list.map((p) => p.key).sort();

/** Counts that must add up in every comparison: owned counts per row, and at the root the analysis' unique counts. */
function checkInvariants(d: CheckpointDiff): void {
  const bytes = (x: { bytesByDtype: Record<string, number> }) => Object.values(x.bytesByDtype).reduce((s, v) => s + v, 0);
  assert.strictEqual(d.root.countsA!.parameters.owned, d.a.parameters.unique, 'a: owned parameters add up to the unique count');
  assert.strictEqual(d.root.countsB!.parameters.owned, d.b.parameters.unique, 'b: owned parameters add up to the unique count');
  assert.strictEqual(d.root.countsA!.buffers.owned, d.a.buffers.unique, 'a: owned buffers');
  assert.strictEqual(d.root.countsB!.buffers.owned, d.b.buffers.unique, 'b: owned buffers');
  assert.strictEqual(d.root.countsA!.bytes.owned, bytes(d.a), 'a: owned bytes add up to the stored bytes');
  assert.strictEqual(d.root.countsB!.bytes.owned, bytes(d.b), 'b: owned bytes');
  assert.deepStrictEqual(d.a.parameters, d.aOriginal.parameters, 'renaming A does not change its counts');
  walkRows(d.root, (r: ModuleRow) => {
    for (const side of ['A', 'B'] as const) {
      const c = side === 'A' ? r.countsA : r.countsB;
      if (!c) continue;
      let p = 0;
      let b = 0;
      let by = 0;
      for (const t of r.tensors) {
        const x = side === 'A' ? t.a : t.b;
        if (!x) continue;
        if (x.role === 'parameter') p += side === 'A' ? t.ownedA : t.ownedB;
        else if (x.role === 'buffer') b += side === 'A' ? t.ownedA : t.ownedB;
        by += side === 'A' ? t.ownedBytesA : t.ownedBytesB;
      }
      for (const k of r.children) {
        const kc = side === 'A' ? k.countsA : k.countsB;
        if (kc) {
          p += kc.parameters.owned;
          b += kc.buffers.owned;
          by += kc.bytes.owned;
        }
      }
      assert.strictEqual(c.parameters.owned, p, `${side} ${r.path}: owned parameters are the sum of its tensors and children`);
      assert.strictEqual(c.buffers.owned, b, `${side} ${r.path}: owned buffers add up`);
      assert.strictEqual(c.bytes.owned, by, `${side} ${r.path}: owned bytes add up`);
      const m = (side === 'A' ? r.a : r.b)!;
      assert.deepStrictEqual([c.parameters.unique, c.parameters.total, c.buffers.unique, c.buffers.total], [m.parameters.unique, m.parameters.total, m.buffers.unique, m.buffers.total], `${side} ${r.path}: the module's counts`);
      assert.strictEqual(c.bytes.unique, bytes(m), `${side} ${r.path}: the module's bytes`);
    }
  });
  // Every tensor of either side is in exactly one pair, and every pair in exactly one row.
  let inRows = 0;
  walkRows(d.root, (r) => (inRows += r.tensors.length));
  assert.strictEqual(inRows, d.pairs.length, 'every pair sits in one row of the aligned tree');
  assert.strictEqual(d.pairs.filter((p) => p.a).length, d.a.tensors.length);
  assert.strictEqual(d.pairs.filter((p) => p.b).length, d.b.tensors.length);
}

describe('diff: names', () => {
  it('strips known wrapper prefixes and reports the change between two chains', () => {
    assert.deepStrictEqual(stripChain('module.transformer.h.0.attn.c_attn.weight'), { core: 'h.0.attn.c_attn.weight', chain: 'module.transformer.' });
    assert.deepStrictEqual(stripChain('base_model.model.model.layers.0.self_attn.q_proj.weight'), { core: 'layers.0.self_attn.q_proj.weight', chain: 'base_model.model.model.' });
    assert.deepStrictEqual(stripChain('lm_head.weight'), { core: 'lm_head.weight', chain: '' });
    assert.deepStrictEqual(prefixChange('module.transformer.', 'transformer.'), { from: 'module.', to: '' });
    assert.deepStrictEqual(prefixChange('base_model.model.model.', 'model.'), { from: 'base_model.model.', to: '' });
    assert.deepStrictEqual(prefixChange('_orig_mod.', 'module.'), { from: '_orig_mod.', to: 'module.' });
  });

  it('maps llama.cpp GGUF names to Hugging Face llama names', () => {
    assert.deepStrictEqual(ggufToHf('token_embd.weight'), ['model.embed_tokens.weight']);
    assert.deepStrictEqual(ggufToHf('output.weight'), ['lm_head.weight']);
    assert.deepStrictEqual(ggufToHf('output_norm.weight'), ['model.norm.weight']);
    assert.deepStrictEqual(ggufToHf('blk.17.attn_q.weight'), ['model.layers.17.self_attn.q_proj.weight']);
    assert.deepStrictEqual(ggufToHf('blk.3.attn_output.weight'), ['model.layers.3.self_attn.o_proj.weight']);
    assert.deepStrictEqual(ggufToHf('blk.0.ffn_norm.weight'), ['model.layers.0.post_attention_layernorm.weight']);
    assert.deepStrictEqual(ggufToHf('blk.0.ffn_norm.weight', 'gemma2'), ['model.layers.0.pre_feedforward_layernorm.weight']);
    assert.deepStrictEqual(ggufToHf('blk.2.ffn_down.5.weight'), ['model.layers.2.block_sparse_moe.experts.5.w2.weight', 'model.layers.2.mlp.experts.5.down_proj.weight']);
    assert.deepStrictEqual(ggufToHf('blk.0.attn_q.bias'), ['model.layers.0.self_attn.q_proj.bias']);
    assert.deepStrictEqual(ggufToHf('rope_freqs.weight'), []);
    assert.deepStrictEqual(ggufToHf('model.layers.0.self_attn.q_proj.weight'), []);
  });
});

describe('diff: tied vs replaced head (the seed)', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function fullSize(name: string): string {
    const d = path.join(dir, name);
    fs.mkdirSync(d, { recursive: true });
    sparseFromHeader(fixture('safetensors', name, 'model.safetensors.header'), ST[name].dataSize, path.join(d, 'model.safetensors'));
    fs.copyFileSync(fixture('safetensors', name, 'config.json'), path.join(d, 'config.json'));
    return d;
  }

  function checkSeed(d: CheckpointDiff, tiedUnique: number, untiedUnique: number): void {
    assert.strictEqual(d.a.parameters.unique, tiedUnique);
    assert.strictEqual(d.b.parameters.unique, untiedUnique);
    assert.strictEqual(d.equal, false);
    assert.deepStrictEqual(names(d.added), []);
    assert.deepStrictEqual(names(d.removed), []);
    assert.deepStrictEqual(names(d.renamed), []);
    assert.deepStrictEqual(names(d.changed), ['lm_head.weight', 'transformer.wte.weight']);
    for (const p of d.changed) assert.deepStrictEqual(p.changes, ['sharing']);
    assert.strictEqual(d.shared.lost.length, 1);
    assert.deepStrictEqual([...d.shared.lost[0].tensors].sort(), ['lm_head.weight', 'transformer.wte.weight']);
    assert.deepStrictEqual(d.shared.lost[0].other.map((p) => p.join()).sort(), ['lm_head.weight', 'transformer.wte.weight']);
    assert.deepStrictEqual(d.shared.gained, []);
    const row = (p: string) => {
      let found: ModuleRow | undefined;
      walkRows(d.root, (r) => {
        if (r.path === p) found = r;
      });
      return found!;
    };
    const delta = (r: ModuleRow) => r.countsB!.parameters.owned - r.countsA!.parameters.owned;
    // The whole difference sits in lm_head: it owned nothing (its weight was wte's) and now owns its own.
    assert.strictEqual(delta(d.root), untiedUnique - tiedUnique);
    assert.strictEqual(delta(row('lm_head')), untiedUnique - tiedUnique);
    assert.strictEqual(delta(row('transformer')), 0);
    assert.strictEqual(row('lm_head').status, 'changed');
    assert.strictEqual(row('transformer.wpe').status, 'equal');
    checkInvariants(d);
  }

  it('full-size GPT-2 safetensors: +38,597,376 parameters, the tie lost (counts from torch)', async () => {
    const d = await compare(fullSize('gpt2-124m'), fullSize('gpt2-124m-untied'));
    assert.strictEqual(ST['gpt2-124m-untied'].parameters.unique - ST['gpt2-124m'].parameters.unique, 38_597_376);
    checkSeed(d, ST['gpt2-124m'].parameters.unique, ST['gpt2-124m-untied'].parameters.unique);
    // config.json says why: the untied model sets tie_word_embeddings false.
    assert.deepStrictEqual(d.config.map((c) => [c.key, c.status, c.b]), [['tie_word_embeddings', 'added', false]]);
    const text = renderDiffText(d);
    assert.match(text, /^~ {3}\(lm_head\): Linear\(in_features=768, out_features=50257, bias=False\)\s+\+38\.6M {2}tie lost: transformer\.wte\.weight$/m);
    assert.match(text, /^parameters: 124,439,808 → 163,037,184 {2}\(\+38,597,376\)/m);
    assert.match(text, /^different: 2 tensors changed, 1 tie lost, 1 config key differs$/m);
  });

  it('full-size GPT-2 .bin written by torch (skeletons): the same answer', async () => {
    const a = path.join(dir, 'tied.bin');
    const b = path.join(dir, 'replaced.bin');
    rebuildSkeleton(fixture('pytorch', 'gpt2-124m-tied.bin.skel.gz'), a);
    rebuildSkeleton(fixture('pytorch', 'gpt2-124m-replaced-head.bin.skel.gz'), b);
    const d = await compare(a, b);
    checkSeed(d, PT['gpt2-124m-tied.bin'].parameters.unique, PT['gpt2-124m-replaced-head.bin'].parameters.unique);
    assert.strictEqual(d.shared.lost[0].relation, 'alias');
  });

  it('small tied vs replaced head, PyTorch and safetensors; reversed, the tie is gained', async () => {
    const pt = await compare(fixture('pytorch', 'gpt2-tied.pt'), fixture('pytorch', 'gpt2-replaced-head.pt'));
    checkSeed(pt, PT['gpt2-tied.pt'].parameters.unique, PT['gpt2-replaced-head.pt'].parameters.unique);
    const st = await compare(fixture('safetensors', 'gpt2-tied'), fixture('safetensors', 'gpt2-untied'));
    checkSeed(st, ST['gpt2-tied'].parameters.unique, ST['gpt2-untied'].parameters.unique);
    const back = await compare(fixture('safetensors', 'gpt2-untied'), fixture('safetensors', 'gpt2-tied'));
    assert.deepStrictEqual(back.shared.lost, []);
    assert.strictEqual(back.shared.gained.length, 1);
    assert.strictEqual(back.shared.gained[0].relation, 'declared');
    assert.strictEqual(back.b.parameters.unique - back.a.parameters.unique, ST['gpt2-tied'].parameters.unique - ST['gpt2-untied'].parameters.unique);
    assert.match(renderDiffText(back), /\(lm_head\): .*tie gained: transformer\.wte\.weight/);
    checkInvariants(back);
  });
});

describe('diff: what torch says differs', () => {
  it('fp32 vs fp16: exactly the floating-point tensors change dtype; counts equal, bytes halve', async () => {
    const a = PT['gpt2-tied.pt'];
    const b = PT['gpt2-fp16.pt'];
    const d = await compare(fixture('pytorch', 'gpt2-tied.pt'), fixture('pytorch', 'gpt2-fp16.pt'));
    const expected = Object.keys(a.tensors).filter((n) => a.tensors[n].dtype !== b.tensors[n].dtype).sort();
    assert.ok(expected.length > 20);
    assert.deepStrictEqual(names(d.changed), expected);
    for (const p of d.changed) assert.deepStrictEqual(p.changes, ['dtype'], p.key);
    assert.deepStrictEqual(d.a.parameters, a.parameters);
    assert.deepStrictEqual(d.b.parameters, b.parameters);
    assert.deepStrictEqual([d.shared.lost, d.shared.gained], [[], []]);
    // Stored bytes as torch has them: each storage once.
    const stored = (t: any) => {
      const seen = new Set<string>();
      let n = 0;
      for (const g of t.shared) for (const x of g.tensors.slice(1)) seen.add(x);
      for (const [k, v] of Object.entries<any>(t.tensors)) if (!seen.has(k)) n += v.nbytes;
      return n;
    };
    const r = toDiffReport(d);
    assert.strictEqual(r.bytes.delta, stored(b) - stored(a));
    assert.strictEqual(r.modules.bytes.owned.delta, stored(b) - stored(a));
    checkInvariants(d);
  });

  it('a .bin and its safetensors export are the same model (tie stored on one side, declared on the other), to the byte', async () => {
    const t = DT['hf-export'];
    const d = await compare(fixture('diff', 'hf-export', 'pytorch_model.bin'), fixture('diff', 'hf-export', 'model.safetensors'), true);
    assert.strictEqual(d.equal, true, d.reasons.join());
    assert.deepStrictEqual([d.added, d.removed, d.changed, d.renamed], [[], [], [], []]);
    assert.deepStrictEqual(d.a.parameters, t.model.parameters);
    assert.deepStrictEqual(d.b.parameters, t.model.parameters);
    assert.deepStrictEqual(d.a.buffers, t.model.buffers);
    assert.strictEqual(d.shared.same.length, 1);
    assert.deepStrictEqual([...d.shared.same[0].tensors].sort(), [...t.tie].sort());
    assert.deepStrictEqual(d.shared.same[0].relation, { a: 'alias', b: 'declared' });
    assert.strictEqual(d.data!.different, 0);
    assert.strictEqual(d.data!.unknown, 0);
    assert.strictEqual(d.data!.equal, Object.keys(t.tensors).length);
    assert.ok(d.data!.bytesHashed > 0);
    assert.match(renderDiffText(d), /^equal: .*declared on one side and stored on the other: the same sharing.*data equal/m);
    checkInvariants(d);
  });

  it('DataParallel-prefixed vs plain: renamed, not removed and added (safetensors names and the PyTorch reader\'s stripped prefix)', async () => {
    const t = DT['st-dataparallel'];
    const d = await compare(fixture('diff', 'st-dataparallel'), fixture('diff', 'st-plain'), true);
    assert.deepStrictEqual([d.added, d.removed, d.changed], [[], [], []]);
    const renamed = Object.fromEntries(d.renamed.map((p) => [p.renamed!.from, p.renamed!.to]));
    assert.deepStrictEqual(renamed, t.renamed);
    for (const p of d.renamed) assert.deepStrictEqual(p.renamed!.prefix, { from: 'module.', to: '' });
    assert.strictEqual(d.equal, false);
    assert.deepStrictEqual(d.reasons, [`${Object.keys(t.renamed).length} tensors renamed`]);
    assert.deepStrictEqual(d.a.parameters, t.model.parameters);
    assert.strictEqual(d.shared.same.length, 1, 'the tie is the same tie under both names');
    assert.strictEqual(d.data!.different, 0);
    // The aligned tree has B's paths; A's own path is kept.
    assert.strictEqual(d.root.children.find((c) => c.name === 'transformer')!.aPath, 'module.transformer');
    checkInvariants(d);

    // torch.save of the same DataParallel state dict: the reader shows the names without
    // `module.`, but the keys are the ones the safetensors file has: nothing is renamed.
    const same = await compare(fixture('diff', 'pt-dataparallel.pt'), fixture('diff', 'st-dataparallel'), true);
    assert.strictEqual(same.equal, true, same.reasons.join());
    assert.strictEqual(same.data!.different, 0);
    const plain = await compare(fixture('diff', 'pt-dataparallel.pt'), fixture('diff', 'st-plain'));
    assert.deepStrictEqual(Object.fromEntries(plain.renamed.map((p) => [p.renamed!.from, p.renamed!.to])), t.renamed);
    checkInvariants(same);
    checkInvariants(plain);

    const pt = await compare(fixture('pytorch', 'gpt2-dataparallel.pt'), fixture('pytorch', 'gpt2-tied.pt'), true);
    const n = Object.keys(PT['gpt2-dataparallel.pt'].tensors).length;
    assert.strictEqual(pt.renamed.length, n);
    assert.ok(pt.renamed.every((p) => p.renamed!.from === `module.${p.key}` && p.renamed!.to === p.key));
    assert.deepStrictEqual([pt.added, pt.removed, pt.changed], [[], [], []]);
    assert.strictEqual(pt.data!.equal, n, 'DataParallel saved the same tensors');
  });

  it('LoRA merged vs base: structure equal; only --data sees the merged weights', async () => {
    const t = DT.lora;
    const a = fixture('diff', 'lora', 'base');
    const b = fixture('diff', 'lora', 'lora-merged');
    const s = await compare(a, b);
    assert.strictEqual(s.equal, true);
    assert.strictEqual(s.data, undefined);
    assert.match(renderDiffText(s), /data not compared/);
    const d = await compare(a, b, true);
    assert.strictEqual(d.equal, false);
    assert.deepStrictEqual(names(d.changed), t.differ);
    for (const p of d.changed) assert.deepStrictEqual(p.changes, ['data']);
    assert.strictEqual(d.data!.different, t.differ.length);
    assert.strictEqual(d.data!.equal, d.pairs.length - t.differ.length);
    assert.deepStrictEqual(d.a.parameters, t.base.parameters);
    checkInvariants(d);
  });

  it('a pruned model: the pruned tensors change shape, counts as torch counts them', async () => {
    const t = DT.pruned;
    const d = await compare(fixture('diff', 'lora', 'base'), fixture('diff', 'pruned'));
    assert.deepStrictEqual(names(d.changed), t.changed);
    for (const p of d.changed) {
      assert.deepStrictEqual(p.changes, ['shape']);
      assert.deepStrictEqual(p.b!.shape, t.shapes[p.key].shape);
    }
    assert.deepStrictEqual(d.a.parameters, t.base.parameters);
    assert.deepStrictEqual(d.b.parameters, t.pruned.parameters);
    const r = toDiffReport(d);
    assert.strictEqual(r.parameters.unique.delta, t.pruned.parameters.unique - t.base.parameters.unique);
    const layer0 = r.modules.children.find((c) => c.name === 'model')!.children.find((c) => c.name === 'layers')!.children.find((c) => c.name === '0')!;
    const mlp = layer0.children.find((c) => c.name === 'mlp')!;
    assert.strictEqual(mlp.status, 'changed');
    assert.strictEqual(mlp.parameters.owned.delta, -3 * 16 * 12);
    assert.strictEqual(layer0.children.find((c) => c.name === 'self_attn')!.status, 'equal');
    assert.strictEqual(mlp.children.find((c) => c.name === 'gate_proj')!.typeChanged, true);
    checkInvariants(d);
  });

  it('GGUF vs its Hugging Face export: every name renamed by llama.cpp\'s map, quantized tensors change dtype, the tie is the same', async function () {
    this.timeout(30_000);
    const t = DT['llama-gguf'];
    const dir = tempDir();
    try {
      sparseFromHeader(fixture('diff', 'llama-hf', 'model.safetensors.header'), t.dataSize, path.join(dir, 'model.safetensors'));
      fs.copyFileSync(fixture('diff', 'llama-hf', 'config.json'), path.join(dir, 'config.json'));
      const gguf = fixture('gguf', 'tiny-llama.gguf');
      const d = await compare(gguf, dir);
      assert.deepStrictEqual([d.added, d.removed], [[], []]);
      const renamed = Object.fromEntries(d.renamed.map((p) => [p.renamed!.from, p.renamed!.to]));
      assert.deepStrictEqual(renamed, t.mapping);
      assert.ok(d.renamed.every((p) => p.renamed!.rule === 'gguf'));
      const retyped = Object.keys(t.ggufDtypes).filter((g) => t.ggufDtypes[g] !== 'float32').map((g) => t.mapping[g]).sort();
      assert.deepStrictEqual(names(d.changed), retyped);
      for (const p of d.changed) assert.deepStrictEqual(p.changes, ['dtype']);
      assert.deepStrictEqual(d.a.parameters, t.model.parameters);
      assert.deepStrictEqual(d.b.parameters, t.model.parameters);
      assert.deepStrictEqual(d.shared.same.map((s) => [...s.tensors].sort()), [['lm_head.weight', 'model.embed_tokens.weight']]);
      assert.deepStrictEqual([d.shared.lost, d.shared.gained], [[], []]);
      checkInvariants(d);
      // The other way round: B's (GGUF) names are the comparison's names.
      const back = await compare(dir, gguf);
      assert.deepStrictEqual(Object.fromEntries(back.renamed.map((p) => [p.renamed!.to, p.renamed!.from])), t.mapping);
      assert.deepStrictEqual([back.added, back.removed], [[], []]);
      checkInvariants(back);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('diff: every fixture against itself is equal', () => {
  const list = [
    ['safetensors', 'gpt2-tied'],
    ['safetensors', 'gpt2-sharded'],
    ['safetensors', 'gpt2-sequential'],
    ['safetensors', 'llama-bf16'],
    ['pytorch', 'gpt2-module.pt'],
    ['pytorch', 'gpt2-lightning.ckpt'],
    ['pytorch', 'gpt2-legacy.pt'],
    ['pytorch', 'fused-qkv.pt'],
    ['pytorch', 'fused-qkv-module.pt'],
    ['pytorch', 'quantized-int8.pt'],
    ['pytorch-extra', 'model-and-ema.pt'],
    ['gguf', 'tiny-llama.gguf'],
    ['gguf', 'split'],
    ['onnx', 'tiny-gpt2.onnx'],
    ['onnx', 'external'],
  ];
  for (const parts of list) {
    it(parts.join('/'), async () => {
      const p = fixture(...parts);
      const d = await compareCheckpoints(await open(p), await open(p), { data: true });
      assert.strictEqual(d.equal, true, d.reasons.join());
      assert.strictEqual(d.data!.different, 0);
      assert.deepStrictEqual([d.metadata, d.config], [[], []]);
      assert.ok(d.pairs.every((x) => x.status === 'equal'));
      checkInvariants(d);
    });
  }

  it('a training checkpoint vs the model alone: only the optimizer state is removed', async () => {
    const d = await compare(fixture('pytorch', 'gpt2-lightning.ckpt'), fixture('pytorch', 'gpt2-tied.pt'));
    const roles: Record<string, string> = PT['gpt2-lightning.ckpt'].roles;
    const beside = Object.keys(roles).filter((n) => roles[n] !== 'parameter' && roles[n] !== 'buffer').sort();
    assert.ok(beside.length > 0);
    assert.deepStrictEqual(names(d.removed), beside);
    assert.deepStrictEqual([d.added, d.changed, d.renamed], [[], [], []]);
    assert.deepStrictEqual(d.b.parameters, PT['gpt2-tied.pt'].parameters);
    assert.match(renderDiffText(d), /^different: \d+ tensors removed \(all optimizer state or values saved beside the model; the model's tensors are equal\)$/m);
    checkInvariants(d);
  });

  it('one file vs three shards of the same structure: equal', async () => {
    const d = await compare(fixture('safetensors', 'gpt2-tied'), fixture('safetensors', 'gpt2-sharded'));
    assert.strictEqual(d.equal, true, d.reasons.join());
    assert.ok(d.metadata.some((m) => m.key === 'index.total_size' && m.status === 'added'), 'the index is metadata, listed but not counted');
    checkInvariants(d);
  });

  it('tensors without a known byte range (sparse tensors in a pickle) are counted as unknown, not as equal', async () => {
    const p = fixture('pytorch-extra', 'sparse-dict.pt');
    const d = await compareCheckpoints(await open(p), await open(p), { data: true });
    const unknown = d.pairs.filter((x) => x.a!.dataOffset === null).length;
    assert.ok(unknown > 0);
    assert.strictEqual(d.data!.unknown, unknown);
    assert.strictEqual(d.equal, true);
    assert.match(renderDiffText(d), new RegExp(`${unknown} not comparable`));
  });

  it('fused q/k/v row views: each block owns its rows, the transposed alias owns nothing', async () => {
    const p = fixture('pytorch', 'fused-qkv.pt');
    const d = compareStructure(await open(p), await open(p));
    const owned = Object.fromEntries(d.pairs.map((x) => [x.key, x.ownedA]));
    assert.deepStrictEqual([owned['q_proj.weight'], owned['k_proj.weight'], owned['v_proj.weight']], [64, 64, 64]);
    assert.strictEqual(owned['out_proj.weight'] + owned['out_proj_t.weight'], 64);
  });

  it('modules with equal parameter counts keep their own bytes and buffers (rows share counts only when all are equal)', async () => {
    // a, b and c hold 16 parameters each: b in half the bytes, c with a buffer beside them.
    const dir = tempDir();
    try {
      const header = {
        'a.weight': { dtype: 'F32', shape: [4, 4], data_offsets: [0, 64] },
        'b.weight': { dtype: 'F16', shape: [4, 4], data_offsets: [64, 96] },
        'c.weight': { dtype: 'F32', shape: [4, 4], data_offsets: [96, 160] },
        'c.running_mean': { dtype: 'F32', shape: [4], data_offsets: [160, 176] },
      };
      const file = path.join(dir, 'model.safetensors');
      fs.writeFileSync(file, safetensorsBytes(header, 176));
      const d = compareStructure(await open(file), await open(file));
      const counts = d.root.children.map((r) => [r.path, r.countsB!.parameters.unique, r.countsB!.buffers.unique, r.countsB!.bytes.unique, r.countsB!.bytes.owned]);
      assert.deepStrictEqual(counts, [
        ['a', 16, 0, 64, 64],
        ['b', 16, 0, 32, 32],
        ['c', 16, 4, 80, 80],
      ]);
      checkInvariants(d);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('matches a 5,000-tensor checkpoint with a renamed copy, every tensor through the prefix rule', async () => {
    // Names under `module.` on one side: every tensor is matched through the prefix rule.
    const dir = tempDir();
    try {
      const header: Record<string, unknown> = {};
      const renamed: Record<string, unknown> = {};
      let off = 0;
      for (let i = 0; i < 5_000; i++) {
        const n = `layers.${Math.floor(i / 10)}.p${i % 10}.weight`;
        header[n] = { dtype: 'F32', shape: [4], data_offsets: [off, off + 16] };
        renamed[`module.${n}`] = header[n];
        off += 16;
      }
      fs.writeFileSync(path.join(dir, 'a.safetensors'), safetensorsBytes(header, off));
      fs.writeFileSync(path.join(dir, 'b.safetensors'), safetensorsBytes(renamed, off));
      const d = compareStructure(await open(path.join(dir, 'a.safetensors')), await open(path.join(dir, 'b.safetensors')));
      assert.strictEqual(d.renamed.length, 5_000);
      assert.deepStrictEqual([d.added.length, d.removed.length, d.changed.length], [0, 0, 0]);
      assert.deepStrictEqual(d.renamed[0].renamed!.prefix, { from: '', to: 'module.' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('diff: --data', () => {
  it('streams in bounded chunks and reports progress up to the total', async () => {
    const a = await open(fixture('diff', 'lora', 'base'));
    const b = await open(fixture('diff', 'lora', 'lora-merged'));
    const seen: number[] = [];
    let total = -1;
    const d = await compareCheckpoints(a, b, {
      data: true,
      chunkSize: 1000,
      onProgress: (p) => {
        seen.push(p.bytesHashed);
        total = p.totalBytes;
      },
    });
    assert.ok(seen.length > 20, 'many small reads');
    assert.ok(seen.every((x, i) => i === 0 || x >= seen[i - 1]), 'monotonic');
    assert.strictEqual(seen[seen.length - 1], total);
    assert.strictEqual(d.data!.bytesHashed, total);
    assert.strictEqual(d.data!.different, DT.lora.differ.length);
  });

  it('a file shorter than its header says is a CheckpointError, not a crash', async () => {
    const dir = tempDir();
    try {
      const header = { w: { dtype: 'F32', shape: [256], data_offsets: [0, 1024] } };
      const full = safetensorsBytes(header, 1024);
      fs.writeFileSync(path.join(dir, 'a.safetensors'), full);
      fs.writeFileSync(path.join(dir, 'b.safetensors'), Buffer.from(full).fill(1, full.length - 1024));
      const a = await open(path.join(dir, 'a.safetensors'));
      const b = await open(path.join(dir, 'b.safetensors'));
      fs.truncateSync(path.join(dir, 'b.safetensors'), full.length - 100);
      await assert.rejects(compareCheckpoints(a, b, { data: true }), (e: Error) => e.name === 'CheckpointError' && /file ends at/.test(e.message));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('diff: JSON (schema 1) and the CLI', function () {
  this.timeout(60_000);

  it('toDiffReport: the documented fields, with deltas and both sides per module row', async () => {
    const d = await compare(fixture('safetensors', 'gpt2-tied'), fixture('safetensors', 'gpt2-untied'));
    const r = JSON.parse(JSON.stringify(toDiffReport(d)));
    assert.strictEqual(r.schema, 1);
    assert.strictEqual(r.kind, 'diff');
    assert.strictEqual(r.equal, false);
    for (const k of ['reasons', 'added', 'removed', 'changed', 'renamed', 'metadata', 'config']) assert.ok(Array.isArray(r[k]), k);
    for (const k of ['gained', 'lost', 'changed', 'same']) assert.ok(Array.isArray(r.shared[k]), `shared.${k}`);
    for (const s of [r.a, r.b]) for (const k of ['path', 'format', 'files', 'parameters', 'buffers', 'bytes', 'tensors', 'warnings']) assert.ok(k in s, k);
    assert.deepStrictEqual(r.parameters.unique, { a: 42_784, b: 46_880, delta: 4_096 });
    assert.deepStrictEqual(r.changed.map((c: any) => c.name).sort(), ['lm_head.weight', 'transformer.wte.weight']);
    assert.deepStrictEqual(r.changed[0].fields, ['sharing']);
    for (const c of r.changed) for (const k of ['name', 'dtype', 'shape', 'role', 'numel', 'nbytes', 'present', 'storage']) assert.ok(k in c.a && k in c.b, k);
    assert.strictEqual(r.shared.lost[0].relation, 'declared');
    const check = (m: any) => {
      for (const k of ['name', 'path', 'status', 'type', 'parameters', 'buffers', 'bytes', 'changed', 'renamed', 'tensors', 'children']) assert.ok(k in m, `${m.path}: ${k}`);
      for (const k of ['unique', 'total', 'owned']) assert.deepStrictEqual(Object.keys(m.parameters[k]), ['a', 'b', 'delta']);
      for (const t of m.tensors) for (const k of ['name', 'status', 'a', 'b', 'owned', 'ownedBytes']) assert.ok(k in t, k);
      m.children.forEach(check);
    };
    check(r.modules);
    const head = r.modules.children.find((c: any) => c.name === 'lm_head');
    assert.strictEqual(head.parameters.owned.delta, 4_096);
    assert.strictEqual(head.tensors[0].tieLost, 0);
    assert.strictEqual(head.tensors[0].a.present, false);
    assert.strictEqual(head.tensors[0].b.present, true);
  });

  it('exit status 0 when equal, 3 when different, 1 on a bad file, 2 on usage errors', () => {
    const bin = fixture('diff', 'hf-export', 'pytorch_model.bin');
    const st = fixture('diff', 'hf-export', 'model.safetensors');
    const eq = cli('diff', bin, st, '--data');
    assert.strictEqual(eq.status, 0, eq.stderr);
    assert.match(eq.stdout, /^equal: /m);
    const ne = cli('diff', fixture('safetensors', 'gpt2-tied'), fixture('safetensors', 'gpt2-untied'));
    assert.strictEqual(ne.status, 3, ne.stderr);
    assert.match(ne.stdout, /^~ {3}\(lm_head\): .*tie lost: transformer\.wte\.weight$/m);
    const bad = cli('diff', bin, fixture('pytorch', 'broken-random.bin'));
    assert.strictEqual(bad.status, 1);
    assert.match(bad.stderr, /^error: .*broken-random\.bin/);
    assert.strictEqual(bad.stdout, '');
    assert.strictEqual(cli('diff', bin, path.join(fixture('diff'), 'missing.safetensors')).status, 1);
    // Both fail: the error is a's, though b (a missing file) fails before a is read.
    for (let i = 0; i < 3; i++) {
      const both = cli('diff', fixture('pytorch', 'broken-random.bin'), path.join(fixture('diff'), 'missing.safetensors'));
      assert.strictEqual(both.status, 1);
      assert.match(both.stderr, /^error: .*broken-random\.bin/);
    }
    for (const args of [['diff', bin], ['diff'], ['diff', bin, st, st], ['diff', bin, st, '--format', 'png'], ['diff', bin, st, '--frobnicate'], ['diff', bin, st, '--depth', 'x'], ['diff', bin, st, '--json', '--format', 'markdown']]) {
      const r = cli(...args);
      assert.strictEqual(r.status, 2, args.join(' '));
      assert.match(r.stderr, /^weightscope diff: /);
    }
    const help = cli('diff', '--help');
    assert.strictEqual(help.status, 0);
    assert.match(help.stdout, /exit status: 0 equal, 3 different/);
    assert.match(cli('--help').stdout, /weightscope diff <a> <b>/);
  });

  it('--json, --format markdown, -o, --depth', () => {
    const dir = tempDir();
    try {
      const a = fixture('diff', 'lora', 'base');
      const b = fixture('diff', 'pruned');
      const j = cli('diff', a, b, '--json');
      assert.strictEqual(j.status, 3);
      const r = JSON.parse(j.stdout);
      assert.strictEqual(r.schema, 1);
      assert.deepStrictEqual(r.changed.map((c: any) => c.name).sort(), DT.pruned.changed);
      const out = path.join(dir, 'diff.md');
      const m = cli('diff', a, b, '--format', 'markdown', '-o', out);
      assert.strictEqual(m.status, 3);
      assert.strictEqual(m.stdout, '');
      const md = fs.readFileSync(out, 'utf8');
      assert.match(md, /^\*\*Different\*\*: 5 tensors changed$/m);
      assert.match(md, /^\| parameters \(unique\) \| 5,712 \| 4,880 \| −832 \|$/m);
      // Brackets are escaped in Markdown text cells (GFM shows them as typed).
      assert.ok(md.includes('| ~ | `model.layers.0.mlp.gate_proj.weight` | float32 [32, 16] | float32 [20, 16] | shape \\[32, 16\\] → \\[20, 16\\] |\n'), md);
      const shallow = cli('diff', a, b, '--depth', '1');
      assert.doesNotMatch(shallow.stdout, /gate_proj\)?: Linear/);
      assert.match(shallow.stdout, /^~ {3}\(model\): Module\(…\)/m);
      assert.strictEqual(cli('diff', a, b, '-o', path.join(dir, 'no', 'such', 'dir.txt')).status, 1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names from the files are escaped for the terminal and for Markdown', async () => {
    const dir = tempDir();
    try {
      const evil = 'x\u001b[2J\u001b[31m.weight';
      const base = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
      fs.writeFileSync(path.join(dir, 'a.safetensors'), safetensorsBytes(base, 8));
      fs.writeFileSync(path.join(dir, 'b.safetensors'), safetensorsBytes({ ...base, [evil]: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, 16));
      const r = cli('diff', path.join(dir, 'a.safetensors'), path.join(dir, 'b.safetensors'));
      assert.strictEqual(r.status, 3);
      assert.ok(!r.stdout.includes('\u001b'), 'no raw escape reaches the terminal');
      assert.match(r.stdout, /x\\x1b\[2J/);
      const d = await compare(path.join(dir, 'a.safetensors'), path.join(dir, 'b.safetensors'));
      assert.ok(!renderDiffMarkdown(d).includes('\u001b'));
      assert.deepStrictEqual(names(d.added), [evil]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('diff: a tie of many names is listed as the exports list groups (first 8, then "… and K more")', () => {
  // 30 names on one storage in a, each on its own in b: the tie is lost, and in b its 30 members
  // are 30 parts, each alone. Built in memory: what is tested is the listing, not a reader.
  const N = 30;
  const names = Array.from({ length: N }, (_, i) => `blocks.${i}.weight`);
  const rec = (name: string, storage: string): TensorRecord => ({
    name, dtype: 'float32', shape: [4, 4], nbytes: 64, file: 'x.pt', dataOffset: 0, storage, storageOffset: 0, strides: null,
  });
  const raw = (storage: (i: number) => string): RawCheckpoint => ({
    format: 'pytorch', path: '/tmp/x.pt', files: ['x.pt'], tensors: names.map((n, i) => rec(n, storage(i))),
    declaredTies: [], metadata: {}, warnings: [], bytesRead: 0, totalBytes: 0,
  });
  const d = compareStructure(analyze(raw(() => 's0')), analyze(raw((i) => `s${i}`)));
  const more = `… and ${N - 8} more`;

  it('the diff holds the whole tie (the JSON lists all)', () => {
    assert.strictEqual(d.shared.lost.length, 1);
    assert.strictEqual(d.shared.lost[0].tensors.length, N);
    assert.strictEqual(d.shared.lost[0].other.length, N);
  });

  it('text, Markdown, SVG and the comparison view name 8 members and 8 parts, then how many more', () => {
    const text = renderDiffText(d).split('\n').find((l) => l.trim().startsWith('- lost'))!;
    assert.strictEqual(text.trim(), `- lost    ${names.slice(0, 8).join(' = ')} ${more} (alias); in b: ${names.slice(0, 8).map((n) => `${n} alone`).join('; ')} ${more}`);
    const md = renderDiffMarkdown(d).split('\n').find((l) => l.trim().startsWith('- **lost**'))!;
    assert.strictEqual(md.trim(), `- **lost**: ${names.slice(0, 8).map((n) => `\`${n}\``).join(' = ')} ${more} (alias); in b: ${names.slice(0, 8).map((n) => `\`${n}\` alone`).join('; ')} ${more}`);
    const svg = renderDiffSvg(d);
    const title = /<path class="tie-link lost"[^>]*><title>([^<]*)<\/title>/.exec(svg)!;
    assert.strictEqual(title[1], `tie lost (a, alias): ${names.slice(0, 8).join(' = ')} ${more}`);
    const head = new CompareIndex(d).head();
    assert.strictEqual(head.ties[0], `lost: ${names.slice(0, 8).join(' = ')} ${more} (alias in a); in b: ${names.slice(0, 8).map((n) => `${n} alone`).join('; ')} ${more}`);
  });
});
