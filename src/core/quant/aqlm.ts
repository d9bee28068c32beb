/**
 * AQLM (Additive Quantization of Language Models; `quant_method: aqlm`, the `aqlm` package's
 * QuantizedLinear as transformers' integrations/aqlm.py builds it). Rules (docs/quantization.md,
 * AQLM):
 *
 * - `codes`: signed int [out / out_group_size, in / in_group_size, num_codebooks], of the smallest
 *   torch int type holding nbits_per_codebook bits (int8 up to 8 bits, int16 up to 16): one code
 *   per codebook for each out_group_size x in_group_size block of the weight.
 * - `codebooks`: float [num_codebooks, 2^nbits_per_codebook, out_group_size, in_group_size].
 * - `scales`: float [out / out_group_size, 1, 1, 1] (one per output group).
 * - `bias`: [out], optional.
 * So the weight is [codes.shape[0] * codebooks.shape[2], codes.shape[1] * codebooks.shape[3]]:
 * the shapes alone give it. The config (`in_group_size`, `out_group_size`, `num_codebooks`,
 * `nbits_per_codebook`) is checked against them; the shapes decide.
 */
import { num } from './config';
import { Detector, dims, isDim, isIntDtype, prod } from './common';
import { dtypeInfo } from '../dtypes';

export const aqlm: Detector = (view, qc) => {
  const codes = view.tensors.get('codes');
  const codebooks = view.tensors.get('codebooks');
  // `codes` alone is a common name; with `codebooks` beside it (or an AQLM config) it is AQLM's.
  if (!codes || (!codebooks && qc?.method !== 'aqlm')) return undefined;
  // Float `codes` beside `codebooks` are a vector quantizer's (an embedding named codes): AQLM's
  // codes are integers, unless an AQLM config says the layer is AQLM's.
  if (!isIntDtype(codes.dtype) && qc?.method !== 'aqlm') return undefined;
  const scales = view.tensors.get('scales');
  if (!codebooks || !scales) return { unreadable: `AQLM codes ${dims(codes.shape)} without ${codebooks ? 'scales' : 'codebooks'} beside them: the group sizes are not known` };
  if (!isIntDtype(codes.dtype) || codes.shape.length !== 3) return { unreadable: `AQLM codes are ${codes.dtype} ${dims(codes.shape)}, not integers [out groups, in groups, codebooks]` };
  if (codebooks.shape.length !== 4) return { unreadable: `AQLM codebooks ${dims(codebooks.shape)} are not [codebooks, codebook size, out group, in group]` };
  const [outGroups, inGroups, numCodebooks] = codes.shape;
  const [books, size, outGroup, inGroup] = codebooks.shape;
  if (books !== numCodebooks) return { unreadable: `AQLM codes ${dims(codes.shape)} name ${numCodebooks} codebook(s) but codebooks ${dims(codebooks.shape)} hold ${books}` };
  if (scales.shape[0] !== outGroups) return { unreadable: `AQLM scales ${dims(scales.shape)} do not hold one scale per output group (${outGroups}, codes ${dims(codes.shape)})` };
  const nbits = Math.log2(size);
  if (!Number.isInteger(nbits) || nbits < 1 || !isDim(outGroup) || !isDim(inGroup)) return { unreadable: `AQLM codebooks ${dims(codebooks.shape)}: a codebook of ${size} entries is not 2^nbits` };
  // get_int_dtype(nbits): codes of more bits than their type holds cannot index the codebook.
  const codeBits = dtypeInfo(codes.dtype)?.bits ?? 0;
  if (codeBits < nbits) return { unreadable: `AQLM codes are ${codes.dtype} but index ${size}-entry codebooks (${nbits} bits)` };
  const out = outGroups * outGroup;
  const inF = inGroups * inGroup;
  const notes: string[] = [];
  if (qc?.method === 'aqlm') {
    const declared: [string, unknown, number][] = [
      ['in_group_size', qc.cfg.in_group_size, inGroup],
      ['out_group_size', qc.cfg.out_group_size, outGroup],
      ['num_codebooks', qc.cfg.num_codebooks, numCodebooks],
      ['nbits_per_codebook', qc.cfg.nbits_per_codebook, nbits],
    ];
    for (const [key, value, found] of declared) {
      const d = num(value);
      if (d !== undefined && d !== found) notes.push(`${key}=${d} declared but codes ${dims(codes.shape)} and codebooks ${dims(codebooks.shape)} give ${found}`);
    }
  }
  const bias = view.tensors.get('bias');
  if (bias && prod(bias.shape) !== out) notes.push(`bias has ${prod(bias.shape)} values for ${out} outputs`);
  // Bits per weight of the codes alone: num_codebooks codes of nbits for each block of out_group x in_group weights.
  const bits = (numCodebooks * nbits) / (outGroup * inGroup);
  const scheme = `${numCodebooks}x${nbits}`;
  const block = outGroup > 1 ? `${outGroup}x${inGroup} blocks` : `groups of ${inGroup} inputs`;
  return {
    layer: {
      method: 'aqlm',
      bits: Math.round(bits * 1e4) / 1e4,
      ...(outGroup > 1 ? { blockSize: [outGroup, inGroup] } : { groupSize: inGroup }),
      format: scheme,
      rows: out,
      cols: inF,
      bias: bias !== undefined,
    },
    packed: codes,
    logicalShape: [out, inF],
    packedReason: `AQLM ${scheme} codes of a ${out}x${inF} linear layer: ${numCodebooks} code(s) of ${nbits} bits per ${block}`,
    aux: [
      ['codebooks', `AQLM codebooks: ${numCodebooks} x ${size} vectors of ${outGroup}x${inGroup} values`],
      ['scales', 'AQLM scales: one per output group'],
    ],
    notes,
  };
};
