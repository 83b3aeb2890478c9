const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration such as `30s`, `5m`, `2h`, `1h30m` or `7d` in milliseconds, or null when the
 * text is not one. A bare number is seconds, as Kubernetes users tend to expect. Shared by
 * the configuration and the policy document, so both read durations the same way.
 */
export function durationMs(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : null;
  if (typeof value !== 'string' || value.trim() === '') return null;
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
