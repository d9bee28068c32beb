/**
 * The offer to open a `*.bin` checkpoint with Weightscope (issue 12). `*.bin` may be anything,
 * so Weightscope is only an optional editor for it; when one shows in another editor (VS Code's
 * "binary file" notice, "very large file, Open Anyway") and its first bytes say it is a
 * checkpoint, the offer appears:
 *  - a status bar entry, `$(symbol-structure) Open model.bin with Weightscope`, while that
 *    editor is the active one;
 *  - a button in that editor's title bar (`weightscope.binOffers` context key).
 * Both go away by themselves once the file is open in Weightscope (or its tab closes, or the
 * user waves it off). A notification would be more conspicuous, but VS Code gives extensions no
 * way to take one back: it stayed on screen after the file was already open in Weightscope, and
 * piled up with one per file. The offer lives where the file is shown instead, and only as long
 * as it means something.
 *
 * Timing: the extension activates on `workspaceContains:**\/*.bin` (at start-up, before
 * `onStartupFinished`) and looks at the tabs already open when it activates, so a `.bin` opened
 * in the first seconds gets the offer too.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { suggestForBin } from './config';
import { formatLabel, recognise, SNIFF_BYTES } from '../core/formats';
import { binOffers, TabFact } from './offers';

export const BIN_OFFERS_CONTEXT = 'weightscope.binOffers';

/** What a sniffed file is, in words ("a PyTorch zip checkpoint"); null: not a checkpoint. */
type Kind = string | null;

export class BinOffer implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  /** Files sniffed: what they are (null: not a checkpoint). */
  private readonly kinds = new Map<string, Kind>();
  private readonly sniffing = new Map<string, Promise<void>>();
  /** Files the user waved off this session. */
  private readonly declined = new Set<string>();
  private readonly disposables: vscode.Disposable[] = [];
  private lastOffered = '';

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.item = vscode.window.createStatusBarItem('weightscope.binOffer', vscode.StatusBarAlignment.Left, 1000);
    this.item.name = 'Weightscope: open a .bin checkpoint';
    this.disposables.push(
      this.item,
      vscode.window.tabGroups.onDidChangeTabs((e) => {
        for (const tab of [...e.opened, ...e.changed]) this.consider(tab);
        this.update();
      }),
      vscode.window.tabGroups.onDidChangeTabGroups(() => this.update()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('weightscope.suggestForBinFiles')) this.update();
      }),
    );
    // What is open already (a .bin opened before the extension activated).
    for (const g of vscode.window.tabGroups.all) for (const tab of g.tabs) this.consider(tab);
    this.update();
  }

  /** Sniff the file a tab shows, if it is a `.bin` in another editor and not sniffed yet. */
  private consider(tab: vscode.Tab): void {
    const input = tab.input;
    const uri = input instanceof vscode.TabInputText ? input.uri : input instanceof vscode.TabInputCustom && !input.viewType.startsWith('weightscope.') ? input.uri : undefined;
    if (!uri || uri.scheme !== 'file' || !/\.bin$/i.test(uri.fsPath)) return;
    const key = uri.toString();
    if (this.kinds.has(key) || this.sniffing.has(key)) return;
    const t0 = Date.now();
    const p = sniffFile(uri.fsPath).then((kind) => {
      this.kinds.set(key, kind);
      this.sniffing.delete(key);
      if (kind) this.log.info(`${path.basename(uri.fsPath)} looks like ${kind} (sniffed in ${Date.now() - t0} ms)`);
      this.update();
    });
    this.sniffing.set(key, p);
  }

  private tabs(): { facts: TabFact[]; uris: Map<string, vscode.Uri> } {
    const facts: TabFact[] = [];
    const uris = new Map<string, vscode.Uri>();
    const activeGroup = vscode.window.tabGroups.activeTabGroup;
    for (const g of vscode.window.tabGroups.all) {
      for (const tab of g.tabs) {
        const input = tab.input;
        let uri: vscode.Uri | undefined;
        let editor: TabFact['editor'] = 'other';
        if (input instanceof vscode.TabInputText) uri = input.uri;
        else if (input instanceof vscode.TabInputCustom) {
          uri = input.uri;
          if (input.viewType.startsWith('weightscope.')) editor = 'weightscope';
        }
        if (!uri) continue;
        uris.set(uri.toString(), uri);
        facts.push({ uri: uri.toString(), editor, active: g === activeGroup && tab.isActive });
      }
    }
    return { facts, uris };
  }

  /** Show, move or withdraw the offer to match the tabs. */
  update(): void {
    const checkpoints = new Set([...this.kinds].filter(([, k]) => k).map(([u]) => u));
    const { facts, uris } = this.tabs();
    const offers = suggestForBin() ? binOffers(facts, checkpoints, this.declined) : { all: [] as string[] };
    void vscode.commands.executeCommand('setContext', BIN_OFFERS_CONTEXT, offers.all.map((u) => uris.get(u)!.path));
    const active = offers.active ? uris.get(offers.active) : undefined;
    if (!active) {
      if (this.lastOffered) this.log.info(`offer withdrawn for ${path.basename(vscode.Uri.parse(this.lastOffered).fsPath)}`);
      this.lastOffered = '';
      this.item.hide();
      return;
    }
    const name = path.basename(active.fsPath);
    const kind = this.kinds.get(active.toString())!;
    this.item.text = `$(symbol-structure) Open ${name} with Weightscope`;
    const tip = new vscode.MarkdownString(
      `**${escapeMd(vscode.workspace.asRelativePath(active))}** looks like ${kind}.\n\nWeightscope shows its modules and parameter counts from its headers (nothing in it runs).\n\n[Open with Weightscope](command:weightscope.openWith?${encodeURIComponent(JSON.stringify([active.toString()]))}) · [Not this file](command:weightscope.dismissBinOffer?${encodeURIComponent(JSON.stringify([active.toString()]))}) · [Never offer](command:workbench.action.openSettings?${encodeURIComponent(JSON.stringify(['weightscope.suggestForBinFiles']))})`,
    );
    tip.isTrusted = { enabledCommands: ['weightscope.openWith', 'weightscope.dismissBinOffer', 'workbench.action.openSettings'] };
    this.item.tooltip = tip;
    this.item.command = { title: 'Open with Weightscope', command: 'weightscope.openWith', arguments: [active] };
    this.item.accessibilityInformation = { label: `${name} looks like ${kind}. Open it with Weightscope.` };
    this.item.show();
    if (this.lastOffered !== active.toString()) this.log.info(`offered to open ${name} (${kind})`);
    this.lastOffered = active.toString();
  }

  /** "Not this file": no offer for it again this session. */
  decline(uri: vscode.Uri | string): void {
    this.declined.add(typeof uri === 'string' ? vscode.Uri.parse(uri).toString() : uri.toString());
    this.update();
  }

  dispose(): void {
    void vscode.commands.executeCommand('setContext', BIN_OFFERS_CONTEXT, []);
    for (const d of this.disposables) d.dispose();
  }
}

const escapeMd = (s: string) => s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);

/** What a file's first bytes say it is. */
async function sniffFile(file: string): Promise<Kind> {
  try {
    const fh = await fs.open(file, 'r');
    try {
      const st = await fh.stat();
      const buf = Buffer.alloc(Math.min(SNIFF_BYTES, st.size));
      await fh.read(buf, 0, buf.length, 0);
      const found = recognise(buf, st.size);
      if (!found) return null;
      const name = formatLabel(found.match.variant ?? Object.keys(found.module.variants)[0]);
      return `${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name} checkpoint`;
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
}
