import t from 'tap';
import { kubeApiFromUrl } from '../../src/cluster/api.js';
import { FakeKube } from '../helpers/fake-kube.js';
import { leaseIdentity, startClusterIntegration } from '../../src/cluster/index.js';
import { parseConfigText } from '../../src/config/config.js';
import { createMetrics } from '../../src/server/metrics.js';
import { steady } from '../helpers/carbon.js';
import { captureLogger } from '../helpers/log.js';
import { until } from '../helpers/until.js';

t.test('the Lease identity', async (t) => {
  const a = leaseIdentity({ POD_NAME: 'keda-carbon-abc' });
  const b = leaseIdentity({ POD_NAME: 'keda-carbon-abc' });
  t.match(a, /^keda-carbon-abc_[0-9a-f]{8}$/);
  t.not(a, b, 'two processes on one host never share an identity');
});

t.test('a Lease namespace that does not exist: start fails and names it', async (t) => {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  const { logger } = captureLogger();
  const config = parseConfigText('', 'test');
  await t.rejects(
    startClusterIntegration({
      api: kubeApiFromUrl(fake.url),
      leaseNamespace: 'nowhere',
      config: () => config,
      carbon: { snapshot: () => steady(100, Date.now()) },
      logger,
      metrics: createMetrics(),
    }),
    /the Lease namespace "nowhere" does not exist/,
  );
  t.equal(fake.requests.filter((r) => r.path.includes('/leases')).length, 0, 'no Lease was tried');
  t.equal(fake.openWatches, 0, 'nothing left running');
});

t.test('wired together: the Lease, the namespace cache, the sweep and a label change', async (t) => {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  fake.setNamespace('keda-carbon');
  fake.setNamespace('team', {});
  // A webhook stand-in: caps every object to 3 while its namespace carries the label.
  fake.admit = (_plural, obj) => {
    const labelled = fake.namespaces.get(obj.metadata.namespace!)?.metadata.labels?.['keda-carbon.io/policy'] === 'standard';
    const declared = Number(obj.metadata.annotations?.['keda-carbon.io/declared-max-replica-count'] ?? obj.spec!.maxReplicaCount);
    const annotations = { ...obj.metadata.annotations };
    if (labelled) {
      annotations['keda-carbon.io/declared-max-replica-count'] = String(declared);
      annotations['keda-carbon.io/status'] = JSON.stringify({
        cap: 3,
        declared,
        intensity: 400,
        signal: 'unknown',
        source: 'test:zone',
        dataTime: null,
        rule: 'measuredEmission>=300',
        ecoMode: 'on',
        mode: 'enforce',
        evaluatedAt: '',
      });
    }
    return { ...obj, metadata: { ...obj.metadata, annotations }, spec: { ...obj.spec, maxReplicaCount: labelled ? 3 : declared } };
  };
  fake.addObject('scaledobjects', { metadata: { name: 'web', namespace: 'team' }, spec: { maxReplicaCount: 10 } });
  const config = parseConfigText('policies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]\n', 'test');
  const { logger, lines } = captureLogger();
  const metrics = createMetrics();
  const cluster = await startClusterIntegration({
    leaseNamespace: 'keda-carbon',
    env: { POD_NAME: 'replica-1' },
    config: () => config,
    carbon: { snapshot: () => steady(400, Date.now()) },
    logger,
    metrics,
    api: kubeApiFromUrl(fake.url),
  });
  t.teardown(() => cluster.stop());
  await until(() => lines.some((l) => l.includes('"msg":"sweep finished"')), 'the first sweep');
  t.match(fake.leases.get('keda-carbon/keda-carbon-retouch')!.spec, { holderIdentity: /^replica-1_/ });
  t.equal(fake.getObject('scaledobjects', 'team', 'web')!.spec!.maxReplicaCount, 10, 'no policy yet: nothing touched');
  t.equal(await cluster.namespaces!.policyFor('team'), null);

  fake.setNamespace('team', { 'keda-carbon.io/policy': 'standard' });
  await until(() => fake.getObject('scaledobjects', 'team', 'web')!.spec!.maxReplicaCount === 3, 'the label alone caps the object');
  t.equal(cluster.namespaces!.policyFor('team'), 'standard', 'admission sees the label from the cache');
  await until(
    () => lines.some((l) => l.includes('"namespaces":["team"]') && l.includes('objects of a relabelled namespace evaluated')),
    'that namespace evaluated from the cache',
  );
  await until(() => fake.events.length > 0, 'the Event (recorded after the touch answered)');
  t.match(fake.events.at(-1), { reason: 'CarbonCapChanged', message: 'maxReplicaCount 10 -> 3 (400 gCO2eq/kWh, rule measuredEmission>=300)' });

  fake.setNamespace('team', {});
  await until(() => fake.getObject('scaledobjects', 'team', 'web')!.spec!.maxReplicaCount === 10, 'the label gone: declared max back');
  const touched = async () =>
    (await metrics.registry.getSingleMetric('keda_carbon_sweep_objects_total')!.get()).values.find((v) => v.labels.outcome === 'touched')?.value ?? 0;
  await until(async () => (await touched()) >= 2, 'both touches in the metrics');
  t.equal(await touched(), 2, 'both touches counted in the metrics');
  t.equal(
    fake.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/apis/keda.sh/') && !r.query.get('watch')).length,
    2,
    'the label changes needed no list',
  );

  cluster.reconfigure();
  await cluster.stop();
  t.notOk(fake.leases.get('keda-carbon/keda-carbon-retouch')!.spec!.holderIdentity, 'released on stop');
});
