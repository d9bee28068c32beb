import * as assert from 'assert';
import { parseJson, isObject } from '../src/core/json';
import { coverage, mergeIntervals } from '../src/core/coverage';
import { analyze } from '../src/core/analyze';
import { readCheckpoint } from '../src/core/open';
import { tensorRecord } from '../src/core/tensor-record';
import { toReport } from '../src/core/report';
import { decideRole } from '../src/core/roles';
import { CheckpointError } from '../src/core/errors';
import { Checkpoint, RawCheckpoint, TensorRecord } from '../src/core/model';
import { bytes, bytesExact, compact, exact, percent } from '../src/core/numbers';
import { renderSummary, renderText } from '../src/core/export/text';
import { fixture } from './helpers';

const enc = (s: string) => new TextEncoder().encode(s);

describe('strict JSON', () => {
  it('keeps key order and treats __proto__ as a plain key', () => {
    const v = parseJson(enc('{"b":1,"__proto__":{"polluted":true},"a":[1,2.5e3,"x\\u00e9"]}'), { file: 'f' });
    assert.ok(isObject(v));
    assert.deepStrictEqual([...v.keys()], ['b', '__proto__', 'a']);
    assert.strictEqual(({} as Record<string, unknown>).polluted, undefined);
    assert.deepStrictEqual(v.get('a'), [1, 2500, 'xé']);
  });
  it('rejects duplicate keys with the offset of the second', () => {
    assert.throws(
      () => parseJson(enc('{"k":1, "k":2}'), { file: 'h.json', base: 8 }),
      (e: unknown) => e instanceof CheckpointError && e.code === 'duplicate-key' && e.offset === 8 + 8,
    );
  });
  it('rejects trailing data, bad escapes, leading zeros, control characters and deep nesting', () => {
    for (const bad of ['{"a":1} x', '"\\q"', '01', '"a\nb"', '['.repeat(1000) + ']'.repeat(1000), '{"a":}', 'nul']) {
      assert.throws(() => parseJson(enc(bad), { file: 'f' }), CheckpointError, bad.slice(0, 20));
    }
    assert.throws(() => parseJson(new Uint8Array([0x22, 0xff, 0x22]), { file: 'f' }), /not valid UTF-8/);
  });
});

describe('storage coverage', () => {
  const t = (shape: number[], strides: number[] | null, offElems: number) => ({
    dtype: 'float32',
    shape,
    strides,
    storageOffset: offElems * 4,
    nbytes: shape.reduce((a, b) => a * b, 1) * 4,
  });
  it('a contiguous block covers its bytes', () => {
    assert.deepStrictEqual(coverage(t([3, 4], [4, 1], 12)), [[48, 96]]);
  });
  it('a transpose covers the same bytes as the original', () => {
    assert.deepStrictEqual(coverage(t([4, 3], [1, 4], 0)), coverage(t([3, 4], [4, 1], 0)));
  });
  it('a column slice covers only its columns', () => {
    // rows of 4, take column block [1:3] of a 3x4 matrix: 3 runs of 2 elements
    assert.deepStrictEqual(coverage(t([3, 2], [4, 1], 1)), [[4, 12], [20, 28], [36, 44]]);
  });
  it('broadcast (stride 0) dimensions cover one element', () => {
    assert.deepStrictEqual(coverage(t([5, 1], [0, 1], 2)), [[8, 12]]);
  });
  it('merges overlapping intervals', () => {
    assert.deepStrictEqual(mergeIntervals([[5, 9], [0, 3], [2, 6]]), [[0, 9]]);
  });
});

function rec(name: string, shape: number[], extra: Partial<TensorRecord> = {}): TensorRecord {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    name,
    dtype: 'float32',
    shape,
    nbytes: n * 4,
    file: 'm',
    dataOffset: 0,
    storage: name,
    storageOffset: 0,
    strides: null,
    ...extra,
  };
}

function raw(tensors: TensorRecord[], more: Partial<RawCheckpoint> = {}): RawCheckpoint {
  return { format: 'pytorch-zip', path: 'm', files: ['m'], tensors, declaredTies: [], metadata: {}, warnings: [], bytesRead: 0, totalBytes: 0, ...more };
}

describe('analysis', () => {
  it('three row blocks of one fused weight count once each; a transposed alias adds nothing', () => {
    const s = { storage: 'qkv', strides: [4, 1] };
    const cp = analyze(
      raw([
        rec('attn.q.weight', [4, 4], { ...s, storageOffset: 0 }),
        rec('attn.k.weight', [4, 4], { ...s, storageOffset: 64 }),
        rec('attn.v.weight', [4, 4], { ...s, storageOffset: 128 }),
        rec('attn.qt.weight', [4, 4], { storage: 'qkv', strides: [1, 4], storageOffset: 0 }),
      ]),
    );
    assert.deepStrictEqual(cp.parameters, { unique: 48, total: 64 });
    assert.strictEqual(cp.shared.length, 1);
    assert.strictEqual(cp.shared[0].relation, 'view');
  });

  it('identical views are an alias; module totals count shared storage once per subtree', () => {
    const cp = analyze(
      raw([
        rec('enc.emb.weight', [10, 4], { storage: 's' }),
        rec('dec.emb.weight', [10, 4], { storage: 's' }),
        rec('dec.out.weight', [3, 4]),
      ]),
    );
    assert.strictEqual(cp.shared[0].relation, 'alias');
    assert.deepStrictEqual(cp.parameters, { unique: 52, total: 92 });
    const dec = cp.modules.children.find((c) => c.name === 'dec')!;
    assert.deepStrictEqual(dec.parameters, { unique: 52, total: 52 });
    assert.deepStrictEqual(dec.sharedWith, [{ tensor: 'dec.emb.weight', others: ['enc.emb.weight'], relation: 'alias', group: 0 }]);
    assert.deepStrictEqual(cp.modules.sharedWith, []);
  });

  it('folds consecutive identical numbered blocks in numeric order, and not different ones', () => {
    const ts: TensorRecord[] = [];
    for (const i of [0, 1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9]) ts.push(rec(`h.${i}.fc.weight`, [8, 4]), rec(`h.${i}.fc.bias`, [8]));
    ts.push(rec('h.12.fc.weight', [8, 5]));
    const cp = analyze(raw(ts));
    const h = cp.modules.children[0];
    assert.deepStrictEqual(h.children.map((c) => c.name), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12']);
    assert.deepStrictEqual(h.folds.map((f) => [f.from, f.to, f.count]), [['0', '11', 12]]);
    assert.strictEqual(h.type, 'ModuleList');
    const text = renderText(cp);
    assert.match(text, /\(0-11\): 12 x Block\(/);
    assert.match(text, /\(12\): Block\(/);
  });

  it('folds runs of blocks whose structures alternate, each with the blocks alike', () => {
    // The structure tries take each module's steps after the previous module's: a step that
    // differs must lead elsewhere, and the next block like an earlier one back to its structure.
    const shapes = [[8, 4], [8, 4], [4, 8], [8, 4], [8, 4], [4, 8], [4, 8]];
    const cp = analyze(raw(shapes.map((shape, i) => rec(`h.${i}.fc.weight`, shape))));
    const h = cp.modules.children[0];
    assert.deepStrictEqual(h.folds.map((f) => [f.from, f.to]), [['0', '1'], ['3', '4'], ['5', '6']]);
  });

  it("folds blocks whose children came in another order (a shard's end inside one), and shows each in its own order", () => {
    // Each shard's writer sorts its tensors by name while the shards follow the state dict: the
    // expert a shard's end cuts meets gate, up (in one shard), then down (in the next).
    const ts: TensorRecord[] = [];
    const expert = (i: number, order: string[]) => {
      for (const p of order) ts.push(rec(`e.${i}.${p}.weight`, p === 'down' ? [4, 8] : [8, 4]));
    };
    for (const i of [0, 1]) expert(i, ['down', 'gate', 'up']);
    expert(2, ['gate', 'up', 'down']);
    expert(3, ['down', 'gate', 'up']);
    const cp = analyze(raw(ts));
    const e = cp.modules.children[0];
    assert.deepStrictEqual(e.folds.map((f) => [f.from, f.to, f.count]), [['0', '3', 4]]);
    assert.deepStrictEqual(e.children[2].children.map((c) => c.name), ['gate', 'up', 'down']);
    assert.deepStrictEqual(e.children[3].children.map((c) => c.name), ['down', 'gate', 'up']);
    // Named children in another order are another structure when their names differ, and numbered
    // ones keep their numbers: a block whose 0 and 1 swap shapes does not fold.
    const other = analyze(raw([rec('b.0.x.0.w', [2, 3]), rec('b.0.x.1.w', [3, 2]), rec('b.1.x.1.w', [2, 3]), rec('b.1.x.0.w', [3, 2])]));
    assert.deepStrictEqual(other.modules.children[0].folds, []);
  });

  it('a real two-shard checkpoint (torch, the safetensors writer) folds the layer a shard ends inside with the other', async () => {
    // mtp/deepseek-sharded: model.layers.1.post_attention_layernorm.weight is the one tensor of
    // layer 1 in the second shard, so layer 1 met its children in another order than layer 0.
    const cp = analyze(await readCheckpoint(fixture('mtp', 'deepseek-sharded')));
    const layers = cp.modules.children.find((c) => c.name === 'model')!.children.find((c) => c.name === 'layers')!;
    assert.deepStrictEqual(layers.children[1].children.map((c) => c.name), ['input_layernorm', 'mlp', 'self_attn', 'post_attention_layernorm']);
    assert.deepStrictEqual(layers.folds.map((f) => [f.from, f.to]), [['0', '1']]);
    assert.match(renderText(cp), /\(0-1\): 2 x Block\(/);
  });

  it('numbers a module only by ASCII digits: names that read as numbers elsewhere keep their order and type, and do not fold', () => {
    // Number() reads 1e1, 0x1 and +1, and Unicode's digits include the Arabic-Indic ٣: none is an item of a ModuleList.
    const names = ['1e1', '1e0', '0x1', '+1', '٣', '٢'];
    const cp = analyze(raw(names.map((n) => rec(`h.${n}.fc.weight`, [8, 4]))));
    const h = cp.modules.children[0];
    assert.deepStrictEqual(h.children.map((c) => c.name), names);
    assert.deepStrictEqual(h.children.map((c) => c.type), names.map(() => 'Module'));
    assert.strictEqual(h.type, 'Module');
    assert.deepStrictEqual(h.folds, []);
  });

  it('infers layers with evidence', () => {
    const cp = analyze(
      raw(
        [
          rec('transformer.wte.weight', [50, 8]),
          rec('transformer.h.0.attn.c_attn.weight', [8, 24]),
          rec('transformer.h.0.ln_1.weight', [8]),
          rec('transformer.h.0.ln_1.bias', [8]),
          rec('lm_head.weight', [50, 8]),
          rec('conv.weight', [16, 3, 3, 3]),
          rec('conv.bias', [16]),
          rec('norm.weight', [8]),
          rec('bn.weight', [16]),
          rec('bn.bias', [16]),
          rec('bn.running_mean', [16]),
          rec('bn.running_var', [16]),
          rec('bn.num_batches_tracked', [], { dtype: 'int64', nbytes: 8 }),
        ],
        { config: { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], layer_norm_epsilon: 1e-5 } },
      ),
    );
    const find = (p: string) => {
      let m = cp.modules;
      for (const part of p.split('.')) m = m.children.find((c) => c.name === part)!;
      return m;
    };
    assert.strictEqual(find('transformer.wte').repr, 'Embedding(50, 8)');
    assert.strictEqual(find('transformer.h.0.attn.c_attn').repr, 'Conv1D(nf=24, nx=8)');
    assert.strictEqual(find('transformer.h.0.ln_1').repr, 'LayerNorm((8,), eps=1e-05, elementwise_affine=True)');
    assert.strictEqual(find('lm_head').repr, 'Linear(in_features=8, out_features=50, bias=False)');
    assert.strictEqual(find('conv').repr, 'Conv2d(3, 16, kernel_size=(3, 3))');
    assert.strictEqual(find('norm').type, 'RMSNorm');
    assert.strictEqual(find('bn').type, 'BatchNorm2d', 'dimensionality from the sibling Conv2d');
    assert.match(find('bn').repr ?? '', /^BatchNorm2d\(16, /);
    assert.deepStrictEqual(find('bn').buffers, { unique: 33, total: 33 });
    assert.ok(find('lm_head').evidence);
    assert.strictEqual(cp.modules.type, 'GPT2LMHeadModel');
  });

  it('the config ties the head only when it is absent and an embedding exists', () => {
    const cfg = { model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: 50, tie_word_embeddings: true };
    const base = [rec('model.embed_tokens.weight', [50, 8]), rec('model.norm.weight', [8])];
    const tied = analyze(raw(base, { config: cfg }));
    assert.deepStrictEqual(tied.shared.map((g) => [g.relation, g.tensors.sort()]), [['declared', ['lm_head.weight', 'model.embed_tokens.weight']]]);
    assert.deepStrictEqual(tied.parameters, { unique: 408, total: 808 });
    assert.strictEqual(analyze(raw(base, { config: { ...cfg, tie_word_embeddings: false } })).shared.length, 0);
    assert.strictEqual(analyze(raw(base, { config: { ...cfg, architectures: ['LlamaModel'] } })).shared.length, 0, 'a base model has no head');
    const both = analyze(raw([...base, rec('lm_head.weight', [50, 8])], { config: cfg }));
    // transformers re-ties a head stored apart: the loaded model has the embedding once.
    assert.deepStrictEqual(both.shared.map((g) => [g.relation, g.tensors.sort()]), [['declared', ['lm_head.weight', 'model.embed_tokens.weight']]]);
    assert.deepStrictEqual(both.parameters, { unique: 408, total: 808 });
    assert.strictEqual(both.tensors.find((t) => t.name === 'lm_head.weight')?.extra?.storedStorage, 'lm_head.weight', 'the storage it was read from is kept');
    assert.ok(both.warnings.some((w) => w.code === 'tie-stored-separately'), 'a stored head beside a tying config is flagged');
    const otherShape = analyze(raw([...base, rec('lm_head.weight', [50, 8], { dtype: 'float16', nbytes: 800 })], { config: cfg }));
    assert.strictEqual(otherShape.shared.length, 0, 'not counted once when the layouts differ');
    const llamaDefault = analyze(raw([...base, rec('lm_head.weight', [50, 8])], { config: { ...cfg, tie_word_embeddings: undefined } }));
    assert.strictEqual(llamaDefault.shared.length, 0, "LlamaConfig's default is false");
    assert.ok(!llamaDefault.warnings.some((w) => w.code.startsWith('tie-')));
    const same = analyze(raw([rec('model.embed_tokens.weight', [50, 8], { storage: 's' }), rec('lm_head.weight', [50, 8], { storage: 's' })], { config: cfg }));
    assert.ok(!same.warnings.some((w) => w.code === 'tie-stored-separately'), 'not when they already share storage');
    const noEmb = analyze(raw([rec('model.norm.weight', [8])], { config: cfg }));
    assert.strictEqual(noEmb.shared.length, 0);
    assert.ok(noEmb.warnings.some((w) => w.code === 'tie-target-missing'));
  });
});

describe('roles without class information', () => {
  const role = (name: string, shape: number[], dtype = 'float32') => decideRole(rec(name, shape, { dtype }));
  it('decides buffers by dtype and by the known patterns, with a reason', () => {
    assert.strictEqual(role('x.idx', [3], 'int64').role, 'buffer');
    assert.strictEqual(role('bn.running_var', [3]).role, 'buffer');
    assert.strictEqual(role('h.0.attn.bias', [1, 1, 16, 16]).role, 'buffer');
    assert.strictEqual(role('h.0.attn.bias', [16]).role, 'parameter', 'an ordinary attention bias');
    assert.strictEqual(role('h.0.attn.masked_bias', []).role, 'buffer');
    assert.strictEqual(role('layers.0.rotary_emb.inv_freq', [8]).role, 'buffer');
    assert.strictEqual(role('embeddings.position_ids', [1, 512], 'int64').role, 'buffer');
    const p = role('fc.weight', [3, 3]);
    assert.strictEqual(p.role, 'parameter');
    assert.match(p.reason, /default/);
  });

  it('matches the last part of the name, whole: with or without dots before it', () => {
    const decided = (name: string, shape: number[] = [4, 4]) => {
      const d = role(name, shape);
      return `${d.role}: ${d.reason}`;
    };
    assert.strictEqual(decided('running_mean', [4]), 'buffer: BatchNorm running statistic');
    assert.strictEqual(decided('a.b.num_batches_tracked', []), 'buffer: BatchNorm step counter');
    assert.match(decided('not_running_mean'), /^parameter/);
    assert.match(decided('bn.running_mean_x'), /^parameter/);
    // `(^|_)buffer$`: the local name `buffer`, or one ending `_buffer`.
    assert.strictEqual(decided('m.buffer'), 'buffer: named as a buffer (buffer)');
    assert.strictEqual(decided('buffer'), 'buffer: named as a buffer (buffer)');
    assert.strictEqual(decided('m.x.scale_buffer'), 'buffer: named as a buffer (scale_buffer)');
    assert.match(decided('m.xbuffer'), /^parameter/);
    assert.match(decided('m.buffer.weight'), /^parameter/);
    assert.strictEqual(decided('model.rotary.cos_cached'), 'buffer: rotary embedding cache (cos_cached)');
    assert.strictEqual(decided('freqs_cis'), 'buffer: rotary embedding cache (freqs_cis)');
    assert.match(decided('m.my_cos_cached'), /^parameter/);
    assert.strictEqual(decided('encoder.pe', [64, 16]), 'buffer: sinusoidal positional encoding table (pe)');
    assert.match(decided('encoder.pe', [64]), /^parameter/, 'a one-dimensional pe');
    assert.match(decided('encoder.ape', [64, 16]), /^parameter/);
    assert.strictEqual(decided('x._float_tensor', [1]), 'buffer: fairseq placeholder buffer');
    assert.strictEqual(decided('rope.token_type_ids', [1, 8]), 'buffer: token type id buffer');
  });
});

describe('number formatting', () => {
  it('compact and exact', () => {
    // Three significant digits everywhere (issue 12): no jump from 7.17K to 11M to 926.7M.
    assert.strictEqual(compact(124_439_808), '124M');
    assert.strictEqual(compact(38_597_376), '38.6M');
    assert.strictEqual(compact(7_168), '7.17K');
    assert.strictEqual(compact(11_010_048), '11.0M');
    assert.strictEqual(compact(926_679_040), '927M');
    assert.strictEqual(compact(950), '950');
    assert.strictEqual(compact(1_500_000_000), '1.50B');
    assert.strictEqual(compact(-7_168), '-7.17K');
    assert.strictEqual(exact(163_037_184), '163,037,184');
    assert.strictEqual(exact(-1_234), '-1,234');
    // Rounding carries into the next unit instead of printing 1000K, or 100.0K.
    assert.strictEqual(compact(999_960), '1.00M');
    assert.strictEqual(compact(999_960_000), '1.00B');
    assert.strictEqual(compact(99_999), '100K');
    assert.strictEqual(compact(9_996), '10.0K');
    assert.strictEqual(compact(1_024), '1.02K');
    assert.strictEqual(compact(4_096), '4.10K');
  });

  it('bytes, sizes in messages and shares, by the same rule', () => {
    assert.strictEqual(bytes(497_759_232), '475 MiB');
    assert.strictEqual(bytes(1_610_612_736), '1.50 GiB');
    assert.strictEqual(bytes(1_048_000), '1.00 MiB', '1023.4 KiB reads as 1.00 MiB, not four digits');
    assert.strictEqual(bytes(512), '512 B');
    assert.strictEqual(bytesExact(684_868_123_200), '638 GiB (684,868,123,200 bytes)');
    assert.strictEqual(bytesExact(512), '512 bytes');
    assert.strictEqual(percent(1, 1), '100%');
    assert.strictEqual(percent(309, 1000), '30.9%');
    assert.strictEqual(percent(125, 10_000), '1.25%');
    assert.strictEqual(percent(1, 10_000), '<0.1%');
    assert.strictEqual(percent(0, 3), '0%');
  });
});

describe('folding needs the same shapes, not just the same counts', () => {
  it('two blocks with equal parameter counts but transposed shapes do not fold', () => {
    const cp = analyze(
      raw([
        rec('b.0.x.w', [2, 3, 4]),
        rec('b.1.x.w', [2, 3, 4]),
        rec('b.2.x.w', [4, 3, 2]),
        rec('b.3.x.w', [4, 3, 2], { dtype: 'float16', nbytes: 48 }),
      ]),
    );
    assert.deepStrictEqual(cp.modules.children[0].folds.map((f) => [f.from, f.to]), [['0', '1']]);
  });
});

describe('layers inferred once per structure', () => {
  it('a module that follows one of its name reads as its own tensors say, as it would alone', () => {
    // Each `fc` follows another `fc`: a layer taken from the previous one must still fit.
    const modules: TensorRecord[][] = [
      [rec('l.0.fc.weight', [4, 8])],
      [rec('l.1.fc.weight', [4, 16])],
      [rec('l.2.fc.weight', [4, 16]), rec('l.2.fc.bias', [4])],
      [rec('l.3.fc.weight', [4, 16], { dtype: 'int32' })],
      [rec('l.4.fc.weight', [4, 16], { dtype: 'float16', nbytes: 128 })],
      [rec('l.5.fc.kernel', [4, 16])],
      [rec('l.6.fc.weight', [4, 4, 3, 3])],
      [rec('l.7.fc.weight', [4, 16])],
    ];
    const fcOf = (cp: ReturnType<typeof analyze>, i: number) => {
      const fc = cp.modules.children[0].children[i].children[0];
      return { type: fc.type, repr: fc.repr, evidence: fc.evidence };
    };
    const together = analyze(raw(modules.flat()));
    modules.forEach((m, i) => {
      const alone = analyze(raw(m.map((t) => ({ ...t, name: t.name.replace(/^l\.\d+\./, 'l.0.') }))));
      assert.deepStrictEqual(fcOf(together, i), fcOf(alone, 0), m[0].name);
    });
  });
});

describe('storages and byte ranges', () => {
  it('groups by storage id wherever the places of tensors do not tell storages apart', () => {
    const ids = (cp: Checkpoint) => cp.storages.map((s) => [s.id, s.tensors]);
    // Each file in one run at increasing offsets: every tensor is on its own storage.
    const own = analyze(raw([rec('a', [2], { file: 'x', dataOffset: 8 }), rec('b', [2], { file: 'x', dataOffset: 16 }), rec('c', [2], { file: 'y', dataOffset: 8 })]));
    assert.deepStrictEqual(ids(own), [['a', ['a']], ['b', ['b']], ['c', ['c']]]);
    assert.deepStrictEqual(own.shared, []);
    // A file that comes back after another, and an offset that does not increase, may hold a storage seen before.
    const back = analyze(
      raw([
        rec('a', [2], { file: 'x', dataOffset: 8, storage: 'x:0' }),
        rec('b', [2], { file: 'y', dataOffset: 8, storage: 'y:0' }),
        rec('c', [2], { file: 'x', dataOffset: 8, storage: 'x:0' }),
      ]),
    );
    assert.deepStrictEqual(ids(back), [['x:0', ['a', 'c']], ['y:0', ['b']]]);
    const again = analyze(raw([rec('a', [2], { file: 'x', dataOffset: 8, storage: 's' }), rec('b', [2], { file: 'x', dataOffset: 8, storage: 's' })]));
    assert.deepStrictEqual(ids(again), [['s', ['a', 'b']]]);
    // Empty tensors at one offset are on storages of their own.
    const empty = analyze(raw([rec('a', [0], { file: 'x', dataOffset: 8 }), rec('b', [0], { file: 'x', dataOffset: 8 })]));
    assert.deepStrictEqual(ids(empty), [['a', ['a']], ['b', ['b']]]);
  });

  it('lists each storage once with its tensors; a view byte range starts at its offset', () => {
    const cp = analyze(
      raw([
        rec('q.weight', [2, 4], { storage: 'f:0', storageOffset: 0, strides: [4, 1], dataOffset: 1000, storageNbytes: 96 }),
        rec('k.weight', [2, 4], { storage: 'f:0', storageOffset: 32, strides: [4, 1], dataOffset: 1000, storageNbytes: 96 }),
        rec('t.weight', [4, 2], { storage: 'f:0', storageOffset: 0, strides: [1, 4], dataOffset: 1000, storageNbytes: 96 }),
        rec('b.bias', [3], { storage: 'f:1', dataOffset: 2000 }),
      ]),
    );
    assert.deepStrictEqual(
      cp.storages.map((s) => [s.id, s.dataOffset, s.nbytes, s.tensors]),
      [
        ['f:0', 1000, 96, ['q.weight', 'k.weight', 't.weight']],
        ['f:1', 2000, 12, ['b.bias']],
      ],
    );
    const r = toReport(cp);
    const range = (n: string) => r.tensors.find((t) => t.name === n)!.byteRange;
    assert.deepStrictEqual(range('k.weight'), [1032, 1064]);
    assert.deepStrictEqual(range('t.weight'), [1000, 1032], 'a transpose spans the same bytes');
    assert.deepStrictEqual(range('b.bias'), [2000, 2012]);
  });
});

describe('a flat storage viewed by thousands of parameters (FSDP-style)', () => {
  it('counts it once and lists a bounded number of other names per tensor', () => {
    const n = 5000;
    const ts: TensorRecord[] = [];
    for (let i = 0; i < n; i++) ts.push(rec(`layers.${i}.w`, [4], { storage: 'flat', storageOffset: i * 16, strides: [1], storageNbytes: n * 16 }));
    const cp = analyze(raw(ts));
    assert.deepStrictEqual(cp.parameters, { unique: 4 * n, total: 4 * n });
    assert.strictEqual(cp.shared.length, 1);
    assert.strictEqual(cp.shared[0].relation, 'view');
    const layer = cp.modules.children[0].children[7];
    assert.strictEqual(layer.sharedWith.length, 1);
    assert.strictEqual(layer.sharedWith[0].others.length, 3, 'a few names; the group lists them all');
    assert.strictEqual(layer.sharedWith[0].more, n - 1 - 3);
    assert.strictEqual(cp.shared[layer.sharedWith[0].group].tensors.length, n);
    assert.ok(!layer.sharedWith[0].others.includes('layers.7.w'));
  });
});

describe("the reader's records: analysed in place when handed over, copied otherwise", () => {
  const report = (cp: Checkpoint) => JSON.stringify(toReport(cp));
  // A LoRA adapter saved with its `base_model.model.` prefix, beside a config that ties the head:
  // analyze() strips the prefix from the tensors' names (adapters.ts), while the config's tie is
  // looked up under the names as stored, and so finds no target.
  const adapter = (): RawCheckpoint => {
    const r = (name: string, shape: number[], at: number) => tensorRecord(name, 'float32', 'F32', shape, shape[0] * shape[1] * 4, 'a', at, `a:${name}`, 0, null, shape[0] * shape[1] * 4, undefined);
    return raw(
      [
        r('base_model.model.model.embed_tokens.weight', [50, 8], 0),
        r('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', [4, 8], 1600),
        r('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', [8, 4], 1728),
      ],
      {
        format: 'safetensors',
        config: { architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 50, tie_word_embeddings: true },
        sidecars: { 'adapter_config.json': { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj'] } },
      },
    );
  };

  it('leaves a raw checkpoint as it was unless told to consume it: analysed again, it gives the same checkpoint', () => {
    const r = adapter();
    const first = analyze(r);
    assert.deepStrictEqual(r, adapter(), 'the records are as the reader made them');
    assert.ok(first.tensors.every((t) => !r.tensors.includes(t)), 'the tensors are copies');
    assert.strictEqual(first.tensors[0].name, 'model.embed_tokens.weight', 'the adapter prefix is stripped (from the copy)');
    assert.ok(first.warnings.some((w) => w.code === 'tie-target-missing' && w.message.includes('base_model.model.model.embed_tokens.weight')), 'the config tie names the stored name');
    assert.strictEqual(report(analyze(r)), report(first));
  });

  it('completes the records in place when it consumes them, to the same checkpoint, and refuses them a second time', () => {
    const r = adapter();
    const records = r.tensors.slice();
    const cp = analyze(r, { consume: true });
    assert.strictEqual(report(cp), report(analyze(adapter())));
    assert.deepStrictEqual(cp.tensors, analyze(adapter()).tensors);
    records.forEach((t, i) => assert.strictEqual(cp.tensors[i], t, 'the records are the tensors'));
    assert.strictEqual(r.consumed, true);
    assert.throws(() => analyze(r), /analysed in place already/);
    assert.throws(() => analyze(r, { consume: true }), /analysed in place already/);
  });

  it("every reader's records have a Tensor's fields in a Tensor's order, and give the same checkpoint consumed or copied", async () => {
    const paths = [
      fixture('safetensors', 'gpt2-sharded'),
      fixture('gguf', 'split', 'tiny-llama-split-00001-of-00002.gguf'),
      fixture('pytorch', 'gpt2-module.pt'),
      fixture('pytorch', 'gpt2-dataparallel.pt'),
      fixture('pytorch', 'quantized-int8.pt'),
      fixture('onnx', 'tiny-gpt2.onnx'),
      fixture('quant', 'peft-lora'),
      fixture('quant', 'gptq-4bit-g32'),
      fixture('quant', 'mlx-tied-mixed'),
    ];
    for (const p of paths) {
      const kept = await readCheckpoint(p);
      const copied = analyze(kept);
      const again = analyze(kept);
      const handed = await readCheckpoint(p);
      const consumed = analyze(handed, { consume: true });
      assert.strictEqual(report(again), report(copied), p);
      assert.strictEqual(report(consumed), report(copied), p);
      assert.deepStrictEqual(consumed.tensors, copied.tensors, p);
      assert.ok(consumed.tensors.length > 0, p);
      handed.tensors.forEach((t, i) => {
        assert.strictEqual(consumed.tensors[i], t, `${p}: ${t.name} is the record`);
        assert.deepStrictEqual(Object.keys(t), Object.keys(copied.tensors[i]), `${p}: ${t.name} has the fields of a Tensor in its order`);
      });
    }
  });
});

describe("the summary's `other` line says what those tensors are", () => {
  const otherLine = async (...p: string[]) => renderSummary(analyze(await readCheckpoint(fixture(...p)))).split('\n').find((l) => l.startsWith('other:'));
  it('optimizer state, tensors kept beside the model, or both', async () => {
    assert.strictEqual(await otherLine('pytorch', 'gpt2-lightning.ckpt'), 'other:      15,772 elements (optimizer state)');
    assert.strictEqual(await otherLine('pytorch-extra', 'model-and-ema.pt'), 'other:      24 elements (tensors beside the model, not part of it)');
    const both = analyze(
      raw([rec('w', [4]), rec('opt.m', [3], { role: 'optimizer-state' }), rec('ema.w', [2], { role: 'other' })]),
    );
    assert.match(renderSummary(both), /^other: {6}5 elements \(optimizer state and other tensors beside the model\)$/m);
  });
});
