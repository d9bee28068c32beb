/**
 * GPTQ (AutoGPTQ, GPTQModel, transformers/optimum). Packing rules (docs/quantization.md, GPTQ):
 *
 * - `qweight`: [in_features // P * bits, out_features], P = bits of the pack dtype (int32 by
 *   default; GPTQModel's `pack_dtype` may be int8/int16/int64). Packed along in_features:
 *   32 // bits values per int32 for 2/4/8 bits; for 3 bits, 32 values in 3 consecutive words.
 * - `qzeros`: [ceil(in / group_size), out // P * bits], packed along out_features.
 * - `scales`: [ceil(in / group_size), out], float16. group_size -1 means one group (in).
 * - `g_idx`: [in], int32: the group of each input column (act-order). Its length is in_features.
 * - `bias`: [out], float16, optional.
 * - `checkpoint_format` `gptq` (zero points stored minus one) and `gptq_v2` have this same layout;
 *   exllama/exllamav2/triton kernels repack at load time and save the same layout.
 * - `marlin` (AutoGPTQ's marlin format, vLLM's `quant_method: marlin`): `B` (or `qweight`)
 *   [in / 16, out * 16 * bits / 32] int32 and `s` (or `scales`) [in / group_size, out], no zeros.
 * - GPTQModel's `dynamic`: {pattern: overrides} per module, in order, the first whose Python
 *   regex matches the start of the module's name deciding (`+:` or no prefix: the overrides'
 *   `bits` / `group_size` replace the config's; `-:`: the module is left unquantized).
 */
import { QuantLayer } from '../model';
import { isObj, num, str, QuantConfig } from './config';
import { bitsOf, DetectContext, Detector, isDim, isIntDtype, LayerView, Recognised, Unreadable } from './common';

const GPTQ_BITS = new Set([2, 3, 4, 8]);

export const gptq: Detector = (view, qc, ctx) => {
  const qweight = view.tensors.get('qweight');
  const format = str(qc?.cfg.checkpoint_format) ?? str(qc?.cfg.format);
  if (qweight && isIntDtype(qweight.dtype) && qweight.shape.length === 2) {
    const classic = classicLayout(view, qc, ctx);
    if (classic) return classic;
    if (format === 'marlin' || qc?.method === 'gptq') {
      const m = marlinLayout(view, qc, 'qweight', 'scales');
      if (m && !('unreadable' in m)) return m;
    }
    return undefined;
  }
  const B = view.tensors.get('B');
  if (B && view.tensors.get('s') && isIntDtype(B.dtype)) return marlinLayout(view, qc, 'B', 's');
  return undefined;
};

function cfgBits(qc: QuantConfig | undefined): number | undefined {
  return num(qc?.cfg.bits) ?? num(qc?.cfg.w_bit) ?? num(qc?.cfg.wbits);
}

function cfgGroup(qc: QuantConfig | undefined): number | undefined {
  return num(qc?.cfg.group_size) ?? num(qc?.cfg.q_group_size) ?? num(qc?.cfg.groupsize);
}

/** Patterns of a `dynamic` config at most, and characters per pattern: a config's are a handful of short ones. */
const MAX_DYNAMIC = 64;
const MAX_PATTERN = 256;
/** Module names longer than this are not matched (a real one is under 100 characters). */
const MAX_SUBJECT = 256;
/**
 * Work allowed for matching per checkpoint, as the sum over tests of the name's length squared
 * (a pattern passing `safePattern` costs at most about that): a few seconds at worst.
 */
const MATCH_BUDGET = 2e9;

interface DynamicRule {
  skip: boolean;
  re: RegExp;
  bits?: number;
  groupSize?: number;
}
interface DynamicRun {
  rules: DynamicRule[];
  /** Patterns refused, worded for the notes (said once per checkpoint, on the first layer it concerns). */
  refused: string[];
  budget: number;
}
const DYNAMIC = new WeakMap<DetectContext, DynamicRun>();

/**
 * Whether a regex, run by JavaScript's backtracking engine on a name of at most MAX_SUBJECT
 * characters, stays cheap: no backreferences or lookarounds, no quantified group (`(a+)+`,
 * `(a|a)*`: exponential), and once the `.*` at either end is taken off (a match only tests the
 * name's start, so a trailing `.*` decides nothing, and a leading one makes the test a search) at
 * most one repetition left, so that a test costs at most about the name's length squared.
 * What it refuses is reported, not matched.
 */
function safePattern(p: string): { source: string; search: boolean } | string {
  if (p.length > MAX_PATTERN) return `longer than ${MAX_PATTERN} characters`;
  if (/\\[1-9k]|\(\?[=!<]/.test(p)) return 'uses a backreference or lookaround';
  if (/\)[*+{]/.test(p)) return 'repeats a group';
  let source = p;
  let search = false;
  while (source.startsWith('.*')) {
    source = source.slice(2);
    search = true;
  }
  while (source.endsWith('.*') && !source.endsWith('\\.*')) source = source.slice(0, -2);
  const reps = (source.replace(/\\./g, '').replace(/\[(?:\\.|[^\]])*\]/g, 'x').match(/[*+{]/g) ?? []).length;
  if (reps + (search ? 1 : 0) > 2) return 'has more repetitions than are matched safely';
  if ((source.match(/\|/g) ?? []).length > 16) return 'has more than 16 alternatives';
  return { source, search };
}

function dynamicRun(qc: QuantConfig | undefined, ctx: DetectContext): DynamicRun | undefined {
  const dyn = qc?.cfg.dynamic;
  if (!isObj(dyn)) return undefined;
  let run = DYNAMIC.get(ctx);
  if (run) return run;
  run = { rules: [], refused: [], budget: MATCH_BUDGET };
  DYNAMIC.set(ctx, run);
  const entries = Object.entries(dyn);
  if (entries.length > MAX_DYNAMIC) run.refused.push(`dynamic has ${entries.length} patterns, more than the ${MAX_DYNAMIC} read; the rest ignored`);
  for (const [key, v] of entries.slice(0, MAX_DYNAMIC)) {
    const skip = key.startsWith('-:');
    const pattern = skip || key.startsWith('+:') ? key.slice(2) : key;
    const safe = safePattern(pattern);
    let re: RegExp | undefined;
    let why = typeof safe === 'string' ? safe : undefined;
    if (typeof safe !== 'string') {
      try {
        re = new RegExp(safe.search ? safe.source : `^(?:${safe.source})`);
      } catch {
        why = 'is not a regular expression JavaScript reads';
      }
    }
    if (!re) {
      run.refused.push(`dynamic pattern "${key.slice(0, 80)}" ignored: it ${why}`);
      continue;
    }
    const o = isObj(v) ? v : {};
    run.rules.push({ skip, re, bits: num(o.bits), groupSize: num(o.group_size) });
  }
  return run;
}

/** The first `dynamic` rule matching module `path`, as GPTQModel's dynamic_get finds it. */
function dynamicRule(run: DynamicRun, path: string): DynamicRule | undefined {
  if (path.length > MAX_SUBJECT) return undefined;
  const cost = Math.max(path.length, 1) ** 2;
  for (const rule of run.rules) {
    if (run.budget < cost) return undefined;
    run.budget -= cost;
    if (rule.re.test(path)) return rule;
  }
  return undefined;
}

function classicLayout(view: LayerView, qc: QuantConfig | undefined, ctx: DetectContext): Recognised | Unreadable | undefined {
  const qweight = view.tensors.get('qweight')!;
  const scales = view.tensors.get('scales');
  const qzeros = view.tensors.get('qzeros');
  const gIdx = view.tensors.get('g_idx');
  const out = qweight.shape[1];
  // GPTQ keeps out_features whole in qweight's columns; AWQ packs them (its scales are wider).
  if (!scales || scales.shape.length !== 2 || scales.shape[1] !== out) return undefined;
  const P = bitsOf(qweight.dtype);
  const notes: string[] = [];
  // GPTQModel's per-module overrides replace the config's bits and group size for this layer.
  const dyn = dynamicRun(qc, ctx);
  const rule = dyn ? dynamicRule(dyn, view.path) : undefined;
  if (dyn?.refused.length) notes.push(...dyn.refused.splice(0));
  if (rule?.skip) notes.push('the config\'s dynamic overrides leave this module unquantized');
  const declared = (rule && !rule.skip ? rule.bits : undefined) ?? cfgBits(qc);
  let fromZeros: number | undefined;
  if (qzeros && qzeros.shape.length === 2 && isIntDtype(qzeros.dtype)) {
    const b = (qzeros.shape[1] * bitsOf(qzeros.dtype)) / out;
    if (GPTQ_BITS.has(b)) fromZeros = b;
  }
  const bits = fromZeros ?? declared;
  if (bits === undefined || !GPTQ_BITS.has(bits)) {
    return { unreadable: `GPTQ tensors (qweight ${qweight.shape.join('x')}) but the bit width is neither in a config nor readable from qzeros` };
  }
  if (declared !== undefined && fromZeros !== undefined && declared !== fromZeros) {
    notes.push(`bits=${declared} declared but qzeros hold ${fromZeros}-bit zero points`);
  }
  const rows = qweight.shape[0];
  let inF: number;
  if (gIdx && gIdx.shape.length === 1 && isDim(gIdx.shape[0])) {
    inF = gIdx.shape[0];
    if (Math.floor(inF / P) * bits !== rows) notes.push(`g_idx says in_features=${inF} but qweight has ${rows} rows (${Math.floor(inF / P) * bits} expected at ${bits} bits)`);
  } else {
    inF = (rows * P) / bits;
    if (!Number.isInteger(inF)) return { unreadable: `qweight rows (${rows}) are not a whole number of ${bits}-bit groups` };
  }
  const groups = scales.shape[0];
  const g = (rule && !rule.skip ? rule.groupSize : undefined) ?? cfgGroup(qc);
  let groupSize: number | undefined;
  let flexibleGroup = false;
  if (groups === 1) {
    // One group: per-channel (group_size -1), or any group_size >= in_features.
    flexibleGroup = true;
    if (g !== undefined && g > 0 && g >= inF) groupSize = g;
    else if (g !== undefined && g > 0) notes.push(`group_size=${g} declared but scales hold one group of ${inF}`);
  } else if (g !== undefined && g > 0 && Math.ceil(inF / g) === groups) {
    groupSize = g;
  } else {
    groupSize = Number.isInteger(inF / groups) ? inF / groups : Math.ceil(inF / groups);
    if (g !== undefined) notes.push(`group_size=${g} declared but scales hold ${groups} groups of ${groupSize}`);
  }
  const format = str(qc?.cfg.checkpoint_format) ?? str(qc?.cfg.format) ?? 'gptq';
  const layer: QuantLayer = { method: 'gptq', bits, groupSize, format, rows: out, cols: inF, bias: view.tensors.has('bias') };
  const per = bits === 3 ? `32 values per 3 ${qweight.dtype} words` : `${P / bits} values per ${qweight.dtype}`;
  return {
    layer,
    packed: qweight,
    logicalShape: [out, inF],
    packedReason: `${bits}-bit GPTQ weight of a ${out}x${inF} linear layer, packed along in_features (${per})`,
    aux: [
      ['qzeros', `GPTQ zero points: one ${bits}-bit value per group and output, packed along out_features`],
      ['scales', `GPTQ scales: one per group${groupSize ? ` of ${groupSize} inputs` : ''} and output`],
      ['g_idx', 'GPTQ group index of each input column (act-order)'],
    ],
    notes,
    flexibleGroup,
  };
}

function marlinLayout(view: LayerView, qc: QuantConfig | undefined, wName: string, sName: string): Recognised | Unreadable | undefined {
  const w = view.tensors.get(wName)!;
  const s = view.tensors.get(sName);
  if (!s || s.shape.length !== 2 || w.shape.length !== 2) return undefined;
  const bits = cfgBits(qc) ?? 4;
  const out = s.shape[1];
  const inF = w.shape[0] * 16;
  if ((out * 16 * bits) / bitsOf(w.dtype) !== w.shape[1]) {
    return { unreadable: `Marlin-format ${wName} ${w.shape.join('x')} does not match ${sName} ${s.shape.join('x')} at ${bits} bits` };
  }
  const groups = s.shape[0];
  const groupSize = groups > 1 && Number.isInteger(inF / groups) ? inF / groups : undefined;
  return {
    layer: { method: 'gptq', bits, groupSize, format: 'marlin', rows: out, cols: inF, bias: view.tensors.has('bias') },
    packed: w,
    logicalShape: [out, inF],
    packedReason: `${bits}-bit GPTQ weight of a ${out}x${inF} linear layer in Marlin's tiled layout (16x16 tiles, ${32 / bits} values per int32)`,
    aux: [
      [sName, `Marlin scales: one per group${groupSize ? ` of ${groupSize} inputs` : ''} and output, permuted`],
      ['workspace', 'Marlin kernel workspace'],
      ['qzeros', 'zero points'],
      ['g_idx', 'group index of each input column'],
    ],
  };
}
