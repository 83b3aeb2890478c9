import t from 'tap';
import { ANNOTATION } from '../../src/core/names.js';
import { readStatus } from '../../src/core/object.js';
import { type CarbonStatus, decodeStatus, encodeStatus, nextStepOf, sameStatus, slimStatus } from '../../src/core/status.js';

const STATUS: CarbonStatus = {
  cap: 3,
  declared: 10,
  intensity: 412.3,
  signal: 'average',
  source: 'sample:sample',
  dataTime: '2026-12-07T18:00:00.000Z',
  rule: 'measuredEmission>=300',
  ecoMode: 'on',
  mode: 'enforce',
  evaluatedAt: '2026-12-07T18:05:00.000Z',
};

t.test('a written line reads back as the same status, keys in the documented order', async (t) => {
  const line = encodeStatus(STATUS);
  t.same(Object.keys(JSON.parse(line)), ['cap', 'declared', 'intensity', 'signal', 'source', 'dataTime', 'rule', 'ecoMode', 'mode', 'evaluatedAt']);
  t.same(decodeStatus(line), STATUS);
  const { signal: _, ...older } = STATUS;
  t.notOk('signal' in JSON.parse(encodeStatus(older)), 'an absent field is left out, not written as null');
  t.same(readStatus({ metadata: { annotations: { [ANNOTATION.status]: line } } }), STATUS, 'read from an object');
  t.equal(readStatus({ metadata: {} }), null);
});

t.test('what is not a status of ours reads as none', async (t) => {
  for (const raw of [undefined, 3, '', 'not json', 'null', '[1]', '"x"', '{"cap":"3"}', '{"declared":10}']) {
    t.equal(decodeStatus(raw), null, String(raw));
  }
  const s = decodeStatus('{"cap":4}');
  t.equal(s?.cap, 4, 'only the cap is needed (the controller keeps slim lines)');
  t.ok(Object.isFrozen(s), 'a decoded status is shared, so it cannot be changed');
});

t.test('the slim line keeps the cap and an observe mode', async (t) => {
  t.equal(slimStatus(encodeStatus(STATUS)), '{"cap":3}');
  t.equal(slimStatus(encodeStatus({ ...STATUS, mode: 'observe' })), '{"cap":3,"mode":"observe"}');
  t.equal(slimStatus('{"cap":3,"mode":"enforce"}'), '{"cap":3}', 'enforce and no mode mean the same');
  t.equal(slimStatus('{"mode":"observe"}'), undefined);
  t.equal(decodeStatus(slimStatus(encodeStatus({ ...STATUS, mode: 'observe' })))?.mode, 'observe', 'the slim line decodes');
});

t.test('two lines record the same decision when only evaluatedAt differs', async (t) => {
  const line = decodeStatus(encodeStatus(STATUS))!;
  t.ok(sameStatus({ ...STATUS, evaluatedAt: 'later' }, line));
  t.notOk(sameStatus({ ...STATUS, cap: 4 }, line));
  t.notOk(sameStatus(STATUS, decodeStatus('{"cap":3}')!), 'a line with fewer fields differs');
});

t.test('a step-down: stepTarget and nextStepAt before evaluatedAt; the slim line keeps when the next step is due', async (t) => {
  const stepping: CarbonStatus = { ...STATUS, cap: 20, stepTarget: 4, nextStepAt: '2026-12-07T18:06:00.000Z' };
  const line = encodeStatus(stepping);
  t.same(Object.keys(JSON.parse(line)).slice(-3), ['stepTarget', 'nextStepAt', 'evaluatedAt']);
  t.equal(slimStatus(line), '{"cap":20,"nextStepAt":"2026-12-07T18:06:00.000Z"}');
  t.equal(slimStatus(encodeStatus({ ...stepping, mode: 'observe' })), '{"cap":20,"mode":"observe","nextStepAt":"2026-12-07T18:06:00.000Z"}');
  t.equal(nextStepOf(decodeStatus(slimStatus(line))), Date.parse('2026-12-07T18:06:00.000Z'), 'the slim line decodes to the same due time');
  t.equal(nextStepOf(decodeStatus(encodeStatus(STATUS))), null, 'no step-down: none due');
  t.equal(nextStepOf(decodeStatus('{"cap":3,"nextStepAt":"soon"}')), null, 'a time that does not parse: none due');
  t.equal(nextStepOf(null), null);
});
