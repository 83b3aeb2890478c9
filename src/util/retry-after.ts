/**
 * `Retry-After` in milliseconds from `now`: delta-seconds or an HTTP date (RFC 9110 section
 * 10.2.3); undefined when absent or unreadable, since a guess is worse than our own backoff.
 * Node's header objects may hold an array; the first value counts.
 */
export function parseRetryAfter(value: string | readonly string[] | null | undefined, now: number): number | undefined {
  const v = (typeof value === 'string' ? value : value?.[0])?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Date.parse accepts "-5" or "1.5" as dates; an HTTP date always names its weekday.
  if (!/^[A-Za-z]{3}/.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
