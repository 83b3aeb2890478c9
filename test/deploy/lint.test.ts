/**
 * shellcheck for the scripts the install and CI run, yamllint for the install's YAML and for
 * what the chart renders. Both come from Debian (.ci/run installs them); under CI a missing
 * linter fails this file, elsewhere it is skipped.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CHART, CONFIG, ROOT, helm } from '../helpers/manifests.js';
import { requireTools } from '../helpers/tools.js';

requireTools(t, ['helm']);
const missing = ['shellcheck', 'yamllint'].filter((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status !== 0);
if (missing.length > 0) {
  const why = `${missing.join(' and ')} not installed (Debian: apt-get install ${missing.join(' ')}; .ci/run installs them)`;
  if (process.env.CI === 'true') {
    t.fail(why);
    process.exit(1);
  }
  t.plan(0, why);
  process.exit(0);
}

const YAMLLINT = ['-d', '{extends: relaxed, rules: {line-length: disable}}'];

t.test('shellcheck: the CI scripts and the chart sync script', async (t) => {
  const scripts = ['.ci/run', '.ci/tools.sh', '.ci/cluster.sh', '.ci/node.sh', 'webhook-config/chart/sync-files.sh'].map((s) => join(ROOT, s));
  const r = spawnSync('shellcheck', scripts, { encoding: 'utf8' });
  t.equal(r.status, 0, r.stdout);
});

t.test('yamllint: the kustomize tree, the chart values and skaffold.yaml', async (t) => {
  const paths = ['base', 'overlays', 'components', 'namespace', 'chart/Chart.yaml', 'chart/values.yaml', 'chart/files'].map((p) => join(CONFIG, p));
  const r = spawnSync('yamllint', [...YAMLLINT, ...paths, join(ROOT, 'skaffold.yaml')], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stdout);
});

t.test('yamllint: what the chart renders, with every component on and in cert-manager mode', async (t) => {
  for (const set of [
    'crds.environmentalImpact=true,rbac.hpaRead=true,rbac.locationAuto=true,rbac.exporterConfigMap.enabled=true,monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true,monitoring.dashboard.enabled=true',
    'certificates.mode=cert-manager',
  ]) {
    const out = helm(['template', 'keda-carbon', CHART, '--set', set]);
    t.equal(out.status, 0, out.stderr);
    const r = spawnSync('yamllint', [...YAMLLINT, '-'], { input: out.stdout, encoding: 'utf8' });
    t.equal(r.status, 0, `${set}: ${r.stdout}`);
  }
});
