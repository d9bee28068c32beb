/**
 * What a checkpoint format is, in one interface. Each format is one module (safetensors.ts,
 * gguf.ts, onnx.ts, pytorch/) exporting a FormatModule; formats/index.ts registers them in one
 * list and derives everything else (sniffing, labels, extensions, editor patterns, folder
 * picking) from it. This file imports types only, so readers and the registry both depend on
 * it and never on each other.
 */
import type { ByteSource } from '../bytes';
import type { ReaderContext } from '../access';
import type { DeclaredTie, RawCheckpoint } from '../model';

/** The bytes carry the format's own signature: a magic number, or a structure only it has. */
export const CERTAIN = 1;
/** The bytes fit the format, and other files too (any zip, any protobuf message). */
export const PLAUSIBLE = 0.5;

/** What match() recognised in the first bytes of a file. */
export interface Match<S = unknown> {
  /** 0..1: CERTAIN, PLAUSIBLE, or between. The opener takes the most confident module. */
  confidence: number;
  /** The RawCheckpoint.format the file will most likely be read as (a key of `variants`). */
  variant?: string;
  /** What match() parsed, handed to read() so that nothing is parsed twice. */
  state?: S;
}

/** One entry of a folder rule: an exact file name or a name pattern. */
export type NamePattern = string | RegExp;

/**
 * What to open when several names of a folder fit one entry of a folder rule; `note` says what
 * was chosen and what was left unread, when that is worth a warning.
 */
export type FolderChoice = { file: string; note?: string } | { shards: string[] };

export interface FolderRule {
  /**
   * The names this format opens when the user opens a folder, most preferred first. The
   * registry walks the modules in registration order and each module's entries in this order;
   * the first entry that some name in the folder fits decides.
   */
  prefer: NamePattern[];
  /**
   * Several names fit one entry: one file to open, a shard set to read as one checkpoint, or
   * undefined when they are alternatives the user has to choose between.
   */
  choose?(names: string[]): FolderChoice | undefined;
}

export interface ShardRule {
  /** RawCheckpoint.format of a set of this format's shards (default: the first shard's). */
  format?: string;
  /**
   * Declared ties of one shard, resolved against the names of the whole set (a tie may name a
   * tensor stored in another shard). Default: the shard's own declaredTies.
   */
  ties?(shard: RawCheckpoint, names: ReadonlySet<string>): DeclaredTie[];
  /** An index's `metadata.total_size` is the sum of the tensors' bytes, so a mismatch is worth a warning. */
  indexTotalIsTensorBytes?: boolean;
}

export interface FormatModule<S = unknown> {
  /** Short id: `safetensors`, `pytorch`, `gguf`, `onnx`. */
  id: string;
  /** The format as messages name it in a list of what we read: `PyTorch zip or legacy pickle`. */
  name: string;
  /** Every RawCheckpoint.format value this module produces, with its display label. */
  variants: Record<string, string>;
  /** File name endings this module is the natural reader for: lower case, with the dot. */
  extensions: string[];
  /**
   * VS Code custom-editor file patterns (package.json `customEditors` selectors): `default`
   * opens the file in Weightscope, `option` offers it (Open With…) for names that say little.
   */
  editor: { default: string[]; option: string[] };
  /** Bytes from the start of the file match() needs (it is given at least these, or the whole file). */
  sniffBytes: number;
  /** Whether `head` (the first bytes) looks like this format; `size` is the whole file's. Pure and cheap. */
  match(head: Uint8Array, size: number, fileName: string): Match<S> | null;
  /**
   * Read a file into a RawCheckpoint without reading tensor data. `match` is what match() said
   * about this file; absent or null when the file was picked by its name (then read() reports
   * what is wrong in its own terms).
   */
  read(src: ByteSource, ctx: ReaderContext, match?: Match<S> | null): Promise<RawCheckpoint>;
  /** How this format is found in a folder. */
  folder?: FolderRule;
  /** How shards of this format (named by an index, or a `-0000k-of-0000n` set) merge. */
  shards?: ShardRule;
}
