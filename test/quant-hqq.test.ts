/**
 * HQQ, EETQ and optimum-quanto checkpoints (scripts/fixtures/make_quant_hqq.py packs a seeded
 * torch model by each quantizer's rules; the truth is torch's count of the unquantized model).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint, readCheckpoint, toReport, CheckpointError } from '../src/core';
import { cli, fixture, readJson, seededRandom, tempDir } from './helpers';
import { editedCopy, folder, i64s, moduleAt, st, ST_BYTES, tensor } from './quant-helpers';

interface Truth {
  torch: { parameters: number };
  parameters: { unique: number };
  quantization: Record<string, unknown> & { storedBytes: number; storedElements: number };
  warnings: string[];
  variants?: number;
}

const truth = readJson<Record<string, Truth>>(fixture('quant-hqq', 'ground-truth.json'));
const q = (name: string) => fixture('quant-hqq', name);

/** An HQQ layer's tensors as HQQLinear.state_dict writes them, for `l` ([out, in], axis 1, 4-bit unless said). */
function hqqLayer(l: string, out: number, inF: number, g: number, o: { rows?: number; shape?: Buffer; scaleRows?: number } = {}) {
  const groups = (out * inF) / g;
  return [
    { name: `${l}.W_q`, dtype: 'U8', shape: [o.rows ?? groups / 2, g] },
    { name: `${l}.scale`, dtype: 'F16', shape: [o.scaleRows ?? groups, 1] },
    { name: `${l}.zero`, dtype: 'F16', shape: [o.scaleRows ?? groups, 1] },
    { name: `${l}.shape`, dtype: 'I64', shape: [2], data: o.shape ?? i64s(out, inF) },
    { name: `${l}.nbits`, dtype: 'U8', shape: [] },
    { name: `${l}.axis`, dtype: 'U8', shape: [], data: Buffer.from([1]) },
  ];
}

const hqqConfig = (nbits: number, group: number) => ({
  quantization_config: { quant_method: 'hqq', skip_modules: ['lm_head'], quant_config: { weight_quant_params: { nbits, channel_wise: true, group_size: group, optimize: true, round_zero: true, axis: 1, view_as_float: false }, scale_quant_params: null, zero_quant_params: null, offload_meta: false } },
});

describe('HQQ, EETQ and optimum-quanto count the unquantized model (fixtures packed by the published rules, truth from torch)', () => {
  for (const [name, t] of Object.entries(truth)) {
    it(`${name}: ${t.parameters.unique.toLocaleString('en')} parameters, ${t.quantization.bits}-bit ${t.quantization.method} (CLI --json)`, () => {
      const r = cli(q(name), '--json');
      assert.strictEqual(r.status, 0, r.stderr);
      const j = JSON.parse(r.stdout);
      assert.strictEqual(j.parameters.unique, t.torch.parameters, "torch's count of the unquantized model");
      for (const [k, v] of Object.entries(t.quantization)) assert.deepStrictEqual(j.quantization[k], v, `quantization.${k}`);
      assert.strictEqual(j.quantization.bitsPerWeight, Math.round((t.quantization.storedBytes * 8 * 1e4) / t.parameters.unique) / 1e4);
      assert.deepStrictEqual([...new Set(j.warnings.map((w: { code: string }) => w.code))].sort(), [...t.warnings].sort());
      assert.strictEqual(j.quantization.variants?.length, t.variants);
      assert.strictEqual(j.buffers.unique, 0, 'no tensor is left a buffer');
    });
  }
});

describe('HQQ layers', () => {
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-hqq-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('W_q is the parameter with the real shape from `shape`; scale, zero and every meta tensor are quantization state', async () => {
    const cp = await openCheckpoint(q('hqq-4bit-g64'));
    const wq = tensor(cp, 'model.layers.0.mlp.down_proj.W_q');
    // [32, 64] = 2048 values: 32 groups of 64, two 4-bit values per byte.
    assert.deepStrictEqual(wq.shape, [16, 64]);
    assert.deepStrictEqual(wq.logicalShape, [32, 64]);
    assert.strictEqual(wq.role, 'parameter');
    assert.match(wq.roleReason!, /^4-bit HQQ weight of a 32x64 layer: 32 groups of 64 values \(axis 1\), 2 values per byte$/);
    const meta = ['scale', 'zero', 'shape', 'nbits', 'group_size', 'axis', 'packing', 'unpack_view_dtype', 'view_as_float', 'quant_scale', 'quant_zero', 'compute_dtype', 'offload_meta', 'encoded_state_dict', 'stores_quant_config', 'channel_wise', 'optimize', 'round_zero'];
    for (const n of meta) assert.strictEqual(tensor(cp, `model.layers.0.mlp.down_proj.${n}`).role, 'quantization', n);
    const m = moduleAt(cp, 'model.layers.0.mlp.down_proj');
    assert.strictEqual(m.repr, 'QuantLinear(in_features=64, out_features=32, bits=4, group_size=64, method=hqq)');
    assert.strictEqual(m.parameters.unique, 32 * 64);
    assert.strictEqual(m.buffers.total, 0);
    assert.strictEqual(moduleAt(cp, 'lm_head').type, 'Linear', 'skip_modules: lm_head stays a Linear');
    // The 16 bytes of each of the 14 `shape` tensors are read, nothing else of the data.
    const raw = await readCheckpoint(q('hqq-4bit-g64'));
    assert.strictEqual(Object.keys(raw.payloads ?? {}).length, 14);
    assert.ok(Object.keys(raw.payloads ?? {}).every((n) => n.endsWith('.shape')));
  });

  it('3-bit (int32 words of 10, padded rows), axis 0, view_as_float, biases', async () => {
    let cp = await openCheckpoint(q('hqq-3bit-g32-bias'));
    const w3 = tensor(cp, 'model.layers.0.mlp.gate_proj.W_q');
    assert.deepStrictEqual([w3.dtype, w3.shape], ['int32', [7, 32]], '64 groups in ceil(64 / 10) rows');
    assert.deepStrictEqual(w3.logicalShape, [64, 32]);
    assert.strictEqual(moduleAt(cp, 'model.layers.0.self_attn.q_proj').repr, 'QuantLinear(in_features=32, out_features=32, bias=True, bits=3, group_size=32, method=hqq)');
    assert.strictEqual(tensor(cp, 'model.layers.0.self_attn.q_proj.bias').role, 'parameter');
    cp = await openCheckpoint(q('hqq-2bit-g16-axis0'));
    const w2 = tensor(cp, 'model.layers.0.self_attn.q_proj.W_q');
    assert.deepStrictEqual([w2.shape, tensor(cp, 'model.layers.0.self_attn.q_proj.scale').shape], [[4, 64], [1, 64]], '64 groups of 16 as columns');
    assert.deepStrictEqual(w2.logicalShape, [32, 32]);
    cp = await openCheckpoint(q('hqq-4bit-view-float'));
    const wf = tensor(cp, 'model.layers.0.self_attn.q_proj.W_q');
    assert.deepStrictEqual([wf.dtype, wf.shape, wf.logicalShape], ['float16', [8, 32], [32, 32]]);
    assert.strictEqual(wf.role, 'parameter');
  });

  it('dynamic_config: bits per linear tag; a tag without an entry stays nn.Linear', async () => {
    const cp = await openCheckpoint(q('hqq-dynamic'));
    const v = cp.quantization!.variants!.map((x) => [x.bits, x.groupSize, x.layers]);
    assert.deepStrictEqual(v, [[4, 64, 8], [1, 32, 2], [8, 128, 2]]);
    assert.strictEqual(moduleAt(cp, 'model.layers.1.mlp.down_proj').type, 'Linear');
    assert.match(cli(q('hqq-dynamic')).stdout, /^quantized: {2}24.7K parameters · 4-bit HQQ \(g64\) \+ 2 other schemes · [\d.]+ bits per weight stored$/m);
  });

  it('without quantization_config: read from the layout (the `shape` tensors beside W_q are still read), with a warning', async () => {
    const d = editedCopy(q('hqq-4bit-g64'), dir, 'no-config', (cfg) => delete cfg.quantization_config);
    const r = toReport(await openCheckpoint(d));
    assert.strictEqual(r.parameters.unique, truth['hqq-4bit-g64'].torch.parameters);
    assert.deepStrictEqual([r.quantization?.method, r.quantization?.bits, r.quantization?.groupSize, r.quantization?.declaredBy], ['hqq', 4, 64, 'tensor layout (no config)']);
    assert.deepStrictEqual(r.warnings.map((w) => w.code), ['quantization-config-missing']);
    assert.match(r.warnings[0].message, /14 layer\(s\) read as HQQ/);
  });

  it('a config that contradicts the packing: counted by the shapes, with a warning', async () => {
    const d = folder(dir, 'contradicting', hqqConfig(8, 32), st(hqqLayer('l', 32, 64, 64)));
    const cp = await openCheckpoint(d);
    assert.strictEqual(cp.parameters.unique, 32 * 64);
    assert.strictEqual(cp.quantization?.bits, 4);
    const w = cp.warnings.find((x) => x.code === 'quantization-config-mismatch');
    assert.ok(w && /nbits=8 declared but W_q is packed for 4 bits/.test(w.message) && /group_size=32 declared/.test(w.message), w?.message);
  });

  it('a quant_config written flat ({nbits, group_size, axis}, not under weight_quant_params) is the global scheme, not a table of tags', async () => {
    const flat = { quantization_config: { quant_method: 'hqq', skip_modules: ['lm_head'], quant_config: { nbits: 4, group_size: 64, axis: 1 } } };
    const d = folder(dir, 'flat-config', flat, st(hqqLayer('model.layers.0.mlp.down_proj', 32, 64, 64)));
    const cp = await openCheckpoint(d);
    assert.strictEqual(cp.parameters.unique, 32 * 64);
    assert.deepStrictEqual([cp.quantization?.bits, cp.quantization?.groupSize], [4, 64]);
    assert.deepStrictEqual(cp.warnings.map((w) => w.code), []);
  });

  it('a `shape` that cannot be read: the count from W_q and its scales, shown flat, with a warning', async () => {
    const d = folder(dir, 'bad-shape', hqqConfig(4, 64), st(hqqLayer('l', 32, 64, 64, { shape: i64s(-1, 64) })));
    const cp = await openCheckpoint(d);
    assert.strictEqual(cp.parameters.unique, 32 * 64);
    assert.deepStrictEqual(tensor(cp, 'l.W_q').logicalShape, [2048]);
    const w = cp.warnings.find((x) => x.code === 'quantization-shape-assumed');
    assert.ok(w && /l: shape holds -1, not a dimension; 2048 values \(32 groups of 64\), shown as 2048/.test(w.message), w?.message);
  });

  it('malformed layers are unreadable and counted as stored: a `shape` that contradicts W_q, rows that fit no packing, no scales', async () => {
    const cases: [string, ReturnType<typeof hqqLayer>, RegExp][] = [
      ['contradicting-shape', hqqLayer('l', 32, 64, 64, { shape: i64s(32, 100) }), /l: shape says 32x100 but W_q and its 32 scales hold 2048 values/],
      ['no-packing', hqqLayer('l', 32, 64, 64, { rows: 5 }), /l: HQQ W_q 5x64 with 32 groups of 64: 6.4 values per byte, which no HQQ packing has/],
      ['no-scales', hqqLayer('l', 32, 64, 64).filter((e) => !/\.(scale|zero)$/.test(e.name)), /l: HQQ W_q 16x64 without the scale or zero its groups need/],
    ];
    for (const [name, entries, message] of cases) {
      const cp = await openCheckpoint(folder(dir, name, hqqConfig(4, 64), st(entries)));
      const w = cp.warnings.find((x) => x.code === 'quantization-unreadable');
      assert.ok(w && message.test(w.message), `${name}: ${w?.message}`);
      assert.strictEqual(cp.quantization, undefined, name);
      // Stored: the float tensors (W_q is uint8 and stays a buffer).
      const floats = entries.filter((e) => e.dtype === 'F16').reduce((s, e) => s + e.shape.reduce((a, b) => a * b, 1), 0);
      assert.strictEqual(cp.parameters.unique, floats, name);
    }
  });

  it('only `shape` tensors beside a W_q are read: a `shape` elsewhere is left alone', async () => {
    const d = folder(dir, 'other-shape', undefined, st([...hqqLayer('l', 32, 64, 64), { name: 'm.shape', dtype: 'I64', shape: [2], data: i64s(3, 4) }]));
    const raw = await readCheckpoint(d);
    assert.deepStrictEqual(Object.keys(raw.payloads ?? {}), ['l.shape']);
  });
});

describe('EETQ layers', () => {
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-eetq-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the int8 weight [in, out] is the parameter of an [out, in] layer; weight_scales are quantization state', async () => {
    const cp = await openCheckpoint(q('eetq-int8'));
    const w = tensor(cp, 'model.layers.0.mlp.down_proj.weight');
    assert.deepStrictEqual([w.dtype, w.shape, w.logicalShape, w.logicalNumel], ['int8', [64, 32], [32, 64], 2048]);
    assert.strictEqual(w.role, 'parameter');
    assert.strictEqual(tensor(cp, 'model.layers.0.mlp.down_proj.weight_scales').role, 'quantization');
    assert.strictEqual(moduleAt(cp, 'model.layers.0.mlp.down_proj').repr, 'QuantLinear(in_features=64, out_features=32, bits=8, method=eetq)');
    assert.match(cli(q('eetq-int8')).stdout, /^quantized: {2}24.7K parameters · 8-bit EETQ \(per-channel\) · [\d.]+ bits per weight stored$/m);
    // EETQ's own W8A16Linear: qweight, with biases.
    const own = await openCheckpoint(q('eetq-qweight-bias'));
    assert.deepStrictEqual(tensor(own, 'model.layers.1.mlp.up_proj.qweight').logicalShape, [64, 32]);
    assert.strictEqual(tensor(own, 'model.layers.1.self_attn.o_proj.bias').role, 'parameter');
  });

  it('without quantization_config: read from the layout, with a warning', async () => {
    const d = folder(dir, 'no-config', { model_type: 'llama' }, fs.readFileSync(path.join(q('eetq-int8'), 'model.safetensors')));
    const r = toReport(await openCheckpoint(d));
    assert.strictEqual(r.parameters.unique, truth['eetq-int8'].torch.parameters);
    assert.strictEqual(r.quantization?.method, 'eetq');
    assert.deepStrictEqual(r.warnings.map((w) => w.code), ['quantization-config-missing']);
  });

  it('weight_scales that are not one per output channel: unreadable, counted as stored', async () => {
    const d = folder(dir, 'bad', { quantization_config: { quant_method: 'eetq', weights: 'int8' } }, st([
      { name: 'l.weight', dtype: 'I8', shape: [64, 32] },
      { name: 'l.weight_scales', dtype: 'F16', shape: [64] },
    ]));
    const cp = await openCheckpoint(d);
    const w = cp.warnings.find((x) => x.code === 'quantization-unreadable');
    assert.ok(w && /l: EETQ weight is \[in, out\] = 64x32, so it needs 32 weight_scales, but there are 64/.test(w.message), w?.message);
    assert.strictEqual(cp.parameters.unique, 64, 'the float scales; the int8 weight stays a buffer');
  });
});

describe('optimum-quanto layers', () => {
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-quanto-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('qint8: weight._data is the parameter of its module (not of a module `weight`); _scale, input_scale, output_scale are state; quanto_qmap.json declares it', async () => {
    const cp = await openCheckpoint(q('quanto-qint8'));
    const d = tensor(cp, 'lm_head.weight._data');
    assert.deepStrictEqual([d.dtype, d.shape, d.role], ['int8', [64, 32], 'parameter']);
    for (const n of ['weight._scale', 'input_scale', 'output_scale']) assert.strictEqual(tensor(cp, `lm_head.${n}`).role, 'quantization', n);
    const m = moduleAt(cp, 'lm_head');
    assert.deepStrictEqual(m.children.map((c) => c.name), [], 'no `weight` submodule');
    assert.strictEqual(m.repr, 'QuantLinear(in_features=32, out_features=64, bits=8, method=quanto, format=qint8)');
    assert.strictEqual(cp.quantization?.declaredBy, 'quanto_qmap.json');
    assert.ok(cp.files.includes('quanto_qmap.json'));
  });

  it('qint4 / qint2: weight._data._data packs the values along the first axis; [out, in] when the packed width says so, else the exact count, flat', async () => {
    const cp = await openCheckpoint(q('quanto-qint4'));
    const up = tensor(cp, 'model.layers.0.mlp.up_proj.weight._data._data');
    assert.deepStrictEqual([up.shape, up.logicalShape], [[96, 48], [192, 48]]);
    for (const n of ['weight._scale', 'weight._shift']) assert.strictEqual(tensor(cp, `model.layers.0.mlp.up_proj.${n}`).role, 'quantization', n);
    // down_proj [48, 192] is grouped by 96 ([96, 96] values): the shapes cannot tell it from a [96, 96] layer.
    const down = tensor(cp, 'model.layers.0.mlp.down_proj.weight._data._data');
    assert.deepStrictEqual([down.shape, down.logicalShape], [[48, 96], [9216]]);
    assert.match(down.roleReason!, /96 rows of 96: either \[out, in\] or groups of 96, which the shapes do not tell apart/);
    const two = await openCheckpoint(q('quanto-qint2-bias'));
    assert.deepStrictEqual(tensor(two, 'model.layers.0.self_attn.k_proj.weight._data._data').shape, [12, 48]);
    assert.strictEqual(moduleAt(two, 'model.layers.0.self_attn.k_proj').repr, 'QuantLinear(in_features=48, out_features=48, bias=True, bits=2, method=quanto, format=qint2)');
  });

  it('an older release\'s weight._zeropoint (int8 [rows, 1], where later ones store _shift) is quantization state of its layer', async () => {
    const cp = await openCheckpoint(q('quanto-qint4-zeropoint'));
    const p = 'model.layers.0.mlp.up_proj';
    const zp = tensor(cp, `${p}.weight._zeropoint`);
    assert.deepStrictEqual([zp.dtype, zp.shape, zp.role], ['int8', [192, 1], 'quantization']);
    assert.match(zp.roleReason!, /quanto zero points \(older QBitsTensor/);
    assert.ok(moduleAt(cp, p).tensors.includes(`${p}.weight._zeropoint`), 'a tensor of the layer, not of a module `weight`');
    assert.deepStrictEqual(moduleAt(cp, p).children, []);
    assert.strictEqual(cp.parameters.unique, truth['quanto-qint4'].torch.parameters);
  });

  it('float tensors under a module named `weight` (_data, _scale) are not quanto layers: no unreadable warning', async () => {
    const d = folder(dir, 'float-data', undefined, st([
      { name: 'layer.weight._data', dtype: 'F16', shape: [8, 8] },
      { name: 'other.weight._data', dtype: 'F16', shape: [8, 8] },
      { name: 'other.weight._scale', dtype: 'F16', shape: [8, 1] },
      { name: 'attn.W_q', dtype: 'F16', shape: [8, 8, 2] },
    ]));
    const cp = await openCheckpoint(d);
    assert.strictEqual(cp.quantization, undefined);
    assert.deepStrictEqual(cp.warnings, []);
    assert.strictEqual(cp.parameters.unique, 64 + 64 + 8 + 128);
  });

  it('a bias tells a grouped layer ([out * in / g, g]) apart; conv weights keep their dimensions', async () => {
    const d = folder(dir, 'hand', undefined, st([
      { name: 'l.weight._data._data', dtype: 'U8', shape: [48, 96] },
      { name: 'l.weight._scale', dtype: 'F16', shape: [96, 1] },
      { name: 'l.weight._shift', dtype: 'F16', shape: [96, 1] },
      { name: 'l.bias', dtype: 'F16', shape: [48] },
      { name: 'l.input_scale', dtype: 'F16', shape: [] },
      { name: 'c.weight._data._data', dtype: 'U8', shape: [4, 3, 3, 3] },
      { name: 'c.weight._scale', dtype: 'F16', shape: [8, 1, 1, 1] },
      { name: 'c.weight._shift', dtype: 'F16', shape: [8, 1, 1, 1] },
    ]));
    const cp = await openCheckpoint(d);
    assert.deepStrictEqual(tensor(cp, 'l.weight._data._data').logicalShape, [48, 192]);
    assert.strictEqual(tensor(cp, 'l.weight._data._data').quant?.groupSize, 96);
    assert.deepStrictEqual(tensor(cp, 'c.weight._data._data').logicalShape, [8, 3, 3, 3]);
    assert.strictEqual(cp.parameters.unique, 48 * 192 + 48 + 8 * 27);
    assert.deepStrictEqual(cp.warnings.map((w) => w.code), ['quantization-config-missing']);
  });

  it('without quanto_qmap.json: read from the layout, with a warning; a transformers-style QuantoConfig is a declaration too', async () => {
    const d = folder(dir, 'no-qmap', readJson(path.join(q('quanto-qint4'), 'config.json')), fs.readFileSync(path.join(q('quanto-qint4'), 'model.safetensors')));
    let r = toReport(await openCheckpoint(d));
    assert.strictEqual(r.parameters.unique, truth['quanto-qint4'].torch.parameters);
    assert.deepStrictEqual([r.quantization?.method, r.quantization?.bits], ['quanto', 4]);
    assert.deepStrictEqual(r.warnings.map((w) => w.code), ['quantization-config-missing']);
    const cfg = { ...readJson(path.join(q('quanto-qint4'), 'config.json')), quantization_config: { quant_method: 'quanto', weights: 'int4', activations: null, modules_to_not_convert: null } };
    fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(cfg));
    r = toReport(await openCheckpoint(d));
    assert.strictEqual(r.parameters.unique, truth['quanto-qint4'].torch.parameters);
    assert.deepStrictEqual(r.warnings.map((w) => w.code), []);
    assert.strictEqual(r.quantization?.declaredBy, 'config.json quantization_config');
  });

  it('a qmap that disagrees, packed rows that fit no width, a missing scale: warnings, and unreadable layers counted as stored', async () => {
    const d = folder(dir, 'bad', {}, st([
      { name: 'a.weight._data._data', dtype: 'U8', shape: [5, 48] },
      { name: 'a.weight._scale', dtype: 'F16', shape: [48, 1] },
      { name: 'b.weight._data', dtype: 'I8', shape: [16, 16] },
      { name: 'c.weight._data', dtype: 'I8', shape: [16, 16] },
      { name: 'c.weight._scale', dtype: 'F16', shape: [16, 1] },
    ]));
    fs.writeFileSync(path.join(d, 'quanto_qmap.json'), JSON.stringify({ a: { weights: 'qint4', activations: 'none' }, c: { weights: 'qint4', activations: 'none' } }));
    const cp = await openCheckpoint(d);
    const unreadable = cp.warnings.find((x) => x.code === 'quantization-unreadable')!.message;
    assert.match(unreadable, /^2 layer\(s\) look quantized but could not be read/);
    assert.match(unreadable, /a: quanto weight._data._data has 5 rows for 48 scales/);
    const mismatch = cp.warnings.find((x) => x.code === 'quantization-config-mismatch')!.message;
    assert.match(mismatch, /c: qint4 declared but weight._data holds one int8 per value/);
    assert.strictEqual(cp.parameters.unique, 48 + 16 * 16, 'a: its float scale as stored; b: nothing float; c: read');
  });
});

describe('HQQ, EETQ and quanto layouts at random', () => {
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-hqq-fuzz-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('random configs, names, dtypes, shapes and shape bytes give a count or a warning, never an internal error or a count that is not a whole number', async () => {
    const rand = seededRandom(17);
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
    const values = [0, -1, 1, 1.58, 3, 7, 8, 64, 1e12, 'x', null, [16], { a: 1 }, true];
    const names = ['W_q', 'scale', 'zero', 'zero_scale', 'shape', 'bias', 'weight', 'qweight', 'weight_scales', 'weight._data', 'weight._data._data', 'weight._scale', 'weight._shift', 'input_scale'];
    const dtypes = ['U8', 'I8', 'I32', 'I64', 'F16', 'F32', 'F8_E4M3'];
    for (let i = 0; i < 80; i++) {
      const wqp: Record<string, unknown> = {};
      for (const k of ['nbits', 'group_size', 'axis', 'view_as_float']) if (rand() < 0.6) wqp[k] = pick(values);
      const method = pick(['hqq', 'eetq', 'quanto', 'none']);
      const cfg =
        method === 'none'
          ? {}
          : { quantization_config: { quant_method: method, weights: pick(['int8', 'int4', 'int2', 'float8', 'x']), skip_modules: pick([['lm_head'], 'x', null]), quant_config: pick([{ weight_quant_params: wqp }, { l: { weight_quant_params: wqp } }, pick(values)]) } };
      const entries = [];
      const used = new Set<string>();
      for (let k = 0; k < 1 + Math.floor(rand() * 5); k++) {
        const name = pick(names);
        if (used.has(name)) continue;
        used.add(name);
        const dtype = pick(dtypes);
        const shape = Array.from({ length: Math.floor(rand() * 4) }, () => Math.floor(rand() * 9));
        const n = shape.reduce((a, b) => a * b, 1) * ST_BYTES[dtype];
        const data = Buffer.alloc(n);
        for (let b = 0; b < n; b++) data[b] = Math.floor(rand() * 256);
        entries.push({ name: `l.${name}`, dtype, shape, data });
      }
      const d = folder(dir, `fuzz-${i}`, cfg, st(entries));
      if (rand() < 0.3) fs.writeFileSync(path.join(d, 'quanto_qmap.json'), JSON.stringify({ l: { weights: pick(['qint4', 'qint2', 'qint8', 'none', 7]) } }));
      try {
        const cp = await openCheckpoint(d);
        assert.ok(Number.isSafeInteger(cp.parameters.unique) && cp.parameters.unique >= 0, `${i}: ${cp.parameters.unique}`);
        for (const t of cp.tensors) if (t.logicalNumel !== undefined) assert.ok(Number.isSafeInteger(t.logicalNumel) && t.logicalNumel >= 0, `${i}: ${t.name} ${t.logicalNumel}`);
        JSON.stringify(toReport(cp));
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw new Error(`case ${i} (${JSON.stringify(cfg)} ${JSON.stringify(entries.map((e) => [e.name, e.dtype, e.shape]))}): ${String(e)}`);
      }
    }
  });
});

describe('HQQ configs of crafted sizes', () => {
  it('skip_modules of 1,000,000 tags against 10,000 layers: looked up in a set made once (each layer searched the list: 17 s before)', async function () {
    this.timeout(120000);
    const skip: string[] = [];
    for (let i = 0; i < 1_000_000; i++) skip.push(`s${i}`);
    skip.push('mlp.l7');
    const cfg = { quantization_config: { quant_method: 'hqq', skip_modules: skip, quant_config: { weight_quant_params: { nbits: 8, group_size: 1, axis: 1 } } } };
    const n = 10000;
    const entries = [];
    for (let i = 0; i < n; i++) entries.push({ name: `mlp.l${i}.W_q`, dtype: 'U8', shape: [1, 1] }, { name: `mlp.l${i}.scale`, dtype: 'F16', shape: [1, 1] });
    const dir = tempDir();
    try {
      const t0 = Date.now();
      const cp = await openCheckpoint(folder(dir, 'skip', cfg, st(entries)));
      const elapsed = Date.now() - t0;
      assert.ok(elapsed < 15000, `${elapsed} ms`);
      assert.strictEqual(cp.quantization?.quantizedLayers, n);
      assert.strictEqual(tensor(cp, `mlp.l${n - 1}.W_q`).quant?.bits, 8);
      const w = cp.warnings.find((x) => x.code === 'quantization-config-mismatch');
      assert.ok(w, JSON.stringify(cp.warnings));
      assert.match(w.message, /^1 layer\(s\) disagree .*mlp\.l7: skip_modules names "mlp\.l7" but it holds an HQQ W_q/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
