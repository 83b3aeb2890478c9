/**
 * A work queue of keys, as client-go's workqueue: a key waiting is queued once however often
 * it is added, a key being worked on is not handed out twice at once, and one added while
 * it is worked on runs again afterwards (the handler always reads the latest state).
 */
export class WorkQueue {
  private readonly waiting = new Set<string>();
  private readonly active = new Set<string>();
  private readonly again = new Set<string>();
  private idleWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(
    private readonly handle: (key: string) => Promise<void>,
    private concurrency: number,
  ) {}

  get length(): number {
    return this.waiting.size;
  }

  get busy(): number {
    return this.active.size;
  }

  setConcurrency(n: number): void {
    this.concurrency = Math.max(1, n);
    this.pump();
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) this.again.add(key);
    else this.waiting.add(key);
    this.pump();
  }

  /** Drop what waits and refuse new keys; resolves when the keys being worked on are done. */
  stop(): Promise<void> {
    this.stopped = true;
    this.waiting.clear();
    this.again.clear();
    return this.idle();
  }

  /** Accept keys again after `stop` (leadership regained). */
  restart(): void {
    this.stopped = false;
  }

  /** Resolves once nothing waits and nothing is worked on. */
  idle(): Promise<void> {
    if (this.waiting.size === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    while (!this.stopped && this.active.size < this.concurrency && this.waiting.size > 0) {
      const key = this.waiting.values().next().value as string;
      this.waiting.delete(key);
      this.active.add(key);
      void this.handle(key)
        .catch(() => undefined) // the handler logs its own failures
        .finally(() => this.done(key));
    }
  }

  private done(key: string): void {
    this.active.delete(key);
    if (this.again.delete(key)) this.waiting.add(key);
    this.pump();
    if (this.waiting.size === 0 && this.active.size === 0) {
      for (const w of this.idleWaiters) w();
      this.idleWaiters = [];
    }
  }
}
