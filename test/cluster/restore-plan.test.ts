import t from 'tap';
import { ANNOTATION } from '../../src/core/names.js';
import type { KedaObject } from '../../src/core/object.js';
import { planRestore, restoredAsPlanned, restorePatch, WHY } from '../../src/cluster/restore-plan.js';

const status = (cap: number, mode?: 'observe' | 'enforce') =>
  JSON.stringify({ cap, declared: 20, intensity: 400, source: 'test', dataTime: null, rule: 'r', ecoMode: 'on', ...(mode ? { mode } : {}), evaluatedAt: 'x' });

function object(max: number | undefined, annotations: Record<string, string>): KedaObject {
  return {
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '42', annotations: { team: 'a', ...annotations } },
    spec: max === undefined ? {} : { maxReplicaCount: max },
  };
}

const OURS = (declared: string, cap: number, mode?: 'observe' | 'enforce') => ({
  [ANNOTATION.declared]: declared,
  [ANNOTATION.status]: status(cap, mode),
  [ANNOTATION.touchedAt]: '2026-12-07T10:00:00Z',
});

t.test('an enforced cap: the declared max goes back, all three annotations go', async (t) => {
  const plan = planRestore(object(3, OURS('20', 3)));
  t.same(plan, { kind: 'restore', from: 3, to: 20, remove: [ANNOTATION.declared, ANNOTATION.status, ANNOTATION.touchedAt], why: WHY.declared });
  if (plan.kind !== 'restore') return;
  t.same(restorePatch(plan, '42'), {
    metadata: { resourceVersion: '42', annotations: { [ANNOTATION.declared]: null, [ANNOTATION.status]: null, [ANNOTATION.touchedAt]: null } },
    spec: { maxReplicaCount: 20 },
  });
});

t.test('a declared max that was unset is recorded as KEDA default 100 and comes back as 100', async (t) => {
  // The webhook writes String(declaredMax) = "100" for an unset spec (ADR 0004); KEDA reads 100 and unset alike.
  const plan = planRestore(object(5, OURS('100', 5)));
  t.match(plan, { kind: 'restore', from: 5, to: 100 });
});

t.test('a cap equal to the declared max: only the annotations change', async (t) => {
  const plan = planRestore(object(20, OURS('20', 20)));
  t.match(plan, { kind: 'restore', from: 20, to: 20, why: WHY.atDeclared });
  if (plan.kind === 'restore') t.notOk('spec' in restorePatch(plan, '1'), 'no spec in the patch');
});

t.test('observe mode: the spec is the user s, only the annotations go', async (t) => {
  const plan = planRestore(object(20, OURS('20', 3, 'observe')));
  t.match(plan, { kind: 'restore', from: 20, to: undefined, why: WHY.observe });
  if (plan.kind === 'restore') t.notOk('spec' in restorePatch(plan, '1'));
});

t.test('only a touched-at annotation (or a status) left: it is removed, the spec is left', async (t) => {
  const plan = planRestore(object(7, { [ANNOTATION.touchedAt]: '2026-12-07T10:00:00Z' }));
  t.match(plan, { kind: 'restore', from: 7, to: undefined, remove: [ANNOTATION.touchedAt] });
});

t.test('a spec written after our cap (webhook down, failurePolicy Ignore) is the user s newer value and is kept', async (t) => {
  const plan = planRestore(object(50, OURS('20', 3)));
  t.match(plan, { kind: 'restore', from: 50, to: undefined, why: /spec max \(50\) was written after keda-carbon's cap of 3/ });
  const unset = planRestore(object(undefined, OURS('20', 3)));
  t.match(unset, { kind: 'restore', from: undefined, to: undefined, why: /\(unset\)/ });
});

t.test('no readable status: the declared annotation alone decides', async (t) => {
  t.match(planRestore(object(3, { [ANNOTATION.declared]: '12' })), { kind: 'restore', from: 3, to: 12 });
  t.match(planRestore(object(3, { [ANNOTATION.declared]: '12', [ANNOTATION.status]: 'not json' })), { kind: 'restore', to: 12 });
});

t.test('a malformed declared max is reported, not guessed', async (t) => {
  for (const bad of ['', 'abc', '0', '-3', '2.5', '1e3', '99999999999', ' 7']) {
    const plan = planRestore(object(3, OURS(bad, 3)));
    t.equal(plan.kind, 'malformed', JSON.stringify(bad));
    if (plan.kind === 'malformed') t.match(plan.message, /declared-max-replica-count is .* not a replica count/);
  }
});

t.test('an object keda-carbon never wrote to is untouched, whatever else it carries', async (t) => {
  t.same(planRestore(object(3, { [ANNOTATION.environmentalImpact]: '{}', [ANNOTATION.policy]: 'standard' })), { kind: 'untouched' });
  t.same(planRestore({ metadata: { name: 'x' }, spec: { maxReplicaCount: 4 } }), { kind: 'untouched' });
  t.same(planRestore({}), { kind: 'untouched' });
});

t.test('restoredAsPlanned: annotations gone and the max as planned', async (t) => {
  const plan = planRestore(object(3, OURS('20', 3)));
  if (plan.kind !== 'restore') return t.fail('plan');
  t.ok(restoredAsPlanned(object(20, {}), plan));
  t.notOk(restoredAsPlanned(object(3, {}), plan), 'capped again');
  t.notOk(restoredAsPlanned(object(20, { [ANNOTATION.status]: status(3) }), plan), 'status written again');
});
