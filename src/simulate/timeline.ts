import type { CarbonSnapshot, IntensityPoint } from '../core/carbon.js';
import { pointEnd } from '../core/view.js';
import { decide } from '../core/decide.js';
import { changeMoments } from '../core/moments.js';
import type { Policy } from '../core/policy.js';

const MINUTE = 60_000;
export const HOUR = 3_600_000;

/** One stretch of time over which the decision does not change. */
export interface CapInterval {
  /** Epoch ms, inclusive. */
  readonly start: number;
  /** Epoch ms, exclusive. */
  readonly end: number;
  /** The intensity that applied as the decision shows it (gCO2eq/kWh, see `Decision.intensity`), or null in a gap. */
  readonly intensity: number | null;
  readonly cap: number;
  /** The band that applied, e.g. `measuredEmission>=300`; null when none did. */
  readonly rule: string | null;
  readonly ecoMode: 'on' | 'off';
  /** The decision's own one-line reason. */
  readonly reason: string;
}

export interface SimulationInput {
  readonly policy: Policy;
  /** Sorted, non-overlapping points (validated); gaps between them are allowed. */
  readonly points: readonly IntensityPoint[];
  readonly declared: number;
  readonly minReplicas: number;
  /** `provider:location` or the forecast file, for the decision's `source`. */
  readonly source: string;
}

/** The span the forecast covers: first point's start to last point's end. */
export function forecastSpan(points: readonly IntensityPoint[]): { start: number; end: number } {
  if (points.length === 0) throw new Error('the forecast has no points');
  return { start: points[0]!.timestamp, end: pointEnd(points[points.length - 1]!) };
}

/**
 * The simulated webhook: `decide` (the same function admission calls) evaluated at every
 * breakpoint, its answer held until the next one. The data counts as freshly fetched at
 * every moment (the refresher keeps it so), so only gaps between points are missing data,
 * and `onMissingData` handles them exactly as in the webhook. `hold` keeps the cap of the
 * interval before; the object starts at its declared max.
 */
export function simulateTimeline(input: SimulationInput): CapInterval[] {
  const { start, end } = forecastSpan(input.points);
  // The same instants the re-touch timer wakes at (core/moments), so the simulated
  // timeline is the one the webhook follows, and a new rule needs teaching only there.
  const moments = changeMoments(input.policy, snapshotOf(input, start), start, end).filter((t) => t < end);
  return evaluate(input, [start, ...moments], end);
}

/** The forecast as a snapshot that stays fresh over the whole span: maxDataAge is not simulated. */
function snapshotOf(input: SimulationInput, fetchedAt: number): CarbonSnapshot {
  return { source: input.source, fetchedAt, maxDataAgeMs: Number.POSITIVE_INFINITY, points: input.points };
}

/** `decide` at each moment, held until the next one (the last until `end`). */
function evaluate(input: SimulationInput, moments: readonly number[], end: number): CapInterval[] {
  const out: CapInterval[] = [];
  let currentMax = input.declared;
  const carbon = snapshotOf(input, moments[0]!);
  for (let i = 0; i < moments.length; i++) {
    const at = moments[i]!;
    const until = i + 1 < moments.length ? moments[i + 1]! : end;
    if (until <= at) continue;
    const d = decide({
      policy: input.policy,
      declared: input.declared,
      minReplicas: input.minReplicas,
      currentMax,
      ecoModeOffAnnotation: false,
      carbon,
      now: at,
    });
    currentMax = d.cap;
    const prev = out[out.length - 1];
    // A moment where nothing changed (two points of one value) splits an interval: join it again.
    if (
      prev &&
      prev.end === at &&
      prev.cap === d.cap &&
      prev.intensity === d.intensity &&
      prev.rule === d.rule &&
      prev.ecoMode === d.ecoMode &&
      prev.reason === d.reason
    ) {
      out[out.length - 1] = { ...prev, end: until };
      continue;
    }
    out.push({ start: at, end: until, intensity: d.intensity, cap: d.cap, rule: d.rule, ecoMode: d.ecoMode, reason: d.reason });
  }
  return out;
}

/**
 * The forecast as an operator that only looks once an hour sees it (the Azure carbon-aware
 * KEDA operator works on hourly data): for each clock hour (UTC) of the span, the value
 * at the top of the hour, or else the first value that starts within the hour, held for
 * the whole hour. The first and last hours are clipped to the span. An hour without any
 * value stays a gap.
 */
export function hourlyPoints(points: readonly IntensityPoint[]): IntensityPoint[] {
  const { start, end } = forecastSpan(points);
  const out: IntensityPoint[] = [];
  let j = 0;
  for (let h = Math.floor(start / HOUR) * HOUR; h < end; h += HOUR) {
    while (j < points.length && pointEnd(points[j]!) <= h) j++;
    const p = points[j];
    if (!p || p.timestamp >= h + HOUR) continue;
    const from = Math.max(h, start);
    const to = Math.min(h + HOUR, end);
    out.push({ timestamp: from, durationMinutes: (to - from) / MINUTE, gCO2eqPerKWh: p.gCO2eqPerKWh });
  }
  return out;
}

/**
 * What re-evaluating only at the top of each hour gives: the hourly data, and the
 * decision taken once per hour (eco-mode schedules and the duration override included)
 * and held for the hour.
 */
export function simulateHourly(input: SimulationInput): CapInterval[] {
  const { start, end } = forecastSpan(input.points);
  const moments: number[] = [start];
  for (let h = Math.floor(start / HOUR) * HOUR + HOUR; h < end; h += HOUR) moments.push(h);
  // The span stays the original one, so an hour without any value is a gap in both views.
  return evaluate({ ...input, points: hourlyPoints(input.points) }, moments, end);
}

/**
 * The caps of one timeline against the intensities of another: the pieces where both are
 * constant, with intensity from `actual` and the decision from `caps`. The hourly view
 * decides on hourly data, but the grid still does what the full forecast says; measuring
 * its capacity against the held hourly values would flatter it.
 */
export function overlayCaps(actual: readonly CapInterval[], caps: readonly CapInterval[]): CapInterval[] {
  const out: CapInterval[] = [];
  let i = 0;
  let j = 0;
  while (i < actual.length && j < caps.length) {
    const a = actual[i]!;
    const c = caps[j]!;
    const start = Math.max(a.start, c.start);
    const end = Math.min(a.end, c.end);
    if (end > start) out.push({ ...c, start, end, intensity: a.intensity });
    if (a.end <= c.end) i++;
    else j++;
  }
  return out;
}
