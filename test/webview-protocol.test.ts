import * as assert from 'assert';
import { TensorCache } from '../webview/src/data/tensorCache';
import { EXPORT_FORMATS, EXPORTS } from '../src/core/export';
import { domPath, hostApiValidators, TensorPage, TensorQuery, WireTensor } from '../src/shared/protocol';
import { isRpcMessage } from '../src/shared/rpc';
import { EXPORT_CHOICES } from '../src/extension/naming';

function tensor(name: string): WireTensor {
  return { name, dtype: 'float32', shape: [1], numel: 1, nbytes: 4, role: 'parameter', roleReason: '', present: true, storage: name, storageOffset: 0, strides: null, file: 'f', dataOffset: 0, group: -1 };
}

describe('webview protocol', () => {
  it('checks what the webview sends before the host acts on it', () => {
    const v = hostApiValidators(EXPORT_FORMATS);
    assert.ok(v.ready!({ protocol: 1 }));
    assert.ok(!v.ready!({}));
    assert.ok(v.export!({ format: 'png' }));
    assert.ok(!v.export!({ format: 'exe' }));
    assert.ok(!v.export!(null));
    assert.ok(v.selected!({ path: null }) && v.selected!({ path: 'a.b' }));
    assert.ok(!v.selected!({ path: 3 }));
    assert.ok(v.tensors!({ generation: 1, query: { kind: 'module', path: '', subtree: true, offset: 0, limit: 10 } }));
    assert.ok(!v.tensors!({ generation: 1, query: { kind: 'module', path: '' } }), 'a page query needs its offset and limit');
    assert.ok(!v.tensors!({ generation: 1, query: { kind: 'names', names: [1] } }));
    assert.ok(!v.tensors!({ query: { kind: 'names', names: [] } }), 'a tensors call names its generation');
    assert.ok(!isRpcMessage({ rpc: 'call', method: 'tensors' }), 'a call needs an id');
    assert.ok(!isRpcMessage(null));
    assert.ok(!isRpcMessage('model'));
    assert.strictEqual(domPath(''), '(root)');
    assert.strictEqual(domPath('lm_head'), 'lm_head');
  });

  it('the webview offers the exports of the registry, nothing else', () => {
    assert.deepStrictEqual(
      EXPORT_CHOICES.map((e) => e.id),
      EXPORTS.map((e) => e.id),
    );
    for (const c of EXPORT_CHOICES) assert.match(c.menuLabel, /…$/, `${c.id}: a menu item that opens a dialog ends with …`);
  });

  it('checks node, search and group requests: bounded, well-formed', () => {
    const v = hostApiValidators(EXPORT_FORMATS);
    assert.ok(v.nodes!({ generation: 1, query: { kind: 'children', id: 3, from: 0, to: 100, folded: true } }));
    assert.ok(!v.nodes!({ generation: 1, query: { kind: 'children', id: -1, from: 0, to: 100, folded: true } }), 'ids are not negative');
    assert.ok(!v.nodes!({ generation: 1, query: { kind: 'children', id: 1.5, from: 0, to: 1, folded: true } }), 'ids are integers');
    assert.ok(v.nodes!({ generation: 1, query: { kind: 'range', from: 0, count: 2000 } }));
    assert.ok(v.nodes!({ generation: 1, query: { kind: 'locate', paths: ['a.b'], tensors: ['a.b.weight'] } }));
    assert.ok(!v.nodes!({ generation: 1, query: { kind: 'locate', paths: Array(20000).fill('a') } }), 'too many at once');
    assert.ok(!v.nodes!({ generation: 1, query: { kind: 'locate', ids: ['1'] } }));
    assert.ok(v.nodes!({ generation: 1, query: { kind: 'view', expandDepth: 2 } }));
    assert.ok(!v.nodes!({ generation: 1, query: { kind: 'everything' } }));
    assert.ok(v.search!({ generation: 1, query: { text: 'mlp', regex: false, limit: 100 } }));
    assert.ok(!v.search!({ generation: 1, query: { text: 'x'.repeat(20000), regex: true, limit: 100 } }));
    assert.ok(v.groups!({ generation: 1, ids: [0, 4] }));
    assert.ok(!v.groups!({ generation: 1, ids: [-2] }));
  });
});

describe('webview tensor cache', () => {
  it('fetches each page once, serves rows and names from it, forgets on reset', async () => {
    const names = Array.from({ length: 25 }, (_, i) => `m.t${i}`);
    const asked: TensorQuery[] = [];
    const cache = new TensorCache(async (q): Promise<TensorPage> => {
      asked.push(q);
      if (q.kind === 'names') return { total: q.names.length, offset: 0, items: q.names.map(tensor) };
      if (q.kind === 'find' || q.kind === 'heads') throw new Error('not asked here');
      return { total: names.length, offset: q.offset, items: names.slice(q.offset, q.offset + q.limit).map(tensor) };
    }, 10);
    assert.strictEqual(cache.at('m', true, 0), undefined);
    await Promise.all([cache.ensureRange('m', true, 0, 5), cache.ensureRange('m', true, 0, 5)]);
    assert.strictEqual(asked.length, 1, 'concurrent requests for one page share it');
    assert.strictEqual(cache.total('m', true), 25);
    await cache.ensureRange('m', true, 8, 15);
    assert.strictEqual(asked.length, 2, 'page 0 was here; page 1 is fetched');
    assert.strictEqual(cache.at('m', true, 14)?.name, 'm.t14');
    assert.strictEqual(cache.at('m', true, 21), undefined);
    assert.strictEqual(cache.head('m', true, 12)?.length, 12);
    assert.strictEqual(cache.head('m', true, 25), undefined, 'the last page is not here yet');
    await cache.ensureRange('m', true, 20, 40);
    assert.strictEqual(cache.head('m', true, 25)?.length, 25);
    assert.strictEqual(cache.get('m.t3')?.name, 'm.t3');
    await cache.ensureNames(['m.t3', 'other']);
    assert.deepStrictEqual(asked[asked.length - 1], { kind: 'names', names: ['other'] });
    cache.reset();
    assert.strictEqual(cache.at('m', true, 0), undefined);
    assert.strictEqual(cache.get('other'), undefined);
  });

  it('drops pages that arrive after a reset', async () => {
    let release!: () => void;
    const cache = new TensorCache(
      (q) =>
        new Promise<TensorPage>((resolve) => {
          release = () => resolve({ total: 1, offset: 0, items: [tensor(q.kind === 'module' ? 'old' : 'x')] });
        }),
      10,
    );
    const p = cache.ensureRange('m', false, 0, 1);
    cache.reset();
    release();
    await p;
    assert.strictEqual(cache.get('old'), undefined);
  });
});
