import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULT_TOUCH, loadConfigFile, parseConfig, parseConfigText } from '../../src/config/config.js';

t.test('embedded defaults: sample source, one example policy, deny invalid policies', async (t) => {
  const c = await loadConfigFile(undefined);
  t.equal(c.intensity.provider, 'sample');
  t.same([...c.policies.keys()], ['standard']);
  t.equal(c.defaultPolicy, null);
  t.equal(c.invalidPolicy, 'deny');
  t.same(c.touch, DEFAULT_TOUCH);
  t.equal(c.wattsPerReplica, null, 'no grams unless watts per replica are given');
  t.equal(parseConfig({ wattsPerReplica: 35.5 }).wattsPerReplica, 35.5, 'the default of every policy without its own');
});

t.test('the PRODUCT.md example config', async (t) => {
  const c = parseConfigText(
    `
intensity:
  provider: electricitymaps
  location: DE
  refreshInterval: 5m
  maxDataAge: 2h
  tokenEnv: EM_TOKEN
policies:
  standard:
    carbon:
    - {measuredEmission: 300, allowedMaxReplicaCount: "50%"}
    - {measuredEmission: 500, allowedMaxReplicaCount: 2}
defaultPolicy: standard
touch:
  interval: 1h
  followForecast: true
invalidPolicy: warn
`,
    'example',
  );
  t.equal(c.intensity.refreshIntervalMs, 300_000);
  t.equal(c.intensity.maxDataAgeMs, 7_200_000);
  t.equal(c.defaultPolicy, 'standard');
  t.equal(c.invalidPolicy, 'warn');
  t.equal(c.touch.intervalMs, 3_600_000);
  t.equal(
    c.touch.namespaceSelector,
    'kubernetes.io/metadata.name notin (kube-system,kube-node-lease,keda-carbon)',
    'by default the timer skips the namespaces the webhook excludes',
  );
  t.equal(c.policies.get('standard')?.bands.length, 2);
  t.equal(parseConfig({ touch: { namespaceSelector: 'team in (a,b)' } }).touch.namespaceSelector, 'team in (a,b)');
});

t.test('config errors name the key', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [[1], /^\(top level\): the config file must be a YAML mapping/],
    [{ polices: {} }, /^polices: unknown key/],
    [{ policies: [] }, /^policies: must be a mapping/],
    [
      { policies: { standard: { carbon: [{ measuredEmission: -1, allowedMaxReplicaCount: 1 }] } } },
      /^policies\.standard\.carbon\[0\]\.measuredEmission: must be a number >= 0, got -1/,
    ],
    [{ policies: { standard: {} } }, /^policies\.standard\.carbon: is required/],
    [{ policies: { disabled: { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }] } } }, /^policies\.disabled: "disabled" is reserved/],
    [
      { policies: { 'Bad Name': { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }] } } },
      /^policies\.Bad Name: a policy name must be a valid label value/,
    ],
    [{ defaultPolicy: 'nope' }, /^defaultPolicy: must name a policy under policies \(have: none\), got "nope"/],
    [{ invalidPolicy: 'ignore' }, /^invalidPolicy: must be "deny" or "warn"/],
    [{ touch: { interval: '10s' } }, /^touch\.interval: must be at least 1m/],
    [{ touch: { interval: 'soon' } }, /^touch\.interval: must be a duration such as/],
    [{ touch: { followForecast: 'yes' } }, /^touch\.followForecast: must be true or false/],
    [{ touch: { qps: 0 } }, /^touch\.qps: must be a number greater than 0/],
    [{ touch: { burst: 1.5 } }, /^touch\.burst: must be a whole number greater than 0/],
    [{ touch: { every: '1h' } }, /^touch\.every: unknown key/],
    [{ touch: { namespaceSelector: 'a b' } }, /^touch\.namespaceSelector: label selector "a b": found "b" where an operator/],
    [{ touch: { namespaceSelector: 'a=b=c' } }, /^touch\.namespaceSelector: label selector "a=b=c": found "=" where "," or the end was expected/],
    [{ touch: { namespaceSelector: 3 } }, /^touch\.namespaceSelector: must be a label selector string/],
    [{ intensity: { provider: 'nope' } }, /^intensity\.provider: must be one of/],
    [{ intensity: { provider: 'sample', refreshInterval: '1s' } }, /^intensity\.refreshInterval: must be at least 10s/],
    [{ wattsPerReplica: 0 }, /^wattsPerReplica: must be a number greater than 0, got 0/],
    [{ wattsPerReplica: '40W' }, /^wattsPerReplica: must be a number greater than 0, got "40W"/],
  ];
  for (const [raw, message] of cases) t.throws(() => parseConfig(raw), { name: 'ConfigError', message }, String(message));
  t.throws(() => parseConfigText('a: [', 'cfg.yaml'), { name: 'ConfigError', message: /^cfg\.yaml: line 1, column 5: not valid YAML: [^\n]*[^:\n]$/ });
  await t.rejects(loadConfigFile('/nonexistent/keda-carbon.yaml'), { name: 'ConfigError', message: /cannot read the config file: no such file/ });
});

t.test('a config file on disk', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'config.yaml');
  await writeFile(path, 'policies:\n  night:\n    maxReplicasByCarbonIntensity: [{carbonIntensityThreshold: 400, maxReplicas: 4}]\ndefaultPolicy: night\n');
  const c = await loadConfigFile(path);
  t.equal(c.policies.get('night')?.form, 'azure');
  t.equal(c.defaultPolicy, 'night');
});

t.test('intensity.signal and emissionFactorType', async (t) => {
  t.equal(parseConfig({ intensity: { provider: 'file', path: 'f.csv', signal: 'marginal' } }).intensity.signal, 'marginal');
  t.equal(parseConfig({ intensity: { provider: 'sample' } }).intensity.signal, undefined, 'unset: the source says unknown');
  const bad: Array<[object, string]> = [
    [{ provider: 'file', path: 'f.csv', signal: 'mean' }, 'intensity.signal: must be one of marginal, average, unknown, got "mean"'],
    [{ provider: 'watttime', location: 'CAISO_NORTH', signal: 'average' }, 'intensity.signal: watttime reports marginal intensity itself; remove the key'],
    [{ provider: 'electricitymaps', location: 'DE', signal: 'marginal' }, 'intensity.signal: electricitymaps reports average intensity itself; remove the key'],
    [{ provider: 'electricitymaps', location: 'DE', emissionFactorType: 'scope3' }, 'intensity.emissionFactorType: must be lifecycle or direct, got "scope3"'],
    [{ provider: 'sample', emissionFactorType: 'direct' }, 'intensity.emissionFactorType: is an Electricity Maps setting, not one of sample'],
  ];
  for (const [intensity, message] of bad) t.throws(() => parseConfig({ intensity }), { message }, message);
  t.equal(parseConfig({ intensity: { provider: 'electricitymaps', location: 'DE', emissionFactorType: 'direct' } }).intensity.emissionFactorType, 'direct');
});
