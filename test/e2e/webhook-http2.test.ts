/**
 * `serve --http2 true` called by the real API server: which protocol the webhook client of
 * apiextensions-apiserver (the caller for keda.sh objects) chooses when the webhook offers
 * HTTP/2 through ALPN, counted on serve's side. Runs only when KEDA_CARBON_E2E_KUBECONFIG is set.
 */
import { get } from 'node:http';
import t, { type Test } from 'tap';
import { ANNOTATION } from '../../src/core/names.js';
import { LABEL, MINUTE, clusterOrSkip, createNamespace, kedaObject, kedaPath, registerWebhook, startWebhook, type Webhook } from './cluster-env.js';

t.setTimeout(180_000);
const c = clusterOrSkip(t);

function metricsPage(w: Webhook): Promise<string> {
  return new Promise((resolve, reject) => {
    get(`http://127.0.0.1:${w.serve.metricsPort}/metrics`, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** A counter's value per protocol label. */
async function byProtocol(w: Webhook, metric: string): Promise<Record<string, number>> {
  const out: Record<string, number> = { h2: 0, 'http/1.1': 0 };
  for (const m of (await metricsPage(w)).matchAll(new RegExp(`^${metric}\\{protocol="([^"]+)"\\} (\\d+)$`, 'gm'))) out[m[1]!] = Number(m[2]);
  return out;
}

/** Five objects created and updated through the API server in a fresh namespace, each checked capped. */
async function writeThrough(t: Test, http2: string | undefined): Promise<Webhook> {
  const system = `kc-h2-system-${http2 ?? 'default'}-${c.id}`;
  const ns = `kc-h2-${http2 ?? 'default'}-${c.id}`;
  await createNamespace(c, system, {});
  await createNamespace(c, ns, { 'keda-carbon-e2e': c.id });
  const now = Date.now();
  const webhook = await startWebhook(c, {
    leaseNamespace: system,
    // no credentials: no controller writes, so every review comes from the writes below
    webhookOnly: true,
    forecast: [[now - (now % (60 * MINUTE)) - 60 * MINUTE, 240, 400]],
    env: http2 === undefined ? {} : { KEDA_CARBON_HTTP2: http2 },
  });
  t.teardown(() => webhook.serve.stop());
  await registerWebhook(t, c, webhook, ns);
  for (let i = 0; i < 5; i++) {
    const created = await c.call('POST', kedaPath('scaledobjects', ns), [201], kedaObject('scaledobjects', ns, `web-${i}`, 10, { [LABEL]: 'standard' }));
    t.equal(created.spec.maxReplicaCount, 3, `web-${i} capped on create`);
    const updated = await c.call('PATCH', kedaPath('scaledobjects', ns, `web-${i}`), [200], { spec: { maxReplicaCount: 20 } }, 'application/merge-patch+json');
    t.equal(updated.metadata.annotations[ANNOTATION.declared], '20', `web-${i} capped on update`);
  }
  return webhook;
}

t.test('offered HTTP/2, the API server calls the webhook over h2, and the writes are capped', async (t) => {
  const webhook = await writeThrough(t, 'true');
  const requests = await byProtocol(webhook, 'keda_carbon_admission_http_requests_total');
  const connections = await byProtocol(webhook, 'keda_carbon_webhook_connections_total');
  t.comment(`reviews by protocol: ${JSON.stringify(requests)}; connections by protocol: ${JSON.stringify(connections)}`);
  t.ok(requests.h2! >= 10, `every review of the ten writes came over h2 (${requests.h2})`);
  t.equal(requests['http/1.1'], 0, 'none over HTTP/1.1');
  t.ok(connections.h2! >= 1, 'the caller negotiated h2 through ALPN');
});

t.test('not offered (the default), the API server calls over HTTP/1.1', async (t) => {
  const webhook = await writeThrough(t, undefined);
  const requests = await byProtocol(webhook, 'keda_carbon_admission_http_requests_total');
  t.comment(`reviews by protocol: ${JSON.stringify(requests)}`);
  t.ok(requests['http/1.1']! >= 10, `every review came over HTTP/1.1 (${requests['http/1.1']})`);
  t.equal(requests.h2, 0, 'none over h2');
  t.equal((await byProtocol(webhook, 'keda_carbon_webhook_connections_total')).h2, 0);
});
