import type { RuntimeConfig } from '../config/config.js';
import { clip } from '../core/brief.js';
import { KEDA_DEFAULT_MAX } from '../core/names.js';
import type { KedaObject } from '../core/object.js';
import { planObject, type Plan } from '../core/plan.js';
import { resolvePolicy } from '../core/resolve.js';
import { isPlainObject } from '../util/object.js';
import { AnswerMemo } from './memo.js';
import { type PolicyTextCache, policyTexts } from './policy-cache.js';
import { buildPatch, unpatchable } from './patch.js';
import {
  allowed,
  denied,
  finalize,
  parseReview,
  patched,
  patchedEncoded,
  type AdmissionRequest,
  type AdmissionResponseReview,
  type Verdict,
} from './review.js';
import type { CarbonReader, NamespacePolicyLookup } from '../ports.js';

export interface AdmissionDeps {
  config(): RuntimeConfig;
  carbon: CarbonReader;
  namespaces?: NamespacePolicyLookup | undefined;
  now(): number;
  /** Where answers are reused while they stay right; one per process when not given. */
  memo?: AnswerMemo | undefined;
  /** Parsed annotation policies; the process's one cache unless given. */
  policyTexts?: PolicyTextCache | undefined;
}

const processMemo = new AnswerMemo();

export type AdmissionResult = 'patched' | 'allowed' | 'denied' | 'error' | 'skipped';

export interface AdmissionOutcome {
  review: AdmissionResponseReview;
  result: AdmissionResult;
  operation: string;
  kind: string;
  /** Set when the answer changes maxReplicaCount. */
  capChange?: { from: number; to: number };
  /** One line for the log: which policy and why. */
  reason: string;
}

const KEDA_KINDS = new Set(['ScaledObject', 'ScaledJob']);

const isObject = (v: unknown): v is KedaObject => isPlainObject(v);

async function namespacePolicy(deps: AdmissionDeps, namespace: string | undefined, warnings: string[]): Promise<string | null> {
  if (!deps.namespaces || !namespace) return null;
  try {
    return await deps.namespaces.policyFor(namespace);
  } catch (err) {
    warnings.push(
      `keda-carbon: could not read the labels of namespace ${clip(namespace, 100)} (${clip(String((err as Error)?.message))}); namespace policy not applied`,
    );
    return null;
  }
}

const maxOf = (o: KedaObject | null): number | undefined => (typeof o?.spec?.maxReplicaCount === 'number' ? o.spec.maxReplicaCount : undefined);

/**
 * The change of the stored cap this write makes: against the stored object on an update
 * (a re-apply of an unchanged manifest sends the declared max, but the stored cap stays),
 * against what the user wrote on a create. Dry runs store nothing and never get here.
 * Both sides are effective values: an unset max is KEDA's default of 100.
 */
function storedCapChange(object: KedaObject, oldObject: KedaObject | null, to: number): { from: number; to: number } | undefined {
  // Unset is KEDA's default: writing 100 over it changes the spec, not the cap in force.
  const from = (oldObject ? maxOf(oldObject) : maxOf(object)) ?? KEDA_DEFAULT_MAX;
  return from !== to ? { from, to } : undefined;
}

async function decideVerdict(
  request: AdmissionRequest,
  deps: AdmissionDeps,
): Promise<{ verdict: Verdict; result: AdmissionResult; reason: string; capChange?: { from: number; to: number } }> {
  if (request.kind.group !== 'keda.sh' || !KEDA_KINDS.has(request.kind.kind)) {
    return { verdict: allowed(), result: 'skipped', reason: `not a KEDA ScaledObject or ScaledJob: ${request.kind.group}/${request.kind.kind}` };
  }
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') {
    return { verdict: allowed(), result: 'skipped', reason: `operation ${request.operation} is not ours` };
  }
  if (request.subResource) return { verdict: allowed(), result: 'skipped', reason: `subresource ${request.subResource}` };
  const object = request.object;
  if (!isObject(object)) {
    return {
      verdict: allowed(['keda-carbon: the AdmissionReview carries no object; write allowed unchanged']),
      result: 'error',
      reason: 'request.object missing',
    };
  }
  const shape = unpatchable(object);
  if (shape) return { verdict: allowed([`keda-carbon: ${shape}; write allowed unchanged`]), result: 'error', reason: `object cannot be patched: ${shape}` };
  // An old version of the wrong shape says nothing about the declared max: as if absent.
  const oldObject = isObject(request.oldObject) && unpatchable(request.oldObject) === null ? request.oldObject : null;
  const config = deps.config();
  const warnings: string[] = [];
  const objectNamespace = object.metadata?.namespace;
  const nsPolicy = await namespacePolicy(deps, request.namespace ?? (typeof objectNamespace === 'string' ? objectNamespace : undefined), warnings);
  const resolution = resolvePolicy(object, config, nsPolicy, (deps.policyTexts ?? policyTexts).read);
  const carbon = deps.carbon.snapshot();
  const now = deps.now();
  const invalidPolicy = config.invalidPolicy;
  if (resolution.kind === 'policy') {
    const memo = deps.memo ?? processMemo;
    const { plan, patch } = memo.plan({ object, oldObject, resolution, carbon, now, invalidPolicy, policy: resolution.policy, origin: resolution.origin });
    return verdictOf(plan, warnings, request, object, oldObject, (p) => patchedEncoded(patch, warnings.concat(p.warnings)));
  }
  const plan = planObject({ object, oldObject, resolution, carbon, now, invalidPolicy });
  return verdictOf(plan, warnings, request, object, oldObject, (p) => patched(buildPatch(object, p), warnings.concat(p.warnings)));
}

type ApplyPlan = Extract<Plan, { kind: 'apply' }>;

function verdictOf(
  plan: Plan,
  warnings: string[],
  request: AdmissionRequest,
  object: KedaObject,
  oldObject: KedaObject | null,
  answer: (plan: ApplyPlan) => Verdict,
): Awaited<ReturnType<typeof decideVerdict>> {
  if (plan.kind === 'deny') return { verdict: denied(plan.message), result: 'denied', reason: plan.message };
  if (plan.kind === 'untouched') return { verdict: allowed([...warnings, ...plan.warnings]), result: 'allowed', reason: plan.reason };
  const verdict = answer(plan);
  // Observe mode keeps the spec: no cap change to count.
  const capChange = request.dryRun === true || plan.keepSpec ? undefined : storedCapChange(object, oldObject, plan.maxReplicaCount);
  const result: Awaited<ReturnType<typeof decideVerdict>> = {
    verdict,
    result: verdict.patch || verdict.encodedPatch !== undefined ? 'patched' : 'allowed',
    reason: plan.reason,
  };
  if (capChange) result.capChange = capChange;
  return result;
}

/**
 * AdmissionReview in, AdmissionReview out. Throws `BadReviewError` only when the body is
 * not a v1 AdmissionReview with a uid (the HTTP layer answers 400). Anything that goes
 * wrong after that is our fault and fails open: allowed, unchanged, with a warning, and
 * always with the request's uid.
 */
export async function handleAdmission(body: unknown, deps: AdmissionDeps): Promise<AdmissionOutcome> {
  const request = parseReview(body);
  // Metric labels: a foreign kind in a review must not mint a new time series.
  const kind = KEDA_KINDS.has(request.kind.kind) ? request.kind.kind : 'other';
  try {
    const { verdict, result, reason, capChange } = await decideVerdict(request, deps);
    // A literal, not a spread: this is the hot path, and spreads cost microseconds here.
    const outcome: AdmissionOutcome = { operation: request.operation, kind, review: finalize(request.uid, verdict), result, reason };
    if (capChange) outcome.capChange = capChange;
    return outcome;
  } catch (err) {
    const message = clip((err as Error)?.message ?? String(err));
    return {
      operation: request.operation,
      kind,
      review: finalize(request.uid, allowed([`keda-carbon: internal error, write allowed unchanged: ${message}`])),
      result: 'error',
      reason: `internal error: ${message}`,
    };
  }
}
