import * as assert from 'assert';
import * as fs from 'fs';
import { openCheckpoint, toReport } from '../src/core';
import { cli, fixture, readJson, tempDir } from './helpers';
import { editedCopy, folder as writeFolder, moduleAt, stZeros, tensor } from './quant-helpers';

/** scripts/fixtures/make_quant_aqlm.py: torch's count of each checkpoint's unquantized model. */
interface QuantTruth {
  torch: { parameters: number };
  parameters: { unique: number };
  quantization?: Record<string, unknown> & { storedBytes: number; storedElements: number };
  warnings: string[];
}

const truth = readJson<Record<string, QuantTruth>>(fixture('quant-aqlm', 'ground-truth.json'));
const q = (name: string) => fixture('quant-aqlm', name);


/** A folder with a config.json (none when undefined) and a model.safetensors of zero-filled tensors. */
function folder(dir: string, name: string, config: unknown, entries: [string, string, number[]][]): string {
  return writeFolder(dir, name, config, stZeros(entries));
}

describe('AQLM, BitNet and VPTQ checkpoints count the unquantized model (fixtures packed by the published rules, truth from torch)', () => {
  for (const [name, t] of Object.entries(truth)) {
    it(`${name}: ${t.parameters.unique.toLocaleString('en')} parameters${t.quantization ? `, ${t.quantization.bits}-bit ${t.quantization.method}` : ''} (CLI --json)`, () => {
      const r = cli(q(name), '--json');
      assert.strictEqual(r.status, 0, r.stderr);
      const j = JSON.parse(r.stdout);
      assert.strictEqual(j.parameters.unique, t.torch.parameters, "torch's count");
      if (t.quantization) {
        assert.ok(j.quantization, 'quantization reported');
        for (const [k, v] of Object.entries(t.quantization)) assert.deepStrictEqual(j.quantization[k], v, `quantization.${k}`);
        assert.strictEqual(j.quantization.bitsPerWeight, Math.round((t.quantization.storedBytes * 8 * 1e4) / t.parameters.unique) / 1e4);
      } else {
        assert.strictEqual(j.quantization, undefined);
      }
      assert.deepStrictEqual([...new Set(j.warnings.map((w: { code: string }) => w.code))].sort(), [...t.warnings].sort());
    });
  }
});

describe('AQLM layers', () => {
  it('codes are the parameter with the weight shape; codebooks and scales are quantization state', async () => {
    const cp = await openCheckpoint(q('aqlm-2x8-g8'));
    const codes = tensor(cp, 'model.layers.0.mlp.down_proj.codes');
    assert.deepStrictEqual(codes.shape, [32, 8, 2]);
    assert.strictEqual(codes.dtype, 'int8');
    assert.deepStrictEqual(codes.logicalShape, [32, 64]);
    assert.strictEqual(codes.role, 'parameter');
    assert.strictEqual(tensor(cp, 'model.layers.0.mlp.down_proj.codebooks').role, 'quantization');
    assert.strictEqual(tensor(cp, 'model.layers.0.mlp.down_proj.scales').role, 'quantization');
    assert.strictEqual(tensor(cp, 'model.embed_tokens.weight').logicalShape, undefined);
    const m = moduleAt(cp, 'model.layers.0.mlp.down_proj');
    assert.strictEqual(m.repr, 'QuantLinear(in_features=64, out_features=32, bits=2, group_size=8, method=aqlm, format=2x8)');
    assert.strictEqual(m.parameters.unique, 32 * 64);
  });

  it('out_group_size > 1: blocks of out_group x in_group weights; a bias stays a parameter', async () => {
    const cp = await openCheckpoint(q('aqlm-1x8-og2-bias'));
    assert.deepStrictEqual(tensor(cp, 'model.layers.0.self_attn.q_proj.codes').logicalShape, [32, 32]);
    assert.strictEqual(tensor(cp, 'model.layers.0.self_attn.q_proj.bias').role, 'parameter');
    assert.strictEqual(moduleAt(cp, 'model.layers.0.self_attn.q_proj').parameters.unique, 32 * 32 + 32);
    assert.strictEqual(moduleAt(cp, 'model.layers.0.self_attn.q_proj').repr, 'QuantLinear(in_features=32, out_features=32, bias=True, bits=1, block_size=(2, 4), method=aqlm, format=1x8)');
  });

  it('MoE: every expert projection is a quantized layer, the router is not', async () => {
    const cp = await openCheckpoint(q('aqlm-moe-1x8'));
    assert.deepStrictEqual(tensor(cp, 'model.layers.0.block_sparse_moe.experts.3.w2.codes').logicalShape, [32, 64]);
    assert.strictEqual(tensor(cp, 'model.layers.0.block_sparse_moe.gate.weight').quant, undefined);
  });

  it('the scheme line reads "2-bit AQLM 2x8 (g8)"', () => {
    const r = cli(q('aqlm-2x8-g8'));
    assert.strictEqual(r.status, 0, r.stderr);
    assert.match(r.stdout, /^quantized: {2}14\.4K parameters · 2-bit AQLM 2x8 \(g8\) · [\d.]+ bits per weight stored$/m);
  });

  describe('written by hand', () => {
    let dir: string;
    before(() => {
      dir = tempDir('weightscope-aqlm-');
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('1x16 (int16 codes, 65,536-entry codebook, 2 bits), declared in the `aqlm` block of older checkpoints', async () => {
      const d = folder(dir, '1x16', { aqlm: { in_group_size: 8, nbits_per_codebook: 16, num_codebooks: 1, out_group_size: 1 } }, [
        ['l.codes', 'I16', [64, 4, 1]],
        ['l.codebooks', 'F16', [1, 65536, 1, 8]],
        ['l.scales', 'F16', [64, 1, 1, 1]],
      ]);
      const cp = await openCheckpoint(d);
      assert.strictEqual(cp.parameters.unique, 64 * 32);
      assert.strictEqual(cp.quantization?.bits, 2);
      assert.strictEqual(cp.quantization?.format, '1x16');
      assert.strictEqual(cp.quantization?.declaredBy, 'config.json aqlm');
      assert.deepStrictEqual(cp.warnings.map((w) => w.code), []);
    });

    it('a config that contradicts the shapes: the shapes decide, with a warning', async () => {
      const d = folder(dir, 'contradicting', { quantization_config: { quant_method: 'aqlm', in_group_size: 8, out_group_size: 1, num_codebooks: 1, nbits_per_codebook: 16 } }, [
        ['l.codes', 'I8', [16, 4, 2]],
        ['l.codebooks', 'F16', [2, 256, 1, 8]],
        ['l.scales', 'F16', [16, 1, 1, 1]],
      ]);
      const cp = await openCheckpoint(d);
      assert.strictEqual(cp.parameters.unique, 16 * 32);
      assert.strictEqual(cp.quantization?.format, '2x8');
      assert.match(cp.warnings.find((w) => w.code === 'quantization-config-mismatch')!.message, /num_codebooks=1 declared but .* give 2/);
    });

    it('a layer whose codes and codebooks do not fit is unreadable: counted as stored, with a warning', async () => {
      const d = folder(dir, 'malformed', { quantization_config: { quant_method: 'aqlm', in_group_size: 8, out_group_size: 1, num_codebooks: 2, nbits_per_codebook: 8 } }, [
        ['good.codes', 'I8', [16, 4, 2]],
        ['good.codebooks', 'F16', [2, 256, 1, 8]],
        ['good.scales', 'F16', [16, 1, 1, 1]],
        ['bad.codes', 'I8', [16, 4, 2]],
        ['bad.codebooks', 'F16', [3, 256, 1, 8]],
        ['bad.scales', 'F16', [16, 1, 1, 1]],
        ['wide.codes', 'I8', [16, 4, 1]],
        ['wide.codebooks', 'F16', [1, 65536, 1, 1]],
        ['wide.scales', 'F16', [16, 1, 1, 1]],
      ]);
      const r = toReport(await openCheckpoint(d));
      // The good layer as its 16x32 weight; the two others as stored: their float codebooks and scales.
      assert.strictEqual(r.parameters.unique, 16 * 32 + (3 * 256 * 8 + 16) + (65536 + 16));
      const w = r.warnings.find((x) => x.code === 'quantization-unreadable');
      assert.ok(w, 'unreadable warning');
      assert.match(w.message, /^2 layer\(s\) look quantized but could not be read; .*bad: AQLM codes 16x4x2 name 2 codebook\(s\) but codebooks 3x256x1x8 hold 3/);
      const codes = r.tensors.find((t) => t.name === 'wide.codes')!;
      assert.strictEqual(codes.logicalShape, undefined);
    });

    it('a vector quantizer\'s float codes and codebooks (no AQLM config) are not an AQLM layer: no unreadable warning', async () => {
      const d = folder(dir, 'float-codes', undefined, [
        ['vq.codes', 'F16', [16, 4, 2]],
        ['vq.codebooks', 'F16', [4, 256, 8]],
        ['vq.scales', 'F16', [64]],
      ]);
      const cp = await openCheckpoint(d);
      assert.strictEqual(cp.quantization, undefined);
      assert.deepStrictEqual(cp.warnings, []);
      assert.strictEqual(cp.parameters.unique, 128 + 4 * 256 * 8 + 64);
    });
  });
});

describe('BitNet b1.58 layers', () => {
  it('the packed uint8 weight holds four rows per byte: [out / 4, in] stands for [out, in]; weight_scale is quantization state', async () => {
    const cp = await openCheckpoint(q('bitnet-packed'));
    const w = tensor(cp, 'model.layers.0.mlp.gate_proj.weight');
    assert.deepStrictEqual(w.shape, [16, 32]);
    assert.strictEqual(w.dtype, 'uint8');
    assert.deepStrictEqual(w.logicalShape, [64, 32]);
    assert.strictEqual(w.role, 'parameter');
    const s = tensor(cp, 'model.layers.0.mlp.gate_proj.weight_scale');
    assert.strictEqual(s.role, 'quantization');
    assert.strictEqual(s.dtype, 'bfloat16');
    assert.strictEqual(tensor(cp, 'model.layers.0.self_attn.k_proj.bias').role, 'parameter');
    assert.strictEqual(tensor(cp, 'lm_head.weight').quant, undefined, 'lm_head is never converted');
    assert.strictEqual(moduleAt(cp, 'model.layers.0.self_attn.k_proj').repr, 'QuantLinear(in_features=32, out_features=32, bias=True, bits=1.58, method=bitnet)');
  });

  it('AutoBitLinear offline with the ternary weight unpacked in bfloat16: stored as it counts, the scale apart', async () => {
    const cp = await openCheckpoint(q('bitnet-autobitlinear-offline'));
    const w = tensor(cp, 'model.layers.0.mlp.down_proj.weight');
    assert.strictEqual(w.dtype, 'bfloat16');
    assert.strictEqual(w.logicalShape, undefined);
    assert.strictEqual(w.quant?.method, 'bitnet');
    assert.strictEqual(tensor(cp, 'model.layers.0.mlp.down_proj.weight_scale').role, 'quantization');
  });

  it('online mode stores float weights: counted as stored, rms_norm weights are parameters, and the warning says why', async () => {
    const cp = await openCheckpoint(q('bitnet-online-rmsnorm'));
    assert.strictEqual(tensor(cp, 'model.layers.0.self_attn.q_proj.rms_norm.weight').role, 'parameter');
    assert.match(cp.warnings.find((w) => w.code === 'quantization-config-unused')!.message, /quantization_mode "online": the weights are stored in floating point/);
  });

  it('the scheme line reads "1.58-bit BitNet"', () => {
    const r = cli(q('bitnet-packed'));
    assert.strictEqual(r.status, 0, r.stderr);
    assert.match(r.stdout, /^quantized: {2}14\.5K parameters · 1\.58-bit BitNet · [\d.]+ bits per weight stored$/m);
  });

  describe('written by hand', () => {
    let dir: string;
    before(() => {
      dir = tempDir('weightscope-bitnet-');
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('a weight_scale that is not one value, or a packed weight that is not 2-D, is unreadable', async () => {
      const d = folder(dir, 'malformed', { quantization_config: { quant_method: 'bitnet' } }, [
        ['a.weight', 'U8', [8, 32]],
        ['a.weight_scale', 'BF16', [1]],
        ['b.weight', 'U8', [8, 32]],
        ['b.weight_scale', 'BF16', [32]],
        ['c.weight', 'U8', [2, 4, 32]],
        ['c.weight_scale', 'BF16', [1]],
      ]);
      const r = toReport(await openCheckpoint(d));
      // a as its 32x32 weight; b's 32 float scales and c's one as stored (the uint8 words are not parameters).
      assert.strictEqual(r.parameters.unique, 32 * 32 + 32 + 1);
      const w = r.warnings.find((x) => x.code === 'quantization-unreadable');
      assert.ok(w);
      assert.match(w.message, /^2 layer\(s\) .*b: BitNet weight_scale 32 is not the one value per layer BitLinear holds/);
      assert.strictEqual(r.quantization?.quantizedLayers, 1);
    });
  });
});

describe('VPTQ layers', () => {
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-vptq-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A copy of fixture `name` with its config.json changed by `edit`. */
  const variant = (name: string, to: string, edit: (cfg: Record<string, unknown>) => void) => editedCopy(q(name), dir, to, edit);

  it('indices are the parameter with the shape config_for_layers gives; codebooks, permutation and norm are quantization state of the layer', async () => {
    const cp = await openCheckpoint(q('vptq-v8-k256-r16'));
    const p = 'model.layers.0.mlp.down_proj';
    const idx = tensor(cp, `${p}.indices`);
    // 64 inputs of 12 bits (8 + 4 residual) in int32 words: 24 words for each of 4 vectors of 8 outputs.
    assert.deepStrictEqual(idx.shape, [1, 4, 24]);
    assert.deepStrictEqual(idx.logicalShape, [32, 64]);
    assert.strictEqual(idx.role, 'parameter');
    for (const n of ['centroids.weight', 'res_centroids.weight', 'perm', 'weight_scale', 'weight_bias']) assert.strictEqual(tensor(cp, `${p}.${n}`).role, 'quantization', n);
    // The codebooks (nn.Embeddings inside VQuantLinear) are the layer's, not modules of their own.
    const m = moduleAt(cp, p);
    assert.strictEqual(m.repr, 'QuantLinear(in_features=64, out_features=32, bits=1.5, method=vptq, format=v8 k256 r16)');
    assert.ok(m.tensors.includes(`${p}.centroids.weight`));
    assert.strictEqual(m.children.length, 0);
    assert.strictEqual(m.parameters.unique, 32 * 64);
  });

  it('padded vectors and outliers: out_features comes from the config, checked against the shapes', async () => {
    const cp = await openCheckpoint(q('vptq-outliers-padded'));
    const p = 'model.layers.0.mlp.gate_proj';
    // 64 outputs in 11 vectors of 6 (66 rows, 2 of them padding).
    assert.deepStrictEqual(tensor(cp, `${p}.indices`).shape, [2, 11, 3], '12 inputs of 6 bits in each group: 3 words');
    assert.deepStrictEqual(tensor(cp, `${p}.indices`).logicalShape, [64, 32]);
    assert.strictEqual(tensor(cp, `${p}.outlier_indices`).role, 'quantization');
    assert.strictEqual(tensor(cp, `${p}.outlier_centroids.weight`).role, 'quantization');
  });

  it('shared_layer_config (by leaf name, without in/out features, as transformers takes it): in from the groups, out the config size that rounds up to the stored vectors', async () => {
    const cp = await openCheckpoint(q('vptq-shared-layer-config'));
    const p = 'model.layers.0.mlp.gate_proj';
    const idx = tensor(cp, `${p}.indices`);
    // 64 outputs in 11 vectors of 6: intermediate_size 64 is the one config size that rounds up to 66.
    assert.deepStrictEqual([idx.shape[1], idx.logicalShape], [11, [64, 32]]);
    assert.strictEqual(idx.role, 'parameter');
    assert.deepStrictEqual(tensor(cp, 'model.layers.0.mlp.down_proj.indices').logicalShape, [32, 64]);
    for (const n of ['centroids.weight', 'perm', 'weight_scale', 'weight_bias']) assert.strictEqual(tensor(cp, `${p}.${n}`).role, 'quantization', n);
    assert.deepStrictEqual(cp.warnings, []);
    // Without config.json's sizes the stored vectors are what is known: counted so, and said.
    const d = variant('vptq-shared-layer-config', 'shared-no-sizes', (cfg) => {
      for (const k of ['hidden_size', 'intermediate_size', 'num_attention_heads', 'num_key_value_heads', 'vocab_size']) delete cfg[k];
    });
    const bare = await openCheckpoint(d);
    assert.deepStrictEqual(tensor(bare, `${p}.indices`).logicalShape, [66, 32]);
    assert.strictEqual(bare.quantization?.quantizedLayers, 7);
  });

  it("VPTQ's own loader config (`quant_config` at the top of config.json) reads the same", async () => {
    const d = variant('vptq-v8-k256-r16', 'legacy', (cfg) => {
      cfg.quant_config = (cfg.quantization_config as Record<string, unknown>).config_for_layers;
      delete cfg.quantization_config;
    });
    const r = toReport(await openCheckpoint(d));
    assert.strictEqual(r.parameters.unique, truth['vptq-v8-k256-r16'].torch.parameters);
    assert.strictEqual(r.quantization?.declaredBy, 'config.json quant_config');
    assert.deepStrictEqual(r.warnings, []);
  });

  it('without a config the layers are unreadable (the padding hides out_features): counted as stored, with a warning', async () => {
    const d = variant('vptq-v8-k256-r16', 'no-config', (cfg) => delete cfg.quantization_config);
    const j = JSON.parse(cli(d, '--json').stdout);
    assert.strictEqual(j.quantization, undefined);
    const floats = j.tensors.filter((t: { dtype: string }) => t.dtype === 'float16').reduce((s: number, t: { numel: number }) => s + t.numel, 0);
    assert.strictEqual(j.parameters.unique, floats, 'the float tensors as stored');
    const w = j.warnings.find((x: { code: string }) => x.code === 'quantization-unreadable');
    assert.match(w.message, /^7 layer\(s\) .*model\.layers\.0\.mlp\.down_proj: VPTQ indices 1x4x24 and codebook 1x2048 but no config_for_layers entry/);
  });

  it('a config whose out_features the indices contradict makes the layer unreadable, not a count from the config', async () => {
    const d = variant('vptq-outliers-padded', 'contradicting', (cfg) => {
      const layers = (cfg.quantization_config as { config_for_layers: Record<string, Record<string, unknown>> }).config_for_layers;
      layers['model.layers.0.mlp.up_proj'].out_features = 80;
    });
    const r = toReport(await openCheckpoint(d));
    assert.strictEqual(r.quantization?.quantizedLayers, 6);
    assert.match(r.warnings.find((x) => x.code === 'quantization-unreadable')!.message, /up_proj: VPTQ config says 80x32 .* but indices is 2x11x3, not 2x14x3/);
    assert.strictEqual(r.tensors.find((t) => t.name === 'model.layers.0.mlp.up_proj.indices')!.logicalShape, undefined);
  });

  it('unpacked indices (int16, one per vector, with res_indices)', async () => {
    const layer = { in_features: 32, out_features: 16, vector_lens: [-1, 4], num_centroids: [-1, 16], num_res_centroids: [-1, 4], group_num: 1, group_size: 32, outlier_size: 0, enable_norm: false, enable_perm: true, is_indice_packed: false };
    const d = folder(dir, 'unpacked', { quantization_config: { quant_method: 'vptq', config_for_layers: { l: layer } } }, [
      ['l.indices', 'I16', [1, 4, 32]],
      ['l.res_indices', 'I16', [1, 4, 32]],
      ['l.centroids.weight', 'F16', [1, 64]],
      ['l.res_centroids.weight', 'F16', [1, 16]],
      ['l.perm', 'I64', [32]],
    ]);
    const cp = await openCheckpoint(d);
    assert.strictEqual(cp.parameters.unique, 16 * 32);
    assert.strictEqual(tensor(cp, 'l.res_indices').role, 'quantization');
    assert.strictEqual(cp.quantization?.bits, 1.5);
  });

  it('a module named `centroids` outside VPTQ keeps its place and its parameters', async () => {
    const d = folder(dir, 'plain-centroids', undefined, [
      ['cluster.centroids.weight', 'F32', [16, 8]],
      ['cluster.indices', 'I64', [10]],
      ['cluster.proj.weight', 'F32', [8, 8]],
    ]);
    const cp = await openCheckpoint(d);
    assert.strictEqual(cp.parameters.unique, 16 * 8 + 8 * 8);
    assert.strictEqual(cp.quantization, undefined);
    assert.strictEqual(moduleAt(cp, 'cluster.centroids').parameters.unique, 16 * 8);
    assert.deepStrictEqual(cp.warnings.filter((w) => w.code.startsWith('quantization')), []);
  });
});
