import type { Plan } from '../core/plan.js';
import type { KedaObject } from '../core/object.js';
import type { JsonPatchOp } from './review.js';

/** RFC 6901: `~` becomes `~0` and `/` becomes `~1` inside a path segment. */
export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

type ApplyPlan = Extract<Plan, { kind: 'apply' }>;

/**
 * The JSONPatch that brings `object`, exactly as received, to the plan. It must apply
 * cleanly: a patch that does not apply makes the API server reject the user's write even
 * under failurePolicy Ignore. So: `add` whole maps that may be missing, `add` (which also
 * replaces) for members, `remove` only for members that exist, and no op at all for a
 * value that is already right, which keeps a second run over our own output empty.
 */
export function buildPatch(object: KedaObject, plan: ApplyPlan): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  const spec = object.spec;
  if (plan.keepSpec) {
    // Observe mode: the spec is the user's alone.
  } else if (spec === undefined || spec === null || typeof spec !== 'object') {
    ops.push({ op: 'add', path: '/spec', value: { maxReplicaCount: plan.maxReplicaCount } });
  } else if (spec.maxReplicaCount !== plan.maxReplicaCount) {
    ops.push({ op: 'add', path: '/spec/maxReplicaCount', value: plan.maxReplicaCount });
  }

  const current = object.metadata?.annotations;
  const toSet = Object.entries(plan.setAnnotations).filter(([k, v]) => current?.[k] !== v);
  const toRemove = plan.removeAnnotations.filter((k) => current != null && k in current);
  if (current == null || typeof current !== 'object') {
    if (toSet.length > 0) {
      if (object.metadata == null) ops.push({ op: 'add', path: '/metadata', value: { annotations: Object.fromEntries(toSet) } });
      else ops.push({ op: 'add', path: '/metadata/annotations', value: Object.fromEntries(toSet) });
    }
    return ops;
  }
  for (const [key, value] of toSet) ops.push({ op: 'add', path: `/metadata/annotations/${escapePointer(key)}`, value });
  for (const key of toRemove) ops.push({ op: 'remove', path: `/metadata/annotations/${escapePointer(key)}` });
  return ops;
}
