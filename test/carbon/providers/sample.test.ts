import t from 'tap';
import { parseIntensityConfig } from '../../../src/config/intensity.js';
import { createSampleSource, SAMPLE_CURVE, sampleDay } from '../../../src/carbon/providers/sample.js';
import { validatePoints } from '../../../src/carbon/validate.js';

t.test('sample: the bundled day replayed onto yesterday, today and tomorrow', async (t) => {
  t.equal(SAMPLE_CURVE.length, 48, 'half-hour points');
  t.ok(Math.min(...SAMPLE_CURVE) >= 150 && Math.max(...SAMPLE_CURVE) <= 550, 'a realistic range');
  t.ok(
    SAMPLE_CURVE.some((v) => v < 300) && SAMPLE_CURVE.some((v) => v >= 300 && v < 500) && SAMPLE_CURVE.some((v) => v >= 500),
    'crosses the usual 300 and 500 bands',
  );
  const now = Date.UTC(2026, 10, 22, 15, 43);
  const src = createSampleSource(parseIntensityConfig(undefined), { env: {}, now: () => now });
  t.equal(src.name, 'sample:sample');
  t.equal(src.signal, 'unknown');
  t.equal(createSampleSource(parseIntensityConfig({ provider: 'sample', signal: 'average' }), { env: {} }).signal, 'average');
  const pts = validatePoints(await src.fetch(AbortSignal.timeout(1000)), src.name);
  t.equal(pts.length, 144);
  t.equal(pts[0]!.timestamp, Date.UTC(2026, 10, 21), 'starts yesterday 00:00 UTC');
  const current = pts.find((p) => p.timestamp <= now && now < p.timestamp + 30 * 60_000)!;
  t.equal(current.gCO2eqPerKWh, SAMPLE_CURVE[31], '15:30 is the 32nd half hour');
  t.same(sampleDay(now), pts, 'deterministic');
});
