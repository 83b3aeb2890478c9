/**
 * The re-touch controller against a real kube-apiserver: objects created or edited after
 * the leader's first sweep are followed from its watch-backed cache, so they are re-capped
 * at their own band change, schedule window or one-off window without another list. Also: a Lease
 * namespace that does not exist stops `serve` at start with a clear message.
 * Runs only when KEDA_CARBON_E2E_KUBECONFIG names a kubeconfig.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ANNOTATION } from '../../src/core/names.js';
import {
  MINUTE,
  clusterOrSkip,
  createNamespace,
  getMax,
  kedaObject,
  kedaPath,
  logsWith,
  registerWebhook,
  startWebhook,
  waitFor,
  type Webhook,
} from './cluster-env.js';
import { startServe } from '../helpers/serve-process.js';

t.setTimeout(300_000);
const c = clusterOrSkip(t);
const E2E = { 'keda-carbon-e2e': c.id };
const system = `kc-ctl-system-${c.id}`;
const apps = `kc-ctl-apps-${c.id}`;
const BAND = '{"carbon":[{"measuredEmission":300,"allowedMaxReplicaCount":3}]}';
const MERGE = 'application/merge-patch+json';

/** A window of one minute, `at` (a whole minute, UTC), as a recurringSchedule line. */
const cronAt = (at: number) => `${new Date(at).getUTCMinutes()} ${new Date(at).getUTCHours()} * * *`;
const scheduled = (at: number) =>
  JSON.stringify({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }], ecoModeOff: { recurringSchedule: [cronAt(at)] } });

/** Poll until the object's cap is `max`; the time it was first seen so. */
async function cappedAt(plural: 'scaledobjects', name: string, max: number, timeoutMs: number): Promise<number> {
  await waitFor(`${name} at ${max}`, async () => (await getMax(c, plural, apps, name)) === max, timeoutMs, 100);
  return Date.now();
}

async function touchedAt(name: string): Promise<number> {
  const obj = await c.call('GET', kedaPath('scaledobjects', apps, name), [200]);
  return Date.parse(obj.metadata.annotations[ANNOTATION.touchedAt]);
}

const sweeps = (w: Webhook) => logsWith(w, 'sweep finished').length;

t.test('objects created and edited after the first sweep are re-capped at their own moments, with no list in between', async (t) => {
  await createNamespace(c, system, {});
  await createNamespace(c, apps, E2E);
  // A whole minute at least 40 s away opens the schedule window; the band change comes 30 s into it.
  const window = Math.ceil((Date.now() + 40_000) / MINUTE) * MINUTE;
  const boundary = window + 30_000;
  const webhook = await startWebhook(c, {
    leaseNamespace: system,
    forecast: [
      [boundary - 60 * MINUTE, 60, 400],
      [boundary, 120, 120],
    ],
  });
  t.teardown(() => webhook.serve.stop());
  await registerWebhook(t, c, webhook, apps);
  await waitFor('the first sweep', async () => sweeps(webhook) >= 1, 30_000);
  const sweepsBefore = sweeps(webhook);

  // Created after the sweep: capped by the webhook on create, then followed from the cache.
  await c.call('POST', kedaPath('scaledobjects', apps), [201], kedaObject('scaledobjects', apps, 'inline', 10, { [ANNOTATION.environmentalImpact]: BAND }));
  await c.call(
    'POST',
    kedaPath('scaledobjects', apps),
    [201],
    kedaObject('scaledobjects', apps, 'sched', 10, { [ANNOTATION.environmentalImpact]: scheduled(window + 30 * MINUTE) }),
  );
  t.equal(await getMax(c, 'scaledobjects', apps, 'inline'), 3, 'inline policy: 3 at 400 g');
  t.equal(await getMax(c, 'scaledobjects', apps, 'sched'), 3, 'scheduled policy: 3 at 400 g outside its window');
  // The window moves to the next minute after the object was created.
  await c.call(
    'PATCH',
    kedaPath('scaledobjects', apps, 'sched'),
    [200],
    { metadata: { annotations: { [ANNOTATION.environmentalImpact]: scheduled(window) } } },
    MERGE,
  );
  t.equal(await getMax(c, 'scaledobjects', apps, 'sched'), 3, 'still 3 before the edited window');
  // A one-off window between whole minutes, 10 s to 20 s into the schedule's minute.
  const sale = { start: window + 10_000, end: window + 20_000 };
  const iso = (ms: number) => new Date(ms).toISOString();
  const salePolicy = JSON.stringify({ ...JSON.parse(BAND), ecoModeOff: { windows: [{ start: iso(sale.start), end: iso(sale.end) }] } });
  await c.call('POST', kedaPath('scaledobjects', apps), [201], kedaObject('scaledobjects', apps, 'sale', 10, { [ANNOTATION.environmentalImpact]: salePolicy }));
  t.equal(await getMax(c, 'scaledobjects', apps, 'sale'), 3, 'one-off window: 3 at 400 g before it starts');

  const opened = await cappedAt('scaledobjects', 'sched', 10, window - Date.now() + 15_000);
  t.ok(opened >= window, 'not before the window');
  const touchedInWindow = await touchedAt('sched');
  t.ok(touchedInWindow - window < 5_000, `touched ${touchedInWindow - window} ms after the window opened (under 5 s)`);

  for (const [edge, max, what] of [
    [sale.start, 10, 'start'],
    [sale.end, 3, 'end'],
  ] as const) {
    const seen = await cappedAt('scaledobjects', 'sale', max, edge - Date.now() + 15_000);
    t.ok(seen >= edge, `the one-off window's ${what}: not before it`);
    const touched = await touchedAt('sale');
    t.ok(touched >= edge && touched - edge < 5_000, `touched ${touched - edge} ms after the one-off window's ${what} (under 5 s)`);
  }

  t.equal(await getMax(c, 'scaledobjects', apps, 'inline'), 3, 'inline: still 3 before the band change');
  await cappedAt('scaledobjects', 'inline', 10, boundary - Date.now() + 15_000);
  const touchedAtBoundary = await touchedAt('inline');
  t.ok(touchedAtBoundary >= boundary && touchedAtBoundary - boundary < 5_000, `touched ${touchedAtBoundary - boundary} ms after the band change (under 5 s)`);

  t.equal(sweeps(webhook), sweepsBefore, 'no sweep (no list) since the first one', { sweeps: logsWith(webhook, 'sweep finished') });
  t.equal(logsWith(webhook, 'cache listed again').length, 0, 'the caches were never listed again');
  // Whatever else woke the controller at the same moment (new carbon data, say), each
  // re-cap came from a pass over the cache.
  // The pass's line follows its touch by the log's batching and the pipe, so wait for it.
  const passes = () => logsWith(webhook, 'cache pass finished').filter((l) => Number(l.touched) >= 1);
  await waitFor('two touching passes logged', async () => passes().length >= 2, 10_000).catch(() => undefined);
  t.ok(passes().length >= 2, 'the window start and the band change each led to a touching pass over the cache', { passes: passes() });
});

t.test('a Lease namespace that does not exist: serve stops at start and names it', async (t) => {
  const missing = `kc-ctl-missing-${c.id}`;
  const started = startServe(['--kubeconfig', c.kubeconfig, '--cert-dir', join(tmpdir(), `kc-ctl-${c.id}`)], {
    POD_NAMESPACE: missing,
    KEDA_CARBON_LEASE_NAME: `e2e-${c.id}`,
  });
  await t.rejects(started, new RegExp(`serve exited with 2 before listening; stderr: keda-carbon serve: the Lease namespace "${missing}" does not exist`));
  await c.call('GET', `/apis/coordination.k8s.io/v1/namespaces/${missing}/leases/e2e-${c.id}`, [404]);
});
