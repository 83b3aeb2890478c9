import t from 'tap';
import type { IntensityPoint } from '../../src/core/carbon.js';
import { validatePolicy } from '../../src/core/policy.js';
import { simulate } from '../../src/simulate/figures.js';
import { jsonReport, textReport } from '../../src/simulate/report.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');
const HOUR = 3_600_000;

// Two days of a grid that is dirty in the evening and clean around noon (solar), with a
// windier, cleaner second day: a fixed threshold tuned for day one fits day two badly.
function forecast48h(): IntensityPoint[] {
  return Array.from({ length: 48 }, (_, i) => {
    const hour = i % 24;
    const dayShift = i < 24 ? 0 : -80;
    const v = 350 + dayShift + 120 * Math.cos(((hour - 19) / 24) * 2 * Math.PI);
    return { timestamp: T0 + i * HOUR, durationMinutes: 60, gCO2eqPerKWh: Math.round(v * 10) / 10 };
  });
}

t.test('simulate over a 48-hour forecast with a percentile policy runs the capacity below the grid average', async (t) => {
  const policy = validatePolicy({
    carbon: [
      { measuredEmission: 'p50', allowedMaxReplicaCount: '50%' },
      { measuredEmission: 'p80', allowedMaxReplicaCount: '25%' },
    ],
  });
  const sim = simulate({ policy, points: forecast48h(), declared: 40, minReplicas: 0, source: 'test:zone' });
  const f = sim.figures;
  t.ok(f.averageIntensity !== null && f.capacityWeightedIntensity !== null);
  t.ok(f.capacityWeightedIntensity! < f.averageIntensity!, `capacity-weighted ${f.capacityWeightedIntensity} < grid average ${f.averageIntensity}`);
  t.equal(f.missingDataHours, 0, 'the 48 hours always hold at least 6 h in the window');
  const rules = new Set(sim.intervals.map((iv) => iv.rule));
  t.ok(
    [...rules].some((r) => r !== null && /^measuredEmission>=p80 \(\d+(\.\d)?\)$/.test(r)),
    'the resolved p80 is shown next to the percentile',
  );
  t.ok(
    [...rules].some((r) => r?.startsWith('measuredEmission>=p50 (')),
    'and p50',
  );
  // Both days get capped: the threshold travels with the cleaner second day.
  const cappedOnDay = (d: number) => sim.intervals.some((iv) => iv.cap < 40 && iv.start >= T0 + d * 24 * HOUR && iv.start < T0 + (d + 1) * 24 * HOUR);
  t.ok(cappedOnDay(0) && cappedOnDay(1), 'capped on both days');
});

t.test('the report says the mode, the window and the signal', async (t) => {
  const policy = validatePolicy({
    mode: 'observe',
    carbon: [{ measuredEmission: 'p80', allowedMaxReplicaCount: '25%' }],
    relativeWindow: { past: '12h', ahead: '24h' },
  });
  const sim = simulate({ policy, points: forecast48h(), declared: 40, minReplicas: 0, source: 'test:zone' });
  const ctx = { policyOrigin: 'p.yaml', policy, forecastOrigin: 'f.json', signal: 'marginal' as const, pointCount: 48, declared: 40, minReplicas: 0 };
  const text = textReport(ctx, sim);
  t.match(text, /^Policy: +p\.yaml \(carbon form, 1 band, percentiles over 12h past and 24h ahead\)$/m);
  t.match(text, /^Mode: +observe \(the webhook would only write these caps into the status; the spec keeps the declared max\)$/m);
  t.match(text, /^Forecast: f\.json, marginal signal, 48 points/m);
  t.match(jsonReport(ctx, sim), { policy: { mode: 'observe', relativeWindow: { pastHours: 12, aheadHours: 24 } }, forecast: { signal: 'marginal' } });
});
