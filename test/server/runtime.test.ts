import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { createRuntime, StartupError, type RuntimeOptions } from '../../src/server/runtime.js';
import { FakeKube } from '../helpers/fake-kube.js';
import { captureLogger } from '../helpers/log.js';
import { until } from '../helpers/until.js';

const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-runtime-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
// One certificate directory for every test: the first start makes the CA, the rest reuse it.
const certDir = join(dir, 'tls');

async function kubeconfig(name: string, server: string, namespace?: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(
    path,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u${namespace ? `, namespace: ${namespace}` : ''}}}]
current-context: x
`,
  );
  return path;
}

function options(extra: Partial<RuntimeOptions>, logger = captureLogger().logger): RuntimeOptions {
  return { configPath: undefined, certDir, kubeconfig: undefined, host: '127.0.0.1', port: 0, metricsPort: 0, env: {}, logger, ...extra };
}

function get(port: number, path: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (ca ? httpsRequest : httpRequest)({ host: '127.0.0.1', port, path, agent: false, ...(ca ? { ca } : {}) }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const ACCESS = 'cluster access: namespace policies and the re-touch timer (under a Lease) are on';
const logged = (lines: string[], msg: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);

t.test('out of cluster without POD_NAMESPACE: the Lease goes to the kubeconfig context namespace, and close releases it', async (t) => {
  const fake = new FakeKube();
  const url = await fake.start();
  t.teardown(() => fake.close());
  fake.setNamespace('team-a');
  const { logger, lines } = captureLogger();
  const runtime = await createRuntime(options({ kubeconfig: await kubeconfig('ctx', url, 'team-a'), env: { KEDA_CARBON_LEASE_NAME: 'rt' } }, logger));
  let closed = false;
  t.teardown(() => (closed ? undefined : runtime.close()));
  const access = logged(lines, ACCESS)[0];
  t.match(access, { leaseNamespace: 'team-a', leaseNamespaceFrom: 'kubeconfig context' }, 'logged with where it came from');
  await until(() => fake.leases.get('team-a/rt')?.spec !== undefined, 'the Lease to be taken');
  t.ok((fake.leases.get('team-a/rt')!.spec as { holderIdentity?: string }).holderIdentity, 'a holder in team-a');

  const ca = await readFile(join(certDir, 'ca.crt'), 'utf8');
  t.equal((await get(runtime.port, '/readyz', ca)).status, 200, 'admission app serves');
  const scraped = await get(runtime.metricsPort, '/metrics');
  t.equal(scraped.status, 200, 'metrics app serves');
  t.match(scraped.body, /^keda_carbon_leader\{lease="rt"\} 1$/m, 'the Lease holder says so');
  runtime.stopServing(10_000);
  t.equal((await get(runtime.port, '/readyz', ca)).status, 503, 'readiness fails once stopServing is called');

  await runtime.close();
  closed = true;
  t.equal((fake.leases.get('team-a/rt')!.spec as { holderIdentity?: string | null }).holderIdentity, null, 'the Lease is released on close');
  await t.rejects(get(runtime.port, '/healthz', ca), { code: 'ECONNREFUSED' }, 'the admission listener is closed');
  await t.rejects(get(runtime.metricsPort, '/metrics'), { code: 'ECONNREFUSED' }, 'the metrics listener is closed');
});

t.test('a context without a namespace: the Lease goes to default', async (t) => {
  const fake = new FakeKube();
  const url = await fake.start();
  t.teardown(() => fake.close());
  fake.setNamespace('default');
  const { logger, lines } = captureLogger();
  const runtime = await createRuntime(options({ kubeconfig: await kubeconfig('plain', url), env: { KEDA_CARBON_LEASE_NAME: 'rt' } }, logger));
  t.teardown(() => runtime.close());
  t.match(logged(lines, ACCESS), [{ leaseNamespace: 'default', leaseNamespaceFrom: 'default' }]);
  await until(() => fake.leases.has('default/rt'), 'the Lease in default');
  t.pass('taken in default');
});

t.test('a Lease namespace that does not exist stops the start with a clear message', async (t) => {
  const fake = new FakeKube();
  const url = await fake.start();
  t.teardown(() => fake.close());
  const start = createRuntime(options({ kubeconfig: await kubeconfig('gone', url), env: { POD_NAMESPACE: 'keda-carbon' } }));
  await t.rejects(
    start,
    new StartupError(
      'the Lease namespace "keda-carbon" does not exist: create it, or point POD_NAMESPACE (or the kubeconfig context\'s namespace) at one that does',
    ),
  );
  t.equal(fake.leases.size, 0, 'no Lease attempted');
});

t.test('what cannot be used is a StartupError naming it', async (t) => {
  const missing = join(dir, 'no-such-kubeconfig');
  await t.rejects(createRuntime(options({ kubeconfig: missing })), { name: 'StartupError', message: `cannot read ${missing}: no such file` });
  const badConfig = join(dir, 'bad.yaml');
  await writeFile(badConfig, 'intensity:\n  refreshInterval: 1s\n');
  await t.rejects(createRuntime(options({ configPath: badConfig })), {
    name: 'StartupError',
    message: /^invalid configuration: intensity\.refreshInterval: must be at least 10s/,
  });
  const badSource = join(dir, 'bad-source.yaml');
  await writeFile(badSource, 'intensity:\n  provider: exporter-configmap\n');
  await t.rejects(createRuntime(options({ configPath: badSource })), {
    name: 'StartupError',
    message: /^cannot open the carbon source: exporter-configmap needs access to the Kubernetes API/,
  });
});

t.test('a start that fails halfway closes what it had started', async (t) => {
  const { logger } = captureLogger();
  const first = await createRuntime(options({}, logger));
  t.teardown(() => first.close());
  // the same port again: the metrics listener has started when the admission listener fails
  await t.rejects(createRuntime(options({ port: first.port }, logger)), { name: 'StartupError', option: 'port', port: first.port });
  t.equal((await get(first.metricsPort, '/metrics')).status, 200, 'the first runtime is untouched');
});

t.test('no credentials: admission only, said once', async (t) => {
  const { logger, lines } = captureLogger();
  const runtime = await createRuntime(options({}, logger));
  t.teardown(() => runtime.close());
  t.equal(
    logged(
      lines,
      'no cluster access (no --kubeconfig, KUBECONFIG or in-cluster service account): admission only; the re-touch timer and namespace-label policies are off',
    ).length,
    1,
  );
  t.match(logged(lines, 'keda-carbon webhook listening')[0], {
    port: runtime.port,
    metricsPort: runtime.metricsPort,
    config: '(embedded defaults)',
    source: 'sample:sample',
  });
  await until(() => logged(lines, 'carbon intensity now applied').length > 0, 'the first data to be announced');
  t.match(logged(lines, 'carbon intensity now applied')[0], { source: 'sample:sample', intensity: Number });
});

t.test('an API server that does not answer yet: serve starts, and leader election keeps trying', async (t) => {
  const { logger, lines } = captureLogger();
  const runtime = await createRuntime(options({ kubeconfig: await kubeconfig('dead', 'http://127.0.0.1:1'), env: { POD_NAMESPACE: 'ops' } }, logger));
  t.teardown(() => runtime.close());
  t.match(logged(lines, 'could not check the Lease namespace; leader election retries')[0], { namespace: 'ops', err: /ECONNREFUSED/ });
  t.match(logged(lines, ACCESS)[0], { leaseNamespace: 'ops', leaseNamespaceFrom: 'POD_NAMESPACE' });
});

t.test('a reloaded config re-opens the carbon source; settings that cannot be opened keep the running one', async (t) => {
  const day = new Date();
  day.setUTCHours(0, 0, 0, 0);
  const points = JSON.stringify([{ timestamp: day.toISOString(), duration: 48 * 60, value: 420 }]);
  await writeFile(join(dir, 'a.json'), points);
  await writeFile(join(dir, 'b.json'), points);
  const config = join(dir, 'reload.yaml');
  await writeFile(config, `intensity:\n  provider: file\n  path: ${join(dir, 'a.json')}\n`);
  const { logger, lines } = captureLogger();
  const runtime = await createRuntime(options({ configPath: config }, logger));
  t.teardown(() => runtime.close());
  const source = () => logged(lines, 'keda-carbon webhook listening')[0]?.source;
  t.equal(source(), 'file:a.json');

  await writeFile(config, `intensity:\n  provider: file\n  path: ${join(dir, 'b.json')}\n`);
  await until(() => logged(lines, 'carbon source reconfigured').length > 0, 'the new source');
  t.match(logged(lines, 'carbon source reconfigured')[0], { source: 'file:b.json' });

  await writeFile(config, 'intensity:\n  provider: exporter-configmap\n');
  await until(() => logged(lines, 'new intensity settings cannot be opened; keeping the previous source').length > 0, 'the refusal');
  t.match(logged(lines, 'new intensity settings cannot be opened; keeping the previous source')[0], {
    err: /exporter-configmap needs access to the Kubernetes API/,
  });
  const ca = await readFile(join(certDir, 'ca.crt'), 'utf8');
  t.match(JSON.parse((await get(runtime.port, '/readyz', ca)).body), { carbon: { source: 'file:b.json' } }, 'the previous source still runs');
});

t.test('/metrics carries the serving certificate expiry and the forecast at 1h, 3h and 6h; without a cluster no ledger', async (t) => {
  const runtime = await createRuntime(options({}));
  t.teardown(() => runtime.close());
  const { body } = await get(runtime.metricsPort, '/metrics');
  const cert = new X509Certificate(await readFile(join(certDir, 'tls.crt'), 'utf8'));
  const expiry = /^keda_carbon_serving_certificate_expiry_timestamp_seconds (\d+)$/m.exec(body)?.[1];
  t.equal(Number(expiry), Math.floor(Date.parse(cert.validTo) / 1000), 'the expiry of the certificate in use');
  for (const offset of ['1h', '3h', '6h']) {
    t.match(
      body,
      new RegExp(`^keda_carbon_carbon_intensity_forecast_gco2eq_per_kwh\\{source="sample",location="sample",signal="unknown",offset="${offset}"\\} \\d`, 'm'),
      `forecast ${offset}`,
    );
  }
  t.match(
    body,
    /^keda_carbon_carbon_max_data_age_seconds\{source="sample",location="sample",signal="unknown"\} 7200$/m,
    'maxDataAge, for the stale-data alert',
  );
  t.notMatch(body, /^keda_carbon_leader\{/m, 'no leader gauge without cluster access');
  t.notMatch(body, /^keda_carbon_ledger_objects\{/m, "the ledger is the leader's");
  t.match(body, /# TYPE keda_carbon_ledger_cap_replica_seconds_total counter/, 'its metrics are declared');
});
