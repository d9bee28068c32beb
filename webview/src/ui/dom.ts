/** A tiny element builder (no innerHTML anywhere: names from checkpoints are untrusted text). */
type Child = Node | string | number | null | undefined | false;

export interface Attrs {
  [name: string]: string | number | boolean | null | undefined | ((ev: Event) => void);
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Attrs | null, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs?: Attrs | null, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
      else if (k === 'class') el.className = String(v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
  }
}

export function icon(name: string, extra = ''): HTMLElement {
  return h('span', { class: `codicon codicon-${name}${extra ? ' ' + extra : ''}`, 'aria-hidden': 'true' });
}

/** How far and how often the loading icon turns: 8 steps a second, a turn a second. */
const SPIN_STEP_DEG = 45;
const SPIN_STEP_MS = 125;

/**
 * The loading icon of a page that waits for a model, turned by a timer rather than by a CSS
 * animation (codicon-modifier-spin). While a CSS animation runs, Chromium makes a frame every
 * vsync whatever its steps, which on a machine without a GPU (headless, software compositing)
 * cost ~8% of a core for this one icon (measured; 1% turned by the timer), taken from the
 * worker opening the model (issue 11). The timer stops once the icon has left the page.
 */
export function spinner(): HTMLElement {
  const el = icon('loading');
  let turn = 0;
  const timer = setInterval(() => {
    if (!el.isConnected) {
      clearInterval(timer);
      return;
    }
    turn = (turn + SPIN_STEP_DEG) % 360;
    el.style.transform = `rotate(${turn}deg)`;
  }, SPIN_STEP_MS);
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** Coalesces repeated requests into one call of `fn` on the next animation frame. */
export function onNextFrame(fn: () => void): () => void {
  let frame = 0;
  return () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      fn();
    });
  };
}
