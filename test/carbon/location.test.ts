import t from 'tap';
import { parseIntensityConfig } from '../../src/config/intensity.js';
import { gridZoneFor, nodeLabelReader, REGION_GRIDS, resolveLocation } from '../../src/carbon/location.js';
import { openSource } from '../../src/carbon/providers/index.js';
import { FakeKube, kubeClientFor } from '../helpers/fake-kube.js';

const cfg = (provider: string, location = 'auto') =>
  parseIntensityConfig({ provider, location, ...(provider === 'carbon-aware-sdk' ? { baseUrl: 'http://127.0.0.1:1' } : {}) });
const labels = (region: string) => async () => ({ 'topology.kubernetes.io/region': region });

t.test('auto maps the node region to the provider zone', async (t) => {
  const env = { NODE_NAME: 'node-1' };
  t.equal((await resolveLocation(cfg('electricitymaps'), { env, readNodeLabels: labels('westeurope') })).location, 'NL');
  t.equal((await resolveLocation(cfg('electricitymaps'), { env, readNodeLabels: labels('eu-central-1') })).location, 'DE');
  t.equal((await resolveLocation(cfg('electricitymaps'), { env, readNodeLabels: labels('europe-west2') })).location, 'GB');
  t.equal((await resolveLocation(cfg('watttime'), { env, readNodeLabels: labels('us-west-1') })).location, 'CAISO_NORTH');
  t.equal((await resolveLocation(cfg('uk-carbon-intensity'), { env, readNodeLabels: labels('uksouth') })).location, '13');
  t.equal((await resolveLocation(cfg('carbon-aware-sdk'), { env, readNodeLabels: labels('us-east4') })).location, 'eastus');
  t.equal((await resolveLocation(cfg('electricitymaps', 'FR'), { env: {} })).location, 'FR', 'an explicit location is left alone');
});

t.test('unknown region, missing zone, missing NODE_NAME, missing label: clear errors', async (t) => {
  const env = { NODE_NAME: 'node-1' };
  await t.rejects(resolveLocation(cfg('electricitymaps'), { env, readNodeLabels: labels('mars-north-1') }), {
    key: 'intensity.location',
    message: /auto: cloud region "mars-north-1" is not in the built-in table; set intensity.location to your grid zone/,
  });
  await t.rejects(resolveLocation(cfg('uk-carbon-intensity'), { env, readNodeLabels: labels('westeurope') }), {
    message: /cloud region westeurope \(Netherlands\) has no uk-carbon-intensity zone/,
  });
  await t.rejects(resolveLocation(cfg('electricitymaps'), { env: {}, readNodeLabels: labels('westeurope') }), {
    message: /auto needs the NODE_NAME environment variable/,
  });
  await t.rejects(resolveLocation(cfg('electricitymaps'), { env, readNodeLabels: async () => ({}) }), {
    message: /node node-1 has no topology.kubernetes.io\/region label/,
  });
  t.equal(
    (await resolveLocation(cfg('electricitymaps'), { env, readNodeLabels: async () => ({ 'failure-domain.beta.kubernetes.io/region': 'francecentral' }) }))
      .location,
    'FR',
    'the legacy label still works',
  );
});

t.test('every table entry has an Electricity Maps zone and a documented place', async (t) => {
  for (const [region, g] of Object.entries(REGION_GRIDS)) {
    t.match(g.em, /^[A-Z]{2}(-[A-Z0-9]+)*$/, `${region} zone`);
    t.ok(g.place.length > 3, `${region} place`);
    t.equal(gridZoneFor('electricitymaps', region.toUpperCase()), g.em, `${region} case-insensitive`);
  }
});

t.test('openSource reads the node through the Kubernetes API', async (t) => {
  const api = new FakeKube();
  await api.start();
  t.teardown(() => api.close());
  api.setNode('node-7', { 'topology.kubernetes.io/region': 'swedencentral' });
  const kube = kubeClientFor(api.url);
  const { config, source } = await openSource(cfg('electricitymaps'), { env: { NODE_NAME: 'node-7', ELECTRICITYMAPS_TOKEN: 'x' }, kube });
  t.equal(config.location, 'SE-SE3');
  t.equal(source.name, 'electricitymaps:SE-SE3');
  await t.rejects(nodeLabelReader(kube)('missing-node'), { message: /auto: reading node missing-node answered 404/ });
});
