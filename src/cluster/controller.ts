import type { CarbonSnapshot } from '../core/carbon.js';
import type { RuntimeConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { EventRecorder } from './events.js';
import type { Ledger } from './ledger.js';
import type { CachedObject, KedaPlural, ObjectCache } from './objects.js';
import type { PoliteClient } from './polite.js';
import { WorkQueue, type Outcome } from './queue.js';
import { Reconciler, TouchFailedError, type ControllerCounts } from './reconcile.js';
import { PassReports, type PassKind } from './report.js';
import { NamespaceScope, type NamespaceLabels } from './scope.js';
import { systemClock, type CarbonReader, type Clock, type ControllerMetrics, noControllerMetrics } from '../ports.js';

export type { ControllerCounts } from './reconcile.js';

export interface ControllerOptions {
  objects: ObjectCache;
  namespaces: NamespaceLabels;
  client: PoliteClient;
  events: EventRecorder;
  config(): RuntimeConfig;
  carbon: CarbonReader;
  logger: Logger;
  /** Default: records nothing. */
  metrics?: ControllerMetrics;
  /** Books every decided object (the carbon ledger); emptied when leadership ends. */
  ledger?: Ledger;
  clock?: Clock;
  /** How often to compare the carbon snapshot for new data (default 5 s; an identity check). */
  pollMs?: number;
  /** Reconcile this long after a cap-change moment, so the webhook surely decides past it (default 1 s). */
  boundaryDelayMs?: number;
  /** The first retry delay of a failed reconcile (default 500 ms), doubling per failure up to `backoffMaxMs` (default 60 s). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

/** Queue keys that are not objects (object keys are `plural/namespace/name`). */
const RESYNC = ':resync';
const CARBON = ':carbon';

/**
 * The leader's re-touch controller, in the shape of controller-runtime: the object cache's
 * events, a namespace relabel, a config reload, new carbon data (only the keys whose cap it
 * moves), each object's next cap-change moment and the periodic resync all put keys on one
 * delaying, rate-limited work queue, and `Reconciler.reconcile(key)` does the rest. The
 * queue holds the only timer; the API server is listed only when a watch demands it and
 * every `touch.interval` as the safety net.
 */
export class Controller {
  readonly counts: ControllerCounts = { fullPasses: 0, relistPasses: 0, evaluated: 0, queued: 0, touched: 0, changed: 0, unapplied: 0, failed: 0, invalid: 0 };
  private readonly clock: Clock;
  private readonly pollMs: number;
  private readonly boundaryDelayMs: number;
  private readonly queue: WorkQueue;
  private readonly reconciler: Reconciler;
  private readonly reports: PassReports;
  /** Kinds whose list is under way: the sweep is reported once all are listed. */
  private readonly listing = new Set<KedaPlural>();
  private running = false;
  private abort: AbortController | undefined;
  private snapshot: CarbonSnapshot | undefined;
  private readonly metrics: ControllerMetrics;

  constructor(private readonly opts: ControllerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.metrics = opts.metrics ?? noControllerMetrics;
    this.pollMs = opts.pollMs ?? 5_000;
    this.boundaryDelayMs = opts.boundaryDelayMs ?? 1_000;
    this.queue = new WorkQueue((key) => this.handle(key), {
      concurrency: opts.config().touch.maxInFlight,
      clock: this.clock,
      onError: (key, err, retryMs) => this.failed(key, err, retryMs),
      onDue: (keys) => this.due(keys),
      ...(opts.backoffInitialMs !== undefined ? { backoffInitialMs: opts.backoffInitialMs } : {}),
      ...(opts.backoffMaxMs !== undefined ? { backoffMaxMs: opts.backoffMaxMs } : {}),
    });
    this.reconciler = new Reconciler({
      ...opts,
      scope: new NamespaceScope(opts.namespaces),
      metrics: this.metrics,
      ledger: opts.ledger,
      clock: this.clock,
      counts: this.counts,
      requeue: (key) => this.enqueue(key),
      boundaryDelayMs: this.boundaryDelayMs,
      signal: () => this.abort?.signal,
    });
    this.reports = new PassReports({ counts: this.counts, logger: opts.logger, metrics: this.metrics, idle: () => this.queue.idle() });
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** When the cap of the object under `key` changes next (null: no change known within `touch.interval`). */
  nextChange(key: string): number | null {
    return this.reconciler.nextChangeOf(key);
  }

  /** Resolves once no key is ready or being reconciled. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Leadership gained: fill the object cache; each kind's first list enqueues its objects. */
  start(signal: AbortSignal): void {
    if (this.running || signal.aborted) return;
    this.running = true;
    this.abort = new AbortController();
    signal.addEventListener('abort', () => void this.stop(), { once: true });
    this.queue.restart();
    for (const plural of this.opts.objects.informers.keys()) this.listing.add(plural);
    this.snapshot = this.opts.carbon.snapshot();
    this.queue.addAfter(RESYNC, this.opts.config().touch.intervalMs);
    this.queue.addAfter(CARBON, this.pollMs);
    this.opts.objects.start();
  }

  /** Leadership lost or shutting down: stop the cache, drop every queued key, wait for running reconciles. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort?.abort();
    this.opts.objects.stop();
    this.listing.clear();
    this.reports.clear();
    this.reconciler.clear();
    await this.queue.stop();
  }

  /** The object cache saw an add, edit or delete. */
  objectChanged(key: string, before: CachedObject | undefined, after: CachedObject | undefined): void {
    this.metrics.cacheEvents.inc({ resource: key.slice(0, key.indexOf('/')), type: !before ? 'added' : !after ? 'deleted' : 'modified' });
    if (!after && before) this.opts.events.forgetInvalid(before.uid);
    if (!this.running) return;
    this.metrics.evaluations.inc({ trigger: 'change' });
    this.enqueue(key);
  }

  /** A kind was listed from the API server (start, resync, 410 Gone): every object of it again. */
  listed(plural: KedaPlural, reason: string): void {
    this.metrics.cacheLists.inc({ resource: plural, reason });
    if (!this.running) return;
    this.listing.delete(plural);
    // A list is the safety net: an object whose touch did not apply gets one more.
    this.reconciler.forgetWrites();
    const informer = this.opts.objects.informers.get(plural);
    this.batch('sweep', reason === 'start' ? 'became leader' : reason, informer ? [...informer.values()].map((e) => e.key) : [], this.listing.size === 0);
  }

  /** A namespace's labels changed: its objects may have another policy, or fall in or out of scope. */
  namespaceChanged(namespace: string): void {
    if (!this.running) return;
    const keys: string[] = [];
    for (const entry of this.opts.objects.values()) if (entry.namespace === namespace) keys.push(entry.key);
    this.batch('namespace', 'namespace relabelled', keys, true, namespace);
  }

  /** Policies, scope or limits may have changed: every object again. */
  reconfigure(): void {
    const touch = this.opts.config().touch;
    this.queue.setConcurrency(touch.maxInFlight);
    if (!this.running) return;
    this.queue.addAfter(RESYNC, touch.intervalMs);
    this.batch(
      'cache',
      'configuration reloaded',
      [...this.opts.objects.values()].map((e) => e.key),
      true,
    );
  }

  private enqueue(key: string): void {
    if (this.running) this.queue.add(key);
  }

  private batch(kind: PassKind, reason: string, keys: readonly string[], complete: boolean, namespace?: string): void {
    this.reports.begin(kind, reason, keys.length, namespace);
    for (const key of keys) this.queue.add(key);
    if (complete) this.reports.end(kind);
  }

  private async handle(key: string): Promise<Outcome> {
    if (!this.running) return {};
    if (key === RESYNC) return this.resync();
    if (key === CARBON) return this.pollCarbon();
    return this.reconciler.reconcile(key);
  }

  private resync(): Outcome {
    const intervalMs = this.opts.config().touch.intervalMs;
    this.opts.logger.info({ intervalMs }, 'periodic resync: listing ScaledObjects and ScaledJobs again');
    for (const plural of this.opts.objects.informers.keys()) this.listing.add(plural);
    this.opts.objects.resync();
    return { requeueAfter: intervalMs };
  }

  /**
   * New carbon data: reconcile now the keys of every subject whose cap it changes, and
   * bring the others' due moments forward where it moved them earlier.
   */
  private pollCarbon(): Outcome {
    const snapshot = this.opts.carbon.snapshot();
    if (snapshot === this.snapshot || !this.opts.config().touch.followForecast) return { requeueAfter: this.pollMs };
    this.snapshot = snapshot;
    const now = this.clock.now();
    const due: string[] = [];
    for (const { at, keys } of [...this.reconciler.dueGroups()]) {
      if (at <= now) for (const key of keys) due.push(key);
      else for (const key of keys) this.queue.addAfter(key, at - now + this.boundaryDelayMs);
    }
    if (due.length > 0) this.batch('cache', 'forecast: a cap changes now', due, true);
    return { requeueAfter: this.pollMs };
  }

  /** Objects whose cap-change moment came: reported together, as one pass. */
  private due(keys: readonly string[]): void {
    const objects = keys.filter((k) => !k.startsWith(':'));
    if (objects.length === 0 || !this.running) return;
    this.reports.begin('cache', 'forecast: a cap changes now', objects.length);
    // The queue adds the keys right after this returns; the pass ends once they are worked off.
    queueMicrotask(() => this.reports.end('cache'));
  }

  private failed(key: string, err: unknown, retryMs: number): void {
    const retries = this.queue.retries(key);
    if (err instanceof TouchFailedError) {
      const e = this.opts.objects.get(key);
      const where = e ? { kind: e.kind, namespace: e.namespace, objectName: e.name } : { key };
      this.opts.logger.warn({ ...where, status: err.status, message: err.message, retryMs, retries }, 'touch failed; retrying with backoff');
    } else {
      this.opts.logger.warn({ key, err: (err as Error).message, retryMs, retries }, 'reconcile failed; retrying with backoff');
    }
  }
}
