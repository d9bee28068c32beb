#!/usr/bin/python3
"""Counts against torch on a whole model zoo: every torchvision model (and torchaudio's, when
installed), written by real torch in the ways people save models, each file read by the CLI's
`--json` (schema 1) and its parameters and buffers (storage counted once) compared with what torch
itself counts for the object it saved.

    npm run sweep -- [--out DIR] [--max-params N] [NAME ...]

Needs Debian's python3-torch and python3-torchvision (python3-torchaudio adds its models). Nothing
here is committed as a fixture: the files are large, so each is deleted once it agrees and kept in
DIR (default /tmp/weightscope-sweep) when it does not. Exit status 1 when any file disagrees or
fails to open. Forms:

  - every model: its state_dict (zip), the whole pickled module (zip), the state_dict in the legacy
    (pre-1.6) format; torchvision's detectors also as its pretrained builders make them, with
    FrozenBatchNorm2d in the backbone (its weight and bias buffers);
  - a set of common models also: TorchScript (torch.jit.trace and torch.jit.script), a training
    checkpoint after one step of Adam (model and optimizer state dicts, epoch, loss) and of SGD with
    momentum (with a scheduler's state), nn.DataParallel's state_dict (`module.` names) and whole
    module, a torch.fx GraphModule, a float16 state_dict;
  - torchvision's eager-mode quantized models (quantize=True, qnnpack): what the CLI counts for a
    quantized checkpoint is the float model it stands for, here the model with its convolutions and
    batch norms fused (as quantization fuses them), so that is what torch counts for the truth.

The truth is what `named_parameters()` and `named_buffers()` give for the object saved, each
storage counted once (by data_ptr): for an fx GraphModule the traced module (it keeps only what
forward uses: GoogLeNet's auxiliary heads are not in it), for a training checkpoint the model.
"""
import argparse
import json
import os
import subprocess
import sys
import warnings

try:
    import torch
    import torch.nn as nn
except ImportError:
    sys.exit("needs Debian's python3-torch and python3-torchvision (apt-get install python3-torch python3-torchvision python3-torchaudio)")

warnings.filterwarnings('ignore')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, 'dist', 'cli.js')
COMMON = ['resnet18', 'mobilenet_v3_small', 'efficientnet_b0', 'vit_b_32', 'swin_t', 'convnext_tiny', 'regnet_x_400mf',
          'squeezenet1_0', 'shufflenet_v2_x0_5', 'mnasnet0_5', 'densenet121', 'googlenet', 'maxvit_t']


def counts(m):
    """Parameters and buffers of a module, each storage once."""
    ps, bs = {}, {}
    for _, p in m.named_parameters():
        ps.setdefault(p.data_ptr(), p.numel())
    for _, b in m.named_buffers():
        bs.setdefault(b.data_ptr(), b.numel())
    return sum(ps.values()), sum(bs.values())


def torchvision_models():
    from torchvision import models as M

    def build(name):
        try:
            return M.get_model(name, weights=None, weights_backbone=None)
        except TypeError:
            return M.get_model(name, weights=None)

    for name in M.list_models():
        yield name, lambda name=name: build(name)


def frozen_detectors():
    """torchvision's detectors as its pretrained builders make them: the ResNet-50 backbone with
    FrozenBatchNorm2d (weight and bias buffers), three of its layers trainable."""
    from torchvision.models import resnet50
    from torchvision.models.detection import FasterRCNN, MaskRCNN, KeypointRCNN, RetinaNet
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops import misc

    def backbone(returned=None, extra=None):
        return _resnet_fpn_extractor(resnet50(norm_layer=misc.FrozenBatchNorm2d), 3, returned_layers=returned, extra_blocks=extra)

    def retinanet():
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7
        return RetinaNet(backbone([2, 3, 4], LastLevelP6P7(256, 256)), num_classes=91)

    yield 'frozen-fasterrcnn_resnet50_fpn', lambda: FasterRCNN(backbone(), num_classes=91)
    yield 'frozen-maskrcnn_resnet50_fpn', lambda: MaskRCNN(backbone(), num_classes=91)
    yield 'frozen-keypointrcnn_resnet50_fpn', lambda: KeypointRCNN(backbone(), num_classes=2, num_keypoints=17)
    yield 'frozen-retinanet_resnet50_fpn', retinanet


def torchaudio_models():
    try:
        import torchaudio
        from torchaudio import models as A
    except Exception:
        return
    yield 'conformer', lambda: A.Conformer(input_dim=80, num_heads=4, ffn_dim=128, num_layers=4, depthwise_conv_kernel_size=31)
    yield 'conv_tasnet_base', A.conv_tasnet_base
    yield 'deepspeech', lambda: A.DeepSpeech(n_feature=40)
    yield 'emformer', lambda: A.Emformer(512, 8, 2048, 4, segment_length=4, right_context_length=1)
    yield 'emformer_rnnt_base', lambda: A.emformer_rnnt_base(num_symbols=128)
    yield 'hdemucs_low', lambda: A.hdemucs_low(sources=['a', 'b'])
    yield 'hubert_pretrain_base', A.hubert_pretrain_base
    yield 'tacotron2', A.Tacotron2
    yield 'wav2letter', A.Wav2Letter
    yield 'wav2vec2_base', A.wav2vec2_base
    yield 'wavernn', lambda: A.WaveRNN(upsample_scales=[5, 5, 8], n_classes=512, hop_length=200)
    yield 'melspec-cnn', lambda: nn.Sequential(torchaudio.transforms.MelSpectrogram(), torchaudio.transforms.AmplitudeToDB(), nn.Conv1d(128, 8, 3))
    yield 'mfcc-linear', lambda: nn.Sequential(torchaudio.transforms.MFCC(), nn.Linear(81, 4))


def plain_forms(m):
    """(form, save(file) -> the object whose counts are the truth)."""
    def sd(f):
        torch.save(m.state_dict(), f)
        return m

    def module(f):
        torch.save(m, f)
        return m

    def legacy(f):
        torch.save(m.state_dict(), f, _use_new_zipfile_serialization=False)
        return m

    return [('sd', sd), ('module', module), ('legacy', legacy)]


def more_forms(m):
    x = torch.randn(1, 3, 224, 224)

    def step(opt):
        m.train()
        y = m(torch.randn(2, 3, 224, 224))
        (y if torch.is_tensor(y) else y[0]).sum().backward()
        opt.step()
        m.eval()

    def jit_trace(f):
        torch.jit.save(torch.jit.trace(m, x, check_trace=False, strict=False), f)
        return m

    def jit_script(f):
        torch.jit.save(torch.jit.script(m), f)
        return m

    def train_adam(f):
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        step(opt)
        torch.save({'epoch': 3, 'model_state_dict': m.state_dict(), 'optimizer_state_dict': opt.state_dict(), 'loss': 0.5}, f)
        return m

    def train_sgd(f):
        opt = torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)
        step(opt)
        sched = torch.optim.lr_scheduler.StepLR(opt, 3)
        torch.save({'state_dict': m.state_dict(), 'optimizer': opt.state_dict(), 'scheduler': sched.state_dict()}, f)
        return m

    def dp(f):
        torch.save(nn.DataParallel(m).state_dict(), f)
        return m

    def dp_module(f):
        torch.save(nn.DataParallel(m), f)
        return m

    def fx(f):
        g = torch.fx.symbolic_trace(m)
        torch.save(g, f)
        return g

    def half(f):
        torch.save({k: (v.half() if v.is_floating_point() else v) for k, v in m.state_dict().items()}, f)
        return m

    return [('jit_trace', jit_trace), ('jit_script', jit_script), ('train_adam', train_adam), ('train_sgd', train_sgd),
            ('dp', dp), ('dp_module', dp_module), ('fx', fx), ('half', half)]


def quantized_models():
    from torchvision.models import quantization as Q
    if 'qnnpack' not in torch.backends.quantized.supported_engines:
        return
    torch.backends.quantized.engine = 'qnnpack'
    for name in ['mobilenet_v2', 'mobilenet_v3_large', 'resnet18', 'resnet50', 'shufflenet_v2_x1_0', 'googlenet', 'inception_v3']:
        fn = getattr(Q, name, None)
        if fn is None:
            continue

        def pair(fn=fn):
            q = fn(weights=None, quantize=True).eval()
            f = fn(weights=None, quantize=False).eval()
            f.fuse_model(is_qat=False)
            return q, f

        yield 'q8-' + name, pair


class Sweep:
    def __init__(self, out):
        self.out = out
        self.agree = 0
        self.differ = []
        self.skipped = []

    def check(self, name, form, save):
        f = os.path.join(self.out, f'{name}-{form}.pt')
        try:
            want = counts(save(f))
        except Exception as e:
            self.skipped.append(f'{name} {form}: torch could not save it ({str(e).splitlines()[0][:100]})')
            return
        r = subprocess.run(['node', CLI, f, '--json'], capture_output=True, text=True)
        if r.returncode != 0:
            self.differ.append(f'{name} {form}: {r.stderr.strip()[:300]}')
            print('ERROR', name, form, r.stderr.strip()[:300], flush=True)
            return
        j = json.loads(r.stdout)
        got = (j['parameters']['unique'], j['buffers']['unique'])
        if got == want:
            self.agree += 1
            os.remove(f)
            print('agree', name, form, *got, flush=True)
        else:
            self.differ.append(f'{name} {form}: parameters {got[0]}, buffers {got[1]}; torch {want[0]}, {want[1]} (kept: {f})')
            print('DIFFER', name, form, 'got', *got, 'torch', *want, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default='/tmp/weightscope-sweep')
    ap.add_argument('--max-params', type=float, default=150e6, help='skip models larger than this (their files are 4 bytes a parameter)')
    ap.add_argument('names', nargs='*', help='only these models')
    a = ap.parse_args()
    if not os.path.exists(CLI):
        sys.exit(f'{CLI} is missing: run npm run build first')
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    s = Sweep(a.out)
    wanted = lambda n: not a.names or n in a.names
    for source in (torchvision_models(), frozen_detectors(), torchaudio_models()):
        for name, build in source:
            if not wanted(name):
                continue
            try:
                m = build().eval()
            except Exception as e:
                s.skipped.append(f'{name}: torch could not build it ({str(e).splitlines()[0][:100]})')
                continue
            params = counts(m)[0]
            if params > a.max_params:
                s.skipped.append(f'{name}: {params:,} parameters, over --max-params')
                continue
            for form, save in plain_forms(m) + (more_forms(m) if name in COMMON else []):
                s.check(name, form, save)
    for name, pair in quantized_models():
        if not wanted(name):
            continue
        try:
            q, fused = pair()
        except Exception as e:
            s.skipped.append(f'{name}: torch could not build it ({str(e).splitlines()[0][:100]})')
            continue
        for form, save in plain_forms(q):
            s.check(name, form, lambda f, save=save: (save(f), fused)[1])
    print(f'\n{s.agree} agree, {len(s.differ)} differ, {len(s.skipped)} skipped')
    for line in s.differ:
        print('  differ:', line)
    for line in s.skipped:
        print('  skipped:', line)
    sys.exit(1 if s.differ else 0)


if __name__ == '__main__':
    main()
