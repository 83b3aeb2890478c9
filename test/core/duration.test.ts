import { readFile } from 'node:fs/promises';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { DURATION_PATTERN, durationMs } from '../../src/core/duration.js';
import { validatePolicy } from '../../src/core/policy-document.js';
import { BAD_DURATIONS, GOOD_DURATIONS } from '../helpers/durations.js';
import { CRD_PATCH } from '../helpers/generated.js';

const policy = { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }] };

t.test('the validator reads every good duration and refuses every bad one', async (t) => {
  for (const [input, ms] of GOOD_DURATIONS) t.equal(durationMs(input), ms, JSON.stringify(input));
  for (const bad of BAD_DURATIONS) t.equal(durationMs(bad), null, String(bad));
});

t.test('the CRD pattern of the checked-in schema takes the texts the validator takes', async (t) => {
  const [op] = parseYaml(await readFile(new URL(`../../${CRD_PATCH}`, import.meta.url), 'utf8')) as { value: Record<string, any> }[];
  const window = op!.value.properties.relativeWindow.properties;
  for (const part of ['past', 'ahead']) t.equal(window[part].pattern, DURATION_PATTERN, `relativeWindow.${part} carries the shared pattern`);
  const pattern = new RegExp(window.past.pattern);
  for (const [input] of GOOD_DURATIONS) if (typeof input === 'string') t.ok(pattern.test(input), `${JSON.stringify(input)} passes the pattern`);
  for (const bad of BAD_DURATIONS) if (typeof bad === 'string') t.notOk(pattern.test(bad), `${JSON.stringify(bad)} fails the pattern`);
});

t.test('a quoted bare number in a policy is seconds, as the README says', async (t) => {
  t.equal(validatePolicy({ ...policy, relativeWindow: { past: '3600' } }).relativeWindow.pastMs, 3_600_000);
  t.equal(validatePolicy({ ...policy, relativeWindow: { past: 7200 } }).relativeWindow.pastMs, 7_200_000);
  t.throws(() => validatePolicy({ ...policy, relativeWindow: { past: '90' } }), { message: /^relativeWindow\.past: must be a duration from 1h to 7d/ });
});
