/**
 * The comparison of two analysed checkpoints, A (before) and B (after). Everything is keyed by a
 * *comparison name*: B's name when B has the tensor, else A's name (translated by A's rename rule
 * when one applies), so the two module trees align path by path. Each side is the analysed
 * checkpoint in that namespace (A is re-analysed under B's names when tensors were renamed).
 */
import { Checkpoint, ModuleNode, Relation, Tensor } from '../model';

export type PairStatus = 'equal' | 'changed' | 'added' | 'removed';

/** What differs between the two sides of one tensor. `sharing`: its storage partners differ. */
export type ChangeField = 'dtype' | 'shape' | 'role' | 'sharing' | 'data';

export interface Rename {
  /** The name in A's file. */
  from: string;
  /** The name in B's file. */
  to: string;
  /** `prefix`: a wrapper prefix added or removed; `gguf`: llama.cpp's names for Hugging Face's. */
  rule: 'prefix' | 'gguf';
  /** For `prefix`: the prefix in A and the prefix in B that replaces it ('' for none). */
  prefix?: { from: string; to: string };
}

export interface TensorPair {
  /** Comparison name (see the file comment). */
  key: string;
  /** A's tensor in the comparison namespace (its `name` is `key`), or null if B added it. */
  a: Tensor | null;
  /** The name A's file gives it (differs from `key` when renamed). */
  aName: string | null;
  b: Tensor | null;
  status: PairStatus;
  changes: ChangeField[];
  renamed?: Rename;
  /** With `data: true`: whether the bytes are equal; `unknown` when a side has no known byte range. */
  data?: 'equal' | 'different' | 'unknown';
  /** Index into `shared.lost` / `shared.gained` of the tie this tensor lost / gained. */
  tieLost?: number;
  tieGained?: number;
  /** Position in the aligned tree, depth first (defines "first holder" of shared storage). */
  order: number;
  /**
   * Elements this tensor adds to its side's unique count for its role: storage shared by several
   * tensors is counted once, at the first of them in tree order (so owned counts add up).
   */
  ownedA: number;
  ownedB: number;
  /** Bytes this tensor adds to its side's stored bytes (shared storage at its first stored holder). */
  ownedBytesA: number;
  ownedBytesB: number;
}

/** A tie present on one side and gone (split) on the other. */
export interface TieChange {
  /** The group's comparison names on the side that has the tie. */
  tensors: string[];
  relation: Relation;
  /**
   * How the same tensors are stored on the other side: lists of names that share one storage
   * there (a name alone in its list has its own storage). Names missing on the other side are left out.
   */
  other: string[][];
}

/** A tie on both sides over the same tensors. */
export interface TieSame {
  tensors: string[];
  /** `declared` and `alias` are the same sharing (one side declares it, the other stores it). */
  relation: { a: Relation; b: Relation };
}

export interface SideCounts {
  parameters: { unique: number; total: number; owned: number };
  buffers: { unique: number; total: number; owned: number };
  /** Bytes of stored tensors: `unique` counts the subtree's shared storage once; `owned` adds up (see TensorPair). */
  bytes: { unique: number; owned: number };
}

export interface ModuleRow {
  name: string;
  /** Comparison path ('' for the root). */
  path: string;
  status: PairStatus;
  a: ModuleNode | null;
  b: ModuleNode | null;
  /** A's path for this module in A's own names, when it differs from `path`. */
  aPath?: string;
  /** Rows that count alike share one object: read them, never write. */
  countsA: SideCounts | null;
  countsB: SideCounts | null;
  /** Type or repr differs (shown); `typeCounts` when both sides know the class exactly (counted). */
  typeChanged: boolean;
  typeCounts: boolean;
  /** The module's own tensors (not its children's), both sides. */
  tensors: TensorPair[];
  children: ModuleRow[];
  /** Tensors in the subtree that differ in any way (added, removed, changed). */
  changed: number;
  /** Tensors in the subtree that were renamed. */
  renamed: number;
}

export interface KeyChange {
  key: string;
  status: 'added' | 'removed' | 'changed';
  /** The values (long ones summarised as a string such as "<array of 32000>"). */
  a?: unknown;
  b?: unknown;
  /** Bookkeeping that does not make the models different (`_name_or_path`, `transformers_version`). */
  informational?: boolean;
}

export interface DataSummary {
  compared: number;
  equal: number;
  different: number;
  /** Pairs whose bytes could not be located (compressed records, non-raw ONNX fields...). */
  unknown: number;
  /** Pairs not hashed because their dtype or shape already differ. */
  skipped: number;
  bytesHashed: number;
}

export interface CheckpointDiff {
  /** The two sides as analysed, in the comparison namespace (A re-analysed when renamed). */
  a: Checkpoint;
  b: Checkpoint;
  /** A as opened, in its own names. */
  aOriginal: Checkpoint;
  /** Every tensor of either side, B's order first, then what only A has. */
  pairs: TensorPair[];
  added: TensorPair[];
  removed: TensorPair[];
  changed: TensorPair[];
  renamed: TensorPair[];
  shared: { gained: TieChange[]; lost: TieChange[]; changed: TieSame[]; same: TieSame[] };
  root: ModuleRow;
  metadata: KeyChange[];
  config: KeyChange[];
  data?: DataSummary;
  /** No difference in tensors, names, sharing, exact module classes or model config. */
  equal: boolean;
  /** Short reasons when not equal, e.g. "1 tie lost". */
  reasons: string[];
}
