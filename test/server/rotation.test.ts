import { mkdtemp, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { generateCertificates } from '../../src/tls/certs.js';
import { startServe } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

function healthz(port: number, ca: string, agent?: Agent): Promise<{ status: number; issuer: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/healthz', ca, agent }, (res) => {
      const issuer = String((res.socket as import('node:tls').TLSSocket).getPeerCertificate().issuer?.CN ?? '');
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, issuer }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('serve picks up a rotated certificate without a restart; live connections keep working', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-rotate-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const serve = await startServe(['--cert-dir', dir]);
  t.teardown(() => serve.stop('SIGKILL'));
  const oldCa = await readFile(join(dir, 'ca.crt'), 'utf8');
  const live = new Agent({ keepAlive: true, maxSockets: 1, ca: oldCa });
  t.teardown(() => live.destroy());
  t.equal((await healthz(serve.port, oldCa, live)).status, 200);

  // A new CA and certificate, written the way a tool replaces files: new file, then rename.
  const next = generateCertificates({ commonName: 'rotated', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  await writeFile(join(dir, 'tls.key.new'), next.key);
  await writeFile(join(dir, 'tls.crt.new'), next.cert);
  await rename(join(dir, 'tls.key.new'), join(dir, 'tls.key'));
  await rename(join(dir, 'tls.crt.new'), join(dir, 'tls.crt'));

  const count = (msg: string) => serve.logs.filter((l) => l.msg === msg).length;
  await until(() => count('serving certificate reloaded') > 0, 'serve to log the reload', 15_000);
  t.pass('serve logs the reload');

  t.equal((await healthz(serve.port, oldCa, live)).status, 200, 'the live keep-alive connection still works');
  const fresh = await healthz(serve.port, next.caCert);
  t.equal(fresh.status, 200, 'a new connection trusts the new CA');
  await t.rejects(healthz(serve.port, oldCa), 'a new connection no longer presents the old certificate');

  // A broken pair is ignored: the server keeps the rotated certificate.
  await writeFile(join(dir, 'tls.crt'), 'not a certificate');
  await until(() => count('rotated certificate rejected; keeping the current certificate') > 0, 'the broken pair to be refused', 15_000);
  t.equal((await healthz(serve.port, next.caCert)).status, 200, 'an invalid pair is not loaded');
  // One rotation, one line: the reloader logs it and the runtime's install callback does not
  // (a second line would have come before the later refusal). That a refused pair is logged
  // once and not on every poll is shown in test/tls/reloader.test.ts, where the polls are driven.
  t.equal(count('serving certificate reloaded'), 1, 'the reload is logged once');
});
