/** Test helpers: fixture paths, temp folders, and sparse full-size files built from headers. */
import * as assert from 'assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { spawnSync } from 'child_process';
import { CheckpointError } from '../src/core/errors';

export const REPO = path.resolve(__dirname, '..', '..');
export const FIXTURES = path.join(REPO, 'test', 'fixtures');

export function fixture(...parts: string[]): string {
  return path.join(FIXTURES, ...parts);
}

export function readJson<T = any>(p: string): T {
  return JSON.parse(fs.readFileSync(p, 'utf8')) as T;
}

/** Every file below `dir` whose name `keep` accepts: full paths, each folder walked where it is listed. */
export function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p, keep));
    else if (keep(e.name)) out.push(p);
  }
  return out;
}

export function tempDir(prefix = 'weightscope-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * A full-size checkpoint from a committed header: the header bytes followed by a sparse data
 * region of `dataSize` bytes that takes no disk space and is never read.
 */
export function sparseFromHeader(headerPath: string, dataSize: number, outPath: string): string {
  const header = fs.readFileSync(headerPath);
  const fd = fs.openSync(outPath, 'w');
  try {
    fs.writeSync(fd, header, 0, header.length, 0);
    fs.ftruncateSync(fd, header.length + dataSize);
  } finally {
    fs.closeSync(fd);
  }
  return outPath;
}

/** safetensors bytes from a header object and a data size (data zero-filled). */
export function safetensorsBytes(header: unknown, dataSize: number, rawHeader?: string): Buffer {
  let h = rawHeader ?? JSON.stringify(header);
  while (Buffer.byteLength(h) % 8) h += ' ';
  const hb = Buffer.from(h);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  return Buffer.concat([len, hb, Buffer.alloc(dataSize)]);
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the compiled CLI (out/src/cli/main.js) as a user would. */
export function cli(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [path.join(REPO, 'out', 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface Truth {
  parameters: { unique: number; total: number };
  buffers: { unique: number; total: number };
  shared: { tensors: string[]; relation: string }[];
  dataSize?: number;
}

/** Sharing groups in a canonical, comparable form. */
export function canonicalShared(groups: { tensors: string[]; relation: string }[]): string[] {
  return groups.map((g) => `${g.relation}:${[...g.tensors].sort().join(',')}`).sort();
}

/** Awaits a promise that must reject with a CheckpointError of this code and message. */
export async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<CheckpointError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CheckpointError, `expected a CheckpointError, got ${String(e)}`);
    assert.strictEqual(e.code, code, e.message);
    assert.match(e.message, message);
    return e;
  }
  assert.fail('expected the reader to reject the input');
}

/** SHA-256 of `n` bytes of a file at `offset` (to prove an offset points at the right data). */
export function sha256At(file: string, offset: number, n: number): string {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(n);
    fs.readSync(fd, b, 0, n, offset);
    return crypto.createHash('sha256').update(b).digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}

/** A seeded pseudo-random source in [0, 1), so corruption tests try the same inputs every run. */
export function seededRandom(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
}

/** Overwrite 1 to 4 bytes of `b` with random values, at positions `at` picks (default: anywhere). */
export function flipBytes(b: Uint8Array, rand: () => number, at: () => number = () => Math.floor(rand() * b.length)): void {
  const flips = 1 + Math.floor(rand() * 4);
  for (let k = 0; k < flips; k++) b[at()] = Math.floor(rand() * 256);
}

/** Runs `read`; a CheckpointError is an answer (returns false), anything else escapes. */
export async function readsOrRefuses<T>(read: Promise<T>): Promise<T | false> {
  try {
    return await read;
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    return false;
  }
}

/**
 * Rebuild a full-size PyTorch checkpoint from its committed skeleton (scripts/fixtures/
 * make_pytorch.py): every byte torch wrote except the storage data, at its original offset in a
 * sparse file of the original length. Returns the size.
 */
export function rebuildSkeleton(skel: string, out: string): number {
  const buf = zlib.gunzipSync(fs.readFileSync(skel));
  assert.strictEqual(buf.subarray(0, 8).toString('latin1'), 'WSSKEL1\n');
  const size = Number(buf.readBigUInt64LE(8));
  const n = buf.readUInt32LE(16);
  let p = 20;
  const fd = fs.openSync(out, 'w');
  try {
    for (let i = 0; i < n; i++) {
      const off = Number(buf.readBigUInt64LE(p));
      const len = buf.readUInt32LE(p + 8);
      p += 12;
      fs.writeSync(fd, buf, p, len, off);
      p += len;
    }
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
  return size;
}

/**
 * 2^k distinct ASCII names of 4k characters that share one FNV-1a hash (bytes.ts's, not keyed):
 * one of two 4-byte blocks that collide from FNV's offset, then k - 1 blocks each one of a pair
 * that collides from there on (both pairs found by a birthday search).
 */
export function collidingNames(k: number): string[] {
  let names = ['7yzl', 'e6ap'];
  for (let i = 1; i < k; i++) names = names.flatMap((n) => [n + '5uzl', n + 'g2ap']);
  return names;
}
