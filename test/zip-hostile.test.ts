/** Zip containers (torch.save archives) whose headers claim sizes the reader must not trust for memory. */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { readCheckpoint } from '../src/core';
import { rejectsWith, tempDir } from './helpers';
import { dumps } from './pickle-builder';

/**
 * A torch.save-shaped zip, sparse on disk: archive/version deflated (2 bytes inflated) but
 * declaring `claimed` compressed bytes, which run over zeros up to archive/data.pkl (stored).
 */
function writeClaimingZip(p: string, claimed: number): void {
  const members: { name: string; method: number; data: Buffer; size: number; csize: number }[] = [
    { name: 'archive/version', method: 8, data: zlib.deflateRawSync(Buffer.from('3\n')), size: 2, csize: claimed },
    { name: 'archive/data.pkl', method: 0, data: Buffer.from(dumps(new Map([['a', 1]]), 2)), size: 0, csize: 0 },
  ];
  members[1].size = members[1].csize = members[1].data.length;
  const fd = fs.openSync(p, 'w');
  const central: Buffer[] = [];
  let at = 0;
  for (const m of members) {
    const name = Buffer.from(m.name);
    const crc = zlib.crc32(m.method === 8 ? Buffer.from('3\n') : m.data) >>> 0;
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt16LE(m.method, 8);
    h.writeUInt32LE(crc, 14);
    h.writeUInt32LE(m.csize, 18);
    h.writeUInt32LE(m.size, 22);
    h.writeUInt16LE(name.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(m.method, 10);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(m.csize, 20);
    c.writeUInt32LE(m.size, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(at, 42);
    central.push(c, name);
    fs.writeSync(fd, Buffer.concat([h, name, m.data]), 0, 30 + name.length + m.data.length, at);
    at += 30 + name.length + m.csize;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(at, 16);
  fs.writeSync(fd, Buffer.concat([cd, end]), 0, cd.length + end.length, at);
  fs.closeSync(fd);
}

describe('zip members that claim more than they can hold', () => {
  it('a deflated member of 2 bytes declaring 1.5 GB of compressed data: refused before any is read (all of it read into memory before)', async () => {
    const dir = tempDir();
    const p = path.join(dir, 'claims.pt');
    writeClaimingZip(p, 1_500_000_000);
    const started = Date.now();
    const e = await rejectsWith(readCheckpoint(p), 'bad-zip', /member declares 1500000000 compressed bytes for 2 inflated; deflate needs at most 1028/);
    assert.strictEqual(e.record, 'zip member archive/version');
    assert.strictEqual(e.offset, 0);
    assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
    // The same archive with the true compressed size reads.
    const ok = path.join(dir, 'ok.pt');
    writeClaimingZip(ok, zlib.deflateRawSync(Buffer.from('3\n')).length);
    const raw = await readCheckpoint(ok);
    assert.strictEqual(raw.format, 'pytorch-zip');
    assert.strictEqual(JSON.stringify(raw.metadata).includes('"version":"3"'), true, 'the inflated version member was read');
  });
});
