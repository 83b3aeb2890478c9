import type { CarbonSnapshot } from '../core/carbon.js';
import type { CapSubject } from '../core/moments.js';
import { ecoModeOffByAnnotation, minReplicas } from '../core/object.js';
import { planDiffers, planObject } from '../core/plan.js';
import { resolvePolicy, type PolicyConfig } from '../core/resolve.js';
import type { CachedObject } from './objects.js';

export interface EvaluationContext {
  config: PolicyConfig & { invalidPolicy: 'deny' | 'warn' };
  carbon: CarbonSnapshot;
  now: number;
  /** The namespace's policy label; a Promise when the namespace cache has not seen it yet. */
  policyFor(namespace: string): string | null | Promise<string | null>;
}

/** What the controller should do about one cached object, now. */
export type Verdict =
  /** No policy, or the policy leaves it as it is: nothing to touch, no moment to wait for. */
  | { readonly kind: 'none' }
  /** The namespace label is being looked up; evaluate again once `wait` settles. */
  | { readonly kind: 'pending'; readonly wait: Promise<unknown> }
  | { readonly kind: 'invalid'; readonly message: string }
  /**
   * `differs`: a touch would change what we are responsible for: the spec's cap or, in
   * observe mode, the cap and mode the status records.
   */
  | { readonly kind: 'apply'; readonly target: number; readonly differs: boolean; readonly reason: string; readonly subject: CapSubject | undefined };

/** The same pure steps admission runs (resolve, plan), on the cache's slim copy of an object. */
export function evaluateObject(entry: CachedObject, ctx: EvaluationContext): Verdict {
  const label = ctx.policyFor(entry.namespace);
  if (label instanceof Promise) return { kind: 'pending', wait: label };
  const object = entry.object;
  const resolution = resolvePolicy(object, ctx.config, label);
  if (resolution.kind === 'invalid') return { kind: 'invalid', message: resolution.message };
  const plan = planObject({ object, oldObject: object, resolution, carbon: ctx.carbon, now: ctx.now, invalidPolicy: ctx.config.invalidPolicy });
  if (plan.kind !== 'apply') return { kind: 'none' };
  const d = plan.decision;
  const subject: CapSubject | undefined =
    resolution.kind === 'policy' && d
      ? { policy: resolution.policy, declared: d.declared, minReplicas: minReplicas(object), ecoModeOffAnnotation: ecoModeOffByAnnotation(object), cap: d.cap }
      : undefined;
  return { kind: 'apply', target: plan.maxReplicaCount, differs: planDiffers(object, plan), reason: plan.reason, subject };
}
