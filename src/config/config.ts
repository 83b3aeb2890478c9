import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { parseIntensityConfig, type IntensityConfig } from './intensity.js';
import { DISABLED } from '../core/names.js';
import { PolicyError, validatePolicy, type Policy } from '../core/policy.js';
import { parseDuration } from './duration.js';
import { ConfigError } from './errors.js';
import { fsReason } from '../util/fs-reason.js';
import { yamlProblem } from '../core/yaml-error.js';
import { parseLabelSelector } from './label-selector.js';
import { isPlainObject } from '../util/object.js';

export interface TouchConfig {
  intervalMs: number;
  followForecast: boolean;
  /** Client-side rate limit towards the API server. */
  qps: number;
  burst: number;
  maxInFlight: number;
  /**
   * Label selector for the namespaces whose objects the timer touches. The default mirrors
   * the namespaces the MutatingWebhookConfiguration excludes: touching an object there
   * would never reach the webhook, so it would be touched again on every sweep.
   */
  namespaceSelector: string;
}

/** The validated configuration file (PRODUCT.md section 5). */
export interface RuntimeConfig {
  intensity: IntensityConfig;
  policies: ReadonlyMap<string, Policy>;
  defaultPolicy: string | null;
  touch: TouchConfig;
  invalidPolicy: 'deny' | 'warn';
  /** `observe` puts every policy in observe mode (the rollout switch); `enforce` leaves each policy's own mode. */
  mode: 'enforce' | 'observe';
  /** Watts per replica for the ledger's grams, where a policy does not give its own; null books no grams. */
  wattsPerReplica: number | null;
}

export const DEFAULT_TOUCH: TouchConfig = {
  intervalMs: 3_600_000,
  followForecast: true,
  qps: 20,
  burst: 30,
  maxInFlight: 8,
  namespaceSelector: 'kubernetes.io/metadata.name notin (kube-system,kube-node-lease,keda-carbon)',
};

const TOP_KEYS = new Set(['intensity', 'policies', 'defaultPolicy', 'touch', 'invalidPolicy', 'mode', 'wattsPerReplica']);
const TOUCH_KEYS = new Set(['interval', 'followForecast', 'qps', 'burst', 'maxInFlight', 'namespaceSelector']);

function positiveNumber(v: unknown, key: string, integer: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new ConfigError(key, `must be a ${integer ? 'whole ' : ''}number greater than 0, got ${JSON.stringify(v)}`);
  }
  return v;
}

function parsePolicies(raw: unknown): Map<string, Policy> {
  const policies = new Map<string, Policy>();
  if (raw === undefined || raw === null) return policies;
  if (!isPlainObject(raw)) throw new ConfigError('policies', 'must be a mapping of policy name to policy document');
  for (const [name, doc] of Object.entries(raw)) {
    if (name === DISABLED) throw new ConfigError(`policies.${name}`, `"${DISABLED}" is reserved: it opts an object out`);
    if (!/^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$/.test(name) || name.length > 63) {
      throw new ConfigError(
        `policies.${name}`,
        'a policy name must be a valid label value: lower-case letters, digits, "-", "_" or ".", at most 63 characters',
      );
    }
    try {
      policies.set(name, validatePolicy(doc));
    } catch (err) {
      if (err instanceof PolicyError) throw new ConfigError(err.field ? `policies.${name}.${err.field}` : `policies.${name}`, err.rule);
      throw err;
    }
  }
  return policies;
}

function parseTouch(raw: unknown): TouchConfig {
  const touch = { ...DEFAULT_TOUCH };
  if (raw === undefined || raw === null) return touch;
  if (!isPlainObject(raw)) throw new ConfigError('touch', 'must be a mapping');
  for (const key of Object.keys(raw)) {
    if (!TOUCH_KEYS.has(key)) throw new ConfigError(`touch.${key}`, `unknown key (known: ${[...TOUCH_KEYS].join(', ')})`);
  }
  if (raw.interval !== undefined) touch.intervalMs = parseDuration(raw.interval, 'touch.interval');
  if (touch.intervalMs < 60_000) throw new ConfigError('touch.interval', 'must be at least 1m');
  if (raw.followForecast !== undefined) {
    if (typeof raw.followForecast !== 'boolean')
      throw new ConfigError('touch.followForecast', `must be true or false, got ${JSON.stringify(raw.followForecast)}`);
    touch.followForecast = raw.followForecast;
  }
  if (raw.qps !== undefined) touch.qps = positiveNumber(raw.qps, 'touch.qps', false);
  if (raw.burst !== undefined) touch.burst = positiveNumber(raw.burst, 'touch.burst', true);
  if (raw.maxInFlight !== undefined) touch.maxInFlight = positiveNumber(raw.maxInFlight, 'touch.maxInFlight', true);
  if (raw.namespaceSelector !== undefined && raw.namespaceSelector !== null) {
    if (typeof raw.namespaceSelector !== 'string')
      throw new ConfigError('touch.namespaceSelector', `must be a label selector string, got ${JSON.stringify(raw.namespaceSelector)}`);
    try {
      parseLabelSelector(raw.namespaceSelector);
    } catch (err) {
      throw new ConfigError('touch.namespaceSelector', (err as Error).message);
    }
    touch.namespaceSelector = raw.namespaceSelector;
  }
  return touch;
}

/** Validate a decoded config document; every error names the key. */
export function parseConfig(raw: unknown): RuntimeConfig {
  if (raw === undefined || raw === null) raw = {};
  if (!isPlainObject(raw)) throw new ConfigError('(top level)', 'the config file must be a YAML mapping');
  for (const key of Object.keys(raw)) {
    if (!TOP_KEYS.has(key)) throw new ConfigError(key, `unknown key (known: ${[...TOP_KEYS].join(', ')})`);
  }
  const policies = parsePolicies(raw.policies);
  let defaultPolicy: string | null = null;
  if (raw.defaultPolicy !== undefined && raw.defaultPolicy !== null) {
    if (typeof raw.defaultPolicy !== 'string' || !policies.has(raw.defaultPolicy)) {
      throw new ConfigError(
        'defaultPolicy',
        `must name a policy under policies (have: ${[...policies.keys()].join(', ') || 'none'}), got ${JSON.stringify(raw.defaultPolicy)}`,
      );
    }
    defaultPolicy = raw.defaultPolicy;
  }
  const invalidPolicy = raw.invalidPolicy ?? 'deny';
  if (invalidPolicy !== 'deny' && invalidPolicy !== 'warn') {
    throw new ConfigError('invalidPolicy', `must be "deny" or "warn", got ${JSON.stringify(invalidPolicy)}`);
  }
  const mode = raw.mode ?? 'enforce';
  if (mode !== 'enforce' && mode !== 'observe') throw new ConfigError('mode', `must be "enforce" or "observe", got ${JSON.stringify(mode)}`);
  const wattsPerReplica =
    raw.wattsPerReplica === undefined || raw.wattsPerReplica === null ? null : positiveNumber(raw.wattsPerReplica, 'wattsPerReplica', false);
  return { intensity: parseIntensityConfig(raw.intensity), policies, defaultPolicy, touch: parseTouch(raw.touch), invalidPolicy, mode, wattsPerReplica };
}

/** The embedded defaults `npm start` runs on: the bundled sample curve and one example policy. */
export const EMBEDDED_CONFIG_YAML = `# keda-carbon embedded defaults (used when no --config is given)
intensity:
  provider: sample
  refreshInterval: 5m
  maxDataAge: 2h
policies:
  # relative to the grid's own last and next 24 hours, so it suits any region:
  # half the declared max in the dirtier half of the time, a quarter in the dirtiest fifth
  standard:
    carbon:
    - {measuredEmission: p50, allowedMaxReplicaCount: "50%"}
    - {measuredEmission: p80, allowedMaxReplicaCount: "25%"}
defaultPolicy: null
touch:
  interval: 1h
  followForecast: true
invalidPolicy: deny
`;

export function parseConfigText(text: string, origin: string): RuntimeConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(origin, yamlProblem(err));
  }
  return parseConfig(raw);
}

/** A config file and the exact text it was parsed from (the baseline for hot reload). */
export async function readConfigFile(path: string): Promise<{ config: RuntimeConfig; text: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, `cannot read the config file: ${fsReason(err)}`);
  }
  return { config: parseConfigText(text, path), text };
}

export async function loadConfigFile(path: string | undefined): Promise<RuntimeConfig> {
  if (path === undefined) return parseConfigText(EMBEDDED_CONFIG_YAML, '(embedded defaults)');
  return (await readConfigFile(path)).config;
}
