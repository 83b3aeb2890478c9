import t from 'tap';
import { exportCarbonGauges } from '../../src/carbon/gauges.js';
import { Refresher } from '../../src/carbon/refresher.js';
import { CarbonStore } from '../../src/carbon/store.js';
import type { IntensityPoint } from '../../src/core/carbon.js';
import { createMetrics } from '../../src/server/metrics.js';
import { FakeClock } from '../helpers/clock.js';

const M = 60_000;
const H = 60 * M;
const T0 = Date.UTC(2026, 5, 1, 12);
const LABELS = { source: 'scripted', location: 'ZONE', signal: 'unknown' };

const hourly = (values: number[]): IntensityPoint[] => values.map((v, i) => ({ timestamp: T0 + i * H, durationMinutes: 60, gCO2eqPerKWh: v }));

function setup(signal?: 'marginal' | 'average') {
  const clock = new FakeClock(T0);
  const store = new CarbonStore({ source: 'scripted:ZONE', maxDataAgeMs: 2 * H });
  const metrics = createMetrics().carbon;
  const gauges = exportCarbonGauges(store, { name: 'scripted:ZONE', ...(signal ? { signal } : {}) }, metrics, clock);
  return { clock, store, metrics, gauges };
}

const values = async (g: { get(): Promise<{ values: Array<{ labels: object; value: number }> }> }) => (await g.get()).values.map((v) => [v.labels, v.value]);

t.test('a fetch the refresher stores sets the gauges: current intensity, data age, staleness limit, forecast offsets', async (t) => {
  const { clock, store, metrics, gauges } = setup();
  t.teardown(() => gauges.stop());
  const refresher = new Refresher({
    source: { name: 'scripted:ZONE', fetch: async () => hourly([321, 300, 300, 280, 250, 240, 230]) },
    store,
    clock,
    refreshIntervalMs: 5 * M,
    timeoutMs: 10_000,
  });
  t.same(await refresher.refreshNow(), { ok: true, points: 7 });
  t.same(await values(metrics.carbonIntensity), [[LABELS, 321]]);
  t.same(await values(metrics.carbonDataAge), [[LABELS, 0]]);
  t.same(await values(metrics.carbonMaxDataAge), [[LABELS, 7200]]);
  t.same(await values(metrics.carbonForecast), [
    [{ ...LABELS, offset: '1h' }, 300],
    [{ ...LABELS, offset: '3h' }, 280],
    [{ ...LABELS, offset: '6h' }, 230],
  ]);
});

t.test('record() at a later moment: the data age counts, a stale current value and uncovered offsets disappear', async (t) => {
  const { store, metrics, gauges } = setup();
  t.teardown(() => gauges.stop());
  store.update(hourly([321, 300, 290, 280]), T0);
  gauges.record(T0 + 90_000);
  t.same(await values(metrics.carbonIntensity), [[LABELS, 321]]);
  t.equal((await metrics.carbonDataAge.get()).values[0]?.value, 90);
  gauges.record(T0 + 3 * H);
  t.same((await metrics.carbonIntensity.get()).values, [], 'no current value once stale');
  t.equal((await metrics.carbonDataAge.get()).values[0]?.value, 3 * 3600);
  t.same(await values(metrics.carbonForecast), [], 'no point covers now + 1h, 3h or 6h');
});

t.test('the signal labels every gauge; before any data only the staleness limit is set', async (t) => {
  const { metrics, gauges } = setup('marginal');
  t.teardown(() => gauges.stop());
  gauges.record();
  t.same(await values(metrics.carbonMaxDataAge), [[{ ...LABELS, signal: 'marginal' }, 7200]]);
  t.same((await metrics.carbonDataAge.get()).values, []);
  t.same((await metrics.carbonIntensity.get()).values, []);
});

t.test('after stop the gauges no longer follow the store', async (t) => {
  const { store, metrics, gauges } = setup();
  store.update(hourly([100]), T0);
  t.same(await values(metrics.carbonIntensity), [[LABELS, 100]]);
  gauges.stop();
  store.update(hourly([200]), T0 + M);
  t.same(await values(metrics.carbonIntensity), [[LABELS, 100]], 'the change after stop is not exported');
});
