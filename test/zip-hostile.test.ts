/** Zip containers (torch.save archives) whose headers claim sizes the reader must not trust for memory. */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { readCheckpoint } from '../src/core';
import { rejectsWith, tempDir } from './helpers';
import { dumps, ZipMember, zipCentralHeader, zipEnd, zipLocalHeader } from './pickle-builder';

/**
 * A torch.save-shaped zip, sparse on disk: archive/version deflated (2 bytes inflated) but
 * declaring `claimed` compressed bytes, which run over zeros up to archive/data.pkl (stored).
 */
function writeClaimingZip(p: string, claimed: number): void {
  const pkl = Buffer.from(dumps(new Map([['a', 1]]), 2));
  const members: { member: ZipMember; data: Buffer }[] = [
    { member: { name: Buffer.from('archive/version'), method: 8, flags: 0, crc: zlib.crc32(Buffer.from('3\n')) >>> 0, size: 2, csize: claimed }, data: zlib.deflateRawSync(Buffer.from('3\n')) },
    { member: { name: Buffer.from('archive/data.pkl'), method: 0, flags: 0, crc: zlib.crc32(pkl) >>> 0, size: pkl.length, csize: pkl.length }, data: pkl },
  ];
  const fd = fs.openSync(p, 'w');
  const central: Buffer[] = [];
  let at = 0;
  for (const { member, data } of members) {
    central.push(zipCentralHeader(member, at), member.name);
    const local = Buffer.concat([zipLocalHeader(member), member.name, data]);
    fs.writeSync(fd, local, 0, local.length, at);
    at += 30 + member.name.length + member.csize;
  }
  const cd = Buffer.concat(central);
  const tail = Buffer.concat([cd, zipEnd(members.length, cd.length, at)]);
  fs.writeSync(fd, tail, 0, tail.length, at);
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
