/**
 * Canonical dtype names. We name dtypes as PyTorch does (without the `torch.` prefix) so that
 * one checkpoint reads the same whatever its format; the format's own name is kept beside it.
 * Block-quantized formats (GGUF) keep their own names (`Q4_K`...). Each format module maps its
 * own dtype names to these (safetensors.ts `SAFETENSORS_DTYPES`, gguf-types.ts `GGML_TYPES`,
 * onnx-read.ts `ONNX_TYPES`) and registers the dtypes only it has (registerDtype, when the
 * registry loads: gguf-types.ts, onnx.ts), so that every dtype is known before any file is read.
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
  // torch.bits*: raw bits with no arithmetic (c10 ScalarType Bits*), one or two bytes an element.
  bits8: { bits: 8, floating: false },
  bits16: { bits: 16, floating: false },
  bits1x8: { bits: 8, floating: false },
  bits2x4: { bits: 8, floating: false },
  bits4x2: { bits: 8, floating: false },
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
