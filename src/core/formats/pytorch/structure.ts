/**
 * From the unpickled object to named tensors: state dicts (plain or nested), whole pickled
 * modules (exact tree and roles), whole modules inside dicts and lists (each a subtree under its
 * key or index), and training checkpoints (the model nested under `state_dict`, `model`..., next
 * to optimizer state, epochs and hyper-parameters). DataParallel's `module.` prefix is recognised
 * and stripped. Walks are depth-checked and budgeted, and cycles are cut.
 */
import { numelOf, sameDims } from '../../coverage';
import { isFloating, itemSize } from '../../dtypes';
import { CheckpointError } from '../../errors';
import { truncate } from '../../json';
import { isLocalName } from '../../local-name';
import { ModuleHint, Role, Warning } from '../../model';
import { rolesFromOptimizer } from './optimizer';
import { attributeValue, isModule, layerRepr, moduleClass, moduleState, newHint } from './modules';
import { PyBytes, PyDict, PyGlobal, PyList, PyNative, PyObject, PySet, PyTuple, PyValue } from './pickle';
import { isPackedParamsClass, NamedTensor, ScriptObjectState, scriptObjectState, Storage, TorchDtype, TorchTensor, unreadRebuild } from './torch';

export interface Interpretation {
  tensors: NamedTensor[];
  moduleTree?: ModuleHint;
  /** Non-tensor content of a training checkpoint (epoch, step, hyper-parameters...). */
  checkpoint?: Record<string, unknown>;
  warnings: Warning[];
  prefixes: string[];
  /** How the top-level object was read, for display. */
  layout: 'state_dict' | 'module' | 'training' | 'tensors' | 'optimizer' | 'rng-state';
}

/** Keys under which training checkpoints nest the model, in order of preference. */
export const MODEL_KEYS = [
  'state_dict',
  'model_state_dict',
  'model_state',
  'model',
  'module',
  'net',
  'network',
  'model_ema',
  'ema',
  'ema_state_dict',
  'state_dict_ema',
  'params',
  'weights',
];

const DP_CLASSES = new Set([
  'torch.nn.parallel.data_parallel.DataParallel',
  'torch.nn.parallel.distributed.DistributedDataParallel',
  'torch.nn.DataParallel',
  'torch.nn.parallel.DistributedDataParallel',
]);

export interface WalkLimits {
  maxDepth: number;
  maxNodes: number;
  /**
   * Characters in the paths of the values walked, added up, at most. A pickle names an attribute
   * once and nests it by reference: a 10 KB name 200 modules deep is a 40 KB file whose paths
   * (and tensor names, and the report's module paths) run to gigabytes.
   */
  maxPathChars: number;
}

export const DEFAULT_WALK: WalkLimits = { maxDepth: 1000, maxNodes: 2_000_000, maxPathChars: 256 * 2 ** 20 };

class Walker {
  nodes = 0;
  private chars = 0;
  /** Tensor rebuilds the reader does not read, where they are (unreadRebuild): each gets a warning. */
  readonly unread: { path: string; fn: string }[] = [];
  private readonly unreadSeen = new Set<string>();
  constructor(readonly file: string, readonly limits: WalkLimits) {}

  /** Note `v` when it is a tensor rebuild the reader does not read; true if so. */
  noteUnread(v: PyValue | undefined, path: string): boolean {
    const fn = unreadRebuild(v);
    if (!fn) return false;
    if (!this.unreadSeen.has(path)) {
      this.unreadSeen.add(path);
      this.unread.push({ path, fn });
    }
    return true;
  }

  tick(depth: number, path: string): void {
    if (++this.nodes > this.limits.maxNodes) {
      throw new CheckpointError('limit', `object graph expands to more than ${this.limits.maxNodes} nodes`, { file: this.file, record: `at "${truncate(path)}"` });
    }
    if (depth > this.limits.maxDepth) {
      throw new CheckpointError('limit', `objects nested deeper than ${this.limits.maxDepth} levels`, { file: this.file, record: `at "${truncate(path)}"` });
    }
    if ((this.chars += path.length) > this.limits.maxPathChars) {
      throw new CheckpointError('limit', `the paths of the objects walked add up to more than ${this.limits.maxPathChars} characters (long names nested deep: this one is ${path.length} characters)`, { file: this.file, record: `at "${truncate(path)}"` });
    }
  }
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

export function keyString(k: PyValue, budget = { n: 64 }): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint') return String(k);
  if (typeof k === 'boolean') return k ? 'True' : 'False';
  if (k === null) return 'None';
  if (k instanceof PyTuple) return (budget.n -= k.items.length) < 0 ? '(…)' : `(${k.items.slice(0, 8).map((x) => keyString(x, budget)).join(', ')})`;
  if (k instanceof PyBytes) return `b'${new TextDecoder('latin1').decode(k.data.subarray(0, 64))}'`;
  if (k instanceof PyGlobal) return k.full;
  return '?';
}

interface Emit {
  role?: Role;
  reason?: string;
}

/** What a container is, for the synthetic nodes above modules found inside containers. */
interface ContainerDesc {
  path: string;
  className: string;
  pythonModule: string;
}

/**
 * The containers around a point of the walk, innermost first, as a linked list: a module found
 * there keeps the list as it is (a copy per module cost the depth each time, and a memoized
 * module held a thousand times at the bottom of deep nesting was a thousand copies).
 */
interface Chain {
  readonly desc: ContainerDesc;
  readonly up: Chain | undefined;
}

/** A whole nn.Module met while walking a container (not as another module's child). */
interface FoundModule {
  path: string;
  hint: ModuleHint;
  /** The containers it sits in, innermost first. */
  containers: Chain | undefined;
}

/** Collects whole modules held in dicts, lists, tuples or plain objects. */
interface Finder {
  modules: FoundModule[];
  stack: Chain | undefined;
}

function describeContainer(v: PyValue, path: string): ContainerDesc {
  const split = (full: string): ContainerDesc => {
    const i = full.lastIndexOf('.');
    return i < 0 ? { path, className: full, pythonModule: 'builtins' } : { path, className: full.slice(i + 1), pythonModule: full.slice(0, i) };
  };
  if (v instanceof PyDict) return split(v.className);
  if (v instanceof PyList) return split('list');
  if (v instanceof PyTuple) return split('tuple');
  if (v instanceof PySet) return split(v.frozen ? 'frozenset' : 'set');
  if (v instanceof PyObject && v.className) return split(v.className);
  return split('object');
}

/** Collect tensors reachable from `v`, named by their dotted path. */
function walk(w: Walker, v: PyValue, path: string, out: NamedTensor[], emit: Emit, depth: number, onPath: Set<object>, finder?: Finder): void {
  if (v === null || typeof v !== 'object') return;
  w.tick(depth, path);
  if (v instanceof TorchTensor) {
    pushTensor(out, path, v, emit);
    return;
  }
  if (v instanceof PyBytes || v instanceof PyGlobal) return;
  // Walked on as data (its arguments' tensors are listed), but not silently.
  w.noteUnread(v, path);
  if (v instanceof PyObject && isModule(v)) {
    // walkModule keeps its own path set: a module is a cycle only if it encloses itself.
    const hint = walkModule(w, v, '', path, out, depth + 1, onPath, emit);
    finder?.modules.push({ path, hint, containers: finder.stack });
    return;
  }
  if (onPath.has(v)) return; // a cycle
  onPath.add(v);
  const around = finder?.stack;
  if (finder) finder.stack = { desc: describeContainer(v, path), up: around };
  try {
    if (v instanceof PyDict) {
      for (const [k, x] of v.entries()) walk(w, x, join(path, keyString(k)), out, emit, depth + 1, onPath, finder);
    } else if (v instanceof PyList || v instanceof PyTuple || v instanceof PySet) {
      v.items.forEach((x, i) => walk(w, x, join(path, String(i)), out, emit, depth + 1, onPath, finder));
    } else if (v instanceof PyObject) {
      const so = scriptObjectState(v);
      // A TorchScript object is the state it was saved with, named as a state dict names it
      // (`fc._packed_params._packed_params.0`), not as an object's `__state__`.
      if (so) {
        walkScriptObject(w, so, path, out, emit, depth + 1, onPath, finder);
        return;
      }
      const st = v.state;
      if (st instanceof PyDict) walk(w, st, path, out, emit, depth + 1, onPath, finder);
      else if (st !== undefined) walk(w, st, join(path, '__state__'), out, emit, depth + 1, onPath, finder);
      if (v.dictItems) walk(w, v.dictItems, path, out, emit, depth + 1, onPath, finder);
      if (v.listItems) v.listItems.forEach((x, i) => walk(w, x, join(path, String(i)), out, emit, depth + 1, onPath, finder));
      v.args.forEach((x, i) => walk(w, x, join(path, `__arg${i}__`), out, emit, depth + 1, onPath, finder));
    }
  } finally {
    if (finder) finder.stack = around;
    onPath.delete(v);
  }
}

/**
 * Modules found inside containers, as one tree: a synthetic root for the outermost container
 * (`dict`, `list`...), synthetic nodes for containers in between, and each module's own tree
 * under its key or index, so `{'generator': G, 'discriminator': D}` gives `generator.*` and
 * `discriminator.*`. Paths are split on dots as tensor names are, so hint and names agree.
 */
function containerTree(root: PyValue, found: FoundModule[]): ModuleHint {
  const top = describeContainer(root, '');
  const tree = newHint('', top.className, top.pythonModule);
  const kids = new Map<ModuleHint, Map<string, ModuleHint>>();
  const childOf = (node: ModuleHint, name: string): ModuleHint | undefined => kids.get(node)?.get(name);
  const add = (node: ModuleHint, child: ModuleHint): void => {
    node.children.push(child);
    let m = kids.get(node);
    if (!m) kids.set(node, (m = new Map()));
    m.set(child.name, child);
  };
  /** Segments of `path` past `base`, a path it extends (every container's path extends its outer ones'). */
  const segsAfter = (path: string, base: string): string[] => (path.length === base.length ? [] : (base ? path.slice(base.length + 1) : path).split('.'));
  /** Down from `node` by `segs`, making the nodes missing: `desc` names the last, segments between a plain dict. */
  const descend = (node: ModuleHint, segs: string[], desc: { className: string; pythonModule: string }): ModuleHint => {
    for (let i = 0; i < segs.length; i++) {
      let next = childOf(node, segs[i]);
      if (!next) {
        const d = i === segs.length - 1 ? desc : { className: 'dict', pythonModule: 'builtins' };
        next = newHint(segs[i], d.className, d.pythonModule);
        add(node, next);
      }
      node = next;
    }
    return node;
  };
  // Each container is placed once, below its outer one. An object and its state dict share a
  // path: the object (met first) names it.
  const placed = new Map<Chain, ModuleHint>();
  const nodeFor = (c: Chain | undefined): ModuleHint => {
    if (!c) return tree;
    let node = placed.get(c);
    if (!node) {
      node = descend(nodeFor(c.up), segsAfter(c.desc.path, c.up ? c.up.desc.path : ''), c.desc);
      placed.set(c, node);
    }
    return node;
  };
  /** The innermost container strictly above `c`'s path (a ScriptObject's payload has its path). */
  const above = new Map<Chain, Chain | undefined>();
  const outerOf = (c: Chain): Chain | undefined => {
    if (above.has(c)) return above.get(c);
    const up = c.up;
    const r = up === undefined || up.desc.path.length < c.desc.path.length ? up : outerOf(up);
    above.set(c, r);
    return r;
  };
  for (const f of found) {
    let c = f.containers;
    if (c && c.desc.path.length >= f.path.length) c = outerOf(c);
    const segs = c ? segsAfter(f.path, c.desc.path) : f.path.split('.');
    const node = descend(nodeFor(c), segs.slice(0, -1), { className: 'dict', pythonModule: 'builtins' });
    const last = segs[segs.length - 1];
    if (childOf(node, last)) continue; // the same path twice (its tensors get #2 names)
    f.hint.name = last;
    add(node, f.hint);
  }
  return tree;
}

function pushTensor(out: NamedTensor[], name: string, t: TorchTensor, emit: Emit): void {
  // Sparse tensors are one tensor (their dense shape); toRecords sums their components' bytes.
  out.push({ name, tensor: t, role: emit.role, roleReason: emit.reason });
}

/** Walk a pickled nn.Module; returns its hint. Roles come from `_parameters` / `_buffers`. */
function walkModule(w: Walker, obj: PyObject, name: string, path: string, out: NamedTensor[], depth: number, onPath: Set<object>, outer?: Emit): ModuleHint {
  w.tick(depth, path);
  const { className, pythonModule } = moduleClass(obj);
  const hint = newHint(name, className, pythonModule);
  const state = moduleState(obj)!;
  if (onPath.has(obj)) {
    hint.attributes['cycle'] = `module refers back to an enclosing module; not expanded`;
    return hint;
  }
  onPath.add(obj);
  try {
    const params = state.get('_parameters') as PyDict;
    const hasParam = new Map<string, boolean>();
    const what = `${className}`;
    for (const [k, v] of params.entries()) {
      const key = keyString(k);
      const full = join(path, key);
      hasParam.set(key, v instanceof TorchTensor);
      if (v instanceof TorchTensor) {
        hint.parameters[key] = full;
        pushTensor(out, full, v, outer?.role ? outer : { role: 'parameter', reason: `registered parameter of ${what} (_parameters)` });
      } else {
        w.noteUnread(v, full);
        hint.parameters[key] = null;
      }
    }
    const buffers = state.get('_buffers');
    const nonPersistent = state.get('_non_persistent_buffers_set');
    const np = new Set<string>(nonPersistent instanceof PySet ? nonPersistent.items.filter((x): x is string => typeof x === 'string') : []);
    if (buffers instanceof PyDict) {
      for (const [k, v] of buffers.entries()) {
        const key = keyString(k);
        const full = join(path, key);
        if (v instanceof TorchTensor) {
          hint.buffers[key] = full;
          const reason = np.has(key) ? `non-persistent buffer of ${what} (_buffers; not in its state_dict)` : `registered buffer of ${what} (_buffers)`;
          const before = out.length;
          pushTensor(out, full, v, outer?.role ? outer : { role: 'buffer', reason });
          if (np.has(key)) for (let i = before; i < out.length; i++) out[i].extra = { ...(out[i].extra ?? {}), persistent: false };
        } else {
          w.noteUnread(v, full);
          hint.buffers[key] = null;
        }
      }
    }
    const attrs = new Map<string, PyValue>();
    for (const [k, v] of state.entries()) {
      if (typeof k !== 'string') continue;
      const so = scriptObjectState(v);
      if (so && isPackedParamsClass(so.className)) {
        walkPacked(w, so, what, join(path, k), out, depth + 1, onPath, outer);
        continue;
      }
      if (k.startsWith('_')) continue;
      attrs.set(k, v);
      const a = attributeValue(v);
      if (a !== undefined) hint.attributes[k] = a;
      else if (v !== null && typeof v === 'object') {
        // Tensors kept as plain attributes (also inside modules held in lists or dicts there)
        // are neither parameters nor buffers.
        walk(w, v, join(path, k), out, outer?.role ? outer : { role: 'other', reason: `plain attribute of ${what}, not a registered parameter or buffer` }, depth + 1, onPath);
      }
    }
    const repr = layerRepr(className, pythonModule, attrs, hasParam);
    if (repr) hint.repr = repr;
    const modules = state.get('_modules') as PyDict;
    for (const [k, v] of modules.entries()) {
      const key = keyString(k);
      if (v instanceof PyObject && isModule(v)) hint.children.push(walkModule(w, v, key, join(path, key), out, depth + 1, onPath, outer));
      else if (v !== null) walk(w, v, join(path, key), out, outer ?? {}, depth + 1, onPath);
    }
  } finally {
    onPath.delete(obj);
  }
  return hint;
}

/**
 * A quantized layer's packed weights: LinearPackedParams' `_packed_params`, EmbeddingPackedParams'
 * `_packed_weight`, a dynamic quantized LSTM's cell `param`. torch keeps them as a TorchScript
 * object in a plain (often private) attribute, so neither `_parameters` nor `_buffers` lists them
 * and the quantized model's parameters() is empty; they are what the float layer's weight and
 * bias became and, as for every quantized checkpoint, count as its parameters. Integer tensors
 * of a packed state (offsets, configuration) are no weights: their dtype decides, as in a state dict.
 */
function walkPacked(w: Walker, so: ScriptObjectState, what: string, path: string, out: NamedTensor[], depth: number, onPath: Set<object>, outer?: Emit): void {
  const before = out.length;
  const cls = so.className.slice(so.className.lastIndexOf('.') + 1);
  const emit: Emit = outer?.role ? outer : { role: 'parameter', reason: `packed weights and biases held by ${what} (a TorchScript ${cls}, which torch.load rebuilds with __setstate__): the float layer's parameters` };
  walkScriptObject(w, so, path, out, emit, depth, onPath);
  if (outer?.role) return;
  for (let i = before; i < out.length; i++) {
    if (isFloating(out[i].tensor.dtype)) continue;
    out[i].role = undefined;
    out[i].roleReason = undefined;
  }
}

/**
 * A TorchScript object's saved state, named as a state dict names it. A dynamic quantized LSTM or
 * GRU cell (`torch.classes.rnn.CellParamsBase`, kind `quantized_dynamic`) is saved as
 * `(kind, tensors, doubles, longs, packed)`: `tensors` are its biases b_ih and b_hh, and `packed`
 * its two packed Linears, each `(weight, bias)` holding the same bias again. torch's get_bias()
 * reads the packed Linear's (`param.4.0.1` is bias_ih_l0, as `fc._packed_params._packed_params.1`
 * is a quantized Linear's bias), so that copy is the parameter. The cell's own is not a second one
 * (counted too, a GRU(4, 6) read as 252 parameters; torch's float GRU has 216): with the fbgemm and onednn
 * engines it is the very tensor the packed Linear holds, pickled once and referenced twice, and is
 * listed once, under the packed Linear's name (not as a tie the float model does not have); with
 * qnnpack it is a copy with bytes of its own, listed at `param.1.0` as quantization state.
 */
function walkScriptObject(w: Walker, so: ScriptObjectState, path: string, out: NamedTensor[], emit: Emit, depth: number, onPath: Set<object>, finder?: Finder): void {
  const before = out.length;
  walk(w, so.payload, path, out, emit, depth, onPath, finder);
  const biases = so.className === CELL_PARAMS ? packedBiases(so.payload) : undefined;
  if (biases) setCellBiasesApart(out, before, path, biases, emit);
}

/**
 * A dynamic quantized RNN cell's own biases, among what walk() listed of its state from `from` on
 * (`path.1.k`, one entry per tensor): the very tensor its packed Linear holds is dropped (it is
 * listed at `path.4.k.1`), and a copy of it, under the parameter role, becomes quantization state.
 */
function setCellBiasesApart(out: NamedTensor[], from: number, path: string, biases: (TorchTensor | undefined)[], emit: Emit): void {
  const own = join(path, '1') + '.';
  let kept = from;
  for (let i = from; i < out.length; i++) {
    const e = out[i];
    const k = e.name.startsWith(own) ? biasIndex(e.name, own.length) : -1;
    const bias = k >= 0 ? biases[k] : undefined;
    if (bias !== undefined && e.tensor === bias) continue; // one tensor: listed as the packed Linear's bias
    // Under a role of its own (a cell beside the model) the copy keeps it.
    if (bias !== undefined && (emit.role === undefined || emit.role === 'parameter') && e.tensor.dtype === bias.dtype && sameDims(e.tensor.shape, bias.shape)) {
      e.role = 'quantization';
      e.roleReason = `a dynamic quantized RNN cell's own copy of its bias (CellParamsBase saves it beside its packed Linears, and ${join(path, `4.${k}.1`)} holds it too): counted once, as that packed Linear's bias`;
    }
    out[kept++] = e;
  }
  out.length = kept;
}

/** The k of a name `….1.k` (a decimal index ending the name) from `at` on, or -1. */
function biasIndex(name: string, at: number): number {
  if (at >= name.length) return -1;
  let k = 0;
  for (let i = at; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    k = k * 10 + (c - 0x30);
  }
  return k;
}

const CELL_PARAMS = 'torch.classes.rnn.CellParamsBase';

/** A `quantized_dynamic` cell's packed Linears' biases, by position (undefined where one has none), or undefined for another state. */
function packedBiases(payload: PyValue): (TorchTensor | undefined)[] | undefined {
  if (!(payload instanceof PyTuple) || payload.items.length < 5 || payload.items[0] !== 'quantized_dynamic') return undefined;
  const packed = payload.items[4];
  if (!(packed instanceof PyList || packed instanceof PyTuple)) return undefined;
  return packed.items.map((p) => {
    const pair = scriptObjectState(p)?.payload;
    const bias = pair instanceof PyTuple || pair instanceof PyList ? pair.items[1] : undefined;
    return bias instanceof TorchTensor ? bias : undefined;
  });
}

function containsTensor(v: PyValue | undefined, budget = { n: 100_000 }, depth = 0): boolean {
  if (v === null || v === undefined || typeof v !== 'object' || depth > 64 || --budget.n < 0) return false;
  if (v instanceof TorchTensor) return true;
  if (v instanceof PyDict) {
    for (const x of v.values) if (containsTensor(x, budget, depth + 1)) return true;
    return false;
  }
  if (v instanceof PyList || v instanceof PyTuple || v instanceof PySet) return v.items.some((x) => containsTensor(x, budget, depth + 1));
  if (v instanceof PyObject) {
    if (isModule(v)) return true;
    return containsTensor(v.state, budget, depth + 1) || containsTensor(v.dictItems, budget, depth + 1) || (v.listItems ?? []).some((x) => containsTensor(x, budget, depth + 1));
  }
  return false;
}

/** `{'state': {...}, 'param_groups': [...]}` as optimizer.state_dict() returns it. */
function isOptimizerState(v: PyValue | undefined): boolean {
  return v instanceof PyDict && v.has('state') && v.has('param_groups');
}

/** The one optimizer state dict of an entry: the entry itself, or a list holding only it. */
function soleOptimizer(v: PyValue): PyValue | undefined {
  if (isOptimizerState(v)) return v;
  if ((v instanceof PyList || v instanceof PyTuple) && v.items.length === 1 && isOptimizerState(v.items[0])) return v.items[0];
  return undefined;
}

function isOptimizerEntry(key: string, v: PyValue | undefined): boolean {
  if (isOptimizerState(v)) return true;
  if ((v instanceof PyList || v instanceof PyTuple) && v.items.length > 0 && v.items.every(isOptimizerState)) return true;
  if (v instanceof PyObject && v.callable instanceof PyGlobal && v.callable.module.startsWith('torch.optim')) return true;
  return /optim/i.test(key) && containsTensor(v);
}

function isModelLike(v: PyValue | undefined): boolean {
  if (isModule(v)) return true;
  return v instanceof PyDict && !isOptimizerState(v) && containsTensor(v);
}

/** Interpret the main object of a torch.save file. */
export function interpret(root: PyValue, file: string, limits: Partial<WalkLimits> = {}): Interpretation {
  const w = new Walker(file, { ...DEFAULT_WALK, ...limits });
  const res: Interpretation = { tensors: [], warnings: [], prefixes: [], layout: 'tensors' };
  const onPath = new Set<object>();

  if (root instanceof PyObject && isModule(root)) {
    res.layout = 'module';
    readModel(w, root, res, onPath);
    return finish(res, file, w);
  }
  if (isOptimizerFile(root)) {
    readOptimizerFile(w, root, res, onPath);
    return finish(res, file, w);
  }
  const dict = root instanceof PyDict ? root : root instanceof PyObject && root.dictItems && !root.state ? root.dictItems : undefined;
  if (dict && isRngStateFile(dict)) {
    readRngStateFile(w, dict, res, onPath);
    return finish(res, file, w);
  }
  const finder: Finder = { modules: [], stack: undefined };
  if (!dict) {
    walk(w, root, '', res.tensors, {}, 0, onPath, finder);
    if (finder.modules.length) {
      // A list or tuple of whole modules ([G, D]), or an object holding some.
      res.layout = 'module';
      res.moduleTree = containerTree(root, finder.modules);
    }
    return finish(res, file, w);
  }
  const modelKey = MODEL_KEYS.find((k) => isModelLike(dict.get(k)));
  const checkpoint: Record<string, unknown> = Object.create(null);
  if (modelKey !== undefined) {
    res.layout = 'training';
    res.prefixes.push(`${modelKey}.`);
    onPath.add(dict);
    readModel(w, dict.get(modelKey)!, res, onPath);
    const model = res.moduleTree ? [] : res.tensors.slice();
    const deepSpeed = modelKey === 'module' && dict.has('param_shapes') && dict.has('buffer_names');
    if (deepSpeed) deepSpeedModel(dict, res, file);
    const optimizers: { key: string; v: PyValue }[] = [];
    for (const [k, v] of dict.entries()) {
      const key = keyString(k);
      if (key === modelKey) continue;
      if (isOptimizerEntry(key, v)) {
        walk(w, v, key, res.tensors, { role: 'optimizer-state', reason: `optimizer state under "${key}"` }, 1, onPath);
        checkpoint[key] = plainOptimizer(v);
        optimizers.push({ key, v });
      } else {
        walk(w, v, key, res.tensors, { role: 'other', reason: `stored under "${key}", beside the model ("${modelKey}")` }, 1, onPath);
        checkpoint[key] = plain(v, 0, { n: 5000 });
      }
    }
    // One model state dict and one optimizer: which of its float entries are parameters
    // (optimizer.ts). Whole modules, keep_vars state dicts and DeepSpeed's lists say it already.
    // Lightning keeps its optimizers in a list (`optimizer_states`): one of them is one optimizer.
    const opt = optimizers.length === 1 ? soleOptimizer(optimizers[0].v) : undefined;
    if (opt && !deepSpeed && !model.some(ofQuantizedLayer)) rolesFromOptimizer(model, res.tensors, opt, optimizers[0].key, res.warnings);
  } else {
    // No container key: the tensors are the model (a state dict, maybe nested), except
    // optimizer state; scalars beside them are checkpoint metadata.
    res.layout = 'state_dict';
    const model: NamedTensor[] = [];
    onPath.add(dict);
    const copies = emaCopies(dict);
    // In a flat state dict every entry is a tensor of the model, whatever its name (a sampler's
    // uint8 `random_state` buffer); generator states are told apart only in a checkpoint.
    const flat = dict.values.every((v) => v instanceof TorchTensor || v instanceof TorchDtype);
    for (const [k, v] of dict.entries()) {
      const key = keyString(k);
      const copied = copies.get(key);
      if (isOptimizerEntry(key, v)) {
        walk(w, v, key, res.tensors, { role: 'optimizer-state', reason: `optimizer state under "${key}"` }, 1, onPath);
        checkpoint[key] = plainOptimizer(v);
        res.layout = 'training';
      } else if (copied !== undefined) {
        // An EMA copy beside the model it averages (rosinality's StyleGAN2 `g_ema` beside `g`,
        // StyleGAN2-ADA's `G_ema` beside `G`): kept for sampling, not a second model, as a
        // checkpoint's `model_ema` beside its `model` is not. (Its tree is still drawn.)
        walk(w, v, key, model, { role: 'other', reason: `exponential moving average copy of "${copied}", stored beside it: not part of the model` }, 1, onPath, finder);
        res.layout = 'training';
      } else if (!flat && isRngEntry(key, v)) {
        walk(w, v, key, res.tensors, { role: 'other', reason: `random number generator state under "${key}", beside the model` }, 1, onPath);
        checkpoint[key] = plain(v, 0, { n: 5000 });
        res.layout = 'training';
      } else if (v instanceof TorchTensor || containsTensor(v)) {
        walk(w, v, key, model, {}, 1, onPath, finder);
      } else {
        findUnread(w, v, key);
        checkpoint[key] = plain(v, 0, { n: 5000 });
        // A quantized Linear's state dict holds its dtype (`fc._packed_params.dtype`: torch.qint8)
        // beside its tensors: part of the state dict, not what makes a training checkpoint.
        if (!(v instanceof TorchDtype)) res.layout = 'training';
      }
    }
    if (finder.modules.length) {
      // Whole modules under their keys ({'generator': G, 'discriminator': D}): each is a
      // subtree of one tree, under its key; their names already are real module paths.
      res.moduleTree = containerTree(root, finder.modules);
      if (res.layout === 'state_dict') res.layout = 'module';
    } else {
      stripDataParallel(model, res);
      rolesFromParameters(model);
    }
    res.tensors.unshift(...model);
  }
  if (Object.keys(checkpoint).length) res.checkpoint = checkpoint;
  if (res.tensors.length === 0 && res.checkpoint) noTensors(dict, res);
  return finish(res, file, w);
}

/**
 * `torch.save(optimizer.state_dict())` (Hugging Face Trainer's optimizer.pt), or a list of such
 * state dicts: `{'state': {0: {'exp_avg': ...}}, 'param_groups': [{'params': [0, 1], 'lr': ...}]}`
 * at the top. `param_groups` must be a list of dicts, so a nested state dict of modules named
 * `state` and `param_groups` is not taken for one.
 */
function isOptimizerFile(root: PyValue): boolean {
  const one = (v: PyValue): boolean => {
    if (!(v instanceof PyDict) || !isOptimizerState(v)) return false;
    const groups = v.get('param_groups');
    return (groups instanceof PyList || groups instanceof PyTuple) && groups.items.every((g) => g instanceof PyDict);
  };
  if (root instanceof PyList || root instanceof PyTuple) return root.items.length > 0 && root.items.every(one);
  return one(root);
}

/**
 * An optimizer state dict on its own holds no model: each tensor (Adam's `exp_avg`, SGD's
 * `momentum_buffer`, a 0-dim `step`) is optimizer state, as it is under a checkpoint's
 * `optimizer` key, whatever its name (`momentum_buffer` would otherwise read as a buffer).
 */
function readOptimizerFile(w: Walker, root: PyValue, res: Interpretation, onPath: Set<object>): void {
  res.layout = 'optimizer';
  walk(w, root, '', res.tensors, { role: 'optimizer-state', reason: "optimizer state (the file is an optimizer's state_dict(), with no model)" }, 0, onPath);
  const items = root instanceof PyList || root instanceof PyTuple ? root.items : [root];
  const checkpoint: Record<string, unknown> = Object.create(null);
  if (root instanceof PyDict) Object.assign(checkpoint, plainOptimizer(root));
  else items.forEach((x, i) => (checkpoint[String(i)] = plainOptimizer(x)));
  res.checkpoint = checkpoint;
  let withState = 0;
  for (const x of items) {
    const st = (x as PyDict).get('state');
    if (st instanceof PyDict) withState += st.size;
  }
  const what = items.length === 1 ? "an optimizer's state_dict() (torch.optim)" : `${items.length} optimizers' state_dict()s (torch.optim)`;
  const n = res.tensors.length;
  const state = n === 0 ? 'it holds no tensors (no parameter has state yet)' : `its ${n} tensor${n === 1 ? ' is' : 's are'} optimizer state for ${withState} parameter${withState === 1 ? '' : 's'}, neither parameters nor buffers`;
  res.warnings.push({ code: 'no-model', message: `no model: the file is ${what}; ${state}` });
}

/**
 * A torch.save file with no tensor at all: an LR scheduler's or a GradScaler's state_dict() saved
 * on its own (Hugging Face Trainer's scheduler.pt), or other training state. There is no model to
 * count; the warning says so, and what the keys suggest the file is.
 */
function noTensors(dict: PyDict, res: Interpretation): void {
  const what = dict.has('base_lrs') && dict.has('last_epoch')
    ? "an LR scheduler's state_dict() (torch.optim.lr_scheduler)"
    : dict.has('growth_factor') && dict.has('backoff_factor')
      ? "a GradScaler's state_dict() (torch.cuda.amp)"
      : undefined;
  res.warnings.push({ code: 'no-model', message: what ? `no model: the file is ${what}, with no tensors` : 'no model: the file holds no tensors' });
}

/**
 * The keys of a checkpoint that hold an exponential moving average of a model saved beside it:
 * each maps to the key of the model it copies. A key is a copy when one `_`-separated word of it
 * is `ema` (or `shadow`, as EMA helpers call their averages) and the key without that word holds
 * tensors too: rosinality's StyleGAN2 `g_ema` beside `g`, StyleGAN2-ADA's `G_ema` beside `G`,
 * BasicSR's `params_ema` beside `params`, `ema_model` beside `model`. A copy without its model
 * (a lone `ema`, or `g_ema` with no `g`) is the model itself and is not set aside.
 */
function emaCopies(dict: PyDict): Map<string, string> {
  const copies = new Map<string, string>();
  let keys: Set<string> | undefined;
  for (const [k, v] of dict.entries()) {
    if (typeof k !== 'string' || !EMA_WORD.test(k)) continue;
    keys ??= new Set(dict.keys.filter((x): x is string => typeof x === 'string'));
    const words = k.split('_');
    for (let i = 0; i < words.length; i++) {
      if (!EMA_WORDS.has(words[i].toLowerCase())) continue;
      const model = [...words.slice(0, i), ...words.slice(i + 1)].join('_');
      if (model && model !== k && keys.has(model) && !EMA_WORD.test(model) && containsTensor(dict.get(model)) && containsTensor(v)) {
        copies.set(k, model);
        break;
      }
    }
  }
  return copies;
}

const EMA_WORDS = new Set(['ema', 'shadow']);
const EMA_WORD = /(^|_)(ema|shadow)(_|$)/i;

/**
 * Names under which training code saves torch's random number generator states (torch.get_rng_state(),
 * a uint8 tensor; torch.cuda.get_rng_state_all(), a list of them): `rng_state`, `cuda_rng_state`,
 * `torch_rng_state`, accelerate's `torch_manual_seed`, `torch_cuda_manual_seed`, `random_state`.
 */
const RNG_KEY = /rng|random_state|manual_seed/i;

/** Devices whose generator states Hugging Face Trainer's rng_state.pth keys by device name, beside `python` and `numpy`. */
const RNG_DEVICES = new Set(['cpu', 'cuda', 'xpu', 'npu', 'mlu', 'musa', 'hpu', 'mps']);

/** Whether `v` holds tensors and every one is uint8, as a generator state is (a budgeted walk). */
function onlyByteTensors(v: PyValue | undefined, budget = { n: 10_000 }, depth = 0): boolean {
  let found = false;
  const visit = (x: PyValue | undefined, d: number): boolean => {
    if (x === null || x === undefined || typeof x !== 'object') return true;
    if (d > 16 || --budget.n < 0) return false;
    if (x instanceof TorchTensor) {
      found = true;
      return x.dtype === 'uint8';
    }
    if (x instanceof PyDict) return x.values.every((y) => visit(y, d + 1));
    if (x instanceof PyList || x instanceof PyTuple) return x.items.every((y) => visit(y, d + 1));
    // Anything else holding tensors (a module, an object) is not a generator state.
    return !containsTensor(x);
  };
  return visit(v, depth) && found;
}

/** A key beside a model that holds generator states, never weights. */
function isRngEntry(key: string, v: PyValue | undefined): boolean {
  return RNG_KEY.test(key) && onlyByteTensors(v);
}

/**
 * A file of random number generator states alone, saved to resume training: Hugging Face
 * Trainer's rng_state.pth (`python`, `numpy`, `cpu`, `cuda`...), accelerate's
 * random_states_<i>.pkl (`random_state`, `numpy_random_seed`, `torch_manual_seed`,
 * `torch_cuda_manual_seed`...). Every key holding tensors must be a generator state's, and every
 * tensor uint8.
 */
function isRngStateFile(dict: PyDict): boolean {
  const trainer = dict.has('python') || dict.has('numpy');
  let any = false;
  for (const [k, v] of dict.entries()) {
    if (!containsTensor(v)) continue;
    const key = keyString(k);
    if (!(RNG_KEY.test(key) || (trainer && RNG_DEVICES.has(key))) || !onlyByteTensors(v)) return false;
    any = true;
  }
  return any;
}

/** Generator states alone hold no model: their tensors (uint8 states) are neither parameters nor buffers. */
function readRngStateFile(w: Walker, dict: PyDict, res: Interpretation, onPath: Set<object>): void {
  res.layout = 'rng-state';
  walk(w, dict, '', res.tensors, { role: 'other', reason: 'random number generator state (the file holds generator states, no model)' }, 0, onPath);
  const checkpoint: Record<string, unknown> = Object.create(null);
  for (const [k, v] of dict.entries()) checkpoint[keyString(k)] = plain(v, 0, { n: 2000 });
  res.checkpoint = checkpoint;
  const what = dict.has('cpu') && dict.has('python')
    ? "Hugging Face Trainer's rng_state.pth"
    : dict.has('torch_manual_seed') || dict.has('random_state')
      ? "accelerate's random_states_<i>.pkl"
      : 'saved for resuming training';
  const n = res.tensors.length;
  res.warnings.push({ code: 'no-model', message: `no model: the file holds random number generator states (${what}); its ${n} tensor${n === 1 ? ' is a generator state' : 's are generator states'}, neither parameters nor buffers` });
}

/**
 * DeepSpeed's mp_rank_<r>_model_states.pt keeps the model's state dict under `module`, and beside
 * it what zero_to_fp32.py reads: `buffer_names`, `param_shapes` (the optimizer's parameters, name
 * -> torch.Size: a list of one dict per parameter group, or one dict in older versions),
 * `frozen_param_shapes` (parameters without gradients, since 0.9) and `shared_params` (a tied
 * name -> the name holding its data). Those lists say which entries are parameters and which
 * buffers. Under ZeRO-3 the parameters are partitioned into the optimizer's shard files
 * (zero_pp_rank_*_optim_states.pt) and `module` holds a placeholder for each (an empty tensor,
 * one element in DeepSpeed before 0.4): the shapes are the recorded ones, so the model counts as
 * torch counts it after zero_to_fp32.py. A placeholder becomes a tensor of its recorded shape on a
 * storage that is not in this file (no data offset); the names of one parameter (its placeholder,
 * or `shared_params`) share that storage, so a tie is counted once.
 */
function deepSpeedModel(dict: PyDict, res: Interpretation, file: string): void {
  const shapes = new Map<string, number[]>();
  let bad = 0;
  const read = (d: PyValue | undefined) => {
    if (!(d instanceof PyDict)) return;
    for (const [k, v] of d.entries()) {
      const dims = v instanceof PyTuple || v instanceof PyList ? v.items.map((x) => (typeof x === 'bigint' ? Number(x) : x)) : undefined;
      if (typeof k === 'string' && dims && dims.every((x): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) shapes.set(k, dims as number[]);
      else bad++;
    }
  };
  const ps = dict.get('param_shapes');
  if (ps instanceof PyList || ps instanceof PyTuple) ps.items.forEach(read);
  else read(ps);
  const trainable = shapes.size;
  read(dict.get('frozen_param_shapes'));
  const shared = new Map<string, string>();
  const sp = dict.get('shared_params');
  if (sp instanceof PyDict) for (const [k, v] of sp.entries()) if (typeof k === 'string' && typeof v === 'string') shared.set(k, v);
  const bn = dict.get('buffer_names');
  const buffers = new Set<string>(bn instanceof PyList || bn instanceof PyTuple ? bn.items.filter((x): x is string => typeof x === 'string') : []);
  // Names as the state dict holds them (stripDataParallel may have cut a `module.`).
  const stripped = res.warnings.some((x) => x.code === 'dataparallel-prefix');
  const lookup = <T>(m: Map<string, T> | Set<string>, name: string): string | undefined => (m.has(name) ? name : stripped && m.has(`module.${name}`) ? `module.${name}` : undefined);
  const partitioned = new Map<Storage, { storage: Storage; shape: number[] }>();
  const byRoot = new Map<string, { storage: Storage; shape: number[] }>();
  let placeholders = 0;
  let unknown = 0;
  for (const t of res.tensors) {
    const own = lookup(shapes, t.name);
    const tie = own === undefined ? lookup(shared, t.name) : undefined;
    const root = own ?? (tie !== undefined && shapes.has(shared.get(tie)!) ? shared.get(tie)! : undefined);
    if (root === undefined) {
      if (lookup(buffers, t.name) !== undefined && !t.role) {
        t.role = 'buffer';
        t.roleReason = "listed in DeepSpeed's buffer_names";
      }
      if (shapes.size && t.tensor.storage && numelOf(t.tensor.shape) === 0 && lookup(buffers, t.name) === undefined) unknown++;
      continue;
    }
    const shape = shapes.get(root)!;
    const src = t.tensor;
    if (!t.role) {
      t.role = 'parameter';
      t.roleReason = root === own ? (shapes.size > trainable && !isTrainable(root, dict) ? "listed in DeepSpeed's frozen_param_shapes" : "listed in DeepSpeed's param_shapes") : `tied to ${root} (DeepSpeed's shared_params)`;
    }
    if (!src.storage || numelOf(src.shape) >= numelOf(shape)) continue; // the values themselves (ZeRO-1, ZeRO-2)
    let p = partitioned.get(src.storage) ?? byRoot.get(root);
    if (!p) {
      const es = itemSize(src.dtype) ?? 1;
      const n = numelOf(shape);
      const key = `zero3-partitioned/${root}`;
      const storage = new Storage(key, `${file}:${key}`, src.storage.type, src.storage.type.dtype ? n : n * es, src.storage.location);
      p = { storage, shape };
    }
    partitioned.set(src.storage, p);
    byRoot.set(root, p);
    const whole = new TorchTensor(p.storage, 0, p.shape.slice(), contiguous(p.shape), src.dtype, src.formatDtype);
    whole.parameter = src.parameter;
    whole.requiresGrad = src.requiresGrad;
    t.tensor = whole;
    t.extra = { ...(t.extra ?? {}), partitioned: 'ZeRO-3: the values are in the optimizer shard files' };
    placeholders++;
  }
  if (bad) res.warnings.push({ code: 'deepspeed-shapes', message: `${bad} entr${bad === 1 ? 'y' : 'ies'} of DeepSpeed's param_shapes/frozen_param_shapes are not shapes and were ignored` });
  if (!placeholders) return;
  const n = partitioned.size;
  const from = dict.get('frozen_param_shapes') instanceof PyDict ? 'param_shapes and frozen_param_shapes' : 'param_shapes';
  const missing = unknown ? `; ${unknown} empty tensor${unknown === 1 ? ' has' : 's have'} no recorded shape and count${unknown === 1 ? 's' : ''} as empty` : '';
  res.warnings.push({
    code: 'zero3-partitioned',
    message: `DeepSpeed ZeRO-3: the weights are partitioned into the ZeRO optimizer shard files (zero_pp_rank_*_optim_states.pt) and "module" holds ${n} placeholder${n === 1 ? '' : 's'} in their place${placeholders > n ? ` (under ${placeholders} names)` : ''}; their shapes come from ${from} (as zero_to_fp32.py reads them), with no values in this file${missing}`,
  });
}

/** Whether `name` is in `param_shapes` (trainable) rather than only in `frozen_param_shapes`. */
function isTrainable(name: string, dict: PyDict): boolean {
  const ps = dict.get('param_shapes');
  const dicts = ps instanceof PyList || ps instanceof PyTuple ? ps.items : [ps];
  return dicts.some((d) => d instanceof PyDict && d.has(name));
}

/** Row-major strides of a shape. */
function contiguous(shape: number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= Math.max(1, shape[i]);
  }
  return strides;
}

/** The model part: a whole module (exact tree) or a state dict (names by path). */
function readModel(w: Walker, v: PyValue, res: Interpretation, onPath: Set<object>): void {
  if (v instanceof PyObject && isModule(v)) {
    let obj: PyObject = v;
    const { className, pythonModule } = moduleClass(obj);
    if (DP_CLASSES.has(`${pythonModule}.${className}`)) {
      const inner = (moduleState(obj)!.get('_modules') as PyDict).get('module');
      if (inner instanceof PyObject && isModule(inner)) {
        obj = inner;
        res.prefixes.push('module.');
        res.warnings.push({ code: 'dataparallel-prefix', message: `the model is wrapped in ${className}; its "module." level is skipped in names and the tree` });
      }
    }
    res.moduleTree = walkModule(w, obj, '', '', res.tensors, 1, onPath);
    return;
  }
  const model: NamedTensor[] = [];
  walk(w, v, '', model, {}, 1, onPath);
  stripDataParallel(model, res);
  rolesFromParameters(model);
  res.tensors.push(...model);
}

/**
 * A state dict saved with `state_dict(keep_vars=True)` keeps each parameter an nn.Parameter
 * (pickled through torch._utils._rebuild_parameter) and each buffer a plain tensor. When the
 * model's tensors include Parameters, the file says which entries are parameters: the rest are
 * buffers, whatever their names (a float buffer named `stats` is not guessed a parameter).
 */
function rolesFromParameters(model: NamedTensor[]): void {
  if (!model.some((t) => !t.role && t.tensor.parameter)) return;
  // A quantized model's state dict holds a Parameter or two (a packed Linear's bias) beside its
  // quantized weights, which are plain tensors: that is not keep_vars.
  if (model.some(ofQuantizedLayer)) return;
  for (const t of model) {
    if (t.role) continue;
    t.role = t.tensor.parameter ? 'parameter' : 'buffer';
    t.roleReason = t.tensor.parameter ? KEPT_PARAMETER : KEPT_BUFFER;
  }
}

const KEPT_PARAMETER = 'saved as an nn.Parameter (a state dict kept with keep_vars=True)';
const KEPT_BUFFER = 'saved as a plain tensor beside nn.Parameters (a state dict kept with keep_vars=True): a buffer';

function stripDataParallel(model: NamedTensor[], res: Interpretation): void {
  if (model.length === 0 || !model.every((t) => t.name.startsWith('module.'))) return;
  for (const t of model) t.name = t.name.slice('module.'.length);
  res.prefixes.push('module.');
  res.warnings.push({
    code: 'dataparallel-prefix',
    message: `all ${model.length} model tensor names start with "module." (saved from DataParallel/DistributedDataParallel); the prefix is stripped`,
  });
}

function finish(res: Interpretation, file: string, w: Walker): Interpretation {
  markQuantizationState(res.tensors);
  if (w.unread.length) res.warnings.push(unreadWarning(w.unread));
  // Distinct paths can flatten to one dotted name ({'a.b': t} and {'a': {'b': t}}): keep both.
  const seen = new Map<string, number>();
  let renamed = 0;
  for (const t of res.tensors) {
    const n = seen.get(t.name);
    if (n === undefined) {
      seen.set(t.name, 1);
      continue;
    }
    let i = n + 1;
    while (seen.has(`${t.name}#${i}`)) i++;
    seen.set(t.name, i);
    const fresh = `${t.name}#${i}`;
    seen.set(fresh, 1);
    t.name = fresh;
    renamed++;
  }
  if (renamed) res.warnings.push({ code: 'duplicate-name', message: `${renamed} tensor name(s) occur twice in ${file}; later ones are suffixed with #2, #3...` });
  return res;
}

/** Places named in the warning about unread tensor rebuilds. */
const MAX_UNREAD_NAMED = 5;

/**
 * Tensors torch.load would rebuild with a function the reader does not read: they are not counted,
 * and the user is told which and where rather than seeing them vanish.
 */
function unreadWarning(unread: { path: string; fn: string }[]): Warning {
  const named = unread.slice(0, MAX_UNREAD_NAMED).map((u) => `${u.path ? `"${truncate(u.path)}"` : 'the top-level object'} (${u.fn})`);
  const more = unread.length > MAX_UNREAD_NAMED ? `, and ${unread.length - MAX_UNREAD_NAMED} more` : '';
  return {
    code: 'tensor-not-read',
    message: `${unread.length} value(s) that torch.load rebuilds as tensors use a rebuild function Weightscope does not read, and are not counted as tensors: ${named.join(', ')}${more}`,
  };
}

/**
 * Unread tensor rebuilds inside a value kept as checkpoint metadata (plain() renders them as
 * opaque objects), found by a walk bounded like containsTensor's.
 */
function findUnread(w: Walker, v: PyValue | undefined, path: string, budget = { n: 100_000 }, depth = 0): void {
  if (v === null || v === undefined || typeof v !== 'object' || depth > 64 || --budget.n < 0) return;
  if (w.noteUnread(v, path)) return;
  if (v instanceof PyDict) {
    for (const [k, x] of v.entries()) findUnread(w, x, join(path, keyString(k)), budget, depth + 1);
  } else if (v instanceof PyList || v instanceof PyTuple || v instanceof PySet) {
    v.items.forEach((x, i) => findUnread(w, x, join(path, String(i)), budget, depth + 1));
  } else if (v instanceof PyObject) {
    findUnread(w, v.state, path, budget, depth + 1);
    findUnread(w, v.dictItems, path, budget, depth + 1);
  }
}

/** A quantized Linear's packed weights, as its state dict (and our walk of a whole one) names them. */
const PACKED_PARAMS = /(^|\.)_packed_params\./;

/** A tensor of a torch quantized layer: a quantized tensor, or a quantized Linear's packed weights. */
const ofQuantizedLayer = (t: NamedTensor): boolean => t.tensor.quant !== undefined || PACKED_PARAMS.test(t.name);

/**
 * torch's quantized modules keep the scale and zero point of their output as `scale` and
 * `zero_point`: quantized Linear and Conv write them into the state dict (tensors made from
 * Python numbers), Quantize (a QuantStub converted) and the quantized norms and activations
 * register them as buffers. They are quantization state, like GPTQ's scales, not parameters;
 * unmarked, a state dict's float `scale` would be counted as one. Neither name says it alone (a
 * learned LayerScale is a `scale` parameter), so the pair is required, in a checkpoint that holds
 * quantized layers (a quantized tensor, or a quantized Linear's `_packed_params`); registered
 * parameters and tensors kept beside the model keep their roles. FX graph mode quantization
 * registers each quantize node's on the root instead, as `<node>_scale_<i>` (float) and
 * `<node>_zero_point_<i>` (int64): paired by node and index the same way, so a lone
 * `gain_scale_0` parameter stays one (an FX-quantized resnet18 read 11,684,721 parameters, its
 * float model 11,684,712).
 */
function markQuantizationState(tensors: NamedTensor[]): void {
  const inModel = (t: NamedTensor) => t.role !== 'other' && t.role !== 'optimizer-state';
  if (!tensors.some((t) => inModel(t) && ofQuantizedLayer(t))) return;
  const pairs = new Map<string, { scale?: NamedTensor; zeroPoint?: NamedTensor; fx?: boolean }>();
  for (const t of tensors) {
    if (t.role !== undefined && t.role !== 'buffer') continue;
    const name = t.name;
    const at = name.lastIndexOf('.') + 1;
    let isScale = isLocalName(name, at, 'scale');
    let key: string;
    let fx = false;
    if (isScale || isLocalName(name, at, 'zero_point')) key = name.slice(0, at);
    else if (isDigit(name.charCodeAt(name.length - 1)) && (name.includes('_scale_', at) || name.includes('_zero_point_', at))) {
      // FX graph mode (quantize_fx.convert_fx): each quantize node's qparams are root buffers
      // `<node>_scale_<i>` and `<node>_zero_point_<i>` (conv1_input_scale_0, layer1_0_relu_zero_point_0).
      const m = FX_QPARAM.exec(name.slice(at));
      if (!m) continue;
      isScale = m[2] === 'scale';
      key = `${name.slice(0, at)}${m[1]}\0${m[3]}`;
      fx = true;
    } else continue;
    const p = pairs.get(key) ?? { fx };
    if (isScale) p.scale = t;
    else p.zeroPoint = t;
    pairs.set(key, p);
  }
  for (const { scale, zeroPoint, fx } of pairs.values()) {
    if (!scale || !zeroPoint) continue;
    scale.role = zeroPoint.role = 'quantization';
    if (fx) {
      scale.roleReason = 'scale of a quantize node (torch.ao FX graph mode quantization, beside its zero point of the same node and index, in a checkpoint of quantized layers): quantization state, not a parameter';
      zeroPoint.roleReason = 'zero point of a quantize node (torch.ao FX graph mode quantization, beside its scale of the same node and index, in a checkpoint of quantized layers): quantization state';
      continue;
    }
    scale.roleReason = 'output scale of a quantized module (beside its zero_point, in a checkpoint of quantized layers): quantization state, not a parameter';
    zeroPoint.roleReason = 'output zero point of a quantized module (beside its scale, in a checkpoint of quantized layers): quantization state';
  }
}

/** An FX quantize node's qparam: `<node>_scale_<i>` or `<node>_zero_point_<i>` (the node may be empty). */
const FX_QPARAM = /^(.*)_(scale|zero_point)_(\d+)$/;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

// ---------------------------------------------------------------------------------------------
// Metadata: plain JSON-able values, bounded

function plainOptimizer(v: PyValue): unknown {
  const one = (o: PyValue): unknown => {
    if (!(o instanceof PyDict)) return plain(o, 0, { n: 2000 });
    const st = o.get('state');
    const out: Record<string, unknown> = Object.create(null);
    out.state = st instanceof PyDict ? `${st.size} parameter state entries` : plain(st ?? null, 0, { n: 100 });
    out.param_groups = plain(o.get('param_groups') ?? null, 0, { n: 2000 });
    return out;
  };
  if (v instanceof PyList || v instanceof PyTuple) return v.items.map(one);
  return one(v);
}

/** A plain, bounded rendering of a value for metadata display. */
export function plain(v: PyValue | undefined, depth: number, budget: { n: number }): unknown {
  if (v === undefined) return null;
  if (--budget.n < 0) return '…';
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return typeof v === 'string' ? truncate(v, 500) : v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return v.toString();
  if (depth > 12) return '…';
  if (v instanceof TorchTensor) return v.describe();
  if (v instanceof PyBytes) return `<${v.kind} of ${v.data.length} bytes>`;
  if (v instanceof PyGlobal) return `<${v.full}>`;
  if (v instanceof PyList || v instanceof PyTuple || v instanceof PySet) {
    const items = v.items.slice(0, 100).map((x) => plain(x, depth + 1, budget));
    if (v.items.length > 100) items.push(`… ${v.items.length - 100} more`);
    return items;
  }
  if (v instanceof PyDict) {
    const o: Record<string, unknown> = Object.create(null);
    let i = 0;
    for (const [k, x] of v.entries()) {
      if (i++ >= 200) {
        o['…'] = `${v.size - 200} more entries`;
        break;
      }
      o[keyString(k)] = plain(x, depth + 1, budget);
    }
    return o;
  }
  if (v instanceof PyObject) {
    const scalar = numpyScalar(v);
    if (scalar !== undefined) return scalar;
    if (v.dictItems && !v.state) return plain(v.dictItems, depth, budget);
    const name = v.className ?? 'object';
    if (v.state instanceof PyDict && v.state.size <= 50) {
      const o = plain(v.state, depth + 1, budget) as Record<string, unknown>;
      return { __class__: name, ...o };
    }
    return `<${name}>`;
  }
  if (v instanceof PyNative) return v.describe();
  return '?';
}

/** numpy scalars (`numpy.core.multiarray.scalar(dtype, bytes)`) as numbers, read as data. */
function numpyScalar(v: PyObject): number | string | boolean | undefined {
  const c = v.callable;
  if (!(c instanceof PyGlobal) || c.name !== 'scalar' || !/^numpy(\._core|\.core)?\.multiarray$/.test(c.module)) return undefined;
  const [dt, raw] = v.args;
  if (!(dt instanceof PyObject) || !(raw instanceof PyBytes)) return undefined;
  const code = typeof dt.args[0] === 'string' ? dt.args[0] : undefined;
  let big = false;
  if (dt.state instanceof PyTuple && dt.state.items[1] === '>') big = true;
  const b = raw.data;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  try {
    switch (code) {
      case 'f8':
        return view.getFloat64(0, !big);
      case 'f4':
        return view.getFloat32(0, !big);
      case 'i8':
        return Number(view.getBigInt64(0, !big));
      case 'u8':
        return Number(view.getBigUint64(0, !big));
      case 'i4':
        return view.getInt32(0, !big);
      case 'u4':
        return view.getUint32(0, !big);
      case 'b1':
        return b[0] !== 0;
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}
