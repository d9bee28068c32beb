/**
 * torch.fx GraphModules saved whole: `torch.save(gm)` pickles `torch.fx.graph_module.
 * reduce_graph_module(body, import_block)`, where `body` is the module's __dict__. The body is read
 * as the module's state (class GraphModule), so names, roles, ties and the tree are torch's; the
 * call itself execs generated code on a real load, and the safety verdict says so. Checked against
 * torch 1.13 (scripts/fixtures/make_fx.py writes test/fixtures/fx and its ground truth from the
 * module torch.load gives back).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint, readCheckpoint, toReport } from '../src/core';
import { PyValue, unpickle } from '../src/core/formats/pytorch/pickle';
import { classifyGlobal } from '../src/core/formats/pytorch/safety';
import { interpret } from '../src/core/formats/pytorch/structure';
import { resolveGlobal } from '../src/core/formats/pytorch/torch';
import { call, dumps, g, V } from './pickle-builder';
import { checkCounts, checkTensors, checkTree, CountsTruth, TensorTruth, TreeTruth } from './pytorch-truth';
import { cli, fixture, readJson, rebuildSkeleton, tempDir } from './helpers';

interface FxTruth extends CountsTruth {
  layout: string;
  prefixes?: string[];
  moduleTree: TreeTruth;
  tensors: Record<string, TensorTruth>;
  torchParameters: number;
  torchBuffers: number;
  weightsOnlyRefuses: boolean;
  skeleton?: string;
  size?: number;
}

const GT = readJson<Record<string, FxTruth>>(fixture('fx', 'ground-truth.json'));
const REDUCE = 'torch.fx.graph_module.reduce_graph_module';

describe('torch.fx GraphModule saved whole (torch 1.13)', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-fx-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The fixture's path; a skeleton is rebuilt at full size first. */
  const file = (name: string): string => {
    const t = GT[name];
    if (!t.skeleton) return fixture('fx', name);
    const out = path.join(dir, name);
    if (!fs.existsSync(out)) assert.strictEqual(rebuildSkeleton(fixture('fx', t.skeleton), out), t.size);
    return out;
  };

  for (const [name, t] of Object.entries(GT)) {
    it(`${name}: torch's tensors, counts, roles, ties and module tree`, async () => {
      const p = file(name);
      const raw = await readCheckpoint(p);
      assert.strictEqual(raw.format, t.format);
      assert.strictEqual((raw.metadata.pytorch as Record<string, unknown>).layout, t.layout);
      assert.deepStrictEqual(raw.prefixes ?? [], t.prefixes ?? []);
      for (const x of raw.tensors) assert.doesNotMatch(x.name, /__arg\d|(^|\.)_(modules|parameters|buffers)\./, x.name);
      checkTensors(raw, t, t.skeleton ? null : p);
      await checkCounts(p, t);
      checkTree(raw.moduleTree!, t.moduleTree);
      const cp = await openCheckpoint(p);
      assert.strictEqual(cp.parameters.unique, t.torchParameters, 'sum(p.numel() for p in gm.parameters())');
      assert.strictEqual(cp.buffers.unique, t.torchBuffers, 'sum(b.numel() for b in gm.buffers())');
    });
  }

  it('fx-small.pt: fx constants and plain tensor attributes are registered buffers of the GraphModule; the tie is one storage', async () => {
    const r = toReport(await openCheckpoint(fixture('fx', 'fx-small.pt')));
    const role = (n: string) => r.tensors.find((x) => x.name === n)?.role;
    for (const n of ['_tensor_constant0', '_tensor_constant1', 'scale', 'cst']) assert.strictEqual(role(n), 'buffer', n);
    for (const n of ['block.gain', 'block.fc.weight', 'embed.weight', 'head.weight']) assert.strictEqual(role(n), 'parameter', n);
    const tie = r.shared.find((s) => s.tensors.includes('head.weight'))!;
    assert.deepStrictEqual([...tie.tensors].sort(), ['embed.weight', 'head.weight']);
    assert.strictEqual(tie.relation, 'alias');
    assert.strictEqual(r.parameters.unique, r.parameters.total - 50 * 8);
    assert.strictEqual(r.modules!.type, 'GraphModule');
    // The block fx traced through is a plain torch.nn.Module holding what forward() used.
    const block = r.modules!.children.find((c) => c.name === 'block')!;
    assert.strictEqual(block.type, 'Module');
    assert.deepStrictEqual(block.children.map((c) => c.type), ['Linear']);
  });

  it('the safety verdict: loading the file for real runs reduce_graph_module, which execs code (torch weights_only refuses it too)', async () => {
    for (const name of Object.keys(GT)) {
      assert.strictEqual(GT[name].weightsOnlyRefuses, true, `${name}: torch.load(weights_only=True) refuses it`);
      const r = toReport(await openCheckpoint(file(name)));
      assert.strictEqual(r.safety!.verdict, 'dangerous', name);
      const gl = r.safety!.globals.find((x) => x.name === REDUCE)!;
      assert.strictEqual(gl.verdict, 'dangerous', name);
      assert.strictEqual(gl.unsafe, true, name);
      assert.strictEqual(gl.action, 'call', name);
      assert.ok(r.warnings.some((w) => w.code === 'unsafe-global' && w.message.includes(REDUCE)), name);
    }
    const out = cli(fixture('fx', 'fx-small.pt'));
    assert.strictEqual(out.status, 0, out.stderr);
    assert.match(out.stdout, /^SAFETY: DANGEROUS — torch\.load without weights_only would call torch\.fx\.graph_module\.reduce_graph_module\(/);
    assert.match(out.stdout, /^GraphModule · pytorch-zip/m);
  });

  it("every torch.fx rebuild is dangerous by name, whichever torch wrote it (torch.save, torch.package, torch::deploy)", () => {
    for (const [mod, name] of [
      ['torch.fx.graph_module', 'reduce_graph_module'],
      ['torch.fx.graph_module', 'reduce_package_graph_module'],
      ['torch.fx.graph_module', 'reduce_deploy_graph_module'],
      ['torch.fx.graph_module', '_deserialize_graph_module'],
      ['torch.fx.graph_module', 'GraphModule'],
    ]) {
      assert.strictEqual(classifyGlobal(mod, name).verdict, 'dangerous', `${mod}.${name}`);
    }
  });
});

describe('torch.fx rebuild calls read as modules (no tensors needed)', () => {
  const od = (...kv: [V, V][]): V => new Map<V, V>(kv);
  const body = (extra: [V, V][] = []): V =>
    od(['training', false], ['_parameters', od()], ['_buffers', od()], ['_modules', od(['lin', call(g('torch.nn.modules.linear', 'Linear'))])], ['_code', 'def forward(self, x): ...'], ...extra);
  const read = (fn: [string, string], args: V[]): ReturnType<typeof interpret> => {
    const bytes = dumps(call(g(...fn), ...args), 2);
    const v: PyValue = unpickle(bytes, { file: 't.pkl', hooks: { resolveGlobal } }).value;
    return interpret(v, 't.pkl');
  };

  it("the body is found in each rebuild's own argument: reduce_graph_module's first, the package and deploy ones' second", () => {
    for (const [fn, args] of [
      ['reduce_graph_module', [body(), 'import torch']],
      ['reduce_package_graph_module', [null, body(), 'fx-generated._0']],
      ['reduce_deploy_graph_module', [null, body(), 'import torch']],
      ['_deserialize_graph_module', [null, body()]],
    ] as [string, V[]][]) {
      const r = read(['torch.fx.graph_module', fn], args);
      assert.strictEqual(r.layout, 'module', fn);
      assert.strictEqual(r.moduleTree!.className, 'GraphModule', fn);
      assert.strictEqual(r.moduleTree!.pythonModule, 'torch.fx.graph_module', fn);
    }
  });

  it('a body naming its class (`_graphmodule_cls_name`, as torch.package writes it) keeps that name', () => {
    const r = read(['torch.fx.graph_module', 'reduce_package_graph_module'], [null, body([['_graphmodule_cls_name', 'MyTracedNet']]), 'fx-generated._0']);
    assert.strictEqual(r.moduleTree!.className, 'MyTracedNet');
  });

  it('the same call shape from anywhere else is not a module: names and layout stay as they were', () => {
    for (const fn of [
      ['mypkg.graph_module', 'reduce_graph_module'],
      ['torch.fx.graph_module', 'some_helper'],
      ['torch.fx', 'reduce_graph_module'],
    ] as [string, string][]) {
      const r = read(fn, [body(), 'import torch']);
      assert.notStrictEqual(r.layout, 'module', fn.join('.'));
      assert.strictEqual(r.moduleTree, undefined, fn.join('.'));
    }
    // The body in another argument than the rebuild's own is not taken either.
    const r = read(['torch.fx.graph_module', 'reduce_graph_module'], ['import torch', body()]);
    assert.strictEqual(r.moduleTree, undefined);
  });
});
