import t, { type Test } from 'tap';
import type { CarbonSnapshot, IntensityPoint } from '../../src/core/carbon.js';
import { decide } from '../../src/core/decide.js';
import { changeMoments, nextCapChange, type CapSubject } from '../../src/core/moments.js';
import { validatePolicy, type Policy } from '../../src/core/policy.js';
import { simulateTimeline } from '../../src/simulate/timeline.js';
import { HOUR, MINUTE, hourly } from '../helpers/carbon.js';

// One list of moments serves the re-touch timer (nextCapChange) and simulate. These tests
// hold both against a brute-force oracle that asks `decide` at every minute: whatever the
// rule (a schedule across a daylight-saving change, the duration override, stale data),
// the timer wakes exactly where simulate shows a cap change, and at no moment in between
// does the decision change unseen.

const DECLARED = 40;
const BANDS = [
  { measuredEmission: 300, allowedMaxReplicaCount: '50%' },
  { measuredEmission: 500, allowedMaxReplicaCount: 10 },
];

function series(from: number, minutes: number, values: number[]): IntensityPoint[] {
  return values.map((v, i) => ({ timestamp: from + i * minutes * MINUTE, durationMinutes: minutes, gCO2eqPerKWh: v }));
}

/** The forecast as simulate sees it: fetched at its start and never stale. */
function fresh(points: IntensityPoint[]): CarbonSnapshot {
  return { source: 'test:zone', fetchedAt: points[0]!.timestamp, maxDataAgeMs: Number.POSITIVE_INFINITY, points };
}

const decideAt = (policy: Policy, carbon: CarbonSnapshot, now: number, currentMax: number) =>
  decide({ policy, declared: DECLARED, minReplicas: 0, currentMax, ecoModeOffAnnotation: false, carbon, now });

/** Every instant in (from, to] at which `pick` of the decision differs from just before: every minute is asked. */
function oracle(policy: Policy, carbon: CarbonSnapshot, from: number, to: number, pick: (d: ReturnType<typeof decide>) => string): number[] {
  const times: number[] = [];
  for (let m = Math.floor(from / MINUTE) * MINUTE + MINUTE; m <= to; m += MINUTE) times.push(m);
  if (carbon.fetchedAt !== null && Number.isFinite(carbon.maxDataAgeMs)) times.push(carbon.fetchedAt + carbon.maxDataAgeMs + 1);
  times.sort((a, b) => a - b);
  const out: number[] = [];
  let cap = DECLARED;
  let before = decideAt(policy, carbon, from, cap);
  for (const at of times.filter((x) => x > from && x <= to)) {
    const d = decideAt(policy, carbon, at, before.cap);
    if (pick(d) !== pick(before)) out.push(at);
    cap = d.cap;
    before = d;
  }
  return out;
}

/** The re-touch timer walked through the span: wake at nextCapChange, re-cap, ask again. */
function timerWakes(policy: Policy, carbon: CarbonSnapshot, from: number, to: number): number[] {
  const wakes: number[] = [];
  let now = from;
  let cap = decideAt(policy, carbon, from, DECLARED).cap;
  for (;;) {
    const subject: CapSubject = { policy, declared: DECLARED, minReplicas: 0, ecoModeOffAnnotation: false, cap };
    const next = nextCapChange([subject], carbon, now, to - now);
    if (next === null || next >= to) return wakes;
    t.not(next, now, 'the timer never wakes twice at one moment');
    wakes.push(next);
    cap = decideAt(policy, carbon, next, cap).cap;
    now = next;
  }
}

/** Where simulate's cap changes. */
function simulatedChanges(policy: Policy, points: IntensityPoint[]): number[] {
  const ivs = simulateTimeline({ policy, points, declared: DECLARED, minReplicas: 0, source: 'test:zone' });
  return ivs.filter((iv, i) => i > 0 && iv.cap !== ivs[i - 1]!.cap).map((iv) => iv.start);
}

const iso = (ts: number[]) => ts.map((x) => new Date(x).toISOString());
const full = (d: ReturnType<typeof decide>) => `${d.cap} ${d.ecoMode} ${d.rule} ${d.intensity}`;

function agree(t: Test, policy: Policy, points: IntensityPoint[]): number[] {
  const carbon = fresh(points);
  const from = points[0]!.timestamp;
  const to = points[points.length - 1]!.timestamp + points[points.length - 1]!.durationMinutes * MINUTE;
  const moments = new Set(changeMoments(policy, carbon, from, to));
  const missed = oracle(policy, carbon, from, to, full).filter((x) => !moments.has(x));
  t.same(iso(missed), [], 'every change of the decision is one of the moments');
  const capChanges = oracle(policy, carbon, from, to, (d) => String(d.cap)).filter((x) => x < to);
  t.same(iso(timerWakes(policy, carbon, from, to)), iso(capChanges), 'the timer wakes exactly at the cap changes');
  t.same(iso(simulatedChanges(policy, points)), iso(capChanges), 'simulate changes the cap at the same moments');
  return capChanges;
}

t.test('a schedule across the end of daylight saving time (Europe/Berlin)', async (t) => {
  const policy = validatePolicy({ carbon: BANDS, ecoModeOff: { recurringSchedule: ['* 8-9 * * 1-5', '30-59 2 * * *'], timeZone: 'Europe/Berlin' } });
  // Fri 2026-10-23 00:00Z to Tue 2026-10-27 00:00Z at 600 g (cap 10); clocks go back on Sun 25th at 03:00 CEST.
  const points = series(Date.parse('2026-10-23T00:00:00Z'), 60, new Array(96).fill(600));
  const changes = agree(t, policy, points);
  t.same(iso(changes), [
    '2026-10-23T00:30:00.000Z', // Fri 02:30-03:00 CEST (UTC+2): eco mode off
    '2026-10-23T01:00:00.000Z',
    '2026-10-23T06:00:00.000Z', // Fri 08:00-10:00 CEST
    '2026-10-23T08:00:00.000Z',
    '2026-10-24T00:30:00.000Z', // Sat 02:30 CEST; no 08:00 window on Saturday
    '2026-10-24T01:00:00.000Z',
    '2026-10-25T00:30:00.000Z', // Sun: 02:30 CEST, then the clocks go back at 03:00 CEST ...
    '2026-10-25T01:00:00.000Z',
    '2026-10-25T01:30:00.000Z', // ... and 02:30 comes again, in CET (UTC+1)
    '2026-10-25T02:00:00.000Z',
    '2026-10-26T01:30:00.000Z', // Mon 02:30 CET
    '2026-10-26T02:00:00.000Z',
    '2026-10-26T07:00:00.000Z', // Mon 08:00-10:00 CET
    '2026-10-26T09:00:00.000Z',
  ]);
});

t.test('a schedule in a zone half an hour off UTC, over 15-minute points', async (t) => {
  const policy = validatePolicy({ carbon: BANDS, ecoModeOff: { recurringSchedule: ['0-29 9 * * *'], timeZone: 'Asia/Kolkata' } });
  // 02:00Z-06:00Z in 15-minute steps around the 500 threshold; 09:00-09:29 IST is 03:30-03:59Z.
  const points = series(Date.parse('2026-06-01T02:00:00Z'), 15, [450, 520, 520, 310, 290, 600, 600, 600, 600, 600, 499, 501, 300, 300, 100, 700]);
  const changes = agree(t, policy, points);
  t.ok(changes.includes(Date.parse('2026-06-01T03:30:00Z')), '09:00 IST: eco mode off');
  t.ok(changes.includes(Date.parse('2026-06-01T04:00:00Z')), '09:30 IST: back on');
});

t.test('the duration override, with a gap in the history', async (t) => {
  const policy = validatePolicy({
    carbon: BANDS,
    ecoModeOff: { carbonIntensityDuration: { carbonIntensityThreshold: 555, overrideEcoAfterDurationInMins: 45 } },
  });
  const from = Date.parse('2026-06-01T00:00:00Z');
  // 30-minute points: 600 for 90 min (the override starts 45 min in), a dip, a gap, then 600 again.
  const points = [...series(from, 30, [100, 600, 600, 600, 520]), ...series(from + 4 * HOUR, 30, [600, 600, 600, 100])];
  const changes = agree(t, policy, points);
  t.same(iso(changes), [
    '2026-06-01T00:30:00.000Z', // 600: capped at 10
    '2026-06-01T01:15:00.000Z', // 45 min at >= 555: eco mode off, declared 40
    '2026-06-01T02:00:00.000Z', // 520 < 555: the override ends, 520 >= 500 caps at 10
    '2026-06-01T02:30:00.000Z', // the gap: onMissingData declared
    '2026-06-01T04:00:00.000Z', // 600 after the gap: the history restarts, capped at 10
    '2026-06-01T04:45:00.000Z', // 45 min again: off (at 05:30, 100 ends it, but below every rule the cap stays 40)
  ]);
});

t.test('stale data: the timer wakes the moment maxDataAge passes', async (t) => {
  const policy = validatePolicy({ carbon: BANDS, onMissingData: 7 });
  const from = Date.parse('2026-06-01T00:00:00Z');
  const fetchedAt = from + 10 * MINUTE;
  const carbon: CarbonSnapshot = { source: 'test:zone', fetchedAt, maxDataAgeMs: HOUR, points: series(from, 60, [600, 600, 600]) };
  const staleAt = fetchedAt + HOUR + 1;
  t.ok(changeMoments(policy, carbon, from, from + 3 * HOUR).includes(staleAt), 'one millisecond past maxDataAge is a moment');
  t.same(
    oracle(policy, carbon, from, from + 3 * HOUR, (d) => String(d.cap)),
    [staleAt],
    'the oracle sees the cap change there (10 -> onMissingData 7)',
  );
  t.same(timerWakes(policy, carbon, from, from + 3 * HOUR), [staleAt], 'and the timer wakes there, not a minute later');
  // simulate takes the data as fresh at every moment (maxDataAge is not simulated): no change there.
  t.same(simulatedChanges(policy, carbon.points as IntensityPoint[]), []);
});

t.test('changeMoments: only instants inside (from, to], ascending, without repeats', async (t) => {
  const policy = validatePolicy({
    carbon: BANDS,
    ecoModeOff: { carbonIntensityDuration: { carbonIntensityThreshold: 555, overrideEcoAfterDurationInMins: 60 } },
  });
  const from = Date.parse('2026-06-01T00:00:00Z');
  const carbon = fresh(series(from, 60, [600, 600, 600]));
  t.same(
    changeMoments(policy, carbon, from, from + 3 * HOUR),
    [1, 2, 3].map((h) => from + h * HOUR),
    'point edges, and edges + 60 min fall on the same hours',
  );
  t.same(changeMoments(policy, carbon, from + HOUR, from + 2 * HOUR), [from + 2 * HOUR], 'from itself is not a moment; to is');
  t.same(changeMoments(policy, carbon, from + 3 * HOUR, from + 5 * HOUR), [from + 4 * HOUR], 'the last edge + 60 min, past the forecast');
});

t.test('one-off windows: their edges are change moments, for the timer and for simulate', async (t) => {
  const policy = validatePolicy({
    carbon: BANDS,
    ecoModeOff: {
      windows: [
        { start: '2026-12-24T01:30:00Z', end: '2026-12-24T03:00:00+01:00' }, // 01:30Z to 02:00Z
        { start: '2026-12-24T04:17:00Z', end: '2026-12-24T05:00:00Z' }, // starts inside a point
        { start: '2026-12-20T00:00:00Z', end: '2026-12-21T00:00:00Z' }, // past: no moment
      ],
    },
  });
  const points = series(Date.parse('2026-12-24T00:00:00Z'), 60, [600, 600, 600, 600, 600, 600]);
  // The oracle asks decide at every minute, so these edges sit on minutes; one between
  // minutes is checked below.
  const changes = agree(t, policy, points);
  t.same(iso(changes), ['2026-12-24T01:30:00.000Z', '2026-12-24T02:00:00.000Z', '2026-12-24T04:17:00.000Z', '2026-12-24T05:00:00.000Z']);
  // Listed only while inside (from, to]: the past window's edges come up only for a span that holds them.
  t.same(iso(changeMoments(policy, fresh(points), Date.parse('2026-12-19T00:00:00Z'), Date.parse('2026-12-22T00:00:00Z'))), [
    '2026-12-20T00:00:00.000Z',
    '2026-12-21T00:00:00.000Z',
  ]);
});

t.test('a window edge between whole minutes, and one after the forecast ends, wake the timer on time', async (t) => {
  const policy = validatePolicy({
    carbon: BANDS,
    ecoModeOff: {
      windows: [
        { start: '2026-12-24T01:17:30.250Z', end: '2026-12-24T01:45:00Z' },
        { start: '2026-12-24T09:00:00Z', end: '2026-12-24T10:00:00Z' },
      ],
    },
  });
  const points = series(Date.parse('2026-12-24T00:00:00Z'), 60, [600, 600, 600]);
  const carbon = fresh(points);
  const edge = Date.parse('2026-12-24T01:17:30.250Z');
  t.equal(decideAt(policy, carbon, edge - 1, 10).cap, 10, 'a millisecond before: capped');
  t.equal(decideAt(policy, carbon, edge, 10).cap, DECLARED, 'at the start: the declared max');
  const subject = (cap: number): CapSubject => ({ policy, declared: DECLARED, minReplicas: 0, ecoModeOffAnnotation: false, cap });
  t.equal(nextCapChange([subject(10)], carbon, Date.parse('2026-12-24T01:00:00Z'), 6 * HOUR), edge, 'the timer wakes at the exact millisecond');
  // After 03:00 there is no data (onMissingData declared: 40); the window still starts and
  // ends, but eco mode off gives the same 40, so only the moments list carries the edges.
  const moments = changeMoments(policy, carbon, Date.parse('2026-12-24T03:00:00Z'), Date.parse('2026-12-24T12:00:00Z'));
  t.same(iso(moments), ['2026-12-24T09:00:00.000Z', '2026-12-24T10:00:00.000Z']);
  const held = validatePolicy({
    carbon: BANDS,
    onMissingData: 3,
    ecoModeOff: { windows: [{ start: '2026-12-24T09:00:00Z', end: '2026-12-24T10:00:00Z' }] },
  });
  t.equal(
    nextCapChange([{ ...subject(3), policy: held }], carbon, Date.parse('2026-12-24T03:00:00Z'), 12 * HOUR),
    Date.parse('2026-12-24T09:00:00Z'),
    'without data, a fixed onMissingData cap of 3 rises to the declared max when the window starts',
  );
  t.equal(decideAt(held, carbon, Date.parse('2026-12-24T09:00:00Z'), 3).reason, 'eco mode off: window 2026-12-24T09:00:00Z..2026-12-24T10:00:00Z');
});

// nextCapChange case by case: what the re-touch timer is told to wake for.

const H0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const NOW = H0 + 10 * MINUTE;
const policy = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }] });
const subject = (over: Partial<CapSubject> = {}): CapSubject => ({ policy, declared: 10, minReplicas: 0, ecoModeOffAnnotation: false, cap: 10, ...over });

t.test('the first forecast boundary that changes a cap', async (t) => {
  const carbon = hourly(H0, [100, 200, 400, 100], NOW, 6 * HOUR);
  t.equal(nextCapChange([subject()], carbon, NOW, 24 * HOUR), H0 + 2 * HOUR, 'the 200 hour keeps the cap; the 400 hour changes it');
  t.equal(nextCapChange([subject()], carbon, NOW, HOUR), null, 'nothing within the horizon');
  t.equal(nextCapChange([subject({ cap: 3 })], carbon, NOW, 24 * HOUR), NOW, 'a cap already out of date is due now');
  t.equal(nextCapChange([subject({ ecoModeOffAnnotation: true })], carbon, NOW, 24 * HOUR), null, 'eco mode off by annotation never changes');
  t.equal(nextCapChange([], carbon, NOW, 24 * HOUR), null);
});

t.test('the end of the forecast: missing data applies onMissingData', async (t) => {
  const fixed = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }], onMissingData: 2 });
  const carbon = hourly(H0, [100, 100], NOW, 6 * HOUR);
  t.equal(nextCapChange([subject({ policy: fixed })], carbon, NOW, 24 * HOUR), H0 + 2 * HOUR);
});

t.test('data turning stale is a change', async (t) => {
  const fixed = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }], onMissingData: 2 });
  const carbon = hourly(H0, [100, 100, 100, 100, 100], NOW, HOUR);
  t.equal(nextCapChange([subject({ policy: fixed })], carbon, NOW, 24 * HOUR), NOW + HOUR + 1, 'one millisecond past maxDataAge');
});

t.test('a recurring schedule minute', async (t) => {
  const scheduled = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }], ecoModeOff: { recurringSchedule: ['45 10 * * *'] } });
  const carbon = hourly(H0, [400, 400, 400], NOW, 6 * HOUR);
  const s = subject({ policy: scheduled, cap: 3 });
  t.equal(nextCapChange([s], carbon, NOW, HOUR), H0 + 45 * MINUTE, 'eco mode goes off at 10:45');
  t.equal(nextCapChange([subject({ policy: scheduled, cap: 10 })], carbon, H0 + 45 * MINUTE + 5000, HOUR), H0 + 46 * MINUTE, 'and back on at 10:46');
});

t.test('the duration override: the window slides past a boundary', async (t) => {
  const override = validatePolicy({
    carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }],
    ecoModeOff: { carbonIntensityDuration: { carbonIntensityThreshold: 300, overrideEcoAfterDurationInMins: 90 } },
  });
  // 400 from 10:00 onwards: capped, until it has stayed >= 300 for 90 minutes (11:30)
  const carbon = hourly(H0 - HOUR, [100, 400, 400, 400], NOW, 6 * HOUR);
  t.equal(nextCapChange([subject({ policy: override, cap: 3 })], carbon, NOW, 6 * HOUR), H0 + 90 * MINUTE);
});

t.test('several subjects: the earliest change of any of them', async (t) => {
  const low = validatePolicy({ carbon: [{ measuredEmission: 150, allowedMaxReplicaCount: 5 }] });
  const carbon = hourly(H0, [100, 200, 400], NOW, 6 * HOUR);
  t.equal(nextCapChange([subject(), subject({ policy: low })], carbon, NOW, 24 * HOUR), H0 + HOUR);
});
