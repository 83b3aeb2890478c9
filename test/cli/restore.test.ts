/**
 * `keda-carbon restore` as a user runs it: flag errors exit 2 without a cluster; against the
 * loopback API server (KEDA_CARBON_E2E_KUBECONFIG, `bash .ci/cluster.sh npx tap ...`) it
 * removes the webhook, stops the controller, restores, and prints what it did.
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { main } from '../../src/cli/main.js';
import { ANNOTATION } from '../../src/core/names.js';
import { connect, createNamespace, e2eKubeconfig, kedaPath, SKIP_MESSAGE } from '../e2e/cluster-env.js';
import { CAPPED, createObject, startCapper, stored, webhookAnnotations } from '../helpers/restore-env.js';

t.setTimeout(180_000);

async function run(argv: string[], env: Record<string, string | undefined> = {}) {
  let out = '';
  let err = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env };
  const code = await main(['restore', ...argv], io);
  return { code, out, err };
}

t.test('flag and input errors exit 2 with a message, before any cluster is asked', async (t) => {
  const cases: [string[], RegExp][] = [
    [['-n', 'a', '-A'], /-n and -A exclude each other/],
    [['--deployment', 'just-a-name'], /--deployment must be NAMESPACE\/NAME/],
    [['--deployment', 'a/b/c'], /--deployment must be NAMESPACE\/NAME/],
    [['--deployment', 'Bad_NS/x'], /--deployment must be a Kubernetes object name/],
    [['--lease-name', 'x'], /--lease-name only applies with --deployment/],
    [['--wait-timeout', 'soon'], /--wait-timeout must be a duration/],
    [['--wait-timeout', '0s'], /--wait-timeout must be a duration/],
    [['-n', 'Not/A/Namespace'], /--namespace must be a Kubernetes object name/],
    [['--webhook-config', ''], /--webhook-config must be a Kubernetes object name/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
    [['-o', 'yaml'], /--output must be text or json/],
    [['--kubeconfig', '/nonexistent/kubeconfig'], /cannot read \/nonexistent\/kubeconfig/],
  ];
  for (const [argv, message] of cases) {
    const r = await run(argv, { KUBECONFIG: '/nonexistent/from-env' });
    t.equal(r.code, 2, argv.join(' '));
    t.match(r.err, message, argv.join(' '));
    t.equal(r.out, '', `${argv.join(' ')}: nothing on stdout`);
  }
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.out, /^Usage: keda-carbon restore \[-A \| -n NAMESPACE\] \[--dry-run\]/);
});

const kubeconfig = e2eKubeconfig();
if (!kubeconfig) {
  t.comment(SKIP_MESSAGE);
} else {
  const c = connect(kubeconfig);
  const capper = await startCapper(t, c);
  const [ns, other, sys] = [await capper.namespace('cli'), await capper.namespace('cli-other'), `kc-cli-sys-${c.id}`];
  await createObject(c, 'scaledobjects', ns, 'web', 20, CAPPED);
  await createObject(c, 'scaledjobs', ns, 'batch', 15, CAPPED);
  await createObject(c, 'scaledobjects', other, 'other', 12, CAPPED);
  await createNamespace(c, sys, {});
  const labels = { app: 'keda-carbon' };
  await c.call('POST', `/apis/apps/v1/namespaces/${sys}/deployments`, [201], {
    metadata: { name: 'keda-carbon' },
    spec: {
      replicas: 2,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'serve', image: 'keda-carbon:test' }] } },
    },
  });
  // What a replica leaves behind on a graceful stop: the Lease with no holder.
  await c.call('POST', `/apis/coordination.k8s.io/v1/namespaces/${sys}/leases`, [201], {
    metadata: { name: 'keda-carbon-retouch' },
    spec: { holderIdentity: null, leaseDurationSeconds: 1 },
  });
  const mwcPath = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${capper.mwc}`;
  const args = ['--kubeconfig', kubeconfig, '-n', ns, '--webhook-config', capper.mwc, '--deployment', `${sys}/keda-carbon`];
  const objectLines = (out: string) =>
    out
      .split('\n')
      .filter((l) => l.includes(`${ns}/Scaled`))
      .map((l) => l.replace(/^\(dry run\) /, ''));
  let dryOut = '';

  t.test('--dry-run prints the plan and changes nothing', async (t) => {
    const before = [await stored(c, 'scaledobjects', ns, 'web'), await stored(c, 'scaledjobs', ns, 'batch')];
    const r = await run([...args, '--dry-run']);
    t.equal(r.code, 0, r.err);
    dryOut = r.out;
    t.match(r.out, `(dry run) MutatingWebhookConfiguration ${capper.mwc}: would be deleted\n`);
    t.match(r.out, `(dry run) Deployment ${sys}/keda-carbon: would be scaled from 2 to 0 replicas\n`);
    t.match(r.out, `(dry run) Lease ${sys}/keda-carbon-retouch: released\n`);
    t.match(r.out, `(dry run) ${ns}/ScaledObject/web: max 3 -> 20, annotations removed (declared max restored)\n`);
    t.match(r.out, `(dry run) ${ns}/ScaledJob/batch: max 3 -> 15, annotations removed (declared max restored)\n`);
    t.match(r.out, `(dry run) would restore 2 of 2 ScaledObjects and ScaledJobs in namespace ${ns}; 0 never touched by keda-carbon; 0 not restored\n`);
    t.same([await stored(c, 'scaledobjects', ns, 'web'), await stored(c, 'scaledjobs', ns, 'batch')], before, 'the objects are as they were');
    await c.call('GET', mwcPath, [200]);
    const scale = await c.call('GET', `/apis/apps/v1/namespaces/${sys}/deployments/keda-carbon/scale`, [200]);
    t.equal(scale.spec.replicas, 2, 'the Deployment keeps its replicas');
  });

  t.test('the real run removes the webhook, stops the controller and restores what the dry run showed', async (t) => {
    const r = await run(args);
    t.equal(r.code, 0, r.err);
    t.match(
      r.out,
      `MutatingWebhookConfiguration ${capper.mwc}: deleted\nDeployment ${sys}/keda-carbon: scaled from 2 to 0 replicas\nLease ${sys}/keda-carbon-retouch: released`,
    );
    t.same(objectLines(r.out).sort(), objectLines(dryOut).sort(), 'the same lines as the dry run');
    t.match(r.out, `restored 2 of 2 ScaledObjects and ScaledJobs in namespace ${ns}; 0 never touched by keda-carbon; 0 not restored\n`);
    t.same(await stored(c, 'scaledobjects', ns, 'web').then((s) => [s.max, s.ours]), [20, []]);
    t.same(await stored(c, 'scaledjobs', ns, 'batch').then((s) => [s.max, s.ours]), [15, []]);
    t.equal((await stored(c, 'scaledobjects', other, 'other')).max, 3, '-n: another namespace is not restored');
    await c.call('GET', mwcPath, [404]);
    await c.call('PATCH', kedaPath('scaledobjects', ns, 'web'), [200], { spec: { maxReplicaCount: 40 } }, 'application/merge-patch+json');
    t.same(await stored(c, 'scaledobjects', ns, 'web').then((s) => [s.max, s.ours]), [40, []], 'a write after restore is stored as written');
  });

  t.test('-A sees every namespace; -o json', async (t) => {
    const r = await run(['--kubeconfig', kubeconfig, '-A', '--dry-run', '-o', 'json']);
    const body = JSON.parse(r.out);
    t.equal(body.scope, 'all namespaces');
    t.match(
      body.objects.find((o: { namespace: string }) => o.namespace === other),
      { kind: 'ScaledObject', name: 'other', result: 'would-restore', from: 3, to: 12, removed: [ANNOTATION.declared, ANNOTATION.status] },
    );
  });

  t.test('an object that cannot be restored: exit 1, the others still restored', async (t) => {
    const plain = `kc-cli-plain-${c.id}`;
    await createNamespace(c, plain, {});
    await createObject(c, 'scaledobjects', plain, 'broken', 3, webhookAnnotations('many', 3));
    await createObject(c, 'scaledobjects', plain, 'fine', 3, webhookAnnotations('9', 3));
    const r = await run(['--kubeconfig', kubeconfig, '-n', plain]);
    t.equal(r.code, 1);
    t.match(r.out, `${plain}/ScaledObject/broken: NOT RESTORED (${ANNOTATION.declared} is "many", not a replica count: left as it is)`);
    t.match(r.out, `${plain}/ScaledObject/fine: max 3 -> 9, annotations removed`);
    t.match(r.out, /restored 1 of 2 .*; 1 not restored/);
  });
}

if (kubeconfig) {
  const c = connect(kubeconfig);
  t.test('restore needs no more than list and patch on the KEDA objects and a few verbs by name', async (t) => {
    const [sys, ns, mwc, sa] = [`kc-rbac-sys-${c.id}`, `kc-rbac-${c.id}`, `kc-rbac-${c.id}`, 'keda-carbon-restore'];
    await createNamespace(c, sys, {});
    await createNamespace(c, ns, {});
    await createObject(c, 'scaledobjects', ns, 'web', 3, webhookAnnotations('20', 3));
    await c.call('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', [201], { metadata: { name: mwc }, webhooks: [] });
    const labels = { app: 'keda-carbon' };
    await c.call('POST', `/apis/apps/v1/namespaces/${sys}/deployments`, [201], {
      metadata: { name: 'keda-carbon' },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [{ name: 'serve', image: 'keda-carbon:test' }] } },
      },
    });
    await c.call('POST', `/apis/coordination.k8s.io/v1/namespaces/${sys}/leases`, [201], {
      metadata: { name: 'keda-carbon-retouch' },
      spec: { holderIdentity: null },
    });
    const rbac = '/apis/rbac.authorization.k8s.io/v1';
    const subjects = [{ kind: 'ServiceAccount', name: sa, namespace: sys }];
    await c.call('POST', `${rbac}/clusterroles`, [201], {
      metadata: { name: mwc },
      rules: [
        { apiGroups: ['keda.sh'], resources: ['scaledobjects', 'scaledjobs'], verbs: ['list', 'patch'] },
        { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [mwc], verbs: ['delete'] },
      ],
    });
    await c.call('POST', `${rbac}/clusterrolebindings`, [201], {
      metadata: { name: mwc },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: mwc },
      subjects,
    });
    await c.call('POST', `${rbac}/namespaces/${sys}/roles`, [201], {
      metadata: { name: sa },
      rules: [
        { apiGroups: ['apps'], resources: ['deployments/scale'], resourceNames: ['keda-carbon'], verbs: ['get', 'patch'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['keda-carbon-retouch'], verbs: ['get'] },
      ],
    });
    await c.call('POST', `${rbac}/namespaces/${sys}/rolebindings`, [201], {
      metadata: { name: sa },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa },
      subjects,
    });
    t.teardown(async () => {
      await c.call('DELETE', `${rbac}/clusterrolebindings/${mwc}`, [200, 404]);
      await c.call('DELETE', `${rbac}/clusterroles/${mwc}`, [200, 404]);
    });
    // The admin kubeconfig, acting as the Job's service account (`as:` is kubectl's --as).
    const asJob = join(t.testdir(), 'kubeconfig');
    const admin = await readFile(kubeconfig, 'utf8');
    const user = /^(\s+)((token|client-certificate(-data)?):.*)$/m;
    t.match(admin, user, 'the admin kubeconfig has a user to act through');
    writeFileSync(asJob, admin.replace(user, `$1$2\n$1as: system:serviceaccount:${sys}:${sa}`));
    const args = ['--kubeconfig', asJob, '-n', ns, '--webhook-config', mwc, '--deployment', `${sys}/keda-carbon`];
    const dry = await run([...args, '--dry-run']);
    t.equal(dry.code, 0, dry.err);
    const r = await run(args);
    t.equal(r.code, 0, r.err);
    t.match(r.out, `${ns}/ScaledObject/web: max 3 -> 20, annotations removed`);
    t.same(await stored(c, 'scaledobjects', ns, 'web').then((s) => [s.max, s.ours]), [20, []]);
    const outside = await run(['--kubeconfig', asJob, '-n', ns, '--webhook-config', 'some-other-webhook']);
    t.equal(outside.code, 1, 'a webhook configuration it was not granted is refused');
    t.match(outside.err, /answered 403/);
  });
}
