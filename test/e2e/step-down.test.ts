/**
 * Step-down on a real kube-apiserver: the webhook (in this process, over real TLS, registered
 * as a MutatingWebhookConfiguration) and the re-touch controller (in this process, on the
 * real API server's watch) both read one fake clock, so four minutes of steps take seconds.
 * Real I/O runs between clock moves; the clock jumps only across spans where nothing is due.
 * Runs only when KEDA_CARBON_E2E_KUBECONFIG names a kubeconfig.
 */
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { Controller } from '../../src/cluster/controller.js';
import { EventRecorder } from '../../src/cluster/events.js';
import { NamespaceCache } from '../../src/cluster/namespaces.js';
import { ObjectCache } from '../../src/cluster/objects.js';
import { PoliteClient } from '../../src/cluster/polite.js';
import { parseConfigText } from '../../src/config/config.js';
import type { CarbonSnapshot } from '../../src/core/carbon.js';
import { ANNOTATION } from '../../src/core/names.js';
import { buildApp } from '../../src/server/app.js';
import { createMetrics } from '../../src/server/metrics.js';
import { generateCertificates } from '../../src/tls/certs.js';
import { FakeClock } from '../helpers/clock.js';
import { captureLogger } from '../helpers/log.js';
import { until } from '../helpers/until.js';
import { MINUTE, clusterOrSkip, createNamespace, kedaObject, kedaPath, registerWebhookAt, waitFor } from './cluster-env.js';

t.setTimeout(300_000);
const c = clusterOrSkip(t);
const apps = `kc-step-${c.id}`;
const HOUR = 60 * MINUTE;
const POLICY = JSON.stringify({ carbon: [{ measuredEmission: 500, allowedMaxReplicaCount: 4 }], stepDown: { maxPercent: 50, every: '1m' } });
const MERGE = 'application/merge-patch+json';

// The fake time starts on a whole minute; the band falls to a cap of 4 ten minutes later
// and rises again (no cap) five minutes after that.
const T0 = Math.floor(Date.now() / MINUTE) * MINUTE;
const FALL = T0 + 10 * MINUTE;
const RISE = FALL + 5 * MINUTE;
const snapshot: CarbonSnapshot = {
  source: 'e2e:forecast',
  fetchedAt: T0,
  maxDataAgeMs: 24 * HOUR,
  points: [
    { timestamp: T0 - HOUR, durationMinutes: 70, gCO2eqPerKWh: 100 },
    { timestamp: FALL, durationMinutes: 5, gCO2eqPerKWh: 600 },
    { timestamp: RISE, durationMinutes: 120, gCO2eqPerKWh: 100 },
  ],
};
const config = parseConfigText(`policies: {}\ntouch:\n  interval: 1h\n  followForecast: true\n  namespaceSelector: keda-carbon-e2e=${c.id}\n`, 'e2e');
const clock = new FakeClock(T0);
/**
 * Resolves once the controller has nothing left to do at this fake moment and its cache
 * holds what the API server stores: only then may fake time move on. Set by the test.
 */
let settled: () => Promise<void> = async () => {};

async function stored(): Promise<{ max: number; status: Record<string, unknown>; rv: string }> {
  const o = await c.call('GET', kedaPath('scaledobjects', apps, 'web'), [200]);
  return { max: o.spec.maxReplicaCount, status: JSON.parse(o.metadata.annotations[ANNOTATION.status]), rv: o.metadata.resourceVersion };
}

/** Move the fake clock 100 ms at a time, letting the I/O of each moment settle, until the stored cap is `max`. */
async function capReaches(max: number, untilFake: number): Promise<Awaited<ReturnType<typeof stored>>> {
  for (;;) {
    const s = await stored();
    if (s.max === max) return s;
    if (clock.now() > untilFake) throw new Error(`still ${s.max}, not ${max}, at fake ${new Date(clock.now()).toISOString()}`);
    await settled();
    await clock.advance(100);
  }
}

/** Jump to `at`: only the carbon poll (an identity check, no I/O) is due before it. */
async function jumpTo(at: number): Promise<void> {
  await clock.advance(at - clock.now());
}

t.test('40 -> 20 -> 10 -> 5 -> 4 one minute apart, each step on time; a write in between changes nothing; a rise applies at once', async (t) => {
  await createNamespace(c, apps, { 'keda-carbon-e2e': c.id });
  const certs = generateCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const app = buildApp({
    admission: { config: () => config, carbon: { snapshot: () => snapshot }, now: clock.now },
    readiness: () => ({ serving: true, carbon: { fresh: true, source: snapshot.source, fetchedAt: null } }),
    https: { cert: certs.cert, key: certs.key },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}/mutate`;
  await registerWebhookAt(t, c, { url, caBundle: Buffer.from(certs.caCert).toString('base64') }, apps);

  const { logger, lines } = captureLogger();
  const client = new PoliteClient(c.api, { qps: 1000, burst: 1000, maxInFlight: 8 });
  const events = new EventRecorder(client, logger, 'e2e', clock.now);
  let controller: Controller | undefined;
  const namespaces = new NamespaceCache({ api: c.api, logger, onLabelsChange: (ns) => controller?.namespaceChanged(ns) });
  const objects = new ObjectCache({ api: c.api, logger, onChange: (...x) => controller?.objectChanged(...x), onSynced: (p, r) => controller?.listed(p, r) });
  controller = new Controller({
    objects,
    namespaces,
    client,
    events,
    config: () => config,
    carbon: { snapshot: () => snapshot },
    logger,
    metrics: createMetrics().controller,
    clock,
  });
  namespaces.start();
  t.teardown(async () => {
    await controller!.stop();
    namespaces.stop();
  });
  await namespaces.whenSynced();
  const key = `scaledobjects/${apps}/web`;
  settled = () =>
    until(
      async () => {
        await controller!.idle();
        return objects.get(key)?.resourceVersion === (await stored()).rv;
      },
      "the controller idle and its cache at the stored object's version",
      30_000,
    );

  await c.call('POST', kedaPath('scaledobjects', apps), [201], kedaObject('scaledobjects', apps, 'web', 40, { [ANNOTATION.environmentalImpact]: POLICY }));
  t.equal((await stored()).max, 40, 'created at 100 g: below the band, the declared 40');
  const leadership = new AbortController();
  controller.start(leadership.signal);
  await waitFor('the first sweep', async () => lines.some((l) => l.includes('"msg":"sweep finished"')), 30_000, 50);
  t.equal(controller.nextChange(`scaledobjects/${apps}/web`), FALL, 'the band change is its next moment');

  await jumpTo(FALL - 2_000);
  let due = FALL;
  for (const [cap, stepNo] of [
    [20, 1],
    [10, 2],
    [5, 3],
    [4, 4],
  ] as const) {
    const s = await capReaches(cap, due + 10_000);
    const at = Date.parse(String(s.status.evaluatedAt));
    t.ok(at >= due && at - due <= 5_000, `step ${stepNo}: stored at ${cap}, ${at - due} ms after its due time (within 5 s)`);
    if (cap === 4) {
      t.notOk('nextStepAt' in s.status, 'at the band cap: no step-down in the status');
      break;
    }
    t.match(s.status, { cap, declared: 40, stepTarget: 4 }, 'the status says a step-down runs, and its target');
    const next = Date.parse(String(s.status.nextStepAt));
    t.equal(next, at + MINUTE, 'the next step one minute later');
    if (cap === 10) {
      // A write of the user's own half-way to the next step: no skip, no reset.
      await jumpTo(next - 30_000);
      await c.call('PATCH', kedaPath('scaledobjects', apps, 'web'), [200], { metadata: { labels: { team: 'shop' } } }, MERGE);
      const after = await stored();
      t.equal(after.max, 10, "the user's write 30 s before the step does not take it early");
      t.equal(after.status.nextStepAt, s.status.nextStepAt, '...nor push it back');
    }
    await jumpTo(next - 2_000);
    due = next;
  }

  await jumpTo(RISE - 2_000);
  const risen = await capReaches(40, RISE + 10_000);
  const rose = Date.parse(String(risen.status.evaluatedAt));
  t.ok(rose >= RISE && rose - RISE <= 5_000, `the rise lifted it to 40 in one write, ${rose - RISE} ms after the band change`);
  t.notOk('stepTarget' in risen.status, 'no step-down after the rise');
});
