import t from 'tap';
import { type PolicyError, parsePolicyText, validatePolicy } from '../../src/core/policy.js';

const PRODUCT_EXAMPLE = `
carbon:
- measuredEmission: 300
  allowedMaxReplicaCount: 50
- measuredEmission: 500
  allowedMaxReplicaCount: 10
ecoModeOff:
  recurringSchedule: ["* 23 * * 1-5"]
  timeZone: Europe/Amsterdam
  carbonIntensityDuration:
    carbonIntensityThreshold: 555
    overrideEcoAfterDurationInMins: 45
onMissingData: declared
`;

t.test('the PRODUCT.md example parses, as YAML and as JSON', async (t) => {
  const p = parsePolicyText(PRODUCT_EXAMPLE);
  t.equal(p.form, 'carbon');
  t.same(
    p.bands.map((b) => [b.threshold, b.allowed]),
    [
      [300, { kind: 'count', value: 50 }],
      [500, { kind: 'count', value: 10 }],
    ],
  );
  t.equal(p.ecoModeOff.timeZone, 'Europe/Amsterdam');
  t.same(
    p.ecoModeOff.schedules.map((s) => s.expression),
    ['* 23 * * 1-5'],
  );
  t.same(p.ecoModeOff.duration, { threshold: 555, minutes: 45 });
  t.equal(p.onMissingData, 'declared');
  const json = parsePolicyText(
    '{"carbon":[{"measuredEmission":500,"allowedMaxReplicaCount":"25%"},{"measuredEmission":100,"allowedMaxReplicaCount":"50%"}],"onMissingData":"hold"}',
  );
  t.same(
    json.bands.map((b) => b.threshold),
    [100, 500],
    'rules are sorted by measuredEmission',
  );
  t.same(json.bands[0]!.allowed, { kind: 'percent', value: 50 });
  t.equal(json.onMissingData, 'hold');
  t.equal(validatePolicy({ carbon: [{ measuredEmission: 0, allowedMaxReplicaCount: 1 }], onMissingData: 4 }).onMissingData, 4);
  t.equal(validatePolicy({ carbon: [{ measuredEmission: 0, allowedMaxReplicaCount: '12.5%' }] }).bands[0]!.allowed.value, 12.5);
});

t.test('the Azure-operator form', async (t) => {
  const p = validatePolicy({
    maxReplicasByCarbonIntensity: [
      { carbonIntensityThreshold: 504, maxReplicas: 60 },
      { carbonIntensityThreshold: 437, maxReplicas: 110 },
    ],
  });
  t.equal(p.form, 'azure');
  t.same(
    p.bands.map((b) => b.threshold),
    [437, 504],
  );
});

t.test('every invalid document names the field and the rule', async (t) => {
  const cases: Array<[unknown, string]> = [
    [null, 'a policy must be a mapping with "carbon" or "maxReplicasByCarbonIntensity", got null'],
    [{}, 'carbon: is required (or use the Azure-operator form maxReplicasByCarbonIntensity)'],
    [{ carbon: [] }, 'carbon: must be a non-empty list of rules, got []'],
    [{ carbon: 'high' }, 'carbon: must be a non-empty list of rules, got "high"'],
    [{ carbon: [7] }, 'carbon[0]: must be a mapping with measuredEmission and allowedMaxReplicaCount, got 7'],
    [{ carbon: [{ measuredEmission: -1, allowedMaxReplicaCount: 2 }] }, 'carbon[0].measuredEmission: must be a number >= 0, got -1'],
    [
      { carbon: [{ measuredEmission: '300', allowedMaxReplicaCount: 2 }] },
      'carbon[0].measuredEmission: must be a number >= 0 or a percentile of the grid\'s own intensity from p1 to p99, got "300"',
    ],
    [{ carbon: [{ allowedMaxReplicaCount: 2 }] }, 'carbon[0].measuredEmission: must be a number >= 0, got nothing'],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 0 }] },
      'carbon[0].allowedMaxReplicaCount: must be an integer >= 1 or a percentage of the declared max such as "50%", got 0',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2.5 }] },
      'carbon[0].allowedMaxReplicaCount: must be an integer >= 1 or a percentage of the declared max such as "50%", got 2.5',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: '150%' }] },
      'carbon[0].allowedMaxReplicaCount: must be an integer >= 1 or a percentage of the declared max from "1%" to "100%", got "150%"',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 'half' }] },
      'carbon[0].allowedMaxReplicaCount: must be an integer >= 1 or a percentage of the declared max from "1%" to "100%", got "half"',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2, extra: 1 }] },
      'carbon[0].extra: unknown field (expected one of measuredEmission, allowedMaxReplicaCount)',
    ],
    [
      {
        carbon: [
          { measuredEmission: 1, allowedMaxReplicaCount: 2 },
          { measuredEmission: 1, allowedMaxReplicaCount: 3 },
        ],
      },
      'carbon: two rules have the same measuredEmission 1',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2 }], maxReplicasByCarbonIntensity: [{ carbonIntensityThreshold: 1, maxReplicas: 1 }] },
      'maxReplicasByCarbonIntensity: cannot be used together with carbon: choose one form',
    ],
    [
      { maxReplicasByCarbonIntensity: [{ carbonIntensityThreshold: 1, maxReplicas: -1 }] },
      'maxReplicasByCarbonIntensity[0].maxReplicas: must be an integer >= 0, got -1',
    ],
    [
      { maxReplicasByCarbonIntensity: [{ threshold: 1, maxReplicas: 1 }] },
      'maxReplicasByCarbonIntensity[0].threshold: unknown field (expected one of carbonIntensityThreshold, maxReplicas)',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2 }], ecoModeOff: { recurringSchedule: ['* 25 * * *'] } },
      'ecoModeOff.recurringSchedule[0]: is not a valid cron expression (Constraint error, got value 25 expected range 0-23): "* 25 * * *"',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2 }], ecoModeOff: { recurringSchedule: ['0 * * * * *'] } },
      'ecoModeOff.recurringSchedule[0]: must be a cron expression with 5 fields (minute hour day-of-month month day-of-week), got "0 * * * * *"',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2 }], ecoModeOff: { recurringSchedule: '* 23 * * *' } },
      'ecoModeOff.recurringSchedule: must be a list of cron expressions, got "* 23 * * *"',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2 }], ecoModeOff: { timeZone: 'Mars/Olympus' } },
      'ecoModeOff.timeZone: is not a known IANA time zone: "Mars/Olympus"',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2 }], ecoModeOff: { carbonIntensityDuration: { carbonIntensityThreshold: 5 } } },
      'ecoModeOff.carbonIntensityDuration.overrideEcoAfterDurationInMins: must be an integer >= 1, got nothing',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2 }], ecoModeOff: { maxReplicas: 3 } },
      'ecoModeOff.maxReplicas: unknown field (expected one of recurringSchedule, timeZone, windows, carbonIntensityDuration)',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2 }], onMissingData: 'fail' },
      'onMissingData: must be "declared", "hold" or an integer cap >= 1, got "fail"',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2 }], onMissingData: 0 },
      'onMissingData: must be "declared", "hold" or an integer cap >= 1, got 0',
    ],
    [
      { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2 }], carbonn: 1 },
      'carbonn: unknown field (expected one of carbon, maxReplicasByCarbonIntensity, ecoModeOff, onMissingData, relativeWindow, mode, stepDown, wattsPerReplica)',
    ],
  ];
  for (const [doc, message] of cases) {
    t.throws(() => validatePolicy(doc), { name: 'PolicyError', message }, message);
  }
  t.throws(() => parsePolicyText('carbon: [\n'), { name: 'PolicyError', message: /^line 2, column 1: not valid YAML or JSON: [^\n]*[^:\n]$/ });
  const err = (() => {
    try {
      validatePolicy({ carbon: [{ measuredEmission: -1, allowedMaxReplicaCount: 2 }] });
    } catch (e) {
      return e as PolicyError;
    }
    return null;
  })();
  t.equal(err?.field, 'carbon[0].measuredEmission');
  t.equal(err?.rule, 'must be a number >= 0, got -1');
});
