import type { IntensityPoint } from './carbon.js';
import type { Policy, RelativeWindow } from './policy.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;

/** Less data than this in the reference window and a percentile band is not resolved. */
export const MIN_WINDOW_DATA_MS = 6 * HOUR;

/** Values sorted ascending with the minutes covered at or below each: what every percentile reads. */
interface Distribution {
  readonly values: readonly number[];
  readonly cumulative: readonly number[];
  readonly totalMinutes: number;
}

function distribution(points: readonly IntensityPoint[]): Distribution {
  const sorted = [...points].sort((a, b) => a.gCO2eqPerKWh - b.gCO2eqPerKWh);
  const values: number[] = [];
  const cumulative: number[] = [];
  let total = 0;
  for (const x of sorted) {
    total += x.durationMinutes;
    values.push(x.gCO2eqPerKWh);
    cumulative.push(total);
  }
  return { values, cumulative, totalMinutes: total };
}

function pick(d: Distribution, p: number): number {
  // A small tolerance so that 0.5 of 4 equal hours lands on the second value, not past it.
  const need = p * d.totalMinutes - 1e-9;
  let lo = 0;
  let hi = d.values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (d.cumulative[mid]! >= need) hi = mid;
    else lo = mid + 1;
  }
  return d.values[lo]!;
}

/**
 * The time-weighted p-th percentile (0 < p <= 1) of the points' intensity: the lowest
 * value v such that the points at or below v cover at least p of the points' time. The
 * one definition behind percentile bands and simulate's suggested thresholds.
 */
export function percentile(points: readonly IntensityPoint[], p: number): number {
  if (points.length === 0) throw new Error('percentile of no points');
  if (!(p > 0 && p <= 1)) throw new RangeError(`percentile must be in (0, 1], got ${p}`);
  return pick(distribution(points), p);
}

/**
 * The points of the reference window at `now`: those that start in (now - past, now + ahead].
 * A point is in or out as a whole, so the window changes only at the instants a start
 * crosses one of its ends (`windowEdges`), and the decision stays exact between them.
 */
export function windowRange(points: readonly IntensityPoint[], now: number, w: RelativeWindow): { lo: number; hi: number } {
  const firstAfter = (t: number): number => {
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (points[mid]!.timestamp > t) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  return { lo: firstAfter(now - w.pastMs), hi: firstAfter(now + w.aheadMs) };
}

/** The instants a point enters (`timestamp - ahead`) or leaves (`timestamp + past`) the window. */
export function windowEdges(points: readonly IntensityPoint[], w: RelativeWindow, add: (t: number) => void): void {
  for (const p of points) {
    add(p.timestamp - w.aheadMs);
    add(p.timestamp + w.pastMs);
  }
}

export type Resolved = { readonly ok: true; readonly thresholds: ReadonlyMap<number, number> } | { readonly ok: false; readonly reason: string };

// Admission resolves the same window many times per second: one distribution per window
// of one points array (arrays are replaced, never mutated, on refresh).
const cache = new WeakMap<readonly IntensityPoint[], Map<string, Distribution>>();

function windowDistribution(points: readonly IntensityPoint[], lo: number, hi: number): Distribution {
  let byRange = cache.get(points);
  if (byRange === undefined) {
    byRange = new Map();
    cache.set(points, byRange);
  }
  const key = `${lo}:${hi}`;
  let d = byRange.get(key);
  if (d === undefined) {
    if (byRange.size >= 64) byRange.clear();
    d = distribution(points.slice(lo, hi));
    byRange.set(key, d);
  }
  return d;
}

const hours = (ms: number): string => `${Math.round((ms / HOUR) * 10) / 10}h`;

/**
 * Each percentile band's threshold at `now` (percentile -> gCO2eq/kWh), or why it cannot be
 * resolved: with less than 6 hours of data in the window nothing is guessed.
 */
export function resolvePercentiles(policy: Policy, points: readonly IntensityPoint[], now: number): Resolved {
  const w = policy.relativeWindow;
  const { lo, hi } = windowRange(points, now, w);
  const d = windowDistribution(points, lo, hi);
  if (d.totalMinutes * MINUTE < MIN_WINDOW_DATA_MS) {
    return {
      ok: false,
      reason: `percentile band cannot be resolved: ${hours(d.totalMinutes * MINUTE)} of data in relativeWindow (past ${hours(w.pastMs)}, ahead ${hours(w.aheadMs)}), at least 6h needed`,
    };
  }
  const thresholds = new Map<number, number>();
  for (const b of policy.bands) if (b.percentile !== null) thresholds.set(b.percentile, pick(d, b.percentile / 100));
  return { ok: true, thresholds };
}
