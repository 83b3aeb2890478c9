/** The controller test rig: test/cluster/controller.test.ts and controller-touch.test.ts drive it. */
import type { Test } from 'tap';
import { Controller } from '../../src/cluster/controller.js';
import type { Ledger } from '../../src/cluster/ledger.js';
import { EventRecorder } from '../../src/cluster/events.js';
import { NamespaceCache } from '../../src/cluster/namespaces.js';
import { ObjectCache } from '../../src/cluster/objects.js';
import { PoliteClient } from '../../src/cluster/polite.js';
import { parseConfigText, type RuntimeConfig } from '../../src/config/config.js';
import type { CarbonSnapshot } from '../../src/core/carbon.js';
import { createMetrics } from '../../src/server/metrics.js';
import { webhook } from './admit.js';
import { HOUR, MINUTE, hourly } from './carbon.js';
import { FakeClock } from './clock.js';
import { FakeKube, type FakeObject } from './fake-kube.js';
import { captureLogger } from './log.js';
import { until } from './until.js';

export const H0 = Date.UTC(2026, 10, 23, 10, 0, 0);
export const START = H0 + 50 * MINUTE;

function config(): RuntimeConfig {
  return parseConfigText(
    "policies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]\ntouch:\n  interval: 1h\n  followForecast: true\n  namespaceSelector: '!skip'\n",
    'test',
  );
}

/**
 * A controller over the fake API server as `serve` wires it (polite client, Event recorder,
 * namespace and object caches), its namespaces synced, stopped at teardown; not started.
 */
export async function wireController(
  t: Test,
  o: { fake: FakeKube; clock: FakeClock; config: () => RuntimeConfig; carbon: () => CarbonSnapshot; ledger?: Ledger; maxAttempts?: number },
) {
  const api = o.fake.trackedApi();
  const { logger, lines } = captureLogger();
  const metrics = createMetrics();
  const client = new PoliteClient(api, { qps: 1000, burst: 1000, maxInFlight: 8, ...(o.maxAttempts ? { maxAttempts: o.maxAttempts } : {}) });
  const events = new EventRecorder(client, logger, 'test', o.clock.now);
  let controller: Controller | undefined;
  const namespaces = new NamespaceCache({ api, logger, onLabelsChange: (ns) => controller?.namespaceChanged(ns) });
  const objects = new ObjectCache({ api, logger, onChange: (...c) => controller?.objectChanged(...c), onSynced: (p, r) => controller?.listed(p, r) });
  controller = new Controller({
    objects,
    namespaces,
    client,
    events,
    config: o.config,
    carbon: { snapshot: o.carbon },
    logger,
    metrics: metrics.controller,
    ...(o.ledger ? { ledger: o.ledger } : {}),
    clock: o.clock,
  });
  namespaces.start();
  await namespaces.whenSynced();
  t.teardown(async () => {
    await controller.stop();
    namespaces.stop();
  });
  return { api, lines, metrics, controller, objects };
}

/**
 * The leader's controller over the fake API server, with the webhook stand-in admitting at the
 * fake clock's time (unless `admit: false`), and the rounds that move fake time once the queue
 * and the loopback I/O are quiet.
 */
export async function controllerRig(t: Test, opts: { admit?: boolean; carbon?: CarbonSnapshot; maxAttempts?: number } = {}) {
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
  const { api, lines, metrics, controller, objects } = await wireController(t, {
    fake,
    clock,
    config: () => cfg,
    carbon: () => snapshot,
    ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}),
  });
  const leadership = new AbortController();
  /** Wait until the queue is idle and the loopback I/O done: what fake time may move on after. */
  const quiet = async (): Promise<void> => {
    await controller.idle();
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
      controller.start(leadership.signal);
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
