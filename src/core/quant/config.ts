/**
 * Where a checkpoint declares its quantization (docs/quantization.md, "Where the scheme is
 * declared"):
 *
 * - transformers: `quantization_config` in config.json, with `quant_method` (`gptq`, `awq`,
 *   `compressed-tensors`, `bitsandbytes`, `fp8`, `fbgemm_fp8`, `mxfp4`...); multimodal models
 *   may nest it in `text_config` (mlx-lm's loader looks there too);
 * - llm-compressor before compressed-tensors 0.4: `compression_config`;
 * - mlx-lm: `quantization: {group_size, bits, mode?}` plus per-layer entries keyed by module
 *   path (`{bits, group_size}` or `false`); it also copies it to `quantization_config` without a
 *   `quant_method`;
 * - AutoGPTQ: a `quantize_config.json` sidecar; AutoAWQ: `quant_config.json`; NVIDIA ModelOpt:
 *   `hf_quant_config.json`; optimum-quanto: `quanto_qmap.json` (per module `{weights,
 *   activations}`, kept as `cfg.qmap`).
 * - VPTQ's own loader: `quant_config` in config.json, per-layer arguments keyed by module path;
 *   AQLM checkpoints for AQLM's own modeling code: an `aqlm` block.
 */
import { RawCheckpoint } from '../model';

export interface QuantConfig {
  /** Normalised method: `gptq`, `awq`, `compressed-tensors`, `mlx`, `bitsandbytes`, `fp8`, `mxfp4`, `aqlm`, `bitnet`, `vptq`, `hqq`, `eetq`, `quanto`, or the file's own name. */
  method: string;
  /** The config object itself. */
  cfg: Record<string, unknown>;
  declaredBy: string;
}

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

const METHOD_ALIASES: Record<string, string> = {
  gptq: 'gptq',
  marlin: 'gptq', // vLLM / Neural Magic's GPTQ checkpoints repacked for Marlin (`B`, `s`)
  gptq_marlin: 'gptq',
  awq: 'awq',
  awq_marlin: 'awq',
  'compressed-tensors': 'compressed-tensors',
  compressed_tensors: 'compressed-tensors',
  sparseml: 'compressed-tensors',
  bitsandbytes: 'bitsandbytes',
  fp8: 'fp8',
  fbgemm_fp8: 'fp8',
  modelopt: 'fp8',
  mxfp4: 'mxfp4',
  nvfp4: 'nvfp4',
};

export function normaliseMethod(m: string): string {
  const k = m.toLowerCase();
  return METHOD_ALIASES[k] ?? k;
}

function modeloptMethod(algo: string): string {
  if (/^fp8/i.test(algo)) return 'fp8';
  if (/^nvfp4/i.test(algo)) return 'nvfp4';
  return algo.toLowerCase();
}

/** The quantization a checkpoint declares, if any. */
export function findQuantConfig(raw: RawCheckpoint): QuantConfig | undefined {
  const config = raw.config;
  const fromQc = (qc: unknown, where: string): QuantConfig | undefined => {
    if (!isObj(qc)) return undefined;
    const qm = str(qc.quant_method);
    // NVIDIA ModelOpt names its algorithm in quant_algo (FP8, NVFP4...).
    if (qm === 'modelopt' && str(qc.quant_algo)) return { method: modeloptMethod(str(qc.quant_algo)!), cfg: qc, declaredBy: where };
    // Intel AutoRound exports GPTQ's or AWQ's layout (packing_format / backend: auto_gptq, auto_awq...).
    if (/auto[-_]?round/i.test(qm ?? '')) {
      const pf = `${str(qc.packing_format) ?? ''} ${str(qc.backend) ?? ''}`;
      return { method: /awq/i.test(pf) ? 'awq' : 'gptq', cfg: qc, declaredBy: where };
    }
    if (qm) return { method: normaliseMethod(qm), cfg: qc, declaredBy: where };
    // bitsandbytes configs from older transformers carry load_in_4bit/8bit without quant_method.
    if (qc.load_in_4bit === true || qc.load_in_8bit === true) return { method: 'bitsandbytes', cfg: qc, declaredBy: where };
    if (isObj(qc.config_groups)) return { method: 'compressed-tensors', cfg: qc, declaredBy: where };
    return undefined;
  };
  if (config) {
    // mlx-lm writes `quantization` (and a copy in `quantization_config` without quant_method).
    if (isObj(config.quantization) && num(config.quantization.bits) !== undefined && !str((config.quantization_config as Obj | undefined)?.quant_method)) {
      return { method: 'mlx', cfg: config.quantization, declaredBy: 'config.json quantization' };
    }
    const top = fromQc(config.quantization_config, 'config.json quantization_config');
    if (top) return top;
    const text = isObj(config.text_config) ? fromQc(config.text_config.quantization_config, 'config.json text_config.quantization_config') : undefined;
    if (text) return text;
    const cc = fromQc(config.compression_config, 'config.json compression_config');
    if (cc) return cc;
    // VPTQ's own loader reads `quant_config`: VQuantLinear's arguments keyed by module path, what
    // transformers' VPTQ config calls config_for_layers.
    if (isObj(config.quant_config) && Object.values(config.quant_config).some((l) => isObj(l) && l.vector_lens !== undefined)) {
      return { method: 'vptq', cfg: { config_for_layers: config.quant_config }, declaredBy: 'config.json quant_config' };
    }
    // AQLM checkpoints made for its own modeling code carry an `aqlm` block instead.
    if (isObj(config.aqlm) && num(config.aqlm.nbits_per_codebook) !== undefined) return { method: 'aqlm', cfg: config.aqlm, declaredBy: 'config.json aqlm' };
  }
  const side = raw.sidecars ?? {};
  const gq = side['quantize_config.json'];
  if (isObj(gq)) {
    const m = str(gq.quant_method) ?? 'gptq';
    return { method: normaliseMethod(m), cfg: gq, declaredBy: 'quantize_config.json' };
  }
  const aq = side['quant_config.json'];
  if (isObj(aq)) return { method: normaliseMethod(str(aq.quant_method) ?? 'awq'), cfg: aq, declaredBy: 'quant_config.json' };
  const mo = side['hf_quant_config.json'];
  if (isObj(mo)) {
    const q = isObj(mo.quantization) ? mo.quantization : mo;
    return { method: modeloptMethod(str(q.quant_algo) ?? 'modelopt'), cfg: q, declaredBy: 'hf_quant_config.json' };
  }
  const qmap = side['quanto_qmap.json'];
  if (isObj(qmap)) return { method: 'quanto', cfg: { qmap }, declaredBy: 'quanto_qmap.json' };
  return undefined;
}
