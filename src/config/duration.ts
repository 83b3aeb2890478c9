import { durationMs } from '../core/duration.js';
import { ConfigError } from './errors.js';

/**
 * Parse a duration such as `30s`, `5m`, `2h` or `1h30m` into milliseconds.
 * A bare number is taken as seconds, as Kubernetes users tend to expect.
 */
export function parseDuration(value: unknown, key: string): number {
  const ms = durationMs(value);
  if (ms === null) throw new ConfigError(key, `must be a duration such as "30s", "5m" or "2h", got ${JSON.stringify(value)}`);
  return ms;
}
