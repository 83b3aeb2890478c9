import type { CarbonSnapshot } from '../core/carbon.js';
import type { CapSubject } from '../core/moments.js';
import { ecoModeOffByAnnotation, minReplicas } from '../core/object.js';
import { planDiffers, planObject } from '../core/plan.js';
import { resolvePolicy, type PolicyConfig } from '../core/resolve.js';
import { policyTexts } from '../admission/policy-cache.js';
import type { CachedObject } from './objects.js';

export interface EvaluationContext {
  config: PolicyConfig & { invalidPolicy: 'deny' | 'warn'; wattsPerReplica?: number | null };
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
  | {
      readonly kind: 'apply';
      readonly target: number;
      readonly differs: boolean;
      readonly reason: string;
      readonly subject: CapSubject | undefined;
      readonly ledger?: LedgerFacts;
    };

/** What the ledger books for an object under a policy (absent when a policy was just removed). */
export interface LedgerFacts {
  /** A configured policy's name, or `inline` for the object's own document: bounded by the configuration. */
  readonly policy: string;
  readonly mode: string;
  readonly declared: number;
  /** What the ledger books as the cap: the cap in force, or in observe mode the cap the policy would set. */
  readonly cap: number;
  /** Watts per replica (the policy's, else the configuration's); null books no grams. */
  readonly watts: number | null;
}

/** The policy label of a resolution: the configured name, never the user's text. */
function policyLabel(origin: string): string {
  const named = /^policy "(.*)" \(/.exec(origin);
  return named ? named[1]! : 'inline';
}

/** The same pure steps admission runs (resolve, plan), on the cache's slim copy of an object. */
export function evaluateObject(entry: CachedObject, ctx: EvaluationContext): Verdict {
  const label = ctx.policyFor(entry.namespace);
  if (label instanceof Promise) return { kind: 'pending', wait: label };
  const object = entry.object;
  const resolution = resolvePolicy(object, ctx.config, label, policyTexts.read);
  if (resolution.kind === 'invalid') return { kind: 'invalid', message: resolution.message };
  const plan = planObject({ object, oldObject: object, resolution, carbon: ctx.carbon, now: ctx.now, invalidPolicy: ctx.config.invalidPolicy });
  if (plan.kind !== 'apply') return { kind: 'none' };
  const d = plan.decision;
  const subject: CapSubject | undefined =
    resolution.kind === 'policy' && d
      ? { policy: resolution.policy, declared: d.declared, minReplicas: minReplicas(object), ecoModeOffAnnotation: ecoModeOffByAnnotation(object), cap: d.cap }
      : undefined;
  const differs = planDiffers(object, plan);
  if (!subject) return { kind: 'apply', target: plan.maxReplicaCount, differs, reason: plan.reason, subject };
  const ledger: LedgerFacts = {
    policy: policyLabel(resolution.kind === 'policy' ? resolution.origin : ''),
    mode: plan.mode,
    declared: subject.declared,
    // Observe mode leaves the declared max in force; the ledger books what it would do.
    cap: plan.mode === 'observe' ? subject.cap : plan.maxReplicaCount,
    watts: subject.policy.wattsPerReplica ?? ctx.config.wattsPerReplica ?? null,
  };
  return { kind: 'apply', target: plan.maxReplicaCount, differs, reason: plan.reason, subject, ledger };
}
