import t from 'tap';
import type { KubeClient } from '../../src/carbon/kube-client.js';
import { FACTORIES } from '../../src/carbon/providers/index.js';
import { parseIntensityConfig } from '../../src/config/intensity.js';
import { ownSignal, PROVIDER_SPECS, PROVIDERS, providerSpec, requiredFor, signalConfigurable } from '../../src/config/providers.js';

/** The sources are only built here, never fetched from: a client that refuses every call proves that. */
const unusedKube: KubeClient = {
  get: () => Promise.reject(new Error('not fetched in this test')),
  watch: () => {
    throw new Error('not watched in this test');
  },
};

/** Every key any provider requires, with a value that passes, so each provider's block parses. */
const ALL_NEEDED = { location: 'GB', baseUrl: 'http://127.0.0.1:1', query: 'grid_intensity', path: 'forecast.json' };

t.test('one entry per provider, each with a registered factory and nothing registered beyond them', async (t) => {
  t.same(PROVIDERS, ['exporter-configmap', 'electricitymaps', 'watttime', 'uk-carbon-intensity', 'carbon-aware-sdk', 'prometheus', 'file', 'sample']);
  t.same(Object.keys(FACTORIES).sort(), [...PROVIDERS].sort());
  t.equal(new Set(PROVIDERS).size, PROVIDERS.length, 'no name twice');
});

t.test("a provider's source reports the signal its entry declares; the others report the configured one", async (t) => {
  for (const spec of PROVIDER_SPECS) {
    const fixed = 'signal' in spec ? spec.signal : undefined;
    const block = fixed ? { provider: spec.name, ...ALL_NEEDED } : { provider: spec.name, ...ALL_NEEDED, signal: 'marginal' };
    const config = parseIntensityConfig(block);
    const source = FACTORIES[spec.name](config, { env: { ELECTRICITYMAPS_TOKEN: 't', WATTTIME_USERNAME: 'u', WATTTIME_PASSWORD: 'p' }, kube: unusedKube });
    t.equal(source.signal, fixed ?? 'marginal', spec.name);
  }
});

t.test('the entries drive what the block requires and fills in', async (t) => {
  for (const spec of PROVIDER_SPECS) {
    for (const key of spec.needs) {
      const block: Record<string, string> = { provider: spec.name, ...ALL_NEEDED };
      delete block[key];
      t.throws(
        () => parseIntensityConfig(block),
        { key: `intensity.${key}`, message: new RegExp(`is required for provider ${spec.name}`) },
        `${spec.name} needs ${key}`,
      );
    }
  }
  t.equal(parseIntensityConfig({ provider: 'watttime', location: 'CAISO_NORTH' }).usernameEnv, 'WATTTIME_USERNAME');
  t.throws(() => parseIntensityConfig({ provider: 'watttime', location: 'X', signal: 'average' }), {
    key: 'intensity.signal',
    message: /watttime reports marginal intensity itself/,
  });
  t.equal(providerSpec('electricitymaps').signal, 'average');
  t.equal(ownSignal('watttime'), 'marginal');
  t.throws(() => ownSignal('file'), /file declares no signal of its own/, 'a provider whose configuration says it has none of its own');
});

t.test('the docs phrases follow the entries', async (t) => {
  t.equal(requiredFor('location'), 'required for electricitymaps, watttime, uk-carbon-intensity, carbon-aware-sdk');
  t.equal(requiredFor('baseUrl'), 'required for carbon-aware-sdk, prometheus');
  t.equal(signalConfigurable(), 'exporter-configmap, carbon-aware-sdk, prometheus, file, sample');
});
