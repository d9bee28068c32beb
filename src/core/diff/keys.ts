/**
 * Metadata and config.json keys that differ. Objects are walked a few levels deep and compared
 * by value (key order ignored); long values are summarised so a 150,000-token vocabulary is
 * "<array of 151936>", not a megabyte of output.
 */
import { KeyChange } from './model';

/** config.json keys that record where and with what a file was written, not what the model is. */
const BOOKKEEPING = new Set(['_name_or_path', 'transformers_version', '_commit_hash', '_attn_implementation_autoset']);

const MAX_DEPTH = 4;
const MAX_VALUE_CHARS = 256;

export function diffKeys(a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined, bookkeeping = false): KeyChange[] {
  const fa = flatten(a ?? {});
  const fb = flatten(b ?? {});
  const out: KeyChange[] = [];
  const mark = (c: KeyChange): KeyChange => {
    if (bookkeeping && BOOKKEEPING.has(c.key.split('.')[0])) c.informational = true;
    return c;
  };
  for (const [k, va] of fa) {
    if (!fb.has(k)) {
      out.push(mark({ key: k, status: 'removed', a: short(va) }));
      continue;
    }
    const vb = fb.get(k);
    if (stable(va) !== stable(vb)) out.push(mark({ key: k, status: 'changed', a: short(va), b: short(vb) }));
  }
  for (const [k, vb] of fb) if (!fa.has(k)) out.push(mark({ key: k, status: 'added', b: short(vb) }));
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function flatten(o: Record<string, unknown>): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const walk = (v: Record<string, unknown>, prefix: string, depth: number) => {
    for (const k of Object.keys(v)) {
      const x = v[k];
      const path = prefix ? `${prefix}.${k}` : k;
      if (isPlainObject(x) && depth < MAX_DEPTH && Object.keys(x).length > 0) walk(x, path, depth + 1);
      else out.set(path, x);
    }
  };
  walk(o, '', 1);
  return out;
}

/** JSON with object keys sorted, so `{a, b}` equals `{b, a}`. */
function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (isPlainObject(x)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(x).sort()) sorted[k] = x[k];
      return sorted;
    }
    return typeof x === 'bigint' ? x.toString() : x;
  }) ?? 'undefined';
}

function short(v: unknown): unknown {
  const s = stable(v);
  if (s.length <= MAX_VALUE_CHARS) return v;
  if (Array.isArray(v)) return `<array of ${v.length}>`;
  if (isPlainObject(v)) return `<object with ${Object.keys(v).length} keys>`;
  if (typeof v === 'string') return `${v.slice(0, MAX_VALUE_CHARS)}… (${v.length} characters)`;
  return `${s.slice(0, MAX_VALUE_CHARS)}…`;
}
