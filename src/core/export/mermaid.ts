/**
 * A Mermaid `flowchart TD` that GitHub renders: one node per visible module (folded runs are one
 * node, `(0-11): 12 x Block`), containment edges from parent to child, and dotted edges between
 * modules that share storage, coloured per shared group. Labels are quoted with Mermaid's entity
 * codes for the characters that would end or confuse them (`"` → `#quot;` and so on).
 */
import { Checkpoint } from '../model';
import { compact, exact, percent } from '../numbers';
import { LayoutOptions, VisibleNode, layoutTree } from './layout';
import { describeType, hasInferredTypes, oneLine, plural, tieColor, truncate } from './style';

export interface MermaidOptions extends LayoutOptions {}

export function renderMermaid(cp: Checkpoint, opts: MermaidOptions = {}): string {
  const tree = layoutTree(cp, { maxRows: 80, maxChildren: 12, ...opts });
  const total = cp.parameters.unique;
  const out: string[] = ['flowchart TD'];
  const title = cp.architecture ?? cp.modules.type;
  const p = cp.parameters;
  out.push(`%% ${comment(title)}: ${exact(p.unique)} parameters, shared storage counted once${p.total !== p.unique ? ` (${exact(p.total)} counting each tied name)` : ''}`);
  if (hasInferredTypes(cp.modules)) out.push('%% layer types inferred from tensor names and shapes (state dict)');
  if (tree.depth < tree.modelDepth) out.push(`%% showing ${tree.depth} of ${tree.modelDepth} levels`);
  out.push('%% exported by Weightscope');

  const id = (v: VisibleNode) => `m${v.id}`;
  const classes: Record<'root' | 'container' | 'leaf' | 'fold' | 'more', string[]> = { root: [], container: [], leaf: [], fold: [], more: [] };
  let links = 0;
  const edges: string[] = [];
  for (const v of tree.rows) {
    // A depth cut is a line in its module's label, not a node of its own.
    if (v.kind === 'collapsed') continue;
    out.push(`  ${id(v)}${shape(v, total)}`);
    if (v.parent) {
      edges.push(`  ${id(v.parent)} --> ${id(v)}`);
      links++;
    }
    if (v.level === 0) classes.root.push(id(v));
    else if (v.kind === 'fold') classes.fold.push(id(v));
    else if (v.kind === 'elided') classes.more.push(id(v));
    else if (v.node.children.length) classes.container.push(id(v));
    else classes.leaf.push(id(v));
  }
  out.push(...edges);

  const styles: string[] = [];
  for (const link of tree.ties) {
    if (link.rows.length < 2) continue;
    const label = link.relation === 'declared' ? 'declared tie' : link.relation === 'view' ? 'shared view' : link.relation === 'deduplicated' ? 'deduplicated' : 'tied';
    const indices: number[] = [];
    for (let i = 0; i + 1 < link.rows.length; i++) {
      out.push(`  ${id(link.rows[i])} -.-|${label}| ${id(link.rows[i + 1])}`);
      indices.push(links++);
    }
    styles.push(`  linkStyle ${indices.join(',')} stroke:${tieColor(link.group)},stroke-width:2px`);
  }

  out.push('  classDef root fill:#ffffff,stroke:#1f2328,stroke-width:2px,color:#1f2328');
  out.push('  classDef container fill:#f6f8fa,stroke:#d1d9e0,color:#1f2328');
  out.push('  classDef leaf fill:#ffffff,stroke:#d1d9e0,color:#0550ae');
  out.push('  classDef fold fill:#f3f0ff,stroke:#8250df,color:#6639ba');
  out.push('  classDef more fill:#ffffff,stroke:#d1d9e0,stroke-dasharray:4 3,color:#59636e');
  for (const [name, ids] of Object.entries(classes)) {
    for (let i = 0; i < ids.length; i += 50) out.push(`  class ${ids.slice(i, i + 50).join(',')} ${name}`);
  }
  out.push(...styles);
  return out.join('\n') + '\n';
}

function shape(v: VisibleNode, total: number): string {
  const m = v.node;
  if (v.kind === 'elided') {
    const h = v.hidden!;
    return `["${label(`… ${plural(h.modules, 'more module')}, ${compact(h.parameters)} parameters`)}"]`;
  }
  const cut = v.children.find((c) => c.kind === 'collapsed');
  const more = cut ? `<br/>${label(`… ${plural(cut.hidden!.modules, 'submodule')}, ${plural(cut.hidden!.tensors, 'tensor')}`)}` : '';
  const stats = (s: string) => `${s} · ${percent(v.unique, total)}`;
  if (v.level === 0) return `(["${label(m.type)}<br/>${label(`${compact(v.unique)} parameters`)}${more}"])`;
  if (v.kind === 'fold') {
    return `[["${label(`${v.label}: ${v.fold!.count} x ${m.type}`)}<br/>${label(stats(`${v.fold!.count} x ${compact(m.parameters.unique)}`))}${more}"]]`;
  }
  const params = m.parameters.total === 0 && v.unique === 0 ? 'no parameters' : stats(`${compact(v.unique)}${v.perBlock ? ' each' : ''}`);
  const text = `${label(v.label)}<br/>${label(truncate(describeType(m), 72))}<br/>${label(params)}${more}`;
  return m.children.length ? `("${text}")` : `["${text}"]`;
}

/** Text for inside a quoted Mermaid label. */
export function label(s: string): string {
  return oneLine(s).replace(/[#"<>&[\]{}`|]/g, (c) => `#${ENTITY[c]};`);
}

const ENTITY: Record<string, string> = {
  '#': '35',
  '"': 'quot',
  '<': 'lt',
  '>': 'gt',
  '&': 'amp',
  '[': '91',
  ']': '93',
  '{': '123',
  '}': '125',
  '`': '96',
  '|': '124',
};

function comment(s: string): string {
  return oneLine(s).replace(/%%/g, '% %');
}
