import t, { type Test } from 'tap';
import { kubeApiFromUrl } from '../../src/cluster/api.js';
import { FakeKube } from '../helpers/fake-kube.js';
import { NamespaceCache } from '../../src/cluster/namespaces.js';
import { silentLogger } from '../../src/log.js';
import { captureLogger } from '../helpers/log.js';
import { until } from '../helpers/until.js';

const LABEL = 'keda-carbon.io/policy';

async function setup(t: Test, extra: Partial<ConstructorParameters<typeof NamespaceCache>[0]> = {}) {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  fake.setNamespace('team', { [LABEL]: 'standard' });
  fake.setNamespace('apps', { other: 'x' });
  const changes: Array<[string, string | null, string | null]> = [];
  const { logger, lines } = captureLogger();
  const cache = new NamespaceCache({ api: kubeApiFromUrl(fake.url), logger, backoffInitialMs: 10, onPolicyChange: (...c) => changes.push(c), ...extra });
  t.teardown(() => cache.stop());
  return { fake, cache, changes, lines };
}

t.test('answers from memory after the first list, and follows the watch', async (t) => {
  const { fake, cache, changes } = await setup(t);
  cache.start();
  await cache.whenSynced();
  t.equal(cache.policyFor('team'), 'standard', 'synchronous: no API call');
  t.equal(cache.policyFor('apps'), null);
  const requestsAfterSync = fake.requests.length;
  for (let i = 0; i < 100; i++) cache.policyFor('team');
  await until(() => fake.requests.length > requestsAfterSync - 1, 'the watch');
  t.equal(fake.requests.filter((r) => r.path === '/api/v1/namespaces/team').length, 0, 'never a GET per lookup');

  fake.setNamespace('apps', { [LABEL]: 'strict' });
  await until(() => cache.policyFor('apps') === 'strict', 'label added');
  fake.setNamespace('team', {});
  await until(() => cache.policyFor('team') === null, 'label removed');
  fake.setNamespace('new', { [LABEL]: ' standard ' });
  await until(() => cache.policyFor('new') === 'standard', 'a new namespace, value trimmed');
  fake.deleteNamespace('new');
  await until(() => changes.length === 4, 'deletion');
  t.same(changes, [
    ['apps', null, 'strict'],
    ['team', 'standard', null],
    ['new', null, 'standard'],
    ['new', 'standard', null],
  ]);
});

t.test('a namespace not in the cache gets one GET; concurrent lookups share it', async (t) => {
  const { fake, cache } = await setup(t);
  // not started: nothing cached yet
  const a = cache.policyFor('team');
  const b = cache.policyFor('team');
  t.type(a, Promise);
  t.equal(a, b, 'one lookup in flight');
  t.equal(await a, 'standard');
  t.equal(cache.policyFor('team'), 'standard', 'then cached');
  t.equal(fake.requests.filter((r) => r.path === '/api/v1/namespaces/team').length, 1);
  t.equal(await cache.policyFor('missing'), null, 'a namespace that does not exist has no policy');
});

t.test('a failed or slow GET throws, so admission proceeds fail-open with a warning', async (t) => {
  const { fake, cache } = await setup(t, { lookupTimeoutMs: 50 });
  fake.faults = [(r) => (r.path === '/api/v1/namespaces/team' ? { status: 500, body: { kind: 'Status', message: 'etcd unavailable' } } : undefined)];
  await t.rejects(Promise.resolve(cache.policyFor('team')), /GET \/api\/v1\/namespaces\/team answered 500: etcd unavailable/);
  fake.faults = [];
  fake.latencyMs = 500;
  await t.rejects(Promise.resolve(cache.policyFor('team')), /timed out after 50 ms/);
  fake.latencyMs = 0;
});

t.test('410 Gone on the watch: list again and report what changed meanwhile', async (t) => {
  const { fake, cache, changes, lines } = await setup(t);
  cache.start();
  await cache.whenSynced();
  await until(() => fake.openWatches === 1, 'watch open');
  // events the watch misses: the store moves on and compacts
  fake.dropWatches();
  fake.compactedBelow = fake.currentResourceVersion + 10;
  fake.setNamespace('team', { [LABEL]: 'strict' });
  for (let i = 0; i < 10; i++) fake.setNamespace(`filler-${i}`);
  await until(() => cache.counts.lists >= 2, 'the relist');
  await until(() => cache.policyFor('team') === 'strict', 'the missed change');
  t.same(
    changes.filter((c) => c[0] === 'team'),
    [['team', 'standard', 'strict']],
  );
  t.ok(
    lines.some((l) => l.includes('410 Gone')),
    'said why it listed again',
  );

  await until(() => fake.openWatches > 0, 'the new watch');
  fake.sendWatchGone();
  await until(() => cache.counts.lists >= 3, 'a 410 inside the stream lists again too');
});

t.test('a failing list retries with backoff; the cache says it may be out of date', async (t) => {
  const { fake, cache, lines } = await setup(t);
  let failures = 3;
  fake.faults = [(r) => (r.path === '/api/v1/namespaces' && !r.query.get('watch') && failures-- > 0 ? { status: 503 } : undefined)];
  cache.start();
  await cache.whenSynced();
  t.equal(cache.counts.lists, 4);
  t.equal(cache.policyFor('team'), 'standard');
  t.equal(lines.filter((l) => l.includes('listing namespaces failed')).length, 3);
  t.match(
    lines.find((l) => l.includes('listing namespaces failed')),
    /"retryInMs":10\b/,
  );
});

t.test('a dropped watch reconnects from the last resourceVersion', async (t) => {
  const { fake, cache } = await setup(t);
  cache.start();
  await cache.whenSynced();
  await until(() => cache.counts.watches === 1, 'watch open');
  fake.setNamespace('apps', { [LABEL]: 'a' });
  await until(() => cache.policyFor('apps') === 'a', 'first change');
  fake.dropWatches();
  fake.setNamespace('apps', { [LABEL]: 'b' });
  await until(() => cache.policyFor('apps') === 'b', 'the change made while disconnected');
  t.equal(cache.counts.lists, 1, 'no relist needed');
  const watches = fake.requests.filter((r) => r.query.get('watch') === '1');
  t.ok(Number(watches.at(-1)!.query.get('resourceVersion')) > Number(watches[0]!.query.get('resourceVersion')), 'resumed from a later version');
});

t.test('pages of namespaces are followed', async (t) => {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  for (let i = 0; i < 1201; i++) fake.setNamespace(`ns-${i}`, i === 1200 ? { [LABEL]: 'last' } : {});
  const cache = new NamespaceCache({ api: kubeApiFromUrl(fake.url), logger: silentLogger });
  t.teardown(() => cache.stop());
  cache.start();
  await cache.whenSynced();
  t.equal(cache.counts.lists, 3);
  t.equal(cache.policyFor('ns-1200'), 'last');
});

t.test('the cache keeps labels for the selector', async (t) => {
  const { fake, cache } = await setup(t);
  cache.start();
  await cache.whenSynced();
  t.same(cache.labelsOf('apps'), { other: 'x' });
  fake.setNamespace('apps', { other: 'y' });
  await until(() => cache.labelsOf('apps')?.other === 'y', 'watched label');
  t.equal(cache.labelsOf('nope'), undefined);
});
