/**
 * How the Metadata tab and its link count and show a checkpoint's metadata. DOM-free.
 */
import type { WireSummary } from '../../../src/shared/protocol';

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * Keys a reader adds for its own bookkeeping, shown another way: GGUF's `kvTypes` (the value
 * type of each key in `kv`) is shown beside each value instead of as a section of its own.
 */
export function splitKvTypes(block: Record<string, unknown>): { rest: Record<string, unknown>; types?: Record<string, string> } {
  if (!isPlainObject(block.kv) || !isPlainObject(block.kvTypes)) return { rest: block };
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(block)) if (k !== 'kvTypes') Object.defineProperty(rest, k, { value: v, enumerable: true, writable: true, configurable: true });
  const types: Record<string, string> = {};
  for (const [k, v] of Object.entries(block.kvTypes)) if (typeof v === 'string') types[k] = v;
  return { rest, types };
}

/**
 * How many metadata keys a checkpoint has, for the `Metadata (n)` link: GGUF's key/value count,
 * else the keys of config.json and of each block the reader found (`__metadata__`, ...).
 */
export function metadataKeyCount(s: Pick<WireSummary, 'metadata' | 'config'>): number {
  let n = s.config ? Object.keys(s.config).length : 0;
  for (const v of Object.values(s.metadata ?? {})) {
    if (!isPlainObject(v)) {
      n += 1;
      continue;
    }
    if (isPlainObject(v.kv)) {
      // GGUF: the header's key/value count (the shown `kv` may be shortened).
      n += typeof v.kvCount === 'number' ? v.kvCount : Object.keys(v.kv).length;
      continue;
    }
    n += Object.keys(v).length;
  }
  return n;
}
