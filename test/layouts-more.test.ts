import * as assert from 'assert';
import { openCheckpoint, toReport } from '../src/core';
import { fixture, readJson } from './helpers';

/** scripts/fixtures/make_layouts_more.py: torch's counts of each file's model. */
interface Truth {
  parameters: { unique: number; total: number };
  buffers: number;
  other: number;
  layout: string;
}

const truth = readJson<Record<string, Truth>>(fixture('layouts-more', 'ground-truth.json'));
const open = async (name: string) => toReport(await openCheckpoint(fixture('layouts-more', name)));
const byName = (r: Awaited<ReturnType<typeof open>>, name: string) => r.tensors.find((t) => t.name === name)!;

describe('training-framework layouts match torch', () => {
  for (const [name, t] of Object.entries(truth)) {
    it(`${name}: parameters, buffers, other and layout equal torch's`, async () => {
      const r = await open(name);
      assert.deepStrictEqual(r.parameters, t.parameters);
      assert.strictEqual(r.buffers.total, t.buffers);
      assert.strictEqual(r.other.total, t.other);
      assert.strictEqual((r.metadata.pytorch as Record<string, unknown>).layout, t.layout);
    });
  }

  describe('DeepSpeed ZeRO-3 model states', () => {
    it('placeholders take the shapes of param_shapes and frozen_param_shapes, a tie shares its target, with a warning', async () => {
      const r = await open('zero3-model-states.pt');
      // torch: LM().embed.weight [30, 16], tied to head.weight (shared_params); pos.weight frozen [8, 16]
      assert.deepStrictEqual(byName(r, 'embed.weight').shape, [30, 16]);
      assert.deepStrictEqual(byName(r, 'head.weight').shape, [30, 16]);
      assert.deepStrictEqual(byName(r, 'pos.weight').shape, [8, 16]);
      assert.deepStrictEqual(byName(r, 'fc.weight').shape, [32, 16]);
      assert.strictEqual(byName(r, 'embed.weight').storage, byName(r, 'head.weight').storage);
      assert.ok(r.shared.some((g) => g.tensors.includes('embed.weight') && g.tensors.includes('head.weight')));
      assert.strictEqual(byName(r, 'fc.weight').dataOffset, null, 'the values are not in this file');
      // A float buffer listed in buffer_names, which its name alone would not tell.
      assert.strictEqual(byName(r, 'rope_scale').role, 'buffer');
      assert.match(byName(r, 'rope_scale').roleReason!, /buffer_names/);
      assert.match(byName(r, 'pos.weight').roleReason!, /frozen_param_shapes/);
      const w = r.warnings.find((x) => x.code === 'zero3-partitioned');
      assert.ok(w, r.warnings.map((x) => x.code).join(', '));
      assert.match(w.message, /partitioned into the ZeRO optimizer shard files.*holds 8 placeholders in their place \(under 9 names\); their shapes come from param_shapes and frozen_param_shapes/);
      // No layer is inferred from the empty placeholders.
      const norm = r.modules.children.find((c) => c.name === 'norm')!;
      assert.strictEqual(norm.repr, 'LayerNorm((16,), eps=1e-05, elementwise_affine=True)');
    });

    it('one-element placeholders of old DeepSpeed and param_shapes as one dict', async () => {
      const r = await open('zero3-old-model-states.pt');
      assert.deepStrictEqual(byName(r, '0.weight').shape, [12, 6]);
      assert.deepStrictEqual(byName(r, '1.weight').shape, [12]);
      assert.deepStrictEqual(byName(r, '1.running_mean').shape, [12], 'buffers stay as stored');
      assert.ok(r.warnings.some((x) => x.code === 'zero3-partitioned' && /come from param_shapes \(/.test(x.message)));
    });

    it('ZeRO-2 model states hold the values: nothing replaced, no warning', async () => {
      const r = await open('zero2-model-states.pt');
      assert.ok(!r.warnings.some((x) => x.code === 'zero3-partitioned'));
      assert.notStrictEqual(byName(r, 'fc.weight').dataOffset, null);
      assert.strictEqual(byName(r, 'rope_scale').role, 'buffer');
    });
  });

  describe('EMA copies beside their model', () => {
    it("rosinality's g_ema and StyleGAN2-ADA's G_ema are other, their tree kept", async () => {
      for (const [name, ema] of [['stylegan2-rosinality.pt', 'g_ema'], ['stylegan2-ada-whole.pt', 'G_ema']]) {
        const r = await open(name);
        const copies = r.tensors.filter((t) => t.name.startsWith(`${ema}.`));
        assert.strictEqual(copies.length, 4);
        assert.ok(copies.every((t) => t.role === 'other' && /exponential moving average copy of "(g|G)"/.test(t.roleReason ?? '')), name);
        assert.ok(r.modules.children.some((c) => c.name === ema), name);
      }
    });

    it('an EMA with no model of its name beside it, or a lone ema, is the model', async () => {
      for (const name of ['ema-without-model.pt', 'ema-alone.pt']) {
        const r = await open(name);
        assert.ok(r.tensors.every((t) => t.role === 'parameter'), name);
      }
    });
  });

  it("MoCo's queue beside queue_ptr is a buffer; a queue Parameter without its queue_ptr stays a parameter", async () => {
    const moco = await open('moco-checkpoint.pth.tar');
    assert.strictEqual(byName(moco, 'queue').role, 'buffer');
    const other = await open('queue-names-sd.pt');
    assert.strictEqual(byName(other, 'memory.queue').role, 'parameter');
  });

  describe('random number generator states', () => {
    for (const name of ['rng_state.pth', 'random_states_0.pkl']) {
      it(`${name} alone: no model, its states other, a no-model warning`, async () => {
        const r = await open(name);
        assert.ok(r.tensors.length > 0 && r.tensors.every((t) => t.role === 'other'));
        const w = r.warnings.find((x) => x.code === 'no-model');
        assert.ok(w, r.warnings.map((x) => x.code).join(', '));
        assert.match(w.message, /random number generator states/);
      });
    }

    it('generator states beside models without a model key are other; a uint8 buffer named random_state in a state dict stays a buffer', async () => {
      const r = await open('gan-with-rng.pt');
      assert.strictEqual(byName(r, 'rng_state').role, 'other');
      assert.strictEqual(byName(r, 'cuda_rng_state.0').role, 'other');
      const sd = await open('uint8-buffer-sd.pt');
      assert.strictEqual(byName(sd, 'random_state').role, 'buffer');
      assert.ok(!sd.warnings.some((x) => x.code === 'no-model'));
    });
  });
});
