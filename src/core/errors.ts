/**
 * Typed errors for bad input. Every reader failure is a CheckpointError that names what is
 * wrong and where: the file, a byte offset when one applies, and the record (tensor name,
 * zip member, pickle opcode...) when one applies. The CLI prints `error: <message>`.
 */
export type ErrorCode =
  | 'io'
  | 'not-found'
  | 'unknown-format'
  | 'truncated'
  | 'bad-header'
  | 'bad-json'
  | 'duplicate-key'
  | 'bad-dtype'
  | 'bad-shape'
  | 'bad-offsets'
  | 'bad-index'
  | 'unsafe-path'
  | 'missing-shard'
  | 'too-large'
  | 'bad-pickle'
  | 'bad-zip'
  | 'bad-tar'
  | 'bad-dcp' // a distributed checkpoint's .metadata that is not what torch.distributed.checkpoint writes
  | 'unsupported'
  | 'limit'
  // Remote sources (src/core/remote/):
  | 'http' // an HTTP answer that is neither the bytes asked for nor one of the cases below
  | 'auth' // 401/403: a token is needed, or the one given is refused
  | 'no-ranges' // the server ignores Range requests; the file would have to be downloaded whole
  | 'timeout' // no answer in time, after retries
  | 'network' // connection refused, reset or dropped, after retries
  | 'changed' // the file changed (ETag or size) between two reads
  | 'cancelled'; // the caller's AbortSignal fired

export interface ErrorLocation {
  file?: string;
  offset?: number;
  record?: string;
}

export class CheckpointError extends Error {
  readonly code: ErrorCode;
  readonly file?: string;
  readonly offset?: number;
  readonly record?: string;
  /** The message without the location prefix. */
  readonly detail: string;

  constructor(code: ErrorCode, detail: string, where: ErrorLocation = {}) {
    super(formatMessage(detail, where));
    this.name = 'CheckpointError';
    this.code = code;
    this.detail = detail;
    this.file = where.file;
    this.offset = where.offset;
    this.record = where.record;
  }

  /** A copy of this error with a file name filled in where it had none. */
  withFile(file: string): CheckpointError {
    if (this.file) return this;
    return new CheckpointError(this.code, this.detail, { file, offset: this.offset, record: this.record });
  }
}

function formatMessage(detail: string, where: ErrorLocation): string {
  const parts: string[] = [];
  if (where.file) parts.push(where.file);
  if (where.offset !== undefined) parts.push(`byte ${where.offset}`);
  if (where.record) parts.push(where.record);
  return parts.length ? `${parts.join(': ')}: ${detail}` : detail;
}

export function isCheckpointError(e: unknown): e is CheckpointError {
  return e instanceof CheckpointError;
}
