const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A quoted bare number (`"90"`), as YAML writers and Helm's `quote` produce it: seconds. */
const BARE_NUMBER = /^\s*\d+(\.\d+)?\s*$/;

/**
 * The text form `durationMs` reads, as a JSON Schema pattern (RE2 and JavaScript alike):
 * a bare number of seconds, or number-unit pairs. Schemas of duration fields carry it, so
 * the API server refuses what the validator refuses and takes what it takes.
 */
export const DURATION_PATTERN = '^\\s*([0-9]+(\\.[0-9]+)?|([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+)\\s*$';

/**
 * A duration such as `30s`, `5m`, `2h`, `1h30m` or `7d` in milliseconds, or null when the
 * value is not one. A bare number is seconds, as Kubernetes users tend to expect, whether
 * YAML reads it as a number (`90`) or as a string (`"90"`). Shared by the configuration and
 * the policy document, so both read durations the same way.
 */
export function durationMs(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : null;
  if (typeof value !== 'string' || value.trim() === '') return null;
  if (BARE_NUMBER.test(value)) return Number(value) * 1000;
  let rest = value.trim();
  let total = 0;
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/.exec(rest);
    if (!m) return null;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}
