/**
 * The webhook and its timer against a real kube-apiserver (and the KEDA CRDs): one `serve`
 * process, registered with a MutatingWebhookConfiguration, reading a forecast file that
 * the test rewrites. Runs only when KEDA_CARBON_E2E_KUBECONFIG names a kubeconfig.
 */
import t from 'tap';
import { ANNOTATION } from '../../src/core/names.js';
import {
  LABEL,
  MINUTE,
  clusterOrSkip,
  createNamespace,
  eventsFor,
  getMax,
  kedaObject,
  kedaPath,
  labelNamespace,
  logsWith,
  registerWebhook,
  startWebhook,
  waitFor,
  writeForecast,
} from './cluster-env.js';

// Real processes, a real Lease expiry and forecast boundaries: more than the default budget.
t.setTimeout(240_000);
const c = clusterOrSkip(t);
const E2E = { 'keda-carbon-e2e': c.id };
const ns = {
  system: `kc-system-${c.id}`,
  labelled: `kc-labelled-${c.id}`,
  timer: `kc-timer-${c.id}`,
  invalid: `kc-invalid-${c.id}`,
};

const now = Date.now();
const hourStart = now - (now % (60 * MINUTE));

await createNamespace(c, ns.system, {});
await createNamespace(c, ns.labelled, { ...E2E, [LABEL]: 'standard' });
await createNamespace(c, ns.timer, { ...E2E, [LABEL]: 'standard' });
await createNamespace(c, ns.invalid, E2E);
// Namespaces are never finalized on this control plane (no controller-manager), so the
// random suffix keeps runs apart instead of a cleanup.

const webhook = await startWebhook(c, { leaseNamespace: ns.system, forecast: [[hourStart - 60 * MINUTE, 240, 400]] });
t.teardown(async () => {
  const t0 = Date.now();
  await webhook.serve.stop();
  const stopping = webhook.serve.logs
    .filter((l) => /shutting down|stopped|released|sweep/.test(String(l.msg)))
    .slice(-4)
    .map((l) => `${l.time} ${l.msg}`);
  // A slow stop says where it waited; a prompt one says nothing.
  if (Date.now() - t0 > 5000) console.error(`serve took ${Date.now() - t0} ms to stop; its last lines:`, stopping);
});
await registerWebhook(t, c, webhook, ns.labelled);
await waitFor('leadership', async () => logsWith(webhook, 'became the leader: running the re-touch timer').length > 0, 30_000);

t.test('a namespace label alone caps ScaledObjects and ScaledJobs on create', async (t) => {
  await c.call('POST', kedaPath('scaledobjects', ns.labelled), [201], kedaObject('scaledobjects', ns.labelled, 'web', 10));
  await c.call('POST', kedaPath('scaledjobs', ns.labelled), [201], kedaObject('scaledjobs', ns.labelled, 'batch', 8));
  const web = await c.call('GET', kedaPath('scaledobjects', ns.labelled, 'web'), [200]);
  t.equal(web.spec.maxReplicaCount, 3, 'capped at 400 gCO2eq/kWh by the namespace policy');
  t.equal(web.metadata.annotations[ANNOTATION.declared], '10', 'the declared max is kept');
  t.match(JSON.parse(web.metadata.annotations[ANNOTATION.status]), { cap: 3, declared: 10, intensity: 400, rule: 'measuredEmission>=300' });
  t.equal(await getMax(c, 'scaledjobs', ns.labelled, 'batch'), 3, 'the ScaledJob too');
});

t.test('dry-run stores nothing', async (t) => {
  const created = await c.call('POST', `${kedaPath('scaledobjects', ns.labelled)}?dryRun=All`, [201], kedaObject('scaledobjects', ns.labelled, 'dry', 10));
  t.equal(created.spec.maxReplicaCount, 3, 'the dry-run answer shows the cap');
  await c.call('GET', kedaPath('scaledobjects', ns.labelled, 'dry'), [404]);
  const before = await c.call('GET', kedaPath('scaledobjects', ns.labelled, 'web'), [200]);
  const updated = await c.call(
    'PATCH',
    `${kedaPath('scaledobjects', ns.labelled, 'web')}?dryRun=All`,
    [200],
    { spec: { maxReplicaCount: 20 } },
    'application/merge-patch+json',
  );
  t.equal(updated.spec.maxReplicaCount, 3, 'a dry-run update is capped too');
  t.equal(updated.metadata.annotations[ANNOTATION.declared], '20');
  const after = await c.call('GET', kedaPath('scaledobjects', ns.labelled, 'web'), [200]);
  t.equal(after.metadata.resourceVersion, before.metadata.resourceVersion, 'and nothing was stored');
  t.equal(after.metadata.annotations[ANNOTATION.declared], '10');
});

t.test('removing the namespace label restores the declared max, through a touch', async (t) => {
  await labelNamespace(c, ns.labelled, { [LABEL]: null });
  await waitFor('the declared max back', async () => (await getMax(c, 'scaledobjects', ns.labelled, 'web')) === 10, 30_000);
  await waitFor('the ScaledJob too', async () => (await getMax(c, 'scaledjobs', ns.labelled, 'batch')) === 8, 30_000);
  const web = await c.call('GET', kedaPath('scaledobjects', ns.labelled, 'web'), [200]);
  t.notOk(web.metadata.annotations?.[ANNOTATION.declared], 'our annotations are gone');
  t.notOk(web.metadata.annotations?.[ANNOTATION.touchedAt], 'touched-at as well');
  const events = await eventsFor(c, ns.labelled, 'web');
  t.match(
    events.find((e) => e.reason === 'CarbonCapChanged'),
    { type: 'Normal', message: /^maxReplicaCount 3 -> 10 / },
  );
  t.ok(
    logsWith(webhook, 'namespace policy label changed').some((l) => l.namespace === ns.labelled),
    'the label change was seen by the watch',
  );

  await labelNamespace(c, ns.labelled, { [LABEL]: 'standard' });
  await waitFor('capped again once the label is back', async () => (await getMax(c, 'scaledobjects', ns.labelled, 'web')) === 3, 30_000);
});

t.test('new data: the timer re-caps through the webhook', async (t) => {
  for (let i = 0; i < 3; i++) await c.call('POST', kedaPath('scaledobjects', ns.timer), [201], kedaObject('scaledobjects', ns.timer, `app-${i}`, 10));
  t.equal(await getMax(c, 'scaledobjects', ns.timer, 'app-0'), 3);
  const started = Date.now();
  await writeForecast(webhook.forecast, [[hourStart - 60 * MINUTE, 240, 120]]);
  for (let i = 0; i < 3; i++) {
    await waitFor(`app-${i} uncapped`, async () => (await getMax(c, 'scaledobjects', ns.timer, `app-${i}`)) === 10, 45_000);
  }
  t.ok(Date.now() - started < 60_000, 'within a minute of the band change');
  const obj = await c.call('GET', kedaPath('scaledobjects', ns.timer, 'app-0'), [200]);
  t.ok(obj.metadata.annotations[ANNOTATION.touchedAt], 'the timer wrote touched-at');
  t.match(JSON.parse(obj.metadata.annotations[ANNOTATION.status]), { cap: 10, intensity: 120 });
  const events = await eventsFor(c, ns.timer, 'app-0');
  t.match(
    events.find((e) => e.reason === 'CarbonCapChanged'),
    { message: 'maxReplicaCount 3 -> 10 (120 gCO2eq/kWh, no band applies)' },
  );
});

t.test('a forecast boundary: the timer re-caps at the boundary, not an hour later', async (t) => {
  // 120 until a boundary 20 s from now, 450 after it; point lengths stay whole minutes.
  const boundary = Date.now() + 20_000;
  await writeForecast(webhook.forecast, [
    [boundary - 60 * MINUTE, 60, 120],
    [boundary, 120, 450],
  ]);
  for (let i = 0; i < 3; i++) {
    await waitFor(`app-${i} capped after the boundary`, async () => (await getMax(c, 'scaledobjects', ns.timer, `app-${i}`)) === 3, 60_000);
  }
  // Not before the boundary, shown by when the capping touch was made (a look at the cap
  // some seconds before the boundary would pass on a slow machine without testing anything).
  for (let i = 0; i < 3; i++) {
    const obj = await c.call('GET', kedaPath('scaledobjects', ns.timer, `app-${i}`), [200]);
    const touched = Date.parse(obj.metadata.annotations[ANNOTATION.touchedAt]);
    t.ok(touched >= boundary - 1000, `app-${i} touched after the boundary`);
    t.ok(touched - boundary < 60_000, `within a minute of it (${touched - boundary} ms)`);
  }
  // The pass's line follows its touches by the log's batching and the pipe, so wait for it.
  const forecastPass = () => logsWith(webhook, 'cache pass finished').some((l) => l.reason === 'forecast: a cap changes now' && (l.changed as number) >= 3);
  await waitFor('the forecast pass logged', async () => forecastPass(), 10_000).catch(() => undefined);
  t.ok(forecastPass(), 'a forecast-driven pass over the cache changed the caps');
});

t.test('an invalid policy is skipped with one Warning Event, not one per sweep', async (t) => {
  await c.call('POST', kedaPath('scaledobjects', ns.invalid), [201], kedaObject('scaledobjects', ns.invalid, 'misnamed', 10, { [LABEL]: 'no-such-policy' }));
  t.equal(await getMax(c, 'scaledobjects', ns.invalid, 'misnamed'), 10, 'admitted unchanged (a missing named policy is an operator matter: fail open)');
  // Each change of the namespace's policy label makes the leader evaluate that namespace's
  // objects again; the object's own annotation outranks the label, so only the passes change.
  const passes = () => logsWith(webhook, 'objects of a relabelled namespace evaluated').filter((l) => (l.namespaces as string[]).includes(ns.invalid));
  // The controller hears of the object from its watch and reports it; passes from before
  // that (the namespace's own creation) do not count.
  await waitFor('the Warning Event', async () => (await eventsFor(c, ns.invalid, 'misnamed')).some((e) => e.type === 'Warning'), 30_000);
  const baseline = passes().length;
  for (const value of ['disabled', null, 'disabled']) {
    const before = passes().length;
    await labelNamespace(c, ns.invalid, { [LABEL]: value });
    await waitFor('a pass over the namespace', async () => passes().length > before, 30_000);
  }
  const ours = passes().slice(baseline);
  t.ok(ours.length >= 3 && ours.every((l) => l.invalid === 1 && l.queued === 0), 'every pass skipped it', { passes: ours });
  const warnings = (await eventsFor(c, ns.invalid, 'misnamed')).filter((e) => e.type === 'Warning');
  t.equal(warnings.length, 1, 'reported once');
  t.match(warnings[0], { reason: 'CarbonPolicyInvalid', message: /names policy "no-such-policy", which the keda-carbon configuration does not define/ });
});
