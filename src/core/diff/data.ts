/**
 * Comparing tensor bytes (opt-in: `data: true`). Equal structure is not equal data; this reads
 * each tensor's byte range (known for safetensors, stored PyTorch zip records, GGUF and raw ONNX
 * data) and compares SHA-256 digests. Local files only; one reusable 4 MiB buffer, ranges read
 * in file order; progress is reported as bytes hashed of the total.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { sameDims, spanOf } from '../coverage';
import { CheckpointError } from '../errors';
import { Checkpoint, Tensor } from '../model';
import { DataSummary, TensorPair } from './model';

export interface DataProgress {
  bytesHashed: number;
  totalBytes: number;
}

export interface DataOptions {
  onProgress?: (p: DataProgress) => void;
  /** Bytes per read (default 4 MiB). */
  chunkSize?: number;
}

interface Range {
  file: string;
  start: number;
  end: number;
}

/** Folder that a checkpoint's `file` names are relative to. */
function rootOf(cp: Checkpoint): string {
  const abs = path.resolve(cp.path);
  try {
    if (fs.statSync(abs).isDirectory()) return abs;
  } catch {
    throw new CheckpointError('not-found', 'cannot compare data: the checkpoint is not a local file', { file: cp.path });
  }
  return path.dirname(abs);
}

/** Absolute byte range of a tensor's elements (its span for a strided view); null if unknown. */
function rangeOf(t: Tensor, root: string): Range | null {
  if (t.dataOffset === null) return null;
  const start = t.dataOffset + (t.storageOffset ?? 0);
  return { file: path.join(root, t.file), start, end: start + spanOf(t) };
}

export async function compareData(pairs: TensorPair[], a: Checkpoint, b: Checkpoint, opts: DataOptions = {}): Promise<DataSummary> {
  const rootA = rootOf(a);
  const rootB = rootOf(b);
  const summary: DataSummary = { compared: 0, equal: 0, different: 0, unknown: 0, skipped: 0, bytesHashed: 0 };
  const real = new Map<string, string>();
  const realpath = (f: string) => {
    let r = real.get(f);
    if (r === undefined) {
      try {
        r = fs.realpathSync(f);
      } catch {
        r = f;
      }
      real.set(f, r);
    }
    return r;
  };
  const jobs = new Map<string, Range>();
  const idOf = (r: Range) => `${realpath(r.file)}\0${r.start}\0${r.end}`;
  const todo: { pair: TensorPair; ra: string; rb: string }[] = [];
  for (const p of pairs) {
    if (!p.a || !p.b) continue;
    if (p.a.dtype !== p.b.dtype || !sameDims(p.a.shape, p.b.shape)) {
      summary.skipped++;
      continue;
    }
    const ra = rangeOf(p.a, rootA);
    const rb = rangeOf(p.b, rootB);
    if (!ra || !rb) {
      p.data = 'unknown';
      summary.unknown++;
      continue;
    }
    summary.compared++;
    const ia = idOf(ra);
    const ib = idOf(rb);
    // The same bytes of the same file are equal without reading them.
    if (ia === ib || ra.end === ra.start) {
      p.data = 'equal';
      continue;
    }
    jobs.set(ia, ra);
    jobs.set(ib, rb);
    todo.push({ pair: p, ra: ia, rb: ib });
  }
  const digests = await hashRanges([...jobs.entries()], opts, summary);
  for (const { pair, ra, rb } of todo) pair.data = digests.get(ra) === digests.get(rb) ? 'equal' : 'different';
  for (const p of pairs) {
    if (p.data === 'equal') summary.equal++;
    else if (p.data === 'different') summary.different++;
  }
  return summary;
}

async function hashRanges(jobs: [string, Range][], opts: DataOptions, summary: DataSummary): Promise<Map<string, string>> {
  jobs.sort((x, y) => (x[1].file < y[1].file ? -1 : x[1].file > y[1].file ? 1 : x[1].start - y[1].start));
  let total = 0;
  for (const [, r] of jobs) total += r.end - r.start;
  const out = new Map<string, string>();
  const buf = Buffer.allocUnsafe(opts.chunkSize ?? 4 << 20);
  let done = 0;
  opts.onProgress?.({ bytesHashed: 0, totalBytes: total });
  let fh: fs.promises.FileHandle | undefined;
  let open = '';
  try {
    for (const [id, r] of jobs) {
      if (r.file !== open) {
        await fh?.close();
        fh = undefined;
        fh = await fs.promises.open(r.file, 'r');
        open = r.file;
      }
      const h = createHash('sha256');
      let pos = r.start;
      while (pos < r.end) {
        const want = Math.min(buf.length, r.end - pos);
        const { bytesRead } = await fh!.read(buf, 0, want, pos);
        if (bytesRead === 0) {
          throw new CheckpointError('truncated', `tensor data needs bytes ${r.start}..${r.end} but the file ends at ${pos}`, { file: r.file, offset: pos });
        }
        h.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
        done += bytesRead;
        opts.onProgress?.({ bytesHashed: done, totalBytes: total });
      }
      out.set(id, h.digest('hex'));
    }
  } finally {
    await fh?.close();
  }
  summary.bytesHashed = done;
  return out;
}
