import t from 'tap';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { clusterAccess, connectCluster, KubeconfigError, leaseNamespace, loadKubeConfig } from '../../src/cluster/kubeconfig.js';
import { FakeKube } from '../helpers/fake-kube.js';

const IN_CLUSTER = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };

function kubeconfigText(server: string, options: { namespace?: string; context?: string; name?: string } = {}): string {
  const name = options.name ?? 'test';
  return `apiVersion: v1
kind: Config
clusters:
- name: ${name}
  cluster: {server: ${JSON.stringify(server)}, insecure-skip-tls-verify: true}
users:
- name: ${name}
  user: {token: t0ken}
contexts:
- name: ${name}
  context: {cluster: ${name}, user: ${name}${options.namespace ? `, namespace: ${options.namespace}` : ''}}
current-context: ${options.context ?? name}
`;
}

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-kc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('where credentials come from: --kubeconfig, KUBECONFIG, in-cluster, then (commands only) ~/.kube/config', async (t) => {
  const home = await tempDir(t);
  t.same(clusterAccess('/k', { KUBECONFIG: '/other', ...IN_CLUSTER }), { kind: 'kubeconfig', paths: ['/k'], from: '--kubeconfig' });
  t.same(
    clusterAccess(undefined, { KUBECONFIG: `/a${delimiter}${delimiter}/b`, ...IN_CLUSTER }),
    { kind: 'kubeconfig', paths: ['/a', '/b'], from: 'KUBECONFIG' },
    'a KUBECONFIG list, empty entries dropped',
  );
  t.same(clusterAccess(undefined, { KUBECONFIG: '', ...IN_CLUSTER }), { kind: 'in-cluster' });
  t.equal(clusterAccess(undefined, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }), null, 'in-cluster needs host and port');
  t.equal(clusterAccess(undefined, {}, { home }), null, 'no ~/.kube/config there');
  await mkdir(join(home, '.kube'));
  await writeFile(join(home, '.kube', 'config'), kubeconfigText('http://127.0.0.1:1'));
  t.same(clusterAccess(undefined, {}, { home }), { kind: 'kubeconfig', paths: [join(home, '.kube', 'config')], from: '~/.kube/config' });
  t.equal(clusterAccess(undefined, {}), null, 'serve never reads ~/.kube/config by itself');
});

t.test('the Lease namespace: POD_NAMESPACE, the service account file, the context, default', async (t) => {
  const noFile = () => {
    throw new Error('ENOENT');
  };
  t.same(
    leaseNamespace({ POD_NAMESPACE: ' ops ' }, 'ctx', () => 'sa'),
    { namespace: 'ops', from: 'POD_NAMESPACE' },
  );
  t.same(
    leaseNamespace({ POD_NAMESPACE: ' ' }, 'ctx', () => 'from-sa\n'),
    { namespace: 'from-sa', from: 'service account namespace file' },
  );
  t.same(leaseNamespace({}, 'team-a', noFile), { namespace: 'team-a', from: 'kubeconfig context' });
  t.same(
    leaseNamespace({}, 'team-a', () => '  '),
    { namespace: 'team-a', from: 'kubeconfig context' },
    'an empty file does not count',
  );
  t.same(leaseNamespace({}, undefined, noFile), { namespace: 'default', from: 'default' });
});

t.test('a kubeconfig that cannot be used is a clear error naming the file and the reason', async (t) => {
  const dir = await tempDir(t);
  const empty = join(dir, 'empty');
  await writeFile(empty, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n');
  t.throws(
    () => loadKubeConfig({ kind: 'kubeconfig', paths: [empty], from: '--kubeconfig' }),
    new KubeconfigError(`cannot load kubeconfig: no current cluster in ${empty} (from --kubeconfig) (set current-context)`),
  );
  const missing = join(dir, 'missing');
  t.throws(() => connectCluster(missing, {}), { name: 'KubeconfigError', message: `cannot read ${missing}: no such file` });
  const broken = join(dir, 'broken');
  await writeFile(broken, 'clusters: [');
  t.throws(() => connectCluster(undefined, { KUBECONFIG: broken }), {
    name: 'KubeconfigError',
    message: new RegExp(`^cannot load kubeconfig ${broken} \\(from KUBECONFIG\\): \\S`),
  });
  t.equal(connectCluster(undefined, {}), null, 'no credentials at all: null, not an error');
});

t.test('one client from a merged KUBECONFIG list; the context namespace comes along', async (t) => {
  const fake = new FakeKube();
  const url = await fake.start();
  t.teardown(() => fake.close());
  fake.setNamespace('team-a');
  const dir = await tempDir(t);
  const first = join(dir, 'first');
  const second = join(dir, 'second');
  // the first file names the current context, which only the second file defines
  await writeFile(first, kubeconfigText('http://127.0.0.1:1', { name: 'unused', context: 'real' }));
  await writeFile(second, kubeconfigText(url, { name: 'real', namespace: 'team-a' }));
  const c = connectCluster(undefined, { KUBECONFIG: [first, second].join(delimiter) });
  t.ok(c, 'connected');
  t.equal(c!.contextNamespace, 'team-a');
  const res = await c!.api.request('GET', '/api/v1/namespaces/team-a');
  t.equal(res.status, 200, 'the client reaches the server the merged context names');
  t.equal((res.body as { metadata: { name: string } }).metadata.name, 'team-a');
  const plain = join(dir, 'plain');
  await writeFile(plain, kubeconfigText(url));
  t.equal(connectCluster(plain, {})!.contextNamespace, undefined, 'a context without a namespace');
});
