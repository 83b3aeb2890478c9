/**
 * restore against the real loopback API server: objects capped by the real webhook (a
 * `serve` process registered as a URL webhook) come back to their declared max. Runs only
 * when KEDA_CARBON_E2E_KUBECONFIG names a kubeconfig (`bash .ci/cluster.sh npx tap ...`).
 */
import t from 'tap';
import { PoliteClient } from '../../src/cluster/polite.js';
import { isFailure, restoreObjects } from '../../src/cluster/restore.js';
import { deleteWebhookConfig } from '../../src/cluster/restore-steps.js';
import { ANNOTATION } from '../../src/core/names.js';
import type { KubeApi } from '../../src/ports.js';
import { clusterOrSkip, createNamespace, kedaPath } from '../e2e/cluster-env.js';
import { CAPPED, createObject, startCapper, stored, webhookAnnotations } from '../helpers/restore-env.js';

t.setTimeout(180_000);
const c = clusterOrSkip(t);
const polite = (api: KubeApi = c.api) => new PoliteClient(api, { qps: 50, burst: 50, maxInFlight: 8 });
const capper = await startCapper(t, c);
const MERGE = 'application/merge-patch+json';

t.test('capped objects get their declared max back and lose every annotation of ours; -n keeps to one namespace', async (t) => {
  const [a, b] = [await capper.namespace('a'), await capper.namespace('b')];
  await createObject(c, 'scaledobjects', a, 'web', 20, CAPPED);
  await createObject(c, 'scaledjobs', a, 'batch', 15, CAPPED);
  await createObject(c, 'scaledobjects', a, 'unset', null, CAPPED);
  await createObject(c, 'scaledobjects', b, 'other', 12, CAPPED);
  for (const [plural, ns, name] of [
    ['scaledobjects', a, 'web'],
    ['scaledjobs', a, 'batch'],
    ['scaledobjects', a, 'unset'],
    ['scaledobjects', b, 'other'],
  ] as const) {
    t.equal((await stored(c, plural, ns, name)).max, 3, `${ns}/${name} capped by the webhook`);
  }
  t.equal((await stored(c, 'scaledobjects', a, 'unset')).annotations[ANNOTATION.declared], '100', 'an unset max is recorded as KEDA default 100');

  await deleteWebhookConfig(polite(), capper.mwc, false).then((s) => t.equal(s.result, 'deleted'));
  const result = await restoreObjects({ client: polite(), namespace: a, dryRun: false, pageSize: 2 });
  t.equal(result.listed, 3, 'three objects listed in the namespace, over pages of two');
  t.same(result.outcomes.map((o) => [o.kind, o.name, o.result, o.from, o.to]).sort(), [
    ['ScaledJob', 'batch', 'restored', 3, 15],
    ['ScaledObject', 'unset', 'restored', 3, 100],
    ['ScaledObject', 'web', 'restored', 3, 20],
  ]);
  t.same(await stored(c, 'scaledobjects', a, 'web').then((s) => [s.max, s.ours]), [20, []]);
  t.same(await stored(c, 'scaledjobs', a, 'batch').then((s) => [s.max, s.ours]), [15, []]);
  t.same(await stored(c, 'scaledobjects', a, 'unset').then((s) => [s.max, s.ours]), [100, []]);
  const other = await stored(c, 'scaledobjects', b, 'other');
  t.same([other.max, other.ours], [3, [ANNOTATION.declared, ANNOTATION.status]], '-n: the other namespace is left capped');

  // With the webhook configuration gone, a write is stored as written.
  await c.call('PATCH', kedaPath('scaledobjects', a, 'web'), [200], { spec: { maxReplicaCount: 30 } }, MERGE);
  t.same(await stored(c, 'scaledobjects', a, 'web').then((s) => [s.max, s.ours]), [30, []], 'no cap, no annotation after restore');
  t.equal((await deleteWebhookConfig(polite(), capper.mwc, false)).result, 'absent', 'deleting it again is fine');

  const again = await restoreObjects({ client: polite(), namespace: a, dryRun: false });
  t.same(again.outcomes, [], 'a second run finds nothing of ours');
});

t.test('observe mode, malformed and never-touched objects (written as the webhook writes them)', async (t) => {
  const ns = `kc-plain-${c.id}`;
  await createNamespace(c, ns, {});
  await createObject(c, 'scaledobjects', ns, 'observed', 20, webhookAnnotations('20', 3, 'observe'));
  await createObject(c, 'scaledobjects', ns, 'broken', 3, webhookAnnotations('lots', 3));
  await createObject(c, 'scaledobjects', ns, 'plain', 9, { [ANNOTATION.policy]: 'standard' });
  const before = await stored(c, 'scaledobjects', ns, 'plain');
  const brokenBefore = await stored(c, 'scaledobjects', ns, 'broken');
  const result = await restoreObjects({ client: polite(), namespace: ns, dryRun: false });
  const by = Object.fromEntries(result.outcomes.map((o) => [o.name, o]));
  t.match(by.observed, { result: 'restored', from: 20, to: 20 });
  t.same(await stored(c, 'scaledobjects', ns, 'observed').then((s) => [s.max, s.ours]), [20, []], 'observe mode: annotations gone, spec as it was');
  t.match(by.broken, { result: 'malformed', message: /not a replica count/ });
  t.ok(isFailure(by.broken!), 'a malformed object counts as not restored');
  t.equal((await stored(c, 'scaledobjects', ns, 'broken')).resourceVersion, brokenBefore.resourceVersion, 'the malformed object is not written');
  t.notOk(by.plain, 'an object keda-carbon never touched is not in the plan');
  t.equal((await stored(c, 'scaledobjects', ns, 'plain')).resourceVersion, before.resourceVersion, 'and it is not written');
});

t.test('a conflicting write between the list and the patch is read again and retried', async (t) => {
  const ns = `kc-conflict-${c.id}`;
  await createNamespace(c, ns, {});
  await createObject(c, 'scaledobjects', ns, 'busy', 3, webhookAnnotations('20', 3));
  await createObject(c, 'scaledobjects', ns, 'edited', 3, webhookAnnotations('20', 3));
  const patches: string[] = [];
  // Another writer changes each object once, just before our first patch of it reaches the server.
  const interfering: KubeApi = {
    watch: c.api.watch,
    async request(method, path, options) {
      if (method === 'PATCH') {
        const name = path.split('?')[0]!.split('/').pop()!;
        if (!patches.includes(name)) {
          const change = name === 'busy' ? { metadata: { labels: { team: 'x' } } } : { spec: { maxReplicaCount: 50 } };
          await c.call('PATCH', kedaPath('scaledobjects', ns, name), [200], change, MERGE);
        }
        patches.push(name);
      }
      return c.api.request(method, path, options);
    },
  };
  const client = polite(interfering);
  const result = await restoreObjects({ client, namespace: ns, dryRun: false });
  t.same(patches.sort(), ['busy', 'busy', 'edited', 'edited'], 'each object patched twice: a 409, then the retry');
  const by = Object.fromEntries(result.outcomes.map((o) => [o.name, o]));
  t.match(by.busy, { result: 'restored', from: 3, to: 20 });
  const busy = await c.call('GET', kedaPath('scaledobjects', ns, 'busy'), [200]);
  t.same([busy.spec.maxReplicaCount, busy.metadata.labels], [20, { team: 'x' }], 'restored, and the other write kept');
  t.match(by.edited, { result: 'restored', from: 50, to: 50, message: /written after keda-carbon's cap/ });
  t.same(await stored(c, 'scaledobjects', ns, 'edited').then((s) => [s.max, s.ours]), [50, []], "the user's newer max is not overwritten");
});

t.test('a webhook still registered caps the restored object again: reported, not counted as done', async (t) => {
  const mwc = await startCapper(t, c);
  const ns = await mwc.namespace('recap');
  await createObject(c, 'scaledobjects', ns, 'web', 20, CAPPED);
  const result = await restoreObjects({ client: polite(), namespace: ns, dryRun: false });
  t.match(result.outcomes, [{ name: 'web', result: 'recapped', to: 3, message: /webhook is still registered/ }]);
});

t.test('dry run: the API server checks every patch and nothing is stored', async (t) => {
  const ns = `kc-dry-${c.id}`;
  await createNamespace(c, ns, {});
  await createObject(c, 'scaledobjects', ns, 'web', 3, webhookAnnotations('20', 3));
  const before = await stored(c, 'scaledobjects', ns, 'web');
  const result = await restoreObjects({ client: polite(), namespace: ns, dryRun: true });
  t.match(result.outcomes, [{ name: 'web', result: 'would-restore', from: 3, to: 20 }]);
  t.same(await stored(c, 'scaledobjects', ns, 'web'), before, 'nothing changed');
});

t.test('an object whose patch gets no answer is reported; the others are still restored', async (t) => {
  const ns = `kc-noanswer-${c.id}`;
  await createNamespace(c, ns, {});
  await createObject(c, 'scaledobjects', ns, 'down', 3, webhookAnnotations('20', 3));
  await createObject(c, 'scaledobjects', ns, 'up', 3, webhookAnnotations('20', 3));
  const failing: KubeApi = {
    watch: c.api.watch,
    async request(method, path, options) {
      if (method === 'PATCH' && path.includes('/down?')) throw new Error('socket hang up');
      return c.api.request(method, path, options);
    },
  };
  const client = new PoliteClient(failing, { qps: 50, burst: 50, maxInFlight: 8, maxAttempts: 2, backoffBaseMs: 1 });
  const result = await restoreObjects({ client, namespace: ns, dryRun: false });
  const by = Object.fromEntries(result.outcomes.map((o) => [o.name, o]));
  t.match(by.down, { result: 'failed', message: 'socket hang up' });
  t.match(by.up, { result: 'restored', to: 20 });
  t.equal((await stored(c, 'scaledobjects', ns, 'down')).max, 3, 'the unanswered object is as it was');
});
