/**
 * Roles of tensors that the file does not classify itself (state dicts, safetensors, GGUF):
 * parameters are what nn.Module.parameters() would yield; buffers are registered state that is
 * not trained. Each decision carries the rule that made it.
 */
import { isFloating } from './dtypes';
import { endsLocalWord, isLocalName } from './local-name';
import { Role, Tensor, TensorRecord, Warning } from './model';

export interface RoleDecision {
  role: Role;
  reason: string;
}

/**
 * What the rules that read other tensors of the checkpoint ask of its names. Each question is
 * asked only of names those rules match, so an index is made only when a checkpoint has such a
 * name (see siblingsOf).
 */
export interface Siblings {
  /** Whether the checkpoint holds a tensor of that name. */
  has(name: string): boolean;
  /** Whether some tensor's name, with its dots removed, is that. */
  hasDotless(name: string): boolean;
  /** Whether some tensor's name starts with that. */
  hasPrefix(prefix: string): boolean;
  /** Whether some tensor's name ends with that. */
  hasSuffix(suffix: string): boolean;
}

/**
 * The Siblings of a list of tensors. Each index is made on the first question that needs it: a
 * checkpoint whose names no sibling rule matches (most of them) makes none.
 */
export function siblingsOf(tensors: readonly { name: string }[]): Siblings {
  let names: Set<string> | undefined;
  let dotless: Set<string> | undefined;
  const prefixes = new Map<string, boolean>();
  const suffixes = new Map<string, boolean>();
  return {
    has: (name) => (names ??= new Set(tensors.map((t) => t.name))).has(name),
    hasDotless: (name) => (dotless ??= new Set(tensors.map((t) => t.name.replace(DOTS, '')))).has(name),
    hasPrefix: (prefix) => {
      let r = prefixes.get(prefix);
      if (r === undefined) prefixes.set(prefix, (r = tensors.some((t) => t.name.startsWith(prefix))));
      return r;
    },
    hasSuffix: (suffix) => {
      let r = suffixes.get(suffix);
      if (r === undefined) suffixes.set(suffix, (r = tensors.some((t) => t.name.endsWith(suffix))));
      return r;
    },
  };
}

const DOTS = /\./g;

/**
 * The decision for a tensor. Decisions that do not depend on the tensor's own name or shape are
 * shared objects (a 100,000-tensor model makes a handful of them): callers read, never mutate.
 * `siblings` answers the rules that read other tensors' names (without it they do not apply).
 */
export function decideRole(t: TensorRecord, siblings?: Siblings): Readonly<RoleDecision> {
  if (t.role) return { role: t.role, reason: t.roleReason ?? 'recorded in the file' };
  if (!isFloating(t.dtype)) return notFloating(t.dtype);
  // The local name (after the last dot) is compared in place: no string is cut per tensor
  // (92,000 in DeepSeek-V3), and only a name a rule matches is cut, for its reason.
  const name = t.name;
  const at = name.lastIndexOf('.') + 1;
  if (isLocalName(name, at, 'running_mean') || isLocalName(name, at, 'running_var')) return RUNNING_STAT;
  if (siblings && t.shape.length === 1 && (isLocalName(name, at, 'weight') || isLocalName(name, at, 'bias'))) {
    const frozen = frozenBatchNorm(name, at, siblings);
    if (frozen) return frozen;
  }
  if (endsLocalWord(name, at, 'buffer')) return { role: 'buffer', reason: `named as a buffer (${name.slice(at)})` };
  // Attention masks registered as buffers (`attn_mask`, `causal_mask`, timm's Swin `attn_mask`),
  // and torch.nn.utils.prune's `<name>_mask` beside the `<name>_orig` it masks; float ones too.
  if (endsLocalWord(name, at, 'mask')) return { role: 'buffer', reason: `named as a mask (${name.slice(at)})` };
  if (isLocalName(name, at, 'tril')) return TRIL;
  const parametrization = parametrizationBuffer(name, at);
  if (parametrization) return parametrization;
  if (isObserverState(name, at)) return OBSERVER_STATE;
  // torch.nn.utils.spectral_norm keeps `<name>_orig` (the parameter) and its power-iteration
  // vectors `<name>_u`, `<name>_v` as buffers; weight_norm's `<name>_v` (no `_orig`) is a parameter.
  if (siblings && (name.endsWith('_u') || name.endsWith('_v')) && name.length - at > 2 && siblings.has(`${name.slice(0, -2)}_orig`)) {
    return { role: 'buffer', reason: `spectral_norm power-iteration vector (${name.slice(at)} beside ${name.slice(at, -2)}_orig)` };
  }
  // MoCo (v1, v2) registers its dictionary of negative keys `queue` (dim x K, 128 x 65536 in the
  // ResNet-50 checkpoints: 8.4M floats) as a buffer, beside the `queue_ptr` it is written at.
  if (siblings && isLocalName(name, at, 'queue') && siblings.has(`${name.slice(0, at)}queue_ptr`)) return MOCO_QUEUE;
  if (siblings && isParent(name, at, 'model_ema')) {
    const ema = emaBuffer(name, at, t.shape, siblings);
    if (ema) return ema;
  }
  // The DDPM noise schedule of latent diffusion (CompVis ldm, Stable Diffusion 1.x/2.x): float
  // buffers of the LatentDiffusion module itself, so at the state dict's root, beside its UNet
  // (`model.diffusion_model.`); a root tensor of the same name in another model keeps its role.
  if (at === 0 && DDPM_SCHEDULE.has(name) && siblings && siblings.hasPrefix('model.diffusion_model.')) {
    return { role: 'buffer', reason: `noise schedule of a latent diffusion model (${name})` };
  }
  if (isLocalName(name, at, 'num_batches_tracked')) return STEP_COUNTER;
  if (isLocalName(name, at, 'masked_bias')) return MASKED_BIAS;
  if (isLocalName(name, at, 'bias') && /(^|\.)(attn|attention|self_attn)\.bias$/.test(name) && isCausalMaskShape(t.shape)) {
    return { role: 'buffer', reason: `causal attention mask [${t.shape.join(', ')}]` };
  }
  if (isLocalName(name, at, 'inv_freq')) return INV_FREQ;
  // Meta's own LLaMA checkpoints (consolidated.00.pth, LLaMA 1 and 2) hold `rope.freqs`, the
  // rotary inverse frequencies their training code kept as a buffer; its model.py recomputes them.
  if (isLocalName(name, at, 'freqs') && isParent(name, at, 'rope')) return ROPE_FREQS;
  if (isLocalName(name, at, 'position_ids')) return POSITION_IDS;
  if (isLocalName(name, at, 'token_type_ids')) return TOKEN_TYPE_IDS;
  for (let i = 0; i < ROPE_CACHES.length; i++) {
    if (isLocalName(name, at, ROPE_CACHES[i])) return { role: 'buffer', reason: `rotary embedding cache (${ROPE_CACHES[i]})` };
  }
  if (isLocalName(name, at, 'pe') && t.shape.length >= 2) return POSITIONAL_TABLE;
  // NeMo's FixedPositionalEncoding (the `position_embedding` of its TransformerEmbedding, in Canary's
  // and its NMT models' decoders) registers its sinusoid table `pos_enc` [max length, hidden] as a
  // persistent buffer; learned positions there are an nn.Embedding (`position_embedding.weight`).
  if (isLocalName(name, at, 'pos_enc') && isParent(name, at, 'position_embedding') && t.shape.length === 2) return NEMO_POSITIONAL_TABLE;
  if (isLocalName(name, at, '_float_tensor')) return FAIRSEQ_PLACEHOLDER;
  // BART's family (Bart-, MBart-, Pegasus-, Marian-, BlenderbotForConditionalGeneration) registers
  // `final_logits_bias`, zeros [1, vocab] added to the logits, as a persistent buffer at its root.
  if (at === 0 && name === 'final_logits_bias' && t.shape.length === 2 && t.shape[0] === 1) return FINAL_LOGITS_BIAS;
  // fairseq's TransformerEncoder and TransformerDecoder register `version` = torch.Tensor([3]), a
  // one-element float buffer, which every fairseq model.pt holds as `encoder.version`, `decoder.version`.
  if (isLocalName(name, at, 'version') && at > 0 && t.shape.length === 1 && t.shape[0] === 1) return FAIRSEQ_VERSION;
  // Swin Transformer V2's log-spaced relative coordinates, fed to its continuous position bias MLP:
  // `relative_coords_table` (torchvision's ShiftedWindowAttentionV2, Microsoft's and timm's
  // WindowAttention) and timm's SwinV2-CR `relative_coordinates_log`. (Swin V1's
  // `relative_position_bias_table` is a parameter.)
  if (isLocalName(name, at, 'relative_coords_table') || isLocalName(name, at, 'relative_coordinates_log')) {
    return { role: 'buffer', reason: `Swin V2 relative coordinate table (${name.slice(at)})` };
  }
  // torch.fx names a tensor constant it finds while tracing `_tensor_constant<i>`, and a
  // GraphModule registers every plain tensor it copies as a buffer.
  if (name.startsWith('_tensor_constant', at) && name.length > at + 16 && isDigits(name, at + 16)) return FX_CONSTANT;
  // detectron2's input normalisation (GeneralizedRCNN and its kin register both as buffers).
  if (isLocalName(name, at, 'pixel_mean') || isLocalName(name, at, 'pixel_std')) return PIXEL_STAT;
  // Segment Anything's (and SAM 2's) PositionEmbeddingRandom: a fixed random projection, a buffer.
  // transformers' SamModel keeps the same matrix as `shared_image_embedding.positional_embedding`.
  if (isLocalName(name, at, 'positional_encoding_gaussian_matrix') || (isLocalName(name, at, 'positional_embedding') && isParent(name, at, 'shared_image_embedding'))) return SAM_GAUSSIAN;
  // OpenAI Whisper's AudioEncoder registers its sinusoidal `positional_embedding` as a buffer
  // (its TextDecoder's is a Parameter): the encoder is told by its two convolutions.
  if (siblings && t.shape.length === 2 && isLocalName(name, at, 'positional_embedding') && isParent(name, at, 'encoder')) {
    const encoder = name.slice(0, at);
    if (siblings.has(`${encoder}conv1.weight`) && siblings.has(`${encoder}conv2.weight`)) return WHISPER_AUDIO_POSITIONS;
  }
  const audio = audioBuffer(name, at, t.shape, siblings);
  if (audio) return audio;
  return QUANTIZED_PARAMETER.get(t.dtype) ?? PARAMETER;
}

const decision = (role: Role, reason: string): Readonly<RoleDecision> => Object.freeze({ role, reason });

/**
 * FrozenBatchNorm2d (torchvision.ops.misc, and DETR's and detectron2's copies), the BatchNorm of
 * detection backbones, registers all four of its tensors as buffers: `weight` and `bias` too. In a
 * state dict it looks like nn.BatchNorm2d less `num_batches_tracked`, which nn.BatchNorm has saved
 * since torch 0.4.1 (July 2018). A BatchNorm without it is also what torch 0.4.0 and earlier wrote
 * (the first ImageNet weights), so its affine pair is taken as frozen only where something else says
 * so: other BatchNorm layers of the checkpoint do have num_batches_tracked, or it lies in a
 * detector's backbone as torchvision names it (`backbone.body.`: Faster/Mask/Keypoint R-CNN,
 * RetinaNet, FCOS), as DETR does (`backbone.0.body.`) or as detectron2 does
 * (`backbone.bottom_up.`), or as transformers' DETR family does (`backbone.conv_encoder.`: DETR,
 * Conditional and Deformable DETR, Table Transformer, Grounding DINO, each of which swaps its
 * backbone's BatchNorms for a frozen copy), all written after torch 0.4.1. Checked against torchvision's own
 * figure: Faster R-CNN ResNet-50 FPN has 41,755,286 parameters, its frozen affine pairs not among them.
 */
function frozenBatchNorm(name: string, at: number, siblings: Siblings): Readonly<RoleDecision> | undefined {
  // One scan, remembered, before any name is looked up: a checkpoint without BatchNorm statistics
  // (a transformer's 92,000 tensors, with 1-D norm weights) makes no index of its names for this.
  if (!siblings.hasSuffix('running_var')) return undefined;
  const prefix = name.slice(0, at);
  if (!siblings.has(`${prefix}running_mean`) || !siblings.has(`${prefix}running_var`) || siblings.has(`${prefix}num_batches_tracked`)) return undefined;
  if (siblings.hasSuffix('num_batches_tracked')) return FROZEN_BN_MIXED;
  return DETECTOR_BACKBONE.test(prefix) ? FROZEN_BN_BACKBONE : undefined;
}

/**
 * BatchNorm layers of a state dict without num_batches_tracked that frozenBatchNorm() left as
 * nn.BatchNorm (nothing said they were frozen): a warning with what their affine pairs count, which
 * a FrozenBatchNorm2d would hold as buffers (a detector's backbone named otherwise, or a ResNet
 * built with FrozenBatchNorm2d). Undefined when there is none, as in every checkpoint torch 0.4.1
 * or later wrote from nn.BatchNorm.
 */
export function maybeFrozenBatchNorm(tensors: readonly Tensor[], siblings: Siblings): Warning | undefined {
  // The scan frozenBatchNorm() made already for a checkpoint with 1-D weights, remembered.
  if (!siblings.hasSuffix('running_var')) return undefined;
  let prefixes: Set<string> | undefined;
  for (let i = 0; i < tensors.length; i++) {
    const name = tensors[i].name;
    const at = name.lastIndexOf('.') + 1;
    if (!isLocalName(name, at, 'running_var')) continue;
    const prefix = name.slice(0, at);
    if (!siblings.has(`${prefix}num_batches_tracked`)) (prefixes ??= new Set()).add(prefix);
  }
  if (!prefixes) return undefined;
  let layers = 0;
  let elements = 0;
  const counted = new Set<string>();
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    // Only weights and biases the default rule made parameters: a class in the file, or the frozen rules, settled the others.
    if (t.roleReason !== PARAMETER.reason || t.shape.length !== 1) continue;
    const at = t.name.lastIndexOf('.') + 1;
    if (!isLocalName(t.name, at, 'weight') && !isLocalName(t.name, at, 'bias')) continue;
    const prefix = t.name.slice(0, at);
    if (!prefixes.has(prefix)) continue;
    if (!counted.has(prefix)) {
      counted.add(prefix);
      layers++;
    }
    elements += t.numel;
  }
  if (layers === 0) return undefined;
  const first = [...counted][0].slice(0, -1);
  return {
    code: 'batchnorm-maybe-frozen',
    message: `${layers} BatchNorm layer(s) (e.g. ${first || 'the root'}) have running statistics but no num_batches_tracked, which nn.BatchNorm has saved since torch 0.4.1: counted as nn.BatchNorm, as torch 0.4.0 and earlier wrote it; if they are FrozenBatchNorm2d (a detection backbone's), their weight and bias are buffers and the model has ${elements.toLocaleString('en-US')} parameters fewer`,
  };
}

const DETECTOR_BACKBONE = /(^|\.)backbone\.(0\.body|body|bottom_up|conv_encoder)\./;
const FROZEN_BN = "FrozenBatchNorm2d's weight or bias, a buffer: running_mean and running_var beside it but no num_batches_tracked, which nn.BatchNorm has saved since torch 0.4.1";
export const FROZEN_BN_MIXED = decision('buffer', `${FROZEN_BN} (the checkpoint's other BatchNorm layers have it)`);
export const FROZEN_BN_BACKBONE = decision('buffer', `${FROZEN_BN} (in a detector's backbone, where torchvision, DETR, detectron2 and transformers' DETR family freeze BatchNorm)`);
const RUNNING_STAT = decision('buffer', 'BatchNorm running statistic');
const STEP_COUNTER = decision('buffer', 'BatchNorm step counter');
const MASKED_BIAS = decision('buffer', 'attention mask constant (masked_bias)');
const INV_FREQ = decision('buffer', 'rotary embedding inverse frequencies');
const ROPE_FREQS = decision('buffer', "rotary embedding inverse frequencies (rope.freqs of Meta's LLaMA checkpoints)");
const POSITION_IDS = decision('buffer', 'position id buffer');
const FINAL_LOGITS_BIAS = decision('buffer', 'logits bias buffer of BART-style models (final_logits_bias)');
const TOKEN_TYPE_IDS = decision('buffer', 'token type id buffer');
const POSITIONAL_TABLE = decision('buffer', 'sinusoidal positional encoding table (pe)');
const NEMO_POSITIONAL_TABLE = decision('buffer', "sinusoidal positional encoding table of NeMo's FixedPositionalEncoding (position_embedding.pos_enc)");
const FAIRSEQ_PLACEHOLDER = decision('buffer', 'fairseq placeholder buffer');
const FAIRSEQ_VERSION = decision('buffer', 'fairseq encoder/decoder version buffer');
const OBSERVER_STATE = decision('buffer', 'fake-quantization or observer state of quantization-aware training (torch.ao.quantization buffers)');
const TRIL = decision('buffer', 'causal attention mask (tril)');
const FX_CONSTANT = decision('buffer', 'tensor constant of a torch.fx GraphModule (_tensor_constant<i>)');
const MOCO_QUEUE = decision('buffer', 'queue of negative keys (MoCo), beside its queue_ptr');
const PIXEL_STAT = decision('buffer', 'input normalisation statistic (pixel_mean, pixel_std)');
const SAM_GAUSSIAN = decision('buffer', "random Fourier projection of Segment Anything's positional encoding (positional_encoding_gaussian_matrix; transformers' shared_image_embedding.positional_embedding)");
const WHISPER_AUDIO_POSITIONS = decision('buffer', "sinusoidal positional embedding of Whisper's audio encoder (beside its conv1 and conv2; the decoder's is a parameter)");

/**
 * Buffers of audio front-ends and codecs, saved in the state dicts of the models they sit in:
 * - torchaudio's transforms: MFCC's and LFCC's `dct_mat`, LFCC's `filter_mat`, TimeStretch's
 *   `phase_advance` (by name); a Spectrogram's `window` (as MelSpectrogram, MFCC and LFCC name it:
 *   `spectrogram.window`, `Spectrogram.window`), a MelScale's `fb` under `mel_scale`, and a
 *   Resample's `kernel` [n, 1, width] under a module named for resampling. A bare `window`,
 *   `fb` or `kernel` elsewhere keeps its role (JAX ports name their weights `kernel`).
 * - EnCodec's (audiocraft, transformers) EMA codebook: `inited`, `cluster_size`, `embed`,
 *   `embed_avg` beside one another (the last two must both be there); Mimi's: `initialized`,
 *   `cluster_usage`, `embed_sum` (`_initialized`, `embedding_sum` in Kyutai's own code).
 * - asteroid's ParamSincFB (pyannote's SincNet): `window_` and `n_` beside the `low_hz_` parameter.
 * - NeMo's FilterbankFeatures (`preprocessor.featurizer` of its ASR models and of the mel front-end
 *   of its TTS models): the STFT `window` [win_length] and the mel filterbank `fb`
 *   [1, n_mels, n_fft / 2 + 1], registered side by side in one module; either, beside the other,
 *   is the front-end's (a learned `window` or `fb` alone keeps its role).
 */
function audioBuffer(name: string, at: number, shape: number[], siblings: Siblings | undefined): Readonly<RoleDecision> | undefined {
  const last = name.charCodeAt(name.length - 1);
  // Every local name below ends in one of these letters: one comparison for most tensors.
  if (last !== 0x74 /* t */ && last !== 0x65 /* e */ && last !== 0x77 /* w */ && last !== 0x62 /* b */ && last !== 0x6c /* l */ && last !== 0x67 /* g */ && last !== 0x64 /* d */ && last !== 0x5f /* _ */ && last !== 0x6d /* m */) return undefined;
  if (isLocalName(name, at, 'dct_mat') || isLocalName(name, at, 'filter_mat') || isLocalName(name, at, 'phase_advance')) return { role: 'buffer', reason: `torchaudio transform matrix (${name.slice(at)})` };
  if (isLocalName(name, at, 'window') && (isParent(name, at, 'spectrogram') || isParent(name, at, 'Spectrogram'))) return AUDIO_WINDOW;
  if (isLocalName(name, at, 'fb') && isParent(name, at, 'mel_scale')) return MEL_FILTERBANK;
  if (isLocalName(name, at, 'kernel') && shape.length === 3 && shape[1] === 1 && at > 1 && /resampl/i.test(name.slice(name.lastIndexOf('.', at - 2) + 1, at - 1))) return RESAMPLE_KERNEL;
  if (!siblings) return undefined;
  if (isLocalName(name, at, 'inited') || isLocalName(name, at, 'initted') || isLocalName(name, at, 'cluster_size') || isLocalName(name, at, 'embed_avg') || isLocalName(name, at, 'embed')) {
    const p = name.slice(0, at);
    if (siblings.has(`${p}embed_avg`) && siblings.has(`${p}cluster_size`)) return { role: 'buffer', reason: `EMA codebook state (${name.slice(at)} beside embed_avg and cluster_size)` };
  }
  // Mimi's codebooks (Kyutai's Moshi, transformers' MimiModel) keep no parameter at all: `cluster_usage`,
  // the sum of the codes' vectors (`embed_sum`; Moshi's own `embedding_sum`) and `initialized` are buffers.
  if (isLocalName(name, at, 'cluster_usage') || isLocalName(name, at, 'embed_sum') || isLocalName(name, at, 'embedding_sum') || isLocalName(name, at, 'initialized') || isLocalName(name, at, '_initialized')) {
    const p = name.slice(0, at);
    if (siblings.has(`${p}cluster_usage`) && (siblings.has(`${p}embed_sum`) || siblings.has(`${p}embedding_sum`))) {
      return { role: 'buffer', reason: `EMA codebook state (${name.slice(at)} beside cluster_usage and the codes' sums, as Mimi keeps them)` };
    }
  }
  if ((isLocalName(name, at, 'window_') || isLocalName(name, at, 'n_')) && siblings.has(`${name.slice(0, at)}low_hz_`)) return { role: 'buffer', reason: `sinc filterbank constant (${name.slice(at)} beside low_hz_)` };
  if (isLocalName(name, at, 'window') && shape.length === 1 && siblings.has(`${name.slice(0, at)}fb`)) return FILTERBANK_WINDOW;
  if (isLocalName(name, at, 'fb') && shape.length >= 2 && siblings.has(`${name.slice(0, at)}window`)) return FILTERBANK_MEL;
  return undefined;
}
const AUDIO_WINDOW = decision('buffer', "a torchaudio Spectrogram's window");
const MEL_FILTERBANK = decision('buffer', "a torchaudio MelScale's filterbank (mel_scale.fb)");
const RESAMPLE_KERNEL = decision('buffer', "a torchaudio Resample's kernel");
const FILTERBANK_WINDOW = decision('buffer', "STFT window of a mel front-end (window beside its filterbank fb, as NeMo's FilterbankFeatures registers them)");
const FILTERBANK_MEL = decision('buffer', "mel filterbank of a mel front-end (fb beside its STFT window, as NeMo's FilterbankFeatures registers them)");

/** `name` from `from` to its end is one or more ASCII digits. */
function isDigits(name: string, from: number): boolean {
  for (let i = from; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return from < name.length;
}
const PARAMETER = decision('parameter', 'floating-point tensor with no buffer pattern (default)');
/** PyTorch's quantized tensors (eager-mode quantization's weights): integers standing for real values through a scale and zero point. */
const QUANTIZED_PARAMETER = new Map(
  ['qint8', 'quint8', 'qint32', 'quint4x2', 'quint2x4'].map((d) => [d, decision('parameter', `quantized tensor (${d}: real values stored as integers with a scale and zero point) with no buffer pattern (default)`)]),
);

/** One decision per integer dtype (a model has a few). */
const NOT_FLOATING = new Map<string, Readonly<RoleDecision>>();
function notFloating(dtype: string): Readonly<RoleDecision> {
  let d = NOT_FLOATING.get(dtype);
  if (d === undefined) {
    d = decision('buffer', `${dtype} is not a floating-point dtype; PyTorch parameters are floating point`);
    // Dtypes come from readers' tables; the bound guards against a reader that passes file text through.
    if (NOT_FLOATING.size < 256) NOT_FLOATING.set(dtype, d);
  }
  return d;
}

/**
 * Buffers of torch.nn.utils.parametrizations, which a state dict holds at
 * `<module>.parametrizations.<tensor>.<i>.<buffer>`: spectral_norm's power-iteration vectors `_u`
 * and `_v`, orthogonal's `base`. (The parametrized tensor itself, `...parametrizations.<tensor>.original`,
 * is the parameter.)
 */
function parametrizationBuffer(name: string, at: number): Readonly<RoleDecision> | undefined {
  const local = isLocalName(name, at, '_u') || isLocalName(name, at, '_v') ? 'spectral_norm power-iteration vector' : isLocalName(name, at, 'base') ? 'orthogonal base' : undefined;
  if (!local || !PARAMETRIZATION.test(name)) return undefined;
  return { role: 'buffer', reason: `${local} of a parametrization (${name.slice(at)})` };
}

const PARAMETRIZATION = /(^|\.)parametrizations\.[^.]+\.\d+\.[^.]+$/;

/**
 * Quantization-aware training (torch.ao.quantization.prepare_qat): each layer holds FakeQuantize
 * modules (`weight_fake_quant`, `activation_post_process`) and their observers, whose float state
 * (`scale`, `eps`, `min_val`, `max_val`, a histogram) is registered as buffers. The local name is
 * tested first, so the path is read only for those names.
 */
function isObserverState(name: string, at: number): boolean {
  for (let i = 0; i < OBSERVER_NAMES.length; i++) if (isLocalName(name, at, OBSERVER_NAMES[i])) return OBSERVER_PATH.test(name);
  return false;
}

const OBSERVER_NAMES = ['scale', 'zero_point', 'eps', 'min_val', 'max_val', 'histogram'];
const OBSERVER_PATH = /(^|\.)(activation_post_process|\w*_fake_quant)\./;

// EVA-02's VisionRotaryEmbeddingFast (EVA-CLIP, OpenCLIP's EVA models) keeps `freqs_cos` and `freqs_sin`.
const ROPE_CACHES = ['freqs_cis', 'cos_cached', 'sin_cached', '_cos_cached', '_sin_cached', 'freqs_cos', 'freqs_sin'];

function isCausalMaskShape(shape: number[]): boolean {
  return shape.length === 4 && shape[0] === 1 && shape[1] === 1 && shape[2] === shape[3];
}

/** Whether the module holding `name`'s local name (from `at`) is named `parent`: `(^|.)parent.<local>`. */
function isParent(name: string, at: number, parent: string): boolean {
  const start = at - 1 - parent.length;
  return start >= 0 && (start === 0 || name.charCodeAt(start - 1) === 0x2e /* . */) && name.startsWith(parent, start);
}

/**
 * ldm's LitEma (CompVis latent diffusion, Stable Diffusion 1.x/2.x `.ckpt`s): a module
 * `model_ema` beside the model it follows, holding as buffers `decay` (a float scalar),
 * `num_updates` (int) and, for each parameter of the followed module, its average named as the
 * parameter with the dots removed (`model.diffusion_model.input_blocks.0.0.weight` ->
 * `model_ema.diffusion_modelinput_blocks00weight`). The followed module is the sibling `model`
 * (DDPM, LatentDiffusion) or `model_ema`'s own parent (the autoencoders, `LitEma(self)`); an
 * average is told by a tensor of the followed module whose dot-less name is its name.
 */
function emaBuffer(name: string, at: number, shape: number[], siblings: Siblings): Readonly<RoleDecision> | undefined {
  if (isLocalName(name, at, 'decay')) return shape.length === 0 ? EMA_DECAY : undefined;
  // `<prefix>model_ema.<local>`: the followed tensor is `<prefix>model.<x>` or `<prefix><x>`, whose
  // dot-less names are dotless(prefix) + 'model' + dotless(x) and dotless(prefix) + dotless(x).
  const prefix = at === EMA_MODULE.length ? '' : name.slice(0, at - EMA_MODULE.length).replace(DOTS, '');
  const local = name.slice(at);
  if (!siblings.hasDotless(`${prefix}model${local}`) && !siblings.hasDotless(prefix + local)) return undefined;
  return { role: 'buffer', reason: `exponential moving average of a parameter (LitEma, ${local})` };
}

const EMA_MODULE = 'model_ema.';
const EMA_DECAY = decision('buffer', 'decay of an exponential moving average (LitEma)');

/** DDPM.register_schedule's persistent buffers (ldm/models/diffusion/ddpm.py), and LatentDiffusion's `scale_factor` (scale_by_std). */
const DDPM_SCHEDULE = new Set([
  'betas',
  'alphas_cumprod',
  'alphas_cumprod_prev',
  'sqrt_alphas_cumprod',
  'sqrt_one_minus_alphas_cumprod',
  'log_one_minus_alphas_cumprod',
  'sqrt_recip_alphas_cumprod',
  'sqrt_recipm1_alphas_cumprod',
  'posterior_variance',
  'posterior_log_variance_clipped',
  'posterior_mean_coef1',
  'posterior_mean_coef2',
  'scale_factor',
]);
