import { ANNOTATION, KEDA_DEFAULT_MAX } from './names.js';

/** The few parts of a ScaledObject or ScaledJob the decision reads. */
export interface KedaObject {
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> | null; [k: string]: unknown };
  spec?: { maxReplicaCount?: number; minReplicaCount?: number; environmentalImpact?: unknown; [k: string]: unknown };
  [k: string]: unknown;
}

/** The status annotation we write: one line of JSON. */
export interface CarbonStatus {
  cap: number;
  declared: number;
  intensity: number | null;
  source: string;
  /** marginal, average or unknown: what kind of intensity `intensity` is. */
  signal?: string;
  dataTime: string | null;
  rule: string | null;
  ecoMode: 'on' | 'off';
  /** Only in observe mode: `cap` is then the cap the policy would set; the spec is the user's. */
  mode?: 'observe';
  evaluatedAt: string;
}

function positiveInt(v: unknown): number | null {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : null;
}

export function annotationsOf(obj: KedaObject | null | undefined): Record<string, string> {
  const a = obj?.metadata?.annotations;
  return a && typeof a === 'object' ? a : {};
}

export function specMax(obj: KedaObject | null | undefined): number | undefined {
  const v = obj?.spec?.maxReplicaCount;
  return typeof v === 'number' ? v : undefined;
}

export function readStatus(obj: KedaObject | null | undefined): CarbonStatus | null {
  const raw = annotationsOf(obj)[ANNOTATION.status];
  if (typeof raw !== 'string') return null;
  try {
    const s = JSON.parse(raw) as CarbonStatus;
    return s && typeof s === 'object' ? s : null;
  } catch {
    return null;
  }
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
  const annotated = positiveInt(annotationsOf(object)[ANNOTATION.declared]);
  const status = readStatus(object);
  if (annotated !== null && current !== undefined && status?.mode !== 'observe' && current === status?.cap) return annotated;
  const user = positiveInt(current) ?? KEDA_DEFAULT_MAX;
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
