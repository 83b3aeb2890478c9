/**
 * A real Prometheus, started here on 127.0.0.1, scrapes a running `serve` attached to the
 * real API server of the e2e cluster, with objects under two policies, one of them observing,
 * with watts per replica (the configuration's default and a policy's own) and an HPA reporting
 * replicas running; every query of the dashboard (template variables filled in) must return
 * data, and the grams agree with the replica-seconds they are made from. Runs only when
 * KEDA_CARBON_E2E_KUBECONFIG names a kubeconfig and `prometheus` is installed.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ANNOTATION } from '../../src/core/names.js';
import {
  MINUTE,
  clusterOrSkip,
  createNamespace,
  getMax,
  kedaHpa,
  kedaObject,
  kedaPath,
  logsWith,
  registerWebhook,
  startWebhook,
  waitFor,
} from '../e2e/cluster-env.js';

if (spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status !== 0) {
  t.plan(0, 'prometheus is not installed (Debian: apt-get install prometheus; .ci/run installs it)');
  process.exit(0);
}

t.setTimeout(240_000);
const DASHBOARD = resolve(dirname(fileURLToPath(import.meta.url)), '../../webhook-config/components/monitoring/dashboard.json');
const c = clusterOrSkip(t);
const E2E = { 'keda-carbon-e2e': c.id };
const system = `kc-mon-system-${c.id}`;
const apps = `kc-mon-apps-${c.id}`;

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

interface QueryResult {
  status: string;
  data: { resultType: string; result: unknown[] };
}

t.test('every dashboard query returns data from a Prometheus scraping serve', async (t) => {
  // serve inherits the environment: HPA reading on, as with the hpa-read-rbac component.
  process.env.KEDA_CARBON_READ_HPAS = 'true';
  t.teardown(() => void delete process.env.KEDA_CARBON_READ_HPAS);
  await createNamespace(c, system, {});
  await createNamespace(c, apps, E2E);
  const hour = Math.floor(Date.now() / (60 * MINUTE)) * 60 * MINUTE;
  // 400 g now and for the next 8 hours: the forecast at 1h, 3h and 6h has a point.
  const webhook = await startWebhook(c, {
    leaseNamespace: system,
    forecast: [[hour - 60 * MINUTE, 10 * 60, 400]],
    wattsPerReplica: 40,
    signal: 'average',
  });
  t.teardown(() => webhook.serve.stop());
  await registerWebhook(t, c, webhook, apps);
  await c.call('POST', kedaPath('scaledobjects', apps), [201], kedaObject('scaledobjects', apps, 'web', 10, { [ANNOTATION.policy]: 'standard' }));
  await c.call(
    'POST',
    kedaPath('scaledobjects', apps),
    [201],
    kedaObject('scaledobjects', apps, 'batch', 8, { [ANNOTATION.environmentalImpact]: '{"carbon":[{"measuredEmission":300,"allowedMaxReplicaCount":2}]}' }),
  );
  // Observe mode, with its own watts: would cap 8 to 2, changes nothing.
  await c.call(
    'POST',
    kedaPath('scaledobjects', apps),
    [201],
    kedaObject('scaledobjects', apps, 'watch', 8, {
      [ANNOTATION.environmentalImpact]: '{"mode":"observe","wattsPerReplica":100,"carbon":[{"measuredEmission":300,"allowedMaxReplicaCount":2}]}',
    }),
  );
  // KEDA's HPA for web, two replicas running: the emitted grams.
  await kedaHpa(c, apps, 'web', 3, { desiredReplicas: 2, currentReplicas: 2 });
  await waitFor('the first sweep', async () => logsWith(webhook, 'sweep finished').length >= 1, 30_000);

  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-prometheus-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  await writeFile(
    join(dir, 'prometheus.yml'),
    `global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n- job_name: keda-carbon\n  static_configs: [{targets: ['127.0.0.1:${webhook.serve.metricsPort}']}]\n`,
  );
  const prom = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: 'ignore' },
  );
  t.teardown(() => void prom.kill('SIGTERM'));
  const query = async (q: string): Promise<QueryResult> => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
    return (await res.json()) as QueryResult;
  };
  const samples = async (q: string) => (await query(q).catch(() => undefined))?.data?.result?.length ?? 0;
  // Counters need two samples inside a range before increase() says anything.
  await waitFor(
    'ledger counters scraped several times',
    async () => (await samples(`count_over_time(keda_carbon_ledger_cap_replica_seconds_total{namespace="${apps}"}[1m]) >= 5`)) > 0,
    60_000,
    500,
  );

  const dash = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
  const fill = (expr: string) => expr.replaceAll('$namespace', apps).replaceAll('$policy', '.*').replaceAll('$__range', '1m');
  t.equal(
    (await query(`keda_carbon_ledger_objects{namespace="${apps}"}`)).data.result.length,
    3,
    'the namespace template variable finds two policies, one in two modes',
  );
  await waitFor('the emitted grams', async () => (await samples(`keda_carbon_ledger_emitted_co2eq_grams_total{namespace="${apps}"} > 0`)) > 0, 30_000, 500);
  for (const panel of dash.panels) {
    for (const target of panel.targets) {
      const r = await query(fill(target.expr));
      t.equal(r.status, 'success', `${panel.title}: ${target.expr}`);
      t.ok(r.data.result.length > 0, `${panel.title}: returns data: ${fill(target.expr)}`);
    }
  }
  const values = async (q: string) => {
    const r = (await query(q)).data.result as { metric: Record<string, string>; value: [number, string] }[];
    return Object.fromEntries(r.map((x) => [`${x.metric.policy}/${x.metric.mode}`, Number(x.value[1])]));
  };
  t.same(
    await values(`keda_carbon_ledger_cap_replicas{namespace="${apps}"}`),
    { 'standard/enforce': 3, 'inline/enforce': 2, 'inline/observe': 2 },
    'the caps in force per policy, and the cap observe mode would set, as scraped',
  );
  t.equal(await getMax(c, 'scaledobjects', apps, 'watch'), 8, 'observe mode left the spec alone');
  // Grams = replicas x W x (gCO2eq/kWh x s) / 3.6e6: per watt, grams x 3.6e6 over the intensity-weighted replica-seconds.
  const watts = await values(
    `keda_carbon_ledger_declared_co2eq_grams_total{namespace="${apps}",signal="average"} * 3.6e6 / ignoring(signal) keda_carbon_ledger_declared_intensity_replica_seconds_total{namespace="${apps}"}`,
  );
  t.same(Object.keys(watts).sort(), ['inline/enforce', 'inline/observe', 'standard/enforce'], 'grams under the signal the source declares');
  t.ok(Math.abs(watts['standard/enforce']! - 40) < 1e-6, `the configuration's 40 W: ${watts['standard/enforce']}`);
  t.ok(Math.abs(watts['inline/enforce']! - 40) < 1e-6, `the configuration's 40 W for a document without its own: ${watts['inline/enforce']}`);
  t.ok(Math.abs(watts['inline/observe']! - 100) < 1e-6, `the policy's own 100 W: ${watts['inline/observe']}`);
  const withheld = await values(
    `keda_carbon_ledger_withheld_co2eq_grams_total{namespace="${apps}"} / keda_carbon_ledger_declared_co2eq_grams_total{namespace="${apps}"}`,
  );
  t.ok(Math.abs(withheld['standard/enforce']! - 0.7) < 1e-6, `enforce withholds 7 of 10 replicas: ${withheld['standard/enforce']}`);
  t.ok(Math.abs(withheld['inline/observe']! - 0.75) < 1e-6, `observe would withhold 6 of 8: ${withheld['inline/observe']}`);
  // The exposition with the ledger's series in it (grams and observe included) passes Prometheus' linter.
  const text = await (await fetch(`http://127.0.0.1:${webhook.serve.metricsPort}/metrics`)).text();
  t.match(text, /^keda_carbon_ledger_emitted_co2eq_grams_total\{namespace="[^"]+",policy="standard",mode="enforce",signal="average"\} [0-9.e-]+$/m);
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
  t.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'no lint finding');
});
