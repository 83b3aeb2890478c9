import { NAMESPACE_POLICY_LABEL } from '../core/names.js';
import type { Logger } from '../log.js';
import { Informer } from './informer.js';
import { type NamespacePolicyLookup, ApiError, type KubeApi, type Clock } from '../ports.js';

interface NamespaceObject {
  metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, string> | null };
}

/** What the cache keeps of a namespace. */
interface NamespaceEntry {
  readonly labels: Readonly<Record<string, string>>;
  readonly policy: string | null;
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
  /** Any label of a namespace changed (the timer's namespace selector reads them all). */
  onLabelsChange?: (namespace: string) => void;
}

function entryOf(raw: unknown): NamespaceEntry | null {
  const labels = (raw as NamespaceObject | null)?.metadata?.labels ?? {};
  const v = labels[NAMESPACE_POLICY_LABEL];
  return { labels: { ...labels }, policy: typeof v === 'string' && v.trim() !== '' ? v.trim() : null };
}

function sameLabels(a: NamespaceEntry, b: NamespaceEntry): boolean {
  const ka = Object.keys(a.labels);
  return ka.length === Object.keys(b.labels).length && ka.every((k) => a.labels[k] === b.labels[k]);
}

/**
 * Namespace policy labels from the shared list-watch cache: admission answers from memory,
 * and a namespace the cache has not seen yet costs one GET.
 */
export class NamespaceCache implements NamespacePolicyLookup {
  private readonly informer: Informer<NamespaceEntry>;
  private readonly lookups = new Map<string, Promise<string | null>>();
  private gets = 0;

  constructor(private readonly options: NamespaceCacheOptions) {
    this.informer = new Informer<NamespaceEntry>({
      api: options.api,
      logger: options.logger,
      path: '/api/v1/namespaces',
      resource: 'namespaces',
      keep: entryOf,
      unchanged: sameLabels,
      onChange: (name, before, after) => this.changed(name, before, after),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: options.watchTimeoutSeconds } : {}),
      ...(options.backoffInitialMs !== undefined ? { backoffInitialMs: options.backoffInitialMs } : {}),
      ...(options.backoffMaxMs !== undefined ? { backoffMaxMs: options.backoffMaxMs } : {}),
    });
  }

  /** List requests (one per page) and watches opened, and GETs on a miss, for tests and the log. */
  get counts(): { lists: number; watches: number; gets: number } {
    return { lists: this.informer.counts.requests, watches: this.informer.counts.watches, gets: this.gets };
  }

  /** The list-watch underneath, for its counts and a resync. */
  get cache(): Informer<NamespaceEntry> {
    return this.informer;
  }

  get isSynced(): boolean {
    return this.informer.isSynced;
  }

  start(): void {
    this.informer.start();
  }

  stop(): void {
    this.informer.stop();
  }

  whenSynced(): Promise<void> {
    return this.informer.whenSynced();
  }

  private changed(name: string, before: NamespaceEntry | undefined, after: NamespaceEntry | undefined): void {
    const from = before?.policy ?? null;
    const to = after?.policy ?? null;
    if (from !== to) this.options.onPolicyChange?.(name, from, to);
    if (!before || !after || !sameLabels(before, after)) this.options.onLabelsChange?.(name);
  }

  policyFor(namespace: string): string | null | Promise<string | null> {
    const cached = this.informer.get(namespace);
    if (cached) return cached.policy;
    const pending = this.lookups.get(namespace);
    if (pending) return pending;
    const lookup = this.fetchOne(namespace).finally(() => this.lookups.delete(namespace));
    this.lookups.set(namespace, lookup);
    return lookup;
  }

  /** The labels of a cached namespace, or undefined when the cache has not seen it. */
  labelsOf(namespace: string): Readonly<Record<string, string>> | undefined {
    return this.informer.get(namespace)?.labels;
  }

  private async fetchOne(namespace: string): Promise<string | null> {
    this.gets++;
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}`;
    const res = await this.options.api.request('GET', path, { timeoutMs: this.options.lookupTimeoutMs ?? 2_000 });
    if (res.status === 404) return null; // the write itself will fail on a namespace that does not exist
    if (res.status !== 200) throw new ApiError('GET', path, res.status, res.body);
    const entry = entryOf(res.body)!;
    // The watch may already have delivered a newer state; only fill a gap.
    this.informer.fill(namespace, entry);
    return this.informer.get(namespace)!.policy;
  }
}
