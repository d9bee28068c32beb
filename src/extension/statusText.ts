/**
 * The status bar item's text and hover for an opened checkpoint. Pure (no vscode import): the
 * item itself lives in status.ts.
 */
import { exactCount, explainSharing, formatCount } from '../shared/format';
import type { ModelHead, NumberFormat } from '../shared/protocol';

export interface StatusContent {
  /** With codicons: `$(symbol-numeric) 124M params`, `$(warning) 4 params · unsafe pickle`. */
  text: string;
  /** Markdown for the hover. */
  tooltip: string;
  /** Show the warning colours (a pickle that would run code). */
  warning: boolean;
}

const escapeMd = (s: string) => s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);

/**
 * `location` names the file with its folder (`gpt2/model.safetensors`, as the workspace shows
 * it), since many checkpoints are all called `model.safetensors`.
 */
export function statusContent(head: Pick<ModelHead, 'summary' | 'topGroups' | 'savingGroups'>, location: string, fmt: NumberFormat): StatusContent {
  const summary = head.summary;
  const p = summary.parameters;
  const dangerous = summary.safety?.verdict === 'dangerous';
  const lines: string[] = [];
  lines.push(`**${escapeMd(location)}** (${escapeMd(summary.formatLabel)})`, '');
  if (dangerous) {
    const names = (summary.safety?.globals ?? []).filter((g) => g.verdict === 'dangerous').map((g) => `\`${g.name.replace(/`/g, '')}\``);
    lines.push(`$(warning) **Loading this file with torch.load would run code** (${names.slice(0, 4).join(', ')}${names.length > 4 ? `, +${names.length - 4}` : ''}). Weightscope only read its headers.`, '');
  }
  lines.push(`- ${exactCount(p.unique)} parameters, shared storage counted once`);
  lines.push(`- ${exactCount(p.total)} counting every name`);
  const why = explainSharing(p.unique, p.total, head.topGroups.map((g) => g.group), fmt, 3, head.savingGroups);
  if (why) lines.push('', escapeMd(why));
  lines.push('', '_Click to copy the exact count._');
  const count = `${formatCount(p.unique, fmt)} params`;
  return {
    text: dangerous ? `$(warning) ${count} · unsafe pickle` : `$(symbol-numeric) ${count}`,
    tooltip: lines.join('\n'),
    warning: dangerous,
  };
}
