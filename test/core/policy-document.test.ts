import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { POLICY_LIMITS, type PolicyDocument, policyDocument, validatePolicy } from '../../src/core/policy-document.js';
import { CRD_PATCH, crdPatch, fieldTable, generatedFiles, withBlock } from '../helpers/generated.js';

t.test('the checked-in CRD patch and README table are the ones the declaration generates', async (t) => {
  for (const file of await generatedFiles()) {
    t.equal(file.actual, file.expected, `${file.path} is up to date (run npm run gen after changing src/core/policy-document.ts)`);
  }
});

t.test('the CRD schema carries the validator limits', async (t) => {
  const [op] = parseYaml(crdPatch()) as { path: string; value: Record<string, any> }[];
  t.match(op!.path, /properties\/environmentalImpact$/, CRD_PATCH);
  const props = op!.value.properties;
  t.same(Object.keys(props), Object.keys(policyDocument.fields!), 'every top-level field, in declaration order');
  t.equal(props.carbon.maxItems, POLICY_LIMITS.rules);
  t.equal(props.maxReplicasByCarbonIntensity.maxItems, POLICY_LIMITS.rules);
  t.equal(props.ecoModeOff.properties.recurringSchedule.maxItems, POLICY_LIMITS.schedules);
  t.equal(props.ecoModeOff.properties.recurringSchedule.items.maxLength, POLICY_LIMITS.cronLine);
  t.same(props.carbon.items.required, ['measuredEmission', 'allowedMaxReplicaCount']);
  t.equal(op!.value.type, 'object');
  t.notOk(op!.value.required, 'neither form is required by itself: a CEL rule asks for exactly one');
  // the schema's patterns agree with the validator on the values both see as strings
  const allowed = new RegExp(props.carbon.items.properties.allowedMaxReplicaCount.pattern);
  for (const v of ['50%', ' 12.5 % ', '100%']) {
    t.ok(allowed.test(v), `${v} passes the CRD pattern`);
    t.ok(validatePolicy({ carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: v }] }), `${v} passes the validator`);
  }
  const missing = new RegExp(props.onMissingData.pattern);
  for (const v of ['declared', 'hold', '3'])
    t.ok(missing.test(v) && validatePolicy({ carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }], onMissingData: v }));
  for (const v of ['0', 'fail']) t.notOk(missing.test(v), `${v} fails the CRD pattern too`);
  const window = props.relativeWindow.properties.past;
  t.match(window, { 'x-kubernetes-int-or-string': true, minimum: 3600, maximum: 7 * 24 * 3600 }, 'a bare number is seconds, as in the validator');
});

t.test('the README table lists every field with its default', async (t) => {
  const table = fieldTable();
  t.match(table, '| `ecoModeOff.carbonIntensityDuration.overrideEcoAfterDurationInMins` | integer >= 1 | required |');
  t.match(table, '| `mode` | `enforce` \\| `observe` | enforce |');
  t.match(table, '| `relativeWindow.past` | duration, 1h to 7d | 24h |');
  t.throws(() => withBlock('# no markers here\n', table), /has no block between/);
});

t.test('the document type is the declaration', async (t) => {
  const doc: PolicyDocument = {
    carbon: [{ measuredEmission: 'p80', allowedMaxReplicaCount: '50%' }],
    ecoModeOff: { timeZone: 'Europe/Berlin', recurringSchedule: ['* 8 * * 1-5'] },
    relativeWindow: { past: '12h' },
    mode: 'observe',
    wattsPerReplica: 12.5,
  };
  const policy = validatePolicy(doc);
  t.equal(policy.wattsPerReplica, 12.5);
  t.equal(policy.form, 'carbon');
  t.equal(policy.mode, 'observe');
  t.equal(policy.relativeWindow.pastMs, 12 * 3_600_000);
  t.equal(policy.relativeWindow.aheadMs, 24 * 3_600_000, 'an absent part takes its default');
  t.equal(policy.ecoModeOff.schedules[0]!.matches(Date.parse('2026-01-05T07:30:00Z')), true, 'compiled in the declared zone (08:30 Berlin)');
  t.equal(policy.onMissingData, 'declared');
});

t.test('one-off windows: RFC 3339 with an offset, end after start, with messages that name the field', async (t) => {
  const doc = (w: unknown) => ({ carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }], ecoModeOff: { windows: [w] } });
  const ok = validatePolicy(doc({ start: '2026-12-24T00:00:00.250+01:00', end: '2026-12-24T00:00:01-00:30' }));
  t.same(ok.ecoModeOff.windows, [
    {
      start: Date.parse('2026-12-23T23:00:00.250Z'),
      end: Date.parse('2026-12-24T00:30:01Z'),
      text: '2026-12-24T00:00:00.250+01:00..2026-12-24T00:00:01-00:30',
    },
  ]);
  t.same(validatePolicy(doc({ start: '2026-12-24T00:00:00Z', end: '2026-12-24T00:00:00.001Z' })).ecoModeOff.windows.length, 1, 'one millisecond is a window');
  t.same(validatePolicy({ carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }] }).ecoModeOff.windows, [], 'none by default');
  const bad: Array<[unknown, string]> = [
    [
      { start: '2026-12-24T00:00:00', end: '2026-12-27T00:00:00Z' },
      'ecoModeOff.windows[0].start: has no offset: write Z for UTC or +hh:mm, e.g. "2026-12-24T00:00:00Z", got "2026-12-24T00:00:00"',
    ],
    [
      { start: '2026-12-24T00:00:00Z', end: '2026-12-27 00:00' },
      'ecoModeOff.windows[0].end: has no offset: write Z for UTC or +hh:mm, e.g. "2026-12-27T00:00Z", got "2026-12-27 00:00"',
    ],
    [
      { start: '2026-12-27T00:00:00Z', end: '2026-12-24T00:00:00Z' },
      'ecoModeOff.windows[0].end: must be after start 2026-12-27T00:00:00Z, got 2026-12-24T00:00:00Z',
    ],
    [
      { start: '2026-12-24T01:00:00+01:00', end: '2026-12-24T00:00:00Z' },
      'ecoModeOff.windows[0].end: must be after start 2026-12-24T01:00:00+01:00, got 2026-12-24T00:00:00Z',
    ],
    [
      { start: '2027-02-29T00:00:00Z', end: '2027-03-02T00:00:00Z' },
      'ecoModeOff.windows[0].start: must be an RFC 3339 time with an offset such as "2026-12-24T00:00:00Z" or "2026-12-24T00:00:00+01:00", got "2027-02-29T00:00:00Z"',
    ],
    [{ start: '2026-12-24T24:00:00Z', end: '2026-12-25T01:00:00Z' }, 'ecoModeOff.windows[0].start: must be an RFC 3339 time with an offset'],
    [{ start: '2026-12-24T00:00:00+25:00', end: '2026-12-25T01:00:00Z' }, 'ecoModeOff.windows[0].start: must be an RFC 3339 time with an offset'],
    [{ start: 'christmas', end: '2026-12-25T01:00:00Z' }, 'ecoModeOff.windows[0].start: must be an RFC 3339 time'],
    [
      { start: 1798070400000, end: '2026-12-25T01:00:00Z' },
      'ecoModeOff.windows[0].start: must be an RFC 3339 time with an offset such as "2026-12-24T00:00:00Z" or "2026-12-24T00:00:00+01:00", got 1798070400000',
    ],
    [
      { start: '2026-12-24T00:00:00Z' },
      'ecoModeOff.windows[0].end: must be an RFC 3339 time with an offset such as "2026-12-24T00:00:00Z" or "2026-12-24T00:00:00+01:00", got nothing',
    ],
    [{ start: '2026-12-24T00:00:00Z', end: '2026-12-25T00:00:00Z', until: 'x' }, 'ecoModeOff.windows[0].until: unknown field (expected one of start, end)'],
    ['2026-12-24/2026-12-27', 'ecoModeOff.windows[0]: must be a mapping with start and end (RFC 3339 times), got "2026-12-24/2026-12-27"'],
  ];
  for (const [w, message] of bad)
    t.throws(() => validatePolicy(doc(w)), { name: 'PolicyError', message: new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`) }, message);
  t.throws(() => validatePolicy({ carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }], ecoModeOff: { windows: { start: 'x' } } }), {
    message: 'ecoModeOff.windows: must be a list of {start, end}, got {"start":"x"}',
  });
});

t.test('the CRD schema of a window: the same shape, and a CEL rule for end after start', async (t) => {
  const [op] = parseYaml(crdPatch()) as { value: Record<string, any> }[];
  const windows = op!.value.properties.ecoModeOff.properties.windows;
  t.equal(windows.maxItems, POLICY_LIMITS.windows);
  t.same(windows.items.required, ['start', 'end']);
  t.same(windows.items['x-kubernetes-validations'], [{ rule: 'timestamp(self.end) > timestamp(self.start)', message: 'end must be after start' }]);
  const pattern = new RegExp(windows.items.properties.start.pattern);
  for (const v of ['2026-12-24T00:00:00Z', '2026-12-24T00:00:00.5+01:00']) t.ok(pattern.test(v), `${v} passes the CRD pattern`);
  for (const v of ['2026-12-24T00:00:00', '2026-12-24 00:00:00Z', '2026-12-24t00:00:00z'])
    t.notOk(pattern.test(v), `${v} fails the CRD pattern as it fails the validator`);
});

t.test('wattsPerReplica: a number of watts above 0, null when absent (the configuration default applies)', async (t) => {
  const base = { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 1 }] };
  t.equal(validatePolicy(base).wattsPerReplica, null);
  t.equal(validatePolicy({ ...base, wattsPerReplica: 0.5 }).wattsPerReplica, 0.5);
  for (const v of [0, -3, '40', Number.POSITIVE_INFINITY])
    t.throws(() => validatePolicy({ ...base, wattsPerReplica: v }), {
      field: 'wattsPerReplica',
      message: /^wattsPerReplica: must be a number of watts > 0, got /,
    });
  const [op] = parseYaml(crdPatch()) as { value: Record<string, any> }[];
  // OpenAPI v3.0 as the API server reads it: a boolean exclusiveMinimum beside minimum (a
  // number there is JSON Schema's later form, and the API server refuses the whole CRD).
  t.same(
    [op!.value.properties.wattsPerReplica.minimum, op!.value.properties.wattsPerReplica.exclusiveMinimum],
    [0, true],
    'the API server refuses what the validator refuses',
  );
  t.match(fieldTable(), '| `wattsPerReplica` | number > 0 | the configuration default |');
});

/** Every schema inside `s`, depth first, with its path. */
function* schemas(s: Record<string, any>, path = ''): Generator<[string, Record<string, any>]> {
  yield [path, s];
  for (const [name, sub] of Object.entries(s.properties ?? {})) yield* schemas(sub as Record<string, any>, `${path}.${name}`);
  if (s.items) yield* schemas(s.items, `${path}[]`);
}

t.test('the CRD schema is OpenAPI v3.0 as the API server reads it: boolean exclusive bounds', async (t) => {
  // JSON Schema's later numeric exclusiveMinimum makes the API server refuse the whole CRD.
  const [op] = parseYaml(crdPatch()) as { value: Record<string, any> }[];
  const wrong = [...schemas(op!.value)]
    .filter(([, s]) => ['exclusiveMinimum', 'exclusiveMaximum'].some((k) => k in s && typeof s[k] !== 'boolean'))
    .map(([path]) => path);
  t.same(wrong, []);
  for (const [path, s] of schemas(op!.value)) if (s.exclusiveMinimum === true) t.type(s.minimum, 'number', `${path}: exclusiveMinimum beside a minimum`);
});
