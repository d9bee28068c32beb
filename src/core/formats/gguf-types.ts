/** ggml's tensor types, as GGUF files name them by id, and the dtypes only they have. */
import { registerDtype } from '../dtypes';

export interface GgmlType {
  id: number;
  name: string;
  /** Elements per block. */
  block: number;
  /** Bytes per block. */
  bytes: number;
  /** Canonical dtype name (dtypes.ts). */
  dtype: string;
}

const PLAIN: Record<string, string> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
  I8: 'int8',
  I16: 'int16',
  I32: 'int32',
  I64: 'int64',
};

// id, name, elements per block, bytes per block (ggml's type traits).
const TYPE_TABLE: [number, string, number, number][] = [
  [0, 'F32', 1, 4], [1, 'F16', 1, 2], [2, 'Q4_0', 32, 18], [3, 'Q4_1', 32, 20],
  [6, 'Q5_0', 32, 22], [7, 'Q5_1', 32, 24], [8, 'Q8_0', 32, 34], [9, 'Q8_1', 32, 36],
  [10, 'Q2_K', 256, 84], [11, 'Q3_K', 256, 110], [12, 'Q4_K', 256, 144], [13, 'Q5_K', 256, 176],
  [14, 'Q6_K', 256, 210], [15, 'Q8_K', 256, 292], [16, 'IQ2_XXS', 256, 66], [17, 'IQ2_XS', 256, 74],
  [18, 'IQ3_XXS', 256, 98], [19, 'IQ1_S', 256, 50], [20, 'IQ4_NL', 32, 18], [21, 'IQ3_S', 256, 110],
  [22, 'IQ2_S', 256, 82], [23, 'IQ4_XS', 256, 136], [24, 'I8', 1, 1], [25, 'I16', 1, 2],
  [26, 'I32', 1, 4], [27, 'I64', 1, 8], [28, 'F64', 1, 8], [29, 'IQ1_M', 256, 56],
  [30, 'BF16', 1, 2], [34, 'TQ1_0', 256, 54], [35, 'TQ2_0', 256, 66], [39, 'MXFP4', 32, 17],
];

/** Type ids ggml once had and removed; files using them need an old llama.cpp. */
export const REMOVED_TYPES: Record<number, string> = {
  4: 'Q4_2', 5: 'Q4_3', 31: 'Q4_0_4_4', 32: 'Q4_0_4_8', 33: 'Q4_0_8_8', 36: 'IQ4_NL_4_4', 37: 'IQ4_NL_4_8', 38: 'IQ4_NL_8_8',
};

export const GGML_TYPES: ReadonlyMap<number, GgmlType> = new Map(
  TYPE_TABLE.map(([id, name, block, bytes]) => {
    const dtype = PLAIN[name] ?? name;
    // Block-quantized weights stand for real values; bits per weight are fractional (Q4_K: 4.5).
    if (!PLAIN[name]) registerDtype(name, { bits: (bytes * 8) / block, floating: true });
    return [id, { id, name, block, bytes, dtype }];
  }),
);
