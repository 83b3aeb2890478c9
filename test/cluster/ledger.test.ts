import t from 'tap';
import { Ledger, intensitySeconds } from '../../src/cluster/ledger.js';
import { parseConfigText } from '../../src/config/config.js';
import type { CarbonSnapshot } from '../../src/core/carbon.js';
import { ANNOTATION } from '../../src/core/names.js';
import { planObject } from '../../src/core/plan.js';
import { resolvePolicy } from '../../src/core/resolve.js';
import { HOUR, MINUTE, hourly } from '../helpers/carbon.js';
import { FakeClock } from '../helpers/clock.js';
import { wireController } from '../helpers/controller-rig.js';
import { FakeKube, type FakeObject } from '../helpers/fake-kube.js';
import { until } from '../helpers/until.js';

const H0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const START = H0 + 50 * MINUTE;
// standard: capped to 3 at 300 g and above; strict: capped to 2 at 150 g and above.
const CONFIG = `policies:
  standard:
    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]
  strict:
    carbon: [{measuredEmission: 150, allowedMaxReplicaCount: 2}]
touch:
  interval: 4h
  followForecast: true
wattsPerReplica: 40
`;

t.test('intensitySeconds integrates the points over a range and counts uncovered time as nothing', async (t) => {
  const s = hourly(H0, [400, 200], H0);
  t.equal(intensitySeconds(s, H0 + 30 * MINUTE, H0 + 90 * MINUTE), 400 * 1800 + 200 * 1800);
  t.equal(intensitySeconds(s, H0 + 90 * MINUTE, H0 + 3 * HOUR), 200 * 1800, 'after the last point: nothing');
  t.equal(intensitySeconds(s, H0 - HOUR, H0), 0);
});

t.test('the ledger of a controller over a fake-clock run: two policies, a band change, hand-computed totals', async (t) => {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  fake.setNamespace('team');
  const clock = new FakeClock(START);
  const cfg = parseConfigText(CONFIG, 'test');
  // 400 g from 10:00, 200 g from 11:00: standard's band ends at 11:00, strict's does not.
  const snapshot: CarbonSnapshot = { ...hourly(H0, [400, 200, 400, 400], START, 6 * HOUR), signal: 'average' };
  fake.admit = (_plural, obj, old) => {
    const plan = planObject({
      object: obj,
      oldObject: old ?? null,
      resolution: resolvePolicy(obj, cfg, null),
      carbon: snapshot,
      now: clock.now(),
      invalidPolicy: 'warn',
    });
    if (plan.kind !== 'apply') return obj;
    return {
      ...obj,
      metadata: { ...obj.metadata, annotations: { ...obj.metadata.annotations, ...plan.setAnnotations } },
      spec: { ...obj.spec, maxReplicaCount: plan.maxReplicaCount },
    };
  };
  const create = (name: string, declared: number, annotations: Record<string, string>) => {
    const obj: FakeObject = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name, namespace: 'team', annotations },
      spec: { maxReplicaCount: declared },
    };
    fake.addObject('scaledobjects', fake.admit!('scaledobjects', obj, undefined) as FakeObject);
  };
  create('web', 10, { [ANNOTATION.policy]: 'standard' });
  create('batch', 8, { [ANNOTATION.policy]: 'strict' });
  create('free', 5, {});
  // Observe mode: booked under its own mode at the cap it would set; its own watts per replica.
  create('watch', 6, {
    [ANNOTATION.environmentalImpact]: '{mode: observe, wattsPerReplica: 100, carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]}',
  });

  const ledger = new Ledger({ clock, carbon: { snapshot: () => snapshot } });
  const { api, lines, metrics, controller, objects } = await wireController(t, { fake, clock, config: () => cfg, carbon: () => snapshot, ledger });
  metrics.ledger.attach(() => (controller.isRunning ? ledger.rows() : []));
  const drive = async (cond: () => boolean, what: string): Promise<void> => {
    for (let i = 0; i < 300; i++) {
      if (cond()) return;
      // The queue idle and the loopback I/O done before fake time moves on.
      await controller.idle();
      await until(() => api.settled, 'every request answered and every watched change delivered');
      await clock.advance(100);
    }
    throw new Error(`never happened: ${what}`);
  };
  const scrape = async () => {
    const out = new Map<string, number>();
    for (const m of (await metrics.registry.getMetricsAsJSON()) as { name: string; values: { labels: Record<string, string>; value: number }[] }[]) {
      if (!m.name.startsWith('keda_carbon_ledger_')) continue;
      for (const v of m.values) {
        const signal = v.labels.signal === undefined ? '' : `/${v.labels.signal}`;
        out.set(`${m.name}{${v.labels.namespace}/${v.labels.policy}/${v.labels.mode}${signal}}`, v.value);
      }
    }
    return out;
  };

  controller.start(new AbortController().signal);
  await drive(() => lines.some((l) => l.includes('"msg":"sweep finished"')), 'the first sweep');
  await clock.advance(H0 + 52 * MINUTE - clock.now());
  const base = await scrape();
  t.same(
    [...base.keys()].filter((k) => k.startsWith('keda_carbon_ledger_objects')).sort(),
    ['keda_carbon_ledger_objects{team/inline/observe}', 'keda_carbon_ledger_objects{team/standard/enforce}', 'keda_carbon_ledger_objects{team/strict/enforce}'],
    "one series per namespace, policy (inline for the object's own document) and mode; the object without a policy is not booked",
  );
  t.equal(base.get('keda_carbon_ledger_cap_replicas{team/standard/enforce}'), 3);
  t.equal(base.get('keda_carbon_ledger_declared_replicas{team/standard/enforce}'), 10);

  // The band change: the controller evaluates at 11:00:01 (one second past the moment).
  await clock.advance(H0 + 60 * MINUTE - 500 - clock.now());
  await drive(() => fake.getObject('scaledobjects', 'team', 'web')?.spec?.maxReplicaCount === 10, 'web uncapped at 200 g');
  await controller.idle();
  await clock.advance(H0 + 90 * MINUTE - clock.now());
  const end = await scrape();
  const delta = (name: string, policy: string) =>
    end.get(`keda_carbon_ledger_${name}{team/${policy}/enforce}`)! - base.get(`keda_carbon_ledger_${name}{team/${policy}/enforce}`)!;

  // 10:52 -> 11:00:01 is 481 s; 11:00:01 -> 11:30 is 1799 s; 2280 s in all.
  t.equal(delta('cap_replica_seconds_total', 'standard'), 3 * 481 + 10 * 1799);
  t.equal(delta('declared_replica_seconds_total', 'standard'), 10 * 2280);
  t.equal(delta('withheld_replica_seconds_total', 'standard'), 7 * 481);
  t.equal(delta('cap_intensity_replica_seconds_total', 'standard'), 3 * (400 * 480 + 200 * 1) + 10 * 200 * 1799);
  t.equal(delta('declared_intensity_replica_seconds_total', 'standard'), 10 * (400 * 480 + 200 * 1800));
  t.equal(delta('cap_replica_seconds_total', 'strict'), 2 * 2280, 'strict binds all along');
  t.equal(delta('withheld_replica_seconds_total', 'strict'), 6 * 2280);
  t.equal(delta('cap_intensity_replica_seconds_total', 'strict'), 2 * (400 * 480 + 200 * 1800));
  t.equal(end.get('keda_carbon_ledger_cap_replicas{team/standard/enforce}'), 10, 'the cap in force after the band change');
  t.equal(end.get('keda_carbon_ledger_cap_replicas{team/strict/enforce}'), 2);
  const observed = (name: string) => end.get(`keda_carbon_ledger_${name}{team/inline/observe}`)! - base.get(`keda_carbon_ledger_${name}{team/inline/observe}`)!;
  t.equal(observed('cap_replica_seconds_total'), 3 * 481 + 6 * 1799, 'observe mode: the cap it would set, 3 until the band ends');
  t.equal(observed('withheld_replica_seconds_total'), 3 * 481, 'observe mode: what it would withhold');
  t.equal(observed('declared_replica_seconds_total'), 6 * 2280);
  t.equal(end.get('keda_carbon_ledger_cap_replicas{team/inline/observe}'), 6);
  t.equal(fake.getObject('scaledobjects', 'team', 'watch')?.spec?.maxReplicaCount, 6, 'observe mode never changed the spec');

  // Grams CO2eq = replicas x W x seconds / 3.6e6 (kWh) x gCO2eq/kWh, by hand:
  // standard (40 W, the configuration's): cap 40 x (3 x (400 x 480 + 200 x 1) + 10 x 200 x 1799) / 3.6e6 = 46.38444 g,
  // declared 40 x 10 x (400 x 480 + 200 x 1800) / 3.6e6 = 61.33333 g; strict: 2 and 8 replicas at 40 W;
  // the observing object (100 W, its own): would-be cap 100 x (3 x 192200 + 6 x 200 x 1799) / 3.6e6 = 75.98333 g, declared 92 g.
  const grams = (name: string, policy: string, mode: string) =>
    end.get(`keda_carbon_ledger_${name}_co2eq_grams_total{team/${policy}/${mode}/average}`)! -
    base.get(`keda_carbon_ledger_${name}_co2eq_grams_total{team/${policy}/${mode}/average}`)!;
  const close = (got: number, want: number, what: string) => t.ok(Math.abs(got - want) < 1e-6, `${what}: ${got} g, by hand ${want} g`);
  close(grams('cap', 'standard', 'enforce'), 46.384444444, 'standard, cap');
  close(grams('declared', 'standard', 'enforce'), 61.333333333, 'standard, declared');
  close(grams('withheld', 'standard', 'enforce'), 61.333333333 - 46.384444444, 'standard, withheld');
  close(grams('cap', 'strict', 'enforce'), 12.266666667, 'strict, cap');
  close(grams('withheld', 'strict', 'enforce'), 49.066666667 - 12.266666667, 'strict, withheld');
  close(grams('cap', 'inline', 'observe'), 75.983333333, 'observe, would-be cap');
  close(grams('withheld', 'inline', 'observe'), 92 - 75.983333333, 'observe, would-be withheld');
  t.notOk(
    [...end.keys()].some((k) => k.startsWith('keda_carbon_ledger_emitted_co2eq_grams_total')),
    'no emitted grams without HPA reading',
  );

  // Deleting an object drops it from the gauges; its counters stay.
  await clock.advance(10_000);
  fake.deleteObject('scaledobjects', 'team', 'batch');
  await drive(() => objects.get('scaledobjects/team/batch') === undefined, 'the delete seen');
  const gone = await scrape();
  await clock.advance(1000_000);
  const later = await scrape();
  t.equal(later.get('keda_carbon_ledger_objects{team/strict/enforce}'), 0);
  const strictSeconds = 'keda_carbon_ledger_cap_replica_seconds_total{team/strict/enforce}';
  t.equal(gone.get(strictSeconds)! - end.get(strictSeconds)!, 2 * 10, 'counted until the delete (reconciled when the cache sees it)');
  t.equal(later.get(strictSeconds), gone.get(strictSeconds), 'nothing added after the delete');
  t.equal(
    later.get('keda_carbon_ledger_cap_replica_seconds_total{team/standard/enforce}')! -
      gone.get('keda_carbon_ledger_cap_replica_seconds_total{team/standard/enforce}')!,
    10 * 1000,
    'the other policy goes on',
  );

  await controller.stop();
  t.equal((await scrape()).size, 0, 'a replica that does not lead exports no ledger series');
});

const booking = (cap: number, declared: number, watts: number | null = null, policy = 'standard') => ({
  namespace: 'shop',
  policy,
  mode: 'enforce',
  cap,
  inForce: cap,
  declared,
  watts,
});

t.test('with HPA reading on, each group counts its ScaledObjects held at their cap; ScaledJobs have no HPA', async (t) => {
  const clock = new FakeClock(START);
  const held = new Set(['shop/web']);
  const ledger = new Ledger({ clock, carbon: { snapshot: () => hourly(H0, [400], START) }, heldAt: (ns, name, cap) => held.has(`${ns}/${name}`) && cap === 3 });
  ledger.set('scaledobjects/shop/web', booking(3, 10));
  ledger.set('scaledobjects/shop/api', booking(3, 10));
  ledger.set('scaledjobs/shop/web', booking(3, 10));
  ledger.set('scaledobjects/shop/watch', { ...booking(2, 10), mode: 'observe', inForce: 10 });
  t.match(ledger.rows(), [
    { policy: 'standard', mode: 'enforce', objects: 3, held: 1 },
    { mode: 'observe', cap: 2, held: 0 },
  ]);
  held.add('shop/api');
  held.add('shop/watch');
  t.match(ledger.rows(), [{ held: 2 }, { held: 0 }], 'read at scrape time; observe mode is held at the max in force (10), not at the cap it would set');
  t.equal(new Ledger({ clock, carbon: { snapshot: () => hourly(H0, [400], START) } }).rows().length, 0);
  const plain = new Ledger({ clock, carbon: { snapshot: () => hourly(H0, [400], START) } });
  plain.set('scaledobjects/shop/web', booking(3, 10));
  t.notOk('held' in plain.rows()[0]!, 'no held figure without HPA reading');
  t.notOk('grams' in plain.rows()[0]!, 'no grams without watts per replica');
});

t.test('grams by hand: the replicas running as the HPAs report them, each change at its time, and a change of signal', async (t) => {
  const clock = new FakeClock(H0);
  let snapshot: CarbonSnapshot = { ...hourly(H0, [400, 200], H0), signal: 'average' };
  const running = new Map([['shop/web', 2]]);
  const ledger = new Ledger({ clock, carbon: { snapshot: () => snapshot }, running: (ns, name) => running.get(`${ns}/${name}`) });
  ledger.set('scaledobjects/shop/web', booking(3, 10, 50));
  ledger.set('scaledjobs/shop/job', booking(2, 4, 50));
  ledger.set('scaledobjects/shop/bare', booking(5, 5, null, 'plain'));
  await clock.advance(30 * MINUTE);
  running.set('shop/web', 5);
  ledger.hpaChanged('shop', 'web');
  ledger.hpaChanged('shop', 'nobody');
  await clock.advance(45 * MINUTE);
  // 10:00-10:30 at 400 g with 2 running, 10:30-11:00 at 400 g and 11:00-11:15 at 200 g with 5 running (50 W each):
  // emitted 50 x (2 x 400 x 1800 + 5 x (400 x 1800 + 200 x 900)) / 3.6e6 = 82.5 g. The ScaledJob has no HPA.
  // cap (3 + 2) x 50 W x (400 x 3600 + 200 x 900) / 3.6e6 = 112.5 g; declared (10 + 4) x 50 W: 315 g.
  const [standard, plain] = ledger.rows();
  t.same(standard!.grams, [{ signal: 'average', cap: 112.5, declared: 315, withheld: 202.5, emitted: 82.5 }]);
  t.notOk(plain!.grams, 'a group without watts per replica books no grams');
  t.equal(plain!.capSeconds, 5 * 75 * 60, 'but its replica-seconds as before');

  // The source now reports marginal intensity: a new series; the average one keeps its total.
  snapshot = { ...snapshot, signal: 'marginal' };
  running.set('shop/web', 1);
  ledger.hpasListed();
  await clock.advance(15 * MINUTE);
  // 15 min at 200 g: cap 5 x 50 x 200 x 900 / 3.6e6 = 12.5 g; emitted 1 x 50 x 200 x 900 / 3.6e6 = 2.5 g.
  t.same(ledger.rows()[0]!.grams, [
    { signal: 'average', cap: 112.5, declared: 315, withheld: 202.5, emitted: 82.5 },
    { signal: 'marginal', cap: 12.5, declared: 35, withheld: 22.5, emitted: 2.5 },
  ]);

  // Deleting the object stops its grams; the ScaledJob's go on: 15 min at 200 g of 2 (cap) and
  // 4 (declared) replicas at 50 W add 2 x 50 x 200 x 900 / 3.6e6 = 5 g and 10 g.
  ledger.delete('scaledobjects/shop/web');
  await clock.advance(15 * MINUTE);
  t.same(ledger.rows()[0]!.grams![1], { signal: 'marginal', cap: 12.5 + 5, declared: 35 + 10, withheld: 22.5 + 5, emitted: 2.5 });
});
