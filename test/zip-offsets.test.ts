/**
 * Storage data offsets predicted from the central directory (torch's writer: members back to
 * back, data aligned to 64 bytes) against the offsets the local headers give, on every zip that
 * torch wrote among the fixtures (the full-size GPT-2 and ZIP64 skeletons included), and on
 * archives another writer made (no alignment, a gap, a data descriptor), where nothing may be
 * predicted wrongly.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MemoryByteSource } from '../src/core/bytes';
import { nodeFileAccess } from '../src/core/access';
import { looksLikeZip, memberDataOffset, predictedDataOffsets, readZipDirectory, ZipEntry } from '../src/core/formats/pytorch/zip';
import { fixture, rebuildSkeleton } from './helpers';

const storages = (order: ZipEntry[]) => order.filter((e) => /(^|\/)data\/[^/]+$/.test(e.name));

async function check(file: string): Promise<{ predicted: number; read: number }> {
  const src = await nodeFileAccess.open(file);
  try {
    const head = await src.read(0, Math.min(4, src.size));
    if (!looksLikeZip(head)) return { predicted: 0, read: 0 };
    const dir = await readZipDirectory(src, file);
    const list = storages(dir.order);
    const guess = predictedDataOffsets(dir, list);
    let predicted = 0;
    for (let i = 0; i < list.length; i++) {
      const real = await memberDataOffset(src, list[i], file);
      if (guess[i] === undefined) continue;
      predicted++;
      assert.strictEqual(guess[i], real, `${path.basename(file)}: ${list[i].name} predicted at ${guess[i]}, its local header says ${real}`);
    }
    return { predicted, read: list.length };
  } finally {
    await src.close();
  }
}

/** A stored zip with members back to back (no alignment), optionally a gap or a data descriptor flag. */
function plainZip(members: { name: string; data: Uint8Array }[], opts: { gapAfter?: number; descriptor?: boolean } = {}): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let at = 0;
  members.forEach((m, i) => {
    const name = Buffer.from(m.name, 'latin1');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(opts.descriptor ? 8 : 0, 6);
    local.writeUInt32LE(m.data.length, 18);
    local.writeUInt32LE(m.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(opts.descriptor ? 8 : 0, 8);
    c.writeUInt32LE(m.data.length, 20);
    c.writeUInt32LE(m.data.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(at, 42);
    central.push(c, name);
    parts.push(local, name, Buffer.from(m.data));
    at += 30 + name.length + m.data.length;
    if (opts.gapAfter === i) {
      // Enough bytes to bring the next member onto a 64-byte boundary of the previous one's data.
      const gap = Buffer.alloc(64);
      parts.push(gap);
      at += gap.length;
    }
  });
  const cd = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(members.length, 8);
  eocd.writeUInt16LE(members.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(at, 16);
  return new Uint8Array(Buffer.concat([...parts, cd, eocd]));
}

describe('zip: storage offsets from the central directory', function () {
  this.timeout(60000);

  it('equal the local headers on every torch-written fixture, and are predicted for most storages', async () => {
    const dir = fixture('pytorch');
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-zip-'));
    try {
      const files = fs.readdirSync(dir).filter((f) => /\.(pt|bin|pth|ckpt)$/.test(f) && !f.startsWith('broken-')).map((f) => path.join(dir, f));
      for (const skel of fs.readdirSync(dir).filter((f) => f.endsWith('.skel.gz'))) {
        const out = path.join(tmp, skel.replace(/\.skel\.gz$/, ''));
        rebuildSkeleton(path.join(dir, skel), out);
        files.push(out);
      }
      let predicted = 0;
      let read = 0;
      const full: Record<string, number> = {};
      for (const f of files) {
        const r = await check(f);
        predicted += r.predicted;
        read += r.read;
        full[path.basename(f)] = r.predicted / Math.max(1, r.read);
      }
      assert.ok(read > 200, `${read} storages looked at`);
      assert.ok(predicted / read > 0.9, `${predicted} of ${read} storages predicted`);
      // The full-size GPT-2 .bin: every storage, so a remote open reads no local header.
      assert.strictEqual(full['gpt2-124m-tied.bin'], 1);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('predicts nothing wrong in an archive another writer made: unaligned, with a gap, with data descriptors', async () => {
    const data = (n: number, fill: number) => new Uint8Array(n).fill(fill);
    const members = [
      { name: 'archive/data.pkl', data: data(37, 1) },
      { name: 'archive/data/0', data: data(100, 2) },
      { name: 'archive/data/1', data: data(128, 3) },
      { name: 'archive/data/2', data: data(64, 4) },
    ];
    for (const opts of [{}, { gapAfter: 1 }, { gapAfter: 2 }, { descriptor: true }]) {
      const bytes = plainZip(members, opts);
      const src = new MemoryByteSource('x.pt', bytes);
      const dir = await readZipDirectory(src, 'x.pt');
      const list = storages(dir.order);
      const guess = predictedDataOffsets(dir, list);
      for (let i = 0; i < list.length; i++) {
        const real = await memberDataOffset(src, list[i], 'x.pt');
        if (guess[i] !== undefined) assert.strictEqual(guess[i], real, `${JSON.stringify(opts)}: ${list[i].name}`);
      }
      if (opts.descriptor) assert.ok(guess.every((g) => g === undefined), 'a data descriptor: never predicted');
    }
  });
});
