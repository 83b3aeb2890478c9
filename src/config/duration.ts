import { ConfigError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parse a duration such as `30s`, `5m`, `2h` or `1h30m` into milliseconds.
 * A bare number is taken as seconds, as Kubernetes users tend to expect.
 */
export function parseDuration(value: unknown, key: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value * 1000;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(key, `must be a duration such as "30s", "5m" or "2h", got ${JSON.stringify(value)}`);
  }
  let rest = value.trim();
  let total = 0;
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/.exec(rest);
    if (!m) throw new ConfigError(key, `must be a duration such as "30s", "5m" or "2h", got ${JSON.stringify(value)}`);
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}
