import * as assert from 'assert';
import { openCheckpoint } from '../src/core/index';
import { buildSummary, displayName, shapeSummary, truncateJson } from '../src/worker/payload';
import { TensorIndex } from '../src/worker/tensorIndex';
import { TreeIndex } from '../src/worker/treeIndex';
import { fixture } from './helpers';

const TIED = fixture('safetensors', 'gpt2-tied', 'model.safetensors');

describe('worker: the module tree served on demand', () => {
  it('the head: summary, module count, the first view (ancestor-closed, parents first), the largest groups', async () => {
    const cp = await openCheckpoint(TIED);
    const index = new TreeIndex(cp);
    const head = index.head(buildSummary(cp), 2);
    assert.strictEqual(head.moduleCount, index.size);
    const nodes = head.view.nodes;
    assert.strictEqual(nodes[0].id, 0);
    assert.strictEqual(nodes[0].parent, -1);
    const ids = new Set<number>();
    for (const n of nodes) {
      assert.ok(n.parent < 0 || ids.has(n.parent), `${n.name}: its parent comes first`);
      ids.add(n.id);
    }
    assert.deepStrictEqual(nodes[0].params, [cp.parameters.unique, cp.parameters.total]);
    const names = nodes.filter((m) => m.parent === 0).map((m) => m.name);
    assert.deepStrictEqual(names, cp.modules.children.map((c) => c.name));
    const lm = nodes.find((m) => m.name === 'lm_head')!;
    const wte = nodes.find((m) => m.name === 'wte')!;
    assert.strictEqual(lm.type, 'Linear');
    assert.deepStrictEqual(lm.shared, [{ tensor: 'lm_head.weight', others: ['transformer.wte.weight'], owners: [wte.id], relation: cp.shared[0].relation, group: 0 }]);
    // lm_head's parameters are all on wte's storage; transformer shares wte's; the root nothing.
    assert.strictEqual(lm.sharedParams, lm.params[0]);
    assert.strictEqual(nodes.find((m) => m.name === 'transformer')!.sharedParams, wte.params[0]);
    assert.strictEqual(nodes[0].sharedParams, undefined);
    assert.strictEqual(head.summary.fileName, 'model.safetensors');
    assert.strictEqual(head.groupCount, 1);
    assert.strictEqual(head.savingGroups, 1);
    assert.deepStrictEqual([...head.topGroups[0].group.tensors].sort(), ['lm_head.weight', 'transformer.wte.weight']);
    assert.ok(head.summary.config, 'config.json travels with the summary');
    // Nothing in it is tensor data, and it is plain JSON.
    assert.deepStrictEqual(JSON.parse(JSON.stringify(head)), head);
  });

  it('answers children (a run by its first block), ranges, located nodes, searches and groups', async () => {
    const cp = await openCheckpoint(TIED);
    const index = new TreeIndex(cp);
    const h = index.byPath.get('transformer.h')!;
    const blocks = cp.modules.children[0].children.find((c) => c.name === 'h')!.children.length;
    const folded = index.nodes({ kind: 'children', id: h, from: 0, to: blocks, folded: true });
    assert.deepStrictEqual(folded.nodes.filter((n) => n.parent === h).map((n) => n.name), ['0'], 'the run sends its first block');
    assert.deepStrictEqual(folded.nodes.slice(0, 3).map((n) => n.name), ['', 'transformer', 'h'], 'with its ancestors');
    const all = index.nodes({ kind: 'children', id: h, from: 0, to: blocks, folded: false });
    assert.strictEqual(all.nodes.filter((n) => n.parent === h).length, blocks);
    const range = index.nodes({ kind: 'range', from: 5, count: 4 });
    assert.deepStrictEqual(range.nodes.filter((n) => n.id >= 5).map((n) => n.id), [5, 6, 7, 8]);
    for (const n of range.nodes) assert.ok(n.id >= 5 || range.nodes.some((m) => m.parent === n.id || m.id === n.id), 'only ancestors before the range');
    const located = index.nodes({ kind: 'locate', paths: ['transformer.h.1.mlp', 'nope'], tensors: ['lm_head.weight'] });
    assert.deepStrictEqual(located.found, [index.byPath.get('transformer.h.1.mlp'), -1, index.byPath.get('lm_head')]);
    assert.ok(located.nodes.some((n) => n.name === '1'), 'the block above comes along');
    const found = index.search({ text: '\\.MLP$', regex: true, limit: 1 });
    assert.strictEqual(found.count, blocks, 'paths, case-insensitive: one mlp per block');
    assert.strictEqual(found.matched.length, 1, 'the first one sent, all counted');
    assert.deepStrictEqual(index.search({ text: 'embedding', regex: false, limit: 10 }).matched.map((id) => index.modules[id].path), ['transformer.wte', 'transformer.wpe'], 'type names too');
    assert.strictEqual(index.search({ text: '[', regex: true, limit: 10 }).error !== undefined, true);
    const g = index.groups([0, 99]);
    assert.strictEqual(g.groups.length, 1);
    assert.deepStrictEqual(g.groups[0].owners.map((o) => index.modules[o].path).sort(), ['lm_head', 'transformer.wte']);
    assert.throws(() => index.nodes({ kind: 'children', id: 9999, from: 0, to: 1, folded: true }), /no module/);
  });

  it('pages tensors by module (own or subtree) and by name', async () => {
    const cp = await openCheckpoint(TIED);
    const idx = new TensorIndex(new TreeIndex(cp));
    const own = idx.query({ kind: 'module', path: 'transformer.wte', subtree: false, offset: 0, limit: 10 });
    assert.strictEqual(own.total, 1);
    assert.strictEqual(own.items[0].name, 'transformer.wte.weight');
    assert.ok(own.items[0].group >= 0);
    assert.deepStrictEqual(own.groups?.map((g) => g.index), [own.items[0].group], 'the page brings the group its tensor is in');
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
    assert.strictEqual(shapeSummary('', [t('w', [1]), t('x', [2]), t('y', [3])], 40), 'w [1] · x [2] · y [3] · +37', 'the first few, and the count of the others');
    assert.strictEqual(shapeSummary('m', []), undefined);
    assert.strictEqual(displayName({ path: '/a/b/model.safetensors' }), 'model.safetensors');
  });
});
