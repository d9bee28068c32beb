/** Checks against the ground truth torch wrote, shared by the PyTorch test suites. */
import * as assert from 'assert';
import * as fs from 'fs';
import { openCheckpoint, toReport, ModuleHint, RawCheckpoint } from '../src/core';
import { canonicalShared } from './helpers';

export interface TreeTruth {
  name: string;
  className: string;
  pythonModule: string;
  classLine?: string;
  repr?: string;
  children: TreeTruth[];
}

export interface CountsTruth {
  format?: string;
  parameters?: { unique: number; total: number };
  buffers?: { unique: number; total: number };
  roles?: Record<string, string>;
  shared?: { tensors: string[]; relation: string }[];
}

/** Class, module and children as torch has them; every torch.nn leaf prints as torch's repr(). */
export function checkTree(ours: ModuleHint, theirs: TreeTruth, where = 'root'): void {
  assert.strictEqual(ours.className, theirs.className, `${where}: class`);
  assert.strictEqual(ours.pythonModule, theirs.pythonModule, `${where}: module`);
  assert.deepStrictEqual(ours.children.map((c) => c.name), theirs.children.map((c) => c.name), `${where}: children`);
  if (theirs.repr !== undefined && theirs.pythonModule.startsWith('torch.nn.')) {
    assert.strictEqual(ours.repr, theirs.repr, `${where}: repr`);
  }
  ours.children.forEach((c, i) => checkTree(c, theirs.children[i], `${where}.${c.name}`));
}

/** Format, parameter and buffer counts, sharing groups and every tensor's role, as torch says. */
export async function checkCounts(p: string, t: CountsTruth): Promise<void> {
  const r = toReport(await openCheckpoint(p));
  assert.strictEqual(r.format, t.format);
  assert.deepStrictEqual(r.parameters, t.parameters, 'parameters');
  assert.deepStrictEqual(r.buffers, t.buffers, 'buffers');
  assert.deepStrictEqual(canonicalShared(r.shared), canonicalShared(t.shared!), 'sharing groups');
  for (const x of r.tensors) assert.strictEqual(x.role, t.roles![x.name], `role of ${x.name}`);
}

/** A tensor as torch describes it (scripts/fixtures/make_pytorch.py tensor_facts). */
export interface TensorTruth {
  dtype: string;
  shape: number[];
  stride: number[];
  storageOffset: number;
  nbytes: number;
  storageNbytes: number;
  first?: number;
  qscheme?: string;
  scale?: number;
  zero_point?: number;
}

/** The float32 at a byte offset of a file. */
function float32At(file: string, offset: number): number {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    fs.readSync(fd, b, 0, 4, offset);
    return b.readFloatLE(0);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every tensor's dtype, shape, strides and storage view equal torch's; storage ids are `${file}:${key}`. */
export function checkTensors(raw: RawCheckpoint, t: { tensors?: Record<string, TensorTruth> }, filePath: string | null): void {
  const truth = t.tensors!;
  assert.deepStrictEqual(raw.tensors.map((x) => x.name).sort(), Object.keys(truth).sort());
  const storages = new Map<string, number | null>();
  for (const rec of raw.tensors) {
    const e = truth[rec.name];
    const where = `tensor ${rec.name}`;
    assert.strictEqual(rec.dtype, e.dtype, where);
    assert.deepStrictEqual(rec.shape, e.shape, where);
    assert.deepStrictEqual(rec.strides, e.stride, where);
    assert.strictEqual(rec.storageOffset, e.storageOffset, where);
    assert.strictEqual(rec.nbytes, e.nbytes, where);
    assert.strictEqual(rec.storageNbytes, e.storageNbytes, where);
    assert.ok(rec.storage && rec.storage.startsWith(`${rec.file}:`), `${where}: storage id ${rec.storage}`);
    assert.ok(rec.dataOffset !== null && rec.dataOffset > 0, where);
    // One storage id, one data offset.
    const prev = storages.get(rec.storage!);
    if (prev !== undefined) assert.strictEqual(rec.dataOffset, prev, `${where}: same storage, same data offset`);
    storages.set(rec.storage!, rec.dataOffset);
    if (e.first !== undefined && filePath) {
      assert.strictEqual(float32At(filePath, rec.dataOffset! + rec.storageOffset!), e.first, `${where}: first element read at its data offset`);
    }
    if (e.qscheme) {
      assert.strictEqual(rec.extra?.qscheme, e.qscheme);
      assert.strictEqual(rec.extra?.scale, e.scale);
      assert.strictEqual(rec.extra?.zero_point, e.zero_point);
    }
  }
}
