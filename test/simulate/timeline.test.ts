import t from 'tap';
import type { IntensityPoint } from '../../src/core/carbon.js';
import { decide } from '../../src/core/decide.js';
import { validatePolicy } from '../../src/core/policy.js';
import { simulate, suggestThresholds, summarize } from '../../src/simulate/figures.js';
import { percentile } from '../../src/core/percentile.js';
import { operatorMoments, operatorNextReconcile, simulateOperator, simulateTimeline, type SimulationInput } from '../../src/simulate/timeline.js';

const T0 = Date.parse('2026-06-01T00:00:00Z'); // a Monday
const MIN = 60_000;
const HOUR = 60 * MIN;

/** Consecutive points of `minutes` each from `from`. */
function series(from: number, minutes: number, values: number[]): IntensityPoint[] {
  return values.map((v, i) => ({ timestamp: from + i * minutes * MIN, durationMinutes: minutes, gCO2eqPerKWh: v }));
}

const bands = {
  carbon: [
    { measuredEmission: 300, allowedMaxReplicaCount: '50%' },
    { measuredEmission: 500, allowedMaxReplicaCount: 10 },
  ],
};

function input(points: IntensityPoint[], doc: object = bands, over: Partial<SimulationInput> = {}): SimulationInput {
  return { policy: validatePolicy(doc), points, declared: 100, minReplicas: 0, source: 'test:zone', ...over };
}

t.test('four hourly points: timeline and figures by hand', async (t) => {
  const sim = simulate(input(series(T0, 60, [250, 350, 520, 290])));
  // 250 < 300: no cap (100); 350 >= 300: 50% of 100 = 50; 520 >= 500: 10; 290: 100.
  t.same(
    sim.intervals.map((iv) => [iv.start - T0, iv.end - T0, iv.intensity, iv.cap, iv.rule]),
    [
      [0, HOUR, 250, 100, null],
      [HOUR, 2 * HOUR, 350, 50, 'measuredEmission>=300'],
      [2 * HOUR, 3 * HOUR, 520, 10, 'measuredEmission>=500'],
      [3 * HOUR, 4 * HOUR, 290, 100, null],
    ],
  );
  const f = sim.figures;
  t.equal(f.hours, 4);
  t.same(f.hoursAtCap, [
    { cap: 100, hours: 2 },
    { cap: 50, hours: 1 },
    { cap: 10, hours: 1 },
  ]);
  // allowed = 100 + 50 + 10 + 100 = 260 replica-hours of 4 x 100 = 400; withheld 140 = 35%.
  t.equal(f.declaredReplicaHours, 400);
  t.equal(f.allowedReplicaHours, 260);
  t.equal(f.withheldReplicaHours, 140);
  t.equal(f.withheldPercent, 35);
  // unweighted: 260 / 4 = 65.
  t.equal(f.averageCap, 65);
  // intensity-weighted: (100x250 + 50x350 + 10x520 + 100x290) / (250+350+520+290)
  //   = (25000 + 17500 + 5200 + 29000) / 1410 = 76700 / 1410 = 54.397
  t.equal(f.intensityWeightedCap, 54.397);
  // 54.397 / 65 - 1 = -16.3%: capacity moved toward the cleaner hours.
  t.equal(f.shiftPercent, -16.3);
  // average intensity 1410 / 4 = 352.5; the capacity runs at 76700 / 260 = 295.
  t.equal(f.averageIntensity, 352.5);
  t.equal(f.capacityWeightedIntensity, 295);
  t.equal(f.missingDataHours, 0);
  // On hourly points starting on the hour the Azure operator reconciles at each of them: the same figures.
  t.same(sim.operator.figures, f);
});

t.test('5-minute points: the Azure operator follows a change at :05, not at the next hour', async (t) => {
  // 00:00 250, 00:05 to 01:00 350, then 520 until 01:35 and 290 until 02:00 (WattTime-like data).
  const values = [250, ...Array<number>(11).fill(350), ...Array<number>(7).fill(520), ...Array<number>(5).fill(290)];
  const sim = simulate(input(series(T0, 5, values)));
  const expected = [
    [0, 5 * MIN, 250, 100],
    [5 * MIN, HOUR, 350, 50],
    [HOUR, 95 * MIN, 520, 10],
    [95 * MIN, 2 * HOUR, 290, 100],
  ];
  t.same(
    sim.intervals.map((iv) => [iv.start - T0, iv.end - T0, iv.intensity, iv.cap]),
    expected,
  );
  // The operator requeues every 5 minutes on 5-minute points: it sees 350 at 00:05 and 290 at 01:35.
  t.same(
    sim.operator.intervals.map((iv) => [iv.start - T0, iv.end - T0, iv.intensity, iv.cap]),
    expected,
  );
  t.same(sim.operator.figures, sim.figures);
  t.equal(operatorMoments(series(T0, 5, values)).length, 24, 'one reconcile per point');
});

t.test('hourly points starting at :30: the operator holds each until the top of the hour', async (t) => {
  const sim = simulate(input(series(T0 + 30 * MIN, 60, [250, 520, 350, 290])));
  // Following the forecast: 100, 10, 50, 100 for an hour each from 00:30.
  t.same(
    sim.intervals.map((iv) => [iv.start - T0, iv.end - T0, iv.cap]),
    [
      [30 * MIN, 90 * MIN, 100],
      [90 * MIN, 150 * MIN, 10],
      [150 * MIN, 210 * MIN, 50],
      [210 * MIN, 270 * MIN, 100],
    ],
  );
  // The operator reconciles at 00:30 (the start), then at the next minute of the hour that is
  // a multiple of 60: 01:00, 02:00, 03:00, 04:00. Each decision lags its point by 30 minutes.
  t.same(
    sim.operator.intervals.map((iv) => [iv.start - T0, iv.end - T0, iv.intensity, iv.cap]),
    [
      [30 * MIN, 2 * HOUR, 250, 100],
      [2 * HOUR, 3 * HOUR, 520, 10],
      [3 * HOUR, 4 * HOUR, 350, 50],
      [4 * HOUR, 270 * MIN, 290, 100],
    ],
  );
  // The same replica-hours (100 + 10 + 50 + 100 = 260 of 400) ...
  t.equal(sim.figures.allowedReplicaHours, 260);
  t.equal(sim.operator.figures.allowedReplicaHours, 260);
  // ... but against the real intensities the operator's capacity runs dirtier:
  //   following: (100x250 + 10x520 + 50x350 + 100x290) / 260 = 76700 / 260 = 295
  //   operator:  (100x250x1 + 100x520x.5 + 10x520x.5 + 10x350x.5 + 50x350x.5 + 50x290x.5 + 100x290x.5) / 260
  //            = 85850 / 260 = 330.2
  t.equal(sim.figures.capacityWeightedIntensity, 295);
  t.equal(sim.operator.figures.capacityWeightedIntensity, 330.2);
  // Both views average the same real grid: (250 + 520 + 350 + 290) / 4 = 352.5.
  t.equal(sim.operator.figures.averageIntensity, 352.5);
});

t.test('a 30-minute forecast on the half hours: the operator reconciles at each point', async (t) => {
  const sim = simulate(input(series(T0, 30, [250, 520, 350, 290])));
  t.same(
    sim.intervals.map((iv) => iv.cap),
    [100, 10, 50, 100],
  );
  t.same(
    sim.operator.intervals.map((iv) => [iv.start - T0, iv.cap]),
    [
      [0, 100],
      [30 * MIN, 10],
      [HOUR, 50],
      [90 * MIN, 100],
    ],
  );
  t.same(sim.operator.figures, sim.figures);
});

t.test('gaps are missing data: onMissingData decides, as in the webhook', async (t) => {
  const points = [
    { timestamp: T0, durationMinutes: 60, gCO2eqPerKWh: 400 },
    { timestamp: T0 + 2 * HOUR, durationMinutes: 60, gCO2eqPerKWh: 600 },
  ];
  const gapCap = (onMissingData: unknown) => {
    const ivs = simulateTimeline(input(points, { ...bands, onMissingData }));
    t.equal(ivs.length, 3);
    t.equal(ivs[1]!.intensity, null);
    t.equal(ivs[1]!.start, T0 + HOUR);
    t.equal(ivs[1]!.end, T0 + 2 * HOUR);
    return ivs[1]!.cap;
  };
  t.equal(gapCap('declared'), 100, 'declared: the declared max');
  t.equal(gapCap('hold'), 50, 'hold: the cap of the hour before (400 -> 50)');
  t.equal(gapCap(5), 5, 'a fixed cap');
  const f = summarize(simulateTimeline(input(points)), 100, 1);
  t.equal(f.missingDataHours, 1);
  // The averages cover the hours with data only: (50 + 10) / 2 = 30.
  t.equal(f.averageCap, 30);
  // But replica-hours count the whole span: 50 + 100 + 10 = 160 of 300.
  t.equal(f.allowedReplicaHours, 160);
});

t.test('eco mode off by a recurring schedule, to the minute', async (t) => {
  // Off from 00:30 to 00:59 every day: inside the first hour-long point.
  const doc = { ...bands, ecoModeOff: { recurringSchedule: ['30-59 0 * * *'] } };
  const sim = simulate(input(series(T0, 60, [400, 400]), doc));
  t.same(
    sim.intervals.map((iv) => [iv.start - T0, iv.end - T0, iv.cap, iv.ecoMode]),
    [
      [0, 30 * MIN, 50, 'on'],
      [30 * MIN, HOUR, 100, 'off'],
      [HOUR, 2 * HOUR, 50, 'on'],
    ],
  );
  t.equal(sim.figures.ecoModeOffHours, 0.5);
  // The operator reconciles on the hour only (hourly points: 00:00 and 01:00): the schedule
  // never matches then, and the two identical hours read as one interval.
  t.same(
    sim.operator.intervals.map((iv) => [iv.start - T0, iv.end - T0, iv.cap, iv.ecoMode]),
    [[0, 2 * HOUR, 50, 'on']],
  );
  t.equal(sim.operator.figures.ecoModeOffHours, 0);
});

t.test('the duration override switches on mid-point', async (t) => {
  const doc = { ...bands, ecoModeOff: { carbonIntensityDuration: { carbonIntensityThreshold: 500, overrideEcoAfterDurationInMins: 90 } } };
  const sim = simulate(input(series(T0, 60, [600, 600, 600]), doc));
  // At 01:30 the intensity has been >= 500 since 00:00, i.e. for 90 minutes: eco mode off.
  t.same(
    sim.intervals.map((iv) => [iv.start - T0, iv.end - T0, iv.cap, iv.ecoMode]),
    [
      [0, 90 * MIN, 10, 'on'],
      [90 * MIN, 3 * HOUR, 100, 'off'],
    ],
  );
  // The operator, on hourly points: at 01:00 only 60 minutes of history; at 02:00 120 minutes: off from then.
  t.same(
    sim.operator.intervals.map((iv) => [iv.start - T0, iv.end - T0, iv.cap]),
    [
      [0, 2 * HOUR, 10],
      [2 * HOUR, 3 * HOUR, 100],
    ],
  );
});

t.test('every interval holds what decide says at each of its minutes', async (t) => {
  // The guarantee that simulate and the webhook cannot disagree: sample decide directly.
  const doc = {
    ...bands,
    ecoModeOff: { recurringSchedule: ['10-20 1 * * *'], carbonIntensityDuration: { carbonIntensityThreshold: 480, overrideEcoAfterDurationInMins: 50 } },
    onMissingData: 'hold',
  };
  const points = [...series(T0, 15, [250, 310, 505, 520, 490, 480, 300, 299]), ...series(T0 + 3 * HOUR, 15, [700, 100])];
  const inp = input(points, doc, { declared: 40, minReplicas: 2 });
  const ivs = simulateTimeline(inp);
  let checked = 0;
  let prevCap = 40;
  for (let at = T0; at < T0 + 3.5 * HOUR; at += 5 * MIN) {
    const iv = ivs.find((x) => x.start <= at && at < x.end)!;
    const d = decide({
      policy: inp.policy,
      declared: 40,
      minReplicas: 2,
      currentMax: prevCap,
      ecoModeOffAnnotation: false,
      carbon: { source: 'test:zone', fetchedAt: at, maxDataAgeMs: Number.MAX_SAFE_INTEGER, points },
      now: at,
    });
    t.equal(iv.cap, d.cap, `cap at ${new Date(at).toISOString()}`);
    t.equal(iv.ecoMode, d.ecoMode);
    prevCap = iv.cap;
    checked++;
  }
  t.equal(checked, 42);
  // Intervals tile the span without holes or overlaps.
  for (let i = 1; i < ivs.length; i++) t.equal(ivs[i]!.start, ivs[i - 1]!.end);
});

t.test("the operator's next reconcile: the next multiple of the covering point's duration, else 5 minutes", async (t) => {
  const at = (hhmmss: string) => Date.parse(`2026-06-01T${hhmmss}Z`);
  const point = (from: string, minutes: number) => ({ timestamp: at(from), durationMinutes: minutes, gCO2eqPerKWh: 300 });
  const next = (points: IntensityPoint[], now: string) => new Date(operatorNextReconcile(points, at(now))).toISOString().slice(11, 19);
  t.equal(next([point('12:35:00', 5)], '12:37:00'), '12:40:00', '5-minute point, 12:37: next 12:40');
  t.equal(next([point('12:35:00', 5)], '12:35:00'), '12:40:00', 'on a multiple: a whole interval on');
  t.equal(next([point('12:00:00', 60)], '12:00:00'), '13:00:00', 'hourly point: the next top of the hour');
  t.equal(next([point('12:00:00', 60)], '12:37:20'), '13:00:20', 'the seconds are kept');
  t.equal(next([point('12:10:00', 30)], '12:10:00'), '12:30:00', 'a 30-minute point at :10: the next half hour');
  t.equal(next([point('12:00:00', 60)], '13:02:00'), '13:05:00', 'no point covers: 5 minutes');
  t.equal(next([point('12:00:00', 120)], '12:00:00'), '14:00:00', 'longer than an hour: minute 0 plus the interval');

  // A span with a gap: 5-minute steps through it, so the point at 01:17 is seen at 01:20.
  const points = [
    { timestamp: T0 + 30 * MIN, durationMinutes: 30, gCO2eqPerKWh: 300 },
    { timestamp: T0 + 77 * MIN, durationMinutes: 23, gCO2eqPerKWh: 500 },
    { timestamp: T0 + 100 * MIN, durationMinutes: 20, gCO2eqPerKWh: 200 },
  ];
  // 00:30 (start, 30 min) -> 01:00 (gap) -> 01:05 -> 01:10 -> 01:15 -> 01:20 (23 min, 20 % 23 = 20)
  // -> 01:23 -> 01:46 (20 min, 46 % 20 = 6) -> 02:00, the end.
  t.same(
    operatorMoments(points).map((m) => (m - T0) / MIN),
    [30, 60, 65, 70, 75, 80, 83, 106],
  );
  const ivs = simulateOperator(input(points));
  t.same(
    ivs.map((iv) => [(iv.start - T0) / MIN, (iv.end - T0) / MIN, iv.intensity, iv.cap]),
    [
      [30, 60, 300, 50],
      [60, 80, null, 100],
      [80, 106, 500, 10],
      [106, 120, 200, 100],
    ],
  );
});

t.test('percentiles are time-weighted', async (t) => {
  const pts = series(T0, 60, [500, 100, 300, 200, 400]);
  // Sorted 100..500, an hour each: p50 needs 2.5 of 5 hours -> the third value, 300.
  t.equal(percentile(pts, 0.5), 300);
  // p80 needs 4 of 5 hours -> 400.
  t.equal(percentile(pts, 0.8), 400);
  // A 3-hour point at 100 outweighs four 1-hour points: 3 of 7 hours <= 100, 4 of 7 <= 200.
  const weighted = [{ timestamp: T0, durationMinutes: 180, gCO2eqPerKWh: 100 }, ...series(T0 + 3 * HOUR, 60, [200, 300, 400, 500])];
  t.equal(percentile(weighted, 0.5), 200);
  t.throws(() => percentile([], 0.5));
  t.throws(() => percentile(pts, 0), RangeError);
});

t.test('suggested thresholds from p50 and p80, replayed', async (t) => {
  const s = suggestThresholds(input(series(T0, 60, [500, 100, 300, 200, 400])));
  t.equal(s.p50, 300);
  t.equal(s.p80, 400);
  t.same(s.document, {
    carbon: [
      { measuredEmission: 300, allowedMaxReplicaCount: '50%' },
      { measuredEmission: 400, allowedMaxReplicaCount: '25%' },
    ],
  });
  // Caps for 500, 100, 300, 200, 400: 25, 100, 50, 100, 25 -> 300 of 500; 200 withheld = 40%.
  t.equal(s.figures.allowedReplicaHours, 300);
  t.equal(s.figures.withheldPercent, 40);
  t.doesNotThrow(() => validatePolicy(s.document));

  const flat = suggestThresholds(input(series(T0, 60, [320, 320, 320])));
  t.same(flat.document, { carbon: [{ measuredEmission: 320, allowedMaxReplicaCount: '50%' }] }, 'p50 == p80: one band');
});

t.test('the floor and the declared max bound every cap', async (t) => {
  const sim = simulate(input(series(T0, 60, [600, 350]), bands, { declared: 8, minReplicas: 0 }));
  // 600 -> 10, but the declared max is 8: 8. 350 -> 50% of 8 = 4.
  t.same(
    sim.intervals.map((iv) => iv.cap),
    [8, 4],
  );
  const floored = simulate(input(series(T0, 60, [600]), bands, { declared: 100, minReplicas: 20 }));
  t.same(
    floored.intervals.map((iv) => iv.cap),
    [20],
    'floor max(1, minReplicaCount) = 20 beats the band 10',
  );
});
