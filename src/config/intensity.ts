import { ConfigError } from './errors.js';
import { duration, named, text } from './fields.js';
import { SIGNALS, type Signal } from '../core/carbon.js';
import { custom, type DocOf, fail, fieldPath, object, oneOf, optional, parseAs, show } from '../core/schema.js';
import { PROVIDERS, providerSpec, requiredFor, signalConfigurable, type ProviderName } from './providers.js';

export { PROVIDERS, type ProviderName, parseCoordinates } from './providers.js';

/** The `intensity:` block of the config file, validated, durations in milliseconds. */
export interface IntensityConfig {
  provider: ProviderName;
  /** Zone, region, region id or postcode as the provider names it; `auto` maps the node's cloud region. */
  location: string;
  baseUrl?: string;
  refreshIntervalMs: number;
  maxDataAgeMs: number;
  timeoutMs: number;
  /**
   * electricitymaps, prometheus: the environment variable that holds the token.
   * electricitymaps defaults to `ELECTRICITYMAPS_TOKEN` when neither this nor `tokenFile` is set.
   */
  tokenEnv?: string;
  /** A mounted file (e.g. a Secret volume) holding the token; wins over `tokenEnv`. */
  tokenFile?: string;
  /** watttime: environment variables for the login (default `WATTTIME_USERNAME`, `WATTTIME_PASSWORD`). */
  usernameEnv?: string;
  passwordEnv?: string;
  /** watttime: mounted files for the login; each wins over its `*Env` key. */
  usernameFile?: string;
  passwordFile?: string;
  /** prometheus: the instant PromQL query. */
  query?: string;
  /** file: the JSON or CSV forecast file. */
  path?: string;
  /** exporter-configmap: where the exporter writes. `location` is optional for it (filters the points when set). */
  configMap: { namespace: string; name: string; key: string };
  /** What the numbers are, for sources that cannot know (carbon-aware-sdk, prometheus, file, sample, exporter-configmap). */
  signal?: Signal;
  /** electricitymaps: lifecycle (the API's default) or direct emission factors, sent to the API. */
  emissionFactorType?: 'lifecycle' | 'direct';
}

export const DEFAULT_INTENSITY: IntensityConfig = {
  provider: 'sample',
  location: 'sample',
  refreshIntervalMs: 5 * 60_000,
  maxDataAgeMs: 2 * 3_600_000,
  timeoutMs: 10_000,
  configMap: { namespace: 'kube-system', name: 'carbon-intensity', key: 'data' },
};

const baseUrl = custom<string, string>('http(s) URL', { type: 'string', pattern: '^https?://' }, (v, at) => {
  const s = text.parse(v, at);
  let url: URL | undefined;
  try {
    url = new URL(s);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) fail(at, `must be an http or https URL, got ${show(s)}`);
  if (url.username || url.password) fail(at, 'must not carry credentials; use tokenEnv/tokenFile or usernameEnv/passwordEnv');
  return s;
});

const configMap = object(
  {
    namespace: optional(text, DEFAULT_INTENSITY.configMap.namespace, 'Namespace of the ConfigMap.', DEFAULT_INTENSITY.configMap.namespace),
    name: optional(text, DEFAULT_INTENSITY.configMap.name, 'Name of the ConfigMap.', DEFAULT_INTENSITY.configMap.name),
    key: optional(text, DEFAULT_INTENSITY.configMap.key, 'Key in its binaryData (or data).', DEFAULT_INTENSITY.configMap.key),
  },
  { notMapping: (got) => `must be a mapping of namespace, name, key, got ${got}` },
);

const has = (v: unknown): boolean => v !== undefined && v !== null;
const CREDENTIAL = 'Never the secret itself: ';

/** The `intensity:` block, declared once: its validator, its type and its rows of the README's configuration table. */
export const intensityBlock = object(
  {
    provider: optional(named(PROVIDERS), 'sample' as ProviderName, 'One of the providers described in docs/providers.md.', 'sample'),
    location: optional(
      text,
      null,
      "Zone, region, region id or postcode as the provider names it; `auto` maps the node's cloud region.",
      requiredFor('location'),
    ),
    baseUrl: optional(
      baseUrl,
      null,
      'For proxies, mirrors and self-hosted sources; http(s), without credentials.',
      `the provider's public API; ${requiredFor('baseUrl')}`,
    ),
    refreshInterval: optional(duration({ ms: 10_000, text: '10s' }), DEFAULT_INTENSITY.refreshIntervalMs, 'Time between fetches, with ±10% jitter.', '5m'),
    maxDataAge: optional(
      duration(),
      DEFAULT_INTENSITY.maxDataAgeMs,
      "Data whose last successful fetch is older than this is stale: the policy's onMissingData applies.",
      '2h',
    ),
    timeout: optional(duration({ ms: 1, text: '0' }), DEFAULT_INTENSITY.timeoutMs, 'Per request.', '10s'),
    tokenEnv: optional(
      text,
      null,
      `${CREDENTIAL}the environment variable holding the token (electricitymaps, prometheus).`,
      'ELECTRICITYMAPS_TOKEN for electricitymaps',
    ),
    tokenFile: optional(text, null, `${CREDENTIAL}a mounted file holding the token; wins over tokenEnv.`),
    usernameEnv: optional(text, null, `${CREDENTIAL}the environment variable holding the WattTime user.`, 'WATTTIME_USERNAME for watttime'),
    usernameFile: optional(text, null, `${CREDENTIAL}a mounted file holding the WattTime user; wins over usernameEnv.`),
    passwordEnv: optional(text, null, `${CREDENTIAL}the environment variable holding the WattTime password.`, 'WATTTIME_PASSWORD for watttime'),
    passwordFile: optional(text, null, `${CREDENTIAL}a mounted file holding the WattTime password; wins over passwordEnv.`),
    query: optional(text, null, 'prometheus: the instant PromQL query, returning one sample in gCO2eq/kWh.', requiredFor('query')),
    path: optional(text, null, 'file: the JSON or CSV forecast file.', requiredFor('path')),
    configMap: optional(configMap, DEFAULT_INTENSITY.configMap, 'exporter-configmap: where the exporter writes.'),
    signal: optional(
      named(SIGNALS),
      null,
      `What the numbers are, for sources that cannot know (${signalConfigurable()}); refused for the others, which say it themselves.`,
      'unknown',
    ),
    emissionFactorType: optional(oneOf(['lifecycle', 'direct']), null, 'electricitymaps only: the emission factors asked of the API.', "the API's (lifecycle)"),
  },
  {
    notMapping: (got) => `must be a mapping, got ${got}`,
    // Keys that belong to other providers are refused before their values are read.
    check(raw, at) {
      const provider = raw.provider ?? 'sample';
      if (!PROVIDERS.includes(provider as ProviderName)) return;
      const own = providerSpec(provider as ProviderName).signal;
      if (own && has(raw.signal)) fail(fieldPath(at, 'signal'), `${provider} reports ${own} intensity itself; remove the key`);
      if (provider !== 'electricitymaps' && has(raw.emissionFactorType)) {
        fail(fieldPath(at, 'emissionFactorType'), `is an Electricity Maps setting, not one of ${provider}`);
      }
    },
  },
  ({ refreshInterval, maxDataAge, timeout, ...keys }, at): IntensityConfig => {
    // An absent optional key is left out, not null, as the providers read it.
    const cfg = { ...keys, location: keys.location ?? (keys.provider === 'sample' ? 'sample' : '') } as IntensityConfig;
    for (const k of Object.keys(cfg) as (keyof IntensityConfig)[]) if (cfg[k] === null) delete cfg[k];
    Object.assign(cfg, { refreshIntervalMs: refreshInterval, maxDataAgeMs: maxDataAge, timeoutMs: timeout });
    const options = providerSpec(cfg.provider);
    for (const key of options.needs) {
      if (!cfg[key])
        fail(fieldPath(at, key), `is required for provider ${cfg.provider}${key === 'baseUrl' ? ' (it has no public endpoint to default to)' : ''}`);
    }
    options.complete?.(cfg, at);
    return cfg;
  },
);

/** The `intensity:` block as written. */
export type IntensityDocument = DocOf<typeof intensityBlock>;

/** Validate the `intensity:` block; every error names the key. Absent, the bundled sample curve. */
export function parseIntensityConfig(raw: unknown, prefix = 'intensity'): IntensityConfig {
  if (raw === undefined || raw === null) return { ...DEFAULT_INTENSITY };
  return parseAs(intensityBlock, raw, ConfigError, prefix);
}
