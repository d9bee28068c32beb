/**
 * PyTorch reader defects found by review, checked against torch 1.13's own answers
 * (scripts/fixtures/make_pytorch_extra.py writes test/fixtures/pytorch-extra and its ground truth).
 */
import * as assert from 'assert';
import { openCheckpoint, readCheckpoint, CheckpointError, ModuleNode } from '../src/core';
import { ByteSource, checkRange } from '../src/core/bytes';
import { nodeFileAccess } from '../src/core/access';
import { readPytorch } from '../src/core/formats/pytorch';
import { looksLikeLegacy } from '../src/core/formats/pytorch/legacy';
import { classifyGlobal } from '../src/core/formats/pytorch/safety';
import { checkCounts, checkTensors, checkTree, TensorTruth, TreeTruth } from './pytorch-truth';
import { fixture, readJson } from './helpers';
import { MemoryByteSource } from '../src/core/bytes';
import * as fs from 'fs';

interface SparseTruth {
  dtype: string;
  shape: number[];
  numel: number;
  nbytes: number;
  layout: string;
  nnz: number;
}

interface FixtureTruth {
  format?: string;
  layout?: string;
  protocol?: number;
  parameters?: { unique: number; total: number };
  buffers?: { unique: number; total: number };
  torchParameters?: number;
  roles?: Record<string, string>;
  shared?: { tensors: string[]; relation: string }[];
  tensors?: Record<string, TensorTruth>;
  prefixes?: string[];
  metadata?: Record<string, unknown>;
  moduleTree?: TreeTruth;
  sparse?: Record<string, SparseTruth>;
  error?: string;
  dangerous?: string[];
  verdict?: string;
  globals?: string[];
  /** torch.ao quantized files (ao-*.pt): tensors inside packed parameters, named as the state dict names them. */
  packed?: Record<string, { dtype: string; shape: number[] }>;
  /** Scale and zero point tensors of torch's quantized modules. */
  quantizationState?: string[];
  /** What the quantized model's parameters() still yields (a LayerScale's `scale`). */
  parameterNames?: string[];
}

const GT = readJson<{ fixtures: Record<string, FixtureTruth>; gadgets: Record<string, string> }>(fixture('pytorch-extra', 'ground-truth.json'));
const F = GT.fixtures;
const px = (name: string) => fixture('pytorch-extra', name);




function rejectsWith(code: string, re: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.strictEqual(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  };
}

describe('whole nn.Modules inside dicts and lists', () => {
  for (const name of ['gan-modules.pt', 'list-of-modules.pt', 'model-and-ema.pt', 'unregistered-module-attr.pt']) {
    it(`${name}: every tensor, torch's counts, roles and module tree`, async () => {
      const t = F[name];
      const raw = await readCheckpoint(px(name));
      assert.strictEqual(raw.format, t.format);
      checkTensors(raw, t, null);
      assert.strictEqual((raw.metadata.pytorch as Record<string, unknown>).layout, t.layout);
      if (t.prefixes) assert.deepStrictEqual(raw.prefixes, t.prefixes);
      assert.ok(raw.moduleTree, 'a module tree');
      checkTree(raw.moduleTree!, t.moduleTree!);
      await checkCounts(px(name), t);
      // torch: the sum over the models of sum(p.numel() for p in model.parameters())
      const cp = await openCheckpoint(px(name));
      assert.strictEqual(cp.parameters.total, t.torchParameters);
      const cycles = JSON.stringify(raw.moduleTree).includes('"cycle"');
      assert.strictEqual(cycles, false, 'no module is mistaken for a cycle');
    });
  }

  it('{generator: G, discriminator: D, epoch}: both models under their keys, the epoch as metadata', async () => {
    const cp = await openCheckpoint(px('gan-modules.pt'));
    assert.deepStrictEqual(cp.modules.children.map((c) => [c.name, c.type, c.inferred]), [
      ['generator', 'Sequential', false],
      ['discriminator', 'Sequential', false],
    ]);
    assert.strictEqual(cp.modules.children[0].children[0].repr, 'Linear(in_features=3, out_features=5, bias=True)');
    assert.strictEqual((cp.metadata.checkpoint as Record<string, unknown>).epoch, 4);
    assert.strictEqual(cp.parameters.total, 57);
  });

  it('[G, D]: the models are 0.* and 1.*', async () => {
    const cp = await openCheckpoint(px('list-of-modules.pt'));
    assert.deepStrictEqual(cp.modules.children.map((c) => c.name), ['0', '1']);
    assert.ok(cp.tensors.some((t) => t.name === '1.1.running_var' && t.role === 'buffer'));
  });

  it('{model, ema}: the EMA copy is kept, beside the model, as other', async () => {
    const cp = await openCheckpoint(px('model-and-ema.pt'));
    const ema = cp.tensors.filter((t) => t.name.startsWith('ema.'));
    assert.strictEqual(ema.length, 4);
    assert.ok(ema.every((t) => t.role === 'other'));
    assert.strictEqual(cp.other.total, 24);
  });

  it('a module kept in a plain list attribute: its tensors are other, not parameters', async () => {
    const raw = await readCheckpoint(px('unregistered-module-attr.pt'));
    const w = raw.tensors.find((t) => t.name === 'unreg.0.weight')!;
    assert.strictEqual(w.role, 'other');
    assert.match(w.roleReason!, /plain attribute of WithUnregistered/);
  });
});

describe('the legacy format with pickle protocols 4 and 5', () => {
  for (const name of ['legacy-p4.pt', 'legacy-p5.pt', 'legacy-module-p5.pt']) {
    it(`${name}: read like protocol 2`, async () => {
      const t = F[name];
      const raw = await readCheckpoint(px(name));
      assert.strictEqual(raw.format, 'pytorch-legacy');
      assert.strictEqual((raw.metadata.pytorch as Record<string, unknown>).pickle_protocol, t.protocol);
      checkTensors(raw, t, null);
      if (t.moduleTree) checkTree(raw.moduleTree!, t.moduleTree);
      await checkCounts(px(name), t);
    });
  }

  for (const [name, offset] of [['protocol0-sd.pt', 148], ['protocol0-sd.legacy.pt', 236]] as const) {
    it(`${name}: protocol 0 (persistent ids written as text, which torch.load cannot read either) is refused, saying so`, async () => {
      assert.notStrictEqual((F[name] as unknown as { torchLoad: string }).torchLoad, 'loaded', 'torch 1.13 reads it after all');
      await assert.rejects(readCheckpoint(px(name)), (e: unknown) => {
        assert.ok(e instanceof CheckpointError);
        assert.strictEqual(e.code, 'bad-pickle');
        assert.strictEqual(e.offset, offset);
        assert.strictEqual(e.record, 'pickle opcode PERSID');
        assert.match(e.message, /persistent id is str "\('storage', <class 'torch\.FloatStorage'>.*not a tuple \(a protocol-0 pickle: torch\.save with pickle_protocol=0 writes the tuple as text, which torch\.load cannot read either\)$/);
        return true;
      });
    });
  }

  it('the magic number is recognised in every protocol, FRAME or not', () => {
    const head = (p: number) => fs.readFileSync(px(`legacy-p${p}.pt`)).subarray(0, 64);
    assert.ok(looksLikeLegacy(head(4)));
    assert.ok(looksLikeLegacy(head(5)));
    assert.strictEqual(head(4)[2], 0x95, 'protocol 4 starts with PROTO FRAME');
    const magic = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
    assert.ok(looksLikeLegacy(Uint8Array.from([0x80, 2, 0x8a, 10, ...magic, 0x2e])));
    assert.ok(looksLikeLegacy(Buffer.from('L119547037146038801333356L\n.', 'latin1')));
    // Another number, or another object, is not the magic number.
    assert.ok(!looksLikeLegacy(Uint8Array.from([0x80, 2, 0x8a, 10, ...magic.map((b, i) => (i === 0 ? b ^ 1 : b)), 0x2e])));
    assert.ok(!looksLikeLegacy(Uint8Array.from([0x80, 4, 0x7d, 0x2e])));
    assert.ok(!looksLikeLegacy(Uint8Array.from([0x80, 2, 0x63])));
  });
});

describe('sparse tensors count their dense numel, once', () => {
  for (const name of ['sparse-param-module.pt', 'sparse-dict.pt']) {
    it(`${name}: one tensor per sparse tensor, its dense shape, its components' bytes`, async () => {
      const t = F[name];
      const raw = await readCheckpoint(px(name));
      for (const [n, s] of Object.entries(t.sparse!)) {
        const rec = raw.tensors.find((x) => x.name === n)!;
        assert.ok(rec, n);
        assert.strictEqual(rec.dtype, s.dtype);
        assert.deepStrictEqual(rec.shape, s.shape);
        assert.strictEqual(rec.nbytes, s.nbytes);
        assert.strictEqual(rec.extra?.layout, s.layout);
        assert.strictEqual(rec.extra?.nnz, s.nnz);
        assert.strictEqual(rec.storage, null);
        assert.ok(!raw.tensors.some((x) => x.name.startsWith(`${n}.`)), 'no component tensors beside it');
      }
      const cp = await openCheckpoint(px(name));
      assert.strictEqual(cp.parameters.total, t.torchParameters);
      assert.strictEqual(cp.parameters.unique, t.torchParameters);
      for (const n of Object.keys(t.sparse!)) assert.strictEqual(cp.tensors.find((x) => x.name === n)!.numel, t.sparse![n].numel);
    });
  }

  it('a sparse Parameter of a module keeps its role and names its components', async () => {
    const raw = await readCheckpoint(px('sparse-param-module.pt'));
    const w = raw.tensors.find((x) => x.name === 'w')!;
    assert.strictEqual(w.role, 'parameter');
    assert.strictEqual(w.extra?.components, 'indices int64 [2, 4], values float32 [4]');
    assert.strictEqual(w.extra?.parameter, true);
  });
});

describe("reprs match torch's print(model)", () => {
  it('every leaf layer of reprs-module.pt prints as torch prints it', async () => {
    const raw = await readCheckpoint(px('reprs-module.pt'));
    const t = F['reprs-module.pt'];
    checkTree(raw.moduleTree!, t.moduleTree!);
    // Every leaf has a repr (none is left for the tree to infer).
    const leaves = raw.moduleTree!.children.filter((c) => c.children.length === 0);
    assert.ok(leaves.length > 50);
    for (const l of leaves) assert.ok(l.repr, `${l.name} ${l.className} has a repr`);
    await checkCounts(px('reprs-module.pt'), t);
  });

  it("containers such as MultiheadAttention open with torch's class line", async () => {
    const cp = await openCheckpoint(px('reprs-module.pt'));
    const t = F['reprs-module.pt'].moduleTree!;
    const check = (ours: ModuleNode, theirs: TreeTruth): void => {
      if (ours.children.length) assert.strictEqual(`${ours.type}(`, theirs.classLine, ours.path);
      else assert.strictEqual(ours.repr, theirs.classLine, ours.path);
      ours.children.forEach((c, i) => check(c, theirs.children[i]));
    };
    check(cp.modules, t);
    const mha = cp.modules.children.find((c) => c.name === '23')!;
    assert.strictEqual(mha.type, 'MultiheadAttention');
    assert.strictEqual(mha.children[0].repr, 'NonDynamicallyQuantizableLinear(in_features=4, out_features=4, bias=True)');
  });
});

describe("torch.ao quantized models: the float model's parameters, whole or as a state dict", () => {
  const names = Object.keys(F).filter((n) => n.startsWith('ao-'));
  it('the fixtures cover whole modules and state dicts', () => {
    assert.ok(names.filter((n) => n.endsWith('-module.pt')).length >= 5 && names.filter((n) => n.endsWith('-sd.pt')).length >= 6, names.join(', '));
  });

  for (const name of names) {
    it(`${name}: torch's float count, packed weights listed, scales and zero points as quantization state`, async () => {
      const t = F[name];
      const cp = await openCheckpoint(px(name));
      // torch: sum(p.numel() for p in float_model.parameters()), before quantization
      assert.strictEqual(cp.parameters.unique, t.torchParameters);
      const byName = new Map(cp.tensors.map((x) => [x.name, x]));
      for (const [n, e] of Object.entries(t.packed!)) {
        const x = byName.get(n);
        assert.ok(x, `${n} is listed (${cp.tensors.map((y) => y.name).join(', ')})`);
        assert.strictEqual(x.dtype, e.dtype, n);
        assert.deepStrictEqual(x.shape, e.shape, n);
        assert.strictEqual(x.role, 'parameter', `${n}: ${x.roleReason}`);
      }
      const state = cp.tensors.filter((x) => x.role === 'quantization').map((x) => x.name).sort();
      assert.deepStrictEqual(state, t.quantizationState);
      for (const n of t.parameterNames!) assert.strictEqual(byName.get(n)?.role, 'parameter', n);
    });
  }

  it("a quantized model's state dict reads as a state dict: its Linear's dtype entry (torch.qint8) is no training metadata", async () => {
    for (const name of names) {
      const layout = ((await readCheckpoint(px(name))).metadata.pytorch as Record<string, unknown>).layout;
      assert.strictEqual(layout, name.endsWith('-sd.pt') ? 'state_dict' : 'module', name);
    }
  });

  for (const name of names) {
    it(`${name}: the safety report is the pickle's, TorchScript objects flagged and never rebuilt`, async () => {
      const t = F[name];
      const safety = (await readCheckpoint(px(name))).safety!;
      assert.deepStrictEqual(safety.globals.map((g) => g.name).sort(), t.globals);
      const so = safety.globals.find((g) => g.name === 'torch.ScriptObject');
      if (t.globals!.includes('torch.ScriptObject')) {
        assert.strictEqual(so?.verdict, 'unknown');
        assert.strictEqual(so?.unsafe, true);
        assert.match(so?.calls?.[0] ?? '', /\.__setstate__\(\(.*'__torch__\.torch\.classes\./);
        assert.strictEqual(safety.verdict, 'unknown');
      } else if (name.endsWith('-sd.pt')) {
        assert.strictEqual(safety.verdict, 'safe');
      }
    });
  }

  it('the whole module names its packed weights as its state dict does, and says where they were', async () => {
    const whole = await openCheckpoint(px('ao-static-module.pt'));
    const sd = await openCheckpoint(px('ao-static-sd.pt'));
    const packed = (cp: typeof whole) => cp.tensors.filter((x) => x.name.startsWith('fc.')).map((x) => [x.name, x.dtype, x.shape.join('x')].join(' '));
    assert.deepStrictEqual(packed(whole), packed(sd).filter((x) => !/\.(scale|zero_point) /.test(x)));
    const w = whole.tensors.find((x) => x.name === 'fc._packed_params._packed_params.0')!;
    assert.match(w.roleReason!, /packed weights and biases held by LinearPackedParams \(a TorchScript LinearPackedParamsBase/);
    assert.match(sd.tensors.find((x) => x.name === 'fc.scale')!.roleReason!, /output scale of a quantized module/);
  });

  it("a `scale` parameter without a zero point stays a parameter, beside quantized layers or not", async () => {
    for (const name of ['ao-dynamic-layerscale-sd.pt', 'ao-dynamic-layerscale-module.pt', 'ao-float-layerscale-sd.pt']) {
      const cp = await openCheckpoint(px(name));
      const scale = cp.tensors.find((x) => x.name === '1.scale')!;
      assert.strictEqual(scale.role, 'parameter', `${name}: ${scale.roleReason}`);
    }
  });
});

describe('safety verdicts on code-execution gadgets', () => {
  it('every gadget, as Python pickles its name, has the verdict torch-loading it deserves', () => {
    assert.ok(Object.keys(GT.gadgets).length > 25);
    for (const [full, verdict] of Object.entries(GT.gadgets)) {
      const i = full.lastIndexOf('.');
      assert.strictEqual(classifyGlobal(full.slice(0, i), full.slice(i + 1)).verdict, verdict, full);
    }
  });

  it('evil-gadgets.pt names each of them as dangerous', async () => {
    const raw = await readCheckpoint(px('evil-gadgets.pt'));
    assert.strictEqual(raw.safety!.verdict, 'dangerous');
    const dangerous = raw.safety!.globals.filter((g) => g.verdict === 'dangerous').map((g) => g.name).sort();
    assert.deepStrictEqual(dangerous, F['evil-gadgets.pt'].dangerous);
    assert.ok(raw.tensors.some((t) => t.name === 'w'));
  });

  it('functools.partial alone (torchvision ViT) is unknown, not dangerous', async () => {
    const raw = await readCheckpoint(px('partial-attr.pt'));
    assert.strictEqual(raw.safety!.verdict, 'unknown');
    for (const name of F['partial-attr.pt'].globals!) assert.ok(raw.safety!.globals.some((g) => g.name === name && g.verdict === 'unknown'), name);
    assert.ok(!raw.warnings.some((w) => w.code === 'unsafe-global'));
  });

  for (const name of ['evil-then-broken.pt', 'evil-then-broken-legacy.pt']) {
    it(`${name}: a pickle that names os.system and then breaks still names it`, async () => {
      await assert.rejects(readCheckpoint(px(name)), rejectsWith('bad-pickle', /unknown pickle opcode 0xff; before failing it references posix\.system \(dangerous\)/));
    });
  }
});

describe('memory bombs in small files end in typed errors, quickly', () => {
  it('dag.pt: 832 bytes whose memo DAG names 2^19 tensor paths stops at a budget proportional to its size', async () => {
    const t0 = Date.now();
    await assert.rejects(readCheckpoint(px('dag.pt')), rejectsWith('limit', /object graph expands to more than \d+ nodes/));
    assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
  });

  it('a deflated data.pkl that claims 1 GiB is refused before inflating anything', async () => {
    const t0 = Date.now();
    await assert.rejects(readCheckpoint(px('inflate-claims-1g.pt')), rejectsWith('limit', /zip member archive\/data\.pkl: member declares 1073741824 bytes once inflated/));
    assert.ok(Date.now() - t0 < 1000);
  });

  it('a deflated data.pkl that inflates past what it declares stops there', async () => {
    await assert.rejects(readCheckpoint(px('inflate-lies-small.pt')), rejectsWith('limit', /archive\/data\.pkl: member inflates to more than the 1000 bytes it declares/));
  });

  it('an honest deflated data.pkl is read, and the inflate cap holds whatever the header says', async () => {
    const raw = await readCheckpoint(px('inflate-honest.pt'));
    assert.strictEqual(raw.tensors.length, 0);
    const ctx = { access: nodeFileAccess, path: '/virtual/inflate-honest.pt', root: '/virtual' };
    const src = new MemoryByteSource('inflate-honest.pt', fs.readFileSync(px('inflate-honest.pt')));
    await assert.rejects(readPytorch(src, ctx, { maxInflateBytes: 1024 * 1024 }), rejectsWith('limit', /inflated up to 1048576 bytes/));
  });

  /** A 2 GiB file: `head`, then zeros that are never materialised. */
  class SparseFile implements ByteSource {
    bytesRead = 0;
    constructor(readonly name: string, private readonly head: Uint8Array, readonly size: number) {}
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(this, offset, length);
      if (length > 64 * 1024 * 1024) throw new Error(`read of ${length} bytes`);
      this.bytesRead += length;
      const out = new Uint8Array(length);
      if (offset < this.head.length) out.set(this.head.subarray(offset, offset + length), 0);
      return out;
    }
    async close(): Promise<void> {}
  }

  const magic = [0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e];
  const proto = [0x80, 2, 0x4d, 0xe9, 0x03, 0x2e];
  const sysInfo = [0x80, 2, 0x7d, 0x2e];
  const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];

  it('a legacy BINBYTES claiming 4 GiB in a 2 GiB file fails at once, without loading the file', async () => {
    const head = Uint8Array.from([...magic, ...proto, ...sysInfo, 0x80, 2, 0x42, ...u32(0xfffffff0)]);
    const src = new SparseFile('legacy-grow.pt', head, 2 ** 31);
    const ctx = { access: nodeFileAccess, path: '/virtual/legacy-grow.pt', root: '/virtual' };
    const t0 = Date.now();
    await assert.rejects(readPytorch(src, ctx), (e: unknown) => {
      rejectsWith('truncated', /pickle opcode BINBYTES: BINBYTES needs 4294967280 bytes but the file ends 2147483\d+ bytes later/)(e);
      assert.strictEqual((e as CheckpointError).offset, magic.length + proto.length + sysInfo.length + 2);
      return true;
    });
    assert.ok(src.bytesRead <= 64 * 1024, `read ${src.bytesRead} bytes`);
    assert.ok(Date.now() - t0 < 1000);
  });

  it('a legacy pickle longer than the first chunk is loaded as far as it needs, once', async () => {
    const n = 300_000;
    const main = [0x80, 2, 0x7d, 0x8c, 1, 0x62, 0x42, ...u32(n)];
    const tail = [0x73, 0x2e, 0x80, 2, 0x5d, 0x2e]; // SETITEM STOP, then the (empty) key list
    const bytes = new Uint8Array(magic.length + proto.length + sysInfo.length + main.length + n + tail.length);
    bytes.set([...magic, ...proto, ...sysInfo, ...main], 0);
    bytes.set(tail, bytes.length - tail.length);
    const src = new MemoryByteSource('long.pt', bytes);
    const raw = await readPytorch(src, { access: nodeFileAccess, path: '/virtual/long.pt', root: '/virtual' });
    assert.strictEqual(raw.format, 'pytorch-legacy');
    // The 64-byte head that chose the reader, then each byte of the file at most once.
    assert.ok(src.bytesRead <= 64 + bytes.length, `read ${src.bytesRead} of ${bytes.length} bytes`);
  });
});
