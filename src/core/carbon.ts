/**
 * The shape every carbon-intensity source produces and every consumer reads.
 * Times are epoch milliseconds so the decision code compares numbers, not Dates.
 */
export interface IntensityPoint {
  /** Start of the interval this value covers (epoch ms). */
  readonly timestamp: number;
  /** Length of the interval in minutes (> 0). */
  readonly durationMinutes: number;
  /** Grid carbon intensity in gCO2eq/kWh (>= 0). */
  readonly gCO2eqPerKWh: number;
}

/**
 * What kind of intensity a number is: `marginal` (the emissions of the next kWh, WattTime's
 * MOER), `average` (the grid mix, Electricity Maps and NESO), or `unknown` when the source
 * cannot say and the configuration does not declare it. Thresholds of one kind do not
 * transfer to the other, so every number we show carries it.
 */
export type Signal = 'marginal' | 'average' | 'unknown';
export const SIGNALS: readonly Signal[] = ['marginal', 'average', 'unknown'];

/**
 * An immutable view of what a store knows at one moment. Admission and the timer take
 * one snapshot per request or sweep; the store replaces (never mutates) its arrays, so a
 * snapshot stays consistent while the store refreshes behind it.
 */
export interface CarbonSnapshot {
  /** `provider:location`, e.g. `electricitymaps:DE`; written into the status annotation. */
  readonly source: string;
  /** When the last successful fetch finished (epoch ms), or null before the first one. */
  readonly fetchedAt: number | null;
  /** Past, current and forecast points, sorted by timestamp, non-overlapping. */
  readonly points: readonly IntensityPoint[];
  /** Data whose fetch is older than this is stale (`maxDataAge` of the config). */
  readonly maxDataAgeMs: number;
  /** The kind of intensity the points are; absent means `unknown`. */
  readonly signal?: Signal;
}
