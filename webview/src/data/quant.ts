/**
 * The summary's and the cards' figures for quantized checkpoints and adapters, in the user's
 * number format (one rule: src/core/numbers.ts through src/shared/format.ts). The wording is the
 * CLI's (src/shared/quantText.ts). DOM-free.
 */
import { exactCount, formatCount } from '../../../src/shared/format';
import type { NumberFormat, StoredFigures, WireNode, WireSummary, WireTensor } from '../../../src/shared/protocol';
import { adapterText, bitsText, quantizationText } from '../../../src/shared/quantText';
import { formatBytes, formatShape } from './format';

/** "201K parameters · 4-bit GPTQ (g32) · 7.24 bits per weight stored". */
export function quantizationLine(s: Pick<WireSummary, 'parameters' | 'quantization'>, fmt: NumberFormat): string | undefined {
  const q = s.quantization;
  if (!q) return undefined;
  return quantizationText(s.parameters.unique, q.scheme, q.bitsPerWeight, (n) => formatCount(n, fmt));
}

/**
 * The line's hover: "159,744 parameters in 21 quantized layers; parameters and quantization
 * tensors take 178 KiB (68,720 elements as stored). Scheme from config.json quantization_config."
 */
export function quantizationDetail(s: Pick<WireSummary, 'parameters' | 'quantization'>): string | undefined {
  const q = s.quantization;
  if (!q) return undefined;
  const lines = [
    `${exactCount(s.parameters.unique)} parameters of the unquantized model; ${exactCount(q.quantizedParameters)} in ${exactCount(q.quantizedLayers)} quantized layer${q.quantizedLayers === 1 ? '' : 's'}.`,
    `Stored: ${exactCount(q.storedElements)} elements, ${formatBytes(q.storedBytes)} (${exactCount(q.storedBytes)} bytes) of parameters and quantization tensors: ${bitsText(q.bitsPerWeight)} bits per weight.`,
    `Scheme from ${q.declaredBy}.`,
  ];
  if (q.variants && q.variants.length > 1) {
    for (const v of q.variants) lines.push(`  ${v.format ?? `${v.bits}-bit`}${v.groupSize ? ` g${v.groupSize}` : ''}: ${exactCount(v.layers)} layer${v.layers === 1 ? '' : 's'}, ${exactCount(v.parameters)} parameters`);
  }
  return lines.join('\n');
}

/** "LoRA r=16 on q_proj, v_proj of <base>: 6.80M trainable parameters". */
export function adapterLine(s: Pick<WireSummary, 'parameters' | 'adapter'>, fmt: NumberFormat): string | undefined {
  const a = s.adapter;
  if (!a) return undefined;
  return adapterText(a, s.parameters.unique, (n) => formatCount(n, fmt));
}

/** The adapter line's hover: every target, alpha, the layout and how many modules it adapts. */
export function adapterDetail(s: Pick<WireSummary, 'parameters' | 'adapter'>): string | undefined {
  const a = s.adapter;
  if (!a) return undefined;
  const lines = [
    `${a.type} adapter (${a.format}) on ${exactCount(a.modules)} module${a.modules === 1 ? '' : 's'}: ${exactCount(s.parameters.unique)} trainable parameters, as PEFT's print_trainable_parameters counts them.`,
  ];
  if (a.targets.length) lines.push(`Targets: ${a.targets.join(', ')}`);
  if (a.rank !== undefined) lines.push(`Rank r=${a.rank}${a.alpha !== undefined ? `, alpha ${a.alpha}` : ''}`);
  if (a.base) lines.push(`Base model: ${a.base}`);
  return lines.join('\n');
}

/**
 * A module's stored figures beside its parameters, for the hover card: "stored: 1.58K elements
 * · 6.19 KiB · 4.13 bits per weight (its 12.3K parameters unquantized)".
 */
export function storedLine(m: Pick<WireNode, 'params' | 'stored'>, fmt: NumberFormat): string | undefined {
  const st: StoredFigures | undefined = m.stored;
  if (!st) return undefined;
  return `Stored quantized: ${formatCount(st.elements, fmt)} elements · ${formatBytes(st.bytes)} · ${bitsText(st.bitsPerWeight)} bits per weight (for ${formatCount(m.params[0], fmt)} parameters unquantized)`;
}

/**
 * The tensor table's Shape cell: the stored shape, and for a packed quantized weight the shape of
 * the weight it stands for: `[8, 192] → [192, 64]`.
 */
export function shapeCell(t: Pick<WireTensor, 'shape' | 'logicalShape' | 'logicalNumel' | 'numel' | 'dtype'>): { text: string; title: string } {
  const stored = formatShape(t.shape);
  if (!t.logicalShape) return { text: stored, title: stored };
  const logical = formatShape(t.logicalShape);
  return {
    text: `${stored} → ${logical}`,
    title: `Stored ${stored} (${exactCount(t.numel)} ${t.dtype} elements), packed from a ${logical} weight (${exactCount(t.logicalNumel ?? t.numel)} parameters)`,
  };
}
