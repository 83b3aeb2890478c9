import type { CarbonSnapshot } from './carbon.js';
import { ANNOTATION, KEDA_DEFAULT_MAX, OWNED_ANNOTATIONS } from './names.js';
import type { Resolution } from './resolve.js';
import { decide, type Decision } from './decide.js';
import { annotationsOf, declaredMax, ecoModeOffByAnnotation, invalidSpecMax, minReplicas, readStatus, specMax, type KedaObject } from './object.js';
import { type CarbonStatus, encodeStatus, nextStepOf, sameStatus } from './status.js';
import type { InForce } from './step-down.js';

/**
 * What should become of one object: the pure step shared by admission (which turns it
 * into a JSONPatch) and the re-touch timer (which only compares the cap).
 */
export type Plan =
  | { readonly kind: 'untouched'; readonly warnings: readonly string[]; readonly reason: string }
  | { readonly kind: 'deny'; readonly message: string }
  | {
      readonly kind: 'apply';
      /** What `spec.maxReplicaCount` should be (unset counts as KEDA's default). */
      readonly maxReplicaCount: number;
      /** `observe`: the decision's cap goes into the status only. */
      readonly mode: 'enforce' | 'observe';
      /** True when the spec is to be left exactly as it is (observe mode with nothing to restore). */
      readonly keepSpec: boolean;
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
/** `evaluatedAt` of the status line: the ISO time of `ms`. */
export function isoTime(ms: number): string {
  if (ms !== lastIsoMs) {
    lastIso = new Date(ms).toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
}

function statusLine(
  d: Decision,
  now: number,
  previous: string | undefined,
  previousStatus: Readonly<CarbonStatus> | null,
  mode: 'enforce' | 'observe',
): string {
  const status: CarbonStatus = {
    cap: d.cap,
    declared: d.declared,
    intensity: d.intensity,
    signal: d.signal,
    source: d.source,
    dataTime: d.dataTime,
    rule: d.rule,
    ecoMode: d.ecoMode,
    mode,
    evaluatedAt: isoTime(now),
  };
  if (d.step) {
    status.stepTarget = d.step.target;
    status.nextStepAt = new Date(d.step.nextStepAt).toISOString();
  }
  // Keep the previous line when only evaluatedAt would differ: the same inputs must give
  // an empty patch, or every reinvocation and every unrelated update would rewrite it.
  if (previous !== undefined && previousStatus && sameStatus(status, previousStatus)) return previous;
  return encodeStatus(status);
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

  if (resolution.kind === 'none' && !OWNED_ANNOTATIONS.some((k) => k in annotations)) return { kind: 'untouched', warnings: [], reason: resolution.origin };
  const badMax = invalidSpecMax(object);
  if (badMax) return { kind: 'untouched', warnings: [`keda-carbon: ${badMax}; maxReplicaCount left as it is`], reason: badMax };
  if (resolution.kind === 'none') return restorePlan(object, oldObject, resolution.origin, effectiveMax);

  const declared = declaredMax(object, oldObject);
  const policy = resolution.policy;
  const status = readStatus(object);
  const observe = policy.mode === 'observe';
  const decision = decide({
    policy,
    declared,
    minReplicas: minReplicas(object),
    // In observe mode the cap that `hold` keeps is the one the status says we would set.
    currentMax: observe && status?.mode === 'observe' ? status.cap : currentMax,
    ecoModeOffAnnotation: ecoModeOffByAnnotation(object),
    carbon,
    now,
    inForce: policy.stepDown ? capInForce(oldObject, declared, observe) : undefined,
  });
  const setAnnotations = {
    [ANNOTATION.declared]: String(declared),
    [ANNOTATION.status]: statusLine(decision, now, annotations[ANNOTATION.status], status, policy.mode),
  };
  const reason = `${resolution.origin}: ${decision.reason}`;
  if (observe) return observePlan(object, decision, declared, setAnnotations, reason);
  const warnings = [...changeWarning(effectiveMax, decision.cap, decision.reason), ...decision.warnings];
  return { kind: 'apply', maxReplicaCount: decision.cap, mode: 'enforce', keepSpec: false, setAnnotations, removeAnnotations: [], warnings, reason, decision };
}

/**
 * What a step-down steps from: the stored object's cap (in observe mode, the cap its status
 * says we would set) and the time of its next step. Never above the declared max, so a user
 * who lowers their own max below the cap in force gets it at once. On create there is none:
 * nothing runs yet, so the cap applies at once.
 */
function capInForce(oldObject: KedaObject | null | undefined, declared: number, observe: boolean): InForce | undefined {
  if (!oldObject) return undefined;
  const old = readStatus(oldObject);
  // A step-down of the other mode (observe's would-be steps, say) is not the one in force.
  const sameMode = (old?.mode === 'observe') === observe;
  const cap = observe && sameMode ? old!.cap : (specMax(oldObject) ?? KEDA_DEFAULT_MAX);
  return { cap: Math.min(cap, declared), nextStepAt: sameMode ? nextStepOf(old) : null };
}

/** An object that lost its policy: the declared max back, our annotations gone. */
function restorePlan(object: KedaObject, oldObject: KedaObject | null | undefined, origin: string, effectiveMax: number): Plan {
  const annotations = annotationsOf(object);
  const restored = declaredMax(object, oldObject);
  const why = restoreWhy(origin);
  return {
    kind: 'apply',
    maxReplicaCount: restored,
    setAnnotations: {},
    removeAnnotations: OWNED_ANNOTATIONS.filter((k) => k in annotations),
    mode: 'enforce',
    keepSpec: false,
    warnings: changeWarning(effectiveMax, restored, why),
    reason: why,
  };
}

/**
 * Observe mode: the status carries the cap the policy would set, the spec is never
 * changed. An object that still carries a cap we enforced before gets its declared max
 * back, exactly as if the policy had been removed.
 */
function observePlan(object: KedaObject, decision: Decision, declared: number, setAnnotations: Record<string, string>, reason: string): Plan {
  const status = readStatus(object);
  const currentMax = specMax(object);
  const enforced = status !== null && status.mode !== 'observe' && currentMax !== undefined && currentMax === status.cap;
  const effectiveMax = enforced ? declared : (currentMax ?? KEDA_DEFAULT_MAX);
  const warnings = enforced ? changeWarning(currentMax, declared, 'observe mode: declared max restored') : [];
  if (decision.cap !== effectiveMax) warnings.push(`keda-carbon (observe): would set maxReplicaCount ${effectiveMax} -> ${decision.cap} (${decision.reason})`);
  for (const w of decision.warnings) warnings.push(w.replace(/^keda-carbon: /, 'keda-carbon (observe): '));
  return {
    kind: 'apply',
    maxReplicaCount: effectiveMax,
    mode: 'observe',
    keepSpec: !enforced,
    setAnnotations,
    removeAnnotations: [],
    warnings,
    reason: `${reason} (observe mode)`,
    decision,
  };
}

/**
 * Whether the stored object differs from what the plan makes of it, i.e. whether a touch
 * would change anything the controller is responsible for: the spec's cap, or in observe
 * mode the cap and mode the status records (the spec is not ours to compare then).
 */
export function planDiffers(object: KedaObject, plan: Plan): boolean {
  if (plan.kind !== 'apply') return false;
  const status = readStatus(object);
  if (plan.mode === 'observe') {
    if (!plan.keepSpec && specMax(object) !== plan.maxReplicaCount) return true;
    return status?.mode !== 'observe' || status.cap !== plan.decision?.cap;
  }
  if (specMax(object) !== plan.maxReplicaCount) return true;
  // Back from observe to enforce with a cap equal to the spec: only the status is stale.
  return plan.decision !== undefined && status?.mode === 'observe';
}

/** Why the declared max comes back: the policy is gone, or switched off by name (the origin says where). */
export function restoreWhy(origin: string): string {
  return origin === 'no policy' ? RESTORED : `carbon policy switched off (${origin}): declared max restored`;
}

export const RESTORED = 'no carbon policy any more: declared max restored';
