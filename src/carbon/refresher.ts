import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { systemClock, type CarbonMetrics, type Clock, noCarbonMetrics } from '../ports.js';
import { SourceError } from './errors.js';
import type { CarbonStore } from './store.js';
import { validatePoints } from './validate.js';
import { currentIntensity } from '../core/view.js';
import { backoffDelay } from '../util/backoff.js';
import type { IntensitySource } from './source.js';

export interface RefresherOptions {
  source: IntensitySource;
  store: CarbonStore;
  refreshIntervalMs: number;
  timeoutMs: number;
  clock?: Clock;
  /** Returns [0, 1); injectable for deterministic jitter. */
  random?: () => number;
  /** Spread of each interval, as a fraction (default 0.1: 5 min becomes 4.5-5.5 min). */
  jitter?: number;
  /** First retry delay after a failure (default 5 s), doubled per consecutive failure. */
  backoffInitialMs?: number;
  /** Longest retry delay (default: the refresh interval, at least 1 min). */
  backoffMaxMs?: number;
  /** Longest `Retry-After` honoured (default 1 h); a larger value is clamped, not ignored. */
  retryAfterMaxMs?: number;
  logger?: Logger;
  /** The refresher counts its failed fetches; the carbon gauges follow the store (gauges.ts). */
  metrics?: Pick<CarbonMetrics, 'providerFetchErrors'>;
}

export interface RefreshStatus {
  lastAttemptAt: number | null;
  lastSuccessAt: number | null;
  lastError: string | null;
  consecutiveFailures: number;
  nextAttemptAt: number | null;
}

export type RefreshResult = { ok: true; points: number } | { ok: false; error: SourceError };

/**
 * Runs one source on its interval and writes validated data into the store: it schedules,
 * fetches through the source, validates, stores and retries. Failures keep
 * the last good data (the store ages it into `stale`), back off exponentially with jitter
 * and honour `Retry-After`. Never throws into the caller's event loop.
 */
export class Refresher {
  private readonly o: Required<Omit<RefresherOptions, 'logger'>>;
  private readonly log: Logger;
  private timer: unknown = undefined;
  private running = false;
  private inFlight: Promise<RefreshResult> | undefined;
  private controller: AbortController | undefined;
  private unwatch: (() => void) | undefined;
  /** Earliest moment the provider allowed us back (429 Retry-After); watch events wait too. */
  private notBefore = 0;
  private rerun = false;
  private readonly state: RefreshStatus = { lastAttemptAt: null, lastSuccessAt: null, lastError: null, consecutiveFailures: 0, nextAttemptAt: null };

  constructor(options: RefresherOptions) {
    this.o = {
      clock: systemClock,
      random: Math.random,
      jitter: 0.1,
      backoffInitialMs: 5_000,
      backoffMaxMs: Math.max(60_000, options.refreshIntervalMs),
      retryAfterMaxMs: 3_600_000,
      metrics: noCarbonMetrics,
      ...options,
    };
    this.log = options.logger ?? silentLogger;
  }

  /** Fetch now, then keep refreshing until `stop`. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.unwatch = this.o.source.watch?.(() => this.onChange());
    this.schedule(0);
  }

  /** Clear every timer, cancel a fetch in flight and stop watching, so the process can exit. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.state.nextAttemptAt = null;
    this.unwatch?.();
    this.unwatch = undefined;
    this.controller?.abort(new DOMException('refresher stopped', 'AbortError'));
    await this.inFlight?.catch(() => undefined);
  }

  /** True when the store holds a point covering `now` from a fetch younger than `maxDataAge`. */
  hasFreshData(now = this.o.clock.now()): boolean {
    return currentIntensity(this.o.store.snapshot(), now).state === 'ok';
  }

  status(): Readonly<RefreshStatus> {
    return { ...this.state };
  }

  /**
   * One fetch-validate-store cycle outside the schedule (the CLI, tests). Concurrent
   * calls share the fetch in flight.
   */
  refreshNow(): Promise<RefreshResult> {
    if (!this.inFlight) {
      this.inFlight = this.attempt().finally(() => {
        this.inFlight = undefined;
      });
    }
    return this.inFlight;
  }

  private onChange(): void {
    if (!this.running) return;
    if (this.inFlight) {
      // The change may have landed after the fetch read the old data: fetch once more.
      this.rerun = true;
      return;
    }
    const now = this.o.clock.now();
    if (now < this.notBefore) return; // the provider asked us to wait; the scheduled retry follows
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer);
    this.state.nextAttemptAt = this.o.clock.now() + delayMs;
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = undefined;
      void this.tick();
    }, delayMs);
  }

  private async tick(): Promise<void> {
    const result = await this.refreshNow();
    if (!this.running) return;
    if (this.rerun) {
      this.rerun = false;
      if (result.ok) return this.schedule(0);
    }
    this.schedule(result.ok ? this.nextInterval() : this.nextRetry(result.error));
  }

  private nextInterval(): number {
    const { refreshIntervalMs, jitter, random } = this.o;
    return Math.round(refreshIntervalMs * (1 - jitter + 2 * jitter * random()));
  }

  /** Exponential backoff with jitter in [50%, 100%] of the step, never sooner than `Retry-After`. */
  private nextRetry(err: SourceError): number {
    const { backoffInitialMs, backoffMaxMs, random, retryAfterMaxMs } = this.o;
    let delay = backoffDelay(this.state.consecutiveFailures, { initialMs: backoffInitialMs, maxMs: backoffMaxMs, jitter: [0.5, 1], random });
    if (err.retryAfterMs !== undefined) {
      const wait = Math.min(err.retryAfterMs, retryAfterMaxMs);
      delay = Math.max(delay, wait);
      this.notBefore = this.o.clock.now() + wait;
    }
    return delay;
  }

  private async attempt(): Promise<RefreshResult> {
    const { clock, source, store, timeoutMs } = this.o;
    const started = clock.now();
    this.state.lastAttemptAt = started;
    const controller = new AbortController();
    this.controller = controller;
    const timeout = clock.setTimeout(() => controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
    try {
      const raw = await raceAbort(source.fetch(controller.signal), controller.signal, source.name);
      const points = validatePoints(raw, source.name);
      const fetchedAt = clock.now();
      const snap = store.update(points, fetchedAt, source.signal ?? 'unknown');
      this.state.lastSuccessAt = fetchedAt;
      this.state.lastError = null;
      this.state.consecutiveFailures = 0;
      this.notBefore = 0;
      const cur = currentIntensity(snap, fetchedAt);
      this.log.info(
        {
          source: source.name,
          points: points.length,
          from: new Date(points[0]!.timestamp).toISOString(),
          current: cur.state === 'ok' ? cur.point.gCO2eqPerKWh : null,
        },
        'carbon data refreshed',
      );
      if (cur.state !== 'ok') this.log.warn({ source: source.name, reason: cur.reason }, 'fresh carbon data does not cover now');
      return { ok: true, points: points.length };
    } catch (e) {
      const error = toSourceError(e, controller.signal, source.name);
      if (error.kind === 'aborted' && !this.running) {
        this.log.debug({ source: source.name }, 'carbon data refresh cancelled by stop');
        return { ok: false, error };
      }
      this.state.lastError = error.message;
      this.state.consecutiveFailures++;
      const reason = error.kind === 'aborted' ? 'timeout' : error.kind === 'config' ? 'invalid' : error.kind === 'unavailable' ? 'http' : error.kind;
      this.o.metrics.providerFetchErrors.inc({ source: providerOf(source.name), reason });
      this.log.warn(
        {
          source: source.name,
          kind: error.kind,
          status: error.status,
          failures: this.state.consecutiveFailures,
          keptDataFrom: this.state.lastSuccessAt === null ? null : new Date(this.state.lastSuccessAt).toISOString(),
        },
        `carbon data refresh failed: ${error.message}`,
      );
      return { ok: false, error };
    } finally {
      clock.clearTimeout(timeout);
      if (this.controller === controller) this.controller = undefined;
    }
  }
}

/** The provider part of `provider:location`, the `source` label of the failure counter. */
function providerOf(name: string): string {
  const i = name.indexOf(':');
  return i < 0 ? name : name.slice(0, i);
}

/** A source that ignores its signal must not hold the refresher hostage. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal, name: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(toSourceError(signal.reason, signal, name));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function toSourceError(e: unknown, signal: AbortSignal, name: string): SourceError {
  if (e instanceof SourceError) return e;
  if (signal.aborted) {
    const timeout = (signal.reason as { name?: string } | undefined)?.name === 'TimeoutError';
    return new SourceError(timeout ? 'timeout' : 'aborted', timeout ? `${name}: no answer within the timeout` : `${name}: fetch cancelled`);
  }
  // A bug in a source, not a provider problem; say so instead of hiding it.
  return new SourceError('invalid', `${name}: unexpected error: ${(e as Error)?.message ?? String(e)}`);
}
