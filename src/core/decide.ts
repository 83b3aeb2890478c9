import type { CarbonSnapshot, IntensityPoint } from './carbon.js';
import { currentIntensity, stayedAtOrAbove } from './view.js';
import type { AllowedMax, Band, Policy } from './policy.js';

export interface DecisionInput {
  readonly policy: Policy;
  /** The user's own max (see `declaredMax`). */
  readonly declared: number;
  /** `spec.minReplicaCount` (0 when unset). */
  readonly minReplicas: number;
  /** `spec.maxReplicaCount` as the object has it now: what `onMissingData: hold` keeps. */
  readonly currentMax: number | undefined;
  /** The object annotation `keda-carbon.io/eco-mode: "off"`. */
  readonly ecoModeOffAnnotation: boolean;
  readonly carbon: CarbonSnapshot;
  readonly now: number;
}

/**
 * The band a decision chose, as data: every printer (explain, warnings, status, simulate)
 * reads this rather than comparing a rounded intensity with the thresholds again.
 */
export interface ChosenBand {
  readonly form: 'carbon' | 'azure';
  /** The rule's own threshold, exactly as written. */
  readonly threshold: number;
  /** The comparison that held: `>=` (carbon form), `<=` or, above the last Azure threshold, `>`. */
  readonly relation: '>=' | '<=' | '>';
  /** Azure form, above the first band: the previous threshold, which the intensity is above; else null. */
  readonly lower: number | null;
  /** The allowed max as written: a count or a percentage of the declared max. */
  readonly allowed: AllowedMax;
  /** The allowed max as a replica count (percentages rounded down), before ceiling and floor. */
  readonly allowedCount: number;
  /** `allowedCount` within [floor, declared]: the cap this band gives. */
  readonly cap: number;
  /** e.g. `measuredEmission>=300` or `carbonIntensityThreshold<=437`. */
  readonly rule: string;
}

export interface Decision {
  readonly cap: number;
  readonly declared: number;
  /** max(1, minReplicaCount): the cap never goes below it. */
  readonly floor: number;
  /**
   * The intensity as shown (gCO2eq/kWh): one decimal, or as many as it takes to stay on
   * the same side of every threshold as the measured value; null without data.
   */
  readonly intensity: number | null;
  /** Start of the data point used (RFC 3339), or null without data. */
  readonly dataTime: string | null;
  readonly source: string;
  /** The band that applied, e.g. `measuredEmission>=300`; null when no band did. Same as `band.rule`. */
  readonly rule: string | null;
  /** The band chosen, or null (eco mode off, missing data, below every rule). */
  readonly band: ChosenBand | null;
  readonly ecoMode: 'on' | 'off';
  /** One short human line: why this cap. */
  readonly reason: string;
  /** Things the user should hear about even though the write goes through. */
  readonly warnings: readonly string[];
}

// Points are immutable and shared by every request until the next refresh: format each
// one's time once, not once per admission review.
const pointTimes = new WeakMap<IntensityPoint, string>();
function pointTime(p: IntensityPoint): string {
  let iso = pointTimes.get(p);
  if (iso === undefined) {
    iso = new Date(p.timestamp).toISOString();
    pointTimes.set(p, iso);
  }
  return iso;
}

/**
 * `value` rounded to `decimals`, or to more decimals when the rounded number would sit on
 * another side of a threshold than the value itself (499.96 must not print as 500 next to
 * a `>=300` band). Falls back to the exact value when no short rounding keeps every side.
 */
export function shownIntensity(value: number, thresholds: readonly number[], decimals: number): number {
  for (let d = decimals; d <= 6; d++) {
    const f = 10 ** d;
    const r = Math.round(value * f) / f;
    if (sameSides(r, value, thresholds)) return r;
  }
  return value;
}

// A plain loop: this runs twice per admission review.
function sameSides(a: number, b: number, thresholds: readonly number[]): boolean {
  for (let i = 0; i < thresholds.length; i++) {
    const t = thresholds[i]!;
    if (Math.sign(a - t) !== Math.sign(b - t)) return false;
  }
  return true;
}

// Admission decides several times per millisecond with a handful of policies: list each
// policy's thresholds once.
const thresholdLists = new WeakMap<Policy, readonly number[]>();
/** The thresholds a shown intensity must not cross. */
function thresholdsOf(policy: Policy): readonly number[] {
  let list = thresholdLists.get(policy);
  if (list === undefined) {
    list = policy.bands.map((b) => b.threshold);
    thresholdLists.set(policy, list);
  }
  return list;
}

/** The band's allowed max as a replica count (percentages of the declared max, rounded down). */
export function allowedCount(band: Band, declared: number): number {
  return band.allowed.kind === 'count' ? band.allowed.value : Math.floor((declared * band.allowed.value) / 100);
}

type Hit = { band: Band; relation: ChosenBand['relation']; lower: number | null };

/** Which band applies to `intensity` (exact, never rounded), or null below every carbon band. */
export function bandFor(policy: Policy, intensity: number): Hit | null {
  const bands = policy.bands;
  if (policy.form === 'carbon') {
    // Bands apply from their threshold upwards: the largest threshold <= intensity wins.
    for (let i = bands.length - 1; i >= 0; i--) {
      if (bands[i]!.threshold <= intensity) return { band: bands[i]!, relation: '>=', lower: null };
    }
    return null;
  }
  // Azure-operator form: thresholds are upper bounds, (previous, threshold], the first
  // band reaches down to 0, and above every threshold the last entry still applies.
  let lower: number | null = null;
  for (const band of bands) {
    if (intensity <= band.threshold) return { band, relation: '<=', lower };
    lower = band.threshold;
  }
  return { band: bands[bands.length - 1]!, relation: '>', lower: null };
}

function ruleText(form: Policy['form'], hit: Hit): string {
  return `${form === 'carbon' ? 'measuredEmission' : 'carbonIntensityThreshold'}${hit.relation}${hit.band.threshold}`;
}

/** The comparison that chose the band, with the intensity as `shown`. */
export function bandReason(band: ChosenBand, shown: number): string {
  if (band.relation === '>=') return `${shown} gCO2eq/kWh >= ${band.threshold}`;
  // The first band has no lower bound to print: "0 < 0 <= 437" would be false at 0.
  if (band.relation === '<=') return `${band.lower === null ? '' : `${band.lower} < `}${shown} <= ${band.threshold} gCO2eq/kWh`;
  return `${shown} gCO2eq/kWh > ${band.threshold}, the last entry applies`;
}

/** Everything fixed before time and data come in: the object's bounds and where results go. */
interface Frame {
  readonly declared: number;
  readonly floor: number;
  readonly intensity: number | null;
  readonly dataTime: string | null;
  readonly source: string;
}

// One literal of one shape for every outcome: object spread here cost more than the rest
// of the decision put together, and this runs on every admission request.
function result(f: Frame, cap: number, band: ChosenBand | null, ecoMode: 'on' | 'off', reason: string, warnings: readonly string[]): Decision {
  return { cap, declared: f.declared, floor: f.floor, intensity: f.intensity, dataTime: f.dataTime, source: f.source, rule: band ? band.rule : null, band, ecoMode, reason, warnings };
}

// The cap stays within [floor, declared]; a floor above the declared max is the user's own
// invalid object, which KEDA rejects, so we leave the declared value alone then.
const bound = (f: Frame, n: number): number => Math.min(f.declared, Math.max(f.floor, n));

function missingData(f: Frame, input: DecisionInput, why: string): Decision {
  const rule = input.policy.onMissingData;
  if (rule === 'hold') {
    const held = input.currentMax === undefined ? f.declared : bound(f, input.currentMax);
    return result(f, held, null, 'on', `${why}; onMissingData hold keeps ${held}`, [`keda-carbon: ${why}; holding maxReplicaCount ${held}`]);
  }
  if (rule === 'declared') {
    return result(f, f.declared, null, 'on', `${why}; onMissingData declared`, [`keda-carbon: ${why}; using the declared max ${f.declared}`]);
  }
  const fixed = bound(f, rule);
  return result(f, fixed, null, 'on', `${why}; onMissingData cap ${rule}`, [`keda-carbon: ${why}; using onMissingData cap ${fixed}`]);
}

function byBand(f: Frame, policy: Policy, point: IntensityPoint, thresholds: readonly number[]): Decision {
  const value = point.gCO2eqPerKWh;
  const hit = bandFor(policy, value);
  if (!hit) return result(f, f.declared, null, 'on', `${shownIntensity(value, thresholds, 0)} gCO2eq/kWh is below every rule`, []);
  const allowed = allowedCount(hit.band, f.declared);
  const cap = bound(f, allowed);
  const band: ChosenBand = { form: policy.form, threshold: hit.band.threshold, relation: hit.relation, lower: hit.lower, allowed: hit.band.allowed, allowedCount: allowed, cap, rule: ruleText(policy.form, hit) };
  const warnings: string[] = [];
  if (allowed < f.floor && cap === f.floor) {
    warnings.push(`keda-carbon: floor max(1, minReplicaCount) = ${f.floor} is above the carbon cap ${allowed}; using ${f.floor}`);
  }
  return result(f, cap, band, 'on', bandReason(band, shownIntensity(value, thresholds, 0)), warnings);
}

/**
 * The whole carbon decision, pure: no I/O, no clock, no logging. Admission, the re-touch
 * timer, `explain` and `simulate` all call this one function, so they cannot disagree.
 */
export function decide(input: DecisionInput): Decision {
  const { policy, carbon, now } = input;
  const current = currentIntensity(carbon, now);
  const point = current.state === 'ok' ? current.point : null;
  const thresholds = thresholdsOf(policy);
  const f: Frame = {
    declared: input.declared,
    floor: Math.max(1, input.minReplicas),
    intensity: point ? shownIntensity(point.gCO2eqPerKWh, thresholds, 1) : null,
    dataTime: point ? pointTime(point) : null,
    source: carbon.source,
  };
  if (input.ecoModeOffAnnotation) return result(f, f.declared, null, 'off', 'eco mode off by annotation keda-carbon.io/eco-mode', []);
  const schedule = policy.ecoModeOff.schedules.find((s) => s.matches(now));
  if (schedule) return result(f, f.declared, null, 'off', `eco mode off: recurringSchedule "${schedule.expression}" (${policy.ecoModeOff.timeZone})`, []);
  if (!point) return missingData(f, input, (current as { reason: string }).reason);
  const duration = policy.ecoModeOff.duration;
  if (duration && stayedAtOrAbove(carbon.points, now, duration.threshold, duration.minutes)) {
    return result(f, f.declared, null, 'off', `eco mode off: intensity >= ${duration.threshold} for ${duration.minutes} min (carbonIntensityDuration)`, []);
  }
  return byBand(f, policy, point, thresholds);
}
