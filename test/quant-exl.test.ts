import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint, toReport, CheckpointError } from '../src/core';
import { exportAs } from '../src/core/export';
import { cli, fixture, readJson, seededRandom, tempDir } from './helpers';
import { folder, moduleAt, stZeros as st, tensor } from './quant-helpers';
import { unpaddedOut } from '../src/core/quant/common';

/** ExLlamaV2 (EXL2) and ExLlamaV3 (EXL3) checkpoints: scripts/fixtures/make_quant_exl.py. */
interface ExlTruth {
  torch: { parameters: number };
  parameters: { unique: number };
  quantization: Record<string, unknown> & { storedBytes: number; storedElements: number };
  warnings: string[];
  /** The variants in full, or how many there are. */
  variants?: { bits: number; layers: number; parameters: number }[] | number;
}

const truth = readJson<Record<string, ExlTruth>>(fixture('quant-exl', 'ground-truth.json'));
const x = (name: string) => fixture('quant-exl', name);


/** An EXL2 layer as AdaptiveGPTQ.pack writes it: `rows` q_weight rows for `inF` inputs in `groups` groups. */
function exl2Layer(p: string, out: number, inF: number, rows: number, groups: number): [string, string, number[]][] {
  return [
    [`${p}.q_weight`, 'I32', [rows, out]],
    [`${p}.q_invperm`, 'I32', [inF]],
    [`${p}.q_scale`, 'I32', [groups, out / 8]],
    [`${p}.q_scale_max`, 'F16', [groups]],
    [`${p}.q_groups`, 'I16', [2 * groups]],
  ];
}

/** An EXL3 layer: trellis [in / 16, out / 16, 16 * K], suh [in], svh [out]. */
function exl3Layer(p: string, out: number, inF: number, K: number): [string, string, number[]][] {
  return [
    [`${p}.trellis`, 'I16', [inF / 16, out / 16, 16 * K]],
    [`${p}.suh`, 'F16', [inF]],
    [`${p}.svh`, 'F16', [out]],
  ];
}

describe('EXL2 and EXL3 count the unquantized model (fixtures laid out by the quantizers\' rules, truth from torch)', () => {
  for (const [name, t] of Object.entries(truth)) {
    it(`${name}: ${t.torch.parameters.toLocaleString('en')} parameters (torch), ${t.quantization.bits}-bit ${t.quantization.method}`, () => {
      const r = cli(x(name), '--json');
      assert.strictEqual(r.status, 0, r.stderr);
      const j = JSON.parse(r.stdout);
      assert.strictEqual(j.parameters.unique, t.torch.parameters, "torch's count of the float model");
      assert.strictEqual(j.parameters.unique, t.parameters.unique);
      for (const [k, v] of Object.entries(t.quantization)) assert.deepStrictEqual(j.quantization[k], v, `quantization.${k}`);
      assert.strictEqual(j.quantization.bitsPerWeight, Math.round((t.quantization.storedBytes * 8 * 1e4) / t.parameters.unique) / 1e4);
      assert.deepStrictEqual([...new Set(j.warnings.map((w: { code: string }) => w.code))].sort(), [...t.warnings].sort());
      if (Array.isArray(t.variants)) assert.deepStrictEqual(j.quantization.variants, t.variants);
      else if (t.variants !== undefined) assert.strictEqual(j.quantization.variants?.length, t.variants);
    });
  }
});

describe('EXL2 layers', () => {
  it('q_weight is the parameter, [in, out] packed: its logical shape comes from q_invperm (in) and its columns (out)', async () => {
    const cp = await openCheckpoint(x('exl2-4.0bpw-h6'));
    const qw = tensor(cp, 'model.layers.0.mlp.down_proj.q_weight');
    assert.deepStrictEqual(qw.shape, [25, 64], '6 + 4 x 4 + 3 rows of 32 inputs; 64 outputs');
    assert.deepStrictEqual(qw.logicalShape, [64, 192]);
    assert.strictEqual(qw.role, 'parameter');
    assert.match(qw.roleReason!, /4\.17 bits per weight on average in this layer; the config's target is 4/);
    assert.deepStrictEqual(tensor(cp, 'model.layers.0.mlp.down_proj.q_invperm').shape, [192]);
    for (const n of ['q_invperm', 'q_scale', 'q_scale_max', 'q_groups']) {
      const t = tensor(cp, `model.layers.0.mlp.down_proj.${n}`);
      assert.strictEqual(t.role, 'quantization', n);
      assert.match(t.roleReason!, /^EXL2 /, `${n}: ${t.roleReason}`);
    }
    assert.doesNotMatch(tensor(cp, 'model.layers.0.self_attn.q_proj.q_scale').roleReason!, /attention query scale/, "EXL2's group scales, not attention's q_scale");
    const m = moduleAt(cp, 'model.layers.0.mlp.down_proj');
    assert.strictEqual(m.repr, 'QuantLinear(in_features=192, out_features=64, bits=4, method=exl2)');
    assert.strictEqual(m.parameters.unique, 64 * 192);
    assert.strictEqual(m.buffers.total, 0);
  });

  it('lm_head padded to a multiple of 32 (ExLlamaV2Linear pad32): 64 stored outputs, 50 real ones from vocab_size, head_bits', async () => {
    const cp = await openCheckpoint(x('exl2-4.0bpw-h6'));
    const head = tensor(cp, 'lm_head.q_weight');
    assert.deepStrictEqual(head.shape, [12, 64]);
    assert.deepStrictEqual(head.logicalShape, [50, 64]);
    assert.match(head.roleReason!, /padded from 50 to 64 \(a multiple of 32\) with 14 columns/);
    assert.strictEqual(moduleAt(cp, 'lm_head').repr, 'QuantLinear(in_features=64, out_features=50, bits=6, method=exl2)');
  });

  it('with q/k/v biases: the bias is a parameter of the layer, beside its q_weight', async () => {
    const cp = await openCheckpoint(x('exl2-6.0bpw-bias'));
    assert.strictEqual(tensor(cp, 'model.layers.0.self_attn.k_proj.bias').role, 'parameter');
    assert.strictEqual(moduleAt(cp, 'model.layers.0.self_attn.k_proj').repr, 'QuantLinear(in_features=64, out_features=64, bias=True, bits=6, method=exl2)');
    assert.strictEqual(moduleAt(cp, 'model.layers.0.self_attn.o_proj').repr, 'QuantLinear(in_features=64, out_features=64, bits=6, method=exl2)');
  });

  it('the scheme reads "4-bit EXL2 + 1 other scheme" (the config\'s target; head_bits for lm_head) in the CLI and the exports', async () => {
    const r = cli(x('exl2-4.0bpw-h6'));
    assert.strictEqual(r.status, 0, r.stderr);
    assert.match(r.stdout, /^quantized: {2}113K parameters · 4-bit EXL2 \+ 1 other scheme · 5\.07 bits per weight stored$/m);
    const cp = await openCheckpoint(x('exl2-no-config'));
    assert.match((await exportAs(cp, 'markdown')).toString(), /4\.5-bit EXL2 \+ 3 other schemes · 5\.07 bits per weight stored \(tensor layout \(no config\)\)/);
  });

  it('without config.json at all: read from the layout, lm_head at its stored (padded) width, with a warning that says so', async () => {
    const dir = tempDir('weightscope-exl2-bare-');
    try {
      fs.copyFileSync(path.join(x('exl2-4.0bpw-h6'), 'model.safetensors'), path.join(dir, 'model.safetensors'));
      const cp = await openCheckpoint(dir);
      assert.strictEqual(cp.parameters.unique, truth['exl2-4.0bpw-h6'].torch.parameters + (64 - 50) * 64, 'the 14 padding outputs counted, as the warning says');
      assert.strictEqual(cp.quantization?.method, 'exl2');
      assert.deepStrictEqual(cp.warnings.map((w) => w.code).sort(), ['quantization-config-missing', 'quantization-shape-assumed']);
      assert.match(cp.warnings.find((w) => w.code === 'quantization-shape-assumed')!.message, /lm_head: out_features taken as the stored 64: the quantizer pads the output head to a multiple of 32, and no config\.json vocab_size/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('EXL2 and EXL3 dimensions padded beyond the output head (sweep 9): the real sizes from the bias and config.json', () => {
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-exl-pad-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('EXL2: every out_features padded to 32 is unpadded to the one config size that rounds up to it (k_proj 32 -> 8, gate 96 -> 72); the bias [out] is counted as stored', async () => {
    const cp = await openCheckpoint(x('exl2-odd-dims-bias'));
    const cases: [string, number[], number[]][] = [
      ['model.layers.0.self_attn.q_proj', [5, 64], [40, 40]],
      ['model.layers.0.self_attn.k_proj', [5, 32], [8, 40]],
      ['model.layers.0.mlp.gate_proj', [5, 96], [72, 40]],
      ['model.layers.0.mlp.down_proj', [9, 64], [40, 72]],
      ['lm_head', [8, 128], [100, 40]],
    ];
    for (const [p, stored, logical] of cases) {
      const w = tensor(cp, `${p}.q_weight`);
      assert.deepStrictEqual([w.shape, w.logicalShape], [stored, logical], p);
    }
    assert.match(tensor(cp, 'model.layers.0.self_attn.k_proj.q_weight').roleReason!, /out_features padded from 8 to 32 \(a multiple of 32\) with 24 columns/);
    const bias = tensor(cp, 'model.layers.0.self_attn.k_proj.bias');
    assert.deepStrictEqual([bias.shape, bias.logicalShape, bias.role], [[8], undefined, 'parameter']);
    assert.strictEqual(moduleAt(cp, 'model.layers.0.self_attn.k_proj').repr, 'QuantLinear(in_features=40, out_features=8, bias=True, bits=4, method=exl2)');
    assert.deepStrictEqual(cp.warnings, []);
  });

  it('EXL3: out_features and the down projection\'s in_features padded to 128 are unpadded; a bias stored padded to out_p counts its real outputs', async () => {
    const cp = await openCheckpoint(x('exl3-odd-dims-bias-2.5bpw'));
    const down = tensor(cp, 'model.layers.0.mlp.down_proj.trellis');
    assert.deepStrictEqual([down.shape, down.logicalShape], [[24, 16, 32], [256, 344]]);
    assert.match(down.roleReason!, /in_features padded from 344 to 384 with 40 inputs the float layer does not have/);
    assert.deepStrictEqual(tensor(cp, 'model.layers.0.mlp.up_proj.trellis').logicalShape, [344, 256]);
    assert.deepStrictEqual(tensor(cp, 'model.layers.0.self_attn.k_proj.trellis').logicalShape, [64, 256]);
    const bias = tensor(cp, 'model.layers.0.self_attn.k_proj.bias');
    assert.deepStrictEqual([bias.shape, bias.logicalShape, bias.logicalNumel, bias.role], [[128], [64], 64, 'parameter']);
    assert.strictEqual(moduleAt(cp, 'model.layers.0.self_attn.k_proj').parameters.unique, 64 * 256 + 64);
    assert.strictEqual(moduleAt(cp, 'model.layers.0.mlp.down_proj').repr, 'QuantLinear(in_features=344, out_features=256, bits=2, method=exl3)');
  });

  it('without the size in config.json: several sizes that round up to the stored one, or none that explains it, keep the stored size and say so; a bias decides', async () => {
    // 64 stored outputs: hidden_size 40 and intermediate_size 50 both round up to it.
    const cfg = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 40, intermediate_size: 50, num_attention_heads: 5, num_key_value_heads: 5, vocab_size: 32, quantization_config: { quant_method: 'exl2', bits: 4.0 } };
    const two = await openCheckpoint(folder(dir, 'two', cfg, st(exl2Layer('model.layers.0.mlp.gate_proj', 64, 40, 5, 2))));
    assert.deepStrictEqual(tensor(two, 'model.layers.0.mlp.gate_proj.q_weight').logicalShape, [64, 40]);
    const w = two.warnings.find((e) => e.code === 'quantization-shape-assumed');
    assert.ok(w, 'warned');
    assert.match(w.message, /model\.layers\.0\.mlp\.gate_proj: out_features taken as the stored 64: the quantizer pads it to a multiple of 32, and config\.json sizes 40, 50 all round up to it/);
    const biased = await openCheckpoint(folder(dir, 'biased', cfg, st([...exl2Layer('model.layers.0.mlp.gate_proj', 64, 40, 5, 2), ['model.layers.0.mlp.gate_proj.bias', 'F16', [50]]])));
    assert.deepStrictEqual(tensor(biased, 'model.layers.0.mlp.gate_proj.q_weight').logicalShape, [50, 40]);
    assert.deepStrictEqual(biased.warnings, []);
    // 224 stored outputs, which no config size rounds up to or divides.
    const none = await openCheckpoint(folder(dir, 'none', { ...cfg, intermediate_size: 48, vocab_size: 1000 }, st(exl2Layer('x', 224, 40, 5, 2))));
    assert.match(none.warnings.find((e) => e.code === 'quantization-shape-assumed')!.message, /x: out_features taken as the stored 224: .*no config\.json size rounds up to it or divides it/);
    // A model whose sizes are whole multiples of the padding: nothing is padded, nothing said.
    assert.deepStrictEqual((await openCheckpoint(x('exl3-4.0bpw-h6'))).warnings, []);
  });
});

describe('EXL3 bits: the declared target beside the layers\' own rates', () => {
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-exl3-bits-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a 2.5-bit target over layers of 2 and 3 bits reads "2.5-bit EXL3 (layers at 2, 3 and 6 bits)"; a target the rates cannot come from is a mismatch', async () => {
    const r = cli(x('exl3-odd-dims-bias-2.5bpw'));
    assert.strictEqual(r.status, 0, r.stderr);
    assert.match(r.stdout, /^quantized: {2}501K parameters · 2\.5-bit EXL3 \(layers at 2, 3 and 6 bits\) · [0-9.]+ bits per weight stored$/m);
    const copy = (name: string, bits: number) => {
      const cfg = readJson<Record<string, Record<string, unknown>>>(path.join(x('exl3-odd-dims-bias-2.5bpw'), 'config.json'));
      cfg.quantization_config.bits = bits;
      return folder(dir, name, cfg, fs.readFileSync(path.join(x('exl3-odd-dims-bias-2.5bpw'), 'model.safetensors')));
    };
    const target = await openCheckpoint(copy('t275', 2.75));
    assert.strictEqual(target.quantization?.bits, 2.75);
    assert.deepStrictEqual(target.warnings, []);
    // 3.5 bits: every layer would start at 3; these have 2.
    const bad = await openCheckpoint(copy('t35', 3.5));
    assert.strictEqual(bad.quantization?.bits, 2, "the layers' own main rate");
    assert.match(bad.warnings.find((e) => e.code === 'quantization-config-mismatch')!.message, /declares bits=3\.5 \(ExLlamaV3's target bits per weight\), but its layers other than the output head hold 2 to 3 bits per weight/);
    // One rate throughout and a target it meets: the layers' rate, as before.
    assert.strictEqual((await openCheckpoint(x('exl3-moe-mcg'))).quantization?.bits, 3);
  });
});

describe('EXL2 of a model that ties its embeddings', () => {
  it('lm_head.q_weight beside model.embed_tokens with tie_word_embeddings true: both counted, as ExLlamaV2 uses both, and a warning gives the difference', async () => {
    const dir = tempDir('weightscope-exl2-tied-');
    try {
      const cfg = { architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 64, hidden_size: 64, tie_word_embeddings: true, quantization_config: { quant_method: 'exl2', bits: 4.0, head_bits: 6 } };
      const d = folder(dir, 'tied', cfg, st([['model.embed_tokens.weight', 'F16', [64, 64]], ...exl2Layer('lm_head', 64, 64, 12, 2)]));
      const cp = await openCheckpoint(d);
      assert.strictEqual(cp.parameters.unique, 2 * 64 * 64);
      const w = cp.warnings.find((e) => e.code === 'tie-stored-separately');
      assert.ok(w, 'warned');
      assert.match(w.message, /tie_word_embeddings is true, but lm_head\.q_weight is stored beside model\.embed_tokens\.weight: ExLlamaV2 quantizes a copy of the tied embedding .* \(4,096 parameters fewer\)/);
      // Untied (what ExLlamaV3 writes for the same layout): nothing to say.
      const untied = await openCheckpoint(folder(dir, 'untied', { ...cfg, tie_word_embeddings: false }, st([['model.embed_tokens.weight', 'F16', [64, 64]], ...exl2Layer('lm_head', 64, 64, 12, 2)])));
      assert.deepStrictEqual(untied.warnings, []);
      // ExLlamaV3 quantizes the head the same way (its alt_key is the embedding): the same warning.
      const exl3Cfg = { ...cfg, vocab_size: 128, hidden_size: 128, quantization_config: { quant_method: 'exl3', bits: 4.0, head_bits: 6 } };
      const three = await openCheckpoint(folder(dir, 'exl3', exl3Cfg, st([['model.embed_tokens.weight', 'F16', [128, 128]], ...exl3Layer('lm_head', 128, 128, 6)])));
      assert.strictEqual(three.parameters.unique, 2 * 128 * 128);
      assert.match(three.warnings.find((e) => e.code === 'tie-stored-separately')!.message, /lm_head\.trellis is stored beside model\.embed_tokens\.weight: ExLlamaV3 quantizes a copy of the tied embedding .* \(16,384 parameters fewer\)/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('EXL3 layers', () => {
  it('trellis [in / 16, out / 16, 16 * K] is the parameter; K is the layer\'s bits; suh and svh are quantization state', async () => {
    const cp = await openCheckpoint(x('exl3-4.0bpw-h6'));
    const t = tensor(cp, 'model.layers.0.mlp.down_proj.trellis');
    assert.deepStrictEqual(t.shape, [16, 8, 80]);
    assert.deepStrictEqual(t.logicalShape, [128, 256]);
    assert.strictEqual(t.role, 'parameter');
    for (const n of ['suh', 'svh']) assert.strictEqual(tensor(cp, `model.layers.0.mlp.down_proj.${n}`).role, 'quantization', n);
    assert.strictEqual(moduleAt(cp, 'model.layers.0.mlp.down_proj').repr, 'QuantLinear(in_features=256, out_features=128, bits=5, method=exl3)');
    assert.strictEqual(moduleAt(cp, 'model.layers.0.mlp.up_proj').repr, 'QuantLinear(in_features=128, out_features=256, bits=4, method=exl3)');
  });

  it('lm_head padded to a multiple of 128 (Linear pad_to): 256 stored outputs, 130 real ones', async () => {
    const cp = await openCheckpoint(x('exl3-4.0bpw-h6'));
    const head = tensor(cp, 'lm_head.trellis');
    assert.deepStrictEqual(head.shape, [8, 16, 96]);
    assert.deepStrictEqual(head.logicalShape, [130, 128]);
    assert.deepStrictEqual(tensor(cp, 'lm_head.svh').shape, [256]);
    assert.strictEqual(moduleAt(cp, 'lm_head').repr, 'QuantLinear(in_features=128, out_features=130, bits=6, method=exl3)');
  });

  it('MoE experts are quantized one by one, the router stays float16; the MCG codebook is the format', async () => {
    const cp = await openCheckpoint(x('exl3-moe-mcg'));
    assert.strictEqual(moduleAt(cp, 'model.layers.0.mlp.experts.1.down_proj').repr, 'QuantLinear(in_features=128, out_features=128, bits=3, method=exl3, format=mcg)');
    assert.strictEqual(moduleAt(cp, 'model.layers.0.mlp.gate').type, 'Linear');
    assert.strictEqual(tensor(cp, 'model.layers.0.mlp.experts.0.up_proj.mcg').role, 'quantization');
    assert.deepStrictEqual(tensor(cp, 'model.layers.0.mlp.experts.0.up_proj.mcg').shape, []);
    assert.strictEqual(tensor(cp, 'model.layers.0.self_attn.q_proj.bias').role, 'parameter');
    assert.strictEqual(cp.quantization?.format, 'mcg');
    // Layers of one shape and scheme share what is said about them (thousands of experts, a few shapes).
    assert.strictEqual(tensor(cp, 'model.layers.0.mlp.experts.0.up_proj.trellis').quant, tensor(cp, 'model.layers.0.mlp.experts.1.up_proj.trellis').quant);
  });

  it('older files with packed signs (su, sv: 16 per int16) and no quantization_config: read from the layout', async () => {
    const dir = tempDir('weightscope-exl3-old-');
    try {
      const d = folder(dir, 'old', { architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 256 }, st([
        ['model.layers.0.mlp.down_proj.trellis', 'I16', [256 / 16, 128 / 16, 16 * 2]],
        ['model.layers.0.mlp.down_proj.su', 'I16', [256 / 16]],
        ['model.layers.0.mlp.down_proj.sv', 'I16', [128 / 16]],
      ]));
      const cp = await openCheckpoint(d);
      assert.strictEqual(cp.parameters.unique, 128 * 256);
      assert.strictEqual(cp.quantization?.bits, 2);
      assert.strictEqual(tensor(cp, 'model.layers.0.mlp.down_proj.su').role, 'quantization');
      assert.deepStrictEqual(cp.warnings.map((w) => w.code), ['quantization-config-missing']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('EXL2 and EXL3 layers that do not fit their rules', () => {
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-exl-bad-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('EXL2 without q_invperm, or with rows no bit width gives: unreadable, counted as stored, warned; the good layer still counts', async () => {
    const noInvperm = exl2Layer('b', 64, 128, 16, 4).filter(([n]) => !n.endsWith('.q_invperm'));
    const d = folder(dir, 'exl2-bad', { quantization_config: { quant_method: 'exl2', bits: 4.0, head_bits: 6 } }, st([
      ...exl2Layer('a', 64, 128, 16, 4),
      ...noInvperm,
      ...exl2Layer('c', 64, 128, 40, 4), // 10 bits per weight: more than EXL2's 8
    ]));
    const cp = await openCheckpoint(d);
    assert.deepStrictEqual(tensor(cp, 'a.q_weight').logicalShape, [64, 128]);
    for (const n of ['b.q_weight', 'c.q_weight']) {
      assert.strictEqual(tensor(cp, n).logicalShape, undefined, n);
      assert.notStrictEqual(tensor(cp, n).role, 'parameter', `${n}: int32 words, not the layer's parameters`);
    }
    // a's logical weight, and b's and c's float16 q_scale_max as stored (4 each).
    assert.strictEqual(cp.parameters.unique, 64 * 128 + 4 + 4);
    const w = cp.warnings.find((e) => e.code === 'quantization-unreadable');
    assert.ok(w, 'warned');
    assert.match(w.message, /^2 layer\(s\) look quantized but could not be read; .*b: EXL2 q_weight \(int32 16x64\) has no q_invperm, whose length is in_features/);
    assert.strictEqual(cp.quantization?.quantizedLayers, 1);
  });

  it('EXL2 group tensors that disagree (q_scale not [groups, out / 8], q_groups not two per group): unreadable', async () => {
    const wrongScale = exl2Layer('a', 64, 128, 16, 4).map(([n, t, s]): [string, string, number[]] => (n.endsWith('.q_scale') ? [n, t, [4, 64]] : [n, t, s]));
    const wrongGroups = exl2Layer('b', 64, 128, 16, 4).map(([n, t, s]): [string, string, number[]] => (n.endsWith('.q_groups') ? [n, t, [4]] : [n, t, s]));
    const cp = await openCheckpoint(folder(dir, 'exl2-groups', { quantization_config: { quant_method: 'exl2', bits: 4.0 } }, st([...wrongScale, ...wrongGroups])));
    assert.strictEqual(cp.quantization, undefined);
    assert.match(cp.warnings.find((e) => e.code === 'quantization-unreadable')!.message, /^2 layer\(s\) .*a: EXL2 q_weight \(int32 16x64\) has q_scale 4x64, not \[groups, 8\]/);
    assert.ok(cp.warnings.some((e) => e.code === 'quantization-config-unused'));
  });

  it('EXL3: a half-integer rate without mul1, a 2-D trellis, svh of another width: unreadable, counted as stored', async () => {
    const d = folder(dir, 'exl3-bad', { quantization_config: { quant_method: 'exl3', bits: 4.0, head_bits: 6 } }, st([
      ...exl3Layer('ok', 128, 128, 4),
      ...exl3Layer('half', 128, 128, 2.5),
      ['flat.trellis', 'I16', [8, 512]],
      ['flat.suh', 'F16', [128]],
      ['flat.svh', 'F16', [128]],
      ['wide.trellis', 'I16', [8, 8, 64]],
      ['wide.suh', 'F16', [128]],
      ['wide.svh', 'F16', [256]],
    ]));
    const cp = await openCheckpoint(d);
    assert.deepStrictEqual(tensor(cp, 'ok.trellis').logicalShape, [128, 128]);
    assert.strictEqual(cp.quantization?.quantizedLayers, 1);
    const w = cp.warnings.find((e) => e.code === 'quantization-unreadable')!;
    assert.match(w.message, /^3 layer\(s\) look quantized but could not be read/);
    assert.match(w.message, /half: EXL3 trellis \(int16 8x8x40\) holds 2\.5 bits per weight, a half-integer rate, without the mul1 codebook it requires/);
    // ok's logical weight; the float16 suh / svh of the others as stored (int16 trellis words are not parameters).
    assert.strictEqual(cp.parameters.unique, 128 * 128 + (128 + 128) * 2 + 128 + 256);
    // With mul1 (int32 scalar), 2.5 bits is a rate EXL3 writes.
    const mul1 = await openCheckpoint(folder(dir, 'exl3-mul1', { quantization_config: { quant_method: 'exl3', bits: 2.5 } }, st([...exl3Layer('half', 128, 128, 2.5), ['half.mul1', 'I32', []]])));
    assert.strictEqual(mul1.quantization?.bits, 2.5);
    assert.strictEqual(mul1.quantization?.format, 'mul1');
    assert.strictEqual(mul1.parameters.unique, 128 * 128);
  });

  it('float tensors named q_weight or trellis (a float model\'s own names) are not EXL2 / EXL3 layers: no quantization, no unreadable warning', async () => {
    const d = folder(dir, 'float-names', { architectures: ['Foo'] }, st([
      ['attn.q_weight', 'F16', [64, 64]],
      ['attn.k_weight', 'F16', [64, 64]],
      ['attn.q_bias', 'F16', [64]],
      ['enc.trellis', 'F16', [8, 8, 32]],
      ['enc.proj.weight', 'F16', [16, 64]],
    ]));
    const cp = await openCheckpoint(d);
    assert.strictEqual(cp.quantization, undefined);
    assert.deepStrictEqual(cp.warnings, []);
    assert.strictEqual(cp.parameters.unique, 2 * 64 * 64 + 64 + 8 * 8 * 32 + 16 * 64);
    // With EXL2's group tensors beside it, a float q_weight is a broken EXL2 layer, and says so.
    const broken = await openCheckpoint(folder(dir, 'float-q-weight', undefined, st([['l.q_weight', 'F16', [16, 64]], ['l.q_invperm', 'I32', [128]]])));
    assert.match(broken.warnings.find((e) => e.code === 'quantization-unreadable')!.message, /l: EXL2 q_weight \(float16 16x64\) is not a 2-D int32 tensor/);
  });

  it('random EXL2 / EXL3 names, dtypes and shapes never escape as anything but a warning or a CheckpointError', async () => {
    const rand = seededRandom(23);
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
    const names = ['q_weight', 'q_invperm', 'q_scale', 'q_scale_max', 'q_groups', 'q_perm', 'trellis', 'suh', 'svh', 'su', 'sv', 'mcg', 'mul1', 'bias'];
    const dtypes = ['I32', 'I16', 'F16', 'U8'];
    const configs = [undefined, { vocab_size: pick([0, 7, 50, -1]) }, { quantization_config: { quant_method: 'exl2', bits: pick([0, 4, 'x', 99]), head_bits: pick([6, null]) } }, { quantization_config: { quant_method: 'exl3', bits: 3 } }];
    for (let i = 0; i < 60; i++) {
      const entries: [string, string, number[]][] = [];
      const used = new Set<string>();
      for (let k = 0; k < 1 + Math.floor(rand() * 6); k++) {
        const n = pick(names);
        if (used.has(n)) continue;
        used.add(n);
        entries.push([`${pick(['l', 'lm_head'])}.${n}`, pick(dtypes), Array.from({ length: Math.floor(rand() * 4) }, () => pick([0, 1, 2, 8, 16, 32, 48, 64]))]);
      }
      const d = folder(dir, `fuzz-${i}`, pick(configs), st(entries.filter((e, j) => entries.findIndex((f) => f[0] === e[0]) === j)));
      try {
        const cp = await openCheckpoint(d);
        assert.ok(Number.isSafeInteger(cp.parameters.unique) && cp.parameters.unique >= 0, `${i}: ${cp.parameters.unique}`);
        for (const t of cp.tensors) if (t.logicalNumel !== undefined) assert.ok(Number.isSafeInteger(t.logicalNumel) && t.logicalNumel >= 0, `${i}: ${t.name}`);
        JSON.stringify(toReport(cp));
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw new Error(`case ${i} (${JSON.stringify(entries)}): ${String(e)}`);
      }
    }
  });
});

describe('padded sizes against a config of two million sizes', () => {
  it('EXL2: 3,000 layers padded to 64 outputs, a config listing 31 sizes that round up to it among 2,000,000: compared once, the note names 8 (every layer walked the list and named all: 25 s before)', async function () {
    this.timeout(120000);
    const sizes: number[] = [];
    for (let s = 33; s < 64; s++) sizes.push(s);
    for (let s = 1000; sizes.length < 2_000_000; s++) sizes.push(s);
    const cfg = { hidden_size: 1000, intermediate_size: sizes, quantization_config: { quant_method: 'exl2', bits: 4.0 } };
    const n = 3000;
    const entries: [string, string, number[]][] = [];
    for (let i = 0; i < n; i++) entries.push(...exl2Layer(`l${i}`, 64, 40, 5, 2));
    const dir = tempDir();
    try {
      const t0 = Date.now();
      const cp = await openCheckpoint(folder(dir, 'sizes', cfg, st(entries)));
      const elapsed = Date.now() - t0;
      assert.ok(elapsed < 20000, `${elapsed} ms`);
      assert.strictEqual(cp.quantization?.quantizedLayers, n);
      assert.deepStrictEqual(tensor(cp, `l${n - 1}.q_weight`).logicalShape, [64, 40]);
      const w = cp.warnings.find((e) => e.code === 'quantization-shape-assumed');
      assert.ok(w, 'warned');
      assert.match(w.message, /^3000 layer\(s\) .*l0: out_features taken as the stored 64: the quantizer pads it to a multiple of 32, and config\.json sizes 33, 34, 35, 36, 37, 38, 39, 40 and 23 more all round up to it\)$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sizes compared with stored sizes they might divide are bounded per config: past that the stored size stands, and the note says it was not compared', () => {
    const sizes: number[] = [];
    for (let i = 0; i < 1_000_000; i++) sizes.push(3_000_001 + 2 * i);
    const config = { hidden_size: 7, intermediate_size: sizes };
    const ctx = { payloads: {}, config };
    const notes: (string | undefined)[] = [];
    const t0 = Date.now();
    for (let k = 1; k <= 40; k++) {
      const r = unpaddedOut('x', k * 8_000_000, 1_000_000, ctx);
      assert.strictEqual(r.size, k * 8_000_000);
      notes.push(r.assumed);
    }
    assert.ok(Date.now() - t0 < 5000);
    // Odd sizes never divide an even stored size: the first twenty walk all million.
    assert.match(notes[0]!, /no config\.json size rounds up to it or divides it/);
    assert.match(notes[19]!, /no config\.json size rounds up to it or divides it/);
    assert.match(notes[39]!, /^out_features taken as the stored 320000000: .*config\.json gives more sizes than are compared with every layer, so it may hold padding$/);
  });
});
