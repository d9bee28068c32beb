/**
 * PyTorch Distributed Checkpoint (DCP) folders: `.metadata` (a pickle of torch's Metadata
 * dataclasses, read as data) and `__<rank>_<n>.distcp` data files (never read). The fixtures are
 * written by scripts/fixtures/make_dcp.py as torch 2.x's FileSystemWriter lays them out, around
 * models torch 1.13 built and counted (test/fixtures/dcp/ground-truth.json).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint, readCheckpoint, toReport } from '../src/core';
import { EDITOR_PATTERNS, isDefaultEditorFile, isWeightFileName, pickFormat, pickInFolder } from '../src/core/formats';
import { fixture, flipBytes, readJson, readsOrRefuses, rejectsWith, seededRandom, tempDir } from './helpers';
import { call, dumps, g, Op, op, ops, tuple } from './pickle-builder';

interface DcpTruth {
  parameters: { unique: number; total: number };
  buffers: { unique: number; total: number };
  torchParameters?: number;
  files: string[];
  tensors: Record<string, { dtype: string; shape: number[]; chunks: number; role: string }>;
  version: string | null;
  optimizerState?: { tensors: number; elements: number };
  bytesEntries?: string[];
  storedElements?: number;
  tiedElements?: number;
  tied?: string[];
  config?: Record<string, unknown>;
  short?: string;
}

const GT = readJson<{ pickleProtocol: number; fixtures: Record<string, DcpTruth> }>(fixture('dcp', 'ground-truth.json'));
const dcp = (...p: string[]) => fixture('dcp', ...p);
const CASES = ['single', 'fsdp2', 'titan', 'accelerate/pytorch_model_fsdp_0', 'accelerate/optimizer_0'];

/** A copy of a fixture folder to change. */
function copyOf(name: string): string {
  const dir = path.join(tempDir('weightscope-dcp-'), path.basename(name));
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(dcp(name))) fs.copyFileSync(dcp(name, f), path.join(dir, f));
  return dir;
}

/** `.metadata` of these bytes, alone in a folder (beside a fixture's data files when `from` names one), opened as a file. */
async function readMeta(bytes: Uint8Array, from?: string) {
  const dir = from ? copyOf(from) : tempDir('weightscope-dcp-');
  fs.writeFileSync(path.join(dir, '.metadata'), bytes);
  return readCheckpoint(path.join(dir, '.metadata'));
}

describe('PyTorch Distributed Checkpoint folders (.metadata and __<rank>_<n>.distcp)', () => {
  for (const name of CASES) {
    const t = GT.fixtures[name];
    it(`${name}: every tensor's name, dtype, whole size and chunks, and the counts torch 1.13 gives`, async () => {
      const raw = await readCheckpoint(dcp(name));
      assert.strictEqual(raw.format, 'dcp');
      assert.deepStrictEqual([...raw.files].sort(), [...t.files].sort());
      assert.deepStrictEqual(raw.tensors.map((x) => x.name).sort(), Object.keys(t.tensors).sort());
      for (const rec of raw.tensors) {
        const e = t.tensors[rec.name];
        assert.strictEqual(rec.dtype, e.dtype, rec.name);
        assert.deepStrictEqual(rec.shape, e.shape, rec.name);
        assert.strictEqual(rec.extra?.chunks, e.chunks, rec.name);
        assert.strictEqual(rec.dataOffset, null, `${rec.name}: the data files are not read`);
        assert.ok(/^__\d+_\d+\.distcp$/.test(rec.file), `${rec.name} is in ${rec.file}`);
      }
      assert.strictEqual((raw.metadata.dcp as Record<string, unknown>).version ?? null, t.version);
      assert.strictEqual((raw.metadata.dcp as Record<string, unknown>).pickle_protocol, GT.pickleProtocol);
      const r = toReport(await openCheckpoint(dcp(name)));
      assert.deepStrictEqual(r.parameters, t.parameters);
      assert.deepStrictEqual(r.buffers, t.buffers);
      for (const x of r.tensors) assert.strictEqual(x.role, t.tensors[x.name].role, `role of ${x.name}`);
      // Read as data: no global it names is one that runs code, and nothing is flagged.
      assert.notStrictEqual(r.safety?.verdict, 'dangerous');
      assert.ok(!r.warnings.some((w) => w.code === 'unsafe-global' || w.code.startsWith('dcp-') && w.code !== 'dcp-possible-tie'), JSON.stringify(r.warnings));
      assert.ok(raw.bytesRead <= fs.statSync(dcp(name, '.metadata')).size, 'only .metadata is read');
    });
  }

  it('the same checkpoint opened as its folder, its .metadata or one of its data files', async () => {
    const a = toReport(await openCheckpoint(dcp('fsdp2')));
    const b = toReport(await openCheckpoint(dcp('fsdp2', '.metadata')));
    const c = toReport(await openCheckpoint(dcp('fsdp2', '__1_0.distcp')));
    assert.deepStrictEqual(b.parameters, a.parameters);
    assert.deepStrictEqual(c.parameters, a.parameters);
    assert.deepStrictEqual(c.tensors.map((x) => [x.name, x.shape]), a.tensors.map((x) => [x.name, x.shape]));
    assert.ok(c.warnings.some((w) => w.code === 'folder-pick' && /__1_0\.distcp is one data file/.test(w.message)));
  });

  it("torchtitan's model + optimizer + train state: `model.` stripped, optimizer tensors are optimizer state, other objects are not tensors", async () => {
    const t = GT.fixtures.titan;
    const raw = await readCheckpoint(dcp('titan'));
    assert.deepStrictEqual(raw.prefixes, ['model.']);
    const r = toReport(await openCheckpoint(dcp('titan')));
    assert.strictEqual(r.parameters.unique, t.torchParameters);
    const opt = r.tensors.filter((x) => x.role === 'optimizer-state');
    assert.strictEqual(opt.length, t.optimizerState!.tensors);
    assert.strictEqual(opt.reduce((s, x) => s + x.shape.reduce((a, b) => a * b, 1), 0), t.optimizerState!.elements);
    assert.ok(opt.every((x) => x.name.startsWith('optimizer.state.')));
    assert.ok(opt.some((x) => x.name.endsWith('.step') && x.shape.length === 0), '0-dim step tensors');
    // BytesStorageMetadata entries (lr, betas, the scheduler, train_state) are objects, not tensors.
    assert.strictEqual((raw.metadata.dcp as Record<string, unknown>).bytes_entries, t.bytesEntries!.length);
    assert.ok(!raw.tensors.some((x) => x.name.startsWith('train_state') || x.name.startsWith('lr_scheduler')));
    const cp = raw.metadata.checkpoint as Record<string, unknown>;
    assert.ok(cp && 'train_state' in cp && 'lr_scheduler' in cp, JSON.stringify(Object.keys(cp ?? {})));
  });

  it('a tied embedding: stored under both names; a possible-tie warning says by how much, and config.json settles it', async () => {
    const t = GT.fixtures.tied;
    const r = toReport(await openCheckpoint(dcp('tied')));
    assert.strictEqual(r.parameters.unique, t.storedElements, 'DCP writes each name apart: the file alone counts both');
    const w = r.warnings.find((x) => x.code === 'dcp-possible-tie');
    assert.ok(w && w.message.includes('lm_head.weight') && w.message.includes('model.embed_tokens.weight') && w.message.includes(t.tiedElements!.toLocaleString('en-US')), JSON.stringify(r.warnings));
    assert.strictEqual(t.storedElements! - t.tiedElements!, t.torchParameters);
    const dir = copyOf('tied');
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(t.config));
    const withConfig = toReport(await openCheckpoint(dir));
    assert.strictEqual(withConfig.parameters.unique, t.torchParameters, 'with tie_word_embeddings, as torch counts');
    assert.ok(!withConfig.warnings.some((x) => x.code === 'dcp-possible-tie'), 'config.json decides; the guess is not repeated');
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...t.config, tie_word_embeddings: false }));
    const untied = toReport(await openCheckpoint(dir));
    assert.strictEqual(untied.parameters.unique, t.storedElements, 'an untied config counts both');
    assert.ok(!untied.warnings.some((x) => x.code === 'dcp-possible-tie'), JSON.stringify(untied.warnings));
  });

  it('chunks that do not cover a tensor, a data file missing or cut short: warnings, sizes from the metadata', async () => {
    const gap = toReport(await openCheckpoint(dcp('gap')));
    assert.strictEqual(gap.parameters.unique, GT.fixtures.gap.torchParameters);
    const w = gap.warnings.find((x) => x.code === 'dcp-chunks');
    assert.ok(w && /norm\.weight \(its 1 chunk holds 4 of its 8 elements\)/.test(w.message), JSON.stringify(gap.warnings));

    const dir = copyOf('fsdp2');
    fs.rmSync(path.join(dir, '__1_0.distcp'));
    const missing = toReport(await openCheckpoint(dir));
    assert.deepStrictEqual(missing.parameters, GT.fixtures.fsdp2.parameters);
    assert.ok(missing.warnings.some((x) => x.code === 'dcp-missing-file' && /__1_0\.distcp/.test(x.message)));

    const cut = copyOf('fsdp2');
    const f = path.join(cut, '__0_0.distcp');
    fs.truncateSync(f, fs.statSync(f).size - 100);
    const short = toReport(await openCheckpoint(cut));
    assert.ok(short.warnings.some((x) => x.code === 'dcp-truncated-file' && /__0_0\.distcp/.test(x.message)), JSON.stringify(short.warnings));
  });

  it('a storage path out of the folder is refused, typed, naming the entry', async () => {
    await rejectsWith(readCheckpoint(dcp('escape')), 'unsafe-path', /storage_data\[MetadataIndex\("[^"]+"\)\]: storage file "\.\.\/__0_0\.distcp" is not a file inside/);
  });

  it('is registered: folder pick, sniffing, editor patterns, the data files', () => {
    const names = ['.metadata', '__0_0.distcp', '__1_0.distcp', 'common.pt', 'metadata.json'];
    const pick = pickInFolder(names);
    assert.ok(pick && 'file' in pick && pick.file === '.metadata' && pick.module.id === 'dcp', 'a Megatron-Core torch_dist folder (common.pt beside it) opens its .metadata');
    assert.ok(isWeightFileName('.metadata'));
    const head = fs.readFileSync(dcp('single', '.metadata')).subarray(0, 96);
    assert.strictEqual(pickFormat(head, 1000, '/x/anything')?.module.id, 'dcp', 'by content, whatever the name');
    const zipHead = fs.readFileSync(dcp('single', '__0_0.distcp')).subarray(0, 96);
    assert.strictEqual(pickFormat(zipHead, 1000, '/x/__0_0.distcp')?.module.id, 'dcp');
    assert.ok(isDefaultEditorFile('.metadata') && isDefaultEditorFile('__3_0.distcp'));
    assert.ok(EDITOR_PATTERNS.option.includes('*.metadata'));
  });

  it('a data file with no .metadata beside it says so', async () => {
    const dir = copyOf('single');
    fs.rmSync(path.join(dir, '.metadata'));
    await rejectsWith(readCheckpoint(path.join(dir, '__0_0.distcp')), 'not-found', /data file of a PyTorch Distributed Checkpoint, and its folder has no \.metadata/);
  });
});

const META_MODULE = 'torch.distributed.checkpoint.metadata';
const le4 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const longPut = (n: number): Op => Uint8Array.from([0x72, ...le4(n)]);
const longGet = (n: number): Op => Uint8Array.from([0x6a, ...le4(n)]);

/**
 * A Metadata whose `entries` keys (k0, k1...) all share one memoized TensorStorageMetadata: a
 * float32 tensor of size [chunks] in `chunks` chunks of one element. With `path`, planner_data
 * gives every key the same memoized path of `path.parts` strings of `path.length` characters.
 */
function sharedMetadata(entries: number, chunks: number, path?: { parts: number; length: number }, transforms?: string[]): Uint8Array {
  const p: Op[] = [op.Proto(2), op.Global(META_MODULE, 'Metadata'), op.EmptyTuple(), op.NewObj(), op.EmptyDict(), op.Mark()];
  p.push(op.ShortBinUnicode('state_dict_metadata'), op.EmptyDict(), op.Mark(), op.ShortBinUnicode('k0'));
  p.push(op.Global(META_MODULE, 'TensorStorageMetadata'), op.EmptyTuple(), op.NewObj(), op.EmptyDict(), op.Mark());
  p.push(op.ShortBinUnicode('properties'), op.Global(META_MODULE, 'TensorProperties'), op.EmptyTuple(), op.NewObj(), op.Global('torch', 'float32'), op.NoneOpcode(), op.NewFalse(), op.TupleThree(), op.Build());
  p.push(op.ShortBinUnicode('size'), op.BinInt(chunks), op.TupleOne());
  p.push(op.ShortBinUnicode('chunks'), op.EmptyList(), op.Mark());
  p.push(op.Global(META_MODULE, 'ChunkStorageMetadata'), longPut(2), op.ShortBinUnicode('offsets'), longPut(3), op.ShortBinUnicode('sizes'), longPut(4), op.BinInt1(1), op.TupleOne(), longPut(5), op.Pop(), op.Pop(), op.Pop(), op.Pop());
  for (let i = 0; i < chunks; i++) {
    p.push(longGet(2), op.EmptyTuple(), op.NewObj(), op.EmptyDict(), op.Mark(), longGet(3), op.BinInt(i), op.TupleOne(), longGet(4), longGet(5), op.SetItems(), op.Build());
  }
  p.push(op.Appends(), op.SetItems(), op.Build(), longPut(1));
  for (let i = 1; i < entries; i++) p.push(op.ShortBinUnicode(`k${i}`), longGet(1));
  p.push(op.SetItems());
  if (path) {
    p.push(op.ShortBinUnicode('planner_data'), op.EmptyDict(), op.Mark(), op.ShortBinUnicode('k0'), op.Mark());
    for (let j = 0; j < path.parts; j++) p.push(op.BinUnicode('x'.repeat(path.length)));
    p.push(op.Tuple(), longPut(6));
    for (let i = 1; i < entries; i++) p.push(op.ShortBinUnicode(`k${i}`), longGet(6));
    p.push(op.SetItems());
  }
  if (transforms) {
    // storage_data: each key's one chunk, 4 bytes of __0_0.distcp, through `transforms`.
    p.push(op.ShortBinUnicode('storage_data'), op.EmptyDict(), op.Mark());
    for (let i = 0; i < entries; i++) {
      p.push(op.Global(META_MODULE, 'MetadataIndex'), op.EmptyTuple(), op.NewObj(), op.EmptyDict(), op.Mark());
      p.push(op.ShortBinUnicode('fqn'), op.ShortBinUnicode(`k${i}`), op.ShortBinUnicode('offset'), op.BinInt1(0), op.TupleOne(), op.ShortBinUnicode('index'), op.BinInt1(0), op.SetItems(), op.Build());
      p.push(op.Global('torch.distributed.checkpoint.filesystem', '_StorageInfo'), op.EmptyTuple(), op.NewObj(), op.EmptyDict(), op.Mark());
      p.push(op.ShortBinUnicode('relative_path'), op.ShortBinUnicode('__0_0.distcp'), op.ShortBinUnicode('offset'), op.BinInt(i * 4), op.ShortBinUnicode('length'), op.BinInt1(4));
      p.push(op.ShortBinUnicode('transform_descriptors'), op.EmptyList(), op.Mark(), ...transforms.map((t) => op.ShortBinUnicode(t)), op.Appends(), op.SetItems(), op.Build());
    }
    p.push(op.SetItems());
  }
  p.push(op.SetItems(), op.Build(), op.Stop());
  return ops(...p);
}

describe('DCP .metadata: hostile pickles are data, and fail typed and bounded', () => {
  const real = fs.readFileSync(dcp('titan', '.metadata'));

  it('a pickle that is not Metadata is refused; one that calls os.system is reported, never run', async () => {
    const META = 'torch.distributed.checkpoint.metadata';
    await rejectsWith(readMeta(dumps(call(g(META, 'BytesStorageMetadata')), 4)), 'unknown-format', /pickles torch\.distributed\.checkpoint\.metadata\.BytesStorageMetadata instance, not torch\.distributed\.checkpoint\.metadata\.Metadata/);
    const evil = dumps(tuple(g(META, 'Metadata'), call(g('os', 'system'), 'touch /tmp/weightscope-dcp-pwned')), 4);
    const e = await rejectsWith(readMeta(evil), 'unknown-format', /os\.system \(dangerous\)/);
    assert.ok(/nothing was executed/.test(e.message));
    assert.ok(!fs.existsSync('/tmp/weightscope-dcp-pwned'));
    // getattr stays dangerous unless it only looks up an enum member (capitals) on a class known as data.
    const method = dumps(tuple(g(META, 'Metadata'), call(call(g('builtins', 'getattr'), g('pathlib', 'Path'), 'write_text'), 'x')), 4);
    await rejectsWith(readMeta(method), 'unknown-format', /builtins\.getattr \(dangerous\)/);
  });

  it('cut anywhere: a typed error with the byte offset, fast', async () => {
    const rand = seededRandom(7);
    for (let i = 0; i < 40; i++) {
      const at = 1 + Math.floor(rand() * (real.length - 2));
      const started = Date.now();
      const e = await readsOrRefuses(readMeta(real.subarray(0, at)));
      assert.strictEqual(e, false, `cut at ${at} must not read`);
      assert.ok(Date.now() - started < 2000);
    }
    await rejectsWith(readMeta(real.subarray(0, 500)), 'truncated', /\.metadata: byte \d+/);
  });

  it('bytes flipped anywhere: a report or a typed error, never a crash or a hang', async () => {
    const rand = seededRandom(11);
    for (let i = 0; i < 150; i++) {
      const b = Uint8Array.from(real);
      flipBytes(b, rand);
      const started = Date.now();
      await readsOrRefuses(readMeta(b));
      assert.ok(Date.now() - started < 3000);
    }
  });

  it('one chunk list of 2048 chunks memoized for a thousand keys: refused as a limit naming the key, at once (25 s and every chunk re-walked per key before)', async () => {
    const b = sharedMetadata(1000, 2048);
    assert.ok(b.length < 80_000);
    const started = Date.now();
    const e = await rejectsWith(readMeta(b), 'limit', /chunk lists hold more than 100000 chunks in all, more than a \.metadata of .* can describe/);
    assert.strictEqual(e.record, 'state_dict_metadata["k48"].chunks', 'the 49th key of 2048 chunks passes 100,000');
    assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
  });

  it('chunks compared pairwise for overlap up to a budget the file size sets, then a warning (every tensor compared each time before)', async () => {
    // 40 keys x 2048 chunks: 84 million pairs, where the 59 KiB file allows 4 million.
    const raw = await readMeta(sharedMetadata(40, 2048));
    assert.strictEqual(raw.tensors.length, 40);
    assert.ok(raw.tensors.every((t) => t.shape[0] === 2048 && t.extra?.chunks === 2048));
    const w = raw.warnings.find((x) => x.code === 'dcp-chunks');
    assert.ok(w && /whether chunks overlap was not checked for 38 tensors/.test(w.message), JSON.stringify(raw.warnings));
  });

  it('storage entries whose bytes pass through transforms (a compressed checkpoint): one warning for all of them, not one each', async () => {
    const raw = await readMeta(sharedMetadata(3000, 1, undefined, ['zstd', 'checksum']), 'single');
    assert.strictEqual(raw.tensors.length, 3000);
    const ws = raw.warnings.filter((x) => x.code === 'dcp-transforms');
    assert.strictEqual(ws.length, 1, JSON.stringify(raw.warnings.map((w) => w.code)));
    assert.match(ws[0].message, /^3000 storage entries pass through storage transforms \(the first: str "zstd", str "checksum"\); not read here either way: storage_data\[MetadataIndex\("k0"\)\], storage_data\[MetadataIndex\("k1"\)\], .*, and \d+ more$/);
    const one = await readMeta(sharedMetadata(1, 1, undefined, ['zstd']), 'single');
    assert.match(one.warnings.find((x) => x.code === 'dcp-transforms')!.message, /^1 storage entry passes through storage transforms/);
  });

  it('one planner_data path of 64 x 16 KiB strings memoized for 4000 keys: matched without joining it per key (22 s before)', async () => {
    const b = sharedMetadata(4000, 1, { parts: 64, length: 16384 });
    const started = Date.now();
    const raw = await readMeta(b);
    assert.ok(Date.now() - started < 3000, `${Date.now() - started} ms`);
    // The path does not spell the keys: each is placed under its own name.
    assert.strictEqual(raw.tensors.length, 4000);
    assert.deepStrictEqual(raw.tensors.slice(0, 3).map((t) => t.name), ['k0', 'k1', 'k2']);
    assert.ok(!raw.warnings.some((w) => w.code === 'dcp-chunks' || w.code === 'dcp-unknown-entry'), JSON.stringify(raw.warnings));
  });

  it('a Metadata whose fields are of the wrong kind is a typed error naming the field', async () => {
    // A Metadata whose state_dict_metadata is a list: typed, naming the field.
    const m = ops(op.Proto(2), op.Global('torch.distributed.checkpoint.metadata', 'Metadata'), op.EmptyTuple(), op.NewObj(), op.EmptyDict(), op.ShortBinUnicode('state_dict_metadata'), op.EmptyList(), op.SetItem(), op.Build(), op.Stop());
    await rejectsWith(readMeta(m), 'bad-dcp', /state_dict_metadata is list/);
  });
});
