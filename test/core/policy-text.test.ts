import t from 'tap';
import { brief } from '../../src/core/brief.js';
import { estimateDepth, parsePolicyText, POLICY_LIMITS, validatePolicy } from '../../src/core/policy.js';

const RULE = 'carbon:\n- {measuredEmission: 300, allowedMaxReplicaCount: 2}\n';
const LIMIT = POLICY_LIMITS.textBytes;

/** A valid policy padded with a comment to exactly `bytes` UTF-8 bytes. */
function padded(bytes: number, tag = ''): string {
  const head = `${RULE}# ${tag}`;
  return head + 'x'.repeat(bytes - Buffer.byteLength(head));
}

t.test('the text size limit is checked in bytes and named in the message', async (t) => {
  t.equal(parsePolicyText(padded(LIMIT)).bands.length, 1, 'a text of exactly 16 KiB parses');
  t.throws(() => parsePolicyText(padded(LIMIT + 1)), { name: 'PolicyError', message: 'the policy text is 16385 bytes; the limit is 16384 bytes (16 KiB)' });
  const euros = `${RULE}# ${'€'.repeat(6000)}`;
  t.ok(euros.length < LIMIT && Buffer.byteLength(euros) > LIMIT, 'fewer characters than the limit, more bytes');
  t.throws(() => parsePolicyText(euros), { message: `the policy text is ${Buffer.byteLength(euros)} bytes; the limit is 16384 bytes (16 KiB)` });
  const emoji = `${RULE}# ${'😀'.repeat(2000)}`;
  t.throws(() => parsePolicyText(`${emoji}${'😀'.repeat(2100)}`), { message: /the limit is 16384 bytes/ }, 'surrogate pairs count as four bytes');
  t.equal(parsePolicyText(emoji).bands.length, 1, '8,000 bytes of emoji are fine');
  t.throws(() => parsePolicyText(padded(256 * 1024 + 1)), { message: 'the policy text is over 256 KiB; the limit is 16384 bytes (16 KiB)' });
});

t.test('nesting is bounded before the YAML parser sees the text', async (t) => {
  const PRODUCT_EXAMPLE = `carbon:
- measuredEmission: 300
  allowedMaxReplicaCount: 50
ecoModeOff:
  recurringSchedule: ["* 23 * * 1-5"]
  carbonIntensityDuration:
    carbonIntensityThreshold: 555
    overrideEcoAfterDurationInMins: 45
`;
  t.ok(estimateDepth(PRODUCT_EXAMPLE) <= 5, `a real policy is shallow (${estimateDepth(PRODUCT_EXAMPLE)})`);
  t.equal(estimateDepth('{"carbon":[{"measuredEmission":1,"allowedMaxReplicaCount":2}]}'), 4, 'JSON: the line, then three brackets');
  const message = `the policy nests more than ${POLICY_LIMITS.depth} levels of mappings, lists or brackets`;
  const hostile = {
    'flow brackets': `carbon: ${'['.repeat(8000)}${']'.repeat(8000)}`,
    'block sequences on one line': `${'- '.repeat(8000)}x`,
    indentation: Array.from({ length: 40 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n'),
    'compact sequences': Array.from({ length: 70 }, (_, i) => `${' '.repeat(2 * i)}- k${i}:`).join('\n'),
    'flow spanning lines': Array.from({ length: 40 }, () => '[').join('\n'),
    'lines broken by CR alone': Array.from({ length: 40 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\r'),
  };
  for (const [name, text] of Object.entries(hostile)) {
    t.throws(() => parsePolicyText(text), { name: 'PolicyError', message }, name);
  }
  // Just under the limit the parser runs and validation answers as usual.
  const nested = `carbon: ${'['.repeat(20)}${']'.repeat(20)}`;
  t.throws(() => parsePolicyText(nested), { message: /^carbon\[0\]: must be a mapping/ });
});

t.test('YAML aliases cannot expand a small text into a large document', async (t) => {
  const laughs = [
    'a: &a [x,x,x,x,x,x,x,x,x,x]',
    'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
    'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
    'carbon: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
  ].join('\n');
  t.throws(() => parsePolicyText(laughs), { name: 'PolicyError', message: `its YAML aliases expand too far (at most ${POLICY_LIMITS.aliases} aliased nodes)` });
  const modest = `carbon:
- &rule {measuredEmission: 300, allowedMaxReplicaCount: 2}
ecoModeOff:
  recurringSchedule: &peak ["* 8 * * 1-5", "* 17 * * 1-5"]
`;
  t.same(
    parsePolicyText(modest).ecoModeOff.schedules.map((s) => s.expression),
    ['* 8 * * 1-5', '* 17 * * 1-5'],
    'anchors still work',
  );
});

t.test('rules, schedule lines and cron lines are bounded', async (t) => {
  const rules = (n: number) => Array.from({ length: n }, (_, i) => ({ measuredEmission: i, allowedMaxReplicaCount: 1 }));
  t.equal(validatePolicy({ carbon: rules(50) }).bands.length, 50);
  t.throws(() => validatePolicy({ carbon: rules(51) }), { message: 'carbon: has 51 rules; at most 50 are allowed' });
  const azure = Array.from({ length: 51 }, (_, i) => ({ carbonIntensityThreshold: i, maxReplicas: 1 }));
  t.throws(() => validatePolicy({ maxReplicasByCarbonIntensity: azure }), { message: 'maxReplicasByCarbonIntensity: has 51 rules; at most 50 are allowed' });
  const lines = (n: number) => ({ carbon: rules(1), ecoModeOff: { recurringSchedule: Array.from({ length: n }, (_, i) => `${i % 60} 3 * * *`) } });
  t.equal(validatePolicy(lines(50)).ecoModeOff.schedules.length, 50);
  t.throws(() => validatePolicy(lines(51)), { message: 'ecoModeOff.recurringSchedule: has 51 lines; at most 50 are allowed' });
  const long = `0,${'1,'.repeat(200)}2 * * * *`;
  t.throws(() => validatePolicy({ carbon: rules(1), ecoModeOff: { recurringSchedule: [long] } }), {
    message: `ecoModeOff.recurringSchedule[0]: is ${long.length} characters long; a cron line may have at most 256`,
  });
});

t.test('messages about hostile values stay short and never throw', async (t) => {
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  t.throws(() => validatePolicy({ carbon: deep }), {
    message: 'carbon[0]: must be a mapping with measuredEmission and allowedMaxReplicaCount, got [[[[...]]]]',
  });
  t.throws(() => validatePolicy({ carbon: [{ measuredEmission: deep, allowedMaxReplicaCount: 1 }] }), {
    message: /^carbon\[0\]\.measuredEmission: must be a number >= 0, got \[\[\[\[\.\.\.\]\]\]\]$/,
  });
  const wide = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v'.repeat(1000)]));
  const err = (() => {
    try {
      validatePolicy({ carbon: wide });
    } catch (e) {
      return e as Error;
    }
    return null;
  })();
  t.ok(err && err.message.length < 200, `short: ${err?.message}`);
  t.throws(() => validatePolicy({ carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1, ['k'.repeat(100_000)]: 1 }] }), {
    message: /^carbon\[0\]\.k{42}\.\.\. \(100000 chars\): unknown field/,
  });
  t.equal(brief({ a: [1, 'two', null, true, { b: 2 }], c: 1n }), '{"a":[1,"two",null,true,...],"c":1}');
  t.equal(brief(undefined), 'undefined');
  t.equal(brief('x'.repeat(500)).length, 65, 'a long string is cut');
});

t.test('__proto__ and constructor keys in a policy are unknown fields, and pollute nothing', async (t) => {
  t.throws(() => parsePolicyText(`${RULE}__proto__: {polluted: 1}\n`), { message: /^__proto__: unknown field/ });
  t.throws(() => parsePolicyText(`${RULE}constructor: {prototype: {polluted: 1}}\n`), { message: /^constructor: unknown field/ });
  t.throws(() => parsePolicyText('carbon:\n- {measuredEmission: 1, allowedMaxReplicaCount: 2, __proto__: {polluted: 1}}\n'), {
    message: /^carbon\[0\]\.__proto__: unknown field/,
  });
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

t.test('one-off windows are bounded', async (t) => {
  const windows = (n: number) => ({
    carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }],
    ecoModeOff: {
      windows: Array.from({ length: n }, (_, i) => ({ start: `2026-12-${String((i % 28) + 1).padStart(2, '0')}T00:00:00Z`, end: '2027-01-01T00:00:00Z' })),
    },
  });
  t.equal(POLICY_LIMITS.windows, 50);
  t.equal(validatePolicy(windows(50)).ecoModeOff.windows.length, 50);
  t.throws(() => validatePolicy(windows(51)), { name: 'PolicyError', message: 'ecoModeOff.windows: has 51 windows; at most 50 are allowed' });
  const long = `2026-12-24T00:00:00.${'1'.repeat(10_000)}Z`;
  t.throws(() => validatePolicy({ ...windows(0), ecoModeOff: { windows: [{ start: long, end: '2027-01-01T00:00:00Z' }] } }), {
    message: /^ecoModeOff\.windows\[0\]\.start: must be an RFC 3339 time with an offset .*, got "2026-12-24T00:00:00\.1{40}\.\.\."$/,
  });
});
