/**
 * The details area's panels (tabs under the tree): a small registry. A panel has an id (view
 * state, links from the summary), a title taken from the summary, and a render function. A new
 * panel is its module, exporting a `DetailsPanel`, and one line in `PANELS`.
 */
import type { WireGroupInfo, WireSummary } from '../../../src/shared/protocol';
import { metadataPanel, safetyPanel, warningsPanel } from './details';
import type { TensorTable } from './tensorTable';

/** What a panel is given when a model is shown (again after each reload). */
export interface PanelContext {
  summary: WireSummary;
  /** The storage groups that save the most (the model's groups come on demand). */
  groups: readonly WireGroupInfo[];
  /** The tensor table, which follows the tree's selection (the Tensors panel shows it). */
  table: TensorTable;
  /** Ask the host to open the full metadata as a JSON document. */
  openMetadata(): void;
}

export interface DetailsPanel {
  id: string;
  title(summary: WireSummary): string;
  render(ctx: PanelContext): HTMLElement;
}

const tensorsPanel: DetailsPanel = { id: 'tensors', title: () => 'Tensors', render: (ctx) => ctx.table.element };

/** The panels, in tab order. */
export const PANELS: readonly DetailsPanel[] = [tensorsPanel, metadataPanel, warningsPanel, safetyPanel];

/** The tab index of a panel; 0 (the first) for an id no panel has. */
export function panelIndex(id: string): number {
  return Math.max(0, PANELS.findIndex((p) => p.id === id));
}
