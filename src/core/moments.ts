import type { CarbonSnapshot } from './carbon.js';
import { pointEnd } from './view.js';
import type { Policy } from './policy.js';
import { decide } from './decide.js';

const MINUTE = 60_000;

/** What the cap of one object (or of many alike) depends on, besides the time and the data. */
export interface CapSubject {
  readonly policy: Policy;
  readonly declared: number;
  readonly minReplicas: number;
  readonly ecoModeOffAnnotation: boolean;
  /** The cap the object carries now; also what `onMissingData: hold` keeps. */
  readonly cap: number;
}

function capAt(s: CapSubject, carbon: CarbonSnapshot, t: number): number {
  return decide({ policy: s.policy, declared: s.declared, minReplicas: s.minReplicas, currentMax: s.cap, ecoModeOffAnnotation: s.ecoModeOffAnnotation, carbon, now: t }).cap;
}

/**
 * The first moment in [now, now + horizonMs] at which the pure decision gives some
 * subject a cap other than the one it carries, or null when none changes in that window.
 * `now` itself is returned when a cap is already out of date.
 *
 * The decision's output can only change where one of its inputs does: a forecast point
 * starts or ends, the data turns stale (`maxDataAge` after the fetch), a duration
 * override's window slides past a point boundary, or a recurring schedule's minute begins
 * or ends. Those instants are the only ones evaluated.
 */
export function nextCapChange(subjects: readonly CapSubject[], carbon: CarbonSnapshot, now: number, horizonMs: number): number | null {
  const active = subjects.filter((s) => !s.ecoModeOffAnnotation);
  if (active.length === 0) return null;
  const end = now + horizonMs;
  const times = new Set<number>();
  const add = (t: number) => {
    if (t > now && t <= end) times.add(t);
  };

  const durations = new Set<number>();
  let schedules = false;
  for (const s of active) {
    if (s.policy.ecoModeOff.duration) durations.add(s.policy.ecoModeOff.duration.minutes * MINUTE);
    if (s.policy.ecoModeOff.schedules.length > 0) schedules = true;
  }
  for (const p of carbon.points) {
    const boundaries = [p.timestamp, pointEnd(p)];
    for (const b of boundaries) {
      add(b);
      for (const d of durations) add(b + d);
    }
  }
  // `currentIntensity` calls data stale once its age exceeds maxDataAge.
  if (carbon.fetchedAt !== null) add(carbon.fetchedAt + carbon.maxDataAgeMs + 1);
  if (schedules) {
    for (let t = Math.floor(now / MINUTE) * MINUTE + MINUTE; t <= end; t += MINUTE) add(t);
  }

  const ordered = [now, ...[...times].sort((a, b) => a - b)];
  for (const t of ordered) {
    if (active.some((s) => capAt(s, carbon, t) !== s.cap)) return t;
  }
  return null;
}
