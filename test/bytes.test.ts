import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FileByteSource, MemoryByteSource, withHead } from '../src/core/bytes';

describe('byte sources', () => {
  const data = Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 7) & 0xff));

  it('a read past the sniffed head reads the rest into the result: no buffer of its own, no copy', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ws-bytes-')), 'f.bin');
    fs.writeFileSync(file, data);
    const src = await FileByteSource.open(file);
    try {
      const head = await src.read(0, 64);
      const read = src.read.bind(src);
      let reads = 0;
      src.read = (offset, length) => {
        reads++;
        return read(offset, length);
      };
      const got = await withHead(src, head).read(8, 150);
      assert.deepStrictEqual(Buffer.from(got), data.subarray(8, 158));
      assert.strictEqual(reads, 0);
      assert.strictEqual(src.bytesRead, 158, 'each byte counted once');
    } finally {
      await src.close();
      fs.rmSync(path.dirname(file), { recursive: true });
    }
  });

  it('a source that cannot read into a buffer is read and copied', async () => {
    const src = new MemoryByteSource('m', data);
    const head = await src.read(0, 64);
    assert.deepStrictEqual(Buffer.from(await withHead(src, head).read(60, 100)), data.subarray(60, 160));
    assert.strictEqual(src.bytesRead, 64 + 96);
  });
});
