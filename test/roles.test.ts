/**
 * Roles of tensors in state dicts, where no class says which entries are parameters: buffers with
 * names torch's own utilities give them, and state dicts that keep their Parameters
 * (keep_vars=True). Checked against torch 1.13's answers (scripts/fixtures/make_roles.py writes
 * test/fixtures/roles and its ground truth from each model's _parameters and _buffers).
 */
import * as assert from 'assert';
import { ModuleNode, openCheckpoint, TensorRecord } from '../src/core';
import { decideRole, siblingsOf } from '../src/core/roles';
import { tensorRecord } from '../src/core/tensor-record';
import { checkCounts, CountsTruth } from './pytorch-truth';
import { fixture, readJson } from './helpers';

interface RolesTruth extends CountsTruth {
  torchParameters: number;
}

/** One test per fixture of `dir`: every tensor's role, the counts, and torch's own parameter total. */
function checksEachFixture(dir: string): void {
  for (const [name, truth] of Object.entries(readJson<Record<string, RolesTruth>>(fixture(dir, 'ground-truth.json')))) {
    it(`${name}: every tensor's role and torch's counts`, async () => {
      await checkCounts(fixture(dir, name), truth);
      const cp = await openCheckpoint(fixture(dir, name));
      assert.strictEqual(cp.parameters.unique, truth.torchParameters, 'sum(p.numel() for p in model.parameters())');
    });
  }
}

describe("roles of audio models' buffers: torchaudio transforms, EnCodec's codebook, SincNet (torch 1.13, torchaudio 0.13)", () => {
  checksEachFixture('roles-audio');

  it('by name only where the name is the library\'s own, else beside the siblings that say so', () => {
    const rec = (name: string, shape: number[] = [4, 4]): TensorRecord => tensorRecord(name, 'float32', undefined, shape, 64, 'f', 0, name, 0, null, 64, undefined);
    const role = (name: string, names: string[] = [], shape?: number[]) => decideRole(rec(name, shape), siblingsOf([name, ...names].map((n) => ({ name: n })))).role;
    for (const n of ['mfcc.dct_mat', 'lfcc.filter_mat', 'stretch.phase_advance', 'mel.spectrogram.window', 'mfcc.MelSpectrogram.spectrogram.window', 'lfcc.Spectrogram.window', 'mel.mel_scale.fb']) assert.strictEqual(role(n), 'buffer', n);
    assert.strictEqual(role('front.resample.kernel', [], [1, 1, 21]), 'buffer');
    assert.strictEqual(role('front.Resample.kernel', [], [3, 1, 21]), 'buffer');
    assert.strictEqual(role('front.resample.kernel', [], [4, 4]), 'parameter', 'not a Resample kernel shape');
    assert.strictEqual(role('dense.kernel', [], [4, 1, 3]), 'parameter', 'a JAX-style weight');
    for (const n of ['window', 'conv.window', 'filters.fb', 'mel.fb', 'spectrogram_window', 'my_dct_mat']) assert.strictEqual(role(n), 'parameter', n);
    const vq = ['q._codebook.embed_avg', 'q._codebook.cluster_size'];
    for (const n of ['q._codebook.embed', 'q._codebook.inited', 'q._codebook.embed_avg', 'q._codebook.cluster_size']) assert.strictEqual(role(n, vq), 'buffer', n);
    assert.strictEqual(role('tok.embed', ['tok.cluster_size']), 'parameter', 'no embed_avg beside it');
    assert.strictEqual(role('tok.embed', ['other.embed_avg', 'other.cluster_size']), 'parameter', 'siblings of another module');
    assert.strictEqual(role('f.window_', ['f.low_hz_']), 'buffer');
    assert.strictEqual(role('f.n_', ['f.low_hz_']), 'buffer');
    assert.strictEqual(role('f.window_'), 'parameter', 'no low_hz_ beside it');
  });
});

describe('roles of buffers that torch utilities name, and of keep_vars state dicts (torch 1.13)', () => {
  checksEachFixture('roles');

  it('says which rule made each buffer', async () => {
    const reasons = async (file: string) => {
      const cp = await openCheckpoint(fixture('roles', file));
      return Object.fromEntries(cp.tensors.filter((t) => t.role === 'buffer').map((t) => [t.name, t.roleReason]));
    };
    const old = await reasons('spectral-weight-norm.pt');
    assert.strictEqual(old['0.weight_v'], 'spectral_norm power-iteration vector (weight_v beside weight_orig)');
    assert.strictEqual((await reasons('parametrizations.pt'))['2.parametrizations.weight.0.base'], 'orthogonal base of a parametrization (base)');
    assert.strictEqual((await reasons('pruned.pt'))['1.bias_mask'], 'named as a mask (bias_mask)');
    assert.match((await reasons('keep-vars.pt')).stats!, /plain tensor beside nn\.Parameters/);
    assert.strictEqual((await reasons('swin-v2.pt'))['v2.attn.relative_coords_table'], 'Swin V2 relative coordinate table (relative_coords_table)');
    const ldm = await reasons('ldm-ema.ckpt');
    assert.strictEqual(ldm['model_ema.diffusion_modelinput_blocks00weight'], 'exponential moving average of a parameter (LitEma, diffusion_modelinput_blocks00weight)');
    assert.strictEqual(ldm['model_ema.decay'], 'decay of an exponential moving average (LitEma)');
    assert.strictEqual(ldm.posterior_mean_coef2, 'noise schedule of a latent diffusion model (posterior_mean_coef2)');
    assert.strictEqual((await reasons('autoencoder-ema.ckpt'))['model_ema.quant_convweight'], 'exponential moving average of a parameter (LitEma, quant_convweight)');
    assert.strictEqual((await reasons('fairseq.pt'))['decoder.version'], 'fairseq encoder/decoder version buffer');
  });

  it("Stable Diffusion's .ckpt: the EMA doubles no parameter, the state dict's wrapper and Lightning's step are not the model", async () => {
    const ema = await openCheckpoint(fixture('roles', 'ldm-ema.ckpt'));
    const pruned = await openCheckpoint(fixture('roles', 'ldm-emaonly.ckpt'));
    assert.strictEqual(ema.parameters.unique, pruned.parameters.unique);
    const averaged = ema.tensors.filter((t) => t.name.startsWith('model.diffusion_model.'));
    const averages = ema.tensors.filter((t) => t.name.startsWith('model_ema.') && t.dtype === 'float32' && t.shape.length > 0);
    assert.strictEqual(averages.length, averaged.length);
    assert.ok(averages.every((t) => t.role === 'buffer'));
    assert.deepStrictEqual(ema.tensors.filter((t) => t.role !== 'parameter' && t.role !== 'buffer'), [], 'global_step is not a tensor');
  });

  it('FrozenBatchNorm2d in a detector or beside nn.BatchNorm: its weight and bias are buffers, its type said; torch 0.4.0\'s BatchNorm stays a BatchNorm, with a warning', async () => {
    const find = (m: ModuleNode, path: string): ModuleNode | undefined => (m.path === path ? m : m.children.map((c) => find(c, path)).find((x) => x));
    const detector = await openCheckpoint(fixture('roles', 'frozen-bn-detector.pt'));
    const bn = find(detector.modules, 'backbone.body.layer1.0.bn2')!;
    assert.strictEqual(bn.type, 'FrozenBatchNorm2d');
    assert.strictEqual(bn.repr, 'FrozenBatchNorm2d(8, eps=1e-05)');
    assert.match(detector.tensors.find((t) => t.name === 'backbone.body.bn1.bias')!.roleReason, /in a detector's backbone/);
    const mixed = await openCheckpoint(fixture('roles', 'frozen-bn-mixed.pt'));
    assert.match(mixed.tensors.find((t) => t.name === 'encoder.bn1.weight')!.roleReason, /other BatchNorm layers have it/);
    assert.strictEqual(find(mixed.modules, 'head.1')!.type, 'BatchNorm2d');
    for (const cp of [detector, mixed, await openCheckpoint(fixture('roles', 'frozen-bn-detr.pth'))]) {
      assert.deepStrictEqual(cp.warnings.map((w) => w.code), []);
    }
    const old = await openCheckpoint(fixture('roles', 'bn-before-0.4.1.pth'));
    assert.strictEqual(find(old.modules, '1')!.type, 'BatchNorm2d');
    const w = old.warnings.find((x) => x.code === 'batchnorm-maybe-frozen')!;
    assert.match(w.message, /^2 BatchNorm layer\(s\) \(e\.g\. 1\) have running statistics but no num_batches_tracked.* the model has 24 parameters fewer$/);
  });
});

describe('role rules by name', () => {
  const rec = (name: string, shape: number[] = [4, 4]): TensorRecord => tensorRecord(name, 'float32', undefined, shape, 64, 'f', 0, name, 0, null, 64, undefined);
  const role = (name: string, names: string[] = [], shape?: number[]) => decideRole(rec(name, shape), siblingsOf([name, ...names].map((n) => ({ name: n })))).role;

  it("a BatchNorm's weight without num_batches_tracked: frozen in a detector's backbone (transformers' DETR family too), else a parameter", () => {
    const bn = (prefix: string) => [`${prefix}running_mean`, `${prefix}running_var`, `${prefix}bias`];
    for (const p of ['model.backbone.conv_encoder.model.bn1.', 'backbone.0.body.layer1.0.bn1.', 'backbone.body.bn1.', 'backbone.bottom_up.stem.conv1.norm.']) {
      assert.strictEqual(role(`${p}weight`, bn(p), [64]), 'buffer', p);
    }
    for (const p of ['bn1.', 'encoder.bn1.', 'backbone.bn1.']) assert.strictEqual(role(`${p}weight`, bn(p), [64]), 'parameter', p);
    assert.strictEqual(role('backbone.body.bn1.weight', [...bn('backbone.body.bn1.'), 'backbone.body.bn1.num_batches_tracked'], [64]), 'parameter', 'an nn.BatchNorm');
  });

  it("Segment Anything's random projection: its own name, and transformers' shared_image_embedding.positional_embedding", () => {
    for (const n of ['prompt_encoder.pe_layer.positional_encoding_gaussian_matrix', 'shared_image_embedding.positional_embedding']) assert.strictEqual(role(n, [], [2, 128]), 'buffer', n);
    for (const n of ['decoder.positional_embedding', 'vision_model.embeddings.positional_embedding']) assert.strictEqual(role(n, [], [2, 128]), 'parameter', n);
  });

  it('masks: the local name `mask` or one ending `_mask`, and `tril`', () => {
    for (const n of ['blocks.0.attn.attn_mask', 'attn_mask', 'h.0.mask', 'fc.weight_mask', 'attn.tril']) assert.strictEqual(role(n), 'buffer', n);
    for (const n of ['mask_token', 'enc.masking', 'enc.mask.weight', 'a.unmask', 'a.tril_proj']) assert.strictEqual(role(n), 'parameter', n);
  });

  it("spectral_norm's `_u` and `_v` only beside their `_orig`: weight_norm's `_v` is a parameter", () => {
    assert.strictEqual(role('fc.weight_v', ['fc.weight_orig']), 'buffer');
    assert.strictEqual(role('fc.weight_u', ['fc.weight_orig']), 'buffer');
    assert.strictEqual(role('fc.weight_v', ['fc.weight_g']), 'parameter');
    assert.strictEqual(role('fc.weight_v', ['fc.bias_orig']), 'parameter');
    assert.strictEqual(decideRole(rec('fc.weight_v')).role, 'parameter', 'no sibling lookup, no sibling rule');
  });

  it('Swin V2 relative coordinate tables, not Swin V1 relative position bias tables', () => {
    for (const n of ['features.1.0.attn.relative_coords_table', 'relative_coords_table', 'layers.0.blocks.0.attn.relative_coordinates_log']) assert.strictEqual(role(n), 'buffer', n);
    for (const n of ['layers.0.blocks.0.attn.relative_position_bias_table', 'attn.relative_coords_table_mlp', 'attn.my_relative_coords_table']) assert.strictEqual(role(n), 'parameter', n);
  });

  it("torch.fx's tensor constants and detectron2's pixel statistics", () => {
    for (const n of ['_tensor_constant0', 'sub._tensor_constant12', 'pixel_mean', 'model.pixel_std']) assert.strictEqual(role(n), 'buffer', n);
    for (const n of ['_tensor_constant', '_tensor_constant0a', 'my_tensor_constant0', '_tensor_constants', 'pixel_mean_proj.weight', 'pixel_std_scale']) assert.strictEqual(role(n), 'parameter', n);
  });

  it("fairseq's `version`: a one-element tensor of that local name under a module", () => {
    assert.strictEqual(role('encoder.version', [], [1]), 'buffer');
    assert.strictEqual(role('model.decoder.version', [], [1]), 'buffer');
    assert.strictEqual(role('encoder.version_embed', [], [1]), 'parameter');
    assert.strictEqual(role('encoder.layers.0.version', [], [4]), 'parameter', 'more than one element');
    assert.strictEqual(role('version', [], [1]), 'parameter', 'not under a module');
  });

  it("LitEma's averages: `model_ema.<x>` beside a tensor of the followed module whose dot-less name is x", () => {
    const unet = ['model.diffusion_model.input_blocks.0.0.weight', 'model.diffusion_model.out.2.bias'];
    assert.strictEqual(role('model_ema.diffusion_modelinput_blocks00weight', unet), 'buffer', 'LitEma(self.model)');
    assert.strictEqual(role('model_ema.diffusion_modelout2bias', unet), 'buffer');
    assert.strictEqual(role('model_ema.encoder0weight', ['encoder.0.weight']), 'buffer', 'LitEma(self)');
    assert.strictEqual(role('module.model_ema.netweight', ['module.model.net.weight']), 'buffer', 'under a prefix');
    assert.strictEqual(role('model_ema.decay', [], []), 'buffer');
    // Not an average:
    assert.strictEqual(role('model_ema.diffusion_modelout3bias', unet), 'parameter', 'no such tensor');
    assert.strictEqual(role('model_ema.weight', ['model.net.weight', 'model_ema.bias']), 'parameter', 'a Linear named model_ema');
    assert.strictEqual(role('my_model_ema.diffusion_modelout2bias', unet), 'parameter', 'another module name');
    assert.strictEqual(role('module.model_ema.netweight', ['model.net.weight']), 'parameter', 'the followed module is beside model_ema');
    assert.strictEqual(role('model_ema.decay', [], [4]), 'parameter', 'a decay that is not a scalar');
    assert.strictEqual(decideRole(rec('model_ema.encoder0weight')).role, 'parameter', 'no sibling lookup, no sibling rule');
  });

  it('the DDPM noise schedule only at the root of a latent diffusion state dict', () => {
    const unet = ['model.diffusion_model.out.2.bias'];
    for (const n of ['betas', 'alphas_cumprod', 'posterior_log_variance_clipped', 'sqrt_recipm1_alphas_cumprod', 'scale_factor']) {
      assert.strictEqual(role(n, unet), 'buffer', n);
      assert.strictEqual(role(n, ['model.net.weight']), 'parameter', `${n} in another model`);
    }
    assert.strictEqual(role('logvar', unet), 'parameter', "learn_logvar's parameter");
    assert.strictEqual(role('cond_stage_model.betas', unet), 'parameter', 'not at the root');
  });

  it('reads no other name unless a sibling rule matches', () => {
    let reads = 0;
    const tensors = ['fc.weight', 'fc.bias', 'blocks.0.attn.qkv.weight', 'betas', 'model.version'].map((n) => ({
      get name() {
        reads++;
        return n;
      },
    }));
    const siblings = siblingsOf(tensors);
    for (const n of ['fc.weight', 'fc.bias', 'blocks.0.attn.qkv.weight', 'betas', 'version_embed', 'model_emax.weight']) decideRole(rec(n), siblings);
    assert.strictEqual(reads, tensors.length, 'one scan for model.diffusion_model., asked for betas');
    decideRole(rec('alphas_cumprod'), siblings);
    assert.strictEqual(reads, tensors.length, 'that scan answered once');
  });

  it("quantization-aware training's observer state only under a FakeQuantize or observer module", () => {
    for (const n of ['fc.weight_fake_quant.scale', 'conv.activation_post_process.activation_post_process.min_val', 'activation_post_process.eps', 'fc.weight_fake_quant.activation_post_process.histogram']) {
      assert.strictEqual(role(n), 'buffer', n);
    }
    for (const n of ['blocks.0.ls1.scale', 'norm.scale', 'fc.weight_fake_quant_proj.scale', 'activation_post_process_x.min_val', 'fc.weight_fake_quant.weight']) {
      assert.strictEqual(role(n), 'parameter', n);
    }
  });

  it('parametrization buffers only at `parametrizations.<tensor>.<i>.<buffer>`', () => {
    assert.strictEqual(role('lin.parametrizations.weight.0._u'), 'buffer');
    assert.strictEqual(role('parametrizations.weight.0.base'), 'buffer');
    assert.strictEqual(role('lin.parametrizations.weight.original'), 'parameter');
    assert.strictEqual(role('lin.parametrizations.weight.0.scale'), 'parameter', "a parametrization's own parameter");
    assert.strictEqual(role('lin.layers.0.base'), 'parameter');
    assert.strictEqual(role('lin.parametrizations.weight.x._u'), 'parameter');
  });
});
