/**
 * The format readers, one module per format. Each reader says whether the first bytes of a file
 * look like its format (sniff) and reads a file into a RawCheckpoint without reading tensor data.
 */
import { ByteSource } from '../bytes';
import { ReaderContext } from '../access';
import { RawCheckpoint } from '../model';

export interface FormatReader {
  /** Short id used in messages, e.g. `safetensors`. */
  id: string;
  /** File name endings this reader is the natural choice for (lower case). */
  extensions: string[];
  /**
   * True when `head` (the first up-to-64 bytes of the file) looks like this format.
   * `size` is the whole file's size.
   */
  sniff(head: Uint8Array, size: number, fileName: string): boolean;
  read(src: ByteSource, ctx: ReaderContext): Promise<RawCheckpoint>;
}

import { safetensorsReader } from './safetensors';
import { ggufReader } from './gguf';
import { onnxReader } from './onnx';
import { pytorchReader } from './pytorch';

/** Readers in sniffing order: the most specific magic numbers first. */
export const READERS: FormatReader[] = [
  ggufReader,
  safetensorsReader,
  pytorchReader,
  onnxReader,
];
