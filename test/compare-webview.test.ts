/**
 * The comparison view's webview data (webview/src/compare/rows.ts: pages of the current view,
 * tie link lanes and paths, signed numbers) and the comparison commands' pure helpers
 * (src/extension/compareNaming.ts), driven by real pages from the worker's index.
 */
import * as assert from 'assert';
import { openCheckpoint } from '../src/core';
import { compareStructure } from '../src/core/diff';
import type { CompareLink } from '../src/shared/protocol';
import { comparePair, compareExportPath, sideName } from '../src/extension/compareNaming';
import { CompareIndex } from '../src/worker/compareIndex';
import { assignLanes, linkPath, PAGE_ROWS, RowPages, signedBytes, signedCount, viewKey } from '../webview/src/compare/rows';
import { fixture } from './helpers';

describe('comparison view (webview): pages, links, numbers', () => {
  it('keeps the pages of one view, claims each missing page once, and finds a row by id', async () => {
    const ix = new CompareIndex(compareStructure(await openCheckpoint(fixture('safetensors', 'gpt2-tied')), await openCheckpoint(fixture('safetensors', 'gpt2-untied'))));
    const view = { expanded: ix.rows.map((_, i) => i), changesOnly: false };
    const pages = new RowPages(viewKey(view.expanded, false));
    assert.deepStrictEqual(pages.claim(0, 50), [0], 'before the first answer: the first page');
    assert.deepStrictEqual(pages.claim(0, 50), [], 'asked for already');
    pages.add(0, ix.page({ view, offset: 0, limit: PAGE_ROWS }));
    assert.strictEqual(pages.total, ix.rows.length);
    assert.deepStrictEqual(pages.claim(0, pages.total), [], 'one page holds the small model');
    const lm = ix.rows.findIndex((r) => r.path === 'lm_head');
    assert.strictEqual(pages.indexOf(lm), lm, 'everything expanded: positions are pre-order ids');
    assert.strictEqual(pages.row(lm)!.path, 'lm_head');
    const links = pages.linksIn(0, pages.total);
    assert.strictEqual(links.length, 1);
    assert.strictEqual(pages.linksIn(lm + 1, lm + 5).length, 0, 'rows past both ends: no link');
    pages.release(7);
    // A page asked for past the end (the view shrank while scrolled down) holds nothing: page 0 is still asked for.
    const shrunk = new RowPages('small');
    assert.deepStrictEqual(shrunk.claim(PAGE_ROWS * 3, PAGE_ROWS * 3 + 40), [3]);
    shrunk.add(3, ix.page({ view: { expanded: [0], changesOnly: true }, offset: PAGE_ROWS * 3, limit: PAGE_ROWS }));
    assert.strictEqual(shrunk.total, 3);
    assert.deepStrictEqual(shrunk.claim(0, 40), [0], 'the rows that do show are asked for');
    assert.strictEqual(shrunk.row(0), undefined);
    assert.deepStrictEqual(pages.claim(PAGE_ROWS * 7, PAGE_ROWS * 7 + 1), [], 'nothing past the end is asked for');
  });

  it('a view key does not depend on the order rows were expanded in', () => {
    assert.strictEqual(viewKey([3, 0, 12], true), viewKey(new Set([12, 3, 0]), true));
    assert.notStrictEqual(viewKey([0, 3], true), viewKey([0, 3], false));
  });

  it('puts overlapping links of a side in different lanes, shorter ones nearer the tree', () => {
    const l = (side: 'a' | 'b', rows: number[]): CompareLink => ({ side, status: 'same', relation: 'alias', tensors: [`${side}${rows.join('-')}`], rows });
    const long = l('a', [0, 20]);
    const short = l('a', [2, 4]);
    const apart = l('a', [30, 40]);
    const other = l('b', [0, 20]);
    const lanes = assignLanes([long, short, apart, other]);
    assert.strictEqual(lanes.get(short), 0);
    assert.strictEqual(lanes.get(apart), 0, 'no overlap: the same lane');
    assert.strictEqual(lanes.get(long), 1);
    assert.strictEqual(lanes.get(other), 0, 'b has its own lanes');
    const many = Array.from({ length: 10 }, (_, i) => l('a', [0, 10 + i]));
    const ls = assignLanes(many, 4);
    assert.ok([...ls.values()].every((x) => x >= 0 && x < 4), 'at most the given lanes');
  });

  it('draws a curve between consecutive ends, and a loop for one', () => {
    const y = (i: number) => i * 22 + 11;
    assert.strictEqual(linkPath([0, 3], 60, 46, y), 'M60 11C46 11 46 77 60 77');
    assert.strictEqual((linkPath([0, 3, 5], 60, 46, y).match(/M/g) ?? []).length, 2);
    assert.match(linkPath([2], 4, 18, y), /^M4 51C/);
  });

  it('writes signed deltas exact or compact, with a real minus', () => {
    assert.strictEqual(signedCount(38_597_376, 'exact'), '+38,597,376');
    assert.strictEqual(signedCount(38_597_376, 'compact'), '+38.6M');
    assert.strictEqual(signedCount(-4096, 'exact'), '−4,096');
    assert.strictEqual(signedCount(0, 'compact'), '±0');
    assert.strictEqual(signedBytes(0), '±0 B');
    assert.match(signedBytes(-16384), /^−16(\.0)? KiB$/);
  });
});

describe('comparison commands: pairs and names', () => {
  it('two files selected in the Explorer are a and b; one is a; three are refused', () => {
    assert.deepStrictEqual(comparePair('x', ['x', 'y']), { a: 'x', b: 'y' });
    assert.deepStrictEqual(comparePair('x', ['x']), { a: 'x' });
    assert.deepStrictEqual(comparePair('x', undefined), { a: 'x' });
    assert.deepStrictEqual(comparePair(undefined, undefined), { a: undefined });
    assert.deepStrictEqual(comparePair('x', ['x', 'y', 'z']), { tooMany: 3 });
  });

  it('names a side by its folder when the file name is generic, and the export after both', () => {
    assert.strictEqual(sideName('/w/gpt2-124m/model.safetensors'), 'gpt2-124m');
    assert.strictEqual(sideName('/w/gpt2/pytorch_model.bin'), 'gpt2');
    assert.strictEqual(sideName('/w/m/model.safetensors.index.json'), 'm');
    assert.strictEqual(sideName('/w/tinyllama.Q4_K_M.gguf'), 'tinyllama.Q4_K_M');
    assert.strictEqual(sideName('/w/epoch10.pt'), 'epoch10');
    assert.strictEqual(compareExportPath('/w/gpt2-124m/model.safetensors', '/w/gpt2-124m-untied/model.safetensors', 'svg'), '/w/gpt2-124m-untied/gpt2-124m-vs-gpt2-124m-untied.diff.svg');
    assert.strictEqual(compareExportPath('/w/a b/x.pt', '/w/y.pt', 'markdown'), '/w/x-vs-y.diff.md');
  });
});
