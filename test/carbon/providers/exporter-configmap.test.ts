import t, { type Test } from 'tap';
import { parse as parseYaml } from 'yaml';
import { parseIntensityConfig } from '../../../src/config/intensity.js';
import type { SourceError } from '../../../src/carbon/errors.js';
import { createExporterConfigMapSource, parseGoTime } from '../../../src/carbon/providers/exporter-configmap.js';
import { Refresher } from '../../../src/carbon/refresher.js';
import { CarbonStore } from '../../../src/carbon/store.js';
import { validatePoints } from '../../../src/carbon/validate.js';
import { FIXTURE_NOW, fixtureText } from '../../helpers/fixtures.js';
import { FAKE_TOKEN, FakeKube, type FakeObject, kubeClientFor } from '../../helpers/fake-kube.js';
import { systemClock } from '../../../src/ports.js';
import { until } from '../../helpers/until.js';

const exporterCm = () => parseYaml(fixtureText('exporter-configmap', 'carbon-intensity.yaml')) as FakeObject;
const CM_PATH = '/api/v1/namespaces/kube-system/configmaps/carbon-intensity';

/** The API server, holding the exporter's ConfigMap unless told otherwise; it wants the token. */
async function apiServer(t: Test, configMaps: FakeObject[] = [exporterCm()], replay = true) {
  const api = new FakeKube();
  api.token = FAKE_TOKEN;
  api.keepHistory = replay;
  await api.start();
  t.teardown(() => api.close());
  for (const cm of configMaps) api.putConfigMap(cm);
  return {
    api,
    reads: () => api.requests.filter((r) => r.path === CM_PATH),
    remove: () => api.deleteConfigMap('kube-system', 'carbon-intensity'),
    put: (cm: FakeObject) => api.putConfigMap(cm),
  };
}
const cfg = (extra: Record<string, unknown> = {}) => parseIntensityConfig({ provider: 'exporter-configmap', ...extra });

function withPoints(points: unknown[]): FakeObject {
  return { ...exporterCm(), binaryData: { data: Buffer.from(JSON.stringify(points)).toString('base64') } };
}

t.test('reads binaryData.data through the Kubernetes API', async (t) => {
  const { api } = await apiServer(t);
  const src = createExporterConfigMapSource(cfg({ location: 'CAISO_NORTH' }), { env: {}, kube: kubeClientFor(api.url) });
  t.equal(src.name, 'exporter-configmap:CAISO_NORTH');
  t.equal(src.signal, 'unknown');
  const points = validatePoints(await src.fetch(AbortSignal.timeout(5000)), src.name);
  t.equal(points.length, 288, 'numOfRecords');
  t.same(points[0], { timestamp: Date.UTC(2026, 5, 1, 13), durationMinutes: 5, gCO2eqPerKWh: 200.0892814275597 });
  t.equal(api.requests[0]!.path, CM_PATH);
  t.equal(api.requests[0]!.authorization, `Bearer ${FAKE_TOKEN}`, "the kubeconfig's credentials");
});

t.test('a NotFound while the exporter recreates the ConfigMap is retried, not an outage', async (t) => {
  const { api, reads, remove, put } = await apiServer(t);
  remove();
  // the exporter's create lands once the source has read the gap twice
  void until(() => reads().length >= 2, 'two reads that found nothing').then(() => put(exporterCm()));
  const src = createExporterConfigMapSource(cfg(), { env: {}, kube: kubeClientFor(api.url) }, { notFoundRetryMs: 50, notFoundAttempts: 10 });
  const points = await src.fetch(AbortSignal.timeout(5000));
  t.equal(points.length, 288);
  t.ok(reads().length >= 3, 'read again after the 404s');
});

t.test('still missing after the retries: unavailable, naming the ConfigMap', async (t) => {
  const { api } = await apiServer(t, []);
  const src = createExporterConfigMapSource(
    cfg({ configMap: { namespace: 'carbon', name: 'ci' } }),
    { env: {}, kube: kubeClientFor(api.url) },
    { notFoundRetryMs: 10, notFoundAttempts: 3 },
  );
  const err = (await src.fetch(AbortSignal.timeout(5000)).catch((e: unknown) => e)) as SourceError;
  t.equal(err.kind, 'unavailable');
  t.match(err.message, /ConfigMap carbon\/ci not found \(the exporter deletes and recreates it on every refresh; is the exporter running\?\)/);
  t.equal(api.requests.filter((r) => r.path === '/api/v1/namespaces/carbon/configmaps/ci').length, 3);
});

t.test('RBAC refusal names the permission needed', async (t) => {
  const { api } = await apiServer(t);
  api.faults = [
    (r) => (r.path === CM_PATH ? { status: 403, body: { kind: 'Status', code: 403, message: 'configmaps "carbon-intensity" is forbidden' } } : undefined),
  ];
  await t.rejects(createExporterConfigMapSource(cfg(), { env: {}, kube: kubeClientFor(api.url) }).fetch(AbortSignal.timeout(5000)), {
    kind: 'http',
    status: 403,
    message: /answered 403: configmaps "carbon-intensity" is forbidden; the service account needs get and watch on configmaps in kube-system/,
  });
});

t.test('garbage in the ConfigMap is rejected with the reason', async (t) => {
  const { api, put } = await apiServer(t);
  const src = createExporterConfigMapSource(cfg({ location: 'CAISO_NORTH' }), { env: {}, kube: kubeClientFor(api.url) });
  put({ ...exporterCm(), binaryData: { data: Buffer.from('{{{').toString('base64') } });
  await t.rejects(src.fetch(AbortSignal.timeout(5000)), { kind: 'invalid', message: /binaryData.data is not base64 of a JSON array/ });
  put({ ...exporterCm(), binaryData: undefined });
  await t.rejects(src.fetch(AbortSignal.timeout(5000)), { kind: 'invalid', message: /has no binaryData.data/ });
  put(withPoints([{ location: 'PJM_DC', timestamp: '2026-06-01T13:00:00Z', duration: 5, value: 300 }]));
  await t.rejects(src.fetch(AbortSignal.timeout(5000)), { kind: 'invalid', message: /holds data for PJM_DC, not for the configured location CAISO_NORTH/ });
  put(withPoints([{ location: 'CAISO_NORTH', timestamp: 'yesterday', duration: 5, value: 300 }]));
  await t.rejects(src.fetch(AbortSignal.timeout(5000)), { kind: 'invalid', message: /element 0 timestamp: "yesterday" is not an RFC 3339/ });
  put(withPoints([]));
  const empty = await src.fetch(AbortSignal.timeout(5000));
  t.throws(() => validatePoints(empty, src.name), /no data points/, 'an empty array never reaches the store');
});

t.test('the API server not answering in time is a timeout', async (t) => {
  // The deadline (an AbortSignal.timeout in the refresher) passes while the read is open.
  const ac = new AbortController();
  const src = createExporterConfigMapSource(cfg(), {
    env: {},
    kube: {
      get: (_p, signal) => {
        const open = new Promise<never>((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
        ac.abort(new DOMException('timed out', 'TimeoutError'));
        return open;
      },
      watch: () => () => undefined,
    },
  });
  await t.rejects(src.fetch(ac.signal), { kind: 'timeout', message: /reading ConfigMap kube-system\/carbon-intensity timed out/ });
});

t.test('Go time.String() values', async (t) => {
  t.equal(parseGoTime('2026-06-01 13:00:00 +0000 UTC'), Date.UTC(2026, 5, 1, 13));
  t.equal(parseGoTime('2026-06-01 12:58:41.118330761 +0000 UTC m=+43200.912734512'), Date.UTC(2026, 5, 1, 12, 58, 41, 118));
  t.equal(parseGoTime('2026-06-01 15:00:00 +0200 CEST'), Date.UTC(2026, 5, 1, 13));
  t.equal(parseGoTime('2026-06-01T13:00:00Z'), undefined, 'RFC 3339 is not Go String()');
});

t.test('watch: the refresher picks up the recreated ConfigMap at once, and stop closes the stream', async (t) => {
  // Watches hear live events only: the ADDED a fresh watch replays for the ConfigMap already
  // there would start a read at a moment of its own, and the reads are counted below.
  const { api, reads, remove, put } = await apiServer(t, [exporterCm()], false);
  const src = createExporterConfigMapSource(cfg(), { env: {}, kube: kubeClientFor(api.url) }, { notFoundRetryMs: 20, rewatchMs: 20 });
  const store = new CarbonStore({ source: src.name, maxDataAgeMs: 2 * 3_600_000 });
  // Real timers, but "now" is when the fixture was written, so its points are current.
  const refresher = new Refresher({ source: src, store, refreshIntervalMs: 3_600_000, timeoutMs: 5000, clock: { ...systemClock, now: () => FIXTURE_NOW } });
  t.teardown(() => refresher.stop());
  refresher.start();
  await until(() => store.snapshot().fetchedAt !== null && api.openWatches === 1, 'the first read and one watch');
  t.equal(store.snapshot().points[0]!.gCO2eqPerKWh, 200.0892814275597);
  t.ok(
    api.requests.some(
      (r) =>
        r.path === '/api/v1/namespaces/kube-system/configmaps' &&
        r.query.get('fieldSelector') === 'metadata.name=carbon-intensity' &&
        r.query.get('watch') === 'true',
    ),
    'watches by field selector',
  );

  // The exporter's refresh: delete, then create with new data. Both events come down the same
  // stream in order, so a read the DELETED started would be in the requests before the
  // ADDED's read has brought the new data.
  const readsBefore = reads().length;
  remove();
  put(withPoints([{ location: 'CAISO_NORTH', timestamp: new Date(FIXTURE_NOW).toISOString(), duration: 60, value: 444 }]));
  await until(() => store.snapshot().points.some((p) => p.gCO2eqPerKWh === 444), 'the edited ConfigMap in the store');
  t.pass('ADDED triggered a fetch long before the 1 h interval');
  t.equal(reads().length - readsBefore, 1, 'DELETED started no read: only the ADDED did');

  const watchesBefore = api.watchCounts.configmaps;
  api.dropWatches();
  await until(() => api.openWatches === 1 && api.watchCounts.configmaps > watchesBefore, 'one watch, a new one');
  t.pass('the watch re-opens after the API server ends it');
  await refresher.stop();
  await until(() => api.openWatches === 0, 'no watch');
  t.pass('stop closes the watch');
});

t.test('without Kubernetes access the source says so', async (t) => {
  t.throws(() => createExporterConfigMapSource(cfg(), { env: {} }), /needs access to the Kubernetes API/);
});
