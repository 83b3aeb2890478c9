export interface BackoffOptions {
  /** The first delay. */
  initialMs: number;
  /** No delay grows past this. */
  maxMs: number;
  /**
   * Spread of each delay as [low, high] fractions of the exponential step, so callers that
   * failed together do not retry together (default [1, 1]: no spread).
   */
  jitter?: readonly [number, number];
  /** Returns [0, 1); injectable for deterministic tests. */
  random?: () => number;
}

/**
 * The delay before retry number `attempt` (1 for the first retry): `initialMs` doubled per
 * attempt up to `maxMs`, then spread by `jitter`. Every retry loop in the project uses this.
 */
export function backoffDelay(attempt: number, o: BackoffOptions): number {
  const step = Math.min(o.maxMs, o.initialMs * 2 ** Math.max(0, attempt - 1));
  const [low, high] = o.jitter ?? [1, 1];
  if (low === high) return Math.round(step * low);
  return Math.round(step * (low + (high - low) * (o.random ?? Math.random)()));
}
