import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, connect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPair, ensureLocalCertificates, generateCertificates } from '../../src/tls/certs.js';

const dnsNames = ['keda-carbon', 'keda-carbon.keda-carbon', 'keda-carbon.keda-carbon.svc', 'keda-carbon.keda-carbon.svc.cluster.local'];
const set = generateCertificates({ dnsNames, ipAddresses: ['127.0.0.1', '::1'] });
const leaf = new X509Certificate(set.cert);
const ca = new X509Certificate(set.caCert);

/** Connects to a TLS server on 127.0.0.1 presenting `servername`, trusting only `caPem`. */
async function handshake(port: number, servername: string, caPem: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername, ca: caPem, minVersion: 'TLSv1.2' });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

t.test('serving certificate fields', async (t) => {
  t.equal(leaf.ca, false, 'leaf is not a CA');
  t.equal(ca.ca, true, 'CA has basicConstraints CA:true');
  t.ok(leaf.checkIssued(ca), 'leaf issued by the CA');
  t.ok(leaf.verify(ca.publicKey), 'leaf signature verifies with the CA key');
  t.ok(ca.verify(ca.publicKey), 'CA is self-signed');
  t.same(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage is serverAuth only');
  t.match(leaf.subjectAltName, /DNS:keda-carbon\.keda-carbon\.svc\.cluster\.local/);
  t.match(leaf.subjectAltName, /IP Address:127\.0\.0\.1/);
  t.equal(leaf.publicKey.asymmetricKeyDetails?.modulusLength, 2048, 'RSA 2048');
  t.equal(leaf.publicKey.asymmetricKeyType, 'rsa');
  t.ok(checkPair(set.cert, set.key), 'key matches the certificate');
  t.ok(checkPair(set.caCert, set.caKey), 'CA key matches the CA');
  const skewMs = Date.now() - Date.parse(leaf.validFrom);
  t.ok(skewMs > 55 * 60 * 1000 && skewMs < 65 * 60 * 1000, `notBefore backdated about one hour (${skewMs} ms)`);
  const lifetimeDays = (Date.parse(leaf.validTo) - Date.now()) / 86_400_000;
  t.ok(lifetimeDays > 364 && lifetimeDays < 366, 'default validity is one year');
});

t.test('serial numbers are random, positive and at least 16 bytes', async (t) => {
  const other = generateCertificates({ dnsNames: ['x.example'], ipAddresses: [] });
  const serials = [leaf.serialNumber, ca.serialNumber, new X509Certificate(other.cert).serialNumber];
  t.equal(new Set(serials).size, 3, 'all distinct');
  for (const s of serials) {
    t.ok(s.length >= 32, `serial ${s} has 16 bytes`);
    t.ok(parseInt(s.slice(0, 2), 16) < 0x80, 'high bit clear: positive DER integer');
  }
});

t.test('TLS handshake succeeds for every SAN and fails for a wrong name', async (t) => {
  const server = createServer({ cert: set.cert, key: set.key, minVersion: 'TLSv1.2' }, (s) => s.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  for (const name of dnsNames) {
    const socket = await handshake(port, name, set.caCert);
    t.ok(socket.authorized, `authorized as ${name}`);
    socket.destroy();
  }
  // an IP SAN is checked when no servername (SNI) is sent
  const byIp = await new Promise<TLSSocket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca: set.caCert });
    s.once('secureConnect', () => resolve(s)).once('error', reject);
  });
  t.ok(byIp.authorized, 'authorized as IP 127.0.0.1');
  byIp.destroy();
  await t.rejects(handshake(port, 'keda-carbon.other-namespace.svc', set.caCert), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'wrong name refused');
  const stranger = generateCertificates({ dnsNames: ['keda-carbon.keda-carbon.svc'], ipAddresses: [] });
  await t.rejects(handshake(port, 'keda-carbon.keda-carbon.svc', stranger.caCert), /self.signed|unable to verify|certificate/i, 'another CA is not trusted');
});

t.test('bad inputs are clear errors', async (t) => {
  t.throws(() => generateCertificates({ dnsNames: [], ipAddresses: [] }), /at least one DNS name or IP/);
  t.throws(() => generateCertificates({ dnsNames: ['bad_name!'], ipAddresses: [] }), /dnsNames: "bad_name!" is not a valid DNS name/);
  t.throws(() => generateCertificates({ dnsNames: [], ipAddresses: ['300.1.1.1'] }), /ipAddresses: "300.1.1.1" is not an IPv4 or IPv6/);
  t.throws(() => generateCertificates({ dnsNames: ['a'], ipAddresses: [], validityDays: 0 }), /validityDays must be an integer from 1 to 3650/);
  t.throws(() => generateCertificates({ dnsNames: ['a'], ipAddresses: [], keyType: 'ecdsa-p256' as never }), /keyType "ecdsa-p256" is not supported/);
  const other = generateCertificates({ dnsNames: ['a'], ipAddresses: [] });
  t.throws(() => checkPair(set.cert, other.key), /private key does not belong to the certificate/);
  t.throws(() => checkPair('not a cert', set.key), /certificate does not parse/);
  t.throws(() => checkPair(set.cert, 'not a key'), /private key does not parse/);
});

t.test('ensureLocalCertificates creates once, then reuses', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'keda-carbon-certs-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const dir = join(base, 'nested', 'tls');
  const first = await ensureLocalCertificates(dir, { dnsNames: ['dev.example'], ipAddresses: ['10.1.2.3'] });
  t.same(first, { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), caFile: join(dir, 'ca.crt'), created: true });
  t.equal((await stat(dir)).mode & 0o777, 0o700, 'directory is 0700');
  t.equal((await stat(first.keyFile)).mode & 0o777, 0o600, 'key is 0600');
  const cert = new X509Certificate(await readFile(first.certFile));
  for (const san of ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', 'DNS:dev.example', 'IP Address:10.1.2.3']) {
    t.ok(cert.subjectAltName?.includes(san), `local SAN ${san}`);
  }
  t.ok(cert.verify(new X509Certificate(await readFile(join(dir, 'ca.crt'))).publicKey), 'ca.crt signed tls.crt');
  const before = await readFile(first.certFile, 'utf8');
  const second = await ensureLocalCertificates(dir, {});
  t.equal(second.created, false, 'second call reuses');
  t.equal(await readFile(first.certFile, 'utf8'), before, 'certificate untouched');

  const mounted = join(base, 'mounted');
  await ensureLocalCertificates(mounted);
  await rm(join(mounted, 'ca.crt'));
  t.same(
    await ensureLocalCertificates(mounted),
    { certFile: join(mounted, 'tls.crt'), keyFile: join(mounted, 'tls.key'), caFile: null, created: false },
    'no ca.crt: caFile null',
  );

  const half = join(base, 'half');
  await ensureLocalCertificates(half);
  await rm(join(half, 'tls.key'));
  await t.rejects(ensureLocalCertificates(half), /tls\.crt without tls\.key; provide both or neither/);
  await writeFile(join(half, 'tls.key'), 'x');
  t.equal((await ensureLocalCertificates(half)).created, false, 'existing files are used as they are (serve validates them)');
});

t.test('PEM output uses LF line ends and standard headers', async (t) => {
  for (const [name, pem] of Object.entries(set)) {
    t.notMatch(pem, /\r/, `${name} has no CR`);
    t.match(pem, /^-----BEGIN (CERTIFICATE|RSA PRIVATE KEY)-----\n/, `${name} header`);
  }
});
