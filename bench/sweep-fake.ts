/**
 * The sweep benchmark's fake Kubernetes API (test/helpers/fake-kube.ts), in a process of its
 * own so its JSON encoding is not counted as the controller's cost: N ScaledObjects, 100 per
 * namespace, every one already carrying the cap its policy gives at 400 gCO2eq/kWh, and a
 * webhook stand-in that applies that cap on every touch. Forked by bench/sweep.ts.
 */
import { FakeKube, type FakeObject } from '../test/helpers/fake-kube.js';

/**
 * Objects per namespace at every count: the namespaces grow with the objects (100 at 10,000,
 * 500 at 50,000), as they do in a cluster that grows, so each figure per object compares.
 */
export const OBJECTS_PER_NAMESPACE = 100;
const DECLARED = 10;
const CAP = 3;

type Message = { cmd: string; [k: string]: unknown };

/** A quarter of the namespaces (25 of 100 at 10,000) get an out-of-date cap in the band change. */
export function staleNamespaces(objects: number): number {
  return Math.floor(objects / OBJECTS_PER_NAMESPACE / 4);
}

function statusLine(cap: number, intensity: number): string {
  return JSON.stringify({
    cap,
    declared: DECLARED,
    intensity,
    signal: 'unknown',
    source: 'bench:zone',
    dataTime: null,
    rule: cap === CAP ? 'measuredEmission>=300' : null,
    ecoMode: 'on',
    mode: 'enforce',
    evaluatedAt: '2026-11-23T10:00:00.000Z',
  });
}

/** An object as our webhook leaves it at `intensity` (capped to 3 at >= 300). */
function scaledObject(ns: string, name: string, cap: number, intensity: number): FakeObject {
  return {
    metadata: {
      name,
      namespace: ns,
      labels: { app: name, tier: 'web' },
      annotations: { 'keda-carbon.io/declared-max-replica-count': String(DECLARED), 'keda-carbon.io/status': statusLine(cap, intensity) },
    },
    spec: {
      scaleTargetRef: { name, kind: 'Deployment', apiVersion: 'apps/v1' },
      minReplicaCount: 1,
      maxReplicaCount: cap,
      pollingInterval: 30,
      triggers: [
        {
          type: 'prometheus',
          metadata: { serverAddress: 'http://prometheus.monitoring:9090', query: `sum(rate(http_requests_total{app="${name}"}[2m]))`, threshold: '100' },
        },
      ],
    },
  };
}

const namespaceName = (n: number) => `bench-${String(n).padStart(2, '0')}`;

/** The fake with `objects` ScaledObjects (none for the empty controller's baseline: one namespace). */
async function serveFake(objects: number): Promise<void> {
  const fake = new FakeKube();
  fake.recordBodies = false;
  fake.keepHistory = false;
  const namespaces = Math.max(1, objects / OBJECTS_PER_NAMESPACE);
  for (let n = 0; n < namespaces; n++) fake.setNamespace(namespaceName(n), { 'keda-carbon.io/policy': 'standard' });
  for (let i = 0; i < objects; i++) {
    fake.addObject('scaledobjects', scaledObject(namespaceName(Math.floor(i / OBJECTS_PER_NAMESPACE)), `app-${String(i).padStart(5, '0')}`, CAP, 400));
  }
  fake.admit = (_plural, obj) => {
    obj.spec = { ...obj.spec, maxReplicaCount: CAP };
    obj.metadata.annotations = { ...obj.metadata.annotations, 'keda-carbon.io/status': statusLine(CAP, 400) };
    return obj;
  };
  const url = await fake.start();
  const edit = (filter: (n: number) => boolean, change: (o: FakeObject) => FakeObject) => {
    for (const key of [...fake.objects.scaledobjects.keys()]) {
      const n = Number(key.slice('bench-'.length, key.indexOf('/')));
      if (filter(n)) fake.updateObject('scaledobjects', key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1), change);
    }
  };
  process.on('message', (m: Message) => {
    if (m.cmd === 'stale') {
      // As if these had been written while the grid was clean: cap 10, now out of date.
      edit(
        (n) => n < staleNamespaces(objects),
        (o) => ({
          ...o,
          spec: { ...o.spec, maxReplicaCount: DECLARED },
          metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, 'keda-carbon.io/status': statusLine(DECLARED, 120) } },
        }),
      );
      process.send!({ cmd: 'stale-done' });
    } else if (m.cmd === 'churn') {
      // An edit to every object that leaves its cap alone (a label, a trigger): one watch event each.
      edit(
        () => true,
        (o) => ({ ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, churn: String(m.round) } } }),
      );
      process.send!({ cmd: 'churn-done' });
    } else if (m.cmd === 'counts') {
      process.send!({ cmd: 'counts', counts: { ...fake.counts } });
      for (const k of Object.keys(fake.counts) as Array<keyof typeof fake.counts>) fake.counts[k] = 0;
    } else if (m.cmd === 'exit') {
      void fake.close().then(() => process.exit(0));
    }
  });
  process.send!({ cmd: 'ready', url });
}

if (process.argv[2] === '--fake') void serveFake(Number(process.argv[3]));
