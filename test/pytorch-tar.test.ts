/**
 * The tar checkpoints of the first torch releases, checked against torch 1.13's torch.load of
 * each file (scripts/fixtures/make_tar_legacy.py writes test/fixtures/pytorch-tar and its ground
 * truth), and hostile tars built here: every failure is a typed CheckpointError, found fast.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import { readCheckpoint } from '../src/core';
import { MemoryByteSource } from '../src/core/bytes';
import { nodeFileAccess } from '../src/core/access';
import { pickFormat } from '../src/core/formats';
import { readPytorch } from '../src/core/formats/pytorch';
import { checkCounts, checkTensors, checkTree, TensorTruth, TreeTruth } from './pytorch-truth';
import { fixture, flipBytes, readJson, readsOrRefuses, rejectsWith, seededRandom } from './helpers';
import { dumps, g, op, ops, tuple } from './pickle-builder';
import { cat, Recording, tarOf } from './tar-builder';

interface TarTruth {
  format: string;
  layout: string;
  parameters: { unique: number; total: number };
  buffers: { unique: number; total: number };
  roles: Record<string, string>;
  shared: { tensors: string[]; relation: string }[];
  tensors: Record<string, TensorTruth>;
  moduleTree?: TreeTruth;
}

const GT = readJson<{ fixtures: Record<string, TarTruth> }>(fixture('pytorch-tar', 'ground-truth.json'));
const pt = (name: string) => fixture('pytorch-tar', name);
const ctxFor = (name: string) => ({ access: nodeFileAccess, path: `/virtual/${name}`, root: '/virtual' });

const enc = new TextEncoder();

const i64 = (n: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, n, true);
  return b;
};
const i32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n, true);
  return b;
};

const FLOAT = g('torch', 'FloatStorage');

/** The `storages` member: storages as (key, element count), then the view list. */
function storagesMember(list: [number, bigint, number?][], views: Uint8Array = dumps([], 2), declared = list.length): Uint8Array {
  const parts: Uint8Array[] = [dumps(declared, 2)];
  for (const [key, n, bytes] of list) parts.push(dumps(tuple(key, 'cpu', FLOAT), 2), i64(n), new Uint8Array(bytes ?? Number(n) * 4));
  parts.push(views);
  return cat(...parts);
}

/** The `tensors` member: (key, storage key, shape, stride, offset) records. */
function tensorsMember(list: [number, number, number[], number[], number][], ndimOverride?: number): Uint8Array {
  const parts: Uint8Array[] = [dumps(list.length, 2)];
  for (const [key, skey, shape, stride, off] of list) {
    parts.push(dumps(tuple(key, skey, g('torch', 'FloatTensor')), 2), i32(ndimOverride ?? shape.length), new Uint8Array(4));
    for (const d of [...shape, ...stride, off]) parts.push(i64(BigInt(d)));
  }
  return cat(...parts);
}

/** A pickle member: {name: persistent id str(key)}. */
function pickleMember(entries: [string, string][], extra: Uint8Array[] = []): Uint8Array {
  const body: Uint8Array[] = [op.Proto(2), op.EmptyDict(), op.Mark()];
  for (const [name, pid] of entries) body.push(op.BinUnicode(name), op.BinUnicode(pid), op.BinPersId());
  body.push(op.SetItems(), ...extra, op.Stop());
  return ops(...body);
}

/** A well-formed small checkpoint: one 8-element storage, `w` [2, 4] on it. */
function goodMembers(): [string, Uint8Array, string?][] {
  return [
    ['sys_info', dumps(new Map([['little_endian', true]]), 2)],
    ['pickle', pickleMember([['w', '7']])],
    ['tensors', tensorsMember([[7, 3, [2, 4], [4, 1], 0]])],
    ['storages', storagesMember([[3, 8n]])],
  ];
}

async function readBytes(name: string, bytes: Uint8Array) {
  return readPytorch(new MemoryByteSource(name, bytes), ctxFor(name));
}

describe('PyTorch tar checkpoints (torch.save before the legacy pickle stream)', () => {
  for (const [name, t] of Object.entries(GT.fixtures)) {
    it(`${name}: tensors, counts, sharing and layout as torch 1.13's torch.load has them`, async () => {
      const raw = await readCheckpoint(pt(name));
      assert.strictEqual(raw.format, 'pytorch-tar');
      assert.strictEqual(raw.metadata.pytorch && (raw.metadata.pytorch as Record<string, unknown>).layout, t.layout);
      checkTensors(raw, t, pt(name));
      await checkCounts(pt(name), t);
      if (t.moduleTree) checkTree(raw.moduleTree!, t.moduleTree);
    });
  }

  it('ties: the tied head shares its embedding storage; views land on their root storage at their offsets', async () => {
    const sd = await readCheckpoint(pt('tar-state-dict.pt'));
    const storage = (raw: typeof sd, n: string) => raw.tensors.find((x) => x.name === n)!.storage;
    assert.strictEqual(storage(sd, 'embed.weight'), storage(sd, 'head.weight'));
    assert.notStrictEqual(storage(sd, 'embed.weight'), storage(sd, 'fc.weight'));
    const views = await readCheckpoint(pt('tar-views.pt'));
    assert.strictEqual(new Set(views.tensors.map((x) => x.storage)).size, 1, 'one storage under every view, the storage view included');
    const win = views.tensors.find((x) => x.name === 'window_buffer')!;
    // Elements 6.. of the root hold the storage view; the buffer starts 2 elements into it.
    assert.strictEqual(win.storageOffset, (6 + 2) * 4);
  });

  it('the files Python tarfile writes (a pax header first, or a GNU long name) are recognised by their first bytes', () => {
    for (const name of Object.keys(GT.fixtures)) {
      const head = fs.readFileSync(pt(name)).subarray(0, 64);
      assert.strictEqual(pickFormat(head, fs.statSync(pt(name)).size, 'model.bin')?.match?.variant, 'pytorch-tar', name);
    }
  });

  it('reads headers, pickles and counts only: no storage data', async () => {
    const name = 'tar-state-dict.pt';
    const bytes = fs.readFileSync(pt(name));
    assert.ok(bytes.length > 64 * 1024, 'large enough to be read by ranges, not whole');
    const src = new Recording(name, bytes);
    const raw = await readPytorch(src, ctxFor(name));
    const data = new Map<string, [number, number]>();
    for (const r of raw.tensors) data.set(r.storage!, [r.dataOffset!, r.dataOffset! + r.storageNbytes!]);
    const dataBytes = [...data.values()].reduce((s, [a, b]) => s + b - a, 0);
    let inData = 0;
    for (const [off, len] of src.reads) for (const [a, b] of data.values()) inData += Math.max(0, Math.min(b, off + len) - Math.max(a, off));
    // A storage's header pickle is read by a window the size of the previous one: at most a few
    // bytes past its element count can fall in its data.
    assert.ok(inData <= 16 * data.size, `${inData} bytes of storage data read (${data.size} storages, ${dataBytes} data bytes)`);
    assert.ok(raw.bytesRead < bytes.length - dataBytes + 16 * data.size + 64, `read ${raw.bytesRead} of ${bytes.length}`);
  });

  it('a crafted checkpoint reads; its storage holds what the tensor says', async () => {
    const raw = await readBytes('good.pt', tarOf(goodMembers()));
    assert.deepStrictEqual(raw.tensors.map((t) => [t.name, t.shape, t.nbytes]), [['w', [2, 4], 32]]);
    assert.deepStrictEqual(raw.warnings, []);
  });
});

describe('PyTorch tar checkpoints: bad input is a typed error', () => {
  const withMember = (name: string, data: Uint8Array, type?: string) => tarOf(goodMembers().map((m) => (m[0] === name ? [name, data, type] : m)));

  it('a header whose checksum does not match is not a tar', async () => {
    const b = tarOf(goodMembers());
    b[140] ^= 1; // in the mtime field
    const e = await rejectsWith(readBytes('sum.pt', b), 'bad-tar', /sum\.pt: byte 0: tar header checksum \d+ does not match/);
    assert.strictEqual(e.offset, 0);
  });

  it('a size that is not octal names the header it is in', async () => {
    const b = tarOf(goodMembers());
    const second = 512 + Math.ceil(goodMembers()[0][1].length / 512) * 512;
    b.set(enc.encode('00000009999'), second + 124);
    // Fix the checksum so that only the size is wrong.
    b.fill(0x20, second + 148, second + 156);
    const sum = b.subarray(second, second + 512).reduce((s, x) => s + x, 0);
    b.set(enc.encode(sum.toString(8).padStart(6, '0') + '\0 '), second + 148);
    await rejectsWith(readBytes('octal.pt', b), 'bad-tar', new RegExp(`byte ${second + 124}: tar header size is "00000009999", not an octal number`));
  });

  it('a member that runs past the end of the file', async () => {
    const b = tarOf(goodMembers());
    await rejectsWith(readBytes('cut.pt', b.subarray(0, 512 + 10)), 'truncated', /cut\.pt: byte 0: tar member "sys_info": tar member data needs \d+ bytes at byte 512 but the file ends at 522/);
    await rejectsWith(readBytes('cut.pt', b.subarray(0, 1024 + 100)), 'truncated', /cut\.pt: byte 1024: tar header needs 512 bytes at byte 1024 but the file ends at 1124/);
  });

  it('no storages member: not a torch checkpoint', async () => {
    const b = tarOf(goodMembers().filter((m) => m[0] !== 'storages'));
    await rejectsWith(readBytes('none.pt', b), 'unknown-format', /tar archive has no member "storages"/);
  });

  it('a member that is a symbolic link, not a file', async () => {
    await rejectsWith(readBytes('link.pt', withMember('storages', new Uint8Array(0), '2')), 'bad-tar', /tar member "storages" is not a regular file/);
  });

  it('a storage count of 2^40 stops at the end of the member', async () => {
    const t0 = Date.now();
    await rejectsWith(readBytes('count.pt', withMember('storages', storagesMember([[3, 8n]], new Uint8Array(0), 2 ** 40))), 'truncated', /tar member "storages": storage 1: member ends after 1 of the 1099511627776 storages/);
    assert.ok(Date.now() - t0 < 1000);
  });

  it('an element count past the member is refused before anything is sized by it', async () => {
    const e = await rejectsWith(readBytes('elems.pt', withMember('storages', storagesMember([[3, 2n ** 40n, 32]]))), 'truncated', /storage data needs 4398046511104 bytes at byte \d+ but the member ends at \d+/);
    assert.ok(e.offset! > 0);
    await rejectsWith(readBytes('neg.pt', withMember('storages', storagesMember([[3, -1n, 0]]))), 'bad-offsets', /storage element count -1 is out of range/);
  });

  it('tensor metadata: a huge ndim, a view past its storage, an unknown storage', async () => {
    await rejectsWith(readBytes('ndim.pt', withMember('tensors', tensorsMember([[7, 3, [2, 4], [4, 1], 0]], 1e9))), 'bad-shape', /tensor 0: tensor has 1000000000 dimensions/);
    await rejectsWith(readBytes('past.pt', withMember('tensors', tensorsMember([[7, 3, [3, 4], [4, 1], 0]]))), 'bad-shape', /reaches past the 8 elements of storage 3/);
    await rejectsWith(readBytes('nostorage.pt', withMember('tensors', tensorsMember([[7, 5, [2, 4], [4, 1], 0]]))), 'bad-pickle', /names storage 5, which the storages member does not hold/);
  });

  it('a persistent id that names nothing', async () => {
    await rejectsWith(readBytes('pid.pt', withMember('pickle', pickleMember([['w', '8']]))), 'bad-pickle', /persistent id 8 names no tensor or storage/);
  });

  it('a storage header that calls os.system is reported as dangerous, and nothing runs', async () => {
    const evil = ops(op.Proto(2), op.Global('posix', 'system'), op.BinUnicode('touch /tmp/weightscope-tar-pwned'), op.TupleOne(), op.Reduce(), op.Stop());
    // In place of the storage count: the call's result is no count, and the failure names the call.
    const b = withMember('storages', cat(evil, storagesMember([[3, 8n]])));
    await rejectsWith(readBytes('evil.pt', b), 'bad-pickle', /storage count is .*; before failing it references posix\.system \(dangerous\)/);
    assert.ok(!fs.existsSync('/tmp/weightscope-tar-pwned'));
    const pkl = pickleMember([['w', '7']], [op.BinUnicode('x'), op.Global('posix', 'system'), op.BinUnicode('id'), op.TupleOne(), op.Reduce(), op.SetItem()]);
    const raw = await readBytes('evil2.pt', withMember('pickle', pkl));
    assert.ok(raw.safety!.globals.some((x) => x.name === 'posix.system' && x.verdict === 'dangerous'));
  });

  it('truncated anywhere, or with bytes changed in its headers and pickles, every fixture fails typed and fast', async function () {
    this.timeout(60_000);
    const rand = seededRandom(20240601);
    for (const name of Object.keys(GT.fixtures)) {
      const bytes = fs.readFileSync(pt(name));
      // Cut at every block boundary and at odd points.
      for (let cut = 0; cut < bytes.length; cut += bytes.length > 20_000 ? 4096 : 256) {
        await readsOrRefuses(readBytes(name, bytes.subarray(0, cut)));
        await readsOrRefuses(readBytes(name, bytes.subarray(0, cut + 7)));
      }
      // Mutations where the structure is: the first 4 KB (headers, sys_info, pickles) and
      // around every block boundary.
      for (let k = 0; k < 150; k++) {
        const b = Uint8Array.from(bytes);
        flipBytes(b, rand, () => (rand() < 0.5 ? Math.floor(rand() * Math.min(4096, b.length)) : Math.floor(rand() * (b.length / 512)) * 512 + Math.floor(rand() * 160)));
        const t0 = Date.now();
        await readsOrRefuses(readBytes(name, b));
        assert.ok(Date.now() - t0 < 2000, `${name}: mutation ${k} took ${Date.now() - t0} ms`);
      }
    }
  });
});
