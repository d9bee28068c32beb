import * as assert from 'assert';
import { compactCount, describeRelation, exactCount, explainSharing, formatBytes, formatCount, formatShape, formatShare, groupEquation } from '../webview/src/data/format';
import type { WireGroup } from '../webview/src/shared/protocol';

const group = (tensors: string[], unique: number, total: number, relation: WireGroup['relation'] = 'alias'): WireGroup => ({
  tensors,
  relation,
  storage: 's',
  uniqueElements: unique,
  totalElements: total,
});

describe('webview formatting', () => {
  it('writes counts compact (124.4M) or exact (124,439,808)', () => {
    assert.strictEqual(compactCount(124439808), '124.4M');
    assert.strictEqual(compactCount(950), '950');
    assert.strictEqual(compactCount(1.2e9), '1.2B');
    assert.strictEqual(exactCount(124439808), '124,439,808');
    assert.strictEqual(exactCount(0), '0');
    assert.strictEqual(exactCount(-1234), '-1,234');
    assert.strictEqual(formatCount(38597376, 'compact'), '38.6M');
    assert.strictEqual(formatCount(38597376, 'exact'), '38,597,376');
  });

  it('writes bytes, shapes and shares', () => {
    assert.strictEqual(formatBytes(497759232), '474.7 MiB');
    assert.strictEqual(formatBytes(12), '12 B');
    assert.strictEqual(formatShape([768, 2304]), '[768, 2304]');
    assert.strictEqual(formatShape([]), '[]');
    assert.strictEqual(formatShare(0, 10), '0%');
    assert.strictEqual(formatShare(1, 100000), '<0.1%');
    assert.strictEqual(formatShare(31, 100), '31.0%');
  });

  it('explains why the plain total exceeds the unique count', () => {
    const g = group(['lm_head.weight', 'transformer.wte.weight'], 38597376, 77194752, 'declared');
    assert.strictEqual(explainSharing(124439808, 163037184, [g]), '38.6M shared: lm_head.weight = transformer.wte.weight');
    assert.strictEqual(explainSharing(100, 100, [g]), '');
    const many = [1, 2, 3, 4, 5].map((i) => group([`a${i}`, `b${i}`], 10, 10 + i));
    assert.match(explainSharing(0, 15, many), /^15 shared: a5 = b5; a4 = b4; a3 = b3; \+2 more groups$/);
    assert.strictEqual(groupEquation({ tensors: ['a', 'b', 'c', 'd', 'e', 'f'] }, 3), 'a = b = c = … (3 more)');
  });

  it('names a relation with its offset', () => {
    assert.strictEqual(describeRelation('alias', 0), 'alias');
    assert.strictEqual(describeRelation('view', 4096), 'view @ +4096 B');
    assert.strictEqual(describeRelation('declared', null), 'declared');
  });
});
