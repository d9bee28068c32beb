/**
 * What a pickle would do if a real unpickler (torch.load without weights_only, pickle.load)
 * read it, decided from what the pickle asks for, never by running it.
 *
 * Every global gets a verdict:
 * - `allowed`: what torch.load(weights_only=True) accepts (torch/_weights_only_unpickler.py's
 *   allowlist; where torch 1.13 and 2.x differ, the reason says which accepts it).
 * - `dangerous`: a known way to run code, programs, touch files or the network, or to reach any
 *   of those (the gadget families picklescan and fickling flag: os/posix/nt, subprocess,
 *   eval/exec/compile-like callables, import machinery, interpreters and debuggers, pagers,
 *   config loaders, file handlers, nested unpicklers...), and anything the pickle rewrites
 *   (BUILD on a module or class).
 * - `unknown`: everything else. Unknown does not mean quiet: anything the pickle *calls* that is
 *   not known to be harmless is flagged (`unsafe`, warning `unsafe-global`: "torch.load without
 *   weights_only would call X(...)"), so a callable missing from every list is still reported.
 *   Classes the pickle only instantiates (NEWOBJ + BUILD, as torch.save(model) writes them) are
 *   told apart: "loads class `mymodels.GPT` (needs your code; does not run it by itself)".
 *
 * Calls are followed through the usual indirections (getattr, __import__, importlib,
 * operator.attrgetter/methodcaller, pydoc.locate, pkgutil.resolve_name, functools.partial,
 * apply, map...), so `getattr(__import__('os'), 'system')('id')` names os.system, and each
 * flagged global carries its decoded calls (render.ts). Nothing here is ever called.
 */
import { SafetyGlobal, SafetyReport, Warning } from '../../model';
import { CallEvent, PickleHooks, PyDict, PyGlobal, PyObject, PyTuple, PyValue, Site } from './pickle';
import { renderCall, renderValue } from './render';

export type Verdict = SafetyGlobal['verdict'];
export type Action = NonNullable<SafetyGlobal['action']>;

export interface GlobalVerdict {
  verdict: Verdict;
  reason: string;
  /** Known to run nothing when called (a plain data type): calling it is not flagged. */
  inert?: boolean;
  /** A torch.nn class (PyTorch's own code). */
  torchClass?: boolean;
  /** A TorchScript class (`__torch__.*`): compiled from the archive's own code/, not imported. */
  scriptClass?: boolean;
}

/**
 * `__torch__.*` names a class of TorchScript (what torch.jit.save writes into data.pkl): torch.jit.load
 * looks it up among the classes it compiled from the archive's `code/`, which is TorchScript, not
 * Python, and imports nothing. No Python module is called `__torch__`, so a plain unpickler
 * cannot resolve it either.
 */
const SCRIPT_CLASS = "TorchScript class: torch.jit.load compiles it from the archive's own code/ (TorchScript, not Python; nothing is imported)";

export function isTorchScriptName(module: string): boolean {
  return module === '__torch__' || module.startsWith('__torch__.');
}

// ---------------------------------------------------------------------------------------------
// What torch.load(weights_only=True) accepts

/** Which torch versions' weights_only unpickler accepts a global. */
type Since = 'all' | '2' | '1.13' | '2.2';

const WEIGHTS_ONLY = new Map<string, { since: Since; what: string }>();
function accept(names: string[], since: Since, what: string): void {
  for (const n of names) WEIGHTS_ONLY.set(n, { since, what });
}

// torch 1.13 (torch/_weights_only_unpickler.py in Debian's python3-torch 1.13).
const DTYPES_113 = ['complex32', 'complex64', 'complex128', 'float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64'];
// torch 2.x adds every other dtype (torch.storage._dtype_to_storage_type_map, _new_dtypes, uint1-7, int1-7).
const DTYPES_2 = [
  'bfloat16', 'bool', 'uint8', 'uint16', 'uint32', 'uint64', 'qint8', 'quint8', 'qint32', 'quint4x2', 'quint2x4',
  'float8_e4m3fn', 'float8_e5m2', 'float8_e4m3fnuz', 'float8_e5m2fnuz', 'float8_e8m0fnu', 'float4_e2m1fn_x2',
  'bits8', 'bits16', 'bits1x8', 'bits2x4', 'bits4x2',
  ...[1, 2, 3, 4, 5, 6, 7].flatMap((n) => [`uint${n}`, `int${n}`]),
];
const STORAGES = ['Double', 'Float', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool', 'ComplexFloat', 'ComplexDouble'];
const QSTORAGES = ['QInt8', 'QUInt8', 'QInt32', 'QUInt4x2', 'QUInt2x4'];
const TENSORS = ['Double', 'Float', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool'];
const SPARSE_TENSORS = ['Double', 'Float', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte'];
const QSCHEMES = ['per_tensor_affine', 'per_channel_affine', 'per_tensor_symmetric', 'per_channel_symmetric', 'per_channel_affine_float_qparams'];

accept(['collections.OrderedDict'], 'all', 'state_dict container');
accept(['torch.nn.parameter.Parameter', 'torch.Tensor', 'torch.Size', 'torch.serialization._get_layout'], 'all', 'tensor plumbing');
accept(DTYPES_113.map((d) => `torch.${d}`), 'all', 'dtype');
accept(DTYPES_2.map((d) => `torch.${d}`), '2', 'dtype');
accept([...STORAGES, ...QSTORAGES].map((k) => `torch.${k}Storage`), 'all', 'storage class');
accept(STORAGES.map((k) => `torch.cuda.${k}Storage`), 'all', 'storage class');
accept(['torch.storage.TypedStorage', 'torch.storage.UntypedStorage', 'torch.UntypedStorage'], 'all', 'storage class');
accept(TENSORS.flatMap((k) => [`torch.${k}Tensor`, `torch.cuda.${k}Tensor`]), 'all', 'tensor class');
accept(SPARSE_TENSORS.flatMap((k) => [`torch.sparse.${k}Tensor`, `torch.cuda.sparse.${k}Tensor`]), 'all', 'tensor class');
accept(
  ['_rebuild_parameter', '_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_sparse_tensor', '_rebuild_meta_tensor_no_storage'].map((r) => `torch._utils.${r}`),
  'all',
  'tensor rebuild function',
);
accept(['torch._utils._rebuild_sparse_csr_tensor'], '1.13', 'tensor rebuild function');
// torch 2.x's torch/_weights_only_unpickler.py, _tensor_rebuild_functions(), lists these three
// (_rebuild_device_tensor_from_cpu_tensor from 2.6, replacing the numpy one for new files) and
// _rebuild_nested_tensor; the latter was added by pytorch/pytorch#112516 (after 2.1), below.
accept(
  ['_rebuild_parameter_with_state', '_rebuild_qtensor', '_rebuild_tensor_v3', '_rebuild_wrapper_subclass', '_rebuild_device_tensor_from_numpy', '_rebuild_device_tensor_from_cpu_tensor'].map(
    (r) => `torch._utils.${r}`,
  ),
  '2',
  'tensor rebuild function',
);
// A nested tensor (torch.nested, strided layout): torch.Tensor.__reduce_ex__ names this function,
// which rebuilds the tensor from its values buffer and size/stride/offset tensors. Accepted from
// torch 2.2 (pytorch/pytorch#112516 added it to _get_allowed_globals); torch 1.13 to 2.1 refuse it.
accept(['torch._utils._rebuild_nested_tensor'], '2.2', 'tensor rebuild function (nested tensor)');
accept(['torch._tensor._rebuild_from_type_v2'], '2', 'tensor subclass rebuild');
accept(QSCHEMES.map((q) => `torch.${q}`), '2', 'quantization scheme');
accept(['collections.Counter', 'torch.device', '_codecs.encode', 'builtins.bytearray', 'builtins.set', 'builtins.complex'], '2', 'plain value');

function acceptedReason(what: string, since: Since): string {
  if (since === 'all') return `${what} (weights_only accepts it: torch 1.13 and 2.x)`;
  if (since === '2') return `${what} (weights_only accepts it in torch 2.x; torch 1.13 refuses it)`;
  if (since === '2.2') return `${what} (weights_only accepts it from torch 2.2; torch 1.13 to 2.1 refuse it)`;
  return `${what} (torch 1.13's weights_only accepts it; torch 2.x rebuilds it through _rebuild_sparse_tensor and no longer lists it)`;
}

// ---------------------------------------------------------------------------------------------
// Known harmless: plain data types. Calling them builds a value and runs nothing else.

const REFUSED = 'torch.load(weights_only=True) refuses it unless it is allowlisted (torch.serialization.add_safe_globals, torch 2.4 and later)';
const INERT = new Map<string, string>();
function inert(names: string[], what: string): void {
  for (const n of names) INERT.set(n, what);
}
inert(
  ['list', 'tuple', 'dict', 'frozenset', 'bytes', 'int', 'float', 'str', 'bool', 'slice', 'range', 'object', 'len', 'abs', 'divmod', 'round', 'ord', 'chr', 'hex', 'oct', 'bin', 'hash', 'isinstance', 'issubclass', 'enumerate', 'zip', 'reversed', 'all', 'any', 'sum', 'Ellipsis', 'NotImplemented'].map((n) => `builtins.${n}`),
  'builtin data type or pure function',
);
inert(['collections.defaultdict', 'collections.deque'], 'plain container');
inert(['datetime.datetime', 'datetime.date', 'datetime.time', 'datetime.timedelta', 'datetime.timezone', 'decimal.Decimal', 'fractions.Fraction', 'uuid.UUID', 'uuid.SafeUUID'], 'standard library value type');
inert(
  ['Path', 'PosixPath', 'WindowsPath', 'PurePath', 'PurePosixPath', 'PureWindowsPath'].flatMap((n) => [`pathlib.${n}`, `pathlib._local.${n}`]),
  'path value (building one touches no file)',
);
inert(['re._compile', 'types.SimpleNamespace', 'argparse.Namespace', 'json.loads'], 'standard library value type');
inert(
  ['copyreg._reconstructor', 'copy_reg._reconstructor', 'copyreg.__newobj__', 'copyreg.__newobj_ex__', 'copy_reg.__newobj__'],
  'builds an object of the class it names without calling it (object.__new__); the class decides what runs',
);
inert(
  ['functools.partial', 'functools.partialmethod', '_functools.partial'],
  'binds arguments to another callable, which the pickle names (and is judged) on its own; calling the partial is a call of that callable',
);
inert(
  [
    'numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct', 'numpy.ndarray', 'numpy.dtype',
    'numpy.core.multiarray.scalar', 'numpy._core.multiarray.scalar', 'numpy.core.numeric._frombuffer', 'numpy._core.numeric._frombuffer',
    'numpy.ma.core._mareconstruct', 'numpy.random._pickle.__randomstate_ctor', 'numpy.random._pickle.__bit_generator_ctor',
    'numpy.random._pickle.__generator_ctor',
    ...['bool_', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float16', 'float32', 'float64', 'longdouble', 'complex64', 'complex128', 'str_', 'bytes_', 'object_', 'void'].map((n) => `numpy.${n}`),
  ],
  'numpy array, dtype or scalar',
);
inert(['torch.fx.immutable_collections.immutable_list', 'torch.fx.immutable_collections.immutable_dict'], 'torch.fx container');
inert(['torch._tensor._rebuild_from_type'], 'tensor subclass rebuild (torch 1.x)');
// torch.distributed.checkpoint's metadata (pytorch/pytorch torch/distributed/checkpoint/metadata.py,
// filesystem.py): dataclasses (NEWOBJ + BUILD of their fields) and the memory-format enum, called
// with its value. FileSystemReader.read_metadata reads `.metadata` with pickle.load; TensorProperties'
// __setstate__ only unpacks its tuple. torch 2.0 to 2.3 pickle TensorProperties and its enum from
// torch.distributed._shard.sharded_tensor.metadata.
inert(
  [
    ...['Metadata', 'MetadataIndex', 'TensorStorageMetadata', 'BytesStorageMetadata', 'ChunkStorageMetadata', 'TensorProperties', 'StorageMeta', '_MEM_FORMAT_ENCODING'].map((n) => `torch.distributed.checkpoint.metadata.${n}`),
    'torch.distributed.checkpoint.filesystem._StorageInfo',
    ...['TensorProperties', 'MEM_FORMAT_ENCODING'].map((n) => `torch.distributed._shard.sharded_tensor.metadata.${n}`),
  ],
  'torch.distributed.checkpoint metadata dataclass or enum',
);
/** torch.jit._pickle's functions, which hand back the value they are given (build_tensor_from_id: an int, or None). */
export const TORCHSCRIPT_LIST_TAGS = ['build_intlist', 'build_tensorlist', 'build_doublelist', 'build_boollist', 'build_tensor_from_id', 'restore_type_tag'];
inert(
  TORCHSCRIPT_LIST_TAGS.map((n) => `torch.jit._pickle.${n}`),
  'TorchScript list type tag (torch/jit/_pickle.py returns its argument)',
);

/** Module prefixes whose names are types referenced as values (typing.Any, collections.abc.Iterable...). */
const INERT_MODULES = new Map<string, string>([
  ['typing', 'type annotation'],
  ['collections.abc', 'abstract base class'],
  ['numpy.dtypes', 'numpy dtype class'],
]);

// ---------------------------------------------------------------------------------------------
// Known gadgets. A key matches the global's full dotted name or any dotted prefix of it, so
// `os` covers os.system and os.path.join, and `trace.Trace` covers trace.Trace.run.

const DANGEROUS = new Map<string, string>();
function deny(names: string[], why: string): void {
  for (const n of names) DANGEROUS.set(n, why);
}
deny(['os', 'posix', 'nt', '_posixsubprocess', 'subprocess', '_subprocess', '_winapi', 'commands', 'popen2', 'pty', 'platform', 'multiprocessing', 'concurrent.futures', 'asyncio', 'torch.multiprocessing'], 'runs programs or other processes');
deny(['sys', 'gc', 'inspect', 'signal', 'faulthandler', 'resource', 'atexit', 'threading', '_thread', 'sched', 'msvcrt', 'winreg', '_winreg'], 'reaches interpreter or process internals');
deny(['runpy', 'code', 'codeop', 'pdb', 'bdb', 'timeit', 'cProfile', 'profile', 'trace', 'doctest', 'idlelib', 'lib2to3', 'py_compile', 'compileall', 'tkinter', '_tkinter', 'test.support', 'test.libregrtest', 'test.regrtest', 'numpy.testing', 'numpy.f2py', 'torch.utils.benchmark', 'torch.utils.bottleneck'], 'runs Python code (interpreter, debugger, profiler or test helper)');
deny(['_interpreters', '_xxsubinterpreters', 'interpreters', 'concurrent.interpreters', '_interpchannels', '_xxinterpchannels', '_interpqueues'], 'runs Python code in a subinterpreter');
deny(['importlib', 'imp', 'zipimport', 'pkgutil', 'site', 'ensurepip', 'pip', 'setuptools', 'distutils', 'numpy.distutils', 'venv', 'zipapp'], 'imports or installs code');
deny(['types', 'marshal'], 'builds code objects and functions');
deny(['pickle', '_pickle', 'cPickle', 'dill', 'cloudpickle', 'joblib', 'shelve', 'jsonpickle', 'numpy.load', 'numpy.lib.npyio', 'numpy.lib.format', 'copyreg.add_extension', 'copyreg.pickle', 'copy_reg.add_extension'], 'unpickles nested data (runs code)');
deny(['pydoc', '_pyrepl', 'webbrowser', 'antigravity'], 'runs pagers, browsers or imports by name');
deny(['ctypes', '_ctypes', 'cffi', 'numpy.ctypeslib', 'mmap'], 'calls native code or maps memory');
deny(['socket', '_socket', 'ssl', 'select', 'selectors', 'http', 'urllib', 'urllib2', 'urllib3', 'requests', 'httplib', 'httpx', 'aiohttp', 'ftplib', 'smtplib', 'smtpd', 'telnetlib', 'poplib', 'imaplib', 'nntplib', 'xmlrpc', 'socketserver', 'asynchat', 'asyncore'], 'network access');
deny(['shutil', 'tempfile', 'glob', 'pathlib', 'io', '_io', 'fileinput', 'tarfile', 'zipfile', 'gzip', 'bz2', 'lzma', 'dbm', 'sqlite3', 'mailbox', 'linecache', 'codecs.open', 'numpy.memmap', 'numpy.fromfile', 'numpy.core.memmap'], 'reads or writes files');
deny(['logging.config', 'logging.handlers', 'logging.FileHandler', 'logging.basicConfig', 'torch.utils._config_module'], 'loads configuration or opens files (config loaders and log file handlers)');
deny(['operator', '_operator', 'functools'], 'call and attribute gadgets (attrgetter, methodcaller, reduce...): reach and call anything');
deny(['_osx_support', '_aix_support'], 'runs shell commands (platform helpers)');
deny(['uuid._get_command_stdout', 'uuid._popen', 'uuid._find_mac', 'uuid._find_mac_near_keyword', 'uuid._find_mac_under_heading', 'uuid._ifconfig_getnode', 'uuid._ip_getnode', 'uuid._arp_getnode', 'uuid._lanscan_getnode', 'uuid._netstat_getnode', 'uuid._ipconfig_getnode', 'uuid._netbios_getnode'], 'runs shell commands');
deny(['torch.hub', 'torch.utils.model_zoo'], 'downloads and runs code');
deny(['torch.jit', 'torch._C.import_ir_module', 'torch._C.import_ir_module_from_buffer', 'torch._C._load_for_lite_interpreter', 'torch._C._load_for_lite_interpreter_from_buffer', 'torch._C.CompilationUnit', 'torch._C.ScriptFunction'], 'compiles or runs TorchScript');
deny(['torch.serialization', 'torch.load', 'torch.storage._load_from_bytes', 'torch.utils.data.datapipes.utils.decoder'], 'nested torch.load or unpickling (runs code)');
deny(['torch.package', 'torch.export', 'torch._export'], 'imports packaged code');
deny(['torch._dynamo', 'torch._inductor', 'torch.compiler', 'torch.compile', 'torch.utils.cpp_extension'], 'compiles and runs generated code');
deny(['torch.fx.graph_module', 'torch.fx.experimental.symbolic_shapes'], 'evaluates generated Python code (torch.fx)');
deny(['torch.utils.collect_env', 'torch.testing._internal'], 'runs shell commands');
deny(['torch.distributed.rpc', 'torch.ops', 'torch._ops', 'torch.cuda.memory'], 'calls native operators or remote code');
deny(['torch.save', 'torch.from_file'], 'reads or writes files');

const DANGEROUS_BUILTINS = new Map<string, string>([
  ['eval', 'evaluates Python code'],
  ['exec', 'executes Python code'],
  ['execfile', 'executes a Python file'],
  ['compile', 'compiles Python code'],
  ['__import__', 'imports arbitrary modules'],
  ['__build_class__', 'builds classes from code'],
  ['getattr', 'reaches any attribute (e.g. os.system through a module)'],
  ['setattr', 'modifies any object'],
  ['delattr', 'modifies any object'],
  ['open', 'opens files'],
  ['file', 'opens files'],
  ['input', 'reads from the terminal'],
  ['raw_input', 'reads from the terminal'],
  ['breakpoint', 'starts the debugger'],
  ['globals', 'exposes the interpreter namespace'],
  ['locals', 'exposes the interpreter namespace'],
  ['vars', 'exposes any namespace'],
  ['apply', 'calls any function'],
  ['reload', 'imports modules'],
  ['help', 'runs a pager'],
  ['exit', 'exits the process'],
  ['quit', 'exits the process'],
  ['map', 'calls a function over data (call gadget)'],
  ['filter', 'calls a function over data (call gadget)'],
  ['sorted', 'calls a key function (call gadget)'],
  ['min', 'calls a key function (call gadget)'],
  ['max', 'calls a key function (call gadget)'],
  ['iter', 'calls a function (call gadget)'],
  ['next', 'drives iterators (call gadget)'],
]);

/** Names that run code or programs in whatever module holds them (last dotted segment). */
const DANGEROUS_NAME = /^(system|popen\w*|spawn\w*|exec\w*|eval|execfile|run_?code|runsource|runcommand|runctx|run_path|run_module|runstring|compile_command|load|loads|unsafe_load|full_load|read_pickle|check_call|check_output|getoutput|getstatusoutput|startfile|fork\w*|pipe_?pager|attrgetter|itemgetter|methodcaller|load_config)$/;

const BUILTIN_MODULES = new Set(['builtins', '__builtin__', '__builtins__']);

/** Python 2 module names a protocol 0-2 pickle may use, as torch maps them. */
function canonicalModule(module: string): string {
  if (BUILTIN_MODULES.has(module)) return 'builtins';
  if (module === 'copy_reg') return 'copyreg';
  return module;
}

function dangerousPrefix(full: string): string | undefined {
  let i = full.length;
  for (;;) {
    const why = DANGEROUS.get(full.slice(0, i));
    if (why !== undefined) return why;
    i = full.lastIndexOf('.', i - 1);
    if (i <= 0) return undefined;
  }
}

/** The verdict for one `module.name` by name alone (what the pickle does with it comes on top). */
export function classifyGlobal(module: string, name: string): GlobalVerdict {
  const mod = canonicalModule(module);
  const full = joinName(mod, name);
  const ok = WEIGHTS_ONLY.get(full);
  if (ok) return { verdict: 'allowed', reason: acceptedReason(ok.what, ok.since) };
  const harmless = INERT.get(full);
  if (harmless) return { verdict: 'unknown', reason: `${harmless}; ${REFUSED}`, inert: true };
  if (mod === 'builtins') {
    const b = DANGEROUS_BUILTINS.get(name);
    if (b) return { verdict: 'dangerous', reason: b };
    if (/^[A-Z]\w*(Error|Exception|Warning|Exit|Interrupt)$/.test(name)) return { verdict: 'unknown', reason: `exception class; ${REFUSED}`, inert: true };
    return { verdict: 'unknown', reason: 'builtin outside the weights_only allowlist' };
  }
  if (isTorchScriptName(mod)) return { verdict: 'unknown', reason: SCRIPT_CLASS, inert: true, scriptClass: true };
  for (const [prefix, what] of INERT_MODULES) {
    if (mod === prefix || mod.startsWith(prefix + '.')) return { verdict: 'unknown', reason: `${what}; ${REFUSED}`, inert: true };
  }
  const why = dangerousPrefix(full);
  if (why) return { verdict: 'dangerous', reason: why };
  const last = name.slice(name.lastIndexOf('.') + 1);
  if (DANGEROUS_NAME.test(last) && !(mod === 'torch' || mod.startsWith('torch.'))) {
    return { verdict: 'dangerous', reason: `${last} runs code, programs or nested unpickling in most modules` };
  }
  if (mod === 'torch' && /^_?(load|ops|classes|jit|hub|_dynamo|_inductor|package|compile)$/.test(name)) return { verdict: 'dangerous', reason: 'reaches code loading in torch' };
  // torch.fx rebuilds (reduce_graph_module, _deserialize_graph_module...) exec generated code.
  if ((mod === 'torch.fx' || mod.startsWith('torch.fx.')) && /^(reduce_|_reduce|_deserialize|deserialize|_exec|_forward_from_src|_load)/.test(name)) {
    return { verdict: 'dangerous', reason: "torch.fx rebuild: executes the GraphModule's generated Python code" };
  }
  // TorchScript loaders and compilers reached through torch._C.
  if (mod === 'torch._C' && /^_?(jit_|import_ir|load|compile|_jit)/.test(name)) return { verdict: 'dangerous', reason: 'loads or compiles TorchScript' };
  if (mod === 'torch' && /^(float|double|half|cfloat|cdouble|chalf|short|int|long|strided|sparse_\w+|_mkldnn|jagged|contiguous_format|channels_last(_3d)?|preserve_format)$/.test(name)) {
    return { verdict: 'unknown', reason: `torch constant; ${REFUSED}`, inert: true };
  }
  if (mod === 'torch._utils' && name.startsWith('_rebuild_')) return { verdict: 'unknown', reason: `tensor rebuild function; ${REFUSED}`, inert: true };
  if (/^torch\.(ao\.)?nn\.modules(\.|$)/.test(mod) || mod === 'torch.nn') {
    return { verdict: 'unknown', reason: "nn.Module class (PyTorch's own): whole pickled modules are refused by torch.load(weights_only=True)", inert: true, torchClass: true };
  }
  if (mod === 'numpy' || mod.startsWith('numpy.')) return { verdict: 'unknown', reason: `numpy object; ${REFUSED}` };
  if (mod === 'copyreg') return { verdict: 'unknown', reason: 'generic object reconstruction: the class it builds decides what runs' };
  return { verdict: 'unknown', reason: `custom class or function; ${REFUSED}` };
}

// ---------------------------------------------------------------------------------------------
// Following calls through indirections (never evaluating anything)

const IMPORTERS = new Set(['builtins.__import__', 'importlib.import_module', 'importlib.__import__', 'importlib._bootstrap._gcd_import', 'pydoc.locate', 'pkgutil.resolve_name']);
const GETATTRS = new Set(['builtins.getattr']);
const ATTRGETTERS = new Set(['operator.attrgetter', '_operator.attrgetter']);
const METHODCALLERS = new Set(['operator.methodcaller', '_operator.methodcaller']);
const APPLIERS = new Set(['builtins.apply']);
/** Call their first argument on data (map(f, xs) calls f). */
const MAPPERS = new Set(['builtins.map', 'builtins.filter', 'functools.reduce', '_functools.reduce', 'itertools.starmap']);
const PARTIALS = new Set(['functools.partial', '_functools.partial', 'functools.partialmethod']);
const RECONSTRUCTORS = new Set(['copyreg._reconstructor', 'copyreg.__newobj__', 'copyreg.__newobj_ex__']);

function globalName(g: PyGlobal): string {
  return `${canonicalModule(g.module)}.${g.name}`;
}

/** The dotted name a value stands for when the pickle built it by a lookup (getattr, __import__...). */
export function resolveRef(v: PyValue | undefined, depth = 0): string | undefined {
  if (depth > 12 || v === undefined || v === null) return undefined;
  if (v instanceof PyGlobal) return `${v.module}.${v.name}`;
  if (!(v instanceof PyObject) || (v.via !== 'reduce' && v.via !== 'inst' && v.via !== 'obj')) return undefined;
  const c = v.callable;
  if (c instanceof PyGlobal) {
    const f = globalName(c);
    const a0 = v.args[0];
    if (IMPORTERS.has(f) && typeof a0 === 'string') return a0.replace(':', '.');
    if (GETATTRS.has(f) && typeof v.args[1] === 'string') {
      const base = typeof a0 === 'string' ? a0 : resolveRef(a0, depth + 1);
      return base === undefined ? undefined : `${base}.${v.args[1]}`;
    }
    return undefined;
  }
  // attrgetter('a.b')(obj)
  if (c instanceof PyObject && c.callable instanceof PyGlobal && ATTRGETTERS.has(globalName(c.callable)) && typeof c.args[0] === 'string') {
    const base = resolveRef(v.args[0], depth + 1);
    return base === undefined ? undefined : `${base}.${c.args[0]}`;
  }
  return undefined;
}

/** The global at the head of a callable chain: `f` in `f(a)(b)`, `C` in `C.__new__(C)(x)`. */
function rootGlobal(v: PyValue, depth = 0): PyGlobal | undefined {
  if (v instanceof PyGlobal) return v;
  if (v instanceof PyObject && depth < 64) return rootGlobal(v.callable, depth + 1);
  return undefined;
}

/** `os.system` → os / system; a bare module name (`os`, from __import__('os')) has no name. */
function splitName(full: string): { module: string; name: string } {
  const i = full.lastIndexOf('.');
  return i > 0 ? { module: full.slice(0, i), name: full.slice(i + 1) } : { module: full, name: '' };
}

function joinName(module: string, name: string): string {
  return name ? `${module}.${name}` : module;
}

const looksLikeClass = (name: string): boolean => /^_*[A-Z]/.test(name.slice(name.lastIndexOf('.') + 1));

// ---------------------------------------------------------------------------------------------
// Recording one pickle run

/** Calls kept per global while a pickle runs (the report shows the first few outermost ones). */
const CALLS_KEPT = 32;
/** Decoded calls shown per global. */
export const CALLS_SHOWN = 3;
/** Call results remembered (to show a chain `f(a)(b)` once, whole) per pickle run. */
const MAX_TRACKED_RESULTS = 100_000;
/** `unsafe-global` warnings, at most (the safety report lists every global). */
export const MAX_UNSAFE_WARNINGS = 100;

interface CallRec {
  callable: PyValue;
  args: PyValue[];
  kwargs?: PyValue;
  via: PyObject['via'];
  /** Used as the callable of a later call: that call shows it, so this one is not shown alone. */
  subsumed: boolean;
  /** Pre-rendered text (mutations of globals). */
  text?: string;
}

interface Seen {
  module: string;
  name: string;
  /** Times a GLOBAL/STACK_GLOBAL/INST named it (0 for a callable reached by a lookup). */
  count: number;
  actions: Set<Action>;
  calls: CallRec[];
  callCount: number;
  via?: string;
  /** Calls that only look up an enum member (enumMemberLookup). */
  enumLookups?: number;
}

/**
 * Python 3.11 pickles an Enum member as `getattr(EnumClass, 'NAME')` (enum.py's __reduce_ex__;
 * torch.distributed.checkpoint's TensorProperties holds one): a lookup of a constant on a class
 * known to be data, which reaches nothing else. Members are named in capitals (a method of such a
 * class never is).
 */
function enumMemberLookup(args: PyValue[]): boolean {
  const [cls, attr] = args;
  return args.length === 2 && cls instanceof PyGlobal && typeof attr === 'string' && /^[A-Z][A-Z0-9_]*$/.test(attr) && classifyGlobal(cls.module, cls.name).inert === true;
}

/**
 * Everything one pickle run named and asked for: globals, calls, mutations of globals. Wraps a
 * resolveGlobal function into pickle hooks. Bookkeeping only: nothing is ever called.
 */
export class SafetyRecorder {
  readonly seen = new Map<string, Seen>();
  /** Attributes the pickle set on globals (BUILD on a module): `module.name.attr` → value. */
  private readonly overrides = new Map<string, PyValue>();
  private byResult = new Map<PyObject, CallRec[]>();
  /** The entry of each global value the run resolved (a call finds its entry by identity). */
  private byGlobal = new Map<PyValue, Seen>();

  /** Forget everything (the run starts over with more bytes). */
  reset(): void {
    this.seen.clear();
    this.overrides.clear();
    this.byResult = new Map();
    this.byGlobal = new Map();
  }

  get size(): number {
    return this.seen.size;
  }

  /** Whether the run named or reached `module.name`. */
  has(full: string): boolean {
    return this.seen.has(full);
  }

  /** Names seen (for messages): `module.name`. */
  names(): string[] {
    return [...this.seen.keys()];
  }

  private entry(module: string, name: string, key = joinName(module, name)): Seen {
    let s = this.seen.get(key);
    if (!s) {
      s = { module, name, count: 0, actions: new Set(), calls: [], callCount: 0 };
      this.seen.set(key, s);
    }
    return s;
  }

  private entryFor(full: string): Seen {
    const { module, name } = splitName(full);
    return this.entry(module, name, full);
  }

  hooks(resolve: (module: string, name: string, site: Site) => PyValue): PickleHooks {
    return {
      resolveGlobal: (module, name, site) => {
        const s = this.entry(module, name);
        s.count++;
        s.actions.add('reference');
        const o = this.overrides.size ? this.overrides.get(`${module}.${name}`) : undefined;
        if (o !== undefined) {
          s.via ??= 'an attribute this pickle rewrote';
          return o;
        }
        const v = resolve(module, name, site);
        if (v instanceof PyGlobal) this.byGlobal.set(v, s);
        return v;
      },
      onCall: (e) => this.onCall(e),
      onBuild: (inst, state) => this.onBuild(inst, state),
      onGlobalMutation: (target, op, payload) => this.onMutation(target, op, payload),
    };
  }

  /**
   * BUILD on an instance the pickle created without calling its class (NEWOBJ). A dict (or a
   * (dict, slots) pair) is what the default __setstate__ takes: attributes, as torch.save(model)
   * writes them. Any other state only makes sense to a class's own __setstate__, which a real
   * unpickler would call with it: that is a call of the class's code.
   */
  private onBuild(inst: PyObject, state: PyValue): void {
    if ((inst.via !== 'newobj' && inst.via !== 'newobj_ex') || !(inst.callable instanceof PyGlobal)) return;
    const plain = (v: PyValue | undefined) => v === null || v instanceof PyDict;
    if (plain(state) || (state instanceof PyTuple && state.items.length === 2 && state.items.every(plain))) return;
    const cls = inst.callable;
    const s = this.byGlobal.get(cls) ?? this.entry(cls.module, cls.name);
    s.via ??= '__setstate__';
    this.addCall(s, { callable: cls, args: [], via: 'reduce', subsumed: false, text: `${renderValue(inst, 120)}.__setstate__(${renderValue(state, 120)})` }, 'call');
  }

  private addCall(s: Seen, rec: CallRec, action: Action): void {
    s.actions.add(action);
    s.callCount++;
    // Instantiating a class shows no call: the class is the news ("loads class X").
    if (action !== 'class' && s.calls.length < CALLS_KEPT) s.calls.push(rec);
  }

  private onCall(e: CallEvent): void {
    const { callable, args, kwargs, via, result } = e;
    // Known handlers (tensor rebuilds, OrderedDict...) build data: counted, not shown.
    if (callable instanceof PyGlobal && callable.call) {
      const s = this.byGlobal.get(callable) ?? this.entry(callable.module, callable.name);
      s.actions.add(via === 'newobj' || via === 'newobj_ex' ? 'class' : 'call');
      s.callCount++;
      return;
    }
    if (callable instanceof PyObject) {
      const inner = this.byResult.get(callable);
      if (inner) for (const r of inner) r.subsumed = true;
    }
    const rec: CallRec = { callable, args, kwargs, via, subsumed: false };
    const recs: CallRec[] = [rec];
    const root = rootGlobal(callable);
    const newobj = via === 'newobj' || via === 'newobj_ex';
    if (callable instanceof PyGlobal) {
      const f = globalName(callable);
      const s = this.entry(callable.module, callable.name);
      const instantiates = newobj || ((via === 'inst' || via === 'obj') && args.length === 0 && looksLikeClass(callable.name));
      const enumLookup = GETATTRS.has(f) && enumMemberLookup(args);
      if (enumLookup) {
        s.enumLookups = (s.enumLookups ?? 0) + 1;
      } else {
        this.addCall(s, rec, instantiates ? 'class' : 'call');
      }
      if (RECONSTRUCTORS.has(f)) {
        // copyreg._reconstructor(cls, base, state): object.__new__(cls), or base.__init__ when base is not object.
        const [cls, base] = args;
        if (cls instanceof PyGlobal) this.entry(cls.module, cls.name).actions.add('class');
        if (f === 'copyreg._reconstructor' && base instanceof PyGlobal && globalName(base) !== 'builtins.object') {
          this.noteTarget(`${base.module}.${base.name}`, rec, 'copyreg._reconstructor');
        }
      } else if (APPLIERS.has(f) || MAPPERS.has(f)) {
        const target = resolveRef(args[0]);
        if (target) this.noteTarget(target, rec, f);
      } else if ((IMPORTERS.has(f) || GETATTRS.has(f)) && !enumLookup) {
        // getattr(x, 'system'), pydoc.locate('os.system'): the attribute it reaches. A bare
        // module (__import__('os')) is only a stepping stone; what the pickle takes from it counts.
        const target = resolveRef(result);
        if (target && target.includes('.') && result instanceof PyObject) this.noteReference(target, f);
      }
    } else if (callable instanceof PyObject) {
      // A call of something the pickle built: a looked-up attribute, a partial, a method caller...
      const c = callable.callable;
      const cf = c instanceof PyGlobal ? globalName(c) : undefined;
      let target: string | undefined;
      let how: string | undefined;
      if (cf && PARTIALS.has(cf)) {
        target = resolveRef(callable.args[0]);
        how = cf;
      } else if (cf && METHODCALLERS.has(cf) && typeof callable.args[0] === 'string') {
        const base = resolveRef(args[0]);
        if (base) target = `${base}.${callable.args[0]}`;
        how = cf;
      } else {
        target = resolveRef(callable);
        if (target && root) how = `${root.module}.${root.name}`;
      }
      if (root) this.addCall(this.entry(root.module, root.name), rec, 'call');
      if (target && (!root || target !== `${root.module}.${root.name}`)) this.noteTarget(target, rec, how);
    }
    // Bounded: past this many results, a call whose callable is an earlier call shows both.
    if (result instanceof PyObject && this.byResult.size < MAX_TRACKED_RESULTS) {
      const have = this.byResult.get(result);
      if (have) have.push(...recs);
      else this.byResult.set(result, recs);
    }
  }

  /** A callable reached by a lookup and called: judged like a GLOBAL of that name. */
  private noteTarget(full: string, rec: CallRec, how: string | undefined): void {
    const s = this.entryFor(full);
    if (how) s.via ??= how;
    this.addCall(s, rec, 'call');
  }

  private noteReference(full: string, how: string): void {
    const s = this.entryFor(full);
    s.via ??= how;
    s.actions.add('reference');
  }

  private onMutation(target: PyGlobal, op: 'build' | 'setitems' | 'append', payload: PyValue[]): void {
    const s = this.entry(target.module, target.name);
    const texts: string[] = [];
    const who = `${target.module}.${target.name}`;
    if (op === 'build') {
      const state = payload[0];
      const dicts = state instanceof PyTuple && state.items.length === 2 ? state.items : [state];
      for (const d of dicts) {
        if (!(d instanceof PyDict)) continue;
        for (const [k, v] of d.entries()) {
          if (typeof k !== 'string') continue;
          this.overrides.set(`${who}.${k}`, v);
          texts.push(`${who}.${k} = ${renderValue(v, 120)}`);
        }
      }
      if (!texts.length) texts.push(`${who}.__setstate__(${renderValue(state ?? null, 160)})`);
    } else if (op === 'setitems') {
      for (let i = 0; i + 1 < payload.length; i += 2) texts.push(`${who}[${renderValue(payload[i], 60)}] = ${renderValue(payload[i + 1], 120)}`);
    } else {
      for (const v of payload) texts.push(`${who}.append(${renderValue(v, 160)})`);
    }
    for (const text of texts) this.addCall(s, { callable: target, args: [], via: 'reduce', subsumed: false, text }, 'modify');
  }
}

// ---------------------------------------------------------------------------------------------
// The report over every pickle of a file

interface Entry {
  module: string;
  name: string;
  count: number;
  actions: Set<Action>;
  calls: string[];
  callCount: number;
  via?: string;
  /** Seen only in pickles torch.load does not read. */
  trailing: boolean;
  /** Calls that only looked up an enum member. */
  enumLookups: number;
}

const ACTION_RANK: Record<Action, number> = { modify: 0, call: 1, class: 2, reference: 3 };

function strongest(actions: Set<Action>): Action {
  let best: Action = 'reference';
  for (const a of actions) if (ACTION_RANK[a] < ACTION_RANK[best]) best = a;
  return best;
}

export interface MergeOptions {
  /** The pickle is one torch.load does not read (after the first pickle's STOP). */
  trailing?: boolean;
}

/** Counts the globals a checkpoint names across every pickle in it, and judges them. */
export class SafetyTracker {
  private readonly seen = new Map<string, Entry>();
  private incomplete: string | undefined;

  private entry(module: string, name: string, trailing: boolean): Entry {
    const full = joinName(module, name);
    let e = this.seen.get(full);
    if (!e) {
      e = { module, name, count: 0, actions: new Set(), calls: [], callCount: 0, trailing, enumLookups: 0 };
      this.seen.set(full, e);
    } else if (!trailing) e.trailing = false;
    return e;
  }

  /** One global named `times` times, and nothing else known about it. */
  note(module: string, name: string, times = 1): void {
    const e = this.entry(module, name, false);
    e.count += times;
    e.actions.add('reference');
  }

  /** Merge what a pickle run recorded (also a run that failed part way). */
  merge(rec: SafetyRecorder, opts: MergeOptions = {}): void {
    for (const s of rec.seen.values()) {
      const e = this.entry(s.module, s.name, opts.trailing === true);
      e.count += s.count;
      for (const a of s.actions) e.actions.add(a);
      // Calls that are part of a later call (its callable) are shown, and counted, within it.
      e.callCount += s.callCount - s.calls.filter((c) => c.subsumed).length;
      e.enumLookups += s.enumLookups ?? 0;
      if (s.via && !e.via) e.via = s.via;
      for (const c of s.calls) {
        if (c.subsumed || e.calls.length >= CALLS_SHOWN) continue;
        const text = c.text ?? renderCall(c.callable, c.args, c.via, c.kwargs);
        if (!e.calls.includes(text)) e.calls.push(text);
      }
    }
  }

  /** Part of the file could not be scanned: the verdict cannot be `safe`. */
  markIncomplete(why: string): void {
    this.incomplete ??= why;
  }

  get size(): number {
    return this.seen.size;
  }

  private judge(e: Entry): SafetyGlobal {
    let base = classifyGlobal(e.module, e.name);
    if (e.enumLookups > 0 && e.calls.length === 0 && e.callCount === 0 && GETATTRS.has(joinName(e.module, e.name))) {
      // Named only to look up enum members (each such call is counted apart, not as a call).
      base = { verdict: 'unknown', reason: `looks up enum members only (${e.enumLookups} time${e.enumLookups === 1 ? '' : 's'}: Python 3.11 pickles an Enum member as getattr(its class, its name)); ${REFUSED}`, inert: true };
    }
    const action = strongest(e.actions);
    const full = joinName(e.module, e.name);
    const g: SafetyGlobal = { name: full, verdict: base.verdict, count: e.count, reason: base.reason, action };
    if (action === 'modify') {
      g.verdict = 'dangerous';
      g.reason = 'the pickle rewrites its attributes (BUILD, SETITEM or APPEND on a module or class): globals it names afterwards can resolve to anything';
    } else if (base.verdict === 'unknown') {
      if (action === 'call' && !base.inert) {
        g.reason = `called by the pickle, and not known to be harmless (it is on no list); ${REFUSED}`;
      } else if (action === 'class') {
        g.reason = base.scriptClass
          ? `loads TorchScript class \`${full}\` (compiled from the archive's own code/ by torch.jit.load; not Python, nothing is imported)`
          : base.torchClass
            ? `loads class \`${full}\` (PyTorch's own nn.Module; does not run it by itself)`
            : base.inert ? `loads class \`${full}\` (${base.reason})` : `loads class \`${full}\` (needs your code; does not run it by itself)`;
      }
    }
    g.unsafe = g.verdict === 'dangerous' || (g.verdict === 'unknown' && action === 'call' && !base.inert);
    if (!g.unsafe) delete g.unsafe;
    if (e.calls.length && g.verdict !== 'allowed') g.calls = e.calls.slice();
    if (e.callCount) g.callCount = e.callCount;
    if (e.via) g.via = e.via;
    if (e.trailing) {
      g.trailing = true;
      g.reason = `in a pickle after the first one's STOP (torch.load ignores it, other loaders may not); ${g.reason}`;
    }
    return g;
  }

  report(): SafetyReport {
    const globals = [...this.seen.values()].map((e) => this.judge(e));
    const rank = (g: SafetyGlobal) => (g.verdict === 'dangerous' ? 0 : g.verdict === 'unknown' ? (g.unsafe ? 1 : 2) : 3);
    globals.sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const verdict = globals.some((g) => g.verdict === 'dangerous') ? 'dangerous' : globals.some((g) => g.verdict === 'unknown') || this.incomplete ? 'unknown' : 'safe';
    const r: SafetyReport = { verdict, globals };
    if (this.incomplete) r.incomplete = this.incomplete;
    return r;
  }

  warnings(): Warning[] {
    const out: Warning[] = [];
    const unsafe = this.report().globals.filter((g) => g.unsafe);
    for (const g of unsafe.slice(0, MAX_UNSAFE_WARNINGS)) out.push({ code: 'unsafe-global', message: unsafeMessage(g) });
    if (unsafe.length > MAX_UNSAFE_WARNINGS) {
      out.push({ code: 'unsafe-global', message: `and ${unsafe.length - MAX_UNSAFE_WARNINGS} more flagged globals (the safety report lists each one)` });
    }
    return out;
  }
}

/** "torch.load without weights_only would call X(...)", for one flagged global. */
export function unsafeMessage(g: SafetyGlobal): string {
  const where = g.trailing ? 'in a pickle after the first (torch.load ignores it, other loaders may not): ' : '';
  const via = g.via ? ` (reached through ${g.via})` : '';
  const more = g.callCount && g.calls && g.callCount > g.calls.length ? `, and ${g.callCount - g.calls.length} more call${g.callCount - g.calls.length === 1 ? '' : 's'}` : '';
  const why = g.verdict === 'dangerous' ? stripVersions(g.reason ?? '') : 'Weightscope does not know what it does (it is on no list), and torch.load(weights_only=True) refuses it';
  let what: string;
  if (g.action === 'call' && g.calls?.length) what = `would call ${g.calls.join('; ')}${more}`;
  else if (g.action === 'call') what = `would call ${g.name}${via}`;
  else if (g.action === 'modify') what = `would rewrite ${g.name}${g.calls?.length ? `: ${g.calls.join('; ')}` : ''}`;
  else if (g.action === 'class') what = `would instantiate ${g.name}${g.calls?.length ? ` (${g.calls[0]})` : ''}`;
  else what = `would import ${g.name}${via}; the pickle hands it on rather than calling it itself`;
  return `${where}torch.load without weights_only ${what} — ${g.name}: ${why}. Weightscope never calls it.`;
}

function stripVersions(reason: string): string {
  return reason.replace(/^in a pickle after the first one's STOP \(torch\.load ignores it, other loaders may not\); /, '');
}

// ---------------------------------------------------------------------------------------------
// Text for terminals and summaries

function shown(g: SafetyGlobal): string {
  return g.calls?.length ? g.calls[0] : g.name;
}

/** Sinks first: what a lookup reached (os.system via getattr), then code runners, then the rest. */
function leadRank(g: SafetyGlobal): number {
  const calls = g.action === 'call' || g.action === 'modify' ? 0 : 4;
  const sink = g.via ? 0 : /(^|\.)(eval|exec\w*|system|popen\w*|spawn\w*|run\w*|compile\w*|loads?|open|call|check_\w+)$/.test(g.name) ? 1 : 2;
  return calls + sink;
}

function listNames(names: string[], max: number): string {
  const head = names.slice(0, max).map((n) => `\`${n}\``);
  return head.join(', ') + (names.length > max ? ` and ${names.length - max} more` : '');
}

/**
 * The safety verdict as text lines: a headline (`SAFETY: DANGEROUS — torch.load without
 * weights_only would call posix.system('touch /tmp/x')...`), then one line per flagged global
 * with its decoded call, then the classes the pickle loads. Text from the file is escaped by
 * render.ts; callers that print to a terminal escape the whole output again.
 */
export function safetyLines(r: SafetyReport, maxFlagged = 8): string[] {
  const out: string[] = [];
  const unsafe = r.globals.filter((g) => g.unsafe);
  const dangerous = unsafe.filter((g) => g.verdict === 'dangerous');
  if (r.verdict === 'dangerous') {
    const lead = dangerous.slice().sort((a, b) => leadRank(a) - leadRank(b))[0];
    const verb = lead.action === 'call' ? 'call' : lead.action === 'modify' ? 'rewrite' : lead.action === 'class' ? 'instantiate' : 'import';
    const rest = unsafe.length - 1;
    out.push(`SAFETY: DANGEROUS — torch.load without weights_only would ${verb} ${shown(lead)}${rest > 0 ? ` (and ${rest} more below)` : ''}. Nothing was executed here.`);
  } else if (unsafe.length) {
    out.push(
      `SAFETY: WARNING — torch.load without weights_only would call ${shown(unsafe[0])}${unsafe.length > 1 ? ` (and ${unsafe.length - 1} more below)` : ''}, which Weightscope does not know (it is on no list); torch.load(weights_only=True) refuses it. Nothing was executed here.`,
    );
  } else if (r.verdict === 'unknown') {
    const refused = r.globals.filter((g) => g.verdict === 'unknown');
    const script = refused.filter((g) => isTorchScriptName(g.name));
    const tags = refused.filter((g) => g.name.startsWith('torch.jit._pickle.'));
    if (script.length && script.length + tags.length === refused.length && !r.incomplete) {
      const what = `${script.length} TorchScript class${script.length === 1 ? '' : 'es'}${tags.length ? ` and ${tags.length} list type tag${tags.length === 1 ? '' : 's'}` : ''}`;
      out.push(`safety: unknown — a TorchScript archive: torch.load(weights_only=True) refuses its ${what}, none known to run code by itself`);
    } else out.push(`safety: unknown — torch.load(weights_only=True) refuses ${refused.length} global${refused.length === 1 ? '' : 's'}${refused.length ? ', none known to run code by itself' : ''}${r.incomplete ? '; not fully scanned' : ''}`);
  } else {
    out.push('safety: safe — only globals that torch.load(weights_only=True) accepts');
  }
  if (unsafe.length > 1 || (unsafe.length === 1 && (unsafe[0].calls?.length ?? 0) > 1)) {
    for (const g of unsafe.slice(0, maxFlagged)) {
      const label = g.verdict === 'dangerous' ? 'dangerous' : 'unknown call';
      const named = g.calls?.length && !g.calls[0].startsWith(g.name) ? `${g.name}${g.via ? `, reached through ${g.via}` : ''}: ` : '';
      const what = g.calls?.length ? g.calls.join('; ') : `${g.name} (${g.action === 'class' ? 'instantiated' : g.action === 'modify' ? 'rewritten' : 'named, not called'})`;
      const more = g.callCount && g.calls && g.callCount > g.calls.length ? ` (+${g.callCount - g.calls.length} more)` : '';
      out.push(`  ${label}: ${named}${what}${more}${g.trailing ? ' — in a pickle torch.load ignores' : ''}`);
    }
    if (unsafe.length > maxFlagged) out.push(`  … and ${unsafe.length - maxFlagged} more (see the warnings, or --json)`);
  }
  const classes = r.globals.filter((g) => g.verdict === 'unknown' && g.action === 'class');
  const script = classes.filter((g) => isTorchScriptName(g.name));
  const own = classes.filter((g) => !/^torch\./.test(g.name) && !isTorchScriptName(g.name));
  const torchOwn = classes.filter((g) => /^torch\./.test(g.name));
  if (own.length) out.push(`  loads class${own.length === 1 ? '' : 'es'} ${listNames(own.map((g) => g.name), 4)} (needs your code; does not run it by itself)`);
  if (script.length) out.push(`  loads TorchScript class${script.length === 1 ? '' : 'es'} ${listNames(script.map((g) => g.name), 4)} (compiled from the archive's code/ by torch.jit.load; not Python, nothing is imported)`);
  if (torchOwn.length) out.push(`  loads PyTorch's own class${torchOwn.length === 1 ? '' : 'es'} ${listNames(torchOwn.map((g) => g.name.slice(g.name.lastIndexOf('.') + 1)), 6)} (does not run them by itself)`);
  if (r.incomplete) out.push(`  not fully scanned: ${r.incomplete}`);
  return out;
}
