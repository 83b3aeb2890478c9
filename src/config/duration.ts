import { durationMs } from '../core/duration.js';
import { show } from '../core/schema.js';
import { ConfigError } from './errors.js';

/**
 * Parse a duration such as `30s`, `5m`, `2h` or `1h30m` into milliseconds; a bare number,
 * quoted or not, is seconds (the grammar is `durationMs`'s, shared with the policy).
 */
export function parseDuration(value: unknown, key: string): number {
  const ms = durationMs(value);
  if (ms === null) throw new ConfigError(key, `must be a duration such as "30s", "5m" or "2h", got ${show(value)}`);
  return ms;
}
