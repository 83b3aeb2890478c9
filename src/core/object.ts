import { brief } from './brief.js';
import { ANNOTATION, KEDA_DEFAULT_MAX } from './names.js';
import { type CarbonStatus, decodeStatus } from './status.js';

/** The few parts of a ScaledObject or ScaledJob the decision reads. */
export interface KedaObject {
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> | null; [k: string]: unknown };
  spec?: { maxReplicaCount?: number; minReplicaCount?: number; environmentalImpact?: unknown; [k: string]: unknown };
  [k: string]: unknown;
}

export type { CarbonStatus } from './status.js';

/** KEDA declares `maxReplicaCount` as an int32: the largest count it can store. */
export const MAX_REPLICA_COUNT = 2_147_483_647;

const isReplicaCount = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= MAX_REPLICA_COUNT;

/**
 * A replica count as a number or as the decimal text we write into the declared annotation.
 * Only what fits KEDA's int32: a larger number would be written back in exponent form
 * ("1e+21") that no longer reads as a count, and the declared max would be lost.
 */
export function replicaCount(v: unknown): number | null {
  const n = typeof v === 'string' && /^\d{1,10}$/.test(v) ? Number(v) : v;
  return isReplicaCount(n) ? n : null;
}

/**
 * Why the object's own `spec.maxReplicaCount` is no count KEDA accepts, or null when it is
 * one or unset. Such an object is left exactly as sent: the API server's schema validation
 * (or KEDA) then reports the user's mistake, where a cap of ours would hide it.
 */
export function invalidSpecMax(obj: KedaObject): string | null {
  const v: unknown = obj.spec?.maxReplicaCount;
  if (v === undefined || v === null || isReplicaCount(v)) return null;
  return `spec.maxReplicaCount must be an integer from 1 to ${MAX_REPLICA_COUNT} (KEDA's int32), got ${brief(v, 40)}`;
}

export function annotationsOf(obj: KedaObject | null | undefined): Record<string, string> {
  const a = obj?.metadata?.annotations;
  return a && typeof a === 'object' ? a : {};
}

export function specMax(obj: KedaObject | null | undefined): number | undefined {
  const v = obj?.spec?.maxReplicaCount;
  return typeof v === 'number' ? v : undefined;
}

/** Our status annotation on `obj`, decoded (see status.ts), or null. */
export function readStatus(obj: KedaObject | null | undefined): Readonly<CarbonStatus> | null {
  return decodeStatus(annotationsOf(obj)[ANNOTATION.status]);
}

/**
 * The user's own max (PRODUCT.md section 3). The declared annotation keeps it across our
 * own rewrites so repeated mutations never ratchet down; a change the user makes to
 * `spec.maxReplicaCount` is a new declared value.
 *
 * - The object still carries the cap we wrote (spec equals our status `cap`, not in
 *   observe mode, where we write no cap): our annotation holds the user's value. This covers reinvocation, where the API server
 *   calls again with our patch already applied and a fresh uid.
 * - CREATE: what the user sent.
 * - UPDATE that changed `spec.maxReplicaCount`: the user's new value.
 * - Otherwise: the annotation, else the spec, else KEDA's default of 100.
 */
export function declaredMax(object: KedaObject, oldObject: KedaObject | null | undefined): number {
  const current = specMax(object);
  const annotated = replicaCount(annotationsOf(object)[ANNOTATION.declared]);
  const status = readStatus(object);
  if (annotated !== null && current !== undefined && status?.mode !== 'observe' && current === status?.cap) return annotated;
  const user = replicaCount(current) ?? KEDA_DEFAULT_MAX;
  if (!oldObject) return user;
  if (current !== specMax(oldObject)) return user;
  return annotated ?? user;
}

export function minReplicas(object: KedaObject): number {
  const v = object.spec?.minReplicaCount;
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

export function ecoModeOffByAnnotation(object: KedaObject): boolean {
  return annotationsOf(object)[ANNOTATION.ecoMode]?.trim().toLowerCase() === 'off';
}
