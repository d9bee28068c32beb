import * as assert from 'assert';
import { countPhrase, describeRelation, dtypeNote, formatBytes, formatShape, formatShare, isDisjoint, storageCell, tensorCountParts } from '../webview/src/data/format';
import { compactCount, exactCount, explainSharing, formatCount, groupEquation } from '../src/shared/format';
import type { WireGroup } from '../src/shared/protocol';

const group = (tensors: string[], unique: number, total: number, relation: WireGroup['relation'] = 'alias'): WireGroup => ({
  tensors,
  relation,
  storage: 's',
  uniqueElements: unique,
  totalElements: total,
});

describe('webview formatting', () => {
  it('writes counts compact (124M) or exact (124,439,808)', () => {
    assert.strictEqual(compactCount(124439808), '124M');
    assert.strictEqual(compactCount(950), '950');
    assert.strictEqual(compactCount(1.2e9), '1.20B');
    assert.strictEqual(exactCount(124439808), '124,439,808');
    assert.strictEqual(exactCount(0), '0');
    assert.strictEqual(exactCount(-1234), '-1,234');
    assert.strictEqual(formatCount(38597376, 'compact'), '38.6M');
    assert.strictEqual(formatCount(38597376, 'exact'), '38,597,376');
  });

  it('writes bytes, shapes and shares', () => {
    assert.strictEqual(formatBytes(497759232), '475 MiB');
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

  it('adds the exact number only when it differs from what is shown', () => {
    assert.strictEqual(countPhrase(4096, 'exact', 'parameters'), '4,096 parameters');
    assert.strictEqual(countPhrase(4096, 'compact', 'parameters'), '4.10K parameters (4,096)');
    assert.strictEqual(countPhrase(950, 'compact', 'elements'), '950 elements');
  });

  it('calls a view that overlaps nothing a slice', () => {
    assert.ok(isDisjoint(group(['q', 'k', 'v'], 192, 192, 'view')));
    assert.ok(!isDisjoint(group(['a', 'b'], 64, 128, 'view')));
    assert.ok(!isDisjoint(group(['a', 'b'], 64, 64, 'alias')));
    assert.strictEqual(describeRelation('view', 256, true), 'slice @ +256 B');
    assert.strictEqual(describeRelation('view', 256), 'view @ +256 B');
  });

  it('writes the storage column: own, = alias, view of, slice of, declared tie', () => {
    const t = (name: string, storage: string | null, present = true, storageOffset = 0) => ({ name, storage, present, storageOffset });
    // Alone on its storage, whatever the format names it.
    assert.deepStrictEqual(storageCell(t('a.weight', 'model.pt:1'), undefined), { text: 'own', title: 'Alone on storage model.pt:1', shared: false });
    assert.strictEqual(storageCell(t('a.weight', 'model.safetensors:a.weight'), undefined).text, 'own');
    assert.strictEqual(storageCell(t('a.weight', 'model.pt:1', true, 64), undefined).title, 'Alone on storage model.pt:1 @ +64 B');
    assert.strictEqual(storageCell(t('a.weight', null, false), undefined).text, 'not stored');
    const alias = storageCell(t('wte.weight', 'm.pt:0'), group(['wte.weight', 'lm_head.weight'], 1, 2, 'alias'));
    assert.strictEqual(alias.text, '= lm_head.weight');
    assert.match(alias.title, /^Alias: the same bytes as lm_head\.weight\nstorage m\.pt:0$/);
    assert.strictEqual(storageCell(t('a', 's'), group(['a', 'b'], 64, 128, 'view')).text, 'view of b');
    const slice = storageCell(t('k', 's', true, 256), group(['q', 'k', 'v'], 192, 192, 'view'));
    assert.strictEqual(slice.text, 'slice of storage: q, v');
    assert.match(slice.title, /no overlap/);
    assert.match(slice.title, /@ \+256 B/);
    assert.strictEqual(storageCell(t('a', 's'), group(['a', 'b', 'c', 'd'], 1, 4, 'alias')).text, '= b, c +1');
    assert.strictEqual(storageCell(t('wte', 's'), group(['wte', 'lm_head'], 1, 2, 'declared')).text, '= lm_head (declared tie)');
    assert.strictEqual(storageCell(t('lm_head', null, false), group(['wte', 'lm_head'], 1, 2, 'declared')).text, '= wte (tie, not stored)');
  });

  it('counts stored tensors and declared ties apart', () => {
    assert.deepStrictEqual(tensorCountParts(46, 47), {
      value: '46',
      extra: '+ 1 declared tie',
      title: '46 tensors stored in the file, and 1 declared tie that is not stored (re-tied at load time)',
    });
    assert.strictEqual(tensorCountParts(1200, 1200).extra, '');
    assert.strictEqual(tensorCountParts(1200, 1200).value, '1,200');
    assert.strictEqual(tensorCountParts(10, 13).extra, '+ 3 declared ties');
  });

  it("names the file's dtype only when it says more", () => {
    assert.strictEqual(dtypeNote('float32', 'F32'), '');
    assert.strictEqual(dtypeNote('bfloat16', 'BF16'), '');
    assert.strictEqual(dtypeNote('int64', 'I64'), '');
    assert.strictEqual(dtypeNote('float32', undefined), '');
    assert.strictEqual(dtypeNote('float32', 'torch.FloatStorage'), '');
    assert.strictEqual(dtypeNote('bfloat16', 'torch.BFloat16Storage'), '');
    assert.strictEqual(dtypeNote('int64', 'torch.LongStorage'), '');
    assert.strictEqual(dtypeNote('qint8', 'torch.QInt8Storage'), '');
    assert.strictEqual(dtypeNote('float32', 'FLOAT'), '');
    assert.strictEqual(dtypeNote('Q8_0', 'Q8_0'), '');
    assert.strictEqual(dtypeNote('int8', 'Q8_0'), 'Q8_0 in the file');
    assert.strictEqual(dtypeNote('float32', 'sparse'), 'sparse in the file');
    assert.strictEqual(dtypeNote('float8_e4m3fn', 'F8_E4M3'), 'F8_E4M3 in the file');
  });
});

describe('webview: tensor table columns', () => {
  it('resize by pointer or keyboard, within bounds; the exact format gets wide enough numbers', () => {
    const { TABLE_COLUMNS, columnWidths, resizeColumn, resizeKey, gridTemplate } = require('../webview/src/data/columns') as typeof import('../webview/src/data/columns');
    const d = columnWidths(undefined, 'compact');
    assert.deepStrictEqual(d, TABLE_COLUMNS.map((c) => c.width));
    const elements = TABLE_COLUMNS.findIndex((c) => c.id === 'elements');
    const exact = columnWidths(undefined, 'exact');
    assert.ok(exact[elements] >= 13 * 7.5, `${exact[elements]} px holds "926,679,040" and more`);
    assert.ok(exact[elements] > d[elements]);
    // A width the user chose stays, in either format.
    const saved = resizeColumn(d, elements, 40);
    assert.strictEqual(columnWidths(saved, 'exact')[elements], d[elements] + 40);
    assert.strictEqual(resizeColumn(d, 1, -1000)[1], TABLE_COLUMNS[1].min, 'never narrower than its minimum');
    assert.deepStrictEqual(columnWidths([1, 'x' as never], 'compact').slice(0, 2), [TABLE_COLUMNS[0].min, TABLE_COLUMNS[1].width], 'bad saved values fall back');
    assert.strictEqual(resizeKey('ArrowRight', false), 16);
    assert.strictEqual(resizeKey('ArrowLeft', true), -64);
    assert.strictEqual(resizeKey('Home', false), 'reset');
    assert.strictEqual(resizeKey('a', false), null);
    assert.match(gridTemplate(d), /^300px 116px .* minmax\(260px, 1fr\)$/);
  });
});
