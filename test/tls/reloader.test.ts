import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCertificates, type CertificateSet } from '../../src/tls/certs.js';
import { publish } from '../helpers/volume.js';
import { watchCertificates, type CertificatePair } from '../../src/tls/reloader.js';
import { until } from '../helpers/until.js';
import { FakeClock } from '../helpers/clock.js';

const INTERVAL = 50;

/**
 * A fake clock drives the reloader's polls; `poll()` lets one interval pass and resolves once
 * the files have been read and any pair in them installed or refused.
 */
function driven() {
  const clock = new FakeClock(0);
  let checks = 0;
  const options = { intervalMs: INTERVAL, clock, onChecked: () => checks++ };
  const poll = async () => {
    const before = checks;
    await clock.advance(INTERVAL);
    await until(() => checks > before, 'a look at the certificate files');
  };
  return { clock, options, poll, checks: () => checks };
}
const issue = () => generateCertificates({ dnsNames: ['keda-carbon.keda-carbon.svc'], ipAddresses: ['127.0.0.1'] });

function peerSerial(socket: TLSSocket): string {
  return socket.getPeerX509Certificate()?.serialNumber ?? '';
}

/** A fresh connection trusting every CA in `cas` (the client may not know which cert it gets). */
async function open(port: number, cas: string[]): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'keda-carbon.keda-carbon.svc', ca: cas });
    s.once('secureConnect', () => resolve(s)).once('error', reject);
  });
}

/** Round trip on an established connection: the echo server answers each line. */
async function ping(socket: TLSSocket, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (d) => resolve(String(d)));
    socket.once('error', reject);
    socket.write(`${msg}\n`);
  });
}

t.test('a rotated Secret is picked up, live connections survive, an invalid pair is ignored', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-reload-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const first: CertificateSet = issue();
  await publish(dir, { 'tls.crt': first.cert, 'tls.key': first.key, 'ca.crt': first.caCert }, 1);

  const server = createServer({ cert: first.cert, key: first.key, minVersion: 'TLSv1.2' }, (s) => {
    s.on('data', (d) => s.write(`echo ${String(d).trim()}`));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };

  const changes: CertificatePair[] = [];
  const warnings: string[] = [];
  const watch = driven();
  const logger = {
    debug() {},
    info() {},
    error() {},
    warn(obj: { reason: string }) {
      warnings.push(obj.reason);
    },
  };
  const stop = watchCertificates(
    dir,
    (pair) => {
      changes.push(pair);
      server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
    },
    { ...watch.options, logger: logger as never },
  );
  t.teardown(() => {
    stop();
    server.close();
  });

  const second = issue();
  const cas = [first.caCert, second.caCert];
  const live = await open(port, cas);
  t.equal(peerSerial(live), new X509Certificate(first.cert).serialNumber, 'serves the first certificate');
  t.equal(await ping(live, 'before'), 'echo before');

  await watch.poll();
  t.equal(changes.length, 0, 'the starting pair is not reported as a change');

  await publish(dir, { 'tls.crt': second.cert, 'tls.key': second.key, 'ca.crt': second.caCert }, 2);
  await watch.poll();
  t.equal(changes.length, 1, 'the rotation is seen by the next poll');
  t.equal(changes[0]?.cert, second.cert, 'onChange got the new certificate');

  t.equal(await ping(live, 'after'), 'echo after', 'the connection opened before the rotation still works');
  t.equal(live.destroyed, false);
  const fresh = await open(port, cas);
  t.equal(peerSerial(fresh), new X509Certificate(second.cert).serialNumber, 'a new connection gets the rotated certificate');
  fresh.destroy();

  // a key that does not belong to the certificate: the previous pair must stay
  const third = issue();
  await publish(dir, { 'tls.crt': third.cert, 'tls.key': first.key, 'ca.crt': third.caCert }, 3);
  await watch.poll();
  t.equal(warnings.length, 1, 'the rejection warning');
  t.match(warnings[0], /private key does not belong to the certificate/);
  await watch.poll();
  await watch.poll();
  t.equal(changes.length, 1, 'an invalid pair is not handed to onChange');
  t.equal(warnings.length, 1, 'the same invalid pair is reported once, not on every tick');
  const still = await open(port, cas);
  t.equal(peerSerial(still), new X509Certificate(second.cert).serialNumber, 'still serving the last valid certificate');
  still.destroy();

  // garbage in the certificate file is rejected the same way
  await publish(dir, { 'tls.crt': 'garbage', 'tls.key': third.key, 'ca.crt': '' }, 4);
  await watch.poll();
  t.equal(warnings.length, 2, 'the second rejection');
  t.match(warnings[1], /certificate does not parse/);

  // and the watcher recovers as soon as a valid pair appears
  await publish(dir, { 'tls.crt': third.cert, 'tls.key': third.key, 'ca.crt': third.caCert }, 5);
  await watch.poll();
  t.equal(changes.length, 2, 'recovery after invalid pairs');
  t.equal(await readFile(join(dir, 'tls.crt'), 'utf8'), changes[1]?.cert);
  t.equal(await ping(live, 'still'), 'echo still', 'the first connection outlived three rotations');
  live.destroy();
});

t.test('stop() ends watching; bad arguments are clear errors', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-reload-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const a = issue();
  await writeFile(join(dir, 'tls.crt'), a.cert);
  await writeFile(join(dir, 'tls.key'), a.key);
  let calls = 0;
  const { clock, options, checks } = driven();
  const stop = watchCertificates(dir, () => calls++, options);
  stop();
  t.equal(clock.timers.length, 0, 'no poll left scheduled');
  const b = issue();
  await writeFile(join(dir, 'tls.crt'), b.cert);
  await writeFile(join(dir, 'tls.key'), b.key);
  await clock.advance(INTERVAL * 4);
  t.equal(checks(), 0, 'the files are not read after stop');
  t.equal(calls, 0, 'no callback after stop');

  t.throws(() => watchCertificates('', () => {}), /dir must be a non-empty path/);
  t.throws(() => watchCertificates(dir, 'x' as never), /onChange must be a function/);
  t.throws(() => watchCertificates(dir, () => {}, { intervalMs: 0 }), /intervalMs must be a number >= 10/);
});

t.test('plain files replaced in place are picked up too', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-reload-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const a = issue();
  await writeFile(join(dir, 'tls.crt'), a.cert);
  await writeFile(join(dir, 'tls.key'), a.key);
  const seen: string[] = [];
  const { options, poll } = driven();
  const stop = watchCertificates(dir, (p) => seen.push(p.cert), options);
  t.teardown(stop);
  const b = issue();
  // written one after the other: the half-written state is a mismatch and must be skipped
  await writeFile(join(dir, 'tls.crt'), b.cert);
  await poll();
  t.same(seen, [], 'the half-written pair (new certificate, old key) is not reported');
  await writeFile(join(dir, 'tls.key'), b.key);
  await poll();
  t.same(seen, [b.cert], 'only the complete new pair is reported');
});
