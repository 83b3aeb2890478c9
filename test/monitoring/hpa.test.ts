/**
 * Whether a cap binds, from the HPAs KEDA names after each ScaledObject, on the real API
 * server of the e2e cluster (autoscaling/v2 where served, v2beta2 on older servers).
 * Runs only when KEDA_CARBON_E2E_KUBECONFIG names a kubeconfig.
 */
import t from 'tap';
import { ANNOTATION } from '../../src/core/names.js';
import { MINUTE, clusterOrSkip, createNamespace, kedaHpa, kedaObject, kedaPath, logsWith, registerWebhook, startWebhook, waitFor } from '../e2e/cluster-env.js';

t.setTimeout(180_000);
const c = clusterOrSkip(t);
const system = `kc-hpa-system-${c.id}`;
const apps = `kc-hpa-apps-${c.id}`;

t.test('objects held at their cap: HPA at the cap with TooManyReplicas or desired = cap; not below it', async (t) => {
  process.env.KEDA_CARBON_READ_HPAS = 'true';
  t.teardown(() => void delete process.env.KEDA_CARBON_READ_HPAS);
  await createNamespace(c, system, {});
  await createNamespace(c, apps, { 'keda-carbon-e2e': c.id });
  const hour = Math.floor(Date.now() / (60 * MINUTE)) * 60 * MINUTE;
  const webhook = await startWebhook(c, { leaseNamespace: system, forecast: [[hour - 60 * MINUTE, 4 * 60, 400]] });
  t.teardown(() => webhook.serve.stop());
  await registerWebhook(t, c, webhook, apps);
  for (const name of ['limited', 'desired', 'idle']) {
    await c.call('POST', kedaPath('scaledobjects', apps), [201], kedaObject('scaledobjects', apps, name, 10, { [ANNOTATION.policy]: 'standard' }));
  }
  const version = (await c.api.request('GET', '/apis/autoscaling/v2')).status === 200 ? 'v2' : 'v2beta2';
  const limited = [
    {
      type: 'ScalingLimited',
      status: 'True',
      reason: 'TooManyReplicas',
      message: 'the desired replica count is more than the maximum replica count',
      lastTransitionTime: new Date().toISOString(),
    },
  ];
  await kedaHpa(c, apps, 'limited', 3, { desiredReplicas: 3, conditions: limited });
  await kedaHpa(c, apps, 'desired', 3, { desiredReplicas: 3 });
  await kedaHpa(c, apps, 'idle', 3, { desiredReplicas: 1 });

  const line = await waitFor(
    'the HPA cache',
    async () => logsWith(webhook, 'reading HorizontalPodAutoscalers: objects held at their cap are counted')[0],
    30_000,
  );
  t.equal(line.version, `autoscaling/${version}`, 'the version the server serves');
  const scrape = async () => (await fetch(`http://127.0.0.1:${webhook.serve.metricsPort}/metrics`)).text();
  const series = `keda_carbon_ledger_held_at_cap_objects{namespace="${apps}",policy="standard",mode="enforce"}`;
  const text = await waitFor(
    'two objects held at their cap',
    async () => {
      const body = await scrape();
      return body.includes(`${series} 2`) ? body : undefined;
    },
    30_000,
    250,
  );
  t.match(text, `keda_carbon_ledger_objects{namespace="${apps}",policy="standard",mode="enforce"} 3`, 'three objects, one of them below its cap');
});
