import t from 'tap';
import { parseIntensityConfig } from '../../../src/config/intensity.js';
import { createUkCarbonIntensitySource, halfHourStart, parseUkLocation } from '../../../src/carbon/providers/uk-carbon-intensity.js';
import { validatePoints } from '../../../src/carbon/validate.js';
import { FIXTURE_NOW, fixtureJson } from '../../helpers/fixtures.js';
import { json, startServer } from '../../helpers/http.js';
import { failureCases } from '../../helpers/provider-cases.js';

const cfg = (baseUrl: string, location = 'national') => parseIntensityConfig({ provider: 'uk-carbon-intensity', location, baseUrl });
const deps = { env: {}, now: () => FIXTURE_NOW };

/** The regional fw48h answer: the national periods wrapped in a region object. */
function regionalForecast(extra: Record<string, unknown>) {
  const fw = fixtureJson('uk-carbon-intensity', 'fw48h.json') as { data: { from: string; to: string; intensity: { forecast: number } }[] };
  return {
    data: {
      regionid: 12,
      shortname: 'South England',
      ...extra,
      data: fw.data.map((p) => ({ ...p, intensity: { forecast: p.intensity.forecast + 10, index: 'low' } })),
    },
  };
}

t.test('national: current half hour over the 48 h forecast; null actual uses the forecast', async (t) => {
  const srv = await startServer((_req, res, url) => {
    if (url.pathname === '/intensity') return json(res, 200, fixtureJson('uk-carbon-intensity', 'intensity.json'));
    if (url.pathname === '/intensity/2026-06-01T13:00Z/fw48h') return json(res, 200, fixtureJson('uk-carbon-intensity', 'fw48h.json'));
    json(res, 400, fixtureJson('uk-carbon-intensity', 'error-400.json'));
  });
  t.teardown(srv.close);
  const src = createUkCarbonIntensitySource(cfg(srv.url), deps);
  t.equal(src.signal, 'average', 'NESO reports the average of the mix');
  const points = validatePoints(await src.fetch(AbortSignal.timeout(5000)), src.name);
  t.equal(points.length, 96, 'two days of half hours');
  t.same(points[0], { timestamp: Date.UTC(2026, 5, 1, 13), durationMinutes: 30, gCO2eqPerKWh: 139 }, "/intensity's actual wins for the current half hour");
  t.same(points[1], { timestamp: Date.UTC(2026, 5, 1, 13, 30), durationMinutes: 30, gCO2eqPerKWh: 107 }, 'actual null: forecast');
});

t.test('regional by postcode and by region id', async (t) => {
  const srv = await startServer((_req, res, url) => {
    if (url.pathname === '/regional/postcode/RG10') return json(res, 200, fixtureJson('uk-carbon-intensity', 'regional-postcode-RG10.json'));
    if (url.pathname === '/regional/intensity/2026-06-01T13:00Z/fw48h/postcode/RG10') return json(res, 200, regionalForecast({ postcode: 'RG10' }));
    if (url.pathname === '/regional/regionid/13') {
      const body = fixtureJson('uk-carbon-intensity', 'regional-postcode-RG10.json') as { data: Record<string, unknown>[] };
      return json(res, 200, { data: [{ ...body.data[0], regionid: 13 }] });
    }
    if (url.pathname === '/regional/intensity/2026-06-01T13:00Z/fw48h/regionid/13') return json(res, 200, regionalForecast({ regionid: 13 }));
    json(res, 400, fixtureJson('uk-carbon-intensity', 'error-400.json'));
  });
  t.teardown(srv.close);
  const byPostcode = await createUkCarbonIntensitySource(cfg(srv.url, 'RG10 6XX'), deps).fetch(AbortSignal.timeout(5000));
  t.equal(byPostcode[0]!.gCO2eqPerKWh, 121, 'current regional forecast');
  t.equal(byPostcode[1]!.gCO2eqPerKWh, 117, 'then the regional fw48h');
  t.equal(byPostcode.length, 96);
  const byId = await createUkCarbonIntensitySource(cfg(srv.url, '13'), deps).fetch(AbortSignal.timeout(5000));
  t.equal(byId.length, 96);
});

t.test('the API error body is passed on', async (t) => {
  const srv = await startServer((_req, res) => json(res, 400, fixtureJson('uk-carbon-intensity', 'error-400.json')));
  t.teardown(srv.close);
  await t.rejects(createUkCarbonIntensitySource(cfg(srv.url), deps).fetch(AbortSignal.timeout(5000)), {
    status: 400,
    message: /400 .*Please enter a valid ISO8601 datetime/,
  });
});

t.test('locations and the from parameter', async (t) => {
  t.same(parseUkLocation('GB'), { kind: 'national' });
  t.same(parseUkLocation('17'), { kind: 'regionid', id: 17 });
  t.same(parseUkLocation('sw1a 1aa'), { kind: 'postcode', postcode: 'SW1A' });
  t.throws(() => parseUkLocation('18'), { key: 'intensity.location', message: /region id 18 is not one of the API's regions 1-17/ });
  t.throws(() => parseUkLocation('Paris'), { key: 'intensity.location', message: /"Paris" is not "national", a region id 1-17 or a GB postcode/ });
  t.equal(halfHourStart(Date.UTC(2026, 5, 1, 13, 29, 59)), '2026-06-01T13:00Z');
  t.equal(halfHourStart(Date.UTC(2026, 5, 1, 13, 30)), '2026-06-01T13:30Z');
});

t.test('failure answers', (t) => failureCases(t, (url) => createUkCarbonIntensitySource(cfg(url), deps)));
