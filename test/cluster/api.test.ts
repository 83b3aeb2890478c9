import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { kubeApiFromConfig, kubeApiFromUrl, sameTls } from '../../src/cluster/api.js';
import { generateCertificates } from '../../src/tls/certs.js';
import { json, startServer } from '../helpers/http.js';
import { startTlsApi } from '../helpers/tls-api.js';

t.test('a server URL with a path keeps it as the prefix of every request path', async (t) => {
  const srv = await startServer((_req, res) => json(res, 200, { kind: 'Status' }));
  t.teardown(() => srv.close());
  const api = kubeApiFromUrl(`${srv.url}/k8s/`);
  const res = await api.request('GET', '/api/v1/namespaces/a%20b?limit=1');
  t.equal(res.status, 200);
  t.same(res.body, { kind: 'Status' });
  t.equal(srv.requests[0]?.path, '/k8s/api/v1/namespaces/a%20b?limit=1');
});

t.test('a body sent in pieces is read whole; one cut short is an error, not a truncated answer', async (t) => {
  const text = JSON.stringify({ items: Array.from({ length: 2_000 }, (_, i) => ({ name: `object-${i}` })) });
  const srv = await startServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(text.length) });
    if (req.url === '/whole') {
      res.write(text.slice(0, 1_000));
      setTimeout(() => res.end(text.slice(1_000)), 20);
      return;
    }
    res.write(text.slice(0, 1_000));
    setTimeout(() => res.socket?.destroy(), 20);
  });
  t.teardown(() => srv.close());
  const api = kubeApiFromUrl(srv.url);
  const whole = await api.request('GET', '/whole');
  t.equal((whole.body as { items: unknown[] }).items.length, 2_000);
  await t.rejects(api.request('GET', '/cut'));
});

t.test('the timeout covers the body, not only the response head', async (t) => {
  const srv = await startServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
    res.write('{"kind":');
  });
  t.teardown(() => srv.close());
  const api = kubeApiFromUrl(srv.url);
  await t.rejects(api.request('GET', '/slow', { timeoutMs: 50 }));
});

t.test('a kubeconfig client keeps one connection while its TLS material is unchanged, and a new CA file takes effect at once', async (t) => {
  const api = await startTlsApi();
  t.teardown(() => api.close());
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-api-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const caFile = join(dir, 'ca.crt');
  await writeFile(caFile, api.certs.caCert);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${api.port}`, caFile, skipTLSVerify: false }],
    users: [{ name: 'u', token: 'from-kubeconfig' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  const client = kubeApiFromConfig(kc);
  for (let i = 0; i < 3; i++) t.equal((await client.request('GET', '/api')).status, 200);
  t.equal(api.connections(), 1, 'client-node reads the CA file anew each time; same bytes, same agent');
  t.same(api.authorizations, ['Bearer from-kubeconfig', 'Bearer from-kubeconfig', 'Bearer from-kubeconfig']);
  await writeFile(caFile, generateCertificates({ dnsNames: ['localhost'], ipAddresses: [] }).caCert);
  await t.rejects(client.request('GET', '/api'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'another CA: a new agent, which refuses the server');
  await writeFile(caFile, api.certs.caCert);
  t.equal((await client.request('GET', '/api')).status, 200);
  t.equal(api.connections(), 2, 'the right CA again: one new connection');
});

t.test('TLS material compares by bytes', async (t) => {
  const a = { ca: Buffer.from('ca'), cert: Buffer.from('cert'), rejectUnauthorized: undefined };
  t.ok(sameTls(a, { ca: Buffer.from('ca'), cert: Buffer.from('cert') }), 'new buffers, same bytes');
  t.notOk(sameTls(a, { ca: Buffer.from('ca'), cert: Buffer.from('cerT') }), 'one byte differs');
  t.notOk(sameTls(a, { ca: Buffer.from('ca') }), 'a certificate dropped');
  t.notOk(sameTls({ servername: 'a' }, { servername: 'b' }));
  t.notOk(sameTls({ rejectUnauthorized: false }, {}));
});
