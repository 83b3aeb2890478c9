import t from 'tap';
import type { IntensityPoint } from '../../src/core/carbon.js';
import { validatePolicy } from '../../src/core/policy.js';
import { simulate } from '../../src/simulate/figures.js';
import { jsonReport, textReport } from '../../src/simulate/report.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');

t.test('the timeline shows each intensity on the side of the threshold its rule names', async (t) => {
  const policy = validatePolicy({
    carbon: [
      { measuredEmission: 300, allowedMaxReplicaCount: '50%' },
      { measuredEmission: 500, allowedMaxReplicaCount: 10 },
    ],
  });
  const values = [299.96, 300, 300.04, 412.34, 499.96, 500, 500.04];
  const points: IntensityPoint[] = values.map((v, i) => ({ timestamp: T0 + i * 3_600_000, durationMinutes: 60, gCO2eqPerKWh: v }));
  const sim = simulate({ policy, points, declared: 40, minReplicas: 0, source: 'test:zone' });
  const ctx = { policyOrigin: 'p.yaml', policy, forecastOrigin: 'f.json', pointCount: points.length, declared: 40, minReplicas: 0 };

  const rows = textReport(ctx, sim)
    .split('\n')
    .filter((l) => /^ {2}2026-06-01 \d\d:\d\dZ {2}2026/.test(l));
  t.same(
    rows.map((l) => l.split(/\s{2,}/).slice(3, 5)),
    [
      ['299.96', '40'],
      ['300', '20'],
      ['300.04', '20'],
      ['412.3', '20'],
      ['499.96', '20'],
      ['500', '10'],
      ['500.04', '10'],
    ],
    'intensity and cap per hour: 499.96 is not shown as 500 next to the 300 band',
  );
  t.match(rows[4], /measuredEmission>=300 \(499\.96 gCO2eq\/kWh >= 300\)$/);
  t.match(rows[0], /299\.96 gCO2eq\/kWh is below every rule$/);

  const json = jsonReport(ctx, sim) as { timeline: { intensity: number; rule: string | null; cap: number }[] };
  t.same(
    json.timeline.map((iv) => [iv.intensity, iv.rule, iv.cap]),
    [
      [299.96, null, 40],
      [300, 'measuredEmission>=300', 20],
      [300.04, 'measuredEmission>=300', 20],
      [412.3, 'measuredEmission>=300', 20],
      [499.96, 'measuredEmission>=300', 20],
      [500, 'measuredEmission>=500', 10],
      [500.04, 'measuredEmission>=500', 10],
    ],
  );
});
