/**
 * GGUF: block-quantized types already count logical elements (a Q4_K tensor's shape is the
 * weight's shape), so nothing is re-counted; the scheme is `general.file_type` (llama.h's
 * `llama_ftype`: 15 = MOSTLY_Q4_K_M) and the mix of tensor types.
 */
import { RawCheckpoint, Tensor } from '../model';
import { dtypeInfo } from '../dtypes';

const FTYPES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 4: 'Q4_1_SOME_F16', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1',
  10: 'Q2_K', 11: 'Q3_K_S', 12: 'Q3_K_M', 13: 'Q3_K_L', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S',
  17: 'Q5_K_M', 18: 'Q6_K', 19: 'IQ2_XXS', 20: 'IQ2_XS', 21: 'Q2_K_S', 22: 'IQ3_XS', 23: 'IQ3_XXS',
  24: 'IQ1_S', 25: 'IQ4_NL', 26: 'IQ3_S', 27: 'IQ3_M', 28: 'IQ2_S', 29: 'IQ2_M', 30: 'IQ4_XS',
  31: 'IQ1_M', 32: 'BF16', 36: 'TQ1_0', 37: 'TQ2_0', 38: 'MXFP4_MOE',
};

/** A ggml block type (a quantized one, not F32/F16/BF16/integers). */
export function isGgmlQuant(dtype: string): boolean {
  return /^(I?Q\d|TQ\d|MXFP4)/.test(dtype);
}

export interface GgufScheme {
  fileType?: string;
  declaredBy: string;
}

export function ggufScheme(raw: RawCheckpoint, tensors: Tensor[]): GgufScheme | undefined {
  if (!tensors.some((t) => isGgmlQuant(t.dtype))) return undefined;
  const kv = (raw.metadata.gguf as { kv?: Record<string, unknown> } | undefined)?.kv;
  const ft = kv?.['general.file_type'];
  const name = typeof ft === 'number' ? FTYPES[ft] ?? `file_type ${ft}` : undefined;
  return { fileType: name, declaredBy: name ? 'gguf general.file_type' : 'gguf tensor types' };
}

/** Nominal bits of a GGUF scheme: Q4_K_M → 4, IQ2_XS → 2, MXFP4_MOE → 4; else the type's bits per weight, rounded down. */
export function nominalBits(name: string): number | undefined {
  const m = /^(?:I?Q|TQ)(\d)/.exec(name) ?? /^MXFP(\d)/.exec(name);
  if (m) return Number(m[1]);
  const b = dtypeInfo(name)?.bits;
  return b ? Math.floor(b) : undefined;
}
