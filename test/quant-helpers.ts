/**
 * What the quantization tests share: safetensors files written in memory, a folder with a
 * config.json beside them, and lookups of a tensor or a module in an opened checkpoint.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { Checkpoint } from '../src/core';
import { readJson, safetensorsBytes } from './helpers';

/** Bytes per element of the safetensors dtypes the tests write. */
export const ST_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, U32: 4, F8_E4M3: 1 };

/** A safetensors file with real data: entries in order, each with its bytes (zeros when omitted). */
export function st(entries: { name: string; dtype: string; shape: number[]; data?: Buffer }[], metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const blobs: Buffer[] = [];
  let off = 0;
  for (const e of entries) {
    const n = e.shape.reduce((a, b) => a * b, 1) * ST_BYTES[e.dtype];
    const data = e.data ?? Buffer.alloc(n);
    assert.strictEqual(data.length, n, `${e.name}: ${data.length} bytes for ${n}`);
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + n] };
    blobs.push(data);
    off += n;
  }
  let h = JSON.stringify(header);
  while (Buffer.byteLength(h) % 8) h += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(h)));
  return Buffer.concat([len, Buffer.from(h), ...blobs]);
}

/** A safetensors file of zeros with these [name, dtype, shape] entries, in order (headers are what is read). */
export function stZeros(entries: [string, string, number[]][]): Buffer {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, dtype, shape] of entries) {
    const n = shape.reduce((a, b) => a * b, 1) * ST_BYTES[dtype];
    header[name] = { dtype, shape, data_offsets: [off, off + n] };
    off += n;
  }
  return safetensorsBytes(header, off);
}

/** Little-endian int64 values, as a shape tensor holds them. */
export function i64s(...xs: number[]): Buffer {
  const b = Buffer.alloc(8 * xs.length);
  xs.forEach((x, i) => b.writeBigInt64LE(BigInt(x), 8 * i));
  return b;
}

/** A folder with a config.json (none when undefined) and a model.safetensors. */
export function folder(dir: string, name: string, config: unknown, weights: Buffer): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d, { recursive: true });
  if (config !== undefined) fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(config));
  fs.writeFileSync(path.join(d, 'model.safetensors'), weights);
  return d;
}

/** A copy of the checkpoint folder `from` (its model.safetensors) at `dir/to`, its config.json changed by `edit`. */
export function editedCopy(from: string, dir: string, to: string, edit: (cfg: Record<string, unknown>) => void): string {
  const cfg = readJson<Record<string, unknown>>(path.join(from, 'config.json'));
  edit(cfg);
  return folder(dir, to, cfg, fs.readFileSync(path.join(from, 'model.safetensors')));
}

export function tensor(cp: Checkpoint, name: string) {
  const t = cp.tensors.find((x) => x.name === name);
  assert.ok(t, `tensor ${name}`);
  return t;
}

export function moduleAt(cp: Checkpoint, p: string) {
  let m = cp.modules;
  for (const part of p.split('.')) {
    const c = m.children.find((x) => x.name === part);
    assert.ok(c, `module ${p} (no ${part} under ${m.path || 'root'})`);
    m = c;
  }
  return m;
}
