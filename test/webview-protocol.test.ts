import * as assert from 'assert';
import { TensorCache } from '../webview/src/data/tensorCache';
import { EXPORT_FORMATS, EXPORTS } from '../src/core/export';
import { domPath, hostApiValidators, resolveModule, TensorPage, TensorQuery, WireTensor } from '../src/shared/protocol';
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

  it('resolves string-table references', () => {
    const m = resolveModule({ parent: -1, name: '', type: 1, params: [1, 1], bytes: 4, tensorCount: 1, own: 1, shapes: 0 }, ['weight [1]', 'Linear']);
    assert.strictEqual(m.type, 'Linear');
    assert.strictEqual(m.shapes, 'weight [1]');
    assert.ok(!('repr' in m));
  });
});

describe('webview tensor cache', () => {
  it('fetches each page once, serves rows and names from it, forgets on reset', async () => {
    const names = Array.from({ length: 25 }, (_, i) => `m.t${i}`);
    const asked: TensorQuery[] = [];
    const cache = new TensorCache(async (q): Promise<TensorPage> => {
      asked.push(q);
      if (q.kind === 'names') return { total: q.names.length, offset: 0, items: q.names.map(tensor) };
      if (q.kind === 'find') throw new Error('the cache does not search');
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
