import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint, readCheckpoint, toReport, CheckpointError } from '../src/core';
import { checkCounts, checkTensors, checkTree, TensorTruth, TreeTruth } from './pytorch-truth';
import { cli, fixture, readJson, rebuildSkeleton, tempDir } from './helpers';
import { MemoryByteSource } from '../src/core/bytes';
import { nodeFileAccess } from '../src/core/access';
import { readPytorch } from '../src/core/formats/pytorch';



interface FixtureTruth {
  format?: string;
  layout?: string;
  parameters?: { unique: number; total: number };
  buffers?: { unique: number; total: number };
  roles?: Record<string, string>;
  shared?: { tensors: string[]; relation: string }[];
  tensors?: Record<string, TensorTruth>;
  prefixes?: string[];
  metadata?: Record<string, unknown>;
  moduleTree?: TreeTruth;
  skeleton?: string;
  size?: number;
  archivePrefix?: string;
  error?: string;
  malicious?: boolean;
  dangerous?: string[];
}

const GT = readJson<{ marker: string; fixtures: Record<string, FixtureTruth> }>(fixture('pytorch', 'ground-truth.json'));
const F = GT.fixtures;
const pt = (name: string) => fixture('pytorch', name);




const small = Object.entries(F).filter(([, t]) => t.tensors && !t.skeleton);
const skeletons = Object.entries(F).filter(([, t]) => t.skeleton);

describe('PyTorch fixtures match torch', () => {
  for (const [name, t] of small) {
    it(`${name}: every tensor's storage view, and the counts and sharing groups torch computes`, async () => {
      const raw = await readCheckpoint(pt(name));
      assert.strictEqual(raw.format, t.format);
      checkTensors(raw, t, pt(name));
      if (t.prefixes) assert.deepStrictEqual(raw.prefixes, t.prefixes);
      await checkCounts(pt(name), t);
    });
  }

  it('tied weights are one storage: two names, same storage id, same view, relation alias', async () => {
    const r = toReport(await openCheckpoint(pt('gpt2-tied.pt')));
    const g = r.shared.find((s) => s.tensors.includes('lm_head.weight'))!;
    assert.deepStrictEqual([...g.tensors].sort(), ['lm_head.weight', 'transformer.wte.weight']);
    assert.strictEqual(g.relation, 'alias');
    const head = r.tensors.find((x) => x.name === 'lm_head.weight')!;
    assert.strictEqual(head.storage, r.tensors.find((x) => x.name === 'transformer.wte.weight')!.storage);
    const untied = toReport(await openCheckpoint(pt('gpt2-replaced-head.pt')));
    assert.ok(!untied.shared.some((s) => s.tensors.includes('lm_head.weight')));
    assert.strictEqual(untied.parameters.unique, untied.parameters.total);
  });

  it('fused q/k/v rows are views that count once each; the transposed alias adds nothing', async () => {
    const r = toReport(await openCheckpoint(pt('fused-qkv.pt')));
    const qkv = r.shared.find((s) => s.tensors.includes('q_proj.weight'))!;
    assert.strictEqual(qkv.relation, 'view');
    assert.deepStrictEqual([...qkv.tensors].sort(), ['k_proj.weight', 'q_proj.weight', 'v_proj.weight']);
    assert.strictEqual(qkv.uniqueElements, 3 * 64);
    const tr = r.shared.find((s) => s.tensors.includes('out_proj_t.weight'))!;
    assert.strictEqual(tr.relation, 'view');
    assert.strictEqual(tr.uniqueElements, 64);
    assert.strictEqual(r.parameters.unique, 4 * 64 + 8);
    assert.strictEqual(r.parameters.total, 5 * 64 + 8);
    const k = r.tensors.find((x) => x.name === 'k_proj.weight')!;
    assert.strictEqual(k.storageOffset, 64 * 4);
  });

  it('the legacy format: same tensors and ties as the zip, found by reading only the element counts', async () => {
    const legacy = await readCheckpoint(pt('gpt2-legacy.pt'));
    const zip = await readCheckpoint(pt('gpt2-tied.pt'));
    assert.strictEqual(legacy.format, 'pytorch-legacy');
    assert.deepStrictEqual(legacy.tensors.map((x) => x.name).sort(), zip.tensors.map((x) => x.name).sort());
    const meta = legacy.metadata.pytorch as Record<string, unknown>;
    assert.strictEqual(meta.legacy, true);
    assert.strictEqual((meta.sys_info as Record<string, unknown>).protocol_version, 1001);
  });

  it('fp16 and bf16 keep their dtypes and halve the bytes', async () => {
    for (const [name, dtype] of [['gpt2-fp16.pt', 'float16'], ['gpt2-bf16.pt', 'bfloat16']]) {
      const raw = await readCheckpoint(pt(name));
      const wte = raw.tensors.find((x) => x.name === 'transformer.wte.weight')!;
      assert.strictEqual(wte.dtype, dtype);
      assert.strictEqual(wte.nbytes, 64 * 16 * 2);
    }
  });

  it('a per-tensor int8 quantized tensor: qint8, one byte per element, scale and zero point', async () => {
    const raw = await readCheckpoint(pt('quantized-int8.pt'));
    const w = raw.tensors.find((x) => x.name === 'weight')!;
    assert.strictEqual(w.dtype, 'qint8');
    assert.strictEqual(w.formatDtype, 'torch.QInt8Storage');
    assert.strictEqual(w.nbytes, 64);
    assert.deepStrictEqual({ ...w.extra }, { qscheme: 'per_tensor_affine', scale: 0.05, zero_point: 2 });
  });

  it('a qint8 tensor is a parameter as a quantized tensor, not as a floating-point one', async () => {
    const w = (await openCheckpoint(pt('quantized-int8.pt'))).tensors.find((x) => x.name === 'weight')!;
    assert.strictEqual(w.role, 'parameter');
    assert.match(w.roleReason, /^quantized tensor \(qint8: real values stored as integers with a scale and zero point\)/);
  });

  it('records the archive prefix, whatever it is', async () => {
    const a = await readCheckpoint(pt('gpt2-tied.pt'));
    assert.strictEqual((a.metadata.pytorch as Record<string, unknown>).prefix, 'gpt2-tied');
    const b = await readCheckpoint(pt('gpt2-replaced-head.pt'));
    assert.strictEqual((b.metadata.pytorch as Record<string, unknown>).prefix, 'archive');
  });

  it('reads far less than the whole file when the file is not tiny', async () => {
    const raw = await readCheckpoint(pt('gpt2-lightning.ckpt'));
    assert.ok(raw.bytesRead < raw.totalBytes / 3, `${raw.bytesRead} of ${raw.totalBytes}`);
  });
});

describe('whole pickled modules', () => {
  for (const name of ['gpt2-module.pt', 'gpt2-dataparallel-module.pt', 'fused-qkv-module.pt']) {
    it(`${name}: the tree, classes and reprs come from the pickle`, async () => {
      const raw = await readCheckpoint(pt(name));
      assert.ok(raw.moduleTree);
      checkTree(raw.moduleTree!, F[name].moduleTree!);
    });
  }

  it('roles come exactly from _parameters and _buffers, with the layer as reason', async () => {
    const raw = await readCheckpoint(pt('gpt2-module.pt'));
    const mask = raw.tensors.find((x) => x.name === 'transformer.h.0.attn.bias')!;
    assert.strictEqual(mask.role, 'buffer');
    assert.match(mask.roleReason!, /GPT2Attention \(_buffers\)/);
    const ln = raw.tensors.find((x) => x.name === 'transformer.h.1.ln_2.bias')!;
    assert.strictEqual(ln.role, 'parameter');
    assert.match(ln.roleReason!, /LayerNorm \(_parameters\)/);
    const attrs = raw.moduleTree!.children[0].children.find((c) => c.name === 'wte')!;
    assert.strictEqual(attrs.attributes.num_embeddings, 64);
    assert.strictEqual(attrs.parameters.weight, 'transformer.wte.weight');
    assert.strictEqual(raw.moduleTree!.children[1].parameters.weight, 'lm_head.weight');
  });

  it('the same Parameter object in two places is an alias tie', async () => {
    const r = toReport(await openCheckpoint(pt('gpt2-module.pt')));
    const g = r.shared.find((s) => s.tensors.includes('lm_head.weight'))!;
    assert.strictEqual(g.relation, 'alias');
    assert.strictEqual(r.modules.type, 'GPT2LMHeadModel');
    const wte = r.modules.children[0].children.find((c) => c.name === 'wte')!;
    assert.strictEqual(wte.repr, 'Embedding(64, 16)');
    assert.strictEqual(wte.inferred, false);
  });

  it('a DataParallel wrapper is recognised, shown as a prefix, and skipped in the tree', async () => {
    const raw = await readCheckpoint(pt('gpt2-dataparallel-module.pt'));
    assert.deepStrictEqual(raw.prefixes, ['module.']);
    assert.strictEqual(raw.moduleTree!.className, 'GPT2LMHeadModel');
    assert.ok(raw.warnings.some((w) => w.code === 'dataparallel-prefix'));
    assert.ok(raw.tensors.some((x) => x.name === 'transformer.wte.weight'));
  });
});

describe('training checkpoints', () => {
  it('Lightning: the model keeps its names, Adam state is optimizer-state, scalars are metadata', async () => {
    const raw = await readCheckpoint(pt('gpt2-lightning.ckpt'));
    assert.deepStrictEqual(raw.prefixes, ['state_dict.']);
    const ea = raw.tensors.find((x) => x.name === 'optimizer_states.0.state.0.exp_avg')!;
    assert.strictEqual(ea.role, 'optimizer-state');
    assert.ok(raw.tensors.some((x) => x.name === 'optimizer_states.0.state.0.exp_avg_sq'));
    const cp = raw.metadata.checkpoint as Record<string, unknown>;
    for (const [k, v] of Object.entries(F['gpt2-lightning.ckpt'].metadata!)) assert.strictEqual(cp[k], v, k);
    assert.deepStrictEqual((cp.hyper_parameters as Record<string, unknown>).n_embd, 16);
    const opt = (cp.optimizer_states as Record<string, unknown>[])[0];
    assert.match(String(opt.state), /parameter state entries/);
    const r = toReport(await openCheckpoint(pt('gpt2-lightning.ckpt')));
    assert.ok(r.tensors.filter((x) => x.role === 'optimizer-state').length > 0);
    assert.deepStrictEqual(r.parameters, F['gpt2-lightning.ckpt'].parameters);
  });

  it('a plain {model_state_dict, optimizer_state_dict, epoch, loss} dict', async () => {
    const raw = await readCheckpoint(pt('gpt2-train.pt'));
    assert.deepStrictEqual(raw.prefixes, ['model_state_dict.']);
    const cp = raw.metadata.checkpoint as Record<string, unknown>;
    assert.strictEqual(cp.epoch, 7);
    assert.strictEqual(cp.loss, 0.25);
    assert.ok(raw.tensors.some((x) => x.name === 'optimizer_state_dict.state.3.exp_avg' && x.role === 'optimizer-state'));
  });

  it('DataParallel state dict: "module." stripped, recorded, and warned about', async () => {
    const raw = await readCheckpoint(pt('gpt2-dataparallel.pt'));
    assert.ok(raw.tensors.every((x) => !x.name.startsWith('module.')));
    assert.deepStrictEqual(raw.prefixes, ['module.']);
    const w = raw.warnings.find((x) => x.code === 'dataparallel-prefix')!;
    assert.match(w.message, /"module\."/);
  });
});

describe('full-size checkpoints rebuilt from skeletons (sparse data, never read)', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-pytorch-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const rebuild = (name: string): string => {
    const out = path.join(dir, name);
    if (!fs.existsSync(out)) {
      const size = rebuildSkeleton(pt(F[name].skeleton!), out);
      assert.strictEqual(size, F[name].size);
    }
    return out;
  };

  for (const [name, t] of skeletons) {
    it(`${name}: torch's counts and sharing, reading under 1 MB`, async () => {
      const p = rebuild(name);
      const raw = await readCheckpoint(p);
      checkTensors(raw, t, null);
      assert.ok(raw.bytesRead <= 1024 * 1024, `read ${raw.bytesRead} bytes`);
      await checkCounts(p, t);
      if (t.moduleTree) checkTree(raw.moduleTree!, t.moduleTree);
    });
  }

  it('GPT-2 124M: 124,439,808 parameters tied, 163,037,184 with a replaced head', async () => {
    const tied = await openCheckpoint(rebuild('gpt2-124m-tied.bin'));
    assert.strictEqual(tied.parameters.unique, 124_439_808);
    const replaced = await openCheckpoint(rebuild('gpt2-124m-replaced-head.bin'));
    assert.strictEqual(replaced.parameters.unique, 163_037_184);
    const r = cli(rebuild('gpt2-124m-tied.bin'));
    assert.strictEqual(r.status, 0, r.stderr);
    assert.match(r.stdout, /124,439,808/);
  });

  it('torchvision resnet18: 11,689,512 parameters plus BatchNorm buffers', async () => {
    const cp = await openCheckpoint(rebuild('resnet18.pt'));
    assert.strictEqual(cp.parameters.unique, 11_689_512);
    assert.strictEqual(cp.buffers.unique, F['resnet18.pt'].buffers!.unique);
    assert.ok(cp.tensors.some((t) => t.name === 'layer1.0.bn1.running_var' && t.role === 'buffer'));
  });

  it('a >4 GB archive written by torch uses ZIP64 records', async () => {
    const raw = await readCheckpoint(rebuild('zip64.pt'));
    assert.strictEqual((raw.metadata.pytorch as Record<string, unknown>).zip64, true);
    const c = raw.tensors.find((x) => x.name === 'c')!;
    assert.ok(c.dataOffset! > 2 ** 32, `data offset ${c.dataOffset}`);
    assert.ok(c.dataOffset! + c.nbytes <= raw.totalBytes);
  });
});

describe('sharded pytorch_model.bin.index.json', () => {
  it('opens every shard through the PyTorch reader, storage ids unique per shard', async () => {
    const dir = tempDir('weightscope-pt-shards-');
    try {
      fs.copyFileSync(pt('fused-qkv.pt'), path.join(dir, 'pytorch_model-00001-of-00002.bin'));
      fs.copyFileSync(pt('quantized-int8.pt'), path.join(dir, 'pytorch_model-00002-of-00002.bin'));
      const weightMap: Record<string, string> = {};
      for (const n of Object.keys(F['fused-qkv.pt'].tensors!)) weightMap[n] = 'pytorch_model-00001-of-00002.bin';
      for (const n of Object.keys(F['quantized-int8.pt'].tensors!)) weightMap[n] = 'pytorch_model-00002-of-00002.bin';
      fs.writeFileSync(path.join(dir, 'pytorch_model.bin.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
      const raw = await readCheckpoint(path.join(dir, 'pytorch_model.bin.index.json'));
      assert.strictEqual(raw.format, 'pytorch-zip');
      assert.strictEqual(raw.tensors.length, Object.keys(weightMap).length);
      const ids = new Set(raw.tensors.map((t) => t.storage));
      assert.ok(ids.has('pytorch_model-00001-of-00002.bin:0') && ids.has('pytorch_model-00002-of-00002.bin:0'));
      const cp = await openCheckpoint(dir);
      assert.strictEqual(cp.files[0], 'pytorch_model.bin.index.json');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bytes before the archive (a prefix) shift every offset and change nothing else', async () => {
    const dir = tempDir('weightscope-pt-prefix-');
    try {
      const junk = Buffer.alloc(777, 0x41);
      const p = path.join(dir, 'prefixed.pt');
      fs.writeFileSync(p, Buffer.concat([junk, fs.readFileSync(pt('gpt2-tied.pt'))]));
      const raw = await readCheckpoint(p);
      // The first bytes are junk, so the reader is chosen by extension and finds the directory at the end.
      checkTensors(raw, F['gpt2-tied.pt'], p);
      assert.strictEqual((raw.metadata.pytorch as Record<string, unknown>).prefix_bytes, 777);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('malicious pickles are flagged and stay inert', () => {
  for (const name of ['malicious.pt', 'malicious-legacy.pt']) {
    it(`${name}: os.system is named as dangerous and never called`, async () => {
      fs.rmSync(GT.marker, { force: true });
      const raw = await readCheckpoint(pt(name));
      assert.strictEqual(raw.format, F[name].format);
      assert.strictEqual(raw.safety!.verdict, 'dangerous');
      const g = raw.safety!.globals.find((x) => x.name === 'posix.system' || x.name === 'os.system')!;
      assert.ok(g, 'the global is listed');
      assert.strictEqual(g.verdict, 'dangerous');
      const w = raw.warnings.filter((x) => x.code === 'unsafe-global');
      assert.strictEqual(w.length, 1);
      assert.match(w[0].message, /(posix|os)\.system/);
      assert.ok(raw.tensors.some((t) => t.name === 'weight'), 'the real tensor is still read');
      const r = cli(pt(name));
      assert.match(r.stdout + r.stderr, /(posix|os)\.system/);
      assert.strictEqual(fs.existsSync(GT.marker), false, 'the marker file was never created');
    });
  }

  it('plain state dicts are safe; whole modules name their custom classes as unknown', async () => {
    assert.strictEqual((await readCheckpoint(pt('gpt2-tied.pt'))).safety!.verdict, 'safe');
    assert.strictEqual((await readCheckpoint(pt('gpt2-legacy.pt'))).safety!.verdict, 'safe');
    const m = (await readCheckpoint(pt('gpt2-module.pt'))).safety!;
    assert.strictEqual(m.verdict, 'unknown');
    assert.ok(m.globals.some((g) => g.name === 'tiny_gpt2.GPT2LMHeadModel' && g.verdict === 'unknown'));
    assert.ok(m.globals.some((g) => g.name === 'torch._utils._rebuild_parameter' && g.verdict === 'allowed'));
    assert.ok(m.globals.every((g) => g.verdict !== 'dangerous'));
  });
});

describe('broken PyTorch files: typed errors, one error line, exit 1', () => {
  const cases: [string, string, RegExp][] = [
    ['broken-truncated.pt', 'bad-zip', /end-of-central-directory record: the archive is truncated/],
    ['broken-random.bin', 'unknown-format', /not a checkpoint this tool reads/],
    ['broken-deep-pickle.pt', 'limit', /pickle opcode APPEND: objects nested deeper than 1000 levels/],
    ['broken-huge-storage.pt', 'bad-offsets', /declares 1099511627776 float32 elements \(4398046511104 bytes\) but record archive\/data\/0 holds 1200 bytes/],
  ];
  for (const [name, code, re] of cases) {
    it(`${name}: ${code}`, async () => {
      assert.strictEqual(F[name].error, code);
      await assert.rejects(readCheckpoint(pt(name)), (e: unknown) => {
        assert.ok(e instanceof CheckpointError, String(e));
        assert.strictEqual(e.code, code);
        assert.match(e.message, re);
        assert.ok(e.message.startsWith(name), e.message);
        return true;
      });
      const r = cli(pt(name));
      assert.strictEqual(r.status, 1, r.stdout + r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.strictEqual(lines.length, 1, r.stderr);
      assert.match(lines[0], /^error: /);
    });
  }

  it('the deep pickle error names the byte offset of the opcode', async () => {
    await assert.rejects(readCheckpoint(pt('broken-deep-pickle.pt')), (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      assert.ok(typeof e.offset === 'number' && e.offset > 100_000);
      return true;
    });
  });

  it('a legacy file cut short, in its pickles or in its storages', async () => {
    const dir = tempDir('weightscope-pt-cut-');
    try {
      const whole = fs.readFileSync(pt('gpt2-legacy.pt'));
      const early = path.join(dir, 'early.pt');
      fs.writeFileSync(early, whole.subarray(0, 2000));
      await assert.rejects(readCheckpoint(early), (e: unknown) => e instanceof CheckpointError && e.code === 'truncated' && /pickle/.test(e.message));
      const late = path.join(dir, 'late.pt');
      fs.writeFileSync(late, whole.subarray(0, whole.length - 100));
      await assert.rejects(readCheckpoint(late), (e: unknown) => e instanceof CheckpointError && e.code === 'truncated' && /storage/.test(e.message));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a zip whose storage record is missing, and a zip with no data.pkl', async () => {
    const dir = tempDir('weightscope-pt-zip-');
    try {
      // Rename data/0 in the central and local headers: the pickle then names a record that is not there.
      const whole = Buffer.from(fs.readFileSync(pt('quantized-int8.pt')));
      const from = Buffer.from('quantized-int8/data/0');
      let i = -1;
      while ((i = whole.indexOf(from, i + 1)) >= 0) whole[i + from.length - 1] = 0x39; // '0' → '9'
      const p = path.join(dir, 'missing.pt');
      fs.writeFileSync(p, whole);
      await assert.rejects(readCheckpoint(p), (e: unknown) => e instanceof CheckpointError && e.code === 'bad-zip' && /has no record quantized-int8\/data\/0/.test(e.message));
      const other = Buffer.from(fs.readFileSync(pt('quantized-int8.pt')));
      const pkl = Buffer.from('quantized-int8/data.pkl');
      let j = -1;
      while ((j = other.indexOf(pkl, j + 1)) >= 0) other[j + pkl.length - 1] = 0x78; // data.pkl → data.pkx
      const q = path.join(dir, 'nopkl.pt');
      fs.writeFileSync(q, other);
      await assert.rejects(readCheckpoint(q), (e: unknown) => e instanceof CheckpointError && e.code === 'unknown-format' && /no data\.pkl/.test(e.message));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('corrupted PyTorch files never escape as anything but a CheckpointError', () => {
  // A small deterministic generator, so failures reproduce.
  function rng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
  }

  for (const name of ['gpt2-tied.pt', 'gpt2-legacy.pt', 'gpt2-module.pt', 'gpt2-lightning.ckpt']) {
    it(`${name}: 300 random corruptions and truncations`, async () => {
      const whole = fs.readFileSync(pt(name));
      const rand = rng(name.length * 7919);
      const ctx = { access: nodeFileAccess, path: `/virtual/${name}`, root: '/virtual' };
      let errors = 0;
      for (let i = 0; i < 300; i++) {
        let bytes = Uint8Array.from(whole);
        if (i % 3 === 0) {
          bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
        } else {
          // Flip a few bytes in the structural parts: the pickle at the start, the directory at the end.
          const n = 1 + Math.floor(rand() * 8);
          for (let k = 0; k < n; k++) {
            const inHead = rand() < 0.7;
            const at = inHead ? Math.floor(rand() * Math.min(bytes.length, 30_000)) : bytes.length - 1 - Math.floor(rand() * Math.min(bytes.length, 8_000));
            bytes[at] = Math.floor(rand() * 256);
          }
        }
        try {
          await readPytorch(new MemoryByteSource(name, bytes), ctx);
        } catch (e) {
          if (!(e instanceof CheckpointError)) throw new Error(`iteration ${i}: ${(e as Error).stack}`);
          errors++;
        }
      }
      assert.ok(errors > 50, `${errors} of 300 corruptions were detected`);
    });
  }
});
