/**
 * PyTorch `print(model)`-style text, each line annotated with the module's unique parameters and,
 * where it shares storage with modules elsewhere, what it shares with. Folded runs of identical
 * blocks print as `(0-11): 12 x Block(`.
 */
import { safeLine } from '../safe-text';
import { Checkpoint, ModuleNode } from '../model';
import { bytes, compact, exact } from '../numbers';
import { adapterLine, quantizationLine } from '../quant/describe';
import { mtpText } from '../../shared/mtpText';
import { cells, plural } from './style';
import { tiePartners } from '../overlaps';

export interface TextOptions {
  /** Deepest level to print (root = 0); deeper modules are summarised. Default: unlimited. */
  depth?: number;
  /** Don't fold repeated blocks. */
  unfold?: boolean;
  /** Start with a comment line naming the quantization scheme or adapter (default true; the CLI prints it in its summary). */
  scheme?: boolean;
}

interface Line {
  text: string;
  note: string;
}

export function renderText(cp: Checkpoint, opts: TextOptions = {}): string {
  const lines: Line[] = [];
  const maxDepth = opts.depth ?? Infinity;
  // Tensors saved beside a pickled model (`{'model': m, 'model_ema': ema}`, a `params` list)
  // hang under the model's node in the tree, but are not part of the model's class: they print
  // after it, one line each, rather than as children of `Sequential(`.
  const root = cp.modules;
  const beside = new Set(root.inferred ? [] : root.children.filter(isBeside));
  const anyInferred = root.inferred ? hasInferred(root) : root.children.some((c) => !beside.has(c) && hasInferred(c));

  const walk = (m: ModuleNode, label: string, indent: string, level: number, each = 1, inRun?: (name: string) => boolean) => {
    const note = noteFor(m, each, inRun);
    const kids = m.children;
    const leafish = kids.length === 0 || level >= maxDepth;
    const head = safe(m.repr && kids.length === 0 ? m.repr : `${m.type}`);
    if (leafish) {
      const suffix = kids.length && level >= maxDepth ? `(…${plural(m.tensorCount, 'tensor')})` : m.repr && kids.length === 0 ? '' : '()';
      lines.push({ text: `${indent}${label}${head}${suffix}`, note });
      return;
    }
    lines.push({ text: `${indent}${label}${head}(`, note });
    const inner = indent + '  ';
    const folded = new Map<number, ModuleNode['folds'][number]>();
    if (!opts.unfold) for (const f of m.folds) folded.set(f.first, f);
    for (let i = 0; i < kids.length; i++) {
      if (level === 0 && beside.has(kids[i])) continue;
      const f = folded.get(i);
      if (f) {
        walk(kids[i], `(${f.from}-${f.to}): ${f.count} x `, inner, level + 1, f.count, runMembers(m, f));
        i = f.last;
        continue;
      }
      walk(kids[i], `(${safe(kids[i].name)}): `, inner, level + 1);
    }
    lines.push({ text: `${indent})`, note: '' });
  };
  walk(root, '', '', 0);
  if (beside.size) {
    lines.push({ text: '# beside the model (not part of it):', note: '' });
    for (const c of beside) lines.push({ text: `(${safe(c.name)}): ${safe(c.type)}(…${plural(c.tensorCount, 'tensor')})`, note: noteFor(c, 1) });
  }

  let widest = 0;
  for (const l of lines) widest = Math.max(widest, cells(l.text));
  const width = Math.min(88, widest + 2);
  const out: string[] = [];
  const scheme = opts.scheme === false ? undefined : quantizationLine(cp) ?? adapterLine(cp);
  if (scheme) out.push(`# ${safe(scheme)}`);
  if (anyInferred && !root.inferred) {
    // The model's class is recorded: only some modules in it were saved without theirs.
    out.push('# some layer types inferred from tensor names and shapes (no class recorded for them)');
  } else if (anyInferred) {
    out.push(
      cp.format === 'onnx'
        ? '# layer types from the ONNX ops that use each module\'s tensors, else inferred from names and shapes (no classes in the file)'
        : '# layer types inferred from tensor names and shapes (state dict; no classes in the file)',
    );
  }
  for (const l of lines) out.push(l.note ? `${l.text}${' '.repeat(Math.max(2, width - cells(l.text)))}${l.note}` : l.text);
  return out.join('\n') + '\n';
}

/** Names come from the file: shown with control characters escaped (see safe-text.ts). */
export const safe = safeLine;

/**
 * A module's note: its parameters, and the modules it shares weight with. `inRun` tells the names
 * inside the folded run the module stands for, which are left out.
 */
function noteFor(m: ModuleNode, each: number, inRun?: (name: string) => boolean): string {
  const p = m.parameters.unique;
  const parts: string[] = [];
  if (p > 0 || m.parameters.total > 0) {
    let s = `${compact(p)}${each > 1 ? ' each' : ''}`;
    if (m.parameters.total !== p) s += ` (${compact(m.parameters.total)} total)`;
    parts.push(s);
  }
  if (m.buffers.total > 0 && p === 0) parts.push(`buffers ${compact(m.buffers.unique)}`);
  if (isBeside(m)) parts.push(`${compact(m.other.unique)} elements`);
  if (m.sharedWith.length) {
    const modules = new Set<string>();
    let declared = false;
    let view = false;
    let dedup = false;
    let more = false;
    /** How the run's own blocks are tied to each other, when they are. */
    let within: string | undefined;
    for (const s of m.sharedWith) {
      // Views tie only to the views they overlap (overlaps.ts); and a run's blocks tied to each
      // other do not share "with" anything outside the run.
      const tie = tiePartners(s);
      let any = false;
      for (const o of tie.names) {
        if (inRun && inRun(o)) {
          within ??= s.relation;
          continue;
        }
        modules.add(o.includes('.') ? o.slice(0, o.lastIndexOf('.')) : o);
        any = true;
      }
      if (tie.more) more = any = true;
      if (!any) continue;
      if (s.relation === 'declared') declared = true;
      if (s.relation === 'view') view = true;
      if (s.relation === 'deduplicated') dedup = true;
    }
    const names = [...modules];
    if (names.length) {
      const how = declared ? ' (declared tie)' : view ? ' (views of one storage)' : dedup ? ' (deduplicated)' : '';
      const rest = names.length > 3 ? ` +${names.length - 3}${more ? ' and more' : ''}` : more ? ' and more' : '';
      parts.push(`${dedup && !declared && !view ? 'stored once with' : 'shares weight with'} ${names.slice(0, 3).map(safe).join(', ')}${rest}${how}`);
    } else if (within) {
      // Every partner is another block of the run: say so, rather than nothing.
      parts.push(within === 'deduplicated' ? 'stored once across the run (deduplicated)' : `the blocks share weight${within === 'view' ? ' (views of one storage)' : within === 'declared' ? ' (declared tie)' : ''}`);
    }
  }
  return parts.join('  ');
}

/** Whether a tensor name lies in one of the blocks of a folded run (numbered children `from`…`to`). */
function runMembers(parent: ModuleNode, f: ModuleNode['folds'][number]): (name: string) => boolean {
  const prefix = parent.path ? `${parent.path}.` : '';
  const from = Number(f.from);
  const to = Number(f.to);
  return (name) => {
    if (!name.startsWith(prefix)) return false;
    const dot = name.indexOf('.', prefix.length);
    const part = name.slice(prefix.length, dot < 0 ? undefined : dot);
    if (!/^\d+$/.test(part)) return false;
    const k = Number(part);
    return k >= from && k <= to;
  };
}

/** A node of tensors saved beside the model, not part of it (analyze.ts names it `Tensors` or `OptimizerState`). */
function isBeside(m: ModuleNode): boolean {
  return m.inferred && (m.type === 'Tensors' || m.type === 'OptimizerState') && m.parameters.total === 0 && m.buffers.total === 0 && m.other.total > 0;
}

function hasInferred(m: ModuleNode): boolean {
  if (m.inferred && m.repr) return true;
  return m.children.some(hasInferred);
}

/** The summary block the CLI prints above the tree. */
export function renderSummary(cp: Checkpoint): string {
  if (cp.format === 'pickle') return renderPickleSummary(cp);
  const out: string[] = [];
  const p = cp.parameters;
  out.push(`${safe(cp.architecture ?? 'checkpoint')} · ${cp.format} · ${cp.files.length} file${cp.files.length === 1 ? '' : 's'}`);
  out.push(`parameters: ${exact(p.unique)} unique${compact(p.unique) !== exact(p.unique) ? ` (${compact(p.unique)})` : ''}${p.total !== p.unique ? `, ${exact(p.total)} total: ${compact(p.total - p.unique)} counted twice through shared storage` : ''}`);
  if (p.declared) out.push(`declared:   ${exact(p.declared.count)} in ${safe(p.declared.source)}${p.declared.count === p.unique ? ' (the same)' : ''}`);
  if (p.mtp) out.push(`mtp:        ${safe(mtpText(p.mtp, exact))} (${safe(p.mtp.source)})`);
  const q = cp.quantization;
  if (q) {
    out.push(`quantized:  ${safe(quantizationLine(cp)!)}`);
    out.push(`            ${exact(q.quantizedParameters)} parameters in ${plural(q.quantizedLayers, 'quantized layer')}; parameters and quantization tensors take ${bytes(q.storedBytes)} (${exact(q.storedElements)} elements as stored)`);
  }
  const a = adapterLine(cp);
  if (a) out.push(`adapter:    ${safe(a)}`);
  if (cp.buffers.total) out.push(`buffers:    ${exact(cp.buffers.unique)} unique${cp.buffers.total !== cp.buffers.unique ? `, ${exact(cp.buffers.total)} total` : ''}`);
  if (cp.other.total) out.push(`other:      ${exact(cp.other.total)} elements (${otherKinds(cp)})`);
  return out.join('\n') + '\n';
}

/** What the tensors counted as `other` are: optimizer state, tensors kept beside the model, or both. */
function otherKinds(cp: Checkpoint): string {
  const optimizer = cp.tensors.some((t) => t.role === 'optimizer-state');
  const beside = cp.tensors.some((t) => t.role === 'other');
  return optimizer && beside ? 'optimizer state and other tensors beside the model' : optimizer ? 'optimizer state' : 'tensors beside the model, not part of it';
}

/** Warnings that say what a pickle without tensors is and would do, most telling first. */
const PICKLE_LEADS = ['not-a-checkpoint', 'magic-bypass', 'broken-pickle'];

/**
 * A plain pickle (pickle.dump, not torch.save) holds no tensors: what it would call first ("a
 * pickle, not a checkpoint: it would call posix.system('touch /tmp/x')"), then what the file is.
 */
function renderPickleSummary(cp: Checkpoint): string {
  const lead = PICKLE_LEADS.map((code) => cp.warnings.find((w) => w.code === code)).find((w) => w !== undefined);
  const info = (cp.metadata.pickle ?? {}) as { protocol?: unknown; pickles?: unknown };
  const facts = [`${cp.files.length} file${cp.files.length === 1 ? '' : 's'}`, plural(cp.totalBytes, 'byte')];
  if (typeof info.protocol === 'number') facts.push(`protocol ${info.protocol}`);
  if (typeof info.pickles === 'number' && info.pickles > 1) facts.push(`${info.pickles} pickles back to back`);
  return [safe(lead?.message ?? 'a pickle, not a checkpoint'), `plain pickle · ${facts.join(' · ')} · no tensors, nothing to count`].join('\n') + '\n';
}
