import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { analyze, openCheckpoint, readCheckpoint, toReport, CheckpointError, RawCheckpoint, TensorRecord } from '../src/core';
import { exportAs } from '../src/core/export';
import { declaredCount } from '../src/core/declared';
import { annotateAdapter } from '../src/core/adapters';
import type { Tensor, Warning } from '../src/core/model';
import { FileAccess, nodeFileAccess } from '../src/core/access';
import { readQuantInputs } from '../src/core/quant/payloads';
import { cli, fixture, readJson, REPO, seededRandom, tempDir } from './helpers';
import { editedCopy, folder, i64s, moduleAt, st, stZeros, tensor } from './quant-helpers';

interface QuantTruth {
  torch: { parameters: number };
  parameters: { unique: number };
  quantization?: Record<string, unknown> & { storedBytes: number; storedElements: number };
  adapter?: Record<string, unknown>;
  warnings: string[];
  declared?: number;
  variants?: number;
  buffers?: number;
}

const truth = readJson<Record<string, QuantTruth>>(fixture('quant', 'ground-truth.json'));
const q = (name: string) => fixture('quant', name);

describe('quantized checkpoints count the unquantized model (fixtures packed by the published rules, truth from torch)', () => {
  for (const [name, t] of Object.entries(truth)) {
    it(`${name}: ${t.parameters.unique.toLocaleString('en')} parameters${t.quantization ? `, ${t.quantization.bits}-bit ${t.quantization.method}` : t.adapter ? `, ${t.adapter.type} adapter` : ''}`, async () => {
      const r = toReport(await openCheckpoint(q(name)));
      assert.strictEqual(r.parameters.unique, t.parameters.unique);
      if (t.parameters.unique === t.torch.parameters) assert.strictEqual(r.parameters.unique, t.torch.parameters, "torch's count");
      if (t.quantization) {
        assert.ok(r.quantization, 'quantization reported');
        for (const [k, v] of Object.entries(t.quantization)) assert.deepStrictEqual((r.quantization as unknown as Record<string, unknown>)[k], v, `quantization.${k}`);
        assert.strictEqual(r.quantization.bitsPerWeight, Math.round((t.quantization.storedBytes * 8 * 1e4) / t.parameters.unique) / 1e4);
      } else {
        assert.strictEqual(r.quantization, undefined);
      }
      if (t.adapter) assert.deepStrictEqual(r.adapter, t.adapter);
      else assert.strictEqual(r.adapter, undefined);
      assert.deepStrictEqual([...new Set(r.warnings.map((w) => w.code))].sort(), [...t.warnings].sort());
      if (t.declared !== undefined) assert.strictEqual(r.parameters.declared?.count, t.declared);
      if (t.variants !== undefined) assert.strictEqual(r.quantization?.variants?.length, t.variants);
      if (t.buffers !== undefined) assert.strictEqual(r.buffers.unique, t.buffers);
    });
  }

  it("the issue's three examples: 201,152 parameters where the packed tensors alone gave 46,400, 6,720 and 44,240", async () => {
    for (const [name, before] of [['gptq-4bit-g32', 46_400], ['mlx-4bit-g64', 6_720], ['bnb-nf4', 44_240]] as const) {
      const cp = await openCheckpoint(q(name));
      assert.strictEqual(cp.parameters.unique, 201_152, name);
      // What counting the floating-point tensors as stored gives (the old figure) is still derivable.
      const floats = cp.tensors.filter((t) => t.present && /^float/.test(t.dtype) && (t.role === 'parameter' || t.role === 'quantization')).reduce((s, t) => s + t.numel, 0);
      assert.strictEqual(floats, before, `${name}: floating-point elements as stored`);
    }
  });
});

describe('quantized layers: roles, logical shapes, types', () => {
  it('GPTQ: qweight is the parameter with the logical shape; qzeros, scales, g_idx are quantization state', async () => {
    const cp = await openCheckpoint(q('gptq-4bit-g32'));
    const qw = tensor(cp, 'model.layers.0.mlp.down_proj.qweight');
    assert.deepStrictEqual(qw.shape, [24, 64]);
    assert.deepStrictEqual(qw.logicalShape, [64, 192]);
    assert.strictEqual(qw.logicalNumel, 64 * 192);
    assert.strictEqual(qw.role, 'parameter');
    for (const n of ['qzeros', 'scales', 'g_idx']) assert.strictEqual(tensor(cp, `model.layers.0.mlp.down_proj.${n}`).role, 'quantization', n);
    const m = moduleAt(cp, 'model.layers.0.mlp.down_proj');
    assert.strictEqual(m.type, 'QuantLinear');
    assert.strictEqual(m.repr, 'QuantLinear(in_features=192, out_features=64, bits=4, group_size=32, method=gptq)');
    assert.strictEqual(m.parameters.unique, 64 * 192);
    assert.strictEqual(m.buffers.total, 0, 'no buffers: packed words are not buffers any more');
    // Folding treats the quantized blocks like any other: three identical blocks fold.
    assert.deepStrictEqual(moduleAt(cp, 'model.layers').folds.map((f) => f.count), [3]);
  });

  it('stored figures per module: bytes of parameters and quantization tensors, bits per logical weight', async () => {
    const cp = await openCheckpoint(q('gptq-4bit-g32'));
    const m = moduleAt(cp, 'model.layers.0.self_attn.q_proj');
    const own = m.tensors.map((n) => tensor(cp, n));
    const bytes = own.reduce((s, t) => s + t.nbytes, 0);
    assert.deepStrictEqual(m.stored, { elements: own.reduce((s, t) => s + t.numel, 0), bytes, bitsPerWeight: Math.round((bytes * 8 * 1e4) / 4096) / 1e4 });
    assert.ok(m.stored!.bitsPerWeight > 4 && m.stored!.bitsPerWeight < 6, `${m.stored!.bitsPerWeight}`);
    assert.strictEqual(moduleAt(cp, 'model.norm').stored, undefined, 'unquantized modules carry no stored figures');
    assert.strictEqual(cp.modules.stored!.bytes, cp.quantization!.storedBytes);
    const r = toReport(cp);
    assert.ok(r.modules.stored, 'stored in the JSON');
    assert.ok(!('logicalShape' in r.tensors.find((t) => t.name === 'model.norm.weight')!), 'unchanged tensors have no logical fields');
  });

  it('GPTQ 3-bit: 32 values in 3 words; desc_act g_idx gives in_features', async () => {
    const cp = await openCheckpoint(q('gptq-3bit-g32'));
    const qw = tensor(cp, 'model.layers.1.mlp.down_proj.qweight');
    assert.deepStrictEqual(qw.shape, [6, 32]);
    assert.deepStrictEqual(qw.logicalShape, [32, 64]);
  });

  it('AWQ GEMM and GEMV: out_features packed, or in_features packed with padded scales', async () => {
    const gemm = await openCheckpoint(q('awq-gemm-g32'));
    assert.deepStrictEqual(tensor(gemm, 'model.layers.0.mlp.up_proj.qweight').shape, [32, 8]);
    assert.deepStrictEqual(tensor(gemm, 'model.layers.0.mlp.up_proj.qweight').logicalShape, [64, 32]);
    const gemv = await openCheckpoint(q('awq-gemv-g32'));
    assert.deepStrictEqual(tensor(gemv, 'model.layers.0.mlp.up_proj.qweight').shape, [64, 4]);
    assert.deepStrictEqual(tensor(gemv, 'model.layers.0.mlp.up_proj.scales').shape, [64, 32], 'scales padded to the zeros width');
    assert.deepStrictEqual(tensor(gemv, 'model.layers.0.mlp.up_proj.qweight').logicalShape, [64, 32]);
  });

  it('compressed-tensors: weight_shape bytes are read (16 bytes per layer) and undo the padding', async () => {
    const cp = await openCheckpoint(q('odd-ct'));
    const fc3 = tensor(cp, 'fc3.weight_packed');
    assert.deepStrictEqual(fc3.shape, [21, 5], '36 inputs in 5 words of 8');
    assert.deepStrictEqual(fc3.logicalShape, [21, 36]);
    assert.deepStrictEqual(tensor(cp, 'fc4.weight_packed').shape, [5, 3]);
    assert.deepStrictEqual(tensor(cp, 'fc4.weight_packed').logicalShape, [5, 21]);
    assert.strictEqual(tensor(cp, 'fc4.weight_shape').role, 'quantization');
    assert.match(fc3.roleReason, /padded with 4 zero values/);
    // Headers, plus the four 16-byte shapes (read in one range), plus config.json.
    const size = fs.statSync(q('odd-ct/model.safetensors')).size;
    assert.ok(cp.bytesRead < size / 2, `read ${cp.bytesRead} of ${size}`);
  });

  it('compressed-tensors with quantization_config nested in text_config, asymmetric (packed zero points)', async () => {
    const cp = await openCheckpoint(q('ct-w4a16-nested'));
    assert.strictEqual(cp.quantization?.declaredBy, 'config.json text_config.quantization_config');
    const zp = tensor(cp, 'model.layers.0.mlp.down_proj.weight_zero_point');
    assert.strictEqual(zp.role, 'quantization');
    assert.deepStrictEqual(zp.shape, [4, 2], 'zero points packed along out_features: ceil(32 / 8) x groups');
  });

  it('compressed-tensors int-quantized W8A8 and float-quantized FP8: weights in their own shape, scales and input scales are state', async () => {
    const int8 = await openCheckpoint(q('ct-w8a8-int8'));
    const w = tensor(int8, 'model.layers.0.self_attn.q_proj.weight');
    assert.strictEqual(w.role, 'parameter', 'int8 weights are parameters here');
    assert.strictEqual(w.logicalShape, undefined);
    assert.strictEqual(tensor(int8, 'model.layers.0.self_attn.q_proj.input_scale').role, 'quantization');
    const fp8 = await openCheckpoint(q('ct-fp8-channel'));
    assert.strictEqual(tensor(fp8, 'model.layers.0.self_attn.q_proj.weight').dtype, 'float8_e4m3fn');
    assert.strictEqual(tensor(fp8, 'model.layers.0.self_attn.q_proj.weight_scale').role, 'quantization');
  });

  it('MLX: quantized embeddings and tied head, a per-layer 8-bit override and a layer left unquantized', async () => {
    const cp = await openCheckpoint(q('mlx-tied-mixed'));
    const emb = moduleAt(cp, 'model.embed_tokens');
    assert.strictEqual(emb.repr, 'QuantEmbedding(64, 32, bits=4, group_size=32, method=mlx)');
    const head = tensor(cp, 'lm_head.weight');
    assert.strictEqual(head.present, false, 'tied: not stored');
    assert.deepStrictEqual(head.logicalShape, [64, 32]);
    assert.strictEqual(moduleAt(cp, 'lm_head').repr, 'QuantLinear(in_features=32, out_features=64, bits=4, group_size=32, method=mlx)');
    assert.strictEqual(cp.parameters.total - cp.parameters.unique, 64 * 32, 'the tie counted once');
    assert.match(moduleAt(cp, 'model.layers.0.mlp.down_proj').repr!, /bits=8/);
    assert.strictEqual(moduleAt(cp, 'model.layers.1.mlp.down_proj').type, 'Linear', 'quantization: {path: false} leaves a Linear');
    assert.deepStrictEqual(cp.quantization?.variants?.map((v) => v.bits), [4, 8]);
    assert.ok(!cp.warnings.some((w) => w.code === 'declared-count-mismatch'), 'mlx-lm declares the logical count');
  });

  it('MLX 4-bit, group 64 (the issue): 4.53 bits per weight, as mlx-lm computes it (bytes * 8 / parameters)', async () => {
    const cp = await openCheckpoint(q('mlx-4bit-g64'));
    const bytes = cp.tensors.reduce((s, t) => s + t.nbytes, 0);
    assert.strictEqual(cp.quantization!.storedBytes, bytes);
    assert.strictEqual(cp.quantization!.bitsPerWeight, Math.round((bytes * 8 * 1e4) / 201_152) / 1e4);
  });

  it('bitsandbytes 4-bit: the quant_state JSON gives the shape; absmax, quant maps and state belong to the layer', async () => {
    const cp = await openCheckpoint(q('odd-bnb'));
    const w = tensor(cp, 'fc4.weight');
    assert.deepStrictEqual(w.shape, [53, 1], '105 values, two per byte');
    assert.deepStrictEqual(w.logicalShape, [5, 21]);
    const fc4 = moduleAt(cp, 'fc4');
    assert.ok(!fc4.children.some((c) => c.name === 'weight'), 'no module named "weight"');
    assert.ok(fc4.tensors.includes('fc4.weight.quant_state.bitsandbytes__nf4'));
    assert.strictEqual(tensor(cp, 'fc4.weight.absmax').role, 'quantization');
    assert.strictEqual(fc4.repr, 'QuantLinear(in_features=21, out_features=5, bits=4, group_size=64, method=bitsandbytes, format=nf4)');
    const dbl = await openCheckpoint(q('bnb-nf4-double'));
    for (const n of ['absmax', 'nested_absmax', 'nested_quant_map', 'quant_map']) {
      assert.strictEqual(tensor(dbl, `model.layers.0.self_attn.q_proj.weight.${n}`).role, 'quantization', n);
    }
  });

  it('bitsandbytes 8-bit: int8 weights are parameters; SCB and weight_format are state', async () => {
    const cp = await openCheckpoint(q('bnb-int8'));
    assert.strictEqual(tensor(cp, 'model.layers.0.mlp.up_proj.weight').role, 'parameter');
    assert.strictEqual(tensor(cp, 'model.layers.0.mlp.up_proj.SCB').role, 'quantization');
    assert.strictEqual(tensor(cp, 'model.layers.0.mlp.up_proj.weight_format').role, 'quantization');
  });

  it('FP8 block-wise (weight_scale_inv over 16x16 blocks) and per-channel (FBGEMM)', async () => {
    const block = await openCheckpoint(q('fp8-block'));
    assert.deepStrictEqual(tensor(block, 'model.layers.0.mlp.down_proj.weight_scale_inv').shape, [2, 4]);
    assert.strictEqual(moduleAt(block, 'model.layers.0.mlp.down_proj').repr, 'QuantLinear(in_features=64, out_features=32, bits=8, block_size=(16, 16), method=fp8, format=e4m3 block)');
    const ch = await openCheckpoint(q('fp8-channel'));
    assert.deepStrictEqual(tensor(ch, 'model.layers.0.mlp.down_proj.weight_scale').shape, [32, 1]);
    assert.strictEqual(tensor(ch, 'model.layers.0.mlp.down_proj.weight_scale').role, 'quantization');
    assert.strictEqual(ch.quantization?.format, 'e4m3 per-channel');
  });

  it('odd GPTQ: the one layer GPTQ can pack is quantized; the others stay Linear and count as stored', async () => {
    const cp = await openCheckpoint(q('odd-gptq'));
    assert.strictEqual(moduleAt(cp, 'fc1').type, 'QuantLinear');
    assert.strictEqual(moduleAt(cp, 'fc1').repr, 'QuantLinear(in_features=64, out_features=64, bias=True, bits=4, group_size=32, method=gptq)');
    for (const n of ['fc2', 'fc3', 'fc4']) assert.strictEqual(moduleAt(cp, n).type, 'Linear', n);
  });

  it('GGUF: logical counts unchanged, the file type is the scheme', async () => {
    const cp = await openCheckpoint(fixture('gguf', 'tiny-llama.gguf'));
    assert.strictEqual(cp.parameters.unique, readJson<{ torch: { ground_truth: { parameters: { unique: number } } } }>(fixture('gguf', 'ground-truth.json')).torch.ground_truth.parameters.unique);
    assert.strictEqual(cp.quantization?.method, 'gguf');
    assert.strictEqual(cp.quantization?.format, 'Q8_0');
    assert.strictEqual(cp.quantization?.bits, 8);
    assert.ok(!cp.tensors.some((t) => t.logicalShape || t.role === 'quantization'));
  });

  it('a checkpoint that is not quantized gets none of the new fields', async () => {
    const r = toReport(await openCheckpoint(fixture('safetensors', 'gpt2-tied')));
    assert.strictEqual(r.quantization, undefined);
    assert.strictEqual(r.adapter, undefined);
    assert.strictEqual(r.parameters.declared, undefined);
    assert.ok(!r.tensors.some((t) => 'logicalShape' in t || 'logicalNumel' in t));
    assert.ok(!JSON.stringify(r.modules).includes('"stored"'));
  });
});

describe('quantized layouts written by hand (headers only)', () => {
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-quant-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a Kimi-K2-Thinking-like layout (scripts/kimi-k2.cjs, 4 experts a layer, 9 shards): the unquantized count, one scheme; it reads the headers, the index, config.json and the 16 bytes of each weight_shape, nothing more', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const kimi = require(path.join(REPO, 'scripts', 'kimi-k2.cjs')) as { makeKimiK2: (d: string, shards: number, o: { experts: number }) => string; parametersOf: (o: { experts: number }) => number; tensorsOf: (o: { experts: number }) => [string, string, number[]][] };
    const index = kimi.makeKimiK2(path.join(dir, 'kimi'), 9, { experts: 4 });
    const cp = await openCheckpoint(index);
    assert.strictEqual(cp.tensors.length, kimi.tensorsOf({ experts: 4 }).length);
    assert.strictEqual(cp.parameters.unique, kimi.parametersOf({ experts: 4 }));
    assert.strictEqual(cp.quantization?.method, 'compressed-tensors');
    assert.strictEqual(cp.quantization?.bits, 4);
    assert.strictEqual(cp.quantization?.groupSize, 32);
    assert.strictEqual(cp.quantization?.quantizedLayers, 60 * 4 * 3);
    assert.strictEqual(cp.quantization?.variants, undefined, 'one scheme');
    assert.deepStrictEqual(cp.warnings.map((w) => w.code), []);
    assert.deepStrictEqual(tensor(cp, 'model.layers.60.mlp.experts.3.down_proj.weight_packed').logicalShape, [7168, 2048]);
    assert.strictEqual(tensor(cp, 'model.layers.60.mlp.experts.3.down_proj.weight_shape').role, 'quantization');
    // Layers of one shape share one description; the three projections make two shapes.
    const layers = new Set(cp.tensors.filter((t) => t.quant).map((t) => t.quant));
    assert.strictEqual(layers.size, 2);
    const folderOf = path.dirname(index);
    let expected = fs.statSync(index).size + fs.statSync(path.join(folderOf, 'config.json')).size + 16 * 60 * 4 * 3;
    for (const f of fs.readdirSync(folderOf).filter((n) => n.endsWith('.safetensors'))) {
      const head = Buffer.alloc(8);
      const fd = fs.openSync(path.join(folderOf, f), 'r');
      fs.readSync(fd, head, 0, 8, 0);
      fs.closeSync(fd);
      expected += 8 + Number(head.readBigUInt64LE(0));
    }
    assert.strictEqual(cp.bytesRead, expected);
  });

  it('GPTQ in Marlin format (B, s) and GPTQModel pack_dtype int16', async () => {
    const marlin = folder(dir, 'marlin', { quantization_config: { quant_method: 'marlin', group_size: 128 } }, st([
      { name: 'l.B', dtype: 'I32', shape: [256 / 16, 512 * 2] },
      { name: 'l.s', dtype: 'F16', shape: [2, 512] },
    ]));
    let cp = await openCheckpoint(marlin);
    assert.deepStrictEqual(tensor(cp, 'l.B').logicalShape, [512, 256]);
    assert.strictEqual(cp.quantization?.format, 'marlin');
    assert.strictEqual(cp.quantization?.groupSize, 128);
    const i16 = folder(dir, 'i16', { quantization_config: { quant_method: 'gptq', bits: 4, group_size: 32, pack_dtype: 'int16' } }, st([
      { name: 'l.qweight', dtype: 'I16', shape: [(64 * 4) / 16, 32] },
      { name: 'l.qzeros', dtype: 'I16', shape: [2, (32 * 4) / 16] },
      { name: 'l.scales', dtype: 'F16', shape: [2, 32] },
    ]));
    cp = await openCheckpoint(i16);
    assert.deepStrictEqual(tensor(cp, 'l.qweight').logicalShape, [32, 64]);
    assert.strictEqual(cp.parameters.unique, 32 * 64);
  });

  it('AWQ GEMV_fast (int16, interleaved) and NVFP4 (compressed-tensors, two values per byte)', async () => {
    const fast = folder(dir, 'gemv-fast', { quantization_config: { quant_method: 'awq', bits: 4, group_size: 128, version: 'gemv_fast' } }, st([
      { name: 'l.qweight', dtype: 'I16', shape: [256 / 4, 512] },
      { name: 'l.scales', dtype: 'F16', shape: [32, 256] },
      { name: 'l.scaled_zeros', dtype: 'F16', shape: [32, 256] },
    ]));
    let cp = await openCheckpoint(fast);
    assert.deepStrictEqual(tensor(cp, 'l.qweight').logicalShape, [256, 512]);
    assert.strictEqual(tensor(cp, 'l.scaled_zeros').role, 'quantization');
    const nvfp4 = folder(dir, 'nvfp4', {
      quantization_config: {
        quant_method: 'compressed-tensors', format: 'nvfp4-pack-quantized',
        config_groups: { group_0: { targets: ['Linear'], weights: { num_bits: 4, type: 'float', strategy: 'tensor_group', group_size: 16 } } },
      },
    }, st([
      { name: 'l.weight_packed', dtype: 'U8', shape: [64, 32] },
      { name: 'l.weight_scale', dtype: 'F8_E4M3', shape: [64, 4] },
      { name: 'l.weight_global_scale', dtype: 'F32', shape: [1] },
      { name: 'l.input_global_scale', dtype: 'F32', shape: [1] },
    ]));
    cp = await openCheckpoint(nvfp4);
    assert.deepStrictEqual(tensor(cp, 'l.weight_packed').logicalShape, [64, 64]);
    assert.strictEqual(cp.quantization?.groupSize, 16);
    for (const n of ['weight_scale', 'weight_global_scale', 'input_global_scale']) assert.strictEqual(tensor(cp, `l.${n}`).role, 'quantization', n);
  });

  it('NVFP4 from NVIDIA ModelOpt (quant_algo NVFP4): uint8 weight [out, in / 2], FP8 block scales, global scale', async () => {
    const d = folder(dir, 'modelopt', { quantization_config: { quant_method: 'modelopt', quant_algo: 'NVFP4', group_size: 16 } }, st([
      { name: 'l.weight', dtype: 'U8', shape: [64, 48] },
      { name: 'l.weight_scale', dtype: 'F8_E4M3', shape: [64, 6] },
      { name: 'l.weight_scale_2', dtype: 'F32', shape: [] },
      { name: 'l.input_scale', dtype: 'F32', shape: [] },
    ]));
    const cp = await openCheckpoint(d);
    assert.deepStrictEqual(tensor(cp, 'l.weight').logicalShape, [64, 96]);
    assert.strictEqual(cp.parameters.unique, 64 * 96);
    assert.strictEqual(cp.quantization?.method, 'nvfp4');
    for (const n of ['weight_scale', 'weight_scale_2', 'input_scale']) assert.strictEqual(tensor(cp, `l.${n}`).role, 'quantization', n);
  });

  it('compressed-tensors saved "frozen" (weights dequantized beside their scales) and AutoRound exporting the GPTQ layout', async () => {
    const frozen = folder(dir, 'frozen', {
      quantization_config: {
        quant_method: 'compressed-tensors', format: 'pack-quantized', quantization_status: 'frozen',
        config_groups: { g: { targets: ['Linear'], weights: { num_bits: 4, type: 'int', strategy: 'group', group_size: 32 } } },
      },
    }, st([
      { name: 'l.weight', dtype: 'BF16', shape: [32, 64] },
      { name: 'l.weight_scale', dtype: 'BF16', shape: [32, 2] },
      { name: 'l.weight_zero_point', dtype: 'I8', shape: [32, 2] },
      { name: 'head.weight', dtype: 'BF16', shape: [10, 32] },
    ]));
    let cp = await openCheckpoint(frozen);
    assert.strictEqual(cp.parameters.unique, 32 * 64 + 10 * 32, 'scales and zero points are not parameters');
    assert.strictEqual(tensor(cp, 'l.weight_scale').role, 'quantization');
    assert.strictEqual(cp.quantization?.format, 'frozen');
    const ar = folder(dir, 'autoround', { quantization_config: { quant_method: 'intel/auto-round', bits: 4, group_size: 32, packing_format: 'auto_gptq' } }, st([
      { name: 'l.qweight', dtype: 'I32', shape: [8, 32] },
      { name: 'l.qzeros', dtype: 'I32', shape: [2, 4] },
      { name: 'l.scales', dtype: 'F16', shape: [2, 32] },
    ]));
    cp = await openCheckpoint(ar);
    assert.strictEqual(cp.quantization?.method, 'gptq');
    assert.strictEqual(cp.parameters.unique, 64 * 32);
    assert.deepStrictEqual(cp.warnings, []);
  });

  it("MXFP4 (gpt-oss): _blocks [..., G, 16] and _scales [..., G] stand for [..., G * 32]", async () => {
    const d = folder(dir, 'mxfp4', { quantization_config: { quant_method: 'mxfp4' } }, st([
      { name: 'model.layers.0.mlp.experts.gate_up_proj_blocks', dtype: 'U8', shape: [4, 64, 2, 16] },
      { name: 'model.layers.0.mlp.experts.gate_up_proj_scales', dtype: 'U8', shape: [4, 64, 2] },
      { name: 'model.layers.0.mlp.experts.gate_up_proj_bias', dtype: 'F32', shape: [4, 64] },
    ]));
    const cp = await openCheckpoint(d);
    assert.deepStrictEqual(tensor(cp, 'model.layers.0.mlp.experts.gate_up_proj_blocks').logicalShape, [4, 64, 64]);
    assert.strictEqual(cp.parameters.unique, 4 * 64 * 64 + 4 * 64);
    assert.strictEqual(cp.quantization?.method, 'mxfp4');
  });

  it('a weight_shape whose bytes do not hold a shape: sized from the packed width, with a warning', async () => {
    const cfg = { quantization_config: { quant_method: 'compressed-tensors', format: 'pack-quantized', config_groups: { g: { targets: ['Linear'], weights: { num_bits: 4, type: 'int', strategy: 'channel' } } } } };
    const d = folder(dir, 'bad-shape', cfg, st([
      { name: 'l.weight_packed', dtype: 'I32', shape: [8, 5] },
      { name: 'l.weight_scale', dtype: 'F16', shape: [8, 1] },
      { name: 'l.weight_shape', dtype: 'I64', shape: [2], data: i64s(-1, 7) },
    ]));
    const cp = await openCheckpoint(d);
    assert.deepStrictEqual(tensor(cp, 'l.weight_packed').logicalShape, [8, 40]);
    const w = cp.warnings.find((x) => x.code === 'quantization-shape-assumed');
    assert.ok(w, 'warned');
    assert.match(w.message, /weight_shape holds -1/);
    const good = folder(dir, 'good-shape', cfg, st([
      { name: 'l.weight_packed', dtype: 'I32', shape: [8, 5] },
      { name: 'l.weight_scale', dtype: 'F16', shape: [8, 1] },
      { name: 'l.weight_shape', dtype: 'I64', shape: [2], data: i64s(8, 37) },
    ]));
    assert.deepStrictEqual(tensor(await openCheckpoint(good), 'l.weight_packed').logicalShape, [8, 37]);
  });

  it('weight_shape values are read exactly up to 2^53 - 1, in either byte order of the two words; past it, or negative, they are not a dimension', async () => {
    const cfg = { quantization_config: { quant_method: 'compressed-tensors', format: 'pack-quantized', config_groups: { g: { targets: ['Linear'], weights: { num_bits: 4, type: 'int', strategy: 'channel' } } } } };
    const i32s = (...xs: number[]) => Buffer.from(new Int32Array(xs).buffer);
    const d = folder(dir, 'shape-values', cfg, st([
      { name: 'a.weight_shape', dtype: 'I64', shape: [2], data: i64s(2 ** 32 + 7, Number.MAX_SAFE_INTEGER) },
      { name: 'b.weight_shape', dtype: 'I64', shape: [2], data: i64s(3, 2 ** 53) },
      { name: 'c.weight_shape', dtype: 'I32', shape: [2], data: i32s(-3, 4) },
      { name: 'd.weight_shape', dtype: 'I64', shape: [2], data: i64s(-(2 ** 40), 1) },
      { name: 'e.weight_shape', dtype: 'I32', shape: [2], data: i32s(2 ** 31 - 1, 0) },
    ]));
    const raw = await readCheckpoint(d);
    assert.deepStrictEqual(raw.payloads?.['a.weight_shape'], { ints: [2 ** 32 + 7, Number.MAX_SAFE_INTEGER] });
    assert.deepStrictEqual(raw.payloads?.['b.weight_shape'], { error: 'holds 9007199254740992, not a dimension' });
    assert.deepStrictEqual(raw.payloads?.['c.weight_shape'], { error: 'holds -3, not a dimension' });
    assert.deepStrictEqual(raw.payloads?.['d.weight_shape'], { error: 'holds -1099511627776, not a dimension' });
    assert.deepStrictEqual(raw.payloads?.['e.weight_shape'], { ints: [2 ** 31 - 1, 0] });
  });

  it('compressed-tensors layers of one packed shape share what is said about them only when their real shapes agree', async () => {
    const cfg = { quantization_config: { quant_method: 'compressed-tensors', format: 'pack-quantized', config_groups: { g: { targets: ['Linear'], weights: { num_bits: 4, type: 'int', strategy: 'group', group_size: 8 } } } } };
    // Four layers packed alike (5 words of 8): 40, 40, 37 and 33 real inputs.
    const layer = (n: string, inF: number) => [
      { name: `${n}.weight_packed`, dtype: 'I32', shape: [8, 5] },
      { name: `${n}.weight_scale`, dtype: 'F16', shape: [8, 5] },
      { name: `${n}.weight_shape`, dtype: 'I64', shape: [2], data: i64s(8, inF) },
    ];
    const d = folder(dir, 'shared-shapes', cfg, st([...layer('a', 40), ...layer('b', 40), ...layer('c', 37), ...layer('e', 33)]));
    const cp = await openCheckpoint(d);
    assert.deepStrictEqual(['a', 'b', 'c', 'e'].map((n) => tensor(cp, `${n}.weight_packed`).logicalShape ?? tensor(cp, `${n}.weight_packed`).shape), [[8, 40], [8, 40], [8, 37], [8, 33]]);
    assert.strictEqual(cp.parameters.unique, 8 * (40 + 40 + 37 + 33));
    assert.strictEqual(tensor(cp, 'a.weight_packed').quant, tensor(cp, 'b.weight_packed').quant, 'one layer object for one shape');
    assert.notStrictEqual(tensor(cp, 'a.weight_packed').quant, tensor(cp, 'c.weight_packed').quant);
    assert.match(tensor(cp, 'c.weight_packed').roleReason, /padded with 3 zero values/);
    assert.doesNotMatch(tensor(cp, 'a.weight_packed').roleReason, /padded/);
    assert.strictEqual(cp.quantization?.quantizedLayers, 4);
  });

  it('shape tensors scattered among the weights: where each range is a request, only as many as the access allows are read', async () => {
    const cfg = { quantization_config: { quant_method: 'compressed-tensors', format: 'pack-quantized', config_groups: { g: { targets: ['Linear'], weights: { num_bits: 4, type: 'int', strategy: 'channel' } } } } };
    // Each weight_shape 6.4 KB past the previous one (more than the 4 KiB a run may skip): three separate reads.
    const layer = (n: string) => [
      { name: `${n}.weight_packed`, dtype: 'I32', shape: [8, 200] },
      { name: `${n}.weight_scale`, dtype: 'F16', shape: [8, 1] },
      { name: `${n}.weight_shape`, dtype: 'I64', shape: [2], data: i64s(8, 1597) },
    ];
    const d = folder(dir, 'scattered', cfg, st([...layer('a'), ...layer('b'), ...layer('c')]));
    const all = await openCheckpoint(d);
    assert.deepStrictEqual(['a', 'b', 'c'].map((n) => tensor(all, `${n}.weight_packed`).logicalShape), [[8, 1597], [8, 1597], [8, 1597]]);
    assert.deepStrictEqual(all.warnings, []);
    const reads: number[] = [];
    const limited: FileAccess = {
      ...nodeFileAccess,
      scatteredReads: 2,
      async open(p, display) {
        const src = await nodeFileAccess.open(p, display);
        const read = src.read.bind(src);
        src.read = (offset: number, length: number) => {
          reads.push(length);
          return read(offset, length);
        };
        return src;
      },
    };
    const cp = await openCheckpoint(d, { access: limited });
    assert.deepStrictEqual(reads.filter((n) => n === 16), [16, 16], 'two shape reads');
    assert.deepStrictEqual(['a', 'b', 'c'].map((n) => tensor(cp, `${n}.weight_packed`).logicalShape), [[8, 1597], [8, 1597], [8, 1600]]);
    assert.match(cp.warnings.find((w) => w.code === 'quantization-payload-budget')!.message, /^1 quantization shape tensor\(s\) not read: they lie in 3 separate places in the files, more than the 2 reads allowed/);
    assert.match(cp.warnings.find((w) => w.code === 'quantization-shape-assumed')!.message, /^1 layer\(s\) sized without .*\bc: weight_shape not read/);
    assert.strictEqual(cp.parameters.unique, all.parameters.unique + 8 * 3, 'the last layer at its packed width');
  });

  it('the shards holding shape tensors are read a few at a time, not one after another', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const kimi = require(path.join(REPO, 'scripts', 'kimi-k2.cjs')) as { makeKimiK2: (d: string, shards: number, o: { experts: number }) => string };
    const index = kimi.makeKimiK2(path.join(dir, 'kimi-concurrent'), 12, { experts: 2 });
    const raw = await readCheckpoint(index);
    const shards = new Set(raw.tensors.filter((t) => t.name.endsWith('.weight_shape')).map((t) => t.file));
    assert.ok(shards.size >= 10, `${shards.size} shards hold shape tensors`);
    delete raw.payloads;
    let open = 0;
    let most = 0;
    const slow: FileAccess = {
      ...nodeFileAccess,
      async open(p, display) {
        open++;
        most = Math.max(most, open);
        await new Promise((r) => setTimeout(r, 10));
        const src = await nodeFileAccess.open(p, display);
        const close = src.close.bind(src);
        src.close = async () => {
          open--;
          await close();
        };
        return src;
      },
    };
    await readQuantInputs(raw, path.dirname(index), slow, { sidecars: false });
    assert.strictEqual(most, 8, 'eight files at once');
    assert.strictEqual(open, 0, 'every file closed');
    assert.strictEqual(Object.keys(raw.payloads ?? {}).length, 60 * 2 * 3);
    assert.ok(Object.values(raw.payloads!).every((p) => p.ints?.length === 2 && p.ints[0] > 0), 'every shape read');
  });

  it('configs with a group size of 0, an empty format or 0 bits: a summary or an unreadable layer, never an internal error or an infinite count', async () => {
    const zeroGroup = folder(dir, 'group-0', { quantization_config: { quant_method: 'compressed-tensors', config_groups: { g: { targets: ['Linear'], weights: { num_bits: 8, group_size: 0, strategy: 'group' } } } } }, st([
      { name: 'l.weight', dtype: 'I8', shape: [4, 4] },
      { name: 'l.weight_scale', dtype: 'F16', shape: [4, 1] },
    ]));
    let cp = await openCheckpoint(zeroGroup);
    assert.strictEqual(cp.parameters.unique, 16);
    assert.strictEqual(cp.quantization?.method, 'compressed-tensors');
    assert.strictEqual(cp.quantization?.groupSize, undefined);
    const emptyFormat = folder(dir, 'format-empty', { quantization_config: { quant_method: 'gptq', bits: 4, group_size: 32, checkpoint_format: '' } }, st([
      { name: 'l.qweight', dtype: 'I32', shape: [4, 8] },
      { name: 'l.qzeros', dtype: 'I32', shape: [1, 1] },
      { name: 'l.scales', dtype: 'F16', shape: [1, 8] },
    ]));
    cp = await openCheckpoint(emptyFormat);
    assert.strictEqual(cp.parameters.unique, 32 * 8);
    assert.strictEqual(cp.quantization?.method, 'gptq');
    assert.strictEqual(cp.quantization?.bits, 4);
    const zeroBits = folder(dir, 'bits-0', { quantization_config: { quant_method: 'compressed-tensors', format: 'pack-quantized', config_groups: { g: { targets: ['Linear'], weights: { num_bits: 0, type: 'int', strategy: 'channel' } } } } }, st([
      { name: 'l.weight_packed', dtype: 'I32', shape: [8, 5] },
      { name: 'l.weight_scale', dtype: 'F16', shape: [8, 1] },
    ]));
    cp = await openCheckpoint(zeroBits);
    // Counted as stored, as any unreadable layer: the int32 words a buffer, the float scales parameters.
    assert.strictEqual(cp.parameters.unique, 8);
    assert.strictEqual(tensor(cp, 'l.weight_packed').logicalShape, undefined);
    assert.strictEqual(cp.quantization, undefined);
    assert.match(cp.warnings.find((w) => w.code === 'quantization-unreadable')!.message, /l: the compressed-tensors rules give it a weight of \[8, Infinity\], not a shape/);
    for (const d of [zeroGroup, emptyFormat, zeroBits]) {
      const r = cli(d, '--json');
      assert.strictEqual(r.status, 0, r.stderr);
      assert.ok(Number.isSafeInteger(JSON.parse(r.stdout).parameters.unique));
    }
  });

  it('a bitsandbytes quant_state that is not JSON: the packed size gives the count, with a warning', async () => {
    const d = folder(dir, 'bad-state', { quantization_config: { quant_method: 'bitsandbytes', load_in_4bit: true } }, st([
      { name: 'l.weight', dtype: 'U8', shape: [50, 1] },
      { name: 'l.weight.absmax', dtype: 'F32', shape: [2] },
      { name: 'l.weight.quant_map', dtype: 'F32', shape: [16] },
      { name: 'l.weight.quant_state.bitsandbytes__nf4', dtype: 'U8', shape: [5], data: Buffer.from('{"a":') },
    ]));
    const cp = await openCheckpoint(d);
    assert.strictEqual(cp.parameters.unique, 100);
    assert.match(cp.warnings.find((w) => w.code === 'quantization-shape-assumed')!.message, /not valid JSON/);
  });

  it('tensor contents read are bounded: only exact names, small sizes; weights are never read', async () => {
    const cfg = { quantization_config: { quant_method: 'compressed-tensors', format: 'pack-quantized', config_groups: { g: { targets: ['Linear'], weights: { num_bits: 4, type: 'int', strategy: 'channel' } } } } };
    const big = 8 * 1024 * 1024;
    const d = folder(dir, 'bounded', cfg, st([
      { name: 'l.weight_packed', dtype: 'I32', shape: [big / 4 / 64, 64] },
      { name: 'l.weight_scale', dtype: 'F16', shape: [big / 4 / 64, 1] },
      { name: 'l.weight_shape', dtype: 'I64', shape: [2], data: i64s(big / 4 / 64, 512) },
      // A "shape" far too long to be one and a "quant state" far too large: not read.
      { name: 'x.weight_shape', dtype: 'I64', shape: [4096] },
      { name: 'y.weight.quant_state.bitsandbytes__nf4', dtype: 'U8', shape: [1 << 20] },
    ]));
    const cp = await openCheckpoint(d);
    assert.deepStrictEqual(tensor(cp, 'l.weight_packed').logicalShape, [big / 4 / 64, 512]);
    assert.ok(cp.bytesRead < 4096, `read ${cp.bytesRead} bytes of a ${(big / 1e6).toFixed(0)} MB file`);
  });

  it('past the read budget, shape tensors are not read: a warning, and the packed widths', async () => {
    const raw = await readCheckpoint(q('odd-ct'));
    assert.strictEqual(Object.keys(raw.payloads ?? {}).length, 4, 'four weight_shape tensors read');
    delete raw.payloads;
    await readQuantInputs(raw, q('odd-ct'), nodeFileAccess, { sidecars: false, maxTensors: 1 });
    assert.strictEqual(Object.keys(raw.payloads ?? {}).length, 1);
    assert.match(raw.warnings.find((w) => w.code === 'quantization-payload-budget')!.message, /^3 quantization shape tensor\(s\) not read/);
    const cp = analyze(raw);
    assert.strictEqual(cp.warnings.filter((w) => w.code === 'quantization-shape-assumed').length, 1);
    assert.deepStrictEqual(tensor(cp, 'fc3.weight_packed').logicalShape, [21, 40], 'the padded width, as the warning says');
  });

  it('random configs and shapes never escape as anything but a warning or a CheckpointError', async () => {
    const rand = seededRandom(9);
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
    const methods = ['gptq', 'awq', 'compressed-tensors', 'bitsandbytes', 'fp8', 'marlin', 'mxfp4', 'hqq', 'weird'];
    const values = [0, -1, 1, 3, 7, 64, 1e12, 'x', null, [16], { a: 1 }, true];
    const names = ['qweight', 'qzeros', 'scales', 'g_idx', 'B', 's', 'weight', 'weight_packed', 'weight_scale', 'weight_shape', 'weight_scale_inv', 'SCB', 'biases', 'weight.absmax', 'x_blocks', 'x_scales'];
    const dtypes = ['I32', 'I16', 'U8', 'U32', 'F16', 'F32', 'I64', 'F8_E4M3'];
    for (let i = 0; i < 60; i++) {
      const qc: Record<string, unknown> = { quant_method: pick(methods) };
      for (const k of ['bits', 'group_size', 'version', 'format', 'checkpoint_format', 'weight_block_size', 'config_groups']) if (rand() < 0.5) qc[k] = pick(values);
      const cfg = rand() < 0.5 ? { quantization_config: qc } : { quantization: { bits: pick(values), group_size: pick(values), 'l': pick(values) } };
      const used = new Set<string>();
      const entries = [];
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) {
        const name = pick(names);
        if (used.has(name)) continue;
        used.add(name);
        const shape = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => Math.floor(rand() * 9));
        entries.push({ name: `l.${name}`, dtype: pick(dtypes), shape });
      }
      const d = folder(dir, `fuzz-${i}`, cfg, st(entries));
      try {
        const cp = await openCheckpoint(d);
        assert.ok(Number.isSafeInteger(cp.parameters.unique) && cp.parameters.unique >= 0, `${i}: ${cp.parameters.unique}`);
        for (const t of cp.tensors) if (t.logicalNumel !== undefined) assert.ok(Number.isSafeInteger(t.logicalNumel) && t.logicalNumel >= 0, `${i}: ${t.name} ${t.logicalNumel}`);
        JSON.stringify(toReport(cp));
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw new Error(`case ${i} (${JSON.stringify(cfg)} ${JSON.stringify(entries)}): ${String(e)}`);
      }
    }
  });
});

describe('declared totals', () => {
  it('the index of a GPTQ checkpoint declares what transformers counts (quantized layers left out): a warning says so', async () => {
    const cp = await openCheckpoint(q('gptq-8bit-perchannel'));
    assert.deepStrictEqual(cp.parameters.declared, { count: truth['gptq-8bit-perchannel'].declared, source: 'model.safetensors.index.json metadata.total_parameters' });
    const w = cp.warnings.find((x) => x.code === 'declared-count-mismatch')!;
    assert.match(w.message, /declares 4,256 parameters; the checkpoint holds 24,736/);
    assert.match(w.message, /leaves out the quantized layers/);
    assert.ok(!('declared' in cp.modules.parameters), 'the root module keeps its own counts');
  });

  it('GGUF general.parameter_count and safetensors __metadata__ total_parameters are declarations too', () => {
    const base = { format: 'gguf', files: ['x.gguf'], metadata: { gguf: { kv: { 'general.parameter_count': 12 } } } } as unknown as RawCheckpoint;
    assert.deepStrictEqual(declaredCount(base), { count: 12, source: 'gguf general.parameter_count' });
    const stRaw = { files: ['m.safetensors'], metadata: { __metadata__: { total_parameters: '1200' } } } as unknown as RawCheckpoint;
    assert.deepStrictEqual(declaredCount(stRaw), { count: 1200, source: '__metadata__ total_parameters' });
    assert.strictEqual(declaredCount({ files: [], metadata: { __metadata__: { total_parameters: '12e5' } } } as unknown as RawCheckpoint), undefined);
    const rec = (name: string, shape: number[]): TensorRecord => ({ name, dtype: 'float32', shape, nbytes: 4 * shape.reduce((a, b) => a * b, 1), file: 'm.safetensors', dataOffset: 0, storage: name, storageOffset: 0, strides: null });
    const cp = analyze({ format: 'safetensors', path: 'm.safetensors', files: ['m.safetensors'], tensors: [rec('a.weight', [3, 4])], declaredTies: [], metadata: { __metadata__: { total_parameters: '13' } }, warnings: [], bytesRead: 0, totalBytes: 0 });
    assert.strictEqual(cp.parameters.declared?.count, 13);
    assert.match(cp.warnings.find((w) => w.code === 'declared-count-mismatch')!.message, /declares 13 parameters; the checkpoint holds 12/);
  });
});

describe('adapters', () => {
  it('PEFT LoRA: the base model names, lora.Linear(r=4) modules, the trainable count', async () => {
    const cp = await openCheckpoint(q('peft-lora'));
    assert.ok(cp.prefixes?.includes('base_model.model.'));
    assert.ok(cp.tensors.every((t) => !t.name.startsWith('base_model.')));
    const m = moduleAt(cp, 'model.layers.0.self_attn.q_proj');
    assert.strictEqual(m.type, 'lora.Linear');
    assert.strictEqual(m.repr, 'lora.Linear(r=4)');
    assert.match(m.evidence!, /32 → 32, rank 4, alpha 8/);
    assert.strictEqual(moduleAt(cp, 'model.layers.0.self_attn.q_proj.lora_A').repr, 'Linear(in_features=32, out_features=4, bias=False)');
    assert.ok(cp.files.includes('adapter_config.json'));
  });

  it('PEFT DoRA in a .bin with modules_to_save: magnitudes and the trained lm_head copy are trainable parameters', async () => {
    const cp = await openCheckpoint(q('peft-dora-bin'));
    assert.strictEqual(cp.format, 'pytorch-zip');
    assert.strictEqual(tensor(cp, 'model.layers.0.self_attn.k_proj.lora_magnitude_vector').role, 'parameter');
    assert.match(tensor(cp, 'lm_head.weight').roleReason, /modules_to_save/);
    assert.strictEqual(moduleAt(cp, 'model.layers.1.self_attn.o_proj').repr, 'lora.Linear(r=8, use_dora=True)');
  });

  it('kohya LoRA: flattened names, alpha is a buffer, conv layers are lora.Conv2d', async () => {
    const cp = await openCheckpoint(q('kohya-lora.safetensors'));
    assert.strictEqual(tensor(cp, 'lora_unet_down_blocks_0_resnets_0_conv1.alpha').role, 'buffer');
    assert.strictEqual(moduleAt(cp, 'lora_unet_down_blocks_0_resnets_0_conv1').type, 'lora.Conv2d');
    assert.strictEqual(moduleAt(cp, 'lora_te_text_model_encoder_layers_0_mlp_fc1').repr, 'lora.Linear(r=4)');
  });

  it('adapter_config.json beside a merged model (no adapter tensors) is not an adapter', async () => {
    const dir = tempDir('weightscope-merged-');
    try {
      fs.copyFileSync(q('gptq-no-config/model.safetensors'), path.join(dir, 'model.safetensors'));
      fs.copyFileSync(q('peft-lora/adapter_config.json'), path.join(dir, 'adapter_config.json'));
      const cp = await openCheckpoint(dir);
      assert.strictEqual(cp.adapter, undefined);
      assert.strictEqual(cp.parameters.unique, truth['gptq-no-config'].parameters.unique);
      // Only adapter tensors send us looking for adapter_config.json (remotely, every look is a request).
      assert.ok(!cp.files.includes('adapter_config.json'), 'not read for a model without adapter tensors');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a folder with adapter_model.bin and training_args.bin opens the adapter', async () => {
    const dir = tempDir('weightscope-adapter-');
    try {
      for (const f of ['adapter_model.bin', 'adapter_config.json']) fs.copyFileSync(q(`peft-dora-bin/${f}`), path.join(dir, f));
      fs.copyFileSync(q('peft-dora-bin/adapter_model.bin'), path.join(dir, 'training_args.bin'));
      const cp = await openCheckpoint(dir);
      assert.strictEqual(cp.adapter?.type, 'DoRA');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the scheme in the CLI and the exports', () => {
  it('text, markdown and svg name the scheme: "201K parameters · 4-bit GPTQ (g32) · 7.24 bits per weight stored"', async () => {
    const cp = await openCheckpoint(q('gptq-4bit-g32'));
    const line = '201K parameters · 4-bit GPTQ (g32) · 7.24 bits per weight stored';
    assert.strictEqual((await exportAs(cp, 'text')).toString().split('\n')[0], `# ${line}`);
    assert.match((await exportAs(cp, 'markdown')).toString(), /\| Quantization \| 4-bit GPTQ \(g32\) · 7\.24 bits per weight stored \(config\.json quantization\\_config\) \|/);
    assert.ok((await exportAs(cp, 'svg')).toString().includes(`>${line}</text>`));
  });

  it('adapters read "LoRA r=4 on q_proj, v_proj of <base>: N trainable parameters"', async () => {
    const cp = await openCheckpoint(q('peft-lora'));
    assert.strictEqual((await exportAs(cp, 'text')).toString().split('\n')[0], '# LoRA r=4 on q_proj, v_proj of weightscope/tiny-llama: 1.02K trainable parameters');
  });

  it('the CLI prints the scheme and stored figures, and --json carries quantization', () => {
    const r = cli(q('bnb-nf4'));
    assert.strictEqual(r.status, 0, r.stderr);
    assert.match(r.stdout, /^quantized: {2}201K parameters · 4-bit bitsandbytes NF4 \(block 64\) · [\d.]+ bits per weight stored$/m);
    assert.strictEqual((r.stdout.match(/bits per weight stored/g) ?? []).length, 1, 'once, in the summary');
    const j = JSON.parse(cli(q('bnb-nf4'), '--json').stdout);
    assert.strictEqual(j.parameters.unique, 201_152);
    assert.strictEqual(j.quantization.method, 'bitsandbytes');
    assert.deepStrictEqual(j.tensors.find((t: { name: string }) => t.name === 'model.layers.0.mlp.up_proj.weight').logicalShape, [192, 64]);
  });
});

describe('compressed-tensors sparse layers and GPTQModel dynamic overrides', () => {
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-sparse-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A copy of fixture `name` with its quantization_config changed by `edit`. */
  const variant = (name: string, to: string, edit: (qc: Record<string, unknown>) => void) => editedCopy(q(name), dir, to, (cfg) => edit(cfg.quantization_config as Record<string, unknown>));

  it('a 2:4 layer is its dense shape, read from `shape`; compressed is the parameter, bitmask and shape quantization state', async () => {
    const cp = await openCheckpoint(q('ct-sparse24'));
    const c = tensor(cp, 'model.layers.0.mlp.down_proj.compressed');
    assert.deepStrictEqual(c.shape, [32, 32]);
    assert.deepStrictEqual(c.logicalShape, [32, 64]);
    assert.strictEqual(c.role, 'parameter');
    assert.strictEqual(tensor(cp, 'model.layers.0.mlp.down_proj.bitmask').role, 'quantization');
    assert.strictEqual(tensor(cp, 'model.layers.0.mlp.down_proj.shape').role, 'quantization');
    const u = await openCheckpoint(q('ct-sparse-bitmask'));
    assert.deepStrictEqual(tensor(u, 'model.layers.0.mlp.down_proj.compressed').logicalShape, [32, 64]);
    assert.strictEqual(tensor(u, 'model.layers.0.mlp.down_proj.row_offsets').role, 'quantization');
  });

  it('without sparsity_config the `shape` tensors are not read, and the layers are counted as stored', async () => {
    const d = variant('ct-sparse-bitmask', 'no-sparsity', (qc) => delete qc.sparsity_config);
    const r = toReport(await openCheckpoint(d));
    assert.ok(r.parameters.unique < truth['ct-sparse-bitmask'].parameters.unique);
    assert.strictEqual(r.quantization, undefined);
    assert.ok(r.warnings.some((w) => w.code === 'quantization-config-unused'));
  });

  it('GPTQModel dynamic: the 8-bit down_proj and the unquantized o_proj agree with the config; without it they disagree', async () => {
    const cp = await openCheckpoint(q('gptq-dynamic'));
    assert.deepStrictEqual(toReport(cp).warnings.map((w) => w.code), []);
    assert.strictEqual(cp.quantization?.variants?.find((v) => v.bits === 8)?.layers, 2);
    assert.strictEqual(tensor(cp, 'model.layers.1.self_attn.o_proj.weight').quant, undefined);
    const d = variant('gptq-dynamic', 'no-dynamic', (qc) => delete qc.dynamic);
    const r = toReport(await openCheckpoint(d));
    assert.ok(r.warnings.some((w) => w.code === 'quantization-config-mismatch' && /bits=4 declared but qzeros hold 8-bit/.test(w.message)));
  });

  it('GPTQModel dynamic: patterns that could backtrack for ever, or that JavaScript cannot read, are refused with a warning, quickly', async () => {
    const d = variant('gptq-dynamic', 'bad-dynamic', (qc) => {
      qc.dynamic = {
        '+:(a+)+$': { bits: 8 },
        '+:(?P<name>x)': { bits: 8 },
        '+:.*a.*a.*a.*down_proj': { bits: 8 },
        '+:(\\.': { bits: 8 },
        '+:(?=.*down)': { bits: 8 },
        ['+:' + 'x'.repeat(300)]: { bits: 8 },
      };
    });
    const t0 = Date.now();
    const r = toReport(await openCheckpoint(d));
    assert.ok(Date.now() - t0 < 5000);
    assert.strictEqual(r.parameters.unique, truth['gptq-dynamic'].parameters.unique);
    const w = r.warnings.find((x) => x.code === 'quantization-config-mismatch');
    assert.ok(w && /dynamic pattern "\+:\(a\+\)\+\$" ignored: it repeats a group/.test(w.message), w?.message);
  });

  it('a `shape` that contradicts the bitmask makes the layer unreadable, not a count from the shape', async () => {
    const d = variant('ct-sparse24', 'bad-shape', () => undefined);
    const f = path.join(d, 'model.safetensors');
    const buf = fs.readFileSync(f);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString()) as Record<string, { data_offsets: [number, number] }>;
    const at = 8 + n + header['model.layers.0.mlp.down_proj.shape'].data_offsets[0];
    buf.writeBigInt64LE(1000n, at + 8);
    fs.writeFileSync(f, buf);
    const r = toReport(await openCheckpoint(d));
    assert.ok(r.warnings.some((x) => x.code === 'quantization-unreadable' && /down_proj: shape says 32x1000 but the bitmask is 32x8/.test(x.message)));
  });
});

describe('quantization detectors on hostile configs', () => {
  it('compressed-tensors: 20,000 config groups and 20,000 weight/weight_scale layers read the groups once (each layer read them all: minutes)', async function () {
    this.timeout(30000);
    const n = 20000;
    const groups: Record<string, unknown> = {};
    for (let i = 0; i < n - 1; i++) groups[`float_${i}`] = { targets: ['Linear'], weights: { num_bits: 8, type: 'float', strategy: 'channel' } };
    groups.int = { targets: ['Linear'], weights: { num_bits: 4, type: 'int', strategy: 'channel' } };
    const entries: [string, string, number[]][] = [];
    for (let i = 0; i < n; i++) entries.push([`l${i}.weight`, 'I8', [2, 2]], [`l${i}.weight_scale`, 'F32', [2, 1]]);
    const dir = tempDir();
    try {
      const cfg = { model_type: 'llama', quantization_config: { quant_method: 'compressed-tensors', format: 'int-quantized', quantization_status: 'compressed', config_groups: groups } };
      const cp = await openCheckpoint(path.join(folder(dir, 'ct', cfg, stZeros(entries)), 'model.safetensors'));
      assert.strictEqual(cp.quantization?.method, 'compressed-tensors');
      const w = tensor(cp, `l${n - 1}.weight`);
      // An int8-stored weight takes the first int group's scheme (the last group, 4-bit), not the first group's.
      assert.strictEqual(w.quant?.bits, 4);
      assert.strictEqual(w.quant?.format, 'int-quantized');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('quantization detectors on crafted module sizes', () => {
  it('MXFP4: one module of 30,000 _blocks/_scales pairs is read in linear time (each pair rescanned the module: minutes before)', async function () {
    this.timeout(60000);
    const n = 30000;
    const entries: [string, string, number[]][] = [];
    for (let i = 0; i < n; i++) entries.push([`m.x${i}_blocks`, 'U8', [2, 1, 16]], [`m.x${i}_scales`, 'U8', [2, 1]]);
    const dir = tempDir();
    try {
      const t0 = Date.now();
      const cp = await openCheckpoint(path.join(folder(dir, 'mx', { quantization_config: { quant_method: 'mxfp4' } }, stZeros(entries)), 'model.safetensors'));
      const elapsed = Date.now() - t0;
      assert.strictEqual(cp.quantization?.method, 'mxfp4');
      assert.strictEqual(cp.quantization?.quantizedLayers, n);
      assert.deepStrictEqual(tensor(cp, `m.x${n - 1}_blocks`).logicalShape, [2, 32]);
      assert.strictEqual(tensor(cp, `m.x${n - 1}_scales`).role, 'quantization');
      assert.strictEqual(cp.parameters.unique, n * 64);
      assert.ok(elapsed < 20000, `${elapsed} ms`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('adapters on crafted sizes', () => {
  const lora = (name: string) => ({ name, present: true, dtype: 'float32', shape: [1, 1] }) as unknown as Tensor;

  it('150,000 LoRA modules of distinct names list their targets in linear time (each name was looked for among those before it: 30 s before)', () => {
    const n = 150000;
    const tensors: Tensor[] = [];
    for (let i = 0; i < n; i++) tensors.push(lora(`x${i}.lora_A.weight`), lora(`x${i}.lora_B.weight`));
    const t0 = Date.now();
    const ann = annotateAdapter({ tensors, metadata: {} } as unknown as RawCheckpoint, tensors, []);
    const elapsed = Date.now() - t0;
    assert.strictEqual(ann?.info.modules, n);
    assert.strictEqual(ann?.info.targets.length, n);
    assert.deepStrictEqual(ann?.info.targets.slice(0, 3), ['x0', 'x1', 'x2']);
    assert.ok(elapsed < 8000, `${elapsed} ms`);
  });

  it('modules_to_save of 20,000 entries against 40,000 tensors: each tensor matched by its parts (each tensor against each entry: 20 s before)', async function () {
    this.timeout(60000);
    const n = 20000;
    const entries: [string, string, number[]][] = [];
    for (let i = 0; i < n; i++) entries.push([`base_model.model.x${i}.lora_A.weight`, 'F32', [1, 1]], [`base_model.model.y${i}.head.weight`, 'F32', [1, 1]]);
    const saved: unknown[] = [];
    for (let i = 0; i < n; i++) saved.push(`z${i}`);
    // Matched: a dotted entry at a name's start, one inside a name, and the first of two that match.
    saved.push('y7.head', 7, 'head', 'y9');
    const dir = tempDir();
    try {
      const d = folder(dir, 'mts', undefined, stZeros(entries));
      fs.writeFileSync(path.join(d, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 1, target_modules: ['x'], modules_to_save: saved }));
      const t0 = Date.now();
      const cp = await openCheckpoint(path.join(d, 'model.safetensors'));
      const elapsed = Date.now() - t0;
      assert.strictEqual(cp.adapter?.modules, n);
      assert.strictEqual(tensor(cp, 'y7.head.weight').roleReason, 'trained copy of y7.head (modules_to_save)');
      assert.strictEqual(tensor(cp, 'y9.head.weight').roleReason, 'trained copy of head (modules_to_save)');
      assert.strictEqual(tensor(cp, `y${n - 1}.head.weight`).roleReason, 'trained copy of head (modules_to_save)');
      assert.strictEqual(tensor(cp, 'x3.lora_A.weight').roleReason, 'lora_A of the adapter on x3 (trainable)');
      assert.ok(!cp.warnings.some((w) => w.code === 'adapter-config-limit'));
      assert.ok(elapsed < 10000, `${elapsed} ms`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('modules_to_save: an entry 3,000 parts deep against names as deep stops matching, with a warning', () => {
    const deep = Array.from({ length: 3000 }, () => 'a').join('.');
    const tensors: Tensor[] = [lora('q.lora_A.weight'), lora('b.c.w'), lora('a.a.w')];
    for (let i = 0; i < 200; i++) tensors.push(lora(`${deep}.w${i}`));
    tensors.push(lora('b.head.w'));
    const warnings: Warning[] = [];
    const t0 = Date.now();
    annotateAdapter({ tensors, metadata: {}, sidecars: { 'adapter_config.json': { peft_type: 'LORA', modules_to_save: [deep, 'b'] } } } as unknown as RawCheckpoint, tensors, warnings);
    assert.ok(Date.now() - t0 < 5000);
    assert.strictEqual(tensors[1].roleReason, 'trained copy of b (modules_to_save)');
    assert.strictEqual(tensors[2].roleReason, undefined);
    assert.strictEqual(tensors[tensors.length - 1].roleReason, undefined);
    const w = warnings.find((x) => x.code === 'adapter-config-limit');
    assert.ok(w, JSON.stringify(warnings));
    assert.match(w.message, /modules_to_save: .* tensor 4 of 204 and those after it are not marked/);
  });
});
