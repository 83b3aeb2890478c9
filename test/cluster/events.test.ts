import t from 'tap';
import { kubeApiFromUrl } from '../../src/cluster/api.js';
import { EventRecorder } from '../../src/cluster/events.js';
import { PoliteClient } from '../../src/cluster/polite.js';
import { FakeKube } from '../helpers/fake-kube.js';
import { duplicateKeys } from '../helpers/json-keys.js';
import { captureLogger } from '../helpers/log.js';

t.test('Event names are unique per Event, across recorders, and start with the object name', async (t) => {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  const client = new PoliteClient(kubeApiFromUrl(fake.url), { qps: 1000, burst: 1000, maxInFlight: 8 });
  const { logger } = captureLogger();
  const object = { metadata: { name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: '7' } };
  // Two recorders stand for a restart or a new leader writing Events on the same object.
  for (const recorder of [new EventRecorder(client, logger, 'a'), new EventRecorder(client, logger, 'b')]) {
    for (let i = 0; i < 3; i++) await recorder.capChanged({ kind: 'ScaledObject', object }, 10, 3, 'rule x');
    t.same(recorder.counts, { normal: 3, warning: 0, failed: 0 });
  }
  const names = fake.events.map((e) => e.metadata.name);
  t.equal(names.length, 6);
  t.equal(new Set(names).size, 6, 'no two Events share a name');
  for (const name of names) t.match(name, /^web\.[0-9a-f]{16}$/);
  t.match(fake.events[0], {
    involvedObject: { kind: 'ScaledObject', name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: '7' },
    reason: 'CarbonCapChanged',
  });
});

t.test('an Event that cannot be written is logged once, naming the object without a second "name" key', async (t) => {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  fake.faults.push((req) => (req.method === 'POST' ? { status: 403 } : undefined));
  const client = new PoliteClient(kubeApiFromUrl(fake.url), { qps: 1000, burst: 1000, maxInFlight: 8 });
  const { logger, lines } = captureLogger();
  const recorder = new EventRecorder(client, logger, 'a');
  await recorder.capChanged({ kind: 'ScaledObject', object: { metadata: { name: 'web', namespace: 'shop', uid: 'u1' } } }, 10, 3, 'rule x');
  t.same(recorder.counts, { normal: 0, warning: 0, failed: 1 });
  const warning = lines.find((l) => l.includes('could not record an Event'));
  t.ok(warning, 'the failure is logged');
  t.same(duplicateKeys(warning ?? ''), [], warning ?? 'no line');
  t.match(JSON.parse(warning ?? '{}'), { name: 'keda-carbon', namespace: 'shop', objectName: 'web', status: 403 });
});
