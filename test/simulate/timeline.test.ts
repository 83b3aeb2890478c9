import t from 'tap';
import type { IntensityPoint } from '../../src/core/carbon.js';
import { decide } from '../../src/core/decide.js';
import { validatePolicy } from '../../src/core/policy.js';
import { simulate, suggestThresholds, summarize } from '../../src/simulate/figures.js';
import { percentile } from '../../src/core/percentile.js';
import { hourlyPoints, simulateHourly, simulateTimeline, type SimulationInput } from '../../src/simulate/timeline.js';

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
  // An hourly forecast gives the hourly-only view the same figures.
  t.same(sim.hourly.figures, f);
});

t.test('a 30-minute forecast: following it differs from re-evaluating hourly', async (t) => {
  const sim = simulate(input(series(T0, 30, [250, 520, 350, 290])));
  // Following the forecast: 100, 10, 50, 100 for half an hour each.
  t.same(
    sim.intervals.map((iv) => iv.cap),
    [100, 10, 50, 100],
  );
  // allowed = 0.5 x (100 + 10 + 50 + 100) = 130 of 200; withheld 70 = 35%.
  t.equal(sim.figures.allowedReplicaHours, 130);
  t.equal(sim.figures.withheldReplicaHours, 70);
  // Hourly: 00:00 sees 250 and holds 100 for the hour (missing the 520 at 00:30);
  // 01:00 sees 350 and holds 50. allowed = 100 + 50 = 150; withheld 50 = 25%.
  t.same(
    sim.hourly.intervals.map((iv) => [iv.start - T0, iv.end - T0, iv.intensity, iv.cap]),
    [
      [0, HOUR, 250, 100],
      [HOUR, 2 * HOUR, 350, 50],
    ],
  );
  t.equal(sim.hourly.figures.allowedReplicaHours, 150);
  t.equal(sim.hourly.figures.withheldPercent, 25);
  // Capacity-weighted intensity, against the real half-hour intensities:
  //   following: 0.5 x (100x250 + 10x520 + 50x350 + 100x290) / 130 = 38350 / 130 = 295
  //   hourly:    0.5 x (100x250 + 100x520 + 50x350 + 50x290) / 150 = 54500 / 150 = 363.3
  t.equal(sim.figures.capacityWeightedIntensity, 295);
  t.equal(sim.hourly.figures.capacityWeightedIntensity, 363.3);
  // Both views average the same real grid: (250 + 520 + 350 + 290) / 4 = 352.5.
  t.equal(sim.hourly.figures.averageIntensity, 352.5);
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
  const f = summarize(simulateTimeline(input(points)), 100);
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
  // Hourly, the schedule is only looked at on the hour (00:00 and 01:00): it never
  // matches, and the two identical hours read as one interval.
  t.same(
    sim.hourly.intervals.map((iv) => [iv.start - T0, iv.end - T0, iv.cap, iv.ecoMode]),
    [[0, 2 * HOUR, 50, 'on']],
  );
  t.equal(sim.hourly.figures.ecoModeOffHours, 0);
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
  // Hourly: at 01:00 only 60 minutes of history; at 02:00 120 minutes: off from then.
  t.same(
    sim.hourly.intervals.map((iv) => [iv.start - T0, iv.end - T0, iv.cap]),
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

t.test('hourly points: top-of-hour value, else the first in the hour; clipped to the span', async (t) => {
  const start = T0 + 30 * MIN;
  // 00:30 300, then a gap until 01:20, 01:20 500 (20 min), 01:40 200 (20 min).
  const points = [
    { timestamp: start, durationMinutes: 30, gCO2eqPerKWh: 300 },
    { timestamp: T0 + 80 * MIN, durationMinutes: 20, gCO2eqPerKWh: 500 },
    { timestamp: T0 + 100 * MIN, durationMinutes: 20, gCO2eqPerKWh: 200 },
  ];
  t.same(hourlyPoints(points), [
    { timestamp: start, durationMinutes: 30, gCO2eqPerKWh: 300 },
    { timestamp: T0 + HOUR, durationMinutes: 60, gCO2eqPerKWh: 500 },
  ]);
  const ivs = simulateHourly(input(points));
  t.equal(ivs[0]!.start, start, 'the hourly view starts where the forecast starts');
  t.equal(ivs[ivs.length - 1]!.end, T0 + 2 * HOUR);
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
