import { NAMESPACE_POLICY_LABEL } from '../core/names.js';
import type { Logger } from '../log.js';
import { type NamespacePolicyLookup, ApiError, type KubeApi, systemClock, type Clock } from '../ports.js';

interface NamespaceObject {
  metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, string> | null };
}

export interface NamespaceCacheOptions {
  api: KubeApi;
  logger: Logger;
  clock?: Clock;
  /** The one GET for a namespace the cache has not seen (default 2 s): admission waits on it. */
  lookupTimeoutMs?: number;
  /** Reconnect backoff after a failed list or watch (default 1 s, doubled up to 30 s). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** The server ends each watch after about this long (default 5 min); we then resume from the last resourceVersion. */
  watchTimeoutSeconds?: number;
  /** A namespace's policy label changed (not called for the first list). */
  onPolicyChange?: (namespace: string, before: string | null, after: string | null) => void;
}

function policyOf(ns: NamespaceObject): string | null {
  const v = ns.metadata?.labels?.[NAMESPACE_POLICY_LABEL];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
}

const PAGE = 500;

/**
 * Namespace policy labels from a list-then-watch cache: admission answers from memory.
 * The watch resumes from the last resourceVersion it saw; a 410 Gone (the version was
 * compacted away) means events were missed, so it lists again and reports what changed.
 */
export class NamespaceCache implements NamespacePolicyLookup {
  private readonly policies = new Map<string, string | null>();
  /** Labels of every namespace seen, for the timer's namespace selector. */
  private readonly labels = new Map<string, Readonly<Record<string, string>>>();
  private readonly lookups = new Map<string, Promise<string | null>>();
  private resourceVersion = '';
  private synced = false;
  private stopped = true;
  private closeWatch: (() => void) | undefined;
  private retry: unknown;
  private failures = 0;
  private syncedWaiters: Array<() => void> = [];
  private readonly clock: Clock;
  private readonly o: Required<Pick<NamespaceCacheOptions, 'lookupTimeoutMs' | 'backoffInitialMs' | 'backoffMaxMs' | 'watchTimeoutSeconds'>>;
  /** Lists and watches opened, for tests and the log. */
  readonly counts = { lists: 0, watches: 0, gets: 0 };

  constructor(private readonly options: NamespaceCacheOptions) {
    this.clock = options.clock ?? systemClock;
    this.o = { lookupTimeoutMs: 2_000, backoffInitialMs: 1_000, backoffMaxMs: 30_000, watchTimeoutSeconds: 300, ...options };
  }

  get isSynced(): boolean {
    return this.synced;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.relist();
  }

  stop(): void {
    this.stopped = true;
    this.closeWatch?.();
    this.closeWatch = undefined;
    this.clock.clearTimeout(this.retry);
    for (const w of this.syncedWaiters) w();
    this.syncedWaiters = [];
  }

  /** Resolves once the first list is in (or at once when it already is, or the cache stopped). */
  whenSynced(): Promise<void> {
    if (this.synced || this.stopped) return Promise.resolve();
    return new Promise((r) => this.syncedWaiters.push(r));
  }

  policyFor(namespace: string): string | null | Promise<string | null> {
    if (this.policies.has(namespace)) return this.policies.get(namespace)!;
    const pending = this.lookups.get(namespace);
    if (pending) return pending;
    const lookup = this.fetchOne(namespace).finally(() => this.lookups.delete(namespace));
    this.lookups.set(namespace, lookup);
    return lookup;
  }

  private async fetchOne(namespace: string): Promise<string | null> {
    this.counts.gets++;
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}`;
    const res = await this.options.api.request('GET', path, { timeoutMs: this.o.lookupTimeoutMs });
    if (res.status === 404) return null; // the write itself will fail on a namespace that does not exist
    if (res.status !== 200) throw new ApiError('GET', path, res.status, res.body);
    const policy = policyOf(res.body as NamespaceObject);
    // The watch may already have delivered a newer state; only fill a gap.
    if (!this.policies.has(namespace)) {
      this.policies.set(namespace, policy);
      this.remember(res.body as NamespaceObject);
    }
    return policy;
  }

  /** The labels of a cached namespace, or undefined when the cache has not seen it. */
  labelsOf(namespace: string): Readonly<Record<string, string>> | undefined {
    return this.labels.get(namespace);
  }

  private remember(ns: NamespaceObject): void {
    const name = ns.metadata?.name;
    if (name) this.labels.set(name, { ...(ns.metadata?.labels ?? {}) });
  }

  private set(name: string, policy: string | null, notify: boolean): void {
    const had = this.policies.has(name);
    const before = had ? this.policies.get(name)! : null;
    this.policies.set(name, policy);
    if (notify && before !== policy) this.options.onPolicyChange?.(name, before, policy);
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      const seen = new Map<string, string | null>();
      let cont = '';
      let rv = '';
      do {
        this.counts.lists++;
        const path = `/api/v1/namespaces?limit=${PAGE}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
        const res = await this.options.api.request('GET', path, { timeoutMs: 30_000 });
        if (res.status === 410 && cont) {
          // The continue token expired between pages: a consistent list needs a fresh start.
          seen.clear();
          cont = '';
          continue;
        }
        if (res.status !== 200) throw new ApiError('GET', path, res.status, res.body);
        const body = res.body as { items?: NamespaceObject[]; metadata?: { continue?: string; resourceVersion?: string } };
        for (const ns of body.items ?? []) {
          if (!ns.metadata?.name) continue;
          seen.set(ns.metadata.name, policyOf(ns));
          this.remember(ns);
        }
        cont = body.metadata?.continue ?? '';
        rv = body.metadata?.resourceVersion ?? rv;
      } while (cont);
      if (this.stopped) return;
      const notify = this.synced;
      for (const name of [...this.policies.keys()]) {
        if (!seen.has(name)) {
          const before = this.policies.get(name)!;
          this.policies.delete(name);
          this.labels.delete(name);
          if (notify && before !== null) this.options.onPolicyChange?.(name, before, null);
        }
      }
      for (const [name, policy] of seen) this.set(name, policy, notify);
      this.resourceVersion = rv;
      this.failures = 0;
      if (!this.synced) {
        this.synced = true;
        this.options.logger.info({ namespaces: seen.size, labelled: [...seen.values()].filter((p) => p !== null).length }, 'namespace policy labels cached');
        for (const w of this.syncedWaiters) w();
        this.syncedWaiters = [];
      }
      this.watch();
    } catch (err) {
      this.backoff('listing namespaces failed', err as Error, () => void this.relist());
    }
  }

  private backoff(what: string, err: Error, again: () => void): void {
    if (this.stopped) return;
    this.failures++;
    const delay = Math.min(this.o.backoffMaxMs, this.o.backoffInitialMs * 2 ** (this.failures - 1));
    this.options.logger.warn({ err: err.message, retryInMs: delay }, `${what}; namespace policy labels may be out of date until it recovers`);
    this.retry = this.clock.setTimeout(again, delay);
  }

  private watch(): void {
    if (this.stopped) return;
    this.counts.watches++;
    const path = `/api/v1/namespaces?watch=1&allowWatchBookmarks=true&timeoutSeconds=${this.o.watchTimeoutSeconds}&resourceVersion=${encodeURIComponent(this.resourceVersion)}`;
    let gone = false;
    let received = false;
    this.closeWatch = this.options.api.watch(
      path,
      (type, object) => {
        const ns = object as NamespaceObject & { code?: number; message?: string };
        if (type === 'ERROR') {
          if (ns.code === 410) {
            // Do not wait for the server to close the stream: nothing after this is usable.
            gone = true;
            this.closeWatch?.();
            this.closeWatch = undefined;
            this.options.logger.info('namespace watch expired (410 Gone); listing again');
            void this.relist();
          } else this.options.logger.warn({ code: ns.code, message: ns.message }, 'namespace watch reported an error');
          return;
        }
        received = true;
        const rv = ns.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        const name = ns.metadata?.name;
        if (type === 'BOOKMARK' || !name) return;
        if (type === 'DELETED') {
          const before = this.policies.get(name) ?? null;
          this.policies.delete(name);
          this.labels.delete(name);
          if (before !== null) this.options.onPolicyChange?.(name, before, null);
          return;
        }
        this.remember(ns);
        this.set(name, policyOf(ns), true);
      },
      (err) => {
        this.closeWatch = undefined;
        if (this.stopped) return;
        if (gone) return;
        if (err instanceof ApiError && err.status === 410) {
          this.options.logger.info('namespace watch expired (410 Gone); listing again');
          void this.relist();
          return;
        }
        if (err) {
          this.backoff('namespace watch failed', err, () => this.watch());
          return;
        }
        // The server closed a healthy watch at its timeout: resume where it left off. A
        // watch that ended with nothing in it waits a moment, so a misbehaving server
        // cannot turn this into a busy loop.
        if (received) {
          this.failures = 0;
          this.watch();
        } else {
          this.retry = this.clock.setTimeout(() => this.watch(), this.o.backoffInitialMs);
        }
      },
    );
  }
}

