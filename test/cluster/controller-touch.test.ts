// When the controller touches an object, and what it does when a touch is not applied or fails.
import t from 'tap';
import { ANNOTATION } from '../../src/core/names.js';
import { MINUTE } from '../helpers/carbon.js';
import { H0, controllerRig } from '../helpers/controller-rig.js';
import type { FakeObject } from '../helpers/fake-kube.js';
import { duplicateKeys } from '../helpers/json-keys.js';

t.test('an enforce status written before the line always carried its mode is not a reason to touch', async (t) => {
  const s = await controllerRig(t);
  const capped = s.fake.admit!(
    'scaledobjects',
    { metadata: { name: 'old', namespace: 'labelled', annotations: {} }, spec: { maxReplicaCount: 10 } },
    undefined,
  ) as FakeObject;
  const annotations = capped.metadata.annotations!;
  const { mode, ...before } = JSON.parse(annotations[ANNOTATION.status]!);
  t.equal(mode, 'enforce', 'the webhook writes the mode now');
  s.fake.addObject('scaledobjects', {
    ...capped,
    metadata: { ...capped.metadata, annotations: { ...annotations, [ANNOTATION.status]: JSON.stringify(before) } },
  });
  t.equal(s.max('labelled', 'old'), 3, 'the cap is in place');
  await s.start();
  t.equal(s.fake.counts.patches, 0, 'not touched');
  t.match(
    s.lines.find((l) => l.includes('"msg":"sweep finished"')),
    /"touched":0/,
  );
});

t.test('a touch the webhook does not apply is reported once, not repeated for its own watch event', async (t) => {
  const s = await controllerRig(t, { admit: false });
  s.create('labelled', 'web', 10);
  await s.start();
  await s.drive(() => s.controller.counts.unapplied === 1, 'the unapplied touch');
  for (let i = 0; i < 20; i++) await s.step();
  await s.quiet();
  t.equal(s.fake.counts.patches, 1, 'touched once');
  const unapplied = s.lines.find((l) => l.includes('is the webhook registered and reachable')) ?? '';
  t.match(JSON.parse(unapplied || '{}'), { name: 'keda-carbon', namespace: 'labelled', objectName: 'web' });
  for (const line of s.lines) t.same(duplicateKeys(line), [], line.slice(0, 120));
  t.match(
    s.lines.find((l) => l.includes('"msg":"sweep finished"')),
    /"touched":1,"changed":0,"unapplied":1/,
  );
});

t.test('a touch that keeps failing is retried with a growing backoff until it succeeds, with no list', async (t) => {
  // One attempt per touch: what retries here is the work queue.
  const s = await controllerRig(t, { maxAttempts: 1 });
  s.create('labelled', 'web', 10);
  await s.start();
  t.equal(s.max('labelled', 'web'), 3);
  s.fake.faults = [(r) => (r.method === 'PATCH' ? { status: 500 } : undefined)];
  await s.jumpTo(H0 + 60 * MINUTE - 500);
  const failures = () => s.lines.filter((l) => l.includes('"msg":"touch failed; retrying with backoff"')).map((l) => JSON.parse(l));
  await s.drive(() => failures().length >= 5, 'five failed touches', 200);
  t.same(
    failures()
      .slice(0, 5)
      .map((f) => f.retryMs),
    [500, 1000, 2000, 4000, 8000],
    'the delay doubles per failure',
  );
  t.match(failures()[0], { kind: 'ScaledObject', namespace: 'labelled', objectName: 'web', status: 500, retries: 1 });
  t.equal(s.max('labelled', 'web'), 3, 'still the old cap');
  // An edit does not wait out the backoff (16 s now): its watch event brings the key back at once.
  const before = failures().length;
  const editedAt = s.clock.now();
  s.fake.updateObject('scaledobjects', 'labelled', 'web', (o) => ({ ...o, metadata: { ...o.metadata, labels: { edited: 'yes' } } }));
  await s.drive(() => failures().length > before, 'a touch right after the edit', 20);
  t.ok(s.clock.now() - editedAt < 2000, 'tried again within 2 s of the edit');
  s.fake.faults = [];
  await s.drive(() => s.max('labelled', 'web') === 10, 'the retry after the API server takes writes again', 200);
  t.equal(s.lists(), 2, 'no list: the queue retried it');
  await s.drive(() => s.controller.counts.changed === 1, 'the touch counted');
  t.equal(s.controller.counts.failed, failures().length, 'every failure counted');
});
