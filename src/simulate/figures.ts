import { validatePolicy } from '../core/policy.js';
import { percentile } from '../core/percentile.js';
import { idealShift, type Piece } from './ideal.js';
import { thresholdSeries, type ThresholdSeries } from './thresholds.js';
import { forecastSpan, HOUR, overlayCaps, simulateOperator, simulateTimeline, type CapInterval, type SimulationInput } from './timeline.js';

export interface Figures {
  /** Length of the simulated span. */
  readonly hours: number;
  /** Hours with no forecast value (handled by onMissingData). */
  readonly missingDataHours: number;
  /** Hours with eco mode off (schedule or duration override). */
  readonly ecoModeOffHours: number;
  /** Hours spent at each cap, highest cap first. */
  readonly hoursAtCap: readonly { readonly cap: number; readonly hours: number }[];
  /** The declared max all the time: declared x hours. */
  readonly declaredReplicaHours: number;
  /** Sum of cap x hours. */
  readonly allowedReplicaHours: number;
  /** declaredReplicaHours - allowedReplicaHours: what the cap defers if the workload wanted its max all the time. */
  readonly withheldReplicaHours: number;
  readonly withheldPercent: number;
  /**
   * Over the hours with data: the time-weighted average cap, and the same average with
   * each hour weighted by its intensity. A policy that moves capacity toward clean hours
   * has an intensity-weighted average below the unweighted one.
   */
  readonly averageCap: number | null;
  readonly intensityWeightedCap: number | null;
  /** intensityWeightedCap / averageCap - 1, in percent (negative: capacity shifted toward cleaner hours). */
  readonly shiftPercent: number | null;
  /**
   * The same replica-hours over the same hours with data, placed ideally (`idealCaps`:
   * cleanest hours first, each at most the declared max, at least the floor): its
   * intensity-weighted cap and shift, defined as `shiftPercent` is.
   */
  readonly idealIntensityWeightedCap: number | null;
  readonly idealShiftPercent: number | null;
  /** shiftPercent / idealShiftPercent, in percent: the share of the ideal shift the policy captures (null when the ideal shifts nothing). */
  readonly shareOfIdealPercent: number | null;
  /** Time-weighted average intensity over the hours with data. */
  readonly averageIntensity: number | null;
  /** The intensity the allowed capacity runs at: sum(cap x intensity x h) / sum(cap x h). */
  readonly capacityWeightedIntensity: number | null;
}

const round = (n: number, digits = 3): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

/** The figures of a timeline for an object with this declared max and floor (max(1, minReplicaCount)). */
export function summarize(intervals: readonly CapInterval[], declared: number, floor: number): Figures {
  let hours = 0;
  let missing = 0;
  let ecoOff = 0;
  let allowed = 0;
  let dataHours = 0;
  let capHoursWithData = 0;
  let weightedCap = 0;
  let weight = 0;
  const atCap = new Map<number, number>();
  const pieces: Piece[] = [];
  for (const iv of intervals) {
    const h = (iv.end - iv.start) / HOUR;
    hours += h;
    allowed += iv.cap * h;
    atCap.set(iv.cap, (atCap.get(iv.cap) ?? 0) + h);
    if (iv.ecoMode === 'off') ecoOff += h;
    if (iv.intensity === null) {
      missing += h;
      continue;
    }
    dataHours += h;
    pieces.push({ hours: h, intensity: iv.intensity, cap: iv.cap });
    capHoursWithData += iv.cap * h;
    weightedCap += iv.cap * iv.intensity * h;
    weight += iv.intensity * h;
  }
  const declaredHours = declared * hours;
  const averageCap = dataHours > 0 ? capHoursWithData / dataHours : null;
  // With every intensity 0 the weights vanish; the weighted average then equals the plain one.
  const intensityWeightedCap = averageCap === null ? null : weight > 0 ? weightedCap / weight : averageCap;
  const ideal = idealShift(pieces, floor, declared);
  return {
    hours: round(hours),
    missingDataHours: round(missing),
    ecoModeOffHours: round(ecoOff),
    hoursAtCap: [...atCap].sort((a, b) => b[0] - a[0]).map(([cap, h]) => ({ cap, hours: round(h) })),
    declaredReplicaHours: round(declaredHours),
    allowedReplicaHours: round(allowed),
    withheldReplicaHours: round(declaredHours - allowed),
    withheldPercent: declaredHours > 0 ? round(((declaredHours - allowed) / declaredHours) * 100, 1) : 0,
    averageCap: averageCap === null ? null : round(averageCap),
    intensityWeightedCap: intensityWeightedCap === null ? null : round(intensityWeightedCap),
    shiftPercent: averageCap && intensityWeightedCap !== null ? round((intensityWeightedCap / averageCap - 1) * 100, 1) : null,
    idealIntensityWeightedCap: ideal === null ? null : round(ideal.intensityWeightedCap),
    idealShiftPercent: ideal === null ? null : round(ideal.shiftPercent, 1),
    shareOfIdealPercent: ideal?.sharePercent == null ? null : round(ideal.sharePercent, 1),
    averageIntensity: dataHours > 0 ? round(weight / dataHours, 1) : null,
    capacityWeightedIntensity: capHoursWithData > 0 ? round(weightedCap / capHoursWithData, 1) : null,
  };
}

/** The floor the decision keeps the cap at or above. */
const floorOf = (input: SimulationInput): number => Math.max(1, input.minReplicas);

export interface Suggestion {
  readonly p50: number;
  readonly p80: number;
  /** A ready policy document in the `carbon` form. */
  readonly document: { carbon: { measuredEmission: number; allowedMaxReplicaCount: string }[] };
  /** The suggested policy replayed over the same forecast. */
  readonly figures: Figures;
}

/**
 * Thresholds for a user who has none, from this forecast's own distribution: at or above
 * the median (the dirtier half of the time) half the declared max, at or above p80 (the
 * dirtiest fifth) a quarter. Thresholds are rounded to whole gCO2eq/kWh; a flat forecast
 * whose p50 and p80 coincide gets a single band.
 */
export function suggestThresholds(input: SimulationInput): Suggestion {
  const p50 = Math.round(percentile(input.points, 0.5));
  const p80 = Math.round(percentile(input.points, 0.8));
  const carbon = [{ measuredEmission: p50, allowedMaxReplicaCount: '50%' }];
  if (p80 > p50) carbon.push({ measuredEmission: p80, allowedMaxReplicaCount: '25%' });
  const document = { carbon };
  // Keep the user's eco-mode and missing-data rules: only the bands are suggested.
  const policy = { ...validatePolicy(document), ecoModeOff: input.policy.ecoModeOff, onMissingData: input.policy.onMissingData };
  return { p50, p80, document, figures: summarize(simulateTimeline({ ...input, policy }), input.declared, floorOf(input)) };
}

export interface Simulation {
  readonly intervals: readonly CapInterval[];
  readonly figures: Figures;
  /**
   * Re-evaluating when the Azure operator reconciles: `intervals` as it sees them (each
   * value held until its next reconcile); `figures` weigh its caps by the forecast's real
   * intensities.
   */
  readonly operator: { readonly intervals: readonly CapInterval[]; readonly figures: Figures };
  readonly suggestion: Suggestion;
  /** Each percentile band's resolved threshold over the span (empty for an absolute policy): what the chart draws. */
  readonly thresholds: readonly ThresholdSeries[];
}

/** The whole simulation: following the forecast, re-evaluating as the Azure operator does, and suggested thresholds. */
export function simulate(input: SimulationInput): Simulation {
  const intervals = simulateTimeline(input);
  const operator = simulateOperator(input);
  const span = forecastSpan(input.points);
  return {
    intervals,
    figures: summarize(intervals, input.declared, floorOf(input)),
    operator: { intervals: operator, figures: summarize(overlayCaps(intervals, operator), input.declared, floorOf(input)) },
    suggestion: suggestThresholds(input),
    thresholds: thresholdSeries(input.policy, input.points, span.start, span.end),
  };
}
