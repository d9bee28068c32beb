import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { openCheckpoint } from '../src/core';
import { CheckpointError } from '../src/core/errors';
import {
  PickleHooks,
  PyBytes,
  PyDict,
  PyGlobal,
  PyList,
  PyObject,
  PySet,
  PyTuple,
  PickleNeedsMore,
  PyValue,
  describeValue,
  unpickle,
} from '../src/core/formats/pytorch/pickle';
import { classifyGlobal, SafetyTracker } from '../src/core/formats/pytorch/safety';
import { pyFloat, layerRepr } from '../src/core/formats/pytorch/modules';
import { interpret } from '../src/core/formats/pytorch/structure';
import { resolveGlobal, TorchSession, toRecords } from '../src/core/formats/pytorch/torch';

/** Pickles of one object written by CPython's pickle.dumps with protocols 0 to 5. */
const SAMPLE: Record<number, string> = {
  0: '286470300a56610a70310a286c70320a49310a6146322e350a6156780a70330a614e614930310a614930300a617356620a70340a2849310a49320a7470350a73566269670a70360a4c313138303539313632303731373431313330333432344c0a73566e65670a70370a492d350a73566933320a70380a492d37303030300a735662797465730a70390a635f636f646563730a656e636f64650a7031300a28565c753030303001ff0a7031310a566c6174696e310a7031320a747031330a527031340a73567365740a7031350a635f5f6275696c74696e5f5f0a7365740a7031360a28286c7031370a49370a61747031380a527031390a735666730a7032300a635f5f6275696c74696e5f5f0a66726f7a656e7365740a7032310a28286c7032320a49380a61747032330a527032340a7356756e690a7032350a5668e96c6c6f205c75323630330a7032360a73566f640a7032370a63636f6c6c656374696f6e730a4f726465726564446963740a7032380a2874527032390a566b0a7033300a49310a737356656d7074790a7033310a28747356660a7033320a462d302e3132350a732e',
  1: '7d71002858010000006171015d7102284b0147400400000000000058010000007871034e4930310a4930300a655801000000627104284b014b02747105580300000062696771064c313138303539313632303731373431313330333432344c0a58030000006e656771074afbffffff580300000069333271084a90eefeff580500000062797465737109635f636f646563730a656e636f64650a710a2858040000000001c3bf710b58060000006c6174696e31710c74710d52710e5803000000736574710f635f5f6275696c74696e5f5f0a7365740a7110285d71114b0761747112527113580200000066737114635f5f6275696c74696e5f5f0a66726f7a656e7365740a7115285d71164b08617471175271185803000000756e697119580a00000068c3a96c6c6f20e29883711a58020000006f64711b63636f6c6c656374696f6e730a4f726465726564446963740a711c2952711d58010000006b711e4b01735805000000656d707479711f29580100000066712047bfc0000000000000752e',
  2: '80027d71002858010000006171015d7102284b0147400400000000000058010000007871034e88896558010000006271044b014b02867105580300000062696771068a0900000000000000004058030000006e656771074afbffffff580300000069333271084a90eefeff580500000062797465737109635f636f646563730a656e636f64650a710a58040000000001c3bf710b58060000006c6174696e31710c86710d52710e5803000000736574710f635f5f6275696c74696e5f5f0a7365740a71105d71114b0761857112527113580200000066737114635f5f6275696c74696e5f5f0a66726f7a656e7365740a71155d71164b08618571175271185803000000756e697119580a00000068c3a96c6c6f20e29883711a58020000006f64711b63636f6c6c656374696f6e730a4f726465726564446963740a711c2952711d58010000006b711e4b01735805000000656d707479711f29580100000066712047bfc0000000000000752e',
  3: '80037d71002858010000006171015d7102284b0147400400000000000058010000007871034e88896558010000006271044b014b02867105580300000062696771068a0900000000000000004058030000006e656771074afbffffff580300000069333271084a90eefeff58050000006279746573710943030001ff710a5803000000736574710b636275696c74696e730a7365740a710c5d710d4b076185710e52710f580200000066737110636275696c74696e730a66726f7a656e7365740a71115d71124b08618571135271145803000000756e697115580a00000068c3a96c6c6f20e29883711658020000006f64711763636f6c6c656374696f6e730a4f726465726564446963740a71182952711958010000006b711a4b01735805000000656d707479711b29580100000066711c47bfc0000000000000752e',
  4: '800495ca000000000000007d94288c0161945d94284b014740040000000000008c0178944e8889658c0162944b014b0286948c03626967948a090000000000000000408c036e6567944afbffffff8c03693332944a90eefeff8c0562797465739443030001ff948c03736574948f94284b07908c02667394284b0891948c03756e69948c0a68c3a96c6c6f20e29883948c026f64948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b01738c05656d70747994298c01669447bfc0000000000000752e',
  5: '800595ca000000000000007d94288c0161945d94284b014740040000000000008c0178944e8889658c0162944b014b0286948c03626967948a090000000000000000408c036e6567944afbffffff8c03693332944a90eefeff8c0562797465739443030001ff948c03736574948f94284b07908c02667394284b0891948c03756e69948c0a68c3a96c6c6f20e29883948c026f64948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b01738c05656d70747994298c01669447bfc0000000000000752e',
};

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, 'hex'));
}

function bytes(...parts: (string | number[] | Uint8Array)[]): Uint8Array {
  const chunks = parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p as number[])));
  return Uint8Array.from(Buffer.concat(chunks));
}

interface Seen {
  globals: string[];
}

function hooks(seen: Seen = { globals: [] }): PickleHooks {
  return {
    resolveGlobal(module, name, site) {
      seen.globals.push(`${module}.${name}`);
      return resolveGlobal(module, name, site);
    },
  };
}

function load(buf: Uint8Array, extra: Partial<Parameters<typeof unpickle>[1]> = {}): PyValue {
  return unpickle(buf, { file: 'test.pkl', hooks: hooks(), ...extra }).value;
}

/** A JSON-able view of a value, for deepStrictEqual. */
function js(v: PyValue): unknown {
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? `${v}n` : v;
  if (v instanceof PyDict) return { [v.className]: [...v.entries()].map(([k, x]) => [js(k), js(x)]) };
  if (v instanceof PyList) return v.items.map(js);
  if (v instanceof PyTuple) return { tuple: v.items.map(js) };
  if (v instanceof PySet) return { [v.frozen ? 'frozenset' : 'set']: v.items.map(js) };
  if (v instanceof PyBytes) return { bytes: Buffer.from(v.data).toString('hex') };
  if (v instanceof PyGlobal) return { global: v.full };
  if (v instanceof PyObject) return { object: v.className, args: v.args.map(js) };
  return v.describe();
}

function rejects(fn: () => unknown, code: string, re: RegExp): CheckpointError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CheckpointError, `expected a CheckpointError, got ${e}`);
    assert.strictEqual(e.code, code, e.message);
    assert.match(e.message, re);
    return e;
  }
  assert.fail('expected an error');
}

const EXPECTED = {
  dict: [
    ['a', [1, 2.5, 'x', null, true, false]],
    ['b', { tuple: [1, 2] }],
    ['big', '1180591620717411303424n'],
    ['neg', -5],
    ['i32', -70000],
    ['bytes', { bytes: '0001ff' }],
    ['set', { set: [7] }],
    ['fs', { frozenset: [8] }],
    ['uni', 'h\u00e9llo \u2603'],
    ['od', { 'collections.OrderedDict': [['k', 1]] }],
    ['empty', { tuple: [] }],
    ['f', -0.125],
  ],
};

describe('unpickler: CPython pickles of every protocol', () => {
  for (const p of [0, 1, 2, 3, 4, 5]) {
    it(`protocol ${p} decodes to the same values`, () => {
      const r = unpickle(hex(SAMPLE[p]), { file: 't', hooks: hooks() });
      assert.deepStrictEqual(js(r.value), EXPECTED);
      assert.strictEqual(r.end, hex(SAMPLE[p]).length);
      assert.strictEqual(r.protocol, p >= 2 ? p : 0);
    });
  }

  it('ties travel through the memo: one object, two keys', () => {
    const v = load(hex('80027d71002858010000007871015d7102284b014b026558010000007971036802752e')) as PyDict;
    assert.ok(v.get('x') instanceof PyList);
    assert.strictEqual(v.get('x'), v.get('y'));
  });

  it('dict keys such as __proto__ are ordinary keys and pollute nothing', () => {
    const v = load(hex('80027d71002858090000005f5f70726f746f5f5f71014b01580b000000636f6e7374727563746f7271024b025808000000746f537472696e6771034b03752e')) as PyDict;
    assert.strictEqual(v.get('__proto__'), 1);
    assert.strictEqual(v.get('constructor'), 2);
    assert.strictEqual(v.get('toString'), 3);
    assert.strictEqual(v.size, 3);
    assert.strictEqual(({} as Record<string, unknown>).toString, Object.prototype.toString);
    assert.strictEqual(Object.getPrototypeOf({}), Object.prototype);
  });

  it('STRING literals with escapes, INT booleans, DUP, POP and POP_MARK', () => {
    const v = load(bytes('(S\'a\\n\\x41\\\'b\'\nI01\nI00\nI-3\n2', '0', '(N1', 'l.'));
    assert.deepStrictEqual(js(v), ["a\nA'b", true, false, -3]);
  });

  it('MEMOIZE indexes by memo size, FRAME is skipped, STACK_GLOBAL resolves', () => {
    // PROTO 4, FRAME, "collections" MEMOIZE "OrderedDict" MEMOIZE STACK_GLOBAL MEMOIZE ) R . with a GET of memo 2 before R
    const buf = bytes([0x80, 4, 0x95, 1, 0, 0, 0, 0, 0, 0, 0], [0x8c, 11], 'collections', [0x94, 0x8c, 11], 'OrderedDict', [0x94, 0x93, 0x94, 0x30, 0x68, 2, 0x29, 0x52, 0x2e]);
    const v = load(buf);
    assert.ok(v instanceof PyDict);
    assert.strictEqual(v.className, 'collections.OrderedDict');
  });

  it('REDUCE on an unknown global builds inert data and calls nothing', () => {
    const seen: Seen = { globals: [] };
    // cposix\nsystem\n(S'touch /tmp/x'\ntR.
    const v = unpickle(bytes("cposix\nsystem\n(S'touch /tmp/x'\ntR."), { file: 't', hooks: hooks(seen) }).value;
    assert.ok(v instanceof PyObject);
    assert.strictEqual(v.className, 'posix.system');
    assert.deepStrictEqual(v.args, ['touch /tmp/x']);
    assert.deepStrictEqual(seen.globals, ['posix.system']);
  });

  it('BUILD, SETITEMS and APPENDS on opaque objects keep their state as data', () => {
    const v = load(bytes('cmy.mod\nThing\n)\x81}(X', [1, 0, 0, 0], 'kK\x05ub(X', [1, 0, 0, 0], 'zK\x06u(K\x07e.'));
    assert.ok(v instanceof PyObject);
    assert.ok(v.state instanceof PyDict && v.state.get('k') === 5);
    assert.strictEqual(v.dictItems?.get('z'), 6);
    assert.deepStrictEqual(v.listItems, [7]);
  });

  it('INST and OBJ (protocol 0/1 instances) are inert too', () => {
    const v = load(bytes('(S\'x\'\nisubprocess\nPopen\n.'));
    assert.ok(v instanceof PyObject && v.className === 'subprocess.Popen' && v.via === 'inst');
    const o = load(bytes('(cos\nsystem\nS\'id\'\no.'));
    assert.ok(o instanceof PyObject && o.className === 'os.system' && o.via === 'obj');
  });

  it('a dict key made of shared sub-tuples (a DAG) costs linear time, not exponential', () => {
    const parts: number[][] = [[0x80, 2, 0x29, 0x72, 0, 0, 0, 0]];
    for (let i = 1; i <= 60; i++) {
      const refs: number[] = [];
      for (let j = 0; j < 16; j++) refs.push(0x6a, (i - 1) & 0xff, 0, 0, 0);
      parts.push([0x28, ...refs, 0x74, 0x72, i & 0xff, 0, 0, 0]);
    }
    parts.push([0x30, 0x7d, 0x6a, 60, 0, 0, 0, 0x4e, 0x73, 0x2e]); // POP {} key None SETITEM
    const t0 = Date.now();
    const d = load(bytes(...parts));
    assert.ok(d instanceof PyDict && d.size === 1);
    interpret(d, 't');
    assert.ok(Date.now() - t0 < 2000);
  });

  it('a DAG of lists that expands to millions of paths stops at the walk budget', () => {
    const parts: number[][] = [[0x80, 2, 0x5d, 0x72, 0, 0, 0, 0]];
    for (let i = 1; i <= 40; i++) parts.push([0x28, 0x6a, i - 1, 0, 0, 0, 0x6a, i - 1, 0, 0, 0, 0x6c, 0x72, i, 0, 0, 0]);
    parts.push([0x2e]);
    const root = load(bytes(...parts));
    rejects(() => interpret(root, 't', { maxNodes: 100_000 }), 'limit', /expands to more than 100000 nodes/);
  });

  it('a module held thousands of times at the bottom of deep nesting costs its paths, not their depth each time', () => {
    // [[[...[m, m, ... 100,000 times]...]]] 900 lists deep, m one memoized nn.Module (a 500 KB
    // pickle): each module found kept a copy of the 900 containers around it (700 MB) and
    // rebuilt their paths.
    const depth = 900;
    const n = 100_000;
    const module = [0x80, 2, ...Buffer.from('ctorch.nn.modules.module\nModule\n'), 0x29, 0x81, 0x7d, 0x28];
    for (const k of ['_modules', '_parameters']) module.push(0x58, k.length, 0, 0, 0, ...Buffer.from(k), 0x7d);
    module.push(0x75, 0x62, 0x72, 0, 0, 0, 0, 0x30); // SETITEMS BUILD LONG_BINPUT 0 POP
    const root = load(bytes(module, Array(depth).fill(0x5d), [0x5d, 0x28], times(n, get(0)), [0x65], Array(depth).fill(0x61), [0x2e]));
    // Its paths add up to 540 million characters: past the default budget (next test).
    rejects(() => interpret(root, 't'), 'limit', /the paths of the objects walked add up to more than/);
    const t0 = Date.now();
    const r = interpret(root, 't', { maxPathChars: 2 ** 40 });
    let node = r.moduleTree!;
    for (let i = 0; i < depth; i++) {
      assert.strictEqual(node.children.length, 1);
      node = node.children[0];
      assert.deepStrictEqual([node.name, node.className], ['0', 'list']);
    }
    assert.strictEqual(node.children.length, n);
    assert.deepStrictEqual([node.children[n - 1].name, node.children[n - 1].className], [String(n - 1), 'Module']);
    // About 1 s here; the old walk took 14 s and 1.1 GB.
    assert.ok(Date.now() - t0 < 8000, `${Date.now() - t0} ms`);
  });

  it('long attribute names nested deep stop at the paths budget: a small pickle cannot make gigabytes of names', () => {
    // torch.save of 200 nested modules under one 20 KB attribute name is a 40 KB file (the name is
    // memoized); its module paths add up to 400 MB, and the JSON report ran to gigabytes.
    const nested = (depth: number, name: string): PyObject => {
      let inner: PyObject | undefined;
      for (let i = 0; i <= depth; i++) {
        const m = new PyObject(new PyGlobal('torch.nn.modules.module', 'Module'), [], 'newobj');
        const state = new PyDict();
        const modules = new PyDict('collections.OrderedDict');
        if (inner) modules.set(name, inner);
        state.set('_modules', modules);
        state.set('_parameters', new PyDict('collections.OrderedDict'));
        m.state = state;
        inner = m;
      }
      return inner!;
    };
    const e = rejects(() => interpret(nested(200, 'x'.repeat(20_000)), 't'), 'limit', /the paths of the objects walked add up to more than 268435456 characters \(long names nested deep: this one is \d+ characters\)/);
    assert.match(e.record ?? '', /^at "x{80}…"$/);
    // The same depth with names of real length, and one long name not nested, are fine.
    let node = interpret(nested(200, 'layer'), 't').moduleTree!;
    for (let i = 0; i < 200; i++) node = node.children[0];
    assert.strictEqual(node.children.length, 0);
    assert.strictEqual(interpret(nested(1, 'x'.repeat(20_000)), 't').moduleTree!.children[0].name.length, 20_000);
  });

  it('a list appended to itself (a cycle) is fine, and interpret() does not loop', () => {
    const v = load(bytes(']q\x00h\x00a.'));
    assert.ok(v instanceof PyList && v.items[0] === v);
    const r = interpret(v, 't');
    assert.strictEqual(r.tensors.length, 0);
  });
});

describe('describeValue: what a message says a pickled value is', () => {
  it('numbers: whole ones as int, others as float; very long ints by their digit count', () => {
    assert.strictEqual(describeValue(-1), 'int -1');
    assert.strictEqual(describeValue(1.5), 'float 1.5');
    assert.strictEqual(describeValue(NaN), 'float NaN');
    assert.strictEqual(describeValue(2n ** 53n), 'int 9007199254740992');
    assert.strictEqual(describeValue(-(10n ** 300n)), 'int of 301 digits (-10000000000…)');
    assert.strictEqual(describeValue('x'.repeat(50)), `str "${'x'.repeat(40)}…"`);
  });
});

describe('unpickler: bounds and bad input', () => {
  it('100,000 nested MARKs stop at the depth bound with the offset and opcode', () => {
    const buf = bytes([0x80, 2], '('.repeat(100_000), ')');
    const e = rejects(() => load(buf), 'limit', /MARKs nested deeper than 1000 levels/);
    assert.strictEqual(e.offset, 2 + 1000);
    assert.strictEqual(e.record, 'pickle opcode MARK');
  });

  it('100,000 nested tuples (TUPLE1) stop at the depth bound', () => {
    const buf = bytes([0x80, 2, 0x29], Array(100_000).fill(0x85), [0x2e]);
    const e = rejects(() => load(buf), 'limit', /nested deeper than 1000 levels/);
    assert.strictEqual(e.record, 'pickle opcode TUPLE1');
    assert.strictEqual(e.offset, 3 + 1000);
  });

  it('100,000 nested lists built with APPEND stop at the depth bound', () => {
    const buf = bytes([0x80, 2], ']'.repeat(100_000), 'a'.repeat(99_999), '.');
    rejects(() => load(buf), 'limit', /nested deeper than 1000 levels/);
  });

  it('nesting hidden behind the memo is caught when the structure is walked', () => {
    // Build L0 ... L2000, each appended into the previous one only after the child is complete
    // in the memo graph: the walker's depth check catches what construction-time depth cannot.
    const parts: (string | number[])[] = [[0x80, 2]];
    const n = 1500;
    for (let i = 0; i < n; i++) parts.push([0x5d, 0x72, i & 0xff, (i >> 8) & 0xff, 0, 0, 0x30]); // EMPTY_LIST LONG_BINPUT i POP
    for (let i = 0; i < n - 1; i++) parts.push([0x6a, i & 0xff, (i >> 8) & 0xff, 0, 0, 0x6a, (i + 1) & 0xff, ((i + 1) >> 8) & 0xff, 0, 0, 0x61, 0x30]);
    parts.push([0x6a, 0, 0, 0, 0, 0x2e]);
    const root = load(bytes(...parts));
    assert.ok(root instanceof PyList);
    rejects(() => interpret(root, 't'), 'limit', /nested deeper than 1000 levels/);
  });

  it('memo size, object count and integer size are bounded', () => {
    const puts = bytes([0x80, 2, 0x4e], ...Array.from({ length: 20 }, (_, i) => [0x71, i]), [0x2e]);
    rejects(() => load(puts, { limits: { maxMemo: 10 } }), 'limit', /more than 10 memo entries/);
    const objs = bytes([0x80, 2], '('.repeat(1), ']'.repeat(50), 'l.');
    rejects(() => load(objs, { limits: { maxObjects: 20 } }), 'limit', /more than 20 objects/);
    const long4 = bytes([0x80, 2, 0x8b, 0x00, 0x00, 0x10, 0x00]);
    rejects(() => load(long4), 'limit', /integer of 1048576 bytes/);
  });

  it('lengths past the end are typed truncation errors, never allocations', () => {
    rejects(() => load(bytes([0x80, 4, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])), 'truncated', /BINUNICODE8|larger than the pickle/);
    rejects(() => load(bytes([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x41])), 'truncated', /BINUNICODE needs 2147483647 bytes/);
    rejects(() => load(bytes([0x80, 2, 0x4e])), 'truncated', /ends before STOP/);
  });

  it('a partly loaded stream asks for more only when the claimed bytes exist', () => {
    // BINBYTES of 100 bytes, 10 of them in memory: more is asked for when the stream has them...
    const head = bytes([0x80, 2, 0x42, 100, 0, 0, 0], Array(10).fill(0));
    try {
      load(head, { available: 200 });
      assert.fail('expected PickleNeedsMore');
    } catch (e) {
      assert.ok(e instanceof PickleNeedsMore, String(e));
      assert.strictEqual(e.needEnd, 7 + 100);
      assert.strictEqual(e.code, 'truncated');
    }
    // ...and a length past the end of the stream fails at once, naming the opcode's offset.
    const e = rejects(() => load(head, { available: 50 }), 'truncated', /BINBYTES needs 100 bytes but the file ends 43 bytes later/);
    assert.ok(!(e instanceof PickleNeedsMore));
    assert.strictEqual(e.offset, 2);
    rejects(() => load(bytes([0x80, 4, 0x8e, 0, 0, 0, 0, 1, 0, 0, 0]), { available: 1000 }), 'truncated', /larger than the file/);
    // A line without its newline yet, or a pickle without its STOP yet, asks for more too.
    assert.throws(() => load(bytes('cos\nsys'), { available: 100 }), PickleNeedsMore);
    assert.throws(() => load(bytes([0x80, 2, 0x4e]), { available: 100 }), PickleNeedsMore);
    rejects(() => load(bytes([0x80, 2, 0x4e]), { available: 3 }), 'truncated', /ends before STOP/);
  });

  it('malformed programs name the opcode and offset', () => {
    let e = rejects(() => load(bytes([0x80, 2, 0xff])), 'bad-pickle', /unknown pickle opcode 0xff/);
    assert.strictEqual(e.offset, 2);
    e = rejects(() => load(bytes([0x80, 2, 0x68, 0x05, 0x2e])), 'bad-pickle', /memo key 5 was never stored/);
    assert.strictEqual(e.record, 'pickle opcode BINGET');
    rejects(() => load(bytes([0x80, 2, 0x61, 0x2e])), 'bad-pickle', /stack underflow/);
    rejects(() => load(bytes([0x80, 2, 0x4b, 1, 0x4b, 2, 0x61, 0x2e])), 'bad-pickle', /cannot append to int 1/);
    rejects(() => load(bytes([0x80, 2, 0x75, 0x2e])), 'bad-pickle', /no MARK/);
    rejects(() => load(bytes([0x80, 6, 0x2e])), 'unsupported', /protocol 6/);
    rejects(() => load(bytes([0x80, 5, 0x97, 0x2e])), 'unsupported', /out-of-band/);
    rejects(() => load(bytes([0x80, 2, 0x82, 0x01, 0x2e])), 'unsupported', /extension code 1/);
    rejects(() => load(bytes([0x80, 2, 0x4e, 0x51, 0x2e])), 'bad-pickle', /persistent id/);
  });

  it('persistent ids with a bogus storage type or count are refused', () => {
    const s = new TorchSession('t');
    const h = s.hooks('zip').hooks;
    // ('storage', torch.FloatStorage, '0', 'cpu', -1)
    const neg = bytes([0x80, 2], '(X', [7, 0, 0, 0], 'storagectorch\nFloatStorage\nX', [1, 0, 0, 0], '0X', [3, 0, 0, 0], 'cpuJ', [0xff, 0xff, 0xff, 0xff], 'tQ.');
    rejects(() => unpickle(neg, { file: 't', hooks: h }), 'bad-pickle', /storage size is int -1/);
    const wrongType = bytes([0x80, 2], '(X', [7, 0, 0, 0], 'storagecos\nsystem\nX', [1, 0, 0, 0], '0X', [3, 0, 0, 0], 'cpuK', [1], 'tQ.');
    rejects(() => unpickle(wrongType, { file: 't', hooks: h }), 'bad-pickle', /global os\.system as its storage class/);
  });
});

/** LONG_BINPUT / LONG_BINGET of memo slot `i`. */
const put = (i: number): number[] => [0x72, i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff, 0];
const get = (i: number): number[] => [0x6a, i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff, 0];
/** BININT1 (below 256) or BININT. */
const int = (i: number): number[] => (i < 256 ? [0x4b, i] : [0x4a, i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff, 0]);
/** `parts` repeated `n` times (Buffer.concat: too many for a call's arguments). */
function times(n: number, ...parts: number[][]): Uint8Array {
  const one = Buffer.from(parts.flat());
  return Uint8Array.from(Buffer.concat(Array.from({ length: n }, () => one)));
}
/** A dict of `n` int keys to None, stored in memo slot `slot` and popped. */
function memoDict(n: number, slot: number): Uint8Array {
  const items = Array.from({ length: n }, (_, i) => [...int(i), 0x4e]).flat();
  return bytes([0x7d, 0x28], items, [0x75], put(slot), [0x30]);
}

describe('unpickler: a value reused through the memo costs the bytes that name it, not its size', () => {
  it('REDUCE with one memoized 100,000-item argument tuple, 100,000 times: linear (the arguments are not rescanned)', () => {
    // The old machine scanned every argument's depth on each call: 10^10 steps.
    const n = 100_000;
    const buf = bytes([0x80, 2], 'cmymod\nf\n', put(0), [0x28], times(n, [0x4e]), [0x74], put(1), [0x30, 0x30, 0x5d, 0x28], times(n, get(0), get(1), [0x52]), [0x65, 0x2e]);
    const t0 = Date.now();
    const v = load(buf);
    assert.ok(v instanceof PyList && v.items.length === n);
    const o = v.items[n - 1];
    assert.ok(o instanceof PyObject && o.className === 'mymod.f' && o.args.length === n && o.depth === 1);
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
  });

  it('an object BUILT with the same big state over and over stops at the copy budget', () => {
    // A 1,000-entry dict merged into one object's state 1,000 times: 10^6 copies from 12 KB.
    const buf = bytes([0x80, 2], memoDict(1000, 0), 'cmymod\nC\n)', [0x81], times(1000, get(0), [0x62]), [0x2e]);
    const e = rejects(() => load(buf), 'limit', /copies more than \d+ items of values it built before \(BUILD merging a state into an object that has one\)/);
    assert.strictEqual(e.record, 'pickle opcode BUILD');
    // Merging it twice is what a pickle does, and is fine.
    const twice = load(bytes([0x80, 2], memoDict(1000, 0), 'cmymod\nC\n)', [0x81], times(2, get(0), [0x62]), [0x2e]));
    assert.ok(twice instanceof PyObject && twice.state instanceof PyDict && twice.state.size === 1000);
  });

  it('OrderedDict(d), list(xs), torch.Size(xs) of one memoized container, over and over, stop at the copy budget', () => {
    const od = bytes([0x80, 2], memoDict(1000, 0), 'ccollections\nOrderedDict\n', put(1), [0x30, 0x5d, 0x28], times(1000, get(1), get(0), [0x85, 0x52]), [0x65, 0x2e]);
    rejects(() => load(od), 'limit', /copies more than \d+ items .*\(OrderedDict\)/);
    for (const [module, name] of [['__builtin__', 'list'], ['torch', 'Size']]) {
      const xs = bytes([0x80, 2, 0x28], times(1000, [0x4e]), [0x6c], put(0), [0x30], `c${module}\n${name}\n`, put(1), [0x30, 0x5d, 0x28], times(1000, get(1), get(0), [0x85, 0x52]), [0x65, 0x2e]);
      rejects(() => load(xs), 'limit', /copies more than \d+ items/);
    }
    // A budget of its own, for tests: one copy of the dict fits in 1,000 items, two do not.
    const two = bytes([0x80, 2], memoDict(1000, 0), 'ccollections\nOrderedDict\n', put(1), [0x30, 0x5d, 0x28], times(2, get(1), get(0), [0x85, 0x52]), [0x65, 0x2e]);
    rejects(() => load(two, { limits: { maxCopies: 1500 } }), 'limit', /copies more than 1500 items/);
    const one = load(two, { limits: { maxCopies: 2000 } });
    assert.ok(one instanceof PyList && one.items.length === 2 && one.items.every((d) => d instanceof PyDict && d.size === 1000));
  });

  it('a memoized 200 KB string set as a dict key 200,000 times is one key, in linear time', () => {
    // The old key was a prefixed copy of the string: 40 GB copied (over two minutes).
    const key = 'k'.repeat(200_000);
    const buf = bytes([0x80, 2, 0x58, 0x40, 0x0d, 0x03, 0x00], key, put(0), [0x30, 0x7d], times(200_000, get(0), [0x4e, 0x73]), [0x2e]);
    const t0 = Date.now();
    const d = load(buf);
    assert.ok(d instanceof PyDict && d.size === 1 && d.get(key) === null && d.has(key) && !d.has('k'));
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
    // Strings and numbers stay apart as keys; 1, 1.0 and True stay one key.
    const mixed = load(bytes([0x80, 2, 0x7d, 0x28], 'X\x01\x00\x00\x001', [0x4e, 0x4b, 1, 0x4e, 0x88, 0x4e], 'X\x04\x00\x00\x00None', [0x4e, 0x4e, 0x4e, 0x75, 0x2e]));
    assert.ok(mixed instanceof PyDict && mixed.size === 4, describeValue(mixed));
  });

  it('a global with a module or name past 512 characters is refused, naming it; a plain-pickle scan still takes it for a pickle', async () => {
    // STACK_GLOBAL of two memoized 50,000-character strings, 20,000 times: each lookup hashed both.
    const buf = bytes([0x80, 4, 0x58, 0x50, 0xc3, 0, 0], 'a'.repeat(50_000), put(0), [0x58, 0x50, 0xc3, 0, 0], 'b'.repeat(50_000), put(1), [0x30, 0x30, 0x5d, 0x28], times(20_000, get(0), get(1), [0x93]), [0x65, 0x2e]);
    const e = rejects(() => load(buf), 'limit', /global module of 50000 characters \("a{40}…"\) exceeds the 512-character limit/);
    assert.strictEqual(e.record, 'pickle opcode STACK_GLOBAL');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-names-'));
    try {
      const file = path.join(dir, 'long.pkl');
      fs.writeFileSync(file, buf);
      const cp = await openCheckpoint(file);
      assert.strictEqual(cp.format, 'pickle');
      assert.match(cp.safety!.incomplete ?? '', /exceeds the 512-character limit/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('unpickler: hooks see every call and every mutation of a global, and change nothing', () => {
  it('onCall gets REDUCE, NEWOBJ, INST and OBJ with their inert results', () => {
    const seen: string[] = [];
    const h: PickleHooks = { ...hooks(), onCall: (c) => seen.push(`${c.via}:${describeValue(c.callable)}:${c.args.length}:${describeValue(c.result)}`) };
    // [posix.system('x'), my.C.__new__(my.C), INST my.D(), OBJ my.E(1)]
    const buf = bytes('(cposix\nsystem\n(S\'x\'\ntR', [0x80, 2], 'cmy\nC\n)\x81(imy\nD\n(cmy\nE\nI1\nol.');
    unpickle(buf, { file: 't', hooks: h });
    assert.deepStrictEqual(seen, [
      'reduce:global posix.system:1:posix.system instance',
      'newobj:global my.C:0:my.C instance',
      'inst:global my.D:0:my.D instance',
      'obj:global my.E:1:my.E instance',
    ]);
  });

  it('BUILD, SETITEMS and APPENDS on a global are refused without the hook, recorded with it', () => {
    const build = bytes('ctorch\n_utils\n}S\'x\'\nI1\nsb.');
    rejects(() => load(build), 'bad-pickle', /BUILD on global torch\._utils/);
    const got: string[] = [];
    const h: PickleHooks = { ...hooks(), onGlobalMutation: (t, op, payload) => got.push(`${op} ${t.full} ${payload.length}`) };
    unpickle(build, { file: 't', hooks: h });
    unpickle(bytes('csys\nmodules\n(S\'os\'\nNu.'), { file: 't', hooks: h });
    unpickle(bytes('csys\npath\n(S\'/tmp\'\ne.'), { file: 't', hooks: h });
    assert.deepStrictEqual(got, ['build torch._utils 1', 'setitems sys.modules 2', 'append sys.path 1']);
  });
});

describe('safety verdicts', () => {
  it('classifies globals like torch.load(weights_only=True) would, and flags code runners', () => {
    const cases: [string, string, string][] = [
      ['collections', 'OrderedDict', 'allowed'],
      ['torch._utils', '_rebuild_tensor_v2', 'allowed'],
      ['torch._utils', '_rebuild_parameter', 'allowed'],
      ['torch', 'FloatStorage', 'allowed'],
      ['torch', 'bfloat16', 'allowed'],
      ['_codecs', 'encode', 'allowed'],
      ['__builtin__', 'set', 'allowed'],
      ['torch.nn.modules.linear', 'Linear', 'unknown'],
      ['__main__', 'MyModel', 'unknown'],
      ['numpy.core.multiarray', '_reconstruct', 'unknown'],
      ['posix', 'system', 'dangerous'],
      ['os', 'system', 'dangerous'],
      ['nt', 'system', 'dangerous'],
      ['subprocess', 'Popen', 'dangerous'],
      ['builtins', 'eval', 'dangerous'],
      ['__builtin__', 'getattr', 'dangerous'],
      ['builtins', '__import__', 'dangerous'],
      ['runpy', '_run_code', 'dangerous'],
      ['webbrowser', 'open', 'dangerous'],
      ['pickle', 'loads', 'dangerous'],
      ['marshal', 'loads', 'dangerous'],
      ['importlib', 'import_module', 'dangerous'],
      ['shutil', 'rmtree', 'dangerous'],
      ['socket', 'create_connection', 'dangerous'],
      ['os.path', 'join', 'dangerous'],
      ['sys', 'modules', 'dangerous'],
      ['torch.storage', '_load_from_bytes', 'dangerous'],
      ['torch.fx.graph_module', 'reduce_graph_module', 'dangerous'],
      ['torch.fx.graph_module', '_deserialize_graph_module', 'dangerous'],
      ['torch.fx._lazy_graph_module', '_deserialize_graph_module', 'dangerous'],
      ['_posixsubprocess', 'fork_exec', 'dangerous'],
      ['torch.utils.cpp_extension', 'load_inline', 'dangerous'],
      ['torch._inductor.codecache', 'PyCodeCache', 'dangerous'],
      ['torch.hub', 'load', 'dangerous'],
      ['torch.jit._serialization', 'load', 'dangerous'],
      ['torch._C', 'import_ir_module', 'dangerous'],
      ['torch', 'compile', 'dangerous'],
      ['ctypes', 'CDLL', 'dangerous'],
      ['codeop', 'compile_command', 'dangerous'],
      ['pty', 'spawn', 'dangerous'],
      ['multiprocessing.process', 'Process', 'dangerous'],
      ['pydoc', 'locate', 'dangerous'],
      ['timeit', 'timeit', 'dangerous'],
      ['cProfile', 'run', 'dangerous'],
      ['asyncio.subprocess', 'create_subprocess_shell', 'dangerous'],
      ['yaml', 'unsafe_load', 'dangerous'],
      ['pandas.io.pickle', 'read_pickle', 'dangerous'],
      ['functools', 'partial', 'unknown'],
      ['functools', 'reduce', 'dangerous'],
      ['torch.fx.immutable_collections', 'immutable_list', 'unknown'],
      ['torch.nn.modules.normalization', 'LayerNorm', 'unknown'],
    ];
    for (const [m, n, v] of cases) assert.strictEqual(classifyGlobal(m, n).verdict, v, `${m}.${n}`);
  });

  it('the report ranks dangerous first and warns once per dangerous global', () => {
    const t = new SafetyTracker();
    t.note('collections', 'OrderedDict');
    t.note('posix', 'system');
    t.note('posix', 'system');
    t.note('__main__', 'Thing');
    const r = t.report();
    assert.strictEqual(r.verdict, 'dangerous');
    assert.deepStrictEqual(r.globals.map((g) => [g.name, g.verdict, g.count]), [
      ['posix.system', 'dangerous', 2],
      ['__main__.Thing', 'unknown', 1],
      ['collections.OrderedDict', 'allowed', 1],
    ]);
    const w = t.warnings();
    assert.strictEqual(w.length, 1);
    assert.strictEqual(w[0].code, 'unsafe-global');
    assert.match(w[0].message, /posix\.system/);
  });
});

describe('PyTorch-style reprs', () => {
  it('formats floats as Python does', () => {
    assert.strictEqual(pyFloat(1e-5), '1e-05');
    assert.strictEqual(pyFloat(1e-12), '1e-12');
    assert.strictEqual(pyFloat(0.1), '0.1');
    assert.strictEqual(pyFloat(0.0001), '0.0001');
    assert.strictEqual(pyFloat(1), '1.0');
    assert.strictEqual(pyFloat(1e16), '1e+16');
    assert.strictEqual(pyFloat(123456.789), '123456.789');
    assert.strictEqual(pyFloat(-2.5e-7), '-2.5e-07');
  });

  it('builds Linear, Embedding and LayerNorm reprs from attributes', () => {
    const m = (o: Record<string, PyValue>) => new Map(Object.entries(o));
    assert.strictEqual(
      layerRepr('Linear', 'torch.nn.modules.linear', m({ in_features: 768, out_features: 50257 }), new Map([['bias', false]])),
      'Linear(in_features=768, out_features=50257, bias=False)',
    );
    assert.strictEqual(layerRepr('Embedding', 'torch.nn.modules.sparse', m({ num_embeddings: 50257, embedding_dim: 768, padding_idx: null, norm_type: 2 }), new Map()), 'Embedding(50257, 768)');
    assert.strictEqual(
      layerRepr('LayerNorm', 'torch.nn.modules.normalization', m({ normalized_shape: new PyTuple([768]), eps: 1e-5, elementwise_affine: true }), new Map()),
      'LayerNorm((768,), eps=1e-05, elementwise_affine=True)',
    );
    assert.strictEqual(layerRepr('Linear', 'my.module', m({ in_features: 1, out_features: 1 }), new Map()), undefined);
  });
});

describe('tensor rebuild handlers (pickles written by CPython against stand-in torch globals)', () => {
  // {'a': _rebuild_tensor_v3(UntypedStorage '0' (12 bytes), 2, (2, 5), (5, 1), False, {}, torch.float8_e4m3fn),
  //  'p': _rebuild_from_type_v2(_rebuild_tensor_v2, Parameter, (FloatStorage '1' (4), 0, (4,), (1,), True, {}), {}),
  //  'm': _rebuild_meta_tensor_no_storage(torch.float16, (5, 5), (5, 1), False),
  //  'ps': _rebuild_parameter_with_state(_rebuild_tensor_v2(FloatStorage '1', 1, (3,), (1,), ...), True, {}, {'x': 1})}
  const PICKLE =
    '80027d710028580100000061710163746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76330a71022828580700000073746f72616765710363746f7263680a556e747970656453746f726167650a71045801000000307105580300000063707571064b0c747107514b024b024b058671084b054b018671098963636f6c6c656374696f6e730a4f726465726564446963740a710a2952710b63746f7263680a666c6f6174385f65346d33666e0a710c74710d52710e580100000070710f63746f7263682e5f74656e736f720a5f72656275696c645f66726f6d5f747970655f76320a71102863746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a711163746f7263682e6e6e2e706172616d657465720a506172616d657465720a71122828680363746f7263680a466c6f617453746f726167650a7113580100000031711468064b04747115514b004b048571164b0185711788680a295271187471197d711a74711b52711c58010000006d711d63746f7263682e5f7574696c730a5f72656275696c645f6d6574615f74656e736f725f6e6f5f73746f726167650a711e2863746f7263680a666c6f617431360a711f4b054b0586712068098974712152712258020000007073712363746f7263682e5f7574696c730a5f72656275696c645f706172616d657465725f776974685f73746174650a7124286811286815514b014b03857125681789680a2952712674712752712888680a295271297d712a580100000078712b4b017374712c52712d752e';

  it('v3 on an untyped storage, a Parameter via _rebuild_from_type_v2, a meta tensor, a parameter with state', () => {
    const s = new TorchSession('t.pt');
    const { hooks, globals } = s.hooks('zip');
    const root = unpickle(hex(PICKLE), { file: 't.pt', hooks }).value;
    assert.ok(globals.has('torch._tensor._rebuild_from_type_v2'));
    const recs = toRecords(interpret(root, 't.pt').tensors, 't.pt');
    const by = new Map(recs.map((r) => [r.name, r]));
    const a = by.get('a')!;
    assert.strictEqual(a.dtype, 'float8_e4m3fn');
    assert.strictEqual(a.formatDtype, 'torch.float8_e4m3fn');
    assert.strictEqual(a.storageOffset, 2);
    assert.strictEqual(a.nbytes, 10);
    assert.strictEqual(a.storageNbytes, 12);
    const p = by.get('p')!;
    assert.strictEqual(p.dtype, 'float32');
    assert.strictEqual(p.extra?.parameter, true);
    assert.strictEqual(p.extra?.requires_grad, true);
    const ps = by.get('ps')!;
    assert.strictEqual(ps.storage, p.storage);
    assert.strictEqual(ps.storageOffset, 4);
    assert.strictEqual(ps.extra?.parameter, true);
    const m = by.get('m')!;
    assert.strictEqual(m.storage, null);
    assert.strictEqual(m.dataOffset, null);
    assert.strictEqual(m.dtype, 'float16');
    assert.strictEqual(m.nbytes, 50);
    assert.strictEqual(m.extra?.layout, 'meta');
  });

  it('a view reaching past its storage is refused, naming the tensor', () => {
    // Same pickle with the v3 tensor's offset 2 → 3: 3 + 10 elements of 1 byte > 12 bytes.
    const bad = hex(PICKLE.replace('747107514b024b024b05', '747107514b034b024b05'));
    const s = new TorchSession('t.pt');
    const root = unpickle(bad, { file: 't.pt', hooks: s.hooks('zip').hooks }).value;
    rejects(() => toRecords(interpret(root, 't.pt').tensors, 't.pt'), 'bad-shape', /tensor "a".*reaches byte 13 but storage "0" holds 12 bytes/);
  });
});
