import t, { type Test } from 'tap';
import { kubeApiFromUrl } from '../../src/cluster/api.js';
import { Informer, keyOf } from '../../src/cluster/informer.js';
import { slimObject, type CachedObject } from '../../src/cluster/objects.js';
import { FakeKube } from '../helpers/fake-kube.js';
import { instantClock } from '../helpers/clock.js';
import { captureLogger } from '../helpers/log.js';
import { until } from '../helpers/until.js';

type Change = [string, string | undefined, string | undefined];

async function setup(t: Test, objects = 3, extra: { pageSize?: number; backoffInitialMs?: number } = {}) {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  for (let i = 0; i < objects; i++)
    fake.addObject('scaledobjects', { metadata: { name: `so-${String(i).padStart(4, '0')}`, namespace: 'team' }, spec: { maxReplicaCount: 10 } });
  const changes: Change[] = [];
  const synced: string[] = [];
  const clock = instantClock();
  const { logger, lines } = captureLogger();
  const informer = new Informer<CachedObject>({
    api: kubeApiFromUrl(fake.url),
    logger,
    clock,
    path: '/apis/keda.sh/v1alpha1/scaledobjects',
    resource: 'scaledobjects',
    keep: (raw) => slimObject('ScaledObject', 'scaledobjects', raw),
    unchanged: (a, b) => a.resourceVersion === b.resourceVersion,
    onChange: (key, before, after) =>
      changes.push([key, before && String(before.object.spec?.maxReplicaCount), after && String(after.object.spec?.maxReplicaCount)]),
    onSynced: (reason) => synced.push(reason),
    ...extra,
  });
  t.teardown(() => informer.stop());
  const watches = () => fake.requests.filter((r) => r.path === '/apis/keda.sh/v1alpha1/scaledobjects' && r.query.get('watch') === '1');
  const lists = () => fake.requests.filter((r) => r.path === '/apis/keda.sh/v1alpha1/scaledobjects' && !r.query.get('watch'));
  return { fake, informer, changes, synced, clock, lines, watches, lists };
}

const setMax = (max: number) => (o: { spec?: Record<string, unknown> }) => ({ ...o, spec: { ...o.spec, maxReplicaCount: max } }) as never;

t.test('lists in pages, keeps only what the decision reads, then watches from the list version with bookmarks', async (t) => {
  const { fake, informer, changes, synced, watches, lists } = await setup(t, 1201, { pageSize: 500 });
  fake.updateObject('scaledobjects', 'team', 'so-0000', (o) => ({
    ...o,
    metadata: { ...o.metadata, annotations: { 'keda-carbon.io/policy': 'standard', 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(1000) } },
    spec: { ...o.spec, triggers: [{ type: 'cpu' }] },
  }));
  informer.start();
  await informer.whenSynced();
  t.equal(informer.size, 1201);
  t.same(
    lists().map((r) => [r.query.get('limit'), r.query.get('continue') !== null]),
    [
      ['500', false],
      ['500', true],
      ['500', true],
    ],
    "three pages, each after the last one's continue token",
  );
  t.same(
    informer.get('team/so-0000')!.object,
    {
      metadata: {
        name: 'so-0000',
        namespace: 'team',
        annotations: { 'keda-carbon.io/policy': 'standard' },
        uid: fake.getObject('scaledobjects', 'team', 'so-0000')!.metadata.uid,
      },
      spec: { maxReplicaCount: 10 },
    },
    'no triggers, no foreign annotations',
  );
  t.same(synced, ['start']);
  t.same(changes, [], 'the first list is not reported as changes');
  await until(() => watches().length === 1, 'the watch');
  const w = watches()[0]!;
  t.equal(w.query.get('allowWatchBookmarks'), 'true');
  t.equal(w.query.get('resourceVersion'), String(fake.currentResourceVersion), 'from the version of the list');
});

t.test('every add, edit and delete is reported once, with the state before and after', async (t) => {
  const { fake, informer, changes, watches } = await setup(t, 1);
  informer.start();
  await informer.whenSynced();
  await until(() => fake.openWatches === 1, 'the watch');
  fake.addObject('scaledobjects', { metadata: { name: 'new', namespace: 'team' }, spec: { maxReplicaCount: 4 } });
  fake.updateObject('scaledobjects', 'team', 'new', setMax(5));
  fake.deleteObject('scaledobjects', 'team', 'new');
  fake.addObject('scaledobjects', { metadata: { name: 'going', namespace: 'team', deletionTimestamp: '2026-01-01T00:00:00Z' }, spec: { maxReplicaCount: 4 } });
  await until(() => changes.length === 3 && informer.counts.events === 4, 'the events');
  t.same(changes, [
    ['team/new', undefined, '4'],
    ['team/new', '4', '5'],
    ['team/new', '5', undefined],
  ]);
  t.equal(informer.get('team/going'), undefined, 'an object being deleted is not kept: nothing left to cap');
  t.equal(watches().length, 1, 'one watch throughout');
});

t.test('a bookmark moves the version a dropped watch resumes from; no relist', async (t) => {
  const { fake, informer, changes, watches } = await setup(t, 1);
  informer.start();
  await informer.whenSynced();
  await until(() => fake.openWatches === 1, 'the watch');
  fake.sendBookmark();
  await until(() => informer.counts.bookmarks === 1, 'the bookmark');
  const bookmarkRv = fake.currentResourceVersion;
  fake.dropWatches();
  await until(() => watches().length === 2, 'the second watch');
  t.equal(watches()[1]!.query.get('resourceVersion'), String(bookmarkRv), 'resumed from the bookmark');
  fake.dropWatches();
  await until(() => watches().length === 3 && fake.openWatches === 1, 'the third watch');
  fake.updateObject('scaledobjects', 'team', 'so-0000', setMax(7));
  await until(() => changes.length === 1, 'the edit');
  t.equal(informer.counts.lists, 1, 'never listed again');
  t.same(changes, [['team/so-0000', '10', '7']]);
});

t.test('410 Gone in the stream or as the answer: list again and report only what changed', async (t) => {
  const { fake, informer, changes, synced, lines } = await setup(t, 3);
  informer.start();
  await informer.whenSynced();
  await until(() => fake.openWatches === 1, 'the watch');
  fake.dropWatches();
  fake.keepHistory = false; // what the watch misses now is gone for good
  fake.updateObject('scaledobjects', 'team', 'so-0001', setMax(2));
  fake.deleteObject('scaledobjects', 'team', 'so-0002');
  fake.compactedBelow = fake.currentResourceVersion;
  await until(() => synced.length === 2, 'the relist after the ERROR event');
  t.same(synced, ['start', '410 Gone']);
  t.same(
    changes,
    [
      ['team/so-0002', '10', undefined],
      ['team/so-0001', '10', '2'],
    ],
    'the unchanged object is not reported',
  );
  t.ok(lines.some((l) => l.includes('watch expired (410 Gone); listing again')));

  await until(() => fake.openWatches === 1, 'the new watch');
  let once = true;
  fake.faults = [(r) => (r.query.get('watch') === '1' && once ? ((once = false), { status: 410 }) : undefined)];
  fake.dropWatches();
  await until(() => synced.length === 3, 'the relist after an HTTP 410');
  t.equal(informer.counts.gone, 2);
});

t.test('a continue token that expires between pages starts the list over', async (t) => {
  const { fake, informer, lists } = await setup(t, 25, { pageSize: 10 });
  let expired = false;
  fake.faults = [
    (r) => {
      if (!expired && r.query.get('continue')) {
        expired = true;
        fake.expireContinueTokens();
      }
      return undefined;
    },
  ];
  informer.start();
  await informer.whenSynced();
  t.equal(informer.size, 25, 'a consistent, complete list');
  t.same(
    lists().map((r) => r.query.get('continue') !== null),
    [false, true, false, true, true],
    'page 2 answered 410; the list started over',
  );
  t.equal(informer.counts.gone, 1);
});

t.test('errors back off exponentially (backoffDelay), then the cache recovers', async (t) => {
  const { fake, informer, clock, lines, watches } = await setup(t, 1, { backoffInitialMs: 1000 });
  let listFailures = 3;
  fake.faults = [(r) => (r.path.endsWith('/scaledobjects') && !r.query.get('watch') && listFailures-- > 0 ? { status: 503 } : undefined)];
  informer.start();
  await informer.whenSynced();
  t.same(clock.delays.slice(0, 3), [1000, 2000, 4000]);
  t.equal(lines.filter((l) => l.includes('listing scaledobjects failed')).length, 3);
  await until(() => watches().length === 1, 'the watch');
  clock.delays.length = 0;
  const listsBefore = informer.counts.lists;
  let watchFailures = 2;
  fake.faults = [(r) => (r.query.get('watch') === '1' && watchFailures-- > 0 ? { status: 500 } : undefined)];
  fake.dropWatches();
  await until(() => watches().length === 4 && fake.openWatches === 1, 'the watch back after two failures');
  t.same(clock.delays.slice(0, 2), [1000, 2000], 'the failure count was reset by the good list');
  t.equal(informer.counts.lists, listsBefore, 'a failing watch does not relist');
});

t.test('resync lists again; stop ends the watch and releases waiters', async (t) => {
  const { fake, informer, changes, synced } = await setup(t, 2);
  const waiting = informer.whenSynced();
  informer.start();
  await waiting;
  await until(() => fake.openWatches === 1, 'the watch');
  informer.resync();
  await until(() => synced.length === 2 && fake.openWatches === 1, 'the resync');
  t.same(synced, ['start', 'resync']);
  t.same(changes, [], 'nothing changed, nothing reported');
  informer.stop();
  await until(() => fake.openWatches === 0, 'the watch closed');
  const requests = fake.requests.length;
  // A canary on the same server: by the time its list has been answered and its watch is
  // open (two round trips), a re-watch of the stopped informer, whose clock fires at once,
  // would have reached the server too.
  const canary = new Informer({
    api: kubeApiFromUrl(fake.url),
    logger: captureLogger().logger,
    path: '/apis/keda.sh/v1alpha1/scaledobjects',
    resource: 'canary',
    keep: () => null,
  });
  canary.start();
  t.teardown(() => canary.stop());
  await until(() => fake.openWatches === 1, "the canary's watch");
  t.same(
    fake.requests.slice(requests).map((r) => r.path),
    ['/apis/keda.sh/v1alpha1/scaledobjects', '/apis/keda.sh/v1alpha1/scaledobjects'],
    'silent once stopped: only the canary spoke',
  );
  const stopped = new Informer({ api: kubeApiFromUrl(fake.url), logger: captureLogger().logger, path: '/x', resource: 'x', keep: () => null });
  await stopped.whenSynced(); // never started: resolves at once
  t.equal(keyOf({ metadata: { name: 'a' } }), 'a', 'cluster-scoped objects by name');
  t.equal(keyOf({ metadata: { name: 'a', namespace: 'n' } }), 'n/a');
  t.equal(keyOf({}), undefined);
});
