import type { CarbonSnapshot } from './carbon.js';
import { ANNOTATION, KEDA_DEFAULT_MAX, OWNED_ANNOTATIONS } from './names.js';
import type { Resolution } from './resolve.js';
import { decide, type Decision } from './decide.js';
import { annotationsOf, declaredMax, ecoModeOffByAnnotation, minReplicas, readStatus, specMax, type CarbonStatus, type KedaObject } from './object.js';

/**
 * What should become of one object: the pure step shared by admission (which turns it
 * into a JSONPatch) and the re-touch timer (which only compares the cap).
 */
export type Plan =
  | { readonly kind: 'untouched'; readonly warnings: readonly string[]; readonly reason: string }
  | { readonly kind: 'deny'; readonly message: string }
  | {
      readonly kind: 'apply';
      readonly maxReplicaCount: number;
      readonly setAnnotations: Readonly<Record<string, string>>;
      readonly removeAnnotations: readonly string[];
      readonly warnings: readonly string[];
      readonly reason: string;
      /** Absent when restoring an object that lost its policy. */
      readonly decision?: Decision;
    };

export interface PlanInput {
  readonly object: KedaObject;
  readonly oldObject: KedaObject | null | undefined;
  readonly resolution: Resolution;
  readonly carbon: CarbonSnapshot;
  readonly now: number;
  readonly invalidPolicy: 'deny' | 'warn';
}

// Reviews arrive several per millisecond under load; they share one formatted time.
let lastIsoMs = NaN;
let lastIso = '';
function isoTime(ms: number): string {
  if (ms !== lastIsoMs) {
    lastIso = new Date(ms).toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
}

function statusLine(d: Decision, now: number, previous: string | undefined, previousStatus: CarbonStatus | null): string {
  const status: CarbonStatus = {
    cap: d.cap,
    declared: d.declared,
    intensity: d.intensity,
    source: d.source,
    dataTime: d.dataTime,
    rule: d.rule,
    ecoMode: d.ecoMode,
    evaluatedAt: isoTime(now),
  };
  // Keep the previous line when only evaluatedAt would differ: the same inputs must give
  // an empty patch, or every reinvocation and every unrelated update would rewrite it.
  if (previous !== undefined && previousStatus) {
    const same = (Object.keys(status) as (keyof CarbonStatus)[]).every((k) => k === 'evaluatedAt' || previousStatus[k] === status[k]);
    if (same) return previous;
  }
  return JSON.stringify(status);
}

function changeWarning(from: number, to: number, why: string): string[] {
  return from === to ? [] : [`keda-carbon: maxReplicaCount ${from} -> ${to} (${why})`];
}

export function planObject(input: PlanInput): Plan {
  const { object, oldObject, resolution, carbon, now } = input;
  const annotations = annotationsOf(object);
  const currentMax = specMax(object);
  const effectiveMax = currentMax ?? KEDA_DEFAULT_MAX;

  if (resolution.kind === 'invalid') {
    if (resolution.own && input.invalidPolicy === 'deny') return { kind: 'deny', message: `keda-carbon: ${resolution.message}` };
    return { kind: 'untouched', warnings: [`keda-carbon: ${resolution.message}; maxReplicaCount left as it is`], reason: resolution.message };
  }

  if (resolution.kind === 'none') {
    const ours = OWNED_ANNOTATIONS.filter((k) => k in annotations);
    if (ours.length === 0) return { kind: 'untouched', warnings: [], reason: resolution.origin };
    const restored = declaredMax(object, oldObject);
    const why = 'no carbon policy any more: declared max restored';
    return {
      kind: 'apply',
      maxReplicaCount: restored,
      setAnnotations: {},
      removeAnnotations: ours,
      warnings: changeWarning(effectiveMax, restored, why),
      reason: `${resolution.origin}; ${why}`,
    };
  }

  const declared = declaredMax(object, oldObject);
  const decision = decide({
    policy: resolution.policy,
    declared,
    minReplicas: minReplicas(object),
    currentMax,
    ecoModeOffAnnotation: ecoModeOffByAnnotation(object),
    carbon,
    now,
  });
  const status = statusLine(decision, now, annotations[ANNOTATION.status], readStatus(object));
  return {
    kind: 'apply',
    maxReplicaCount: decision.cap,
    setAnnotations: { [ANNOTATION.declared]: String(declared), [ANNOTATION.status]: status },
    removeAnnotations: [],
    warnings: [...changeWarning(effectiveMax, decision.cap, decision.reason), ...decision.warnings],
    reason: `${resolution.origin}: ${decision.reason}`,
    decision,
  };
}
