/**
 * The Helm chart: lint, schema, version-dependent rendering, and no drift from the kustomize
 * install (docs/adr/0007): both render with equivalent settings and must give the same
 * objects, field by field, once the labels and annotations only Helm adds are removed.
 */
import t, { type Test } from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CHART, CONFIG, find, helm, helmTemplate, kustomize, type Obj, one, userOverlay } from '../helpers/manifests.js';
import { requireTools } from '../helpers/tools.js';

requireTools(t, ['helm', 'kubectl']);

const work = await mkdtemp(join(tmpdir(), 'keda-carbon-chart-'));
t.teardown(() => rm(work, { recursive: true, force: true }));

const HELM_ONLY_LABELS = ['app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'helm.sh/chart'];
const HELM_ONLY_ANNOTATIONS = ['helm.sh/resource-policy'];

/** Drops Helm's own keys from every label map and selector; parses embedded documents. */
function normalize(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => normalize(v));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if ((key === 'labels' || key === 'matchLabels' || key === 'selector') && HELM_ONLY_LABELS.includes(k)) continue;
    if (key === 'annotations' && HELM_ONLY_ANNOTATIONS.includes(k)) continue;
    if (k === 'config.yaml' && typeof v === 'string') out[k] = parseYaml(v);
    else out[k] = normalize(v, k);
  }
  if ((key === 'annotations' || key === 'labels') && Object.keys(out).length === 0) return undefined;
  return JSON.parse(JSON.stringify(out));
}

const id = (o: Obj) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
const isHook = (o: Obj) => o.metadata.annotations?.['helm.sh/hook'] !== undefined;

/** The path of the first difference between a and b, or undefined when they are equal. */
export function firstDifference(a: unknown, b: unknown, path = ''): string | undefined {
  if (a === b) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) {
    return `${path || '/'}: ${JSON.stringify(a)?.slice(0, 120)} != ${JSON.stringify(b)?.slice(0, 120)}`;
  }
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const k of keys) {
    const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}/${k}`);
    if (d) return d;
  }
  return undefined;
}

/** The chart's objects without its hooks, the kustomize objects without the Namespace (Helm's --create-namespace). */
function sameObjects(t: Test, chart: Obj[], kust: Obj[]) {
  const c = new Map(chart.filter((o) => !isHook(o)).map((o) => [id(o), normalize(o)]));
  const k = new Map(kust.filter((o) => o.kind !== 'Namespace').map((o) => [id(o), normalize(o)]));
  t.same([...c.keys()].sort(), [...k.keys()].sort(), 'the same objects');
  for (const [name, obj] of k) {
    if (!c.has(name)) continue;
    const d = firstDifference(c.get(name), obj);
    t.notOk(d, `${name}: ${d ?? 'equal'}`);
  }
}

const ALL_ON = [
  'crds.environmentalImpact=true',
  'rbac.exporterConfigMap.enabled=true',
  'rbac.hpaRead=true',
  'rbac.locationAuto=true',
  'monitoring.serviceMonitor.enabled=true',
  'monitoring.prometheusRule.enabled=true',
  'monitoring.dashboard.enabled=true',
].flatMap((s) => ['--set', s]);
const COMPONENTS = ['environmental-impact-crd', 'exporter-configmap-rbac', 'hpa-read-rbac', 'location-auto-rbac', 'monitoring'].map((c) =>
  join(CONFIG, 'components', c),
);
const NO_NETWORK_POLICY = `patches:\n- patch: |-\n    $patch: delete\n    apiVersion: networking.k8s.io/v1\n    kind: NetworkPolicy\n    metadata: {name: keda-carbon}\n`;

const matrix: Array<[string, string, string[], () => Promise<string>]> = [
  ['defaults (self-managed certificates)', 'keda-carbon', [], async () => join(CONFIG, 'overlays/in-cluster')],
  ['every component on', 'keda-carbon', ALL_ON, () => userOverlay(join(work, 'all'), 'in-cluster', COMPONENTS, 'keda-carbon')],
  ['cert-manager mode', 'keda-carbon', ['--set', 'certificates.mode=cert-manager'], async () => join(CONFIG, 'overlays/cert-manager')],
  [
    'NetworkPolicy off',
    'keda-carbon',
    ['--set', 'networkPolicy.enabled=false'],
    () => userOverlay(join(work, 'nonp'), 'in-cluster', [], 'keda-carbon', NO_NETWORK_POLICY),
  ],
  ['a custom namespace, every component on', 'platform', ALL_ON, () => userOverlay(join(work, 'platform'), 'in-cluster', COMPONENTS, 'platform')],
  [
    'a custom namespace, cert-manager',
    'platform',
    ['--set', 'certificates.mode=cert-manager'],
    () => userOverlay(join(work, 'platform-cm'), 'cert-manager', [], 'platform'),
  ],
];

for (const [name, namespace, values, overlay] of matrix) {
  t.test(`no drift, ${name}: helm template and kustomize give the same objects`, async (t) => {
    sameObjects(t, helmTemplate(['-n', namespace, ...values]), kustomize(await overlay()));
  });
}

t.test('helm lint --strict passes, with the defaults and with every component on', async (t) => {
  for (const args of [[], ALL_ON, ['--set', 'certificates.mode=cert-manager']]) {
    const r = helm(['lint', '--strict', CHART, ...args]);
    t.equal(r.status, 0, `helm lint --strict ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  }
});

t.test('the schema rejects a misspelt or mistyped value with a message naming it', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--set', 'replicaCout=3'], /additional properties 'replicaCout' not allowed/],
    [['--set', 'replicaCount=two'], /\/replicaCount': got string, want integer/],
    [['--set', 'webhook.failurePolicy=Fial'], /\/webhook\/failurePolicy': value must be one of 'Ignore', 'Fail'/],
    [['--set', 'certificates.mode=selfsigned'], /\/certificates\/mode': value must be one of/],
    [['--set', 'monitoring.prometheusRule.enable=true'], /additional properties 'enable' not allowed/],
    [['--set', 'webhook.timeoutSeconds=60'], /\/webhook\/timeoutSeconds': maximum/],
  ];
  for (const [args, message] of cases) {
    const r = helm(['template', 'keda-carbon', CHART, ...args]);
    t.not(r.status, 0, `${args[1]} fails`);
    t.match(r.stderr, message, `${args[1]}: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
  }
  const external = helm(['template', 'keda-carbon', CHART, '--set', 'certificates.mode=external']);
  t.match(external.stderr, /certificates.secretName is required with certificates.mode external/);
});

t.test('matchConditions only where the cluster is 1.30 or later; policy/v1 PDB from 1.21', async (t) => {
  const cond = ['--set', 'webhook.matchConditions[0].name=not-restore', '--set-string', 'webhook.matchConditions[0].expression=true'];
  const webhook = (objs: Obj[]) => one(objs, 'MutatingWebhookConfiguration').webhooks[0];
  t.same(webhook(helmTemplate(['--kube-version', '1.30.0', ...cond])).matchConditions, [{ name: 'not-restore', expression: 'true' }]);
  t.notOk(webhook(helmTemplate(['--kube-version', '1.29.0', ...cond])).matchConditions, 'absent on 1.29');
  t.notOk(webhook(helmTemplate(['--kube-version', '1.30.0'])).matchConditions, 'absent when none are given');
  t.equal(one(helmTemplate(['--kube-version', '1.20.0']), 'PodDisruptionBudget').apiVersion, 'policy/v1beta1');
  t.equal(one(helmTemplate(['--kube-version', '1.21.0']), 'PodDisruptionBudget').apiVersion, 'policy/v1');
});

t.test('a custom namespace and release name: nothing names keda-carbon as a namespace', async (t) => {
  const objs = helmTemplate(['-n', 'team-x', ...ALL_ON], 'carbon');
  for (const o of objs) {
    if (o.metadata.namespace !== undefined && !(o.kind.startsWith('Role') && o.metadata.name.endsWith('exporter-configmap')))
      t.equal(o.metadata.namespace, 'team-x', `${o.kind} ${o.metadata.name}`);
    t.equal(o.metadata.labels?.['app.kubernetes.io/instance'], 'carbon', `${o.kind} ${o.metadata.name}: standard labels`);
    for (const l of ['app.kubernetes.io/name', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/part-of', 'helm.sh/chart'])
      t.ok(o.metadata.labels?.[l], `${o.kind} ${o.metadata.name}: ${l}`);
  }
  t.notMatch(JSON.stringify(objs), /"namespace":"keda-carbon"|\.keda-carbon\.svc|"keda-carbon\//, 'no keda-carbon namespace anywhere');
  const wh = one(objs, 'MutatingWebhookConfiguration').webhooks[0];
  t.same(wh.clientConfig.service, { name: 'carbon-keda-carbon', namespace: 'team-x', path: '/mutate', port: 443 });
  t.same(wh.namespaceSelector.matchExpressions[0].values, ['kube-system', 'kube-node-lease', 'team-x'], 'the install namespace is never called');
  t.equal(one(objs, 'RoleBinding', 'carbon-keda-carbon-exporter-configmap').metadata.namespace, 'kube-system');
});

t.test('certificates: self passes the contract flags; cert-manager and external mount a Secret', async (t) => {
  const container = (objs: Obj[]) => one(objs, 'Deployment').spec.template.spec.containers[0];
  const self = helmTemplate(['-n', 'team-x']);
  t.match(container(self).args, [
    'serve',
    '--config=/etc/keda-carbon/config/config.yaml',
    '--tls-secret=keda-carbon-tls',
    '--webhook-config=keda-carbon',
    '--service-name=keda-carbon',
  ]);
  t.same(one(self, 'Secret', 'keda-carbon-tls'), { ...one(self, 'Secret', 'keda-carbon-tls'), type: 'Opaque' });
  t.notOk(one(self, 'Secret', 'keda-carbon-tls').data, 'created empty');
  t.same(one(self, 'Role', 'keda-carbon-tls').rules, [
    { apiGroups: [''], resources: ['secrets'], resourceNames: ['keda-carbon-tls'], verbs: ['get', 'update'] },
  ]);
  t.same(one(self, 'ClusterRole', 'keda-carbon-webhook-config').rules, [
    {
      apiGroups: ['admissionregistration.k8s.io'],
      resources: ['mutatingwebhookconfigurations'],
      resourceNames: ['keda-carbon'],
      verbs: ['get', 'update'],
    },
  ]);
  const ext = helmTemplate(['--set', 'certificates.mode=external', '--set', 'certificates.secretName=mine', '--set', 'certificates.caBundle=Q0E=']);
  t.ok(container(ext).args.includes('--cert-dir=/etc/keda-carbon/tls'));
  t.equal(one(ext, 'Deployment').spec.template.spec.volumes.find((v: { name: string }) => v.name === 'tls').secret.secretName, 'mine');
  t.equal(one(ext, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.caBundle, 'Q0E=');
  t.equal(find(ext, 'Secret').length, 0, 'external: the chart makes no Secret');
});

t.test("the controller's Lease is named after the release, and restore waits for that one", async (t) => {
  const lease = (release: string) => {
    const objs = helmTemplate(['-n', 'team-x'], release);
    const env = one(objs, 'Deployment').spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
    const job = one(objs, 'Job');
    const restore = job.spec.template.spec.containers[0].args as string[];
    const leaseRule = one(objs, 'Role', job.metadata.name).rules.find((r: { resources: string[] }) => r.resources.includes('leases'));
    return {
      serve: env.find((e) => e.name === 'KEDA_CARBON_LEASE_NAME')?.value,
      restore: restore.find((a) => a.startsWith('--lease-name='))?.slice('--lease-name='.length),
      restoreMayRead: leaseRule?.resourceNames,
    };
  };
  t.same(lease('keda-carbon'), { serve: 'keda-carbon-retouch', restore: 'keda-carbon-retouch', restoreMayRead: ['keda-carbon-retouch'] }, 'the default name');
  const a = lease('team-a');
  const b = lease('team-b');
  t.same(a, { serve: 'team-a-keda-carbon-retouch', restore: 'team-a-keda-carbon-retouch', restoreMayRead: ['team-a-keda-carbon-retouch'] });
  t.not(a.serve, b.serve, 'two releases in one namespace elect a leader each');
});

t.test('pre-delete restore Job and helm test Pod', async (t) => {
  const objs = helmTemplate(['-n', 'team-x']);
  const job = one(objs, 'Job', 'keda-carbon-restore');
  t.equal(job.metadata.annotations?.['helm.sh/hook'], 'pre-delete');
  t.match(job.metadata.annotations?.['helm.sh/hook-delete-policy'], /hook-succeeded/);
  t.same(job.spec.template.spec.containers[0].args, [
    'restore',
    '-A',
    '--webhook-config=keda-carbon',
    '--deployment=team-x/keda-carbon',
    '--lease-name=keda-carbon-retouch',
  ]);
  t.equal(job.spec.template.spec.serviceAccountName, 'keda-carbon-restore');
  for (const kind of ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']) {
    const o = one(objs, kind, 'keda-carbon-restore');
    t.equal(o.metadata.annotations?.['helm.sh/hook'], 'pre-delete', `${kind}: a hook too`);
    t.ok(Number(o.metadata.annotations?.['helm.sh/hook-weight']) < 0, `${kind}: made before the Job`);
  }
  t.same(one(objs, 'ClusterRole', 'keda-carbon-restore').rules, [
    { apiGroups: ['keda.sh'], resources: ['scaledobjects', 'scaledjobs'], verbs: ['list', 'patch'] },
    { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: ['keda-carbon'], verbs: ['delete'] },
  ]);
  const pod = one(objs, 'Pod', 'keda-carbon-test');
  t.equal(pod.metadata.annotations?.['helm.sh/hook'], 'test');
  t.match(pod.spec.containers[0].command.join(' '), /keda-carbon\.team-x\.svc.*\/healthz/s);
  t.equal(find(helmTemplate(['--set', 'restore.enabled=false']), 'Job').length, 0, 'restore.enabled=false drops the hook');
});

t.test("the chart's copies of component files equal their sources (run webhook-config/chart/sync-files.sh)", async (t) => {
  const copies: Array<[string, string]> = [
    ['files/prometheusrule.yaml', 'components/monitoring/prometheusrule.yaml'],
    ['files/dashboard.json', 'components/monitoring/dashboard.json'],
  ];
  for (const [copy, source] of copies) {
    t.equal(await readFile(join(CHART, copy), 'utf8'), await readFile(join(CONFIG, source), 'utf8'), copy);
  }
  const crds = kustomize(join(CONFIG, 'components/environmental-impact-crd'));
  t.equal(crds.length, 2);
  for (const crd of crds) {
    const copy = parseYaml(await readFile(join(CHART, 'files/crds', `${crd.metadata.name}.yaml`), 'utf8'));
    t.notOk(firstDifference(copy, crd), `files/crds/${crd.metadata.name}.yaml is the rendered component`);
  }
});

t.test('the chart, its image and the kustomize image carry the version in package.json', async (t) => {
  const { version } = JSON.parse(await readFile(join(CONFIG, '../package.json'), 'utf8')) as { version: string };
  const chart = parseYaml(await readFile(join(CHART, 'Chart.yaml'), 'utf8')) as { version: string; appVersion: string };
  t.equal(chart.version, version);
  t.equal(chart.appVersion, version);
  const image = (objs: Obj[]) => one(objs, 'Deployment').spec.template.spec.containers[0].image;
  t.equal(image(helmTemplate([])), `ghcr.io/keda-carbon/keda-carbon:${version}`);
  t.equal(image(kustomize(join(CONFIG, 'overlays/in-cluster'))), `ghcr.io/keda-carbon/keda-carbon:${version}`);
});
