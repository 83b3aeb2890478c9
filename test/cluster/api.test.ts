import t from 'tap';
import { kubeApiFromUrl } from '../../src/cluster/api.js';
import { json, startServer } from '../helpers/http.js';

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
