/**
 * Two webhook processes contend for one real Lease: the holder sweeps slowly (qps 2),
 * is killed with SIGKILL halfway through, and the other takes the Lease over once the
 * claim expires and finishes the job. Runs only when KEDA_CARBON_E2E_KUBECONFIG is set.
 */
import t from 'tap';
import {
  LABEL,
  MINUTE,
  clusterOrSkip,
  createNamespace,
  getMax,
  kedaObject,
  kedaPath,
  logsWith,
  registerWebhook,
  startWebhook,
  waitFor,
  writeForecast,
} from './cluster-env.js';

const OBJECTS = 30;
// Real processes, a real Lease expiry and forecast boundaries: more than the default budget.
t.setTimeout(240_000);
const c = clusterOrSkip(t);
const system = `kc-lease-system-${c.id}`;
const apps = `kc-lease-apps-${c.id}`;
const now = Date.now();
const hourStart = now - (now % (60 * MINUTE));
const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${system}/leases/e2e-${c.id}`;

t.test('the holder dies mid-sweep; the other replica takes the Lease and finishes', async (t) => {
  await createNamespace(c, system, {});
  await createNamespace(c, apps, { 'keda-carbon-e2e': c.id, [LABEL]: 'standard' });
  const slow = 'interval: 1h\n  followForecast: true\n  qps: 2\n  burst: 1\n  maxInFlight: 1';
  const a = await startWebhook(c, { leaseNamespace: system, touch: slow, forecast: [[hourStart - 60 * MINUTE, 240, 120]] });
  t.teardown(() => a.serve.stop('SIGKILL'));
  await waitFor('a to lead', async () => logsWith(a, 'became the leader: running the re-touch timer').length > 0, 30_000);
  // b shares a's forecast file, so both see the same band change
  const b = await startWebhook(c, { leaseNamespace: system, touch: slow, dir: a.dir });
  t.teardown(() => b.serve.stop());
  await waitFor('b to see the Lease held', async () => logsWith(b, 'another replica holds the Lease and runs the timer').length > 0, 30_000);
  const lease = await c.call('GET', leasePath, [200]);
  const aIdentity = logsWith(a, 'became the leader: running the re-touch timer')[0]!.identity;
  t.equal(lease.spec.holderIdentity, aIdentity, 'a holds the real Lease');
  t.equal(lease.spec.leaseDurationSeconds, 15);

  // b serves admission for both: a is about to die
  await registerWebhook(t, c, b, apps);
  for (let i = 0; i < OBJECTS; i++)
    await c.call('POST', kedaPath('scaledobjects', apps), [201], kedaObject('scaledobjects', apps, `app-${String(i).padStart(2, '0')}`, 10));
  t.equal(await getMax(c, 'scaledobjects', apps, 'app-00'), 10, 'below every band: no cap yet');

  await writeForecast(a.forecast, [[hourStart - 60 * MINUTE, 240, 450]]);
  const capped = async () => {
    let n = 0;
    for (let i = 0; i < OBJECTS; i++) if ((await getMax(c, 'scaledobjects', apps, `app-${String(i).padStart(2, '0')}`)) === 3) n++;
    return n;
  };
  const partial = await waitFor(
    'a to be partway through its sweep',
    async () => {
      const n = await capped();
      return n >= 3 && n;
    },
    40_000,
    100,
  );
  a.serve.child.kill('SIGKILL');
  const killedAt = Date.now();
  t.ok(partial < OBJECTS, `a was killed mid-sweep (${partial} of ${OBJECTS} capped)`);
  const aPasses = [...logsWith(a, 'sweep finished'), ...logsWith(a, 'cache pass finished')];
  t.equal(aPasses.filter((l) => (l.touched as number) > 0).length, 0, 'a never finished a pass that touched objects', { passes: aPasses });

  await waitFor('b to take the Lease over', async () => logsWith(b, 'became the leader: running the re-touch timer').length > 0, 40_000);
  const tookOver = Date.now() - killedAt;
  t.ok(logsWith(b, 'the Lease expired; taking it over').length > 0, 'b waited for the claim to expire');
  await waitFor('every object capped', async () => (await capped()) === OBJECTS, 60_000, 500);
  const after = await c.call('GET', leasePath, [200]);
  t.equal(after.spec.holderIdentity, logsWith(b, 'became the leader: running the re-touch timer')[0]!.identity, 'b holds the Lease');
  t.ok(after.spec.leaseTransitions >= 1, 'one transition recorded');
  t.ok(tookOver < 30_000, `taken over ${tookOver} ms after the kill (lease 15 s, retry 2 s)`);

  await b.serve.stop('SIGTERM');
  const released = await c.call('GET', leasePath, [200]);
  t.notOk(released.spec.holderIdentity, 'b released the Lease on SIGTERM');
});
