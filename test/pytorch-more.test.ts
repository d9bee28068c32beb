/**
 * Pickled PyTorch files whose counts went wrong in the second sweep, checked against torch 1.13's
 * own answers (scripts/fixtures/make_pickled_more.py writes test/fixtures/pytorch-more and its
 * ground truth): optimizer state dicts saved alone, FX graph mode quantization's quantize-node
 * qparams, dynamic quantized LSTM/GRU cells that save each bias twice.
 */
import * as assert from 'assert';
import { openCheckpoint, readCheckpoint, toReport } from '../src/core';
import { renderSummary, renderText } from '../src/core/export/text';
import { checkCounts, CountsTruth } from './pytorch-truth';
import { fixture, readJson } from './helpers';

interface MoreTruth extends CountsTruth {
  tensors?: Record<string, { dtype: string; shape: number[] }>;
  optimizerElements?: number;
  optimizerTensors?: number;
  stateEntries?: number;
  optimizers?: number;
  paramGroups?: Record<string, unknown>[];
  noModel?: string;
  torchParameters?: number;
  unfoldedParameters?: number;
  quantizeNodeQparams?: string[];
  otherBuffers?: string[];
  parameterNames?: string[];
  loneNames?: string[];
  packed?: Record<string, { dtype: string; shape: number[] }>;
  ownBiasCopies?: string[];
  notListed?: string[];
}

const F = readJson<{ fixtures: Record<string, MoreTruth> }>(fixture('pytorch-more', 'ground-truth.json')).fixtures;
const px = (name: string) => fixture('pytorch-more', name);
const names = (re: RegExp) => Object.keys(F).filter((n) => re.test(n));

describe('an optimizer state dict saved alone is optimizer state, not a model (torch: 0 parameters, 0 buffers)', () => {
  const alone = names(/^opt-(?!list)/);
  it('the fixtures cover five optimizers, zip and legacy', () => {
    assert.strictEqual(alone.length, 10, alone.join(', '));
    assert.strictEqual(alone.filter((n) => n.endsWith('.legacy.pt')).length, 5);
  });

  for (const name of alone) {
    it(`${name}: no parameters or buffers, every tensor optimizer state, says there is no model`, async () => {
      const t = F[name];
      // torch: 0 and 0 (the file holds no model); every name's role, whatever it says (momentum_buffer)
      await checkCounts(px(name), t);
      const cp = await openCheckpoint(px(name));
      assert.deepStrictEqual(
        cp.tensors.map((x) => [x.name, x.dtype, x.shape.join('x')].join(' ')).sort(),
        Object.entries(t.tensors!).map(([n, e]) => [n, e.dtype, e.shape.join('x')].join(' ')).sort(),
      );
      // torch: sum(v.numel() for s in sd['state'].values() for v in s.values() if tensor)
      assert.deepStrictEqual(cp.other, { unique: t.optimizerElements, total: t.optimizerElements });
      assert.strictEqual(cp.modules.type, 'OptimizerState');
      const pytorch = cp.metadata.pytorch as Record<string, unknown>;
      assert.strictEqual(pytorch.layout, 'optimizer');
      const meta = cp.metadata.checkpoint as { state: string; param_groups: unknown };
      assert.strictEqual(meta.state, `${t.stateEntries} parameter state entries`);
      assert.deepStrictEqual(JSON.parse(JSON.stringify(meta.param_groups)), t.paramGroups);
      const w = cp.warnings.find((x) => x.code === 'no-model');
      assert.ok(w, cp.warnings.map((x) => x.code).join(', '));
      assert.match(w.message, new RegExp(`optimizer's state_dict\\(\\).*its ${t.optimizerTensors} tensors are optimizer state for ${t.stateEntries} parameters`));
      const summary = renderSummary(cp);
      assert.match(summary, /^parameters: 0 unique$/m);
      assert.doesNotMatch(summary, /^buffers:/m);
      assert.match(summary, new RegExp(`^other: +${t.optimizerElements} elements \\(optimizer state\\)$`, 'm'));
      assert.match(renderText(cp), /^OptimizerState\(/m);
    });
  }

  it("RMSprop's momentum_buffer and grad_avg are optimizer state, not a buffer and a parameter", async () => {
    const cp = await openCheckpoint(px('opt-rmsprop-centered.legacy.pt'));
    const mb = cp.tensors.find((x) => x.name === 'state.0.momentum_buffer')!;
    assert.strictEqual(mb.role, 'optimizer-state');
    assert.match(mb.roleReason!, /the file is an optimizer's state_dict\(\), with no model/);
  });

  it("a list of two optimizers' state dicts (a GAN's): all optimizer state", async () => {
    const t = F['opt-list.pt'];
    await checkCounts(px('opt-list.pt'), t);
    const cp = await openCheckpoint(px('opt-list.pt'));
    assert.strictEqual(cp.tensors.length, t.optimizerTensors);
    assert.strictEqual(cp.other.total, t.optimizerElements);
    assert.match(cp.warnings.find((x) => x.code === 'no-model')!.message, /2 optimizers' state_dict\(\)s/);
  });

  for (const name of ['scheduler.pt', 'grad-scaler.pt']) {
    it(`${name}: no tensors, no model, and the warning says what the file is`, async () => {
      const t = F[name];
      await checkCounts(px(name), t);
      const cp = await openCheckpoint(px(name));
      assert.strictEqual(cp.tensors.length, 0);
      const w = cp.warnings.find((x) => x.code === 'no-model');
      assert.ok(w, cp.warnings.map((x) => x.code).join(', '));
      assert.ok(w.message.includes(t.noModel!), w.message);
    });
  }

  it('a model kept under "state" (no param_groups beside it) stays the model', async () => {
    const t = F['model-under-state.pt'];
    await checkCounts(px('model-under-state.pt'), t);
    const cp = await openCheckpoint(px('model-under-state.pt'));
    assert.strictEqual(cp.parameters.unique, t.torchParameters);
    assert.ok(!cp.warnings.some((w) => w.code === 'no-model'));
    assert.notStrictEqual((cp.metadata.pytorch as Record<string, unknown>).layout, 'optimizer');
  });
});

describe("FX graph mode quantization: a quantize node's scale and zero point are quantization state", () => {
  const fxq = names(/^fxq-(linear|convnet)-/);
  it('the fixtures cover state dicts and whole GraphModules', () => {
    assert.deepStrictEqual(fxq.map((n) => n.replace(/^fxq-\w+-/, '')).sort(), ['module.pt', 'module.pt', 'sd.pt', 'sd.pt']);
  });

  for (const name of fxq) {
    it(`${name}: the float model's parameters, the qparams of each quantize node as quantization state`, async () => {
      const t = F[name];
      const cp = await openCheckpoint(px(name));
      // torch: sum(p.numel() for p in prepared.parameters()), the float model as quantized (BatchNorm folded)
      assert.deepStrictEqual(cp.parameters, { unique: t.torchParameters, total: t.torchParameters });
      // torch: the converted model's buffers are only those qparams (t.otherBuffers is empty)
      assert.deepStrictEqual(t.otherBuffers, []);
      assert.deepStrictEqual(cp.buffers, { unique: 0, total: 0 });
      // A whole GraphModule's names may carry a path before the root's own names.
      const qparam = (n: string) => cp.tensors.filter((x) => x.name === n || x.name.endsWith(`.${n}`));
      for (const n of t.quantizeNodeQparams!) {
        const [x] = qparam(n);
        assert.ok(x, `${n} is listed`);
        assert.strictEqual(x.role, 'quantization', `${n}: ${x.roleReason}`);
        assert.match(x.roleReason!, /of a quantize node \(torch\.ao FX graph mode quantization/);
      }
    });
  }

  for (const name of ['fxq-names-quantized-sd.pt', 'fxq-names-float-sd.pt']) {
    it(`${name}: names of that shape that are no pair stay parameters (a lone gain_scale_0, another index, another node)`, async () => {
      const t = F[name];
      const cp = await openCheckpoint(px(name));
      assert.strictEqual(cp.parameters.unique, t.torchParameters);
      // torch: named_parameters() of the model saved
      for (const n of t.parameterNames!) assert.strictEqual(cp.tensors.find((x) => x.name === n)?.role, 'parameter', n);
      assert.deepStrictEqual([...t.loneNames!].sort(), t.parameterNames!.filter((n) => /_(scale|zero_point)_\d+$/.test(n)).sort());
    });
  }
});

describe('dynamic quantized LSTM/GRU: each bias counted once, as its packed Linear holds it', () => {
  const qdyn = names(/^qdyn-/);
  it('the fixtures cover the onednn engine (one tensor) and qnnpack (a copy), whole, state dicts, legacy', () => {
    assert.ok(qdyn.some((n) => F[n].notListed!.length > 0) && qdyn.some((n) => F[n].ownBiasCopies!.length > 0), qdyn.join(', '));
    assert.ok(qdyn.some((n) => n.endsWith('-module.pt')) && qdyn.some((n) => n.endsWith('.legacy.pt')));
  });

  for (const name of qdyn) {
    it(`${name}: torch's float count (unique and total), no ties, every tensor's role`, async () => {
      const t = F[name];
      // torch: the float model's parameters, no two on one storage; roles of every listed tensor
      await checkCounts(px(name), t);
      const cp = await openCheckpoint(px(name));
      assert.deepStrictEqual(cp.parameters, { unique: t.torchParameters, total: t.torchParameters });
      const byName = new Map(cp.tensors.map((x) => [x.name, x]));
      for (const [n, e] of Object.entries(t.packed!)) {
        const x = byName.get(n);
        assert.ok(x, `${n} is listed`);
        assert.deepStrictEqual([x.dtype, x.shape, x.role], [e.dtype, e.shape, 'parameter'], n);
      }
      // The cell's own bias is the packed Linear's (one pickled tensor): not listed a second time.
      for (const n of t.notListed!) assert.ok(!byName.has(n), `${n} is the packed Linear's bias itself`);
      // A copy with bytes of its own (qnnpack): listed, as quantization state.
      for (const n of t.ownBiasCopies!) {
        assert.strictEqual(byName.get(n)?.role, 'quantization', n);
        assert.match(byName.get(n)!.roleReason!, /own copy of its bias .*\.4\.[01]\.1 holds it too/);
      }
      assert.deepStrictEqual(toReport(cp).shared, []);
    });
  }

  it('the whole module and its state dict name the same tensors', async () => {
    for (const stem of ['qdyn-gru-onednn', 'qdyn-gru-qnnpack', 'qdyn-lstm-2layer-bidir-qnnpack']) {
      const list = async (f: string) => (await readCheckpoint(px(f))).tensors.map((x) => `${x.name} ${x.dtype}`).sort();
      assert.deepStrictEqual(await list(`${stem}-module.pt`), await list(`${stem}-sd.pt`), stem);
    }
  });
});
