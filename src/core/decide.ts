import type { CarbonSnapshot, IntensityPoint, Signal } from './carbon.js';
import { currentIntensity, stayedAtOrAbove } from './view.js';
import type { AllowedMax, Band, Policy } from './policy.js';
import { resolvePercentiles } from './percentile.js';
import { type InForce, type Stepping, stepped } from './step-down.js';

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
  /** Under `stepDown`: the cap in force that a falling cap steps down from (absent: applies at once, as on create). */
  readonly inForce?: InForce | undefined;
}

/**
 * The band a decision chose, as data: every printer (explain, warnings, status, simulate)
 * reads this rather than comparing a rounded intensity with the thresholds again.
 */
export interface ChosenBand {
  readonly form: 'carbon' | 'azure';
  /** The threshold that held: as written, or for a percentile band its value resolved at `now`. */
  readonly threshold: number;
  /** A percentile band's percentile (`p80` is 80), else null. */
  readonly percentile: number | null;
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
  /** e.g. `measuredEmission>=300`, `measuredEmission>=p80 (412.3)` or `carbonIntensityThreshold<=437`. */
  readonly rule: string;
}

/** The object's bounds and the data point a decision rests on. */
interface Frame {
  readonly declared: number;
  /** max(1, minReplicaCount): the cap never goes below it. */
  readonly floor: number;
  /** The intensity as shown (gCO2eq/kWh, see `shownIntensity`); null without data. */
  readonly intensity: number | null;
  /** Start of the data point used (RFC 3339), or null without data. */
  readonly dataTime: string | null;
  readonly source: string;
  /** What kind of intensity `intensity` is (marginal, average, unknown). */
  readonly signal: Signal;
}

export interface Decision extends Frame {
  readonly cap: number;
  /** The band that applied, e.g. `measuredEmission>=300`; null when no band did. Same as `band.rule`. */
  readonly rule: string | null;
  /** The band chosen, or null (eco mode off, missing data, below every rule). */
  readonly band: ChosenBand | null;
  readonly ecoMode: 'on' | 'off';
  /** One short human line: why this cap. */
  readonly reason: string;
  /** Things the user should hear about even though the write goes through. */
  readonly warnings: readonly string[];
  /** A step-down under way: `cap` is the step, `step.target` the cap the band gives. */
  readonly step: Stepping | null;
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

/** A band with the threshold it has at this moment. */
interface Rung {
  readonly band: Band;
  readonly threshold: number;
}

/** The bands as thresholds at one moment, and those thresholds for `shownIntensity`. */
interface Ladder {
  readonly rungs: readonly Rung[];
  readonly thresholds: readonly number[];
}

// Admission decides several times per millisecond with a handful of policies: build each
// absolute policy's ladder once.
const ladders = new WeakMap<Policy, Ladder>();
function absoluteLadder(policy: Policy): Ladder {
  let ladder = ladders.get(policy);
  if (ladder === undefined) {
    const rungs = policy.bands.filter((b) => b.threshold !== null).map((b) => ({ band: b, threshold: b.threshold! }));
    ladder = { rungs, thresholds: rungs.map((r) => r.threshold) };
    ladders.set(policy, ladder);
  }
  return ladder;
}

/** The ladder at `now`, percentile bands resolved over the reference window; or why it cannot be built. */
function ladderAt(policy: Policy, carbon: CarbonSnapshot, now: number): Ladder | string {
  if (!policy.relative) return absoluteLadder(policy);
  const resolved = resolvePercentiles(policy, carbon.points, now);
  if (!resolved.ok) return resolved.reason;
  const rungs = policy.bands.map((b) => ({ band: b, threshold: b.threshold ?? resolved.thresholds.get(b.percentile!)! }));
  rungs.sort((a, b) => a.threshold - b.threshold);
  return { rungs, thresholds: rungs.map((r) => r.threshold) };
}

/** The band's allowed max as a replica count (percentages of the declared max, rounded down). */
export function allowedCount(band: Band, declared: number): number {
  return band.allowed.kind === 'count' ? band.allowed.value : Math.floor((declared * band.allowed.value) / 100);
}

type Hit = { rung: Rung; relation: ChosenBand['relation']; lower: number | null };

/**
 * Which rung applies to `intensity` (exact, never rounded), or null below every carbon band.
 * Carbon form: the largest threshold <= intensity; rungs with the same threshold (a
 * percentile resolving onto another band's value) resolve to the stricter cap.
 */
function rungFor(form: Policy['form'], rungs: readonly Rung[], intensity: number, declared: number): Hit | null {
  if (form === 'carbon') {
    let best: Rung | null = null;
    for (let i = rungs.length - 1; i >= 0; i--) {
      const r = rungs[i]!;
      if (r.threshold > intensity) continue;
      if (best !== null && r.threshold < best.threshold) break;
      if (best === null || allowedCount(r.band, declared) < allowedCount(best.band, declared)) best = r;
    }
    return best && { rung: best, relation: '>=', lower: null };
  }
  // Azure-operator form: thresholds are upper bounds, (previous, threshold], the first
  // band reaches down to 0, and above every threshold the last entry still applies.
  let lower: number | null = null;
  for (const rung of rungs) {
    if (intensity <= rung.threshold) return { rung, relation: '<=', lower };
    lower = rung.threshold;
  }
  return { rung: rungs[rungs.length - 1]!, relation: '>', lower: null };
}

/**
 * A band's rule as the status, the warning and explain print it: `measuredEmission>=300`,
 * or for a percentile band its resolved value, to one decimal unless that would cross the
 * intensity (`measuredEmission>=p80 (412.3)`).
 */
export function ruleText(form: Policy['form'], relation: ChosenBand['relation'], band: Band, threshold: number, intensity: number | null): string {
  const name = form === 'carbon' ? 'measuredEmission' : 'carbonIntensityThreshold';
  const p = band.percentile;
  return p === null ? `${name}${relation}${threshold}` : `${name}${relation}p${p} (${shownIntensity(threshold, intensity === null ? [] : [intensity], 1)})`;
}

/** The comparison that chose the band, with the intensity as `shown`. */
export function bandReason(band: ChosenBand, shown: number): string {
  if (band.relation === '>=') {
    const t = band.percentile === null ? `${band.threshold}` : `p${band.percentile} (${shownIntensity(band.threshold, [shown], 1)})`;
    return `${shown} gCO2eq/kWh >= ${t}`;
  }
  // The first band has no lower bound to print: "0 < 0 <= 437" would be false at 0.
  if (band.relation === '<=') return `${band.lower === null ? '' : `${band.lower} < `}${shown} <= ${band.threshold} gCO2eq/kWh`;
  return `${shown} gCO2eq/kWh > ${band.threshold}, the last entry applies`;
}

// One literal of one shape for every outcome: object spread here cost more than the rest
// of the decision put together, and this runs on every admission request.
function result(f: Frame, cap: number, band: ChosenBand | null, ecoMode: 'on' | 'off', reason: string, warnings: readonly string[]): Decision {
  return {
    cap,
    declared: f.declared,
    floor: f.floor,
    intensity: f.intensity,
    dataTime: f.dataTime,
    source: f.source,
    signal: f.signal,
    rule: band ? band.rule : null,
    band,
    ecoMode,
    reason,
    warnings,
    step: null,
  };
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

function byBand(f: Frame, policy: Policy, point: IntensityPoint, ladder: Ladder): Decision {
  const value = point.gCO2eqPerKWh;
  const thresholds = ladder.thresholds;
  const hit = rungFor(policy.form, ladder.rungs, value, f.declared);
  if (!hit) return result(f, f.declared, null, 'on', `${shownIntensity(value, thresholds, 0)} gCO2eq/kWh is below every rule`, []);
  const b = hit.rung.band;
  const allowed = allowedCount(b, f.declared);
  const cap = bound(f, allowed);
  const band: ChosenBand = {
    form: policy.form,
    threshold: hit.rung.threshold,
    percentile: b.percentile,
    relation: hit.relation,
    lower: hit.lower,
    allowed: b.allowed,
    allowedCount: allowed,
    cap,
    rule: ruleText(policy.form, hit.relation, hit.rung.band, hit.rung.threshold, value),
  };
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
  const d = decideBand(input);
  return input.policy.stepDown && input.inForce ? stepped(d, input.policy.stepDown, input.inForce, input.now) : d;
}

function decideBand(input: DecisionInput): Decision {
  const { policy, carbon, now } = input;
  const current = currentIntensity(carbon, now);
  const point = current.state === 'ok' ? current.point : null;
  const ladder = point ? ladderAt(policy, carbon, now) : absoluteLadder(policy);
  const f: Frame = {
    declared: input.declared,
    floor: Math.max(1, input.minReplicas),
    intensity: point ? shownIntensity(point.gCO2eqPerKWh, typeof ladder === 'string' ? absoluteLadder(policy).thresholds : ladder.thresholds, 1) : null,
    dataTime: point ? pointTime(point) : null,
    source: carbon.source,
    signal: carbon.signal ?? 'unknown',
  };
  if (input.ecoModeOffAnnotation) return result(f, f.declared, null, 'off', 'eco mode off by annotation keda-carbon.io/eco-mode', []);
  const window = policy.ecoModeOff.windows.find((w) => w.start <= now && now < w.end);
  if (window) return result(f, f.declared, null, 'off', `eco mode off: window ${window.text}`, []);
  const schedule = policy.ecoModeOff.schedules.find((s) => s.matches(now));
  if (schedule) return result(f, f.declared, null, 'off', `eco mode off: recurringSchedule "${schedule.expression}" (${policy.ecoModeOff.timeZone})`, []);
  if (!point) return missingData(f, input, (current as { reason: string }).reason);
  const duration = policy.ecoModeOff.duration;
  if (duration && stayedAtOrAbove(carbon.points, now, duration.threshold, duration.minutes)) {
    return result(f, f.declared, null, 'off', `eco mode off: intensity >= ${duration.threshold} for ${duration.minutes} min (carbonIntensityDuration)`, []);
  }
  // Nothing is guessed: a percentile that cannot be resolved is missing data.
  if (typeof ladder === 'string') return missingData(f, input, ladder);
  return byBand(f, policy, point, ladder);
}
