/**
 * `serve --tls-secret` as a process against the real API server: /readyz is 503 while the
 * Secret is missing, the replica holding the Lease fills it and the caBundle, and a second
 * replica starts with that certificate at once. Runs only when KEDA_CARBON_E2E_KUBECONFIG is set.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { clusterOrSkip, createNamespace, waitFor } from '../e2e/cluster-env.js';
import { bundles, handshake, MWC_PATH, secretData, secretPath } from '../helpers/cluster-certs.js';
import { startServe } from '../helpers/serve-process.js';

t.setTimeout(300_000);
const c = clusterOrSkip(t);

/** /readyz's status, without checking the certificate (as the kubelet probes). */
function readyz(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/readyz', rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('serve --tls-secret: the leader fills the Secret and the caBundle; the next replica starts with them', async (t) => {
  const ns = `kc-serve-tls-${c.id}`;
  await createNamespace(c, ns, {});
  const mwc = ns;
  await c.call('POST', MWC_PATH, [201], {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: mwc },
    webhooks: [
      {
        name: `${c.id}.serve-tls.keda-carbon.io`,
        clientConfig: { service: { namespace: ns, name: 'keda-carbon', path: '/mutate', port: 443 } },
        rules: [{ apiGroups: ['keda.sh'], apiVersions: ['v1alpha1'], operations: ['CREATE'], resources: ['scaledobjects'], scope: 'Namespaced' }],
        namespaceSelector: { matchLabels: { 'kc-serve-tls': c.id } },
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
      },
    ],
  });
  t.teardown(() => c.call('DELETE', `${MWC_PATH}/${mwc}`, [200, 404]).catch(() => undefined));
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-serve-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.yaml');
  // the re-touch timer of this test must not touch anybody else's objects
  await writeFile(config, `touch:\n  namespaceSelector: kc-serve-tls=${c.id}\n`);
  const args = ['--kubeconfig', c.kubeconfig, '--config', config, '--tls-secret', 'kc-tls', '--webhook-config', mwc, '--service-name', 'keda-carbon'];
  const env = { POD_NAMESPACE: ns, KEDA_CARBON_LEASE_NAME: `kc-serve-tls-${c.id}` };

  // two processes that each load the TypeScript sources: generous on a busy machine
  const a = await startServe(args, env, 120_000);
  t.teardown(() => a.stop('SIGKILL'));
  await waitFor('a to lead', async () => a.logs.some((l) => l.msg === 'became the leader: running the re-touch timer'));
  await waitFor('a to find the Secret missing', async () =>
    a.logs.some((l) => l.msg === 'cannot read the certificate Secret; retrying with backoff' && l.status === 404),
  );
  t.equal(await readyz(a.port), 503, 'not ready without a serving certificate');

  await c.call('POST', `/api/v1/namespaces/${ns}/secrets`, [201], { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'kc-tls' }, type: 'Opaque' });
  await waitFor('a to fill the Secret and load it', async () => (await readyz(a.port)) === 200, 90_000);
  const data = await secretData(c, ns, 'kc-tls');
  const served = new X509Certificate(data['tls.crt']!);
  t.match(served.subjectAltName, new RegExp(`DNS:keda-carbon\\.${ns}\\.svc\\.cluster\\.local`), 'the certificate is for the Service');
  t.same(await bundles(c, mwc), [data['ca.crt']], 'the caBundle holds the CA');
  t.equal(await handshake(a.port, data['ca.crt']!, `keda-carbon.${ns}.svc`), served.fingerprint256, 'the leader serves it');
  const secret = await c.call('GET', secretPath(ns, 'kc-tls'), [200]);
  t.equal(secret.type, 'Opaque', 'serve kept the type the install gave the Secret');

  const b = await startServe(args, env, 120_000);
  t.teardown(() => b.stop('SIGKILL'));
  t.equal(await readyz(b.port), 200, 'the second replica is ready as soon as it listens');
  t.equal(await handshake(b.port, data['ca.crt']!, `keda-carbon.${ns}.svc`), served.fingerprint256, 'and serves the same certificate');
  t.notOk(
    b.logs.some((l) => l.msg === 'wrote the certificate Secret'),
    'it did not write',
  );
  t.notOk(JSON.stringify([...a.logs, ...b.logs]).includes('PRIVATE KEY'), 'no key in any log line');
});
