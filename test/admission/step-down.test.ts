import t, { type Test } from 'tap';
import { handleAdmission, type AdmissionDeps } from '../../src/admission/handler.js';
import { parseConfigText } from '../../src/config/config.js';
import { steady } from '../helpers/carbon.js';
import { applyResponsePatch, loadReview, type Review } from '../helpers/reviews.js';

const START = Date.parse('2026-11-23T10:30:00Z');
const MINUTE = 60_000;
const POLICY = 'keda-carbon.io/environmental-impact';
const STATUS = 'keda-carbon.io/status';
const STEPPED = JSON.stringify({ carbon: [{ measuredEmission: 500, allowedMaxReplicaCount: 4 }], stepDown: { maxPercent: 50, every: '1m' } });
const OBSERVED = JSON.stringify({ mode: 'observe', carbon: [{ measuredEmission: 500, allowedMaxReplicaCount: 4 }], stepDown: { maxPercent: 50, every: '1m' } });
const config = parseConfigText('policies: {}\n', 'test');

/** The webhook at a time and intensity the test sets. */
const world = { now: START, intensity: 100 };
const deps: AdmissionDeps = { config: () => config, carbon: { snapshot: () => steady(world.intensity, world.now) }, now: () => world.now };

type Obj = Review['request']['object'];

async function admit(t: Test, review: Review): Promise<Obj> {
  const outcome = await handleAdmission(review, deps);
  t.equal(outcome.review.response.allowed, true);
  return applyResponsePatch(review.request.object, outcome.review.response);
}

async function create(t: Test, policy: string, max: number): Promise<Obj> {
  const review = structuredClone(loadReview('scaledobject-create.kubectl-apply'));
  review.request.object.metadata.annotations = { ...review.request.object.metadata.annotations, [POLICY]: policy };
  review.request.object.spec.maxReplicaCount = max;
  return admit(t, review);
}

/** An UPDATE of the stored object: `edit` changes the new version as the user's write does. */
function update(t: Test, stored: Obj, edit: (o: Obj) => void = () => undefined): Promise<Obj> {
  const review = structuredClone(loadReview('scaledobject-update.kubectl-annotate'));
  review.request.oldObject = structuredClone(stored);
  review.request.object = structuredClone(stored);
  edit(review.request.object);
  return admit(t, review);
}

const status = (o: Obj) => JSON.parse(o.metadata.annotations[STATUS]);
const iso = (ms: number) => new Date(ms).toISOString();
const label = (o: Obj) => {
  o.metadata.labels = { ...o.metadata.labels, touched: String(world.now) };
};

t.beforeEach(() => {
  world.now = START;
  world.intensity = 100;
});

t.test('UPDATE steps from the old object: 40 -> 20 -> 10 -> 5 -> 4; writes in between neither skip nor reset a step', async (t) => {
  let o = await create(t, STEPPED, 40);
  t.equal(o.spec.maxReplicaCount, 40, 'created below every band: the declared 40');
  world.intensity = 600;
  o = await update(t, o, label);
  t.equal(o.spec.maxReplicaCount, 20, 'the band falls to 4: the first step takes half of 40');
  t.match(status(o), { cap: 20, declared: 40, stepTarget: 4, nextStepAt: iso(START + MINUTE) });
  world.now = START + 30_000;
  o = await update(t, o, label);
  t.equal(o.spec.maxReplicaCount, 20, 'half-way to the next step, a write of the user skips nothing');
  t.equal(status(o).nextStepAt, iso(START + MINUTE), '...and does not push the next step back');
  world.now = START + MINUTE;
  o = await update(t, o, label);
  t.equal(o.spec.maxReplicaCount, 10, 'on time: the second step');
  t.equal(status(o).nextStepAt, iso(START + 2 * MINUTE));
  world.now = START + 2 * MINUTE;
  o = await update(t, o);
  t.equal(o.spec.maxReplicaCount, 5);
  world.now = START + 3 * MINUTE;
  o = await update(t, o);
  t.equal(o.spec.maxReplicaCount, 4, 'the band cap reached');
  t.notOk('stepTarget' in status(o) || 'nextStepAt' in status(o), 'no step-down in the status any more');
  t.equal(status(o).declared, 40, 'the declared max kept throughout');
});

t.test('a rising band and eco mode off apply at once, in the middle of a step-down', async (t) => {
  let o = await create(t, STEPPED, 40);
  world.intensity = 600;
  o = await update(t, o, label);
  t.equal(o.spec.maxReplicaCount, 20);
  world.now = START + 10_000;
  world.intensity = 100;
  const risen = await update(t, o, label);
  t.equal(risen.spec.maxReplicaCount, 40, 'below every band again: the declared max at once');
  t.notOk('nextStepAt' in status(risen), 'the step-down is over');
  const eco = await update(t, o, (n) => {
    n.metadata.annotations['keda-carbon.io/eco-mode'] = 'off';
  });
  t.equal(eco.spec.maxReplicaCount, 40, 'eco mode off by annotation: at once');
  const removed = await update(t, o, (n) => {
    delete n.metadata.annotations[POLICY];
  });
  t.equal(removed.spec.maxReplicaCount, 40, 'policy removed: the declared max at once');
});

t.test("the user's own maxReplicaCount in the middle is a new declared value; the schedule goes on", async (t) => {
  let o = await create(t, STEPPED, 40);
  world.intensity = 600;
  o = await update(t, o);
  world.now = START + 20_000;
  const raised = await update(t, o, (n) => {
    n.spec.maxReplicaCount = 30;
  });
  t.equal(raised.spec.maxReplicaCount, 20, 'a higher declared max does not lift a falling cap');
  t.match(status(raised), { declared: 30, cap: 20, nextStepAt: iso(START + MINUTE) });
  const lowered = await update(t, o, (n) => {
    n.spec.maxReplicaCount = 8;
  });
  t.equal(lowered.spec.maxReplicaCount, 8, "the user's own lower max applies at once");
  t.match(status(lowered), { declared: 8, cap: 8, stepTarget: 4, nextStepAt: iso(START + MINUTE) }, 'the next step stays where it was');
  world.now = START + MINUTE;
  const next = await update(t, lowered);
  t.equal(next.spec.maxReplicaCount, 4, '8 -> 4 on the old schedule');
});

t.test('a write that drops our annotations (a PUT of the manifest) still steps from the stored object', async (t) => {
  let o = await create(t, STEPPED, 40);
  world.intensity = 600;
  o = await update(t, o);
  world.now = START + 30_000;
  const put = await update(t, o, (n) => {
    n.metadata.annotations = { [POLICY]: STEPPED };
    n.spec.maxReplicaCount = 40;
  });
  t.equal(put.spec.maxReplicaCount, 20, 'the manifest says 40, the step in force stays 20');
  t.match(status(put), { declared: 40, stepTarget: 4, nextStepAt: iso(START + MINUTE) });
});

t.test('create applies the cap at once: nothing runs yet', async (t) => {
  world.intensity = 600;
  const o = await create(t, STEPPED, 40);
  t.equal(o.spec.maxReplicaCount, 4);
  t.notOk('nextStepAt' in status(o));
});

t.test('observe mode: the status shows the steps it would take; the spec stays', async (t) => {
  let o = await create(t, OBSERVED, 40);
  world.intensity = 600;
  o = await update(t, o);
  t.equal(o.spec.maxReplicaCount, 40);
  t.match(status(o), { mode: 'observe', cap: 20, stepTarget: 4, nextStepAt: iso(START + MINUTE) });
  world.now = START + MINUTE;
  o = await update(t, o);
  t.equal(o.spec.maxReplicaCount, 40);
  t.match(status(o), { mode: 'observe', cap: 10, nextStepAt: iso(START + 2 * MINUTE) });
});
