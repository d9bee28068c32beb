/**
 * Whole pickled nn.Modules (`torch.save(model)`): the module tree comes from `_modules`, roles
 * exactly from `_parameters` / `_buffers`, the class from the GLOBAL that built each module, and
 * layer attributes give PyTorch-style reprs (`Linear(in_features=768, out_features=50257, bias=False)`).
 */
import { ModuleHint } from '../../model';
import { PyDict, PyGlobal, PyList, PyObject, PySet, PyTuple, PyValue } from './pickle';
import { TorchTensor } from './torch';

/**
 * torch.fx's functions that rebuild a pickled GraphModule, each with the index of the argument
 * holding the module's `__dict__` (`_modules`, `_parameters`, `_buffers`... as any module's, less
 * `_graph`). GraphModule pickles through `__reduce__` (torch 1.x and 2.x, _LazyGraphModule too):
 * `reduce_graph_module(body, import_block)`; torch.package and torch::deploy write
 * `reduce_package_graph_module(importer, body, name)` / `reduce_deploy_graph_module(importer,
 * body, import_block)`, and all of them end in `_deserialize_graph_module(forward, body, ...)`.
 * Each one execs the generated forward() source on load (safety.ts calls them dangerous); here
 * only the body is read as the module's state, and the source strings are never looked into.
 */
const FX_REBUILDS = new Map<string, number>([
  ['reduce_graph_module', 0],
  ['reduce_package_graph_module', 1],
  ['reduce_deploy_graph_module', 1],
  ['_deserialize_graph_module', 1],
]);

const FX_MODULE = 'torch.fx.graph_module';

/** The body dict of a pickled torch.fx GraphModule (`reduce_graph_module(body, ...)`), if `obj` is one. */
function fxBody(obj: PyObject): PyValue | undefined {
  const c = obj.callable;
  if (!(c instanceof PyGlobal) || c.module !== FX_MODULE) return undefined;
  const i = FX_REBUILDS.get(c.name);
  return i === undefined ? undefined : obj.args[i];
}

/** The `__dict__` a module was rebuilt with, when `v` is a pickled nn.Module (a GraphModule's body too). */
export function moduleState(v: PyValue | undefined): PyDict | undefined {
  if (!(v instanceof PyObject)) return undefined;
  let st = v.state ?? fxBody(v);
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
  // A GraphModule's class is made at load time: `_graphmodule_cls_name` (torch.package bodies)
  // or GraphModule, as torch prints it; its submodules keep their own classes.
  const body = fxBody(obj);
  if (body instanceof PyDict) {
    const name = body.get('_graphmodule_cls_name');
    return { className: typeof name === 'string' && name ? name : 'GraphModule', pythonModule: FX_MODULE };
  }
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

/** What a repr rule reads: one layer's attributes and which of its parameters are set. */
interface LayerAttrs {
  className: string;
  /** Whether every key is an attribute (None counts). */
  has(...keys: string[]): boolean;
  get(key: string): PyValue | undefined;
  /** Whether the parameter is registered and not None (`bias`). */
  param(name: string): boolean;
}

/** The text inside `ClassName(…)`, as the layer's extra_repr() prints it; undefined when attributes it needs are missing. */
type ReprRule = (x: LayerAttrs) => string | undefined;

/** torch.nn layer class → its repr rule. A Map: class names come from the file (`__proto__` is just a name). */
const REPR_RULES = new Map<string, ReprRule>();

function rule(classNames: string[], r: ReprRule): void {
  for (const c of classNames) REPR_RULES.set(c, r);
}

const inplace = (x: LayerAttrs, prefix: string) => (x.get('inplace') === true ? `${prefix}inplace=True` : '');
const bias = (x: LayerAttrs) => (x.param('bias') ? 'True' : 'False');
const set = (v: PyValue | undefined) => v !== undefined && v !== null;

rule(['Linear', 'LazyLinear', 'NonDynamicallyQuantizableLinear'], (x) =>
  x.has('in_features', 'out_features') ? `in_features=${pyStr(x.get('in_features'))}, out_features=${pyStr(x.get('out_features'))}, bias=${bias(x)}` : undefined,
);
rule(['Bilinear'], (x) =>
  x.has('in1_features', 'in2_features', 'out_features')
    ? `in1_features=${pyStr(x.get('in1_features'))}, in2_features=${pyStr(x.get('in2_features'))}, out_features=${pyStr(x.get('out_features'))}, bias=${bias(x)}`
    : undefined,
);
// No extra_repr: torch prints them bare (Hardswish, Hardsigmoid and Softmax2d even when inplace).
rule(['Identity', 'Tanh', 'Sigmoid', 'Softsign', 'Tanhshrink', 'LogSigmoid', 'Hardswish', 'Hardsigmoid', 'Softmax2d'], () => '');
rule(['Embedding', 'EmbeddingBag'], (x) => {
  if (!x.has('num_embeddings', 'embedding_dim')) return undefined;
  const bag = x.className === 'EmbeddingBag';
  let s = `${pyStr(x.get('num_embeddings'))}, ${pyStr(x.get('embedding_dim'))}`;
  if (!bag && set(x.get('padding_idx'))) s += `, padding_idx=${pyStr(x.get('padding_idx'))}`;
  if (set(x.get('max_norm'))) s += `, max_norm=${fl(x.get('max_norm'))}`;
  if (x.get('norm_type') !== undefined && x.get('norm_type') !== 2) s += `, norm_type=${fl(x.get('norm_type'))}`;
  if (x.get('scale_grad_by_freq') === true) s += ', scale_grad_by_freq=True';
  if (!bag && x.get('sparse') === true) s += ', sparse=True';
  if (bag && x.get('mode') !== undefined) s += `, mode=${pyStr(x.get('mode'))}`;
  if (bag && set(x.get('padding_idx'))) s += `, padding_idx=${pyStr(x.get('padding_idx'))}`;
  return s;
});
rule(['LayerNorm'], (x) =>
  x.has('normalized_shape', 'eps') ? `${pyStr(x.get('normalized_shape'))}, eps=${fl(x.get('eps'))}, elementwise_affine=${pyRepr(x.get('elementwise_affine') ?? true)}` : undefined,
);
rule(['RMSNorm'], (x) =>
  x.has('normalized_shape')
    ? `${pyStr(x.get('normalized_shape'))}, eps=${set(x.get('eps')) ? fl(x.get('eps')) : 'None'}, elementwise_affine=${pyRepr(x.get('elementwise_affine') ?? true)}`
    : undefined,
);
rule(['GroupNorm'], (x) =>
  x.has('num_groups', 'num_channels', 'eps') ? `${pyStr(x.get('num_groups'))}, ${pyStr(x.get('num_channels'))}, eps=${fl(x.get('eps'))}, affine=${pyRepr(x.get('affine') ?? true)}` : undefined,
);
rule(['BatchNorm1d', 'BatchNorm2d', 'BatchNorm3d', 'SyncBatchNorm', 'InstanceNorm1d', 'InstanceNorm2d', 'InstanceNorm3d'], (x) =>
  x.has('num_features', 'eps')
    ? `${pyStr(x.get('num_features'))}, eps=${fl(x.get('eps'))}, momentum=${x.get('momentum') === null ? 'None' : fl(x.get('momentum'))}, affine=${pyRepr(x.get('affine'))}, track_running_stats=${pyRepr(x.get('track_running_stats'))}`
    : undefined,
);
rule(['Conv1d', 'Conv2d', 'Conv3d', 'ConvTranspose1d', 'ConvTranspose2d', 'ConvTranspose3d'], (x) => {
  if (!x.has('in_channels', 'out_channels', 'kernel_size', 'stride')) return undefined;
  let s = `${pyStr(x.get('in_channels'))}, ${pyStr(x.get('out_channels'))}, kernel_size=${pyStr(x.get('kernel_size'))}, stride=${pyStr(x.get('stride'))}`;
  const allAre = (v: PyValue | undefined, n: number) => v instanceof PyTuple && v.items.every((i) => i === n);
  const padding = x.get('padding');
  if (padding !== undefined && !allAre(padding, 0)) s += `, padding=${pyStr(padding)}`;
  const dilation = x.get('dilation');
  if (dilation !== undefined && !allAre(dilation, 1)) s += `, dilation=${pyStr(dilation)}`;
  const outPad = x.get('output_padding');
  if (outPad !== undefined && !allAre(outPad, 0)) s += `, output_padding=${pyStr(outPad)}`;
  if (x.get('groups') !== undefined && x.get('groups') !== 1) s += `, groups=${pyStr(x.get('groups'))}`;
  if (!x.param('bias')) s += ', bias=False';
  if (x.get('padding_mode') !== undefined && x.get('padding_mode') !== 'zeros') s += `, padding_mode=${pyStr(x.get('padding_mode'))}`;
  return s;
});
rule(['Dropout', 'Dropout1d', 'Dropout2d', 'Dropout3d', 'AlphaDropout', 'FeatureAlphaDropout'], (x) =>
  x.has('p') ? `p=${fl(x.get('p'))}, inplace=${pyRepr(x.get('inplace') ?? false)}` : undefined,
);
rule(['ReLU', 'ReLU6', 'SiLU', 'Mish', 'SELU'], (x) => inplace(x, ''));
rule(['PReLU'], (x) => (x.has('num_parameters') ? `num_parameters=${pyStr(x.get('num_parameters'))}` : undefined));
rule(['GLU'], (x) => (x.has('dim') ? `dim=${pyStr(x.get('dim'))}` : undefined));
rule(['PixelShuffle'], (x) => (x.has('upscale_factor') ? `upscale_factor=${pyStr(x.get('upscale_factor'))}` : undefined));
rule(['PixelUnshuffle'], (x) => (x.has('downscale_factor') ? `downscale_factor=${pyStr(x.get('downscale_factor'))}` : undefined));
rule(['ChannelShuffle'], (x) => (x.has('groups') ? `groups=${pyStr(x.get('groups'))}` : undefined));
rule(['Upsample', 'UpsamplingNearest2d', 'UpsamplingBilinear2d'], (x) => {
  if (!x.has('mode')) return undefined;
  // str() of the value: scale factors are floats (torch stores float(scale_factor)).
  const sf = x.get('scale_factor');
  const floats = (v: PyValue | undefined): string =>
    v instanceof PyTuple ? (v.items.length === 1 ? `(${fl(v.items[0])},)` : `(${v.items.map((i) => fl(i)).join(', ')})`) : fl(v);
  const info = set(sf) ? `scale_factor=${floats(sf)}` : `size=${pyStr(x.get('size') ?? null)}`;
  return `${info}, mode=${pyStr(x.get('mode'))}`;
});
// torch's RNNBase.extra_repr, option by option.
rule(['RNN', 'LSTM', 'GRU'], (x) => {
  if (!x.has('input_size', 'hidden_size')) return undefined;
  let s = `${pyStr(x.get('input_size'))}, ${pyStr(x.get('hidden_size'))}`;
  const proj = x.get('proj_size');
  if (proj !== undefined && proj !== 0) s += `, proj_size=${pyStr(proj)}`;
  if (x.get('num_layers') !== undefined && x.get('num_layers') !== 1) s += `, num_layers=${pyStr(x.get('num_layers'))}`;
  if (x.get('bias') !== undefined && x.get('bias') !== true) s += `, bias=${pyStr(x.get('bias'))}`;
  if (x.get('batch_first') !== undefined && x.get('batch_first') !== false) s += `, batch_first=${pyStr(x.get('batch_first'))}`;
  if (typeof x.get('dropout') === 'number' && x.get('dropout') !== 0) s += `, dropout=${fl(x.get('dropout'))}`;
  if (x.get('bidirectional') !== undefined && x.get('bidirectional') !== false) s += `, bidirectional=${pyStr(x.get('bidirectional'))}`;
  return s;
});
rule(['RNNCell', 'LSTMCell', 'GRUCell'], (x) => {
  if (!x.has('input_size', 'hidden_size')) return undefined;
  let s = `${pyStr(x.get('input_size'))}, ${pyStr(x.get('hidden_size'))}`;
  if (x.has('bias') && x.get('bias') !== true) s += `, bias=${pyStr(x.get('bias'))}`;
  if (x.has('nonlinearity') && x.get('nonlinearity') !== 'tanh') s += `, nonlinearity=${pyStr(x.get('nonlinearity'))}`;
  return s;
});
rule(['GELU'], (x) => (x.has('approximate') ? `approximate=${pyRepr(x.get('approximate'))}` : ''));
rule(['LeakyReLU'], (x) => (x.has('negative_slope') ? `negative_slope=${fl(x.get('negative_slope'))}${inplace(x, ', ')}` : undefined));
rule(['ELU', 'CELU'], (x) => (x.has('alpha') ? `alpha=${fl(x.get('alpha'))}${inplace(x, ', ')}` : undefined));
rule(['Softmax', 'LogSoftmax', 'Softmin'], (x) => `dim=${pyStr(x.get('dim') ?? null)}`);
rule(['Flatten'], (x) => (x.has('start_dim', 'end_dim') ? `start_dim=${pyStr(x.get('start_dim'))}, end_dim=${pyStr(x.get('end_dim'))}` : undefined));
rule(['MaxPool1d', 'MaxPool2d', 'MaxPool3d'], (x) =>
  x.has('kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode')
    ? `kernel_size=${pyStr(x.get('kernel_size'))}, stride=${pyStr(x.get('stride'))}, padding=${pyStr(x.get('padding'))}, dilation=${pyStr(x.get('dilation'))}, ceil_mode=${pyRepr(x.get('ceil_mode'))}`
    : undefined,
);
rule(['AvgPool1d', 'AvgPool2d', 'AvgPool3d'], (x) =>
  x.has('kernel_size', 'stride', 'padding') ? `kernel_size=${pyStr(x.get('kernel_size'))}, stride=${pyStr(x.get('stride'))}, padding=${pyStr(x.get('padding'))}` : undefined,
);
rule(['AdaptiveAvgPool1d', 'AdaptiveAvgPool2d', 'AdaptiveAvgPool3d', 'AdaptiveMaxPool1d', 'AdaptiveMaxPool2d', 'AdaptiveMaxPool3d'], (x) =>
  x.has('output_size') ? `output_size=${pyStr(x.get('output_size'))}` : undefined,
);

/** A PyTorch-style repr for common torch.nn layers (and transformers' Conv1D), from their attributes. */
export function layerRepr(className: string, pythonModule: string, a: Map<string, PyValue>, params: Map<string, boolean>): string | undefined {
  const x: LayerAttrs = {
    className,
    has: (...keys) => keys.every((k) => a.has(k)),
    get: (k) => a.get(k),
    param: (name) => params.get(name) === true,
  };
  if (className === 'Conv1D' && /^transformers\./.test(pythonModule) && x.has('nf', 'nx')) return `Conv1D(nf=${pyStr(x.get('nf'))}, nx=${pyStr(x.get('nx'))})`;
  if (!/^torch\.(ao\.)?nn\./.test(pythonModule)) return undefined;
  const inner = REPR_RULES.get(className)?.(x);
  return inner === undefined ? undefined : `${className}(${inner})`;
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
