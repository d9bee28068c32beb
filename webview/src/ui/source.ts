/** The summary's source line for a remote checkpoint, with the repository page's link (host opens it). */
import { sourceLine } from '../data/source';
import type { WireSource } from '../../../src/shared/protocol';
import { h, icon } from './dom';

export function renderSource(source: WireSource, openPage: (() => void) | undefined): HTMLElement {
  const l = sourceLine(source);
  return h(
    'div',
    { class: 'source-line', 'data-testid': 'summary-source', 'data-kind': source.kind, title: l.title },
    icon(source.kind === 'hf-cache' ? 'database' : source.kind === 'hf' ? 'cloud' : 'globe'),
    h('span', { class: 'muted' }, `${l.where}:`),
    h('span', { class: 'source-what', 'data-testid': 'source-repo' }, l.what),
    l.revision ? h('span', { class: 'source-rev', 'data-testid': 'source-revision' }, h('span', { class: 'muted' }, '@ '), l.revision) : null,
    l.file ? h('span', { class: 'source-file', 'data-testid': 'source-file' }, icon('file-binary'), l.file) : null,
    l.transfer ? h('span', { class: 'muted', 'data-testid': 'source-transfer' }, l.transfer) : null,
    l.hasPage && openPage
      ? h('button', { class: 'link-button', 'data-testid': 'source-link', title: 'Open the repository page on the Hugging Face Hub (in your browser)', onclick: () => openPage() }, icon('link-external'), 'Repository page')
      : null,
  );
}
