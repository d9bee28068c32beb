/**
 * Roles of tensors in state dicts, where no class says which entries are parameters: buffers with
 * names torch's own utilities give them, and state dicts that keep their Parameters
 * (keep_vars=True). Checked against torch 1.13's answers (scripts/fixtures/make_roles.py writes
 * test/fixtures/roles and its ground truth from each model's _parameters and _buffers).
 */
import * as assert from 'assert';
import { openCheckpoint, TensorRecord } from '../src/core';
import { decideRole, siblingsOf } from '../src/core/roles';
import { tensorRecord } from '../src/core/tensor-record';
import { checkCounts, CountsTruth } from './pytorch-truth';
import { fixture, readJson } from './helpers';

interface RolesTruth extends CountsTruth {
  torchParameters: number;
}

const GT = readJson<Record<string, RolesTruth>>(fixture('roles', 'ground-truth.json'));

describe('roles of buffers that torch utilities name, and of keep_vars state dicts (torch 1.13)', () => {
  for (const [name, truth] of Object.entries(GT)) {
    it(`${name}: every tensor's role and torch's counts`, async () => {
      await checkCounts(fixture('roles', name), truth);
      const cp = await openCheckpoint(fixture('roles', name));
      assert.strictEqual(cp.parameters.unique, truth.torchParameters, 'sum(p.numel() for p in model.parameters())');
    });
  }

  it('says which rule made each buffer', async () => {
    const reasons = async (file: string) => {
      const cp = await openCheckpoint(fixture('roles', file));
      return Object.fromEntries(cp.tensors.filter((t) => t.role === 'buffer').map((t) => [t.name, t.roleReason]));
    };
    const old = await reasons('spectral-weight-norm.pt');
    assert.strictEqual(old['0.weight_v'], 'spectral_norm power-iteration vector (weight_v beside weight_orig)');
    assert.strictEqual((await reasons('parametrizations.pt'))['2.parametrizations.weight.0.base'], 'orthogonal base of a parametrization (base)');
    assert.strictEqual((await reasons('pruned.pt'))['1.bias_mask'], 'named as a mask (bias_mask)');
    assert.match((await reasons('keep-vars.pt')).stats!, /plain tensor beside nn\.Parameters/);
  });
});

describe('role rules by name', () => {
  const rec = (name: string, shape: number[] = [4, 4]): TensorRecord => tensorRecord(name, 'float32', undefined, shape, 64, 'f', 0, name, 0, null, 64, undefined);
  const role = (name: string, names: string[] = [], shape?: number[]) => decideRole(rec(name, shape), siblingsOf([name, ...names].map((n) => ({ name: n })))).role;

  it('masks: the local name `mask` or one ending `_mask`, and `tril`', () => {
    for (const n of ['blocks.0.attn.attn_mask', 'attn_mask', 'h.0.mask', 'fc.weight_mask', 'attn.tril']) assert.strictEqual(role(n), 'buffer', n);
    for (const n of ['mask_token', 'enc.masking', 'enc.mask.weight', 'a.unmask', 'a.tril_proj']) assert.strictEqual(role(n), 'parameter', n);
  });

  it("spectral_norm's `_u` and `_v` only beside their `_orig`: weight_norm's `_v` is a parameter", () => {
    assert.strictEqual(role('fc.weight_v', ['fc.weight_orig']), 'buffer');
    assert.strictEqual(role('fc.weight_u', ['fc.weight_orig']), 'buffer');
    assert.strictEqual(role('fc.weight_v', ['fc.weight_g']), 'parameter');
    assert.strictEqual(role('fc.weight_v', ['fc.bias_orig']), 'parameter');
    assert.strictEqual(decideRole(rec('fc.weight_v')).role, 'parameter', 'no sibling lookup, no sibling rule');
  });

  it("quantization-aware training's observer state only under a FakeQuantize or observer module", () => {
    for (const n of ['fc.weight_fake_quant.scale', 'conv.activation_post_process.activation_post_process.min_val', 'activation_post_process.eps', 'fc.weight_fake_quant.activation_post_process.histogram']) {
      assert.strictEqual(role(n), 'buffer', n);
    }
    for (const n of ['blocks.0.ls1.scale', 'norm.scale', 'fc.weight_fake_quant_proj.scale', 'activation_post_process_x.min_val', 'fc.weight_fake_quant.weight']) {
      assert.strictEqual(role(n), 'parameter', n);
    }
  });

  it('parametrization buffers only at `parametrizations.<tensor>.<i>.<buffer>`', () => {
    assert.strictEqual(role('lin.parametrizations.weight.0._u'), 'buffer');
    assert.strictEqual(role('parametrizations.weight.0.base'), 'buffer');
    assert.strictEqual(role('lin.parametrizations.weight.original'), 'parameter');
    assert.strictEqual(role('lin.parametrizations.weight.0.scale'), 'parameter', "a parametrization's own parameter");
    assert.strictEqual(role('lin.layers.0.base'), 'parameter');
    assert.strictEqual(role('lin.parametrizations.weight.x._u'), 'parameter');
  });
});
