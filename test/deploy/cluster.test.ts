/**
 * Applies the manifests to a real kube-apiserver (the shared loopback control plane, see
 * KEDA_CARBON_K8S_DIR) that this file starts on free ports and stops again. Opt-in:
 * KEDA_CARBON_E2E=1. Every kubectl call names this cluster's kubeconfig explicitly, so no
 * other cluster is ever touched.
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { runCerts } from '../../src/cli/certs.js';
import { compose } from '../helpers/manifests.js';
import { requireTools } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CONFIG = join(ROOT, 'webhook-config');
const K8S_DIR = resolve(ROOT, process.env.KEDA_CARBON_K8S_DIR ?? '../shared/k8s');
const SA = 'system:serviceaccount:keda-carbon:keda-carbon';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: any };

if (!process.env.KEDA_CARBON_E2E) {
  t.plan(0, 'KEDA_CARBON_E2E is not set: not starting a control plane (set it to 1 to run these tests)');
  process.exit(0);
}
const KUBECTL = requireTools(t, ['kubectl']).kubectl;
if (!existsSync(join(K8S_DIR, 'up.sh'))) {
  t.plan(0, `no control plane scripts at ${K8S_DIR} (set KEDA_CARBON_K8S_DIR)`);
  process.exit(0);
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

function render(dir: string): Obj[] {
  const out = execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return parseAllDocuments(out).map((d) => d.toJS() as Obj);
}

const work = await mkdtemp(join(tmpdir(), 'keda-carbon-cluster-'));
const k8sHome = join(work, 'k8s');
const env: NodeJS.ProcessEnv = {
  ...process.env,
  K8S_HOME: k8sHome,
  K8S_API_PORT: String(await freePort()),
  K8S_CRD_PORT: String(await freePort()),
  K8S_ETCD_PORT: String(await freePort()),
  K8S_ETCD_PEER_PORT: String(await freePort()),
  K8S_CRD_DIR: join(work, 'crds'),
};
delete env.KUBECONFIG;

// The CRDs live on the apiextensions-apiserver behind an APIService, where kubectl cannot
// reach them by name (`kubectl get crd` is empty). up.sh installs whatever K8S_CRD_DIR
// holds, so the component's rendered CRDs are handed to it under the file names it expects.
const crds = render(await compose(join(work, 'crd-kust'), [], [join(CONFIG, 'components/environmental-impact-crd')]));
await mkdir(join(work, 'crds'));
for (const crd of crds) {
  const file = crd.metadata.name === 'scaledobjects.keda.sh' ? 'keda.sh_scaledobjects.yaml' : 'keda.sh_scaledjobs.yaml';
  await writeFile(join(work, 'crds', file), stringify(crd));
}

t.teardown(async () => {
  spawnSync('bash', [join(K8S_DIR, 'down.sh'), '--purge'], { env, stdio: 'ignore' });
  await rm(work, { recursive: true, force: true });
});

const up = spawnSync('bash', [join(K8S_DIR, 'up.sh')], { env, encoding: 'utf8', timeout: 180_000 });
if (up.status !== 0) {
  t.fail(`the control plane did not start: ${up.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  process.exit(1);
}
const kubeconfig = up.stdout.trim().split('\n').pop()!;
env.KUBECONFIG = kubeconfig;

function kubectl(args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { env, input, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}
function mustKubectl(args: string[], input?: string): string {
  const r = kubectl(args, input);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** kubectl's answer for the ServiceAccount: true for "yes", false for "no". */
function can(verb: string, resource: string, namespace?: string): boolean {
  const r = kubectl(['auth', 'can-i', verb, resource, `--as=${SA}`, ...(namespace ? ['-n', namespace] : [])]);
  const answer = r.stdout.trim();
  if (answer !== 'yes' && answer !== 'no') throw new Error(`can-i ${verb} ${resource}: ${r.stderr}`);
  return answer === 'yes';
}

t.test('the manifests apply, and the ServiceAccount has exactly its rights', async (t) => {
  const objs = render(
    await compose(
      join(work, 'install'),
      [join(CONFIG, 'overlays/in-cluster')],
      [join(CONFIG, 'components/exporter-configmap-rbac'), join(CONFIG, 'components/location-auto-rbac')],
      `namespace: keda-carbon\ntransformers: [${relative(join(work, 'install'), join(CONFIG, 'namespace'))}]\n`,
    ),
  );
  const served = new Set(mustKubectl(['api-versions']).trim().split('\n'));
  const applied = objs.map((o) => {
    // policy/v1 PodDisruptionBudget arrived in Kubernetes 1.21; this control plane is 1.20,
    // whose policy/v1beta1 has the same fields
    if (o.kind === 'PodDisruptionBudget' && !served.has('policy/v1')) return { ...o, apiVersion: 'policy/v1beta1' };
    return o;
  });
  for (const o of applied) t.ok(served.has(o.apiVersion), `${o.apiVersion} is served (${o.kind})`);
  const r = kubectl(['apply', '--server-side', '--field-manager=keda-carbon-test', '-f', '-'], applied.map((o) => stringify(o)).join('---\n'));
  t.equal(r.status, 0, `server-side apply succeeds ${r.stderr}`);
  t.equal(r.stdout.trim().split('\n').length, applied.length, 'every object applied');

  mustKubectl(['create', 'namespace', 'team-a']);
  const allowed: Array<[string, string, string?]> = [
    ['list', 'scaledobjects.keda.sh', 'team-a'],
    ['watch', 'scaledobjects.keda.sh', 'team-a'],
    ['patch', 'scaledobjects.keda.sh', 'team-a'],
    ['list', 'scaledjobs.keda.sh', 'team-a'],
    ['patch', 'scaledjobs.keda.sh', 'team-a'],
    ['get', 'namespaces'],
    ['list', 'namespaces'],
    ['watch', 'namespaces'],
    ['create', 'events', 'team-a'],
    ['get', 'leases.coordination.k8s.io', 'keda-carbon'],
    ['create', 'leases.coordination.k8s.io', 'keda-carbon'],
    ['update', 'leases.coordination.k8s.io', 'keda-carbon'],
    ['get', 'configmaps/carbon-intensity', 'kube-system'],
    ['watch', 'configmaps/carbon-intensity', 'kube-system'],
    ['get', 'nodes/node-1'],
    // self-managed certificates: that one Secret and that one webhook configuration
    ['get', 'secrets/keda-carbon-tls', 'keda-carbon'],
    ['update', 'secrets/keda-carbon-tls', 'keda-carbon'],
    ['get', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/keda-carbon'],
    ['update', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/keda-carbon'],
  ];
  const denied: Array<[string, string, string?]> = [
    // serve reads and replaces (PUT) its Secret and webhook configuration; it never patches them
    ['patch', 'secrets/keda-carbon-tls', 'keda-carbon'],
    ['patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/keda-carbon'],
    ['get', 'scaledobjects.keda.sh', 'team-a'],
    ['create', 'scaledobjects.keda.sh', 'team-a'],
    ['update', 'scaledobjects.keda.sh', 'team-a'],
    ['delete', 'scaledobjects.keda.sh', 'team-a'],
    ['delete', 'scaledjobs.keda.sh', 'team-a'],
    ['patch', 'namespaces'],
    ['delete', 'namespaces'],
    ['patch', 'events', 'team-a'],
    ['update', 'events', 'team-a'],
    ['list', 'configmaps/carbon-intensity', 'kube-system'],
    ['get', 'events', 'team-a'],
    ['list', 'events', 'team-a'],
    ['delete', 'events', 'team-a'],
    ['create', 'leases.coordination.k8s.io', 'team-a'],
    ['delete', 'leases.coordination.k8s.io', 'keda-carbon'],
    ['patch', 'leases.coordination.k8s.io', 'keda-carbon'],
    ['create', 'events.events.k8s.io', 'team-a'],
    ['get', 'configmaps/other', 'kube-system'],
    ['list', 'configmaps', 'kube-system'],
    ['get', 'configmaps', 'team-a'],
    ['update', 'configmaps/carbon-intensity', 'kube-system'],
    ['get', 'secrets', 'keda-carbon'],
    ['list', 'secrets', 'team-a'],
    ['list', 'nodes'],
    ['patch', 'nodes/node-1'],
    ['create', 'pods', 'keda-carbon'],
    ['get', 'deployments.apps', 'team-a'],
    ['patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io'],
    ['patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/other'],
    ['delete', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/keda-carbon'],
    ['get', 'secrets/other', 'keda-carbon'],
    ['delete', 'secrets/keda-carbon-tls', 'keda-carbon'],
    ['create', 'secrets', 'keda-carbon'],
    ['get', 'secrets/keda-carbon-tls', 'team-a'],
    ['create', 'clusterrolebindings.rbac.authorization.k8s.io'],
    ['escalate', 'clusterroles.rbac.authorization.k8s.io'],
    ['impersonate', 'serviceaccounts', 'keda-carbon'],
    ['*', '*'],
  ];
  for (const [verb, res, ns] of allowed) t.equal(can(verb, res, ns), true, `allowed: ${verb} ${res}${ns ? ` in ${ns}` : ''}`);
  for (const [verb, res, ns] of denied) t.equal(can(verb, res, ns), false, `denied: ${verb} ${res}${ns ? ` in ${ns}` : ''}`);
});

t.test('keda-carbon certs: Secret manifest applies, caBundle patched through the API', async (t) => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env: {} };
  t.equal(await runCerts(['--service', 'keda-carbon', '--namespace', 'keda-carbon', '--secret-manifest'], io), 0, err.join(''));
  // Switching from the in-cluster overlay: its Secret is Opaque (it starts empty), and a
  // Secret's type cannot change, so it goes first (docs/install.md says so too)
  const switching = kubectl(['apply', '-f', '-'], out.join(''));
  t.match(switching.stderr, /field is immutable/, 'the Opaque Secret of the in-cluster mode cannot become kubernetes.io/tls in place');
  mustKubectl(['delete', 'secret', 'keda-carbon-tls', '-n', 'keda-carbon']);
  const r = kubectl(['apply', '-f', '-'], out.join(''));
  t.equal(r.status, 0, `Secret applies ${r.stderr}`);
  const secret = JSON.parse(mustKubectl(['get', 'secret', '-n', 'keda-carbon', 'keda-carbon-tls', '-o', 'json']));
  t.equal(secret.type, 'kubernetes.io/tls');
  t.same(Object.keys(secret.data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);

  out.length = 0;
  err.length = 0;
  const dir = join(work, 'certs-out');
  const code = await runCerts(
    ['--service', 'keda-carbon', '--namespace', 'keda-carbon', '--out-dir', dir, '--patch-webhook', 'keda-carbon', '--kubeconfig', kubeconfig],
    io,
  );
  t.equal(code, 0, err.join(''));
  t.match(err.join(''), /patched caBundle into 1 webhook\(s\) of MutatingWebhookConfiguration keda-carbon/);
  const caBundle = out.join('').trim();
  const mwc = JSON.parse(mustKubectl(['get', 'mutatingwebhookconfiguration', 'keda-carbon', '-o', 'json']));
  t.equal(mwc.webhooks[0].clientConfig.caBundle, caBundle, 'the API server now holds the new caBundle');
  t.equal(Buffer.from(caBundle, 'base64').toString(), await readFile(join(dir, 'ca.crt'), 'utf8'), 'caBundle is ca.crt');
  t.ok(new X509Certificate(await readFile(join(dir, 'tls.crt'))).checkHost('keda-carbon.keda-carbon.svc'));
  t.equal(mwc.webhooks[0].failurePolicy, 'Ignore', 'the rest of the webhook is untouched');

  err.length = 0;
  const missing = await runCerts(
    ['--service', 'keda-carbon', '--namespace', 'keda-carbon', '--out-dir', join(work, 'certs-2'), '--patch-webhook', 'nope', '--kubeconfig', kubeconfig],
    io,
  );
  t.equal(missing, 1);
  t.match(err.join(''), /MutatingWebhookConfiguration nope not found/);
});

const scaledObject = (name: string, impact: unknown) => ({
  apiVersion: 'keda.sh/v1alpha1',
  kind: 'ScaledObject',
  metadata: { name, namespace: 'team-a' },
  spec: {
    scaleTargetRef: { name: 'web' },
    maxReplicaCount: 100,
    triggers: [{ type: 'cpu', metricType: 'Utilization', metadata: { value: '60' } }],
    environmentalImpact: impact,
  },
});
const scaledJob = (name: string, impact: unknown) => ({
  apiVersion: 'keda.sh/v1alpha1',
  kind: 'ScaledJob',
  metadata: { name, namespace: 'team-a' },
  spec: {
    jobTargetRef: { template: { spec: { containers: [{ name: 'work', image: 'busybox' }], restartPolicy: 'Never' } } },
    maxReplicaCount: 20,
    triggers: [{ type: 'cron', metadata: { timezone: 'UTC', start: '0 * * * *', end: '30 * * * *', desiredReplicas: '1' } }],
    environmentalImpact: impact,
  },
});

// the document of PRODUCT.md section 1, and its Azure-operator form
const productExample = {
  carbon: [
    { measuredEmission: 300, allowedMaxReplicaCount: 50 },
    { measuredEmission: 500, allowedMaxReplicaCount: 10 },
  ],
  ecoModeOff: {
    recurringSchedule: ['* 23 * * 1-5'],
    timeZone: 'Europe/Amsterdam',
    windows: [{ start: '2026-12-24T00:00:00Z', end: '2026-12-27T00:00:00+01:00' }],
    carbonIntensityDuration: { carbonIntensityThreshold: 555, overrideEcoAfterDurationInMins: 45 },
  },
  onMissingData: 'declared',
};
const relativeExample = {
  carbon: [
    { measuredEmission: 'p80', allowedMaxReplicaCount: '25%' },
    { measuredEmission: 412.5, allowedMaxReplicaCount: 2 },
  ],
  relativeWindow: { past: '24h', ahead: '12h' },
  mode: 'observe',
};
const azureExample = {
  maxReplicasByCarbonIntensity: [
    { carbonIntensityThreshold: 250, maxReplicas: 20 },
    { carbonIntensityThreshold: 500, maxReplicas: 5 },
  ],
};

t.test('the CRD component: spec.environmentalImpact is kept and validated by the API server', async (t) => {
  const apply = (o: object) => kubectl(['create', '-f', '-'], JSON.stringify(o));
  const cases: Array<[string, object, unknown]> = [
    ['so-product', scaledObject('so-product', productExample), productExample],
    ['so-percent', scaledObject('so-percent', { carbon: [{ measuredEmission: 0, allowedMaxReplicaCount: '50%' }], onMissingData: 3 }), null],
    ['so-azure', scaledObject('so-azure', azureExample), azureExample],
    ['sj-product', scaledJob('sj-product', productExample), productExample],
    ['so-relative', scaledObject('so-relative', relativeExample), relativeExample],
  ];
  for (const [name, obj, expect] of cases) {
    const r = apply(obj);
    t.equal(r.status, 0, `${name} accepted ${r.stderr}`);
    const kind = name.startsWith('sj') ? 'scaledjob' : 'scaledobject';
    const stored = JSON.parse(mustKubectl(['get', kind, '-n', 'team-a', name, '-o', 'json']));
    t.ok(stored.spec.environmentalImpact, `${name}: environmentalImpact stored, not pruned`);
    if (expect) t.same(stored.spec.environmentalImpact, expect, `${name}: stored as written`);
  }

  const rejected: Array<[string, object, RegExp]> = [
    [
      'allowedMaxReplicaCount 0',
      scaledObject('bad-3', { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 0 }] }),
      /allowedMaxReplicaCount.*greater than or equal to 1/,
    ],
    [
      'percentage over 100',
      scaledObject('bad-4', { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: '150%' }] }),
      /allowedMaxReplicaCount.*should match/,
    ],
    ['missing allowedMaxReplicaCount', scaledObject('bad-5', { carbon: [{ measuredEmission: 1 }] }), /allowedMaxReplicaCount: Required value/],
    ['both forms', scaledObject('bad-6', { ...productExample, ...azureExample }), /exactly one of carbon or maxReplicasByCarbonIntensity/],
    ['neither form', scaledObject('bad-7', { onMissingData: 'hold' }), /exactly one of carbon or maxReplicasByCarbonIntensity/],
    [
      'onMissingData unknown',
      scaledObject('bad-8', { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }], onMissingData: 'never' }),
      /onMissingData.*should match/,
    ],
    [
      'unknown field (strict validation)',
      scaledObject('bad-9', { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1, extra: true }] }),
      /unknown field "spec\.environmentalImpact\.carbon\[0\]\.extra"/,
    ],
    ['mode unknown', scaledObject('bad-13', { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }], mode: 'dry-run' }), /mode.*Unsupported value/],
    [
      'override minutes 0',
      scaledObject('bad-10', {
        carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }],
        ecoModeOff: { carbonIntensityDuration: { carbonIntensityThreshold: 1, overrideEcoAfterDurationInMins: 0 } },
      }),
      /overrideEcoAfterDurationInMins.*greater than or equal to 1/,
    ],
    [
      'window end before start',
      scaledObject('bad-14', { ...azureExample, ecoModeOff: { windows: [{ start: '2026-12-27T00:00:00Z', end: '2026-12-24T00:00:00Z' }] } }),
      /ecoModeOff\.windows\[0\]: Invalid value: .*end must be after start/,
    ],
    [
      'window time without offset',
      scaledObject('bad-15', { ...azureExample, ecoModeOff: { windows: [{ start: '2026-12-24T00:00:00', end: '2026-12-27T00:00:00Z' }] } }),
      /ecoModeOff\.windows\[0\]\.start.*should match/,
    ],
  ];
  // measuredEmission is a number or a percentile, which no structural type expresses: the
  // schema keeps it as given and the webhook refuses a bad one (test/core/policy.test.ts and its neighbours).
  for (const [what, obj, message] of rejected) {
    const r = apply(obj);
    t.not(r.status, 0, `refused: ${what}`);
    t.match(r.stderr, message, `${what}: the API server names the field`);
  }
});
