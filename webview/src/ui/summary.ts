/**
 * The summary header: format, unique and total parameters with the difference explained,
 * buffers, bytes by dtype, the safety verdict, and links to metadata and warnings.
 */
import { deduplicatedNote, formatBytes, tensorCountParts } from '../data/format';
import { exactCount, explainSharing, formatCount } from '../../../src/shared/format';
import { metadataKeyCount } from '../data/metadata';
import { adapterDetail, adapterLine, quantizationDetail, quantizationLine } from '../data/quant';
import { mtpText } from '../../../src/shared/mtpText';
import { bannerHead, flaggedCalls, isPlainPickle, pickleLead } from '../data/safety';
import type { ModelHead, NumberFormat, WireSummary } from '../../../src/shared/protocol';
import { h, icon } from './dom';
import { renderSource } from './source';

export interface SummaryActions {
  /** Show a details panel (by its id in ./panels). */
  showPanel(id: string): void;
  reload(): void;
  /** Open a remote checkpoint's repository page (the host opens it in the browser). */
  openSource?(): void;
}

export function renderSummary(head: Pick<ModelHead, 'summary' | 'topGroups' | 'savingGroups' | 'groupCount'>, fmt: NumberFormat, actions: SummaryActions): HTMLElement {
  const s = head.summary;
  const groups = head.topGroups.map((g) => g.group);
  const p = s.parameters;
  const title = h(
    'div',
    { class: 'title-line' },
    h('span', { class: 'badge', 'data-testid': 'format', title: `Format: ${s.formatLabel}` }, icon('file-binary'), s.formatLabel),
    h('span', { class: 'model-name' }, s.architecture ?? s.fileName),
    s.architecture ? h('span', { class: 'file-name', title: s.path }, s.fileName) : h('span', { class: 'file-name', title: s.path }, ''),
    s.fileCount > 1 ? h('span', { class: 'fact', title: s.files.join('\n') }, icon('files'), `${s.fileCount} files`) : null,
  );

  const unique = h(
    'span',
    {
      class: 'big-count',
      'data-testid': 'summary-unique',
      'data-value': String(p.unique),
      title: `${exactCount(p.unique)} parameters, shared storage counted once`,
    },
    formatCount(p.unique, fmt),
  );
  const total = h(
    'span',
    {
      class: 'count-total',
      'data-testid': 'summary-total',
      'data-value': String(p.total),
      title: `${exactCount(p.total)} parameters counting every name, shared or not`,
    },
    `${formatCount(p.total, fmt)} total`,
  );
  const explanation = explainSharing(p.unique, p.total, groups, fmt, 3, head.savingGroups);
  const dedup = deduplicatedNote(s.deduplicated);
  const plain = isPlainPickle(s);
  const counts = plain ? pickleLine(s) : h(
    'div',
    { class: 'counts-line' },
    h('span', null, unique, h('span', { class: 'count-label' }, 'parameters')),
    total,
    explanation
      ? h(
          'span',
          {
            class: 'shared-explain',
            'data-testid': 'summary-shared',
            title:
              groups.map((g) => `${g.tensors.join(' = ')} (${g.relation})${g.reason ? `: ${g.reason}` : ''}`).join('\n') +
              (head.groupCount > groups.length ? `\n… ${exactCount(head.groupCount - groups.length)} more storage group${head.groupCount - groups.length === 1 ? '' : 's'}` : ''),
          },
          icon('link'),
          explanation,
        )
      : p.unique === p.total && head.groupCount === (s.deduplicated?.groups ?? 0)
        ? h('span', { class: 'shared-explain' }, 'no shared storage')
        : null,
    dedup ? h('span', { class: 'shared-explain dedup', 'data-testid': 'summary-dedup', title: dedup.title }, icon('copy'), dedup.text) : null,
  );
  // A quantized checkpoint: the scheme and the bits each weight takes; an adapter: what it adapts.
  const quant = quantizationLine(s, fmt);
  const adapter = adapterLine(s, fmt);
  const schemeLines = [
    quant ? h('div', { class: 'scheme-line', 'data-testid': 'summary-quant', title: quantizationDetail(s) ?? '' }, icon('layers'), quant) : null,
    adapter ? h('div', { class: 'scheme-line', 'data-testid': 'summary-adapter', title: adapterDetail(s) ?? '' }, icon('extensions'), adapter) : null,
    // Multi-token prediction layers stored after the decoder's (DeepSeek-V3's model.layers.61).
    p.mtp
      ? h(
          'div',
          { class: 'scheme-line', 'data-testid': 'summary-mtp', 'data-value': String(p.mtp.withoutMtp ?? ''), title: `${mtpText(p.mtp, exactCount)} (${p.mtp.source})` },
          icon('debug-step-over'),
          mtpText(p.mtp, (n) => formatCount(n, fmt)),
        )
      : null,
  ].filter((x): x is HTMLDivElement => x !== null);

  const facts: (HTMLElement | null)[] = [];
  if (s.buffers.total > 0) {
    facts.push(
      h('span', { class: 'fact', title: `${exactCount(s.buffers.unique)} buffer elements (${exactCount(s.buffers.total)} counting every name)` }, 'buffers', h('b', null, formatCount(s.buffers.unique, fmt))),
    );
  }
  if (s.other.total > 0) {
    facts.push(h('span', { class: 'fact', title: `${exactCount(s.other.unique)} elements of optimizer state and other tensors` }, 'other', h('b', null, formatCount(s.other.unique, fmt))));
  }
  // Stored tensors, as the exports count them; declared ties the file does not store apart.
  const tc = tensorCountParts(s.storedTensorCount ?? s.tensorCount, s.tensorCount);
  const dtypes = Object.entries(s.bytesByDtype).sort((a, b) => b[1] - a[1]);
  const totalBytes = dtypes.reduce((a, [, b]) => a + b, 0);
  if (plain) {
    // A plain pickle has no tensors to count: its size, and what scanning it took.
    facts.push(h('span', { class: 'fact', title: `${exactCount(s.totalBytes)} bytes; ${exactCount(s.bytesRead)} read to scan it` }, 'size', h('b', null, formatBytes(s.totalBytes))));
  } else {
    facts.push(
      h('span', { class: 'fact', 'data-testid': 'summary-tensors', 'data-value': String(s.storedTensorCount ?? s.tensorCount), title: tc.title }, 'tensors', h('b', null, tc.value), tc.extra ? h('span', { class: 'muted' }, tc.extra) : null),
    );
    facts.push(
      h(
        'span',
        { class: 'fact', title: `${exactCount(totalBytes)} bytes of tensor data (file: ${exactCount(s.totalBytes)} bytes; ${exactCount(s.bytesRead)} read to open it)` },
        'size',
        h('b', null, formatBytes(totalBytes)),
        ...dtypes.slice(0, 6).map(([d, b]) => h('span', { class: 'dtype-chip', title: `${exactCount(b)} bytes` }, d, h('span', { class: 'muted' }, formatBytes(b)))),
      ),
    );
  }
  if (s.safety) {
    const v = s.safety.verdict;
    const iconName = v === 'safe' ? 'pass' : v === 'dangerous' ? 'error' : 'question';
    facts.push(
      h(
        'button',
        { class: `badge ${v} link-like`, 'data-testid': 'safety', title: 'Pickle globals this file would import when loaded with torch.load', onclick: () => actions.showPanel('safety') },
        icon(iconName),
        v === 'safe' ? 'pickle: safe' : v === 'dangerous' ? 'pickle: DANGEROUS' : 'pickle: unknown globals',
      ),
    );
  } else {
    facts.push(h('span', { class: 'badge safe', title: 'This format holds no executable code' }, icon('pass'), 'no code'));
  }
  const metaKeys = metadataKeyCount(s);
  facts.push(
    h(
      'button',
      { class: 'link-button', onclick: () => actions.showPanel('metadata'), title: `${exactCount(metaKeys)} metadata key${metaKeys === 1 ? '' : 's'} (config.json, __metadata__, GGUF keys...)` },
      icon('json'),
      metaKeys ? `Metadata (${exactCount(metaKeys)})` : 'Metadata',
    ),
  );
  if (s.warningCount) {
    facts.push(h('button', { class: 'link-button', onclick: () => actions.showPanel('warnings') }, icon('warning'), `${s.warningCount} warning${s.warningCount === 1 ? '' : 's'}`));
  }
  const factsLine = h('div', { class: 'facts-line' }, ...facts);

  const parts: HTMLElement[] = [title, counts, ...schemeLines, factsLine];
  if (s.source) parts.push(renderSource(s.source, actions.openSource));
  const banner = safetyBanner(s, actions);
  if (banner) parts.push(banner);
  return h('header', { class: 'summary' }, ...parts);
}

/** Calls the banner shows at most, and per global. */
const BANNER_GLOBALS = 6;
const BANNER_CALLS = 3;

/**
 * The safety banner: what torch.load (or pickle.load) would call, each call decoded as the pickle
 * holds it (escaped and cut by the core; never executed).
 */
export function safetyBanner(s: Pick<WireSummary, 'safety' | 'format' | 'tensorCount'>, actions: Pick<SummaryActions, 'showPanel'>): HTMLElement | null {
  const flagged = flaggedCalls(s.safety);
  if (!s.safety || !flagged.length) return null;
  const dangerous = s.safety.verdict === 'dangerous';
  const items = h('ul', { class: 'danger-calls' });
  for (const f of flagged.slice(0, BANNER_GLOBALS)) {
    const calls = f.calls.slice(0, BANNER_CALLS);
    const extra = f.calls.length - calls.length + f.more;
    items.append(
      h(
        'li',
        { 'data-verdict': f.verdict },
        ...calls.flatMap((c, i) => [i ? '; ' : '', h('code', { class: 'call', 'data-testid': 'danger-call', title: f.reason ? `${f.name}: ${f.reason}` : f.name }, c)]),
        extra > 0 ? h('span', { class: 'muted' }, ` (+${extra} more)`) : null,
        f.via ? h('span', { class: 'muted' }, ` — reached through ${f.via}`) : null,
        f.trailing ? h('span', { class: 'muted' }, ' — in a pickle torch.load ignores') : null,
        f.reason ? h('span', { class: 'muted' }, ` — ${f.reason}`) : null,
      ),
    );
  }
  const more = flagged.length - BANNER_GLOBALS;
  return h(
    'div',
    { class: `danger-banner${dangerous ? '' : ' warn'}`, role: 'alert', 'data-testid': 'danger' },
    icon('warning'),
    h(
      'div',
      { class: 'danger-body' },
      h('b', null, bannerHead(s.safety, isPlainPickle(s))),
      items,
      h(
        'span',
        null,
        more > 0 ? `… and ${more} more. ` : '',
        'Weightscope only read the file; nothing was executed. ',
        h('button', { class: 'link-button inline', title: 'The Safety report: every global the pickle names, its verdict and its calls', onclick: () => actions.showPanel('safety') }, 'Every global, with its calls'),
      ),
    ),
  );
}

/** A plain pickle's line instead of the parameter counts: what it is, and what it would do. */
function pickleLine(s: WireSummary): HTMLElement {
  return h('div', { class: 'counts-line' }, h('span', { class: 'pickle-lead', 'data-testid': 'summary-pickle' }, pickleLead(s)));
}
