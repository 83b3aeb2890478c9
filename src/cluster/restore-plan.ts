import { ANNOTATION, OWNED_ANNOTATIONS } from '../core/names.js';
import { annotationsOf, readStatus, replicaCount, specMax, type KedaObject } from '../core/object.js';

/**
 * What `restore` does to one stored object: the pure step, so every case (enforced cap,
 * observe mode, a user's edit made while the webhook was down, a malformed annotation) is
 * decided in one place and tested without a cluster.
 */
export type RestorePlan =
  /** No annotation of ours: keda-carbon never wrote to it, so restore does not either. */
  | { readonly kind: 'untouched' }
  /** The declared annotation is no replica count: guessing could set any max, so the object is left alone. */
  | { readonly kind: 'malformed'; readonly message: string }
  | {
      readonly kind: 'restore';
      /** `spec.maxReplicaCount` as stored (undefined: unset). */
      readonly from: number | undefined;
      /** What to write into `spec.maxReplicaCount`; undefined leaves the spec as it is. */
      readonly to: number | undefined;
      /** Our annotations present on the object, all removed. */
      readonly remove: readonly string[];
      readonly why: string;
    };

export const WHY = {
  declared: 'declared max restored',
  observe: 'observe mode: the spec was never capped',
  atDeclared: 'already at the declared max',
} as const;

/**
 * The declared max goes back into the spec when the spec still holds a cap keda-carbon
 * enforced (or when no readable status says otherwise). When the spec differs from the cap
 * our status records, someone wrote it after us (typically while the webhook was down and
 * failurePolicy Ignore let the write through unmutated): that value is the user's newer
 * one, and writing the older declared max over it would undo their edit.
 */
export function planRestore(object: KedaObject): RestorePlan {
  const annotations = annotationsOf(object);
  const remove = OWNED_ANNOTATIONS.filter((k) => Object.hasOwn(annotations, k));
  if (remove.length === 0) return { kind: 'untouched' };
  const from = specMax(object);
  const raw = annotations[ANNOTATION.declared];
  if (raw === undefined) return { kind: 'restore', from, to: undefined, remove, why: 'no declared max recorded: the spec is left as it is' };
  const declared = replicaCount(raw);
  if (declared === null) {
    return { kind: 'malformed', message: `${ANNOTATION.declared} is ${JSON.stringify(raw).slice(0, 60)}, not a replica count: left as it is` };
  }
  const status = readStatus(object);
  if (status?.mode === 'observe') return { kind: 'restore', from, to: undefined, remove, why: WHY.observe };
  if (status && typeof status.cap === 'number' && from !== status.cap) {
    const was = from === undefined ? 'unset' : String(from);
    return {
      kind: 'restore',
      from,
      to: undefined,
      remove,
      why: `spec max (${was}) was written after keda-carbon's cap of ${status.cap}: the newer value is kept`,
    };
  }
  return { kind: 'restore', from, to: declared, remove, why: from === declared ? WHY.atDeclared : WHY.declared };
}

/**
 * The merge patch for a plan: annotations removed with null, the max set when it changes,
 * and the resourceVersion the plan was made from, so the API server answers 409 Conflict
 * instead of applying it over a write that came in between.
 */
export function restorePatch(plan: Extract<RestorePlan, { kind: 'restore' }>, resourceVersion: string | undefined): Record<string, unknown> {
  const metadata: Record<string, unknown> = { annotations: Object.fromEntries(plan.remove.map((k) => [k, null])) };
  if (resourceVersion !== undefined) metadata.resourceVersion = resourceVersion;
  const patch: Record<string, unknown> = { metadata };
  if (plan.to !== undefined && plan.to !== plan.from) patch.spec = { maxReplicaCount: plan.to };
  return patch;
}

/** Whether the stored object is what the plan meant: our annotations gone and the max as planned. */
export function restoredAsPlanned(stored: KedaObject, plan: Extract<RestorePlan, { kind: 'restore' }>): boolean {
  const annotations = annotationsOf(stored);
  if (OWNED_ANNOTATIONS.some((k) => Object.hasOwn(annotations, k))) return false;
  return specMax(stored) === (plan.to ?? plan.from);
}
