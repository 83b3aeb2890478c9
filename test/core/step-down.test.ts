import t from 'tap';
import { decide, type DecisionInput } from '../../src/core/decide.js';
import { nextCapChange } from '../../src/core/moments.js';
import { PolicyError, validatePolicy } from '../../src/core/policy.js';
import { stepSize, stepTowards, type InForce } from '../../src/core/step-down.js';
import { HOUR, MINUTE, hourly, steady } from '../helpers/carbon.js';
import { FakeClock } from '../helpers/clock.js';

const START = Date.parse('2026-11-23T10:30:00Z');
const RULE = { maxPercent: 50, everyMs: MINUTE };
const policy = validatePolicy({
  carbon: [
    { measuredEmission: 300, allowedMaxReplicaCount: 20 },
    { measuredEmission: 500, allowedMaxReplicaCount: 4 },
  ],
  stepDown: { maxPercent: 50, every: '1m' },
});

t.test('the policy field: maxPercent 1-99, every 1m to 1h in the relativeWindow grammar', async (t) => {
  t.same(policy.stepDown, { maxPercent: 50, everyMs: MINUTE });
  t.same(validatePolicy({ carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }] }).stepDown, null, 'absent: null');
  t.same(validatePolicy({ carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }], stepDown: { maxPercent: 99, every: '1h' } }).stepDown, {
    maxPercent: 99,
    everyMs: HOUR,
  });
  t.same(
    validatePolicy({ carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }], stepDown: { maxPercent: 1, every: 90 } }).stepDown,
    {
      maxPercent: 1,
      everyMs: 90_000,
    },
    'a bare number is seconds',
  );
  const bad: Array<[unknown, RegExp]> = [
    [{ maxPercent: 0, every: '5m' }, /^stepDown\.maxPercent: must be an integer from 1 to 99 .*got 0$/],
    [{ maxPercent: 100, every: '5m' }, /^stepDown\.maxPercent: must be an integer from 1 to 99/],
    [{ maxPercent: 12.5, every: '5m' }, /^stepDown\.maxPercent: must be an integer from 1 to 99/],
    [{ maxPercent: 50, every: '30s' }, /^stepDown\.every: must be a duration from 1m to 1h such as "5m", got "30s"$/],
    [{ maxPercent: 50, every: '2h' }, /^stepDown\.every: must be a duration from 1m to 1h/],
    [{ maxPercent: 50 }, /^stepDown\.every: must be a duration from 1m to 1h .*got nothing$/],
    [{ maxPercent: 50, every: '5m', by: 2 }, /^stepDown\.by: unknown field \(expected one of maxPercent, every\)$/],
    ['50%', /^stepDown: must be a mapping such as \{maxPercent: 50, every: 5m\}/],
  ];
  for (const [stepDown, message] of bad) {
    t.throws(
      () => validatePolicy({ carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }], stepDown }),
      { name: PolicyError.name, message },
      JSON.stringify(stepDown),
    );
  }
});

t.test('step size: maxPercent of the cap in force, rounded down, at least one replica', async (t) => {
  t.equal(stepSize(40, 50), 20);
  t.equal(stepSize(5, 50), 2, '2.5 rounds down');
  t.equal(stepSize(3, 10), 1, '0.3 rounds down to 0: one replica instead');
  t.equal(stepSize(1, 99), 1);
});

t.test('40 -> band cap 4 with maxPercent 50: 20, 10, 5, 4, one step per minute on a fake clock', async (t) => {
  const clock = new FakeClock(START);
  let inForce: InForce = { cap: 40, nextStepAt: null };
  const seen: Array<[number, number]> = [];
  for (let i = 0; i < 8; i++) {
    const s = stepTowards(RULE, inForce, 4, clock.now());
    if (s.cap !== inForce.cap) seen.push([s.cap, clock.now() - START]);
    inForce = { cap: s.cap, nextStepAt: s.step?.nextStepAt ?? null };
    await clock.advance(30_000);
  }
  // Checked every 30 s: the steps land on whole minutes, half-way checks hold the cap.
  t.same(seen, [
    [20, 0],
    [10, MINUTE],
    [5, 2 * MINUTE],
    [4, 3 * MINUTE],
  ]);
  t.same(inForce, { cap: 4, nextStepAt: null }, 'at the band cap: no step-down any more');
  const held = stepTowards(RULE, { cap: 5, nextStepAt: START + 3 * MINUTE }, 4, START + 3 * MINUTE - 1);
  t.same(held, { cap: 5, step: { target: 4, nextStepAt: START + 3 * MINUTE } }, 'a millisecond early: the cap and the due time stay');
  const last = stepTowards(RULE, { cap: 5, nextStepAt: START + 3 * MINUTE }, 4, START + 3 * MINUTE);
  t.same(last, { cap: 4, step: null }, 'the last step lands on the band cap and ends the step-down');
});

t.test('at least one replica per step; never below the band cap', async (t) => {
  const rule = { maxPercent: 10, everyMs: MINUTE };
  t.same(stepTowards(rule, { cap: 5, nextStepAt: null }, 1, START), { cap: 4, step: { target: 1, nextStepAt: START + MINUTE } });
  t.same(stepTowards({ maxPercent: 90, everyMs: MINUTE }, { cap: 10, nextStepAt: null }, 7, START), { cap: 7, step: null }, 'a 9-replica step stops at 7');
});

t.test('a rising cap applies at once and ends a step-down', async (t) => {
  t.same(stepTowards(RULE, { cap: 10, nextStepAt: START + MINUTE }, 30, START), { cap: 30, step: null });
  t.same(stepTowards(RULE, { cap: 10, nextStepAt: START + MINUTE }, 10, START), { cap: 10, step: null }, 'equal: nothing to step');
});

t.test('decide: band cap as target, step as cap; rising, eco off and create apply at once', async (t) => {
  const at = (over: Partial<DecisionInput>) =>
    decide({ policy, declared: 40, minReplicas: 0, currentMax: 40, ecoModeOffAnnotation: false, carbon: steady(600, START), now: START, ...over });
  const first = at({ inForce: { cap: 40, nextStepAt: null } });
  t.equal(first.cap, 20);
  t.same(first.step, { target: 4, nextStepAt: START + MINUTE });
  t.equal(first.band?.cap, 4, 'the band still says 4');
  t.equal(first.reason, '600 gCO2eq/kWh >= 500; step-down 40 -> 20 towards 4, next step at 2026-11-23T10:31:00.000Z');
  const waiting = at({ inForce: { cap: 20, nextStepAt: START + MINUTE }, now: START + 30_000, carbon: steady(600, START + 30_000) });
  t.equal(waiting.cap, 20);
  t.match(waiting.reason, /step-down holds 20 towards 4 until 2026-11-23T10:31:00.000Z$/);
  t.equal(at({}).cap, 4, 'no cap in force (a create): at once');
  t.equal(at({ inForce: { cap: 4, nextStepAt: null }, carbon: steady(350, START) }).cap, 20, 'rising band: at once');
  const eco = at({ inForce: { cap: 10, nextStepAt: START + MINUTE }, ecoModeOffAnnotation: true });
  t.equal(eco.cap, 40, 'eco mode off: the declared max at once');
  t.equal(eco.step, null);
  const plain = validatePolicy({ carbon: [{ measuredEmission: 500, allowedMaxReplicaCount: 4 }] });
  t.equal(at({ policy: plain, inForce: { cap: 40, nextStepAt: null } }).cap, 4, 'without stepDown: at once');
});

t.test('nextCapChange: the due time of the next step is a moment of its subject', async (t) => {
  // 600 g for three hours: nothing in the data changes within the hour.
  const carbon = hourly(START - (START % HOUR), [600, 600, 600], START);
  const subject = { policy, declared: 40, minReplicas: 0, ecoModeOffAnnotation: false, cap: 20, nextStepAt: START + MINUTE };
  t.equal(nextCapChange([subject], carbon, START, HOUR), START + MINUTE);
  t.equal(nextCapChange([{ ...subject, cap: 4, nextStepAt: null }], carbon, START, HOUR), null, 'at the band cap: nothing due');
  t.equal(nextCapChange([{ ...subject, nextStepAt: START - 1 }], carbon, START, HOUR), START, 'overdue: now');
  t.equal(nextCapChange([{ ...subject, cap: 40, nextStepAt: null }], carbon, START, HOUR), START, 'not yet stepping: the first step is due now');
});
