/**
 * `leaseTransitions` on a real API server: it counts every change of holder, a takeover of
 * an expired claim and of a released Lease alike, as client-go's leader election does (tools
 * that read the Lease, `kubectl describe lease` among them, rely on it). Runs only when
 * KEDA_CARBON_E2E_KUBECONFIG is set.
 */
import t from 'tap';
import { LeaderElector } from '../../src/cluster/lease.js';
import { captureLogger } from '../helpers/log.js';
import { clusterOrSkip, createNamespace, waitFor } from './cluster-env.js';

t.setTimeout(120_000);
const c = clusterOrSkip(t);
const namespace = `keda-carbon-e2e-lt-${c.id}`;
const name = 'keda-carbon-retouch';
await createNamespace(c, namespace, {});
t.teardown(() => c.call('DELETE', `/api/v1/namespaces/${namespace}`, [200, 202, 404]));

const { logger } = captureLogger();
const elector = (identity: string) => {
  const e = new LeaderElector({
    api: c.api,
    namespace,
    name,
    identity,
    logger,
    leaseDurationMs: 2_000,
    renewDeadlineMs: 1_500,
    retryPeriodMs: 200,
    onStartedLeading: () => {},
    onStoppedLeading: () => {},
  });
  t.teardown(() => e.stop());
  return e;
};
const spec = async () =>
  (await c.call('GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`, [200])).spec as {
    holderIdentity?: string | null;
    leaseTransitions?: number;
  };

t.test('leaseTransitions counts each new holder', async (t) => {
  const a = elector('a');
  t.ok(await a.tryAcquireOrRenew(), 'a creates the Lease');
  t.match(await spec(), { holderIdentity: 'a', leaseTransitions: 0 }, 'created: no transition yet');
  t.ok(await a.tryAcquireOrRenew(), 'a renews');
  t.equal((await spec()).leaseTransitions, 0, 'a renewal is no transition');

  // a stops renewing: b takes the claim over once it has seen it unchanged for the lease duration.
  const b = elector('b');
  t.notOk(await b.tryAcquireOrRenew(), 'b sees a live claim');
  await waitFor('b to take the expired claim over', async () => b.tryAcquireOrRenew(), 10_000, 200);
  t.match(await spec(), { holderIdentity: 'b', leaseTransitions: 1 }, 'a -> b after expiry');

  // b shuts down gracefully and releases; a takes the free Lease at once.
  b.start();
  await waitFor('b to lead', async () => b.isLeader, 10_000, 50);
  await b.stop();
  t.notOk((await spec()).holderIdentity, 'released');
  t.ok(await a.tryAcquireOrRenew(), 'a takes the released Lease');
  t.match(await spec(), { holderIdentity: 'a', leaseTransitions: 2 }, 'b -> a after a release is a transition too');
});
