import type { IntensityPoint, Signal } from '../core/carbon.js';

/** A source of points. Implementations live in `providers/`, one file each. */
export interface IntensitySource {
  /** `provider:location`, used as the snapshot's `source`. */
  readonly name: string;
  /** What kind of intensity the points are (absent: `unknown`). */
  readonly signal?: Signal;
  /**
   * Fetch the current value and whatever forecast the provider offers. Must honour
   * `signal` (timeouts and shutdown) and throw on anything it cannot trust.
   */
  fetch(signal: AbortSignal): Promise<IntensityPoint[]>;
  /**
   * Optional: call `onChange` when the source knows its data changed (a watched ConfigMap
   * or file), so the refresher fetches at once instead of waiting for the interval.
   * Returns a function that stops watching.
   */
  watch?(onChange: () => void): () => void;
}
