/**
 * What the restore tests share: a real `serve` registered as a URL webhook on the loopback
 * API server (webhook only, so no re-touch controller writes behind the test), objects it
 * capped, and reads of what is stored.
 */
import type { Test } from 'tap';
import { ANNOTATION, OWNED_ANNOTATIONS } from '../../src/core/names.js';
import { type Cluster, createNamespace, kedaObject, kedaPath, MINUTE, type Plural, registerWebhook, startWebhook } from '../e2e/cluster-env.js';

export const CAPPED = { [ANNOTATION.policy]: 'standard' };

export interface Capper {
  /** The MutatingWebhookConfiguration registered for it. */
  readonly mwc: string;
  /** A namespace the webhook sees; it caps what carries `CAPPED` (policy `standard`: 3 replicas at 400 gCO2eq/kWh). */
  namespace(suffix: string): Promise<string>;
}

let cappers = 0;

/**
 * Start the webhook and register it. Without cluster credentials it cannot read namespace
 * labels, so objects opt in with their own annotation (`CAPPED`).
 */
export async function startCapper(t: Test, c: Cluster): Promise<Capper> {
  const e2e = { 'keda-carbon-e2e': c.id };
  const namespace = async (suffix: string) => {
    const name = `kc-${suffix}-${c.id}`;
    await createNamespace(c, name, e2e);
    return name;
  };
  const now = Date.now();
  const webhook = await startWebhook(c, { leaseNamespace: 'default', webhookOnly: true, forecast: [[now - 60 * MINUTE, 240, 400]] });
  t.teardown(() => webhook.serve.stop());
  await registerWebhook(t, c, webhook, await namespace(`probe${++cappers}`));
  return { mwc: `keda-carbon-e2e-${c.id}`, namespace };
}

/** Create one object (max unset when `max` is null) and return it as stored. */
export async function createObject(c: Cluster, plural: Plural, namespace: string, name: string, max: number | null, annotations: Record<string, string> = {}) {
  const body = kedaObject(plural, namespace, name, max ?? 1, annotations);
  if (max === null) delete (body.spec as { maxReplicaCount?: number }).maxReplicaCount;
  return c.call('POST', kedaPath(plural, namespace), [201], body);
}

export interface Stored {
  max: number | undefined;
  ours: string[];
  resourceVersion: string;
  annotations: Record<string, string>;
}

export async function stored(c: Cluster, plural: Plural, namespace: string, name: string): Promise<Stored> {
  const obj = await c.call('GET', kedaPath(plural, namespace, name), [200]);
  const annotations: Record<string, string> = obj.metadata.annotations ?? {};
  return {
    max: obj.spec.maxReplicaCount,
    ours: OWNED_ANNOTATIONS.filter((k) => k in annotations),
    resourceVersion: obj.metadata.resourceVersion,
    annotations,
  };
}

/** Our annotations as the webhook writes them, for objects in a namespace the webhook does not see. */
export function webhookAnnotations(declared: string, cap: number, mode: 'enforce' | 'observe' = 'enforce'): Record<string, string> {
  const status = {
    cap,
    declared: Number(declared),
    intensity: 400,
    signal: 'unknown',
    source: 'file',
    dataTime: null,
    rule: 'measuredEmission>=300',
    ecoMode: 'on',
    mode,
    evaluatedAt: new Date().toISOString(),
  };
  return { [ANNOTATION.declared]: declared, [ANNOTATION.status]: JSON.stringify(status) };
}
