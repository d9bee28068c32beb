/** The status bar item: parameter count of the active checkpoint editor. */
import * as vscode from 'vscode';
import { viewSettings } from './config';
import type { PanelSession } from './provider';
import { statusContent } from './statusText';

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
    // The folder too: many checkpoints are all called model.safetensors.
    const location = vscode.workspace.asRelativePath(this.session.doc.uri, true);
    this.item.backgroundColor = undefined;
    if (s.kind === 'loading') {
      // A still icon: the editor shows the progress (a spinning one here repaints the workbench
      // every frame while the worker needs the CPU: issue 11).
      this.item.text = '$(watch) Weightscope';
      this.item.tooltip = `Reading the headers of ${location}`;
      this.item.show();
      return;
    }
    if (s.kind === 'error') {
      this.item.text = '$(error) Weightscope';
      this.item.tooltip = `${location}: ${s.message}`;
      this.item.show();
      return;
    }
    const fmt = viewSettings(this.session.doc.uri).numberFormat;
    const c = statusContent(s.head, location, fmt);
    this.item.text = c.text;
    this.item.tooltip = new vscode.MarkdownString(c.tooltip, true);
    if (c.warning) this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    this.item.show();
  }

  get exactUnique(): number | undefined {
    const s = this.session?.doc.state;
    return s?.kind === 'ready' ? s.head.summary.parameters.unique : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
