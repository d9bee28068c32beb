/** Metadata, warnings and safety panes of the details area. */
import { splitKvTypes } from '../data/metadata';
import { globalSummary, isPlainPickle, sortedGlobals } from '../data/safety';
import { exactCount } from '../../../src/shared/format';
import type { WireSummary } from '../../../src/shared/protocol';
import { h, icon } from './dom';
import type { DetailsPanel } from './panel';

function valueText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'object') {
    const s = JSON.stringify(v);
    return s.length > 600 ? JSON.stringify(v, null, 1).slice(0, 2000) : s;
  }
  return String(v);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * A titled key/value grid; nested objects (e.g. GGUF's `kv`) become sub-sections. `types` gives
 * a value type per key (GGUF's kvTypes), shown after the value.
 */
function kvSection(title: string, block: Record<string, unknown>, depth = 0, types?: Record<string, string>): HTMLElement[] {
  const grid = h('div', { class: 'kv' });
  const nested: HTMLElement[] = [];
  const { rest: obj, types: kvTypes } = splitKvTypes(block);
  const keys = Object.keys(obj);
  for (const k of keys) {
    const v = obj[k];
    if (depth < 2 && isPlainObject(v) && Object.keys(v).length > 3) nested.push(...kvSection(`${title} › ${k}`, v, depth + 1, k === 'kv' ? kvTypes : undefined));
    else {
      const type = types?.[k];
      grid.append(h('span', { class: 'k' }, k), h('span', { class: 'v' }, valueText(v), type ? h('span', { class: 'kv-type muted' }, ` ${type}`) : null));
    }
  }
  const out: HTMLElement[] = [];
  if (grid.childElementCount || !nested.length) {
    if (!keys.length) grid.append(h('span', { class: 'muted' }, '(empty)'));
    out.push(h('section', { class: 'meta-section' }, h('h3', null, title), grid));
  }
  return out.concat(nested);
}

/** Metadata grouped the way files keep it: config.json, then the checkpoint's own keys. */
export function renderMetadata(s: WireSummary, openJson: () => void): HTMLElement {
  const sections: HTMLElement[] = [];
  if (s.config) sections.push(...kvSection('config.json', s.config));
  const meta = s.metadata;
  // Readers nest known blocks (e.g. `__metadata__`); show nested objects as their own sections.
  const flat: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(meta)) {
    if (isPlainObject(v)) sections.push(...kvSection(k, v));
    else flat[k] = v;
  }
  if (Object.keys(flat).length) sections.push(...kvSection(s.format === 'gguf' ? 'GGUF keys' : 'Metadata', flat));
  if (s.prefixes?.length) sections.push(...kvSection('Name prefixes', { stripped: s.prefixes.join(', ') }));
  if (s.fileCount > 1) sections.push(...kvSection('Files', Object.fromEntries(s.files.map((f, i) => [String(i + 1), f]))));
  if (!sections.length) sections.push(h('div', { class: 'empty-note' }, 'This checkpoint carries no metadata.'));
  const toolbar = h(
    'div',
    { class: 'meta-toolbar' },
    h('vscode-button', { secondary: true, onclick: openJson, title: 'Open the full metadata as a JSON document' }, 'Open as JSON'),
    s.truncated ? h('span', { class: 'muted' }, 'Long values are shortened here; the JSON document has them in full.') : null,
  );
  return h('div', { class: 'detail-body' }, toolbar, h('div', { class: 'meta-scroll' }, ...sections));
}

export function renderWarnings(s: WireSummary): HTMLElement {
  if (!s.warnings.length) return h('div', { class: 'empty-note' }, 'No warnings.');
  const list = h('ul', { class: 'list' });
  for (const w of s.warnings) list.append(h('li', null, icon('warning'), h('span', null, w.message, ' ', h('span', { class: 'muted' }, `(${w.code})`))));
  if (s.warningCount > s.warnings.length) list.append(h('li', { class: 'muted' }, `… ${s.warningCount - s.warnings.length} more`));
  return h('div', { class: 'detail-body meta-scroll' }, list);
}

export function renderSafety(s: WireSummary): HTMLElement {
  if (!s.safety) {
    return h('div', { class: 'empty-note' }, `${s.formatLabel} files hold tensors and metadata only; there is no code to run.`);
  }
  const list = h('ul', { class: 'list safety-list' });
  for (const g of sortedGlobals(s.safety)) {
    const ic = g.verdict === 'dangerous' ? 'error' : g.verdict === 'unknown' ? (g.unsafe ? 'warning' : 'question') : 'pass';
    const calls = g.calls ?? [];
    const more = g.callCount && g.callCount > calls.length && calls.length ? g.callCount - calls.length : 0;
    list.append(
      h(
        'li',
        { 'data-verdict': g.verdict, 'data-name': g.name },
        icon(ic),
        h(
          'div',
          { class: 'safety-entry' },
          h('span', null, h('code', null, g.name), ` ${globalSummary(g)}`, g.reason ? h('span', { class: 'muted' }, ` — ${g.reason}`) : null),
          calls.length
            ? h(
                'ul',
                { class: 'safety-calls' },
                ...calls.map((c) => h('li', null, h('code', { class: 'call', 'data-testid': 'safety-call' }, c))),
                more ? h('li', { class: 'muted' }, `… ${exactCount(more)} more call${more === 1 ? '' : 's'}`) : null,
              )
            : null,
        ),
      ),
    );
  }
  const verdict = s.safety.verdict;
  const loader = isPlainPickle(s) ? 'pickle.load (or torch.load)' : 'torch.load (weights_only=False)';
  const head =
    verdict === 'dangerous'
      ? `Loading this file with ${loader} would import and call the globals marked below, with the arguments shown (decoded from the pickle; nothing was executed).`
      : verdict === 'unknown'
        ? 'The pickle references globals outside the set torch.load(weights_only=True) accepts.'
        : 'Every global the pickle references is one torch.load(weights_only=True) accepts.';
  const notes: HTMLElement[] = [];
  if (!s.safety.globals.length) notes.push(h('p', { class: 'muted' }, 'The pickle names no global: it builds plain data only.'));
  if (s.safety.incomplete) notes.push(h('p', { class: 'muted' }, `Not fully scanned: ${s.safety.incomplete}`));
  return h('div', { class: 'detail-body meta-scroll' }, h('p', { class: 'empty-note' }, head), list, ...notes);
}

export const metadataPanel: DetailsPanel = {
  id: 'metadata',
  title: () => 'Metadata',
  render: (ctx) => renderMetadata(ctx.summary, ctx.openMetadata),
};

export const warningsPanel: DetailsPanel = {
  id: 'warnings',
  title: (s) => (s.warningCount ? `Warnings (${s.warningCount})` : 'Warnings'),
  render: (ctx) => renderWarnings(ctx.summary),
};

export const safetyPanel: DetailsPanel = {
  id: 'safety',
  title: () => 'Safety',
  render: (ctx) => renderSafety(ctx.summary),
};
