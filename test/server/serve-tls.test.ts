import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest, Agent } from 'node:https';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { until } from '../helpers/until.js';
import { startServe } from '../helpers/serve-process.js';
import { applyResponsePatch, loadReview, withAnnotations } from '../helpers/reviews.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function post(port: number, ca: string, path: string, body: string, agent?: Agent, contentType = 'application/json'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, method: 'POST', ca, agent, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet(url, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve(data));
    }).on('error', reject);
  });
}

t.test('serve over TLS with embedded defaults: a self-made CA, capped reviews, clean shutdown', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-serve-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const certDir = join(dir, 'tls');
  const config = join(dir, 'config.yaml');
  // A file source with one high value for the whole day, so the cap is predictable.
  const forecast = join(dir, 'forecast.json');
  const dayStart = new Date();
  dayStart.setUTCHours(0, 0, 0, 0);
  await writeFile(forecast, JSON.stringify([{ timestamp: dayStart.toISOString(), duration: 48 * 60, value: 420 }]));
  await writeFile(
    config,
    `intensity:\n  provider: file\n  path: ${forecast}\npolicies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: "50%"}]\n`,
  );

  const serve = await startServe(['--cert-dir', certDir, '--config', config]);
  t.teardown(() => serve.stop('SIGKILL'));
  const made = serve.logs.find((l) => l.msg === 'made a local CA and serving certificate; trust the CA file to call the webhook');
  t.ok(made, 'says it made a CA');
  t.equal(made?.caFile, join(certDir, 'ca.crt'), 'and where the CA file is');
  const ca = await readFile(join(certDir, 'ca.crt'), 'utf8');

  // Wait until the file source has been read (readiness reports it).
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
  t.teardown(() => agent.destroy());
  const readyz = () =>
    new Promise<string>((resolve, reject) => {
      httpsRequest({ host: '127.0.0.1', port: serve.port, path: '/readyz', ca }, (res) => {
        let d = '';
        res.on('data', (c) => (d += c));
        res.on('end', () => resolve(d));
      })
        .on('error', reject)
        .end();
    });
  let fresh = false;
  await until(async () => (fresh = JSON.parse(await readyz()).carbon.fresh === true), 'readyz to report fresh carbon data');
  t.ok(fresh, 'readyz reports fresh carbon data');

  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' });
  const reply = await post(serve.port, ca, '/mutate?timeout=5s', JSON.stringify(review), agent);
  t.equal(reply.status, 200, 'routes on the path, ignoring ?timeout=');
  t.match(String(reply.headers['keep-alive']), /timeout=95/, "keep-alive above the API server's 90 s");
  const answer = JSON.parse(reply.body);
  t.equal(answer.response.uid, review.request.uid);
  const patched = applyResponsePatch(review.request.object, answer.response);
  t.equal(patched.spec.maxReplicaCount, 5, '50% of 10 at 420 g');
  t.same(answer.response.warnings, ['keda-carbon: maxReplicaCount 10 -> 5 (420 gCO2eq/kWh >= 300)']);

  const garbage = await post(serve.port, ca, '/mutate', '{"kind": "AdmissionRev', agent);
  t.equal(garbage.status, 400, 'truncated JSON is a 400');
  t.match(JSON.parse(garbage.body), { kind: 'Status', code: 400, message: /keda-carbon: / });
  const foreign = await post(serve.port, ca, '/mutate', JSON.stringify({ apiVersion: 'v1', kind: 'Pod' }), agent);
  t.equal(foreign.status, 400);
  t.match(JSON.parse(foreign.body).message, /expected kind AdmissionReview/);
  const text = await post(serve.port, ca, '/mutate', 'hello', agent, 'text/plain');
  t.equal(text.status, 400, 'a body that is not JSON is refused');
  t.match(JSON.parse(text.body).message, /expected a JSON AdmissionReview object/);
  const after = await post(serve.port, ca, '/mutate', JSON.stringify(review), agent);
  t.equal(after.status, 200, 'still serving after bad input');

  await t.rejects(post(serve.port, 'not the CA', '/mutate', '{}'), 'a client that does not trust our CA cannot connect');
  const tls11 = new Promise((resolve, reject) => {
    httpsRequest({ host: '127.0.0.1', port: serve.port, path: '/healthz', ca, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }, resolve).on('error', reject).end();
  });
  await t.rejects(tls11, 'TLS 1.1 is refused');

  const metrics = await getText(`http://127.0.0.1:${serve.metricsPort}/metrics`);
  t.match(metrics, /keda_carbon_admission_requests_total\{operation="CREATE",kind="ScaledObject",result="patched"\} 2/);
  t.match(metrics, /keda_carbon_admission_rejected_total\{code="400"\} 3/, 'truncated JSON, a Pod and text: each refused and counted');

  agent.destroy();
  t.equal(await serve.stop('SIGTERM'), 0, 'SIGTERM exits 0');

  const again = await startServe(['--cert-dir', certDir, '--config', config]);
  t.teardown(() => again.stop('SIGKILL'));
  t.ok(
    again.logs.some((l) => l.msg === 'using the certificate in the certificate directory'),
    'the second start reuses the certificate',
  );
  t.equal(await readFile(join(certDir, 'ca.crt'), 'utf8'), ca, 'same CA');
  t.equal(await again.stop('SIGTERM'), 0);
});

t.test('serve refuses to start on an invalid config and names the key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-serve-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.yaml');
  await writeFile(config, 'intensity:\n  provider: nope\n');
  await t.rejects(startServe(['--cert-dir', join(dir, 'tls'), '--config', config]), /intensity\.provider: must be one of/);
});
