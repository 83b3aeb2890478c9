import type { CarbonSnapshot, IntensityPoint } from './carbon.js';
import { currentIntensity, stayedAtOrAbove } from './view.js';
import type { Band, Policy } from './policy.js';

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

export interface Decision {
  readonly cap: number;
  readonly declared: number;
  /** max(1, minReplicaCount): the cap never goes below it. */
  readonly floor: number;
  readonly intensity: number | null;
  /** Start of the data point used (RFC 3339), or null without data. */
  readonly dataTime: string | null;
  readonly source: string;
  /** The band that applied, e.g. `measuredEmission>=300`; null when no band did. */
  readonly rule: string | null;
  readonly ecoMode: 'on' | 'off';
  /** One short human line: why this cap. */
  readonly reason: string;
  /** Things the user should hear about even though the write goes through. */
  readonly warnings: readonly string[];
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

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

/** The band that applies to `intensity`, with the rule text and reason, or null below every band. */
export function applicableBand(policy: Policy, intensity: number): { band: Band; rule: string; reason: string } | null {
  const bands = policy.bands;
  const shown = Math.round(intensity);
  if (policy.form === 'carbon') {
    // Bands apply from their threshold upwards: the largest threshold <= intensity wins.
    for (let i = bands.length - 1; i >= 0; i--) {
      const b = bands[i]!;
      if (b.threshold <= intensity) {
        return { band: b, rule: `measuredEmission>=${b.threshold}`, reason: `${shown} gCO2eq/kWh >= ${b.threshold}` };
      }
    }
    return null;
  }
  // Azure-operator form: thresholds are upper bounds, (previous, threshold], the first
  // lower bound is 0, and above every threshold the last entry still applies.
  let lower = 0;
  for (const b of bands) {
    if (intensity <= b.threshold) {
      return { band: b, rule: `carbonIntensityThreshold<=${b.threshold}`, reason: `${lower} < ${shown} <= ${b.threshold} gCO2eq/kWh` };
    }
    lower = b.threshold;
  }
  const last = bands[bands.length - 1]!;
  return { band: last, rule: `carbonIntensityThreshold>${last.threshold}`, reason: `${shown} gCO2eq/kWh > ${last.threshold}, the last entry applies` };
}

/** The band's allowed max as a replica count (percentages of the declared max, rounded down). */
export function allowedCount(band: Band, declared: number): number {
  return band.allowed.kind === 'count' ? band.allowed.value : Math.floor((declared * band.allowed.value) / 100);
}

/**
 * The whole carbon decision, pure: no I/O, no clock, no logging. Admission, the re-touch
 * timer, `explain` and `simulate` all call this one function, so they cannot disagree.
 */
export function decide(input: DecisionInput): Decision {
  const { policy, declared, carbon, now } = input;
  const floor = Math.max(1, input.minReplicas);
  // The cap stays within [floor, declared]; a floor above the declared max is the user's
  // own invalid object, which KEDA rejects, so we leave the declared value alone then.
  const bound = (n: number): number => Math.min(declared, Math.max(floor, n));
  const current = currentIntensity(carbon, now);
  const point = current.state === 'ok' ? current.point : null;
  const intensity = point ? round1(point.gCO2eqPerKWh) : null;
  const dataTime = point ? pointTime(point) : null;
  // One literal of one shape for every outcome: object spread here cost more than the
  // rest of the decision put together, and this runs on every admission request.
  const result = (cap: number, rule: string | null, ecoMode: 'on' | 'off', reason: string, warnings: readonly string[]): Decision => ({
    cap,
    declared,
    floor,
    intensity,
    dataTime,
    source: carbon.source,
    rule,
    ecoMode,
    reason,
    warnings,
  });
  const ecoOff = (reason: string): Decision => result(declared, null, 'off', reason, []);

  if (input.ecoModeOffAnnotation) return ecoOff('eco mode off by annotation keda-carbon.io/eco-mode');
  const schedule = policy.ecoModeOff.schedules.find((s) => s.matches(now));
  if (schedule) return ecoOff(`eco mode off: recurringSchedule "${schedule.expression}" (${policy.ecoModeOff.timeZone})`);

  if (!point) {
    const why = (current as { reason: string }).reason;
    const rule = policy.onMissingData;
    if (rule === 'hold') {
      const held = input.currentMax === undefined ? declared : bound(input.currentMax);
      return result(held, null, 'on', `${why}; onMissingData hold keeps ${held}`, [`keda-carbon: ${why}; holding maxReplicaCount ${held}`]);
    }
    if (rule === 'declared') {
      return result(declared, null, 'on', `${why}; onMissingData declared`, [`keda-carbon: ${why}; using the declared max ${declared}`]);
    }
    const fixed = bound(rule);
    return result(fixed, null, 'on', `${why}; onMissingData cap ${rule}`, [`keda-carbon: ${why}; using onMissingData cap ${fixed}`]);
  }

  const duration = policy.ecoModeOff.duration;
  if (duration && stayedAtOrAbove(carbon.points, now, duration.threshold, duration.minutes)) {
    return ecoOff(`eco mode off: intensity >= ${duration.threshold} for ${duration.minutes} min (carbonIntensityDuration)`);
  }

  const hit = applicableBand(policy, point.gCO2eqPerKWh);
  if (!hit) {
    return result(declared, null, 'on', `${Math.round(point.gCO2eqPerKWh)} gCO2eq/kWh is below every rule`, []);
  }
  const allowed = allowedCount(hit.band, declared);
  const cap = bound(allowed);
  const warnings: string[] = [];
  if (allowed < floor && cap === floor) {
    warnings.push(`keda-carbon: floor max(1, minReplicaCount) = ${floor} is above the carbon cap ${allowed}; using ${floor}`);
  }
  return result(cap, hit.rule, 'on', hit.reason, warnings);
}
