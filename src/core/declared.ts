/**
 * Parameter totals that files declare, next to ours (docs/quantization.md, "Declared totals"):
 *
 * - `*.safetensors.index.json` `metadata.total_parameters`: transformers' save_pretrained
 *   writes `self.num_parameters()` there (recent versions; PEFT too for sharded adapters). It
 *   counts nn.Parameters: a GPTQ/AWQ QuantLinear keeps its packed weight in buffers, so that
 *   figure leaves the quantized layers out; bitsandbytes 4-bit counts numel * 2.
 * - GGUF `general.parameter_count` (when a writer puts it there; llama.cpp's converter writes
 *   the rounded `general.size_label` instead, which we do not compare).
 * - safetensors `__metadata__` `total_parameters`, by the same convention as the index.
 */
import { DeclaredCount, RawCheckpoint } from './model';

function count(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d{1,16}$/.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

export function declaredCount(raw: RawCheckpoint): DeclaredCount | undefined {
  const md = raw.metadata as Record<string, unknown>;
  const index = md.index as Record<string, unknown> | undefined;
  const fromIndex = count(index?.total_parameters);
  if (fromIndex !== undefined) {
    const file = raw.files.find((f) => f.endsWith('.index.json')) ?? 'index';
    return { count: fromIndex, source: `${file} metadata.total_parameters` };
  }
  const kv = (md.gguf as { kv?: Record<string, unknown> } | undefined)?.kv;
  const fromGguf = count(kv?.['general.parameter_count']);
  if (fromGguf !== undefined) return { count: fromGguf, source: 'gguf general.parameter_count' };
  const st = md.__metadata__ as Record<string, unknown> | undefined;
  const fromSt = count(st?.total_parameters);
  if (fromSt !== undefined) return { count: fromSt, source: '__metadata__ total_parameters' };
  return undefined;
}
