/**
 * Tensor descriptions for the webview, a page at a time: a module's own or subtree tensors, by
 * name, or the next one matching a type-ahead prefix. Runs in the worker beside the Checkpoint.
 */
import type { Checkpoint, ModuleNode, Tensor } from '../core/model';
import type { TensorPage, TensorQuery, WireTensor } from '../shared/protocol';
import { findByPrefix } from '../shared/typeahead';
import { tensorsByName, wireTensor } from './payload';

const MAX_PAGE = 2000;
const MAX_NAMES = 2000;

/** Answers the webview's tensor queries; indexes lazily on the first one. */
export class TensorIndex {
  private byName?: Map<string, Tensor>;
  private modules?: Map<string, ModuleNode>;
  /** Subtree name lists, most recently used last. */
  private readonly subtrees = new Map<string, string[]>();

  constructor(private readonly cp: Checkpoint) {}

  private index(): void {
    if (this.byName) return;
    this.byName = tensorsByName(this.cp);
    const modules = new Map<string, ModuleNode>();
    const stack: ModuleNode[] = [this.cp.modules];
    while (stack.length) {
      const n = stack.pop()!;
      modules.set(n.path, n);
      for (const c of n.children) stack.push(c);
    }
    this.modules = modules;
  }

  /** Names of the tensors in a module's subtree, in tree order (own tensors first). */
  private subtreeNames(node: ModuleNode): string[] {
    const hit = this.subtrees.get(node.path);
    if (hit) {
      this.subtrees.delete(node.path);
      this.subtrees.set(node.path, hit);
      return hit;
    }
    const out: string[] = [];
    const stack: ModuleNode[] = [node];
    while (stack.length) {
      const n = stack.pop()!;
      for (const t of n.tensors) out.push(t);
      for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
    }
    this.subtrees.set(node.path, out);
    if (this.subtrees.size > 8) this.subtrees.delete(this.subtrees.keys().next().value as string);
    return out;
  }

  query(q: TensorQuery): TensorPage {
    this.index();
    if (q.kind === 'module' || q.kind === 'find') {
      const node = this.modules!.get(q.path);
      if (!node) throw new Error(`no module named ${JSON.stringify(q.path)}`);
      const names = q.subtree ? this.subtreeNames(node) : node.tensors;
      if (q.kind === 'find') {
        // As the table shows names: relative to the module.
        const strip = q.path ? q.path.length + 1 : 0;
        const label = (i: number) => names[i].slice(strip) || names[i];
        const from = Math.max(0, Math.min(names.length - 1, Math.floor(q.from) || 0));
        const found = findByPrefix(label, names.length, from, String(q.prefix ?? '').toLowerCase());
        const t = found >= 0 ? this.byName!.get(names[found]) : undefined;
        return t ? { total: names.length, offset: found, items: [wireTensor(t)] } : { total: names.length, offset: from, items: [] };
      }
      const offset = Math.max(0, Math.floor(q.offset) || 0);
      const limit = Math.min(MAX_PAGE, Math.max(0, Math.floor(q.limit) || 0));
      const items: WireTensor[] = [];
      for (let i = offset; i < Math.min(names.length, offset + limit); i++) {
        const t = this.byName!.get(names[i]);
        if (t) items.push(wireTensor(t));
      }
      return { total: names.length, offset, items };
    }
    const items: WireTensor[] = [];
    for (const n of q.names.slice(0, MAX_NAMES)) {
      const t = this.byName!.get(n);
      if (t) items.push(wireTensor(t));
    }
    return { total: items.length, offset: 0, items };
  }
}
