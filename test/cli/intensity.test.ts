import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml, stringify } from 'yaml';
import { hourlyMeans, runIntensity } from '../../src/cli/intensity.js';
import { FIXTURE_NOW, fixtureJson, fixtureText } from '../helpers/fixtures.js';
import { json, startServer } from '../helpers/http.js';
import { FakeKube, type FakeObject, kubeClientFor } from '../helpers/fake-kube.js';
import { sink } from '../helpers/log.js';

const dir = mkdtempSync(join(tmpdir(), 'keda-carbon-cli-'));
let n = 0;
function configFile(intensity: Record<string, unknown>): string {
  const path = join(dir, `config-${++n}.yaml`);
  writeFileSync(path, stringify({ intensity, policies: {} }));
  return path;
}

async function run(argv: string[], extra: { env?: Record<string, string>; kube?: ReturnType<typeof kubeClientFor>; now?: number } = {}) {
  const stdout = sink();
  const stderr = sink();
  const code = await runIntensity(argv, {
    stdout,
    stderr,
    env: extra.env ?? {},
    now: () => extra.now ?? FIXTURE_NOW,
    ...(extra.kube ? { kube: extra.kube } : {}),
  });
  return { code, out: stdout.text(), err: stderr.text() };
}

/** One server that answers every HTTP provider's documented paths with its fixture. */
async function providersServer() {
  return startServer((req, res, url) => {
    const p = url.pathname;
    if (p === '/v3/carbon-intensity/latest') return json(res, 200, fixtureJson('electricitymaps', 'latest-DE.json'));
    if (p === '/v3/carbon-intensity/forecast') return json(res, 200, fixtureJson('electricitymaps', 'forecast-DE.json'));
    if (p === '/login') return json(res, 200, fixtureJson('watttime', 'login.json'));
    if (p === '/v3/forecast') return json(res, 200, fixtureJson('watttime', 'forecast-CAISO_NORTH.json'));
    if (p === '/intensity') return json(res, 200, fixtureJson('uk-carbon-intensity', 'intensity.json'));
    if (p === '/intensity/2026-06-01T13:00Z/fw48h') return json(res, 200, fixtureJson('uk-carbon-intensity', 'fw48h.json'));
    if (p === '/emissions/bylocations') return json(res, 200, fixtureJson('carbon-aware-sdk', 'bylocations-westus.json'));
    if (p === '/emissions/forecasts/current') return json(res, 200, fixtureJson('carbon-aware-sdk', 'forecasts-current-westus.json'));
    if (p === '/api/v1/query') return json(res, 200, fixtureJson('prometheus', 'query-vector.json'));
    if (p === '/broken/v3/carbon-intensity/latest') return json(res, 500, { message: 'boom' });
    json(res, 404, { message: `no route ${req.url}` });
  });
}

t.test('intensity against each HTTP provider', async (t) => {
  const srv = await providersServer();
  t.teardown(srv.close);
  const env = { ELECTRICITYMAPS_TOKEN: 'em-token-1234', WATTTIME_USERNAME: 'u', WATTTIME_PASSWORD: 'p-secret' };
  const cases: [Record<string, unknown>, RegExp[], number?][] = [
    [
      { provider: 'electricitymaps', location: 'DE' },
      [
        /source +electricitymaps:DE/,
        /intensity +266 gCO2eq\/kWh/,
        /time +2026-06-01 13:00 UTC to 14:00 \(60 min interval\)/,
        /age +7 min ago/,
        /forecast +next 24 h/,
        /14:00 311/,
        /highest 510 at 19:00/,
      ],
    ],
    [{ provider: 'watttime', location: 'CAISO_NORTH' }, [/source +watttime:CAISO_NORTH/, /intensity +204\.6 gCO2eq\/kWh/, /5 min interval/, /age +2 min ago/]],
    [{ provider: 'uk-carbon-intensity', location: 'national' }, [/source +uk-carbon-intensity:national/, /intensity +139 gCO2eq\/kWh/, /30 min interval/]],
    [
      { provider: 'carbon-aware-sdk', location: 'westus' },
      [/source +carbon-aware-sdk:westus/, /intensity +204\.6 gCO2eq\/kWh/, /time +2026-06-01 13:05 UTC to 13:10/],
    ],
    [
      { provider: 'prometheus', location: 'DE', query: 'carbon_intensity{zone="DE"}' },
      [/source +prometheus:DE/, /intensity +386\.5 gCO2eq\/kWh/, /forecast +none \(this source gives the current value only\)/],
      Date.UTC(2026, 5, 1, 13, 1),
    ],
  ];
  for (const [intensity, expect, now] of cases) {
    const r = await run(['--config', configFile({ ...intensity, baseUrl: srv.url })], { env, ...(now ? { now } : {}) });
    t.equal(r.code, 0, `${intensity.provider}: exit 0 (${r.err})`);
    for (const re of expect) t.match(r.out, re, `${intensity.provider}: ${re}`);
    t.notMatch(r.out + r.err, /em-token-1234|p-secret/, 'no credential printed');
  }
});

t.test('intensity against the exporter ConfigMap', async (t) => {
  const api = new FakeKube();
  await api.start();
  t.teardown(() => api.close());
  api.putConfigMap(parseYaml(fixtureText('exporter-configmap', 'carbon-intensity.yaml')) as FakeObject);
  const r = await run(['--config', configFile({ provider: 'exporter-configmap', location: 'CAISO_NORTH' })], { kube: kubeClientFor(api.url) });
  t.equal(r.code, 0, r.err);
  t.match(r.out, /source +exporter-configmap:CAISO_NORTH/);
  t.match(r.out, /intensity +204\.6 gCO2eq\/kWh/);
  t.match(r.out, /forecast +next 24 h/);
});

t.test('intensity against a file, and the sample default', async (t) => {
  const path = join(dir, 'f.csv');
  writeFileSync(path, 'timestamp,duration,value\n2026-06-01T13:00:00Z,60,300\n2026-06-01T14:00:00Z,60,480\n');
  const f = await run([`--config=${configFile({ provider: 'file', path })}`]);
  t.equal(f.code, 0, f.err);
  t.match(f.out, /source +file:f.csv/);
  t.match(f.out, /intensity +300 gCO2eq\/kWh/);
  t.match(f.out, /13:00 300 {2}14:00 480/);

  const s = await run([], { now: Date.UTC(2026, 10, 22, 12, 10) });
  t.equal(s.code, 0, s.err);
  t.match(s.out, /source +sample:sample/);
  t.match(s.out, /intensity +230 gCO2eq\/kWh/, 'noon on the sample day');
  t.match(s.out, /forecast +next 24 h/);
});

t.test('-o json', async (t) => {
  const r = await run(['-o', 'json']);
  t.equal(r.code, 0);
  const doc = JSON.parse(r.out) as { source: string; current: { gCO2eqPerKWh: number }; forecast: unknown[] };
  t.equal(doc.source, 'sample:sample');
  t.type(doc.current.gCO2eqPerKWh, 'number');
  t.ok(doc.forecast.length >= 48, '24 h of half hours');
});

t.test('failures: exit codes and messages', async (t) => {
  const srv = await providersServer();
  t.teardown(srv.close);
  const bad = await run(['--config', configFile({ provider: 'electricitymaps', location: 'DE', refreshInterval: '1s' })]);
  t.equal(bad.code, 2);
  t.match(bad.err, /intensity.refreshInterval: must be at least 10s/);
  const missing = await run(['--config', join(dir, 'absent.yaml')]);
  t.equal(missing.code, 2);
  t.equal(missing.err, `keda-carbon intensity: cannot read ${join(dir, 'absent.yaml')}: no such file\n`);
  const usage = await run(['--frobnicate']);
  t.equal(usage.code, 2);
  t.match(usage.err, /^keda-carbon intensity: Unknown option '--frobnicate'.*see 'keda-carbon intensity --help'/);
  const oldFlag = await run(['--json']);
  t.equal(oldFlag.code, 2, '--json gave way to -o json, as on every other command');
  const down = await run(['--config', configFile({ provider: 'electricitymaps', location: 'DE', baseUrl: `${srv.url}/broken` })], {
    env: { ELECTRICITYMAPS_TOKEN: 'em-token-1234' },
  });
  t.equal(down.code, 1);
  t.match(down.err, /electricitymaps: .*answered 500 .*boom/);
  const noToken = await run(['--config', configFile({ provider: 'electricitymaps', location: 'DE', baseUrl: srv.url })]);
  t.equal(noToken.code, 1);
  t.match(noToken.err, /intensity.tokenEnv: environment variable ELECTRICITYMAPS_TOKEN is not set/);
  const old = await run(['--config', configFile({ provider: 'electricitymaps', location: 'DE', baseUrl: srv.url })], {
    env: { ELECTRICITYMAPS_TOKEN: 'x-token' },
    now: Date.UTC(2026, 5, 3),
  });
  t.equal(old.code, 1, 'data that does not cover now');
  t.match(old.out, /intensity +unknown: no data point from electricitymaps:DE covers 2026-06-03T00:00:00.000Z/);
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.out, /^Usage: keda-carbon intensity \[--config FILE\] \[-o text\|json\]/);
});

t.test('hourly means are time-weighted', async (t) => {
  const h = Date.UTC(2026, 5, 1, 13);
  const means = hourlyMeans(
    [
      { timestamp: h, durationMinutes: 15, gCO2eqPerKWh: 100 },
      { timestamp: h + 15 * 60_000, durationMinutes: 45, gCO2eqPerKWh: 200 },
    ],
    h,
    2,
  );
  t.same(means, [
    { hour: h, mean: 175 },
    { hour: h + 3_600_000, mean: null },
  ]);
});
