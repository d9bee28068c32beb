/**
 * TorchScript archives (`torch.jit.save`, `torch.jit.script(m).save(...)`, traced modules).
 *
 * Their data.pkl holds the module as `__torch__.*` objects (NEWOBJ, then BUILD with a dict of
 * every attribute: parameters, buffers, submodules, plain values, tensors), but not which
 * attribute is what: that is declared by each class's TorchScript source in `code/`
 * (`__parameters__ = ["weight", "bias", ]`, `__buffers__ = [...]`, and constants such as
 * `in_features : Final[int] = 16`). This file reads just those declarations, never anything else
 * of the code and never runs it, and presents each script module in the shape of a pickled
 * nn.Module (`_parameters`, `_buffers`, `_modules` and attributes), so that the whole-module
 * machinery (structure.ts, modules.ts) gives the tree, roles and reprs exactly as for
 * `torch.save(model)`.
 */
import { ByteSource } from '../../bytes';
import { CheckpointError } from '../../errors';
import { truncate } from '../../json';
import { Warning } from '../../model';
import { PyDict, PyGlobal, PyList, PyObject, PyTuple, PyValue } from './pickle';
import { isTorchScriptName } from './safety';
import { Interpretation, interpret, WalkLimits } from './structure';
import { NamedTensor, TorchTensor } from './torch';
import { readMember, ZipDirectory } from './zip';

/** A code file larger than this is refused (torch writes a few KB per class). */
export const MAX_CODE_BYTES = 4 * 1024 * 1024;
/** Code files read, at most (one per distinct `__torch__` module the pickle names). */
export const MAX_CODE_FILES = 10_000;
/** A declaration line longer than this is skipped (constants) or refused (parameter lists). */
const MAX_LINE = 64 * 1024;

/** What a class's TorchScript source declares. */
export interface ScriptClass {
  /** `class X(Module):`, as every scripted or traced nn.Module is written. */
  module: boolean;
  parameters: string[];
  buffers: string[];
  /** `name : Final[T] = literal` constants (a layer's hyper-parameters), when the literal is plain. */
  constants: Map<string, PyValue>;
}

/** TorchScript classes by qualified name (`__torch__.torch.nn.modules.linear.___torch_mangle_25.Linear`). */
export type ScriptClasses = Map<string, ScriptClass>;

/** Whether the zip's members are a TorchScript archive's (`<prefix>/constants.pkl`, `<prefix>/code/`). */
export function isTorchScriptArchive(names: readonly string[], prefix: string): boolean {
  return names.some((n) => n === `${prefix}constants.pkl` || n.startsWith(`${prefix}code/`));
}

/**
 * `__torch__.torch.nn.modules.linear.___torch_mangle_25` + `Linear` → `torch.nn.modules.linear`,
 * `Linear`: the Python module and class the TorchScript class was compiled from, as a pickled
 * module names them. A class of the top-level script (`__torch__ TiedLM`) has no module left.
 */
export function scriptClassName(module: string, name: string): { pythonModule: string; className: string } {
  const keep = (s: string) => s.split('.').filter((seg) => seg !== '__torch__' && !/^___torch_mangle_\d+$/.test(seg));
  const names = keep(name);
  return { pythonModule: keep(module).join('.'), className: names.length ? names.join('.') : name };
}

/** C++ custom classes (`__torch__.torch.classes.quantized.LinearPackedParamsBase`) have no code file. */
function hasCodeFile(module: string): boolean {
  return !/^__torch__\.torch\.classes(\.|$)/.test(module);
}

/** The record holding a TorchScript module's source: `code/__torch__/a/b.py`, `code/__torch__.py`. */
export function codeRecord(prefix: string, module: string): string {
  return `${prefix}code/${module.split('.').join('/')}.py`;
}

// ---------------------------------------------------------------------------------------------
// The declarations in a class's source

/** The quoted names of `["weight", "bias", ]`, or undefined when the list is not that. */
function nameList(text: string): string[] | undefined {
  const m = /^\[(.*)\]$/.exec(text.trim());
  if (!m) return undefined;
  const out: string[] = [];
  const item = /\s*"((?:[^"\\]|\\.)*)"\s*,?/y;
  let at = 0;
  const body = m[1];
  while (at < body.length) {
    item.lastIndex = at;
    const x = item.exec(body);
    if (!x) return body.slice(at).trim() === '' ? out : undefined;
    out.push(x[1].replace(/\\(.)/g, '$1'));
    at = item.lastIndex;
  }
  return out;
}

/**
 * A plain TorchScript literal (`16`, `2.`, `1.0000000000000001e-05`, `True`, `None`, `"zeros"`,
 * `(3, 3)`, `[1, 2]`), or undefined for anything else. Ints stay numbers, as BININT gives them.
 */
export function scriptLiteral(text: string): PyValue | undefined {
  const s = text.trim();
  let i = 0;
  const fail = Symbol('fail');
  const ws = () => {
    while (s[i] === ' ') i++;
  };
  const value = (depth: number): PyValue | typeof fail => {
    ws();
    if (depth > 8) return fail;
    const open = s[i];
    if (open === '(' || open === '[') {
      const close = open === '(' ? ')' : ']';
      i++;
      const items: PyValue[] = [];
      for (;;) {
        ws();
        if (s[i] === close) {
          i++;
          break;
        }
        const v = value(depth + 1);
        if (v === fail) return fail;
        items.push(v);
        ws();
        if (s[i] === ',') i++;
        else if (s[i] !== close) return fail;
      }
      return open === '(' ? new PyTuple(items) : new PyList(items);
    }
    if (open === '"' || open === "'") {
      const m = (open === '"' ? /"((?:[^"\\]|\\.)*)"/y : /'((?:[^'\\]|\\.)*)'/y);
      m.lastIndex = i;
      const x = m.exec(s);
      if (!x) return fail;
      i = m.lastIndex;
      return x[1].replace(/\\(.)/g, '$1');
    }
    const word = /(True|False|None)\b|-?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?|-?inf\b|nan\b/y;
    word.lastIndex = i;
    const w = word.exec(s);
    if (!w) return fail;
    i = word.lastIndex;
    if (w[0] === 'True') return true;
    if (w[0] === 'False') return false;
    if (w[0] === 'None') return null;
    if (/inf$/.test(w[0])) return w[0].startsWith('-') ? -Infinity : Infinity;
    if (w[0] === 'nan') return NaN;
    const n = Number(w[0]);
    return Number.isFinite(n) ? n : fail;
  };
  const v = value(0);
  ws();
  return v === fail || i !== s.length ? undefined : v;
}

/**
 * The classes one code file declares. Only a class's own declaration lines are read (two-space
 * indent, before its first `def`); everything else is skipped, never interpreted.
 */
export function parseScriptCode(text: string, file: string, record: string): Map<string, ScriptClass> {
  const out = new Map<string, ScriptClass>();
  let cls: ScriptClass | undefined;
  let name = '';
  let line = 0;
  for (const raw of text.split('\n')) {
    line++;
    const l = raw.replace(/\r$/, '');
    const head = /^class\s+([A-Za-z_]\w*)\s*(?:\(\s*([\w.]*)\s*\))?\s*:/.exec(l);
    if (head) {
      name = head[1];
      cls = { module: head[2] === 'Module', parameters: [], buffers: [], constants: new Map() };
      out.set(name, cls);
      continue;
    }
    if (!cls || !l.startsWith('  ') || l.startsWith('   ')) {
      if (l !== '' && !l.startsWith(' ')) cls = undefined; // a top-level statement ends the class
      continue;
    }
    if (/^\s*def\s/.test(l)) {
      cls = undefined; // methods follow the declarations: the rest of the class is code
      continue;
    }
    const list = /^\s*(__parameters__|__buffers__)\s*=\s*(.*)$/.exec(l);
    if (list) {
      const names = l.length <= MAX_LINE ? nameList(list[2]) : undefined;
      if (!names) {
        throw new CheckpointError('bad-header', `class ${truncate(name)} declares ${list[1]} as ${truncate(list[2], 60)}, not a list of names`, { file, record: `${record} line ${line}` });
      }
      if (list[1] === '__parameters__') cls.parameters = names;
      else cls.buffers = names;
      continue;
    }
    const konst = /^\s*([A-Za-z_]\w*)\s*:\s*Final\[.*\]\s*=\s*(.*)$/.exec(l);
    if (konst && l.length <= MAX_LINE) {
      const v = scriptLiteral(konst[2]);
      if (v !== undefined) cls.constants.set(konst[1], v);
    }
  }
  return out;
}

/**
 * The classes data.pkl names, from their code files, each file read once (several classes share
 * one). `modules` are the GLOBAL modules the pickle named. A class whose file is missing is
 * reported in `missing` (its module gets no roles); an oversized or malformed file is an error.
 */
export async function readScriptClasses(
  src: ByteSource,
  dir: ZipDirectory,
  prefix: string,
  file: string,
  modules: Iterable<string>,
): Promise<{ classes: ScriptClasses; missing: string[] }> {
  const classes: ScriptClasses = new Map();
  const missing: string[] = [];
  const wanted = [...new Set([...modules].filter((m) => isTorchScriptName(m) && hasCodeFile(m)))];
  if (wanted.length > MAX_CODE_FILES) {
    throw new CheckpointError('limit', `data.pkl names ${wanted.length} TorchScript modules, more than the ${MAX_CODE_FILES} code files read`, { file, record: `${prefix}data.pkl` });
  }
  for (const module of wanted) {
    const record = codeRecord(prefix, module);
    const e = dir.entries.get(record);
    if (!e) {
      missing.push(record);
      continue;
    }
    if (e.size > MAX_CODE_BYTES) {
      throw new CheckpointError('limit', `TorchScript source of ${e.size} bytes, more than the ${MAX_CODE_BYTES} read`, { file, record });
    }
    const text = new TextDecoder('utf-8').decode(await readMember(src, e, file, MAX_CODE_BYTES));
    for (const [name, cls] of parseScriptCode(text, file, record)) classes.set(`${module}.${name}`, cls);
  }
  return { classes, missing };
}

// ---------------------------------------------------------------------------------------------
// Script modules as pickled nn.Modules

function scriptGlobal(v: PyValue | undefined): PyGlobal | undefined {
  return v instanceof PyObject && v.callable instanceof PyGlobal && isTorchScriptName(v.callable.module) && v.state instanceof PyDict ? v.callable : undefined;
}

/**
 * The script module `root` in the shape of a pickled nn.Module: for each `__torch__` object whose
 * class is a Module, a state with `_parameters` and `_buffers` (the attributes its class
 * declares, in data.pkl's order), `_modules` (attributes that are script modules themselves) and
 * every other attribute as it is, plus the class's plain `Final` constants where data.pkl has no
 * such attribute. The same object seen twice gives the same view (a module shared at two paths).
 */
export function scriptModuleView(root: PyValue, classes: ScriptClasses, warnings: Warning[]): PyValue {
  const views = new Map<PyObject, PyObject>();
  const unknown = new Set<string>();
  const isModule = (v: PyValue | undefined): v is PyObject => {
    const g = scriptGlobal(v);
    if (!g) return false;
    const cls = classes.get(g.full);
    // Without its source, a module is still recognisable by the `training` flag every nn.Module has.
    return cls ? cls.module : typeof (v as PyObject & { state: PyDict }).state.get('training') === 'boolean';
  };
  const view = (obj: PyObject): PyObject => {
    const have = views.get(obj);
    if (have) return have;
    const g = obj.callable as PyGlobal;
    const { pythonModule, className } = scriptClassName(g.module, g.name);
    const out = new PyObject(new PyGlobal(pythonModule, className), [], 'newobj');
    views.set(obj, out);
    const cls = classes.get(g.full);
    if (!cls) unknown.add(g.full);
    const params = new Set(cls?.parameters);
    const buffers = new Set(cls?.buffers);
    const state = new PyDict();
    const p = new PyDict('collections.OrderedDict');
    const b = new PyDict('collections.OrderedDict');
    const m = new PyDict('collections.OrderedDict');
    state.set('_parameters', p);
    state.set('_buffers', b);
    state.set('_modules', m);
    for (const [k, v] of (obj.state as PyDict).entries()) {
      if (typeof k === 'string' && params.has(k)) p.set(k, v);
      else if (typeof k === 'string' && buffers.has(k)) b.set(k, v);
      else if (isModule(v)) m.set(k, view(v));
      else state.set(k, v);
    }
    if (cls) for (const [k, v] of cls.constants) if (!state.has(k)) state.set(k, v);
    out.state = state;
    return out;
  };
  const result = isModule(root) ? view(root) : root;
  if (unknown.size) {
    const list = [...unknown].slice(0, 5).map((n) => truncate(n, 80)).join(', ');
    warnings.push({
      code: 'torchscript-code-missing',
      message: `no TorchScript source declares ${unknown.size} class(es) (${list}${unknown.size > 5 ? ', …' : ''}): which of their tensors are parameters or buffers is unknown, so they are counted as other tensors`,
    });
  }
  return result;
}

/**
 * A TorchScript archive's tensors and module tree: data.pkl's module through
 * {@link scriptModuleView} and the whole-module interpretation, then constants.pkl's tensors as
 * `CONSTANTS.c0`, `CONSTANTS.c1`... (the names the code uses), role `other`: values the code
 * uses, neither parameters nor buffers.
 */
export function interpretScript(root: PyValue, constants: PyValue | undefined, classes: ScriptClasses, file: string, limits: Partial<WalkLimits>): Interpretation {
  const warnings: Warning[] = [];
  const interp = interpret(scriptModuleView(root, classes, warnings), file, limits);
  interp.warnings.unshift(...warnings);
  const items = constants instanceof PyTuple || constants instanceof PyList ? constants.items : [];
  const extra: NamedTensor[] = [];
  items.forEach((c, i) => {
    if (c instanceof TorchTensor) extra.push({ name: `CONSTANTS.c${i}`, tensor: c, role: 'other', roleReason: 'TorchScript constant (constants.pkl): a value the code uses, not a parameter or buffer' });
  });
  const taken = new Set(interp.tensors.map((t) => t.name));
  for (const t of extra) {
    if (taken.has(t.name)) t.name = `${t.name}#constant`;
    interp.tensors.push(t);
  }
  return interp;
}
