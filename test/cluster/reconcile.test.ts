import t, { type Test } from 'tap';
import { kubeApiFromUrl } from '../../src/cluster/api.js';
import { EventRecorder } from '../../src/cluster/events.js';
import { NamespaceCache } from '../../src/cluster/namespaces.js';
import { ObjectCache } from '../../src/cluster/objects.js';
import { PoliteClient } from '../../src/cluster/polite.js';
import { Reconciler, TouchFailedError, type ControllerCounts } from '../../src/cluster/reconcile.js';
import { NamespaceScope } from '../../src/cluster/scope.js';
import { parseConfigText, type RuntimeConfig } from '../../src/config/config.js';
import { ANNOTATION } from '../../src/core/names.js';
import { noControllerMetrics } from '../../src/ports.js';
import { webhook } from '../helpers/admit.js';
import { HOUR, MINUTE, hourly } from '../helpers/carbon.js';
import { FakeClock } from '../helpers/clock.js';
import { FakeKube, type FakeObject } from '../helpers/fake-kube.js';
import { captureLogger } from '../helpers/log.js';
import { until } from '../helpers/until.js';

const H0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const START = H0 + 50 * MINUTE;
const BAND = '{"carbon":[{"measuredEmission":300,"allowedMaxReplicaCount":3}]}';

const config = (follow = true): RuntimeConfig =>
  parseConfigText(`policies: {}\ntouch:\n  interval: 1h\n  followForecast: ${follow}\n  namespaceSelector: '!skip'\n`, 'test');

/** A Reconciler over a real object cache on the fake API server, with the webhook stand-in admitting at the fake clock's time. */
async function setup(t: Test) {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  fake.setNamespace('team');
  fake.setNamespace('skipped', { skip: 'yes' });
  const clock = new FakeClock(START);
  let cfg = config();
  // 400 g until 11:00, then 200 g: capped to 3, then the declared max again.
  let snapshot = hourly(H0, [400, 200, 400, 400], START, 6 * HOUR);
  fake.admit = webhook(
    fake,
    clock,
    () => cfg,
    () => snapshot,
  );
  const api = kubeApiFromUrl(fake.url);
  const { logger, lines } = captureLogger();
  // One attempt: the queue, not the client, is what retries in these tests.
  const client = new PoliteClient(api, { qps: 1000, burst: 1000, maxInFlight: 8, maxAttempts: 1 });
  const namespaces = new NamespaceCache({ api, logger });
  const objects = new ObjectCache({ api, logger, onChange: () => undefined });
  namespaces.start();
  objects.start();
  await namespaces.whenSynced();
  await objects.whenSynced();
  t.teardown(() => {
    objects.stop();
    namespaces.stop();
  });
  const counts: ControllerCounts = { fullPasses: 0, relistPasses: 0, evaluated: 0, queued: 0, touched: 0, changed: 0, unapplied: 0, failed: 0, invalid: 0 };
  const requeued: string[] = [];
  const reconciler = new Reconciler({
    objects,
    namespaces,
    scope: new NamespaceScope(namespaces),
    client,
    events: new EventRecorder(client, logger, 'test', clock.now),
    config: () => cfg,
    carbon: { snapshot: () => snapshot },
    logger,
    metrics: noControllerMetrics,
    ledger: undefined,
    clock,
    counts,
    requeue: (key) => requeued.push(key),
    boundaryDelayMs: 1000,
    signal: () => undefined,
  });
  const add = (ns: string, name: string, max: number, annotations: Record<string, string> = { [ANNOTATION.environmentalImpact]: BAND }) => {
    const obj: FakeObject = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name, namespace: ns, annotations },
      spec: { maxReplicaCount: max },
    };
    return fake.addObject('scaledobjects', fake.admit!('scaledobjects', obj, undefined) as FakeObject);
  };
  const cached = (ns: string, name: string) => objects.get(`scaledobjects/${ns}/${name}`);
  const rv = (ns: string, name: string) => fake.getObject('scaledobjects', ns, name)?.metadata.resourceVersion;
  return {
    fake,
    clock,
    counts,
    lines,
    requeued,
    reconciler,
    add,
    /** Wait until the cache holds the object's stored version. */
    seen: (ns: string, name: string) =>
      until(() => cached(ns, name) !== undefined && cached(ns, name)?.resourceVersion === rv(ns, name), `the cache to hold ${name}`),
    max: (name: string) => fake.getObject('scaledobjects', 'team', name)?.spec?.maxReplicaCount,
    setConfig: (c: RuntimeConfig) => (cfg = c),
    setCarbon: (s: typeof snapshot) => (snapshot = s),
  };
}

t.test('a capped object: no touch, called again one second after its next cap change', async (t) => {
  const s = await setup(t);
  s.add('team', 'web', 10);
  await s.seen('team', 'web');
  t.equal(s.max('web'), 3);
  const out = await s.reconciler.reconcile('scaledobjects/team/web');
  t.same(out, { requeueAfter: H0 + HOUR - START + 1000 }, 'at 11:00 plus the boundary delay');
  t.equal(s.fake.counts.patches, 0);
  t.equal(s.reconciler.nextChangeOf('scaledobjects/team/web'), H0 + HOUR);
  s.setConfig(config(false));
  t.same(await s.reconciler.reconcile('scaledobjects/team/web'), {}, 'not following the forecast: the resync brings it back');
});

t.test('a stale cap is touched once; a cache that lags behind our write causes no second touch', async (t) => {
  const s = await setup(t);
  s.add('team', 'web', 10);
  await s.seen('team', 'web');
  await s.clock.advance(H0 + HOUR + 1000 - s.clock.now());
  const out = await s.reconciler.reconcile('scaledobjects/team/web');
  t.equal(s.max('web'), 10, 'the webhook uncapped it at 200 g');
  t.equal(s.fake.counts.patches, 1);
  t.same(out, { requeueAfter: H0 + 2 * HOUR - s.clock.now() + 1000 }, 'next: 400 g again at 12:00');
  // The cache may not have the write yet: reconciling again must not touch again.
  await s.reconciler.reconcile('scaledobjects/team/web');
  await s.seen('team', 'web');
  await s.reconciler.reconcile('scaledobjects/team/web');
  t.equal(s.fake.counts.patches, 1, 'one touch per needed change');
  t.match(s.counts, { touched: 1, changed: 1, failed: 0 });
});

t.test('a one-off window: the cap is lifted at its start and restored at its end, on the fake clock', async (t) => {
  const s = await setup(t);
  // 10:52:30 to 10:57:00, inside the 400 g hour: only the window changes the cap.
  const [start, end] = [H0 + 52 * MINUTE + 30_000, H0 + 57 * MINUTE];
  const policy = {
    carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }],
    ecoModeOff: { windows: [{ start: '2026-11-23T10:52:30Z', end: '2026-11-23T11:57:00+01:00' }] },
  };
  s.add('team', 'sale', 10, { [ANNOTATION.environmentalImpact]: JSON.stringify(policy) });
  await s.seen('team', 'sale');
  t.equal(s.max('sale'), 3, 'before the window: capped');
  t.same(await s.reconciler.reconcile('scaledobjects/team/sale'), { requeueAfter: start - START + 1000 }, 'called again just after the start');
  await s.clock.advance(start + 1000 - s.clock.now());
  t.same(await s.reconciler.reconcile('scaledobjects/team/sale'), { requeueAfter: end - s.clock.now() + 1000 }, 'then just after the end');
  t.equal(s.max('sale'), 10, 'inside the window: the declared max');
  const stored = s.fake.getObject('scaledobjects', 'team', 'sale')!;
  t.match(JSON.parse(stored.metadata.annotations![ANNOTATION.status]!), { cap: 10, ecoMode: 'off', rule: null });
  await s.seen('team', 'sale');
  await s.clock.advance(end + 1000 - s.clock.now());
  await s.reconciler.reconcile('scaledobjects/team/sale');
  t.equal(s.max('sale'), 3, 'after the window: capped again');
  t.equal(s.fake.counts.patches, 2, 'one touch at each edge');
});

t.test('a touch the API server refuses throws, so the queue retries it', async (t) => {
  const s = await setup(t);
  s.add('team', 'web', 10);
  await s.seen('team', 'web');
  await s.clock.advance(H0 + HOUR + 1000 - s.clock.now());
  s.fake.faults = [(r) => (r.method === 'PATCH' ? { status: 500 } : undefined)];
  await t.rejects(s.reconciler.reconcile('scaledobjects/team/web'), TouchFailedError);
  t.equal(s.counts.failed, 1);
  t.equal(s.max('web'), 3);
  s.fake.faults = [];
  await s.reconciler.reconcile('scaledobjects/team/web');
  t.equal(s.max('web'), 10, 'the retry touches: a failure is not remembered as our write');
});

t.test('gone, out of scope, or without a policy: nothing to do and nothing to wait for', async (t) => {
  const s = await setup(t);
  s.add('skipped', 'out', 10);
  s.add('team', 'plain', 10, {});
  await s.seen('skipped', 'out');
  await s.seen('team', 'plain');
  t.same(await s.reconciler.reconcile('scaledobjects/team/none'), {});
  t.same(await s.reconciler.reconcile('scaledobjects/skipped/out'), {});
  t.same(await s.reconciler.reconcile('scaledobjects/team/plain'), {});
  t.equal(s.fake.counts.patches, 0);
  t.equal(s.reconciler.nextChangeOf('scaledobjects/team/plain'), null);
  t.same(s.requeued, []);
});

t.test('new data: each distinct subject says when its cap changes, with its keys', async (t) => {
  const s = await setup(t);
  s.add('team', 'a', 10);
  s.add('team', 'b', 10);
  await s.seen('team', 'a');
  await s.seen('team', 'b');
  await s.reconciler.reconcile('scaledobjects/team/a');
  await s.reconciler.reconcile('scaledobjects/team/b');
  t.same(
    [...s.reconciler.dueGroups()].map((g) => [g.at, [...g.keys]]),
    [[H0 + HOUR, ['scaledobjects/team/a', 'scaledobjects/team/b']]],
    'one subject, two keys',
  );
  s.setCarbon(hourly(H0, [100, 100, 100, 100], START, 6 * HOUR));
  t.same(
    [...s.reconciler.dueGroups()].map((g) => g.at),
    [START],
    'the new data changes their cap now',
  );
});
