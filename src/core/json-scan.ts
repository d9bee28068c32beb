/**
 * The byte-level pieces shared by the fast scanners of machine-written JSON (safetensors headers,
 * shard indexes): each scanner accepts only plain input and gives up on anything else, leaving it
 * to the strict parser (json.ts), which says what is wrong and where.
 */
import { FNV_OFFSET, FNV_PRIME, hashFinish } from './bytes';

export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const COMMA = 0x2c;
export const COLON = 0x3a;
export const OPEN_BRACE = 0x7b;
export const CLOSE_BRACE = 0x7d;
export const OPEN_BRACKET = 0x5b;
export const CLOSE_BRACKET = 0x5d;

/** Past the whitespace at p. */
export function skipWs(b: Uint8Array, p: number): number {
  while (p < b.length) {
    const c = b[p];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
    else break;
  }
  return p;
}

/** At a quote: the closing quote of a plain ASCII string (no escape or control character), or -1. */
export function plainStringEnd(b: Uint8Array, p: number): number {
  if (b[p] !== QUOTE) return -1;
  for (p++; p < b.length; p++) {
    const c = b[p];
    if (c === QUOTE) return p;
    if (c === BACKSLASH || c < 0x20 || c >= 0x80) return -1;
  }
  return -1;
}

/** What `hashedStringEnd` read besides the position: the string's hash, and its bytes or'ed (>= 0x80: not ASCII). */
export const lastString = { hash: 0, bits: 0 };

/**
 * At a quote: the closing quote of a string without escapes or control characters, or -1; its
 * bytes hashed (bytes.ts) into `lastString`. The per-byte loop is a small function of its own: V8
 * optimizes it after a few hundred names, long before it would have compiled a whole scanner (a
 * loop over megabytes that runs unoptimized until that larger compile is done).
 */
export function hashedStringEnd(b: Uint8Array, p: number): number {
  if (b[p] !== QUOTE) return -1;
  let h = FNV_OFFSET;
  let bits = 0;
  for (p++; p < b.length; p++) {
    const c = b[p];
    if (c === QUOTE) {
      lastString.hash = hashFinish(h);
      lastString.bits = bits;
      return p;
    }
    if (c === BACKSLASH || c < 0x20) return -1;
    bits |= c;
    h = Math.imul(h ^ c, FNV_PRIME);
  }
  return -1;
}
