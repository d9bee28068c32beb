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
  private epoch = 0;

  constructor(private readonly fetch: Fetcher, readonly pageSize = 200) {}

  /** Forget everything (a new model generation). */
  reset(): void {
    this.lists.clear();
    this.byName.clear();
    this.namesInflight.clear();
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
