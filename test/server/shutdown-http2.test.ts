/**
 * Shutdown with HTTP/2 sessions held open, as the API server holds them when the webhook
 * offers h2: a real `serve --http2 true` over TLS, Node's HTTP/2 client, and the gate in
 * process for the deadline.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createSecureServer, type ClientHttp2Session } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { generateCertificates } from '../../src/tls/certs.js';
import { h2Call, h2Session, negotiate } from '../helpers/http2.js';
import { loadReview, withAnnotations } from '../helpers/reviews.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { gatedServer, stallUntilBody } from '../helpers/gated-server.js';
import { until } from '../helpers/until.js';

const review = JSON.stringify(withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' }));
const DEADLINE_LOG = 'shutdown deadline reached: closing the connections still open';

async function serveWith(t: Test, drainSeconds: number): Promise<{ serve: ServeProcess; ca: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-h2-shutdown-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const serve = await startServe(['--cert-dir', dir, '--drain-seconds', String(drainSeconds), '--http2', 'true']);
  t.teardown(() => serve.stop('SIGKILL'));
  return { serve, ca: await readFile(join(dir, 'ca.crt'), 'utf8') };
}

const shuttingDown = (serve: ServeProcess) => until(() => serve.logs.some((l) => String(l.msg).startsWith('shutting down')), 'the shutdown log line');
const goaway = (session: ClientHttp2Session) => new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
const closed = (session: ClientHttp2Session) => new Promise<void>((resolve) => session.once('close', () => resolve()));

t.test('a review in flight on an h2 session at SIGTERM: the session gets GOAWAY, the review its answer, the process exits', async (t) => {
  const { serve, ca } = await serveWith(t, 3);
  const session = await h2Session(serve.port, ca);
  t.teardown(() => session.destroy());
  t.equal((await h2Call(session, '/mutate', review)).status, 200, 'a review before the signal');
  const told = goaway(session);
  const ended = closed(session);

  // asked to expect 100-continue, the server answers it once it has the headers: the review is in flight
  const stream = session.request({ ':method': 'POST', ':path': '/mutate', 'content-type': 'application/json', expect: '100-continue' });
  let status = 0;
  let body = '';
  stream.on('response', (h) => (status = Number(h[':status'])));
  stream.on('data', (d: Buffer) => (body += d));
  const answered = new Promise<void>((resolve, reject) => {
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
  await new Promise<void>((resolve) => stream.once('continue', () => resolve()));
  stream.write(review.slice(0, 100));
  serve.child.kill('SIGTERM');
  await shuttingDown(serve);
  t.equal(await told, 0, 'GOAWAY with NO_ERROR as soon as shutdown begins');
  t.equal((await negotiate(serve.port, ca, ['h2'])).alpn, 'h2', 'while the listener still takes connections (the drain is on)');
  stream.end(review.slice(100));
  await answered;
  t.equal(status, 200, 'the review in flight is answered');
  t.equal(JSON.parse(body).response.allowed, true);
  await ended;
  t.pass('the server closed the session once its stream was done');
  t.equal(await serve.stop('SIGCONT'), 0, 'the process exits 0');
  t.notOk(
    serve.logs.some((l) => l.msg === DEADLINE_LOG),
    'without waiting for the deadline',
  );
});

t.test('h2 sessions opened during the drain: GOAWAY with the first request, or, idle, when the listener closes', async (t) => {
  const { serve, ca } = await serveWith(t, 2);
  serve.child.kill('SIGTERM');
  await shuttingDown(serve);
  const used = await h2Session(serve.port, ca);
  const idle = await h2Session(serve.port, ca);
  t.teardown(() => {
    used.destroy();
    idle.destroy();
  });
  const [usedTold, idleTold] = [goaway(used), goaway(idle)];
  const bothClosed = Promise.all([closed(used), closed(idle)]);
  let idleToldYet = false;
  void idleTold.then(() => (idleToldYet = true));
  t.equal((await h2Call(used, '/readyz')).status, 503, 'readiness fails during the drain, and is answered');
  t.equal(await usedTold, 0, 'the session that carried a request is told GOAWAY with it');
  t.notOk(idleToldYet, 'before the idle one, which waits for the end of the drain');
  t.equal(await idleTold, 0, 'the idle one once the drain is over');
  await bothClosed;
  t.equal(await serve.stop('SIGCONT'), 0, 'the process exits 0');
  t.notOk(
    serve.logs.some((l) => l.msg === DEADLINE_LOG),
    'the idle session did not hold the process until the deadline',
  );
});

t.test('the gate on an HTTP/2 server: stalled h2 and HTTP/1.1 requests are cut at the deadline and exit is called', async (t) => {
  const pair = generateCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  // the requests below never send their whole body
  const server = createSecureServer({ cert: pair.cert, key: pair.key, allowHTTP1: true }, stallUntilBody);
  const { gate, port, exits } = await gatedServer(t, server);
  const received = () => new Promise((r) => server.once('request', r));

  const session = await h2Session(port, pair.caCert);
  t.teardown(() => session.destroy());
  let got = received();
  const stream = session.request({ ':method': 'POST', ':path': '/' });
  stream.on('error', () => undefined);
  stream.write('abc');
  await got;

  got = received();
  const h1 = tlsConnect({ host: '127.0.0.1', port, ca: pair.caCert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
  h1.on('error', () => undefined);
  const h1Closed = new Promise((r) => h1.once('close', r));
  h1.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
  await got;

  const told = goaway(session);
  const sessionClosed = closed(session);
  gate.begin(100);
  t.equal(await told, 0, 'the h2 session is told GOAWAY when shutdown begins');
  await Promise.all([sessionClosed, h1Closed]);
  t.pass('both stalled connections are cut at the deadline');
  await until(() => exits() > 0, 'exit called after the deadline');
  t.equal(exits(), 1);
});
