import { durationMs } from '../core/duration.js';
import { ConfigError } from './errors.js';

/** A quoted bare number (`"90"`), as YAML writers and Helm's `quote` produce it. */
const BARE_NUMBER = /^\s*\d+(\.\d+)?\s*$/;

/**
 * Parse a duration such as `30s`, `5m`, `2h` or `1h30m` into milliseconds.
 * A bare number is taken as seconds, as Kubernetes users tend to expect, whether YAML
 * reads it as a number (`90`) or as a string (`"90"`).
 */
export function parseDuration(value: unknown, key: string): number {
  const ms = typeof value === 'string' && BARE_NUMBER.test(value) ? Number(value) * 1000 : durationMs(value);
  if (ms === null) throw new ConfigError(key, `must be a duration such as "30s", "5m" or "2h", got ${JSON.stringify(value)}`);
  return ms;
}
