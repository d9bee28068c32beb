/**
 * The worker's side of the comparison view (issue 14): opens two checkpoints (headers only),
 * compares them with the core (src/core/diff) and answers the view's questions (rows of the
 * aligned tree a page at a time, a row's tensors on both sides, the Markdown and SVG exports,
 * which are the CLI's `weightscope diff --format markdown|svg`). Pure Node, no vscode import.
 */
import type { CompareExportRequest, CompareHead, CompareRowsPage, CompareRowsQuery, CompareTensorPage, Progress } from '../shared/protocol';
import type { CheckpointDiff } from '../core/diff';
import { CompareIndex } from './compareIndex';

export class CompareService {
  private constructor(
    readonly diff: CheckpointDiff,
    readonly index: CompareIndex,
  ) {}

  static async open(a: string, b: string, progress?: (p: Progress) => void): Promise<CompareService> {
    const core = await import('../core/index');
    const diffs = await import('../core/diff');
    const one = async (p: string) => {
      progress?.({ stage: 'reading', file: p });
      // As `weightscope diff` opens them (local paths and hf:// or https:// addresses alike).
      return core.openCheckpoint(p, { onProgress: (x) => progress?.({ stage: 'reading', ...x }) });
    };
    // One after the other: the two headers are never in memory unanalysed at once.
    const A = await one(a);
    const B = await one(b);
    progress?.({ stage: 'building', tensors: A.tensors.length + B.tensors.length });
    const diff = diffs.compareStructure(A, B);
    return new CompareService(diff, new CompareIndex(diff));
  }

  head(): CompareHead {
    return this.index.head();
  }

  rows(q: CompareRowsQuery): CompareRowsPage {
    return this.index.page(q);
  }

  tensors(id: number, offset: number, limit: number): CompareTensorPage {
    return this.index.tensors(id, offset, limit);
  }

  async export(p: CompareExportRequest): Promise<string> {
    const { renderDiffMarkdown, renderDiffSvg } = await import('../core/diff');
    const opts = { depth: p.depth, labels: p.labels };
    return p.format === 'svg' ? renderDiffSvg(this.diff, opts) : renderDiffMarkdown(this.diff, opts);
  }
}
