/**
 * TorchScript archives (torch.jit.save), checked against torch 1.13's answers
 * (scripts/fixtures/make_torchscript.py writes test/fixtures/torchscript and its ground truth),
 * plus crafted archives for what torch never writes: a dangerous global beside the script
 * classes, malformed or missing code files.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint, readCheckpoint, toReport } from '../src/core';
import { classifyGlobal, safetyLines } from '../src/core/formats/pytorch/safety';
import { parseScriptCode, scriptClassName, scriptLiteral } from '../src/core/formats/pytorch/script';
import { PyTuple } from '../src/core/formats/pytorch/pickle';
import { checkCounts, checkTensors, checkTree, CountsTruth, TensorTruth, TreeTruth } from './pytorch-truth';
import { cli, fixture, readJson, rejectsWith, tempDir } from './helpers';
import { op, ops, storedZip } from './pickle-builder';

interface ScriptTruth extends CountsTruth {
  torchParameters: number;
  moduleTree: TreeTruth;
  tensors: Record<string, TensorTruth>;
}

const GT = readJson<Record<string, ScriptTruth>>(fixture('torchscript', 'ground-truth.json'));
const ts = (name: string) => fixture('torchscript', name);

describe('TorchScript archives match torch (torch.jit.save, torch 1.13)', () => {
  for (const [name, truth] of Object.entries(GT)) {
    it(`${name}: tensors, storage views, roles, counts and the module tree`, async () => {
      const raw = await readCheckpoint(ts(name));
      assert.strictEqual(raw.format, 'pytorch-zip');
      assert.strictEqual((raw.metadata.pytorch as Record<string, unknown>).torchscript, true);
      checkTensors(raw, truth, ts(name));
      checkTree(raw.moduleTree!, truth.moduleTree);
      await checkCounts(ts(name), truth);
      const cp = await openCheckpoint(ts(name));
      assert.strictEqual(cp.parameters.unique, truth.torchParameters, 'sum(p.numel() for p in model.parameters())');
      assert.notStrictEqual(cp.safety!.verdict, 'dangerous');
    });
  }

  it('tied-lm.pt: the head and the embedding are one tensor, counted once, in a shared group', async () => {
    const r = toReport(await openCheckpoint(ts('tied-lm.pt')));
    assert.deepStrictEqual(r.parameters, { unique: 248, total: 408 });
    const g = r.shared.find((s) => s.tensors.includes('lm_head.weight'))!;
    assert.deepStrictEqual([...g.tensors].sort(), ['embed.weight', 'lm_head.weight']);
    assert.strictEqual(g.relation, 'alias');
    const head = r.tensors.find((t) => t.name === 'lm_head.weight')!;
    assert.strictEqual(head.roleReason, 'registered parameter of Linear (_parameters)');
  });

  it('attrs.pt: a non-persistent buffer is a buffer (TorchScript keeps it), a plain tensor attribute is other', async () => {
    const cp = await openCheckpoint(ts('attrs.pt'));
    const by = new Map(cp.tensors.map((t) => [t.name, t]));
    assert.strictEqual(by.get('pos')!.role, 'buffer');
    assert.strictEqual(by.get('keep')!.role, 'buffer');
    assert.strictEqual(by.get('table')!.role, 'other');
    assert.match(by.get('table')!.roleReason!, /plain attribute of Attrs/);
  });

  it('traced-bn.pt: BatchNorm statistics are buffers; constants.pkl tensors are other, in storages of their own', async () => {
    const cp = await openCheckpoint(ts('traced-bn.pt'));
    const by = new Map(cp.tensors.map((t) => [t.name, t]));
    for (const b of ['bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']) assert.strictEqual(by.get(b)!.role, 'buffer', b);
    const c = by.get('CONSTANTS.c0')!;
    assert.strictEqual(c.role, 'other');
    assert.match(c.roleReason!, /TorchScript constant/);
    assert.match(c.storage!, /:constants\/0$/);
    assert.ok(!cp.tensors.some((t) => t !== c && t.storage === c.storage), 'constants/0 is not data/0');
    // The class names are the Python ones, without __torch__ and ___torch_mangle_N.
    assert.deepStrictEqual(
      cp.tensors.length && toReport(cp).safety!.globals.filter((g) => g.name.startsWith('__torch__')).map((g) => g.action),
      ['class', 'class', 'class', 'class', 'class'],
    );
  });

  it('the CLI prints the tree with reprs from the classes\' Final constants, and a TorchScript safety line', () => {
    const r = cli(ts('tied-lm.pt'));
    assert.strictEqual(r.status, 0, r.stderr);
    assert.match(r.stdout, /^TiedLM · pytorch-zip/m);
    assert.match(r.stdout, /\(lm_head\): Linear\(in_features=8, out_features=20, bias=False\)\s+160\s+shares weight with embed/);
    assert.match(r.stdout, /\(2\): LayerNorm\(\(8,\), eps=1e-05, elementwise_affine=True\)/);
    assert.match(r.stdout, /^safety: unknown — a TorchScript archive: torch\.load\(weights_only=True\) refuses its 7 TorchScript classes, none known to run code by itself$/m);
    assert.doesNotMatch(r.stdout, /needs your code/);
  });

  it('the fixture of nn.Linear that used to be refused now reads (test/fixtures/pytorch/torchscript.pt)', async () => {
    const cp = await openCheckpoint(fixture('pytorch', 'torchscript.pt'));
    assert.strictEqual(cp.parameters.unique, 6);
  });
});

// ---------------------------------------------------------------------------------------------
// Crafted archives

const enc = new TextEncoder();

/** data.pkl of `__torch__ M` with one float tensor `w` (storage data/0) and `extra` opcodes inside its attribute dict. */
function scriptPickle(extra: Uint8Array[] = []): Uint8Array {
  return ops(
    op.Proto(2),
    op.Global('__torch__', 'M'),
    op.EmptyTuple(),
    op.NewObj(),
    op.EmptyDict(),
    op.Mark(),
    op.BinUnicode('training'),
    op.NewTrue(),
    op.BinUnicode('w'),
    op.Global('torch._utils', '_rebuild_tensor_v2'),
    op.Mark(),
    op.Mark(),
    op.BinUnicode('storage'),
    op.Global('torch', 'FloatStorage'),
    op.BinUnicode('0'),
    op.BinUnicode('cpu'),
    op.BinInt1(2),
    op.Tuple(),
    op.BinPersId(),
    op.BinInt1(0),
    op.Mark(),
    op.BinInt1(2),
    op.Tuple(),
    op.Mark(),
    op.BinInt1(1),
    op.Tuple(),
    op.NewFalse(),
    op.Global('collections', 'OrderedDict'),
    op.EmptyTuple(),
    op.Reduce(),
    op.Tuple(),
    op.Reduce(),
    ...extra,
    op.SetItems(),
    op.Build(),
    op.Stop(),
  );
}

function scriptArchive(dir: string, name: string, pkl: Uint8Array, code: string | undefined): string {
  const members: [string, Uint8Array][] = [['m/data.pkl', pkl]];
  if (code !== undefined) members.push(['m/code/__torch__.py', enc.encode(code)]);
  members.push(['m/data/0', new Uint8Array(8)], ['m/constants.pkl', ops(op.Proto(2), op.EmptyTuple(), op.Stop())], ['m/version', enc.encode('3\n')]);
  const file = path.join(dir, name);
  fs.writeFileSync(file, storedZip(members));
  return file;
}

const CODE = 'class M(Module):\n  __parameters__ = ["w", ]\n  __buffers__ = []\n  w : Tensor\n  training : bool\n';

describe('TorchScript archives: crafted', () => {
  const dir = tempDir('weightscope-torchscript-');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a parameter declared by the class source is a parameter', async () => {
    const cp = await openCheckpoint(scriptArchive(dir, 'ok.pt', scriptPickle(), CODE));
    assert.deepStrictEqual(cp.tensors.map((t) => [t.name, t.role]), [['w', 'parameter']]);
    assert.strictEqual(cp.parameters.unique, 2);
  });

  it('os.system beside the script classes is still dangerous, and nothing runs', async () => {
    const evil = [op.BinUnicode('x'), op.Global('posix', 'system'), op.BinUnicode('touch /tmp/pwned-by-weightscope-test'), op.TupleOne(), op.Reduce()];
    const cp = await openCheckpoint(scriptArchive(dir, 'evil.pt', scriptPickle(evil), CODE));
    assert.strictEqual(cp.safety!.verdict, 'dangerous');
    assert.ok(cp.safety!.globals.some((g) => g.name === 'posix.system' && g.verdict === 'dangerous' && g.action === 'call'));
    assert.match(safetyLines(cp.safety!)[0], /^SAFETY: DANGEROUS — torch\.load without weights_only would call posix\.system\('touch/);
    assert.ok(!fs.existsSync('/tmp/pwned-by-weightscope-test'));
  });

  it('a malformed __parameters__ is a CheckpointError naming the file and the code record', async () => {
    const file = scriptArchive(dir, 'bad-code.pt', scriptPickle(), 'class M(Module):\n  __parameters__ = ["w", \n');
    const e = await rejectsWith(readCheckpoint(file), 'bad-header', /class M declares __parameters__ as .*not a list of names/);
    assert.match(e.message, /bad-code\.pt/);
    assert.strictEqual(e.record, 'm/code/__torch__.py line 2');
  });

  it('a class without its source: a warning, and its tensors are other (never guessed parameters)', async () => {
    const cp = await openCheckpoint(scriptArchive(dir, 'no-code.pt', scriptPickle(), undefined));
    assert.deepStrictEqual(cp.tensors.map((t) => [t.name, t.role]), [['w', 'other']]);
    assert.ok(cp.warnings.some((w) => w.code === 'torchscript-code-missing' && /__torch__\.M/.test(w.message)));
  });
});

describe('TorchScript pieces', () => {
  it('class names without __torch__ and ___torch_mangle_N', () => {
    assert.deepStrictEqual(scriptClassName('__torch__.torch.nn.modules.linear.___torch_mangle_25', 'Linear'), { pythonModule: 'torch.nn.modules.linear', className: 'Linear' });
    assert.deepStrictEqual(scriptClassName('__torch__', 'TiedLM'), { pythonModule: '', className: 'TiedLM' });
    assert.deepStrictEqual(scriptClassName('__torch__.torchvision.models.resnet', 'BasicBlock'), { pythonModule: 'torchvision.models.resnet', className: 'BasicBlock' });
  });

  it('__torch__ globals are TorchScript classes, list tags are harmless, torch.jit loaders and os.system stay dangerous', () => {
    const s = classifyGlobal('__torch__.torch.nn.modules.linear.___torch_mangle_25', 'Linear');
    assert.strictEqual(s.verdict, 'unknown');
    assert.ok(s.inert && s.scriptClass);
    assert.ok(classifyGlobal('__torch__', 'system').inert, 'a TorchScript class may be called anything');
    assert.ok(classifyGlobal('torch.jit._pickle', 'build_intlist').inert);
    assert.strictEqual(classifyGlobal('torch.jit._pickle', 'build_intlist').verdict, 'unknown');
    assert.strictEqual(classifyGlobal('torch.jit', 'load').verdict, 'dangerous');
    assert.strictEqual(classifyGlobal('torch.jit._serialization', 'load').verdict, 'dangerous');
    assert.strictEqual(classifyGlobal('os', 'system').verdict, 'dangerous');
  });

  it('reads only declarations: lists, Final constants with plain literals, nothing after the first def', () => {
    const code = [
      'class Conv2d(Module):',
      '  __parameters__ = ["weight", "bias", ]',
      '  __buffers__ = []',
      '  padding : Final[Tuple[int, int]] = (3, 3)',
      '  eps : Final[float] = 1.0000000000000001e-05',
      '  norm_type : Final[float] = 2.',
      '  mode : Final[str] = "zeros"',
      '  max_norm : Final[NoneType] = None',
      '  shape : Final[Tuple[int]] = (16,)',
      '  odd : Final[Any] = __torch__.something()',
      '  def forward(self: __torch__.Conv2d,',
      '    x: Tensor) -> Tensor:',
      '    __parameters__ = ["not", ]',
      '    return x',
      '',
      'class Point(object):',
      '  x : int',
      'class NamedTupleish(NamedTuple):',
      '  __buffers__ = ["b", ]',
    ].join('\n');
    const classes = parseScriptCode(code, 'f.pt', 'code/__torch__.py');
    const c = classes.get('Conv2d')!;
    assert.ok(c.module);
    assert.deepStrictEqual(c.parameters, ['weight', 'bias']);
    assert.deepStrictEqual(c.buffers, []);
    assert.deepStrictEqual((c.constants.get('padding') as PyTuple).items, [3, 3]);
    assert.strictEqual(c.constants.get('eps'), 1e-5);
    assert.strictEqual(c.constants.get('norm_type'), 2);
    assert.strictEqual(c.constants.get('mode'), 'zeros');
    assert.strictEqual(c.constants.get('max_norm'), null);
    assert.deepStrictEqual((c.constants.get('shape') as PyTuple).items, [16]);
    assert.ok(!c.constants.has('odd'));
    assert.strictEqual(classes.get('Point')!.module, false);
    assert.deepStrictEqual(classes.get('NamedTupleish')!.buffers, ['b']);
  });

  it('literals: nested, quoted, bounded; anything else is no literal', () => {
    assert.deepStrictEqual((scriptLiteral('((1, 2), [3])') as PyTuple).items.length, 2);
    assert.strictEqual(scriptLiteral("'a\\'b'"), "a'b");
    assert.strictEqual(scriptLiteral('-inf'), -Infinity);
    for (const bad of ['(1, 2', 'foo', '1 2', '"open', '[[[[[[[[[[[1]]]]]]]]]]]', '']) assert.strictEqual(scriptLiteral(bad), undefined, bad);
  });
});
