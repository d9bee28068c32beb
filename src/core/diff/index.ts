/** Comparing two checkpoints (issue 14): the core, with no vscode and no DOM. */
export { compareCheckpoints, compareStructure, walkRows } from './compare';
export type { CompareOptions } from './compare';
export type { DataProgress } from './data';
export { toDiffReport } from './report';
export type { DiffReport } from './report';
export { renderDiffText, renderDiffMarkdown } from './render';
export { renderDiffSvg } from './svg';
export type { DiffSvgOptions } from './svg';
export * from './model';
