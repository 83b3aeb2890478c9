import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import jsonpatch from 'fast-json-patch';

const FIXTURES = fileURLToPath(new URL('../fixtures/admission/', import.meta.url));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Review = any;

/** A real AdmissionReview body captured from a kube-apiserver (see test/fixtures/admission/README.md). */
export function loadReview(name: string, version = 'v1.36'): Review {
  return JSON.parse(readFileSync(`${FIXTURES}${version}/${name}.json`, 'utf8'));
}

/** The same review with extra annotations on `request.object` (and, with `old`, on oldObject). */
export function withAnnotations(review: Review, annotations: Record<string, string>, old = false): Review {
  const copy = structuredClone(review);
  for (const target of old ? [copy.request.object, copy.request.oldObject] : [copy.request.object]) {
    if (!target) continue;
    target.metadata.annotations = { ...(target.metadata.annotations ?? {}), ...annotations };
  }
  return copy;
}

/** Decode the response patch and apply it to `object` per RFC 6902; throws if it does not apply. */
export function applyResponsePatch<T>(object: T, response: { patch?: string; patchType?: string }): T {
  if (!response.patch) return structuredClone(object);
  if (response.patchType !== 'JSONPatch') throw new Error(`patch without patchType JSONPatch: ${response.patchType}`);
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));
  const errors = jsonpatch.validate(ops, object as object);
  if (errors) throw errors;
  return jsonpatch.applyPatch(structuredClone(object) as object, ops, true, false).newDocument as T;
}

export function decodePatch(response: { patch?: string }): unknown[] {
  return response.patch ? JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) : [];
}
