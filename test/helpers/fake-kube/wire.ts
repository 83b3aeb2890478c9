import type http from 'node:http';

/** The shapes the fake speaks and the small pieces of the Kubernetes wire format it needs. */

export interface FakeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    [k: string]: unknown;
  };
  spec?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  /** The Authorization header the request carried. */
  authorization?: string | undefined;
}

/** A fault answers a request instead of the fake's normal logic; return undefined to pass. */
export type Fault = (req: FakeRequest) => { status: number; body?: unknown; headers?: Record<string, string> } | undefined;

/** Runs on every stored KEDA write, like a mutating webhook: return the object to store. */
export type Admit = (plural: string, object: FakeObject, old: FakeObject | undefined) => FakeObject | Promise<FakeObject>;

export type KedaPlural = 'scaledobjects' | 'scaledjobs';

/** The resources a watch can be opened on. */
export type Resource = 'namespaces' | KedaPlural | 'configmaps';

export const isWatch = (fr: FakeRequest): boolean => fr.query.get('watch') === '1' || fr.query.get('watch') === 'true';

export function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code };
}

export function send(res: http.ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export const notFound = (res: http.ServerResponse, what: string, name: string | undefined): void =>
  send(res, 404, status(404, 'NotFound', `${what} "${name}" not found`));

export const notAllowed = (res: http.ServerResponse): void => send(res, 405, status(405, 'MethodNotAllowed', 'not supported by the fake'));

/** RFC 7386 JSON merge patch, the content type the controller's touch sends. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
