import type { Logger } from '../log.js';
import { backoffDelay } from '../util/backoff.js';
import { ApiError, systemClock, type Clock, type KubeApi } from '../ports.js';

interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** What the informer reports: `before` absent on add, `after` absent on delete. */
export type ChangeHandler<T> = (key: string, before: T | undefined, after: T | undefined) => void;

export interface InformerOptions<T> {
  api: KubeApi;
  logger: Logger;
  /** The collection path without a query, e.g. `/api/v1/namespaces`. */
  path: string;
  /** For the log and metrics, e.g. `namespaces`. */
  resource: string;
  /** What to keep of an object (null: skip it). Keeping little keeps 10,000 objects cheap. */
  keep(object: unknown): T | null;
  /** Every add, update and delete after the first list; not called for the first list itself. */
  onChange?: ChangeHandler<T>;
  /** What to store when an object is seen again (default `after`); `before` updated in place keeps an unchanged entry long-lived. */
  merge?: (before: T, after: T) => T;
  /** After a relist: true when a kept entry did not change, so no change is reported for it. */
  unchanged?: (before: T, after: T) => boolean;
  /** When set, a list answered 404 logs this and counts as an empty list (see `notServed`). */
  notServed?: string;
  /** After each complete list (the first one included): the store is consistent again. */
  onSynced?: (reason: string) => void;
  clock?: Clock;
  /** `limit` of each list page (default 500). */
  pageSize?: number;
  /** The server ends each watch after about this long (default 5 min); we resume from the last resourceVersion. */
  watchTimeoutSeconds?: number;
  /** Retry delays after a failed list or watch (default 1 s doubling to 30 s). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

/** Namespaced objects by `namespace/name`, cluster-scoped ones by name. */
export function keyOf(object: unknown): string | undefined {
  const m = (object as Meta | null)?.metadata;
  if (!m?.name) return undefined;
  return m.namespace ? `${m.namespace}/${m.name}` : m.name;
}

/**
 * A list-then-watch cache of one resource, as client-go's reflector and informer do it:
 * list in pages, watch from the list's resourceVersion with bookmarks, resume from the last
 * version seen when a watch ends, list again on 410 Gone (the version was compacted away,
 * so events were missed), and back off on errors. Handlers see every change once.
 */
export class Informer<T> {
  private store = new Map<string, T>();
  private resourceVersion = '';
  private synced = false;
  private stopped = true;
  private closeWatch: (() => void) | undefined;
  private retry: unknown;
  private failures = 0;
  private generation = 0;
  private syncedWaiters: Array<() => void> = [];
  private readonly clock: Clock;
  /** Complete lists, list requests (one per page, retries included), watches opened and events seen. */
  readonly counts = { lists: 0, requests: 0, watches: 0, events: 0, bookmarks: 0, gone: 0, errors: 0 };

  constructor(private readonly o: InformerOptions<T>) {
    this.clock = o.clock ?? systemClock;
  }

  get isSynced(): boolean {
    return this.synced;
  }

  get size(): number {
    return this.store.size;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  values(): IterableIterator<T> {
    return this.store.values();
  }

  /** Fill a gap the watch has not covered yet (a GET on a cache miss); never overwrites. */
  fill(key: string, value: T): void {
    if (!this.store.has(key)) this.store.set(key, value);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.relist('start');
  }

  stop(): void {
    this.stopped = true;
    this.cancel();
    this.releaseWaiters();
  }

  /** Resolves once the first list is in (at once when it already is, or when stopped). */
  whenSynced(): Promise<void> {
    if (this.synced || this.stopped) return Promise.resolve();
    return new Promise((r) => this.syncedWaiters.push(r));
  }

  /** List again now (the periodic resync); the running watch is replaced. */
  resync(): void {
    if (this.stopped) return;
    this.cancel();
    void this.relist('resync');
  }

  /** End the running list, watch or retry: whatever they still report is ignored. */
  private cancel(): void {
    this.generation++;
    this.closeWatch?.();
    this.closeWatch = undefined;
    this.clock.clearTimeout(this.retry);
  }

  private releaseWaiters(): void {
    for (const w of this.syncedWaiters) w();
    this.syncedWaiters = [];
  }

  private async listAll(): Promise<{ items: Map<string, T>; rv: string }> {
    const items = new Map<string, T>();
    const limit = this.o.pageSize ?? 500;
    let cont = '';
    let rv = '';
    this.counts.lists++;
    for (;;) {
      const path = `${this.o.path}?limit=${limit}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
      this.counts.requests++;
      const res = await this.o.api.request('GET', path, { timeoutMs: 60_000 });
      if (res.status === 410 && cont) {
        // The continue token outlived compaction: only a fresh list is consistent.
        this.counts.gone++;
        items.clear();
        cont = '';
        continue;
      }
      if (res.status !== 200) throw new ApiError('GET', path, res.status, res.body);
      const body = res.body as { items?: unknown[]; metadata?: { continue?: string; resourceVersion?: string } };
      for (const raw of body.items ?? []) this.put(items, raw);
      cont = body.metadata?.continue ?? '';
      rv = body.metadata?.resourceVersion ?? rv;
      if (!cont) return { items, rv };
    }
  }

  private put(into: Map<string, T>, raw: unknown): void {
    const key = keyOf(raw);
    if (key === undefined) return;
    const kept = this.o.keep(raw);
    if (kept !== null) into.set(key, kept);
  }

  private async relist(reason: string): Promise<void> {
    const generation = this.generation;
    try {
      const { items, rv } = await this.listAll();
      if (this.stopped || generation !== this.generation) return;
      this.filled(items, reason);
      this.resourceVersion = rv;
      this.failures = 0;
      this.watch();
    } catch (err) {
      if (generation !== this.generation) return;
      if (this.o.notServed && err instanceof ApiError && err.status === 404) return this.notServed(err, reason);
      this.backoff(`listing ${this.o.resource} failed`, err as Error, () => void this.relist(reason));
    }
  }

  private filled(items: Map<string, T>, reason: string): void {
    this.replace(items);
    if (!this.synced) {
      this.synced = true;
      this.o.logger.info({ resource: this.o.resource, objects: items.size }, 'cache filled');
      this.releaseWaiters();
    } else this.o.logger.info({ resource: this.o.resource, objects: items.size, reason }, 'cache listed again');
    this.o.onSynced?.(reason);
  }

  /**
   * The API server does not serve the resource (its CRD is missing): an empty cache, so the
   * other caches are not held up, and a slow retry in case it is installed later.
   */
  private notServed(err: ApiError, reason: string): void {
    this.o.logger.error({ resource: this.o.resource, err: err.message }, this.o.notServed!);
    this.filled(new Map(), reason);
    this.failures = Math.max(this.failures, 5);
    this.backoff(`listing ${this.o.resource} failed`, err, () => void this.relist(reason));
  }

  /** Swap in a fresh list, reporting what differs (nothing on the first list). */
  private replace(items: Map<string, T>): void {
    const old = this.store;
    this.store = items;
    const report = this.synced ? this.o.onChange : undefined;
    if (!report) return;
    for (const [key, before] of old) if (!items.has(key)) report(key, before, undefined);
    for (const [key, after] of items) {
      const before = old.get(key);
      if (before === undefined || !this.o.unchanged?.(before, after)) report(key, before, after);
    }
  }

  private backoff(what: string, err: Error, again: () => void): void {
    if (this.stopped) return;
    this.failures++;
    this.counts.errors++;
    const delay = backoffDelay(this.failures, { initialMs: this.o.backoffInitialMs ?? 1_000, maxMs: this.o.backoffMaxMs ?? 30_000 });
    this.o.logger.warn({ resource: this.o.resource, err: err.message, retryInMs: delay }, `${what}; the cache may be out of date until it recovers`);
    this.retry = this.clock.setTimeout(again, delay);
  }

  private gone(): void {
    this.counts.gone++;
    this.o.logger.info({ resource: this.o.resource }, 'watch expired (410 Gone); listing again');
    void this.relist('410 Gone');
  }

  private watch(): void {
    if (this.stopped) return;
    this.counts.watches++;
    const generation = this.generation;
    const timeout = this.o.watchTimeoutSeconds ?? 300;
    const path = `${this.o.path}?watch=1&allowWatchBookmarks=true&timeoutSeconds=${timeout}&resourceVersion=${encodeURIComponent(this.resourceVersion)}`;
    const state = { received: false, ended: false };
    const close = this.o.api.watch(
      path,
      (type, object) => {
        if (state.ended || generation !== this.generation) return;
        if (type !== 'ERROR') {
          state.received = true;
          return this.apply(type, object);
        }
        const status = object as { code?: number; message?: string };
        if (status.code !== 410)
          return void this.o.logger.warn({ resource: this.o.resource, code: status.code, message: status.message }, 'watch reported an error');
        // Nothing after this is usable: do not wait for the server to close the stream.
        state.ended = true;
        close();
        if (this.closeWatch === close) this.closeWatch = undefined;
        this.gone();
      },
      (err) => {
        if (state.ended || this.stopped || generation !== this.generation) return;
        state.ended = true;
        this.closeWatch = undefined;
        this.watchEnded(err, state.received);
      },
    );
    if (!state.ended) this.closeWatch = close;
  }

  private watchEnded(err: Error | undefined, received: boolean): void {
    if (err instanceof ApiError && err.status === 410) return void this.gone();
    if (err) return void this.backoff(`watching ${this.o.resource} failed`, err, () => this.watch());
    // A healthy watch closed at its timeout: resume where it left off. One that ended with
    // nothing in it waits a moment, so a misbehaving server cannot make this a busy loop.
    if (received) {
      this.failures = 0;
      this.watch();
    } else {
      this.retry = this.clock.setTimeout(() => this.watch(), this.o.backoffInitialMs ?? 1_000);
    }
  }

  private apply(type: string, object: unknown): void {
    this.counts.events++;
    const rv = (object as Meta | null)?.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (type === 'BOOKMARK') {
      this.counts.bookmarks++;
      return;
    }
    const key = keyOf(object);
    if (key === undefined) return;
    const before = this.store.get(key);
    const kept = type === 'DELETED' ? null : this.o.keep(object);
    if (kept === null) {
      if (before === undefined) return;
      this.store.delete(key);
      this.o.onChange?.(key, before, undefined);
      return;
    }
    const after = before !== undefined && this.o.merge ? this.o.merge(before, kept) : kept;
    this.store.set(key, after);
    this.o.onChange?.(key, before, after);
  }
}
