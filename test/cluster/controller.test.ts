import t, { type Test } from 'tap';
import { Controller } from '../../src/cluster/controller.js';
import { EventRecorder } from '../../src/cluster/events.js';
import { NamespaceCache } from '../../src/cluster/namespaces.js';
import { ObjectCache } from '../../src/cluster/objects.js';
import { PoliteClient } from '../../src/cluster/polite.js';
import { parseConfigText, type RuntimeConfig } from '../../src/config/config.js';
import type { CarbonSnapshot } from '../../src/core/carbon.js';
import { ANNOTATION } from '../../src/core/names.js';
import { createMetrics } from '../../src/server/metrics.js';
import { HOUR, MINUTE, hourly } from '../helpers/carbon.js';
import { webhook } from '../helpers/admit.js';
import { FakeClock } from '../helpers/clock.js';
import { FakeKube, type FakeObject } from '../helpers/fake-kube.js';
import { duplicateKeys } from '../helpers/json-keys.js';
import { captureLogger } from '../helpers/log.js';
import { until } from '../helpers/until.js';

const H0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const START = H0 + 50 * MINUTE;
const BAND = '{"carbon":[{"measuredEmission":300,"allowedMaxReplicaCount":3}]}';
const scheduled = (cron: string) =>
  JSON.stringify({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }], ecoModeOff: { recurringSchedule: [cron] } });

function config(extra = ''): RuntimeConfig {
  return parseConfigText(
    `policies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]\ntouch:\n  interval: 1h\n  followForecast: true\n  namespaceSelector: '!skip'\n${extra}`,
    'test',
  );
}

async function setup(t: Test, opts: { admit?: boolean; carbon?: CarbonSnapshot; maxAttempts?: number } = {}) {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  fake.setNamespace('team');
  fake.setNamespace('labelled', { 'keda-carbon.io/policy': 'standard' });
  fake.setNamespace('skipped', { skip: 'yes' });
  const clock = new FakeClock(START);
  let cfg = config();
  let snapshot = opts.carbon ?? hourly(H0, [400, 200, 400, 400], START, 6 * HOUR);
  if (opts.admit !== false)
    fake.admit = webhook(
      fake,
      clock,
      () => cfg,
      () => snapshot,
    );
  const api = fake.trackedApi();
  const { logger, lines } = captureLogger();
  const metrics = createMetrics();
  const client = new PoliteClient(api, { qps: 1000, burst: 1000, maxInFlight: 8, ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}) });
  const events = new EventRecorder(client, logger, 'test', clock.now);
  let controller: Controller | undefined;
  const namespaces = new NamespaceCache({ api, logger, onLabelsChange: (ns) => controller?.namespaceChanged(ns) });
  const objects = new ObjectCache({ api, logger, onChange: (...c) => controller?.objectChanged(...c), onSynced: (p, r) => controller?.listed(p, r) });
  controller = new Controller({
    objects,
    namespaces,
    client,
    events,
    config: () => cfg,
    carbon: { snapshot: () => snapshot },
    logger,
    metrics: metrics.controller,
    clock,
  });
  namespaces.start();
  await namespaces.whenSynced();
  const leadership = new AbortController();
  t.teardown(async () => {
    await controller!.stop();
    namespaces.stop();
  });
  /** Wait until the queue is idle and the loopback I/O done: what fake time may move on after. */
  const quiet = async (): Promise<void> => {
    await controller!.idle();
    await until(() => api.settled, 'every request answered and every watched change delivered');
  };
  /** One round: quiet, then fake time moves 100 ms. */
  const step = async (): Promise<void> => {
    await quiet();
    await clock.advance(100);
  };
  /** Rounds until `cond` holds. */
  const drive = async (cond: () => boolean, what: string, rounds = 300): Promise<void> => {
    for (let i = 0; i < rounds; i++) {
      if (cond()) return;
      await step();
    }
    throw new Error(`never happened: ${what}`);
  };
  /** Jump the fake clock to `at` (no I/O may be pending), then drive until quiet. */
  const jumpTo = async (at: number) => {
    await clock.advance(at - clock.now());
  };
  const max = (ns: string, name: string, plural: 'scaledobjects' | 'scaledjobs' = 'scaledobjects') => fake.getObject(plural, ns, name)?.spec?.maxReplicaCount;
  const lists = () => fake.requests.filter((r) => r.path.startsWith('/apis/keda.sh/') && r.method === 'GET' && !r.query.get('watch')).length;
  return {
    fake,
    clock,
    controller,
    objects,
    lines,
    metrics,
    leadership,
    quiet,
    step,
    drive,
    jumpTo,
    max,
    lists,
    setConfig: (c: RuntimeConfig) => (cfg = c),
    setCarbon: (s: CarbonSnapshot) => (snapshot = s),
    start: async () => {
      controller!.start(leadership.signal);
      await drive(() => lines.some((l) => l.includes('"msg":"sweep finished"')), 'the first sweep');
    },
    create: (ns: string, name: string, declared: number, annotations: Record<string, string> = {}) => {
      const obj: FakeObject = {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name, namespace: ns, annotations },
        spec: { maxReplicaCount: declared },
      };
      return fake.addObject('scaledobjects', fake.admit ? (fake.admit('scaledobjects', obj, undefined) as FakeObject) : obj);
    },
  };
}

t.test('objects created and edited after the first sweep follow band changes and schedule windows, with no list in between', async (t) => {
  const s = await setup(t);
  await s.start();
  const listsAfterStart = s.lists();
  t.equal(listsAfterStart, 2, 'one list per kind');

  // Created after the sweep, with an inline annotation policy: 3 at 400 g until 11:00.
  s.create('team', 'inline', 10, { [ANNOTATION.environmentalImpact]: BAND });
  // spec.environmentalImpact, with a schedule window the user then moves earlier.
  s.fake.addObject('scaledobjects', {
    metadata: { name: 'sched', namespace: 'team' },
    spec: { maxReplicaCount: 10, environmentalImpact: JSON.parse(scheduled('35-36 11 * * *')) },
  });
  await s.drive(() => s.max('team', 'sched') === 3, 'the new object capped by a touch');
  t.equal(s.max('team', 'inline'), 3, 'capped on create by the webhook');
  t.equal(s.controller.nextChange('scaledobjects/team/inline'), H0 + 60 * MINUTE, 'the next moment of inline: the band change at 11:00');
  t.equal(s.controller.nextChange('scaledobjects/team/sched'), H0 + 60 * MINUTE, 'sched too: its window (11:35) comes after the band change');

  s.fake.updateObject('scaledobjects', 'team', 'sched', (o) => ({ ...o, spec: { ...o.spec, environmentalImpact: JSON.parse(scheduled('55-56 10 * * *')) } }));
  await s.drive(() => s.controller.nextChange('scaledobjects/team/sched') === H0 + 55 * MINUTE, 'the edited window is the next moment');

  await s.jumpTo(H0 + 55 * MINUTE - 500);
  t.equal(s.max('team', 'sched'), 3, 'not before the window');
  await s.drive(() => s.max('team', 'sched') === 10, 'eco mode off in the window');
  t.ok(s.clock.now() - (H0 + 55 * MINUTE) <= 5000, 'within 5 s of the window start');
  await s.drive(() => s.controller.nextChange('scaledobjects/team/sched') === H0 + 57 * MINUTE, 'the window end is next');
  await s.jumpTo(H0 + 57 * MINUTE - 500);
  await s.drive(() => s.max('team', 'sched') === 3, 'capped again after the window');

  await s.jumpTo(H0 + 60 * MINUTE - 500);
  t.equal(s.max('team', 'inline'), 3);
  await s.drive(() => s.max('team', 'inline') === 10 && s.max('team', 'sched') === 10, 'both uncapped at 200 g');
  t.ok(s.clock.now() - (H0 + 60 * MINUTE) <= 5000, 'within 5 s of the band change');
  t.equal(s.lists(), listsAfterStart, 'no list since the first sweep');
  t.equal(s.controller.counts.relistPasses, 1, 'one sweep: the first');
  t.equal(s.lines.filter((l) => l.includes('"msg":"sweep finished"')).length, 1);
  t.equal(s.controller.counts.failed, 0, 'every due touch succeeded the first time');
  t.ok(
    s.lines.some((l) => l.includes('"msg":"cache pass finished"') && l.includes('"reason":"forecast: a cap changes now"') && l.includes('"changed":2')),
    'the band change reconciled both objects as one pass',
    { lines: s.lines.filter((l) => l.includes('pass finished')) },
  );
  const inlineEvent = () =>
    s.fake.events.find((e) => (e.involvedObject as { name: string } | undefined)?.name === 'inline' && String(e.message).includes('3 -> 10'));
  await s.drive(() => inlineEvent() !== undefined, 'the Event (recorded after the touch answered)');
  t.match(inlineEvent(), { reason: 'CarbonCapChanged', message: 'maxReplicaCount 3 -> 10 (200 gCO2eq/kWh, no band applies)' });

  s.fake.deleteObject('scaledobjects', 'team', 'inline');
  s.fake.deleteObject('scaledobjects', 'team', 'sched');
  await s.drive(
    () => s.controller.nextChange('scaledobjects/team/inline') === null && s.controller.nextChange('scaledobjects/team/sched') === null,
    'deleted: no moment left to wake for',
  );
});

t.test('an enforce status written before the line always carried its mode is not a reason to touch', async (t) => {
  const s = await setup(t);
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
  const s = await setup(t, { admit: false });
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
  const s = await setup(t, { maxAttempts: 1 });
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

t.test('namespace labels, scope and invalid policies', async (t) => {
  const s = await setup(t);
  s.create('team', 'plain', 10);
  // Written while the webhook did not see it (a namespace the webhook configuration excludes).
  s.fake.addObject('scaledobjects', {
    metadata: { name: 'out', namespace: 'skipped', annotations: { [ANNOTATION.environmentalImpact]: BAND } },
    spec: { maxReplicaCount: 10 },
  });
  s.create('team', 'broken', 10, { [ANNOTATION.environmentalImpact]: 'carbon: [' });
  await s.start();
  t.equal(s.max('skipped', 'out'), 10, 'out of touch.namespaceSelector: never touched');
  t.equal(s.fake.events.filter((e) => e.reason === 'CarbonPolicyInvalid').length, 1, 'one Warning for the invalid policy');

  s.fake.setNamespace('team', { 'keda-carbon.io/policy': 'standard' });
  await s.drive(() => s.max('team', 'plain') === 3, 'the label caps the object');
  t.ok(s.lines.some((l) => l.includes('"msg":"objects of a relabelled namespace evaluated"') && l.includes('"invalid":1')));
  s.fake.setNamespace('team', {});
  await s.drive(() => s.max('team', 'plain') === 10, 'label gone: declared max back');
  const restoreEvent = () =>
    s.fake.events.find((e) => (e.involvedObject as { name: string } | undefined)?.name === 'plain' && String(e.message).includes('3 -> 10'));
  await s.drive(() => restoreEvent() !== undefined, 'the restore Event');
  t.equal(restoreEvent()?.message, 'maxReplicaCount 3 -> 10 (no carbon policy any more: declared max restored)', 'the restore Event reads as one sentence');
  t.equal(s.fake.events.filter((e) => e.reason === 'CarbonPolicyInvalid').length, 1, 'still one Warning after more passes');
  t.equal(s.lists(), 2, 'label changes need no list');

  s.fake.setNamespace('skipped', {});
  await s.drive(() => s.max('skipped', 'out') === 3, 'in scope once the namespace no longer matches the exclusion');
});

t.test('new carbon data, a config reload, the periodic resync, and leadership lost', async (t) => {
  const s = await setup(t);
  s.create('labelled', 'a', 10);
  s.create('labelled', 'b', 6);
  await s.start();
  t.equal(s.max('labelled', 'a'), 3);
  s.setCarbon(hourly(H0, [120, 120, 120, 120], START + MINUTE, 6 * HOUR));
  await s.drive(() => s.max('labelled', 'a') === 10 && s.max('labelled', 'b') === 6, 'new data uncaps at once');
  t.ok(s.lines.some((l) => l.includes('"reason":"forecast: a cap changes now"')));

  s.setConfig(parseConfigText('policies:\n  standard:\n    carbon: [{measuredEmission: 100, allowedMaxReplicaCount: 2}]\ntouch:\n  interval: 1h\n', 'test'));
  s.controller.reconfigure();
  await s.drive(() => s.max('labelled', 'a') === 2, 'the reloaded policy applies');
  t.ok(s.lines.some((l) => l.includes('"reason":"configuration reloaded"')));

  const lists = s.lists();
  await s.jumpTo(START + HOUR - 200);
  await s.drive(() => s.controller.counts.relistPasses === 2, 'the resync after touch.interval');
  t.equal(s.lists(), lists + 2, 'one list per kind');
  t.ok(s.lines.some((l) => l.includes('"reason":"resync"') && l.includes('"msg":"sweep finished"')));
  const sweeps = await s.metrics.registry.getSingleMetric('keda_carbon_sweeps_total')!.get();
  t.equal(sweeps.values.find((v) => v.labels.result === 'ok')?.value, 2, 'sweeps counts the list-backed passes');
  const events = await s.metrics.registry.getSingleMetric('keda_carbon_cache_events_total')!.get();
  t.ok((events.values.find((v) => v.labels.type === 'modified')?.value ?? 0) >= 2, 'watch events counted');

  s.leadership.abort();
  await s.drive(() => !s.controller.isRunning, 'stopped');
  const patches = s.fake.counts.patches;
  s.setCarbon(hourly(H0, [900, 900, 900, 900], START + 2 * HOUR, 6 * HOUR));
  for (let i = 0; i < 80; i++) await s.step();
  await s.quiet();
  t.equal(s.fake.counts.patches, patches, 'a replica that lost the Lease touches nothing');
});

t.test('a KEDA kind the API server does not serve holds nothing up', async (t) => {
  const s = await setup(t);
  s.fake.faults = [(r) => (r.path === '/apis/keda.sh/v1alpha1/scaledjobs' ? { status: 404 } : undefined)];
  s.create('labelled', 'web', 10);
  s.fake.updateObject('scaledobjects', 'labelled', 'web', (o) => ({ ...o, spec: { ...o.spec, maxReplicaCount: 10 } }));
  await s.start();
  await s.drive(() => s.max('labelled', 'web') === 3, 'the ScaledObject capped all the same');
  t.ok(s.lines.some((l) => l.includes('does not serve keda.sh/v1alpha1 scaledjobs (404): is KEDA installed?')));
});
