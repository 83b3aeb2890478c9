/**
 * The webhook as a platform team runs it: the image built from the Dockerfile, two Pods
 * behind a Service on a real node, installed as docs/install.md says, the API server calling
 * it through the Service. Runs under .ci/node.sh (npm run test:node); skips otherwise.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { addHostsLine, applyKustomization, certsScript, DEPLOY, installTree, NodeCluster, nodeKubeconfig, NS, SKIP_MESSAGE, waitFor } from '../helpers/node-cluster.js';

const kubeconfig = nodeKubeconfig();
if (!kubeconfig) {
  t.plan(0, SKIP_MESSAGE);
  process.exit(0);
}
const image = process.env.KEDA_CARBON_NODE_IMAGE ?? 'localhost/keda-carbon:node-test';
const c = new NodeCluster(kubeconfig);
// namespaces of one run carry a suffix, so a second run against the same node does not meet the first
const TEAM = `team-${randomBytes(2).toString('hex')}`;
const DECLARED = 'keda-carbon.io/declared-max-replica-count';
const CAP = 3;
// `always` caps at any intensity, so the cap does not depend on the hour the test runs at.
const CONFIG = `intensity:
  provider: sample
  location: DE
  refreshInterval: 5m
  maxDataAge: 2h
policies:
  always:
    carbon:
    - {measuredEmission: 0, allowedMaxReplicaCount: ${CAP}}
defaultPolicy: null
touch:
  interval: 1h
  followForecast: true
invalidPolicy: deny
`;

const tree = await installTree(image, CONFIG);
let removeHosts: (() => Promise<void>) | undefined;
t.teardown(async () => {
  await removeHosts?.();
  await rm(tree.dir, { recursive: true, force: true });
});

function scaledObject(ns: string, name: string, max: number): string {
  return JSON.stringify({
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, namespace: ns },
    spec: { minReplicaCount: 1, maxReplicaCount: max, scaleTargetRef: { name: 'web' }, triggers: [{ type: 'cpu', metricType: 'Utilization', metadata: { value: '60' } }] },
  });
}

/** True when the object as stored carries our mutation for a declared max of `max`. */
function mutated(o: any, max: number): boolean {
  return o?.spec?.maxReplicaCount === CAP && o?.metadata?.annotations?.[DECLARED] === String(max);
}

t.test('install: the image runs as two Ready Pods and caps through the Service', async (t) => {
  const certs = certsScript(tree.dir, 'self-managed.sh', [], kubeconfig);
  t.equal(certs.status, 0, `self-managed.sh ${certs.stderr}`);
  const applied = await applyKustomization(c, tree.mine);
  t.equal(applied.status, 0, `apply --server-side -k ${applied.stderr}`);
  const rolled = await c.run(['-n', NS, 'rollout', 'status', DEPLOY, '--timeout=180s'], undefined, 200_000);
  t.equal(rolled.status, 0, `rollout status ${rolled.stdout}${rolled.stderr}`);
  if (rolled.status !== 0) {
    t.comment(await c.must(['-n', NS, 'get', 'pods', '-o', 'wide']));
    t.comment(await c.must(['-n', NS, 'describe', 'pods']));
    return;
  }

  const pods = await c.pods();
  t.equal(pods.length, 2, 'two replicas run');
  for (const p of pods) {
    t.ok(
      p.status.conditions.some((x: any) => x.type === 'Ready' && x.status === 'True'),
      `${p.metadata.name} is Ready`,
    );
    t.equal(p.spec.containers[0].image, image, 'runs the image built here');
    restricted(t, p);
    const whoami = await c.run(['-n', NS, 'exec', p.metadata.name, '--', 'node', '-e', 'const fs=require("fs");let w="writable";try{fs.writeFileSync("/app/x","")}catch{w="read-only"}console.log(process.getuid(),process.getgid(),w)']);
    t.equal(whoami.stdout.trim(), '65532 65532 read-only', `runs as 65532 with the code read-only ${whoami.stderr}`);
  }

  const svc = await c.json(['-n', NS, 'get', 'service', 'keda-carbon']);
  removeHosts = await addHostsLine(svc.spec.clusterIP, 'keda-carbon.keda-carbon.svc');

  await c.must(['create', 'namespace', TEAM]);
  await c.must(['label', 'namespace', TEAM, 'keda-carbon.io/policy=always']);
  // the namespace informer of each replica must have seen the label before the first write
  const created = await waitFor(
    'a ScaledObject capped by the webhook',
    async () => {
      await c.run(['-n', TEAM, 'delete', 'scaledobject', 'web', '--ignore-not-found']);
      const o = JSON.parse(await c.must(['create', '-o', 'json', '-f', '-'], scaledObject(TEAM, 'web', 20)));
      return mutated(o, 20) ? o : null;
    },
    60_000,
    2_000,
  );
  t.equal(created.spec.maxReplicaCount, CAP, 'capped in storage');
  t.equal(created.metadata.annotations[DECLARED], '20', 'declared max kept');
  const logs = (await Promise.all(pods.map((p) => c.logs(p.metadata.name)))).flat();
  t.ok(
    logs.some((l) => l.msg === 'cap set' && l.namespace === TEAM && l.name === 'web'),
    'a Pod logged the cap',
  );
});

/** The restricted Pod Security profile, checked field by field (v1.20 has no admission for it). */
function restricted(t: Test, pod: any): void {
  const psc = pod.spec.securityContext ?? {};
  for (const ctr of pod.spec.containers) {
    const sc = ctr.securityContext ?? {};
    t.equal(sc.allowPrivilegeEscalation, false, 'allowPrivilegeEscalation: false');
    t.same(sc.capabilities?.drop, ['ALL'], 'drops ALL capabilities');
    t.notOk(sc.capabilities?.add?.length, 'adds none');
    t.ok(sc.runAsNonRoot === true || psc.runAsNonRoot === true, 'runAsNonRoot');
    t.equal(sc.seccompProfile?.type ?? psc.seccompProfile?.type, 'RuntimeDefault', 'seccomp RuntimeDefault');
    t.notOk(sc.privileged, 'not privileged');
  }
  t.notOk(pod.spec.hostNetwork || pod.spec.hostPID || pod.spec.hostIPC, 'no host namespaces');
  t.ok(pod.spec.volumes.every((v: any) => !v.hostPath), 'no hostPath volumes');
}
