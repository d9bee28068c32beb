/**
 * Which row the hover card describes (issue 12: a tooltip always follows the pointer or the
 * focus, and vanishes with them). DOM-free: the tree view feeds it events and asks `described`.
 *
 *  - the pointer: the row under it, until it leaves the list, or the list scrolls (wheel or
 *    scrollbar: the row under the pointer changes; the next pointer move says which);
 *  - the keyboard: the active row, while the list has focus and a key moved it; a scroll by
 *    wheel or scrollbar, a click, Escape or leaving the list (blur) end it;
 *  - either way nothing when the row is no longer rendered (its element is recycled), or the
 *    page is hidden (tab switch).
 */
export class DescribeState {
  /** Row under the pointer, or -1. */
  hover = -1;
  /** The keyboard drives: the active row is described. */
  keyboard = false;
  focused = false;
  private hidden = false;

  pointerOver(index: number): void {
    this.hover = index;
    this.hidden = false;
  }

  pointerLeave(): void {
    this.hover = -1;
  }

  /** The user scrolled (wheel, scrollbar): neither the pointer's row nor the active row stays put. */
  scrolled(): void {
    this.hover = -1;
    this.keyboard = false;
  }

  /** A key moved the active row (or Tab brought focus with the keyboard). */
  keyboardMoved(): void {
    this.keyboard = true;
    this.hover = -1;
    this.hidden = false;
  }

  /** Escape, or a click: stop describing the active row. */
  dismiss(): void {
    this.hover = -1;
    this.keyboard = false;
  }

  pointerDown(): void {
    this.keyboard = false;
  }

  focus(): void {
    this.focused = true;
  }

  blur(): void {
    this.focused = false;
    this.keyboard = false;
  }

  /** The page was hidden (tab switch) or the window lost focus. */
  pageHidden(): void {
    this.hover = -1;
    this.keyboard = false;
    this.hidden = true;
  }

  /** The row to describe, given the active row and the rendered window [start, end); -1 for none. */
  described(active: number, start: number, end: number): number {
    if (this.hidden) return -1;
    const idx = this.hover >= 0 ? this.hover : this.focused && this.keyboard ? active : -1;
    return idx >= start && idx < end ? idx : -1;
  }
}
