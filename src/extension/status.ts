/** The status bar item: parameter count of the active checkpoint editor. */
import * as vscode from 'vscode';
import { exactCount, explainSharing, formatCount, formatLabel } from '../../webview/src/data/format';
import { viewSettings } from './config';
import type { PanelSession } from './provider';

export class ParameterStatus implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private session: PanelSession | undefined;

  constructor() {
    this.item = vscode.window.createStatusBarItem('weightscope.parameters', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Weightscope: parameters';
    this.item.command = 'weightscope.copyParameterCount';
  }

  show(session: PanelSession | undefined): void {
    this.session = session;
    this.update();
  }

  update(): void {
    const s = this.session?.doc.state;
    if (!this.session || !s) {
      this.item.hide();
      return;
    }
    if (s.kind === 'loading') {
      this.item.text = '$(loading~spin) Weightscope';
      this.item.tooltip = `Reading the headers of ${this.session.doc.fileName}`;
      this.item.show();
      return;
    }
    if (s.kind === 'error') {
      this.item.text = '$(error) Weightscope';
      this.item.tooltip = s.message;
      this.item.show();
      return;
    }
    const summary = s.payload.summary;
    const p = summary.parameters;
    const fmt = viewSettings(this.session.doc.uri).numberFormat;
    this.item.text = `$(symbol-numeric) ${formatCount(p.unique, fmt)} params`;
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**${this.session.doc.fileName}** (${formatLabel(summary.format)})\n\n`);
    md.appendMarkdown(`- ${exactCount(p.unique)} parameters, shared storage counted once\n`);
    md.appendMarkdown(`- ${exactCount(p.total)} counting every name\n`);
    const why = explainSharing(p.unique, p.total, s.payload.groups, fmt);
    if (why) md.appendText(`\n${why}\n`);
    md.appendMarkdown('\n_Click to copy the exact count._');
    this.item.tooltip = md;
    this.item.show();
  }

  get exactUnique(): number | undefined {
    const s = this.session?.doc.state;
    return s?.kind === 'ready' ? s.payload.summary.parameters.unique : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
