import t, { type Test } from 'tap';
import { handleAdmission, type AdmissionDeps } from '../../src/admission/handler.js';
import type { CarbonSnapshot } from '../../src/core/carbon.js';
import { parseConfigText, type RuntimeConfig } from '../../src/config/config.js';
import { steady } from '../helpers/carbon.js';
import { applyResponsePatch, decodePatch, loadReview, withAnnotations, type Review } from '../helpers/reviews.js';

const NOW = Date.parse('2026-11-23T10:30:00Z');
const POLICY = 'keda-carbon.io/environmental-impact';
const HALF = '{"carbon":[{"measuredEmission":300,"allowedMaxReplicaCount":"50%"},{"measuredEmission":500,"allowedMaxReplicaCount":2}]}';

const baseConfig = parseConfigText(
  `
policies:
  standard:
    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]
`,
  'test',
);

function deps(
  over: { config?: Partial<RuntimeConfig>; carbon?: CarbonSnapshot | (() => CarbonSnapshot); namespaces?: AdmissionDeps['namespaces']; now?: number } = {},
): AdmissionDeps {
  const config = { ...baseConfig, ...over.config };
  const carbon = over.carbon ?? steady(412.3, NOW);
  return {
    config: () => config,
    carbon: { snapshot: typeof carbon === 'function' ? carbon : () => carbon },
    namespaces: over.namespaces,
    now: () => over.now ?? NOW,
  };
}

/** Run a review, check the uid echo, apply the patch (RFC 6902) and return everything. */
async function run(t: Test, review: Review, d = deps()) {
  const outcome = await handleAdmission(review, d);
  const response = outcome.review.response;
  t.equal(response.uid, review.request.uid, 'the response echoes the request uid');
  t.equal(outcome.review.apiVersion, 'admission.k8s.io/v1');
  const object = applyResponsePatch(review.request.object, response);
  return { outcome, response, object, ops: decodePatch(response) };
}

/** The review the API server would send next for the same object, unchanged by the user. */
function nextUpdate(review: Review, stored: Review['request']['object'], uid = 'second-uid'): Review {
  const again = structuredClone(review);
  again.request.uid = uid;
  again.request.operation = 'UPDATE';
  again.request.object = structuredClone(stored);
  again.request.oldObject = structuredClone(stored);
  return again;
}

t.test('kubectl apply with a policy annotation: capped, annotated, warned', async (t) => {
  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: HALF });
  const { response, object, outcome } = await run(t, review);
  t.equal(response.allowed, true);
  t.equal(object.spec.maxReplicaCount, 5, '50% of the declared 10 at 412 g');
  t.equal(object.metadata.annotations['keda-carbon.io/declared-max-replica-count'], '10');
  const status = JSON.parse(object.metadata.annotations['keda-carbon.io/status']);
  t.same(status, {
    cap: 5,
    declared: 10,
    intensity: 412.3,
    signal: 'unknown',
    source: 'test:zone',
    dataTime: '2026-11-23T10:00:00.000Z',
    rule: 'measuredEmission>=300',
    ecoMode: 'on',
    mode: 'enforce',
    evaluatedAt: '2026-11-23T10:30:00.000Z',
  });
  t.same(
    Object.keys(status),
    ['cap', 'declared', 'intensity', 'signal', 'source', 'dataTime', 'rule', 'ecoMode', 'mode', 'evaluatedAt'],
    'in the order of the contract',
  );
  t.same(response.warnings, ['keda-carbon: maxReplicaCount 10 -> 5 (412 gCO2eq/kWh >= 300)']);
  t.ok(object.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], 'other annotations kept');
  t.equal(outcome.result, 'patched');
  t.same(outcome.capChange, { from: 10, to: 5 });

  const second = await run(t, nextUpdate(review, object));
  t.equal(second.response.patch, undefined, 'mutating our own output changes nothing');
  t.same(second.object, object);
  t.equal(second.response.warnings, undefined, 'and warns about nothing');
});

t.test('kubectl create with no annotations map: the patch adds the whole map', async (t) => {
  const review = loadReview('scaledobject-create.kubectl-create');
  t.equal(review.request.object.metadata.annotations, undefined, 'fixture has no annotations');
  const { object, ops } = await run(t, review, deps({ config: { defaultPolicy: 'standard' } }));
  t.match(ops, [
    { op: 'add', path: '/spec/maxReplicaCount', value: 3 },
    { op: 'add', path: '/metadata/annotations' },
  ]);
  t.equal(object.spec.maxReplicaCount, 3);
  t.equal(object.metadata.annotations['keda-carbon.io/declared-max-replica-count'], '10');
});

t.test('annotation keys are escaped as ~1 and the patch applies', async (t) => {
  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' });
  const { ops, object } = await run(t, review);
  t.ok(ops.some((op) => (op as { path: string }).path === '/metadata/annotations/keda-carbon.io~1status'));
  t.equal(object.spec.maxReplicaCount, 3);
});

t.test('maxReplicaCount unset: KEDA default 100 is the declared max, added to spec', async (t) => {
  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: HALF });
  delete review.request.object.spec.maxReplicaCount;
  const { object, response } = await run(t, review);
  t.equal(object.spec.maxReplicaCount, 50);
  t.equal(object.metadata.annotations['keda-carbon.io/declared-max-replica-count'], '100');
  t.same(response.warnings, ['keda-carbon: maxReplicaCount 100 -> 50 (412 gCO2eq/kWh >= 300)']);
});

t.test('reinvocation: a second call with a new uid and our patch applied changes nothing', async (t) => {
  const first = withAnnotations(loadReview('scaledobject-create.reinvocation.1-first-call'), { [POLICY]: HALF });
  const r1 = await run(t, first);
  t.equal(r1.object.spec.maxReplicaCount, 5);
  // The captured second call: other webhook's label, a new uid. Put our result in it.
  const second = loadReview('scaledobject-create.reinvocation.2-reinvoked-after-other-webhook');
  t.not(second.request.uid, first.request.uid);
  const labels = second.request.object.metadata.labels;
  second.request.object = { ...structuredClone(r1.object), metadata: { ...r1.object.metadata, labels } };
  const r2 = await run(t, second);
  t.equal(r2.response.patch, undefined, 'no patch on reinvocation');
  t.equal(r2.object.spec.maxReplicaCount, 5, 'no ratchet: 50% of 5 would be 2');
});

t.test('dry-run requests get the same answer', async (t) => {
  for (const name of ['scaledobject-create.dry-run-server.kubectl-apply', 'scaledobject-create.dry-run-server.kubectl-apply-server-side']) {
    const review = withAnnotations(loadReview(name), { [POLICY]: HALF });
    t.equal(review.request.dryRun, true);
    const { object } = await run(t, review);
    const wet = structuredClone(review);
    wet.request.dryRun = false;
    const same = await run(t, wet);
    t.same(object, same.object, `${name}: same result as without dry-run`);
    t.equal(object.spec.maxReplicaCount, 5);
  }
});

t.test('ScaledJob is capped the same way', async (t) => {
  const review = withAnnotations(loadReview('scaledjob-create.kubectl-create'), { [POLICY]: HALF });
  t.equal(review.request.kind.kind, 'ScaledJob');
  const { object, outcome } = await run(t, review);
  t.equal(object.spec.maxReplicaCount, 2, '50% of 5 rounded down');
  t.equal(outcome.kind, 'ScaledJob');
});

t.test('UPDATE: user change of maxReplicaCount is a new declared value; unchanged keeps it', async (t) => {
  const created = await run(t, withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: HALF }));
  const annotate = loadReview('scaledobject-update.kubectl-annotate');
  // kubectl annotate on the capped object: spec unchanged, declared stays 10.
  const unchanged = structuredClone(annotate);
  unchanged.request.oldObject = structuredClone(created.object);
  unchanged.request.object = withAnnotations({ request: { object: created.object } }, { foo: 'bar' }).request.object;
  const u = await run(t, unchanged);
  t.equal(u.response.patch, undefined, 'annotate: nothing to change');

  const raised = structuredClone(unchanged);
  raised.request.object.spec.maxReplicaCount = 40;
  const r = await run(t, raised);
  t.equal(r.object.spec.maxReplicaCount, 20, 'user raised max to 40: cap 50% = 20');
  t.equal(r.object.metadata.annotations['keda-carbon.io/declared-max-replica-count'], '40');
  t.same(r.response.warnings, ['keda-carbon: maxReplicaCount 40 -> 20 (412 gCO2eq/kWh >= 300)']);

  // Intensity falls below every rule: the user's own max comes back in full.
  const clean = await run(t, nextUpdate(raised, r.object), deps({ carbon: steady(120, NOW) }));
  t.equal(clean.object.spec.maxReplicaCount, 40);
  t.same(clean.response.warnings, ['keda-carbon: maxReplicaCount 20 -> 40 (120 gCO2eq/kWh is below every rule)']);
});

t.test('policy gone: declared max restored and our annotations removed', async (t) => {
  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' });
  const capped = await run(t, review);
  t.equal(capped.object.spec.maxReplicaCount, 3);
  const stored = {
    ...capped.object,
    metadata: { ...capped.object.metadata, annotations: { ...capped.object.metadata.annotations, 'keda-carbon.io/touched-at': '2026-11-23T10:00:00Z' } },
  };
  const removed = nextUpdate(review, stored);
  delete removed.request.object.metadata.annotations['keda-carbon.io/policy'];
  const r = await run(t, removed);
  t.equal(r.object.spec.maxReplicaCount, 10);
  for (const key of ['keda-carbon.io/declared-max-replica-count', 'keda-carbon.io/status', 'keda-carbon.io/touched-at']) {
    t.notOk(key in r.object.metadata.annotations, `${key} removed`);
  }
  t.same(r.response.warnings, ['keda-carbon: maxReplicaCount 3 -> 10 (no carbon policy any more: declared max restored)']);
  t.equal(r.outcome.reason, 'no carbon policy any more: declared max restored', 'the logged reason says it once');
  const again = await run(t, nextUpdate(review, r.object));
  t.equal(again.response.patch, undefined, 'and then nothing more');

  const disabled = nextUpdate(review, stored);
  disabled.request.object.metadata.annotations['keda-carbon.io/policy'] = 'disabled';
  const d = await run(t, disabled, deps({ config: { defaultPolicy: 'standard' } }));
  t.equal(d.object.spec.maxReplicaCount, 10, '"disabled" opts out of the default policy too');
  t.same(d.response.warnings, [
    'keda-carbon: maxReplicaCount 3 -> 10 (carbon policy switched off (annotation keda-carbon.io/policy: disabled): declared max restored)',
  ]);
});

t.test('invalid policy documents: denied with the field named, or warned', async (t) => {
  const bad = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: 'carbon: [{measuredEmission: -5, allowedMaxReplicaCount: 3}]' });
  const { response, outcome } = await run(t, bad);
  t.equal(response.allowed, false);
  t.equal(response.status?.code, 403);
  t.equal(
    response.status?.message,
    'keda-carbon: invalid carbon policy in annotation keda-carbon.io/environmental-impact: carbon[0].measuredEmission: must be a number >= 0, got -5',
  );
  t.equal(outcome.result, 'denied');

  const warned = await run(t, bad, deps({ config: { invalidPolicy: 'warn' } }));
  t.equal(warned.response.allowed, true);
  t.equal(warned.response.patch, undefined, 'left as it is');
  t.match(warned.response.warnings?.[0], /carbon\[0\]\.measuredEmission: must be a number >= 0/);

  const notYaml = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: '{carbon: [' });
  t.match((await run(t, notYaml)).response.status?.message, /not valid YAML or JSON/);

  const unknown = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'nope' });
  const u = await run(t, unknown);
  t.equal(u.response.allowed, true, 'an unknown policy name is a configuration matter: fail open');
  t.match(u.response.warnings?.[0], /names policy "nope", which the keda-carbon configuration does not define/);
});

t.test('spec.environmentalImpact (present when the CRD declares it)', async (t) => {
  const review = loadReview('scaledobject-create.kubectl-apply-server-side.unknown-field-NOT-pruned', 'v1.20');
  const { object } = await run(t, review);
  t.equal(object.spec.maxReplicaCount, 10, 'allowed 50 is above the declared 10');
  const high = await run(t, review, deps({ config: {}, carbon: steady(100, NOW) }));
  t.equal(high.object.spec.maxReplicaCount, 10);
  const invalid = structuredClone(review);
  invalid.request.object.spec.environmentalImpact = { carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 0 }] };
  t.match((await run(t, invalid)).response.status?.message, /spec\.environmentalImpact: carbon\[0\]\.allowedMaxReplicaCount: must be an integer >= 1/);
});

t.test('namespace label policies through the lookup seam', async (t) => {
  const review = loadReview('scaledobject-create.kubectl-create');
  const seen: string[] = [];
  const sync = await run(t, review, deps({ namespaces: { policyFor: (ns) => (seen.push(ns), 'standard') } }));
  t.equal(sync.object.spec.maxReplicaCount, 3);
  t.same(seen, ['probe']);
  const asyncMiss = await run(t, review, deps({ namespaces: { policyFor: async () => 'standard' } }));
  t.equal(asyncMiss.object.spec.maxReplicaCount, 3);
  const failing = await run(
    t,
    review,
    deps({
      namespaces: {
        policyFor: async () => {
          throw new Error('timeout after 1s');
        },
      },
    }),
  );
  t.equal(failing.response.allowed, true);
  t.equal(failing.response.patch, undefined);
  t.same(failing.response.warnings, ['keda-carbon: could not read the labels of namespace probe (timeout after 1s); namespace policy not applied']);
  const annotated = withAnnotations(review, { 'keda-carbon.io/policy': 'disabled' });
  t.equal((await run(t, annotated, deps({ namespaces: { policyFor: () => 'standard' } }))).response.patch, undefined, 'object opt-out beats the namespace');
});

t.test('not ours: DELETE, CONNECT, other kinds, subresources', async (t) => {
  const base = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: HALF });
  const variants: Array<[string, (r: Review) => void]> = [
    [
      'DELETE',
      (r) => {
        r.request.operation = 'DELETE';
        r.request.oldObject = r.request.object;
        r.request.object = null;
      },
    ],
    [
      'CONNECT',
      (r) => {
        r.request.operation = 'CONNECT';
      },
    ],
    [
      'Deployment',
      (r) => {
        r.request.kind = { group: 'apps', version: 'v1', kind: 'Deployment' };
      },
    ],
    [
      'status subresource',
      (r) => {
        r.request.subResource = 'status';
      },
    ],
  ];
  for (const [name, change] of variants) {
    const r = structuredClone(base);
    change(r);
    const { response, outcome } = await run(t, r);
    t.equal(response.allowed, true, `${name}: allowed`);
    t.equal(response.patch, undefined, `${name}: untouched`);
    t.equal(outcome.result, 'skipped');
  }
});

t.test('internal errors fail open and still echo the uid', async (t) => {
  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: HALF });
  const { response, outcome } = await run(
    t,
    review,
    deps({
      carbon: () => {
        throw new Error('store exploded');
      },
    }),
  );
  t.equal(response.allowed, true);
  t.equal(response.patch, undefined);
  t.same(response.warnings, ['keda-carbon: internal error, write allowed unchanged: store exploded']);
  t.equal(outcome.result, 'error');
  const noObject = structuredClone(review);
  delete noObject.request.object;
  const n = await run(t, noObject);
  t.equal(n.response.allowed, true);
  t.match(n.response.warnings?.[0], /carries no object/);
});

t.test('malformed or foreign reviews are refused with a clear error', async (t) => {
  const good = loadReview('scaledobject-create.kubectl-apply');
  const cases: Array<[unknown, RegExp]> = [
    [null, /expected a JSON AdmissionReview object/],
    [[1, 2], /expected a JSON AdmissionReview object/],
    [{ ...good, kind: 'Pod' }, /expected kind AdmissionReview/],
    [{ ...good, apiVersion: 'admission.k8s.io/v1beta1' }, /admissionReviewVersions: \[v1\]/],
    [{ ...good, request: undefined }, /has no request/],
    [{ ...good, request: { ...good.request, uid: '' } }, /has no uid/],
    [{ ...good, request: { ...good.request, kind: 'ScaledObject' } }, /has no kind/],
    [{ ...good, request: { ...good.request, operation: 7 } }, /has no operation/],
  ];
  for (const [body, message] of cases) {
    await t.rejects(handleAdmission(body, deps()), { name: 'BadReviewError', message }, String(message));
  }
});
