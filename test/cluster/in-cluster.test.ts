import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { connectInCluster, inClusterServer, TOKEN_REREAD_MS } from '../../src/cluster/in-cluster.js';
import { connectCluster } from '../../src/cluster/kubeconfig.js';
import { generateCertificates } from '../../src/tls/certs.js';
import type { Clock } from '../../src/ports.js';
import { serviceAccountFiles, startTlsApi } from '../helpers/tls-api.js';

const api = await startTlsApi();
t.teardown(() => api.close());

function envFor(dir: string, port = api.port): Record<string, string> {
  return { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(port), KEDA_CARBON_SERVICEACCOUNT_DIR: dir };
}

/** The token is re-read on demand, keyed on the time; no timer is involved. */
function clockAt(now: () => number): Clock {
  return { now, setTimeout: () => 0, clearTimeout: () => {} };
}

function recordingLogger() {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const log = (level: string) => (obj: Record<string, unknown>, msg: string) => lines.push({ level, obj, msg });
  return { lines, logger: { warn: log('warn'), info: log('info') } as never };
}

t.test('the address: host and port from the environment, an IPv6 host in brackets', async (t) => {
  t.equal(inClusterServer({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }), 'https://10.96.0.1:443');
  t.equal(inClusterServer({ KUBERNETES_SERVICE_HOST: 'fd00:10:96::1', KUBERNETES_SERVICE_PORT: '443' }), 'https://[fd00:10:96::1]:443');
  t.equal(inClusterServer({ KUBERNETES_SERVICE_HOST: 'kubernetes.default.svc', KUBERNETES_SERVICE_PORT: '6443' }), 'https://kubernetes.default.svc:6443');
  t.throws(() => inClusterServer({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }), { name: 'KubeconfigError' });
});

t.test('requests carry the Bearer token over one keep-alive connection that trusts the service-account CA', async (t) => {
  const dir = await serviceAccountFiles(t, { ca: api.certs.caCert, token: 't0ken\n', namespace: 'ops\n' });
  const c = connectInCluster(envFor(dir));
  t.same(c.access, { kind: 'in-cluster' });
  t.equal(c.contextNamespace, 'ops', 'the namespace file, trimmed');
  const before = { seen: api.authorizations.length, connections: api.connections() };
  for (let i = 0; i < 3; i++) {
    const res = await c.api.request('GET', '/api/v1/namespaces');
    t.equal(res.status, 200);
    t.same(res.body, { kind: 'List', items: [] });
  }
  t.same(api.authorizations.slice(before.seen), ['Bearer t0ken', 'Bearer t0ken', 'Bearer t0ken'], 'the token, without its newline');
  t.equal(api.connections() - before.connections, 1, 'one TLS handshake for three requests');
});

t.test('a server whose certificate another CA signed is refused', async (t) => {
  const stranger = generateCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const dir = await serviceAccountFiles(t, { ca: stranger.caCert, token: 't0ken' });
  const seen = api.authorizations.length;
  const c = connectInCluster(envFor(dir));
  await t.rejects(c.api.request('GET', '/api/v1/namespaces'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  t.equal(api.authorizations.length, seen, 'no request, and so no token, reached the server');
});

t.test('a rotated token is used once the re-read interval has passed, not before', async (t) => {
  const dir = await serviceAccountFiles(t, { ca: api.certs.caCert, token: 'first' });
  let now = 1_000_000;
  const c = connectInCluster(envFor(dir), { clock: clockAt(() => now) });
  await c.api.request('GET', '/a');
  // The kubelet swaps the file in whole; write beside it and rename, as it does.
  await writeFile(join(dir, 'token.next'), 'second');
  await rename(join(dir, 'token.next'), join(dir, 'token'));
  now += TOKEN_REREAD_MS - 1;
  await c.api.request('GET', '/b');
  now += 1;
  await c.api.request('GET', '/c');
  t.same(api.authorizations.slice(-3), ['Bearer first', 'Bearer first', 'Bearer second']);
});

t.test('a token that cannot be read again: the last one is kept and the fault logged once', async (t) => {
  const dir = await serviceAccountFiles(t, { ca: api.certs.caCert, token: 'kept' });
  let now = 0;
  const { lines, logger } = recordingLogger();
  const c = connectInCluster(envFor(dir), { clock: clockAt(() => now), logger, tokenRereadMs: 10 });
  await rm(join(dir, 'token'));
  for (let i = 1; i <= 3; i++) {
    now = i * 10;
    await c.api.request('GET', '/x');
  }
  t.same(api.authorizations.slice(-3), ['Bearer kept', 'Bearer kept', 'Bearer kept']);
  t.equal(lines.length, 1, 'one line for three failed reads');
  t.match(lines[0], { level: 'warn', obj: { file: join(dir, 'token'), reason: /no such file/ } });
  t.notMatch(JSON.stringify(lines), /kept/, 'the token itself is never logged');
  await writeFile(join(dir, 'token'), 'back');
  now = 40;
  await c.api.request('GET', '/y');
  t.equal(api.authorizations.at(-1), 'Bearer back');
  t.match(lines.at(-1), { level: 'info', msg: 'the service-account token can be read again' });
});

t.test('a missing or empty CA or token fails at connect, naming the file', async (t) => {
  const noToken = await serviceAccountFiles(t, { ca: api.certs.caCert });
  t.throws(() => connectInCluster(envFor(noToken)), { name: 'KubeconfigError', message: `cannot read ${join(noToken, 'token')}: no such file` });
  const emptyToken = await serviceAccountFiles(t, { ca: api.certs.caCert, token: '\n' });
  t.throws(() => connectInCluster(envFor(emptyToken)), { name: 'KubeconfigError', message: `cannot use ${join(emptyToken, 'token')}: it is empty` });
  const noCa = await serviceAccountFiles(t, { token: 'x' });
  t.throws(() => connectInCluster(envFor(noCa)), { name: 'KubeconfigError', message: `cannot read ${join(noCa, 'ca.crt')}: no such file` });
  const noNamespace = await serviceAccountFiles(t, { ca: api.certs.caCert, token: 'x' });
  t.equal(connectInCluster(envFor(noNamespace)).contextNamespace, undefined, 'the namespace file is optional');
});

t.test('connectCluster, which the one-shot commands use, takes the same path in a Pod', async (t) => {
  const dir = await serviceAccountFiles(t, { ca: api.certs.caCert, token: 'cmd' });
  const c = connectCluster(undefined, envFor(dir));
  t.same(c?.access, { kind: 'in-cluster' });
  await c!.api.request('GET', '/z');
  t.equal(api.authorizations.at(-1), 'Bearer cmd');
});
