import { parseAs } from '../core/schema.js';
import { ConfigError } from './errors.js';
import { duration } from './fields.js';

const anyDuration = duration();

/**
 * Parse a duration such as `30s`, `5m`, `2h` or `1h30m` into milliseconds; a bare number,
 * quoted or not, is seconds. The rule is the configuration's duration node, for a value
 * found at `key`.
 */
export function parseDuration(value: unknown, key: string): number {
  return parseAs(anyDuration, value, ConfigError, key);
}
