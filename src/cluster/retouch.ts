import type { CarbonSnapshot } from '../core/carbon.js';
import type { RuntimeConfig } from '../config/config.js';
import { decide } from '../core/decide.js';
import { nextCapChange, type CapSubject } from '../core/moments.js';
import type { Logger } from '../log.js';
import type { SweepOptions, SweepResult, SweepStats } from './sweep.js';
import { AbortedError, systemClock, type CarbonReader, type Clock, type MetricsSink } from '../ports.js';

export interface RetouchTimerOptions {
  sweep(options: SweepOptions): Promise<SweepResult>;
  config(): RuntimeConfig;
  carbon: CarbonReader;
  logger: Logger;
  metrics?: MetricsSink;
  clock?: Clock;
  /** With followForecast: how often to look for new carbon data (default 5 s; a snapshot compare). */
  pollMs?: number;
  /** Sweep this long after a forecast boundary, so the webhook surely sees the new point (default 1 s). */
  boundaryDelayMs?: number;
  /** Requested sweeps (a namespace label changed, a config reload) wait this long to gather (default 2 s). */
  requestDelayMs?: number;
  /** Shortest time between the end of one sweep and a data-driven next one (default 10 s). */
  minGapMs?: number;
  /** Awaited before the first sweep (the namespace cache's first list). */
  beforeFirstSweep?: () => Promise<void>;
}

/** A declared max large enough that any band or eco-mode change shows in the cap. */
const PROBE_DECLARED = 1_000_000;

/**
 * When the leader sweeps: at once on becoming leader, every `touch.interval`, with
 * `touch.followForecast` at the first moment a cap would change (a forecast boundary, a
 * schedule minute, or new data that already changes one), and shortly after a namespace
 * label or the configuration changed. Sweeps never overlap.
 */
export class RetouchTimer {
  private readonly clock: Clock;
  private readonly o: Required<Pick<RetouchTimerOptions, 'pollMs' | 'boundaryDelayMs' | 'requestDelayMs' | 'minGapMs'>>;
  private running = false;
  private leadership: AbortSignal | undefined;
  private sweepAbort: AbortController | undefined;
  private timer: unknown;
  private sweeping: Promise<void> | undefined;
  private firstDone = false;
  private lastFullStart = 0;
  private lastSweepEnd = -Infinity;
  private subjects = new Map<string, CapSubject[]>();
  private subjectsVersion = 0;
  /**
   * Objects admitted since the last full sweep are not among the subjects. A probe per
   * named policy, decided when the last sweep ran, stands in for them: it wakes the timer
   * when that policy's band or eco mode changes, at a boundary or with new data.
   */
  private probes: CapSubject[] = [];
  private forecastCache: { snapshot: CarbonSnapshot; version: number; config: RuntimeConfig; due: number | null } | undefined;
  private requested = new Set<string>();
  private requestReasons = new Set<string>();
  private requestAt: number | undefined;
  /** The last finished sweep, for tests and the log. */
  last: { reason: string; stats: SweepStats } | undefined;
  sweepsRun = 0;

  constructor(private readonly opts: RetouchTimerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.o = { pollMs: 5_000, boundaryDelayMs: 1_000, requestDelayMs: 2_000, minGapMs: 10_000, ...opts };
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Leadership gained; `signal` aborts when it is lost. */
  start(signal: AbortSignal): void {
    if (this.running) return;
    this.running = true;
    this.leadership = signal;
    this.firstDone = false;
    signal.addEventListener('abort', () => this.stop(), { once: true });
    void (async () => {
      try {
        await this.opts.beforeFirstSweep?.();
      } catch {
        // the cache logs its own trouble; sweeping with GETs per namespace still works
      }
      this.wake();
    })();
  }

  /** Leadership lost or shutting down: abort a sweep in progress and wait for it. */
  async stop(): Promise<void> {
    this.running = false;
    this.clock.clearTimeout(this.timer);
    this.sweepAbort?.abort();
    this.requested.clear();
    this.requestReasons.clear();
    this.requestAt = undefined;
    await this.sweeping;
  }

  /** Sweep soon: `namespace` only, or everything when it is absent. Ignored unless leading. */
  request(reason: string, namespace?: string): void {
    if (!this.running) return;
    this.requested.add(namespace ?? '*');
    this.requestReasons.add(reason);
    this.requestAt ??= this.clock.now() + this.o.requestDelayMs;
    if (!this.sweeping) this.wake();
  }

  private forecastDue(now: number, config: RuntimeConfig): number | null {
    const snapshot = this.opts.carbon.snapshot();
    const c = this.forecastCache;
    if (c && c.snapshot === snapshot && c.version === this.subjectsVersion && c.config === config) return c.due;
    const all: CapSubject[] = [...this.probes];
    for (const list of this.subjects.values()) all.push(...list);
    const change = nextCapChange(all, snapshot, now, config.touch.intervalMs);
    let due: number | null = null;
    if (change !== null) due = change <= now ? Math.max(now, this.lastSweepEnd + this.o.minGapMs) : change + this.o.boundaryDelayMs;
    this.forecastCache = { snapshot, version: this.subjectsVersion, config, due };
    return due;
  }

  private makeProbes(): CapSubject[] {
    const snapshot = this.opts.carbon.snapshot();
    const now = this.clock.now();
    return [...this.opts.config().policies.values()].map((policy) => ({
      policy,
      declared: PROBE_DECLARED,
      minReplicas: 0,
      ecoModeOffAnnotation: false,
      cap: decide({ policy, declared: PROBE_DECLARED, minReplicas: 0, currentMax: undefined, ecoModeOffAnnotation: false, carbon: snapshot, now }).cap,
    }));
  }

  private wake(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running || this.sweeping) return;
    const config = this.opts.config();
    const now = this.clock.now();
    if (!this.firstDone) return this.begin('became leader', undefined);
    const dueFull = this.lastFullStart + config.touch.intervalMs;
    if (now >= dueFull) return this.begin('interval', undefined);
    const dueForecast = config.touch.followForecast ? this.forecastDue(now, config) : null;
    if (dueForecast !== null && now >= dueForecast) return this.begin('forecast: a cap changes now', undefined);
    if (this.requestAt !== undefined && now >= this.requestAt) {
      const targets = this.requested.has('*') ? [undefined] : [...this.requested];
      const reason = [...this.requestReasons].join('; ');
      this.requested.clear();
      this.requestReasons.clear();
      this.requestAt = undefined;
      return this.beginMany(reason, targets);
    }
    let next = dueFull;
    if (dueForecast !== null) next = Math.min(next, dueForecast);
    if (this.requestAt !== undefined) next = Math.min(next, this.requestAt);
    if (config.touch.followForecast) next = Math.min(next, now + this.o.pollMs);
    this.timer = this.clock.setTimeout(() => this.wake(), Math.max(0, next - now));
  }

  private begin(reason: string, namespace: string | undefined): void {
    this.beginMany(reason, [namespace]);
  }

  private beginMany(reason: string, targets: Array<string | undefined>): void {
    this.sweeping = (async () => {
      for (const namespace of targets) {
        if (!this.running) break;
        await this.runOne(reason, namespace);
      }
    })().finally(() => {
      this.sweeping = undefined;
      if (this.running) this.wake();
    });
  }

  private async runOne(reason: string, namespace: string | undefined): Promise<void> {
    const full = namespace === undefined;
    const controller = new AbortController();
    this.sweepAbort = controller;
    const onLost = () => controller.abort();
    this.leadership?.addEventListener('abort', onLost, { once: true });
    const started = this.clock.now();
    if (full) {
      this.lastFullStart = started;
      this.firstDone = true;
    }
    const metrics = this.opts.metrics;
    try {
      const result = await this.opts.sweep({ reason, signal: controller.signal, ...(namespace !== undefined ? { namespace } : {}) });
      const s = result.stats;
      this.sweepsRun++;
      this.last = { reason, stats: s };
      if (full && s.complete) this.subjects = result.subjects;
      else for (const [ns, list] of result.subjects) this.subjects.set(ns, list);
      if (namespace !== undefined && !result.subjects.has(namespace)) this.subjects.delete(namespace);
      this.probes = this.makeProbes();
      this.subjectsVersion++;
      metrics?.sweeps.inc({ result: s.complete && s.failed === 0 ? 'ok' : 'error' });
      metrics?.sweepDuration.observe(s.durationMs / 1000);
      metrics?.sweepObjects.inc({ outcome: 'seen' }, s.seen);
      metrics?.sweepObjects.inc({ outcome: 'touched' }, s.touched);
      metrics?.sweepObjects.inc({ outcome: 'failed' }, s.failed);
      metrics?.sweepObjects.inc({ outcome: 'invalid' }, s.invalid);
      if (!controller.signal.aborted) {
        const log = s.complete && s.failed === 0 ? this.opts.logger.info.bind(this.opts.logger) : this.opts.logger.warn.bind(this.opts.logger);
        log({ reason, namespace: namespace ?? '(all)', seen: s.seen, touched: s.touched, changed: s.changed, unapplied: s.unapplied, failed: s.failed, invalid: s.invalid, pages: s.pages, restarts: s.restarts, requests: s.requests, durationMs: s.durationMs, complete: s.complete }, 'sweep finished');
      }
    } catch (err) {
      metrics?.sweeps.inc({ result: 'error' });
      if (!(err instanceof AbortedError)) this.opts.logger.error({ reason, err: (err as Error).message }, 'sweep failed; the timer goes on');
    } finally {
      this.leadership?.removeEventListener('abort', onLost);
      this.lastSweepEnd = this.clock.now();
      if (this.sweepAbort === controller) this.sweepAbort = undefined;
    }
  }
}
