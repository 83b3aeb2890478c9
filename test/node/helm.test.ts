/**
 * The Helm install as a platform team runs it, on a real node: the released chart into a
 * namespace that is not keda-carbon, with the default self-managed certificates (made short
 * lived here, so a renewal happens during the test), `helm test`, an upgrade and a rollback
 * under a client writing once a second, and `helm uninstall` giving every max back.
 * Runs under .ci/node.sh (npm run test:node); skips otherwise.
 */
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { addHostsLine, NodeCluster, nodeKubeconfig, ROOT, type Run, SKIP_MESSAGE, scaledObject, waitFor, writeUntil } from '../helpers/node-cluster.js';

const kubeconfig = nodeKubeconfig();
if (!kubeconfig) {
  t.plan(0, SKIP_MESSAGE);
  process.exit(0);
}
const c = new NodeCluster(kubeconfig);
const image = process.env.KEDA_CARBON_NODE_IMAGE ?? 'localhost/keda-carbon:node-test';
const version = (await import(join(ROOT, 'package.json'), { with: { type: 'json' } })).default.version as string;
const packaged = process.env.KEDA_CARBON_RELEASE_DIR ? join(process.env.KEDA_CARBON_RELEASE_DIR, `keda-carbon-${version}.tgz`) : '';
const CHART = packaged && existsSync(packaged) ? packaged : join(ROOT, 'webhook-config/chart');
const HELM = join(ROOT, '.tools/bin/helm');
const suffix = randomBytes(2).toString('hex');
const NS = `carbon-${suffix}`;
const TEAM = `helm-team-${suffix}`;
const RELEASE = 'keda-carbon';
const CAP = 3;
const DECLARED = 'keda-carbon.io/declared-max-replica-count';
const CONFIG = {
  intensity: { provider: 'sample', location: 'DE', refreshInterval: '5m', maxDataAge: '2h' },
  // `always` caps at any intensity, so the cap does not depend on the hour the test runs at
  policies: { always: { carbon: [{ measuredEmission: 0, allowedMaxReplicaCount: CAP }] } },
  defaultPolicy: null,
  touch: { interval: '1h', followForecast: true },
  invalidPolicy: 'deny',
};

function helm(args: string[], timeoutMs = 400_000): Promise<Run> {
  return new Promise((done) => {
    execFile(HELM, [...args, '--kubeconfig', kubeconfig!], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      done({ status: code, stdout: String(stdout), stderr: String(stderr) || (err && code !== 0 ? err.message : '') });
    });
  });
}

function imageValues(ref: string): string[] {
  const at = ref.lastIndexOf(':');
  const [name, tag] = at > ref.lastIndexOf('/') ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, 'latest'];
  const slash = name.indexOf('/');
  return ['--set', `image.registry=${name.slice(0, slash)}`, '--set', `image.repository=${name.slice(slash + 1)}`, '--set', `image.tag=${tag}`];
}

/** True when the stored object carries our cap for a declared max of `max`. */
function mutated(o: any, max: number): boolean {
  return o?.spec?.maxReplicaCount === CAP && o?.metadata?.annotations?.[DECLARED] === String(max);
}

const removeHosts: Array<() => Promise<void>> = [];
t.teardown(async () => {
  for (const r of removeHosts) await r();
  await helm(['uninstall', RELEASE, '-n', NS, '--ignore-not-found', '--no-hooks']);
});

async function servingCert(): Promise<X509Certificate | null> {
  const s = await c.run(['-n', NS, 'get', 'secret', `${RELEASE}-tls`, '-o', 'json']);
  const pem = s.status === 0 ? JSON.parse(s.stdout).data?.['tls.crt'] : undefined;
  return pem ? new X509Certificate(Buffer.from(pem, 'base64')) : null;
}

t.test(`helm install into ${NS}: two Ready replicas, certificates made in the cluster, a cap through the Service, helm test`, async (t) => {
  const installed = await helm([
    'install',
    RELEASE,
    CHART,
    '-n',
    NS,
    '--create-namespace',
    ...imageValues(image),
    '--set-json',
    `config=${JSON.stringify(CONFIG)}`,
    // renewed at two thirds of its life: a renewal every two minutes while the tests below run
    '--set',
    'certificates.certValidity=3m',
    '--wait',
    '--timeout',
    '5m',
  ]);
  t.equal(installed.status, 0, `helm install ${installed.stderr}`);
  if (installed.status !== 0) {
    t.comment(await c.must(['-n', NS, 'get', 'pods', '-o', 'wide']));
    t.comment((await c.run(['-n', NS, 'logs', '-l', 'app.kubernetes.io/name=keda-carbon', '--tail=40'])).stdout);
    return;
  }
  const pods = await c.json(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/component=webhook']);
  const ready = (pods.items as any[]).filter((p) => p.status.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True'));
  t.equal(ready.length, 2, 'two replicas are Ready');

  const cert = await servingCert();
  t.ok(cert, 'serve filled the Secret the chart created empty');
  t.ok(cert?.subjectAltName?.includes(`DNS:${RELEASE}.${NS}.svc`), `the certificate names ${RELEASE}.${NS}.svc: ${cert?.subjectAltName}`);
  const mwc = await c.json(['get', 'mutatingwebhookconfiguration', RELEASE]);
  const bundle = Buffer.from(mwc.webhooks[0].clientConfig.caBundle ?? '', 'base64').toString();
  t.ok(
    cert && bundle.includes('BEGIN CERTIFICATE') && cert.checkIssued(new X509Certificate(bundle.slice(bundle.indexOf('-----BEGIN')))),
    'the caBundle holds the CA that issued it',
  );

  const svc = await c.json(['-n', NS, 'get', 'service', RELEASE]);
  removeHosts.push(await addHostsLine(svc.spec.clusterIP, `${RELEASE}.${NS}.svc`));
  await c.must(['create', 'namespace', TEAM]);
  await c.must(['label', 'namespace', TEAM, 'keda-carbon.io/policy=always']);
  const capped = await waitFor(
    'a ScaledObject capped through the Service',
    async () => {
      await c.run(['-n', TEAM, 'delete', 'scaledobject', 'web', '--ignore-not-found']);
      const o = JSON.parse(await c.must(['create', '-o', 'json', '-f', '-'], scaledObject(TEAM, 'web', 20)));
      return mutated(o, 20) ? o : null;
    },
    90_000,
    2_000,
  );
  t.equal(capped.spec.maxReplicaCount, CAP, 'capped in storage');

  const tested = await helm(['test', RELEASE, '-n', NS, '--logs', '--timeout', '3m']);
  t.equal(tested.status, 0, `helm test ${tested.stdout}${tested.stderr}`);
});

t.test('a serving certificate renewed in the cluster under a client writing once a second: no write fails, none unmutated', async (t) => {
  const before = await servingCert();
  t.ok(before, 'a serving certificate to start with');
  const renewed = waitFor(
    'a renewed serving certificate',
    async () => {
      const now = await servingCert();
      return now && now.serialNumber !== before?.serialNumber ? now : null;
    },
    240_000,
    2_000,
  ).then(
    // writes go on for a while after the Secret changed: every replica reloads it
    (cert) => new Promise<X509Certificate>((r) => setTimeout(() => r(cert), 20_000)),
  );
  const writes = await writeUntil(c, `${TEAM}`, 'renew', renewed, (o, max) => mutated(o, max));
  const after = await renewed;
  t.comment(`renewal: ${writes.writes} writes, ${writes.failed.length} failed, ${writes.unmutated.length} stored unmutated`);
  t.not(after.serialNumber, before?.serialNumber, 'the Secret holds a new serving certificate');
  t.same(writes.failed, [], 'no write failed');
  t.same(writes.unmutated, [], 'no write was stored unmutated');
});

async function underWrites(t: Test, what: string, prefix: string, action: () => Promise<Run>): Promise<void> {
  const done = action();
  const writes = await writeUntil(c, TEAM, prefix, done, (o, max) => mutated(o, max));
  const r = await done;
  t.equal(r.status, 0, `${what} ${r.stderr}`);
  t.comment(`${what}: ${writes.writes} writes, ${writes.failed.length} failed, ${writes.unmutated.length} stored unmutated`);
  t.same(writes.failed, [], `no write failed during ${what}`);
  t.same(writes.unmutated, [], `no write was stored unmutated during ${what}`);
}

async function runningImages(): Promise<string[]> {
  const pods = await c.json(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/component=webhook']);
  return [...new Set((pods.items as any[]).filter((p) => !p.metadata.deletionTimestamp).map((p) => p.spec.containers[0].image as string))];
}

t.test('helm upgrade to another image tag and changed values, then helm rollback, under a client writing once a second', async (t) => {
  const next = `${image.slice(0, image.lastIndexOf(':'))}:next-${suffix}`;
  const tagged = await tagInNode(image, next);
  t.equal(tagged.status, 0, `tag ${next} in the node's containerd ${tagged.stderr}`);
  await underWrites(t, 'helm upgrade', 'up', () =>
    helm([
      'upgrade',
      RELEASE,
      CHART,
      '-n',
      NS,
      '--reuse-values',
      ...imageValues(next),
      '--set',
      'config.touch.interval=30m',
      '--set',
      'podLabels.tier=carbon',
      '--wait',
      '--timeout',
      '5m',
    ]),
  );
  t.same(await runningImages(), [next], 'the replicas run the new tag');
  await underWrites(t, 'helm rollback', 'back', () => helm(['rollback', RELEASE, '1', '-n', NS, '--wait', '--timeout', '5m']));
  t.same(await runningImages(), [image], 'the replicas run the first tag again');
});

function tagInNode(from: string, to: string): Promise<Run> {
  const sock = join(process.env.K8S_HOME ?? '', 'node/containerd/containerd.sock');
  return new Promise((done) => {
    execFile('ctr', ['--address', sock, '-n', 'k8s.io', 'images', 'tag', '--force', from, to], (err, stdout, stderr) =>
      done({ status: err ? 1 : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

t.test('helm uninstall: every capped object back at its declared max, no annotation of ours, the webhook gone', async (t) => {
  const before = await c.json(['-n', TEAM, 'get', 'scaledobjects']);
  const capped = (before.items as any[]).filter((o) => o.metadata.annotations?.[DECLARED] !== undefined);
  t.ok(capped.length > 10, `objects capped before the uninstall (${capped.length})`);
  const removed = await helm(['uninstall', RELEASE, '-n', NS, '--wait', '--timeout', '5m']);
  t.equal(removed.status, 0, `helm uninstall ${removed.stdout}${removed.stderr}`);

  const after = await c.json(['-n', TEAM, 'get', 'scaledobjects']);
  const wrong = (after.items as any[])
    .filter((o) => {
      const was = capped.find((b) => b.metadata.name === o.metadata.name);
      const ours = Object.keys(o.metadata.annotations ?? {}).filter((k) => k.startsWith('keda-carbon.io/'));
      return ours.length > 0 || (was && o.spec.maxReplicaCount !== Number(was.metadata.annotations[DECLARED]));
    })
    .map((o) => `${o.metadata.name}: max ${o.spec.maxReplicaCount}, annotations ${JSON.stringify(o.metadata.annotations)}`);
  t.same(wrong, [], 'every object at its declared max with no keda-carbon annotation');
  const mwc = await c.run(['get', 'mutatingwebhookconfiguration', RELEASE]);
  t.not(mwc.status, 0, 'the MutatingWebhookConfiguration is gone');
  const o = JSON.parse(await c.must(['create', '-o', 'json', '-f', '-'], scaledObject(TEAM, 'after-uninstall', 33)));
  t.equal(o.spec.maxReplicaCount, 33, 'a write after the uninstall is stored as written');
  t.notOk(o.metadata.annotations?.[DECLARED], 'with no annotation of ours');
});
