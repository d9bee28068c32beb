/**
 * The details area's panels (tabs under the tree): a small registry. A panel has an id (view
 * state, links from the summary), a title taken from the summary, and a render function. A new
 * panel is its module, exporting a `DetailsPanel` (panel.ts), and one line in `PANELS`.
 */
import { metadataPanel, safetyPanel, warningsPanel } from './details';
import type { DetailsPanel } from './panel';

export type { DetailsPanel, PanelContext } from './panel';

const tensorsPanel: DetailsPanel = { id: 'tensors', title: () => 'Tensors', render: (ctx) => ctx.table.element };

/** The panels, in tab order. */
export const PANELS: readonly DetailsPanel[] = [tensorsPanel, metadataPanel, warningsPanel, safetyPanel];

/** The tab index of a panel; 0 (the first) for an id no panel has. */
export function panelIndex(id: string): number {
  return Math.max(0, PANELS.findIndex((p) => p.id === id));
}
