/**
 * Canonical dtype names. We name dtypes as PyTorch does (without the `torch.` prefix) so that
 * one checkpoint reads the same whatever its format; the format's own name is kept beside it.
 * Block-quantized formats (GGUF) keep their own names (`Q4_K`...).
 */
export interface DtypeInfo {
  /** Bits per element; fractional for block-quantized types (bytes per block * 8 / block). */
  bits: number;
  floating: boolean;
}

const TABLE: Record<string, DtypeInfo> = {
  bool: { bits: 8, floating: false },
  uint8: { bits: 8, floating: false },
  int8: { bits: 8, floating: false },
  uint16: { bits: 16, floating: false },
  int16: { bits: 16, floating: false },
  uint32: { bits: 32, floating: false },
  int32: { bits: 32, floating: false },
  uint64: { bits: 64, floating: false },
  int64: { bits: 64, floating: false },
  float16: { bits: 16, floating: true },
  bfloat16: { bits: 16, floating: true },
  float32: { bits: 32, floating: true },
  float64: { bits: 64, floating: true },
  complex32: { bits: 32, floating: true },
  complex64: { bits: 64, floating: true },
  complex128: { bits: 128, floating: true },
  float8_e4m3fn: { bits: 8, floating: true },
  float8_e4m3fnuz: { bits: 8, floating: true },
  float8_e5m2: { bits: 8, floating: true },
  float8_e5m2fnuz: { bits: 8, floating: true },
  float8_e8m0fnu: { bits: 8, floating: true },
  float6_e2m3: { bits: 6, floating: true },
  float6_e3m2: { bits: 6, floating: true },
  float4_e2m1fn: { bits: 4, floating: true },
  float4_e2m1fn_x2: { bits: 8, floating: true },
  // Quantized PyTorch tensors hold integers but stand for real-valued weights.
  qint8: { bits: 8, floating: true },
  quint8: { bits: 8, floating: true },
  qint32: { bits: 32, floating: true },
  quint4x2: { bits: 8, floating: true },
  quint2x4: { bits: 8, floating: true },
};

/** Register a dtype that only one format knows (GGUF block quantizations). */
export function registerDtype(name: string, info: DtypeInfo): void {
  if (!Object.prototype.hasOwnProperty.call(TABLE, name)) TABLE[name] = info;
}

export function dtypeInfo(name: string): DtypeInfo | undefined {
  return Object.prototype.hasOwnProperty.call(TABLE, name) ? TABLE[name] : undefined;
}

export function isFloating(name: string): boolean {
  return dtypeInfo(name)?.floating ?? true;
}

/** Bytes per element for whole-byte types; undefined for sub-byte or block types. */
export function itemSize(name: string): number | undefined {
  const info = dtypeInfo(name);
  if (!info || info.bits % 8 !== 0) return undefined;
  return info.bits / 8;
}

/** safetensors dtype strings → canonical names. */
export const SAFETENSORS_DTYPES: Record<string, string> = {
  BOOL: 'bool',
  U8: 'uint8',
  I8: 'int8',
  U16: 'uint16',
  I16: 'int16',
  U32: 'uint32',
  I32: 'int32',
  U64: 'uint64',
  I64: 'int64',
  F16: 'float16',
  BF16: 'bfloat16',
  F32: 'float32',
  F64: 'float64',
  C64: 'complex64',
  F8_E4M3: 'float8_e4m3fn',
  F8_E5M2: 'float8_e5m2',
  F8_E8M0: 'float8_e8m0fnu',
  F6_E2M3: 'float6_e2m3',
  F6_E3M2: 'float6_e3m2',
  // safetensors counts F4 values one by one (4 bits each), not torch's packed pairs.
  F4: 'float4_e2m1fn',
};

/** Bits per element as the safetensors spec counts them (F4 is 4 bits per element there). */
export const SAFETENSORS_BITS: Record<string, number> = {
  BOOL: 8, U8: 8, I8: 8, U16: 16, I16: 16, U32: 32, I32: 32, U64: 64, I64: 64,
  F16: 16, BF16: 16, F32: 32, F64: 64, C64: 64,
  F8_E4M3: 8, F8_E5M2: 8, F8_E8M0: 8, F6_E2M3: 6, F6_E3M2: 6, F4: 4,
};
