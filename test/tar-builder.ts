/**
 * Tar archives for tests, laid out as Python's tarfile lays out a ustar archive: a 512-byte header
 * per member (octal fields, checksum), its data padded to 512 bytes, two empty blocks at the end.
 */
import { ByteSource, MemoryByteSource } from '../src/core/bytes';

const enc = new TextEncoder();

function octal(h: Uint8Array, at: number, len: number, n: number): void {
  h.set(enc.encode(n.toString(8).padStart(len - 1, '0') + '\0'), at);
}

/** A ustar header: `type` is the type flag (`0` a file, `5` a folder, `2` a symbolic link). */
export function tarHeader(name: string, size: number, type = '0'): Uint8Array {
  const h = new Uint8Array(512);
  h.set(enc.encode(name), 0);
  octal(h, 100, 8, 0o600);
  octal(h, 108, 8, 1000);
  octal(h, 116, 8, 1000);
  octal(h, 124, 12, size);
  octal(h, 136, 12, 1490000000);
  h[156] = type.charCodeAt(0);
  h.set(enc.encode('ustar\x0000'), 257);
  h.fill(0x20, 148, 156);
  const sum = h.reduce((s, b) => s + b, 0);
  h.set(enc.encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
  return h;
}

/** An archive of `[name, data, type?]` members, in order. */
export function tarOf(members: [string, Uint8Array, string?][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, data, type] of members) {
    parts.push(tarHeader(name, data.length, type), data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return cat(...parts);
}

export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A memory source that records every range read. */
export class Recording implements ByteSource {
  readonly reads: [number, number][] = [];
  private readonly inner: MemoryByteSource;
  constructor(readonly name: string, bytes: Uint8Array) {
    this.inner = new MemoryByteSource(name, bytes);
  }
  get size(): number {
    return this.inner.size;
  }
  get bytesRead(): number {
    return this.inner.bytesRead;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.reads.push([offset, length]);
    return this.inner.read(offset, length);
  }
  async close(): Promise<void> {}
}
