/**
 * Pickle safety: verdicts by what a pickle does (not by a list alone), decoded calls, plain
 * pickles of every protocol, pickles hidden after a STOP, the magic-number bypass, bounds.
 * Every pickle here is built opcode by opcode (pickle-builder.ts) and read by the inert VM.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint, toReport, CheckpointError } from '../src/core';
import { MemoryByteSource } from '../src/core/bytes';
import { SafetyGlobal, SafetyReport } from '../src/core/model';
import { PickleHooks, PyList, unpickle } from '../src/core/formats/pytorch/pickle';
import { looksLikePickle, MAX_PICKLES } from '../src/core/formats/pytorch/plain';
import { MAX_CALL_CHARS, renderValue } from '../src/core/formats/pytorch/render';
import { classifyGlobal, SafetyRecorder, SafetyTracker, safetyLines } from '../src/core/formats/pytorch/safety';
import { resolveGlobal } from '../src/core/formats/pytorch/torch';
import { readMember, readZipDirectory } from '../src/core/formats/pytorch/zip';
import { Call, V, call, dumps, g, op, ops, reducePayload, storedZip, torchZip, tuple } from './pickle-builder';
import { cli, fixture, readJson, tempDir } from './helpers';

/** Runs one pickle in the inert VM and judges it. */
function judge(bytes: Uint8Array): { report: SafetyReport; warnings: string[]; by: Map<string, SafetyGlobal> } {
  const rec = new SafetyRecorder();
  const hooks: PickleHooks = rec.hooks(resolveGlobal);
  try {
    unpickle(bytes, { file: 't.pkl', hooks });
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
  }
  const t = new SafetyTracker();
  t.merge(rec);
  const report = t.report();
  return { report, warnings: t.warnings().map((w) => w.message), by: new Map(report.globals.map((x) => [x.name, x])) };
}

const M = op.Memoize;
const SBU = op.ShortBinUnicode;

describe('safety: verdicts by what the pickle does', () => {
  it('a callable on no list that the pickle calls is flagged, with its decoded call', () => {
    const { report, warnings, by } = judge(reducePayload('mytools.helpers', 'prepare', ['x', 3], 4));
    const x = by.get('mytools.helpers.prepare')!;
    assert.strictEqual(x.verdict, 'unknown');
    assert.strictEqual(x.action, 'call');
    assert.strictEqual(x.unsafe, true);
    assert.deepStrictEqual(x.calls, ["mytools.helpers.prepare('x', 3)"]);
    assert.strictEqual(report.verdict, 'unknown');
    assert.strictEqual(warnings.length, 1);
    assert.match(warnings[0], /^torch\.load without weights_only would call mytools\.helpers\.prepare\('x', 3\) — .*on no list/);
  });

  it('classes rebuilt by a whole-module pickle are told apart, and do not drown a real danger', () => {
    const model = new Call(g('mymodels', 'GPT'), [], new Map([['training', false]]), true);
    const { report, warnings, by } = judge(dumps([model, call(g('posix', 'system'), 'id')] as V[], 2));
    const gpt = by.get('mymodels.GPT')!;
    assert.strictEqual(gpt.action, 'class');
    assert.strictEqual(gpt.verdict, 'unknown');
    assert.strictEqual(gpt.unsafe, undefined);
    assert.strictEqual(gpt.reason, 'loads class `mymodels.GPT` (needs your code; does not run it by itself)');
    assert.strictEqual(report.globals[0].name, 'posix.system', 'the danger comes first');
    assert.strictEqual(warnings.length, 1, 'no warning for the class');
    const lines = safetyLines(report);
    assert.strictEqual(lines[0], "SAFETY: DANGEROUS — torch.load without weights_only would call posix.system('id'). Nothing was executed here.");
    assert.ok(lines.includes('  loads class `mymodels.GPT` (needs your code; does not run it by itself)'), lines.join('\n'));
  });

  it('PyTorch\'s own nn.Module classes, protocol 0/1 copyreg._reconstructor, INST/OBJ without arguments: classes, not calls', () => {
    const lin = new Call(g('torch.nn.modules.linear', 'Linear'), [], new Map(), true);
    assert.match(judge(dumps(lin, 2)).by.get('torch.nn.modules.linear.Linear')!.reason!, /^loads class `torch\.nn\.modules\.linear\.Linear` \(PyTorch's own nn\.Module; does not run it by itself\)$/);
    // Protocols 0 and 1 rebuild objects through copy_reg._reconstructor(cls, object, None).
    const rebuilt = call(g('copyreg', '_reconstructor'), g('mymodels', 'Net'), g('builtins', 'object'), null);
    const { by } = judge(dumps(rebuilt, 1));
    assert.strictEqual(by.get('mymodels.Net')!.action, 'class');
    assert.strictEqual(by.get('mymodels.Net')!.unsafe, undefined);
    assert.strictEqual(by.get('copy_reg._reconstructor')!.unsafe, undefined, 'copyreg._reconstructor itself runs nothing');
    const inst = judge(ops(op.Mark(), op.Inst('mymodels', 'Config'), op.Stop())).by.get('mymodels.Config')!;
    assert.strictEqual(inst.action, 'class');
    const instArgs = judge(ops(op.Mark(), op.String('a'), op.Inst('mymodels', 'Config'), op.Stop())).by.get('mymodels.Config')!;
    assert.strictEqual(instArgs.action, 'call');
    assert.strictEqual(instArgs.unsafe, true);
  });

  it('BUILD with a state only a custom __setstate__ takes is a call of the class\'s code; a dict of attributes is not', () => {
    const odd = judge(dumps(new Call(g('corp.models', 'Net'), [], tuple('weights.bin', 3), true), 2)).by.get('corp.models.Net')!;
    assert.strictEqual(odd.action, 'call');
    assert.strictEqual(odd.unsafe, true);
    assert.deepStrictEqual(odd.calls, ["corp.models.Net.__new__(corp.models.Net).__setstate__(('weights.bin', 3))"]);
    const attrs = judge(dumps(new Call(g('corp.models', 'Net'), [], new Map<V, V>([['training', true]]), true), 2)).by.get('corp.models.Net')!;
    assert.strictEqual(attrs.action, 'class');
    const slots = judge(dumps(new Call(g('corp.models', 'Net'), [], tuple(null, new Map<V, V>([['x', 1]])), true), 2)).by.get('corp.models.Net')!;
    assert.strictEqual(slots.action, 'class');
  });

  it('getattr chains name what they reach: getattr(__import__("os"), "system")("id") calls os.system', () => {
    const p = ops(
      op.Global('builtins', 'getattr'), op.Global('builtins', '__import__'), op.String('os'), op.TupleOne(), op.Reduce(),
      op.String('system'), op.TupleTwo(), op.Reduce(), op.String('id'), op.TupleOne(), op.Reduce(), op.Stop(),
    );
    const { by } = judge(p);
    const sys = by.get('os.system')!;
    assert.strictEqual(sys.verdict, 'dangerous');
    assert.strictEqual(sys.action, 'call');
    assert.strictEqual(sys.via, 'builtins.getattr');
    assert.strictEqual(sys.count, 0, 'no GLOBAL names it');
    assert.deepStrictEqual(sys.calls, ["builtins.getattr(builtins.__import__('os'), 'system')('id')"]);
    assert.deepStrictEqual(by.get('builtins.getattr')!.calls, ["builtins.getattr(builtins.__import__('os'), 'system')('id')"], 'the chain is shown once, whole');
    assert.strictEqual(by.get('builtins.getattr')!.callCount, 1);
  });

  it('a denylist miss reached through a lookup is still flagged (getattr of an unknown module)', () => {
    const p = ops(op.Global('importlib', 'import_module'), op.String('corp.tools'), op.TupleOne(), op.Reduce(), op.Put(0), op.Pop(),
      op.Global('builtins', 'getattr'), op.Get(0), op.String('deploy'), op.TupleTwo(), op.Reduce(), op.String('prod'), op.TupleOne(), op.Reduce(), op.Stop());
    const x = judge(p).by.get('corp.tools.deploy')!;
    assert.strictEqual(x.unsafe, true);
    assert.strictEqual(x.action, 'call');
    assert.match(x.calls![0], /\('prod'\)$/);
  });

  it('operator.methodcaller, pkgutil.resolve_name, functools.partial and apply are followed to their target', () => {
    const mc = judge(ops(op.Global('operator', 'methodcaller'), op.String('system'), op.String('id'), op.TupleTwo(), op.Reduce(),
      op.Global('pkgutil', 'resolve_name'), op.String('os'), op.TupleOne(), op.Reduce(), op.TupleOne(), op.Reduce(), op.Stop())).by;
    assert.strictEqual(mc.get('os.system')!.via, 'operator.methodcaller');
    assert.strictEqual(mc.get('os.system')!.verdict, 'dangerous');
    const rn = judge(ops(op.Global('pkgutil', 'resolve_name'), op.String('corp.tools:run_job'), op.TupleOne(), op.Reduce(), op.String('x'), op.TupleOne(), op.Reduce(), op.Stop())).by;
    assert.strictEqual(rn.get('corp.tools.run_job')!.action, 'call');
    const partial = judge(dumps(call(call(g('functools', 'partial'), g('corp.tools', 'wipe'), '/data')), 2)).by;
    assert.strictEqual(partial.get('corp.tools.wipe')!.action, 'call');
    assert.strictEqual(partial.get('corp.tools.wipe')!.via, 'functools.partial');
    assert.strictEqual(partial.get('functools.partial')!.unsafe, undefined);
    const apply = judge(dumps(call(g('builtins', 'apply'), g('corp.tools', 'wipe'), ['/data']), 2)).by;
    assert.strictEqual(apply.get('corp.tools.wipe')!.unsafe, true);
  });

  it('a pickle that rewrites a module is dangerous, and the rewrite is followed (sys-module override)', () => {
    // torch._utils._rebuild_tensor = 'builtins', then 'eval'; STACK_GLOBAL of the two gives builtins.eval.
    const p = ops(
      op.Proto(4), op.Unicode('torch._utils'), M(), op.Unicode('_rebuild_tensor'), M(), op.StackGlobal(), M(), op.Pop(),
      op.Unicode('torch'), op.Unicode('_utils'), op.StackGlobal(), M(), op.Pop(),
      op.BinGet(3), op.EmptyDict(), op.BinGet(1), op.Unicode('builtins'), op.SetItem(), op.Build(), op.Pop(),
      op.BinGet(0), op.BinGet(1), op.StackGlobal(), op.BinGet(3), op.EmptyDict(), op.BinGet(1), op.Unicode('eval'), op.SetItem(), op.Build(), op.Pop(),
      op.BinGet(0), op.BinGet(1), op.StackGlobal(), op.StackGlobal(), op.Unicode('1+1'), op.TupleOne(), op.Reduce(), op.Stop(),
    );
    const { by } = judge(p);
    assert.strictEqual(by.get('torch._utils')!.verdict, 'dangerous');
    assert.strictEqual(by.get('torch._utils')!.action, 'modify');
    assert.deepStrictEqual(by.get('torch._utils')!.calls, ["torch._utils._rebuild_tensor = 'builtins'", "torch._utils._rebuild_tensor = 'eval'"]);
    assert.deepStrictEqual(by.get('builtins.eval')!.calls, ["builtins.eval('1+1')"]);
  });

  it('allowed follows torch.load(weights_only=True), version by version; plain data types are known harmless', () => {
    const cases: [string, string, string, RegExp][] = [
      ['torch', 'float32', 'allowed', /torch 1\.13 and 2\.x/],
      ['torch', 'bfloat16', 'allowed', /in torch 2\.x; torch 1\.13 refuses it/],
      ['torch', 'device', 'allowed', /in torch 2\.x; torch 1\.13 refuses it/],
      ['torch._utils', '_rebuild_qtensor', 'allowed', /in torch 2\.x/],
      ['torch._utils', '_rebuild_sparse_csr_tensor', 'allowed', /torch 1\.13's weights_only accepts it/],
      // torch 2.x's _weights_only_unpickler.py (_tensor_rebuild_functions); nested from 2.2 (pytorch/pytorch#112516).
      ['torch._utils', '_rebuild_wrapper_subclass', 'allowed', /in torch 2\.x; torch 1\.13 refuses it/],
      ['torch._utils', '_rebuild_device_tensor_from_numpy', 'allowed', /in torch 2\.x; torch 1\.13 refuses it/],
      ['torch._utils', '_rebuild_device_tensor_from_cpu_tensor', 'allowed', /in torch 2\.x; torch 1\.13 refuses it/],
      ['torch._utils', '_rebuild_nested_tensor', 'allowed', /from torch 2\.2; torch 1\.13 to 2\.1 refuse it/],
      ['__builtin__', 'set', 'allowed', /torch 2\.x/],
      ['builtins', 'list', 'unknown', /refuses it unless it is allowlisted \(torch\.serialization\.add_safe_globals, torch 2\.4 and later\)/],
      ['torch', 'half', 'unknown', /torch constant/],
      ['datetime', 'datetime', 'unknown', /standard library value type/],
    ];
    for (const [m, n, v, re] of cases) {
      const c = classifyGlobal(m, n);
      assert.strictEqual(c.verdict, v, `${m}.${n}`);
      assert.match(c.reason, re, `${m}.${n}`);
    }
    const { by } = judge(dumps([call(g('datetime', 'timedelta'), 1, 0, 0), call(g('builtins', 'len'), [1])], 3));
    assert.strictEqual(by.get('datetime.timedelta')!.unsafe, undefined);
    assert.strictEqual(by.get('builtins.len')!.unsafe, undefined);
  });

  it('known gadget families are dangerous, by module, by qualified name and by name', () => {
    for (const [m, n] of [
      ['torch.utils.bottleneck.__main__', 'run_cprofile'], ['torch.fx.experimental.symbolic_shapes', 'ShapeEnv.evaluate_guards_expression'],
      ['torch.utils._config_module', 'ConfigModule.load_config'], ['lib2to3.pgen2.grammar', 'Grammar.loads'], ['uuid', '_get_command_stdout'],
      ['_osx_support', '_read_output'], ['_aix_support', '_read_cmd_output'], ['_pyrepl.pager', 'pipe_pager'], ['test.support.script_helper', 'assert_python_ok'],
      ['logging', 'FileHandler'], ['logging.config', 'dictConfig'], ['_interpreters', 'create'], ['pdb', 'run'], ['shutil', 'rmtree'], ['tempfile', 'NamedTemporaryFile'],
      ['importlib', 'import_module'], ['pkgutil', 'resolve_name'], ['runpy', 'run_path'], ['code', 'InteractiveConsole'], ['corp.loader', 'exec_module'], ['mymod', 'eval'],
    ]) {
      assert.strictEqual(classifyGlobal(m, n).verdict, 'dangerous', `${m}.${n}`);
    }
    for (const [m, n] of [['uuid', 'UUID'], ['pathlib', 'PurePosixPath'], ['logging', 'getLogger'], ['collections.abc', 'Iterable'], ['typing', 'Any']]) {
      assert.notStrictEqual(classifyGlobal(m, n).verdict, 'dangerous', `${m}.${n}`);
    }
  });
});

describe('safety: decoded calls are escaped, bounded and never evaluated', () => {
  it('control characters, bidirectional overrides and quotes are escaped as Python would', () => {
    const { by } = judge(reducePayload('posix', 'system', ["rm -rf ~\n\u001b[2K\u202e'x'\\"], 4));
    // A string holding ' (and no ") is quoted with ", as repr() does.
    assert.deepStrictEqual(by.get('posix.system')!.calls, ['posix.system("rm -rf ~\\n\\x1b[2K\\u202e\'x\'\\\\")']);
    assert.deepStrictEqual(judge(reducePayload('posix', 'system', ['a\'b"c'], 4)).by.get('posix.system')!.calls, ["posix.system('a\\'b\"c')"]);
  });

  it('long arguments, big containers and deep nesting are cut; a cycle terminates', () => {
    const long = judge(reducePayload('posix', 'system', ['x'.repeat(100_000)], 4)).by.get('posix.system')!.calls![0];
    assert.ok(long.length <= MAX_CALL_CHARS, `${long.length}`);
    assert.match(long, /^posix\.system\('x{96}…'\)$/);
    let nested: unknown = 1;
    for (let i = 0; i < 200; i++) nested = [nested];
    const deep = judge(reducePayload('posix', 'system', [nested as never], 2)).by.get('posix.system')!.calls![0];
    assert.ok(deep.length <= MAX_CALL_CHARS && deep.includes('…'), deep);
    const cyclic = new PyList([]);
    cyclic.items.push(cyclic);
    assert.match(renderValue(cyclic), /^\[\[\[\[\[\[…\]\]\]\]\]\]$/);
    const wide = judge(reducePayload('posix', 'system', [Array.from({ length: 1000 }, (_, i) => i)], 4)).by.get('posix.system')!.calls![0];
    assert.strictEqual(wide, 'posix.system([0, 1, 2, 3, 4, 5, …])');
  });

  it('bytes, NEWOBJ_EX keyword arguments and non-global callables are written as Python source', () => {
    const bytesCall = judge(reducePayload('posix', 'system', [Uint8Array.from([0x69, 0x64, 0x00, 0xff])], 3)).by.get('posix.system')!.calls![0];
    assert.strictEqual(bytesCall, "posix.system(b'id\\x00\\xff')");
    const ex = judge(ops(op.Proto(4), SBU('corp'), SBU('Job'), op.StackGlobal(), op.EmptyTuple(), op.EmptyDict(), SBU('cmd'), SBU('ls'), op.SetItem(), op.NewObjEx(), op.Stop())).by.get('corp.Job')!;
    assert.strictEqual(ex.action, 'class');
    const confused = judge(ops(op.Proto(4), SBU('not callable'), op.EmptyTuple(), op.Reduce(), op.Stop()));
    assert.strictEqual(confused.report.globals.length, 0);
  });
});

describe('safety: plain pickles and hidden pickles', () => {
  let dir: string;
  const MARKER = '/tmp/weightscope-safety-test-marker';
  before(() => {
    dir = tempDir('weightscope-safety-');
    fs.rmSync(MARKER, { force: true });
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    assert.strictEqual(fs.existsSync(MARKER), false, 'no pickle was ever executed');
  });
  const write = (name: string, bytes: Uint8Array): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, bytes);
    return p;
  };

  for (const p of [0, 1, 2, 3, 4, 5]) {
    it(`protocol ${p}: a plain .pkl opens as a pickle with the call it would make`, async () => {
      const file = write(`evil-p${p}.pkl`, reducePayload('posix', 'system', [`touch ${MARKER}`], p));
      const cp = await openCheckpoint(file);
      assert.strictEqual(cp.format, 'pickle');
      assert.strictEqual(cp.tensors.length, 0);
      assert.strictEqual(cp.safety!.verdict, 'dangerous');
      assert.deepStrictEqual(cp.safety!.globals.map((x) => [x.name, x.verdict, x.calls]), [['posix.system', 'dangerous', [`posix.system('touch ${MARKER}')`]]]);
      assert.strictEqual(cp.warnings[0].code, 'not-a-checkpoint');
      assert.strictEqual(cp.warnings[0].message, `a pickle, not a checkpoint: it would call posix.system('touch ${MARKER}')`);
      assert.strictEqual((cp.metadata.pickle as { protocol: number }).protocol, p >= 2 ? p : 0);
    });
  }

  it('the CLI prints the verdict with the decoded call, and --json carries it', () => {
    const file = write('evil.pickle', reducePayload('posix', 'system', [`touch ${MARKER}`], 2));
    const r = cli(file);
    assert.strictEqual(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.strictEqual(lines[0], `SAFETY: DANGEROUS — torch.load without weights_only would call posix.system('touch ${MARKER}'). Nothing was executed here.`);
    assert.ok(lines.some((l) => l === `  [not-a-checkpoint] a pickle, not a checkpoint: it would call posix.system('touch ${MARKER}')`), r.stdout);
    assert.doesNotMatch(r.stdout, /Model\(/, 'no empty module tree for a pickle');
    const j = JSON.parse(cli(file, '--json').stdout);
    assert.strictEqual(j.format, 'pickle');
    assert.deepStrictEqual(j.safety.globals[0].calls, [`posix.system('touch ${MARKER}')`]);
    assert.strictEqual(j.safety.globals[0].action, 'call');
  });

  it('a benign plain pickle is safe and says what pickle.load would return', async () => {
    const cp = await openCheckpoint(write('ok.pkl', dumps(new Map<V, V>([['lr', 0.001], ['steps', [1, 2]]]), 4)));
    assert.strictEqual(cp.safety!.verdict, 'safe');
    assert.strictEqual(cp.safety!.globals.length, 0);
    assert.deepStrictEqual(cp.warnings, [{ code: 'not-a-checkpoint', message: 'a pickle, not a checkpoint: pickle.load would return dict of 2 and call nothing' }]);
  });

  it('pickles after the first STOP are scanned and reported (torch.load ignores them)', async () => {
    const first = dumps(['a', 'b', 'c'], 3);
    const second = reducePayload('requests.api', 'get', ['https://example.com'], 4);
    const cp = await openCheckpoint(write('two.pkl', Uint8Array.from([...first, ...second])));
    const x = cp.safety!.globals.find((y) => y.name === 'requests.api.get')!;
    assert.strictEqual(x.verdict, 'dangerous');
    assert.strictEqual(x.trailing, true);
    assert.match(x.reason!, /^in a pickle after the first one's STOP \(torch\.load ignores it, other loaders may not\)/);
    const w = cp.warnings.find((y) => y.code === 'trailing-pickle')!;
    assert.strictEqual(w.message, `a second pickle after the first, at byte ${first.length}: torch.load ignores it, other loaders may not; it would call requests.api.get('https://example.com')`);
    assert.strictEqual(cp.warnings[0].message, 'a pickle, not a checkpoint: pickle.load would return list of 3 and call nothing');
  });

  it('scanning after STOP is bounded: at most MAX_PICKLES pickles, then a warning', async () => {
    const one = dumps(1, 2);
    const many = new Uint8Array(one.length * 10_000);
    for (let i = 0; i < 10_000; i++) many.set(one, i * one.length);
    const cp = await openCheckpoint(write('many.pkl', many));
    assert.strictEqual((cp.metadata.pickle as { pickles: number }).pickles, MAX_PICKLES);
    assert.ok(cp.warnings.some((w) => w.code === 'trailing-pickle' && /only the first 16 pickles were scanned/.test(w.message)));
    assert.strictEqual(cp.warnings.filter((w) => w.code === 'trailing-pickle').length, MAX_PICKLES);
  });

  it('bytes after STOP that are no pickle are counted; a zip after a pickle is named (torch.load runs the pickle)', async () => {
    const evil = reducePayload('posix', 'system', ['id'], 2);
    const junk = await openCheckpoint(write('junk.pkl', Uint8Array.from([...evil, 0x0a, 0xff, 0xfe])));
    assert.ok(junk.warnings.some((w) => w.code === 'trailing-bytes' && w.message === `3 bytes after the last pickle's STOP (from byte ${evil.length}) do not form a pickle`));
    const polyglot = await openCheckpoint(write('polyglot.pt', Uint8Array.from([...evil, ...torchZip(dumps(new Map(), 2))])));
    assert.strictEqual(polyglot.format, 'pickle');
    assert.strictEqual(polyglot.safety!.verdict, 'dangerous');
    assert.ok(polyglot.warnings.some((w) => w.code === 'trailing-bytes' && /hold a zip archive: torch\.load does not open it/.test(w.message)));
  });

  it('a pickle that stops making sense still reports what it named and called before', async () => {
    // os.system is called, then memo key 9 was never stored (picklescan's keyerror-exploit).
    const p = ops(op.Proto(4), op.Global('os', 'system'), op.Unicode('echo hi'), op.TupleOne(), op.Reduce(), op.Pop(), op.BinGet(9), op.Stop());
    const cp = await openCheckpoint(write('broken.pkl', p));
    assert.strictEqual(cp.format, 'pickle');
    assert.strictEqual(cp.safety!.verdict, 'dangerous');
    assert.match(cp.safety!.incomplete!, /^the pickle stops making sense at byte \d+ \(memo key 9 was never stored\)$/);
    assert.match(cp.warnings[0].message, /^a pickle, not a checkpoint, and it stops making sense at byte \d+ \(memo key 9 was never stored\): pickle\.load and torch\.load would fail there, but first would call os\.system\('echo hi'\)$/);
    // Without a dangerous global, an incomplete scan is never "safe".
    const benign = await openCheckpoint(write('broken-benign.pkl', ops(op.Proto(2), op.Global('collections', 'OrderedDict'), op.EmptyTuple(), op.Reduce(), op.BinGet(9), op.Stop())));
    assert.strictEqual(benign.safety!.verdict, 'unknown');
  });

  it('bad input stays a one-line typed error: a PROTO pickle that breaks before naming anything, random bytes', async () => {
    await assert.rejects(openCheckpoint(write('bad.pkl', Uint8Array.from([0x80, 0x04, 0x95, 1, 0, 0, 0, 0, 0, 0, 0, 0xff]))), (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      assert.strictEqual(e.code, 'bad-pickle');
      assert.match(e.message, /^bad\.pkl: byte 11: pickle opcode 0xff: a pickle \(protocol 4\) without the torch\.save magic number, and it stops making sense before naming anything: unknown pickle opcode 0xff$/);
      return true;
    });
    const r = cli(write('noise.bin', Uint8Array.from([0xf7, 0xc7, 0x70, 0x1d, 0x01, 0x17, 0xe9, 0xf1])));
    assert.strictEqual(r.status, 1);
    assert.match(r.stderr, /^error: noise\.bin: byte 0: not a checkpoint this tool reads[^\n]*\n$/);
  });

  it('the magic-number bypass: a call producing the magic number, then posix.system, both named', async () => {
    const p = ops(
      op.Proto(2), op.Global('__builtin__', 'eval'), op.BinPut(0), op.BinUnicode('0x1950A86A20F9469CFC6C'), op.TupleOne(), op.Reduce(), op.Stop(),
      op.Proto(2), op.BinInt2(1001), op.Stop(),
      op.Proto(2), op.EmptyDict(), op.Stop(),
      op.Proto(2), op.EmptyList(), op.Stop(),
      op.Proto(2), op.Global('posix', 'system'), op.BinUnicode(`touch ${MARKER}`), op.TupleOne(), op.Reduce(), op.Stop(),
    );
    const cp = await openCheckpoint(write('bypass.pt', p));
    assert.strictEqual(cp.format, 'pickle');
    const by = new Map(cp.safety!.globals.map((x) => [x.name, x]));
    assert.strictEqual(by.get('__builtin__.eval')!.verdict, 'dangerous');
    assert.strictEqual(by.get('posix.system')!.verdict, 'dangerous');
    assert.strictEqual(by.get('posix.system')!.trailing, undefined, 'torch.load reads the five pickles');
    const w = cp.warnings.find((x) => x.code === 'magic-bypass')!;
    assert.strictEqual(
      w.message,
      `the first pickle is not the torch.save magic number (1950a86a20f9469cfc6c) but a call, __builtin__.eval('0x1950A86A20F9469CFC6C'), which evaluates to it: torch.load calls it to read the magic number, takes the file for a legacy checkpoint and reads the next four pickles, where it would call posix.system('touch ${MARKER}')`,
    );
  });

  it('files are recognised as pickles by content, whatever their name', async () => {
    for (const p of [0, 2, 4]) assert.ok(looksLikePickle(reducePayload('posix', 'system', ['id'], p).subarray(0, 64), 100), `protocol ${p}`);
    assert.ok(!looksLikePickle(Buffer.from('{"a": 1}'), 8));
    assert.ok(!looksLikePickle(Buffer.from('class Foo:\n    pass\n'), 20));
    const cp = await openCheckpoint(write('payload', reducePayload('socket', 'socket', [], 0)));
    assert.strictEqual(cp.format, 'pickle');
    assert.strictEqual(cp.safety!.globals[0].name, 'socket.socket');
  });

  it('a pickle larger than the first look (64 KiB) is read on, within the plain-pickle bound', async () => {
    const big = dumps([Array.from({ length: 20_000 }, (_, i) => `item-${i}`), call(g('posix', 'system'), 'id')], 4);
    assert.ok(big.length > 200_000);
    const cp = await openCheckpoint(write('big.pkl', big));
    assert.strictEqual(cp.safety!.verdict, 'dangerous');
    assert.strictEqual(cp.safety!.incomplete, undefined);
  });
});

describe('safety: pickles hidden inside checkpoints', () => {
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-hidden-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("a second pickle after data.pkl's STOP: the checkpoint still opens, the hidden call is reported", async () => {
    const name = 'gpt2-tied.pt';
    const src = new MemoryByteSource(name, fs.readFileSync(fixture('pytorch', name)));
    const zipDir = await readZipDirectory(src, name);
    const members: [string, Uint8Array][] = [];
    for (const e of zipDir.order) members.push([e.name, Uint8Array.from(await readMember(src, e, name, 1 << 26))]);
    const pkl = members.find(([n]) => n.endsWith('/data.pkl'))!;
    const hidden = reducePayload('posix', 'system', ['id'], 2);
    const stop = pkl[1].length;
    pkl[1] = Uint8Array.from([...pkl[1], ...hidden]);
    const file = path.join(dir, 'hidden.pt');
    fs.writeFileSync(file, storedZip(members));
    const cp = await openCheckpoint(file);
    const truth = readJson<{ fixtures: Record<string, { parameters: { unique: number } }> }>(fixture('pytorch', 'ground-truth.json'));
    assert.strictEqual(cp.format, 'pytorch-zip');
    assert.strictEqual(cp.parameters.unique, truth.fixtures[name].parameters.unique, 'the real tensors are read as before');
    const sys = cp.safety!.globals.find((x) => x.name === 'posix.system')!;
    assert.strictEqual(sys.verdict, 'dangerous');
    assert.strictEqual(sys.trailing, true);
    const w = cp.warnings.find((x) => x.code === 'trailing-pickle')!;
    assert.match(w.message, new RegExp(`^a second pickle after the first in ${pkl[0].replace('.', '\\.')}, at byte \\d+: torch\\.load ignores it, other loaders may not; it would call posix\\.system\\('id'\\)$`));
    assert.ok(stop > 0);
  });

  it('a pickle after a legacy file\'s last storage is reported too', async () => {
    const legacy = fs.readFileSync(fixture('pytorch', 'gpt2-legacy.pt'));
    const file = path.join(dir, 'legacy-hidden.pt');
    fs.writeFileSync(file, Buffer.concat([legacy, reducePayload('posix', 'system', ['id'], 2)]));
    const cp = await openCheckpoint(file);
    assert.strictEqual(cp.format, 'pytorch-legacy');
    const w = cp.warnings.find((x) => x.code === 'trailing-pickle')!;
    assert.strictEqual(w.message, `a pickle after the last storage, at byte ${legacy.length}: torch.load ignores it, other loaders may not; it would call posix.system('id')`);
    assert.strictEqual(cp.safety!.globals.find((x) => x.name === 'posix.system')!.trailing, true);
    // Bytes that form no pickle keep the plain count.
    fs.writeFileSync(file, Buffer.concat([legacy, Buffer.from([0xff, 0xfe])]));
    const plain = await openCheckpoint(file);
    assert.ok(plain.warnings.some((x) => x.code === 'trailing-bytes' && x.message === '2 bytes follow the last storage'));
  });

  it('the bundled malicious checkpoints name the call, and the marker file never appears', async () => {
    const marker = readJson<{ marker: string }>(fixture('pytorch', 'ground-truth.json')).marker;
    fs.rmSync(marker, { force: true });
    for (const name of ['malicious.pt', 'malicious-legacy.pt']) {
      const r = toReport(await openCheckpoint(fixture('pytorch', name)));
      const sys = r.safety!.globals.find((x) => x.name === 'posix.system')!;
      assert.deepStrictEqual(sys.calls, [`posix.system('touch ${marker}')`]);
      const out = cli(fixture('pytorch', name));
      assert.match(out.stdout, new RegExp(`^SAFETY: DANGEROUS — torch\\.load without weights_only would call posix\\.system\\('touch ${marker.replace(/[.]/g, '\\.')}'\\)\\. Nothing was executed here\\.$`, 'm'));
    }
    assert.strictEqual(fs.existsSync(marker), false);
  });
});

describe('safety: bounds', () => {
  it('a legacy pickle read in growing chunks counts each global once (a retry forgets the partial run)', async () => {
    const dir = tempDir('weightscope-legacy-');
    try {
      const main = dumps(call(g('collections', 'OrderedDict'), [tuple('note', 'x'.repeat(100_000))]), 2);
      const parts = [dumps(0x1950a86a20f9469cfc6cn, 2), dumps(1001, 2), dumps(new Map(), 2), main, dumps([], 2)];
      const file = path.join(dir, 'legacy.pt');
      fs.writeFileSync(file, Buffer.concat(parts.map((x) => Buffer.from(x))));
      const cp = await openCheckpoint(file);
      assert.strictEqual(cp.format, 'pytorch-legacy');
      assert.deepStrictEqual(cp.safety!.globals.map((x) => [x.name, x.count]), [['collections.OrderedDict', 1]]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a pickle naming 150 dangerous globals: the report lists all, warnings stop at 100 and say how many more', () => {
    const calls = Array.from({ length: 150 }, (_, i) => call(g('os', `f${i}`), i));
    const rec = new SafetyRecorder();
    unpickle(dumps(calls, 4), { file: 't', hooks: rec.hooks(resolveGlobal) });
    const t = new SafetyTracker();
    t.merge(rec);
    assert.strictEqual(t.report().globals.filter((x) => x.verdict === 'dangerous').length, 150);
    const w = t.warnings();
    assert.strictEqual(w.length, 101);
    assert.strictEqual(w[100].message, 'and 50 more flagged globals (the safety report lists each one)');
  });
});

describe('safety: the builder writes what CPython writes', () => {
  // pickle.dumps(M(), p) for M.__reduce__ = (os.system, ('ls -la', (1, 2), [1], bytes([1, 2, 255]))), CPython 3.11.
  const CPYTHON = [
    '63706f7369780a73797374656d0a70300a28566c73202d6c610a70310a2849310a49320a7470320a286c70330a49310a61635f636f646563730a656e636f64650a70340a28560102ff0a70350a566c6174696e310a70360a7470370a5270380a7470390a527031300a2e',
    '63706f7369780a73797374656d0a71002858060000006c73202d6c617101284b014b027471025d71034b0161635f636f646563730a656e636f64650a71042858040000000102c3bf710558060000006c6174696e31710674710752710874710952710a2e',
    '800263706f7369780a73797374656d0a71002858060000006c73202d6c6171014b014b028671025d71034b0161635f636f646563730a656e636f64650a710458040000000102c3bf710558060000006c6174696e31710686710752710874710952710a2e',
    '800363706f7369780a73797374656d0a71002858060000006c73202d6c6171014b014b028671025d71034b016143030102ff71047471055271062e',
    '80049533000000000000008c05706f736978948c0673797374656d949394288c066c73202d6c61944b014b0286945d944b016143030102ff94749452942e',
    '80059533000000000000008c05706f736978948c0673797374656d949394288c066c73202d6c61944b014b0286945d944b016143030102ff94749452942e',
  ];
  for (const p of [0, 1, 2, 3, 4, 5]) {
    it(`protocol ${p}`, () => {
      const mine = reducePayload('posix', 'system', ['ls -la', tuple(1, 2), [1], Uint8Array.from([1, 2, 255])], p);
      assert.strictEqual(Buffer.from(mine).toString('hex'), CPYTHON[p]);
    });
  }
});
