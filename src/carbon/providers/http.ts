import { parseRetryAfter } from '../../util/retry-after.js';
import { SourceError, invalid, redact } from '../errors.js';

export type FetchFn = typeof globalThis.fetch;

/** A response larger than this is not carbon data; refuse it before parsing. */
const MAX_BODY_BYTES = 20 * 1024 * 1024;

export interface RequestOptions {
  /** Provider name for messages, e.g. `electricitymaps`. */
  provider: string;
  signal: AbortSignal;
  headers?: Record<string, string>;
  /** Values to strip from any message built from the response or the request. */
  secrets?: readonly (string | undefined)[];
  fetch?: FetchFn;
  now?: () => number;
  /** Added to 401/403 messages: where the credentials come from. */
  authHint?: string;
}

/** The human part of a provider's error body, whatever its shape. */
function errorMessage(body: string): string {
  try {
    const j = JSON.parse(body) as Record<string, unknown>;
    const e = j.error;
    const parts = [typeof e === 'object' && e !== null ? (e as Record<string, unknown>).message : e, j.message, j.detail, j.title].filter(
      (x): x is string => typeof x === 'string' && x !== '',
    );
    if (parts.length > 0) return [...new Set(parts)].join(': ');
  } catch {
    // not JSON: fall through to the raw text
  }
  return body.replace(/\s+/g, ' ').trim().slice(0, 200);
}

function describe(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** Turn a failed `fetch` into a `SourceError` that says what happened and nothing secret. */
export function networkError(err: unknown, url: URL, opts: Pick<RequestOptions, 'provider' | 'signal' | 'secrets'>): SourceError {
  if (err instanceof SourceError) return err;
  if (opts.signal.aborted) {
    const reason = opts.signal.reason as { name?: string } | undefined;
    if (reason?.name === 'TimeoutError') return new SourceError('timeout', `${opts.provider}: no answer from ${describe(url)} within the timeout`);
    return new SourceError('aborted', `${opts.provider}: request to ${describe(url)} was cancelled`);
  }
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const why = e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
  return new SourceError('unavailable', redact(`${opts.provider}: cannot reach ${describe(url)}: ${why}`, opts.secrets ?? []));
}

/**
 * GET a JSON document. Every failure becomes a `SourceError`: `http` with the status and
 * the provider's own message (and `Retry-After` when sent), `timeout` or `aborted` when the
 * signal fired, `unavailable` when nothing answered, `invalid` for a body that is not JSON.
 */
export async function getJson(url: URL, opts: RequestOptions): Promise<unknown> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const secrets = opts.secrets ?? [];
  let status = 0;
  let text: string;
  try {
    const res = await doFetch(url, { method: 'GET', headers: { accept: 'application/json', ...opts.headers }, signal: opts.signal, redirect: 'follow' });
    status = res.status;
    const length = Number(res.headers.get('content-length') ?? '0');
    if (length > MAX_BODY_BYTES) {
      await res.body?.cancel();
      throw invalid(`${opts.provider}: ${describe(url)} sent ${length} bytes, more than the ${MAX_BODY_BYTES} we accept`);
    }
    text = await res.text();
    if (!res.ok) {
      const hint = (status === 401 || status === 403) && opts.authHint ? ` (${opts.authHint})` : '';
      const msg = errorMessage(text);
      throw new SourceError('http', redact(`${opts.provider}: ${describe(url)} answered ${status} ${res.statusText}${msg ? `: ${msg}` : ''}${hint}`, secrets), {
        status,
        retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), (opts.now ?? Date.now)()),
      });
    }
  } catch (err) {
    throw networkError(err, url, opts);
  }
  if (text.length > MAX_BODY_BYTES) throw invalid(`${opts.provider}: ${describe(url)} sent more than ${MAX_BODY_BYTES} bytes`);
  if (text.trim() === '') throw invalid(`${opts.provider}: ${describe(url)} answered ${status} with an empty body`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalid(redact(`${opts.provider}: ${describe(url)} answered with a body that is not JSON: ${JSON.stringify(text.slice(0, 80))}`, secrets));
  }
}

/** `baseUrl` plus a path, keeping any path prefix of the base (proxies mount APIs under one). */
export function joinUrl(baseUrl: string, path: string, query: Record<string, string | undefined> = {}): URL {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const url = new URL(path.replace(/^\//, ''), base);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
  return url;
}
