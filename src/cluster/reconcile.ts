import type { RuntimeConfig } from '../config/config.js';
import type { CarbonSnapshot } from '../core/carbon.js';
import { nextCapChange, type CapSubject } from '../core/moments.js';
import { specMax } from '../core/object.js';
import { RESTORED } from '../core/plan.js';
import type { Logger } from '../log.js';
import { evaluateObject } from './evaluate.js';
import type { EventRecorder } from './events.js';
import type { Ledger } from './ledger.js';
import type { CachedObject, ObjectCache } from './objects.js';
import type { PoliteClient } from './polite.js';
import type { Outcome } from './queue.js';
import type { NamespaceLabels, NamespaceScope } from './scope.js';
import { SubjectIndex } from './subjects.js';
import { touchObject, whyOf, type TouchResult } from './touch.js';
import { AbortedError, type CarbonReader, type Clock, type ControllerMetrics } from '../ports.js';

/** Totals since start, for the log, the tests and the benchmark. */
export interface ControllerCounts {
  fullPasses: number;
  relistPasses: number;
  evaluated: number;
  queued: number;
  touched: number;
  changed: number;
  unapplied: number;
  failed: number;
  invalid: number;
}

export interface ReconcilerDeps {
  objects: Pick<ObjectCache, 'get'>;
  namespaces: NamespaceLabels;
  scope: NamespaceScope;
  client: PoliteClient;
  events: EventRecorder;
  config(): RuntimeConfig;
  carbon: CarbonReader;
  logger: Logger;
  metrics: ControllerMetrics;
  ledger: Ledger | undefined;
  clock: Clock;
  counts: ControllerCounts;
  /** Run `reconcile(key)` again soon (a namespace lookup finished). */
  requeue(key: string): void;
  /** Reconcile this long after a cap-change moment, so the webhook surely decides past it. */
  boundaryDelayMs: number;
  signal(): AbortSignal | undefined;
}

/** A touch that got no usable answer after the client's own retries: the queue retries it with backoff. */
export class TouchFailedError extends Error {
  constructor(
    readonly status: number,
    message: string | undefined,
  ) {
    super(message ?? `status ${status}`);
    this.name = 'TouchFailedError';
  }
}

/** Our own write, per object: what it returned, so a cache that lags behind it does not cause a second touch. */
interface Written {
  readonly resourceVersion: string | undefined;
  readonly target: number;
  readonly applied: boolean;
}

type Applied = Extract<ReturnType<typeof evaluateObject>, { kind: 'apply' }>;

const numeric = (rv: string | undefined): number | undefined => (rv !== undefined && /^\d{1,15}$/.test(rv) ? Number(rv) : undefined);

/** True when resourceVersion `a` is known to be newer than `b` (both etcd revisions). */
function newer(a: string | undefined, b: string | undefined): boolean {
  const x = numeric(a);
  const y = numeric(b);
  return x !== undefined && y !== undefined && x > y;
}

/**
 * One object at a time: read it from the cache, decide with the pure core, touch it when the
 * stored cap differs, and say when its cap changes next. Keeps what reconciling needs across
 * calls: each object's cap subject, our last write, and the next moment per subject.
 */
export class Reconciler {
  readonly subjects = new SubjectIndex();
  private readonly written = new Map<string, Written>();
  private moments = new Map<string, { at: number | null; from: number }>();
  private momentsOf: { snapshot: CarbonSnapshot; config: RuntimeConfig } | undefined;

  constructor(private readonly d: ReconcilerDeps) {}

  /**
   * Bring one object to the cap the pure core gives now. Resolves with when to call it
   * again (one boundary delay past its next cap change); rejects with TouchFailedError when
   * its touch failed, so the queue retries it with backoff.
   */
  async reconcile(key: string): Promise<Outcome> {
    const entry = this.d.objects.get(key);
    const now = this.d.clock.now();
    const config = this.d.config();
    const v = entry ? this.decide(key, entry, now, config) : this.forget(key);
    if (!entry || !v) return {};
    if (v.differs && !this.suppressed(key, entry, v.target)) await this.touch(key, entry, v.target);
    const at = v.subject && config.touch.followForecast ? this.nextChange(v.subject, now, config) : null;
    // A touch may have taken a while (the client's own retries): measure from its end.
    return at === null ? {} : { requeueAfter: at - this.d.clock.now() + this.d.boundaryDelayMs };
  }

  /** The moment the cap of `key` changes next, as last reconciled (null: none known). */
  nextChangeOf(key: string): number | null {
    const subject = this.subjects.subjectOf(key);
    return subject ? this.nextChange(subject, this.d.clock.now(), this.d.config()) : null;
  }

  /** Per distinct subject: when its cap changes next under the current data, and its keys. */
  *dueGroups(): IterableIterator<{ at: number; keys: ReadonlySet<string> }> {
    const now = this.d.clock.now();
    const config = this.d.config();
    for (const g of this.subjects.groups()) {
      const at = this.nextChange(g.subject, now, config);
      if (at !== null) yield { at, keys: g.keys };
    }
  }

  /** After a list: a touch that did not apply gets one more (the list is the safety net). */
  forgetWrites(): void {
    this.written.clear();
  }

  clear(): void {
    this.subjects.clear();
    this.written.clear();
    this.moments.clear();
    this.d.ledger?.clear();
  }

  forget(key: string): undefined {
    this.subjects.delete(key);
    this.written.delete(key);
    this.d.ledger?.delete(key);
    return undefined;
  }

  /** The verdict when the object is to be applied; undefined (and forgotten) when it is out of scope, waiting, invalid or left alone. */
  private decide(key: string, entry: CachedObject, now: number, config: RuntimeConfig): Applied | undefined {
    const inScope = this.d.scope.includes(entry.namespace, config.touch.namespaceSelector);
    if (inScope !== true) {
      if (inScope instanceof Promise)
        inScope.then(
          () => this.d.requeue(key),
          () => undefined,
        );
      return this.forget(key);
    }
    this.d.counts.evaluated++;
    const ctx = { config, carbon: this.d.carbon.snapshot(), now, policyFor: (ns: string) => this.d.namespaces.policyFor(ns) };
    const v = evaluateObject(entry, ctx);
    if (v.kind === 'pending')
      v.wait.then(
        () => this.d.requeue(key),
        () => undefined,
      );
    if (v.kind === 'invalid') this.reportInvalid(entry, v.message);
    else this.d.events.forgetInvalid(entry.uid);
    if (v.kind !== 'apply') return this.forget(key);
    this.subjects.set(key, v.subject);
    if (v.ledger) this.d.ledger?.set(key, { namespace: entry.namespace, ...v.ledger, inForce: v.target });
    else this.d.ledger?.delete(key);
    return v;
  }

  /** Computed once per subject until its moment passes or the data or configuration change. */
  private nextChange(subject: CapSubject, now: number, config: RuntimeConfig): number | null {
    const snapshot = this.d.carbon.snapshot();
    if (this.momentsOf?.snapshot !== snapshot || this.momentsOf.config !== config) {
      this.moments = new Map();
      this.momentsOf = { snapshot, config };
    }
    const id = this.subjects.idOf(subject);
    const m = this.moments.get(id);
    const horizon = config.touch.intervalMs;
    if (m && now >= m.from && now < (m.at ?? m.from + horizon / 2)) return m.at;
    const at = nextCapChange([subject], snapshot, now, horizon);
    this.moments.set(id, { at, from: now });
    return at;
  }

  private reportInvalid(entry: CachedObject, message: string): void {
    this.d.counts.invalid++;
    this.d.metrics.sweepObjects.inc({ outcome: 'invalid' });
    void this.d.events.invalidPolicy({ kind: entry.kind, object: entry.object }, message, this.d.signal());
  }

  /** Whether touching would only repeat our own last write (the cache lags behind it, or it did not apply). */
  private suppressed(key: string, entry: CachedObject, target: number): boolean {
    const w = this.written.get(key);
    if (!w) return false;
    if (newer(w.resourceVersion, entry.resourceVersion)) return true;
    if (w.resourceVersion === entry.resourceVersion) return !w.applied && w.target === target;
    this.written.delete(key);
    return false;
  }

  /** Write the touch annotation; throws TouchFailedError when the API server did not take it. */
  private async touch(key: string, entry: CachedObject, target: number): Promise<void> {
    const c = this.d.counts;
    c.queued++;
    c.touched++;
    this.d.metrics.sweepObjects.inc({ outcome: 'touched' });
    let result: TouchResult;
    try {
      result = await touchObject(this.d.client, entry, this.d.clock.now(), this.d.signal());
    } catch (err) {
      if (err instanceof AbortedError) throw err;
      result = { outcome: 'failed', status: 0, message: (err as Error).message };
    }
    if (result.outcome === 'gone') return;
    if (result.outcome === 'failed') {
      c.failed++;
      this.d.metrics.sweepObjects.inc({ outcome: 'failed' });
      throw new TouchFailedError(result.status, result.message);
    }
    const rv = (result.stored.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    this.written.set(key, { resourceVersion: rv, target, applied: result.outcome === 'changed' });
    if (result.outcome === 'unapplied') {
      c.unapplied++;
      this.d.metrics.sweepObjects.inc({ outcome: 'unapplied' });
      this.d.logger.warn(
        { kind: entry.kind, namespace: entry.namespace, objectName: entry.name, cap: specMax(entry.object), expected: target },
        'touched, but the stored cap did not change: is the webhook registered and reachable from the API server?',
      );
      return;
    }
    c.changed++;
    this.d.metrics.sweepObjects.inc({ outcome: 'changed' });
    // An observe-mode status that moved is not a cap change: no Event.
    if (result.from === result.to) return;
    // The webhook drops its status only when it restores the declared max.
    const why = whyOf(result.stored, RESTORED);
    await this.d.events.capChanged({ kind: entry.kind, object: result.stored }, result.from ?? 100, result.to ?? 100, why, this.d.signal());
  }
}
