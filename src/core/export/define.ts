/**
 * What an export is, for the registry in index.ts: everything the CLI (`--format` and its help),
 * the editor (commands, quick pick, the webview's menu, save dialog filters) and the tests need to
 * know about it. A module that renders a new format exports one `defineExport({...})`; one line
 * in index.ts's `EXPORTS` registers it.
 */
import type { Checkpoint } from '../model';

export interface ExportOptions {
  /** Deepest module level to draw or list (root = 0). Default: unlimited for text; for the
   * diagrams and documents, the deepest level that keeps them legible. */
  depth?: number;
  /** Don't fold runs of identical blocks. */
  unfold?: boolean;
  /** PNG: pixels per SVG unit (default 2). */
  scale?: number;
}

export interface ExportDef<Id extends string = string> {
  /** `--format` value, command suffix, wire id: lower case, no spaces. */
  id: Id;
  /** Names the file type in the save dialog's filter and the quick pick: `SVG image`. */
  label: string;
  /** The webview's menu and the quick pick: `Export as SVG…`. */
  menuLabel: string;
  /** The file extension, without the dot. */
  extension: string;
  /** The default file name's ending when it is more than the extension (`weightscope.json`). */
  suffix?: string;
  /** Bytes (written as they are) or text (UTF-8). */
  binary: boolean;
  /** The menu section it sits in. */
  group: 'image' | 'document' | 'data';
  /** One line for `--help`. */
  help: string;
  render(cp: Checkpoint, opts: ExportOptions): string | Uint8Array | Promise<string | Uint8Array>;
}

/** Keeps the id's literal type, so the registry's ids form a union (`ExportFormat`). */
export function defineExport<const Id extends string>(def: ExportDef<Id>): ExportDef<Id> {
  return def;
}
