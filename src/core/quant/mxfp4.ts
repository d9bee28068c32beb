/**
 * MXFP4 expert weights as OpenAI's gpt-oss checkpoints store them (transformers'
 * `quant_method: mxfp4`; docs/quantization.md, MXFP4): a weight `<name>` is stored as
 * `<name>_blocks` uint8 [..., rows, G, 16] (16 bytes = 32 FP4 values per block) and
 * `<name>_scales` uint8 [..., rows, G] (one E8M0 exponent per block of 32), so the weight is
 * [..., rows, G * 32].
 */
import { dims, LayerView, Recognised } from './common';

/** Every `<name>_blocks` / `<name>_scales` pair of a module. */
export function mxfp4Pairs(view: LayerView): Recognised[] {
  const out: Recognised[] = [];
  for (const [local, blocks] of view.tensors) {
    const m = /^(.*)_blocks$/.exec(local);
    if (!m) continue;
    const scales = view.tensors.get(`${m[1]}_scales`);
    if (!scales || blocks.dtype !== 'uint8' || blocks.shape.length < 3 || blocks.shape[blocks.shape.length - 1] !== 16) continue;
    const lead = blocks.shape.slice(0, -2);
    const G = blocks.shape[blocks.shape.length - 2];
    if (scales.shape.length !== lead.length + 1 || scales.shape[scales.shape.length - 1] !== G) continue;
    const logicalShape = [...lead, G * 32];
    const rows = lead.reduce((a, b) => a * b, 1);
    const aux: [string, string][] = [[`${m[1]}_scales`, `MXFP4 scales of ${m[1]}: one E8M0 exponent per block of 32 values`]];
    out.push({
      layer: { method: 'mxfp4', bits: 4, groupSize: 32, format: 'mxfp4', rows, cols: G * 32, bias: view.tensors.has(`${m[1]}_bias`) },
      packed: blocks,
      logicalShape,
      packedReason: `MXFP4 weight ${m[1]} (${dims(logicalShape)}): blocks of 32 FP4 values in 16 bytes`,
      aux,
    });
  }
  return out;
}
