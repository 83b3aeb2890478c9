/**
 * HTTP/2 offered through ALPN on the webhook port: real TLS on 127.0.0.1, Node's own HTTP/2
 * and HTTP/1.1 clients, the app `serve` builds and the certificate reloader it runs.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { loadConfigFile } from '../../src/config/config.js';
import { silentLogger } from '../../src/log.js';
import { ADMISSION_BODY_LIMIT, buildApp, HTTP2_LIMITS } from '../../src/server/app.js';
import { createMetrics, type Metrics } from '../../src/server/metrics.js';
import { fileTls } from '../../src/server/tls-source.js';
import { generateCertificates } from '../../src/tls/certs.js';
import { steady } from '../helpers/carbon.js';
import { h2Call, h2Session, negotiate } from '../helpers/http2.js';
import { loadReview, withAnnotations } from '../helpers/reviews.js';
import { until } from '../helpers/until.js';

const NOW = Date.parse('2026-11-23T10:30:00Z');
// Node warns (once, on stderr) when an answer over HTTP/2 carries a header HTTP/2 forbids.
const warnings: string[] = [];
process.on('warning', (w) => warnings.push(`${w.name}: ${w.message}`));
const review = JSON.stringify(withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' }));
const pair = generateCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });

/** The webhook app listening on 127.0.0.1 with `https`; closed at the end of the test. */
async function listening(
  t: Test,
  http2: boolean | undefined,
  https = { cert: pair.cert, key: pair.key },
): Promise<{ port: number; metrics: Metrics; app: ReturnType<typeof buildApp> }> {
  const config = await loadConfigFile(undefined);
  const carbon = steady(600, NOW);
  const metrics = createMetrics();
  const app = buildApp({
    admission: { config: () => config, carbon: { snapshot: () => carbon }, now: () => NOW },
    readiness: () => ({ serving: true, carbon: { fresh: true, source: 'test', fetchedAt: null } }),
    metrics,
    https,
    http2,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  return { port: (app.server.address() as AddressInfo).port, metrics, app };
}

function h1Post(port: number, ca: string): Promise<{ status: number; body: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/mutate?timeout=10s', method: 'POST', ca, agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, alpn: (res.socket as import('node:tls').TLSSocket).alpnProtocol ?? false }));
      },
    );
    req.on('error', reject);
    req.end(review);
  });
}

const counted = async (metrics: Metrics, metric: string, protocol: string): Promise<number> =>
  Number(new RegExp(`${metric}\\{protocol="${protocol.replace('/', '\\/')}"\\} (\\d+)`).exec(await metrics.registry.metrics())?.[1] ?? 0);

t.test('offered: ALPN picks h2, and an HTTP/2 client gets the AdmissionReview answer', async (t) => {
  const { port, metrics } = await listening(t, true);
  t.equal((await negotiate(port, pair.caCert, ['h2', 'http/1.1'])).alpn, 'h2', 'a client offering both gets h2');
  const session = await h2Session(port, pair.caCert);
  t.teardown(() => session.destroy());
  t.equal(session.alpnProtocol, 'h2');
  t.equal(session.remoteSettings.maxConcurrentStreams, HTTP2_LIMITS.maxConcurrentStreams, 'the stream limit is announced');
  t.equal(session.remoteSettings.maxHeaderListSize, HTTP2_LIMITS.maxHeaderListSize, 'the header limit is announced');
  const answers = await Promise.all([h2Call(session, '/mutate?timeout=10s', review), h2Call(session, '/mutate?timeout=10s', review)]);
  for (const answer of answers) {
    t.equal(answer.status, 200);
    const { response } = JSON.parse(answer.body);
    t.equal(response.allowed, true);
    t.equal(response.patchType, 'JSONPatch', 'capped as over HTTP/1.1');
    t.equal(response.uid, JSON.parse(review).request.uid);
  }
  t.equal((await h2Call(session, '/readyz')).status, 200, 'readiness answers over HTTP/2 too');
  t.equal(await counted(metrics, 'keda_carbon_admission_http_requests_total', 'h2'), 2, 'both reviews counted as h2');
  t.equal(await counted(metrics, 'keda_carbon_webhook_connections_total', 'h2'), 2, 'the probe and the session, one connection each');
});

t.test('offered: HTTP/1.1 clients still work on the same port', async (t) => {
  const { port, metrics } = await listening(t, true);
  t.equal((await negotiate(port, pair.caCert, ['http/1.1'])).alpn, 'http/1.1', 'a client offering http/1.1 only gets it');
  t.equal((await negotiate(port, pair.caCert, [])).alpn, false, 'a client offering nothing gets no ALPN, and speaks HTTP/1.1');
  const answer = await h1Post(port, pair.caCert);
  t.equal(answer.status, 200);
  t.equal(JSON.parse(answer.body).response.patchType, 'JSONPatch');
  t.equal(await counted(metrics, 'keda_carbon_admission_http_requests_total', 'http/1.1'), 1);
  t.equal(await counted(metrics, 'keda_carbon_admission_http_requests_total', 'h2'), 0);
  t.equal(await counted(metrics, 'keda_carbon_webhook_connections_total', 'http/1.1'), 3, 'every connection without h2 is HTTP/1.1');
});

t.test('not offered (the default): ALPN says http/1.1 only and an HTTP/2-only client is refused', async (t) => {
  for (const http2 of [false, undefined]) {
    const { port, metrics } = await listening(t, http2);
    t.equal((await negotiate(port, pair.caCert, ['h2', 'http/1.1'])).alpn, 'http/1.1', `http2: ${http2}: a client offering both gets http/1.1`);
    await t.rejects(negotiate(port, pair.caCert, ['h2']), { code: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL' }, 'h2 alone is refused in the handshake');
    await t.rejects(h2Session(port, pair.caCert), 'the HTTP/2 client cannot connect');
    const answer = await h1Post(port, pair.caCert);
    t.equal(answer.status, 200, 'HTTP/1.1 works as before');
    t.equal(answer.alpn, false, "Node's HTTPS client offers no ALPN");
    t.equal(await counted(metrics, 'keda_carbon_webhook_connections_total', 'h2'), 0);
  }
});

t.test('a reloaded certificate reaches new HTTP/2 connections; the open session keeps working', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-h2-reload-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const metrics = createMetrics();
  const tls = await fileTls(dir, silentLogger, metrics);
  const { port, app } = await listening(t, true, tls.initial);
  t.teardown(tls.start(app.server as unknown as HttpsServer));
  const oldCa = await readFile(join(dir, 'ca.crt'), 'utf8');
  const live = await h2Session(port, oldCa);
  t.teardown(() => live.destroy());
  t.equal((await h2Call(live, '/healthz')).status, 200);

  const next = generateCertificates({ commonName: 'rotated', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  await writeFile(join(dir, 'tls.key.new'), next.key);
  await writeFile(join(dir, 'tls.crt.new'), next.cert);
  await rename(join(dir, 'tls.key.new'), join(dir, 'tls.key'));
  await rename(join(dir, 'tls.crt.new'), join(dir, 'tls.crt'));
  const both = oldCa + next.caCert;
  const rotated = new X509Certificate(next.cert).fingerprint256;
  await until(async () => (await negotiate(port, both, ['h2'])).fingerprint === rotated, 'the rotated certificate on new connections', 15_000);

  const fresh = await h2Session(port, next.caCert);
  t.teardown(() => fresh.destroy());
  t.equal(fresh.alpnProtocol, 'h2', 'a new connection still negotiates h2 after the reload');
  t.equal((await h2Call(fresh, '/mutate', review)).status, 200, 'and trusts the new CA');
  await t.rejects(h2Session(port, oldCa), 'a new connection no longer presents the old certificate');
  t.equal((await h2Call(live, '/healthz')).status, 200, 'the session opened before the reload still works');
});

t.test('the body limit holds per stream: a review near 7 MiB is read, one above is refused with 413', async (t) => {
  const { port } = await listening(t, true);
  const session = await h2Session(port, pair.caCert);
  t.teardown(() => session.destroy());
  const big = JSON.parse(review);
  big.request.object.metadata.annotations.padding = 'x'.repeat(ADMISSION_BODY_LIMIT - review.length - 1024);
  const near = await h2Call(session, '/mutate', JSON.stringify(big));
  t.equal(near.status, 200, 'within the session memory limit: the body streams through');
  t.equal(JSON.parse(near.body).response.uid, big.request.uid);
  big.request.object.metadata.annotations.padding += 'x'.repeat(2048);
  const over = await h2Call(session, '/mutate', JSON.stringify(big));
  t.equal(over.status, 413);
  t.match(JSON.parse(over.body), { kind: 'Status', code: 413 });
});

t.test('a body that is not JSON over h2: a 400 Status, no connection header Node would warn about', async (t) => {
  const { port } = await listening(t, true);
  const session = await h2Session(port, pair.caCert);
  t.teardown(() => session.destroy());
  const answer = await h2Call(session, '/mutate', '{"not json');
  t.equal(answer.status, 400);
  t.match(JSON.parse(answer.body), { kind: 'Status', code: 400 });
  t.same(warnings, [], 'no warning in this process, for this body or the oversized one before');
  t.equal((await h2Call(session, '/healthz')).status, 200, 'the session goes on after the refusal');
});

t.test("rapid reset (CVE-2023-44487): Node's limit on cancelled streams still ends such a connection", async (t) => {
  const { port, app } = await listening(t, true);
  let reached = 0;
  app.server.on('stream', () => reached++);
  const session = await h2Session(port, pair.caCert);
  t.teardown(() => session.destroy());
  const ended = new Promise<void>((resolve) => session.once('close', () => resolve()));
  let told = false;
  session.once('goaway', () => (told = true));
  let sent = 0;
  // open a stream and cancel it at once, again and again, as the attack does
  while (!told && !session.destroyed && sent < 5000) {
    const stream = session.request({ ':method': 'POST', ':path': '/mutate', 'content-type': 'application/json' });
    stream.on('error', () => undefined);
    stream.close(constants.NGHTTP2_CANCEL);
    sent++;
    if (sent % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  await ended;
  t.ok(told, 'the server sent GOAWAY and closed the connection');
  // nghttp2's bucket holds 1,000 resets and refills 33 a second
  t.ok(reached < 2000, `after about a thousand streams: ${reached} of the ${sent} sent reached the server`);
  const fresh = await h2Session(port, pair.caCert);
  t.teardown(() => fresh.destroy());
  t.equal((await h2Call(fresh, '/mutate', review)).status, 200, 'other connections are served');
});
