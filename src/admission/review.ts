import { brief, clip } from '../core/brief.js';
import { isPlainObject } from '../util/object.js';

/**
 * The admission.k8s.io/v1 AdmissionReview wire format, the small response builders and the
 * one final step that echoes the uid and encodes the patch. Nothing here does I/O.
 */

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

export interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove' | 'test';
  path: string;
  value?: unknown;
}

/** A response before the final step: what we decided, without uid or encoding. */
export interface Verdict {
  allowed: boolean;
  patch?: JsonPatchOp[];
  /** The patch already encoded (base64 of its JSON); used instead of `patch`. */
  encodedPatch?: string;
  warnings?: string[];
  status?: { code: number; message: string; reason?: string };
}

export interface AdmissionResponseReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    patchType?: 'JSONPatch';
    patch?: string;
    warnings?: string[];
    status?: { code: number; message: string; reason?: string };
  };
}

export const allowed = (warnings: readonly string[] = []): Verdict => ({ allowed: true, warnings: [...warnings] });

export const patched = (patch: JsonPatchOp[], warnings: readonly string[] = []): Verdict =>
  patch.length === 0 ? allowed(warnings) : { allowed: true, patch, warnings: [...warnings] };

/** A JSONPatch already encoded (see `AnswerMemo`); undefined when there is nothing to change. */
export const patchedEncoded = (encoded: string | undefined, warnings: readonly string[] = []): Verdict =>
  encoded === undefined ? allowed(warnings) : { allowed: true, encodedPatch: encoded, warnings: [...warnings] };

export const denied = (message: string, code = 403): Verdict => ({
  allowed: false,
  status: { code, message, reason: code === 403 ? 'Forbidden' : 'Invalid' },
});

/** Kubernetes shows each warning to the user; keep them short and few. */
const MAX_WARNINGS = 8;
const MAX_WARNING_LENGTH = 256;
/** A denial's message: kubectl prints it whole, and it names the problem in far fewer. */
const MAX_MESSAGE_LENGTH = 512;

/** The final step: echo the uid, base64 the JSONPatch, trim warnings to what kubectl shows. */
export function finalize(uid: string, verdict: Verdict): AdmissionResponseReview {
  const response: AdmissionResponseReview['response'] = { uid, allowed: verdict.allowed };
  if (verdict.encodedPatch !== undefined) {
    response.patchType = 'JSONPatch';
    response.patch = verdict.encodedPatch;
  } else if (verdict.patch && verdict.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(verdict.patch)).toString('base64');
  }
  if (verdict.warnings && verdict.warnings.length > 0) {
    response.warnings = verdict.warnings.slice(0, MAX_WARNINGS).map((w) => clip(w, MAX_WARNING_LENGTH));
  }
  if (verdict.status) response.status = { ...verdict.status, message: clip(verdict.status.message, MAX_MESSAGE_LENGTH) };
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

/** A body that is not an AdmissionReview we can answer: the HTTP layer returns this as 400. */
export class BadReviewError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadReviewError';
  }
}

/** The Kubernetes `Status` body for a 4xx, which the API server can decode and show. */
export function statusBody(code: number, message: string) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: clip(message, MAX_MESSAGE_LENGTH),
    reason: code === 413 ? 'RequestEntityTooLarge' : 'BadRequest',
    code,
  };
}

const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);
/** An API server's uid is a 36-character UUID; this leaves room for any other client's. */
const MAX_UID_LENGTH = 256;

function optionalString(request: Record<string, unknown>, field: string): void {
  if (request[field] !== undefined && request[field] !== null && typeof request[field] !== 'string') {
    throw new BadReviewError(`AdmissionReview request.${field} must be a string, got ${brief(request[field])}`);
  }
}

/**
 * Check the envelope: what we need to answer at all (a uid) or to refuse clearly, and the
 * type of every field the handler or the log reads, so nothing later trips over a value
 * of the wrong type. The objects themselves are the handler's to judge.
 */
export function parseReview(body: unknown): AdmissionRequest {
  if (!isPlainObject(body)) throw new BadReviewError('expected a JSON AdmissionReview object');
  if (body.kind !== 'AdmissionReview') throw new BadReviewError(`expected kind AdmissionReview, got ${brief(body.kind)}`);
  if (body.apiVersion !== 'admission.k8s.io/v1') {
    throw new BadReviewError(
      `expected apiVersion admission.k8s.io/v1 (register the webhook with admissionReviewVersions: [v1]), got ${brief(body.apiVersion)}`,
    );
  }
  const request = body.request;
  if (!isPlainObject(request)) throw new BadReviewError('AdmissionReview has no request');
  if (typeof request.uid !== 'string' || request.uid === '') throw new BadReviewError('AdmissionReview request has no uid');
  // The answer must echo the uid whole, so a long one cannot be cut: it is refused instead.
  if (request.uid.length > MAX_UID_LENGTH) {
    throw new BadReviewError(`AdmissionReview request.uid is ${request.uid.length} characters long; the API server sends a UUID (at most ${MAX_UID_LENGTH})`);
  }
  const kind = request.kind;
  if (!isPlainObject(kind) || typeof kind.kind !== 'string' || typeof kind.group !== 'string') {
    throw new BadReviewError('AdmissionReview request has no kind {group, version, kind}');
  }
  if (typeof request.operation !== 'string') throw new BadReviewError('AdmissionReview request has no operation');
  if (!OPERATIONS.has(request.operation)) {
    throw new BadReviewError(`AdmissionReview request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got ${brief(request.operation)}`);
  }
  for (const field of ['name', 'namespace', 'subResource']) optionalString(request, field);
  if (request.dryRun !== undefined && request.dryRun !== null && typeof request.dryRun !== 'boolean') {
    throw new BadReviewError(`AdmissionReview request.dryRun must be true or false, got ${brief(request.dryRun)}`);
  }
  return request as unknown as AdmissionRequest;
}
