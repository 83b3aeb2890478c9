import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeClientForCommand } from '../../src/carbon/kube.js';
import { parseIntensityConfig } from '../../src/config/intensity.js';
import { FakeKube } from '../helpers/fake-kube.js';

t.test('one-shot commands reach the cluster only for the sources that read it, through the one loader', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-kube-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const fake = new FakeKube();
  const url = await fake.start();
  t.teardown(() => fake.close());
  fake.setNamespace('carbon');
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
  );

  const exporter = parseIntensityConfig({ provider: 'exporter-configmap' });
  t.equal(
    kubeClientForCommand(parseIntensityConfig({ provider: 'electricitymaps', location: 'DE' }), { KUBECONFIG: join(dir, 'missing') }),
    undefined,
    'a provider that never reads the cluster loads nothing',
  );
  t.throws(() => kubeClientForCommand(exporter, { KUBECONFIG: join(dir, 'missing') }), {
    key: 'intensity.provider',
    message: `intensity.provider: exporter-configmap needs the Kubernetes API: cannot read ${join(dir, 'missing')}: no such file`,
  });
  const kube = kubeClientForCommand(parseIntensityConfig({ provider: 'uk-carbon-intensity', location: 'auto' }), { KUBECONFIG: kubeconfig });
  t.ok(kube, 'location: auto gets a client');
  const got = await kube!.get('/api/v1/namespaces/carbon', AbortSignal.timeout(5000));
  t.equal(got.status, 200, 'the client reaches the server KUBECONFIG names');
});
