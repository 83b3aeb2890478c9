import { backoffDelay } from '../util/backoff.js';
import { systemClock, type Clock } from '../ports.js';

/** What a handler asks for after a key succeeded: to be called again this many ms from now. */
export interface Outcome {
  readonly requeueAfter?: number;
}

export type Handler = (key: string) => Promise<Outcome | undefined>;

export interface WorkQueueOptions {
  /** How many keys are worked on at once. */
  concurrency: number;
  clock?: Clock;
  /** The first retry delay of a key whose handler threw (default 500 ms), doubling per failure... */
  backoffInitialMs?: number;
  /** ...up to this (default 60 s). */
  backoffMaxMs?: number;
  /** A handler threw; the key comes back in `retryMs`. */
  onError?: (key: string, err: unknown, retryMs: number) => void;
  /** Keys whose `addAfter` moment came, just before they are added (retries after a failure are not among them). */
  onDue?: (keys: readonly string[]) => void;
}

/** A min-heap of (at, key); stale entries (a key re-delayed earlier, or already added) are skipped on pop. */
class DelayHeap {
  private readonly items: Array<{ at: number; key: string }> = [];

  get size(): number {
    return this.items.length;
  }

  peek(): number {
    return this.items[0]?.at ?? Infinity;
  }

  push(at: number, key: string): void {
    const a = this.items;
    a.push({ at, key });
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p]!.at <= a[i]!.at) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }

  pop(): { at: number; key: string } | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.at < a[m]!.at) m = l;
        if (r < a.length && a[r]!.at < a[m]!.at) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}

/**
 * A delaying, rate-limited work queue of keys, as client-go's workqueue and
 * controller-runtime's worker loop: a key waiting is queued once however often it is added;
 * a key being worked on is never handed to a second worker, and one added meanwhile runs
 * again afterwards (the handler always reads the latest state). `addAfter` keeps the
 * earliest of its wishes per key. A handler that throws brings its key back after a per-key
 * exponential backoff; one that succeeds resets it and may ask to be called again later.
 * The queue owns the only timer: every delay, retry and due moment waits here.
 */
export class WorkQueue {
  private readonly clock: Clock;
  private readonly ready: string[] = [];
  private head = 0;
  /** Keys waiting in `ready`, or added while worked on. */
  private readonly dirty = new Set<string>();
  private readonly active = new Set<string>();
  /** Per key, the earliest time it asked to be added. */
  private readonly delayed = new Map<string, number>();
  private readonly heap = new DelayHeap();
  private readonly failures = new Map<string, number>();
  /** Keys delayed by their backoff, not by a moment they asked for. */
  private readonly retrying = new Set<string>();
  private timer: unknown;
  private timerAt = Infinity;
  private idleWaiters: Array<() => void> = [];
  private stopped = false;
  private concurrency: number;

  constructor(
    private readonly handle: Handler,
    private readonly o: WorkQueueOptions,
  ) {
    this.clock = o.clock ?? systemClock;
    this.concurrency = Math.max(1, o.concurrency);
  }

  /** Keys ready to be worked on (not those delayed). */
  get length(): number {
    return this.ready.length - this.head;
  }

  get busy(): number {
    return this.active.size;
  }

  /** Keys waiting for a later moment. */
  get waiting(): number {
    return this.delayed.size;
  }

  /** When `key` is due to be added, if it waits for a moment. */
  dueAt(key: string): number | undefined {
    return this.delayed.get(key);
  }

  setConcurrency(n: number): void {
    this.concurrency = Math.max(1, n);
    this.pump();
  }

  add(key: string): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (!this.active.has(key)) this.ready.push(key);
    this.pump();
  }

  /** Add `key` in `ms`; a key already waiting for an earlier moment keeps it. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const before = this.delayed.get(key);
    if (before !== undefined && before <= at) return;
    this.delayed.set(key, at);
    this.heap.push(at, key);
    this.arm();
  }

  /** Add `key` after its backoff: 500 ms doubling per failure since its last `forget`, at most a minute. */
  addRateLimited(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const ms = this.backoff(n);
    this.addAfter(key, ms);
    if (this.delayed.get(key) === this.clock.now() + ms) this.retrying.add(key);
    return ms;
  }

  /** Failures of `key` since its last `forget`. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The key succeeded (or is gone): its next failure starts the backoff over. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Drop every key, delay and backoff, and refuse new keys; resolves when running handlers are done. */
  stop(): Promise<void> {
    this.stopped = true;
    this.ready.length = 0;
    this.head = 0;
    this.dirty.clear();
    this.delayed.clear();
    this.heap.clear();
    this.failures.clear();
    this.retrying.clear();
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    return this.idle();
  }

  /** Accept keys again after `stop` (leadership regained). */
  restart(): void {
    this.stopped = false;
  }

  /** Resolves once no key is ready and none is worked on (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.length === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private backoff(n: number): number {
    return backoffDelay(n, { initialMs: this.o.backoffInitialMs ?? 500, maxMs: this.o.backoffMaxMs ?? 60_000 });
  }

  private arm(): void {
    const at = this.heap.peek();
    if (at >= this.timerAt) return;
    this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, at - this.clock.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    const keys: string[] = [];
    const due: string[] = [];
    while (this.heap.peek() <= now) {
      const { at, key } = this.heap.pop()!;
      if (this.delayed.get(key) !== at) continue;
      this.delayed.delete(key);
      keys.push(key);
      if (!this.retrying.delete(key)) due.push(key);
    }
    if (due.length > 0) this.o.onDue?.(due);
    for (const key of keys) this.add(key);
    if (this.heap.size > 0) this.arm();
  }

  private pump(): void {
    while (!this.stopped && this.active.size < this.concurrency && this.length > 0) {
      const key = this.ready[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.ready.length) {
        this.ready.splice(0, this.head);
        this.head = 0;
      }
      this.dirty.delete(key);
      this.active.add(key);
      void this.work(key);
    }
  }

  private async work(key: string): Promise<void> {
    try {
      const outcome = await this.handle(key);
      this.forget(key);
      if (outcome?.requeueAfter !== undefined) this.addAfter(key, outcome.requeueAfter);
    } catch (err) {
      if (!this.stopped) {
        const retryMs = this.addRateLimited(key);
        this.o.onError?.(key, err, retryMs);
      }
    } finally {
      this.done(key);
    }
  }

  private done(key: string): void {
    this.active.delete(key);
    if (this.dirty.has(key)) this.ready.push(key);
    this.pump();
    if (this.length === 0 && this.active.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
