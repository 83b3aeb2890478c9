import type { IntensityPoint } from './carbon.js';

const MINUTE = 60_000;

/** End of a point's interval (epoch ms, exclusive). */
export function endOf(p: IntensityPoint): number {
  return p.timestamp + p.durationMinutes * MINUTE;
}

/** A copy of `p` cut to end at `end` (which lies inside it). */
function cutAt(p: IntensityPoint, end: number): IntensityPoint {
  return { timestamp: p.timestamp, durationMinutes: (end - p.timestamp) / MINUTE, gCO2eqPerKWh: p.gCO2eqPerKWh };
}

/**
 * Lay `top` over `base`: wherever a point of `top` covers a moment, it wins. Base points
 * that only partly overlap are cut rather than dropped, so the timeline keeps no gaps
 * (the duration override needs an unbroken history). Both inputs must be sorted and
 * non-overlapping; so is the result.
 */
export function overlay(base: readonly IntensityPoint[], top: readonly IntensityPoint[]): IntensityPoint[] {
  if (top.length === 0) return [...base];
  if (base.length === 0) return [...top];
  const out: IntensityPoint[] = [];
  let j = 0;
  for (const b of base) {
    let start = b.timestamp;
    const end = endOf(b);
    // Emit the parts of b that no top point covers, interleaving the top points in order.
    while (start < end) {
      while (j < top.length && endOf(top[j]!) <= start) {
        out.push(top[j]!);
        j++;
      }
      const t = top[j];
      if (t === undefined || t.timestamp >= end) {
        out.push(start === b.timestamp ? b : { timestamp: start, durationMinutes: (end - start) / MINUTE, gCO2eqPerKWh: b.gCO2eqPerKWh });
        break;
      }
      if (t.timestamp > start) {
        out.push(cutAt({ ...b, timestamp: start, durationMinutes: (end - start) / MINUTE }, t.timestamp));
      }
      start = Math.max(start, endOf(t));
    }
  }
  while (j < top.length) {
    out.push(top[j]!);
    j++;
  }
  return out;
}

/**
 * The duration of each point of an evenly spaced series that only gives start times
 * (Electricity Maps, WattTime): the gap to the next start, and for the last point the
 * series' own step (or `fallbackMinutes` for a single point).
 */
export function durationsFromStarts(starts: readonly number[], fallbackMinutes: number): number[] {
  return starts.map((t, i) => {
    const next = starts[i + 1];
    if (next !== undefined) return (next - t) / MINUTE;
    const prev = starts[i - 1];
    return prev !== undefined ? (t - prev) / MINUTE : fallbackMinutes;
  });
}
