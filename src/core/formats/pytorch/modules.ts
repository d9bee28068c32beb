/**
 * Whole pickled nn.Modules (`torch.save(model)`): the module tree comes from `_modules`, roles
 * exactly from `_parameters` / `_buffers`, the class from the GLOBAL that built each module, and
 * layer attributes give PyTorch-style reprs (`Linear(in_features=768, out_features=50257, bias=False)`).
 */
import { ModuleHint } from '../../model';
import { PyDict, PyGlobal, PyList, PyObject, PySet, PyTuple, PyValue } from './pickle';
import { TorchTensor } from './torch';

/** The `__dict__` a module was rebuilt with, when `v` is a pickled nn.Module. */
export function moduleState(v: PyValue | undefined): PyDict | undefined {
  if (!(v instanceof PyObject)) return undefined;
  let st = v.state;
  if (st instanceof PyTuple && st.items[0] instanceof PyDict) st = st.items[0];
  if (!(st instanceof PyDict)) return undefined;
  if (!(st.get('_modules') instanceof PyDict) || !(st.get('_parameters') instanceof PyDict)) return undefined;
  return st;
}

export function isModule(v: PyValue | undefined): boolean {
  return moduleState(v) !== undefined;
}

export function moduleClass(obj: PyObject): { className: string; pythonModule: string } {
  const c = obj.callable;
  if (c instanceof PyGlobal) return { className: c.name, pythonModule: c.module };
  return { className: 'Module', pythonModule: '' };
}

type Scalar = string | number | boolean | null;

/** Python's repr() of a float. */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (Object.is(x, -0)) return '-0.0';
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return x.toFixed(1);
  const [mant, expText] = x.toExponential().split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= 16) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  let int: string;
  let frac: string;
  if (exp >= 0) {
    int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    frac = digits.slice(exp + 1) || '0';
  } else {
    int = '0';
    frac = '0'.repeat(-exp - 1) + digits;
  }
  return `${neg ? '-' : ''}${int}.${frac}`;
}

/** Python's repr() for the plain values layer attributes hold. */
export function pyRepr(v: PyValue | undefined, depth = 0): string {
  if (v === undefined) return '?';
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pyFloat(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (depth > 4) return '...';
  if (v instanceof PyTuple) {
    const parts = v.items.slice(0, 16).map((x) => pyRepr(x, depth + 1));
    return v.items.length === 1 ? `(${parts[0]},)` : `(${parts.join(', ')})`;
  }
  if (v instanceof PyList) return `[${v.items.slice(0, 16).map((x) => pyRepr(x, depth + 1)).join(', ')}]`;
  if (v instanceof TorchTensor) return v.describe();
  return '...';
}

/** str(): like repr() except strings are bare. */
function pyStr(v: PyValue | undefined): string {
  return typeof v === 'string' ? v : pyRepr(v);
}

// BINFLOAT 1.0 and BININT 1 both arrive as the JS number 1, so attributes known to be floats
// (eps, momentum, p...) are formatted with pyFloat explicitly.
function fl(v: PyValue | undefined): string {
  return typeof v === 'number' ? pyFloat(v) : pyRepr(v);
}

/** A PyTorch-style repr for common torch.nn layers, from their attributes. */
export function layerRepr(className: string, pythonModule: string, a: Map<string, PyValue>, params: Map<string, boolean>): string | undefined {
  const has = (...keys: string[]) => keys.every((k) => a.has(k));
  const g = (k: string) => a.get(k);
  const inplace = (prefix: string) => (g('inplace') === true ? `${prefix}inplace=True` : '');
  const torchNn = /^torch\.(ao\.)?nn\./.test(pythonModule);
  if (className === 'Conv1D' && /^transformers\./.test(pythonModule) && has('nf', 'nx')) return `Conv1D(nf=${pyStr(g('nf'))}, nx=${pyStr(g('nx'))})`;
  if (!torchNn) return undefined;
  const wrap = (inner: string) => `${className}(${inner})`;
  switch (className) {
    case 'Linear':
    case 'LazyLinear':
    case 'NonDynamicallyQuantizableLinear':
      if (!has('in_features', 'out_features')) return undefined;
      return wrap(`in_features=${pyStr(g('in_features'))}, out_features=${pyStr(g('out_features'))}, bias=${params.get('bias') ? 'True' : 'False'}`);
    case 'Bilinear':
      if (!has('in1_features', 'in2_features', 'out_features')) return undefined;
      return wrap(`in1_features=${pyStr(g('in1_features'))}, in2_features=${pyStr(g('in2_features'))}, out_features=${pyStr(g('out_features'))}, bias=${params.get('bias') ? 'True' : 'False'}`);
    case 'Identity':
    case 'Tanh':
    case 'Sigmoid':
    case 'Softsign':
    case 'Tanhshrink':
    case 'LogSigmoid':
      return wrap('');
    case 'Embedding':
    case 'EmbeddingBag': {
      if (!has('num_embeddings', 'embedding_dim')) return undefined;
      let s = `${pyStr(g('num_embeddings'))}, ${pyStr(g('embedding_dim'))}`;
      if (className === 'Embedding' && g('padding_idx') !== undefined && g('padding_idx') !== null) s += `, padding_idx=${pyStr(g('padding_idx'))}`;
      if (g('max_norm') !== undefined && g('max_norm') !== null) s += `, max_norm=${fl(g('max_norm'))}`;
      if (g('norm_type') !== undefined && g('norm_type') !== 2) s += `, norm_type=${fl(g('norm_type'))}`;
      if (g('scale_grad_by_freq') === true) s += ', scale_grad_by_freq=True';
      if (className === 'Embedding' && g('sparse') === true) s += ', sparse=True';
      if (className === 'EmbeddingBag' && g('mode') !== undefined) s += `, mode=${pyStr(g('mode'))}`;
      if (className === 'EmbeddingBag' && g('padding_idx') !== undefined && g('padding_idx') !== null) s += `, padding_idx=${pyStr(g('padding_idx'))}`;
      return wrap(s);
    }
    case 'LayerNorm':
      if (!has('normalized_shape', 'eps')) return undefined;
      return wrap(`${pyStr(g('normalized_shape'))}, eps=${fl(g('eps'))}, elementwise_affine=${pyRepr(g('elementwise_affine') ?? true)}`);
    case 'RMSNorm':
      if (!has('normalized_shape')) return undefined;
      return wrap(`${pyStr(g('normalized_shape'))}, eps=${g('eps') === null || g('eps') === undefined ? 'None' : fl(g('eps'))}, elementwise_affine=${pyRepr(g('elementwise_affine') ?? true)}`);
    case 'GroupNorm':
      if (!has('num_groups', 'num_channels', 'eps')) return undefined;
      return wrap(`${pyStr(g('num_groups'))}, ${pyStr(g('num_channels'))}, eps=${fl(g('eps'))}, affine=${pyRepr(g('affine') ?? true)}`);
    case 'BatchNorm1d':
    case 'BatchNorm2d':
    case 'BatchNorm3d':
    case 'SyncBatchNorm':
    case 'InstanceNorm1d':
    case 'InstanceNorm2d':
    case 'InstanceNorm3d':
      if (!has('num_features', 'eps')) return undefined;
      return wrap(
        `${pyStr(g('num_features'))}, eps=${fl(g('eps'))}, momentum=${g('momentum') === null ? 'None' : fl(g('momentum'))}, affine=${pyRepr(g('affine'))}, track_running_stats=${pyRepr(g('track_running_stats'))}`,
      );
    case 'Conv1d':
    case 'Conv2d':
    case 'Conv3d':
    case 'ConvTranspose1d':
    case 'ConvTranspose2d':
    case 'ConvTranspose3d': {
      if (!has('in_channels', 'out_channels', 'kernel_size', 'stride')) return undefined;
      let s = `${pyStr(g('in_channels'))}, ${pyStr(g('out_channels'))}, kernel_size=${pyStr(g('kernel_size'))}, stride=${pyStr(g('stride'))}`;
      const allAre = (v: PyValue | undefined, x: number) => v instanceof PyTuple && v.items.every((i) => i === x);
      const padding = g('padding');
      if (padding !== undefined && !allAre(padding, 0)) s += `, padding=${pyStr(padding)}`;
      const dilation = g('dilation');
      if (dilation !== undefined && !allAre(dilation, 1)) s += `, dilation=${pyStr(dilation)}`;
      const outPad = g('output_padding');
      if (outPad !== undefined && !allAre(outPad, 0)) s += `, output_padding=${pyStr(outPad)}`;
      if (g('groups') !== undefined && g('groups') !== 1) s += `, groups=${pyStr(g('groups'))}`;
      if (!params.get('bias')) s += ', bias=False';
      if (g('padding_mode') !== undefined && g('padding_mode') !== 'zeros') s += `, padding_mode=${pyStr(g('padding_mode'))}`;
      return wrap(s);
    }
    case 'Dropout':
    case 'Dropout1d':
    case 'Dropout2d':
    case 'Dropout3d':
    case 'AlphaDropout':
    case 'FeatureAlphaDropout':
      if (!has('p')) return undefined;
      return wrap(`p=${fl(g('p'))}, inplace=${pyRepr(g('inplace') ?? false)}`);
    case 'ReLU':
    case 'ReLU6':
    case 'SiLU':
    case 'Mish':
    case 'SELU':
      return wrap(inplace(''));
    // No extra_repr: torch prints them bare even when inplace.
    case 'Hardswish':
    case 'Hardsigmoid':
    case 'Softmax2d':
      return wrap('');
    case 'PReLU':
      if (!has('num_parameters')) return undefined;
      return wrap(`num_parameters=${pyStr(g('num_parameters'))}`);
    case 'GLU':
      if (!has('dim')) return undefined;
      return wrap(`dim=${pyStr(g('dim'))}`);
    case 'PixelShuffle':
      if (!has('upscale_factor')) return undefined;
      return wrap(`upscale_factor=${pyStr(g('upscale_factor'))}`);
    case 'PixelUnshuffle':
      if (!has('downscale_factor')) return undefined;
      return wrap(`downscale_factor=${pyStr(g('downscale_factor'))}`);
    case 'ChannelShuffle':
      if (!has('groups')) return undefined;
      return wrap(`groups=${pyStr(g('groups'))}`);
    case 'Upsample':
    case 'UpsamplingNearest2d':
    case 'UpsamplingBilinear2d': {
      if (!has('mode')) return undefined;
      // str() of the value: scale factors are floats (torch stores float(scale_factor)).
      const sf = g('scale_factor');
      const floats = (v: PyValue | undefined): string =>
        v instanceof PyTuple ? (v.items.length === 1 ? `(${fl(v.items[0])},)` : `(${v.items.map((x) => fl(x)).join(', ')})`) : fl(v);
      const info = sf !== undefined && sf !== null ? `scale_factor=${floats(sf)}` : `size=${pyStr(g('size') ?? null)}`;
      return wrap(`${info}, mode=${pyStr(g('mode'))}`);
    }
    case 'RNN':
    case 'LSTM':
    case 'GRU': {
      // torch's RNNBase.extra_repr, option by option.
      if (!has('input_size', 'hidden_size')) return undefined;
      let s = `${pyStr(g('input_size'))}, ${pyStr(g('hidden_size'))}`;
      const proj = g('proj_size');
      if (proj !== undefined && proj !== 0) s += `, proj_size=${pyStr(proj)}`;
      if (g('num_layers') !== undefined && g('num_layers') !== 1) s += `, num_layers=${pyStr(g('num_layers'))}`;
      if (g('bias') !== undefined && g('bias') !== true) s += `, bias=${pyStr(g('bias'))}`;
      if (g('batch_first') !== undefined && g('batch_first') !== false) s += `, batch_first=${pyStr(g('batch_first'))}`;
      if (typeof g('dropout') === 'number' && g('dropout') !== 0) s += `, dropout=${fl(g('dropout'))}`;
      if (g('bidirectional') !== undefined && g('bidirectional') !== false) s += `, bidirectional=${pyStr(g('bidirectional'))}`;
      return wrap(s);
    }
    case 'RNNCell':
    case 'LSTMCell':
    case 'GRUCell': {
      if (!has('input_size', 'hidden_size')) return undefined;
      let s = `${pyStr(g('input_size'))}, ${pyStr(g('hidden_size'))}`;
      if (a.has('bias') && g('bias') !== true) s += `, bias=${pyStr(g('bias'))}`;
      if (a.has('nonlinearity') && g('nonlinearity') !== 'tanh') s += `, nonlinearity=${pyStr(g('nonlinearity'))}`;
      return wrap(s);
    }
    case 'GELU':
      return wrap(a.has('approximate') ? `approximate=${pyRepr(g('approximate'))}` : '');
    case 'LeakyReLU':
      if (!has('negative_slope')) return undefined;
      return wrap(`negative_slope=${fl(g('negative_slope'))}${inplace(', ')}`);
    case 'ELU':
    case 'CELU':
      if (!has('alpha')) return undefined;
      return wrap(`alpha=${fl(g('alpha'))}${inplace(', ')}`);
    case 'Softmax':
    case 'LogSoftmax':
    case 'Softmin':
      return wrap(`dim=${pyStr(g('dim') ?? null)}`);
    case 'Flatten':
      if (!has('start_dim', 'end_dim')) return undefined;
      return wrap(`start_dim=${pyStr(g('start_dim'))}, end_dim=${pyStr(g('end_dim'))}`);
    case 'MaxPool1d':
    case 'MaxPool2d':
    case 'MaxPool3d':
      if (!has('kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode')) return undefined;
      return wrap(
        `kernel_size=${pyStr(g('kernel_size'))}, stride=${pyStr(g('stride'))}, padding=${pyStr(g('padding'))}, dilation=${pyStr(g('dilation'))}, ceil_mode=${pyRepr(g('ceil_mode'))}`,
      );
    case 'AvgPool1d':
    case 'AvgPool2d':
    case 'AvgPool3d':
      if (!has('kernel_size', 'stride', 'padding')) return undefined;
      return wrap(`kernel_size=${pyStr(g('kernel_size'))}, stride=${pyStr(g('stride'))}, padding=${pyStr(g('padding'))}`);
    case 'AdaptiveAvgPool1d':
    case 'AdaptiveAvgPool2d':
    case 'AdaptiveAvgPool3d':
    case 'AdaptiveMaxPool1d':
    case 'AdaptiveMaxPool2d':
    case 'AdaptiveMaxPool3d':
      if (!has('output_size')) return undefined;
      return wrap(`output_size=${pyStr(g('output_size'))}`);
    default:
      return undefined;
  }
}

/** A scalar attribute as ModuleHint.attributes holds it (tuples of scalars as their Python repr). */
export function attributeValue(v: PyValue): Scalar | undefined {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return v.toString();
  if ((v instanceof PyTuple || v instanceof PyList) && v.items.length <= 16 && v.items.every((x) => x === null || ['number', 'string', 'boolean', 'bigint'].includes(typeof x))) {
    return pyRepr(v);
  }
  if (v instanceof PySet && v.items.length <= 16 && v.items.every((x) => typeof x === 'string')) return `{${v.items.map((x) => pyRepr(x)).join(', ')}}`;
  return undefined;
}

/** A fresh ModuleHint with null-prototype maps (keys come from the file). */
export function newHint(name: string, className: string, pythonModule: string): ModuleHint {
  return {
    name,
    className,
    pythonModule,
    attributes: Object.create(null),
    parameters: Object.create(null),
    buffers: Object.create(null),
    children: [],
  };
}
