import jsonpatch from 'fast-json-patch';
import t from 'tap';
import { handleAdmission, type AdmissionDeps } from '../../src/admission/handler.js';
import { buildPatch, unpatchable } from '../../src/admission/patch.js';
import { BadReviewError, parseReview } from '../../src/admission/review.js';
import { parseConfigText } from '../../src/config/config.js';
import type { KedaObject } from '../../src/core/object.js';
import type { Plan } from '../../src/core/plan.js';
import { steady } from '../helpers/carbon.js';
import { applyResponsePatch, decodePatch, loadReview, withAnnotations, type Review } from '../helpers/reviews.js';

const NOW = Date.parse('2026-11-23T10:30:00Z');
const POLICY = 'keda-carbon.io/environmental-impact';
const config = parseConfigText('policies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]\n', 'test');
const carbon = steady(412, NOW);
const deps: AdmissionDeps = { config: () => config, carbon: { snapshot: () => carbon }, now: () => NOW };

function named(): Review {
  return withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' });
}

t.test('a part we would write into that is not an object: the write goes through as sent, with a warning', async (t) => {
  const cases: Array<[string, (o: Review) => void, RegExp]> = [
    ['spec is a list', (o) => (o.spec = [1, 2]), /^keda-carbon: spec is a list, not an object; write allowed unchanged$/],
    ['spec is a string', (o) => (o.spec = 'big'), /^keda-carbon: spec is string "big", not an object/],
    ['metadata is a list', (o) => (o.metadata = []), /^keda-carbon: metadata is a list, not an object/],
    ['metadata is a number', (o) => (o.metadata = 7), /^keda-carbon: metadata is number 7, not an object/],
    ['annotations is a list', (o) => (o.metadata.annotations = ['keda-carbon.io/policy']), /^keda-carbon: metadata\.annotations is a list, not a map/],
    [
      'an annotation is not a string',
      (o) => (o.metadata.annotations['keda-carbon.io/policy'] = { name: 'standard' }),
      /^keda-carbon: metadata\.annotations\["keda-carbon\.io\/policy"\] is object \{"name":"standard"\}, not a string/,
    ],
  ];
  for (const [name, change, warning] of cases) {
    const review = named();
    change(review.request.object);
    const outcome = await handleAdmission(review, deps);
    t.equal(outcome.review.response.allowed, true, `${name}: allowed`);
    t.equal(outcome.review.response.patch, undefined, `${name}: no patch`);
    t.match(outcome.review.response.warnings, [warning], `${name}: says why`);
    t.equal(outcome.result, 'error');
  }
});

t.test('missing or null parts are added whole, and the patch applies', async (t) => {
  const cases: Array<[string, (o: Review) => void]> = [
    ['spec null', (o) => (o.spec = null)],
    ['no spec', (o) => delete o.spec],
    [
      'annotations null',
      (o) => {
        o.metadata.annotations = null;
        o.metadata.labels = { 'keda-carbon.io/x': '1' };
      },
    ],
    ['metadata null', (o) => (o.metadata = null)],
  ];
  for (const [name, change] of cases) {
    const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), {});
    change(review.request.object);
    const outcome = await handleAdmission(review, { ...deps, config: () => ({ ...config, defaultPolicy: 'standard' }) });
    const object = applyResponsePatch(review.request.object, outcome.review.response);
    t.equal(object.spec.maxReplicaCount, 3, `${name}: capped`);
    t.equal(
      object.metadata.annotations['keda-carbon.io/declared-max-replica-count'],
      name.startsWith('spec') || name === 'no spec' ? '100' : '10',
      `${name}: declared recorded`,
    );
  }
});

t.test('buildPatch on its own applies to any object, replacing what is not an object', async (t) => {
  const plan: Extract<Plan, { kind: 'apply' }> = {
    kind: 'apply',
    maxReplicaCount: 4,
    mode: 'enforce',
    keepSpec: false,
    setAnnotations: { 'keda-carbon.io/status': '{}' },
    removeAnnotations: ['keda-carbon.io/touched-at'],
    warnings: [],
    reason: 'test',
  };
  const shapes: unknown[] = [
    {},
    { spec: [], metadata: [] },
    { spec: 'x', metadata: 'y' },
    { spec: {}, metadata: { annotations: [] } },
    { spec: { maxReplicaCount: 4 }, metadata: { annotations: 'a=b' } },
    { spec: {}, metadata: { annotations: JSON.parse('{"__proto__":{"keda-carbon.io/touched-at":"x"},"keda-carbon.io/touched-at":"y"}') } },
    { spec: {}, metadata: { annotations: JSON.parse('{"__proto__":{"keda-carbon.io/touched-at":"x"}}') } },
  ];
  for (const shape of shapes) {
    const object = shape as KedaObject;
    const ops = buildPatch(object, plan);
    const patched = jsonpatch.applyPatch(structuredClone(object), ops as jsonpatch.Operation[], true, false, true).newDocument as Review;
    t.equal(patched.spec.maxReplicaCount, 4, `applies to ${JSON.stringify(shape)}`);
    t.equal(patched.metadata.annotations['keda-carbon.io/status'], '{}');
    t.notOk(Object.hasOwn(patched.metadata.annotations, 'keda-carbon.io/touched-at'), 'and removes only what the object has');
  }
  t.equal(unpatchable({ spec: {}, metadata: { annotations: { a: 'b' } } }), null);
  t.equal(({} as Record<string, unknown>)['keda-carbon.io/touched-at'], undefined, 'no prototype touched');
});

t.test('an old object of the wrong shape is ignored, not trusted', async (t) => {
  const review = loadReview('scaledobject-update.kubectl-annotate');
  review.request.object.metadata.annotations = { ...review.request.object.metadata.annotations, 'keda-carbon.io/policy': 'standard' };
  review.request.oldObject.spec = ['not', 'a', 'spec'];
  const outcome = await handleAdmission(review, deps);
  const object = applyResponsePatch(review.request.object, outcome.review.response);
  t.equal(object.spec.maxReplicaCount, 3);
  t.equal(outcome.result, 'patched');
});

t.test('the envelope: every field the handler reads has its type checked, and messages stay short', async (t) => {
  let deep: unknown = 'x';
  for (let i = 0; i < 10_000; i++) deep = [deep];
  const cases: Array<[(r: Review) => void, RegExp]> = [
    [(r) => (r.kind = deep), /^expected kind AdmissionReview, got \[\[\[\[\.\.\.\]\]\]\]$/],
    [(r) => (r.apiVersion = { v: 'x'.repeat(10_000) }), /^expected apiVersion admission\.k8s\.io\/v1 .*, got \{"v":"x+\.\.\."\}$/],
    [(r) => (r.request.uid = 'u'.repeat(100_000)), /^AdmissionReview request\.uid is 100000 characters long; the API server sends a UUID \(at most 256\)$/],
    [(r) => (r.request.operation = 'PATCH'), /^AdmissionReview request\.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got "PATCH"$/],
    [(r) => (r.request.name = 42), /^AdmissionReview request\.name must be a string, got 42$/],
    [(r) => (r.request.namespace = ['a']), /^AdmissionReview request\.namespace must be a string, got \["a"\]$/],
    [(r) => (r.request.subResource = { toString: 'x' }), /^AdmissionReview request\.subResource must be a string/],
    [(r) => (r.request.dryRun = 'yes'), /^AdmissionReview request\.dryRun must be true or false, got "yes"$/],
  ];
  for (const [change, message] of cases) {
    const review = named();
    change(review);
    const err = (() => {
      try {
        parseReview(review);
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    t.ok(err instanceof BadReviewError, String(message));
    t.match(err?.message, message);
    t.ok((err?.message.length ?? 0) < 300, 'short');
  }
  const ok = named();
  ok.request.namespace = null;
  ok.request.dryRun = null;
  t.doesNotThrow(() => parseReview(ok), 'null stands for absent, as the API server may send it');
});

t.test('a foreign kind is counted as other, so reviews cannot mint metric labels', async (t) => {
  const review = named();
  review.request.kind = { group: 'apps', version: 'v1', kind: `Kind${'x'.repeat(1000)}` };
  const outcome = await handleAdmission(review, deps);
  t.equal(outcome.kind, 'other');
  t.equal(outcome.result, 'skipped');
  t.equal((await handleAdmission(named(), deps)).kind, 'ScaledObject');
});

t.test('a policy annotation over a limit is denied with a message naming the limit', async (t) => {
  const cases: Array<[string, RegExp]> = [
    [
      `carbon: [{measuredEmission: 1, allowedMaxReplicaCount: 2}]\n# ${'x'.repeat(256 * 1024)}`,
      /the policy text is over 256 KiB; the limit is 16384 bytes \(16 KiB\)$/,
    ],
    [
      `carbon: [{measuredEmission: 1, allowedMaxReplicaCount: 2}]\n# ${'x'.repeat(20_000)}`,
      /the policy text is 20061 bytes; the limit is 16384 bytes \(16 KiB\)$/,
    ],
    [`carbon: ${'['.repeat(5000)}${']'.repeat(5000)}`, /the policy nests more than 32 levels of mappings, lists or brackets$/],
    [
      'a: &a [x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\ncarbon: [*b,*b,*b,*b,*b,*b,*b,*b]',
      /its YAML aliases expand too far \(at most 50 aliased nodes\)$/,
    ],
  ];
  for (const [text, message] of cases) {
    const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: text });
    const outcome = await handleAdmission(review, deps);
    t.equal(outcome.review.response.allowed, false);
    t.match(outcome.review.response.status?.message, /^keda-carbon: invalid carbon policy in annotation keda-carbon\.io\/environmental-impact: /);
    t.match(outcome.review.response.status?.message, message);
    t.same(decodePatch(outcome.review.response), []);
  }
});

t.test('a 5,000-deep invalid spec.environmentalImpact is denied with a message naming the field, not failed open', async (t) => {
  // JSON text, as the API server sends it: JSON.stringify itself overflows the stack on such objects.
  const arrays = `${'['.repeat(5000)}"x"${']'.repeat(5000)}`;
  const maps = (key: string, leaf: string) => `${`{"${key}":`.repeat(5000)}${leaf}${'}'.repeat(5000)}`;
  const cases: Array<[string, RegExp]> = [
    [arrays, /: a policy must be a mapping with "carbon" or "maxReplicasByCarbonIntensity", got \[\[\[\[\.\.\.\]\]\]\]$/],
    [maps('carbon', '1'), /: carbon: must be a non-empty list of rules, got \{"carbon":\{"carbon":\{"carbon":\{\.\.\.\}\}\}\}$/],
    [`{"carbon":[{"measuredEmission":${arrays},"allowedMaxReplicaCount":2}]}`, /: carbon\[0\]\.measuredEmission: must be a number >= 0/],
    [`{"carbon":[{"measuredEmission":1,"allowedMaxReplicaCount":2}],"ecoModeOff":{"timeZone":${maps('a', '"UTC"')}}}`, /: ecoModeOff\.timeZone: must be/],
  ];
  for (const [policy, message] of cases) {
    const review = loadReview('scaledobject-create.kubectl-apply');
    review.request.object.spec.environmentalImpact = '@@POLICY@@';
    const body = JSON.parse(JSON.stringify(review).replace('"@@POLICY@@"', () => policy));
    const outcome = await handleAdmission(body, deps);
    t.equal(outcome.result, 'denied');
    t.equal(outcome.review.response.allowed, false);
    t.match(outcome.review.response.status?.message, /^keda-carbon: invalid carbon policy in spec\.environmentalImpact: /);
    t.match(outcome.review.response.status?.message, message);
    t.notMatch(outcome.review.response.status?.message, /internal error/);
  }
});

t.test('policy and eco-mode annotations that are not strings: a clear warning, never a TypeError', async (t) => {
  for (const key of ['keda-carbon.io/policy', 'keda-carbon.io/eco-mode', POLICY]) {
    for (const value of [7, true, ['standard'], { off: true }, null]) {
      const review = named();
      review.request.object.metadata.annotations[key] = value;
      const outcome = await handleAdmission(review, deps);
      t.equal(outcome.review.response.allowed, true, `${key} = ${JSON.stringify(value)}: allowed`);
      t.equal(outcome.review.response.patch, undefined, 'unchanged');
      t.match(outcome.review.response.warnings, [/^keda-carbon: metadata\.annotations\[".*"\] is .*, not a string; write allowed unchanged$/]);
      t.notMatch(outcome.reason, /TypeError|internal error/);
    }
  }
});
