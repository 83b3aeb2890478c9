/**
 * Why a fetch failed, in the words of the `keda_carbon_provider_fetch_errors_total` metric:
 * `http` (the provider answered with an error status), `timeout` (no answer in time),
 * `invalid` (an answer we refuse to trust), `unavailable` (could not connect, or the
 * exporter's ConfigMap is briefly absent), `config` (missing credentials or a bad location).
 */
export type SourceErrorKind = 'http' | 'timeout' | 'invalid' | 'unavailable' | 'config' | 'aborted';

export class SourceError extends Error {
  readonly kind: SourceErrorKind;
  /** HTTP status when the provider answered with one. */
  readonly status: number | undefined;
  /** Milliseconds the provider asked us to wait (`Retry-After`), when it did. */
  readonly retryAfterMs: number | undefined;

  constructor(kind: SourceErrorKind, message: string, extra: { status?: number; retryAfterMs?: number } = {}) {
    super(message);
    this.name = 'SourceError';
    this.kind = kind;
    this.status = extra.status;
    this.retryAfterMs = extra.retryAfterMs;
  }
}

/** Data that failed validation: never reaches the store. */
export function invalid(message: string): SourceError {
  return new SourceError('invalid', message);
}

/**
 * Remove every known secret from a text before it can reach an error message or a log
 * line. Providers echo tokens back in error bodies surprisingly often.
 */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    // Very short values would blank out ordinary words; no real credential is that short.
    if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  }
  return out;
}
