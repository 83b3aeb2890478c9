/**
 * `serve --kubeconfig` out of cluster, without POD_NAMESPACE, on a real API server: the
 * Lease goes to the kubeconfig context's namespace, else `default`, and a namespace that
 * does not exist stops serve at start. Runs only when KEDA_CARBON_E2E_KUBECONFIG is set.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { startServe } from '../helpers/serve-process.js';
import { clusterOrSkip, createNamespace, waitFor } from './cluster-env.js';

t.setTimeout(180_000);
const c = clusterOrSkip(t);
const leaseName = `e2e-${c.id}`;
const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-e2e-lease-ns-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const config = join(dir, 'config.yaml');
// the timer of a test must not touch anybody else's objects in a shared cluster
await writeFile(config, `touch:\n  namespaceSelector: keda-carbon-e2e=${c.id}\n`);

/** The e2e kubeconfig with the current context's namespace set (or left as it is). */
async function kubeconfigWithNamespace(namespace: string | undefined): Promise<string> {
  const doc = parse(await readFile(c.kubeconfig, 'utf8')) as { 'current-context': string; contexts: Array<{ name: string; context: Record<string, unknown> }> };
  const current = doc.contexts.find((ctx) => ctx.name === doc['current-context'])!;
  if (namespace) current.context.namespace = namespace;
  else delete current.context.namespace;
  const path = join(dir, `kubeconfig-${namespace ?? 'none'}`);
  await writeFile(path, stringify(doc));
  return path;
}

async function serveWith(kc: string) {
  return startServe(['--kubeconfig', kc, '--cert-dir', join(dir, 'tls'), '--config', config], { POD_NAMESPACE: '', KEDA_CARBON_LEASE_NAME: leaseName });
}

async function holder(namespace: string): Promise<string | undefined> {
  const res = await c.api.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${leaseName}`, { timeoutMs: 10_000 });
  return res.status === 200 ? (res.body as { spec?: { holderIdentity?: string } }).spec?.holderIdentity : undefined;
}

t.test('the kubeconfig context names a namespace: the Lease is taken there', async (t) => {
  const ns = `kc-lease-ctx-${c.id}`;
  await createNamespace(c, ns, {});
  t.teardown(() => c.call('DELETE', `/api/v1/namespaces/${ns}`, [200, 202, 404]));
  const serve = await serveWith(await kubeconfigWithNamespace(ns));
  t.teardown(() => serve.stop('SIGKILL'));
  t.match(
    serve.logs.find((l) => l.leaseNamespace !== undefined),
    { leaseNamespace: ns, leaseNamespaceFrom: 'kubeconfig context' },
    'serve says where the namespace came from',
  );
  const identity = await waitFor('the Lease to be held', () => holder(ns), 30_000);
  // The Lease is written before the log line that says so reaches us.
  const leader = await waitFor('the leader log line', async () => serve.logs.find((l) => l.msg === 'became the leader: running the re-touch timer'), 10_000);
  t.equal(identity, leader.identity, 'this serve holds the real Lease in the context namespace');
  t.equal(await serve.stop(), 0, 'SIGTERM: a clean exit');
  t.equal(await holder(ns), undefined, 'released on shutdown');
});

t.test('no namespace in the context: the Lease is taken in default', async (t) => {
  t.teardown(() => c.call('DELETE', `/apis/coordination.k8s.io/v1/namespaces/default/leases/${leaseName}`, [200, 404]));
  const serve = await serveWith(await kubeconfigWithNamespace(undefined));
  t.teardown(() => serve.stop('SIGKILL'));
  t.match(
    serve.logs.find((l) => l.leaseNamespace !== undefined),
    { leaseNamespace: 'default', leaseNamespaceFrom: 'default' },
  );
  await waitFor('the timer to run', async () => serve.logs.some((l) => l.msg === 'became the leader: running the re-touch timer'), 30_000);
  t.ok(await holder('default'), 'the Lease in default has a holder');
  t.equal(await serve.stop(), 0);
});

t.test('a context namespace that does not exist: serve refuses to start and says why', async (t) => {
  const ns = `kc-lease-missing-${c.id}`;
  await t.rejects(serveWith(await kubeconfigWithNamespace(ns)), {
    message: new RegExp(`serve exited with 2 before listening; stderr: keda-carbon serve: the Lease namespace "${ns}" does not exist`),
  });
});
