import type { CarbonSnapshot } from '../core/carbon.js';
import type { RuntimeConfig } from '../config/config.js';
import { nextCapChange } from '../core/moments.js';
import { specMax } from '../core/object.js';
import { RESTORED } from '../core/plan.js';
import type { Logger } from '../log.js';
import { evaluateObject, type EvaluationContext } from './evaluate.js';
import type { EventRecorder } from './events.js';
import type { Ledger } from './ledger.js';
import type { CachedObject, KedaPlural, ObjectCache } from './objects.js';
import type { PoliteClient } from './polite.js';
import { WorkQueue } from './queue.js';
import { NamespaceScope, type NamespaceLabels } from './scope.js';
import { SubjectIndex } from './subjects.js';
import { touchObject, whyOf, type TouchResult } from './touch.js';
import { AbortedError, systemClock, type CarbonReader, type Clock, type MetricsSink } from '../ports.js';

export interface ControllerOptions {
  objects: ObjectCache;
  namespaces: NamespaceLabels;
  client: PoliteClient;
  events: EventRecorder;
  config(): RuntimeConfig;
  carbon: CarbonReader;
  logger: Logger;
  metrics?: MetricsSink;
  /** Books every decided object (the carbon ledger); emptied when leadership ends. */
  ledger?: Ledger;
  clock?: Clock;
  /** How often to compare the carbon snapshot for new data (default 5 s; an identity check). */
  pollMs?: number;
  /** Evaluate this long after a cap-change moment, so the webhook surely decides past it (default 1 s). */
  boundaryDelayMs?: number;
  /** Cache changes arriving within this window are evaluated together (default 100 ms). */
  batchMs?: number;
  /** Shortest time between two passes over every object that a due moment starts (default 1 s). */
  minGapMs?: number;
}

/** Our own write, per object: what it returned, so a cache that lags behind it does not cause a second touch. */
interface Written {
  readonly resourceVersion: string | undefined;
  readonly target: number;
  readonly applied: boolean;
}

/** Totals since start, for the log, the tests and the benchmark. */
export interface ControllerCounts {
  fullPasses: number;
  relistPasses: number;
  incrementalPasses: number;
  evaluated: number;
  queued: number;
  touched: number;
  changed: number;
  unapplied: number;
  failed: number;
  invalid: number;
}

type PassContext = EvaluationContext & { readonly selector: string };

const numeric = (rv: string | undefined): number | undefined => (rv !== undefined && /^\d{1,15}$/.test(rv) ? Number(rv) : undefined);

/** True when resourceVersion `a` is known to be newer than `b` (both etcd revisions). */
function newer(a: string | undefined, b: string | undefined): boolean {
  const x = numeric(a);
  const y = numeric(b);
  return x !== undefined && y !== undefined && x > y;
}

/**
 * The leader's re-touch controller, in the shape of kubernetes/sample-controller: the
 * object cache reports every change, changed objects are evaluated with the pure decision,
 * those whose stored cap differs go through a rate-limited work queue that touches them,
 * and one timer wakes at the earliest moment any cached object's cap can change. The API
 * server is listed only when a watch demands it and every `touch.interval` as a safety net.
 */
export class Controller {
  private readonly clock: Clock;
  private readonly o: Required<Pick<ControllerOptions, 'pollMs' | 'boundaryDelayMs' | 'batchMs' | 'minGapMs'>>;
  private readonly queue: WorkQueue;
  private readonly scope: NamespaceScope;
  private readonly subjects = new SubjectIndex();
  /** Per object: the cap its plan sets, and whether the stored object differs from the plan (`planDiffers`). */
  private readonly targets = new Map<string, { readonly cap: number; readonly differs: boolean }>();
  private readonly written = new Map<string, Written>();
  private readonly dirty = new Set<string>();
  /** Namespaces whose labels changed since the last pass, for its log line. */
  private readonly changedNamespaces = new Set<string>();
  private fullReason: string | undefined;
  private relisted = false;
  private running = false;
  private abort: AbortController | undefined;
  private timer: unknown;
  private timerAt = Infinity;
  private resyncAt = Infinity;
  private lastFullAt = -Infinity;
  private due: { version: number; snapshot: CarbonSnapshot; config: RuntimeConfig; at: number | null } | undefined;
  /** Kinds whose list is under way: a pass over every object waits for them. */
  private readonly listing = new Set<KedaPlural>();
  readonly counts: ControllerCounts = {
    fullPasses: 0,
    relistPasses: 0,
    incrementalPasses: 0,
    evaluated: 0,
    queued: 0,
    touched: 0,
    changed: 0,
    unapplied: 0,
    failed: 0,
    invalid: 0,
  };

  constructor(private readonly opts: ControllerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.o = { pollMs: 5_000, boundaryDelayMs: 1_000, batchMs: 100, minGapMs: 1_000, ...opts };
    this.queue = new WorkQueue((key) => this.work(key), opts.config().touch.maxInFlight);
    this.scope = new NamespaceScope(opts.namespaces);
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** The moment the timer will next evaluate for a due cap change (null: none within `touch.interval`). */
  get nextDue(): number | null {
    return this.due?.at ?? null;
  }

  /** Resolves once no touch is queued or running. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Leadership gained: fill the object cache; the first complete list starts the first pass. */
  start(signal: AbortSignal): void {
    if (this.running || signal.aborted) return;
    this.running = true;
    this.abort = new AbortController();
    signal.addEventListener('abort', () => void this.stop(), { once: true });
    this.queue.restart();
    this.resyncAt = this.clock.now() + this.opts.config().touch.intervalMs;
    for (const plural of this.opts.objects.informers.keys()) this.listing.add(plural);
    this.opts.objects.start();
  }

  /** Leadership lost or shutting down: stop the cache, drop queued touches, wait for running ones. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.clearTimer();
    this.abort?.abort();
    this.opts.objects.stop();
    this.dirty.clear();
    this.changedNamespaces.clear();
    this.listing.clear();
    this.fullReason = undefined;
    this.relisted = false;
    this.subjects.clear();
    this.targets.clear();
    this.written.clear();
    this.opts.ledger?.clear();
    this.due = undefined;
    await this.queue.stop();
  }

  /** The object cache saw an add, edit or delete. */
  objectChanged(key: string, before: CachedObject | undefined, after: CachedObject | undefined): void {
    this.opts.metrics?.cacheEvents?.inc({ resource: key.slice(0, key.indexOf('/')), type: !before ? 'added' : !after ? 'deleted' : 'modified' });
    if (!after && before) this.opts.events.forgetInvalid(before.uid);
    this.markDirty(key);
  }

  /** A kind was listed from the API server (start, resync, 410 Gone): look at every object again. */
  listed(plural: KedaPlural, reason: string): void {
    this.opts.metrics?.cacheLists?.inc({ resource: plural, reason });
    this.relisted = true;
    this.listing.delete(plural);
    this.markAll(reason === 'start' ? 'became leader' : reason);
  }

  /** A namespace's labels changed: its objects may have another policy, or fall in or out of scope. */
  namespaceChanged(namespace: string): void {
    if (!this.running) return;
    this.changedNamespaces.add(namespace);
    for (const entry of this.opts.objects.values()) if (entry.namespace === namespace) this.dirty.add(entry.key);
    this.soon();
  }

  /** Policies, scope or limits may have changed: every object again. */
  reconfigure(): void {
    const t = this.opts.config().touch;
    this.queue.setConcurrency(t.maxInFlight);
    this.markAll('configuration reloaded');
  }

  private markDirty(key: string): void {
    if (!this.running) return;
    this.dirty.add(key);
    this.soon();
  }

  private markAll(reason: string): void {
    if (!this.running) return;
    this.fullReason = this.fullReason && this.fullReason !== reason ? `${this.fullReason}; ${reason}` : reason;
    this.soon();
  }

  private soon(): void {
    this.arm(this.clock.now() + this.o.batchMs);
  }

  private clearTimer(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** Wake at `at` unless a wake-up is set earlier already. */
  private arm(at: number): void {
    if (!this.running || at >= this.timerAt) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => this.tick(), Math.max(0, at - this.clock.now()));
  }

  private tick(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (!this.running) return;
    const now = this.clock.now();
    const config = this.opts.config();
    if (now >= this.resyncAt) {
      this.resyncAt = now + config.touch.intervalMs;
      this.opts.logger.info({ intervalMs: config.touch.intervalMs }, 'periodic resync: listing ScaledObjects and ScaledJobs again');
      for (const plural of this.opts.objects.informers.keys()) this.listing.add(plural);
      this.opts.objects.resync();
    } else if (this.opts.objects.isSynced) {
      this.step(now, config);
    }
    this.armNext(now, config);
  }

  private step(now: number, config: RuntimeConfig): void {
    if (this.fullReason !== undefined && this.listing.size === 0) {
      this.evaluateAll(this.fullReason, now, config);
      return;
    }
    if (this.dirty.size > 0) this.evaluateDirty(now, config);
    const due = config.touch.followForecast ? this.dueAt(now, config) : null;
    if (due !== null && due + this.o.boundaryDelayMs <= now && now - this.lastFullAt >= this.o.minGapMs) {
      this.evaluateAll('forecast: a cap changes now', now, config);
    }
  }

  private armNext(now: number, config: RuntimeConfig): void {
    let next = this.resyncAt;
    if (this.fullReason !== undefined || this.dirty.size > 0) next = Math.min(next, now + this.o.batchMs);
    if (config.touch.followForecast && this.opts.objects.isSynced) {
      const due = this.dueAt(now, config);
      if (due !== null) next = Math.min(next, Math.max(due + this.o.boundaryDelayMs, this.lastFullAt + this.o.minGapMs));
      next = Math.min(next, now + this.o.pollMs);
    }
    this.arm(next);
  }

  /** The next moment a cached object's cap changes; recomputed only when subjects, data or config did. */
  private dueAt(now: number, config: RuntimeConfig): number | null {
    const snapshot = this.opts.carbon.snapshot();
    const version = this.subjects.version;
    const d = this.due;
    if (d && d.version === version && d.snapshot === snapshot && d.config === config) return d.at;
    const at = nextCapChange(this.subjects.subjects(), snapshot, now, config.touch.intervalMs);
    this.due = { version, snapshot, config, at };
    if (at !== null) this.opts.logger.debug({ at: new Date(at).toISOString(), subjects: this.subjects.size }, 'next cap change');
    return at;
  }

  private context(now: number, config: RuntimeConfig): PassContext {
    return {
      config,
      selector: config.touch.namespaceSelector,
      carbon: this.opts.carbon.snapshot(),
      now,
      policyFor: (ns) => this.opts.namespaces.policyFor(ns),
    };
  }

  private evaluateAll(reason: string, now: number, config: RuntimeConfig): void {
    const started = performance.now();
    const relisted = this.relisted;
    this.fullReason = undefined;
    this.relisted = false;
    this.dirty.clear();
    this.changedNamespaces.clear();
    this.lastFullAt = now;
    // A list is the safety net: an object whose touch did not apply gets one more.
    if (relisted) this.written.clear();
    const before = { ...this.counts };
    const ctx = this.context(now, config);
    const invalid = new Set<string>();
    let seen = 0;
    for (const entry of this.opts.objects.values()) if (this.evaluateOne(entry.key, entry, ctx, invalid)) seen++;
    for (const key of this.targets.keys()) if (!this.opts.objects.get(key)) this.forget(key);
    this.opts.events.retainInvalid(invalid);
    this.counts.fullPasses++;
    if (relisted) this.counts.relistPasses++;
    this.reportPass(reason, relisted, seen, before, performance.now() - started);
  }

  private evaluateDirty(now: number, config: RuntimeConfig): void {
    const ctx = this.context(now, config);
    const keys = [...this.dirty];
    const namespaces = [...this.changedNamespaces];
    this.dirty.clear();
    this.changedNamespaces.clear();
    this.counts.incrementalPasses++;
    const before = { queued: this.counts.queued, invalid: this.counts.invalid };
    for (const key of keys) {
      const entry = this.opts.objects.get(key);
      if (entry) this.evaluateOne(key, entry, ctx, undefined);
      else this.forget(key);
    }
    this.opts.metrics?.evaluations?.inc({ trigger: 'change' });
    const fields = { objects: keys.length, queued: this.counts.queued - before.queued, invalid: this.counts.invalid - before.invalid };
    // Object edits are routine (debug); a namespace relabel is an operator's act worth a line.
    if (namespaces.length > 0) this.opts.logger.info({ ...fields, namespaces }, 'objects of a relabelled namespace evaluated');
    else this.opts.logger.debug(fields, 'changed objects evaluated');
  }

  private forget(key: string): void {
    this.subjects.delete(key);
    this.targets.delete(key);
    this.written.delete(key);
    this.opts.ledger?.delete(key);
  }

  /** Decide one object; queue a touch when its stored cap differs. False when it is out of scope. */
  private evaluateOne(key: string, entry: CachedObject, ctx: PassContext, invalid: Set<string> | undefined): boolean {
    const inScope = this.scope.includes(entry.namespace, ctx.selector);
    if (inScope !== true) {
      this.forget(key);
      if (inScope instanceof Promise)
        inScope.then(
          () => this.markDirty(key),
          () => undefined,
        );
      return false;
    }
    this.counts.evaluated++;
    const v = evaluateObject(entry, ctx);
    if (v.kind === 'pending') {
      this.forget(key);
      v.wait.then(
        () => this.markDirty(key),
        () => undefined,
      );
      return true;
    }
    if (v.kind !== 'apply') {
      this.forget(key);
      if (v.kind === 'invalid') this.reportInvalid(entry, v.message, invalid);
      return true;
    }
    this.opts.events.forgetInvalid(entry.uid);
    this.subjects.set(key, v.subject);
    this.targets.set(key, { cap: v.target, differs: v.differs });
    if (v.ledger) this.opts.ledger?.set(key, entry.namespace, v.ledger.policy, v.ledger.mode, v.target, v.ledger.declared);
    else this.opts.ledger?.delete(key);
    if (v.differs && !this.suppressed(key, entry, v.target)) {
      this.counts.queued++;
      this.queue.add(key);
    }
    return true;
  }

  private reportInvalid(entry: CachedObject, message: string, invalid: Set<string> | undefined): void {
    this.counts.invalid++;
    this.opts.metrics?.sweepObjects.inc({ outcome: 'invalid' });
    if (entry.uid) invalid?.add(entry.uid);
    void this.opts.events.invalidPolicy({ kind: entry.kind, object: entry.object }, message, this.abort?.signal);
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

  /**
   * Log a pass over every object once its touches are done, with what they did. A pass
   * after a list is a "sweep" (log, `sweeps` metrics); one over the cache alone is not.
   */
  private reportPass(reason: string, relisted: boolean, seen: number, before: ControllerCounts, ms: number): void {
    const m = this.opts.metrics;
    m?.evaluations?.inc({ trigger: relisted ? 'list' : 'all' });
    if (relisted) {
      m?.sweepObjects.inc({ outcome: 'seen' }, seen);
      m?.sweepDuration.observe(ms / 1000);
    }
    const queued = this.counts.queued - before.queued;
    void this.queue.idle().then(() => {
      const c = this.counts;
      const failed = c.failed - before.failed;
      if (relisted) m?.sweeps.inc({ result: failed === 0 ? 'ok' : 'error' });
      const fields = {
        reason,
        seen,
        queued,
        touched: c.touched - before.touched,
        changed: c.changed - before.changed,
        unapplied: c.unapplied - before.unapplied,
        failed,
        invalid: c.invalid - before.invalid,
        cpuMs: Math.round(ms),
      };
      const msg = relisted ? 'sweep finished' : 'cache pass finished';
      if (failed === 0) this.opts.logger.info(fields, msg);
      else this.opts.logger.warn(fields, msg);
    });
  }

  /** The work queue's handler: touch one object if its stored cap still differs. */
  private async work(key: string): Promise<void> {
    const entry = this.opts.objects.get(key);
    const planned = this.targets.get(key);
    if (!this.running || !entry || !planned?.differs || this.suppressed(key, entry, planned.cap)) return;
    const target = planned.cap;
    this.counts.touched++;
    this.opts.metrics?.sweepObjects.inc({ outcome: 'touched' });
    let result: TouchResult;
    try {
      result = await touchObject(this.opts.client, entry, this.clock.now(), this.abort?.signal);
    } catch (err) {
      if (err instanceof AbortedError) return;
      result = { outcome: 'failed', status: 0, message: (err as Error).message };
    }
    await this.touched(key, entry, target, result);
  }

  private async touched(key: string, entry: CachedObject, target: number, result: TouchResult): Promise<void> {
    const where = { kind: entry.kind, namespace: entry.namespace, objectName: entry.name };
    if (result.outcome === 'gone') return;
    if (result.outcome === 'failed') {
      this.counts.failed++;
      this.opts.metrics?.sweepObjects.inc({ outcome: 'failed' });
      this.opts.logger.warn({ ...where, status: result.status, message: result.message }, 'touch failed; the next change, due moment or resync tries again');
      return;
    }
    const rv = (result.stored.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    this.written.set(key, { resourceVersion: rv, target, applied: result.outcome === 'changed' });
    if (result.outcome === 'unapplied') {
      this.counts.unapplied++;
      this.opts.metrics?.sweepObjects.inc({ outcome: 'unapplied' });
      this.opts.logger.warn(
        { ...where, cap: specMax(entry.object), expected: target },
        'touched, but the stored cap did not change: is the webhook registered and reachable from the API server?',
      );
      return;
    }
    this.counts.changed++;
    this.opts.metrics?.sweepObjects.inc({ outcome: 'changed' });
    // An observe-mode status that moved is not a cap change: no Event.
    if (result.from === result.to) return;
    // The webhook drops its status only when it restores the declared max.
    const why = whyOf(result.stored, RESTORED);
    await this.opts.events.capChanged({ kind: entry.kind, object: result.stored }, result.from ?? 100, result.to ?? 100, why, this.abort?.signal);
  }
}
