/**
 * The webhook as a platform team runs it: the image built from the Dockerfile, two Pods
 * behind a Service on a real node, installed as docs/install.md says, the API server calling
 * it through the Service. Runs under .ci/node.sh (npm run test:node); skips otherwise.
 */
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { loadReview, withAnnotations } from '../helpers/reviews.js';
import {
  addHostsLine,
  applyKustomization,
  certsScript,
  deleteKustomization,
  DEPLOY,
  installTree,
  NodeCluster,
  nodeKubeconfig,
  NS,
  ROOT,
  SKIP_MESSAGE,
  scaledObject,
  waitFor,
  writeUntil,
  type Run,
} from '../helpers/node-cluster.js';

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

/** True when the object as stored carries our mutation for a declared max of `max`. */
function mutated(o: any, max: number): boolean {
  return o?.spec?.maxReplicaCount === CAP && o?.metadata?.annotations?.[DECLARED] === String(max);
}

t.test('install: the image runs as two Ready Pods and caps through the Service', async (t) => {
  const certs = await certsScript(tree.dir, 'self-managed.sh', [], kubeconfig);
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
    const whoami = await c.run([
      '-n',
      NS,
      'exec',
      p.metadata.name,
      '--',
      'node',
      '-e',
      'const fs=require("fs");let w="writable";try{fs.writeFileSync("/app/x","")}catch{w="read-only"}console.log(process.getuid(),process.getgid(),w)',
    ]);
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
    logs.some((l) => l.msg === 'cap set' && l.namespace === TEAM && l.objectName === 'web'),
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
  t.ok(
    pod.spec.volumes.every((v: any) => !v.hostPath),
    'no hostPath volumes',
  );
}

const WRITE_SECONDS = 120;

/**
 * One write a second for WRITE_SECONDS: a new ScaledObject on even ticks, a new declared max
 * for the previous one on odd ticks. Every answer is the object as stored, so each write is
 * checked on its own; with failurePolicy Ignore a missed mutation is otherwise silent.
 */
async function writeOncePerSecond(
  ns: string,
  until: () => boolean,
): Promise<{ writes: number; failed: string[]; unmutated: string[]; last: Map<string, number> }> {
  const failed: string[] = [];
  const unmutated: string[] = [];
  const last = new Map<string, number>();
  let writes = 0;
  const start = Date.now();
  for (let i = 0; i < WRITE_SECONDS + 30 && (Date.now() - start < WRITE_SECONDS * 1000 || !until()); i++) {
    const tick = start + i * 1000;
    const name = `w-${Math.floor(i / 2)}`;
    const max = 20 + i;
    const r =
      i % 2 === 0
        ? await c.run(['create', '-o', 'json', '-f', '-'], scaledObject(ns, name, max), 20_000)
        : await c.run(
            ['-n', ns, 'patch', 'scaledobject', name, '--type=merge', '-o', 'json', '-p', JSON.stringify({ spec: { maxReplicaCount: max } })],
            undefined,
            20_000,
          );
    writes++;
    if (r.status !== 0) failed.push(`${name} (max ${max}): ${r.stderr.trim()}`);
    else {
      last.set(name, max);
      if (!mutated(JSON.parse(r.stdout), max)) unmutated.push(`${name} (max ${max}): ${r.stdout.slice(0, 300)}`);
    }
    const wait = tick + 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return { writes, failed, unmutated, last };
}

t.test('rollout restart under a client writing once a second: no write fails, none is stored unmutated', async (t) => {
  const ns = `${TEAM}-rollout`;
  await c.must(['create', 'namespace', ns]);
  await c.must(['label', 'namespace', ns, 'keda-carbon.io/policy=always']);
  // both replicas know the label before the clock starts
  await waitFor(
    'the namespace label seen by the webhook',
    async () => {
      await c.run(['-n', ns, 'delete', 'scaledobject', 'probe', '--ignore-not-found']);
      return mutated(JSON.parse(await c.must(['create', '-o', 'json', '-f', '-'], scaledObject(ns, 'probe', 20))), 20);
    },
    60_000,
    2_000,
  );
  await c.must(['-n', ns, 'delete', 'scaledobject', 'probe']);

  let rolledAt = 0;
  let rollout: Promise<Run> | undefined;
  const restartAfter = setTimeout(() => {
    rolledAt = Date.now();
    rollout = c.must(['-n', NS, 'rollout', 'restart', DEPLOY]).then(() => c.run(['-n', NS, 'rollout', 'status', DEPLOY, '--timeout=240s'], undefined, 260_000));
    void rollout.then(() => (rolloutDone = true));
  }, 10_000);
  t.teardown(() => clearTimeout(restartAfter));
  let rolloutDone = false;
  const result = await writeOncePerSecond(ns, () => rolloutDone);
  const status = await rollout;
  t.equal(status?.status, 0, `the rollout finished ${status?.stderr ?? ''}`);
  t.comment(
    `rollout: ${result.writes} writes, ${result.failed.length} failed, ${result.unmutated.length} stored unmutated; the restart came ${Math.round((Date.now() - rolledAt) / 1000)} s before the last write`,
  );
  t.same(result.failed, [], `no write failed (${result.failed.length} of ${result.writes})`);
  t.same(result.unmutated, [], `no write stored without the cap (${result.unmutated.length} of ${result.writes})`);

  // read every stored object back: the last write to each must be what is stored, capped
  const stored = await c.json(['-n', ns, 'get', 'scaledobjects']);
  t.equal(stored.items.length, result.last.size, 'every created object is stored');
  const wrong = (stored.items as any[]).filter((o) => !mutated(o, result.last.get(o.metadata.name) ?? -1)).map((o) => o.metadata.name);
  t.same(wrong, [], 'every stored object carries the cap and its last declared max');
  const pods = await c.pods();
  t.equal(pods.length, 2, 'two replicas again');
});

t.test('deleting the leader Pod: another replica takes the Lease and runs the timer within the Lease duration', async (t) => {
  const lease = await waitFor('a Lease holder', async () => {
    const l = await c.json(['-n', NS, 'get', 'lease', 'keda-carbon-retouch']);
    return l.spec?.holderIdentity ? l : null;
  });
  // the identity is the Pod's name, with a suffix that tells one process from the next
  const podOf = (identity: string | undefined): string | undefined => identity?.replace(/_[0-9a-f]+$/, '');
  const durationMs = lease.spec.leaseDurationSeconds * 1000;
  const pods = await c.pods();
  const holder = pods.find((p) => p.metadata.name === podOf(lease.spec.holderIdentity))?.metadata.name as string;
  const survivor = pods.find((p) => p.metadata.name !== holder)?.metadata.name as string;
  t.ok(holder && survivor, `the Lease holder ${lease.spec.holderIdentity} is a running replica (${holder}), ${survivor} the other`);
  const deleted = Date.now();
  await c.must(['-n', NS, 'delete', 'pod', holder, '--wait=false']);
  // The leaving replica releases the Lease at SIGTERM, so the first replica to ask takes it:
  // the survivor, or the replacement the ReplicaSet starts at once (it asks as it starts).
  // polling adds up to one kubectl round trip to what is measured
  const taken = await waitFor(
    'another replica holding the Lease',
    async () => {
      const l = await c.json(['-n', NS, 'get', 'lease', 'keda-carbon-retouch']);
      const pod = podOf(l.spec?.holderIdentity);
      return pod && pod !== holder ? { at: Date.now(), pod } : null;
    },
    durationMs + 3_000,
    250,
  ).catch(async (err: Error) => {
    const tail = (await c.logs(survivor).catch(() => [])).slice(-20);
    t.fail(err.message, { survivorLogs: tail });
    return null;
  });
  if (!taken) return;
  t.comment(
    `Lease taken over by ${taken.pod === survivor ? 'the survivor' : 'the replacement'} ${((taken.at - deleted) / 1000).toFixed(1)} s after the leader Pod was deleted (Lease duration ${durationMs / 1000} s)`,
  );
  const logs = await waitFor(
    `a sweep on ${taken.pod}`,
    async () => {
      const l = await c.logs(taken.pod);
      const became = l.findIndex((x) => x.msg === 'became the leader: running the re-touch timer');
      return became >= 0 && l.slice(became).some((x) => x.msg === 'sweep finished') ? l : null;
    },
    durationMs + 30_000,
    1_000,
  );
  t.ok(logs, `the timer ran on the new holder ${taken.pod}`);
  const rolled = await c.run(['-n', NS, 'rollout', 'status', DEPLOY, '--timeout=180s'], undefined, 200_000);
  t.equal(rolled.status, 0, 'a replacement replica is Ready');
});

t.test('certificate rotation as certs-scripts/README.md says: no call fails, the overlay holds what the cluster holds', async (t) => {
  const ns = `${TEAM}-rotate`;
  await c.must(['create', 'namespace', ns]);
  await c.must(['label', 'namespace', ns, 'keda-carbon.io/policy=always']);
  await waitFor(
    'the label seen',
    async () =>
      mutated(JSON.parse(await c.must(['create', '-o', 'json', '-f', '-'], scaledObject(ns, 'probe', 29))), 29) ||
      (await c.run(['-n', ns, 'delete', 'scaledobject', 'probe']), false),
    60_000,
    2_000,
  );
  const before = await c.json(['get', 'mutatingwebhookconfiguration', 'keda-carbon']);

  const rotation = certsScript(tree.dir, 'rotate.sh', ['--apply-dir', tree.mine], kubeconfig, 400_000);
  const writes = await writeUntil(c, ns, 'r', rotation, (o, max) => mutated(o, max));
  const rotated = await rotation;
  t.equal(rotated.status, 0, `rotate.sh ${rotated.stderr}`);
  t.comment(`rotation: ${writes.writes} writes, ${writes.failed.length} failed, ${writes.unmutated.length} stored unmutated`);
  t.same(writes.failed, [], 'no write failed during the rotation');
  t.same(writes.unmutated, [], 'no write stored without the cap during the rotation');

  const after = await c.json(['get', 'mutatingwebhookconfiguration', 'keda-carbon']);
  const bundle: string = after.webhooks[0].clientConfig.caBundle;
  t.not(bundle, before.webhooks[0].clientConfig.caBundle, 'the caBundle changed');
  const patch = await readFile(join(tree.overlay, 'ca-bundle.patch.yaml'), 'utf8');
  t.ok(patch.includes(`value: ${bundle}`), 'the overlay holds the caBundle the cluster holds');
  const secret = await c.json(['-n', NS, 'get', 'secret', 'keda-carbon-tls']);
  t.equal(
    Buffer.from(secret.data['tls.crt'], 'base64').toString(),
    await readFile(join(tree.overlay, 'tls/tls.crt'), 'utf8'),
    'the overlay holds the certificate the cluster holds',
  );
  t.equal(Buffer.from(bundle, 'base64').toString(), await readFile(join(tree.overlay, 'tls/ca.crt'), 'utf8'), 'one CA: the one that signed it');

  const again = await applyKustomization(c, tree.mine);
  t.equal(again.status, 0, `the next apply --server-side -k succeeds ${again.stderr}`);
  const still = await c.json(['get', 'mutatingwebhookconfiguration', 'keda-carbon']);
  t.equal(still.webhooks[0].clientConfig.caBundle, bundle, 'and keeps the rotated caBundle');
  const o = JSON.parse(await c.must(['create', '-o', 'json', '-f', '-'], scaledObject(ns, 'after', 40)));
  t.ok(mutated(o, 40), 'the webhook is reached with the new certificate');
});

/** VmRSS and VmHWM (peak) of the webhook process (PID 1 of the container), in MiB. */
async function rss(pod: string): Promise<{ rss: number; peak: number }> {
  const status = await c.must(['-n', NS, 'exec', pod, '--', 'cat', '/proc/1/status']);
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kib('VmRSS') / 1024), peak: Math.round(kib('VmHWM') / 1024) };
}

t.test('memory: idle and loaded RSS stay under the request and the limit', async (t) => {
  const pods = await c.pods();
  const pod = pods[0];
  const idle = await rss(pod.metadata.name);
  const resources = pod.spec.containers[0].resources;
  const mib = (q: string) => (q.endsWith('Mi') ? Number(q.slice(0, -2)) : q.endsWith('Gi') ? Number(q.slice(0, -2)) * 1024 : NaN);
  // 4,000 reviews, 8 at a time, straight to this Pod (bounded in count and time)
  const body = JSON.stringify(withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'always' }));
  const ca = await readFile(join(tree.overlay, 'tls/ca.crt'), 'utf8');
  const agent = new Agent({ keepAlive: true, maxSockets: 8, ca, servername: 'keda-carbon.keda-carbon.svc' });
  t.teardown(() => agent.destroy());
  let sent = 0;
  let ok = 0;
  const errors: string[] = [];
  const end = Date.now() + 120_000;
  const worker = async () => {
    while (sent < 4000 && Date.now() < end) {
      sent++;
      const status = await post(pod.status.podIP, body, agent);
      if (status === '200') ok++;
      else if (errors.length < 5) errors.push(status);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const loaded = await rss(pod.metadata.name);
  t.comment(
    `memory: idle RSS ${idle.rss} MiB; after ${ok} reviews RSS ${loaded.rss} MiB, peak ${loaded.peak} MiB; request ${resources.requests.memory}, limit ${resources.limits.memory}`,
  );
  t.same(errors, [], 'no review failed');
  t.equal(ok, sent, 'every review answered 200');
  t.ok(idle.rss <= mib(resources.requests.memory), `idle RSS ${idle.rss} MiB within the request ${resources.requests.memory}`);
  t.ok(loaded.peak <= mib(resources.limits.memory) * 0.75, `peak RSS ${loaded.peak} MiB leaves a quarter of the limit ${resources.limits.memory} free`);
});

/** '200', another status, or the error's message. */
function post(ip: string, body: string, agent: Agent): Promise<string> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      { host: ip, port: 8443, path: '/mutate', method: 'POST', agent, timeout: 10_000, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(res.statusCode === 200 ? '200' : `${res.statusCode}: ${text.slice(0, 200)}`));
      },
    );
    req.on('error', (err) => resolve(err.message));
    req.on('timeout', () => req.destroy(new Error('timed out after 10 s')));
    req.end(body);
  });
}

t.test('uninstall as docs/install.md says: restore first gives every max back, then the delete runs without error, also a second time', async (t) => {
  const ours = (o: any) => Object.keys(o.metadata.annotations ?? {}).filter((k) => k.startsWith('keda-carbon.io/'));
  const all = await c.json(['get', 'scaledobjects', '-A']);
  const capped = (all.items as any[]).filter((o) => o.metadata.namespace.startsWith(TEAM) && o.metadata.annotations?.[DECLARED] !== undefined);
  t.ok(capped.length > 10, `objects capped before the uninstall (${capped.length})`);
  const restored = await cli(['restore', '-A', '--webhook-config', 'keda-carbon', '--deployment', `${NS}/keda-carbon`]);
  t.equal(restored.status, 0, `keda-carbon restore ${restored.stdout.slice(-500)}${restored.stderr}`);
  const after = await c.json(['get', 'scaledobjects', '-A']);
  const wrong = capped
    .map((b) => [b, (after.items as any[]).find((o) => o.metadata.uid === b.metadata.uid)])
    .filter(([b, o]) => !o || o.spec.maxReplicaCount !== Number(b.metadata.annotations[DECLARED]) || ours(o).length > 0)
    .map(([b, o]) => `${b.metadata.namespace}/${b.metadata.name}: ${o ? `max ${o.spec.maxReplicaCount}, ${ours(o).join(' ')}` : 'gone'}`);
  t.same(wrong, [], 'every capped object is back at its declared max with no annotation of ours');
  for (const round of [1, 2]) {
    const hook = await c.run(['delete', 'mutatingwebhookconfiguration', 'keda-carbon', '--ignore-not-found']);
    t.equal(hook.status, 0, `round ${round}: delete mutatingwebhookconfiguration ${hook.stderr}`);
    const rest = await deleteKustomization(c, tree.mine);
    t.equal(rest.status, 0, `round ${round}: delete -k --ignore-not-found ${rest.stderr}`);
  }
  const left = await c.run(['get', 'mutatingwebhookconfiguration', 'keda-carbon']);
  t.not(left.status, 0, 'the webhook configuration is gone');
  const o = JSON.parse(await c.must(['create', '-o', 'json', '-f', '-'], scaledObject(TEAM, 'after-uninstall', 33)));
  t.equal(o.spec.maxReplicaCount, 33, 'a write after the uninstall is stored as written');
});

/** The keda-carbon command of this checkout, against the node's cluster. */
function cli(args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [...process.execArgv, join(ROOT, 'src/cli/main.ts'), ...args, '--kubeconfig', kubeconfig!],
      { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const status = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        done({ status, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}
