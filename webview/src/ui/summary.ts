/**
 * The summary header: format, unique and total parameters with the difference explained,
 * buffers, bytes by dtype, the safety verdict, and links to metadata and warnings.
 */
import { formatBytes, tensorCountParts } from '../data/format';
import { exactCount, explainSharing, formatCount, formatLabel } from '../../../src/shared/format';
import { metadataKeyCount } from '../data/metadata';
import type { ModelHead, NumberFormat } from '../../../src/shared/protocol';
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
    h('span', { class: 'badge', title: `Format: ${formatLabel(s.format)}` }, icon('file-binary'), formatLabel(s.format)),
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
  const counts = h(
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
      : p.unique === p.total && head.groupCount === 0
        ? h('span', { class: 'shared-explain' }, 'no shared storage')
        : null,
  );

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
  facts.push(
    h('span', { class: 'fact', 'data-testid': 'summary-tensors', 'data-value': String(s.storedTensorCount ?? s.tensorCount), title: tc.title }, 'tensors', h('b', null, tc.value), tc.extra ? h('span', { class: 'muted' }, tc.extra) : null),
  );
  const dtypes = Object.entries(s.bytesByDtype).sort((a, b) => b[1] - a[1]);
  const totalBytes = dtypes.reduce((a, [, b]) => a + b, 0);
  facts.push(
    h(
      'span',
      { class: 'fact', title: `${exactCount(totalBytes)} bytes of tensor data (file: ${exactCount(s.totalBytes)} bytes; ${exactCount(s.bytesRead)} read to open it)` },
      'size',
      h('b', null, formatBytes(totalBytes)),
      ...dtypes.slice(0, 6).map(([d, b]) => h('span', { class: 'dtype-chip', title: `${exactCount(b)} bytes` }, d, h('span', { class: 'muted' }, formatBytes(b)))),
    ),
  );
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

  const parts: HTMLElement[] = [title, counts, factsLine];
  if (s.source) parts.push(renderSource(s.source, actions.openSource));
  const dangerous = s.safety?.globals.filter((g) => g.verdict === 'dangerous') ?? [];
  if (dangerous.length) {
    parts.push(
      h(
        'div',
        { class: 'danger-banner', role: 'alert', 'data-testid': 'danger' },
        icon('warning'),
        h(
          'div',
          null,
          h('b', null, 'Loading this file with torch.load would run code. '),
          'It references ',
          ...dangerous.slice(0, 8).flatMap((g, i) => [i ? ', ' : '', h('code', { title: g.reason ?? '' }, g.name)]),
          dangerous.length > 8 ? ` and ${dangerous.length - 8} more` : '',
          '. Weightscope only read its headers; nothing was executed.',
        ),
      ),
    );
  }
  return h('header', { class: 'summary' }, ...parts);
}
