/**
 * What the webview is sent about an analysed Checkpoint, built in the worker: the summary with
 * shortened metadata, tensor descriptions (paged: tensorIndex.ts) and the helpers the module
 * nodes use (treeIndex.ts serves the tree itself, on demand). Pure (no vscode import), so mocha
 * tests it.
 */
import * as path from 'path';
import { formatLabel } from '../core/formats';
import type { Checkpoint, Tensor } from '../core/model';
import { schemeLabel } from '../core/quant/describe';
import type { WireSummary, WireTensor } from '../shared/protocol';

/** Limits for metadata shown inline in the webview (the full JSON opens in an editor). */
export interface TruncateLimits {
  maxString: number;
  maxArray: number;
  maxKeys: number;
  maxDepth: number;
}

export const DISPLAY_LIMITS: TruncateLimits = { maxString: 400, maxArray: 24, maxKeys: 400, maxDepth: 8 };
const MAX_FILES = 100;
const MAX_WARNINGS = 200;
const SHAPES_SHOWN = 3;

/** Copy a JSON-able value with long strings and arrays shortened; reports whether it cut anything. */
export function truncateJson(value: unknown, limits: TruncateLimits = DISPLAY_LIMITS): { value: unknown; truncated: boolean } {
  let truncated = false;
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') {
      if (v.length <= limits.maxString) return v;
      truncated = true;
      return `${v.slice(0, limits.maxString)}… (${v.length.toLocaleString('en-US')} characters)`;
    }
    if (typeof v === 'bigint') return v.toString();
    if (v === null || typeof v !== 'object') return typeof v === 'function' || v === undefined ? null : v;
    if (depth >= limits.maxDepth) {
      truncated = true;
      return Array.isArray(v) ? `[… ${v.length} items]` : '{…}';
    }
    if (Array.isArray(v)) {
      const out = v.slice(0, limits.maxArray).map((x) => walk(x, depth + 1));
      if (v.length > limits.maxArray) {
        truncated = true;
        out.push(`… ${(v.length - limits.maxArray).toLocaleString('en-US')} more of ${v.length.toLocaleString('en-US')}`);
      }
      return out;
    }
    if (ArrayBuffer.isView(v)) {
      truncated = true;
      return `<${(v as Uint8Array).length} bytes>`;
    }
    const out: Record<string, unknown> = {};
    let n = 0;
    const keys = Object.keys(v as object);
    for (const k of keys) {
      if (n++ >= limits.maxKeys) {
        truncated = true;
        out['…'] = `${keys.length - limits.maxKeys} more keys`;
        break;
      }
      // defineProperty: a key named __proto__ stays an ordinary key.
      Object.defineProperty(out, k, { value: walk((v as Record<string, unknown>)[k], depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  const result = walk(value, 0);
  return { value: result, truncated };
}

/** The checkpoint's display name: the file (or folder) the user opened. */
export function displayName(cp: Pick<Checkpoint, 'path'>): string {
  return path.basename(cp.path) || cp.path;
}

function formatShape(shape: number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * `weight [768, 2304] · bias [2304]` for a module's own tensors: the first few, and `+n` for
 * the others (`count` of them in all; the caller may pass only the first few tensors).
 */
export function shapeSummary(modulePath: string, own: readonly Tensor[], count = own.length): string | undefined {
  if (!count || !own.length) return undefined;
  const strip = modulePath ? modulePath.length + 1 : 0;
  const parts = own.slice(0, SHAPES_SHOWN).map((t) => `${t.name.slice(strip)} ${formatShape(t.shape)}`);
  if (count > SHAPES_SHOWN) parts.push(`+${count - SHAPES_SHOWN}`);
  return parts.join(' · ');
}

export function buildSummary(cp: Checkpoint): WireSummary {
  const meta = truncateJson(cp.metadata ?? {});
  const config = cp.config ? truncateJson(cp.config) : undefined;
  const s: WireSummary = {
    fileName: displayName(cp),
    path: cp.path,
    format: cp.format,
    formatLabel: formatLabel(cp.format),
    files: cp.files.slice(0, MAX_FILES),
    fileCount: cp.files.length,
    parameters: cp.parameters.declared ? { ...cp.parameters, declared: { ...cp.parameters.declared } } : { ...cp.parameters },
    buffers: { ...cp.buffers },
    other: { ...cp.other },
    bytesByDtype: { ...cp.bytesByDtype },
    tensorCount: cp.tensors.length,
    storedTensorCount: countPresent(cp.tensors),
    totalBytes: cp.totalBytes,
    bytesRead: cp.bytesRead,
    warnings: cp.warnings.slice(0, MAX_WARNINGS).map((w) => ({ code: w.code, message: w.message })),
    warningCount: cp.warnings.length,
    metadata: meta.value as Record<string, unknown>,
    truncated: meta.truncated || !!config?.truncated,
  };
  if (cp.architecture) s.architecture = cp.architecture;
  if (cp.safety) s.safety = { verdict: cp.safety.verdict, globals: cp.safety.globals.map((g) => ({ ...g })) };
  if (cp.prefixes?.length) s.prefixes = cp.prefixes.slice();
  if (cp.quantization) s.quantization = { ...cp.quantization, scheme: schemeLabel(cp.quantization) };
  if (cp.adapter) s.adapter = { ...cp.adapter, targets: cp.adapter.targets.slice() };
  const dedup = cp.shared.filter((g) => g.relation === 'deduplicated');
  if (dedup.length) s.deduplicated = { groups: dedup.length, tensors: dedup.reduce((n, g) => n + g.tensors.length, 0) };
  if (config) s.config = config.value as Record<string, unknown>;
  return s;
}

function countPresent(tensors: readonly Tensor[]): number {
  let n = 0;
  for (const t of tensors) if (t.present) n++;
  return n;
}

export function wireTensor(t: Tensor): WireTensor {
  const w: WireTensor = {
    name: t.name,
    dtype: t.dtype,
    shape: t.shape.slice(),
    numel: t.numel,
    nbytes: t.nbytes,
    role: t.role,
    roleReason: t.roleReason,
    present: t.present,
    storage: t.storage,
    storageOffset: t.storageOffset,
    strides: t.strides ? t.strides.slice() : null,
    file: t.file,
    dataOffset: t.dataOffset,
    group: t.group,
  };
  if (t.formatDtype) w.formatDtype = t.formatDtype;
  if (t.extra && Object.keys(t.extra).length) w.extra = { ...t.extra };
  if (t.logicalShape) w.logicalShape = t.logicalShape.slice();
  if (t.logicalNumel !== undefined) w.logicalNumel = t.logicalNumel;
  if (t.module !== undefined) w.module = t.module;
  return w;
}

export function tensorsByName(cp: Checkpoint): Map<string, Tensor> {
  const m = new Map<string, Tensor>();
  for (const t of cp.tensors) m.set(t.name, t);
  return m;
}
