/**
 * Pairing the tensors of two checkpoints: same name first, then the same core name under a known
 * prefix change or the GGUF ↔ Hugging Face map. Linear in the number of tensors: every step is
 * a map lookup, never a comparison of every tensor with every other.
 */
import { Checkpoint, DeclaredTie, RawCheckpoint, Tensor, TensorRecord } from '../model';
import { analyze } from '../analyze';
import { copyRecord } from '../tensor-record';
import { ggufToHf, prefixChange, stripChain } from './names';
import { Rename, TensorPair } from './model';

export interface Matching {
  pairs: TensorPair[];
  /** A in the comparison namespace: A itself, or A re-analysed under the comparison names. */
  a: Checkpoint;
}

function ggufArch(cp: Checkpoint): string {
  const g = cp.metadata.gguf as { kv?: Record<string, unknown> } | undefined;
  const arch = g?.kv?.['general.architecture'];
  return typeof arch === 'string' ? arch : '';
}

interface Cored {
  cores: string[];
  chain: string;
  gguf: boolean;
}

/** Core names a tensor may match under (several for an ambiguous GGUF name). */
function coresOf(name: string, cp: Checkpoint, arch: string): Cored {
  if (cp.format === 'gguf') {
    const hf = ggufToHf(name, arch);
    if (hf.length) return { cores: hf.map((h) => stripChain(h).core), chain: '', gguf: true };
  }
  const c = stripChain(name);
  return { cores: [c.core], chain: c.chain, gguf: false };
}

function newPair(key: string, a: Tensor | null, b: Tensor | null): TensorPair {
  return { key, a, aName: a ? a.name : null, b, status: 'equal', changes: [], order: -1, ownedA: 0, ownedB: 0, ownedBytesA: 0, ownedBytesB: 0 };
}

export function matchTensors(A: Checkpoint, B: Checkpoint): Matching {
  const pairs: TensorPair[] = [];
  const ta = A.tensors;
  const tb = B.tensors;
  // The same names in the same order (a checkpoint against itself, a dtype conversion, a
  // fine-tune against its base): a zip, no lookups.
  if (ta.length === tb.length && ta.every((t, i) => t.name === tb[i].name)) {
    for (let i = 0; i < tb.length; i++) pairs.push(newPair(tb[i].name, ta[i], tb[i]));
    storedPrefixRenames(A, B, pairs);
    return { pairs, a: A };
  }
  // Names not yet matched, in A's order (a Map keeps insertion order).
  const aByName = new Map<string, Tensor>();
  for (const t of ta) aByName.set(t.name, t);
  for (const t of tb) {
    const a = aByName.get(t.name) ?? null;
    if (a) aByName.delete(t.name);
    pairs.push(newPair(t.name, a, t));
  }
  const onlyA = [...aByName.values()];
  const onlyB = pairs.filter((p) => p.a === null);
  /** A's tensor → its comparison name, for the tensors whose name changes. */
  const keyOf = new Map<Tensor, string>();

  if (onlyA.length && onlyB.length) {
    const archA = ggufArch(A);
    const archB = ggufArch(B);
    // Index B's unmatched tensors by core; count A's cores so an ambiguous core matches nothing.
    const bIndex = new Map<string, TensorPair[]>();
    const bCored = new Map<TensorPair, Cored>();
    for (const p of onlyB) {
      const c = coresOf(p.b!.name, B, archB);
      bCored.set(p, c);
      for (const k of c.cores) {
        const list = bIndex.get(k);
        if (list) list.push(p);
        else bIndex.set(k, [p]);
      }
    }
    const aCored = new Map<Tensor, Cored>();
    const aCount = new Map<string, number>();
    for (const t of onlyA) {
      const c = coresOf(t.name, A, archA);
      aCored.set(t, c);
      for (const k of c.cores) aCount.set(k, (aCount.get(k) ?? 0) + 1);
    }
    // A prefix rule seen in a match, by A's chain: how to name A's unmatched tensors.
    const chainRule = new Map<string, Map<string, number>>();
    const matched = new Set<Tensor>();
    for (const t of onlyA) {
      const ca = aCored.get(t)!;
      for (const k of ca.cores) {
        const bucket = bIndex.get(k);
        if (!bucket || bucket.length !== 1 || aCount.get(k) !== 1) continue;
        const p = bucket[0];
        if (p.a !== null) continue;
        const cb = bCored.get(p)!;
        p.a = t;
        p.aName = t.name;
        matched.add(t);
        keyOf.set(t, p.key);
        let rename: Rename;
        if (ca.gguf || cb.gguf) rename = { from: t.name, to: p.key, rule: 'gguf' };
        else {
          rename = { from: t.name, to: p.key, rule: 'prefix', prefix: prefixChange(ca.chain, cb.chain) };
          const m = chainRule.get(ca.chain) ?? new Map<string, number>();
          m.set(cb.chain, (m.get(cb.chain) ?? 0) + 1);
          chainRule.set(ca.chain, m);
        }
        p.renamed = rename;
        break;
      }
    }
    // Tensors only A has go where A's rule puts them, so a removed tensor sits in the aligned tree.
    const used = new Set<string>(pairs.map((p) => p.key));
    for (const t of onlyA) {
      if (matched.has(t)) continue;
      let key = t.name;
      const ca = aCored.get(t)!;
      if (ca.gguf && B.format !== 'gguf') {
        const hf = ggufToHf(t.name, archA)[0];
        if (hf && !used.has(hf)) key = hf;
      } else {
        const rules = chainRule.get(ca.chain);
        if (rules) {
          let best = '';
          let n = -1;
          for (const [to, c] of rules) if (c > n) [best, n] = [to, c];
          const k = best + ca.cores[0];
          if (!used.has(k)) key = k;
        }
      }
      if (used.has(key)) key = t.name;
      for (let i = 2; used.has(key); i++) key = `${t.name}#${i}`;
      used.add(key);
      if (key !== t.name) keyOf.set(t, key);
      pairs.push(newPair(key, t, null));
    }
  } else {
    for (const t of onlyA) pairs.push(newPair(t.name, t, null));
  }

  storedPrefixRenames(A, B, pairs);

  if (keyOf.size === 0) return { pairs, a: A };
  const a = reanalyse(A, keyOf);
  const byName = new Map<string, Tensor>();
  for (const t of a.tensors) byName.set(t.name, t);
  for (const p of pairs) if (p.a) p.a = byName.get(keyOf.get(p.a) ?? p.a.name) ?? p.a;
  return { pairs, a };
}

/** Tensors of a model (the ones DataParallel prefixes), as opposed to optimizer state or values saved beside it. */
function inModel(t: Tensor): boolean {
  return t.role === 'parameter' || t.role === 'buffer';
}

/**
 * The PyTorch reader strips DataParallel's `module.` from names (and says so in `prefixes`):
 * the same names on both sides are still stored under different keys, which load_state_dict
 * would not accept. Those pairs are renamed.
 */
function storedPrefixRenames(A: Checkpoint, B: Checkpoint, pairs: TensorPair[]): void {
  const pa = A.prefixes?.includes('module.') ?? false;
  const pb = B.prefixes?.includes('module.') ?? false;
  if (pa === pb) return;
  for (const p of pairs) {
    if (!p.a || !p.b || p.aName === null) continue;
    const from = pa && inModel(p.a) ? `module.${p.aName}` : p.aName;
    const to = pb && inModel(p.b) ? `module.${p.b.name}` : p.b.name;
    if (from === to) {
      // Renamed by the reader only: the file's keys are the same on both sides.
      delete p.renamed;
      continue;
    }
    if (p.renamed && p.renamed.rule === 'gguf') continue;
    const c = prefixChange(stripChain(from).chain, stripChain(to).chain);
    p.renamed = { from, to, rule: 'prefix', prefix: c };
  }
}

/**
 * A analysed again with its tensors under their comparison names, so both sides' module trees,
 * sharing groups and counts are in one namespace. Storage, roles and ties are kept as A has them.
 */
function reanalyse(A: Checkpoint, keyOf: Map<Tensor, string>): Checkpoint {
  const key = (t: Tensor) => keyOf.get(t) ?? t.name;
  const byName = new Map<string, Tensor>();
  for (const t of A.tensors) byName.set(t.name, t);
  const records: TensorRecord[] = [];
  const ties: DeclaredTie[] = [];
  for (const t of A.tensors) {
    if (!t.present) {
      const g = t.group >= 0 ? A.shared[t.group] : undefined;
      const target = g?.tensors.map((n) => byName.get(n)).find((x) => x && x.present);
      if (target) {
        const by = t.extra?.declaredBy;
        ties.push({
          name: key(t),
          target: key(target),
          source: by === 'config' || by === 'metadata' ? by : 'format',
          reason: t.roleReason.replace(/^declared tie to [^:]*: /, ''),
        });
      }
      continue;
    }
    const r = copyRecord(t);
    r.name = key(t);
    records.push(r);
  }
  const raw: RawCheckpoint = {
    format: A.format,
    path: A.path,
    files: A.files,
    tensors: records,
    declaredTies: ties,
    metadata: A.metadata,
    warnings: [],
    config: A.config,
    prefixes: A.prefixes,
    bytesRead: A.bytesRead,
    totalBytes: A.totalBytes,
  };
  // The records are this function's own copies: analysed in place.
  // Ties are passed explicitly above; config.json must not declare them again under new names.
  const out = analyze(raw, { consume: true, declaredOnly: true });
  out.config = A.config;
  out.warnings = A.warnings;
  out.safety = A.safety;
  out.architecture = A.architecture;
  if (A.modules.type !== 'Model') out.modules.type = A.modules.type;
  return out;
}
