import type { CarbonSnapshot, IntensityPoint } from './carbon.js';
import { pointEnd } from './view.js';
import type { Policy, RecurringSchedule } from './policy.js';
import { decide } from './decide.js';
import { windowEdges } from './percentile.js';

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

type Add = (t: number) => void;

// A point's start or end changes the intensity (or makes it missing); `minutes` later the
// duration override's window has slid past that same edge.
function pointMoments(points: readonly IntensityPoint[], durationMs: number | null, add: Add): void {
  for (const p of points) {
    const edges = [p.timestamp, pointEnd(p)];
    for (const e of edges) {
      add(e);
      if (durationMs !== null) add(e + durationMs);
    }
  }
}

// Cron matches whole minutes, and every IANA zone in use is offset from UTC by whole
// minutes, so a schedule can only switch at a UTC minute boundary. The schedule itself
// answers in its own time zone (daylight saving included): only the switches are kept.
function scheduleEdges(s: RecurringSchedule, from: number, to: number, add: Add): void {
  let before = s.matches(from);
  for (let t = Math.floor(from / MINUTE) * MINUTE + MINUTE; t <= to; t += MINUTE) {
    const now = s.matches(t);
    if (now !== before) add(t);
    before = now;
  }
}

/**
 * The instants in (from, to] at which `decide` can answer differently for an object under
 * `policy` than just before, ascending. Between two of them (and from `from` to the first)
 * every input of the decision is constant, so evaluating at each is exact. They are: a
 * forecast point starts or ends; the data turns stale (`maxDataAge` after the fetch); the
 * duration override's window slides past a point edge; a recurringSchedule line starts or
 * stops matching; a one-off window starts or ends; a point enters or leaves a percentile
 * band's reference window. The re-touch timer (`nextCapChange`) and `simulate` both use
 * this list: a new rule in `decide` is taught here once.
 */
export function changeMoments(policy: Policy, carbon: CarbonSnapshot, from: number, to: number): number[] {
  const times = new Set<number>();
  const add: Add = (t) => {
    if (t > from && t <= to) times.add(t);
  };
  const duration = policy.ecoModeOff.duration;
  pointMoments(carbon.points, duration ? duration.minutes * MINUTE : null, add);
  if (policy.relative) windowEdges(carbon.points, policy.relativeWindow, add);
  // `currentIntensity` calls data stale once its age exceeds maxDataAge.
  if (carbon.fetchedAt !== null) add(carbon.fetchedAt + carbon.maxDataAgeMs + 1);
  for (const s of policy.ecoModeOff.schedules) scheduleEdges(s, from, to, add);
  for (const w of policy.ecoModeOff.windows) {
    add(w.start);
    add(w.end);
  }
  return [...times].sort((a, b) => a - b);
}

function capAt(s: CapSubject, carbon: CarbonSnapshot, t: number): number {
  return decide({
    policy: s.policy,
    declared: s.declared,
    minReplicas: s.minReplicas,
    currentMax: s.cap,
    ecoModeOffAnnotation: s.ecoModeOffAnnotation,
    carbon,
    now: t,
  }).cap;
}

/**
 * The first moment in [now, now + horizonMs] at which the pure decision gives some
 * subject a cap other than the one it carries, or null when none changes in that window.
 * `now` itself is returned when a cap is already out of date. Only the `changeMoments` of
 * each subject's policy are evaluated, and only before the earliest change found so far.
 */
export function nextCapChange(subjects: readonly CapSubject[], carbon: CarbonSnapshot, now: number, horizonMs: number): number | null {
  const end = now + horizonMs;
  const moments = new Map<Policy, number[]>();
  let first: number | null = null;
  for (const s of subjects) {
    // The annotation turns eco mode off whatever the time: such a cap never changes.
    if (s.ecoModeOffAnnotation) continue;
    if (capAt(s, carbon, now) !== s.cap) return now;
    let list = moments.get(s.policy);
    if (list === undefined) {
      list = changeMoments(s.policy, carbon, now, end);
      moments.set(s.policy, list);
    }
    for (const t of list) {
      if (first !== null && t >= first) break;
      if (capAt(s, carbon, t) !== s.cap) {
        first = t;
        break;
      }
    }
  }
  return first;
}
