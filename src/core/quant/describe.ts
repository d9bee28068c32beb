/**
 * How quantized layers, schemes and adapters read in the tree, the CLI and the exports:
 * `QuantLinear(in_features=4096, out_features=4096, bits=4, group_size=128, method=gptq)`,
 * "8.03B parameters · 4-bit GPTQ (g128) · 4.6 bits per weight stored",
 * "LoRA r=16 on q_proj, v_proj of meta-llama/Llama-2-7b-hf: 6.8M trainable parameters".
 */
import { AdapterInfo, Checkpoint, QuantizationInfo, QuantLayer, Tensor } from '../model';
import { adapterText, bitsText, quantizationText } from '../../shared/quantText';
import { sameDims } from '../coverage';

export { bitsText };

export interface QuantInference {
  type: string;
  repr: string;
  evidence: string;
}

/**
 * The layer a packed weight stands for. Quantized embeddings (MLX) read as QuantEmbedding; every
 * other quantized weight as the Linear it replaces.
 */
export function quantLayerInference(own: Tensor[], embeddingName: boolean): QuantInference | undefined {
  // Exactly one packed weight (no list made: this runs for every module).
  let t: Tensor | undefined;
  for (let i = 0; i < own.length; i++) {
    if (!own[i].quant) continue;
    if (t) return undefined;
    t = own[i];
  }
  if (!t) return undefined;
  const q = t.quant!;
  const shape = t.logicalShape ?? t.shape;
  const evidence = t.roleReason ?? '';
  // What is said depends on the scheme, the shape, the name's kind and the reason only: layers
  // that share them (an MoE's experts share one QuantLayer per shape) share one answer.
  for (let i = 0; i < RECENT.length; i++) {
    const r = RECENT[i];
    if (r.q === q && r.embeddingName === embeddingName && r.evidence === evidence && sameDims(r.shape, shape)) return r.inference;
  }
  const inference = describeLayer(q, shape, embeddingName, evidence);
  RECENT[recentAt] = { q, shape: shape.slice(), embeddingName, evidence, inference };
  recentAt = (recentAt + 1) % MAX_RECENT;
  return inference;
}

/** The last few answers (the scheme object compared by identity, nothing else kept of a checkpoint). */
const RECENT: { q: QuantLayer; shape: number[]; embeddingName: boolean; evidence: string; inference: QuantInference }[] = [];
const MAX_RECENT = 4;
let recentAt = 0;

function describeLayer(q: QuantLayer, shape: number[], embeddingName: boolean, evidence: string): QuantInference {
  const experts = shape.length > 2 ? shape.slice(0, -2).reduce((a, b) => a * b, 1) : undefined;
  const out = shape.length >= 2 ? shape[shape.length - 2] : q.rows;
  const inF = shape.length >= 1 ? shape[shape.length - 1] : q.cols;
  let scheme = `bits=${q.bits}`;
  if (q.groupSize) scheme += `, group_size=${q.groupSize}`;
  if (q.blockSize) scheme += `, block_size=(${q.blockSize.join(', ')})`;
  scheme += `, method=${q.method}`;
  if (q.format && q.format !== q.method) scheme += `, format=${q.format}`;
  if (embeddingName && !q.bias && experts === undefined && shape.length === 2) {
    return { type: 'QuantEmbedding', repr: `QuantEmbedding(${out}, ${inF}, ${scheme})`, evidence };
  }
  if (shape.length === 1) {
    // bitsandbytes without its quant state: the element count is known, the shape is not.
    return { type: 'QuantLinear', repr: `QuantLinear(numel=${inF}, ${scheme})`, evidence };
  }
  return {
    type: 'QuantLinear',
    repr: `QuantLinear(${experts !== undefined ? `num_experts=${experts}, ` : ''}in_features=${inF}, out_features=${out}, ${q.bias ? 'bias=True, ' : ''}${scheme})`,
    evidence,
  };
}

const METHOD: Record<string, string> = {
  gptq: 'GPTQ',
  awq: 'AWQ',
  'compressed-tensors': 'compressed-tensors',
  bitsandbytes: 'bitsandbytes',
  fp8: 'FP8',
  nvfp4: 'NVFP4',
  mlx: 'MLX',
  mxfp4: 'MXFP4',
  hqq: 'HQQ',
  eetq: 'EETQ',
  quanto: 'optimum-quanto',
  gguf: 'GGUF',
  exl2: 'EXL2',
  exl3: 'EXL3',
  aqlm: 'AQLM',
  bitnet: 'BitNet',
  vptq: 'VPTQ',
};

/** How a method is written for people: `GPTQ`, `bitsandbytes`, `MLX`. */
export function methodLabel(m: string): string {
  return METHOD[m] ?? m;
}

/** "4-bit GPTQ (g128)", "GGUF Q4_K_M", "4-bit bitsandbytes NF4 (block 64)". */
export function schemeLabel(q: QuantizationInfo): string {
  const name = METHOD[q.method] ?? q.method;
  let s: string;
  if (q.method === 'gguf') s = `GGUF ${q.format ?? `${q.bits}-bit`}`;
  else if (q.method === 'bitsandbytes') {
    s = q.bits === 8 ? '8-bit bitsandbytes LLM.int8()' : `${q.bits}-bit bitsandbytes ${(q.format ?? '').toUpperCase()}${q.groupSize ? ` (block ${q.groupSize})` : ''}`.trimEnd();
  } else if (q.method === 'fp8') {
    const [fmt, gran] = (q.format ?? '').split(' ');
    s = `FP8 ${fmt ?? ''}${q.blockSize ? ` (${q.blockSize.join('x')} blocks)` : gran ? ` (${gran})` : ''}`.replace(/ +/g, ' ').trim();
  } else {
    const fmt = q.format && q.format !== q.method ? ` ${q.method === 'awq' ? q.format.toUpperCase() : q.format}` : '';
    const group = q.groupSize ? ` (g${q.groupSize})` : q.blockSize ? ` (${q.blockSize.join('x')} blocks)` : q.method === 'gptq' || q.method === 'eetq' ? ' (per-channel)' : '';
    s = `${q.bits}-bit ${name}${fmt}${group}`;
  }
  if (q.variants && q.method !== 'gguf') {
    if (!q.variants.some((v) => v.bits === q.bits)) {
      // The checkpoint's declared target (EXL3's bits), which no layer has: the layers' rates beside it.
      const rates = [...new Set(q.variants.map((v) => v.bits))].sort((a, b) => a - b);
      s += ` (layers at ${rates.length > 1 ? `${rates.slice(0, -1).join(', ')} and ${rates[rates.length - 1]}` : rates[0]} bits)`;
    } else if (q.variants.length > 1) s += ` + ${q.variants.length - 1} other scheme${q.variants.length === 2 ? '' : 's'}`;
  }
  return s;
}

/** "8.03B parameters · 4-bit GPTQ (g128) · 4.6 bits per weight stored". */
export function quantizationLine(cp: Pick<Checkpoint, 'parameters' | 'quantization'>): string | undefined {
  const q = cp.quantization;
  if (!q) return undefined;
  return quantizationText(cp.parameters.unique, schemeLabel(q), q.bitsPerWeight);
}

/** "LoRA r=16 on q_proj, v_proj of meta-llama/Llama-2-7b-hf: 6.8M trainable parameters". */
export function adapterLine(cp: Pick<Checkpoint, 'parameters' | 'adapter'>): string | undefined {
  const a: AdapterInfo | undefined = cp.adapter;
  if (!a) return undefined;
  return adapterText(a, cp.parameters.unique);
}
