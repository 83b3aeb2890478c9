import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import t from 'tap';
import { main } from '../../src/cli/main.js';
import { startServe } from '../helpers/serve-process.js';
import { publish } from '../helpers/volume.js';
import { clusterOrSkip, createNamespace, kedaObject, kedaPath, registerWebhook, waitFor } from './cluster-env.js';

// certs-scripts/rotate.sh against the real API server, with a webhook that the API server
// reaches by IP address (a certificate made with --ip-address): the rotation keeps that name,
// checks the API server still calls the webhook, and refuses to start when it does not. The
// loopback control plane has no kubelet: the test syncs the Secret into serve's certificate
// directory as the kubelet does, and `kubectl exec POD -- cat FILE` reads that directory.

const c = clusterOrSkip(t);
const ROTATE = fileURLToPath(new URL('../../certs-scripts/rotate.sh', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ns = `rotate-${c.id}`;
const probeNs = `rotate-probe-${c.id}`;
const secretPath = `/api/v1/namespaces/${ns}/secrets/keda-carbon-tls`;
const webhookPath = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/keda-carbon-e2e-${c.id}`;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

/** keda-carbon certs into DIR, in this process. */
async function makeCerts(dir: string, extra: string[]): Promise<void> {
  const io = { stdout: { write: () => true }, stderr: { write: () => true }, env: {} };
  const code = await main(['certs', '--service', 'keda-carbon', '--namespace', ns, '--out-dir', dir, ...extra], io);
  if (code !== 0) throw new Error(`keda-carbon certs exited ${code}`);
}

function rotate(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    'bash',
    [ROTATE, '--overlay', 'none', '--namespace', ns, '--webhook', `keda-carbon-e2e-${c.id}`, '--check-namespace', probeNs, '--wait', '60', ...args],
    {
      env: { ...process.env, KUBECONFIG: c.kubeconfig, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

/** A dry-run ScaledObject in the probe namespace whose inline policy caps it at 1: capped means the webhook was called. */
async function webhookCaps(): Promise<boolean> {
  const probe = kedaObject('scaledobjects', probeNs, 'probe', 10, {
    'keda-carbon.io/environmental-impact': '{"carbon":[{"measuredEmission":0,"allowedMaxReplicaCount":1}]}',
  });
  const res = await c.call('POST', `${kedaPath('scaledobjects', probeNs)}?dryRun=All`, [201], probe);
  return res.spec.maxReplicaCount === 1;
}

const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-rotate-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const volume = join(dir, 'volume');
await mkdir(volume);
await makeCerts(join(dir, 'first'), ['--ip-address', '127.0.0.1']);
const first = {
  'tls.crt': await readFile(join(dir, 'first/tls.crt'), 'utf8'),
  'tls.key': await readFile(join(dir, 'first/tls.key'), 'utf8'),
  'ca.crt': await readFile(join(dir, 'first/ca.crt'), 'utf8'),
};
let generation = 0;
await publish(volume, first, ++generation);
const serve = await startServe(['--cert-dir', volume]);
t.teardown(() => serve.stop('SIGKILL'));

await createNamespace(c, ns, {});
await createNamespace(c, probeNs, { 'keda-carbon-e2e': c.id });
await c.call('POST', `/api/v1/namespaces/${ns}/secrets`, [201], {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'keda-carbon-tls', namespace: ns },
  type: 'kubernetes.io/tls',
  data: Object.fromEntries(Object.entries(first).map(([k, v]) => [k, b64(v)])),
});
await c.call('POST', `/api/v1/namespaces/${ns}/services`, [201], {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'keda-carbon', namespace: ns },
  spec: { selector: { app: `rotate-${c.id}` }, ports: [{ port: 443, targetPort: 8443 }] },
});
// no controller-manager makes the namespace's default ServiceAccount, which a Pod needs
await c.call('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, [201], { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } });
await c.call('POST', `/api/v1/namespaces/${ns}/pods`, [201], {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'keda-carbon-0', namespace: ns, labels: { app: `rotate-${c.id}` } },
  spec: { automountServiceAccountToken: false, containers: [{ name: 'webhook', image: 'keda-carbon' }] },
});
// what the kubelet would report for the pod serve stands in for
await c.call('PATCH', `/api/v1/namespaces/${ns}/pods/keda-carbon-0/status`, [200], { status: { phase: 'Running' } }, 'application/merge-patch+json');
await registerWebhook(t, c, { dir, forecast: '', serve }, probeNs);

// the kubelet: the Secret's current content, published into the volume when a watch says it changed
let synced = first['tls.crt'];
let publishing: Promise<void> = Promise.resolve();
const kc = new KubeConfig();
kc.loadFromFile(c.kubeconfig);
const secretWatch = await new Watch(kc).watch(
  `/api/v1/namespaces/${ns}/secrets`,
  { fieldSelector: 'metadata.name=keda-carbon-tls' },
  (_phase, secret) => {
    const crt = unb64(secret?.data?.['tls.crt'] ?? '');
    if (crt === '' || crt === synced) return;
    synced = crt;
    const files = { 'tls.crt': crt, 'tls.key': unb64(secret.data['tls.key']), 'ca.crt': unb64(secret.data['ca.crt']) };
    publishing = publishing.then(() => publish(volume, files, ++generation));
  },
  (err) => {
    if (err && err.name !== 'AbortError') t.fail(`the Secret watch ended: ${err.message ?? err}`);
  },
);
t.teardown(async () => {
  secretWatch.abort();
  await publishing;
});

// kubectl, but `exec POD -- cat /etc/keda-carbon/tls/FILE` reads FILE from the volume
const kubectl = join(dir, 'kubectl');
await writeFile(kubectl, `#!/usr/bin/env bash\nif [[ $1 == exec ]]; then last=\${!#}; exec cat "${volume}/\${last##*/}"; fi\nexec kubectl "$@"\n`);
await chmod(kubectl, 0o755);
const env = { KUBECTL: kubectl, KEDA_CARBON_BIN: [process.execPath, ...process.execArgv, MAIN].join(' ') };

t.test('a rotation keeps the IP address the API server calls the webhook by, and the webhook keeps capping', async (t) => {
  const oldBundle = (await c.call('GET', webhookPath, [200])).webhooks[0].clientConfig.caBundle;
  const run = await rotate([], env);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stderr, /keeps the current one's names: --ip-address 127\.0\.0\.1/);
  t.match(run.stderr, /the API server calls the webhook with the new certificate/);
  const secret = await c.call('GET', secretPath, [200]);
  const cert = new X509Certificate(unb64(secret.data['tls.crt']));
  t.not(cert.fingerprint256, new X509Certificate(first['tls.crt']).fingerprint256, 'a new certificate');
  t.match(cert.subjectAltName, /IP Address:127\.0\.0\.1/, 'with the address of the old one');
  const bundle = (await c.call('GET', webhookPath, [200])).webhooks[0].clientConfig.caBundle;
  t.not(bundle, oldBundle);
  t.equal(unb64(bundle), unb64(secret.data['ca.crt']), 'only the new CA is trusted');
  t.equal(await readFile(join(volume, 'tls.crt'), 'utf8'), unb64(secret.data['tls.crt']), 'serve has it');
  await waitFor('the API server to call the webhook with only the new CA', webhookCaps, 30_000);
});

t.test('a webhook the API server does not call: the rotation refuses to start, fails, and changes nothing', async (t) => {
  const before = await c.call('GET', secretPath, [200]);
  const bundle = (await c.call('GET', webhookPath, [200])).webhooks[0].clientConfig.caBundle;
  await serve.stop('SIGKILL');
  const run = await rotate([], env);
  t.equal(run.code, 1);
  t.match(run.stderr, /error: the API server does not call the webhook even before the rotation/);
  t.equal((await c.call('GET', secretPath, [200])).data['tls.crt'], before.data['tls.crt'], 'the Secret is as it was');
  t.equal((await c.call('GET', webhookPath, [200])).webhooks[0].clientConfig.caBundle, bundle, 'so is the caBundle');
});
