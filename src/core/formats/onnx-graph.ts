/**
 * How an ONNX graph uses the tensors it holds, from the node list alone (never the tensor data):
 *
 * - which layer op consumes each tensor, in which input slot (Conv's weight, Gemm's C, an LSTM's
 *   recurrence weights...), following the value back through pass-through ops (Identity,
 *   Transpose, Cast, Reshape, Unsqueeze, Slice, Concat...);
 * - which tensors are never a weight: every path from them, through the same pass-through ops,
 *   ends in a setting (Reshape's shape) or a recurrent op's state (an LSTM's initial_h);
 * - where each tensor belongs in the module tree: torch.onnx.export names every node after the
 *   module that made it (`/transformer/h.0/attn/c_attn/Gemm`), so a tensor the exporter renamed
 *   (`onnx::MatMul_335`, an anonymous Constant) is placed under the module whose nodes use it and
 *   named by its role there (`weight`, `bias`, `running_mean`, `weight_ih_l0`);
 * - the layer each module is, built from the op and its attributes (`Gemm` with transB=1 →
 *   `Linear(in_features, out_features)`, `Conv` with kernel_shape/strides/pads/group →
 *   `Conv1d(...)`, `LayerNormalization` with its epsilon → `LayerNorm(...)`), before any guess
 *   from names and shapes.
 */
import { fmtFloat } from '../infer';
import { isFloating } from '../dtypes';
import type { LayerHint, TensorRecord } from '../model';
import { lowerBound } from '../sorted';

export type AttrValue = number | number[] | string;

export interface GraphNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  /** Output names, kept only for the ops the analysis follows (needsOutputs); empty otherwise. */
  outputs: string[];
  /** Label of the graph holding it: '' for the main graph. */
  graph: string;
  /** Settings of layer ops (LAYER_ATTR_OPS): kernel_shape, strides, transB, epsilon... */
  attrs?: Record<string, AttrValue>;
}

/** A subgraph (an If branch, a Loop body): the node and attribute holding it and that node's graph. */
export interface SubgraphInfo {
  node: number;
  attr: string;
  parent: string;
}

/** A tensor the graph holds, by the value that carries it. */
export interface HeldTensor {
  /** The graph value: the initializer's name, the Constant's output, the Identity's output. */
  value: string;
  kind: 'initializer' | 'constant' | 'copy';
  record: TensorRecord;
  /** Label of the graph defining it: '' for the main graph. */
  graph: string;
  /** A Constant's own TensorProto name (often empty). */
  tensorName?: string;
  /** A copy: the tensor whose bytes it reuses (the exporter's deduplication). */
  source?: HeldTensor;
  /** The Constant or Identity node that defines it. */
  node?: number;
}

/** One use of a held tensor by a layer op. */
export interface Use {
  node: number;
  slot: number;
  /** Its role there: `weight`, `bias`, `running_mean`, `weight_ih`... */
  role: string;
  /** Reached through a Transpose that swaps its two last dimensions. */
  transposed: boolean;
  /** Reached directly or through Identity nodes only. */
  direct: boolean;
}

export function isDefaultDomain(domain: string): boolean {
  return domain === '' || domain === 'ai.onnx';
}

/** Ops whose scalar attributes the parser keeps. */
export const LAYER_ATTR_OPS = new Set([
  'Conv', 'ConvTranspose', 'Gemm', 'Transpose', 'LayerNormalization', 'SimplifiedLayerNormalization', 'RMSNormalization',
  'SkipLayerNormalization', 'SkipSimplifiedLayerNormalization', 'BatchNormalization', 'InstanceNormalization',
  'GroupNormalization', 'LSTM', 'GRU', 'RNN',
]);

/**
 * Layer ops and the role of each weight input slot. Other inputs are activations or settings.
 * ONNX's LSTM/GRU/RNN hold all directions in W, R and B; B is torch's bias_ih and bias_hh
 * concatenated (same element count).
 */
const WEIGHT_SLOTS: Record<string, Record<number, string>> = {
  Conv: { 1: 'weight', 2: 'bias' },
  ConvTranspose: { 1: 'weight', 2: 'bias' },
  Gemm: { 1: 'weight', 2: 'bias' },
  MatMul: { 0: 'weight', 1: 'weight' },
  Gather: { 0: 'weight' },
  LayerNormalization: { 1: 'weight', 2: 'bias' },
  SimplifiedLayerNormalization: { 1: 'weight' },
  RMSNormalization: { 1: 'weight' },
  SkipLayerNormalization: { 2: 'weight', 3: 'bias', 4: 'skip_bias' },
  SkipSimplifiedLayerNormalization: { 2: 'weight', 3: 'skip_bias' },
  BatchNormalization: { 1: 'weight', 2: 'bias', 3: 'running_mean', 4: 'running_var' },
  InstanceNormalization: { 1: 'weight', 2: 'bias' },
  GroupNormalization: { 1: 'weight', 2: 'bias' },
  LSTM: { 1: 'weight_ih', 2: 'weight_hh', 3: 'bias', 7: 'weight_peephole' },
  GRU: { 1: 'weight_ih', 2: 'weight_hh', 3: 'bias' },
  RNN: { 1: 'weight_ih', 2: 'weight_hh', 3: 'bias' },
  PRelu: { 1: 'weight' },
};

const SLOT_LIST = new Map<string, [number, string][]>(
  Object.entries(WEIGHT_SLOTS).map(([op, slots]) => [op, Object.entries(slots).map(([k, role]) => [Number(k), role] as [number, string])]),
);

/** The slot holding the tensor that names a layer (its module is that tensor's module). */
const PRIMARY_SLOT: Record<string, number> = {
  Conv: 1, ConvTranspose: 1, Gemm: 1, Gather: 0, LayerNormalization: 1, SimplifiedLayerNormalization: 1, RMSNormalization: 1,
  SkipLayerNormalization: 2, SkipSimplifiedLayerNormalization: 2, BatchNormalization: 1, InstanceNormalization: 1,
  GroupNormalization: 1, LSTM: 1, GRU: 1, RNN: 1, PRelu: 1,
};

const RECURRENT = new Set(['LSTM', 'GRU', 'RNN']);

/** Norm ops: inputs 1 and 2 are their scale and bias (BatchNormalization's 3 and 4 its running statistics). */
const NORM_OPS = new Set([
  'BatchNormalization', 'InstanceNormalization', 'GroupNormalization', 'LayerNormalization', 'SimplifiedLayerNormalization', 'RMSNormalization',
]);

/**
 * Inputs that carry shapes, axes, indices, sizes or bounds, not data. A floating-point constant
 * used only there (Resize's scales, Clip's bounds, Pow's exponent) is a setting, not a weight.
 * A Map: op types come from the file, and `toString` must not find Object.prototype's.
 */
const SETTING_SLOTS = new Map<string, number[]>(Object.entries({
  Reshape: [1], Expand: [1], Tile: [1], Unsqueeze: [1], Squeeze: [1], Slice: [1, 2, 3, 4], Resize: [1, 2, 3], Upsample: [1],
  Pad: [1, 2, 3], ConstantOfShape: [0], Range: [0, 1, 2], TopK: [1], Split: [1], ReduceSum: [1], ReduceMean: [1],
  ReduceMax: [1], ReduceMin: [1], ReduceProd: [1], ReduceL1: [1], ReduceL2: [1], ReduceLogSumExp: [1], ReduceSumSquare: [1],
  OneHot: [1, 2], Gather: [1], GatherElements: [1], GatherND: [1], ScatterND: [1], ScatterElements: [1], Clip: [1, 2],
  CumSum: [1], Trilu: [1], NonMaxSuppression: [2, 3, 4], Pow: [1], Where: [0], Dropout: [1, 2],
}));

/**
 * A recurrent op's inputs that carry state, not weights: sequence_lens, initial_h and (LSTM)
 * initial_c. When the forward passes no initial state, torch.onnx.export fills them with a zero
 * Constant of [directions, 1, hidden_size] per layer (without constant folding, one for all
 * layers, sliced) expanded to the batch: `/Constant_output_0` → Expand → LSTM inputs 5 and 6.
 * That tensor is the graph's, not one of model.parameters().
 */
const STATE_SLOTS = new Map<string, number[]>([['LSTM', [4, 5, 6]], ['GRU', [4, 5]], ['RNN', [4, 5]]]);

/** Ops a weight passes through unchanged in substance, and which inputs carry it. */
const PASS_THROUGH = new Map<string, number[] | 'all'>([
  ['Identity', [0]], ['Transpose', [0]], ['Cast', [0]], ['CastLike', [0]], ['Reshape', [0]], ['Unsqueeze', [0]], ['Squeeze', [0]],
  ['Flatten', [0]], ['Slice', [0]], ['Split', [0]], ['Expand', [0]], ['Tile', [0]], ['Concat', 'all'], ['DequantizeLinear', [0]],
]);

/**
 * Whether a node reads input `slot` as a layer's weight (see WEIGHT_SLOTS): a MatMul's second
 * operand only, since its first is most often the activation.
 */
export function readsAsWeight(n: GraphNode, slot: number): boolean {
  if (!(isDefaultDomain(n.domain) || n.domain === 'com.microsoft')) return false;
  if (n.opType === 'MatMul') return slot === 1;
  return SLOT_LIST.get(n.opType)?.some(([k]) => k === slot) ?? false;
}

/** Whether an op passes its first input on unchanged in substance (Identity, Transpose, Cast...). */
export function passesOn(n: GraphNode, slot: number): boolean {
  if (!isDefaultDomain(n.domain)) return false;
  const p = PASS_THROUGH.get(n.opType);
  return p === 'all' || (p?.includes(slot) ?? false);
}

/** Whether the analysis follows a node's outputs: the ops a weight passes through, MatMul (its bias), Constant. */
export function needsOutputs(opType: string): boolean {
  return PASS_THROUGH.has(opType) || opType === 'MatMul' || opType === 'Constant';
}

/** Modules besides its own a tensor may describe (a tied head); beyond, it is shared input. */
const MAX_FOREIGN_SCOPES = 4;
/** Uses of one tensor looked at for the layers it describes. */
const MAX_LAYER_USES = 64;
/**
 * Tensors looked at for the one a repeated call's copy is (see repeatedCalls), per copy: past this
 * the copy stays a tensor of its own (GraphIndex.unsettledCopies counts them for a warning).
 */
export const MAX_TARGET_CHECKS = 256;
/** Ops walked through before giving up, and values visited per lookup. */
const MAX_PASS_DEPTH = 8;
const RESOLVE_BUDGET = 64;

/** A name as PyTorch's state_dict() writes it: identifiers joined by dots (`encoder.0.weight`, `cls_token`). */
const IDENTIFIER_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/;
/** Names exporters make up for tensors they create or rename (torch's `onnx::MatMul_335`, scoped `/a/Constant_output_0`, spox's `Constant_3_output`, the dynamo exporter's `val_12`, tf2onnx's folded constants). */
const EXPORTER_NAME = /^(onnx::|val_\d|_val_\d|Constant_\d+_output|const_fold_opt__|ortshared_)|\//;

/** A name the model gave a tensor (kept as is), not one an exporter made up (placed by its uses instead). */
export function isModelName(s: string | undefined): s is string {
  return s !== undefined && s.length <= 4096 && IDENTIFIER_PATH.test(s) && !EXPORTER_NAME.test(s);
}

/** A name an exporter made up (`onnx::MatMul_335`, `/a/Constant_output_0`, `val_12`): see EXPORTER_NAME. */
export function isExporterName(s: string): boolean {
  return s.length <= 4096 && EXPORTER_NAME.test(s);
}

/**
 * A Constant node as torch.onnx.export (1.13 on) names the ones it makes: `/norm/Constant_1` in the
 * scope of the module whose forward made it, its output `/norm/Constant_1_output_0` (an inliner
 * may put a prefix before the first `/`). Tools that move weights into Constant nodes name them
 * otherwise (`Constant_7_output`, the tensor's own name).
 */
export function isTorchConstant(n: GraphNode): boolean {
  return n.opType === 'Constant' && /^[^/]*\/(?:[^/]+\/)*Constant(?:_[0-9]+)?$/.test(n.name) && n.outputs[0] === `${n.name}_output_0`;
}

/** A dotted state_dict() path (`h.1.ln_2.weight`): what torch.onnx.export's deduplication leaves on an Identity's output. */
export function isStateDictPath(s: string | undefined): s is string {
  return isModelName(s) && s.includes('.');
}

/**
 * The module path of a node from its name: torch.onnx.export writes `/a/b.0/c/OpType` (and an
 * inliner may put a prefix before the first `/`). Null when the name has no scope at all.
 */
export function nodeScope(name: string): string | null {
  const first = name.indexOf('/');
  if (first < 0) return null;
  const last = name.lastIndexOf('/');
  if (last === first) return '';
  return scopePath(name.slice(first + 1, last));
}

/**
 * The module path of an exporter scope. torch.onnx.export names each level by its attribute path
 * relative to the parent's parent, so indexed children repeat their container's name:
 * `features/features.1/block/block.1/fc2` is module `features.1.block.1.fc2`.
 */
export function scopePath(scope: string): string {
  const parts: string[] = [];
  let prev = '';
  for (const seg of scope.split('/')) {
    if (prev && seg.startsWith(prev + '.')) parts.push(seg.slice(prev.length + 1));
    else parts.push(seg);
    prev = seg;
  }
  return parts.join('.');
}

function commonPath(paths: string[]): string {
  let common = paths[0].split('.');
  for (const p of paths.slice(1)) {
    const s = p.split('.');
    let i = 0;
    while (i < common.length && i < s.length && common[i] === s[i]) i++;
    common = common.slice(0, i);
  }
  return common.join('.');
}

function parentPath(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(0, dot);
}

function numAttr(n: GraphNode, key: string, dflt: number): number {
  const v = n.attrs?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : dflt;
}

function intsAttr(n: GraphNode, key: string): number[] | undefined {
  const v = n.attrs?.[key];
  return Array.isArray(v) ? v : undefined;
}

function strAttr(n: GraphNode, key: string): string | undefined {
  const v = n.attrs?.[key];
  return typeof v === 'string' ? v : undefined;
}

/** A Transpose that swaps the two last dimensions (all a 2-D perm can do besides nothing). */
function swapsLastTwo(n: GraphNode): boolean {
  const perm = intsAttr(n, 'perm');
  if (!perm) return true; // default: reverse all dimensions
  const k = perm.length;
  if (k < 2 || perm[k - 1] !== k - 2 || perm[k - 2] !== k - 1) return false;
  for (let i = 0; i < k - 2; i++) if (perm[i] !== i) return false;
  return true;
}

/** Python's repr of a tuple of ints: `(3,)`, `(3, 3)`. */
function tuple(a: number[]): string {
  return a.length === 1 ? `(${a[0]},)` : `(${a.join(', ')})`;
}

/** An attribute float (float32 on disk) as torch would print the float64 it came from. */
function eps(x: number): string {
  return fmtFloat(Number(x.toPrecision(6)));
}

/** transformers' Conv1D layers (weight stored [in, out]) by their usual module names. */
const CONV1D_NAMES = new Set(['c_attn', 'c_proj', 'c_fc', 'q_attn']);

export class GraphIndex {
  /** Value name → index of the node producing it, for the ops lookups walk back through (PASS_THROUGH, MatMul). */
  private readonly producer = new Map<string, number>();
  /** Held tensors, the values pass-through ops make from them and Identity outputs → the nodes and slots consuming them (see index). */
  private readonly consumerIndex = new Map<string, { node: number; slot: number }[]>();
  /** Values that are held tensors or made from one by pass-through ops (lookups may resolve them). */
  private readonly derived = new Set<string>();
  private readonly weightNodes = new Set<number>();
  /** Module path of each node's scope (nodeScope), computed once. */
  private readonly scopes: (string | null | undefined)[];
  readonly held = new Map<string, HeldTensor>();
  readonly uses = new Map<HeldTensor, Use[]>();
  /** Copies used by repeated calls left unmerged because the look for their tensor stopped at MAX_TARGET_CHECKS. */
  unsettledCopies = 0;
  /** The same uses by node. */
  private readonly usesByNode = new Map<number, { h: HeldTensor; u: Use }[]>();
  /** A MatMul node → the bias an Add right after it adds. */
  private readonly matmulBias = new Map<number, HeldTensor>();
  private scopeOpsCache?: Map<string, Set<string>>;
  private recurrentIndexCache?: Map<number, number>;
  /** Recurrent layers per scope (torch writes one node per layer of an nn.LSTM). */
  private readonly recurrentCount = new Map<string, number>();
  /** Scopes of a module's second, third... call → that module's scope (`fc_1` → `fc`): see repeatedCalls. */
  private readonly calls = new Map<string, string>();
  /** Shapes of the Constants the exporter made to fill a norm's scale and bias (see dropFiller), by value. */
  private readonly fillers = new Map<string, number[]>();
  /** InstanceNormalization nodes by scope (see groupNormScope). */
  private instanceNormsCache?: Map<string, number[]>;

  constructor(readonly nodes: GraphNode[]) {
    this.scopes = new Array(nodes.length);
  }

  /** The module path of a node's scope (see nodeScope); a repeated call's scope is its module's (see repeatedCalls). */
  scopeOf(node: number): string | null {
    const s = this.rawScope(node);
    return s === null ? s : (this.calls.get(s) ?? s);
  }

  /** The module path of a node's scope as the exporter wrote it (`fc_1` for fc's second call). */
  private rawScope(node: number): string | null {
    let s = this.scopes[node];
    if (s === undefined) s = this.scopes[node] = nodeScope(this.nodes[node].name);
    return s;
  }

  /**
   * One pass over the nodes in graph order (a value is made before it is used; a subgraph's nodes
   * follow the node holding it): who consumes each held tensor and each value pass-through ops make
   * from them (onlySettingsOrState follows them forward), names Identity nodes forward (`copy`
   * makes the held tensor for one, or declines), and every use by a layer op (see WEIGHT_SLOTS),
   * a MatMul's bias and a decomposed norm's scale.
   * Call once, after every initializer and Constant is held.
   */
  index(copy: (node: number, source: HeldTensor) => HeldTensor | undefined): void {
    const indexed = new Set(this.held.keys());
    for (const v of this.held.keys()) this.derived.add(v);
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i];
      const inputs = n.inputs;
      for (let slot = 0; slot < inputs.length; slot++) {
        const v = inputs[slot];
        if (v === '' || !(indexed.has(v) || this.derived.has(v))) continue;
        const list = this.consumerIndex.get(v);
        if (list) list.push({ node: i, slot });
        else this.consumerIndex.set(v, [{ node: i, slot }]);
      }
      const dflt = isDefaultDomain(n.domain);
      const pass = dflt ? PASS_THROUGH.get(n.opType) : undefined;
      if (pass || (dflt && n.opType === 'MatMul')) {
        for (const o of n.outputs) if (o !== '' && !this.producer.has(o)) this.producer.set(o, i);
      }
      if (pass && (pass === 'all' ? inputs : pass.map((k) => inputs[k] ?? '')).some((v) => this.derived.has(v))) {
        for (const o of n.outputs) if (o !== '') this.derived.add(o);
      }
      if (pass && n.opType === 'Identity') {
        for (const o of n.outputs) if (o !== '') indexed.add(o);
        const source = this.identitySource(inputs[0] ?? '');
        const out = n.outputs[0];
        if (source && out && !this.held.has(out)) {
          const h = copy(i, source);
          if (h && this.add(h)) this.derived.add(h.value);
        }
        continue;
      }
      this.usesAt(i, n, dflt);
    }
    this.repeatedCalls();
  }

  /**
   * torch.onnx.export makes each scope name unique with a suffix on the whole path: a module's
   * second call is scope `fc_1`, its third `fc_2`, the child fc of block's second call
   * `block/fc_1`. Such a scope is module `fc` again when it can be nothing else: `fc` is a scope of
   * the graph, no scope lies inside `fc_1` (the suffix is only ever on the last part), no tensor of
   * the file is named under `fc_1` (a module of that name has its own: `fc_1.bias`), and every
   * tensor its nodes use as a layer's weight is one that `fc`'s nodes use, or the exporter's copy
   * of one (with constant folding, each call's weight.T is folded anew and the equal results
   * stored once, forwarded through an Identity). Those copies are then `fc`'s own tensor, used
   * again: merged into it (counted once, as torch does), not tensors of a module `fc_1`.
   */
  private repeatedCalls(): void {
    const scopes = new Set<string>();
    for (let i = 0; i < this.nodes.length; i++) {
      const s = this.rawScope(i);
      if (s) scopes.add(s);
    }
    const candidates = new Map<string, string>();
    for (const s of scopes) {
      const m = /^(.+)_[1-9][0-9]*$/.exec(s);
      if (m && scopes.has(m[1])) candidates.set(s, m[1]);
    }
    if (!candidates.size) return;
    // A scope with another inside it (`fc_1.x`): by a search in the sorted scopes, not by every
    // prefix of every scope (a scope of thousands of levels made that its length squared).
    const sortedScopes = [...scopes].sort();
    for (const s of [...candidates.keys()]) if (hasPrefixed(sortedScopes, s + '.')) candidates.delete(s);
    // Modules holding a tensor the file names (`fc_1.bias` → fc_1), at any depth.
    const owned: string[] = [];
    for (const h of this.held.values()) {
      const own = h.kind === 'constant' ? h.tensorName : h.kind === 'copy' ? (isStateDictPath(h.value) ? h.value : undefined) : h.value;
      if (isModelName(own)) owned.push(own);
    }
    owned.sort();
    for (const s of [...candidates.keys()]) if (hasPrefixed(owned, s, true) || hasPrefixed(owned, s + '.')) candidates.delete(s);
    if (!candidates.size) return;
    // The tensors (as the file stores them: a copy is its source's) each scope's nodes use.
    const rootOf = (h: HeldTensor) => {
      let r = h;
      for (let k = 0; r.source && k < MAX_PASS_DEPTH; k++) r = r.source;
      return r;
    };
    const usedBy = new Map<string, Set<HeldTensor>>();
    for (const [h, us] of this.uses) {
      for (const u of us) {
        const s = this.rawScope(u.node);
        if (s === null) continue;
        const set = usedBy.get(s);
        if (set) set.add(rootOf(h));
        else usedBy.set(s, new Set([rootOf(h)]));
      }
    }
    for (const [s, base] of candidates) {
      const mine = usedBy.get(s);
      const theirs = usedBy.get(base);
      if (mine && ![...mine].every((h) => theirs?.has(h))) continue;
      this.calls.set(s, base);
    }
    // A call of a call (`fc_1_1` where fc_1 is fc's): the module at the end of the chain.
    for (const [s, base] of this.calls) {
      let b = base;
      for (let k = 0; this.calls.has(b) && k < MAX_PASS_DEPTH; k++) b = this.calls.get(b)!;
      this.calls.set(s, b);
    }
    if (!this.calls.size) return;
    const copies = new Map<HeldTensor, HeldTensor[]>();
    for (const h of this.held.values()) {
      if (!h.source) continue;
      const root = rootOf(h);
      const list = copies.get(root);
      if (list) list.push(h);
      else copies.set(root, [h]);
    }
    // The MatMuls whose bias each tensor is, for merge to hand them on.
    const biasOf = new Map<HeldTensor, number[]>();
    for (const [node, b] of this.matmulBias) {
      const list = biasOf.get(b);
      if (list) list.push(node);
      else biasOf.set(b, [node]);
    }
    const merged: Merged = { lists: new Map(), biasOf };
    for (const [root, list] of copies) {
      const group = [root, ...list];
      // Each tensor of the group by the role and raw scope of its uses (`weight` in `fc`), and the
      // tensors holding each such use in group order: a copy's target is looked for among the
      // holders of the rarest use it needs, not among every copy (thousands of copies of one
      // tensor made this groups x copies x uses).
      const has = new Map<HeldTensor, Set<string>>();
      const holders = new Map<string, { list: HeldTensor[]; sorted: boolean }>();
      const position = new Map<HeldTensor, number>();
      const note = (x: HeldTensor, key: string) => {
        let set = has.get(x);
        if (!set) has.set(x, (set = new Set()));
        if (set.has(key)) return;
        set.add(key);
        const hs = holders.get(key);
        if (!hs) holders.set(key, { list: [x], sorted: true });
        else {
          // A merge target takes on uses after later tensors of the group: out of order.
          if (position.get(hs.list[hs.list.length - 1])! > position.get(x)!) hs.sorted = false;
          hs.list.push(x);
        }
      };
      group.forEach((x, i) => {
        position.set(x, i);
        for (const v of this.uses.get(x) ?? []) note(x, useKey(v.role, this.rawScope(v.node)));
      });
      for (const h of list) {
        if (isStateDictPath(h.value)) continue;
        const us = this.uses.get(h) ?? [];
        if (!us.length || !us.every((u) => this.calls.has(this.rawScope(u.node) ?? ''))) continue;
        // The tensor the called module's own nodes use in the same roles: the source, or another
        // copy of it, the first in group order (root first) that is still held.
        const need = [...new Set(us.map((u) => useKey(u.role, this.scopeOf(u.node))))];
        let rarest: { list: HeldTensor[]; sorted: boolean } | undefined;
        for (const key of need) {
          const hs = holders.get(key);
          if (!hs) {
            rarest = undefined;
            break;
          }
          if (!rarest || hs.list.length < rarest.list.length) rarest = hs;
        }
        let target: HeldTensor | undefined;
        let checks = 0;
        let settled = true;
        for (const x of rarest?.list ?? []) {
          if (++checks > MAX_TARGET_CHECKS) {
            settled = false;
            break;
          }
          if (x === h || this.held.get(x.value) !== x || (target && position.get(x)! > position.get(target)!)) continue;
          const set = has.get(x)!;
          if (need.every((key) => set.has(key))) {
            target = x;
            if (rarest!.sorted) break;
          }
        }
        if (!settled) {
          this.unsettledCopies++;
          continue;
        }
        if (target) {
          // The uses it takes over are needs of later copies too (a call of a call).
          for (const u of us) note(target, useKey(u.role, this.rawScope(u.node)));
          this.merge(h, target, merged);
        }
      }
    }
    // Uses in node order again, once (merge appends).
    for (const list of merged.lists.keys()) list.sort(byNodeSlot);
  }

  /**
   * A copy that is another tensor used again (see repeatedCalls): its uses become that tensor's,
   * appended as addUse would after sorting them in node order (that sort is left to the caller,
   * once: `merged.lists` holds each list appended to, with its greatest use).
   */
  private merge(h: HeldTensor, into: HeldTensor, merged: Merged): void {
    const mine = this.uses.get(h) ?? [];
    if (merged.lists.has(mine)) {
      mine.sort(byNodeSlot);
      merged.lists.delete(mine);
    }
    this.remove(h);
    if (mine.length) {
      let list = this.uses.get(into);
      if (!list) this.uses.set(into, (list = []));
      // A repeat of the last use (once sorted: the greatest) is dropped, as addUse does.
      let last: Use | undefined = merged.lists.get(list) ?? list[list.length - 1];
      let greatest = last;
      for (const u of mine) {
        if (last && last.node === u.node && last.slot === u.slot) continue;
        list.push(u);
        const at = this.usesByNode.get(u.node);
        if (at) at.push({ h: into, u });
        else this.usesByNode.set(u.node, [{ h: into, u }]);
        last = u;
        if (!greatest || byNodeSlot(u, greatest) > 0) greatest = u;
      }
      merged.lists.set(list, greatest!);
    }
    const nodes = merged.biasOf.get(h);
    if (nodes) {
      for (const node of nodes) this.matmulBias.set(node, into);
      merged.biasOf.delete(h);
      const theirs = merged.biasOf.get(into);
      if (theirs) theirs.push(...nodes);
      else merged.biasOf.set(into, nodes);
    }
  }

  /** The held tensor an Identity chain forwards, if any. */
  private identitySource(value: string): HeldTensor | undefined {
    let v = value;
    for (let step = 0; step < MAX_PASS_DEPTH; step++) {
      const h = this.held.get(v);
      if (h) return h;
      const p = this.producer.get(v);
      if (p === undefined || this.nodes[p].opType !== 'Identity' || !isDefaultDomain(this.nodes[p].domain)) return undefined;
      v = this.nodes[p].inputs[0] ?? '';
    }
    return undefined;
  }

  /** The nodes using a held tensor or an Identity output directly (see index). */
  directConsumers(value: string): { node: number; slot: number }[] {
    return this.consumerIndex.get(value) ?? [];
  }

  add(h: HeldTensor): boolean {
    if (this.held.has(h.value)) return false;
    this.held.set(h.value, h);
    return true;
  }

  remove(h: HeldTensor): void {
    if (this.held.get(h.value) === h) this.held.delete(h.value);
    for (const u of this.uses.get(h) ?? []) {
      const at = this.usesByNode.get(u.node);
      if (at) this.usesByNode.set(u.node, at.filter((x) => x.h !== h));
    }
    this.uses.delete(h);
  }

  producerOf(value: string): GraphNode | undefined {
    const i = this.producer.get(value);
    return i === undefined ? undefined : this.nodes[i];
  }

  /**
   * The held tensors a value is made of, walking back through pass-through ops (a Concat of
   * several gives several, in input order), each with whether a Transpose swapped it.
   */
  resolve(value: string): { held: HeldTensor; transposed: boolean; direct: boolean }[] {
    // Most inputs are a tensor itself or an activation no pass-through op made: no walk.
    const h0 = this.held.get(value);
    if (h0) return [{ held: h0, transposed: false, direct: true }];
    const p0 = this.producer.get(value);
    if (p0 === undefined || !PASS_THROUGH.has(this.nodes[p0].opType)) return [];
    const out: { held: HeldTensor; transposed: boolean; direct: boolean }[] = [];
    const seen = new Set<HeldTensor>();
    let budget = RESOLVE_BUDGET;
    const walk = (v: string, transposed: boolean, direct: boolean, depth: number): void => {
      if (v === '' || budget-- <= 0) return;
      const h = this.held.get(v);
      if (h) {
        if (!seen.has(h)) {
          seen.add(h);
          out.push({ held: h, transposed, direct });
        }
        return;
      }
      if (depth >= MAX_PASS_DEPTH) return;
      const p = this.producer.get(v);
      if (p === undefined) return;
      const n = this.nodes[p];
      if (!isDefaultDomain(n.domain)) return;
      const slots = PASS_THROUGH.get(n.opType);
      if (!slots) return;
      const t = n.opType === 'Transpose' && swapsLastTwo(n) ? !transposed : transposed;
      const d = direct && n.opType === 'Identity';
      if (slots === 'all') for (const x of n.inputs) walk(x, t, d, depth + 1);
      else for (const i of slots) walk(n.inputs[i] ?? '', t, d, depth + 1);
    };
    walk(value, false, true, 0);
    return out;
  }

  /** Nodes using a value, directly or through Identity nodes. */
  consumersOf(value: string): { node: number; slot: number }[] {
    const out: { node: number; slot: number }[] = [];
    const stack: [string, number][] = [[value, 0]];
    let budget = RESOLVE_BUDGET;
    while (stack.length && budget-- > 0) {
      const [v, depth] = stack.pop()!;
      for (const c of this.directConsumers(v)) {
        const n = this.nodes[c.node];
        if (n.opType === 'Identity' && isDefaultDomain(n.domain) && depth < MAX_PASS_DEPTH) {
          for (const o of n.outputs) if (o && !this.held.has(o)) stack.push([o, depth + 1]);
        } else out.push(c);
      }
    }
    return out;
  }

  /** Index of the first node using a value, directly or through Identity nodes (Infinity if none). */
  firstConsumer(value: string): number {
    let first = Infinity;
    const stack: [string, number][] = [[value, 0]];
    let budget = RESOLVE_BUDGET;
    while (stack.length && budget-- > 0) {
      const [v, depth] = stack.pop()!;
      for (const c of this.directConsumers(v)) {
        const n = this.nodes[c.node];
        if (n.opType === 'Identity' && isDefaultDomain(n.domain) && depth < MAX_PASS_DEPTH) {
          for (const o of n.outputs) if (o && !this.held.has(o)) stack.push([o, depth + 1]);
        } else {
          // Consumers come in node order: the first that is not an Identity is this value's first.
          first = Math.min(first, c.node);
          break;
        }
      }
    }
    return first;
  }

  /**
   * Whether every use of a value, followed through the ops that pass it on (Identity, Expand, Slice,
   * Cast, Reshape...: PASS_THROUGH), reads it as a shape/axes/bounds input (SETTING_SLOTS) or as a
   * recurrent op's state (STATE_SLOTS): never as data. A value nothing reads, or a pass-through
   * output nothing reads (a graph output), is data; so is anything past the walk's limits.
   */
  onlySettingsOrState(value: string): boolean {
    return this.everyUseEndsIn(value, (n, slot) => !!(SETTING_SLOTS.get(n.opType)?.includes(slot) || STATE_SLOTS.get(n.opType)?.includes(slot)));
  }

  /**
   * Whether every path of uses from `value`, through the ops that pass a tensor on (PASS_THROUGH,
   * at most MAX_PASS_DEPTH of them, RESOLVE_BUDGET steps in all), ends in a node input `ends`
   * accepts. A value nothing reads, a pass-through output nothing reads (a graph output), an op of
   * another domain, any other input, or a walk past its limits: false.
   */
  private everyUseEndsIn(value: string, ends: (n: GraphNode, slot: number, node: number) => boolean): boolean {
    const stack: [string, number][] = [[value, 0]];
    let budget = RESOLVE_BUDGET;
    while (stack.length) {
      if (budget-- <= 0) return false;
      const [v, depth] = stack.pop()!;
      const cs = this.directConsumers(v);
      if (!cs.length) return false;
      for (const c of cs) {
        const n = this.nodes[c.node];
        if (!isDefaultDomain(n.domain)) return false;
        if (ends(n, c.slot, c.node)) continue;
        const pass = PASS_THROUGH.get(n.opType);
        const outs = n.outputs.filter((o) => o !== '');
        if (!pass || (pass !== 'all' && !pass.includes(c.slot)) || depth >= MAX_PASS_DEPTH || !outs.length) return false;
        for (const o of outs) stack.push([o, depth + 1]);
      }
    }
    return true;
  }

  private addUse(h: HeldTensor, u: Use): void {
    const list = this.uses.get(h);
    if (!list) this.uses.set(h, [u]);
    else {
      // Uses arrive in node order: a repeat of one node and slot is the last one.
      const last = list[list.length - 1];
      if (last.node === u.node && last.slot === u.slot) return;
      list.push(u);
    }
    const at = this.usesByNode.get(u.node);
    if (at) at.push({ h, u });
    else this.usesByNode.set(u.node, [{ h, u }]);
  }

  /** Op types by scope (for norms the exporter decomposed into ReduceMean, Sub, Pow...). */
  private scopeOps(scope: string): Set<string> {
    if (!this.scopeOpsCache) {
      const m = new Map<string, Set<string>>();
      this.nodes.forEach((n, i) => {
        const s = this.rawScope(i);
        if (s === null) return;
        const set = m.get(s);
        if (set) set.add(n.opType);
        else m.set(s, new Set([n.opType]));
      });
      this.scopeOpsCache = m;
    }
    return this.scopeOpsCache.get(scope) ?? new Set();
  }

  /** Which of a scope's recurrent layers a node is (torch's `_l0`, `_l1`): the exporter writes one node per layer. */
  recurrentIndex(node: number): number {
    if (!this.recurrentIndexCache) {
      const m = new Map<number, number>();
      const seen = new Map<string, number>();
      this.nodes.forEach((n, i) => {
        if (!RECURRENT.has(n.opType)) return;
        const key = recurrentKey(n);
        const k = seen.get(key) ?? 0;
        seen.set(key, k + 1);
        m.set(i, k);
      });
      this.recurrentIndexCache = m;
      for (const [k, v] of seen) this.recurrentCount.set(k, v);
    }
    return this.recurrentIndexCache.get(node) ?? 0;
  }

  /** A decomposed norm: ReduceMean and a square root or division in the same scope. */
  private normScope(index: number): { scope: string; centred: boolean } | undefined {
    const scope = this.rawScope(index);
    if (scope === null || scope === '') return undefined;
    const ops = this.scopeOps(scope);
    if (!ops.has('ReduceMean') || !(ops.has('Sqrt') || ops.has('Reciprocal') || ops.has('Div'))) return undefined;
    return { scope, centred: ops.has('Sub') };
  }

  /** A node's uses of held tensors: its weight slots (see WEIGHT_SLOTS), a MatMul's bias, a decomposed norm's weight and bias. */
  private usesAt(i: number, n: GraphNode, dflt: boolean): void {
    const slots = dflt || n.domain === 'com.microsoft' ? SLOT_LIST.get(n.opType) : undefined;
    if (slots) {
      for (const [slot, role] of slots) {
        const input = n.inputs[slot];
        if (!input || !this.derived.has(input)) continue;
        const found = this.resolve(input).filter((r) => qualifies(n.opType, r.held.record));
        for (let k = 0; k < found.length; k++) {
          const r = found[k];
          this.addUse(r.held, { node: i, slot, role: found.length > 1 ? multiRole(n.opType, role, k, found.length) : role, transposed: r.transposed, direct: r.direct });
          this.weightNodes.add(i);
        }
      }
      return;
    }
    // A bias added right after a MatMul (a MatMul comes before its Add); a norm's weight and bias in a
    // decomposed norm; a GroupNorm's, per channel ([C, 1, 1]: unsqueezed to the input's rank, and
    // folded so by constant folding).
    if ((n.opType !== 'Add' && n.opType !== 'Mul') || n.inputs.length !== 2 || !dflt) return;
    const group = this.groupNormScope(i) !== undefined;
    const fits = (shape: number[]) => shape.length === 1 || (group && shape.length > 1 && shape.slice(1).every((d) => d === 1));
    for (let slot = 0; slot < 2; slot++) {
      const v = n.inputs[slot];
      const direct = this.held.get(v);
      if (!this.derived.has(v) || (direct && !fits(direct.record.shape))) continue;
      const found = this.resolve(v);
      if (found.length !== 1) continue;
      const h = found[0].held;
      if (!fits(h.record.shape) || !isFloating(h.record.dtype)) continue;
      const other = this.producer.get(n.inputs[1 - slot]);
      if (n.opType === 'Add' && other !== undefined && this.nodes[other].opType === 'MatMul' && this.weightNodes.has(other)) {
        if (h.record.shape.length !== 1) continue;
        this.addUse(h, { node: i, slot, role: 'bias', transposed: false, direct: found[0].direct });
        if (!this.matmulBias.has(other)) this.matmulBias.set(other, h);
      } else if (group || (h.record.shape.length === 1 && this.normScope(i))) {
        this.addUse(h, { node: i, slot, role: n.opType === 'Mul' ? 'weight' : 'bias', transposed: false, direct: found[0].direct });
      }
    }
  }

  /**
   * A GroupNorm as torch.onnx.export writes it (opsets before 18): the input reshaped to
   * [N, groups, -1], an InstanceNormalization of it with the exporter's ones and zeros of size
   * `groups` for scale and bias, reshaped back, then the module's weight and bias as a Mul and an
   * Add, all in the module's scope. The InstanceNormalization node, when a node is in such a scope.
   */
  private groupNormScope(index: number): GraphNode | undefined {
    const scope = this.rawScope(index);
    if (scope === null || scope === '') return undefined;
    const ops = this.scopeOps(scope);
    if (!ops.has('InstanceNormalization') || !ops.has('Reshape')) return undefined;
    if (!this.instanceNormsCache) {
      const m = new Map<string, number[]>();
      this.nodes.forEach((n, i) => {
        if (n.opType !== 'InstanceNormalization') return;
        const s = this.rawScope(i);
        if (s === null) return;
        const list = m.get(s);
        if (list) list.push(i);
        else m.set(s, [i]);
      });
      this.instanceNormsCache = m;
    }
    const norms = this.instanceNormsCache.get(scope) ?? [];
    return norms.length === 1 ? this.nodes[norms[0]] : undefined;
  }

  /**
   * Whether a held Constant is one torch.onnx.export made to fill a norm's scale or bias: a Constant
   * node it named in a module's scope (`/norm/Constant_1`, output `/norm/Constant_1_output_0`;
   * torch writes parameters as initializers, or as graph inputs without export_params, never so),
   * every path from it, through the ops that pass a tensor on (Expand and Tile: an InstanceNorm
   * with running statistics repeats them per sample), ending in a norm's scale or bias (its ones and
   * zeros for a norm without affine, a GroupNorm's per group) or a setting.
   */
  normFiller(h: HeldTensor): boolean {
    if (h.kind !== 'constant' || h.node === undefined || !isTorchConstant(this.nodes[h.node])) return false;
    let norm = false;
    const ends = (n: GraphNode, slot: number, node: number): boolean => {
      if ((NORM_OPS.has(n.opType) && (slot === 1 || slot === 2)) || ((n.opType === 'Mul' || n.opType === 'Add') && (this.groupNormScope(node) || this.normScope(node)))) {
        norm = true;
        return true;
      }
      return !!SETTING_SLOTS.get(n.opType)?.includes(slot);
    };
    return this.everyUseEndsIn(h.value, ends) && norm;
  }

  /** Forget a norm's filler (see normFiller), keeping its shape: a GroupNorm's says its number of groups. */
  dropFiller(h: HeldTensor): void {
    this.fillers.set(h.value, h.record.shape.slice());
    this.remove(h);
  }

  /** The name a use gives its tensor: `weight`, `bias`, `weight_ih_l0`... */
  roleName(u: Use): string {
    return RECURRENT.has(this.nodes[u.node].opType) ? `${u.role}_l${this.recurrentIndex(u.node)}` : u.role;
  }

  /**
   * Whether a tensor's undotted name is only the name of the one module whose layer op uses it (an
   * initializer called `c_attn`, used as the weight of /transformer/h.0/attn/c_attn/Gemm): a
   * module name the exporter kept, not a parameter name. A top-level parameter cannot share its
   * name with a module, so `cls_token` or `pos_embed` are never taken for one.
   */
  namesItsModule(h: HeldTensor): boolean {
    if (h.value.includes('.')) return false;
    const scopes = new Set((this.uses.get(h) ?? []).map((u) => this.scopeOf(u.node)));
    if (scopes.size !== 1) return false;
    const scope = [...scopes][0];
    return !!scope && scope.slice(scope.lastIndexOf('.') + 1) === h.value;
  }

  /**
   * Where a tensor without a model name belongs: under the module whose nodes use it (the common
   * module of several), named by its role there; under the layer node itself when nodes have no
   * scopes; null when nothing places it.
   */
  placement(h: HeldTensor): { name: string; how: string } | null {
    const uses = this.uses.get(h) ?? [];
    const scoped = uses.filter((u) => this.scopeOf(u.node) !== null);
    if (scoped.length) {
      const scope = commonPath(scoped.map((u) => this.scopeOf(u.node)!));
      const u = scoped[0];
      const leaf = this.roleName(u);
      return { name: scope ? `${scope}.${leaf}` : leaf, how: `${leaf} of ONNX ${this.nodes[u.node].opType} node ${this.nodes[u.node].name}` };
    }
    if (uses.length) {
      // No scopes (older exporters name nodes `Conv_143`): the layer node itself is the module.
      const u = uses[0];
      const n = this.nodes[u.node];
      const module = (n.name || `${n.opType}_${u.node}`).replace(/[./]/g, '_');
      const leaf = this.roleName(u);
      return { name: `${module}.${leaf}`, how: `${leaf} of ONNX ${n.opType} node ${n.name || `#${u.node}`} (no scope: placed under the node)` };
    }
    const nodes = this.consumersOf(h.value).map((c) => c.node).filter((i) => this.scopeOf(i) !== null);
    if (nodes.length) {
      const scope = commonPath(nodes.map((i) => this.scopeOf(i)!));
      const leaf = leafOf(h.value);
      return { name: scope ? `${scope}.${leaf}` : leaf, how: `used by ONNX node ${this.nodes[nodes[0]].name}${nodes.length > 1 ? ` and ${nodes.length - 1} more` : ''}` };
    }
    return null;
  }

  /**
   * Layer types by module path, from the ops that use each module's tensors. `nameOf` gives a
   * held tensor's final name; `exporterMade` whether the exporter (not the model) named it.
   */
  layers(nameOf: (h: HeldTensor) => string | undefined, exporterMade: (h: HeldTensor) => boolean): Record<string, LayerHint> {
    // Which module each node describes: its tensor's own, or another that uses it (a tied head).
    // A tensor used from many modules is shared input, not a tie: those modules are not described by it.
    const found: { node: number; key: string; primary: HeldTensor }[] = [];
    for (const [h, us] of this.uses) {
      const name = nameOf(h);
      if (name === undefined) continue;
      const own = parentPath(name);
      const foreign = new Set<string>();
      const mine: { node: number; key: string; primary: HeldTensor; foreign: boolean }[] = [];
      // The first uses say which modules a tensor describes; one used by dozens of layers is shared input.
      for (const u of us.length > MAX_LAYER_USES ? us.slice(0, MAX_LAYER_USES) : us) {
        if (!namesLayer(this.nodes[u.node], u)) continue;
        const scope = this.scopeOf(u.node);
        if (scope !== null && scope !== '' && scope !== own && !own.endsWith('.' + scope)) {
          if (foreign.size <= MAX_FOREIGN_SCOPES) foreign.add(scope);
          mine.push({ node: u.node, key: scope, primary: h, foreign: true });
        } else mine.push({ node: u.node, key: own, primary: h, foreign: false });
      }
      for (const c of mine) if (!c.foreign || foreign.size <= MAX_FOREIGN_SCOPES) found.push(c);
    }
    found.sort((a, b) => a.node - b.node);
    const out: Record<string, LayerHint> = Object.create(null);
    for (const f of found) {
      if (f.key === '' || f.key in out) continue;
      const made = this.layerOf(this.nodes[f.node], f.node, this.usesByNode.get(f.node) ?? [], exporterMade);
      if (made && made.primary === f.primary) out[f.key] = made.hint;
    }
    return out;
  }

  private layerOf(
    n: GraphNode,
    index: number,
    list: { h: HeldTensor; u: Use }[],
    exporterMade: (h: HeldTensor) => boolean,
  ): { hint: LayerHint; primary: HeldTensor } | undefined {
    const at = (slot: number) => list.find((x) => x.u.slot === slot);
    const label = n.name || `#${index}`;
    const op = n.opType;
    const evidence = (what: string) => `ONNX ${op} node ${label}${what ? ` (${what})` : ''}`;
    if (op === 'Gemm' || op === 'MatMul') {
      const w = at(1);
      if (!w || w.h.record.shape.length !== 2) return undefined;
      const bias = op === 'Gemm' ? at(2)?.h : this.matmulBias.get(index);
      const transB = op === 'Gemm' && numAttr(n, 'transB', 0) !== 0;
      const [a, b] = w.h.record.shape;
      const hasBias = bias ? 'True' : 'False';
      // Stored [out, in] as nn.Linear keeps it: the op (transB) or a Transpose node flips it.
      if (transB !== w.u.transposed) {
        const via = transB ? 'transB=1' : 'through a Transpose node';
        return { primary: w.h, hint: { type: 'Linear', repr: `Linear(in_features=${b}, out_features=${a}, bias=${hasBias})`, evidence: evidence(`${via}: weight [out=${a}, in=${b}]`) } };
      }
      // Used as stored, [in, out]: a weight the exporter transposed for the op (constant folding),
      // or a module that keeps it that way (transformers' Conv1D).
      if (exporterMade(w.h)) {
        return { primary: w.h, hint: { type: 'Linear', repr: `Linear(in_features=${a}, out_features=${b}, bias=${hasBias})`, evidence: evidence(`weight stored transposed [in=${a}, out=${b}] by the exporter`) } };
      }
      const name = n.name ? nodeScope(n.name)?.split('.').pop() : undefined;
      if (name && CONV1D_NAMES.has(name)) {
        return { primary: w.h, hint: { type: 'Conv1D', repr: `Conv1D(nf=${b}, nx=${a})`, evidence: evidence(`weight [in=${a}, out=${b}] used as stored: transformers' Conv1D`) } };
      }
      return { primary: w.h, hint: { type: 'Linear', repr: `Linear(in_features=${a}, out_features=${b}, bias=${hasBias})`, evidence: evidence(`weight [in=${a}, out=${b}] used as stored (x @ W), not nn.Linear's [out, in]`) } };
    }
    const slot = PRIMARY_SLOT[op];
    // A BatchNorm without affine: the exporter fills the scale (not a weight), the running mean names it.
    const p = slot === undefined ? undefined : (at(slot) ?? (op === 'BatchNormalization' && !at(2) ? at(3) : undefined));
    if (op === 'Mul' || op === 'Add') return this.decomposedNorm(n, index, list);
    if (!p) return undefined;
    const shape = p.h.record.shape;
    const hint = (type: string, repr: string, what = ''): { hint: LayerHint; primary: HeldTensor } => ({ primary: p.h, hint: { type, repr, evidence: evidence(what) } });
    switch (op) {
      case 'Conv':
      case 'ConvTranspose': {
        const d = shape.length - 2;
        if (d < 1 || d > 3) return undefined;
        const group = numAttr(n, 'group', 1);
        const kernel = intsAttr(n, 'kernel_shape') ?? shape.slice(2);
        const strides = intsAttr(n, 'strides') ?? Array(d).fill(1);
        const dilations = intsAttr(n, 'dilations') ?? Array(d).fill(1);
        const pads = intsAttr(n, 'pads') ?? Array(2 * d).fill(0);
        const autoPad = strAttr(n, 'auto_pad') ?? 'NOTSET';
        const [inC, outC] = op === 'Conv' ? [shape[1] * group, shape[0]] : [shape[0], shape[1] * group];
        let s = `${op === 'Conv' ? 'Conv' : 'ConvTranspose'}${d}d(${inC}, ${outC}, kernel_size=${tuple(kernel)}, stride=${tuple(strides)}`;
        let note = '';
        const begin = pads.slice(0, d);
        if (autoPad.startsWith('SAME')) s += `, padding='same'`;
        else if (autoPad !== 'VALID' && pads.some((x) => x !== 0)) {
          s += `, padding=${tuple(begin)}`;
          if (pads.slice(d).some((x, i) => x !== begin[i])) note = `; pads [${pads.join(', ')}] are not symmetric`;
        }
        const outPad = intsAttr(n, 'output_padding');
        if (op === 'ConvTranspose' && outPad?.some((x) => x !== 0)) s += `, output_padding=${tuple(outPad)}`;
        if (dilations.some((x) => x !== 1)) s += `, dilation=${tuple(dilations)}`;
        if (group !== 1) s += `, groups=${group}`;
        if (!at(2)) s += ', bias=False';
        return hint(`${op === 'Conv' ? 'Conv' : 'ConvTranspose'}${d}d`, s + ')', `weight [${shape.join(', ')}], group=${group}${note}`);
      }
      case 'Gather':
        if (shape.length !== 2 || !isFloating(p.h.record.dtype)) return undefined;
        return hint('Embedding', `Embedding(${shape[0]}, ${shape[1]})`, `rows of a [${shape.join(', ')}] table`);
      case 'LayerNormalization':
      case 'SkipLayerNormalization': {
        const e = numAttr(n, 'epsilon', 1e-5);
        const bias = at(op === 'LayerNormalization' ? 2 : 3);
        return hint('LayerNorm', `LayerNorm(${tuple(shape)}, eps=${eps(e)}, elementwise_affine=True${bias ? '' : ', bias=False'})`, `epsilon=${eps(e)}`);
      }
      case 'SimplifiedLayerNormalization':
      case 'SkipSimplifiedLayerNormalization':
      case 'RMSNormalization': {
        const e = numAttr(n, 'epsilon', 1e-5);
        return hint('RMSNorm', `RMSNorm(${tuple(shape)}, eps=${eps(e)})`, `epsilon=${eps(e)}`);
      }
      case 'BatchNormalization': {
        const e = numAttr(n, 'epsilon', 1e-5);
        // ONNX keeps the running average with weight `momentum`; torch gives the new batch 1 - that.
        const m = 1 - Number(numAttr(n, 'momentum', 0.9).toPrecision(6));
        const affine = p.u.slot === 1 ? 'True' : 'False';
        const what = `epsilon=${eps(e)}${p.u.slot === 1 ? '' : '; no scale and bias: affine=False'}`;
        // torch.onnx.export writes an InstanceNorm with running statistics as a BatchNormalization
        // over batch × channels, its tensors repeated per sample (Tile).
        if (this.path(n.inputs[p.u.slot] ?? '').includes('Tile')) {
          return hint('InstanceNorm', `InstanceNorm(${shape[0]}, eps=${eps(e)}, momentum=${eps(m)}, affine=${affine}, track_running_stats=True)`, `${what}; its tensors repeated per sample (Tile): an InstanceNorm with running statistics`);
        }
        return hint('BatchNorm', `BatchNorm(${shape[0]}, eps=${eps(e)}, momentum=${eps(m)}, affine=${affine}, track_running_stats=True)`, what);
      }
      case 'InstanceNormalization': {
        const e = numAttr(n, 'epsilon', 1e-5);
        return hint('InstanceNorm', `InstanceNorm(${shape[0]}, eps=${eps(e)}, momentum=0.1, affine=True, track_running_stats=False)`, `epsilon=${eps(e)}`);
      }
      case 'GroupNormalization': {
        const e = numAttr(n, 'epsilon', 1e-5);
        const groups = numAttr(n, 'num_groups', 1);
        return hint('GroupNorm', `GroupNorm(${groups}, ${shape[0]}, eps=${eps(e)}, affine=True)`, `num_groups=${groups}, epsilon=${eps(e)}`);
      }
      case 'PRelu':
        return hint('PReLU', `PReLU(num_parameters=${shape.reduce((a, b) => a * b, 1)})`);
      case 'LSTM':
      case 'GRU':
      case 'RNN': {
        const hidden = numAttr(n, 'hidden_size', 0);
        const input = shape[shape.length - 1];
        if (!hidden || !input) return undefined;
        this.recurrentIndex(index);
        const layers = this.recurrentCount.get(recurrentKey(n)) ?? 1;
        const bidirectional = strAttr(n, 'direction') === 'bidirectional';
        let s = `${op}(${input}, ${hidden}`;
        if (layers > 1 && nodeScope(n.name) !== null) s += `, num_layers=${layers}`;
        if (!at(3)) s += ', bias=False';
        if (bidirectional) s += ', bidirectional=True';
        return hint(op, s + ')', `hidden_size=${hidden}${p.u.direct ? '' : `, weights reached through ${this.path(n.inputs[1])}`}`);
      }
      default:
        return undefined;
    }
  }

  /** A norm the exporter wrote as ReduceMean, Sub, Pow, Sqrt, Div, Mul, Add (opsets before 17). */
  private decomposedNorm(n: GraphNode, index: number, list: { h: HeldTensor; u: Use }[]): { hint: LayerHint; primary: HeldTensor } | undefined {
    if (n.opType !== 'Mul') return undefined;
    const w = list.find((x) => x.u.role === 'weight');
    if (!w) return undefined;
    const inst = this.groupNormScope(index);
    if (inst) {
      // The number of groups is the size of the exporter's scale for the InstanceNormalization.
      const groups = this.fillers.get(inst.inputs[1] ?? '')?.[0];
      if (groups === undefined) return undefined;
      const e = numAttr(inst, 'epsilon', 1e-5);
      const label = n.name || `#${index}`;
      return {
        primary: w.h,
        hint: {
          type: 'GroupNorm',
          repr: `GroupNorm(${groups}, ${w.h.record.shape[0]}, eps=${eps(e)}, affine=True)`,
          evidence: `ONNX InstanceNormalization node ${inst.name} over ${groups} groups (epsilon=${eps(e)}) and the weight used by ${label}: a GroupNorm as torch.onnx.export writes it`,
        },
      };
    }
    const norm = this.normScope(index);
    if (!norm) return undefined;
    const size = w.h.record.shape[0];
    const ops = [...this.scopeOps(norm.scope)].join(', ');
    const label = n.name || `#${index}`;
    const evidence = `ONNX nodes in ${norm.scope} (${ops}): a norm the exporter decomposed; its epsilon is a constant in the graph, not read`;
    if (norm.centred) return { primary: w.h, hint: { type: 'LayerNorm', repr: `LayerNorm((${size},), eps=1e-05, elementwise_affine=True)`, evidence: `${evidence}; weight used by ${label}` } };
    return { primary: w.h, hint: { type: 'RMSNorm', repr: `RMSNorm((${size},), eps=1e-06)`, evidence: `${evidence}; weight used by ${label}` } };
  }

  /** The ops a value came through, for evidence: `Unsqueeze ← Concat ← Slice`. */
  private path(value: string): string {
    const ops: string[] = [];
    let v = value;
    for (let i = 0; i < 4; i++) {
      const n = this.producerOf(v);
      if (!n || !PASS_THROUGH.has(n.opType)) break;
      ops.push(n.opType);
      v = n.inputs[0] ?? '';
    }
    return ops.join(' ← ') || 'other nodes';
  }
}

/** Whether a sorted list holds a string starting with `prefix` (or, `exact`, equal to it): the first at or after it, by binary search. */
function hasPrefixed(sorted: string[], prefix: string, exact = false): boolean {
  const at = sorted[lowerBound(sorted, prefix)];
  return at !== undefined && (exact ? at === prefix : at.startsWith(prefix));
}

/** Lists of uses merge appended to (each with its greatest use) and the MatMul nodes whose bias each tensor is (see repeatedCalls). */
interface Merged {
  lists: Map<Use[], Use>;
  biasOf: Map<HeldTensor, number[]>;
}

function byNodeSlot(a: Use, b: Use): number {
  return a.node - b.node || a.slot - b.slot;
}

/** A use's role and scope as one key (roles never hold a NUL; no scope is a key without one). */
function useKey(role: string, scope: string | null): string {
  return scope === null ? role : `${role}\u0000${scope}`;
}

/** Whether a use is of the tensor naming the layer a node is: its weight (see PRIMARY_SLOT), a decomposed norm's scale. */
function namesLayer(n: GraphNode, u: Use): boolean {
  const slot = n.opType === 'Gemm' || n.opType === 'MatMul' ? 1 : PRIMARY_SLOT[n.opType];
  // A BatchNorm's running mean names it when it has no scale (affine=False; see layerOf).
  if (n.opType === 'BatchNormalization' && u.slot === 3) return true;
  if (slot !== undefined) return u.slot === slot;
  return n.opType === 'Mul' && u.role === 'weight';
}

/** Recurrent nodes of one op in one scope of one graph are the layers of one module. */
function recurrentKey(n: GraphNode): string {
  return `${n.opType}\u0000${n.graph}\u0000${nodeScope(n.name) ?? n.name}`;
}

/** Whether a held tensor can fill a layer op's weight slot. */
function qualifies(op: string, t: TensorRecord): boolean {
  if (op === 'MatMul') return t.shape.length >= 2 && isFloating(t.dtype);
  if (op === 'Gather') return t.shape.length >= 2 && isFloating(t.dtype);
  return true;
}

/** Roles when one slot is made of several tensors (torch's bias_ih and bias_hh concatenated into B). */
function multiRole(op: string, role: string, k: number, count: number): string {
  if (RECURRENT.has(op) && role === 'bias' && count === 2) return k === 0 ? 'bias_ih' : 'bias_hh';
  return `${role}_${k}`;
}

/** A leaf name from a value name the exporter made: `onnx::Where_421` → `Where_421`. */
function leafOf(value: string): string {
  let s = value.startsWith('onnx::') ? value.slice(6) : value;
  const slash = s.lastIndexOf('/');
  if (slash >= 0 && slash < s.length - 1) s = s.slice(slash + 1);
  return s.replace(/\./g, '_') || 'tensor';
}
