import * as assert from 'assert';
import { navigate, NavRow, parentRow, TypeAhead } from '../webview/src/data/keyboard';
import { findByPrefix } from '../src/shared/typeahead';
import { scrollToReveal, visibleWindow } from '../webview/src/data/virtual';

const rows: NavRow[] = [
  { level: 1, expandable: true, expanded: true },
  { level: 2, expandable: true, expanded: false },
  { level: 2, expandable: true, expanded: true },
  { level: 3, expandable: false, expanded: false },
  { level: 2, expandable: false, expanded: false },
];

describe('webview keyboard navigation', () => {
  it('moves with arrows, Home/End and pages', () => {
    assert.deepStrictEqual(navigate(rows, 0, 'ArrowDown', 10), { kind: 'move', index: 1 });
    assert.deepStrictEqual(navigate(rows, 4, 'ArrowDown', 10), { kind: 'move', index: 4 });
    assert.deepStrictEqual(navigate(rows, 0, 'ArrowUp', 10), { kind: 'move', index: 0 });
    assert.deepStrictEqual(navigate(rows, 2, 'Home', 10), { kind: 'move', index: 0 });
    assert.deepStrictEqual(navigate(rows, 0, 'End', 10), { kind: 'move', index: 4 });
    assert.deepStrictEqual(navigate(rows, 0, 'PageDown', 3), { kind: 'move', index: 2 });
    assert.deepStrictEqual(navigate(rows, 4, 'PageUp', 3), { kind: 'move', index: 2 });
    assert.deepStrictEqual(navigate([], 0, 'ArrowDown', 3), { kind: 'none' });
  });

  it('expands, enters, collapses and climbs with Right/Left, toggles with Enter', () => {
    assert.deepStrictEqual(navigate(rows, 1, 'ArrowRight', 10), { kind: 'expand', index: 1 });
    assert.deepStrictEqual(navigate(rows, 2, 'ArrowRight', 10), { kind: 'move', index: 3 });
    assert.deepStrictEqual(navigate(rows, 3, 'ArrowRight', 10), { kind: 'none' });
    assert.deepStrictEqual(navigate(rows, 2, 'ArrowLeft', 10), { kind: 'collapse', index: 2 });
    assert.deepStrictEqual(navigate(rows, 3, 'ArrowLeft', 10), { kind: 'move', index: 2 });
    assert.deepStrictEqual(navigate(rows, 0, 'ArrowLeft', 10), { kind: 'collapse', index: 0 });
    assert.deepStrictEqual(navigate(rows, 1, 'Enter', 10), { kind: 'toggle', index: 1 });
    assert.deepStrictEqual(navigate(rows, 4, 'Enter', 10), { kind: 'select', index: 4 });
    assert.deepStrictEqual(navigate(rows, 4, ' ', 10), { kind: 'select', index: 4 });
    assert.strictEqual(parentRow(rows, 4), 0);
  });

  it('type-ahead finds labels by prefix, cycles on a repeated letter, resets after a pause', () => {
    const labels = ['model', 'transformer', 'wte', 'wpe', 'h', 'lm_head'];
    const at = (i: number) => labels[i];
    const ta = new TypeAhead(500);
    let p = ta.push('w', 0)!;
    assert.strictEqual(findByPrefix(at, labels.length, 0, p), 2);
    p = ta.push('p', 100)!;
    assert.strictEqual(p, 'wp');
    assert.strictEqual(findByPrefix(at, labels.length, 2, p), 3);
    p = ta.push('l', 2000)!;
    assert.strictEqual(p, 'l');
    assert.strictEqual(findByPrefix(at, labels.length, 3, p), 5);
    ta.reset();
    assert.strictEqual(findByPrefix(at, labels.length, 2, ta.push('w', 0)!), 3, 'from wte, w goes on to wpe');
    assert.strictEqual(findByPrefix(at, labels.length, 3, ta.push('w', 10)!), 2, 'ww cycles back to wte');
    assert.strictEqual(ta.push('ArrowDown', 20), null);
    assert.strictEqual(new TypeAhead().push(' ', 0), null);
    assert.strictEqual(findByPrefix(at, labels.length, 0, 'zz'), -1);
  });

  it('windows long lists and scrolls rows into view', () => {
    assert.deepStrictEqual(visibleWindow(0, 220, 22, 100000, 0), { start: 0, end: 11 });
    assert.deepStrictEqual(visibleWindow(22 * 50000, 220, 22, 100000, 5), { start: 49995, end: 50016 });
    assert.deepStrictEqual(visibleWindow(1e9, 220, 22, 10, 2), { start: 7, end: 10 });
    assert.deepStrictEqual(visibleWindow(0, 220, 22, 0), { start: 0, end: 0 });
    assert.strictEqual(scrollToReveal(0, 220, 22, 3), 0);
    assert.strictEqual(scrollToReveal(0, 220, 22, 20), 22 * 21 - 220);
    assert.strictEqual(scrollToReveal(500, 220, 22, 2), 44);
  });
});
