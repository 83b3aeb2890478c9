/** A JSON object: not null, not an array. Every parser of untrusted input asks this first. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
