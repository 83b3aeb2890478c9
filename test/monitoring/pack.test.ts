import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { createMetrics } from '../../src/server/metrics.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };

if (spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status !== 0) {
  t.plan(0, 'kubectl is not installed; the monitoring component cannot be rendered');
  process.exit(0);
}

/** The base with the monitoring component, as an overlay would include it (with the namespace line and its transformer). */
async function render(): Promise<Obj[]> {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-monitoring-'));
  try {
    const rel = (p: string) => relative(dir, join(ROOT, p));
    await writeFile(
      join(dir, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [${rel('webhook-config/base')}]\ncomponents: [${rel('webhook-config/components/monitoring')}]\nnamespace: keda-carbon\ntransformers: [${rel('webhook-config/namespace')}]\n`,
    );
    const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
    return parseAllDocuments(out).map((d) => d.toJS() as Obj);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const objs = await render();
const one = (kind: string, name: string): Obj => {
  const found = objs.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, got ${found.length}`);
  return found[0]!;
};

/** Every keda_carbon_ metric name a PromQL text uses, without the _bucket/_count/_sum of histograms. */
function metricNames(text: string): string[] {
  return [...new Set([...text.matchAll(/\bkeda_carbon_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')))];
}

const known = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));

t.test('the ServiceMonitor scrapes the Service port that serves /metrics', async (t) => {
  const sm = one('ServiceMonitor', 'keda-carbon');
  const svc = one('Service', 'keda-carbon');
  t.equal(sm.metadata.namespace, svc.metadata.namespace);
  for (const [k, v] of Object.entries(sm.spec.selector.matchLabels as Record<string, string>))
    t.equal(svc.metadata.labels?.[k], v, `the Service has ${k}=${v}`);
  const port = sm.spec.endpoints[0].port;
  t.ok(
    (svc.spec.ports as { name: string }[]).some((p) => p.name === port),
    `the Service has a port named ${port}`,
  );
  t.equal(sm.spec.endpoints[0].path, '/metrics');
});

t.test('the dashboard ConfigMap carries the sidecar label and valid JSON whose queries use only exported metrics', async (t) => {
  const cm = one('ConfigMap', 'keda-carbon-dashboard');
  t.equal(cm.metadata.labels?.grafana_dashboard, '1');
  const dash = JSON.parse(cm.data['keda-carbon.json']) as {
    uid: string;
    panels: { title: string; targets: { expr: string }[] }[];
    templating: { list: { name: string; query: unknown }[] };
  };
  t.equal(dash.uid, 'keda-carbon');
  t.same(
    dash.templating.list.map((v) => v.name),
    ['datasource', 'namespace', 'policy'],
  );
  const titles = dash.panels.map((p) => p.title).join('\n');
  for (const want of [
    /intensity and forecast/i,
    /caps in force against declared/i,
    /withheld replica-hours/i,
    /intensity-weighted capacity/i,
    /data age/i,
    /held at their cap/i,
    /provider/i,
    /sweeps/i,
    /admission latency/i,
    /admission outcomes/i,
    /grams CO2eq/i,
    /observe .* against enforce/i,
  ]) {
    t.match(titles, want, `a panel for ${want.source}`);
  }
  const exprs = dash.panels.flatMap((p) => p.targets.map((x) => x.expr));
  t.ok(exprs.length >= 15, 'queries in every panel');
  // Observe policies book the cap they would set: a sum over modes would add it to the caps in force.
  for (const expr of exprs.filter((e) => /keda_carbon_ledger_(cap|declared|withheld)_/.test(e))) {
    t.ok(/mode="enforce"/.test(expr) || /by \([^)]*\bmode\b/.test(expr), `enforce only, or by mode: ${expr}`);
  }
  for (const name of metricNames(exprs.join('\n') + JSON.stringify(dash.templating))) t.ok(known.has(name), `${name} is exported`);
});

t.test('the PrometheusRule uses only exported metrics', async (t) => {
  const rule = one('PrometheusRule', 'keda-carbon');
  const exprs = (rule.spec.groups as { rules: { expr: string }[] }[]).flatMap((g) => g.rules.map((r) => r.expr)).join('\n');
  const names = metricNames(exprs);
  t.ok(names.length >= 6);
  for (const name of names) t.ok(known.has(name), `${name} is exported`);
});

t.test('the hpa-read component: list and watch on HPAs only, for our ServiceAccount, and the switch that turns reading on', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-hpa-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const rel = (p: string) => relative(dir, join(ROOT, p));
  await writeFile(
    join(dir, 'kustomization.yaml'),
    `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [${rel('webhook-config/base')}]\ncomponents: [${rel('webhook-config/components/hpa-read-rbac')}]\nnamespace: keda-carbon\ntransformers: [${rel('webhook-config/namespace')}]\n`,
  );
  const rendered = parseAllDocuments(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })).map((d) => d.toJS() as Obj);
  const role = rendered.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'keda-carbon-hpa-read')!;
  t.same(role.rules, [{ apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: ['list', 'watch'] }]);
  const binding = rendered.find((o) => o.kind === 'ClusterRoleBinding' && o.metadata.name === 'keda-carbon-hpa-read')!;
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'keda-carbon', namespace: 'keda-carbon' }]);
  const deployment = rendered.find((o) => o.kind === 'Deployment')!;
  t.same(
    deployment.spec.template.spec.containers[0].env.filter((e: { name: string }) => e.name === 'KEDA_CARBON_READ_HPAS'),
    [{ name: 'KEDA_CARBON_READ_HPAS', value: 'true' }],
  );
});
