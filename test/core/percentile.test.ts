import t from 'tap';
import type { CarbonSnapshot, IntensityPoint } from '../../src/core/carbon.js';
import { decide, type DecisionInput } from '../../src/core/decide.js';
import { changeMoments, nextCapChange } from '../../src/core/moments.js';
import { MIN_WINDOW_DATA_MS, percentile, resolvePercentiles } from '../../src/core/percentile.js';
import { PolicyError, validatePolicy, type Policy } from '../../src/core/policy.js';
import { HOUR, MINUTE } from '../helpers/carbon.js';

const NOW = Date.parse('2026-11-23T10:30:00Z');
const HOUR_START = NOW - (NOW % HOUR); // 10:00, the current point's start

function points(from: number, values: number[]): IntensityPoint[] {
  return values.map((v, i) => ({ timestamp: from + i * HOUR, durationMinutes: 60, gCO2eqPerKWh: v }));
}

function snap(pts: IntensityPoint[]): CarbonSnapshot {
  return { source: 'test:zone', fetchedAt: NOW, maxDataAgeMs: 2 * HOUR, points: pts };
}

// 24 hours ahead from the current point: 100, 110, ... 330, the current one first.
// Time-weighted p80 of 24 equal hours is the 20th smallest value: 290. p50: the 12th, 210.
function day(current: number): CarbonSnapshot {
  const rest = Array.from({ length: 24 }, (_, i) => 100 + i * 10).filter((v) => v !== current);
  return snap(points(HOUR_START, [current, ...rest.slice(0, 23)]));
}

const policy = (doc: object): Policy => validatePolicy(doc);
function at(p: Policy, carbon: CarbonSnapshot, over: Partial<DecisionInput> = {}) {
  return decide({ policy: p, declared: 40, minReplicas: 0, currentMax: 40, ecoModeOffAnnotation: false, carbon, now: NOW, ...over });
}

t.test('validation names the field and the rule', async (t) => {
  const bad: Array<[unknown, string]> = [
    ['p0', 'carbon[0].measuredEmission: a percentile must be from p1 to p99 (whole numbers), got "p0"'],
    ['p100', 'carbon[0].measuredEmission: a percentile must be from p1 to p99 (whole numbers), got "p100"'],
    ['p08', 'carbon[0].measuredEmission: a percentile must be from p1 to p99 (whole numbers), got "p08"'],
    ['p80.5', 'carbon[0].measuredEmission: a percentile must be a whole number from p1 to p99, got "p80.5"'],
    ['P80', 'carbon[0].measuredEmission: a percentile is written with a lower-case p, e.g. "p80", got "P80"'],
    ['80%', 'carbon[0].measuredEmission: a threshold is gCO2eq/kWh or a percentile such as "p80", not a percentage, got "80%"'],
    ['high', 'carbon[0].measuredEmission: must be a number >= 0 or a percentile of the grid\'s own intensity from p1 to p99, got "high"'],
  ];
  for (const [v, message] of bad) {
    t.throws(() => validatePolicy({ carbon: [{ measuredEmission: v, allowedMaxReplicaCount: 2 }] }), { message }, String(v));
  }
  const band = (m: unknown) => ({ carbon: [{ measuredEmission: m, allowedMaxReplicaCount: 2 }] });
  t.throws(
    () =>
      validatePolicy({
        carbon: [
          { measuredEmission: 'p80', allowedMaxReplicaCount: 2 },
          { measuredEmission: 'p80', allowedMaxReplicaCount: 3 },
        ],
      }),
    { message: 'carbon: two rules have the same measuredEmission p80' },
  );
  const windows: Array<[unknown, string]> = [
    [{ past: '30m' }, 'relativeWindow.past: must be a duration from 1h to 7d such as "24h", got "30m"'],
    [{ ahead: '8d' }, 'relativeWindow.ahead: must be a duration from 1h to 7d such as "24h", got "8d"'],
    [{ ahead: '169h' }, 'relativeWindow.ahead: must be a duration from 1h to 7d such as "24h", got "169h"'],
    [{ past: 'a day' }, 'relativeWindow.past: must be a duration from 1h to 7d such as "24h", got "a day"'],
    [{ around: '24h' }, 'relativeWindow.around: unknown field (expected one of past, ahead)'],
    ['24h', 'relativeWindow: must be a mapping such as {past: 24h, ahead: 24h}, got "24h"'],
  ];
  for (const [w, message] of windows) t.throws(() => validatePolicy({ ...band('p80'), relativeWindow: w }), { message }, JSON.stringify(w));
  t.throws(() => validatePolicy({ ...band(300), mode: 'dry-run' }), new PolicyError('mode', 'must be "enforce" or "observe", got "dry-run"'));
  const ok = validatePolicy({
    carbon: [
      { measuredEmission: 'p80', allowedMaxReplicaCount: '25%' },
      { measuredEmission: 450, allowedMaxReplicaCount: 5 },
    ],
    relativeWindow: { past: '1h', ahead: '7d' },
  });
  t.same(
    ok.bands.map((b) => [b.threshold, b.percentile]),
    [
      [450, null],
      [null, 80],
    ],
    'absolute bands first, then percentiles',
  );
  t.equal(ok.relative, true);
  t.same(ok.relativeWindow, { pastMs: HOUR, aheadMs: 168 * HOUR });
  t.same(validatePolicy(band('p1')).bands[0], { threshold: null, percentile: 1, allowed: { kind: 'count', value: 2 } });
  t.same(validatePolicy(band('p99')).relativeWindow, { pastMs: 24 * HOUR, aheadMs: 24 * HOUR }, 'default window: 24h past, 24h ahead');
  t.equal(validatePolicy(band(300)).relative, false);
  t.equal(validatePolicy(band(300)).mode, 'enforce');
  t.equal(validatePolicy({ ...band(300), mode: 'observe' }).mode, 'observe');
  t.throws(
    () => validatePolicy({ maxReplicasByCarbonIntensity: [{ carbonIntensityThreshold: 'p80', maxReplicas: 2 }] }),
    { message: /carbonIntensityThreshold: must be a number >= 0/ },
    'the Azure form stays absolute',
  );
});

t.test('the percentile is time-weighted: the lowest value at or below which that share of the time lies', async (t) => {
  const pts = [
    { timestamp: 0, durationMinutes: 180, gCO2eqPerKWh: 100 },
    { timestamp: 180 * MINUTE, durationMinutes: 60, gCO2eqPerKWh: 500 },
  ];
  t.equal(percentile(pts, 0.75), 100, 'three of four hours at 100');
  t.equal(percentile(pts, 0.76), 500);
  t.equal(percentile(points(0, [400, 100, 300, 200]), 0.5), 200, 'exactly half: the second value, not past it');
  t.throws(() => percentile(pts, 0), RangeError);
});

t.test('exactly on the resolved threshold the band applies; just below it does not', async (t) => {
  const p = policy({ carbon: [{ measuredEmission: 'p80', allowedMaxReplicaCount: '25%' }] });
  const on = at(p, day(290));
  t.equal(on.cap, 10);
  t.equal(on.rule, 'measuredEmission>=p80 (290)');
  t.match(on.band, { percentile: 80, threshold: 290, relation: '>=', cap: 10 });
  t.equal(on.reason, '290 gCO2eq/kWh >= p80 (290)');
  const below = at(p, day(280));
  t.equal(below.cap, 40, '280 < p80 290: no cap');
  t.equal(below.rule, null);
  t.equal(below.reason, '280 gCO2eq/kWh is below every rule');
});

t.test('mixed with absolute bands: ordered by the resolved value at this moment', async (t) => {
  // p50 resolves to 210, above the absolute 200: from 210 on the percentile band applies.
  const p = policy({
    carbon: [
      { measuredEmission: 200, allowedMaxReplicaCount: 5 },
      { measuredEmission: 'p50', allowedMaxReplicaCount: '50%' },
    ],
  });
  const table: Array<[number, number, string | null]> = [
    [190, 40, null],
    [200, 5, 'measuredEmission>=200'],
    [210, 20, 'measuredEmission>=p50 (210)'],
    [330, 20, 'measuredEmission>=p50 (210)'],
  ];
  for (const [current, cap, rule] of table) {
    const d = at(p, day(current));
    t.equal(d.cap, cap, `${current} g -> ${cap}`);
    t.equal(d.rule, rule, `${current} g -> ${rule}`);
  }
  // An absolute band above the percentile's value keeps its place on top.
  const q = policy({
    carbon: [
      { measuredEmission: 'p50', allowedMaxReplicaCount: '50%' },
      { measuredEmission: 300, allowedMaxReplicaCount: 2 },
    ],
  });
  t.equal(at(q, day(300)).rule, 'measuredEmission>=300');
  t.equal(at(q, day(250)).rule, 'measuredEmission>=p50 (210)');
});

t.test('a tie between resolved values resolves to the stricter cap', async (t) => {
  const absoluteStricter = policy({
    carbon: [
      { measuredEmission: 'p80', allowedMaxReplicaCount: '50%' },
      { measuredEmission: 290, allowedMaxReplicaCount: 5 },
    ],
  });
  const a = at(absoluteStricter, day(300));
  t.equal(a.cap, 5);
  t.equal(a.rule, 'measuredEmission>=290');
  const percentileStricter = policy({
    carbon: [
      { measuredEmission: 'p80', allowedMaxReplicaCount: 3 },
      { measuredEmission: 290, allowedMaxReplicaCount: '50%' },
    ],
  });
  const b = at(percentileStricter, day(290));
  t.equal(b.cap, 3);
  t.equal(b.rule, 'measuredEmission>=p80 (290)');
  // Two percentiles landing on one value (a flat day): the stricter again.
  const flat = snap(points(HOUR_START, Array(24).fill(300)));
  const two = policy({
    carbon: [
      { measuredEmission: 'p50', allowedMaxReplicaCount: '50%' },
      { measuredEmission: 'p80', allowedMaxReplicaCount: '25%' },
    ],
  });
  t.equal(at(two, flat).cap, 10);
  const twoRev = policy({
    carbon: [
      { measuredEmission: 'p50', allowedMaxReplicaCount: '25%' },
      { measuredEmission: 'p80', allowedMaxReplicaCount: '50%' },
    ],
  });
  t.equal(at(twoRev, flat).rule, 'measuredEmission>=p50 (300)');
});

t.test('the window is clipped: by relativeWindow and by the data the source holds', async (t) => {
  // 30 past hours at 1000, then the day: the default 24 h past takes 23 of them in.
  const withPast = snap([...points(HOUR_START - 30 * HOUR, Array(30).fill(1000)), ...day(290).points]);
  const wide = policy({ carbon: [{ measuredEmission: 'p80', allowedMaxReplicaCount: '25%' }] });
  t.equal(at(wide, withPast).cap, 40, 'the dirty past lifts p80 to 1000: 290 is below it');
  t.equal(at(wide, withPast).rule, null);
  const narrow = policy({ carbon: [{ measuredEmission: 'p80', allowedMaxReplicaCount: '25%' }], relativeWindow: { past: '1h', ahead: '24h' } });
  t.equal(at(narrow, withPast).rule, 'measuredEmission>=p80 (290)', 'one hour back: only the day counts');
  // Only 8 hours held (a provider without forecast): the percentile is of those 8.
  const eight = snap(points(HOUR_START - 7 * HOUR, [100, 110, 120, 130, 140, 150, 160, 170]));
  const med = policy({ carbon: [{ measuredEmission: 'p50', allowedMaxReplicaCount: '50%' }] });
  t.equal(at(med, eight).rule, 'measuredEmission>=p50 (130)');
  const r = resolvePercentiles(med, eight.points, NOW);
  t.same(r, { ok: true, thresholds: new Map([[50, 130]]) });
});

t.test('too little data in the window: onMissingData applies, and the reason says why', async (t) => {
  const five = snap(points(HOUR_START - 4 * HOUR, [500, 500, 500, 500, 500]));
  const why = 'percentile band cannot be resolved: 5h of data in relativeWindow (past 24h, ahead 24h), at least 6h needed';
  const base = {
    carbon: [
      { measuredEmission: 'p80', allowedMaxReplicaCount: '25%' },
      { measuredEmission: 100, allowedMaxReplicaCount: 2 },
    ],
  };
  const declared = at(policy(base), five);
  t.equal(declared.cap, 40, 'declared (the default), even though 500 is above the absolute 100: nothing is guessed');
  t.equal(declared.reason, `${why}; onMissingData declared`);
  t.same(declared.warnings, [`keda-carbon: ${why}; using the declared max 40`]);
  t.equal(declared.intensity, 500, 'the intensity is still known and shown');
  const hold = at(policy({ ...base, onMissingData: 'hold' }), five, { currentMax: 17 });
  t.equal(hold.cap, 17);
  t.equal(hold.reason, `${why}; onMissingData hold keeps 17`);
  const fixed = at(policy({ ...base, onMissingData: 6 }), five);
  t.equal(fixed.cap, 6);
  t.equal(fixed.reason, `${why}; onMissingData cap 6`);
  t.equal(MIN_WINDOW_DATA_MS, 6 * HOUR);
  const six = snap(points(HOUR_START - 5 * HOUR, [500, 500, 500, 500, 500, 500]));
  t.equal(at(policy(base), six).rule, 'measuredEmission>=p80 (500)', 'six hours are enough');
  const gap = snap([...points(HOUR_START - 20 * HOUR, [100, 100, 100]), ...points(HOUR_START, [500, 500])]);
  t.match(at(policy(base), gap).reason, /5h of data in relativeWindow/, 'a gap counts as no data');
});

t.test('a point leaving the window moves the threshold across the current intensity: the moment is known', async (t) => {
  // Window 5h30m back, 1h ahead. At 10:15 the 05:00 point (500) is in and p90 is 500; at
  // 10:30 it has left, p90 falls to 200, the current intensity, and the cap applies.
  const carbon = snap(points(HOUR_START - 5 * HOUR, [500, 100, 100, 100, 100, 200, 100, 100]));
  const p = policy({ carbon: [{ measuredEmission: 'p90', allowedMaxReplicaCount: '25%' }], relativeWindow: { past: '5h30m', ahead: '1h' } });
  const before = at(p, carbon, { now: NOW - 15 * MINUTE });
  t.equal(before.cap, 40);
  t.equal(before.reason, '200 gCO2eq/kWh is below every rule');
  const after = at(p, carbon, { now: NOW });
  t.equal(after.cap, 10);
  t.equal(after.rule, 'measuredEmission>=p90 (200)');
  t.equal(at(p, carbon, { now: NOW - 1 }).cap, 40, 'one millisecond before, the point is still in');
  const moments = changeMoments(p, carbon, NOW - 15 * MINUTE, NOW + 15 * MINUTE);
  t.ok(moments.includes(NOW), 'the instant the 05:00 point leaves the window is a change moment');
  t.equal(
    nextCapChange([{ policy: p, declared: 40, minReplicas: 0, ecoModeOffAnnotation: false, cap: 40 }], carbon, NOW - 15 * MINUTE, HOUR),
    NOW,
    'the timer wakes exactly then',
  );
  // And a point entering: with 2h ahead, the 12:00 point enters at 10:00.
  const entering = policy({ carbon: [{ measuredEmission: 'p90', allowedMaxReplicaCount: '25%' }], relativeWindow: { past: '6h', ahead: '2h' } });
  t.ok(changeMoments(entering, carbon, NOW - HOUR, NOW).includes(HOUR_START), 'a point entering the window is a change moment');
});

t.test('between change moments the decision is constant (oracle: every minute over two days)', async (t) => {
  const vals = Array.from({ length: 60 }, (_, i) => Math.round(300 + 200 * Math.sin(i / 3.7) + (i % 5) * 13));
  const carbon: CarbonSnapshot = {
    source: 'test:zone',
    fetchedAt: HOUR_START - 12 * HOUR,
    maxDataAgeMs: Number.POSITIVE_INFINITY,
    points: points(HOUR_START - 12 * HOUR, vals),
  };
  const p = policy({
    carbon: [
      { measuredEmission: 'p60', allowedMaxReplicaCount: '50%' },
      { measuredEmission: 420, allowedMaxReplicaCount: 8 },
      { measuredEmission: 'p90', allowedMaxReplicaCount: 3 },
    ],
    relativeWindow: { past: '7h', ahead: '5h' },
  });
  const from = HOUR_START - 12 * HOUR;
  const to = from + 48 * HOUR;
  const moments = new Set(changeMoments(p, carbon, from, to));
  const show = (now: number) => {
    const d = decide({ policy: p, declared: 40, minReplicas: 0, currentMax: 40, ecoModeOffAnnotation: false, carbon, now });
    return `${d.cap} ${d.rule} ${d.reason}`;
  };
  let prev = show(from);
  const unseen: string[] = [];
  let changes = 0;
  for (let m = from + MINUTE; m <= to; m += MINUTE) {
    const cur = show(m);
    if (cur !== prev) {
      changes++;
      if (!moments.has(m)) unseen.push(new Date(m).toISOString());
    }
    prev = cur;
  }
  t.same(unseen, [], 'every change falls on a change moment');
  t.ok(changes > 10, `the decision does change (${changes} times)`);
});
