import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { requireTools } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CONFIG = join(ROOT, 'webhook-config');
const SA = { kind: 'ServiceAccount', name: 'keda-carbon', namespace: 'keda-carbon' };

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; [k: string]: any };

const KUBECTL = requireTools(t, ['kubectl']).kubectl;

function render(dir: string): Obj[] {
  const out = execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(out).map((d) => d.toJS() as Obj);
}

const find = (objs: Obj[], kind: string, name?: string) => objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const one = (objs: Obj[], kind: string, name?: string): Obj => {
  const found = find(objs, kind, name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, got ${found.length}`);
  return found[0]!;
};

/** A throw-away kustomization that includes `resources` and `components` by relative path. */
async function compose(t: Tap, resources: string[], components: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-kust-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const rel = (p: string) => relative(dir, p);
  await writeFile(
    join(dir, 'kustomization.yaml'),
    `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: ${JSON.stringify(resources.map(rel))}\ncomponents: ${JSON.stringify(components.map(rel))}\n`,
  );
  return dir;
}
type Tap = Test;

/**
 * The self-managed overlay needs generated certificates: copy webhook-config/ and
 * certs-scripts/ and run the real script there, with KEDA_CARBON_BIN pointing at the certs
 * command compiled from this tree.
 */
async function selfManagedTree(t: Tap): Promise<{ overlay: string; caBundle: string }> {
  const work = await mkdtemp(join(tmpdir(), 'keda-carbon-selfmanaged-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  await cp(CONFIG, join(work, 'webhook-config'), { recursive: true });
  await cp(join(ROOT, 'certs-scripts'), join(work, 'certs-scripts'), { recursive: true });
  const build = join(work, 'build');
  execFileSync(
    join(ROOT, 'node_modules/.bin/tsc'),
    [
      '--outDir',
      build,
      '--rootDir',
      join(ROOT, 'src'),
      '--module',
      'NodeNext',
      '--moduleResolution',
      'NodeNext',
      '--target',
      'ES2022',
      '--esModuleInterop',
      '--skipLibCheck',
      '--types',
      'node',
      join(ROOT, 'src/cli/certs.ts'),
    ],
    { stdio: 'pipe' },
  );
  await symlink(join(ROOT, 'node_modules'), join(work, 'node_modules'));
  const cli = join(work, 'certs-cli.mjs');
  await writeFile(
    cli,
    `import { runCerts } from './build/cli/certs.js';\n` +
      `const [cmd, ...rest] = process.argv.slice(2);\n` +
      `if (cmd !== 'certs') { console.error('only certs'); process.exit(2); }\n` +
      `process.exitCode = await runCerts(rest, { stdout: process.stdout, stderr: process.stderr, env: process.env });\n`,
  );
  const overlay = join(work, 'webhook-config/overlays/self-managed');
  const run = spawnSync('bash', [join(work, 'certs-scripts/self-managed.sh'), '--overlay', overlay], {
    env: { ...process.env, KEDA_CARBON_BIN: `node ${cli}` },
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`self-managed.sh failed: ${run.stderr}`);
  const again = spawnSync('bash', [join(work, 'certs-scripts/self-managed.sh'), '--overlay', overlay], {
    env: { ...process.env, KEDA_CARBON_BIN: `node ${cli}` },
    encoding: 'utf8',
  });
  t.not(again.status, 0, 'a second run without --force refuses to overwrite the key');
  t.match(again.stderr, /already exists; pass --force/);
  const patch = parseYaml(await readFile(join(overlay, 'ca-bundle.patch.yaml'), 'utf8')) as Array<{ value: string }>;
  return { overlay, caBundle: patch[0]!.value };
}

function checkRbac(t: Tap, objs: Obj[]) {
  for (const role of [...find(objs, 'ClusterRole'), ...find(objs, 'Role')]) {
    for (const rule of role.rules as Array<Record<string, string[]>>) {
      for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames', 'nonResourceURLs']) {
        t.notOk((rule[field] ?? []).includes('*'), `${role.kind} ${role.metadata.name}: no wildcard in ${field}`);
      }
    }
  }
  const bindings = [...find(objs, 'ClusterRoleBinding'), ...find(objs, 'RoleBinding')];
  for (const b of bindings) t.same(b.subjects, [SA], `${b.kind} ${b.metadata.name} binds only our ServiceAccount`);
}

t.test('base: every object, and what the issue asks of it', async (t) => {
  const objs = render(join(CONFIG, 'base'));
  t.same(
    objs.map((o) => o.kind).sort(),
    [
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'Deployment',
      'MutatingWebhookConfiguration',
      'Namespace',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ].sort(),
  );
  for (const o of objs) {
    const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration'].includes(o.kind);
    t.equal(o.metadata.namespace, clusterScoped ? undefined : 'keda-carbon', `${o.kind} ${o.metadata.name} namespace`);
  }

  checkRbac(t, objs);
  const cr = one(objs, 'ClusterRole', 'keda-carbon');
  t.same(
    cr.rules,
    [
      { apiGroups: ['keda.sh'], resources: ['scaledobjects', 'scaledjobs'], verbs: ['list', 'watch', 'patch'] },
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    ],
    'cluster-wide rights are exactly these',
  );
  const role = one(objs, 'Role');
  t.equal(role.metadata.namespace, 'keda-carbon');
  t.same(role.rules, [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
  t.equal(find(objs, 'ClusterRole').length, 1, 'no node or ConfigMap access without the components');

  const mwc = one(objs, 'MutatingWebhookConfiguration');
  t.equal(mwc.webhooks.length, 1);
  const wh = mwc.webhooks[0];
  t.match(wh, {
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Ignore',
    matchPolicy: 'Equivalent',
    reinvocationPolicy: 'IfNeeded',
    clientConfig: { service: { name: 'keda-carbon', namespace: 'keda-carbon', path: '/mutate', port: 443 } },
    rules: [{ apiGroups: ['keda.sh'], apiVersions: ['v1alpha1'], operations: ['CREATE', 'UPDATE'], resources: ['scaledobjects', 'scaledjobs'] }],
  });
  t.ok(wh.timeoutSeconds >= 1 && wh.timeoutSeconds <= 5, 'timeoutSeconds is a few seconds');
  t.same(wh.namespaceSelector.matchExpressions, [
    { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-node-lease', 'keda-carbon'] },
  ]);
  t.notOk(wh.clientConfig.caBundle, 'no caBundle in the base: the certificate overlay provides it');

  const dep = one(objs, 'Deployment');
  const pod = dep.spec.template.spec;
  t.equal(dep.spec.replicas, 2);
  t.equal(pod.serviceAccountName, 'keda-carbon');
  t.match(pod.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  t.ok(pod.securityContext.runAsUser > 0, 'numeric non-root user');
  t.ok(
    pod.topologySpreadConstraints.some((c: any) => c.topologyKey === 'kubernetes.io/hostname'),
    'spread across nodes',
  );
  t.ok(pod.affinity.podAntiAffinity, 'anti-affinity');
  t.ok(pod.terminationGracePeriodSeconds > 30, 'grace period longer than the drain');
  const c = pod.containers[0];
  t.match(c.securityContext, {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  t.notOk(c.securityContext.capabilities.add, 'no capability added');
  t.match(c.readinessProbe, { httpGet: { path: '/readyz', port: 'https', scheme: 'HTTPS' } });
  t.match(c.livenessProbe, { httpGet: { path: '/healthz', port: 'https', scheme: 'HTTPS' } });
  t.same(
    c.ports.map((p: any) => [p.name, p.containerPort]),
    [
      ['https', 8443],
      ['metrics', 8080],
    ],
  );
  t.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, 'requests and limits');
  t.same(c.args.slice(0, 1), ['serve']);
  t.ok(c.args.includes('--cert-dir=/etc/keda-carbon/tls'));
  t.ok(c.args.includes('--config=/etc/keda-carbon/config/config.yaml'));
  t.match(
    c.env.find((e: any) => e.name === 'NODE_NAME'),
    { valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
  );
  const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.name, m]));
  t.match(mounts, { tls: { mountPath: '/etc/keda-carbon/tls', readOnly: true }, config: { mountPath: '/etc/keda-carbon/config' }, tmp: { mountPath: '/tmp' } });
  t.notOk(
    c.volumeMounts.some((m: any) => m.subPath),
    'no subPath: it would hide Secret and ConfigMap updates',
  );
  const vols = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
  t.equal(vols.tls.secret.secretName, 'keda-carbon-tls');
  t.equal(vols.config.configMap.name, 'keda-carbon-config');
  t.ok(vols.tmp.emptyDir, '/tmp is an emptyDir');

  const config = parseYaml(one(objs, 'ConfigMap').data['config.yaml']);
  t.match(
    config,
    { intensity: { provider: String }, policies: { standard: { carbon: Array } }, touch: {}, invalidPolicy: 'deny' },
    'sample config has the section 5 shape',
  );

  const svc = one(objs, 'Service');
  t.match(
    svc.spec.ports.find((p: any) => p.name === 'https'),
    { port: 443, targetPort: 'https' },
  );
  t.same(svc.spec.selector, dep.spec.selector.matchLabels, 'Service selects the Deployment pods');
  const pdb = one(objs, 'PodDisruptionBudget');
  t.same(pdb.spec.selector.matchLabels, dep.spec.selector.matchLabels);
  t.equal(pdb.spec.minAvailable, 1);
  const np = one(objs, 'NetworkPolicy');
  t.same(np.spec.podSelector.matchLabels, dep.spec.selector.matchLabels);
  t.ok(
    np.spec.ingress.some((r: any) => r.ports.some((p: any) => p.port === 8443)),
    'webhook port reachable',
  );
  t.ok(
    np.spec.egress.some((r: any) => r.ports.some((p: any) => p.port === 53)),
    'DNS egress',
  );
  // The API server's real port (after the `kubernetes` Service is translated) differs between
  // clusters: 6443, 443, 8443, 16443, or any --secure-port. Each must be allowed.
  const tcpAllowed = (port: number) =>
    np.spec.egress.some((r: any) => !r.to && r.ports.some((p: any) => p.protocol === 'TCP' && (p.port === undefined || p.port === port)));
  for (const port of [443, 6443, 8443, 16443, 9090]) t.ok(tcpAllowed(port), `TCP egress to port ${port}`);
  t.same(
    np.spec.egress.flatMap((r: any) => r.ports.filter((p: any) => p.protocol === 'UDP').map((p: any) => p.port)),
    [53],
    'UDP only for DNS',
  );
});

t.test('self-managed overlay: Secret and caBundle from the certs script', async (t) => {
  const { overlay, caBundle } = await selfManagedTree(t);
  const objs = render(overlay);
  const secret = one(objs, 'Secret', 'keda-carbon-tls');
  t.equal(secret.type, 'kubernetes.io/tls');
  t.equal(secret.metadata.namespace, 'keda-carbon');
  t.same(Object.keys(secret.data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
  // kustomize wraps long base64 values; compare the decoded bytes
  const decode = (b64: string) => Buffer.from(b64.replace(/\s+/g, ''), 'base64').toString();
  t.equal(decode(secret.data['ca.crt']), decode(caBundle), 'the webhook trusts the CA in the Secret');
  t.notMatch(decode(caBundle), /\r/, 'PEM with LF line ends');
  const mwc = one(objs, 'MutatingWebhookConfiguration');
  t.equal(mwc.webhooks[0].clientConfig.caBundle, caBundle);
  const cert = decode(secret.data['tls.crt']);
  const { X509Certificate } = await import('node:crypto');
  const x = new X509Certificate(cert);
  t.ok(x.checkHost('keda-carbon.keda-carbon.svc'), 'serving certificate valid for the Service name');
  t.ok(x.verify(new X509Certificate(Buffer.from(caBundle, 'base64')).publicKey), 'signed by the caBundle CA');
  t.equal(
    one(objs, 'Deployment').spec.template.spec.volumes.find((v: any) => v.name === 'tls').secret.secretName,
    'keda-carbon-tls',
    'Deployment mounts the generated Secret',
  );

  // the skaffold dev overlay builds on it and relaxes only what the dev loop needs
  const dev = render(join(overlay, '../dev'));
  const pod = one(dev, 'Deployment').spec.template.spec;
  const c = pod.containers[0];
  t.equal(one(dev, 'Deployment').spec.replicas, 1);
  t.equal(c.securityContext.readOnlyRootFilesystem, false, 'dev: writable root filesystem for tsc --watch');
  t.match(c.securityContext, { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, 'dev: still non-root, no escalation');
  t.equal(c.env.find((e: any) => e.name === 'NODE_OPTIONS').value, '--max-old-space-size=768');
  t.equal(one(dev, 'Secret', 'keda-carbon-tls').type, 'kubernetes.io/tls');
  // A drain must be able to evict the only pod: the PDB may not demand all replicas.
  for (const [name, objs] of [
    ['self-managed', render(overlay)],
    ['dev', dev],
  ] as const) {
    const replicas = one(objs, 'Deployment').spec.replicas as number;
    const spec = one(objs, 'PodDisruptionBudget').spec;
    const allowed = spec.maxUnavailable !== undefined ? Math.min(spec.maxUnavailable, replicas) : replicas - spec.minAvailable;
    t.ok(allowed >= 1, `${name}: ${replicas} replica(s), the PDB allows ${allowed} disruption(s)`);
  }
  t.same(one(dev, 'PodDisruptionBudget').spec, { maxUnavailable: 1, selector: one(dev, 'PodDisruptionBudget').spec.selector }, 'dev: maxUnavailable 1');
});

t.test('Dockerfile and skaffold.yaml', async (t) => {
  const docker = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = [...docker.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => m[2]);
  t.same(stages, ['build', 'deps', 'dev', 'runtime'], 'multi-stage, runtime last (the default target)');
  t.match(docker, /ARG NODE_IMAGE=node:22-/, 'Node 22 LTS');
  const runtime = docker.slice(docker.lastIndexOf('FROM '));
  t.match(runtime, /^USER 65532:65532$/m, 'numeric non-root user');
  t.match(runtime, /^ENTRYPOINT \["node", "dist\/cli\/main\.js"\]$/m);
  t.match(runtime, /^CMD \["serve"\]$/m);
  t.match(runtime, /COPY --from=deps \/app\/node_modules/, 'production dependencies from the deps stage');
  t.notMatch(runtime, /npm (ci|install)|COPY --from=build \/app\/node_modules/, 'no dev dependencies in the runtime stage');
  t.match(docker, /npm ci --omit=dev/);
  const sk = parseYaml(await readFile(join(ROOT, 'skaffold.yaml'), 'utf8'));
  t.match(sk.apiVersion, /^skaffold\/v4beta\d+$/);
  t.equal(
    sk.build.artifacts[0].image,
    render(join(CONFIG, 'base'))
      .find((o) => o.kind === 'Deployment')!
      .spec.template.spec.containers[0].image.split(':')[0],
    'skaffold builds the image the Deployment runs',
  );
  for (const p of sk.manifests.kustomize.paths) t.ok(existsSync(join(ROOT, p, 'kustomization.yaml')), `kustomize path ${p} exists`);
  const dev = sk.profiles.find((p: any) => p.name === 'dev');
  t.ok(
    dev.patches.some((p: any) => p.path === '/build/artifacts/0/sync' && p.value.manual.length > 0),
    'dev profile syncs sources',
  );
  for (const p of dev.patches.filter((x: any) => x.path.startsWith('/manifests')))
    t.ok(existsSync(join(ROOT, p.value, 'kustomization.yaml')), `dev path ${p.value} exists`);
});

t.test('cert-manager overlay: Issuers, Certificates, inject-ca-from', async (t) => {
  const objs = render(join(CONFIG, 'overlays/cert-manager'));
  const mwc = one(objs, 'MutatingWebhookConfiguration');
  t.equal(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'], 'keda-carbon/keda-carbon-serving');
  const serving = one(objs, 'Certificate', 'keda-carbon-serving');
  t.equal(serving.metadata.namespace, 'keda-carbon');
  t.equal(serving.spec.secretName, 'keda-carbon-tls', 'writes the Secret the Deployment mounts');
  t.ok(serving.spec.dnsNames.includes('keda-carbon.keda-carbon.svc'));
  t.ok(serving.spec.dnsNames.includes('keda-carbon.keda-carbon.svc.cluster.local'));
  t.ok(serving.spec.usages.includes('server auth'));
  t.equal(one(objs, 'Issuer', serving.spec.issuerRef.name).spec.ca.secretName, one(objs, 'Certificate', 'keda-carbon-ca').spec.secretName, 'CA chain is wired');
  t.equal(one(objs, 'Certificate', 'keda-carbon-ca').spec.isCA, true);
  t.equal(find(objs, 'Secret').length, 0, 'no Secret shipped: cert-manager writes it');
});

t.test('components: optional RBAC', async (t) => {
  const exporter = render(await compose(t, [join(CONFIG, 'base')], [join(CONFIG, 'components/exporter-configmap-rbac')]));
  checkRbac(t, exporter);
  const role = one(exporter, 'Role', 'keda-carbon-exporter-configmap');
  t.equal(role.metadata.namespace, 'kube-system', 'the Role stays in the exporter namespace');
  t.same(role.rules, [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['carbon-intensity'], verbs: ['get', 'watch'] }]);
  t.equal(one(exporter, 'RoleBinding', 'keda-carbon-exporter-configmap').metadata.namespace, 'kube-system');

  const nodes = render(await compose(t, [join(CONFIG, 'base')], [join(CONFIG, 'components/location-auto-rbac')]));
  checkRbac(t, nodes);
  t.same(one(nodes, 'ClusterRole', 'keda-carbon-node-reader').rules, [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }]);
});

t.test('environmental-impact-crd component patches the KEDA v2.20 CRDs', async (t) => {
  const all = render(
    await compose(
      t,
      [join(CONFIG, 'overlays/cert-manager')],
      [join(CONFIG, 'components/environmental-impact-crd'), join(CONFIG, 'components/exporter-configmap-rbac'), join(CONFIG, 'components/location-auto-rbac')],
    ),
  );
  t.equal(find(all, 'CustomResourceDefinition').length, 2, 'renders together with an overlay and the other components');
  checkRbac(t, all);
  const crds: Record<string, Obj> = Object.fromEntries(find(all, 'CustomResourceDefinition').map((c) => [c.metadata.name, c]));
  for (const name of ['scaledobjects.keda.sh', 'scaledjobs.keda.sh']) {
    const crd = crds[name]!;
    t.equal(crd.spec.versions.length, 1);
    t.equal(crd.spec.versions[0].name, 'v1alpha1');
    const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec;
    const ei = spec.properties.environmentalImpact;
    t.equal(ei.type, 'object', `${name}: environmentalImpact declared`);
    t.same(ei.properties.carbon.items.required, ['measuredEmission', 'allowedMaxReplicaCount']);
    t.match(ei.properties.carbon.items.properties, {
      measuredEmission: { 'x-kubernetes-preserve-unknown-fields': true },
      allowedMaxReplicaCount: { 'x-kubernetes-int-or-string': true, minimum: 1 },
    });
    t.match(ei.properties.maxReplicasByCarbonIntensity.items, { required: ['carbonIntensityThreshold', 'maxReplicas'] });
    t.match(ei.properties.ecoModeOff.properties.carbonIntensityDuration.properties.overrideEcoAfterDurationInMins, { type: 'integer', minimum: 1 });
    t.ok(ei['x-kubernetes-validations'][0].rule.includes('has(self.carbon)'), 'one of the two forms');
    t.same(ei.properties.mode.enum, ['enforce', 'observe']);
    t.same(Object.keys(ei.properties.relativeWindow.properties).sort(), ['ahead', 'past']);
    t.ok(spec.properties.maxReplicaCount, 'stock fields are still there');
  }
  // KEDA's own release patches are applied too, so the result matches a KEDA release install
  const so = crds['scaledobjects.keda.sh']!.spec.versions[0].schema.openAPIV3Schema.properties.spec;
  t.match(so.properties.advanced.properties.horizontalPodAutoscalerConfig.properties.behavior.properties.scaleUp.properties.stabilizationWindowSeconds, {
    minimum: 0,
    maximum: 3600,
  });
  const sj = crds['scaledjobs.keda.sh']!.spec.versions[0].schema.openAPIV3Schema.properties.spec;
  t.equal(sj.properties.jobTargetRef.properties.template.properties.metadata['x-kubernetes-preserve-unknown-fields'], true);
  t.notOk(sj.properties.triggers.items.properties.metricType, 'metricType removed from ScaledJob triggers as in KEDA releases');

  // the patch also works on its own (kubectl patch --type=json on an installed CRD)
  const ops = parseYaml(await readFile(join(CONFIG, 'components/environmental-impact-crd/environmental-impact.patch.yaml'), 'utf8'));
  t.match(ops, [{ op: 'add', path: '/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/environmentalImpact' }]);
});
