import t from 'tap';
import { handleAdmission, type AdmissionDeps } from '../../src/admission/handler.js';
import { parseConfigText } from '../../src/config/config.js';
import { steady } from '../helpers/carbon.js';
import { applyResponsePatch, decodePatch, loadReview, withAnnotations, type Review } from '../helpers/reviews.js';

/**
 * KEDA stores maxReplicaCount as an int32. A value it cannot store is the user's mistake:
 * the write goes through exactly as sent, with a warning, so the API server's validation
 * reports it; a cap of ours over it would hide it, and a declared max we cannot read back
 * would ratchet the cap down on the next write.
 */

const NOW = Date.parse('2026-11-23T10:30:00Z');
const DECLARED = 'keda-carbon.io/declared-max-replica-count';
const config = parseConfigText('policies:\n  half:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: "50%"}]\n', 'test');
const carbon = steady(412, NOW);
const deps: AdmissionDeps = { config: () => config, carbon: { snapshot: () => carbon }, now: () => NOW };

function review(max: unknown, annotations: Record<string, string> = {}): Review {
  const r = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'half', ...annotations });
  r.request.object.spec.maxReplicaCount = max;
  return r;
}

t.test('a maxReplicaCount KEDA cannot store leaves the object untouched, with a warning', async (t) => {
  const cases: Array<[unknown, string]> = [
    ['10', '"10"'],
    [0, '0'],
    [-5, '-5'],
    [10.5, '10.5'],
    [2 ** 31, '2147483648'],
    [2 ** 53 + 1, '9007199254740992'],
    [1e21, '1e+21'],
    [{ replicas: 3 }, '{"replicas":3}'],
  ];
  for (const [max, shown] of cases) {
    const outcome = await handleAdmission(review(max), deps);
    const response = outcome.review.response;
    t.equal(response.allowed, true, `${shown}: allowed`);
    t.same(decodePatch(response), [], `${shown}: no patch, not even our annotations`);
    t.same(
      response.warnings,
      [`keda-carbon: spec.maxReplicaCount must be an integer from 1 to 2147483647 (KEDA's int32), got ${shown}; maxReplicaCount left as it is`],
      `${shown}: says why`,
    );
    t.equal(outcome.result, 'allowed');
    t.equal(outcome.capChange, undefined, `${shown}: no cap change counted`);
  }
});

t.test('1e21 as the API server sends it (JSON text) is left as it is', async (t) => {
  const body = JSON.parse(JSON.stringify(review(7)).replace('"maxReplicaCount":7', '"maxReplicaCount":1e21'));
  t.equal(body.request.object.spec.maxReplicaCount, 1e21);
  const outcome = await handleAdmission(body, deps);
  t.same(decodePatch(outcome.review.response), []);
  t.match(outcome.review.response.warnings, [/got 1e\+21; maxReplicaCount left as it is$/]);
});

t.test('the largest int32 is a declared max we write and read back: no ratchet', async (t) => {
  const first = review(2 ** 31 - 1);
  const r1 = await handleAdmission(first, deps);
  const stored = applyResponsePatch(first.request.object, r1.review.response);
  t.equal(stored.spec.maxReplicaCount, 1073741823, '50% rounded down');
  t.equal(stored.metadata.annotations[DECLARED], '2147483647');
  // The API server runs the webhook again on the stored object (a touch, a reinvocation).
  const again = structuredClone(first);
  again.request.operation = 'UPDATE';
  again.request.object = structuredClone(stored);
  again.request.oldObject = structuredClone(stored);
  const r2 = await handleAdmission(again, deps);
  t.same(decodePatch(r2.review.response), [], 'the same cap again: 50% of the declared max, not of the cap');
});

t.test('a declared annotation that is no int32 count is ignored, never trusted', async (t) => {
  // Our cap of 5 on the spec, with a declared value nobody could have written: 2^31,
  // 2^53+1 (rounds to 2^53 as a number), the exponent form and 23 digits.
  for (const declared of ['2147483648', '9007199254740993', '1e+21', '99999999999999999999999', '0', '-3', ' 10']) {
    const r = review(5, { [DECLARED]: declared, 'keda-carbon.io/status': '{"cap":5}' });
    const outcome = await handleAdmission(r, deps);
    const object = applyResponsePatch(r.request.object, outcome.review.response);
    t.equal(object.spec.maxReplicaCount, 2, `${declared}: the spec's 5 is the declared max (50% is 2)`);
    t.equal(object.metadata.annotations[DECLARED], '5', `${declared}: replaced by a value that reads back`);
  }
});
