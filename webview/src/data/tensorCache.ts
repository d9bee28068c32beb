/**
 * Tensor descriptions fetched from the host on demand, page by page, and kept for the life of
 * one model generation. Requests for a page already on its way share one promise. DOM-free.
 */
import type { TensorPage, TensorQuery, WireTensor } from '../../../src/shared/protocol';

export type Fetcher = (q: TensorQuery) => Promise<TensorPage>;

interface ListEntry {
  total: number | null;
  pages: Map<number, WireTensor[]>;
  inflight: Map<number, Promise<void>>;
}

export class TensorCache {
  private lists = new Map<string, ListEntry>();
  private byName = new Map<string, WireTensor>();
  private namesInflight = new Map<string, Promise<void>>();
  /** The first own tensors of modules on screen (`prefetchHeads`), by path. */
  private heads = new Map<string, { total: number; items: WireTensor[] }>();
  private headsInflight = new Set<string>();
  private epoch = 0;

  constructor(private readonly fetch: Fetcher, readonly pageSize = 200) {}

  /** Forget everything (a new model generation). */
  reset(): void {
    this.lists.clear();
    this.byName.clear();
    this.namesInflight.clear();
    this.heads.clear();
    this.headsInflight.clear();
    this.epoch++;
  }

  private key(path: string, subtree: boolean): string {
    return `${subtree ? 's' : 'o'}:${path}`;
  }

  private entry(path: string, subtree: boolean): ListEntry {
    const k = this.key(path, subtree);
    let e = this.lists.get(k);
    if (!e) {
      e = { total: null, pages: new Map(), inflight: new Map() };
      this.lists.set(k, e);
    }
    return e;
  }

  /** The list's length if a page of it has arrived. */
  total(path: string, subtree: boolean): number | null {
    return this.lists.get(this.key(path, subtree))?.total ?? null;
  }

  /** The tensor at `index` in a module's list, if its page has arrived. */
  at(path: string, subtree: boolean, index: number): WireTensor | undefined {
    const e = this.lists.get(this.key(path, subtree));
    return e?.pages.get(Math.floor(index / this.pageSize))?.[index % this.pageSize];
  }

  /** The first `limit` tensors, if all of them are here. */
  head(path: string, subtree: boolean, limit: number): WireTensor[] | undefined {
    const pre = subtree ? undefined : this.heads.get(path);
    if (pre && (pre.items.length >= limit || pre.items.length >= pre.total)) return pre.items.slice(0, limit);
    const e = this.lists.get(this.key(path, subtree));
    if (!e || e.total === null) return undefined;
    const n = Math.min(limit, e.total);
    const out: WireTensor[] = [];
    for (let i = 0; i < n; i++) {
      const t = e.pages.get(Math.floor(i / this.pageSize))?.[i % this.pageSize];
      if (!t) return undefined;
      out.push(t);
    }
    return out;
  }

  /** Fetch the pages covering rows [start, end) that are not here yet. */
  ensureRange(path: string, subtree: boolean, start: number, end: number): Promise<void> {
    const e = this.entry(path, subtree);
    const last = e.total === null ? start : Math.min(end, e.total);
    const waits: Promise<void>[] = [];
    for (let p = Math.floor(start / this.pageSize); p <= Math.floor(Math.max(start, last - 1) / this.pageSize); p++) {
      if (e.pages.has(p)) continue;
      let inflight = e.inflight.get(p);
      if (!inflight) {
        const epoch = this.epoch;
        inflight = this.fetch({ kind: 'module', path, subtree, offset: p * this.pageSize, limit: this.pageSize }).then(
          (page) => {
            if (epoch !== this.epoch) return;
            e.total = page.total;
            e.pages.set(p, page.items);
            e.inflight.delete(p);
            for (const t of page.items) this.byName.set(t.name, t);
          },
          (err) => {
            e.inflight.delete(p);
            throw err;
          },
        );
        e.inflight.set(p, inflight);
      }
      waits.push(inflight);
    }
    return Promise.all(waits).then(() => undefined);
  }

  /**
   * Fetch the first `limit` own tensors of these modules in one request (the rows on screen),
   * so hovering one shows its card at once. Modules already here or on their way are skipped.
   */
  prefetchHeads(paths: readonly string[], limit: number): Promise<void> {
    const ask = paths.filter((p) => !this.heads.has(p) && !this.headsInflight.has(p) && this.head(p, false, limit) === undefined);
    if (!ask.length) return Promise.resolve();
    for (const p of ask) this.headsInflight.add(p);
    const epoch = this.epoch;
    return this.fetch({ kind: 'heads', paths: ask, limit }).then(
      (page) => {
        for (const p of ask) this.headsInflight.delete(p);
        if (epoch !== this.epoch) return;
        let at = 0;
        for (const h of page.heads ?? []) {
          const items = page.items.slice(at, at + h.count);
          at += h.count;
          this.heads.set(h.path, { total: h.total, items });
          for (const t of items) this.byName.set(t.name, t);
        }
      },
      (err) => {
        for (const p of ask) this.headsInflight.delete(p);
        throw err;
      },
    );
  }

  get(name: string): WireTensor | undefined {
    return this.byName.get(name);
  }

  /** Fetch tensors by name that are not here yet. */
  ensureNames(names: readonly string[]): Promise<void> {
    const missing = names.filter((n) => !this.byName.has(n));
    if (!missing.length) return Promise.resolve();
    const waits: Promise<void>[] = [];
    const ask: string[] = [];
    for (const n of missing) {
      const w = this.namesInflight.get(n);
      if (w) waits.push(w);
      else ask.push(n);
    }
    if (ask.length) {
      const epoch = this.epoch;
      const p = this.fetch({ kind: 'names', names: ask }).then(
        (page) => {
          if (epoch !== this.epoch) return;
          for (const t of page.items) this.byName.set(t.name, t);
          for (const n of ask) this.namesInflight.delete(n);
        },
        (err) => {
          for (const n of ask) this.namesInflight.delete(n);
          throw err;
        },
      );
      for (const n of ask) this.namesInflight.set(n, p);
      waits.push(p);
    }
    return Promise.all(waits).then(() => undefined);
  }
}
