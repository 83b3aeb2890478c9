import t from 'tap';
import { handleAdmission, type AdmissionDeps } from '../../src/admission/handler.js';
import { AnswerMemo } from '../../src/admission/memo.js';
import { parseConfigText, type RuntimeConfig } from '../../src/config/config.js';
import type { CarbonSnapshot } from '../../src/core/carbon.js';
import { HOUR, hourly, MINUTE, steady } from '../helpers/carbon.js';
import { applyResponsePatch, loadReview, withAnnotations, type Review } from '../helpers/reviews.js';

const NOW = Date.parse('2026-11-23T10:30:00Z');
const POLICY = 'keda-carbon.io/environmental-impact';
const STATUS = 'keda-carbon.io/status';
const DECLARED = 'keda-carbon.io/declared-max-replica-count';
const HALF = '{"carbon":[{"measuredEmission":300,"allowedMaxReplicaCount":"50%"},{"measuredEmission":500,"allowedMaxReplicaCount":2}]}';
const config = parseConfigText('policies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]\n', 'test');

function deps(memo: AnswerMemo, carbon: () => CarbonSnapshot, now: () => number, cfg: () => RuntimeConfig = () => config): AdmissionDeps {
  return { config: cfg, carbon: { snapshot: carbon }, now, memo };
}

function review(uid: string, max: number | undefined, annotations: Record<string, string> = { [POLICY]: HALF }): Review {
  const r = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), annotations);
  r.request.uid = uid;
  if (max === undefined) delete r.request.object.spec.maxReplicaCount;
  else r.request.object.spec.maxReplicaCount = max;
  return r;
}

const capOf = (r: Review, response: { patch?: string; patchType?: string }) => applyResponsePatch(r.request.object, response).spec.maxReplicaCount;

t.test('two objects under one policy, the same data and time: each gets its own answer and uid', async (t) => {
  const memo = new AnswerMemo();
  const snapshot = steady(412.3, NOW);
  const d = deps(
    memo,
    () => snapshot,
    () => NOW,
  );
  const ten = review('uid-ten', 10);
  const forty = review('uid-forty', 40);
  for (let round = 0; round < 2; round++) {
    const a = await handleAdmission(ten, d);
    const b = await handleAdmission(forty, d);
    t.equal(a.review.response.uid, 'uid-ten');
    t.equal(b.review.response.uid, 'uid-forty');
    t.equal(capOf(ten, a.review.response), 5, `round ${round}: 50% of 10`);
    t.equal(capOf(forty, b.review.response), 20, `round ${round}: 50% of 40`);
    t.equal(applyResponsePatch(forty.request.object, b.review.response).metadata.annotations[DECLARED], '40');
    t.same(a.capChange, { from: 10, to: 5 });
    t.same(b.capChange, { from: 40, to: 20 });
  }
});

t.test('a reused answer carries the time of its own review', async (t) => {
  const memo = new AnswerMemo();
  const snapshot = steady(412.3, NOW);
  let now = NOW;
  const d = deps(
    memo,
    () => snapshot,
    () => now,
  );
  const r = review('u', 10);
  const first = await handleAdmission(r, d);
  now = NOW + 1234;
  const second = await handleAdmission(r, d);
  const status = (res: typeof first) => JSON.parse(applyResponsePatch(r.request.object, res.review.response).metadata.annotations[STATUS]);
  t.equal(status(first).evaluatedAt, new Date(NOW).toISOString());
  t.equal(status(second).evaluatedAt, new Date(NOW + 1234).toISOString());
  t.equal(status(second).mode, 'enforce', 'the key before the spliced time is kept');
  const fresh = await handleAdmission(
    r,
    deps(
      new AnswerMemo(),
      () => snapshot,
      () => now,
    ),
  );
  t.same(second.review, fresh.review, 'the same answer as one computed afresh');
});

t.test('the answer changes with the carbon data, the configuration and the time', async (t) => {
  const memo = new AnswerMemo();
  let snapshot = steady(412.3, NOW);
  let now = NOW;
  let cfg = config;
  const d = deps(
    memo,
    () => snapshot,
    () => now,
    () => cfg,
  );
  const named = review('u', 10, { 'keda-carbon.io/policy': 'standard' });
  const capped = async () => capOf(named, (await handleAdmission(named, d)).review.response);
  t.equal(await capped(), 3, 'standard: 3 at 412 g');
  t.equal(await capped(), 3, 'again, from the memo');
  snapshot = steady(100, NOW);
  t.equal(await capped(), 10, 'new data under the threshold: the declared max');
  cfg = parseConfigText('policies:\n  standard:\n    carbon: [{measuredEmission: 50, allowedMaxReplicaCount: 4}]\n', 'reloaded');
  t.equal(await capped(), 4, 'reloaded policy');
  // Hourly points: 100 g now, 600 g from the next hour; the memo must not carry 10:30's answer past 11:00.
  const hourStart = NOW - 30 * MINUTE;
  snapshot = hourly(hourStart, [100, 600], NOW, 4 * HOUR);
  cfg = config;
  t.equal(await capped(), 10, '10:30, 100 g');
  now = hourStart + HOUR - 1;
  t.equal(await capped(), 10, '10:59:59.999, still 100 g');
  now = hourStart + HOUR;
  t.equal(await capped(), 3, '11:00, 600 g');
});

t.test('memoised answers equal fresh ones across object variations, stored versions and times', async (t) => {
  const memo = new AnswerMemo();
  const hourStart = NOW - 30 * MINUTE;
  const snapshot = hourly(hourStart, [412, 120, 650], NOW, 3 * HOUR);
  const fresh = (now: number) =>
    deps(
      new AnswerMemo(),
      () => snapshot,
      () => now,
    );
  // Statuses as earlier answers wrote them, so that "keep the previous line" is exercised too.
  const earlier = await handleAdmission(review('e', 10), fresh(NOW));
  const stored = applyResponsePatch(review('e', 10).request.object, earlier.review.response);
  const other = await handleAdmission(review('o', 10), fresh(hourStart + 2 * HOUR));
  const otherStatus = applyResponsePatch(review('o', 10).request.object, other.review.response).metadata.annotations[STATUS];
  const ours = { [POLICY]: HALF, [DECLARED]: '40', [STATUS]: stored.metadata.annotations[STATUS] };
  const variants: Review[] = [];
  for (const max of [undefined, 4, 5, 10, 40]) {
    variants.push(review(`c${max}`, max));
    variants.push(review(`e${max}`, max, { [POLICY]: HALF, 'keda-carbon.io/eco-mode': 'off' }));
    // Each pair differs in one input only: the declared annotation, the status line, the stored version.
    variants.push(review(`m${max}`, max, ours));
    variants.push(review(`d${max}`, max, { ...ours, [DECLARED]: '20' }));
    variants.push(review(`s${max}`, max, { ...ours, [STATUS]: otherStatus }));
    for (const oldMax of [10, 40]) {
      const update = review(`u${max}-${oldMax}`, max, ours);
      update.request.operation = 'UPDATE';
      update.request.oldObject = structuredClone(update.request.object);
      update.request.oldObject.spec.maxReplicaCount = oldMax;
      variants.push(update);
    }
  }
  const minimum = review('min', 10);
  minimum.request.object.spec.minReplicaCount = 8;
  variants.push(minimum);
  // No spec at all against an empty one: the patch adds the whole spec or only the cap.
  const emptySpec = review('empty-spec', undefined);
  emptySpec.request.object.spec = {};
  const noSpec = review('no-spec', undefined);
  delete noSpec.request.object.spec;
  variants.push(emptySpec, noSpec);
  let compared = 0;
  for (const now of [NOW, NOW + 1, NOW + 29 * MINUTE, hourStart + HOUR, hourStart + 2 * HOUR + 5, NOW]) {
    for (const v of variants) {
      const got = await handleAdmission(
        v,
        deps(
          memo,
          () => snapshot,
          () => now,
        ),
      );
      const want = await handleAdmission(v, fresh(now));
      t.same(got, want, `${v.request.uid} at ${new Date(now).toISOString()}`);
      compared++;
    }
  }
  t.equal(compared, variants.length * 6);
});

t.test('the same policy reached two ways: each answer says which', async (t) => {
  const memo = new AnswerMemo();
  const snapshot = steady(412.3, NOW);
  const withDefault = { ...config, defaultPolicy: 'standard' };
  const d = deps(
    memo,
    () => snapshot,
    () => NOW,
    () => withDefault,
  );
  const byAnnotation = await handleAdmission(review('a', 10, { 'keda-carbon.io/policy': 'standard' }), d);
  const byDefault = await handleAdmission(review('b', 10, {}), d);
  t.match(byAnnotation.reason, /annotation keda-carbon.io\/policy/);
  t.match(byDefault.reason, /defaultPolicy/);
});

t.test('a replica count KEDA cannot store never shares an answer with an absent or valid one', async (t) => {
  const memo = new AnswerMemo();
  const snapshot = steady(412.3, NOW);
  const warm = deps(
    memo,
    () => snapshot,
    () => NOW,
  );
  const bad: unknown[] = [{}, '10', null, 10.5, 2 ** 31, [3]];
  for (const value of bad) {
    for (const field of ['maxReplicaCount', 'minReplicaCount'] as const) {
      const unset = review('uid-unset', undefined);
      t.equal(capOf(unset, (await handleAdmission(unset, warm)).review.response), 50, 'unset: 50% of 100, and now memoised');
      const r = review('uid-bad', undefined);
      (r.request.object.spec as Record<string, unknown>)[field] = value;
      const fresh = deps(
        new AnswerMemo(),
        () => snapshot,
        () => NOW,
      );
      const expected = (await handleAdmission(r, fresh)).review.response;
      const answer = (await handleAdmission(r, warm)).review.response;
      t.same(answer, expected, `${field} ${JSON.stringify(value)}: the same answer as without a memo`);
    }
  }
});
