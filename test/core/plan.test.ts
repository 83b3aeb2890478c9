import t from 'tap';
import type { KedaObject } from '../../src/core/object.js';
import { isoTime, planDiffers, planObject, RESTORED, restoreWhy, type PlanInput } from '../../src/core/plan.js';
import { validatePolicy } from '../../src/core/policy.js';
import type { Resolution } from '../../src/core/resolve.js';
import { decodeStatus } from '../../src/core/status.js';
import { hourly, HOUR } from '../helpers/carbon.js';

// planObject is the step admission and the controller share: from an object, where its
// policy came from and the carbon data, what becomes of spec.maxReplicaCount and our
// annotations. These cases pin each kind of plan; admission's and the controller's own
// tests show how they are written and compared.

const NOW = Date.UTC(2026, 10, 23, 10, 30);
const carbon = hourly(NOW - (NOW % HOUR), [420], NOW);
const policy = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }] });
const observing = validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 3 }], mode: 'observe' });
const byPolicy = (p = policy): Resolution => ({ kind: 'policy', policy: p, origin: 'policy "standard" (defaultPolicy)' });
const so = (max: number | undefined, annotations: Record<string, string> = {}): KedaObject =>
  ({ metadata: { name: 'web', namespace: 'shop', annotations }, spec: max === undefined ? {} : { maxReplicaCount: max } }) as KedaObject;
const plan = (object: KedaObject, resolution: Resolution, over: Partial<PlanInput> = {}) =>
  planObject({ object, oldObject: null, resolution, carbon, now: NOW, invalidPolicy: 'deny', ...over });

t.test('a policy whose band applies: the cap, the declared max and the status line', async (t) => {
  const p = plan(so(10), byPolicy());
  if (p.kind !== 'apply') throw new Error(`expected apply, got ${p.kind}`);
  t.equal(p.maxReplicaCount, 3);
  t.equal(p.mode, 'enforce');
  t.equal(p.setAnnotations['keda-carbon.io/declared-max-replica-count'], '10');
  t.match(decodeStatus(p.setAnnotations['keda-carbon.io/status']), { cap: 3, declared: 10, intensity: 420, mode: 'enforce', evaluatedAt: isoTime(NOW) });
  t.same(p.warnings, ['keda-carbon: maxReplicaCount 10 -> 3 (420 gCO2eq/kWh >= 300)']);
  t.equal(p.reason, 'policy "standard" (defaultPolicy): 420 gCO2eq/kWh >= 300');
  t.ok(planDiffers(so(10), p), 'the stored object is still at 10');
  t.notOk(planDiffers(so(3), p), 'one already at 3 needs no touch');
});

t.test('an unset max counts as KEDA default 100', async (t) => {
  const p = plan(so(undefined), byPolicy());
  t.match(p, { kind: 'apply', maxReplicaCount: 3, warnings: ['keda-carbon: maxReplicaCount 100 -> 3 (420 gCO2eq/kWh >= 300)'] });
});

t.test('the same inputs again keep the status line as it is', async (t) => {
  const first = plan(so(10), byPolicy());
  if (first.kind !== 'apply') throw new Error('expected apply');
  const status = first.setAnnotations['keda-carbon.io/status']!;
  const again = plan(so(3, { 'keda-carbon.io/status': status, 'keda-carbon.io/declared-max-replica-count': '10' }), byPolicy(), { now: NOW + 60_000 });
  t.match(again, { kind: 'apply', maxReplicaCount: 3, warnings: [] });
  t.equal(again.kind === 'apply' && again.setAnnotations['keda-carbon.io/status'], status, 'evaluatedAt alone does not rewrite it');
});

t.test('invalid policies: deny or warn for an own document, always untouched for an unknown name', async (t) => {
  const own: Resolution = { kind: 'invalid', origin: 'spec.environmentalImpact', message: 'invalid carbon policy in spec.environmentalImpact: bad', own: true };
  t.same(plan(so(10), own), { kind: 'deny', message: 'keda-carbon: invalid carbon policy in spec.environmentalImpact: bad' });
  t.same(plan(so(10), own, { invalidPolicy: 'warn' }), {
    kind: 'untouched',
    warnings: ['keda-carbon: invalid carbon policy in spec.environmentalImpact: bad; maxReplicaCount left as it is'],
    reason: 'invalid carbon policy in spec.environmentalImpact: bad',
  });
  const unknown: Resolution = { kind: 'invalid', origin: 'annotation', message: 'names policy "gold"', own: false };
  t.match(plan(so(10), unknown), { kind: 'untouched' }, 'never denied: fail open');
});

t.test('no policy: nothing to do, unless we touched the object before', async (t) => {
  const none: Resolution = { kind: 'none', origin: 'no policy' };
  t.same(plan(so(10), none), { kind: 'untouched', warnings: [], reason: 'no policy' });
  // an object we capped before: it carries the cap, our declared max and our status line
  const capped = plan(so(10), byPolicy());
  const ours = so(3, { ...(capped.kind === 'apply' ? capped.setAnnotations : {}), other: 'x' });
  const p = plan(ours, none);
  t.match(p, { kind: 'apply', maxReplicaCount: 10, setAnnotations: {}, warnings: [`keda-carbon: maxReplicaCount 3 -> 10 (${RESTORED})`] });
  t.same(p.kind === 'apply' && p.removeAnnotations, ['keda-carbon.io/declared-max-replica-count', 'keda-carbon.io/status'], 'only our annotations go');
  const off: Resolution = { kind: 'none', origin: 'annotation keda-carbon.io/policy: disabled' };
  t.match(plan(ours, off), { reason: 'carbon policy switched off (annotation keda-carbon.io/policy: disabled): declared max restored' });
  t.equal(restoreWhy('no policy'), RESTORED);
});

t.test('a max that is not a replica count is left alone with a warning', async (t) => {
  const bad = { metadata: { name: 'web', annotations: {} }, spec: { maxReplicaCount: -4 } } as unknown as KedaObject;
  const p = plan(bad, byPolicy());
  t.equal(p.kind, 'untouched');
  t.match(p.kind === 'untouched' && p.warnings[0], /maxReplicaCount left as it is$/);
});

t.test('observe mode: the status says what the cap would be, the spec stays', async (t) => {
  const p = plan(so(10), byPolicy(observing));
  t.match(p, { kind: 'apply', mode: 'observe', keepSpec: true, maxReplicaCount: 10 });
  t.same(p.kind === 'apply' && p.warnings, ['keda-carbon (observe): would set maxReplicaCount 10 -> 3 (420 gCO2eq/kWh >= 300)']);
  t.match(decodeStatus(p.kind === 'apply' ? p.setAnnotations['keda-carbon.io/status'] : ''), { cap: 3, mode: 'observe' });
  t.ok(planDiffers(so(10), p), 'no observe status stored yet: a touch writes it');

  // switched to observe while a cap we enforced is in the spec: the declared max comes back
  const enforced = plan(so(10), byPolicy());
  const stored = so(3, enforced.kind === 'apply' ? enforced.setAnnotations : {});
  const back = plan(stored, byPolicy(observing));
  t.match(back, { kind: 'apply', mode: 'observe', keepSpec: false, maxReplicaCount: 10 });
  t.equal(back.kind === 'apply' && back.warnings[0], 'keda-carbon: maxReplicaCount 3 -> 10 (observe mode: declared max restored)');
});

t.test('isoTime formats once per millisecond and stays correct across calls', async (t) => {
  t.equal(isoTime(0), '1970-01-01T00:00:00.000Z');
  t.equal(isoTime(NOW), '2026-11-23T10:30:00.000Z');
  t.equal(isoTime(NOW), '2026-11-23T10:30:00.000Z');
  t.equal(isoTime(NOW + 1), '2026-11-23T10:30:00.001Z');
});
