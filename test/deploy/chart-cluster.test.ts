/**
 * Every rendered install, Helm and kustomize, is accepted by a real API server (v1.20, the
 * oldest the chart supports): `kubectl apply --server-side --dry-run=server`, which runs
 * validation, defaulting and admission without storing anything. Runs against the cluster
 * KEDA_CARBON_E2E_KUBECONFIG names (.ci/cluster.sh starts one); the only things it creates are
 * namespaces with a random suffix, deleted again.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CHART, CONFIG, helm, helmTemplate, kustomize, type Obj, userOverlay } from '../helpers/manifests.js';
import { requireTools } from '../helpers/tools.js';
import { E2E_ENV, e2eKubeconfig } from '../e2e/cluster-env.js';

const kubeconfig = e2eKubeconfig();
if (!kubeconfig) {
  t.plan(0, `${E2E_ENV} is not set: no cluster to dry-run the manifests against`);
  process.exit(0);
}
const { kubectl: KUBECTL } = requireTools(t, ['kubectl', 'helm']);

function kubectl(args: string[], input?: string) {
  const r = spawnSync(KUBECTL, ['--kubeconfig', kubeconfig!, ...args], { input, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const suffix = randomBytes(3).toString('hex');
const namespaces = [`keda-carbon-${suffix}`, `team-x-${suffix}`];
// This control plane runs no controller-manager, so the `default` ServiceAccount a real
// cluster gives every namespace (the helm test Pod runs as it) is made here.
for (const ns of namespaces) {
  for (const args of [
    ['create', 'namespace', ns],
    ['create', 'serviceaccount', 'default', '-n', ns],
  ]) {
    const r = kubectl(args);
    if (r.status !== 0 && !r.stderr.includes('already exists')) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  }
}
t.teardown(() => {
  for (const ns of namespaces) kubectl(['delete', 'namespace', ns, '--wait=false']);
});

// Kinds this control plane has no API for: cert-manager's and the Prometheus Operator's
// CRDs are not installed, and the KEDA CRDs live on a separate apiextensions server that
// kubectl cannot write through. test/deploy/chart.test.ts checks those objects' content.
const UNSERVED = new Set(['Certificate', 'Issuer', 'ServiceMonitor', 'PrometheusRule', 'CustomResourceDefinition']);
const ALL_ON = [
  'crds.environmentalImpact',
  'rbac.exporterConfigMap.enabled',
  'rbac.hpaRead',
  'rbac.locationAuto',
  'monitoring.serviceMonitor.enabled',
  'monitoring.prometheusRule.enabled',
  'monitoring.dashboard.enabled',
].flatMap((k) => ['--set', `${k}=true`]);

const work = await mkdtemp(join(tmpdir(), 'keda-carbon-chart-cluster-'));
t.teardown(() => rm(work, { recursive: true, force: true }));
const COMPONENTS = ['environmental-impact-crd', 'exporter-configmap-rbac', 'hpa-read-rbac', 'location-auto-rbac', 'monitoring'].map((c) =>
  join(CONFIG, 'components', c),
);
const served = new Set(kubectl(['api-versions']).stdout.trim().split('\n'));
const [defaultNs, customNs] = namespaces as [string, string];
const cases: Array<[string, () => Obj[] | Promise<Obj[]>]> = [
  ['chart defaults', () => helmTemplate(['-n', defaultNs, '--kube-version', '1.20.0'])],
  ['chart, every component on', () => helmTemplate(['-n', defaultNs, '--kube-version', '1.20.0', ...ALL_ON])],
  ['chart, cert-manager mode', () => helmTemplate(['-n', defaultNs, '--kube-version', '1.20.0', '--set', 'certificates.mode=cert-manager'])],
  ['chart, custom namespace and release', () => helmTemplate(['-n', customNs, '--kube-version', '1.20.0', ...ALL_ON], 'carbon')],
  ['chart, NetworkPolicy off', () => helmTemplate(['-n', defaultNs, '--kube-version', '1.20.0', '--set', 'networkPolicy.enabled=false'])],
  [
    'kustomize in-cluster, every component, own namespace',
    async () => kustomize(await userOverlay(join(work, 'in-cluster'), 'in-cluster', COMPONENTS, defaultNs)),
  ],
  ['kustomize cert-manager, own namespace', async () => kustomize(await userOverlay(join(work, 'cert-manager'), 'cert-manager', [], customNs))],
];

for (const [name, render] of cases) {
  t.test(`${name}: the API server accepts every object (dry run)`, async (t) => {
    const objs = (await render())
      .filter((o) => !UNSERVED.has(o.kind))
      // policy/v1 arrived in 1.21; the kustomize base writes it, the chart picks by version
      .map((o) => (o.kind === 'PodDisruptionBudget' && !served.has(o.apiVersion) ? { ...o, apiVersion: 'policy/v1beta1' } : o));
    t.ok(objs.length >= 10, `${objs.length} objects to apply`);
    for (const o of objs) t.ok(served.has(o.apiVersion), `${o.kind} ${o.metadata.name}: ${o.apiVersion} is served`);
    const r = kubectl(
      ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '--field-manager=keda-carbon-chart-test', '-f', '-'],
      objs.map((o) => stringify(o)).join('---\n'),
    );
    t.equal(r.status, 0, `kubectl apply --dry-run=server: ${r.stderr}`);
    t.equal(r.stdout.trim().split('\n').length, objs.length, 'every object accepted');
  });
}

t.test("the chart's RBAC, applied: serve and the restore Job have exactly the rights the contract names", async (t) => {
  // Only the RBAC objects and ServiceAccounts are stored: a real webhook configuration would
  // be called by the other suites sharing this control plane.
  const release = `r${suffix}`;
  const rbac = helmTemplate(['-n', customNs, '--kube-version', '1.20.0'], release).filter((o) =>
    ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind),
  );
  const manifest = rbac.map((o) => stringify(o)).join('---\n');
  t.teardown(() => {
    kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], manifest);
  });
  const r = kubectl(['apply', '--server-side', '--field-manager=keda-carbon-chart-test', '-f', '-'], manifest);
  t.equal(r.status, 0, `apply: ${r.stderr}`);
  const full = `${release}-keda-carbon`;
  const can = (sa: string, verb: string, resource: string, ns?: string) => {
    const out = kubectl(['auth', 'can-i', verb, resource, `--as=system:serviceaccount:${customNs}:${sa}`, ...(ns ? ['-n', ns] : [])]).stdout.trim();
    return out === 'yes';
  };
  const MWC = 'mutatingwebhookconfigurations.admissionregistration.k8s.io';
  const cases: Array<[string, string, string, string | undefined, boolean]> = [
    // serve, certificates.mode self: its own Secret and its own webhook configuration, by name
    [full, 'get', `secrets/${full}-tls`, customNs, true],
    [full, 'update', `secrets/${full}-tls`, customNs, true],
    [full, 'patch', `secrets/${full}-tls`, customNs, false],
    [full, 'get', 'secrets/other', customNs, false],
    [full, 'create', 'secrets', customNs, false],
    [full, 'delete', `secrets/${full}-tls`, customNs, false],
    [full, 'patch', `${MWC}/${full}`, undefined, false],
    [full, 'update', `${MWC}/${full}`, undefined, true],
    [full, 'patch', `${MWC}/other`, undefined, false],
    [full, 'delete', `${MWC}/${full}`, undefined, false],
    [full, 'update', 'leases.coordination.k8s.io', customNs, true],
    [full, 'patch', 'scaledobjects.keda.sh', 'team-a', true],
    [full, 'get', 'scaledobjects.keda.sh', 'team-a', false],
    // the pre-delete restore Job
    [`${full}-restore`, 'list', 'scaledobjects.keda.sh', 'team-a', true],
    [`${full}-restore`, 'patch', 'scaledjobs.keda.sh', 'team-a', true],
    [`${full}-restore`, 'update', 'scaledobjects.keda.sh', 'team-a', false],
    [`${full}-restore`, 'delete', 'scaledobjects.keda.sh', 'team-a', false],
    [`${full}-restore`, 'get', `${MWC}/${full}`, undefined, false],
    [`${full}-restore`, 'delete', `${MWC}/${full}`, undefined, true],
    [`${full}-restore`, 'delete', `${MWC}/other`, undefined, false],
    [`${full}-restore`, 'get', `deployments.apps/${full}`, customNs, false],
    [`${full}-restore`, 'patch', `deployments.apps/${full}`, customNs, false],
    [`${full}-restore`, 'get', `leases.coordination.k8s.io/${full}-retouch`, customNs, true],
    [`${full}-restore`, 'get', 'leases.coordination.k8s.io/keda-carbon-retouch', customNs, false],
    [`${full}-restore`, 'update', `leases.coordination.k8s.io/${full}-retouch`, customNs, false],
    [`${full}-restore`, 'get', 'secrets', customNs, false],
  ];
  for (const [sa, verb, res, ns, want] of cases)
    t.equal(can(sa, verb, res, ns), want, `${want ? 'allowed' : 'denied'}: ${sa} ${verb} ${res}${ns ? ` in ${ns}` : ''}`);
  // deployments/scale is a subresource: can-i takes it with --subresource
  const scale = (verb: string) =>
    kubectl([
      'auth',
      'can-i',
      verb,
      `deployments.apps/${full}`,
      '--subresource=scale',
      `--as=system:serviceaccount:${customNs}:${full}-restore`,
      '-n',
      customNs,
    ]).stdout.trim();
  t.equal(scale('patch'), 'yes', 'restore may scale the Deployment');
  t.equal(scale('get'), 'yes', 'restore may read its scale');
});

t.test('helm install --dry-run=server: the chart reads this v1.20 cluster (kubeVersion, policy/v1beta1 PDB)', async (t) => {
  const r = helm(['install', 'keda-carbon', CHART, '-n', defaultNs, '--dry-run=server', '--kubeconfig', kubeconfig!]);
  t.equal(r.status, 0, r.stderr);
  const pdb = r.stdout.split('\n---\n').find((d) => /^kind: PodDisruptionBudget$/m.test(d));
  t.match(pdb, /^apiVersion: policy\/v1beta1$/m, 'discovery has no policy/v1 here');
  t.match(r.stdout, /Opt a whole namespace in:/, 'NOTES say how to opt in');
});
