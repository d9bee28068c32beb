/**
 * Training checkpoints whose optimizer says which state-dict entries are parameters: a float
 * buffer with a name of the user's own is a buffer when the optimizer's state settles it, and
 * stays as the rules made it, with the warning `optimizer-parameter-count`, when the file cannot
 * (frozen parameters, shapes that match in several ways, no state). Checked against torch 1.13
 * (scripts/fixtures/make_optimizer_roles.py writes test/fixtures/optimizer-roles and its ground
 * truth from each model's _parameters and _buffers).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint, toReport } from '../src/core';
import { fixture, readJson, tempDir } from './helpers';
import { Op, op, torchZip } from './pickle-builder';

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

/**
 * A training checkpoint built opcode by opcode: `model` (the entries, each tensor on a storage of
 * its own) and an Adam-shaped optimizer whose groups list `groups` (positions in `model`), each
 * parameter with an `exp_avg` of its shape.
 */
function trainingCheckpoint(model: [string, number[]][], groups: number[][]): Uint8Array {
  const storages: [string, Uint8Array][] = [];
  const tensor = (shape: number[]): Op[] => {
    const key = String(storages.length);
    const numel = shape.reduce((a, b) => a * b, 1);
    storages.push([`archive/data/${key}`, new Uint8Array(numel * 4)]);
    const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
    return [
      op.Global('torch._utils', '_rebuild_tensor_v2'),
      op.Mark(),
      ...[op.Mark(), op.BinUnicode('storage'), op.Global('torch', 'FloatStorage'), op.BinUnicode(key), op.BinUnicode('cpu'), op.BinInt(numel), op.Tuple(), op.BinPersId()],
      op.BinInt(0),
      ...[op.Mark(), ...shape.map((d) => op.BinInt(d)), op.Tuple()],
      ...[op.Mark(), ...strides.map((d) => op.BinInt(d)), op.Tuple()],
      op.NewFalse(),
      ...[op.Global('collections', 'OrderedDict'), op.EmptyTuple(), op.Reduce()],
      op.Tuple(),
      op.Reduce(),
    ];
  };
  const dict = (items: Op[][]): Op[] => [op.EmptyDict(), op.Mark(), ...items.flat(), op.SetItems()];
  const list = (items: Op[][]): Op[] => [op.EmptyList(), op.Mark(), ...items.flat(), op.Appends()];
  const state = groups.flat().map((i) => [op.BinInt(i), ...dict([[op.BinUnicode('step'), op.BinFloat(1)], [op.BinUnicode('exp_avg'), ...tensor(model[i][1])]])]);
  // (Concatenated without a call spread: thousands of tensors are more opcodes than a call takes arguments.)
  const pkl = Buffer.concat([
    op.Proto(2),
    ...dict([
      [op.BinUnicode('model'), ...dict(model.map(([name, shape]) => [op.BinUnicode(name), ...tensor(shape)]))],
      [
        op.BinUnicode('optimizer'),
        ...dict([
          [op.BinUnicode('state'), ...dict(state)],
          [op.BinUnicode('param_groups'), ...list(groups.map((g) => dict([[op.BinUnicode('params'), ...list(g.map((i) => [op.BinInt(i)]))], [op.BinUnicode('lr'), op.BinFloat(0.1)]])))],
        ]),
      ],
      [op.BinUnicode('epoch'), op.BinInt(3)],
    ]),
    op.Stop(),
  ]);
  return torchZip(pkl, storages);
}

describe("roles from a training checkpoint's optimizer: bounded work", () => {
  /**
   * Groups that settle one per round: group k is [a, c_k], every `a` of one shape and each c_k a
   * shape of its own, so k's earliest and latest placements agree only once groups 0..k-1 have
   * taken the `a`s before it. `z.center`, last, is what the optimizer does not cover.
   */
  const chain = (n: number): string => {
    const model: [string, number[]][] = [];
    const groups: number[][] = [];
    for (let k = 0; k < n; k++) {
      groups.push([model.length, model.length + 1]);
      model.push([`b${k}.a`, [3]], [`b${k}.c`, [k + 4]]);
    }
    model.push(['z.center', [2]]);
    const file = path.join(tempDir(), `chain-${n}.pt`);
    fs.writeFileSync(file, trainingCheckpoint(model, groups));
    return file;
  };

  it('groups that settle within 16 rounds are matched: the entry left over is a buffer', async () => {
    const cp = await openCheckpoint(chain(12));
    assert.strictEqual(cp.tensors.find((t) => t.name === 'z.center')!.role, 'buffer');
    assert.ok(!cp.warnings.some((w) => w.code === 'optimizer-parameter-count'));
  });

  it('groups that would settle one per round past 16 rounds are not matched (a file built to cost time): the warning says so', async () => {
    const cp = await openCheckpoint(chain(20));
    assert.strictEqual(cp.tensors.find((t) => t.name === 'z.center')!.role, 'parameter');
    const w = cp.warnings.find((x) => x.code === 'optimizer-parameter-count');
    assert.match(w?.message ?? '', /its 20 parameter groups did not settle in 16 rounds of matching, so which 1 are left over was not worked out/);
  });

  it('a group per parameter over thousands of entries is matched by shape, each placement a lookup', async () => {
    // 3,000 entries of distinct shapes, each in a group of its own, and one buffer left over:
    // every group settles in the first round.
    const model: [string, number[]][] = [];
    for (let k = 0; k < 3000; k++) model.push([`m${k}.weight`, [1 + (k % 50), 1 + Math.floor(k / 50)]]);
    model.push(['norm.center', [7]]);
    const file = path.join(tempDir(), 'per-parameter-groups.pt');
    fs.writeFileSync(file, trainingCheckpoint(model, model.slice(0, -1).map((_, i) => [i])));
    const cp = await openCheckpoint(file);
    assert.strictEqual(cp.tensors.find((t) => t.name === 'norm.center')!.role, 'buffer');
    assert.strictEqual(cp.tensors.filter((t) => t.role === 'parameter').length, 3000);
  });
});
