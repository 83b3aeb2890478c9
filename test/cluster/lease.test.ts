import t, { type Test } from 'tap';
import { kubeApiFromUrl } from '../../src/cluster/api.js';
import { FakeKube } from '../helpers/fake-kube.js';
import { LeaderElector } from '../../src/cluster/lease.js';
import { FakeClock } from '../helpers/clock.js';
import { captureLogger } from '../helpers/log.js';
import { until } from '../helpers/until.js';

const START = Date.UTC(2026, 10, 23, 10, 0, 0);
const LEASE = 'keda-carbon/keda-carbon-retouch';

async function setup(t: Test) {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  fake.setNamespace('keda-carbon');
  const api = kubeApiFromUrl(fake.url);
  const { logger, lines } = captureLogger();
  const make = (identity: string, clock = new FakeClock(START)) => {
    const state = { started: 0, stopped: 0, signal: undefined as AbortSignal | undefined };
    const elector = new LeaderElector({
      api,
      namespace: 'keda-carbon',
      name: 'keda-carbon-retouch',
      identity,
      logger,
      clock,
      onStartedLeading: (s) => {
        state.started++;
        state.signal = s;
      },
      onStoppedLeading: () => state.stopped++,
    });
    t.teardown(() => elector.stop());
    /** Let time pass, then wait until the attempt it started has finished and the next is planned. */
    const step = async (ms: number) => {
      await clock.advance(ms);
      await until(() => clock.timers.length > 0, `${identity}'s next attempt`);
    };
    return { elector, clock, state, step };
  };
  const lease = () => fake.leases.get(LEASE);
  return { fake, make, lease, lines };
}

t.test('the first replica creates the Lease and leads; the second waits', async (t) => {
  const { make, lease, lines } = await setup(t);
  const a = make('a');
  const b = make('b');
  a.elector.start();
  await until(() => a.elector.isLeader, 'a leads');
  t.equal(a.state.started, 1);
  t.match(lease()!.spec, { holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });
  t.match(lease()!.spec!.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'MicroTime');
  b.elector.start();
  await until(() => b.clock.timers.length > 0, 'b tried');
  t.equal(b.elector.isLeader, false);
  t.ok(lines.some((l) => l.includes('another replica holds the Lease') && l.includes('"holder":"a"')));
  // a renews every 2 s; b never gets it however long it waits
  for (let i = 0; i < 10; i++) {
    await a.step(2000);
    await b.step(2000);
  }
  t.equal(b.elector.isLeader, false);
  t.equal(a.elector.isLeader, true);
  t.equal(lease()!.spec!.holderIdentity, 'a');
});

t.test('a holder that stops renewing is replaced once its claim expires on our clock', async (t) => {
  const { make, lease } = await setup(t);
  const a = make('a');
  const b = make('b');
  t.ok(await a.elector.tryAcquireOrRenew());
  t.notOk(await b.elector.tryAcquireOrRenew(), 'held');
  await b.clock.advance(14_000);
  t.notOk(await b.elector.tryAcquireOrRenew(), 'still within 15 s of when b saw it change');
  await b.clock.advance(1_001);
  t.ok(await b.elector.tryAcquireOrRenew(), 'expired: b takes over');
  t.match(lease()!.spec, { holderIdentity: 'b', leaseTransitions: 1 });
  t.notOk(await a.elector.tryAcquireOrRenew(), 'a, back from a pause, finds b holding a fresh claim');
});

t.test('409 Conflict means someone else wrote first', async (t) => {
  const { fake, make, lease } = await setup(t);
  const a = make('a');
  const b = make('b');
  t.ok(await a.elector.tryAcquireOrRenew());
  await b.clock.advance(1000);
  t.notOk(await b.elector.tryAcquireOrRenew());
  // b sees an expired claim, but a renews between b's read and b's write
  await b.clock.advance(16_000);
  fake.faults = [
    (r) => {
      if (r.method === 'PUT' && (r.body as { spec?: { holderIdentity?: string } }).spec?.holderIdentity === 'b') {
        fake.faults = [];
        return { status: 409, body: { kind: 'Status', reason: 'Conflict', message: 'the object has been modified' } };
      }
      return undefined;
    },
  ];
  t.notOk(await b.elector.tryAcquireOrRenew(), 'a conflict loses the race');
  t.equal(lease()!.spec!.holderIdentity, 'a');
  // both create at once: one POST wins, the other gets 409 AlreadyExists
  fake.leases.clear();
  const c = make('c');
  const d = make('d');
  const results = await Promise.all([c.elector.tryAcquireOrRenew(), d.elector.tryAcquireOrRenew()]);
  t.same(results.filter(Boolean).length, 1, 'exactly one wins the create');
});

t.test('a leader that cannot renew within the renew deadline steps down', async (t) => {
  const { fake, make, lines } = await setup(t);
  const a = make('a');
  a.elector.start();
  await until(() => a.elector.isLeader, 'a leads');
  await until(() => a.clock.timers.length > 0, 'next attempt planned');
  fake.faults = [(r) => (r.path.includes('/leases/') ? { status: 500, body: { kind: 'Status', message: 'etcdserver: request timed out' } } : undefined)];
  for (let i = 0; i < 4; i++) await a.step(2000);
  t.equal(a.elector.isLeader, true, 'still leading after 8 s without renewal');
  await a.step(2000);
  t.equal(a.elector.isLeader, false, 'stepped down at the 10 s renew deadline');
  t.equal(a.state.stopped, 1);
  t.equal(a.state.signal!.aborted, true, 'the timer signal is aborted');
  t.ok(lines.some((l) => l.includes('could not renew the Lease within the renew deadline')));
  t.ok(
    lines.some((l) => l.includes('etcdserver: request timed out')),
    'the server message is logged',
  );
  fake.faults = [];
  await a.step(2000);
  t.equal(a.elector.isLeader, true, 'and leads again once the API answers (the claim is still its own)');
  t.equal(a.state.started, 2);
});

t.test('a leader that sees another live holder steps down at once', async (t) => {
  const { fake, make } = await setup(t);
  const a = make('a');
  a.elector.start();
  await until(() => a.elector.isLeader, 'a leads');
  await until(() => a.clock.timers.length > 0, 'next attempt planned');
  const l = fake.leases.get(LEASE)!;
  fake.leases.set(LEASE, {
    ...l,
    spec: { ...l.spec, holderIdentity: 'intruder', renewTime: new Date(START).toISOString() },
    metadata: { ...l.metadata, resourceVersion: '999999' },
  });
  await a.step(2000);
  t.equal(a.elector.isLeader, false);
  t.equal(a.state.stopped, 1);
});

t.test('stop releases the Lease so another replica takes over at once', async (t) => {
  const { make, lease } = await setup(t);
  const a = make('a');
  const b = make('b');
  a.elector.start();
  await until(() => a.elector.isLeader, 'a leads');
  t.notOk(await b.elector.tryAcquireOrRenew());
  await a.elector.stop();
  t.equal(a.state.stopped, 1);
  t.notOk(lease()!.spec!.holderIdentity, 'holderIdentity cleared');
  t.equal(lease()!.spec!.leaseDurationSeconds, 1);
  t.ok(await b.elector.tryAcquireOrRenew(), 'b needs no expiry wait');
  t.equal(lease()!.spec!.holderIdentity, 'b');
  t.equal(lease()!.spec!.leaseTransitions, 1, 'a released Lease taken by another replica is a transition, as client-go counts');
});

t.test('a missing namespace is an error in the log, not a crash, and nobody leads', async (t) => {
  const { fake, make, lines } = await setup(t);
  fake.namespaces.delete('keda-carbon');
  const a = make('a');
  a.elector.start();
  await until(() => lines.some((l) => l.includes('could not read or write the Lease')), 'the error');
  t.equal(a.elector.isLeader, false);
  t.ok(lines.some((l) => l.includes('namespaces \\"keda-carbon\\" not found')));
});

t.test('bad timings are refused', async (t) => {
  const { fake } = await setup(t);
  t.throws(
    () =>
      new LeaderElector({
        api: kubeApiFromUrl(fake.url),
        namespace: 'x',
        name: 'y',
        identity: 'z',
        logger: captureLogger().logger,
        leaseDurationMs: 5000,
        renewDeadlineMs: 10_000,
        onStartedLeading: () => undefined,
        onStoppedLeading: () => undefined,
      }),
    /leaseDuration > renewDeadline > retryPeriod/,
  );
});
