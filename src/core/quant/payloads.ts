/**
 * What quantized checkpoints and adapters need beyond the headers, read when the checkpoint is
 * opened:
 *
 * - JSON sidecars beside the weights: `adapter_config.json` (PEFT), `quantize_config.json`
 *   (AutoGPTQ before transformers' `quantization_config`), `quant_config.json` (AutoAWQ),
 *   `hf_quant_config.json` (NVIDIA ModelOpt), `quanto_qmap.json` (optimum-quanto). Read like
 *   config.json: problems are warnings.
 * - The contents of a few tiny tensors that say what a packed layer is: compressed-tensors'
 *   `weight_shape` (an int64 pair holding the real [out, in], which padding hides), the sparse
 *   formats' `shape` (the same pair, as [2] or [2, 1]; read only when the config declares a
 *   `sparsity_config`, the name being a common one), HQQ's `shape` (the same pair; read only
 *   beside a `W_q` of the same module) and
 *   bitsandbytes' `weight.quant_state.bitsandbytes__nf4|fp4` (a uint8 tensor holding a small
 *   JSON object with the real shape and block size). This is the one deliberate exception to
 *   "headers only": only tensors with exactly those names, only up to a few dozen bytes each
 *   (JSON: 4 KiB), only up to MAX_PAYLOAD_BYTES in all, read in coalesced ranges. Tensor data
 *   of weights is never read.
 */
import * as path from 'path';
import { FileAccess } from '../access';
import { ByteSource } from '../bytes';
import { isContiguous } from '../coverage';
import { CheckpointError } from '../errors';
import { isObject, parseJson, toPlain } from '../json';
import { RawCheckpoint, TensorPayload, TensorRecord } from '../model';
import { bytesExact, exact } from '../numbers';
import { findQuantConfig, isObj } from './config';

const MAX_SIDECAR_BYTES = 4 * 1024 * 1024;
/** Bytes of tensor contents read in all, however many layers the checkpoint has. */
export const MAX_PAYLOAD_BYTES = 8 * 1024 * 1024;
/** Tensors read at most (a 60-layer, 256-expert MoE has ~46,000 quantized projections). */
export const MAX_PAYLOAD_TENSORS = 100_000;
/** A shape tensor holds at most this many dimensions. */
const MAX_SHAPE_DIMS = 8;
/** A bitsandbytes quant state JSON is ~200 bytes; anything this large is not one. */
const MAX_STATE_BYTES = 4096;
/** Ranges closer than this are read in one request. */
const COALESCE_GAP = 4096;
const MAX_READ = 1024 * 1024;
/** Files whose payloads are read at once. */
const PAYLOAD_FILES_AT_ONCE = 8;

/**
 * Which tensors' contents we read, and how to decode them. `sparse`: the config declares a
 * compressed-tensors sparsity_config; `hqqShapes`: the names of HQQ layers' `shape` tensors
 * (hqqShapeNames).
 */
export function payloadKind(t: Pick<TensorRecord, 'name' | 'dtype' | 'shape' | 'nbytes'>, sparse = false, hqqShapes?: ReadonlySet<string>): 'ints' | 'json' | undefined {
  // Asked of every tensor (92,000 on DeepSeek-V3): plain string tests, and the regular expression
  // (which scans the whole name) only for the few names they let through.
  if ((t.name === 'weight_shape' || t.name.endsWith('.weight_shape')) && (t.dtype === 'int64' || t.dtype === 'int32') && t.shape.length === 1 && t.shape[0] <= MAX_SHAPE_DIMS) return 'ints';
  // compressed-tensors' sparse formats write torch.tensor(shape), reshaped to [2, 1] by the 2:4 one.
  if (sparse && (t.name === 'shape' || t.name.endsWith('.shape')) && (t.dtype === 'int64' || t.dtype === 'int32') && t.shape.length >= 1 && t.shape.length <= 2 && t.shape[0] <= MAX_SHAPE_DIMS && (t.shape.length === 1 || t.shape[1] === 1)) return 'ints';
  // HQQ writes meta["shape"] (torch.Size) as torch.tensor(shape): int64 [2], named `<module>.shape`.
  if (hqqShapes !== undefined && (t.dtype === 'int64' || t.dtype === 'int32') && t.shape.length === 1 && t.shape[0] <= MAX_SHAPE_DIMS && hqqShapes.has(t.name)) return 'ints';
  if (t.name.includes('quant_state.bitsandbytes__') && /(^|\.)quant_state\.bitsandbytes__[a-z0-9]+$/.test(t.name) && t.dtype === 'uint8' && t.shape.length === 1 && t.nbytes <= MAX_STATE_BYTES) return 'json';
  return undefined;
}

export interface QuantInputsOptions {
  /** Read the JSON sidecars (false when the caller turned sidecars off). */
  sidecars: boolean;
  /** Lower limits than MAX_PAYLOAD_TENSORS / MAX_PAYLOAD_BYTES (tests). */
  maxTensors?: number;
  maxBytes?: number;
}

/** Read the sidecars and the tiny descriptive tensors of `raw` (files relative to `dir`). */
export async function readQuantInputs(raw: RawCheckpoint, dir: string, access: FileAccess, opts: QuantInputsOptions): Promise<void> {
  // Only where the tensors call for them: for a remote file every look beside it is a request.
  if (opts.sidecars) for (const name of wantedSidecars(raw)) await readSidecar(raw, dir, access, name);
  await readPayloads(raw, dir, access, Math.min(opts.maxTensors ?? MAX_PAYLOAD_TENSORS, MAX_PAYLOAD_TENSORS), Math.min(opts.maxBytes ?? MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES));
}

/** PEFT's module names (LoRA, DoRA, IA3, LoHa, LoKr, OFT/BOFT, VeRA, prompt tuning). */
const ADAPTER_NAME = /(^|\.)(lora_(A|B|embedding_A|embedding_B|magnitude_vector)|ia3_l|hada_w[12]_[ab]|lokr_w[12](_[ab])?|oft_r|boft_R|vera_lambda_[bd]|prompt_embeddings)(\.|$)/;
/** Tensors only a quantized checkpoint holds. */
const QUANT_NAME = /(^|\.)(qweight|qzeros|g_idx|scales|weight_scale(_inv|_2)?|weight_packed|weight_zero_point|weight_shape|absmax|SCB|input_scale|biases)$/;

/**
 * The JSON sidecars worth looking for: adapter_config.json beside adapter weights, and the
 * quantizers' own config files when config.json names no quantization but the tensors are packed.
 */
export function wantedSidecars(raw: RawCheckpoint): string[] {
  const out: string[] = [];
  const opened = raw.path.split(/[\\/]/).pop() ?? '';
  if (/^adapter_model\./.test(opened) || raw.tensors.some((t) => ADAPTER_NAME.test(t.name))) out.push('adapter_config.json');
  const cfg = raw.config;
  const text = cfg && typeof cfg.text_config === 'object' && cfg.text_config ? (cfg.text_config as Record<string, unknown>) : undefined;
  const declared = cfg?.quantization_config !== undefined || cfg?.quantization !== undefined || text?.quantization_config !== undefined;
  if (!declared && raw.tensors.some((t) => QUANT_NAME.test(t.name))) out.push('quantize_config.json', 'quant_config.json', 'hf_quant_config.json');
  // optimum-quanto's QuantizedModelForCausalLM writes no quantization_config, its map of quantized
  // modules beside the weights (flattened quantized weights are `<module>.weight._data`...).
  if (!declared && raw.tensors.some((t) => t.name.endsWith('.weight._data') || t.name.endsWith('.weight._scale'))) out.push('quanto_qmap.json');
  return out;
}

async function readSidecar(raw: RawCheckpoint, dir: string, access: FileAccess, name: string): Promise<void> {
  const p = path.join(dir, name);
  const st = await access.stat(p);
  if (!st || st.isDirectory) return;
  if (st.size > MAX_SIDECAR_BYTES) {
    raw.warnings.push({ code: 'sidecar-too-large', message: `${name} is ${st.size} bytes; not read` });
    return;
  }
  const src = await access.open(p, name);
  try {
    const bytes = await src.read(0, src.size);
    raw.bytesRead += bytes.length;
    raw.totalBytes += bytes.length;
    const doc = parseJson(bytes, { file: name });
    if (!isObject(doc)) {
      raw.warnings.push({ code: 'sidecar-invalid', message: `${name} is not a JSON object; ignored` });
      return;
    }
    (raw.sidecars ??= {})[name] = toPlain(doc) as Record<string, unknown>;
    raw.files.push(name);
  } catch (e) {
    if (e instanceof CheckpointError) raw.warnings.push({ code: 'sidecar-invalid', message: `${name} ignored: ${e.message}` });
    else throw e;
  } finally {
    await src.close();
  }
}

/**
 * The names of the `shape` tensors of modules holding an HQQ `W_q` (`shape` is a common name:
 * only these are read, whatever the config says), or undefined when no tensor is a `W_q`.
 */
export function hqqShapeNames(tensors: readonly { name: string }[]): Set<string> | undefined {
  let names: Set<string> | undefined;
  for (let i = 0; i < tensors.length; i++) {
    const n = tensors[i].name;
    if (n === 'W_q') (names ??= new Set()).add('shape');
    else if (n.endsWith('.W_q')) (names ??= new Set()).add(`${n.slice(0, -4)}.shape`);
  }
  return names;
}

interface Want {
  t: TensorRecord;
  kind: 'ints' | 'json';
  start: number;
  end: number;
}

async function readPayloads(raw: RawCheckpoint, dir: string, access: FileAccess, maxTensors: number, maxBytes: number): Promise<void> {
  const wanted: Want[] = [];
  let budget = maxBytes;
  let skipped = 0;
  const sparse = isObj(findQuantConfig(raw)?.cfg.sparsity_config);
  const hqqShapes = hqqShapeNames(raw.tensors);
  for (const t of raw.tensors) {
    const kind = payloadKind(t, sparse, hqqShapes);
    if (!kind) continue;
    if (t.dataOffset === null || (t.strides !== null && !isContiguous(t.shape, t.strides))) {
      (raw.payloads ??= {})[t.name] = { error: 'its bytes have no known place in the file' };
      continue;
    }
    if (t.nbytes > budget || wanted.length >= maxTensors) {
      skipped++;
      continue;
    }
    budget -= t.nbytes;
    const start = t.dataOffset + (t.storageOffset ?? 0);
    wanted.push({ t, kind, start, end: start + t.nbytes });
  }
  if (skipped) {
    raw.warnings.push({
      code: 'quantization-payload-budget',
      message: `${skipped} quantization shape tensor(s) not read: the budget for reading tensor contents (${exact(maxTensors)} tensors, ${bytesExact(maxBytes)}) is spent; their layers are sized from their packed shapes`,
    });
  }
  if (wanted.length === 0) return;
  // Each file's wanted ranges, sorted, cut into runs read in one request each (the safetensors
  // writer puts same-dtype tensors together: a shard's weight_shape tensors are one run).
  const byFile = new Map<string, Want[]>();
  for (const w of wanted) {
    const list = byFile.get(w.t.file);
    if (list) list.push(w);
    else byFile.set(w.t.file, [w]);
  }
  const plans: { file: string; runs: Want[][] }[] = [];
  let runCount = 0;
  for (const [file, list] of byFile) {
    list.sort((a, b) => a.start - b.start);
    const runs: Want[][] = [];
    for (let i = 0; i < list.length; ) {
      let j = i;
      while (j + 1 < list.length && list[j + 1].start - list[j].end <= COALESCE_GAP && list[j + 1].end - list[i].start <= MAX_READ) j++;
      runs.push(list.slice(i, j + 1));
      i = j + 1;
    }
    plans.push({ file, runs });
    runCount += runs.length;
  }
  // Where every separate range costs a request (a remote checkpoint), a writer that scattered its
  // shape tensors among the weights would need one per layer: past the access's limit, the runs
  // after it are not read, and their layers are sized from their packed shapes.
  const limit = access.scatteredReads;
  if (limit !== undefined && runCount > limit) {
    let left = limit;
    let notRead = 0;
    for (const plan of plans) {
      const keep = Math.min(left, plan.runs.length);
      for (const run of plan.runs.slice(keep)) notRead += run.length;
      plan.runs.length = keep;
      left -= keep;
    }
    raw.warnings.push({
      code: 'quantization-payload-budget',
      message: `${notRead} quantization shape tensor(s) not read: they lie in ${exact(runCount)} separate places in the files, more than the ${exact(limit)} reads allowed for them here; their layers are sized from their packed shapes`,
    });
  }
  const payloads = (raw.payloads ??= {});
  const readPlan = async ({ file, runs }: { file: string; runs: Want[][] }): Promise<void> => {
    if (runs.length === 0) return;
    let src: ByteSource;
    try {
      src = await access.open(path.join(dir, file), file);
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      for (const run of runs) for (const w of run) payloads[w.t.name] = { error: e.message };
      return;
    }
    try {
      for (const run of runs) {
        const from = run[0].start;
        let to = run[0].end;
        for (let k = 1; k < run.length; k++) if (run[k].end > to) to = run[k].end;
        let bytes: Uint8Array | undefined;
        try {
          bytes = await src.read(from, to - from);
          raw.bytesRead += bytes.length;
        } catch (e) {
          if (!(e instanceof CheckpointError)) throw e;
          for (const w of run) payloads[w.t.name] = { error: e.message };
        }
        if (bytes) for (const w of run) payloads[w.t.name] = decode(w, bytes.subarray(w.start - from, w.end - from));
      }
    } finally {
      await src.close();
    }
  };
  // A few files at a time: for a remote checkpoint, one request per shard in flight together
  // rather than 62 one after another. Payloads are keyed by name, so the order is immaterial.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < plans.length) await readPlan(plans[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(PAYLOAD_FILES_AT_ONCE, plans.length) }, worker));
}

function decode(w: Want, b: Uint8Array): TensorPayload {
  if (w.kind === 'ints') {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const ints: number[] = [];
    const size = w.t.dtype === 'int64' ? 8 : 4;
    for (let o = 0; o + size <= b.length; o += size) {
      // An int64 as two words (69,000 shape tensors in a 384-expert int4 model: no BigInt each);
      // a high word of at most 21 bits keeps it a safe integer.
      const hi = size === 8 ? view.getInt32(o + 4, true) : 0;
      const lo = size === 8 ? view.getUint32(o, true) : view.getInt32(o, true);
      if (hi < 0 || hi > 0x1fffff || lo < 0) return { error: `holds ${size === 8 ? view.getBigInt64(o, true) : lo}, not a dimension` };
      ints.push(hi * 0x100000000 + lo);
    }
    return { ints };
  }
  try {
    const doc = parseJson(b, { file: w.t.file, base: w.start, maxDepth: 8 });
    if (!isObject(doc)) return { error: 'is not a JSON object' };
    return { json: toPlain(doc) as Record<string, unknown> };
  } catch (e) {
    if (e instanceof CheckpointError) return { error: `is not valid JSON (${e.message})` };
    throw e;
  }
}
