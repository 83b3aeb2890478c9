/**
 * Observe mode and percentile bands against a real kube-apiserver: one `serve` process,
 * registered with a MutatingWebhookConfiguration, reading a forecast file the test
 * rewrites. Runs only when KEDA_CARBON_E2E_KUBECONFIG names a kubeconfig.
 */
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
  writeForecast,
} from './cluster-env.js';

t.setTimeout(240_000);
const c = clusterOrSkip(t);
const E2E = { 'keda-carbon-e2e': c.id };
const ns = { system: `kc-system-${c.id}`, observe: `kc-observe-${c.id}`, pct: `kc-pct-${c.id}` };
const OBSERVE = '{mode: observe, carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]}';
const ENFORCE = '{carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]}';
const status = (obj: { metadata: { annotations: Record<string, string> } }) => JSON.parse(obj.metadata.annotations[ANNOTATION.status]!);

const now = Date.now();
const hourStart = now - (now % (60 * MINUTE));
await createNamespace(c, ns.system, {});
await createNamespace(c, ns.observe, E2E);
await createNamespace(c, ns.pct, E2E);

const webhook = await startWebhook(c, { leaseNamespace: ns.system, forecast: [[hourStart - 60 * MINUTE, 600, 400]] });
t.teardown(() => webhook.serve.stop());
await registerWebhook(t, c, webhook, ns.observe);
await waitFor('leadership', async () => logsWith(webhook, 'became the leader: running the re-touch timer').length > 0, 30_000);

async function setPolicy(name: string, doc: string) {
  return c.call(
    'PATCH',
    kedaPath('scaledobjects', ns.observe, name),
    [200],
    { metadata: { annotations: { [ANNOTATION.environmentalImpact]: doc } } },
    'application/merge-patch+json',
  );
}

t.test('observe mode end to end: spec untouched, status written; enforce caps; observe again restores', async (t) => {
  const created = await c.call(
    'POST',
    kedaPath('scaledobjects', ns.observe),
    [201],
    kedaObject('scaledobjects', ns.observe, 'web', 10, { [ANNOTATION.environmentalImpact]: OBSERVE }),
  );
  t.equal(created.spec.maxReplicaCount, 10, 'the spec keeps the declared 10');
  t.match(status(created), { cap: 3, declared: 10, intensity: 400, mode: 'observe', rule: 'measuredEmission>=300', signal: 'unknown' });
  const enforced = await setPolicy('web', ENFORCE);
  t.equal(enforced.spec.maxReplicaCount, 3, 'switched to enforce: capped');
  t.equal(status(enforced).mode, 'enforce', 'the status says enforce');
  const observed = await setPolicy('web', OBSERVE);
  t.equal(observed.spec.maxReplicaCount, 10, 'back to observe: the declared max, exactly as removing the policy gives');
  t.match(status(observed), { cap: 3, mode: 'observe' });
  t.equal(observed.metadata.annotations[ANNOTATION.declared], '10');
});

t.test('observe mode: the controller keeps the status current', async (t) => {
  await setPolicy('web', OBSERVE);
  await writeForecast(webhook.forecast, [[hourStart - 60 * MINUTE, 600, 120]]);
  const obj = await waitFor(
    'the status to follow the forecast',
    async () => {
      const o = await c.call('GET', kedaPath('scaledobjects', ns.observe, 'web'), [200]);
      return status(o).intensity === 120 && o;
    },
    30_000,
  );
  t.match(status(obj), { cap: 10, intensity: 120, mode: 'observe' });
  t.equal(obj.spec.maxReplicaCount, 10);
});

t.test('a percentile band: the timer re-caps when the forecast crosses the resolved threshold', async (t) => {
  // p60 over 6 h back and 6 h ahead: 200 for six hours, then 400 from the boundary. p60 is
  // 400, so the cap applies from the boundary on, when the intensity reaches it.
  const boundary = Math.ceil((Date.now() + 30_000) / MINUTE) * MINUTE;
  await writeForecast(webhook.forecast, [
    [boundary - 360 * MINUTE, 360, 200],
    [boundary, 360, 400],
  ]);
  const doc = '{carbon: [{measuredEmission: p60, allowedMaxReplicaCount: 3}], relativeWindow: {past: 6h, ahead: 6h}}';
  await waitFor(
    'the new forecast to be read',
    async () => {
      const dry = await c.call(
        'POST',
        `${kedaPath('scaledobjects', ns.pct)}?dryRun=All`,
        [201],
        kedaObject('scaledobjects', ns.pct, 'probe', 10, { [ANNOTATION.environmentalImpact]: doc }),
      );
      return status(dry).intensity === 200;
    },
    30_000,
  );
  const created = await c.call(
    'POST',
    kedaPath('scaledobjects', ns.pct),
    [201],
    kedaObject('scaledobjects', ns.pct, 'web', 10, { [ANNOTATION.environmentalImpact]: doc }),
  );
  t.equal(created.spec.maxReplicaCount, 10, '200 is below p60 (400): no cap yet');
  t.match(status(created), { intensity: 200, rule: null });
  // No list and no label change: the controller hears of the object from its watch.
  const sweepsBefore = logsWith(webhook, 'sweep finished').length;
  t.ok(Date.now() < boundary, 'created before the boundary');
  // The boundary is 30 to 90 s ahead: the wait counts from it, not from now.
  const wait = boundary - Date.now() + 60_000;
  await waitFor('capped after the boundary', async () => (await getMax(c, 'scaledobjects', ns.pct, 'web')) === 3, wait).catch((err) => {
    // What the controller did, for whoever reads a failure.
    t.comment(JSON.stringify(webhook.serve.logs.filter((l) => /pass|touch|cap change|carbon/.test(String(l.msg))).slice(-20)));
    throw err;
  });
  const obj = await c.call('GET', kedaPath('scaledobjects', ns.pct, 'web'), [200]);
  const touched = Date.parse(obj.metadata.annotations[ANNOTATION.touchedAt]);
  t.ok(touched >= boundary, 'touched at or after the boundary');
  t.ok(touched - boundary < 5000, `within 5 s of it (${touched - boundary} ms)`);
  t.match(status(obj), { cap: 3, intensity: 400, rule: 'measuredEmission>=p60 (400)' });
  t.equal(logsWith(webhook, 'sweep finished').length, sweepsBefore, 'no list in between');
});
