import t, { type Test } from 'tap';
import jsonpatch from 'fast-json-patch';
import { handleAdmission } from '../../src/admission/handler.js';
import type { CarbonSnapshot } from '../../src/core/carbon.js';
import { kubeApiFromUrl } from '../../src/cluster/api.js';
import { EventRecorder } from '../../src/cluster/events.js';
import { FakeKube, instantClock, type FakeObject } from '../helpers/fake-kube.js';
import { NamespaceCache } from '../../src/cluster/namespaces.js';
import { PoliteClient } from '../../src/cluster/polite.js';
import { runSweep, type SweepDeps } from '../../src/cluster/sweep.js';
import { parseConfigText } from '../../src/config/config.js';
import { silentLogger } from '../../src/log.js';
import { steady } from '../helpers/carbon.js';
import { captureLogger } from '../helpers/log.js';

const CONFIG = parseConfigText(
  `
policies:
  standard:
    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]
`,
  'test',
);

/** The real admission handler as the fake API server's webhook: UPDATE review in, JSONPatch applied. */
function webhook(carbon: () => CarbonSnapshot, namespaces: { policyFor(ns: string): string | null }, now: () => number) {
  return async (plural: string, object: FakeObject, old: FakeObject | undefined): Promise<FakeObject> => {
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: `uid-${Math.random()}`,
        kind: { group: 'keda.sh', version: 'v1alpha1', kind: plural === 'scaledobjects' ? 'ScaledObject' : 'ScaledJob' },
        resource: { group: 'keda.sh', version: 'v1alpha1', resource: plural },
        namespace: object.metadata.namespace,
        name: object.metadata.name,
        operation: 'UPDATE',
        object,
        oldObject: old,
      },
    };
    const out = await handleAdmission(review, { config: () => CONFIG, carbon: { snapshot: carbon }, namespaces, now });
    const patch = out.review.response.patch;
    if (!patch) return object;
    const ops = JSON.parse(Buffer.from(patch, 'base64').toString('utf8'));
    return jsonpatch.applyPatch(structuredClone(object), ops, true, false).newDocument as FakeObject;
  };
}

function so(namespace: string, name: string, max: number, annotations: Record<string, string> = {}): FakeObject {
  return { metadata: { name, namespace, annotations }, spec: { maxReplicaCount: max, scaleTargetRef: { name } } };
}

async function setup(t: Test, options: { intensity?: number; pageSize?: number; labels?: Record<string, Record<string, string>> } = {}) {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  for (const [ns, labels] of Object.entries(options.labels ?? { apps: {}, team: { 'keda-carbon.io/policy': 'standard' } })) fake.setNamespace(ns, labels);
  const api = kubeApiFromUrl(fake.url);
  const clock = instantClock();
  let snapshot = steady(options.intensity ?? 400, clock.now());
  const carbon = { snapshot: () => snapshot };
  const namespaces = new NamespaceCache({ api, logger: silentLogger });
  namespaces.start();
  await namespaces.whenSynced();
  t.teardown(() => namespaces.stop());
  const client = new PoliteClient(api, { qps: 10_000, burst: 10_000, maxInFlight: 8, clock, random: () => 0.5, backoffBaseMs: 10 });
  const { logger, lines } = captureLogger();
  const events = new EventRecorder(client, logger, 'test-replica', clock.now);
  fake.admit = webhook(carbon.snapshot, { policyFor: (ns) => namespaces.policyFor(ns) as string | null }, clock.now);
  const deps: SweepDeps = { client, config: () => CONFIG, carbon, namespaces, events, clock, logger, pageSize: options.pageSize ?? 500 };
  return {
    fake,
    clock,
    deps,
    lines,
    events,
    setIntensity(v: number) {
      snapshot = steady(v, clock.now());
    },
    sweep: (namespace?: string) => runSweep(deps, { reason: 'test', ...(namespace ? { namespace } : {}) }),
    patches: () => fake.requests.filter((r) => r.method === 'PATCH'),
  };
}

/** Create objects through the fake's webhook, as kubectl apply would (CREATE: capped at once). */
async function create(env: Awaited<ReturnType<typeof setup>>, plural: 'scaledobjects' | 'scaledjobs', obj: FakeObject): Promise<void> {
  const admitted = await env.fake.admit!(plural, obj, undefined);
  env.fake.addObject(plural, admitted);
}

t.test('zero writes when every cap is right; one write per object whose cap changes', async (t) => {
  const env = await setup(t, { intensity: 100 });
  for (let i = 0; i < 5; i++) await create(env, 'scaledobjects', so('team', `web-${i}`, 10));
  await create(env, 'scaledjobs', so('team', 'job-0', 10));
  await create(env, 'scaledobjects', so('apps', 'untouched', 10)); // no policy anywhere
  const first = await env.sweep();
  t.equal(first.stats.seen, 7);
  t.equal(first.stats.touched, 0, 'intensity below every band: caps already right');
  t.equal(env.patches().length, 0, 'zero writes');

  env.setIntensity(400);
  const second = await env.sweep();
  t.equal(second.stats.touched, 6, 'the band change re-caps the six opted-in objects');
  t.equal(second.stats.changed, 6, 'and the webhook applied every one');
  t.equal(env.patches().length, 6, 'exactly one write per object whose cap changed');
  t.same(Object.keys((env.patches()[0]!.body as FakeObject).metadata.annotations!), ['keda-carbon.io/touched-at'], 'the touch writes only touched-at');
  t.equal(env.fake.getObject('scaledobjects', 'team', 'web-3')!.spec!.maxReplicaCount, 3);
  t.equal(env.fake.getObject('scaledjobs', 'team', 'job-0')!.spec!.maxReplicaCount, 3);
  t.equal(env.fake.getObject('scaledobjects', 'apps', 'untouched')!.spec!.maxReplicaCount, 10);
  const capEvents = env.fake.events.filter((e) => e.reason === 'CarbonCapChanged');
  t.equal(capEvents.length, 6, 'a Normal Event per changed cap');
  t.match(capEvents[0], { type: 'Normal', involvedObject: { apiVersion: 'keda.sh/v1alpha1', namespace: 'team' }, message: /^maxReplicaCount 10 -> 3 \(400 gCO2eq\/kWh, rule measuredEmission>=300\)$/ });

  const third = await env.sweep();
  t.equal(third.stats.touched, 0, 'the next sweep finds nothing to do');
  t.equal(env.patches().length, 6);
  t.same([...third.subjects.keys()], ['team'], 'subjects for the forecast: the opted-in namespace');
  t.match(third.subjects.get('team'), [{ declared: 10, cap: 3, minReplicas: 0 }]);
  t.equal(third.subjects.get('team')!.length, 1, 'alike objects collapse into one subject');
});

t.test('an object that lost its policy gets its declared max back', async (t) => {
  const env = await setup(t, { intensity: 400 });
  await create(env, 'scaledobjects', so('team', 'web', 10));
  t.equal(env.fake.getObject('scaledobjects', 'team', 'web')!.spec!.maxReplicaCount, 3);
  env.fake.setNamespace('team', {}); // label removed
  await new Promise((r) => setTimeout(r, 50)); // the watch delivers it
  t.equal(env.deps.namespaces.policyFor('team'), null, 'the cache saw the label go');
  const r = await env.sweep('team');
  t.equal(r.stats.touched, 1);
  const obj = env.fake.getObject('scaledobjects', 'team', 'web')!;
  t.equal(obj.spec!.maxReplicaCount, 10, 'declared max restored');
  t.notOk(obj.metadata.annotations?.['keda-carbon.io/declared-max-replica-count'], 'our annotations are gone');
  t.notOk(obj.metadata.annotations?.['keda-carbon.io/touched-at'], 'touched-at too');
  t.match(env.fake.events.at(-1), { reason: 'CarbonCapChanged', message: /maxReplicaCount 3 -> 10 \(.*no carbon policy any more/ });
});

t.test('pagination: limit and continue; 410 starts over without touching anything twice', async (t) => {
  const env = await setup(t, { intensity: 100, pageSize: 4 });
  for (let i = 0; i < 10; i++) await create(env, 'scaledobjects', so('team', `web-${String(i).padStart(2, '0')}`, 10));
  env.setIntensity(400);
  let pages = 0;
  env.fake.faults = [
    (r) => {
      if (r.method === 'GET' && r.path.endsWith('/scaledobjects')) {
        pages++;
        // after the first page was handled, the continue token expires once
        if (pages === 2) env.fake.expireContinueTokens();
      }
      return undefined;
    },
  ];
  const res = await env.sweep();
  const lists = env.fake.requests.filter((r) => r.method === 'GET' && r.path === '/apis/keda.sh/v1alpha1/scaledobjects');
  t.ok(lists.every((r) => r.query.get('limit') === '4'), 'every page asks for limit 4');
  t.equal(lists.filter((r) => r.query.get('continue')).length, lists.length - 2, 'two fresh starts, the rest continue');
  t.equal(res.stats.restarts, 1, 'one restart after 410 Gone');
  t.equal(res.stats.seen, 14, 'the first page was seen twice');
  t.equal(res.stats.touched, 10, 'yet each object was touched once');
  t.equal(env.patches().length, 10);
  t.ok(res.stats.complete);
});

t.test('retries: 429 with Retry-After, 409 and 500 on touches; one failing object never stops the sweep', async (t) => {
  const env = await setup(t, { intensity: 100 });
  for (const n of ['a', 'b', 'c', 'd', 'e']) await create(env, 'scaledobjects', so('team', n, 10));
  env.setIntensity(400);
  const seen: Record<string, number> = {};
  env.fake.faults = [
    (r) => {
      if (r.method !== 'PATCH') return undefined;
      const name = r.path.split('/').pop()!;
      seen[name] = (seen[name] ?? 0) + 1;
      if (name === 'a' && seen[name] === 1) return { status: 429, headers: { 'retry-after': '2' } };
      if (name === 'b' && seen[name] === 1) return { status: 409 };
      if (name === 'c' && seen[name] <= 2) return { status: 500 };
      if (name === 'd') return { status: 403, body: { kind: 'Status', message: 'scaledobjects "d" is forbidden' } };
      return undefined;
    },
  ];
  const res = await env.sweep();
  t.equal(res.stats.touched, 5);
  t.equal(res.stats.changed, 4, 'a, b, c after retries, and e');
  t.equal(res.stats.failed, 1, 'd failed');
  t.ok(env.clock.delays.includes(2000), 'the 429 waited its Retry-After');
  t.equal(env.fake.getObject('scaledobjects', 'team', 'e')!.spec!.maxReplicaCount, 3, 'objects after the failure were still capped');
  t.equal(env.fake.getObject('scaledobjects', 'team', 'd')!.spec!.maxReplicaCount, 10);
  t.ok(env.lines.some((l) => /"name":"d".*touch failed/.test(l) && /forbidden/.test(l)), 'the failure is logged with the server message');
});

t.test('invalid policies are skipped and reported once', async (t) => {
  const env = await setup(t, { intensity: 400 });
  env.fake.addObject('scaledobjects', so('apps', 'broken', 10, { 'keda-carbon.io/environmental-impact': '{"carbon": 5}' }));
  env.fake.addObject('scaledobjects', so('apps', 'unknown-name', 10, { 'keda-carbon.io/policy': 'nope' }));
  const first = await env.sweep();
  t.equal(first.stats.invalid, 2);
  t.equal(first.stats.touched, 0, 'never touched');
  const warnings = () => env.fake.events.filter((e) => e.type === 'Warning');
  t.equal(warnings().length, 2);
  t.match(warnings()[0], { reason: 'CarbonPolicyInvalid', message: /carbon: must be a non-empty list of rules/ });
  await env.sweep();
  await env.sweep();
  t.equal(warnings().length, 2, 'not repeated on later sweeps');
  // fixed, then broken again: reported again
  const broken = env.fake.getObject('scaledobjects', 'apps', 'broken')!;
  broken.metadata.annotations = { 'keda-carbon.io/policy': 'standard' };
  await env.sweep();
  env.fake.getObject('scaledobjects', 'apps', 'broken')!.metadata.annotations = { 'keda-carbon.io/environmental-impact': '{"carbon": 5}' };
  await env.sweep();
  t.equal(warnings().length, 3, 'a relapse is reported');
});

t.test('the webhook not applying the cap is counted and said, not hidden', async (t) => {
  const env = await setup(t, { intensity: 100 });
  await create(env, 'scaledobjects', so('team', 'web', 10));
  env.setIntensity(400);
  env.fake.admit = undefined; // as if the webhook were not registered
  const res = await env.sweep();
  t.equal(res.stats.touched, 1);
  t.equal(res.stats.unapplied, 1);
  t.equal(res.stats.changed, 0);
  t.equal(env.fake.events.length, 0, 'no CarbonCapChanged for a cap that did not change');
  t.ok(env.lines.some((l) => l.includes('is the webhook registered')));
});

t.test('a failing list is reported; the other kind is still swept', async (t) => {
  const env = await setup(t, { intensity: 100 });
  await create(env, 'scaledjobs', so('team', 'job', 10));
  env.setIntensity(400);
  env.fake.faults = [(r) => (r.method === 'GET' && r.path.endsWith('/scaledobjects') ? { status: 403, body: { kind: 'Status', message: 'forbidden: cannot list' } } : undefined)];
  const res = await env.sweep();
  t.equal(res.stats.complete, false);
  t.equal(res.stats.changed, 1, 'the ScaledJob was still capped');
  t.ok(env.lines.some((l) => l.includes('listing scaledobjects answered 403: forbidden: cannot list')));
});

t.test('without KEDA installed the sweep says so', async (t) => {
  const env = await setup(t);
  env.fake.faults = [(r) => (r.path.startsWith('/apis/keda.sh') ? { status: 404 } : undefined)];
  const res = await env.sweep();
  t.equal(res.stats.complete, false);
  t.ok(env.lines.some((l) => l.includes('is KEDA installed?')));
});

t.test('a namespace whose label cannot be read is skipped, not guessed', async (t) => {
  const env = await setup(t, { intensity: 400 });
  env.fake.addObject('scaledobjects', so('ghost', 'web', 10));
  env.fake.faults = [(r) => (r.path === '/api/v1/namespaces/ghost' ? { status: 500 } : undefined)];
  const res = await env.sweep();
  t.equal(res.stats.failed, 1);
  t.equal(res.stats.touched, 0);
});

t.test('a stopped sweep stops promptly', async (t) => {
  const env = await setup(t, { intensity: 100 });
  for (let i = 0; i < 20; i++) await create(env, 'scaledobjects', so('team', `w${i}`, 10));
  env.setIntensity(400);
  const controller = new AbortController();
  env.fake.faults = [
    (r) => {
      if (r.method === 'PATCH') controller.abort();
      return undefined;
    },
  ];
  const res = await runSweep(env.deps, { reason: 'test', signal: controller.signal });
  t.equal(res.stats.complete, false);
  t.ok(env.patches().length <= 8, `at most the in-flight patches went out (${env.patches().length})`);
});

t.test('a namespace scope: objects elsewhere are neither decided nor touched', async (t) => {
  const env = await setup(t, { intensity: 100, labels: { team: { 'keda-carbon.io/policy': 'standard', mine: 'yes' }, other: { 'keda-carbon.io/policy': 'standard' } } });
  await create(env, 'scaledobjects', so('team', 'in', 10));
  await create(env, 'scaledobjects', so('other', 'out', 10));
  env.setIntensity(400);
  const res = await runSweep({ ...env.deps, inScope: (ns) => ns === 'team' }, { reason: 'test' });
  t.equal(res.stats.seen, 1);
  t.equal(res.stats.touched, 1);
  t.equal(env.fake.getObject('scaledobjects', 'other', 'out')!.spec!.maxReplicaCount, 10, 'outside the scope: untouched');
  const failing = await runSweep({ ...env.deps, inScope: async () => { throw new Error('no labels'); } }, { reason: 'test' });
  t.equal(failing.stats.failed, 2, 'a scope that cannot be decided skips, never touches');
});
