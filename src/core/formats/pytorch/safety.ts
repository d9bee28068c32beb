/**
 * Verdicts on the globals a pickle names. `allowed` follows what torch.load(weights_only=True)
 * accepts (torch/_weights_only_unpickler.py: tensor and parameter rebuilds, storage and tensor
 * classes, dtypes, OrderedDict, torch.Size...), plus plain data constructors that cannot act.
 * `dangerous` is anything a real unpickler could use to run code, touch files or the network.
 * Everything else is `unknown`: shown, and weights_only loading would refuse it.
 * Nothing here is ever called; the verdict is about what torch.load would do with the file.
 */
import { SafetyGlobal, SafetyReport, Warning } from '../../model';

export type Verdict = SafetyGlobal['verdict'];

export interface GlobalVerdict {
  verdict: Verdict;
  reason: string;
}

const DTYPES = [
  'float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16', 'complex32', 'chalf', 'complex64', 'cfloat',
  'complex128', 'cdouble', 'uint8', 'int8', 'int16', 'short', 'int32', 'int', 'int64', 'long', 'bool', 'uint16',
  'uint32', 'uint64', 'qint8', 'quint8', 'qint32', 'quint4x2', 'quint2x4', 'float8_e4m3fn', 'float8_e5m2',
  'float8_e4m3fnuz', 'float8_e5m2fnuz', 'float8_e8m0fnu', 'float4_e2m1fn_x2', 'bits8', 'bits16', 'bits1x8', 'bits2x4', 'bits4x2',
];
const STORAGE_KINDS = [
  'Double', 'Float', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool', 'ComplexFloat', 'ComplexDouble',
  'QInt8', 'QUInt8', 'QInt32', 'QUInt4x2', 'QUInt2x4', 'Untyped', 'Typed',
];
const TENSOR_KINDS = ['Double', 'Float', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool', 'ComplexFloat', 'ComplexDouble'];
const REBUILDS = [
  '_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_tensor_v3', '_rebuild_parameter', '_rebuild_parameter_with_state',
  '_rebuild_qtensor', '_rebuild_sparse_tensor', '_rebuild_sparse_csr_tensor', '_rebuild_meta_tensor_no_storage',
  '_rebuild_nested_tensor', '_rebuild_wrapper_subclass', '_rebuild_device_tensor_from_cpu_tensor',
];
const QSCHEMES = ['per_tensor_affine', 'per_channel_affine', 'per_tensor_symmetric', 'per_channel_symmetric', 'per_channel_affine_float_qparams'];
const LAYOUTS = ['strided', 'sparse_coo', 'sparse_csr', 'sparse_csc', 'sparse_bsr', 'sparse_bsc', '_mkldnn', 'jagged'];
const MEMORY_FORMATS = ['contiguous_format', 'channels_last', 'channels_last_3d', 'preserve_format'];

const ALLOWED = new Map<string, string>();
function allow(names: string[], reason: string): void {
  for (const n of names) ALLOWED.set(n, reason);
}
allow(['collections.OrderedDict'], 'state_dict container (weights_only allows it)');
allow(['collections.Counter', 'collections.defaultdict'], 'plain container');
allow(['torch.nn.parameter.Parameter', 'torch.Tensor', 'torch.Size', 'torch.device', 'torch.serialization._get_layout'], 'tensor plumbing (weights_only allows it)');
allow(['torch._tensor._rebuild_from_type_v2'], 'tensor subclass rebuild (weights_only allows it for Tensor/Parameter)');
allow(DTYPES.map((d) => `torch.${d}`), 'dtype');
allow(QSCHEMES.map((q) => `torch.${q}`), 'quantization scheme');
allow(LAYOUTS.map((l) => `torch.${l}`), 'tensor layout');
allow(MEMORY_FORMATS.map((l) => `torch.${l}`), 'memory format');
allow(STORAGE_KINDS.map((k) => `torch.${k}Storage`), 'storage class');
allow(STORAGE_KINDS.map((k) => `torch.cuda.${k}Storage`), 'storage class');
allow(['torch.storage.UntypedStorage', 'torch.storage.TypedStorage', 'torch.storage._LegacyStorage'], 'storage class');
allow(TENSOR_KINDS.map((k) => `torch.${k}Tensor`), 'tensor class');
allow(TENSOR_KINDS.map((k) => `torch.cuda.${k}Tensor`), 'tensor class');
allow(REBUILDS.map((r) => `torch._utils.${r}`), 'tensor rebuild function (weights_only allows it)');
allow(['_codecs.encode'], 'bytes from a latin-1 string (weights_only allows it)');
allow(
  ['set', 'frozenset', 'bytearray', 'bytes', 'complex', 'slice', 'range', 'int', 'float', 'str', 'bool', 'tuple', 'list', 'dict'].flatMap((n) => [
    `builtins.${n}`,
    `__builtin__.${n}`,
  ]),
  'plain data constructor',
);

/** Module roots where any name is dangerous. */
const DANGEROUS_MODULES = new Map<string, string>([
  ['os', 'operating system access (files, processes, environment)'],
  ['posix', 'operating system access (os on POSIX)'],
  ['nt', 'operating system access (os on Windows)'],
  ['sys', 'interpreter internals'],
  ['subprocess', 'runs programs'],
  ['_posixsubprocess', 'forks and runs programs (fork_exec)'],
  ['_subprocess', 'runs programs (Windows)'],
  ['_winapi', 'creates processes (Windows)'],
  ['winreg', 'changes the Windows registry'],
  ['_winreg', 'changes the Windows registry'],
  ['msvcrt', 'console and process internals (Windows)'],
  ['commands', 'runs shell commands'],
  ['popen2', 'runs shell commands'],
  ['pty', 'spawns processes'],
  ['runpy', 'runs Python modules'],
  ['code', 'runs Python code'],
  ['codeop', 'compiles Python code'],
  ['importlib', 'imports arbitrary modules'],
  ['imp', 'imports arbitrary modules'],
  ['zipimport', 'imports code from archives'],
  ['pkgutil', 'imports arbitrary modules'],
  ['ctypes', 'calls native code'],
  ['_ctypes', 'calls native code'],
  ['socket', 'network access'],
  ['_socket', 'network access'],
  ['ssl', 'network access'],
  ['http', 'network access'],
  ['urllib', 'network access'],
  ['urllib2', 'network access'],
  ['requests', 'network access'],
  ['httplib', 'network access'],
  ['ftplib', 'network access'],
  ['smtplib', 'network access'],
  ['telnetlib', 'network access'],
  ['webbrowser', 'opens URLs / runs a browser'],
  ['shutil', 'file system changes'],
  ['tempfile', 'file system changes'],
  ['glob', 'file system access'],
  ['pathlib', 'file system access'],
  ['io', 'file access'],
  ['_io', 'file access'],
  ['fileinput', 'file access'],
  ['pickle', 'nested unpickling (runs code)'],
  ['_pickle', 'nested unpickling (runs code)'],
  ['cPickle', 'nested unpickling (runs code)'],
  ['dill', 'nested unpickling (runs code)'],
  ['cloudpickle', 'nested unpickling (runs code)'],
  ['joblib', 'nested unpickling (runs code)'],
  ['marshal', 'loads code objects'],
  ['shelve', 'nested unpickling (runs code)'],
  ['multiprocessing', 'spawns processes'],
  ['signal', 'process control'],
  ['asyncio', 'processes and network access'],
  ['pdb', 'runs the debugger / code'],
  ['bdb', 'runs code'],
  ['timeit', 'runs code strings'],
  ['cProfile', 'runs code strings'],
  ['profile', 'runs code strings'],
  ['trace', 'runs code'],
  ['pydoc', 'runs pagers / imports modules'],
  ['platform', 'runs programs'],
  ['distutils', 'runs programs'],
  ['setuptools', 'runs programs'],
  ['pip', 'installs packages'],
  ['venv', 'runs programs'],
  ['operator', 'attribute access gadgets (attrgetter, methodcaller)'],
  ['_operator', 'attribute access gadgets (attrgetter, methodcaller)'],
  ['functools', 'call gadgets (reduce, singledispatch...)'],
  ['types', 'builds code and functions'],
  ['gc', 'interpreter internals'],
  ['inspect', 'interpreter internals'],
  ['numpy.testing', 'runs programs'],
  ['numpy.f2py', 'runs compilers'],
  ['doctest', 'runs code from docstrings'],
  ['site', 'processes .pth files (runs their import lines)'],
  ['ensurepip', 'runs pip'],
  ['idlelib', 'runs Python code'],
  ['xmlrpc', 'network access (remote calls)'],
  ['socketserver', 'network access'],
  ['poplib', 'network access'],
  ['imaplib', 'network access'],
  ['nntplib', 'network access'],
  ['urllib3', 'network access'],
  ['httpx', 'network access'],
  ['aiohttp', 'network access'],
  ['mmap', 'maps files into memory'],
  ['jsonpickle', 'nested unpickling (runs code)'],
  ['numpy.ctypeslib', 'loads native libraries'],
  ['numpy.distutils', 'runs compilers'],
  ['torch.hub', 'downloads and runs code'],
  ['torch.jit', 'compiles and runs TorchScript'],
  ['torch.serialization', 'nested torch.load'],
  ['torch.package', 'imports packaged code'],
  ['torch._dynamo', 'compiles code'],
  ['torch._inductor', 'compiles and runs generated code'],
  ['torch.utils.cpp_extension', 'compiles and loads native code'],
  ['torch.utils.collect_env', 'runs shell commands'],
  ['torch.utils.benchmark', 'runs code strings (Timer)'],
  ['torch.utils.model_zoo', 'downloads and loads checkpoints'],
  ['torch.fx.graph_module', 'rebuilds GraphModules by executing their generated Python code'],
  ['torch.export', 'loads exported programs'],
  ['torch._export', 'loads exported programs'],
  ['torch.multiprocessing', 'spawns processes and maps shared memory'],
  ['torch.distributed.rpc', 'remote calls'],
  ['torch.ops', 'calls native operators'],
  ['torch._ops', 'calls native operators'],
  ['torch.testing._internal', 'test helpers that run programs'],
  ['torch.cuda.memory', 'native memory calls'],
]);

const DANGEROUS_BUILTINS = new Map<string, string>([
  ['eval', 'evaluates Python code'],
  ['exec', 'executes Python code'],
  ['execfile', 'executes a Python file'],
  ['compile', 'compiles Python code'],
  ['__import__', 'imports arbitrary modules'],
  ['getattr', 'reaches any attribute (e.g. os.system through a module)'],
  ['setattr', 'modifies any object'],
  ['delattr', 'modifies any object'],
  ['open', 'opens files'],
  ['file', 'opens files'],
  ['input', 'reads from the terminal'],
  ['raw_input', 'reads from the terminal'],
  ['breakpoint', 'starts the debugger'],
  ['globals', 'interpreter internals'],
  ['locals', 'interpreter internals'],
  ['vars', 'interpreter internals'],
  ['apply', 'calls any function'],
  ['reload', 'imports modules'],
  ['help', 'runs a pager'],
  ['exit', 'exits the process'],
  ['quit', 'exits the process'],
  ['memoryview', 'raw memory access'],
  ['type', 'builds classes'],
  ['object', 'object internals'],
  ['super', 'object internals'],
  ['classmethod', 'object internals'],
  ['staticmethod', 'object internals'],
  ['property', 'object internals'],
  ['map', 'calls a function over data (call gadget)'],
  ['filter', 'calls a function over data (call gadget)'],
  ['sorted', 'calls a key function (call gadget)'],
  ['min', 'calls a key function (call gadget)'],
  ['max', 'calls a key function (call gadget)'],
  ['iter', 'calls a function (call gadget)'],
  ['next', 'drives iterators (call gadget)'],
]);

/** Single globals that are dangerous in modules that are otherwise not. */
const DANGEROUS_NAMES = new Map<string, string>([
  ['torch.storage._load_from_bytes', 'runs torch.load on embedded bytes (nested unpickling)'],
  ['torch.load', 'nested torch.load'],
  ['torch.compile', 'compiles code'],
  ['torch.save', 'writes files'],
  ['torch.from_file', 'reads any file'],
  ['torch._C.import_ir_module', 'loads TorchScript'],
  ['torch._C.import_ir_module_from_buffer', 'loads TorchScript'],
  ['torch._C._load_for_lite_interpreter', 'loads TorchScript'],
  ['torch._C._load_for_lite_interpreter_from_buffer', 'loads TorchScript'],
  ['torch._C.CompilationUnit', 'compiles TorchScript'],
  ['torch._C.ScriptFunction', 'runs TorchScript'],
]);

/**
 * Call gadgets that only forward to another callable: that callable is itself a global the
 * pickle must name, and is classified on its own (torchvision pickles functools.partial).
 */
const FORWARDERS = new Map<string, string>([
  ['functools.partial', 'binds arguments to another callable, which the pickle names (and is classified) on its own'],
  ['functools.partialmethod', 'binds arguments to another callable, which the pickle names (and is classified) on its own'],
  ['_functools.partial', 'binds arguments to another callable, which the pickle names (and is classified) on its own'],
]);

/** The verdict for one `module.name`. */
export function classifyGlobal(module: string, name: string): GlobalVerdict {
  const full = `${module}.${name}`;
  const allowed = ALLOWED.get(full);
  if (allowed) return { verdict: 'allowed', reason: allowed };
  const forwarder = FORWARDERS.get(full);
  if (forwarder) return { verdict: 'unknown', reason: forwarder };
  const named = DANGEROUS_NAMES.get(full);
  if (named) return { verdict: 'dangerous', reason: named };
  if (module === 'builtins' || module === '__builtin__' || module === '__builtins__') {
    const b = DANGEROUS_BUILTINS.get(name);
    if (b) return { verdict: 'dangerous', reason: `builtins.${name} ${b}` };
    return { verdict: 'unknown', reason: 'builtin outside the weights_only allowlist' };
  }
  // Any dotted ancestor of the module in the dangerous list (os.path, urllib.request...).
  const parts = module.split('.');
  for (let i = parts.length; i >= 1; i--) {
    const m = parts.slice(0, i).join('.');
    const why = DANGEROUS_MODULES.get(m);
    if (why) return { verdict: 'dangerous', reason: why };
  }
  if (DANGEROUS_MODULES.has(full)) return { verdict: 'dangerous', reason: DANGEROUS_MODULES.get(full)! };
  // Names that are dangerous wherever they live (loaders and code runners re-exported elsewhere).
  if (
    /^(system|popen\w*|spawn\w*|exec\w*|eval|load|loads|unsafe_load|full_load|read_pickle|check_call|check_output|Popen|getoutput|getstatusoutput|startfile|run_path|run_module|fork\w*)$/.test(name) &&
    !module.startsWith('torch')
  ) {
    return { verdict: 'dangerous', reason: `${name} runs code or programs in most modules` };
  }
  if (module === 'torch' && /^_?(load|ops|classes|jit|hub|_dynamo|_inductor|package|compile)$/.test(name)) return { verdict: 'dangerous', reason: 'reaches code loading in torch' };
  // torch.fx rebuilds (reduce_graph_module, _deserialize_graph_module...) exec generated code.
  if ((module === 'torch.fx' || module.startsWith('torch.fx.')) && /^(reduce_|_reduce|_deserialize|deserialize|_exec|_forward_from_src|_load)/.test(name)) {
    return { verdict: 'dangerous', reason: 'torch.fx rebuild: executes the GraphModule\'s generated Python code' };
  }
  // TorchScript loaders and compilers reached through torch._C.
  if (module === 'torch._C' && /^_?(jit_|import_ir|load|compile|_jit)/.test(name)) return { verdict: 'dangerous', reason: 'loads or compiles TorchScript' };
  if (module.startsWith('torch.nn.modules.') || module === 'torch.nn') {
    return { verdict: 'unknown', reason: 'nn.Module class: whole pickled modules are refused by torch.load(weights_only=True)' };
  }
  if (module === 'numpy' || module.startsWith('numpy.') || module === 'numpy.core.multiarray') {
    return { verdict: 'unknown', reason: 'numpy object: weights_only refuses it unless allowlisted (torch.serialization.add_safe_globals)' };
  }
  if (module === 'copy_reg' || module === 'copyreg') {
    return { verdict: 'unknown', reason: 'generic object reconstruction: the class it builds decides what runs' };
  }
  return { verdict: 'unknown', reason: 'custom class or function: weights_only loading would refuse it' };
}

/** Counts the globals a checkpoint names, across every pickle in it. */
export class SafetyTracker {
  private readonly seen = new Map<string, SafetyGlobal>();

  note(module: string, name: string, times = 1): void {
    const full = `${module}.${name}`;
    const have = this.seen.get(full);
    if (have) {
      have.count += times;
      return;
    }
    const v = classifyGlobal(module, name);
    this.seen.set(full, { name: full, verdict: v.verdict, count: times, reason: v.reason });
  }

  /** Merge counts gathered by a finished pickle run. */
  merge(counts: Map<string, { module: string; name: string; count: number }>): void {
    for (const c of counts.values()) this.note(c.module, c.name, c.count);
  }

  report(): SafetyReport {
    const globals = [...this.seen.values()];
    const rank = { dangerous: 0, unknown: 1, allowed: 2 } as const;
    globals.sort((a, b) => rank[a.verdict] - rank[b.verdict] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const verdict = globals.some((g) => g.verdict === 'dangerous') ? 'dangerous' : globals.some((g) => g.verdict === 'unknown') ? 'unknown' : 'safe';
    return { verdict, globals };
  }

  warnings(): Warning[] {
    const out: Warning[] = [];
    for (const g of this.report().globals) {
      if (g.verdict !== 'dangerous') continue;
      out.push({
        code: 'unsafe-global',
        message: `pickle references ${g.name} (${g.reason}); torch.load without weights_only=True would call it. Weightscope never calls it.`,
      });
    }
    return out;
  }
}
