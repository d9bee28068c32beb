/**
 * The format registry: one list of format modules (format.ts says what a module is), and
 * everything the rest of Weightscope needs to know about formats, derived from that list:
 * sniffing, labels, file name extensions, VS Code editor patterns, what to open in a folder,
 * how shards merge, and the "not a checkpoint" message.
 */
import { CheckpointError } from '../errors';
import { CLOSE_BRACE, OPEN_BRACE, QUOTE, skipWs } from '../json-scan';
import { CERTAIN, FolderChoice, FormatModule, Match, NamePattern } from './format';
import { safetensorsReader } from './safetensors';
import { dcpReader } from './dcp';
import { pytorchReader } from './pytorch';
import { ggufReader } from './gguf';
import { onnxReader } from './onnx';

export * from './format';

/**
 * Check that every module is complete, and that modules do not claim the same id or format
 * value. Throws an Error naming each module and what it lacks (a registration bug, not bad input).
 */
export function validateRegistry(modules: readonly FormatModule[]): readonly FormatModule[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  const variantOwner = new Map<string, string>();
  modules.forEach((m, i) => {
    const who = typeof m?.id === 'string' && m.id ? `format module "${m.id}"` : `format module #${i + 1}`;
    const lack = (what: string) => problems.push(`${who}: ${what}`);
    if (typeof m?.id !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(m.id)) lack('missing id (lower-case letters, digits and dashes)');
    else if (ids.has(m.id)) lack('id already registered by another module');
    else ids.add(m.id);
    if (typeof m?.name !== 'string' || !m.name) lack('missing name (how messages name the format)');
    const variants = m?.variants && typeof m.variants === 'object' ? Object.entries(m.variants) : [];
    if (variants.length === 0) lack('missing variants (each RawCheckpoint.format value it produces, with its label)');
    for (const [v, label] of variants) {
      if (typeof label !== 'string' || !label) lack(`variant "${v}" has no label`);
      const owner = variantOwner.get(v);
      if (owner !== undefined) lack(`variant "${v}" is also produced by "${owner}"`);
      else variantOwner.set(v, m.id);
    }
    const exts = Array.isArray(m?.extensions) ? m.extensions : [];
    if (exts.length === 0) lack('missing extensions (file name endings it reads, e.g. ".safetensors")');
    for (const e of exts) if (typeof e !== 'string' || !/^\.[a-z0-9._-]+$/.test(e)) lack(`extension ${JSON.stringify(e)} is not lower case with a leading dot`);
    const def = Array.isArray(m?.editor?.default) ? m.editor.default : undefined;
    const opt = Array.isArray(m?.editor?.option) ? m.editor.option : undefined;
    if (!def || !opt) lack('missing editor patterns (editor.default and editor.option, as in package.json customEditors)');
    else {
      if (def.length + opt.length === 0) lack('editor patterns are empty: VS Code would never open its files');
      for (const e of exts) if (!def.includes(`*${e}`) && !opt.includes(`*${e}`)) lack(`extension "${e}" has no editor pattern "*${e}" (default or option)`);
    }
    if (!Number.isSafeInteger(m?.sniffBytes) || m.sniffBytes <= 0) lack('missing sniffBytes (bytes match() needs)');
    if (typeof m?.match !== 'function') lack('missing match(head, size, fileName)');
    if (typeof m?.read !== 'function') lack('missing read(src, ctx, match)');
    if (m?.folder && (!Array.isArray(m.folder.prefer) || m.folder.prefer.length === 0)) lack('folder rule without names to prefer');
    const merged = m?.shards?.format;
    if (merged !== undefined && !(m.variants && Object.prototype.hasOwnProperty.call(m.variants, merged))) lack(`shards.format "${merged}" is not one of its variants`);
  });
  if (problems.length) throw new Error(`incomplete format registry:\n  ${problems.join('\n  ')}`);
  return modules;
}

/** Every format, in folder-preference order: a folder holding several opens the first listed. */
export const FORMATS: readonly FormatModule[] = validateRegistry([
  safetensorsReader,
  // Before PyTorch: a DCP data file is a run of torch.save zips, which only its name tells apart;
  // and a DCP folder may hold a torch.save file too (Megatron-Core's common.pt).
  dcpReader,
  pytorchReader,
  ggufReader,
  onnxReader,
]);

/**
 * Names that say nothing of the format inside (`best.model`, `yolo.weights`): Weightscope is
 * offered for them (Open With…), never the default editor.
 */
export const OFFERED_FOR_ANY_FORMAT: readonly string[] = ['*.model', '*.weights'];

/** Bytes of a file's start that sniffing needs. */
export const SNIFF_BYTES = Math.max(...FORMATS.map((m) => m.sniffBytes));

export interface Picked {
  module: FormatModule;
  /** What match() recognised; null when the module was chosen by the file's name. */
  match: Match | null;
}

/**
 * The module for a file: the most confident match() on its first bytes (ties go to the module
 * registered first), else the module whose extension the name ends with, else undefined.
 */
export function pickFormat(head: Uint8Array, size: number, fileName: string): Picked | undefined {
  let best: Picked | undefined;
  for (const module of FORMATS) {
    const match = module.match(head, size, fileName);
    if (match && (!best || match.confidence > best.match!.confidence)) best = { module, match };
    // Nothing is more confident than CERTAIN, and ties go to the module registered first: the
    // modules after it need not look (a pickle's sniffer runs its machine on the bytes, ~0.1 ms,
    // for each of a sharded model's 163 safetensors files).
    if (best && best.match!.confidence >= CERTAIN) break;
  }
  if (best) return best;
  const module = moduleForName(fileName);
  return module ? { module, match: null } : undefined;
}

/**
 * The format whose signature a file's first bytes carry (CERTAIN matches only; the name is not
 * used): for files whose name says little (`*.bin`), before offering to open them.
 */
export function recognise(head: Uint8Array, size: number): { module: FormatModule; match: Match } | undefined {
  const picked = pickFormat(head, size, '');
  return picked?.match && picked.match.confidence >= CERTAIN ? { module: picked.module, match: picked.match } : undefined;
}

/** The module whose extension `fileName` ends with. */
export function moduleForName(fileName: string): FormatModule | undefined {
  const lower = fileName.toLowerCase();
  return FORMATS.find((m) => m.extensions.some((e) => lower.endsWith(e)));
}

/** The error for a file no module recognises, by content or by name. */
export function unknownFormatError(file: string, head: Uint8Array): CheckpointError {
  const first = Array.from(head.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  // A JSON object: most often a file that sits beside the weights (config.json, tokenizer.json,
  // generation_config.json) opened instead of them. Said as such, with what to open.
  const json = jsonObjectAt(head);
  const what = json ? 'a JSON document, not a checkpoint this tool reads' : 'not a checkpoint this tool reads';
  const hint = json ? '; to see the model it may describe, open the folder holding its weights or their shard index (*.index.json)' : '';
  return new CheckpointError('unknown-format', `${what} (${FORMATS.map((m) => m.name).join(', ')})${hint}; first bytes ${first}`, { file, offset: 0 });
}

/** Whether `head` starts with a JSON object: `{` after JSON whitespace, then `"` or `}` after more. */
function jsonObjectAt(head: Uint8Array): boolean {
  const p = skipWs(head, 0);
  if (head[p] !== OPEN_BRACE) return false;
  const q = skipWs(head, p + 1);
  return head[q] === QUOTE || head[q] === CLOSE_BRACE;
}

/** The module producing a RawCheckpoint.format value. */
export function moduleOf(format: string): FormatModule | undefined {
  return FORMATS.find((m) => Object.prototype.hasOwnProperty.call(m.variants, format));
}

/** Display label of a RawCheckpoint.format value: `safetensors (sharded)`, `PyTorch (zip)`... */
export function formatLabel(format: string): string {
  return moduleOf(format)?.variants[format] ?? format;
}

/** Every format value with its label, in registry order. */
export const FORMAT_LABELS: Readonly<Record<string, string>> = Object.freeze(Object.assign(Object.create(null), ...FORMATS.map((m) => m.variants)));

/** Every extension some module reads, lower case with the dot. */
export const EXTENSIONS: readonly string[] = [...new Set(FORMATS.flatMap((m) => m.extensions))];

/** package.json `customEditors` selectors: the default editor's patterns and the offered one's. */
export const EDITOR_PATTERNS: { readonly default: readonly string[]; readonly option: readonly string[] } = {
  default: [...new Set(FORMATS.flatMap((m) => m.editor.default))],
  option: [...new Set([...FORMATS.flatMap((m) => m.editor.option), ...OFFERED_FOR_ANY_FORMAT])],
};

/** Whether a file name (not a path) fits a VS Code filename pattern (`*` and `?` globs), ignoring case. */
export function fitsPattern(fileName: string, pattern: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${re}$`, 'i').test(fileName);
}

/** Whether Weightscope is the default editor for a file of this name. */
export function isDefaultEditorFile(fileName: string): boolean {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  return EDITOR_PATTERNS.default.some((p) => fitsPattern(base, p));
}

/** Extensions (no dot) for a file-open dialog: the last extension of every editor pattern. */
export const OPEN_DIALOG_EXTENSIONS: readonly string[] = [
  ...new Set([...EDITOR_PATTERNS.default, ...EDITOR_PATTERNS.option].map((p) => p.slice(p.lastIndexOf('.') + 1))),
];

// ---------------------------------------------------------------------------------------------
// Folders

function fits(name: string, p: NamePattern, anyCase = false): boolean {
  if (typeof p === 'string') return anyCase ? name.toLowerCase() === p.toLowerCase() : name === p;
  return (anyCase && !p.flags.includes('i') ? new RegExp(p.source, p.flags + 'i') : p).test(name);
}

export type FolderPick =
  | { module: FormatModule; file: string; note?: string }
  | { module: FormatModule; shards: string[] }
  /** Several files fit and none is preferred: the user must open one. */
  | { module: FormatModule; several: string[] };

/** What to open in a folder holding `names` (sorted), as a user would expect; undefined when nothing fits. */
export function pickInFolder(names: readonly string[]): FolderPick | undefined {
  for (const module of FORMATS) {
    for (const p of module.folder?.prefer ?? []) {
      const present = names.filter((n) => fits(n, p));
      if (present.length === 0) continue;
      if (present.length === 1) return { module, file: present[0] };
      const choice: FolderChoice | undefined = module.folder!.choose?.(present);
      if (!choice) return { module, several: present };
      return 'file' in choice ? { module, file: choice.file, ...(choice.note ? { note: choice.note } : {}) } : { module, shards: choice.shards };
    }
  }
  return undefined;
}

/** Whether a folder scan would consider this name (any case): used to point at subfolders holding checkpoints. */
export function isWeightFileName(name: string): boolean {
  return FORMATS.some((m) => (m.folder?.prefer ?? []).some((p) => fits(name, p, true)));
}

/** What a folder scan looks for, for messages: `.safetensors, .bin/.pt/.pth/.ckpt, .gguf, .onnx`. */
export const FOLDER_KINDS: string = FORMATS.filter((m) => m.folder)
  .map((m) => m.extensions.filter((e) => m.folder!.prefer.some((p) => fits(`x${e}`, p, true))).join('/'))
  .filter(Boolean)
  .join(', ');
