import t from 'tap';
import type { IntensityPoint } from '../../src/core/carbon.js';
import { validatePolicy } from '../../src/core/policy.js';
import { simulate } from '../../src/simulate/figures.js';
import { idealCaps, idealShift, type Piece } from '../../src/simulate/ideal.js';
import { jsonReport, textReport } from '../../src/simulate/report.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');
const HOUR = 3_600_000;

// Four hours out of order (300, 100, 400, 200 gCO2eq/kWh), declared max 10, floor 2, and a
// policy that gave them caps 4, 10, 4, 10: a budget of 28 replica-hours, 7 on average.
//   policy:  (4*300 + 10*100 + 4*400 + 10*200) / (300+100+400+200) = 5800 / 1000 = 5.8 -> 5.8/7 - 1 = -17.14%
//   ideal:   floor 2 everywhere (8), the other 20 to the cleanest first: 100 -> 10 (8),
//            200 -> 10 (8), 300 -> 2 + 4 = 6, 400 stays 2.
//            (6*300 + 10*100 + 2*400 + 10*200) / 1000 = 5600 / 1000 = 5.6 -> 5.6/7 - 1 = -20%
//   share:   17.142857 / 20 = 85.71%
const FOUR: Piece[] = [
  { hours: 1, intensity: 300, cap: 4 },
  { hours: 1, intensity: 100, cap: 10 },
  { hours: 1, intensity: 400, cap: 4 },
  { hours: 1, intensity: 200, cap: 10 },
];

t.test('the ideal placement: floor everywhere, then the cleanest hours up to the declared max', async (t) => {
  t.same(idealCaps(FOUR, 2, 10), [6, 10, 2, 10]);
  const ideal = idealShift(FOUR, 2, 10)!;
  t.equal(ideal.intensityWeightedCap, 5.6);
  t.equal(Math.round(ideal.shiftPercent * 1e9) / 1e9, -20);
  t.equal(Math.round(ideal.sharePercent! * 1e6) / 1e6, 85.714286);
});

t.test('pieces of other lengths: the budget is replica-hours, and a piece may get a fraction', async (t) => {
  // Half an hour at 100 and two hours at 500, caps 5 and 5: 12.5 replica-hours; floor 1, declared 9.
  // Ideal: floor 1 everywhere (2.5), 10 left; the clean half hour takes (9-1)*0.5 = 4 -> 9,
  // the dirty two hours the other 6 -> 1 + 6/2 = 4.
  const pieces: Piece[] = [
    { hours: 0.5, intensity: 100, cap: 5 },
    { hours: 2, intensity: 500, cap: 5 },
  ];
  t.same(idealCaps(pieces, 1, 9), [9, 4]);
  // Average cap 5; ideal (9*100*0.5 + 4*500*2) / (50 + 1000) = 4450 / 1050 = 4.2381 -> -15.24%;
  // the flat policy shifts nothing: 0% of the ideal.
  const ideal = idealShift(pieces, 1, 9)!;
  t.equal(Math.round(ideal.intensityWeightedCap * 1e4) / 1e4, 4.2381);
  t.equal(Math.round(ideal.shiftPercent * 100) / 100, -15.24);
  t.equal(ideal.sharePercent, 0);
});

t.test('no share where the ideal shifts nothing; a negative share for a policy that favours dirty hours', async (t) => {
  const flat: Piece[] = [
    { hours: 1, intensity: 300, cap: 2 },
    { hours: 1, intensity: 300, cap: 10 },
  ];
  t.equal(idealShift(flat, 2, 10)!.sharePercent, null, 'a flat grid: every placement is ideal');
  const full: Piece[] = FOUR.map((p) => ({ ...p, cap: 10 }));
  t.equal(idealShift(full, 2, 10)!.sharePercent, null, 'the declared max everywhere: nothing to move');
  const backwards: Piece[] = FOUR.map((p) => ({ ...p, cap: p.intensity >= 300 ? 10 : 4 }));
  // (10*300 + 4*100 + 10*400 + 4*200) / 1000 = 8.2 -> 8.2/7 - 1 = +17.14%, against the ideal -20%.
  t.equal(Math.round(idealShift(backwards, 2, 10)!.sharePercent! * 1e6) / 1e6, -85.714286);
  t.equal(idealShift([], 2, 10), null, 'no hours with data');
});

t.test('simulate reports the ideal beside the shift, in text and JSON, defined as the shift is', async (t) => {
  // The four hours above as a forecast, and a policy giving them exactly those caps (min 2 -> floor 2).
  const points: IntensityPoint[] = [300, 100, 400, 200].map((v, i) => ({ timestamp: T0 + i * HOUR, durationMinutes: 60, gCO2eqPerKWh: v }));
  const policy = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 4 }] });
  const sim = simulate({ policy, points, declared: 10, minReplicas: 2, source: 'test:zone' });
  t.same(
    sim.intervals.map((iv) => iv.cap),
    [4, 10, 4, 10],
  );
  t.match(sim.figures, {
    averageCap: 7,
    intensityWeightedCap: 5.8,
    shiftPercent: -17.1,
    idealIntensityWeightedCap: 5.6,
    idealShiftPercent: -20,
    shareOfIdealPercent: 85.7,
  });
  const ctx = { policyOrigin: 'p.yaml', policy, forecastOrigin: 'f.json', pointCount: 4, declared: 10, minReplicas: 2 };
  const text = textReport(ctx, sim);
  t.match(text, /^ {2}average cap, intensity-weighted +5\.8 \(-17\.1%\) +5\.8 \(-17\.1%\)$/m);
  t.match(text, /^ {2}ideal for the same replica-hours +5\.6 \(-20%\) +5\.6 \(-20%\)$/m);
  t.match(text, /^ {2}share of the ideal shift captured +85\.7% +85\.7%$/m);
  t.match(text, /unweighted \([-+\d.]+%\), [-\d.]+% of the ideal shift$/m, 'the suggestion says its share too');
  const json = jsonReport(ctx, sim) as { summary: Record<string, unknown>; operator: { summary: Record<string, unknown> } };
  t.match(json.summary, { shiftPercent: -17.1, idealShiftPercent: -20, shareOfIdealPercent: 85.7 });
  t.match(json.operator.summary, { idealShiftPercent: -20, shareOfIdealPercent: 85.7 }, 'hourly points: the operator sees the same caps');
});

t.test('the ideal covers the hours with data only, as the shift does', async (t) => {
  // A gap hour (onMissingData declared: cap 10) between two hours with data; it is outside both averages.
  const points: IntensityPoint[] = [
    { timestamp: T0, durationMinutes: 60, gCO2eqPerKWh: 100 },
    { timestamp: T0 + 2 * HOUR, durationMinutes: 60, gCO2eqPerKWh: 400 },
  ];
  const policy = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 4 }] });
  const f = simulate({ policy, points, declared: 10, minReplicas: 0, source: 'test:zone' }).figures;
  // Data hours: 100 -> 10, 400 -> 4: budget 14, average 7. Ideal: floor 1 each, 12 left: 100 -> 10 (9), 400 -> 1 + 3 = 4.
  // The policy is already ideal here.
  t.match(f, { missingDataHours: 1, averageCap: 7, idealShiftPercent: f.shiftPercent, shareOfIdealPercent: 100 });
});
