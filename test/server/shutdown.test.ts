import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startServe } from '../helpers/serve-process.js';
import { loadReview, withAnnotations } from '../helpers/reviews.js';
import { until } from '../helpers/until.js';

const review = JSON.stringify(withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' }));

function call(port: number, ca: string, agent: Agent, path = '/mutate', body: string | null = review): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: body === null ? 'GET' : 'POST',
        ca,
        agent,
        headers: body === null ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

t.test('SIGTERM under load: readiness fails first, every request sent is answered', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-shutdown-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const serve = await startServe(['--cert-dir', dir, '--drain-seconds', '1']);
  t.teardown(() => serve.stop('SIGKILL'));
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
  const agent = new Agent({ keepAlive: true, maxSockets: 8, ca });
  t.teardown(() => agent.destroy());

  // Eight clients send reviews back to back; like the endpoints controller, they stop
  // sending new ones once readiness fails. Everything they sent must be answered 200.
  let stopSending = false;
  const statuses: number[] = [];
  const errors: string[] = [];
  const client = async () => {
    while (!stopSending) {
      try {
        statuses.push(await call(serve.port, ca, agent));
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  };
  const clients = Array.from({ length: 8 }, client);
  await until(() => statuses.length >= 16, 'reviews flowing before the signal');
  const before = statuses.length;
  serve.child.kill('SIGTERM');
  let ready = 200;
  while (ready === 200) {
    ready = await call(serve.port, ca, agent, '/readyz', null);
  }
  t.equal(ready, 503, 'readiness fails after SIGTERM');
  stopSending = true;
  await Promise.all(clients);
  t.ok(before > 0, `requests flowed before the signal (${before})`);
  t.same(errors, [], 'no request failed');
  t.ok(
    statuses.every((s) => s === 200),
    `all ${statuses.length} answered 200`,
  );
  agent.destroy();
  t.equal(await serve.stop(), 0, 'exits 0 after the drain');
  t.ok(serve.logs.some((l) => l.msg === 'stopped'));
});

t.test('a request in flight when the listener closes still completes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-shutdown-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const serve = await startServe(['--cert-dir', dir, '--drain-seconds', '0']);
  t.teardown(() => serve.stop('SIGKILL'));
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
  const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: serve.port,
        path: '/mutate',
        method: 'POST',
        ca,
        // Node answers 100 Continue once it has read the headers: the request is in flight
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(review), expect: '100-continue' },
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    // Half the body now, the rest once shutdown has begun: the request is in flight during close.
    req.once('continue', () => {
      req.write(review.slice(0, 100));
      serve.child.kill('SIGTERM');
      void until(() => serve.logs.some((l) => String(l.msg).startsWith('shutting down')), 'the shutdown log line').then(
        () => req.end(review.slice(100)),
        reject,
      );
    });
    req.flushHeaders();
  });
  const { status, body } = await answered;
  t.equal(status, 200);
  t.equal(JSON.parse(body).response.allowed, true);
  t.equal(await serve.stop(), 0);
});
