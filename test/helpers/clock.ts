import type { Clock } from '../../src/ports.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** Let pending promise callbacks and I/O callbacks run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** A clock whose time moves only when the test says so; timers fire in order. */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  timers: Timer[] = [];

  constructor(start: number) {
    this.t = start;
  }

  now = (): number => this.t;

  setTimeout = (fn: () => void, ms: number): unknown => {
    const timer = { id: ++this.seq, at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  };

  clearTimeout = (h: unknown): void => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };

  /** The delay until the next pending timer, or undefined. */
  nextDelay(): number | undefined {
    if (this.timers.length === 0) return undefined;
    return Math.min(...this.timers.map((x) => x.at)) - this.t;
  }

  /** Move time forward by `ms`, firing each due timer and letting its async work settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
    await settle();
  }
}

/**
 * A clock for retry tests over real sockets: every timer fires on the next turn of the
 * event loop and moves virtual time forward by its delay, and each delay is recorded,
 * so a test can check the waits (a Retry-After, a backoff) without sitting through them.
 */
export function instantClock(start = Date.UTC(2026, 10, 23, 10, 0, 0)) {
  let t = start;
  const delays: number[] = [];
  const handles = new Map<number, NodeJS.Immediate>();
  let seq = 0;
  return {
    delays,
    now: () => t,
    setTimeout(fn: () => void, ms: number): unknown {
      delays.push(ms);
      const id = ++seq;
      handles.set(
        id,
        setImmediate(() => {
          handles.delete(id);
          t += Math.max(0, ms);
          fn();
        }),
      );
      return id;
    },
    clearTimeout(h: unknown): void {
      const imm = handles.get(h as number);
      if (imm) clearImmediate(imm);
      handles.delete(h as number);
    },
  };
}
