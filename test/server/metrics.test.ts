import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startServe } from '../helpers/serve-process.js';

// What a running serve answers on /metrics passes Prometheus' own linter, and the active
// handles, requests and resources are still there by type.

if (spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status !== 0) {
  // Under CI a missing promtool is a failure: .ci/run installs it.
  if (process.env.CI === 'true') t.fail('promtool is not installed (Debian: apt-get install prometheus)');
  else t.plan(0, 'promtool is not installed (Debian: apt-get install prometheus; .ci/run installs it)');
  process.exit(process.env.CI === 'true' ? 1 : 0);
}

t.test('promtool check metrics accepts what serve exports on /metrics', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-metrics-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const serve = await startServe(['--cert-dir', dir]);
  t.teardown(() => serve.stop('SIGKILL'));
  const text = await (await fetch(`http://127.0.0.1:${serve.metricsPort}/metrics`)).text();
  t.match(text, /^# TYPE keda_carbon_admission_requests_total counter$/m, 'the exposition of keda-carbon, not an empty page');
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  t.equal(`${check.stdout}${check.stderr}`.trim(), '', 'no lint finding at all');
  t.notMatch(text, /^# TYPE \S+_total gauge$/m, 'no gauge named like a counter');
  t.match(text, /^# TYPE keda_carbon_nodejs_active_handles gauge$/m, 'active handles, by type');
  t.match(text, /^keda_carbon_nodejs_active_handles\{type="\w+"\} [1-9]/m);
  t.match(text, /^# TYPE keda_carbon_nodejs_active_resources gauge$/m, 'active resources, by type');
});
