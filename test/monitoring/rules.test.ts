import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify } from 'yaml';

const HERE = dirname(fileURLToPath(import.meta.url));
const RULE = resolve(HERE, '../../webhook-config/components/monitoring/prometheusrule.yaml');
const TESTS = join(HERE, 'alerts.promtool.yaml');

if (spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status !== 0) {
  t.plan(0, 'promtool is not installed (Debian: apt-get install prometheus; .ci/run installs it); the alert rules cannot be tested');
  process.exit(0);
}

interface Rule {
  alert?: string;
  expr: string;
  annotations?: Record<string, string>;
}
const rule = parseYaml(await readFile(RULE, 'utf8')) as { spec: { groups: { name: string; rules: Rule[] }[] } };
const alerts = rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert)).filter((a): a is string => a !== undefined);

async function promtool(groups: unknown): Promise<{ status: number | null; out: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-rules-'));
  try {
    await writeFile(join(dir, 'rules.yaml'), stringify({ groups }));
    await writeFile(join(dir, 'alerts.promtool.yaml'), await readFile(TESTS, 'utf8'));
    const check = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yaml')], { encoding: 'utf8' });
    if (check.status !== 0) return { status: check.status, out: check.stdout + check.stderr };
    const run = spawnSync('promtool', ['test', 'rules', join(dir, 'alerts.promtool.yaml')], { encoding: 'utf8' });
    return { status: run.status, out: run.stdout + run.stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

t.test('promtool test rules: every alert of the PrometheusRule fires where it should and stays silent otherwise', async (t) => {
  t.same(alerts.sort(), [
    'KedaCarbonCertificateExpiring',
    'KedaCarbonDataStale',
    'KedaCarbonNoLeader',
    'KedaCarbonProviderFailing',
    'KedaCarbonSweepsFailing',
    'KedaCarbonTouchesNotApplied',
  ]);
  const result = await promtool(rule.spec.groups);
  t.equal(result.status, 0, result.out);
});

t.test('each alert has a silent case and a firing case in the promtool tests', async (t) => {
  const suite = parseYaml(await readFile(TESTS, 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
  const cases = suite.tests.flatMap((c) => c.alert_rule_test);
  for (const alert of alerts) {
    t.ok(
      cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0),
      `${alert}: a case where it stays silent`,
    );
    t.ok(
      cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0),
      `${alert}: a case where it fires`,
    );
  }
});

t.test('the tests catch an alert that never fires', async (t) => {
  for (const alert of alerts) {
    const groups = rule.spec.groups.map((g) => ({ ...g, rules: g.rules.map((r) => (r.alert === alert ? { ...r, expr: 'vector(1) > 2' } : r)) }));
    const result = await promtool(groups);
    t.not(result.status, 0, `${alert} silenced: promtool fails`);
  }
});

t.test('every alert has a runbook section in docs/troubleshooting.md, linked by an absolute runbook_url', async (t) => {
  const doc = await readFile(resolve(HERE, '../../docs/troubleshooting.md'), 'utf8');
  for (const alert of alerts) t.match(doc, new RegExp(`^#+ ${alert}$`, 'm'), alert);
  for (const r of rule.spec.groups.flatMap((g) => g.rules)) {
    const url = r.annotations?.runbook_url ?? '';
    t.match(url, /^https:\/\/[^ ]+\/docs\/troubleshooting\.md#/, `${r.alert}: runbook_url is a URL`);
    t.equal(url.split('#')[1], r.alert?.toLowerCase(), `${r.alert}: runbook_url names its section`);
  }
});
