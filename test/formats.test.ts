import * as assert from 'assert';
import * as fs from 'fs';
import {
  CERTAIN,
  EDITOR_PATTERNS,
  EXTENSIONS,
  FOLDER_KINDS,
  FORMATS,
  FormatModule,
  formatLabel,
  isDefaultEditorFile,
  isWeightFileName,
  moduleOf,
  OPEN_DIALOG_EXTENSIONS,
  pickFormat,
  pickInFolder,
  recognise,
  SNIFF_BYTES,
  unknownFormatError,
  validateRegistry,
} from '../src/core/formats';
import { openCheckpoint } from '../src/core';
import { fixture } from './helpers';

const SAMPLES: Record<string, string[]> = {
  safetensors: [fixture('safetensors', 'gpt2-tied', 'model.safetensors'), fixture('safetensors', 'llama-bf16', 'model.safetensors')],
  pytorch: [fixture('pytorch', 'gpt2-tied.pt'), fixture('pytorch', 'gpt2-legacy.pt'), fixture('pytorch-extra', 'legacy-p4.pt'), fixture('pytorch-extra', 'legacy-p5.pt')],
  gguf: [fixture('gguf', 'tiny-llama.gguf'), fixture('gguf', 'split', 'tiny-llama-split-00002-of-00002.gguf')],
  onnx: [fixture('onnx', 'tiny-gpt2.onnx'), fixture('onnx', 'small-cnn.onnx')],
};

function head(file: string, n = SNIFF_BYTES): { head: Buffer; size: number } {
  const b = fs.readFileSync(file);
  return { head: b.subarray(0, n), size: b.length };
}

/** A module with every piece, for the completeness checks to take apart. */
function toyModule(): FormatModule {
  return {
    id: 'toy',
    name: 'Toy',
    variants: { toy: 'Toy' },
    extensions: ['.toy'],
    editor: { default: ['*.toy'], option: [] },
    sniffBytes: 4,
    match: (h) => (h[0] === 0x54 ? { confidence: CERTAIN } : null),
    read: async () => {
      throw new Error('not read in this test');
    },
  };
}

describe('format registry', () => {
  // Written so that registering another format changes none of these tests.
  const OURS = ['safetensors', 'pytorch', 'gguf', 'onnx'];

  it('registers safetensors, PyTorch, GGUF and ONNX (in folder-preference order), complete', () => {
    assert.deepStrictEqual(FORMATS.map((m) => m.id).filter((id) => OURS.includes(id)), OURS);
    assert.strictEqual(validateRegistry(FORMATS), FORMATS);
  });

  it('names what an incomplete module lacks', () => {
    const broken = (edit: (m: Record<string, unknown>) => void): FormatModule => {
      const m = toyModule() as unknown as Record<string, unknown>;
      edit(m);
      return m as unknown as FormatModule;
    };
    const cases: [string, FormatModule, RegExp][] = [
      ['no id', broken((m) => delete m.id), /format module #1: missing id/],
      ['no name', broken((m) => delete m.name), /"toy": missing name/],
      ['no variants', broken((m) => (m.variants = {})), /"toy": missing variants/],
      ['a variant without label', broken((m) => (m.variants = { toy: '' })), /"toy": variant "toy" has no label/],
      ['no extensions', broken((m) => delete m.extensions), /"toy": missing extensions/],
      ['an upper-case extension', broken((m) => (m.extensions = ['.TOY'])), /extension "\.TOY" is not lower case/],
      ['no editor patterns', broken((m) => delete m.editor), /"toy": missing editor patterns/],
      ['an extension without an editor pattern', broken((m) => (m.extensions = ['.toy', '.tyo'])), /extension "\.tyo" has no editor pattern "\*\.tyo"/],
      ['no sniffBytes', broken((m) => delete m.sniffBytes), /"toy": missing sniffBytes/],
      ['no match', broken((m) => delete m.match), /"toy": missing match\(/],
      ['no read', broken((m) => delete m.read), /"toy": missing read\(/],
      ['a shard format it does not produce', broken((m) => (m.shards = { format: 'toy-sharded' })), /shards\.format "toy-sharded" is not one of its variants/],
    ];
    assert.doesNotThrow(() => validateRegistry([toyModule()]));
    for (const [what, module, message] of cases) {
      assert.throws(() => validateRegistry([module]), message, what);
    }
    // Two modules may not claim one id or one format value.
    assert.throws(() => validateRegistry([toyModule(), toyModule()]), /"toy": id already registered/);
    const twin = { ...toyModule(), id: 'twin' };
    assert.throws(() => validateRegistry([toyModule(), twin]), /"twin": variant "toy" is also produced by "toy"/);
    // Every problem is listed, not just the first.
    assert.throws(() => validateRegistry([broken((m) => { delete m.read; delete m.match; })]), (e: Error) => /missing match/.test(e.message) && /missing read/.test(e.message));
  });

  it('picks each fixture by content from its first SNIFF_BYTES, whatever its name', () => {
    for (const [id, files] of Object.entries(SAMPLES)) {
      for (const f of files) {
        const h = head(f);
        assert.strictEqual(pickFormat(h.head, h.size, 'renamed.bin')?.module.id, id, f);
        const module = FORMATS.find((m) => m.id === id)!;
        // Each module needs no more than it declares.
        assert.ok(module.match(h.head.subarray(0, module.sniffBytes), h.size, f), `${f}: ${module.sniffBytes} bytes`);
      }
    }
  });

  it('falls back to the name, else says what it reads', () => {
    const junk = Buffer.from('hello world, not a checkpoint at all; nothing here');
    assert.deepStrictEqual(pickFormat(junk, junk.length, 'x.onnx'), { module: FORMATS.find((m) => m.id === 'onnx'), match: null });
    assert.strictEqual(pickFormat(junk, junk.length, '/a/B.PTH')?.module.id, 'pytorch');
    assert.strictEqual(pickFormat(junk, junk.length, 'x.dat'), undefined);
    const e = unknownFormatError('x.dat', junk);
    assert.strictEqual(e.code, 'unknown-format');
    assert.match(e.message, /^x\.dat: byte 0: not a checkpoint this tool reads \(safetensors, PyTorch Distributed Checkpoint \(\.metadata\), PyTorch zip or legacy pickle, GGUF, ONNX[,)].*; first bytes 68 65 6c 6c 6f 20 77 6f$/);
    for (const m of FORMATS) assert.ok(e.message.includes(m.name), m.name);
  });

  it('says a JSON object (config.json opened instead of the weights) is JSON, and what to open instead', () => {
    for (const text of ['{"model_type": "llama"}', ' \n\t{\n  "architectures": []}', '{}']) {
      const e = unknownFormatError('config.json', Buffer.from(text));
      assert.strictEqual(e.code, 'unknown-format');
      assert.match(e.message, /^config\.json: byte 0: a JSON document, not a checkpoint this tool reads \(safetensors, .*, ONNX[^)]*\); to see the model it may describe, open the folder holding its weights or their shard index \(\*\.index\.json\); first bytes [0-9a-f ]+$/, text);
    }
    // Not JSON objects: the general message.
    for (const text of ['{x', '[1, 2]', 'hello', '']) {
      assert.match(unknownFormatError('x.json', Buffer.from(text)).message, /^x\.json: byte 0: not a checkpoint this tool reads \(/, text);
    }
  });

  it('recognises a *.bin by its signature only: safetensors, torch zips and legacy pickles, GGUF', () => {
    const st = head(fixture('safetensors', 'gpt2-tied', 'model.safetensors'));
    assert.strictEqual(recognise(st.head, st.size)?.match.variant, 'safetensors');
    const zip = Buffer.alloc(64);
    zip.write('PK\u0003\u0004', 0, 'latin1');
    const name = 'archive/data.pkl';
    zip.writeUInt16LE(name.length, 26);
    zip.write(name, 30, 'latin1');
    assert.strictEqual(recognise(zip, 1000)?.match.variant, 'pytorch-zip');
    // Any other zip may still be read as PyTorch when named so, but is not offered.
    const otherZip = Buffer.from(zip);
    otherZip.write('word/document.xml', 30, 'latin1');
    otherZip.writeUInt16LE('word/document.xml'.length, 26);
    assert.strictEqual(recognise(otherZip, 1000), undefined);
    assert.strictEqual(pickFormat(otherZip, 1000, 'x.docx')?.module.id, 'pytorch');
    const legacy = head(fixture('pytorch', 'gpt2-legacy.pt'));
    assert.strictEqual(recognise(legacy.head, legacy.size)?.match.variant, 'pytorch-legacy');
    assert.strictEqual(recognise(Buffer.from('GGUF\u0003\u0000\u0000\u0000', 'latin1'), 100)?.module.id, 'gguf');
    // ONNX has no magic number: read when picked, never offered from bytes alone.
    const onnx = head(fixture('onnx', 'tiny-gpt2.onnx'));
    assert.strictEqual(recognise(onnx.head, onnx.size), undefined);
    assert.strictEqual(recognise(Buffer.from('hello world, not a checkpoint'), 29), undefined);
    assert.strictEqual(recognise(Buffer.alloc(0), 0), undefined);
    const huge = Buffer.alloc(16);
    huge.writeBigUInt64LE(1000n, 0);
    huge.write('{', 8);
    assert.strictEqual(recognise(huge, 100), undefined, 'a header longer than the file is not safetensors');
    // The readers' limit, not a rounder one: 100,000,000 bytes of header at most, "{" right after the length.
    const big = Buffer.alloc(16);
    big.writeBigUInt64LE(100_000_001n, 0);
    big.write('{', 8);
    assert.strictEqual(recognise(big, 2e8), undefined);
    big.writeBigUInt64LE(100_000_000n, 0);
    assert.strictEqual(recognise(big, 2e8)?.module.id, 'safetensors');
    const spaced = Buffer.from(big);
    spaced.write(' {', 8);
    assert.strictEqual(recognise(spaced, 2e8), undefined, 'the reader wants "{" at byte 8');
  });

  it('labels every format value the readers produce', async () => {
    assert.strictEqual(formatLabel('safetensors'), 'safetensors');
    assert.strictEqual(formatLabel('safetensors-sharded'), 'safetensors (sharded)');
    assert.strictEqual(formatLabel('pytorch-zip'), 'PyTorch (zip)');
    assert.strictEqual(formatLabel('pytorch-legacy'), 'PyTorch (legacy pickle)');
    assert.strictEqual(formatLabel('gguf'), 'GGUF');
    assert.strictEqual(formatLabel('onnx'), 'ONNX');
    assert.strictEqual(formatLabel('something-else'), 'something-else');
    const opened = [fixture('safetensors', 'gpt2-sharded'), fixture('pytorch', 'gpt2-legacy.pt'), fixture('gguf', 'split', 'tiny-llama-split-00001-of-00002.gguf'), fixture('onnx', 'external', 'tiny-gpt2-ext.onnx')];
    for (const p of opened) {
      const cp = await openCheckpoint(p);
      assert.ok(moduleOf(cp.format), `${p}: ${cp.format} is registered`);
    }
  });

  it('derives extensions, editor patterns and the open dialog filter from the modules', () => {
    for (const e of ['.safetensors', '.bin', '.pt', '.pth', '.ckpt', '.pkl', '.pickle', '.tar', '.gguf', '.onnx']) assert.ok(EXTENSIONS.includes(e), e);
    for (const m of FORMATS) for (const e of m.extensions) assert.ok(EXTENSIONS.includes(e), e);
    for (const e of EXTENSIONS) assert.ok(EDITOR_PATTERNS.default.includes(`*${e}`) || EDITOR_PATTERNS.option.includes(`*${e}`), e);
    assert.ok(isDefaultEditorFile('/m/model.safetensors'));
    assert.ok(isDefaultEditorFile('C:\\m\\MODEL.GGUF'));
    assert.ok(isDefaultEditorFile('pytorch_model.bin.index.json'));
    assert.ok(!isDefaultEditorFile('pytorch_model.bin'));
    assert.ok(!isDefaultEditorFile('weights.safetensors.bak'));
    for (const e of ['bin', 'ckpt', 'gguf', 'json', 'model', 'onnx', 'pickle', 'pkl', 'pt', 'pth', 'safetensors', 'tar', 'weights']) assert.ok(OPEN_DIALOG_EXTENSIONS.includes(e), e);
    for (const e of EXTENSIONS) assert.ok(OPEN_DIALOG_EXTENSIONS.includes(e.slice(e.lastIndexOf('.') + 1)), e);
  });

  it('picks what to open in a folder as a user would expect', () => {
    const pick = (names: string[]) => {
      const p = pickInFolder(names.sort());
      if (!p) return undefined;
      return { module: p.module.id, ...('file' in p ? { file: p.file } : 'shards' in p ? { shards: p.shards } : { several: p.several }) };
    };
    assert.deepStrictEqual(pick(['config.json', 'model.safetensors', 'pytorch_model.bin', 'model.safetensors.index.json']), { module: 'safetensors', file: 'model.safetensors.index.json' });
    assert.deepStrictEqual(pick(['config.json', 'pytorch_model.bin', 'model.onnx']), { module: 'pytorch', file: 'pytorch_model.bin' });
    assert.deepStrictEqual(pick(['m-00002-of-00002.safetensors', 'm-00001-of-00002.safetensors']), { module: 'safetensors', shards: ['m-00001-of-00002.safetensors', 'm-00002-of-00002.safetensors'] });
    assert.deepStrictEqual(pick(['unet.safetensors', 'unet.fp16.safetensors']), { module: 'safetensors', file: 'unet.safetensors' });
    assert.deepStrictEqual(pick(['a.safetensors', 'b.safetensors']), { module: 'safetensors', several: ['a.safetensors', 'b.safetensors'] });
    assert.deepStrictEqual(pick(['x-00002-of-00002.gguf', 'x-00001-of-00002.gguf']), { module: 'gguf', file: 'x-00001-of-00002.gguf' });
    assert.deepStrictEqual(pick(['a.pt', 'b.ckpt']), { module: 'pytorch', several: ['a.pt', 'b.ckpt'] });
    assert.deepStrictEqual(pick(['README.md', 'model.onnx']), { module: 'onnx', file: 'model.onnx' });
    assert.strictEqual(pick(['README.md', 'tokenizer.json', 'weights.pkl']), undefined);
    assert.ok(isWeightFileName('diffusion_pytorch_model.SAFETENSORS'));
    assert.ok(isWeightFileName('model.bin.index.json'));
    assert.ok(!isWeightFileName('tokenizer.json'));
    assert.ok(FOLDER_KINDS.startsWith('.safetensors, .bin/.pt/.pth/.ckpt/.nemo, .gguf, .onnx'), FOLDER_KINDS);
  });
});
