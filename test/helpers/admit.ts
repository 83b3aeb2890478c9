import type { RuntimeConfig } from '../../src/config/config.js';
import type { CarbonSnapshot } from '../../src/core/carbon.js';
import { planObject } from '../../src/core/plan.js';
import { resolvePolicy } from '../../src/core/resolve.js';
import type { Clock } from '../../src/ports.js';
import type { FakeKube, FakeObject } from './fake-kube.js';

/** A mutating-webhook stand-in on the fake API: the same pure steps admission runs, at the clock's time. */
export function webhook(fake: FakeKube, clock: Clock, cfg: () => RuntimeConfig, carbon: () => CarbonSnapshot) {
  return (_plural: string, obj: FakeObject, old: FakeObject | undefined): FakeObject => {
    const label = fake.namespaces.get(obj.metadata.namespace!)?.metadata.labels?.['keda-carbon.io/policy'] ?? null;
    const resolution = resolvePolicy(obj, cfg(), label);
    const plan = planObject({ object: obj, oldObject: old ?? null, resolution, carbon: carbon(), now: clock.now(), invalidPolicy: 'warn' });
    if (plan.kind !== 'apply') return obj;
    const annotations = { ...obj.metadata.annotations, ...plan.setAnnotations };
    for (const k of plan.removeAnnotations) delete annotations[k];
    return { ...obj, metadata: { ...obj.metadata, annotations }, spec: { ...obj.spec, maxReplicaCount: plan.maxReplicaCount } };
  };
}
