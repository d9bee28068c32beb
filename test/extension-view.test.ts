import * as assert from 'assert';
import { openCheckpoint } from '../src/core/index';
import { buildPayload, displayName, shapeSummary, truncateJson } from '../src/worker/payload';
import { TensorIndex } from '../src/worker/tensorIndex';
import { fixture } from './helpers';

const TIED = fixture('safetensors', 'gpt2-tied', 'model.safetensors');

describe('extension: webview payload', () => {
  it('flattens the module tree in pre-order with a string table', async () => {
    const cp = await openCheckpoint(TIED);
    const p = buildPayload(cp);
    assert.strictEqual(p.modules[0].parent, -1);
    assert.strictEqual(p.modules[0].name, '');
    for (let i = 1; i < p.modules.length; i++) assert.ok(p.modules[i].parent < i, 'parents come first');
    assert.deepStrictEqual(p.modules[0].params, [cp.parameters.unique, cp.parameters.total]);
    const names = p.modules.filter((m) => m.parent === 0).map((m) => m.name);
    assert.deepStrictEqual(names, cp.modules.children.map((c) => c.name));
    const lm = p.modules.find((m) => m.name === 'lm_head')!;
    assert.strictEqual(p.strings[lm.type], 'Linear');
    assert.deepStrictEqual(lm.shared, [{ tensor: 'lm_head.weight', others: ['transformer.wte.weight'], relation: cp.shared[0].relation }]);
    assert.strictEqual(new Set(p.strings).size, p.strings.length, 'strings are interned once');
    assert.strictEqual(p.summary.fileName, 'model.safetensors');
    assert.strictEqual(p.summary.parameters.unique, cp.parameters.unique);
    assert.strictEqual(p.groups.length, 1);
    assert.deepStrictEqual([...p.groups[0].tensors].sort(), ['lm_head.weight', 'transformer.wte.weight']);
    assert.ok(p.summary.config, 'config.json travels with the summary');
    // Nothing in it is tensor data, and it is plain JSON.
    assert.deepStrictEqual(JSON.parse(JSON.stringify(p)), p);
  });

  it('pages tensors by module (own or subtree) and by name', async () => {
    const cp = await openCheckpoint(TIED);
    const idx = new TensorIndex(cp);
    const own = idx.query({ kind: 'module', path: 'transformer.wte', subtree: false, offset: 0, limit: 10 });
    assert.strictEqual(own.total, 1);
    assert.strictEqual(own.items[0].name, 'transformer.wte.weight');
    assert.ok(own.items[0].group >= 0);
    const all = idx.query({ kind: 'module', path: '', subtree: true, offset: 0, limit: 5000 });
    assert.strictEqual(all.total, cp.tensors.length);
    assert.strictEqual(new Set(all.items.map((t) => t.name)).size, cp.tensors.length);
    const page = idx.query({ kind: 'module', path: '', subtree: true, offset: 10, limit: 5 });
    assert.deepStrictEqual(page.items.map((t) => t.name), all.items.slice(10, 15).map((t) => t.name));
    const lm = idx.query({ kind: 'names', names: ['lm_head.weight', 'nope'] });
    assert.strictEqual(lm.items.length, 1);
    assert.strictEqual(lm.items[0].present, false, 'the declared tie is not stored');
    assert.throws(() => idx.query({ kind: 'module', path: 'no.such', subtree: false, offset: 0, limit: 1 }), /no module/);
  });

  it('shortens long metadata for display and says so', () => {
    const long = 'x'.repeat(1000);
    const { value, truncated } = truncateJson({ a: long, b: Array.from({ length: 100 }, (_, i) => i), c: { d: 1 }, e: BigInt(5) });
    const v = value as Record<string, unknown>;
    assert.ok(truncated);
    assert.match(v.a as string, /… \(1,000 characters\)$/);
    assert.strictEqual((v.b as unknown[]).length, 25);
    assert.deepStrictEqual(v.c, { d: 1 });
    assert.strictEqual(v.e, '5');
    assert.strictEqual(truncateJson({ a: 1 }).truncated, false);
    const proto = truncateJson(JSON.parse('{"__proto__": {"x": 1}}')).value as Record<string, unknown>;
    assert.ok(Object.prototype.hasOwnProperty.call(proto, '__proto__'));
    assert.strictEqual(({} as Record<string, unknown>).x, undefined);
  });

  it('summarises shapes and names the checkpoint', () => {
    const t = (name: string, shape: number[]) => ({ name, shape }) as never;
    assert.strictEqual(shapeSummary('a.b', [t('a.b.weight', [768, 2304]), t('a.b.bias', [2304])]), 'weight [768, 2304] · bias [2304]');
    assert.strictEqual(shapeSummary('', [t('w', [1]), t('x', [2]), t('y', [3]), t('z', [4])]), 'w [1] · x [2] · y [3] · +1');
    assert.strictEqual(shapeSummary('m', []), undefined);
    assert.strictEqual(displayName({ path: '/a/b/model.safetensors' }), 'model.safetensors');
  });
});
