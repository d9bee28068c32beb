import * as assert from 'assert';
import * as fs from 'fs';
import { openCheckpoint, toReport } from '../src/core';
import { cli, fixture, readJson } from './helpers';

interface LayoutTruth {
  parameters: { unique: number; total: number };
  buffers: number;
  optimizerTensors?: number;
}

const truth = readJson<Record<string, LayoutTruth>>(fixture('layouts', 'ground-truth.json'));

describe('checkpoint layouts match torch', () => {
  for (const [name, t] of Object.entries(truth)) {
    it(`${name}: parameters and buffers equal torch's`, async () => {
      const r = toReport(await openCheckpoint(fixture('layouts', name)));
      assert.deepStrictEqual(r.parameters, t.parameters);
      assert.strictEqual(r.buffers.total, t.buffers);
    });
  }

  it('two models in one file are both the model, each under its key', async () => {
    const r = toReport(await openCheckpoint(fixture('layouts', 'gan.pt')));
    assert.deepStrictEqual(r.modules.children.map((c) => c.name), ['generator', 'discriminator']);
    assert.strictEqual(r.modules.children[1].repr, 'Linear(in_features=5, out_features=1, bias=True)');
    assert.deepStrictEqual(r.modules.children[0].parameters, { unique: 20, total: 20 });
    assert.ok(r.tensors.every((t) => t.role === 'parameter'));
  });

  it('optimizer state is its own subtree, never parameters, and the DataParallel prefix is gone', async () => {
    const t = truth['ddp-train.pth'];
    const r = toReport(await openCheckpoint(fixture('layouts', 'ddp-train.pth')));
    const opt = r.tensors.filter((x) => x.role === 'optimizer-state');
    assert.strictEqual(opt.length, t.optimizerTensors);
    assert.ok(r.tensors.every((x) => !x.name.startsWith('module.')));
    const optNode = r.modules.children.find((c) => c.name === 'optimizer')!;
    assert.strictEqual(optNode.type, 'OptimizerState');
    assert.deepStrictEqual(optNode.parameters, { unique: 0, total: 0 });
    assert.ok(r.warnings.some((w) => w.code === 'dataparallel-prefix'));
  });
});

describe('a plain pickle (not torch.save)', () => {
  it('opens as a pickle, not a checkpoint: no tensors, the call it would make decoded, nothing executed', async () => {
    const marker = '/tmp/weightscope-plain-pickle-marker';
    if (fs.existsSync(marker)) fs.rmSync(marker);
    const cp = await openCheckpoint(fixture('layouts', 'plain-evil.pkl'));
    assert.strictEqual(cp.format, 'pickle');
    assert.strictEqual(cp.tensors.length, 0);
    assert.strictEqual(cp.safety?.verdict, 'dangerous');
    const sys = cp.safety!.globals.find((g) => /^(posix|nt|os)\.system$/.test(g.name))!;
    assert.strictEqual(sys.verdict, 'dangerous');
    assert.strictEqual(sys.action, 'call');
    assert.match(sys.calls![0], /^(posix|nt|os)\.system\('touch \/tmp\/weightscope-plain-pickle-marker'\)$/);
    assert.match(cp.warnings[0].message, /^a pickle, not a checkpoint: it would call (posix|nt|os)\.system\('touch \/tmp\/weightscope-plain-pickle-marker'\)$/);
    const r = cli(fixture('layouts', 'plain-evil.pkl'));
    assert.strictEqual(r.status, 0, r.stderr);
    assert.match(r.stdout, /^SAFETY: DANGEROUS — torch.load without weights_only would call (posix|nt|os)\.system\('touch \/tmp\/weightscope-plain-pickle-marker'\)\. Nothing was executed here\.$/m);
    assert.strictEqual(fs.existsSync(marker), false, 'nothing was executed');
  });
});
