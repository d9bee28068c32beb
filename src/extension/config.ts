/** Weightscope settings, read from the `weightscope.*` configuration. */
import * as vscode from 'vscode';
import type { NumberFormat, ViewSettings } from '../shared/protocol';

export const SECTION = 'weightscope';

export function viewSettings(scope?: vscode.Uri): ViewSettings {
  const c = vscode.workspace.getConfiguration(SECTION, scope);
  const depth = c.get<number>('expandDepth', 2);
  const fmt = c.get<string>('numberFormat', 'compact');
  return {
    expandDepth: Number.isFinite(depth) ? Math.max(0, Math.min(64, Math.floor(depth))) : 2,
    numberFormat: (fmt === 'exact' ? 'exact' : 'compact') as NumberFormat,
  };
}

/** Module depth for exports; undefined lets the exporter choose. */
export function exportDepth(scope?: vscode.Uri): number | undefined {
  const d = vscode.workspace.getConfiguration(SECTION, scope).get<number | null>('export.depth', null);
  return typeof d === 'number' && Number.isFinite(d) && d > 0 ? Math.floor(d) : undefined;
}

export function suggestForBin(): boolean {
  return vscode.workspace.getConfiguration(SECTION).get<boolean>('suggestForBinFiles', true);
}

/** Context key: the active Weightscope editor shows a model (exports need one). */
export const MODEL_READY_CONTEXT = 'weightscope.modelReady';
