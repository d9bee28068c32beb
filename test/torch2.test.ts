/**
 * Tensors torch 2.x saves through rebuild functions other than _rebuild_tensor_v2, checked against
 * torch's numbers (scripts/fixtures/make_torch2.py writes test/fixtures/torch2 and its ground
 * truth: torch.save's own files where torch 1.13 writes the format, crafted pickles with derived
 * numbers where only 2.x does): wrapper subclasses (torchao, DTensor), bits dtypes, nested tensors,
 * XLA device tensors, and rebuilds the reader does not read, which must be named in a warning.
 */
import * as assert from 'assert';
import { openCheckpoint, readCheckpoint, toReport } from '../src/core';
import { fixture, readJson } from './helpers';

interface Facts {
  dtype: string;
  shape: number[];
  numel: number;
  nbytes: number;
  device?: string;
  storageOffset?: number;
  storageNbytes?: number;
}

interface Torch2Truth {
  format: string;
  parameters: { unique: number; total: number };
  buffers: { unique: number; total: number };
  tensors?: Record<string, Facts>;
  subclass?: Record<string, string>;
  components?: Record<string, string[]>;
  unread?: Record<string, string>;
}

const F = readJson<{ fixtures: Record<string, Torch2Truth> }>(fixture('torch2', 'ground-truth.json')).fixtures;
const px = (name: string) => fixture('torch2', name);

/** Counts as torch gives them, and each tensor's dtype, shape, numel and bytes on disk. */
async function checkFile(name: string): Promise<void> {
  const t = F[name];
  const cp = await openCheckpoint(px(name));
  const r = toReport(cp);
  assert.strictEqual(r.format, t.format);
  assert.deepStrictEqual(r.parameters, t.parameters, 'parameters');
  assert.deepStrictEqual(r.buffers, t.buffers, 'buffers');
  if (!t.tensors) return;
  assert.deepStrictEqual(cp.tensors.map((x) => x.name).sort(), Object.keys(t.tensors).sort());
  for (const x of cp.tensors) {
    const e: Facts = t.tensors[x.name];
    const where = `${name}: ${x.name}`;
    assert.strictEqual(x.dtype, e.dtype, where);
    assert.deepStrictEqual(x.shape, e.shape, where);
    assert.strictEqual(x.numel, e.numel, where);
    assert.strictEqual(x.nbytes, e.nbytes, where);
    if (e.device) assert.strictEqual(x.extra?.device, e.device, where);
    if (e.storageOffset !== undefined) assert.strictEqual(x.storageOffset, e.storageOffset, where);
    if (e.storageNbytes !== undefined) assert.strictEqual(x.storageNbytes, e.storageNbytes, where);
    if (t.subclass?.[x.name]) assert.strictEqual(x.extra?.subclass, t.subclass[x.name], where);
    if (t.components?.[x.name]) {
      const listed = [...String(x.extra?.components).matchAll(/(?:^|, )([^ ,]+) [a-z0-9_]+ \[/g)].map((m) => m[1]);
      assert.deepStrictEqual(listed, t.components[x.name], where);
    }
  }
  assert.ok(!cp.warnings.some((w) => w.code === 'tensor-not-read'), cp.warnings.map((w) => w.message).join('; '));
}

describe('torch 2.x wrapper tensor subclasses count as the tensor the model has', () => {
  for (const name of ['wrapper-aqt-sd.pt', 'wrapper-aqt-module.pt', 'wrapper-param-reduce.pt', 'dtensor-sd.pt']) {
    it(`${name}: torch's numel() of each wrapper, its bytes those of the tensors in its state`, () => checkFile(name));
  }

  it("a torchao weight's packed data are not extra parameters, nor is a DTensor's shard", async () => {
    const cp = await openCheckpoint(px('wrapper-aqt-sd.pt'));
    // torch: 0.weight numel 16 * 8 (the bfloat16 weight); int8 data 128 B + bf16 scale 32 B + int64 zero point 128 B on disk
    const w = cp.tensors.find((x) => x.name === '0.weight')!;
    assert.strictEqual(w.role, 'parameter');
    assert.strictEqual(w.numel, 128);
    assert.strictEqual(w.nbytes, 128 + 32 + 128);
    assert.strictEqual(cp.tensors.length, 4);
    const d = await openCheckpoint(px('dtensor-sd.pt'));
    // torch: fc.weight numel 16 * 8 (global), its local shard [8, 8] is its 256 bytes
    const dw = d.tensors.find((x) => x.name === 'fc.weight')!;
    assert.strictEqual(dw.numel, 128);
    assert.strictEqual(dw.nbytes, 8 * 8 * 4);
    assert.strictEqual(d.tensors.length, 2);
  });

  it('a whole module with a wrapper Parameter reads its tree and roles', async () => {
    const raw = await readCheckpoint(px('wrapper-param-reduce.pt'));
    assert.strictEqual(raw.moduleTree?.className, 'Linear');
    assert.deepStrictEqual({ ...raw.moduleTree?.parameters }, { weight: 'weight', bias: 'bias' });
    assert.strictEqual(raw.tensors.find((x) => x.name === 'weight')?.role, 'parameter');
  });
});

describe('torch 2.x bits dtypes through _rebuild_tensor_v3', () => {
  for (const name of Object.keys(F).filter((n) => n.startsWith('bits-'))) {
    it(`${name}: numel 32, nbytes 32 * element size, offset in elements of the dtype`, () => checkFile(name));
  }
});

describe('torch 2.x nested tensors are one tensor of their components\' elements', () => {
  it('nested-sd.pt: the nested entry of a state dict is counted (torch: numel 2*3 + 4*3)', () => checkFile('nested-sd.pt'));
  it("nested-buffer-module.pt: a whole module's nested buffer (torch buffers(): 18)", async () => {
    await checkFile('nested-buffer-module.pt');
    const cp = await openCheckpoint(px('nested-buffer-module.pt'));
    const b = cp.tensors.find((x) => x.name === 'ragged')!;
    assert.strictEqual(b.role, 'buffer');
    assert.strictEqual(b.extra?.layout, 'nested');
  });
});

describe('XLA tensors saved from the CPU or as numpy arrays are the tensor', () => {
  it('device-cpu-tensor.pt: _rebuild_device_tensor_from_cpu_tensor (torch 2.x), on its CPU copy\'s storage', async () => {
    await checkFile('device-cpu-tensor.pt');
    const cp = await openCheckpoint(px('device-cpu-tensor.pt'));
    const w = cp.tensors.find((x) => x.name === 'fc.weight')!;
    assert.ok(w.storage && w.dataOffset !== null);
  });
  it('device-numpy.pt: _rebuild_device_tensor_from_numpy, shape from the array, dtype from torch (a bfloat16 via float32)', () => checkFile('device-numpy.pt'));
});

describe('a tensor rebuild the reader does not read is named in a warning, not lost silently', () => {
  for (const name of ['unread-sd.pt', 'unread-module.pt']) {
    it(`${name}: counts what it reads, and names each unread rebuild and where it is`, async () => {
      const t = F[name];
      const cp = await openCheckpoint(px(name));
      assert.deepStrictEqual(cp.parameters, t.parameters);
      assert.deepStrictEqual(cp.buffers, t.buffers);
      const w = cp.warnings.filter((x) => x.code === 'tensor-not-read');
      assert.strictEqual(w.length, 1, cp.warnings.map((x) => x.message).join('; '));
      const entries = Object.entries(t.unread!);
      assert.match(w[0].message, new RegExp(`^${entries.length} value\\(s\\) that torch.load rebuilds as tensors`));
      for (const [path, fn] of entries) assert.ok(w[0].message.includes(`"${path}" (${fn})`), `${path} (${fn}) in: ${w[0].message}`);
    });
  }
});
