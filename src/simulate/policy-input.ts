import { ANNOTATION, KEDA_DEFAULT_MAX } from '../core/names.js';
import { parsePolicyText, PolicyError, validatePolicy, type Policy } from '../core/policy.js';
import { readYamlDocuments } from '../util/yaml-docs.js';
import { isPlainObject } from '../util/object.js';

export interface PolicyInput {
  readonly policy: Policy;
  /** Where the policy was found, for the output's header. */
  readonly origin: string;
  /** From a ScaledObject/ScaledJob: its declared max and min (used unless flags override them). */
  readonly declared?: number;
  readonly minReplicas?: number;
}

type Obj = Record<string, unknown>;

/**
 * Read `--policy FILE`: either a policy document (YAML or JSON, section 1 of the product
 * contract) or one ScaledObject/ScaledJob manifest that carries its policy in
 * `spec.environmentalImpact` or the `keda-carbon.io/environmental-impact` annotation
 * (the first of those two that is set, as the webhook reads them). From a manifest, its
 * own `maxReplicaCount` and `minReplicaCount` become the defaults of `--declared` and `--min`.
 */
export function readPolicyInput(text: string, file: string): PolicyInput {
  const docs = readYamlDocuments(text, file);
  if (docs.length === 0) throw new Error(`${file}: empty: expected a policy document or a ScaledObject/ScaledJob with a policy`);
  const kedaObjects = docs.filter((d): d is Obj => isPlainObject(d) && (d.kind === 'ScaledObject' || d.kind === 'ScaledJob'));
  if (kedaObjects.length === 0) {
    if (docs.length > 1) throw new Error(`${file}: ${docs.length} YAML documents; a policy file holds one policy document`);
    return { policy: wrap(() => validatePolicy(docs[0]), file), origin: file };
  }
  const withPolicy = kedaObjects.filter((o) => policySource(o) !== null);
  if (withPolicy.length === 0) {
    throw new Error(
      `${file}: no ScaledObject or ScaledJob here carries a policy (spec.environmentalImpact or the ${ANNOTATION.environmentalImpact} annotation)`,
    );
  }
  if (withPolicy.length > 1) {
    throw new Error(
      `${file}: ${withPolicy.length} objects carry a policy (${withPolicy.map(objectName).join(', ')}); simulate replays one: put it in a file of its own`,
    );
  }
  const object = withPolicy[0]!;
  const src = policySource(object)!;
  const where = `${file}: ${String(object.kind)} ${objectName(object)} ${src.field}`;
  const policy = wrap(() => (typeof src.value === 'string' ? parsePolicyText(src.value) : validatePolicy(src.value)), where);
  const spec = isPlainObject(object.spec) ? object.spec : {};
  const declared = spec.maxReplicaCount === undefined ? KEDA_DEFAULT_MAX : count(spec.maxReplicaCount, `${where}: spec.maxReplicaCount`, 1);
  const minReplicas = spec.minReplicaCount === undefined ? 0 : count(spec.minReplicaCount, `${where}: spec.minReplicaCount`, 0);
  return { policy, origin: `${String(object.kind)} ${objectName(object)} (${src.field})`, declared, minReplicas };
}

function policySource(o: Obj): { field: string; value: unknown } | null {
  const spec = isPlainObject(o.spec) ? o.spec : {};
  if (spec.environmentalImpact !== undefined && spec.environmentalImpact !== null)
    return { field: 'spec.environmentalImpact', value: spec.environmentalImpact };
  const meta = isPlainObject(o.metadata) ? o.metadata : {};
  const annotations = isPlainObject(meta.annotations) ? meta.annotations : {};
  const text = annotations[ANNOTATION.environmentalImpact];
  if (text !== undefined && text !== null) return { field: `annotation ${ANNOTATION.environmentalImpact}`, value: String(text) };
  return null;
}

function objectName(o: Obj): string {
  const meta = isPlainObject(o.metadata) ? o.metadata : {};
  return `${typeof meta.namespace === 'string' ? meta.namespace : 'default'}/${typeof meta.name === 'string' ? meta.name : '(unnamed)'}`;
}

function count(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`${what}: must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function wrap(fn: () => Policy, where: string): Policy {
  try {
    return fn();
  } catch (err) {
    if (err instanceof PolicyError) throw new Error(`${where}: invalid policy: ${err.message}`);
    throw err;
  }
}
