import type { CarbonSnapshot, IntensityPoint } from '../../src/core/carbon.js';

export const HOUR = 3_600_000;
export const MINUTE = 60_000;

/** A snapshot holding hourly points (one per value) starting at `from`, fetched at `fetchedAt`. */
export function hourly(from: number, values: number[], fetchedAt: number, maxDataAgeMs = 2 * HOUR): CarbonSnapshot {
  const points: IntensityPoint[] = values.map((v, i) => ({ timestamp: from + i * HOUR, durationMinutes: 60, gCO2eqPerKWh: v }));
  return { source: 'test:zone', fetchedAt, points, maxDataAgeMs };
}

/** One hour-long point covering `now`, freshly fetched. */
export function steady(intensity: number, now: number): CarbonSnapshot {
  return hourly(now - (now % HOUR), [intensity], now);
}

export const noData = (): CarbonSnapshot => ({ source: 'test:zone', fetchedAt: null, points: [], maxDataAgeMs: 2 * HOUR });
