import type { CarbonSnapshot, IntensityPoint } from '../core/carbon.js';
import { indexAt, pointEnd } from '../core/view.js';
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

/**
 * `decide` at each moment, held until the next one (the last until `end`). Under `stepDown`
 * each decision steps from the cap before it, and with `followSteps` the due time of the
 * next step is a moment too, as it is for the controller. The first decision has no cap in
 * force (the object is created then) and applies at once.
 */
function evaluate(input: SimulationInput, moments: readonly number[], end: number, followSteps = true): CapInterval[] {
  const out: CapInterval[] = [];
  let currentMax = input.declared;
  let nextStepAt: number | null = null;
  const carbon = snapshotOf(input, moments[0]!);
  for (let i = 0, at = moments[0]!; at < end; ) {
    while (i < moments.length && moments[i]! <= at) i++;
    const d = decide({
      policy: input.policy,
      declared: input.declared,
      minReplicas: input.minReplicas,
      currentMax,
      ecoModeOffAnnotation: false,
      carbon,
      now: at,
      inForce: out.length === 0 ? undefined : { cap: currentMax, nextStepAt },
    });
    currentMax = d.cap;
    nextStepAt = d.step?.nextStepAt ?? null;
    const moment = i < moments.length ? moments[i]! : end;
    const until = followSteps && nextStepAt !== null && nextStepAt < moment ? nextStepAt : moment;
    push(out, at, until, d);
    at = until;
  }
  return out;
}

/**
 * Append the decision held over [at, until). A moment where nothing changed (two points of
 * one value) splits an interval: join it again. In a gap the reason names the moment; the
 * one at the interval's start stands.
 */
function push(out: CapInterval[], at: number, until: number, d: ReturnType<typeof decide>): void {
  const prev = out[out.length - 1];
  if (
    prev &&
    prev.end === at &&
    prev.cap === d.cap &&
    prev.intensity === d.intensity &&
    prev.rule === d.rule &&
    prev.ecoMode === d.ecoMode &&
    (prev.reason === d.reason || d.intensity === null)
  ) {
    out[out.length - 1] = { ...prev, end: until };
    return;
  }
  out.push({ start: at, end: until, intensity: d.intensity, cap: d.cap, rule: d.rule, ecoMode: d.ecoMode, reason: d.reason });
}

/** The Azure operator's requeue interval where no forecast point covers the moment. */
const OPERATOR_DEFAULT_MINUTES = 5;

/**
 * When the Azure carbon-aware KEDA operator reconciles next after reconciling at `at`: it
 * takes the duration of the point covering `at` (5 minutes when none does) and requeues
 * for the next minute of the (UTC) hour that is a multiple of it, seconds kept. Its
 * durations are whole minutes, so a fractional one is rounded.
 */
export function operatorNextReconcile(points: readonly IntensityPoint[], at: number): number {
  const i = indexAt(points, at);
  const interval = i < 0 ? OPERATOR_DEFAULT_MINUTES : Math.max(1, Math.round(points[i]!.durationMinutes));
  return at + (interval - (new Date(at).getUTCMinutes() % interval)) * MINUTE;
}

/** Every reconcile of the Azure operator over the span, from its start. */
export function operatorMoments(points: readonly IntensityPoint[]): number[] {
  const { start, end } = forecastSpan(points);
  const out = [start];
  for (let t = operatorNextReconcile(points, start); t < end; t = operatorNextReconcile(points, t)) out.push(t);
  return out;
}

/**
 * The same decision on the same points, taken only when the Azure operator reconciles
 * and held until its next reconcile: what stepping by the forecast's point duration,
 * rather than at each change, gives (schedules and the duration override included).
 */
export function simulateOperator(input: SimulationInput): CapInterval[] {
  return evaluate(input, operatorMoments(input.points), forecastSpan(input.points).end, false);
}

/**
 * The caps of one timeline against the intensities of another: the pieces where both are
 * constant, with intensity from `actual` and the decision from `caps`. The operator view
 * holds the intensity it saw until its next reconcile, but the grid still does what the
 * forecast says in between; measuring its capacity against the held values would flatter it.
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
