import t from 'tap';
import { parseIntensityConfig } from '../../../src/config/intensity.js';
import type { SourceError } from '../../../src/carbon/errors.js';
import { createWattTimeSource, LBS_PER_MWH_TO_G_PER_KWH } from '../../../src/carbon/providers/watttime.js';
import { validatePoints } from '../../../src/carbon/validate.js';
import { FIXTURE_NOW, fixtureJson } from '../../helpers/fixtures.js';
import { json, startServer } from '../../helpers/http.js';
import { captureLogger } from '../../helpers/log.js';
import { failureCases } from '../../helpers/provider-cases.js';

const USER = 'wt-user';
const PASSWORD = 'wt-password-very-secret';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const env = { WATTTIME_USERNAME: USER, WATTTIME_PASSWORD: PASSWORD };
const cfg = (baseUrl: string) => parseIntensityConfig({ provider: 'watttime', location: 'CAISO_NORTH', baseUrl });

/** A WattTime stand-in that issues numbered tokens and can revoke them. */
function wtServer() {
  let issued = 0;
  const valid = new Set<string>();
  const srv = startServer((req, res, url) => {
    if (url.pathname === '/login') {
      if (req.headers.authorization !== BASIC) return json(res, 401, 'Unauthorized');
      const token = `token-${++issued}`;
      valid.add(token);
      return json(res, 200, { token });
    }
    if (url.pathname === '/v3/forecast') {
      const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      if (!valid.has(bearer)) return json(res, 401, { error: 'token expired' });
      if (url.searchParams.get('region') !== 'CAISO_NORTH' || url.searchParams.get('signal_type') !== 'co2_moer') return json(res, 400, { error: 'bad query' });
      return json(res, 200, fixtureJson('watttime', 'forecast-CAISO_NORTH.json'));
    }
    json(res, 404, {});
  });
  return { srv, revokeAll: () => valid.clear(), issued: () => issued };
}

t.test('logs in, fetches the forecast and converts lbs/MWh to g/kWh', async (t) => {
  const { srv } = wtServer();
  const s = await srv;
  t.teardown(s.close);
  const src = createWattTimeSource(cfg(s.url), { env, now: () => FIXTURE_NOW });
  t.equal(src.name, 'watttime:CAISO_NORTH');
  t.equal(src.signal, 'marginal', 'co2_moer is the marginal rate');
  const points = validatePoints(await src.fetch(AbortSignal.timeout(5000)), src.name);
  t.equal(points.length, 288);
  t.equal(points[0]!.timestamp, Date.UTC(2026, 5, 1, 13, 5));
  t.equal(points[0]!.durationMinutes, 5, 'from meta.data_point_period_seconds');
  t.equal(points[0]!.gCO2eqPerKWh, 451 * 0.45359237, '451 lbs/MWh is 204.57 g/kWh');
  t.equal(LBS_PER_MWH_TO_G_PER_KWH, 0.45359237);
  t.same(
    s.requests.map((r) => r.path.split('?')[0]),
    ['/login', '/v3/forecast'],
  );
});

t.test('reuses the token for 30 minutes, then logs in again', async (t) => {
  const { srv, issued } = wtServer();
  const s = await srv;
  t.teardown(s.close);
  let now = FIXTURE_NOW;
  const src = createWattTimeSource(cfg(s.url), { env, now: () => now });
  await src.fetch(AbortSignal.timeout(5000));
  now += 20 * 60_000;
  await src.fetch(AbortSignal.timeout(5000));
  t.equal(issued(), 1, 'one login for two fetches 20 min apart');
  now += 10 * 60_000;
  await src.fetch(AbortSignal.timeout(5000));
  t.equal(issued(), 2, 'a new login before the 30 min expiry');
});

t.test('a 401 on the forecast logs in again once', async (t) => {
  const { srv, revokeAll, issued } = wtServer();
  const s = await srv;
  t.teardown(s.close);
  const src = createWattTimeSource(cfg(s.url), { env, now: () => FIXTURE_NOW });
  await src.fetch(AbortSignal.timeout(5000));
  revokeAll();
  const points = await src.fetch(AbortSignal.timeout(5000));
  t.equal(points.length, 288);
  t.equal(issued(), 2);
  t.same(
    s.requests.slice(2).map((r) => r.path.split('?')[0]),
    ['/v3/forecast', '/login', '/v3/forecast'],
  );
});

t.test('bad credentials: a clear error without the password', async (t) => {
  const { srv } = wtServer();
  const s = await srv;
  t.teardown(s.close);
  const { logger, lines } = captureLogger();
  const err = (await createWattTimeSource(cfg(s.url), { env: { ...env, WATTTIME_PASSWORD: 'wrong-password-xyz' }, logger })
    .fetch(AbortSignal.timeout(5000))
    .catch((e: unknown) => e)) as SourceError;
  t.equal(err.status, 401);
  t.match(err.message, /login.*401.*login refused; check environment variable WATTTIME_USERNAME and environment variable WATTTIME_PASSWORD/);
  t.notMatch(err.message, 'wrong-password-xyz');
  t.notMatch(lines.join(''), 'wrong-password-xyz');
});

t.test('403 for a region the account cannot see', async (t) => {
  const s = await startServer((_req, res, url) =>
    url.pathname === '/login' ? json(res, 200, { token: 'tok-abcdef' }) : json(res, 403, fixtureJson('watttime', 'error-403.json')),
  );
  t.teardown(s.close);
  await t.rejects(createWattTimeSource(cfg(s.url), { env }).fetch(AbortSignal.timeout(5000)), {
    status: 403,
    message: /INVALID_SCOPE: User does not have access to the requested region \(region CAISO_NORTH with this account\)/,
  });
});

t.test('wrong units or signal are rejected', async (t) => {
  for (const [meta, match] of [
    [{ units: 'g_co2_per_kwh' }, /units are "g_co2_per_kwh", expected "lbs_co2_per_mwh"/],
    [{ signal_type: 'health_damage' }, /signal is "health_damage"/],
    [{ region: 'PJM_DC' }, /asked for region CAISO_NORTH, the forecast is for PJM_DC/],
  ] as const) {
    const body = fixtureJson('watttime', 'forecast-CAISO_NORTH.json') as { meta: object };
    const s = await startServer((_req, res, url) =>
      url.pathname === '/login' ? json(res, 200, { token: 'tok-abcdef' }) : json(res, 200, { ...body, meta: { ...body.meta, ...meta } }),
    );
    await t.rejects(createWattTimeSource(cfg(s.url), { env }).fetch(AbortSignal.timeout(5000)), { kind: 'invalid', message: match });
    await s.close();
  }
});

t.test('a login answer without a token is invalid', async (t) => {
  const s = await startServer((_req, res) => json(res, 200, { nope: 1 }));
  t.teardown(s.close);
  await t.rejects(createWattTimeSource(cfg(s.url), { env }).fetch(AbortSignal.timeout(5000)), {
    kind: 'invalid',
    message: 'watttime: login answered without a token',
  });
});

t.test('failure answers on the forecast', (t) =>
  failureCases(
    t,
    (url) => createWattTimeSource(cfg(url), { env }),
    (url, res) => {
      if (url.pathname !== '/login') return false;
      json(res, 200, { token: 'tok-abcdef' });
      return true;
    },
  ),
);
