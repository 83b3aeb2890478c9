import jsonpatch from 'fast-json-patch';
import t from 'tap';
import { loadConfigFile } from '../../src/config/config.js';
import { ADMISSION_BODY_LIMIT, buildApp } from '../../src/server/app.js';
import { HOUR, hourly } from '../helpers/carbon.js';
import { loadReview, withAnnotations, type Review } from '../helpers/reviews.js';

const NOW = Date.parse('2026-11-23T10:30:00Z');

async function app() {
  const config = await loadConfigFile(undefined);
  // 24 hours of data, so the relative example policy resolves: 600 g now is above its p80.
  const carbon = hourly(NOW - (NOW % HOUR), [600, ...Array.from({ length: 23 }, (_, i) => 200 + i * 10)], NOW);
  return buildApp({
    admission: { config: () => config, carbon: { snapshot: () => carbon }, now: () => NOW },
    readiness: () => ({ serving: true, carbon: { fresh: true, source: 'test', fetchedAt: null } }),
  });
}

const post = (instance: Awaited<ReturnType<typeof app>>, payload: string, contentType = 'application/json') =>
  instance.inject({ method: 'POST', url: '/mutate?timeout=10s', headers: { 'content-type': contentType }, payload });

/** A capped review as text, with `insert` spliced in as the first member of the first trigger's metadata. */
function reviewText(insert: string): string {
  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' });
  const text = JSON.stringify(review);
  const at = text.indexOf('"metadata":{"value"');
  if (at < 0) throw new Error('fixture changed: no trigger metadata');
  return `${text.slice(0, at)}"metadata":{${insert},${text.slice(at + '"metadata":{'.length)}`;
}

t.test('__proto__ and constructor.prototype keys are accepted, answered normally, and pollute nothing', async (t) => {
  const instance = await app();
  t.teardown(() => instance.close());
  const body = reviewText('"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}');
  for (const contentType of ['application/json', 'application/json; charset=utf-8']) {
    const res = await post(instance, body, contentType);
    t.equal(res.statusCode, 200, `${contentType}: answered`);
    const response = res.json().response;
    t.equal(response.allowed, true);
    t.equal(response.patchType, 'JSONPatch', 'capped like any other review');
    // The object as sent, with __proto__ as a plain own key, is what the patch must apply to.
    const sent: Review = JSON.parse(body).request.object;
    t.ok(Object.hasOwn(sent.spec.triggers[0].metadata, '__proto__'));
    const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));
    const patched = jsonpatch.applyPatch(sent, ops, true, true, true).newDocument as Review;
    t.equal(patched.spec.maxReplicaCount, 2);
    t.same(patched.spec.triggers[0].metadata.constructor, { prototype: { polluted: 'yes' } }, 'the keys are kept as sent');
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
  t.equal(Object.getPrototypeOf({}), Object.prototype);
});

t.test('deeply nested bodies get a 400 or a normal answer, never a 5xx', async (t) => {
  const instance = await app();
  t.teardown(() => instance.close());
  const nest = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  const envelope = (kind: string) => `{"kind":${kind},"apiVersion":"admission.k8s.io/v1","request":{"uid":"u"}}`;
  const small = await post(instance, envelope(nest(5000)));
  t.equal(small.statusCode, 400, '10 KB nested 5,000 deep');
  t.equal(small.json().kind, 'Status');
  t.equal(small.json().message, 'keda-carbon: expected kind AdmissionReview, got [[[[...]]]]');
  const depth = Math.floor((ADMISSION_BODY_LIMIT - 200) / 2);
  const big = await post(instance, envelope(nest(depth)));
  t.equal(big.statusCode, 400, `nested ${depth} deep, just under the body limit`);
  t.equal(big.json().code, 400);
  const bare = await post(instance, nest(depth));
  t.equal(bare.statusCode, 400, 'a bare nested list is not an AdmissionReview');

  for (const [where, insert] of [
    ['trigger metadata', `"deep":${nest(100_000)}`],
    ['trigger metadata object', `"deep":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`],
  ]) {
    const res = await post(instance, reviewText(insert!));
    t.equal(res.statusCode, 200, `deep ${where}: answered`);
    t.equal(res.json().response.patchType, 'JSONPatch', 'and capped');
  }
  const policy = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), {});
  const deepPolicy = JSON.stringify(policy).replace('"spec":{', `"spec":{"environmentalImpact":{"carbon":${nest(100_000)}},`);
  const denied = await post(instance, deepPolicy);
  t.equal(denied.statusCode, 200);
  t.equal(denied.json().response.allowed, false, 'an inline policy nested deep is refused');
  t.match(denied.json().response.status.message, /carbon\[0\]: must be a mapping .*got \[\[\[\[\.\.\.\]\]\]\]$/);
});

t.test('bodies that are not JSON get a short 400 Status', async (t) => {
  const instance = await app();
  t.teardown(() => instance.close());
  const broken = await post(instance, `{"kind":"AdmissionReview","x":"${'a'.repeat(100_000)}`);
  t.equal(broken.statusCode, 400);
  t.match(broken.json(), { kind: 'Status', code: 400, reason: 'BadRequest' });
  t.match(broken.json().message, /^keda-carbon: body is not valid JSON: /);
  t.ok(broken.json().message.length < 250, 'the message does not echo the body');
  const empty = await post(instance, '');
  t.equal(empty.statusCode, 400);
  t.match(empty.json().message, /Body cannot be empty/);
  const text = await post(instance, '{}', 'text/plain');
  t.equal(text.statusCode, 400, 'text is not parsed as JSON');
  t.match(text.json().message, /expected a JSON AdmissionReview object/);
  const xml = await post(instance, '<x/>', 'application/xml');
  t.equal(xml.statusCode, 415, 'other content types are refused');
  t.equal(xml.json().kind, 'Status');
});
