/**
 * Tensor descriptions for the webview, a page at a time: a module's own or subtree tensors, by
 * name, or the next one matching a type-ahead prefix, with the storage groups the page's
 * tensors are in. Runs in the worker beside the Checkpoint.
 */
import type { ModuleNode, Tensor } from '../core/model';
import type { TensorPage, TensorQuery, WireGroupInfo, WireTensor } from '../shared/protocol';
import { findByPrefix } from '../shared/typeahead';
import { wireTensor } from './payload';
import type { TreeIndex } from './treeIndex';

const MAX_PAGE = 2000;
const MAX_NAMES = 2000;
/** `heads`: modules and tensors per module at most. */
const MAX_HEADS = 200;
const MAX_HEAD = 16;

/** Answers the webview's tensor queries over the worker's module index. */
export class TensorIndex {
  private readonly byName: Map<string, Tensor>;
  /** Subtree name lists, most recently used last. */
  private readonly subtrees = new Map<string, string[]>();

  constructor(private readonly tree: TreeIndex) {
    this.byName = tree.byName;
  }

  private module(path: string): ModuleNode | undefined {
    const id = this.tree.byPath.get(path);
    return id === undefined ? undefined : this.tree.modules[id];
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
    const page = this.items(q);
    // The groups of the page's tensors, so the table names the others on their storage.
    const seen = new Set<number>();
    const groups: WireGroupInfo[] = [];
    for (const t of page.items) {
      if (t.group < 0 || seen.has(t.group)) continue;
      seen.add(t.group);
      const g = this.tree.groupInfo(t.group);
      if (g) groups.push(g);
    }
    if (groups.length) page.groups = groups;
    return page;
  }

  private items(q: TensorQuery): TensorPage {
    if (q.kind === 'heads') {
      const items: WireTensor[] = [];
      const heads: { path: string; total: number; count: number }[] = [];
      const limit = Math.min(MAX_HEAD, Math.max(0, Math.floor(q.limit) || 0));
      for (const path of q.paths.slice(0, MAX_HEADS)) {
        const node = this.module(path);
        if (!node) continue;
        let count = 0;
        for (const n of node.tensors.slice(0, limit)) {
          const t = this.byName.get(n);
          if (!t) continue;
          items.push(wireTensor(t));
          count++;
        }
        heads.push({ path, total: node.tensors.length, count });
      }
      return { total: items.length, offset: 0, items, heads };
    }
    if (q.kind === 'module' || q.kind === 'find') {
      const node = this.module(q.path);
      if (!node) throw new Error(`no module named ${JSON.stringify(q.path)}`);
      const names = q.subtree ? this.subtreeNames(node) : node.tensors;
      if (q.kind === 'find') {
        // As the table shows names: relative to the module.
        const strip = q.path ? q.path.length + 1 : 0;
        const label = (i: number) => names[i].slice(strip) || names[i];
        const from = Math.max(0, Math.min(names.length - 1, Math.floor(q.from) || 0));
        const found = findByPrefix(label, names.length, from, String(q.prefix ?? '').toLowerCase());
        const t = found >= 0 ? this.byName.get(names[found]) : undefined;
        return t ? { total: names.length, offset: found, items: [wireTensor(t)] } : { total: names.length, offset: from, items: [] };
      }
      const offset = Math.max(0, Math.floor(q.offset) || 0);
      const limit = Math.min(MAX_PAGE, Math.max(0, Math.floor(q.limit) || 0));
      const items: WireTensor[] = [];
      for (let i = offset; i < Math.min(names.length, offset + limit); i++) {
        const t = this.byName.get(names[i]);
        if (t) items.push(wireTensor(t));
      }
      return { total: names.length, offset, items };
    }
    const items: WireTensor[] = [];
    for (const n of q.names.slice(0, MAX_NAMES)) {
      const t = this.byName.get(n);
      if (t) items.push(wireTensor(t));
    }
    return { total: items.length, offset: 0, items };
  }
}
