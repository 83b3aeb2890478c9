import type { IntensityPoint } from '../core/carbon.js';
import { resolvePercentiles, windowEdges } from '../core/percentile.js';
import type { Band, Policy } from '../core/policy.js';

/** One stretch over which a percentile band's threshold stays put; null where it cannot be resolved. */
export interface ThresholdStep {
  readonly start: number;
  readonly end: number;
  readonly value: number | null;
}

/** A percentile band's threshold over the span, as the window slides. */
export interface ThresholdSeries {
  readonly band: Band;
  /** `p80` is 80. */
  readonly percentile: number;
  readonly steps: readonly ThresholdStep[];
}

/**
 * Each percentile band's resolved threshold over [start, end): the resolution `decide`
 * makes at each moment, evaluated where the window's content changes (a point entering or
 * leaving it) and held in between, which is exact. Neighbouring steps of one value are joined.
 */
export function thresholdSeries(policy: Policy, points: readonly IntensityPoint[], start: number, end: number): ThresholdSeries[] {
  if (!policy.relative) return [];
  const moments = new Set<number>([start]);
  windowEdges(points, policy.relativeWindow, (t) => {
    if (t > start && t < end) moments.add(t);
  });
  const times = [...moments].sort((a, b) => a - b);
  const bands = policy.bands.filter((b) => b.percentile !== null);
  const steps: ThresholdStep[][] = bands.map(() => []);
  times.forEach((at, i) => {
    const until = times[i + 1] ?? end;
    const resolved = resolvePercentiles(policy, points, at);
    bands.forEach((b, j) => {
      const value = resolved.ok ? resolved.thresholds.get(b.percentile!)! : null;
      const list = steps[j]!;
      const prev = list[list.length - 1];
      if (prev && prev.value === value) list[list.length - 1] = { ...prev, end: until };
      else list.push({ start: at, end: until, value });
    });
  });
  return bands.map((band, j) => ({ band, percentile: band.percentile!, steps: steps[j]! }));
}
