/** Checks against the ground truth torch wrote, shared by the PyTorch test suites. */
import * as assert from 'assert';
import { openCheckpoint, toReport, ModuleHint } from '../src/core';
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
