import { clip } from './brief.js';
import type { KedaObject } from './object.js';
import { ANNOTATION, DISABLED } from './names.js';
import { PolicyError, parsePolicyText, validatePolicy, type Policy } from './policy.js';

/** Where an object's policy comes from (PRODUCT.md section 2, first match wins). */
export type Resolution =
  | { readonly kind: 'policy'; readonly policy: Policy; readonly origin: string }
  | { readonly kind: 'none'; readonly origin: string }
  /**
   * `own`: the object's own document is broken (deny or warn per `invalidPolicy`).
   * Not own: a policy name that the configuration does not have; that is an operator's
   * matter, so the write goes through untouched with a warning (fail open).
   */
  | { readonly kind: 'invalid'; readonly origin: string; readonly message: string; readonly own: boolean };

/** The part of the configuration that resolution reads. */
export interface PolicyConfig {
  readonly policies: ReadonlyMap<string, Policy>;
  readonly defaultPolicy: string | null;
  /** The configuration's top-level `mode`: `observe` puts every policy in observe mode. */
  readonly mode?: 'enforce' | 'observe';
}

// One observing twin per policy, so the caches keyed by policy identity keep working.
const observing = new WeakMap<Policy, Policy>();
function observed(policy: Policy): Policy {
  if (policy.mode === 'observe') return policy;
  let twin = observing.get(policy);
  if (twin === undefined) {
    twin = { ...policy, mode: 'observe' };
    observing.set(policy, twin);
  }
  return twin;
}

function fromDocument(origin: string, load: () => Policy): Resolution {
  try {
    return { kind: 'policy', policy: load(), origin };
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    return { kind: 'invalid', origin, message: `invalid carbon policy in ${origin}: ${err.message}`, own: true };
  }
}

function named(name: string, origin: string, config: PolicyConfig): Resolution {
  const policy = config.policies.get(name);
  if (policy) return { kind: 'policy', policy, origin: `policy "${name}" (${origin})` };
  return { kind: 'invalid', origin, message: `${origin} names policy "${clip(name, 100)}", which the keda-carbon configuration does not define`, own: false };
}

/** How a policy written as text is read: `parsePolicyText`, or a cache of its answers. */
export type PolicyTextReader = (text: string) => Policy;

/**
 * Resolve the policy for `object`. `namespacePolicy` is the namespace's
 * `keda-carbon.io/policy` label (null when it has none or it is not known): the caller
 * looks it up, so this stays pure. Long-running callers pass `readText` with a cache.
 */
export function resolvePolicy(
  object: KedaObject,
  config: PolicyConfig,
  namespacePolicy: string | null,
  readText: PolicyTextReader = parsePolicyText,
): Resolution {
  const r = resolveSource(object, config, namespacePolicy, readText);
  return r.kind === 'policy' && config.mode === 'observe' ? { ...r, policy: observed(r.policy), origin: `${r.origin}, observe mode by the configuration` } : r;
}

function resolveSource(object: KedaObject, config: PolicyConfig, namespacePolicy: string | null, readText: PolicyTextReader): Resolution {
  const inline = object.spec?.environmentalImpact;
  if (inline !== undefined && inline !== null) {
    return fromDocument('spec.environmentalImpact', () => validatePolicy(inline));
  }
  const annotations = object.metadata?.annotations ?? {};
  const text = annotations[ANNOTATION.environmentalImpact];
  if (typeof text === 'string') {
    return fromDocument(`annotation ${ANNOTATION.environmentalImpact}`, () => readText(text));
  }
  const byName = annotations[ANNOTATION.policy]?.trim();
  if (byName) {
    if (byName === DISABLED) return { kind: 'none', origin: `annotation ${ANNOTATION.policy}: ${DISABLED}` };
    return named(byName, `annotation ${ANNOTATION.policy}`, config);
  }
  if (namespacePolicy) {
    if (namespacePolicy === DISABLED) return { kind: 'none', origin: `namespace label ${ANNOTATION.policy}: ${DISABLED}` };
    return named(namespacePolicy, `namespace label ${ANNOTATION.policy}`, config);
  }
  if (config.defaultPolicy) return named(config.defaultPolicy, 'defaultPolicy', config);
  return { kind: 'none', origin: 'no policy' };
}
