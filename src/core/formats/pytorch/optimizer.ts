/**
 * A training checkpoint's optimizer as evidence of which state-dict entries are parameters.
 *
 * A state dict does not say whether a float tensor is a parameter or a buffer: the role rules
 * (roles.ts) make a float tensor with no buffer pattern a parameter by default, so a buffer with a
 * name of the user's own (`register_buffer('center', ...)`) is counted as one. A checkpoint that
 * also holds `optimizer.state_dict()` says how many parameters the optimizer was given
 * (`param_groups[*].params`, numbered 0..N-1 across the groups in order) and, for each one that has
 * state, its shape (Adam's `exp_avg`, SGD's `momentum_buffer`...). When the optimizer was built on
 * the model's parameters, each group lists them in the state dict's order, buffers left out.
 *
 * The state-dict entries the optimizer does not cover are buffers only if they are not frozen
 * parameters the optimizer was not given (fine-tuning passes only the trainable ones): a frozen
 * parameter and a buffer are the same thing to a state dict. So entries become buffers only when
 * - the checkpoint holds one model state dict and one torch.optim state dict, and each group's
 *   parameter shapes fall into the entries counted as parameters (ties once) in order, in exactly
 *   one way, the entries left over being as many as the optimizer is short;
 * - no entry left over has a parameter's name (`weight`, `bias`, `in_proj_weight`, `weight_ih_l0`,
 *   `cls_token`, `pos_embed`, `alpha`, a ParameterList's `0`...: those are what frozen parameters
 *   are called), and none precedes a covered parameter of its own module (a module's state dict
 *   writes its parameters before its buffers, so an entry followed by one of its module's
 *   parameters is a parameter);
 * - every parameter of the optimizer has state giving its shape: one without (an optimizer never
 *   stepped, SGD without momentum, a parameter that got no gradient) could stand for any entry.
 * Otherwise roles are left as the rules decided them, and a count the optimizer disagrees with gets
 * the warning `optimizer-parameter-count`. What the rule cannot see: a frozen parameter with a name
 * of the user's own, last in its module, beside an optimizer given only the trainable parameters,
 * is to a state dict a buffer, and is taken for one.
 */
import { sameDims } from '../../coverage';
import { Warning } from '../../model';
import { decideRole, siblingsOf } from '../../roles';
import { PyDict, PyList, PyTuple, PyValue } from './pickle';
import { NamedTensor, TorchTensor } from './torch';
import { lowerBound, upperBound } from '../../sorted';

/** An optimizer's state_dict() as torch.optim writes it. */
interface OptimizerLayout {
  /** Each group's parameters, as the shapes their state gives (undefined: no state). */
  groups: (number[] | undefined)[][];
  /** Parameters in all groups. */
  count: number;
}

/** State entries holding a tensor of the parameter's shape, in torch.optim's optimizers. */
const PARAM_SHAPED = new Set([
  'exp_avg', // Adam, AdamW, Adamax, NAdam, RAdam
  'exp_avg_sq', // Adam, AdamW, NAdam, RAdam
  'max_exp_avg_sq', // Adam(amsgrad=True)
  'momentum_buffer', // SGD with momentum, RMSprop with momentum
  'square_avg', // RMSprop, Adadelta
  'grad_avg', // RMSprop(centered=True)
  'acc_delta', // Adadelta
  'sum', // Adagrad
  'exp_inf', // Adamax
  'ax', // ASGD
  'prev', // Rprop
  'step_size', // Rprop
]);

/**
 * The layout of `v` when it is torch.optim's: `param_groups` a list of dicts whose `params` are
 * integers numbering 0..N-1 in order, `state` a dict from those integers to dicts. A parameter's
 * shape is that of its state tensors above (all must agree). Anything else gives undefined.
 */
function optimizerLayout(v: PyValue | undefined): OptimizerLayout | undefined {
  if (!(v instanceof PyDict)) return undefined;
  const pg = v.get('param_groups');
  const st = v.get('state');
  if (!(pg instanceof PyList || pg instanceof PyTuple) || !(st instanceof PyDict)) return undefined;
  const index: number[][] = [];
  let count = 0;
  for (const g of pg.items) {
    if (!(g instanceof PyDict)) return undefined;
    const ps = g.get('params');
    if (!(ps instanceof PyList || ps instanceof PyTuple)) return undefined;
    const ids: number[] = [];
    for (const p of ps.items) {
      const i = typeof p === 'bigint' ? Number(p) : p;
      if (i !== count) return undefined;
      ids.push(count++);
    }
    index.push(ids);
  }
  const shapes = new Array<number[] | undefined>(count);
  for (const [k, s] of st.entries()) {
    const i = typeof k === 'bigint' ? Number(k) : k;
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= count || !(s instanceof PyDict)) return undefined;
    for (const [name, t] of s.entries()) {
      if (typeof name !== 'string' || !PARAM_SHAPED.has(name) || !(t instanceof TorchTensor)) continue;
      if (shapes[i] === undefined) shapes[i] = t.shape;
      else if (!sameDims(shapes[i], t.shape)) return undefined;
    }
  }
  return { groups: index.map((ids) => ids.map((i) => shapes[i])), count };
}

/**
 * Local names frozen parameters have: standard layers' (`weight`, `bias`, `in_proj_weight`,
 * `weight_ih_l0`, `weight_orig`, parametrizations' `original`), common custom ones (`cls_token`,
 * `pos_embed`, `gamma`, `alpha`, `logit_scale`, `temperature`, `query`, JAX ports' `kernel`, Mamba's
 * `A_log` and `D`), and a ParameterList's `0`, `1`... A name with a buffer's word in it (`scale_buf`,
 * `running_x`, `ema_val`) is not one.
 */
const PARAMETER_NAME = /weight|bias|embed|token|gamma|beta|alpha|scale|temperature|logit|prompt|quer|kernel|lora|orig|codebook|param|(^|_)log(_|$)|^\d+$|^.$/i;
const BUFFER_WORD = /buf|stat|running|ema|avg|mean|var|std|count|cache|const/i;

function hasParameterName(name: string): boolean {
  const local = name.slice(name.lastIndexOf('.') + 1);
  return PARAMETER_NAME.test(local) && !BUFFER_WORD.test(local);
}

/** Entries left over of more than this are not looked for (a frozen backbone, not a few buffers). */
const MAX_LEFT_OVER = 64;

/** A state-dict entry the rules count as a parameter, in the state dict's order. */
interface Candidate {
  t: NamedTensor;
  /** Its module's run: consecutive entries of one module (a module writes its own entries together). */
  run: number;
  /** Named as parameters are: never left over. */
  named: boolean;
  /** Covered by a group already settled (isolation step). */
  taken: boolean;
}

/**
 * Settle the roles of `model` (a state dict's entries, in its order) with the optimizer state dict
 * `opt` found under `key`, in place; `all` are all the checkpoint's tensors, for the role rules.
 */
export function rolesFromOptimizer(model: NamedTensor[], all: NamedTensor[], opt: PyValue, key: string, warnings: Warning[]): void {
  if (model.length === 0 || model.some((t) => t.role !== undefined)) return;
  const layout = optimizerLayout(opt);
  if (!layout || layout.count === 0) return;
  const siblings = siblingsOf(all);
  const candidates: Candidate[] = [];
  const first = new Map<string, NamedTensor>();
  const copies: { t: NamedTensor; of: NamedTensor }[] = [];
  let run = -1;
  let prefix: string | undefined;
  for (const t of model) {
    // decideRole reads the name, dtype and shape.
    const d = decideRole({ name: t.name, dtype: t.tensor.dtype, shape: t.tensor.shape } as Parameters<typeof decideRole>[0], siblings);
    if (d.role !== 'parameter') continue;
    const p = t.name.slice(0, t.name.lastIndexOf('.') + 1);
    if (p !== prefix) {
      prefix = p;
      run++;
    }
    // A tied parameter is one parameter under two names: parameters() yields it once.
    const s = t.tensor.storage;
    if (s) {
      const id = `${s.id}\0${t.tensor.offset}\0${t.tensor.shape.join(',')}\0${t.tensor.stride?.join(',') ?? ''}`;
      const of = first.get(id);
      if (of) {
        copies.push({ t, of });
        continue;
      }
      first.set(id, t);
    }
    candidates.push({ t, run, named: hasParameterName(t.name), taken: false });
  }
  const n = candidates.length;
  const left = n - layout.count;
  if (left === 0) return;
  const said = `the optimizer under "${key}" was given ${layout.count} parameter${layout.count === 1 ? '' : 's'}, and the model's state dict has ${n} tensor${n === 1 ? '' : 's'} counted as parameters (ties once)`;
  const warn = (why: string): void => {
    warnings.push({ code: 'optimizer-parameter-count', message: `${said}: ${why}; roles are left as the rules decided them` });
  };
  if (left < 0) return warn('the optimizer also holds parameters the state dict does not, or an entry counted as a buffer is a parameter');
  if (left > MAX_LEFT_OVER) return warn(`the ${left} left over are frozen parameters (the optimizer given only the trainable ones) or buffers, which a state dict cannot tell apart`);
  // A parameter without state (an optimizer never stepped, SGD without momentum, a parameter that
  // got no gradient) has no shape: it could stand for any entry, frozen or trainable, named or
  // not, and a matching that leans on it is a guess (an adversarial sweep found such guesses
  // wrong where the rules had been right).
  const groups = layout.groups;
  if (!everyShaped(groups)) {
    const stateless = groups.reduce((k, g) => k + g.filter((q) => q === undefined).length, 0);
    if (stateless === layout.count) return warn(`no parameter has optimizer state yet (an optimizer never stepped, or SGD without momentum), so no shapes say which ${left} are left over`);
    return warn(`${stateless} of its parameters have no optimizer state (no gradient when it stepped), so no shapes say which ${left} are left over`);
  }
  const out = align(candidates, groups, left);
  if (out === 'none') return warn(`no matching of its parameters to them in order by shape leaves over only tensors that can be buffers (without a parameter's name such as weight or bias, and after their module's parameters): frozen parameters the optimizer was not given, which a state dict cannot tell from buffers, or groups in another order`);
  if (out === 'several') return warn(`its parameters match them in order by shape in more than one way, so which ${left} are left over is not known`);
  if (out === 'rounds') return warn(`its ${groups.length} parameter groups did not settle in ${MAX_ROUNDS} rounds of matching, so which ${left} are left over was not worked out`);
  const reason = `the optimizer under "${key}" covers ${layout.count} parameter${layout.count === 1 ? '' : 's'} of the model (the shapes of its state match them in order in one way only), and this tensor is not one of them: a buffer (a Parameter frozen and left out of the optimizer would look the same)`;
  const buffers = new Set<NamedTensor>();
  for (const c of out) {
    c.t.role = 'buffer';
    c.t.roleReason = reason;
    buffers.add(c.t);
  }
  for (const { t, of } of copies) {
    if (!buffers.has(of)) continue;
    t.role = 'buffer';
    t.roleReason = reason;
  }
}

/** Whether every parameter of every group has a shape from its state. */
function everyShaped(groups: (number[] | undefined)[][]): groups is number[][][] {
  return groups.every((g) => g.every((q) => q !== undefined));
}

const fits = (q: number[], c: Candidate): boolean => sameDims(q, c.t.tensor.shape);

/**
 * Rounds of settling groups (align). Each round settles at least one group or ends; real
 * optimizers settle in one or two (decay / no_decay, a group per layer). A file whose groups
 * settle one per round, round after round, is built to cost time: past this many it is not
 * matched.
 */
const MAX_ROUNDS = 16;

/**
 * The entries left over when the optimizer's groups are matched to the candidates, if exactly one
 * matching exists. One group (an optimizer built on model.parameters(), or on its trainable ones)
 * lists them in the model's order. Several groups (decay / no_decay, one per part of the model)
 * each list theirs in that order but may interleave: a group that fits the entries not yet taken
 * in one way only (its earliest and latest placements agree) is settled, as it must be so in any
 * matching of all of them; the last group is then matched with the others' places taken.
 * 'rounds': the groups did not settle within MAX_ROUNDS.
 */
function align(candidates: Candidate[], groups: number[][][], left: number): Candidate[] | 'none' | 'several' | 'rounds' {
  if (groups.length === 1) return matchOnce(candidates, groups[0], left);
  // Several groups: each follows the model's order, but they may interleave (decay / no_decay), so
  // their concatenation is no evidence. Settle those that fit one way, then the last one.
  let pending = groups;
  for (let round = 0; ; round++) {
    if (round === MAX_ROUNDS) return 'rounds';
    const free = new FreeByShape(candidates.filter((c) => !c.taken));
    const next: typeof pending = [];
    for (const g of pending) {
      const early = free.place(g, false);
      const late = free.place(g, true);
      if (!early || !late) return 'none'; // not in the model's order
      if (!early.every((c, i) => c === late[i])) {
        next.push(g);
        continue;
      }
      // Two groups settled on one entry: no matching of them all exists.
      if (early.some((c) => c.taken)) return 'none';
      for (const c of early) c.taken = true;
    }
    if (next.length <= 1 || next.length === pending.length) {
      pending = next;
      break;
    }
    pending = next;
  }
  if (pending.length > 1) return 'several';
  return matchOnce(candidates, pending[0] ?? [], left);
}

const shapeKey = (shape: readonly number[]): string => shape.join(',');

/**
 * The candidates not yet taken, and where each shape comes among them: a group's earliest (or
 * latest) placement in order costs a binary search per parameter, not a scan of the entries (a
 * group per parameter, over a model of 100,000 entries, would otherwise take their product).
 */
class FreeByShape {
  private readonly at = new Map<string, number[]>();
  constructor(private readonly free: Candidate[]) {
    for (let i = 0; i < free.length; i++) {
      const k = shapeKey(free[i].t.tensor.shape);
      const list = this.at.get(k);
      if (list) list.push(i);
      else this.at.set(k, [i]);
    }
  }

  /** The earliest (or latest) places of `q` in order among the free candidates, or undefined if it does not fit. */
  place(q: number[][], late: boolean): Candidate[] | undefined {
    const out = new Array<Candidate>(q.length);
    let p = late ? this.free.length : -1;
    for (let k = 0; k < q.length; k++) {
      const j = late ? q.length - 1 - k : k;
      const list = this.at.get(shapeKey(q[j]));
      if (!list) return undefined;
      // The last free entry of the shape before p, or the first after it.
      const at = late ? lowerBound(list, p) - 1 : upperBound(list, p);
      if (at < 0 || at >= list.length) return undefined;
      p = list[at];
      out[j] = this.free[p];
    }
    return out;
  }
}

/**
 * Match `q` in order to the candidates not taken, `left` of them left over, where an entry left
 * over has no parameter's name and is followed by no covered entry of its module (taken ones
 * count as covered). Returns the entries left over if exactly one matching exists. Counted by dynamic programming over (place, entries left over so
 * far, whether the current module has one), capped at 2.
 */
function matchOnce(candidates: Candidate[], q: number[][], left: number): Candidate[] | 'none' | 'several' {
  const n = candidates.length;
  const width = (left + 1) * 2;
  // ways[i][d*2+f]: matchings of candidates i.. given d left over before i and f (one left over in i-1's run).
  const ways = new Uint8Array((n + 1) * width);
  ways[n * width + left * 2] = 1;
  ways[n * width + left * 2 + 1] = 1;
  const taken = (i: number) => candidates[i].taken;
  // j (the next of q) is i - d - (taken before i): precomputed.
  const takenBefore = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) takenBefore[i + 1] = takenBefore[i] + (taken(i) ? 1 : 0);
  for (let i = n - 1; i >= 0; i--) {
    const c = candidates[i];
    const newRun = i === 0 || candidates[i - 1].run !== c.run;
    for (let d = 0; d <= left; d++) {
      const j = i - d - takenBefore[i];
      for (let f = 0; f < 2; f++) {
        const inRun = newRun ? 0 : f;
        let w = 0;
        if (c.taken) {
          if (!inRun) w += ways[(i + 1) * width + d * 2];
        } else {
          if (!inRun && j >= 0 && j < q.length && fits(q[j], c)) w += ways[(i + 1) * width + d * 2];
          if (!c.named && d < left) w += ways[(i + 1) * width + (d + 1) * 2 + 1];
        }
        ways[i * width + d * 2 + f] = Math.min(w, 2);
      }
    }
  }
  const total = ways[0];
  if (total === 0) return 'none';
  if (total > 1) return 'several';
  // The one matching: follow the transitions that lead to it.
  const out: Candidate[] = [];
  let d = 0;
  let f = 0;
  for (let i = 0; i < n; i++) {
    const c = candidates[i];
    const inRun = i === 0 || candidates[i - 1].run !== c.run ? 0 : f;
    const j = i - d - takenBefore[i];
    if (c.taken) {
      f = 0;
      continue;
    }
    if (!inRun && j >= 0 && j < q.length && fits(q[j], c) && ways[(i + 1) * width + d * 2] > 0) {
      f = 0;
      continue;
    }
    out.push(c);
    d++;
    f = 1;
  }
  return out;
}
