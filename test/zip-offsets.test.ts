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
import { storedZip } from './pickle-builder';

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
    const members: [string, Uint8Array][] = [
      ['archive/data.pkl', data(37, 1)],
      ['archive/data/0', data(100, 2)],
      ['archive/data/1', data(128, 3)],
      ['archive/data/2', data(64, 4)],
    ];
    for (const opts of [{}, { gapAfter: 1 }, { gapAfter: 2 }, { descriptor: true }]) {
      const bytes = storedZip(members, opts);
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
