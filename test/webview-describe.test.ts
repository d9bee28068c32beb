import * as assert from 'assert';
import { DescribeState } from '../webview/src/data/describe';

describe('webview: which row the tooltip describes (issue 12, the stuck tooltip)', () => {
  // Rows 0..3000 exist; the rendered window is what the list shows.
  it('End, a wheel scroll and the pointer leaving: nothing is described (the lm_head card goes)', () => {
    const d = new DescribeState();
    d.focus();
    d.pointerOver(5);
    assert.strictEqual(d.described(0, 0, 40), 5, 'the row under the pointer');
    d.keyboardMoved(); // End
    const last = 2999;
    assert.strictEqual(d.described(last, 2960, 3000), last, 'the keyboard drives: the active row (lm_head)');
    d.scrolled(); // the wheel
    assert.strictEqual(d.described(last, 150, 190), -1, 'scrolled away: neither the old pointer row nor the active row');
    d.pointerOver(170); // the row that came under the pointer
    assert.strictEqual(d.described(last, 150, 190), 170, 'the card follows the pointer');
    d.pointerLeave();
    assert.strictEqual(d.described(last, 150, 190), -1, 'the pointer left the tree: no card');
  });

  it('a row scrolled out of the rendered window (its element recycled) is not described', () => {
    const d = new DescribeState();
    d.focus();
    d.keyboardMoved();
    assert.strictEqual(d.described(10, 0, 40), 10);
    assert.strictEqual(d.described(10, 100, 140), -1);
  });

  it('blur, Escape, a click and a hidden page end the keyboard description', () => {
    const d = new DescribeState();
    d.focus();
    d.keyboardMoved();
    d.blur();
    assert.strictEqual(d.described(3, 0, 40), -1, 'blur');
    d.focus();
    d.keyboardMoved();
    d.dismiss();
    assert.strictEqual(d.described(3, 0, 40), -1, 'Escape');
    d.keyboardMoved();
    d.pointerDown();
    assert.strictEqual(d.described(3, 0, 40), -1, 'a click');
    d.keyboardMoved();
    d.pointerOver(7);
    d.pageHidden();
    assert.strictEqual(d.described(3, 0, 40), -1, 'tab switch');
    d.pointerOver(8);
    assert.strictEqual(d.described(3, 0, 40), 8, 'back: the pointer shows the card again');
  });
});
