/**
 * What the stored tensors stand for, beyond their own shapes: quantized layers (quant/), adapters
 * (adapters.ts) and the totals files declare (declared.ts). analyze() calls annotate() once the
 * tensors have roles, storedCount() as it builds the tree, and complete() once the tree is built;
 * a checkpoint that is none of these comes out untouched.
 */
import { AdapterAnnotations, annotateAdapter, describeAdapted } from './adapters';
import { declaredCount } from './declared';
import { isFloating } from './dtypes';
import { Checkpoint, DeclaredCount, RawCheckpoint, Tensor, Warning } from './model';
import { noteMtpLayers } from './mtp';
import { exact } from './numbers';
import type { QuantAnnotations, StoredCount } from './quant';
import { mayBeQuantized } from './quant/trigger';

/** The quantization detectors, loaded for checkpoints that may be quantized (quant/trigger.ts). */
const quantModule = () => require('./quant') as typeof import('./quant');

export interface Annotations {
  adapter?: AdapterAnnotations;
  quant?: QuantAnnotations;
  declared?: DeclaredCount;
  /** JSON sidecars read beside the weights (adapter_config.json...), shown with the metadata. */
  sidecars?: Record<string, Record<string, unknown>>;
}

/** Before sharing and the tree: adapter names and roles, quantized layers' roles and logical shapes. */
export function annotate(raw: RawCheckpoint, tensors: Tensor[], warnings: Warning[]): Annotations {
  const adapter = annotateAdapter(raw, tensors, warnings);
  const quant = mayBeQuantized(raw, tensors) ? quantModule().annotateQuantization(raw, tensors, warnings) : undefined;
  const declared = declaredCount(raw);
  return { ...(adapter ? { adapter } : {}), ...(quant ? { quant } : {}), ...(declared ? { declared } : {}), ...(raw.sidecars ? { sidecars: raw.sidecars } : {}) };
}

/** For the tree, when the checkpoint is quantized: which tensors its stored figures count. */
export function storedCount(ann: Annotations): StoredCount | undefined {
  return ann.quant ? new (quantModule().StoredCount)(ann.quant.gguf !== undefined) : undefined;
}

/** After the tree: adapted module types, the scheme, declared totals, multi-token prediction layers. */
export function complete(cp: Checkpoint, ann: Annotations): void {
  if (ann.sidecars) cp.metadata = { ...cp.metadata, sidecars: ann.sidecars };
  noteMtpLayers(cp);
  if (ann.adapter) {
    describeAdapted(cp.modules, ann.adapter);
    cp.adapter = ann.adapter.info;
    if (ann.adapter.prefix) cp.prefixes = [...(cp.prefixes ?? []), ann.adapter.prefix];
  }
  if (ann.quant) {
    const q = quantModule().quantizationSummary(ann.quant, cp.tensors, cp.parameters.unique);
    if (q) cp.quantization = q;
  }
  if (ann.declared) {
    const d = ann.declared;
    // A copy: the root module's counts are the same object and must not carry `declared`.
    cp.parameters = { ...cp.parameters, declared: d };
    const ours = cp.parameters.unique;
    if (d.count !== ours) {
      const hints: string[] = [];
      if (cp.quantization && d.count === ours - cp.quantization.quantizedParameters) {
        hints.push('it leaves out the quantized layers, whose packed weights the writing tool keeps as buffers');
      }
      const storedFloat = floatingAsStored(cp.tensors);
      if (cp.quantization && d.count === storedFloat) hints.push('it counts the floating-point tensors as stored, packed weights and scales included');
      cp.warnings.push({
        code: 'declared-count-mismatch',
        message: `${d.source} declares ${exact(d.count)} parameters; the checkpoint holds ${exact(ours)}${cp.quantization ? ' (the unquantized model\'s count)' : ''}${hints.length ? `: ${hints.join('; ')}` : ''}`,
      });
    }
  }
}

function floatingAsStored(tensors: Tensor[]): number {
  let n = 0;
  for (const t of tensors) if (t.present && (t.role === 'parameter' || t.role === 'quantization') && isFloating(t.dtype)) n += t.numel;
  return n;
}
