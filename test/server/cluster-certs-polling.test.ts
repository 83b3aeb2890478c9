/**
 * The polling of ClusterCertificates without a cluster: a real HTTP server on 127.0.0.1
 * stands in for an API server that fails, and a fake clock shows the backoff and its reset.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { kubeApiFromUrl } from '../../src/cluster/api.js';
import { ClusterCertificates } from '../../src/server/cluster-certs.js';
import { FakeClock } from '../helpers/clock.js';
import { captureLogger } from '../helpers/log.js';
import { until } from '../helpers/until.js';

t.test('a failing API server: backoff with jitter up to a minute, one log line, and back to the interval once it answers', async (t) => {
  let status = 503;
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(status === 200 ? { metadata: { name: 'kc-tls', resourceVersion: '1' }, data: {} } : { message: 'unavailable' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const clock = new FakeClock(Date.now());
  const { logger, lines } = captureLogger();
  const certs = new ClusterCertificates({
    api: kubeApiFromUrl(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    namespace: 'kc',
    secretName: 'kc-tls',
    webhookConfig: 'kc',
    names: ['kc.kc.svc'],
    certValidityMs: 60_000,
    caValidityMs: 120_000,
    isLeader: () => false,
    onPair: () => t.fail('nothing to load'),
    logger,
    clock,
    random: () => 0.5,
  });
  t.teardown(() => certs.stop());
  certs.start();
  await clock.advance(0); // the first read is due at once
  const delays: number[] = [];
  for (let i = 1; i <= 6; i++) {
    await until(() => paths.length === i && clock.timers.length === 1, `read ${i} and the next one scheduled`);
    delays.push(clock.nextDelay()!);
    if (i < 6) await clock.advance(clock.nextDelay()!);
  }
  t.same(delays, [5_000, 10_000, 20_000, 40_000, 60_000, 60_000], 'doubling from the poll interval, capped at a minute');
  t.same(new Set(paths), new Set(['GET /api/v1/namespaces/kc/secrets/kc-tls']), 'only GETs of the one Secret');
  const said = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'cannot read the certificate Secret; retrying with backoff');
  t.equal(said.length, 1, 'the failure is logged once');
  t.equal(said[0].status, 503);

  status = 200;
  await clock.advance(clock.nextDelay()!);
  await until(() => paths.length === 7 && clock.timers.length === 1, 'a read that succeeds');
  t.equal(clock.nextDelay(), 5_000, 'back to the interval');
  t.equal(certs.loaded, false, 'an empty Secret loads nothing');
  t.ok(
    lines.some((l) => l.includes('the certificate Secret holds no serving certificate yet')),
    'and says so',
  );
});
