import t from 'tap';
import { parseConfigText } from '../../src/config/config.js';
import { ANNOTATION } from '../../src/core/names.js';
import { HOUR, MINUTE, hourly } from '../helpers/carbon.js';
import { H0, START, controllerRig } from '../helpers/controller-rig.js';

const BAND = '{"carbon":[{"measuredEmission":300,"allowedMaxReplicaCount":3}]}';
const scheduled = (cron: string) =>
  JSON.stringify({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }], ecoModeOff: { recurringSchedule: [cron] } });

t.test('objects created and edited after the first sweep follow band changes and schedule windows, with no list in between', async (t) => {
  const s = await controllerRig(t);
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

t.test('namespace labels, scope and invalid policies', async (t) => {
  const s = await controllerRig(t);
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
  const s = await controllerRig(t);
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
  const s = await controllerRig(t);
  s.fake.faults = [(r) => (r.path === '/apis/keda.sh/v1alpha1/scaledjobs' ? { status: 404 } : undefined)];
  s.create('labelled', 'web', 10);
  s.fake.updateObject('scaledobjects', 'labelled', 'web', (o) => ({ ...o, spec: { ...o.spec, maxReplicaCount: 10 } }));
  await s.start();
  await s.drive(() => s.max('labelled', 'web') === 3, 'the ScaledObject capped all the same');
  t.ok(s.lines.some((l) => l.includes('does not serve keda.sh/v1alpha1 scaledjobs (404): is KEDA installed?')));
});
