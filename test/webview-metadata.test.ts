import * as assert from 'assert';
import { openCheckpoint } from '../src/core/index';
import { buildSummary } from '../src/worker/payload';
import { metadataKeyCount, splitKvTypes } from '../webview/src/data/metadata';
import { fixture } from './helpers';

describe('webview metadata', () => {
  it('counts GGUF keys as the header does (Metadata (30))', async () => {
    const cp = await openCheckpoint(fixture('gguf', 'tiny-llama.gguf'));
    const s = buildSummary(cp);
    const gguf = s.metadata.gguf as { kvCount: number; kv: Record<string, unknown> };
    assert.strictEqual(metadataKeyCount(s), gguf.kvCount);
    assert.strictEqual(metadataKeyCount(s), 30);
  });

  it("counts config.json keys and each block's keys elsewhere", async () => {
    const cp = await openCheckpoint(fixture('safetensors', 'gpt2-tied', 'model.safetensors'));
    const s = buildSummary(cp);
    assert.strictEqual(metadataKeyCount(s), Object.keys(s.config ?? {}).length + 1, 'config.json keys + __metadata__.format');
    assert.strictEqual(metadataKeyCount({ metadata: {} }), 0);
    assert.strictEqual(metadataKeyCount({ metadata: { a: 1, b: { c: 1, d: 2 } } }), 3);
  });

  it("shows GGUF's kvTypes beside the values, not as a section", () => {
    const { rest, types } = splitKvTypes({ version: 3, kv: { 'general.name': 'x' }, kvTypes: { 'general.name': 'string' } });
    assert.deepStrictEqual(Object.keys(rest), ['version', 'kv']);
    assert.deepStrictEqual(types, { 'general.name': 'string' });
    const plain = { a: 1, kvTypes: { x: 'y' } };
    assert.strictEqual(splitKvTypes(plain).rest, plain, 'without kv, kvTypes is an ordinary key');
    assert.strictEqual(splitKvTypes(plain).types, undefined);
  });
});
