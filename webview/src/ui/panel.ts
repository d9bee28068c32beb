/**
 * What a details panel is (panels.ts registers them). In its own file so that panel modules
 * import the interface, not the registry that imports them.
 */
import type { WireGroupInfo, WireSummary } from '../../../src/shared/protocol';
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
