/**
 * Training checkpoints whose optimizer says which state-dict entries are parameters: a float
 * buffer with a name of the user's own is a buffer when the optimizer's state settles it, and
 * stays as the rules made it, with the warning `optimizer-parameter-count`, when the file cannot
 * (frozen parameters, shapes that match in several ways, no state). Checked against torch 1.13
 * (scripts/fixtures/make_optimizer_roles.py writes test/fixtures/optimizer-roles and its ground
 * truth from each model's _parameters and _buffers).
 */
import * as assert from 'assert';
import { openCheckpoint, toReport } from '../src/core';
import { fixture, readJson } from './helpers';

interface Truth {
  expect: 'torch' | 'torch-warned' | 'rules-warned' | 'rules';
  parameters: { unique: number; total: number };
  buffers: { unique: number; total: number };
  roles: Record<string, string>;
  torchParameters: number;
}

const DIR = 'optimizer-roles';
const truths = readJson<{ fixtures: Record<string, Truth> }>(fixture(DIR, 'ground-truth.json')).fixtures;

/** Local names of the custom float buffers the fixtures register (the role rules know none of them). */
const CUSTOM = new Set(['center', 'ema_val', 'anchor', 'coeffs', 'table']);
const local = (name: string) => name.slice(name.lastIndexOf('.') + 1);

describe("roles from a training checkpoint's optimizer (torch 1.13)", () => {
  for (const [name, truth] of Object.entries(truths)) {
    it(`${name}: ${truth.expect === 'torch' || truth.expect === 'torch-warned' ? "torch's roles and counts" : 'the rules\' roles, as without the optimizer'}${truth.expect.endsWith('warned') ? ', with the warning' : ''}`, async () => {
      const r = toReport(await openCheckpoint(fixture(DIR, name)));
      const roles = new Map(r.tensors.map((t) => [t.name, t.role]));
      const warned = r.warnings.filter((w) => w.code === 'optimizer-parameter-count');
      assert.strictEqual(warned.length, truth.expect.endsWith('warned') ? 1 : 0, 'optimizer-parameter-count');
      if (truth.expect === 'torch' || truth.expect === 'torch-warned') {
        assert.deepStrictEqual(r.parameters, truth.parameters, 'parameters');
        assert.deepStrictEqual(r.buffers, truth.buffers, 'buffers');
        assert.strictEqual(r.parameters.unique, truth.torchParameters, 'sum(p.numel() for p in model.parameters())');
        for (const [n, role] of Object.entries(truth.roles)) assert.strictEqual(roles.get(n), role, `role of ${n}`);
        return;
      }
      // Left to the rules: torch's roles, except the custom buffers, counted as parameters.
      for (const [n, role] of Object.entries(truth.roles)) {
        const expected = role === 'buffer' && CUSTOM.has(local(n)) ? 'parameter' : role;
        assert.strictEqual(roles.get(n), expected, `role of ${n}`);
      }
      assert.ok(r.parameters.unique > truth.torchParameters, 'the custom buffers are still counted');
    });
  }

  it("names the evidence in each buffer's reason, and what the file cannot settle in the warning", async () => {
    const reasons = async (file: string) => new Map((await openCheckpoint(fixture(DIR, file))).tensors.map((t) => [t.name, t.roleReason]));
    assert.strictEqual(
      (await reasons('adam.pt')).get('enc.center'),
      'the optimizer under "optimizer" covers 9 parameters of the model (the shapes of its state match them in order in one way only), and this tensor is not one of them: a buffer (a Parameter frozen and left out of the optimizer would look the same)',
    );
    // A BatchNorm statistic keeps the rule that made it a buffer.
    assert.strictEqual((await reasons('frozen-backbone.pt')).get('backbone.1.running_mean'), 'BatchNorm running statistic');
    const warning = async (file: string) => (await openCheckpoint(fixture(DIR, file))).warnings.find((w) => w.code === 'optimizer-parameter-count')!.message;
    assert.match(await warning('frozen-backbone.pt'), /was given 2 parameters, and the model's state dict has 9 tensors counted as parameters .*frozen parameters the optimizer was not given/);
    assert.match(await warning('split-shapes.pt'), /in more than one way, so which 1 are left over is not known/);
    assert.match(await warning('custom-params-no-state.pt'), /no parameter has optimizer state yet/);
    // A parameter without state could stand for any entry: no guess is made.
    assert.match(await warning('sgd-no-momentum.pt'), /no parameter has optimizer state yet \(an optimizer never stepped, or SGD without momentum\), so no shapes say which 3 are left over/);
    assert.match(await warning('no-grad-no-state.pt'), /1 of its parameters have no optimizer state \(no gradient when it stepped\)/);
  });

  it('a tied head counts once against the optimizer, and its buffer is found', async () => {
    const cp = await openCheckpoint(fixture(DIR, 'tied-head.pt'));
    assert.strictEqual(cp.tensors.find((t) => t.name === 'coeffs')!.role, 'buffer');
    assert.strictEqual(cp.tensors.find((t) => t.name === 'lm_head.weight')!.role, 'parameter');
  });
});
