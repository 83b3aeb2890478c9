import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { runCerts } from '../../src/cli/certs.js';
import { checkPair } from '../../src/tls/certs.js';
import { captureIO } from '../helpers/io.js';

const base = ['--service', 'keda-carbon', '--namespace', 'carbon-system'];
const names = ['keda-carbon', 'keda-carbon.carbon-system', 'keda-carbon.carbon-system.svc', 'keda-carbon.carbon-system.svc.cluster.local'];

t.test('--out-dir writes the three files and prints the caBundle', async (t) => {
  const dir = join(await mkdtemp(join(tmpdir(), 'keda-carbon-cli-')), 'tls');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const c = captureIO();
  t.equal(await runCerts([...base, '--out-dir', dir, '--ip-address', '10.0.0.7', '--dns-name', 'webhook.example', '--validity-days', '30'], c.io), 0, c.err());
  const [cert, key, ca] = await Promise.all(['tls.crt', 'tls.key', 'ca.crt'].map((f) => readFile(join(dir, f), 'utf8')));
  t.equal(c.out(), `${Buffer.from(ca!).toString('base64')}\n`, 'stdout is exactly the caBundle');
  t.ok(checkPair(cert!, key!), 'key belongs to the certificate');
  const x = new X509Certificate(cert!);
  for (const n of [...names, 'webhook.example']) t.ok(x.checkHost(n), `SAN ${n}`);
  t.ok(x.checkIP('10.0.0.7'), 'extra IP SAN');
  t.notOk(x.checkHost('keda-carbon.other.svc'), 'not valid for another namespace');
  t.ok(x.verify(new X509Certificate(ca!).publicKey), 'signed by ca.crt');
  const days = (Date.parse(x.validTo) - Date.now()) / 86_400_000;
  t.ok(days > 29 && days < 31, '--validity-days honoured');
  t.equal((await stat(join(dir, 'tls.key'))).mode & 0o777, 0o600);
  t.notMatch(c.err(), /BEGIN/, 'no key material on stderr');

  const again = captureIO();
  t.equal(await runCerts([...base, '--out-dir', dir], again.io), 2, 'refuses to overwrite');
  t.match(again.err(), /tls\.crt already exists; pass --force/);
  t.equal(await readFile(join(dir, 'tls.key'), 'utf8'), key, 'key untouched');
  const forced = captureIO();
  t.equal(await runCerts([...base, '--out-dir', dir, '--force'], forced.io), 0);
  t.not(await readFile(join(dir, 'tls.key'), 'utf8'), key, '--force replaces');
});

t.test('--secret-manifest prints a kubernetes.io/tls Secret with ca.crt', async (t) => {
  const c = captureIO();
  t.equal(await runCerts([...base, '--secret-manifest', '--secret-name', 'my-tls'], c.io), 0, c.err());
  const secret = parseYaml(c.out());
  t.match(secret, { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'my-tls', namespace: 'carbon-system' } });
  t.same(Object.keys(secret.data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
  const decode = (k: string) => Buffer.from(secret.data[k], 'base64').toString();
  t.ok(checkPair(decode('tls.crt'), decode('tls.key')));
  t.match(c.err(), new RegExp(`^caBundle: ${secret.data['ca.crt'].replace(/[+/]/g, '\\$&')}\n$`), 'caBundle on stderr, equal to ca.crt');
  const dflt = captureIO();
  await runCerts([...base, '--secret-manifest'], dflt.io);
  t.equal(parseYaml(dflt.out()).metadata.name, 'keda-carbon-tls', 'default Secret name matches the Deployment volume');
});

t.test('-o json: the caBundle with the files, or with the Secret as an object', async (t) => {
  const dir = join(await mkdtemp(join(tmpdir(), 'keda-carbon-cli-')), 'tls');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const files = captureIO();
  t.equal(await runCerts([...base, '--out-dir', dir, '-o', 'json'], files.io), 0, files.err());
  const written = JSON.parse(files.out());
  t.same(written.files, { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') });
  t.equal(written.caBundle, Buffer.from(await readFile(join(dir, 'ca.crt'))).toString('base64'));
  const secret = captureIO();
  t.equal(await runCerts([...base, '--secret-manifest', '--output', 'json'], secret.io), 0, secret.err());
  const doc = JSON.parse(secret.out());
  t.match(doc.secret, { kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'keda-carbon-tls', namespace: 'carbon-system' } });
  t.equal(doc.secret.data['ca.crt'], doc.caBundle);
  const decode = (k: string) => Buffer.from(doc.secret.data[k], 'base64').toString();
  t.ok(checkPair(decode('tls.crt'), decode('tls.key')));
});

t.test('bad arguments are usage errors that name the problem', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--namespace', 'x', '--secret-manifest'], /--service is required/],
    [['--service', 'x', '--secret-manifest'], /--namespace is required/],
    [base, /one of --out-dir DIR or --secret-manifest is required/],
    [[...base, '--out-dir', '/tmp/x', '--secret-manifest'], /exclusive/],
    [['--service', 'Bad_Name', '--namespace', 'x', '--secret-manifest'], /--service "Bad_Name" is not a valid Service name/],
    [['--service', 'x', '--namespace', 'a.b', '--secret-manifest'], /--namespace "a.b" is not a valid namespace/],
    [[...base, '--secret-manifest', '--validity-days', '0'], /--validity-days must be an integer from 1 to 3650/],
    [[...base, '--secret-manifest', '--validity-days', '1.5'], /--validity-days must be an integer/],
    [[...base, '--secret-manifest', '--key-type', 'ecdsa-p256'], /--key-type must be one of rsa-2048, rsa-3072, rsa-4096/],
    [[...base, '--secret-manifest', '--ip-address', 'nope'], /ipAddresses: "nope" is not an IPv4 or IPv6 address/],
    [[...base, '--out-dir', '/tmp/x', '--secret-name', 'y'], /--secret-name only applies with --secret-manifest/],
    [[...base, '--secret-manifest', '--kubeconfig', '/tmp/k'], /--kubeconfig only applies with --patch-webhook/],
    [[...base, '--secret-manifest', '--bogus'], /Unknown option '--bogus'/],
    [[...base, '--secret-manifest', 'extra'], /positional/i],
  ];
  for (const [argv, message] of cases) {
    const c = captureIO();
    const code = await runCerts(argv, c.io);
    t.not(code, 0, `fails: ${argv.join(' ')}`);
    t.match(c.err(), message);
    t.equal(c.out(), '', 'nothing on stdout');
  }
  const help = captureIO();
  t.equal(await runCerts(['--help'], help.io), 0);
  t.match(help.out(), /Usage: keda-carbon certs/);
});

t.test('--patch-webhook with an unusable kubeconfig fails before writing anything', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const kc = join(dir, 'kubeconfig');
  await writeFile(kc, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
  const c = captureIO();
  t.equal(await runCerts([...base, '--out-dir', join(dir, 'tls'), '--patch-webhook', 'keda-carbon', '--kubeconfig', kc], c.io), 2);
  t.match(c.err(), /cannot load kubeconfig: no current cluster/);
  await t.rejects(stat(join(dir, 'tls')), { code: 'ENOENT' }, 'no certificate written');
  const missing = captureIO();
  t.equal(await runCerts([...base, '--secret-manifest', '--patch-webhook', 'keda-carbon', '--kubeconfig', join(dir, 'nope')], missing.io), 2);
  t.equal(missing.err(), `keda-carbon certs: cannot read ${join(dir, 'nope')}: no such file\n`);
  t.equal(missing.out(), '', 'no Secret printed');
  const fromEnv = captureIO({ KUBECONFIG: `${join(dir, 'gone')}:${kc}` });
  t.equal(await runCerts([...base, '--secret-manifest', '--patch-webhook', 'keda-carbon'], fromEnv.io), 2);
  t.match(fromEnv.err(), /cannot read .*gone: no such file/, 'the first file of KUBECONFIG');
});

t.test('an --out-dir that cannot be written says so', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'file'), '');
  const c = captureIO();
  t.equal(await runCerts([...base, '--out-dir', join(dir, 'file', 'tls')], c.io), 1);
  t.match(c.err(), /^keda-carbon certs: cannot write the certificate files into .*file\/tls: a part of the path is not a directory\n$/);
});
