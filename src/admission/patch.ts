import type { Plan } from '../core/plan.js';
import type { KedaObject } from '../core/object.js';
import type { JsonPatchOp } from './review.js';
import { brief } from '../core/brief.js';
import { isPlainObject } from '../util/object.js';

/** RFC 6901: `~` becomes `~0` and `/` becomes `~1` inside a path segment. */
export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

type ApplyPlan = Extract<Plan, { kind: 'apply' }>;

const what = (v: unknown): string => (Array.isArray(v) ? 'a list' : `${typeof v} ${brief(v, 40)}`);

/**
 * Why this object, as received, has a part we would write into that is not a JSON object
 * (or an annotation that is not a string), or null when it has none. The API server
 * decodes objects before it calls us, so only a hand-made review gets here; replacing the
 * part would discard what the user sent, so the write is left as it is, with a warning.
 */
export function unpatchable(object: KedaObject): string | null {
  const { spec, metadata } = object as { spec?: unknown; metadata?: unknown };
  if (spec != null && !isPlainObject(spec)) return `spec is ${what(spec)}, not an object`;
  if (metadata == null) return null;
  if (!isPlainObject(metadata)) return `metadata is ${what(metadata)}, not an object`;
  const annotations = metadata.annotations;
  if (annotations == null) return null;
  if (!isPlainObject(annotations)) return `metadata.annotations is ${what(annotations)}, not a map`;
  for (const key of Object.keys(annotations)) {
    if (typeof annotations[key] !== 'string') return `metadata.annotations[${brief(key, 80)}] is ${what(annotations[key])}, not a string`;
  }
  return null;
}

/**
 * The JSONPatch that brings `object`, exactly as received, to the plan. It must apply
 * cleanly: a patch that does not apply makes the API server reject the user's write even
 * under failurePolicy Ignore. So: `add` whole maps that may be missing, `add` (which also
 * replaces) for members, `remove` only for members that exist, and no op at all for a
 * value that is already right, which keeps a second run over our own output empty. A
 * part that is not an object (see `unpatchable`, which the handler asks first) is
 * replaced whole, so the patch applies to anything.
 */
export function buildPatch(object: KedaObject, plan: ApplyPlan): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  const spec = object.spec;
  if (plan.keepSpec) {
    // Observe mode: the spec is the user's alone.
  } else if (!isPlainObject(spec)) {
    ops.push({ op: 'add', path: '/spec', value: { maxReplicaCount: plan.maxReplicaCount } });
  } else if (spec.maxReplicaCount !== plan.maxReplicaCount) {
    ops.push({ op: 'add', path: '/spec/maxReplicaCount', value: plan.maxReplicaCount });
  }

  const metadata: unknown = object.metadata;
  const current = isPlainObject(metadata) ? metadata.annotations : undefined;
  if (!isPlainObject(current)) {
    const toSet = Object.entries(plan.setAnnotations);
    if (toSet.length > 0) {
      if (!isPlainObject(metadata)) ops.push({ op: 'add', path: '/metadata', value: { annotations: Object.fromEntries(toSet) } });
      else ops.push({ op: 'add', path: '/metadata/annotations', value: Object.fromEntries(toSet) });
    }
    return ops;
  }
  const toSet = Object.entries(plan.setAnnotations).filter(([k, v]) => !Object.hasOwn(current, k) || current[k] !== v);
  const toRemove = plan.removeAnnotations.filter((k) => Object.hasOwn(current, k));
  for (const [key, value] of toSet) ops.push({ op: 'add', path: `/metadata/annotations/${escapePointer(key)}`, value });
  for (const key of toRemove) ops.push({ op: 'remove', path: `/metadata/annotations/${escapePointer(key)}` });
  return ops;
}
