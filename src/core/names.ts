/** Every name keda-carbon reads or writes on user objects and namespaces (PRODUCT.md sections 2-3). */
export const ANNOTATION = {
  environmentalImpact: 'keda-carbon.io/environmental-impact',
  policy: 'keda-carbon.io/policy',
  ecoMode: 'keda-carbon.io/eco-mode',
  declared: 'keda-carbon.io/declared-max-replica-count',
  status: 'keda-carbon.io/status',
  touchedAt: 'keda-carbon.io/touched-at',
} as const;

/** The namespace label that applies a named policy to a whole namespace. */
export const NAMESPACE_POLICY_LABEL = 'keda-carbon.io/policy';

/** The policy name that opts an object out of every policy source below its annotation. */
export const DISABLED = 'disabled';

/** The annotations we write and remove again when an object has no policy any more. */
export const OWNED_ANNOTATIONS = [ANNOTATION.declared, ANNOTATION.status, ANNOTATION.touchedAt] as const;

/** KEDA's own default when `spec.maxReplicaCount` is unset (ScaledObject and ScaledJob). */
export const KEDA_DEFAULT_MAX = 100;
