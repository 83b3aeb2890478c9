import { ConfigError } from './errors.js';
import { parseDuration } from './duration.js';
import { isPlainObject } from '../util/object.js';
import { SIGNALS, type Signal } from '../core/carbon.js';

export const PROVIDERS = [
  'exporter-configmap',
  'electricitymaps',
  'watttime',
  'uk-carbon-intensity',
  'carbon-aware-sdk',
  'prometheus',
  'file',
  'sample',
] as const;
export type ProviderName = (typeof PROVIDERS)[number];

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

const KNOWN_KEYS = new Set([
  'provider',
  'location',
  'baseUrl',
  'refreshInterval',
  'maxDataAge',
  'timeout',
  'tokenEnv',
  'tokenFile',
  'usernameEnv',
  'usernameFile',
  'passwordEnv',
  'passwordFile',
  'query',
  'path',
  'configMap',
  'signal',
  'emissionFactorType',
]);

/** Providers whose API says what its numbers are: their signal is not configurable. */
export const PROVIDER_SIGNAL: Partial<Record<ProviderName, Signal>> = { watttime: 'marginal', electricitymaps: 'average', 'uk-carbon-intensity': 'average' };

function signalKeys(r: Record<string, unknown>, cfg: IntensityConfig, prefix: string): void {
  if (r.signal !== undefined && r.signal !== null) {
    const own = PROVIDER_SIGNAL[cfg.provider];
    if (own) throw new ConfigError(`${prefix}.signal`, `${cfg.provider} reports ${own} intensity itself; remove the key`);
    if (typeof r.signal !== 'string' || !(SIGNALS as readonly string[]).includes(r.signal)) {
      throw new ConfigError(`${prefix}.signal`, `must be one of ${SIGNALS.join(', ')}, got ${JSON.stringify(r.signal)}`);
    }
    cfg.signal = r.signal as Signal;
  }
  if (r.emissionFactorType !== undefined && r.emissionFactorType !== null) {
    if (cfg.provider !== 'electricitymaps') throw new ConfigError(`${prefix}.emissionFactorType`, `is an Electricity Maps setting, not one of ${cfg.provider}`);
    if (r.emissionFactorType !== 'lifecycle' && r.emissionFactorType !== 'direct') {
      throw new ConfigError(`${prefix}.emissionFactorType`, `must be lifecycle or direct, got ${JSON.stringify(r.emissionFactorType)}`);
    }
    cfg.emissionFactorType = r.emissionFactorType;
  }
}

/** `lat,lon` for Electricity Maps' coordinate lookup, e.g. `52.52,13.405`. */
export function parseCoordinates(location: string): { lat: number; lon: number } | undefined {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$/.exec(location);
  if (!m) return undefined;
  return { lat: Number(m[1]), lon: Number(m[2]) };
}

function optionalString(raw: Record<string, unknown>, key: string, prefix: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw new ConfigError(`${prefix}.${key}`, 'must be a non-empty string');
  return v;
}

type ProviderCheck = (cfg: IntensityConfig, prefix: string) => void;

function required(key: 'location' | 'baseUrl' | 'path' | 'query', why = ''): ProviderCheck {
  return (cfg, prefix) => {
    if (cfg[key] === undefined || cfg[key] === '') throw new ConfigError(`${prefix}.${key}`, `is required for provider ${cfg.provider}${why}`);
  };
}

/** The user runs these: there is no public endpoint to default to. */
const requiredBaseUrl = required('baseUrl', ' (it has no public endpoint to default to)');

function checkElectricityMaps(cfg: IntensityConfig, prefix: string): void {
  required('location')(cfg, prefix);
  const c = parseCoordinates(cfg.location);
  if (c && (Math.abs(c.lat) > 90 || Math.abs(c.lon) > 180)) {
    throw new ConfigError(`${prefix}.location`, `coordinates ${cfg.location} are out of range (latitude -90..90, longitude -180..180)`);
  }
  if (cfg.tokenEnv === undefined && cfg.tokenFile === undefined) cfg.tokenEnv = 'ELECTRICITYMAPS_TOKEN';
}

function checkWattTime(cfg: IntensityConfig, prefix: string): void {
  required('location')(cfg, prefix);
  if (cfg.usernameEnv === undefined && cfg.usernameFile === undefined) cfg.usernameEnv = 'WATTTIME_USERNAME';
  if (cfg.passwordEnv === undefined && cfg.passwordFile === undefined) cfg.passwordEnv = 'WATTTIME_PASSWORD';
}

/**
 * Each provider's own rules: what it requires and the defaults it fills in. A location is
 * optional where it only filters (exporter-configmap, file) or means nothing (sample, prometheus).
 */
const PROVIDER_CHECKS: Record<ProviderName, ProviderCheck> = {
  'exporter-configmap': () => undefined,
  electricitymaps: checkElectricityMaps,
  watttime: checkWattTime,
  'uk-carbon-intensity': required('location'),
  'carbon-aware-sdk': (cfg, prefix) => {
    required('location')(cfg, prefix);
    requiredBaseUrl(cfg, prefix);
  },
  prometheus: (cfg, prefix) => {
    requiredBaseUrl(cfg, prefix);
    required('query')(cfg, prefix);
  },
  file: required('path'),
  sample: () => undefined,
};

function parseProvider(r: Record<string, unknown>, prefix: string): ProviderName {
  for (const k of Object.keys(r)) {
    if (!KNOWN_KEYS.has(k)) throw new ConfigError(`${prefix}.${k}`, `unknown key (known: ${[...KNOWN_KEYS].join(', ')})`);
  }
  const provider = r.provider ?? 'sample';
  if (typeof provider !== 'string' || !(PROVIDERS as readonly string[]).includes(provider)) {
    throw new ConfigError(`${prefix}.provider`, `must be one of ${PROVIDERS.join(', ')}, got ${JSON.stringify(provider)}`);
  }
  return provider as ProviderName;
}

function parseTimings(r: Record<string, unknown>, prefix: string, cfg: IntensityConfig): void {
  if (r.refreshInterval !== undefined) cfg.refreshIntervalMs = parseDuration(r.refreshInterval, `${prefix}.refreshInterval`);
  if (r.maxDataAge !== undefined) cfg.maxDataAgeMs = parseDuration(r.maxDataAge, `${prefix}.maxDataAge`);
  if (r.timeout !== undefined) cfg.timeoutMs = parseDuration(r.timeout, `${prefix}.timeout`);
  if (cfg.refreshIntervalMs < 10_000) throw new ConfigError(`${prefix}.refreshInterval`, 'must be at least 10s');
  if (cfg.timeoutMs <= 0) throw new ConfigError(`${prefix}.timeout`, 'must be greater than 0');
}

function parseConfigMapRef(cm: unknown, prefix: string): IntensityConfig['configMap'] {
  if (!isPlainObject(cm)) throw new ConfigError(`${prefix}.configMap`, 'must be a mapping of namespace, name, key');
  const d = DEFAULT_INTENSITY.configMap;
  return {
    namespace: optionalString(cm, 'namespace', `${prefix}.configMap`) ?? d.namespace,
    name: optionalString(cm, 'name', `${prefix}.configMap`) ?? d.name,
    key: optionalString(cm, 'key', `${prefix}.configMap`) ?? d.key,
  };
}

function checkBaseUrl(baseUrl: string, prefix: string): void {
  let url: URL | undefined;
  try {
    url = new URL(baseUrl);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(`${prefix}.baseUrl`, `must be an http or https URL, got ${JSON.stringify(baseUrl)}`);
  }
  if (url.username || url.password) {
    throw new ConfigError(`${prefix}.baseUrl`, 'must not carry credentials; use tokenEnv/tokenFile or usernameEnv/passwordEnv');
  }
}

const STRING_KEYS = ['baseUrl', 'tokenEnv', 'tokenFile', 'usernameEnv', 'usernameFile', 'passwordEnv', 'passwordFile', 'query', 'path'] as const;

/**
 * Validate the `intensity:` block; every error names the key. The keys every provider
 * shares are read here; what one provider requires is its own entry in PROVIDER_CHECKS.
 */
export function parseIntensityConfig(raw: unknown, prefix = 'intensity'): IntensityConfig {
  if (raw === undefined || raw === null) return { ...DEFAULT_INTENSITY };
  if (!isPlainObject(raw)) throw new ConfigError(prefix, 'must be a mapping');
  const provider = parseProvider(raw, prefix);
  const cfg: IntensityConfig = { ...DEFAULT_INTENSITY, provider, location: optionalString(raw, 'location', prefix) ?? (provider === 'sample' ? 'sample' : '') };
  parseTimings(raw, prefix, cfg);
  for (const k of STRING_KEYS) {
    const v = optionalString(raw, k, prefix);
    if (v !== undefined) cfg[k] = v;
  }
  if (raw.configMap !== undefined) cfg.configMap = parseConfigMapRef(raw.configMap, prefix);
  if (cfg.baseUrl !== undefined) checkBaseUrl(cfg.baseUrl, prefix);
  PROVIDER_CHECKS[provider](cfg, prefix);
  signalKeys(raw, cfg, prefix);
  return cfg;
}
