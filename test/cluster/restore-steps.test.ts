/**
 * What restore does before it writes an object, against the real loopback API server: the
 * webhook configuration deleted, the Deployment scaled to 0, the wait for the controller's
 * Lease. Runs only when KEDA_CARBON_E2E_KUBECONFIG names a kubeconfig.
 */
import t from 'tap';
import { PoliteClient } from '../../src/cluster/polite.js';
import { deleteWebhookConfig, LeaseWaitTimeout, scaleDeploymentToZero, waitForLeaseRelease } from '../../src/cluster/restore-steps.js';
import type { KubeApi } from '../../src/ports.js';
import { clusterOrSkip, createNamespace, waitFor } from '../e2e/cluster-env.js';

t.setTimeout(120_000);
const c = clusterOrSkip(t);
const polite = (api: KubeApi = c.api) => new PoliteClient(api, { qps: 50, burst: 50, maxInFlight: 8 });

t.test('the webhook configuration: deleted (dry run first), then absent', async (t) => {
  const name = `kc-steps-${c.id}`;
  const path = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
  await c.call('POST', path, [201], { metadata: { name }, webhooks: [] });
  t.same(await deleteWebhookConfig(polite(), name, true), { name, result: 'would-delete' });
  await c.call('GET', `${path}/${name}`, [200]);
  t.same(await deleteWebhookConfig(polite(), name, false), { name, result: 'deleted' });
  await c.call('GET', `${path}/${name}`, [404]);
  t.same(await deleteWebhookConfig(polite(), name, false), { name, result: 'absent' });
});

async function leaseIn(ns: string, holder: string, seconds: number) {
  const spec = { holderIdentity: holder, leaseDurationSeconds: seconds, renewTime: new Date().toISOString().replace('Z', '000Z') };
  return c.call('POST', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, [201], { metadata: { name: 'keda-carbon-retouch' }, spec });
}

async function deploymentIn(ns: string, replicas: number) {
  const labels = { app: 'keda-carbon' };
  const template = { metadata: { labels }, spec: { containers: [{ name: 'serve', image: 'keda-carbon:test' }] } };
  await c.call('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, [201], {
    metadata: { name: 'keda-carbon' },
    spec: { replicas, selector: { matchLabels: labels }, template },
  });
}

t.test('the Deployment is scaled to 0 and the wait ends when the Lease is released', async (t) => {
  const ns = `kc-system-${c.id}`;
  await createNamespace(c, ns, {});
  await deploymentIn(ns, 2);
  await leaseIn(ns, 'keda-carbon-abc_1234', 3600);
  const client = polite();
  t.same(await scaleDeploymentToZero(client, ns, 'keda-carbon', true), { result: 'would-scale', namespace: ns, name: 'keda-carbon', from: 2 });
  t.same(await scaleDeploymentToZero(client, ns, 'keda-carbon', false), { result: 'scaled', namespace: ns, name: 'keda-carbon', from: 2 });
  const scale = await c.call('GET', `/apis/apps/v1/namespaces/${ns}/deployments/keda-carbon/scale`, [200]);
  t.equal(scale.spec.replicas ?? 0, 0, 'stored at 0 replicas (0 is omitted)');
  t.equal((await scaleDeploymentToZero(client, ns, 'gone', false)).result, 'absent');

  t.match(await waitForLeaseRelease({ client, namespace: ns, name: 'keda-carbon-retouch', timeoutMs: 1000, once: true }), {
    result: 'held',
    holder: 'keda-carbon-abc_1234',
  });
  let settled = false;
  const polls: number[] = [];
  const counting: KubeApi = { watch: c.api.watch, request: (m, p, o) => (polls.push(1), c.api.request(m, p, o)) };
  const waiting = waitForLeaseRelease({ client: polite(counting), namespace: ns, name: 'keda-carbon-retouch', timeoutMs: 60_000, pollMs: 50 }).finally(() => {
    settled = true;
  });
  await waitFor('a few polls of the held Lease', async () => polls.length >= 3);
  t.notOk(settled, 'still waiting while the Lease is held');
  const lease = await c.call('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/keda-carbon-retouch`, [200]);
  await c.call('PUT', lease.metadata.selfLink ?? `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/keda-carbon-retouch`, [200], {
    ...lease,
    spec: { ...lease.spec, holderIdentity: null },
  });
  t.match(await waiting, { result: 'released', lease: `${ns}/keda-carbon-retouch` });
});

t.test('a Lease nobody renews expires; one renewed past the timeout fails the wait; no Lease is fine', async (t) => {
  const [stale, live] = [`kc-stale-${c.id}`, `kc-live-${c.id}`];
  await createNamespace(c, stale, {});
  await createNamespace(c, live, {});
  await leaseIn(stale, 'gone-pod', 1);
  await leaseIn(live, 'busy-pod', 3600);
  const client = polite();
  const expired = await waitForLeaseRelease({ client, namespace: stale, name: 'keda-carbon-retouch', timeoutMs: 30_000, pollMs: 100 });
  t.match(expired, { result: 'expired', holder: 'gone-pod' });
  t.ok(expired.waitedMs >= 1000, 'expiry is a full leaseDuration of no change, on our own clock');
  await t.rejects(waitForLeaseRelease({ client, namespace: live, name: 'keda-carbon-retouch', timeoutMs: 500, pollMs: 100 }), LeaseWaitTimeout);
  t.match(await waitForLeaseRelease({ client, namespace: live, name: 'no-such-lease', timeoutMs: 500 }), { result: 'absent' });
});
