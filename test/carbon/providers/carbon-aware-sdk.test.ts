import t from 'tap';
import { parseIntensityConfig } from '../../../src/config/intensity.js';
import { createCarbonAwareSdkSource, parseTimeSpanMinutes } from '../../../src/carbon/providers/carbon-aware-sdk.js';
import { validatePoints } from '../../../src/carbon/validate.js';
import { fixtureJson } from '../../helpers/fixtures.js';
import { json, startServer } from '../../helpers/http.js';
import { failureCases } from '../../helpers/provider-cases.js';

const cfg = (baseUrl: string, extra: Record<string, unknown> = {}) =>
  parseIntensityConfig({ provider: 'carbon-aware-sdk', location: 'westus', baseUrl, ...extra });

t.test('latest measured value over the current forecast', async (t) => {
  const srv = await startServer((_req, res, url) => {
    if (url.searchParams.get('location') !== 'westus') return json(res, 400, { title: 'bad location' });
    if (url.pathname === '/emissions/bylocations') return json(res, 200, fixtureJson('carbon-aware-sdk', 'bylocations-westus.json'));
    if (url.pathname === '/emissions/forecasts/current') return json(res, 200, fixtureJson('carbon-aware-sdk', 'forecasts-current-westus.json'));
    json(res, 404, {});
  });
  t.teardown(srv.close);
  const src = createCarbonAwareSdkSource(cfg(srv.url), { env: {} });
  t.equal(src.name, 'carbon-aware-sdk:westus');
  t.equal(src.signal, 'unknown', 'the SDK cannot say which signal its data source gives');
  t.equal(createCarbonAwareSdkSource(cfg(srv.url, { signal: 'marginal' }), { env: {} }).signal, 'marginal', 'the configuration declares it');
  const points = validatePoints(await src.fetch(AbortSignal.timeout(5000)), src.name);
  t.same(points[0], { timestamp: Date.UTC(2026, 5, 1, 13), durationMinutes: 5, gCO2eqPerKWh: 208.95 }, 'bylocations rating, TimeSpan duration');
  t.same(points[1], { timestamp: Date.UTC(2026, 5, 1, 13, 5), durationMinutes: 5, gCO2eqPerKWh: 204.5603 });
  t.equal(points.length, 1 + 288);
});

t.test('501 (the data source cannot forecast): the measured value alone', async (t) => {
  const srv = await startServer((_req, res, url) => {
    if (url.pathname === '/emissions/bylocations') return json(res, 200, fixtureJson('carbon-aware-sdk', 'bylocations-westus.json'));
    json(res, 501, { title: 'Not Implemented', detail: 'forecasts are not supported by this data source' });
  });
  t.teardown(srv.close);
  const points = await createCarbonAwareSdkSource(cfg(srv.url), { env: {} }).fetch(AbortSignal.timeout(5000));
  t.same(points, [{ timestamp: Date.UTC(2026, 5, 1, 13), durationMinutes: 5, gCO2eqPerKWh: 208.95 }]);
});

t.test('an empty forecast list is rejected', async (t) => {
  const srv = await startServer((_req, res, url) => json(res, 200, url.pathname === '/emissions/bylocations' ? [] : []));
  t.teardown(srv.close);
  await t.rejects(createCarbonAwareSdkSource(cfg(srv.url), { env: {} }).fetch(AbortSignal.timeout(5000)), {
    kind: 'invalid',
    message: /forecasts\/current returned no forecast/,
  });
});

t.test('TimeSpan durations', async (t) => {
  t.equal(parseTimeSpanMinutes('00:05:00', 'd'), 5);
  t.equal(parseTimeSpanMinutes('1.02:30:00', 'd'), 1590);
  t.equal(parseTimeSpanMinutes('00:00:30', 'd'), 0.5);
  t.throws(() => parseTimeSpanMinutes('5m', 'bylocations[0].duration'), /bylocations\[0\].duration: "5m" is not a duration such as "00:05:00"/);
});

t.test('failure answers', (t) => failureCases(t, (url) => createCarbonAwareSdkSource(cfg(url), { env: {} })));
