import t from 'tap';
import { parseIntensityConfig } from '../../../src/config/intensity.js';
import { createPrometheusSource } from '../../../src/carbon/providers/prometheus.js';
import { fixtureJson } from '../../helpers/fixtures.js';
import { json, startServer } from '../../helpers/http.js';
import { failureCases } from '../../helpers/provider-cases.js';

const QUERY = 'carbon_intensity{zone="DE"}';
const SAMPLE_T = 1780318800_000;
const cfg = (baseUrl: string, extra: Record<string, unknown> = {}) =>
  parseIntensityConfig({ provider: 'prometheus', query: QUERY, location: 'DE', baseUrl, maxDataAge: '2h', ...extra });

t.test('one sample becomes the current point, valid until maxDataAge', async (t) => {
  const srv = await startServer((req, res, url) => {
    if (url.pathname !== '/api/v1/query' || url.searchParams.get('query') !== QUERY) return json(res, 400, fixtureJson('prometheus', 'error-bad-query.json'));
    json(res, 200, fixtureJson('prometheus', 'query-vector.json'));
  });
  t.teardown(srv.close);
  const src = createPrometheusSource(cfg(srv.url), { env: {}, now: () => SAMPLE_T + 1000 });
  t.equal(src.name, 'prometheus:DE');
  t.equal(src.signal, 'unknown');
  t.equal(createPrometheusSource(cfg(srv.url, { signal: 'average' }), { env: {} }).signal, 'average');
  t.same(await src.fetch(AbortSignal.timeout(5000)), [{ timestamp: SAMPLE_T, durationMinutes: 120, gCO2eqPerKWh: 386.5 }]);
  t.equal(srv.requests[0]!.headers.authorization, undefined, 'no bearer unless configured');
  const ahead = createPrometheusSource(cfg(srv.url), { env: {}, now: () => SAMPLE_T - 2000 });
  t.equal((await ahead.fetch(AbortSignal.timeout(5000)))[0]!.timestamp, SAMPLE_T - 2000, 'a server clock ahead of ours still covers now');
});

t.test('optional bearer token', async (t) => {
  const srv = await startServer((req, res) =>
    req.headers.authorization === 'Bearer prom-token-42' ? json(res, 200, fixtureJson('prometheus', 'query-vector.json')) : json(res, 401, 'unauthorized'),
  );
  t.teardown(srv.close);
  const points = await createPrometheusSource(cfg(srv.url, { tokenEnv: 'PROM_TOKEN' }), { env: { PROM_TOKEN: 'prom-token-42' } }).fetch(
    AbortSignal.timeout(5000),
  );
  t.equal(points[0]!.gCO2eqPerKWh, 386.5);
  await t.rejects(createPrometheusSource(cfg(srv.url), { env: {} }).fetch(AbortSignal.timeout(5000)), {
    status: 401,
    message: /the server wants a bearer token: set tokenEnv or tokenFile/,
  });
});

t.test('empty, several series, NaN, bad query, scalar', async (t) => {
  let body: unknown;
  let status = 200;
  const srv = await startServer((_req, res) => json(res, status, body));
  t.teardown(srv.close);
  const src = createPrometheusSource(cfg(srv.url), { env: {}, now: () => SAMPLE_T });
  body = fixtureJson('prometheus', 'query-empty.json');
  await t.rejects(src.fetch(AbortSignal.timeout(5000)), { kind: 'invalid', message: `prometheus: query ${JSON.stringify(QUERY)} returned no samples` });
  const one = (fixtureJson('prometheus', 'query-vector.json') as { data: { result: unknown[] } }).data.result[0];
  body = { status: 'success', data: { resultType: 'vector', result: [one, one] } };
  await t.rejects(src.fetch(AbortSignal.timeout(5000)), { kind: 'invalid', message: /returned 2 series; aggregate it to one/ });
  body = { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1780318800, 'NaN'] }] } };
  await t.rejects(src.fetch(AbortSignal.timeout(5000)), { kind: 'invalid', message: /sample value: "NaN" is not a finite number/ });
  body = { status: 'success', data: { resultType: 'matrix', result: [] } };
  await t.rejects(src.fetch(AbortSignal.timeout(5000)), { kind: 'invalid', message: /result type "matrix" is not an instant vector or scalar/ });
  body = { status: 'success', data: { resultType: 'scalar', result: [1780318800, '250'] } };
  t.same(await src.fetch(AbortSignal.timeout(5000)), [{ timestamp: SAMPLE_T, durationMinutes: 120, gCO2eqPerKWh: 250 }]);
  status = 400;
  body = fixtureJson('prometheus', 'error-bad-query.json');
  await t.rejects(src.fetch(AbortSignal.timeout(5000)), { status: 400, message: /400 .*invalid parameter "query": 1:9: parse error/ });
});

t.test('failure answers', (t) => failureCases(t, (url) => createPrometheusSource(cfg(url), { env: {} })));
