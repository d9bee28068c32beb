/**
 * The hover card (`#tooltip`, role=tooltip): a module's or tensor's tensors and, for each shared
 * one, every other name on that storage with the relation and offsets.
 */
import { countPhrase, describeRelation, dtypeNote, formatBytes, formatShape, isDisjoint, storageCell } from '../data/format';
import { exactCount, formatCount } from '../../../src/shared/format';
import type { LazyTree } from '../data/lazyTree';
import { GroupStore, groupColour, SharedPeer } from '../data/shared';
import { TensorCache } from '../data/tensorCache';
import { foldLabel, Row } from '../data/tree';
import type { NumberFormat, WireTensor } from '../../../src/shared/protocol';
import { shapeCell, storedLine } from '../data/quant';
import { clear, h } from './dom';

/** Tensors a module's card lists (the rows on screen prefetch that many). */
export const CARD_TENSORS = 8;
const MAX_TENSORS = CARD_TENSORS;
const MAX_PEERS = 12;

export interface TooltipContext {
  tree: LazyTree;
  groups: GroupStore;
  cache: TensorCache;
  numberFormat: NumberFormat;
  rootLabel: string;
  /** The filter hides this module (its peers are listed but not lit or linked). */
  filteredOut?: (owner: number) => boolean;
}

export class Tooltip {
  readonly el: HTMLElement;
  /** What is shown, so late tensor pages re-render only the card they belong to. */
  private token = 0;

  constructor() {
    let el = document.getElementById('tooltip');
    if (!el) {
      el = h('div', { id: 'tooltip', role: 'tooltip', hidden: true });
      document.body.append(el);
    }
    this.el = el;
  }

  hide(): void {
    this.token++;
    this.anchor = null;
    this.el.hidden = true;
  }

  /** The element the card describes (a row); the card goes when it goes. */
  private anchor: HTMLElement | null = null;

  get visible(): boolean {
    return !this.el.hidden;
  }

  /** Hide the card if the element it describes left the page (a recycled row). */
  hideIfDetached(): void {
    if (this.anchor && !this.anchor.isConnected) this.hide();
  }

  /** Show content built by `build`; `build` is called again with fresh data when `pending` settles. */
  show(anchor: HTMLElement | null, build: () => { content: Node[]; pending?: Promise<unknown> }): void {
    const token = ++this.token;
    this.anchor = anchor;
    const draw = () => {
      // The row scrolled away (its element was recycled) while data was on its way.
      if (anchor && !anchor.isConnected) {
        this.hide();
        return;
      }
      const { content, pending } = build();
      clear(this.el);
      this.el.append(...content);
      this.el.hidden = false;
      this.place(anchor);
      if (pending) {
        pending.then(
          () => {
            if (token === this.token) draw();
          },
          () => undefined,
        );
      }
    };
    draw();
  }

  /**
   * Beside the hovered row, to the right of its label, so the rows that light up (whose labels
   * sit at the left) stay visible; below the row when there is no room on the right.
   */
  private place(anchor: HTMLElement | null): void {
    const vw = window.innerWidth;
    const vh = window.innerHeight;
    const r = anchor?.getBoundingClientRect() ?? new DOMRect(vw / 2, vh / 2, 0, 0);
    const label = anchor?.querySelector('.label, .tname') as HTMLElement | null;
    const lr = label ? label.getBoundingClientRect() : new DOMRect(r.left + 24, r.top, 0, r.height);
    const tw = this.el.offsetWidth;
    const th = this.el.offsetHeight;
    let left = Math.max(lr.right + 48, r.left + vw * 0.3);
    let top = r.top;
    if (left + tw > vw - 8) {
      // No room beside it: below (or above) the row, starting under the label.
      left = Math.max(4, Math.min(lr.left, vw - tw - 8));
      top = r.bottom + 4;
      if (top + th > vh - 4 && r.top - th - 4 >= 4) top = r.top - th - 4;
    }
    top = Math.max(4, Math.min(top, vh - th - 4));
    this.el.style.left = `${left}px`;
    this.el.style.top = `${top}px`;
  }
}

function tensorTable(list: WireTensor[], strip: number, fmt: NumberFormat): HTMLElement {
  const table = h('table');
  for (const t of list) {
    table.append(
      h(
        'tr',
        null,
        h('td', null, t.name.slice(strip) || t.name),
        h('td', null, t.dtype),
        h('td', null, shapeCell(t).text),
        h('td', { class: 'num', title: `${exactCount(t.numel)} elements` }, formatCount(t.numel, fmt)),
        h('td', { class: 'num' }, formatBytes(t.nbytes)),
        h('td', null, t.present ? t.role : `${t.role}, not stored`),
      ),
    );
  }
  return table;
}

function peerLines(ctx: TooltipContext, peers: SharedPeer[], showTensor: boolean): { nodes: Node[]; names: string[] } {
  const nodes: Node[] = [];
  const names = new Set<string>();
  for (const p of peers.slice(0, MAX_PEERS)) {
    names.add(p.other);
    names.add(p.tensor);
  }
  let lastTensor = '';
  for (const p of peers.slice(0, MAX_PEERS)) {
    const mine = ctx.cache.get(p.tensor);
    const other = ctx.cache.get(p.other);
    const colour = p.group >= 0 ? `tie-c${groupColour(p.group)}` : '';
    const g = p.group >= 0 ? ctx.groups.group(p.group) : undefined;
    const disjoint = !!g && isDisjoint(g);
    if (showTensor && p.tensor !== lastTensor) {
      const at = p.relation === 'view' && mine?.storageOffset != null ? ` @ +${mine.storageOffset} B` : '';
      nodes.push(
        h(
          'div',
          { class: `tt-peer ${colour}` },
          h('span', { class: `dot${p.relation === 'declared' || p.relation === 'deduplicated' ? ` ${p.relation}` : ''}` }),
          h('span', null, p.tensor + at),
          h('span', { class: 'muted' }, p.relation === 'deduplicated' ? 'stored once with (equal values; each counts)' : 'shares storage with'),
        ),
      );
      lastTensor = p.tensor;
    }
    nodes.push(
      h(
        'div',
        { class: `tt-peer ${colour}` },
        h('span', { class: 'muted' }, showTensor ? '\u2003=' : '='),
        h('span', { class: 'peer-name' }, p.other),
        h('span', { class: 'rel' }, describeRelation(p.relation, p.relation === 'view' ? other?.storageOffset : null, disjoint)),
        ctx.filteredOut?.(p.owner) ? h('span', { class: 'muted filtered-out' }, 'filtered out') : null,
      ),
    );
  }
  if (peers.length > MAX_PEERS) nodes.push(h('div', { class: 'tt-line' }, `… and ${peers.length - MAX_PEERS} more`));
  // Declared ties say why.
  const reasons = new Set<string>();
  for (const p of peers) {
    const r = p.group >= 0 ? ctx.groups.group(p.group)?.reason : undefined;
    if (r && !reasons.has(r) && reasons.size < 2) {
      reasons.add(r);
      nodes.push(h('div', { class: 'tt-reason' }, r));
    }
  }
  return { nodes, names: [...names] };
}

/** The card for a tree row. */
export function rowCard(ctx: TooltipContext, row: Row, peers: SharedPeer[]): { content: Node[]; pending?: Promise<unknown> } {
  const fmt = ctx.numberFormat;
  const content: Node[] = [];
  const waits: Promise<unknown>[] = [];
  if (row.kind === 'pending') return { content: [h('div', { class: 'tt-line' }, 'Loading…')] };
  if (row.kind === 'fold') {
    const each = row.run.count ? Math.round(row.unique / row.run.count) : 0;
    content.push(
      h('div', { class: 'tt-title' }, foldLabel(row.run)),
      h('div', { class: 'tt-line' }, `${formatCount(row.unique, fmt)} parameters in ${row.run.count} identical blocks (${formatCount(each, fmt)} each${formatCount(each, fmt) === exactCount(each) ? '' : `, ${exactCount(each)} exact`})`),
      h('div', { class: 'tt-line muted' }, row.expanded ? 'Click to fold the run; the table lists its first block.' : 'Click to unfold the run; the table lists its first block.'),
    );
  } else {
    const n = ctx.tree.node(row.id)!;
    const m = n.m;
    content.push(
      h('div', { class: 'tt-title' }, h('span', null, n.path || ctx.rootLabel), h('span', { class: 'tt-repr' }, m.repr ?? m.type + (m.inferred ? ' (inferred)' : ''))),
    );
    const parts = [countPhrase(m.params[0], fmt, 'parameters')];
    if (m.params[1] !== m.params[0]) parts.push(`${exactCount(m.params[1])} counting each name`);
    if (m.buffers) parts.push(`${formatCount(m.buffers[0], fmt)} in buffers`);
    parts.push(m.bytes > 0 || m.tensorCount === 0 ? formatBytes(m.bytes) : 'no bytes of its own (tied)');
    parts.push(`${exactCount(m.tensorCount)} tensor${m.tensorCount === 1 ? '' : 's'}`);
    content.push(h('div', { class: 'tt-line' }, parts.join(' · ')));
    // Quantized layers: what the subtree takes on disk beside the unquantized parameters.
    const stored = storedLine(m, fmt);
    if (stored) content.push(h('div', { class: 'tt-line tt-stored', 'data-testid': 'tt-stored' }, stored));
    if (m.evidence && m.inferred) content.push(h('div', { class: 'tt-line' }, `Type inferred: ${m.evidence}`));
    if (n.id === 0 && m.params[1] > m.params[0]) {
      content.push(h('div', { class: 'tt-line tt-shared-note' }, `Shared storage counted once: ${formatCount(m.params[1] - m.params[0], fmt)} parameters are reachable under two names or more. Each row counts what its subtree holds, so the shares of rows that share storage add up to more than 100%.`));
    } else if (m.sharedParams) {
      content.push(h('div', { class: 'tt-line tt-shared-note' }, `${countPhrase(Math.min(m.sharedParams, m.params[0]), fmt, 'parameters')} of these (hatched in the bar) are on storage that modules outside it use too: counted here and there, once in the model's total.`));
    }
    if (m.own > 0) {
      const list = ctx.cache.head(n.path, false, MAX_TENSORS);
      content.push(h('h4', null, `Tensors${m.own > MAX_TENSORS ? ` (first ${MAX_TENSORS} of ${exactCount(m.own)})` : ''}`));
      if (list) content.push(tensorTable(list, n.path ? n.path.length + 1 : 0, fmt));
      else {
        content.push(h('div', { class: 'tt-line' }, 'Loading…'));
        waits.push(ctx.cache.ensureRange(n.path, false, 0, MAX_TENSORS));
      }
    }
  }
  if (peers.length) {
    content.push(h('h4', null, 'Shared storage'));
    const { nodes, names } = peerLines(ctx, peers, true);
    content.push(...nodes);
    const missing = names.filter((x) => !ctx.cache.get(x));
    if (missing.length) waits.push(ctx.cache.ensureNames(missing));
  }
  return { content, pending: waits.length ? Promise.all(waits) : undefined };
}

/** The card for a tensor (tensor table row). */
export function tensorCard(ctx: TooltipContext, t: WireTensor, peers: SharedPeer[]): { content: Node[]; pending?: Promise<unknown> } {
  const fmt = ctx.numberFormat;
  const content: Node[] = [
    h('div', { class: 'tt-title' }, h('span', null, t.name), h('span', { class: 'tt-repr' }, `${t.dtype} ${formatShape(t.shape)}`)),
    h('div', { class: 'tt-line' }, `${countPhrase(t.numel, fmt, 'elements')} · ${formatBytes(t.nbytes)} · ${t.role}`),
  ];
  // A packed quantized weight: the weight it stands for, which the parameters count.
  if (t.logicalShape) content.push(h('div', { class: 'tt-line tt-stored' }, `Packed: stands for a ${formatShape(t.logicalShape)} weight, ${countPhrase(t.logicalNumel ?? t.numel, fmt, 'parameters')}`));
  if (t.module) content.push(h('div', { class: 'tt-line' }, `Belongs to ${t.module}`));
  const note = t.present ? dtypeNote(t.dtype, t.formatDtype) : '';
  if (note) content.push(h('div', { class: 'tt-line' }, note));
  // A declared tie's reason is shown once, under the shared storage below.
  if (t.present || peers.length === 0) content.push(h('div', { class: 'tt-line' }, t.roleReason));
  if (!t.present) content.push(h('div', { class: 'tt-line' }, 'Not stored in the file: a declared tie.'));
  else if (t.dataOffset !== null) content.push(h('div', { class: 'tt-line' }, `${t.file} @ byte ${exactCount(t.dataOffset)}${t.storageOffset ? ` (+${t.storageOffset} B into its storage)` : ''}`));
  // Every column of the table in full (the table may cut a long dtype or storage text).
  const g = t.group >= 0 ? ctx.groups.group(t.group) : undefined;
  const storage = storageCell(t, g);
  content.push(h('div', { class: 'tt-line' }, `Storage: ${storage.title.split('\n')[0]}`));
  const waits: Promise<unknown>[] = [];
  if (peers.length) {
    content.push(h('h4', null, 'Shared storage'));
    const { nodes, names } = peerLines(ctx, peers, false);
    content.push(...nodes);
    const missing = names.filter((x) => !ctx.cache.get(x));
    if (missing.length) waits.push(ctx.cache.ensureNames(missing));
  }
  return { content, pending: waits.length ? Promise.all(waits) : undefined };
}
