import { backoffDelay } from '../util/backoff.js';
import { parseRetryAfter } from '../util/retry-after.js';
import { sleep } from '../util/sleep.js';
import { AbortedError, ApiError, systemClock, type ApiResponse, type Clock, type KubeApi, type RequestOptions } from '../ports.js';

/**
 * A token bucket: `burst` requests at once, then `qps` per second, first come first
 * served. The API server's priority and fairness protects itself; this keeps a sweep over
 * thousands of objects from being the client that triggers it.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void; signal: AbortSignal | undefined; onAbort: () => void }> = [];
  private timer: unknown = undefined;

  constructor(
    private qps: number,
    private burst: number,
    private readonly clock: Clock = systemClock,
  ) {
    if (!(qps > 0) || !(burst >= 1)) throw new Error(`rate limit needs qps > 0 and burst >= 1, got qps ${qps}, burst ${burst}`);
    this.tokens = burst;
    this.last = clock.now();
  }

  /** New limits after a config reload; the tokens saved up so far stay, within the new burst. */
  setRate(qps: number, burst: number): void {
    this.refill();
    this.qps = qps;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
  }

  take(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortedError());
    this.refill();
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new AbortedError());
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer !== undefined || this.waiters.length === 0) return;
    const wait = Math.max(1, Math.ceil(((1 - this.tokens) / this.qps) * 1000));
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.refill();
      while (this.waiters.length > 0 && this.tokens >= 1) {
        this.tokens -= 1;
        const w = this.waiters.shift()!;
        w.signal?.removeEventListener('abort', w.onAbort);
        w.resolve();
      }
      this.schedule();
    }, wait);
  }
}

/** At most `limit` holders at once, first come first served. */
export class Semaphore {
  private active = 0;
  private queue: Array<() => void> = [];

  constructor(private limit: number) {}

  setLimit(limit: number): void {
    this.limit = limit;
    this.drain();
  }

  get inFlight(): number {
    return this.active;
  }

  async acquire(): Promise<() => void> {
    if (this.active < this.limit && this.queue.length === 0) this.active++;
    // a queued acquirer is handed its slot by `drain`, already counted
    else await new Promise<void>((r) => this.queue.push(r));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.drain();
    };
  }

  private drain(): void {
    while (this.queue.length > 0 && this.active < this.limit) {
      this.active++;
      this.queue.shift()!();
    }
  }
}

export interface PoliteOptions {
  qps: number;
  burst: number;
  maxInFlight: number;
  clock?: Clock;
  /** [0, 1); injectable for deterministic jitter. */
  random?: () => number;
  /** Attempts per call including the first (default 5). */
  maxAttempts?: number;
  /** First backoff after a 409, 5xx or network error (default 250 ms), doubled per attempt. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** The longest Retry-After we honour as given (default 60 s); longer ones are cut to it. */
  retryAfterMaxMs?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
}

export interface CallOptions extends RequestOptions {
  /** Retry 409 Conflict (default true; a create that conflicts will conflict again). */
  retryConflict?: boolean;
}

const retriable = (status: number, conflict: boolean): boolean => status === 429 || status >= 500 || (conflict && status === 409);

/**
 * Every call the sweep makes goes through here: the token bucket, at most `maxInFlight`
 * requests open, and retries (429 after its Retry-After, 409 and 5xx and network errors
 * with exponential backoff and jitter). A call returns the last response, whatever its
 * status, so the caller decides what a 404 means; it throws only when no response came.
 */
export class PoliteClient {
  readonly bucket: TokenBucket;
  private readonly inflight: Semaphore;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly o: Required<Omit<PoliteOptions, 'clock' | 'random'>>;
  /** Requests sent (retries included) and retries, for the sweep's report and the benchmark. */
  readonly counts = { requests: 0, retries: 0 };

  constructor(
    private readonly api: KubeApi,
    options: PoliteOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.o = { maxAttempts: 5, backoffBaseMs: 250, backoffMaxMs: 30_000, retryAfterMaxMs: 60_000, timeoutMs: 30_000, ...options };
    this.bucket = new TokenBucket(options.qps, options.burst, this.clock);
    this.inflight = new Semaphore(options.maxInFlight);
  }

  setLimits(qps: number, burst: number, maxInFlight: number): void {
    this.bucket.setRate(qps, burst);
    this.inflight.setLimit(maxInFlight);
  }

  private backoff(attempt: number): number {
    return backoffDelay(attempt, { initialMs: this.o.backoffBaseMs, maxMs: this.o.backoffMaxMs, jitter: [0.8, 1.2], random: this.random });
  }

  async call(method: string, path: string, options: CallOptions = {}): Promise<ApiResponse> {
    const { signal } = options;
    const conflict = options.retryConflict ?? true;
    for (let attempt = 1; ; attempt++) {
      await this.bucket.take(signal);
      const release = await this.inflight.acquire();
      let res: ApiResponse | undefined;
      let failure: Error | undefined;
      try {
        if (signal?.aborted) throw new AbortedError();
        this.counts.requests++;
        res = await this.api.request(method, path, { timeoutMs: this.o.timeoutMs, ...options });
      } catch (err) {
        if (signal?.aborted || err instanceof AbortedError) throw new AbortedError();
        failure = err as Error;
      } finally {
        release();
      }
      if (res && !retriable(res.status, conflict)) return res;
      if (attempt >= this.o.maxAttempts) {
        if (res) return res;
        throw failure!;
      }
      let wait = this.backoff(attempt);
      if (res?.status === 429) {
        const after = parseRetryAfter(res.headers['retry-after'], this.clock.now());
        if (after !== undefined) wait = Math.min(after, this.o.retryAfterMaxMs);
      }
      this.counts.retries++;
      await sleep(wait, signal, this.clock);
    }
  }

  /** `call`, then an ApiError unless the status is one of `ok`. */
  async expect(method: string, path: string, ok: readonly number[], options: CallOptions = {}): Promise<ApiResponse> {
    const res = await this.call(method, path, options);
    if (!ok.includes(res.status)) {
      const after = parseRetryAfter(res.headers['retry-after'], this.clock.now());
      throw new ApiError(method, path, res.status, res.body, after);
    }
    return res;
  }
}
