import type { CarbonSnapshot, IntensityPoint } from './carbon.js';

const MINUTE = 60_000;

/** End of a point's interval (epoch ms, exclusive). */
export function pointEnd(p: IntensityPoint): number {
  return p.timestamp + p.durationMinutes * MINUTE;
}

/** Index of the point whose interval covers `t`, or -1. Binary search: points are sorted. */
export function indexAt(points: readonly IntensityPoint[], t: number): number {
  let lo = 0;
  let hi = points.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const p = points[mid]!;
    if (t < p.timestamp) hi = mid - 1;
    else if (t >= pointEnd(p)) lo = mid + 1;
    else return mid;
  }
  return -1;
}

export type CurrentIntensity = { readonly state: 'ok'; readonly point: IntensityPoint } | { readonly state: 'missing' | 'stale'; readonly reason: string };

/**
 * The point that applies at `now`, with the staleness rule of PRODUCT.md section 1:
 * no point covering now is `missing`; a last fetch older than `maxDataAge` is `stale`.
 */
export function currentIntensity(snapshot: CarbonSnapshot, now: number): CurrentIntensity {
  if (snapshot.fetchedAt === null) {
    return { state: 'missing', reason: `no data from ${snapshot.source} yet` };
  }
  const age = now - snapshot.fetchedAt;
  if (age > snapshot.maxDataAgeMs) {
    return {
      state: 'stale',
      reason: `data from ${snapshot.source} is ${Math.round(age / MINUTE)} min old (maxDataAge ${Math.round(snapshot.maxDataAgeMs / MINUTE)} min)`,
    };
  }
  const i = indexAt(snapshot.points, now);
  if (i < 0) return { state: 'missing', reason: `no data point from ${snapshot.source} covers ${new Date(now).toISOString()}` };
  return { state: 'ok', point: snapshot.points[i]! };
}

/**
 * True when every moment of [now - minutes, now] is covered by points at or above
 * `threshold`, without gaps: the anti-starvation rule (`carbonIntensityDuration`).
 * A history shorter than the window never triggers it.
 */
export function stayedAtOrAbove(points: readonly IntensityPoint[], now: number, threshold: number, minutes: number): boolean {
  const from = now - minutes * MINUTE;
  let i = indexAt(points, now);
  if (i < 0) return false;
  let coveredFrom = now;
  while (i >= 0) {
    const p = points[i]!;
    if (pointEnd(p) < coveredFrom) return false; // a gap in the history
    if (p.gCO2eqPerKWh < threshold) return false;
    coveredFrom = p.timestamp;
    if (coveredFrom <= from) return true;
    i--;
  }
  return false;
}
