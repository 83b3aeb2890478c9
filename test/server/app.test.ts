import t from 'tap';
import { createLogger } from '../../src/log.js';
import { ADMISSION_BODY_LIMIT, buildApp, buildMetricsApp, type Readiness } from '../../src/server/app.js';
import { createMetrics } from '../../src/server/metrics.js';
import { loadConfigFile, parseConfigText } from '../../src/config/config.js';
import { HOUR, hourly, steady } from '../helpers/carbon.js';
import { applyResponsePatch, loadReview, withAnnotations } from '../helpers/reviews.js';

const NOW = Date.parse('2026-11-23T10:30:00Z');

async function app(readiness: Readiness = { serving: true, carbon: { fresh: true, source: 'test:zone', fetchedAt: null } }) {
  const config = await loadConfigFile(undefined);
  const metrics = createMetrics();
  // A day from the current hour, 600 g now and the dirtiest: the embedded standard's p80 band applies.
  const carbon = hourly(NOW - (NOW % HOUR), [600, ...Array.from({ length: 23 }, (_, i) => 200 + i * 10)], NOW);
  const instance = buildApp({ admission: { config: () => config, carbon: { snapshot: () => carbon }, now: () => NOW }, readiness: () => readiness, metrics });
  return { instance, metrics };
}

t.test('POST /mutate through inject: patched, counted, timed', async (t) => {
  const { instance, metrics } = await app();
  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' });
  const res = await instance.inject({ method: 'POST', url: '/mutate?timeout=10s', payload: review });
  t.equal(res.statusCode, 200);
  t.equal(res.json().response.patchType, 'JSONPatch');
  t.same(res.json().response.warnings, ['keda-carbon: maxReplicaCount 10 -> 2 (600 gCO2eq/kWh >= p80 (390))']);
  const text = await metrics.registry.metrics();
  t.match(text, /keda_carbon_admission_requests_total\{operation="CREATE",kind="ScaledObject",result="patched"\} 1/);
  t.match(text, /keda_carbon_cap_changes_total\{kind="ScaledObject",direction="down"\} 1/);
  t.match(text, /keda_carbon_admission_duration_seconds_count 1/);
});

t.test('bad bodies get a Kubernetes Status the API server can read', async (t) => {
  const { instance } = await app();
  const tooBig = await instance.inject({
    method: 'POST',
    url: '/mutate',
    headers: { 'content-type': 'application/json' },
    payload: `{"x":"${'a'.repeat(ADMISSION_BODY_LIMIT)}"}`,
  });
  t.equal(tooBig.statusCode, 413);
  t.match(tooBig.json(), { kind: 'Status', code: 413, reason: 'RequestEntityTooLarge' });
  const empty = await instance.inject({ method: 'POST', url: '/mutate', headers: { 'content-type': 'application/json' }, payload: '' });
  t.equal(empty.statusCode, 400);
  t.match(empty.json(), { kind: 'Status', status: 'Failure', code: 400 });
  const missing = await instance.inject({ method: 'GET', url: '/validate' });
  t.equal(missing.statusCode, 404);
  t.match(missing.json().message, /admission reviews go to POST \/mutate/);
  const get = await instance.inject({ method: 'GET', url: '/mutate' });
  t.equal(get.statusCode, 404);
});

t.test('health and readiness', async (t) => {
  const { instance } = await app();
  t.same((await instance.inject('/healthz')).json(), { status: 'ok' });
  const ready = await instance.inject('/readyz');
  t.equal(ready.statusCode, 200);
  t.same(ready.json().carbon, { fresh: true, source: 'test:zone', fetchedAt: null });
  const stale = await app({ serving: true, carbon: { fresh: false, source: 'x:y', fetchedAt: null } });
  const r = await stale.instance.inject('/readyz');
  t.equal(r.statusCode, 200, 'stale data is reported, but does not take the webhook out of service');
  t.equal(r.json().carbon.fresh, false);
  const closing = await app({ serving: false, carbon: { fresh: true, source: 'x:y', fetchedAt: null } });
  t.equal((await closing.instance.inject('/readyz')).statusCode, 503, 'shutting down fails readiness first');
});

t.test('the metrics app serves the dedicated registry', async (t) => {
  const metrics = createMetrics();
  metrics.carbon.carbonIntensity.set({ source: 'sample', location: 'sample' }, 321);
  const res = await buildMetricsApp(metrics).inject('/metrics');
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /text\/plain/);
  t.match(res.body, /keda_carbon_carbon_intensity_gco2eq_per_kwh\{source="sample",location="sample"\} 321/);
  t.match(res.body, /keda_carbon_process_cpu_seconds_total/);
});

t.test('keda_carbon_cap_changes_total counts stored changes only: not dry runs, not re-applies that keep the stored cap', async (t) => {
  const { instance, metrics } = await app();
  const counted = async () => /keda_carbon_cap_changes_total\{kind="ScaledObject",direction="down"\} (\d+)/.exec(await metrics.registry.metrics())?.[1] ?? '0';
  const dryRun = withAnnotations(loadReview('scaledobject-update.dry-run-server.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' });
  t.equal(dryRun.request.dryRun, true, 'the fixture is a dry run');
  const dry = await instance.inject({ method: 'POST', url: '/mutate', payload: dryRun });
  t.ok(dry.json().response.patch, 'a dry run is still answered with the patch');
  t.equal(await counted(), '0', 'a dry run stores nothing');

  const create = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' });
  await instance.inject({ method: 'POST', url: '/mutate', payload: create });
  t.equal(await counted(), '1', 'a create stored capped');

  // The same manifest applied again: the API server sends the declared max, the stored object has the cap.
  const reapply = structuredClone(create);
  reapply.request.uid = 'reapply';
  reapply.request.operation = 'UPDATE';
  reapply.request.oldObject = structuredClone(create.request.object);
  (reapply.request.oldObject as { spec: { maxReplicaCount: number } }).spec.maxReplicaCount = 2;
  const again = await instance.inject({ method: 'POST', url: '/mutate', payload: reapply });
  t.ok(again.json().response.patch, 'the re-apply is patched back to the cap');
  t.equal(await counted(), '1', 'but the stored cap did not change');
});

t.test('writing 100 over an unset maxReplicaCount is no cap change: unset is KEDA default 100', async (t) => {
  const config = parseConfigText('policies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]\n', 'test');
  const metrics = createMetrics();
  const carbon = steady(120, NOW);
  const instance = buildApp({
    admission: { config: () => config, carbon: { snapshot: () => carbon }, now: () => NOW },
    readiness: () => ({ serving: true, carbon: { fresh: true, source: 'test', fetchedAt: null } }),
    metrics,
  });
  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' });
  delete review.request.object.spec.maxReplicaCount;
  const res = await instance.inject({ method: 'POST', url: '/mutate', payload: review });
  const object = applyResponsePatch(review.request.object, res.json().response);
  t.equal(object.spec.maxReplicaCount, 100, 'below every rule: the declared 100 is written into the spec');
  const text = await metrics.registry.metrics();
  t.match(text, /keda_carbon_admission_requests_total\{operation="CREATE",kind="ScaledObject",result="patched"\} 1/);
  t.notMatch(text, /keda_carbon_cap_changes_total\{/, 'neither up nor down: the cap in force was 100 before and after');

  // At 412 g the same object is capped: 100 (unset) -> 3 is a change down.
  const dirty = buildApp({
    admission: { config: () => config, carbon: { snapshot: () => steady(412, NOW) }, now: () => NOW },
    readiness: () => ({ serving: true, carbon: { fresh: true, source: 'test', fetchedAt: null } }),
    metrics,
  });
  await dirty.inject({ method: 'POST', url: '/mutate', payload: review });
  t.match(await metrics.registry.metrics(), /keda_carbon_cap_changes_total\{kind="ScaledObject",direction="down"\} 1/);
});

t.test('requests refused before an AdmissionReview is built are counted, by code', async (t) => {
  const { instance, metrics } = await app();
  const json = { 'content-type': 'application/json' };
  await instance.inject({ method: 'POST', url: '/mutate', headers: json, payload: '{"kind":' });
  await instance.inject({ method: 'POST', url: '/mutate', headers: json, payload: '' });
  await instance.inject({ method: 'POST', url: '/mutate', headers: json, payload: '{"kind":"Pod"}' });
  await instance.inject({ method: 'POST', url: '/mutate', headers: json, payload: `{"x":"${'a'.repeat(ADMISSION_BODY_LIMIT)}"}` });
  const wrongType = await instance.inject({ method: 'POST', url: '/mutate', headers: { 'content-type': 'application/xml' }, payload: '<x/>' });
  t.equal(wrongType.statusCode, 415);
  await instance.inject({ method: 'GET', url: '/nowhere' });
  const text = await metrics.registry.metrics();
  t.match(text, /keda_carbon_admission_rejected_total\{code="400"\} 3/, 'not JSON, empty, not an AdmissionReview');
  t.match(text, /keda_carbon_admission_rejected_total\{code="413"\} 1/);
  t.match(text, /keda_carbon_admission_rejected_total\{code="415"\} 1/);
  t.notMatch(text, /keda_carbon_admission_rejected_total\{code="404"/, 'another route is not an admission request');
  t.notMatch(text, /keda_carbon_admission_requests_total\{operation="unknown"/, 'no label copied or made up from a broken request');
});

t.test('a review that changes a cap writes one log line with the object, the cap and the reason', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const sink = { write: (line: string) => lines.push(JSON.parse(line)) };
  // The process logger, as serve makes it: its cap lines are built without pino's formatting.
  const logger = createLogger({ destination: sink });
  const config = await loadConfigFile(undefined);
  const carbon = hourly(NOW - (NOW % HOUR), [600, ...Array.from({ length: 23 }, (_, i) => 200 + i * 10)], NOW);
  const instance = buildApp({
    admission: { config: () => config, carbon: { snapshot: () => carbon }, now: () => NOW },
    readiness: () => ({ serving: true, carbon: { fresh: true, source: 'test:zone', fetchedAt: null } }),
    logger,
  });
  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' });
  const res = await instance.inject({ method: 'POST', url: '/mutate', payload: review });
  t.equal(res.statusCode, 200);
  const logged = lines.filter((l) => l.msg === 'cap set');
  t.equal(logged.length, 1);
  t.match(logged[0], {
    level: 30,
    reqId: String,
    kind: 'ScaledObject',
    namespace: 'probe',
    objectName: 'so-b2',
    operation: 'CREATE',
    dryRun: false,
    result: 'patched',
    cap: { from: 10, to: 2 },
    reason: /policy "standard"/,
  });
  const bad = await instance.inject({ method: 'POST', url: '/mutate', payload: { kind: 'Pod' } });
  t.equal(bad.statusCode, 400);
  t.match(
    lines.find((l) => l.msg === 'not an AdmissionReview'),
    { level: 40, reqId: String, reason: /expected kind AdmissionReview/ },
  );
});
