import t from 'tap';
import { parseIntensityConfig } from '../../../src/config/intensity.js';
import type { SourceError } from '../../../src/carbon/errors.js';
import { createElectricityMapsSource } from '../../../src/carbon/providers/electricitymaps.js';
import { validatePoints } from '../../../src/carbon/validate.js';
import { fixtureJson } from '../../helpers/fixtures.js';
import { json, startServer } from '../../helpers/http.js';
import { captureLogger } from '../../helpers/log.js';
import { failureCases } from '../../helpers/provider-cases.js';

const TOKEN = 'em-secret-token-123456';
const env = { ELECTRICITYMAPS_TOKEN: TOKEN };
const cfg = (baseUrl: string, extra: Record<string, unknown> = {}) => parseIntensityConfig({ provider: 'electricitymaps', location: 'DE', baseUrl, ...extra });

function emServer(opts: { forecastStatus?: number } = {}) {
  return startServer((req, res, url) => {
    if (req.headers['auth-token'] !== TOKEN) return json(res, 401, fixtureJson('electricitymaps', 'error-401.json'));
    if (url.pathname === '/v3/carbon-intensity/latest') return json(res, 200, fixtureJson('electricitymaps', 'latest-DE.json'));
    if (url.pathname === '/v3/carbon-intensity/forecast') {
      if (opts.forecastStatus) return json(res, opts.forecastStatus, { message: 'forecast not included in your plan' });
      return json(res, 200, fixtureJson('electricitymaps', 'forecast-DE.json'));
    }
    json(res, 404, { message: 'no route' });
  });
}

t.test('latest laid over the hourly forecast, with the auth-token header', async (t) => {
  const srv = await emServer();
  t.teardown(srv.close);
  const src = createElectricityMapsSource(cfg(srv.url), { env });
  t.equal(src.name, 'electricitymaps:DE');
  t.equal(src.signal, 'average');
  const points = validatePoints(await src.fetch(AbortSignal.timeout(5000)), src.name);
  t.equal(points.length, 24);
  t.same(points[0], { timestamp: Date.UTC(2026, 5, 1, 13), durationMinutes: 60, gCO2eqPerKWh: 266 }, 'latest (266) replaces the forecast (261) for 13:00');
  t.same(points[1], { timestamp: Date.UTC(2026, 5, 1, 14), durationMinutes: 60, gCO2eqPerKWh: 311 });
  t.same(points[23], { timestamp: Date.UTC(2026, 5, 2, 12), durationMinutes: 60, gCO2eqPerKWh: 240 }, 'last point keeps the hourly step');
  t.same(
    srv.requests.map((r) => r.path),
    ['/v3/carbon-intensity/latest?zone=DE', '/v3/carbon-intensity/forecast?zone=DE'],
  );
});

t.test('emissionFactorType is sent to the API', async (t) => {
  const srv = await emServer();
  t.teardown(srv.close);
  const src = createElectricityMapsSource(cfg(srv.url, { emissionFactorType: 'direct' }), { env });
  await src.fetch(AbortSignal.timeout(5000));
  t.same(
    srv.requests.map((r) => r.path),
    ['/v3/carbon-intensity/latest?zone=DE&emissionFactorType=direct', '/v3/carbon-intensity/forecast?zone=DE&emissionFactorType=direct'],
  );
  t.equal(src.signal, 'average', 'lifecycle or direct, it is the average of the mix');
});

t.test('lat,lon location queries by coordinates', async (t) => {
  const srv = await startServer((_req, res, url) => {
    if (url.pathname.endsWith('/latest')) return json(res, 200, { ...(fixtureJson('electricitymaps', 'latest-DE.json') as object) });
    json(res, 200, fixtureJson('electricitymaps', 'forecast-DE.json'));
  });
  t.teardown(srv.close);
  const src = createElectricityMapsSource(cfg(srv.url, { location: '52.52,13.405' }), { env });
  await src.fetch(AbortSignal.timeout(5000));
  t.equal(srv.requests[0]!.path, '/v3/carbon-intensity/latest?lat=52.52&lon=13.405');
});

t.test('a plan without forecasts still gives the current hour', async (t) => {
  const srv = await emServer({ forecastStatus: 403 });
  t.teardown(srv.close);
  const { logger, lines } = captureLogger();
  const src = createElectricityMapsSource(cfg(srv.url), { env, logger });
  const points = await src.fetch(AbortSignal.timeout(5000));
  t.same(points, [{ timestamp: Date.UTC(2026, 5, 1, 13), durationMinutes: 60, gCO2eqPerKWh: 266 }]);
  t.ok(lines.some((l) => /no forecast for this token or zone/.test(l)));
});

t.test('a forecast failing otherwise fails the fetch', async (t) => {
  const srv = await emServer({ forecastStatus: 500 });
  t.teardown(srv.close);
  const err = await createElectricityMapsSource(cfg(srv.url), { env })
    .fetch(AbortSignal.timeout(5000))
    .catch((e: SourceError) => e);
  t.equal((err as SourceError).status, 500);
});

t.test('an answer for another zone is rejected', async (t) => {
  const srv = await startServer((_req, res, url) => {
    if (url.pathname.endsWith('/latest')) return json(res, 200, { ...(fixtureJson('electricitymaps', 'latest-DE.json') as object), zone: 'FR' });
    json(res, 200, fixtureJson('electricitymaps', 'forecast-DE.json'));
  });
  t.teardown(srv.close);
  await t.rejects(createElectricityMapsSource(cfg(srv.url), { env }).fetch(AbortSignal.timeout(5000)), {
    kind: 'invalid',
    message: /asked for zone DE, the answer is for FR/,
  });
});

t.test('null carbonIntensity (no data yet) is invalid, not zero', async (t) => {
  const srv = await startServer((_req, res, url) => {
    if (url.pathname.endsWith('/latest')) return json(res, 200, { zone: 'DE', carbonIntensity: null, datetime: '2026-06-01T13:00:00.000Z' });
    json(res, 200, fixtureJson('electricitymaps', 'forecast-DE.json'));
  });
  t.teardown(srv.close);
  await t.rejects(createElectricityMapsSource(cfg(srv.url), { env }).fetch(AbortSignal.timeout(5000)), {
    kind: 'invalid',
    message: /latest.carbonIntensity: null is not a finite number/,
  });
});

t.test('credentials: env var, mounted file, never in messages', async (t) => {
  const srv = await startServer((req, res) => json(res, 401, { message: `Invalid auth-token ${String(req.headers['auth-token'])}` }));
  t.teardown(srv.close);
  const { logger, lines } = captureLogger();
  const err = (await createElectricityMapsSource(cfg(srv.url), { env, logger })
    .fetch(AbortSignal.timeout(5000))
    .catch((e: unknown) => e)) as SourceError;
  t.equal(err.status, 401);
  t.notMatch(err.message, TOKEN, 'the echoed token is redacted');
  t.match(err.message, /\[redacted\].*check the token in environment variable ELECTRICITYMAPS_TOKEN/);
  t.notOk(lines.join('').includes(TOKEN), 'nothing logged carries the token');

  await t.rejects(createElectricityMapsSource(cfg(srv.url), { env: {} }).fetch(AbortSignal.timeout(5000)), {
    kind: 'config',
    message: 'intensity.tokenEnv: environment variable ELECTRICITYMAPS_TOKEN is not set or empty',
  });
  const ok = await emServer();
  t.teardown(ok.close);
  const fromFile = createElectricityMapsSource(cfg(ok.url, { tokenFile: '/run/secrets/em/token' }), {
    env: {},
    readFile: async (p) => (p === '/run/secrets/em/token' ? `${TOKEN}\n` : Promise.reject(Object.assign(new Error('nope'), { code: 'ENOENT' }))),
  });
  t.equal((await fromFile.fetch(AbortSignal.timeout(5000))).length, 24, 'token read from the mounted file (trailing newline trimmed)');
  await t.rejects(
    createElectricityMapsSource(cfg(ok.url, { tokenFile: '/missing' }), {
      env: {},
      readFile: async () => Promise.reject(Object.assign(new Error('x'), { code: 'ENOENT' })),
    }).fetch(AbortSignal.timeout(5000)),
    {
      kind: 'config',
      message: 'intensity.tokenFile: cannot read credential file /missing: no such file',
    },
  );
});

t.test('failure answers', (t) => failureCases(t, (url) => createElectricityMapsSource(cfg(url), { env })));
