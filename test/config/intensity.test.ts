import t from 'tap';
import { parseIntensityConfig } from '../../src/config/intensity.js';

t.test('credential defaults and mounted files', async (t) => {
  const em = parseIntensityConfig({ provider: 'electricitymaps', location: 'DE' });
  t.equal(em.tokenEnv, 'ELECTRICITYMAPS_TOKEN');
  const emFile = parseIntensityConfig({ provider: 'electricitymaps', location: 'DE', tokenFile: '/secrets/token' });
  t.equal(emFile.tokenFile, '/secrets/token');
  t.equal(emFile.tokenEnv, undefined, 'no default env when a file is named');
  const wt = parseIntensityConfig({ provider: 'watttime', location: 'CAISO_NORTH', passwordFile: '/secrets/pw' });
  t.same([wt.usernameEnv, wt.passwordEnv, wt.passwordFile], ['WATTTIME_USERNAME', undefined, '/secrets/pw']);
});

t.test('errors name the key', async (t) => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ provider: 'prometheus', query: 'up' }, 'intensity.baseUrl', /is required for provider prometheus/],
    [{ provider: 'carbon-aware-sdk', location: 'westus' }, 'intensity.baseUrl', /is required for provider carbon-aware-sdk/],
    [{ provider: 'electricitymaps', location: 'DE', baseUrl: 'ftp://x' }, 'intensity.baseUrl', /must be an http or https URL/],
    [{ provider: 'electricitymaps', location: 'DE', baseUrl: 'https://user:pw@x' }, 'intensity.baseUrl', /must not carry credentials/],
    [{ provider: 'electricitymaps', location: '95,10' }, 'intensity.location', /coordinates 95,10 are out of range/],
    [{ provider: 'watttime' }, 'intensity.location', /is required for provider watttime/],
    [{ provider: 'electricitymaps', location: 'DE', tokenFile: '' }, 'intensity.tokenFile', /must be a non-empty string/],
    [{ provider: 'electricitymaps' }, 'intensity.location', /is required for provider electricitymaps/],
    [{ provider: 'uk-carbon-intensity' }, 'intensity.location', /is required for provider uk-carbon-intensity/],
    [{ provider: 'carbon-aware-sdk', baseUrl: 'http://sdk' }, 'intensity.location', /is required for provider carbon-aware-sdk/],
    [{ provider: 'prometheus', baseUrl: 'http://prom' }, 'intensity.query', /is required for provider prometheus/],
    [{ provider: 'file' }, 'intensity.path', /is required for provider file/],
    [{ provider: 'sample', colour: 'green' }, 'intensity.colour', /unknown field/],
    [{ provider: 'nope' }, 'intensity.provider', /must be one of exporter-configmap, electricitymaps/],
    [{ refreshInterval: '5s' }, 'intensity.refreshInterval', /must be at least 10s/],
    [{ timeout: 0 }, 'intensity.timeout', /must be greater than 0/],
    [{ configMap: 'cm' }, 'intensity.configMap', /must be a mapping of namespace, name, key/],
    [{ configMap: { name: 7 } }, 'intensity.configMap.name', /must be a non-empty string/],
  ];
  for (const [raw, key, msg] of cases) t.throws(() => parseIntensityConfig(raw), { key, message: msg }, `${key} ${msg}`);
});

t.test('each provider needs only its own keys', async (t) => {
  t.same(
    parseIntensityConfig({ provider: 'file', path: '/f.json' }),
    { ...parseIntensityConfig(undefined), provider: 'file', location: '', path: '/f.json' },
    'file: a path, no location',
  );
  t.match(parseIntensityConfig({ provider: 'prometheus', baseUrl: 'http://prom:9090', query: 'up' }), {
    location: '',
    baseUrl: 'http://prom:9090',
    query: 'up',
  });
  t.match(parseIntensityConfig({ provider: 'uk-carbon-intensity', location: 'SW1' }), { location: 'SW1', tokenEnv: undefined });
  t.same(
    parseIntensityConfig({ configMap: { name: 'ci' } }).configMap,
    { namespace: 'kube-system', name: 'ci', key: 'data' },
    'configMap defaults fill the rest',
  );
  t.throws(() => parseIntensityConfig([]), { key: 'intensity', message: /must be a mapping/ });
});

t.test('exporter-configmap needs no location; a set one is kept', async (t) => {
  t.equal(parseIntensityConfig({ provider: 'exporter-configmap' }).location, '');
  t.equal(parseIntensityConfig({ provider: 'exporter-configmap', location: 'CAISO_NORTH' }).location, 'CAISO_NORTH');
});
