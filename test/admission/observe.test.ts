import t, { type Test } from 'tap';
import { handleAdmission, type AdmissionDeps } from '../../src/admission/handler.js';
import type { CarbonSnapshot } from '../../src/core/carbon.js';
import { planDiffers, planObject } from '../../src/core/plan.js';
import { resolvePolicy } from '../../src/core/resolve.js';
import { parseConfigText, type RuntimeConfig } from '../../src/config/config.js';
import { steady } from '../helpers/carbon.js';
import { applyResponsePatch, decodePatch, loadReview, withAnnotations, type Review } from '../helpers/reviews.js';

const NOW = Date.parse('2026-11-23T10:30:00Z');
const POLICY = 'keda-carbon.io/environmental-impact';
const STATUS = 'keda-carbon.io/status';
const ENFORCE = '{"carbon":[{"measuredEmission":300,"allowedMaxReplicaCount":"50%"}]}';
const OBSERVE = '{"mode":"observe","carbon":[{"measuredEmission":300,"allowedMaxReplicaCount":"50%"}]}';

const baseConfig = parseConfigText('policies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]\n', 'test');

function deps(config: Partial<RuntimeConfig> = {}, carbon: CarbonSnapshot = steady(412.3, NOW)): AdmissionDeps {
  const c = { ...baseConfig, ...config };
  return { config: () => c, carbon: { snapshot: () => carbon }, now: () => NOW };
}

async function run(t: Test, review: Review, d = deps()) {
  const outcome = await handleAdmission(review, d);
  const response = outcome.review.response;
  t.equal(response.uid, review.request.uid);
  return { outcome, response, object: applyResponsePatch(review.request.object, response), ops: decodePatch(response) as { path: string }[] };
}

/** The next UPDATE the API server sends for the stored object, with `annotations` changed. */
function update(stored: Review['request']['object'], annotations: Record<string, string>, uid: string): Review {
  const review = structuredClone(loadReview('scaledobject-update.kubectl-annotate'));
  review.request.uid = uid;
  review.request.oldObject = structuredClone(stored);
  review.request.object = structuredClone(stored);
  review.request.object.metadata.annotations = { ...stored.metadata.annotations, ...annotations };
  return review;
}

t.test('observe mode: the spec is untouched, the status says what would be set, with a warning', async (t) => {
  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: OBSERVE });
  const { response, object, ops, outcome } = await run(t, review);
  t.equal(response.allowed, true);
  t.equal(object.spec.maxReplicaCount, 10, 'the declared 10 stays');
  t.notOk(
    ops.some((op) => op.path.startsWith('/spec')),
    'no patch operation touches the spec',
  );
  const status = JSON.parse(object.metadata.annotations[STATUS]);
  t.same(status, {
    cap: 5,
    declared: 10,
    intensity: 412.3,
    signal: 'unknown',
    source: 'test:zone',
    dataTime: '2026-11-23T10:00:00.000Z',
    rule: 'measuredEmission>=300',
    ecoMode: 'on',
    mode: 'observe',
    evaluatedAt: '2026-11-23T10:30:00.000Z',
  });
  t.same(response.warnings, ['keda-carbon (observe): would set maxReplicaCount 10 -> 5 (412 gCO2eq/kWh >= 300)']);
  t.equal(outcome.capChange, undefined, 'no cap change is reported for the metrics');
  // Our own output again: an empty patch.
  const again = await run(t, update(object, {}, 'again'));
  t.same(again.ops, [], 'reinvocation over our own output: nothing to do');
});

t.test('observe mode leaves an unset maxReplicaCount unset', async (t) => {
  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: OBSERVE });
  delete review.request.object.spec.maxReplicaCount;
  const { object, response } = await run(t, review);
  t.equal(object.spec.maxReplicaCount, undefined);
  t.same(response.warnings, ['keda-carbon (observe): would set maxReplicaCount 100 -> 50 (412 gCO2eq/kWh >= 300)']);
});

t.test('enforce -> observe restores the declared max; observe -> enforce caps on the next touch', async (t) => {
  const create = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: ENFORCE });
  const enforced = (await run(t, create)).object;
  t.equal(enforced.spec.maxReplicaCount, 5);
  const toObserve = await run(t, update(enforced, { [POLICY]: OBSERVE }, 'u1'));
  t.equal(toObserve.object.spec.maxReplicaCount, 10, 'declared max restored, as removing the policy does');
  t.same(toObserve.response.warnings, [
    'keda-carbon: maxReplicaCount 5 -> 10 (observe mode: declared max restored)',
    'keda-carbon (observe): would set maxReplicaCount 10 -> 5 (412 gCO2eq/kWh >= 300)',
  ]);
  t.equal(JSON.parse(toObserve.object.metadata.annotations[STATUS]).mode, 'observe');
  t.same(toObserve.outcome.capChange, { from: 5, to: 10 });
  const back = await run(t, update(toObserve.object, { [POLICY]: ENFORCE }, 'u2'));
  t.equal(back.object.spec.maxReplicaCount, 5, 'capped again from the declared 10');
  t.equal(JSON.parse(back.object.metadata.annotations[STATUS]).mode, 'enforce', 'the status says enforce again');
  t.equal(back.object.metadata.annotations['keda-carbon.io/declared-max-replica-count'], '10');
  // The user changes the spec in observe mode to exactly the would-be cap: that is their new declared max.
  const observing = toObserve.object;
  const edited = update(observing, {}, 'u3');
  edited.request.object.spec.maxReplicaCount = 5;
  const e = await run(t, edited);
  t.equal(JSON.parse(e.object.metadata.annotations[STATUS]).declared, 5, 'a spec equal to the observed cap is a user change, not our cap');
});

t.test("the configuration's top-level mode: observe puts every policy in observe mode", async (t) => {
  t.equal(parseConfigText('mode: observe\n', 't').mode, 'observe');
  t.equal(parseConfigText('{}', 't').mode, 'enforce');
  t.throws(() => parseConfigText('mode: watch\n', 't'), { message: /mode: must be "enforce" or "observe", got "watch"/ });
  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'standard' });
  const { object, response, outcome } = await run(t, review, deps({ mode: 'observe' }));
  t.equal(object.spec.maxReplicaCount, 10);
  t.equal(JSON.parse(object.metadata.annotations[STATUS]).cap, 3);
  t.same(response.warnings, ['keda-carbon (observe): would set maxReplicaCount 10 -> 3 (412 gCO2eq/kWh >= 300)']);
  t.match(outcome.reason, /observe mode by the configuration/);
  const r1 = resolvePolicy(review.request.object, { ...baseConfig, mode: 'observe' }, null);
  const r2 = resolvePolicy(review.request.object, { ...baseConfig, mode: 'observe' }, null);
  t.ok(r1.kind === 'policy' && r2.kind === 'policy' && r1.policy === r2.policy, 'one observing twin per policy');
});

t.test('planDiffers: what the controller compares before touching', async (t) => {
  const review = withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: OBSERVE });
  const plan = (object: Review, carbon = steady(412.3, NOW), cfg: Partial<RuntimeConfig> = {}) =>
    planObject({ object, oldObject: object, resolution: resolvePolicy(object, { ...baseConfig, ...cfg }, null), carbon, now: NOW, invalidPolicy: 'deny' });
  const fresh = review.request.object;
  t.equal(planDiffers(fresh, plan(fresh)), true, 'observe, no status yet: touch');
  const observed = (await run(t, review)).object;
  t.equal(planDiffers(observed, plan(observed)), false, 'observe, status current: no touch');
  t.equal(planDiffers(observed, plan(observed, steady(250, NOW))), true, 'observe, the would-be cap changes: touch to keep the status current');
  const toEnforce = update(observed, { [POLICY]: ENFORCE }, 'x').request.object;
  t.equal(planDiffers(toEnforce, plan(toEnforce)), true, 'observe -> enforce: the spec must be capped');
  t.equal(planDiffers(toEnforce, plan(toEnforce, steady(250, NOW))), true, 'observe -> enforce with no cap: the status still says observe');
  const enforced = (await run(t, withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: ENFORCE }))).object;
  t.equal(planDiffers(enforced, plan(enforced)), false, 'enforce, cap in place');
  t.equal(planDiffers(enforced, plan(enforced, steady(600, NOW))), false, 'same band, same cap');
  t.equal(planDiffers(enforced, plan(enforced, steady(100, NOW))), true, 'enforce, below every rule: restore');
  t.equal(planDiffers(enforced, plan(enforced, steady(412.3, NOW), { mode: 'observe' })), true, 'switched to observe by the configuration: restore');
  // A status line from before it always carried its mode: read as enforce, so no touch for it.
  const { mode, ...modeless } = JSON.parse(enforced.metadata.annotations[STATUS]);
  t.equal(mode, 'enforce');
  const old = structuredClone(enforced);
  old.metadata.annotations[STATUS] = JSON.stringify(modeless);
  t.equal(planDiffers(old, plan(old)), false, 'enforce, mode-less status, cap in place: no touch');
  t.equal(planDiffers(old, plan(old, steady(100, NOW))), true, 'enforce, mode-less status, below every rule: restore');
  t.equal(planDiffers(old, plan(old, steady(412.3, NOW), { mode: 'observe' })), true, 'mode-less status, switched to observe: restore');
});

t.test('a status line without mode is enforce: the cap stays and the next admission adds the mode, once', async (t) => {
  const enforced = (await run(t, withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { [POLICY]: ENFORCE }))).object;
  const { mode: _, ...modeless } = JSON.parse(enforced.metadata.annotations[STATUS]);
  const old = structuredClone(enforced);
  old.metadata.annotations[STATUS] = JSON.stringify(modeless);
  const first = await run(t, update(old, {}, 'm1'));
  t.equal(first.object.spec.maxReplicaCount, 5, 'the cap we wrote is kept');
  t.equal(first.object.metadata.annotations['keda-carbon.io/declared-max-replica-count'], '10', 'from the declared 10, not a new declared 5');
  t.same(
    first.ops.map((op) => op.path),
    ['/metadata/annotations/keda-carbon.io~1status'],
    'only the status line is rewritten',
  );
  t.equal(JSON.parse(first.object.metadata.annotations[STATUS]).mode, 'enforce');
  t.equal(first.response.warnings, undefined, 'no cap change to warn about');
  const second = await run(t, update(first.object, {}, 'm2'));
  t.same(second.ops, [], 'then our own output is left alone');
});
