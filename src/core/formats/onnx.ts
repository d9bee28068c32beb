/**
 * ONNX: what the registry needs to know of the format (its names, its dtypes, how a file is
 * recognised). The reader, onnx-read.ts with the graph analysis, is loaded the first time an
 * ONNX file is read: a run of the command on any other format never loads it (issue 11).
 */
import { CheckpointError } from '../errors';
import { registerDtype } from '../dtypes';
import { decodeVarint, WIRE_LEN } from './protobuf';
import { FormatModule, PLAUSIBLE } from './format';

// Dtypes only ONNX has. `string` tensors: nbytes is the total length of their strings.
registerDtype('uint4', { bits: 4, floating: false });
registerDtype('int4', { bits: 4, floating: false });
registerDtype('uint2', { bits: 2, floating: false });
registerDtype('int2', { bits: 2, floating: false });
registerDtype('float4_e2m1fn', { bits: 4, floating: true });
registerDtype('string', { bits: 8, floating: false });

const reader = () => require('./onnx-read') as typeof import('./onnx-read');

export const onnxReader: FormatModule = {
  id: 'onnx',
  name: 'ONNX',
  variants: { onnx: 'ONNX' },
  extensions: ['.onnx'],
  editor: { default: ['*.onnx'], option: [] },
  sniffBytes: 64,
  // Protobuf has no magic number: a plausible ModelProto start is all the bytes can say.
  match(head, size) {
    return sniffOnnx(head, size) ? { confidence: PLAUSIBLE, variant: 'onnx' } : null;
  },
  read(src, ctx) {
    return reader().readOnnx(src, ctx);
  },
  folder: { prefer: [/\.onnx$/i] },
};

/** Field number → wire type of the ModelProto fields that open a file. */
const MODEL_FIELDS: Record<number, number> = { 1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2 };

/**
 * A ModelProto starts with ir_version (field 1, varint). Accept when that field holds a plausible
 * version and every following field that fits in `head` is a ModelProto field of the right type.
 */
export function sniffOnnx(head: Uint8Array, size: number): boolean {
  if (head.length < 2 || head[0] !== 0x08) return false;
  const stop = () => new CheckpointError('truncated', '');
  let pos = 0;
  let first = true;
  try {
    while (pos < head.length) {
      const tag = decodeVarint(head.subarray(pos), '', pos, '', stop);
      if (typeof tag.value !== 'number') return false;
      const no = Math.floor(tag.value / 8);
      const wire = tag.value & 7;
      if (MODEL_FIELDS[no] !== wire) return false;
      pos += tag.len;
      const v = decodeVarint(head.subarray(pos), '', pos, '', stop);
      if (first) {
        if (no !== 1 || typeof v.value !== 'number' || v.value < 1 || v.value > 64) return false;
        first = false;
      }
      pos += v.len;
      if (wire === WIRE_LEN) {
        if (typeof v.value !== 'number' || pos + v.value > size) return false;
        pos += v.value;
      }
    }
  } catch (e) {
    // Cut short by the end of `head`: fine once ir_version was read; a malformed varint is not.
    return !first && e instanceof CheckpointError && e.code === 'truncated';
  }
  return !first;
}
