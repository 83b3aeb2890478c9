import t from 'tap';
import { decide, shownIntensity, type DecisionInput } from '../../src/core/decide.js';
import { parsePolicyText, validatePolicy } from '../../src/core/policy.js';
import { HOUR, MINUTE, hourly, noData, steady } from '../helpers/carbon.js';

const NOW = Date.parse('2026-11-23T10:30:00Z'); // a Monday
const bands = validatePolicy({
  carbon: [
    { measuredEmission: 500, allowedMaxReplicaCount: 10 },
    { measuredEmission: 300, allowedMaxReplicaCount: 50 },
  ],
});

function input(over: Partial<DecisionInput>): DecisionInput {
  return { policy: bands, declared: 100, minReplicas: 0, currentMax: 100, ecoModeOffAnnotation: false, carbon: steady(400, NOW), now: NOW, ...over };
}

t.test('bands: the largest measuredEmission <= intensity applies', async (t) => {
  const table: Array<[number, number, string | null]> = [
    [0, 100, null],
    [299.9, 100, null],
    [300, 50, 'measuredEmission>=300'], // exactly on a threshold: that band applies
    [412.3, 50, 'measuredEmission>=300'],
    [499.99, 50, 'measuredEmission>=300'],
    [500, 10, 'measuredEmission>=500'],
    [9000, 10, 'measuredEmission>=500'], // above all: the top band
  ];
  for (const [intensity, cap, rule] of table) {
    const d = decide(input({ carbon: steady(intensity, NOW) }));
    t.equal(d.cap, cap, `${intensity} g -> cap ${cap}`);
    t.equal(d.rule, rule, `${intensity} g -> rule ${rule}`);
    t.equal(d.ecoMode, 'on');
  }
  const d = decide(input({ carbon: steady(412.34, NOW) }));
  t.equal(d.intensity, 412.3, 'intensity rounded to one decimal for the status');
  t.equal(d.reason, '412 gCO2eq/kWh >= 300');
  t.equal(d.dataTime, '2026-11-23T10:00:00.000Z');
  t.equal(d.source, 'test:zone');
  t.equal(decide(input({ carbon: steady(100, NOW) })).reason, '100 gCO2eq/kWh is below every rule');
});

t.test('the declared max is a ceiling the cap never raises', async (t) => {
  t.equal(decide(input({ declared: 20, carbon: steady(350, NOW) })).cap, 20, 'allowed 50 > declared 20');
  t.equal(decide(input({ declared: 20, carbon: steady(600, NOW) })).cap, 10);
  t.equal(decide(input({ declared: 100, carbon: steady(100, NOW) })).cap, 100, 'below every rule: the declared max');
});

t.test('floor at max(1, minReplicaCount), with a warning when it wins', async (t) => {
  const d = decide(input({ minReplicas: 15, carbon: steady(600, NOW) }));
  t.equal(d.cap, 15);
  t.equal(d.floor, 15);
  t.match(d.warnings[0], /floor max\(1, minReplicaCount\) = 15 is above the carbon cap 10; using 15/);
  const tiny = validatePolicy({ carbon: [{ measuredEmission: 0, allowedMaxReplicaCount: '1%' }] });
  const p = decide(input({ policy: tiny, declared: 50, minReplicas: 0 }));
  t.equal(p.cap, 1, '1% of 50 rounds down to 0, floored at 1');
  t.equal(p.warnings.length, 1);
  const noWarn = decide(input({ minReplicas: 3, carbon: steady(600, NOW) }));
  t.same(noWarn.warnings, [], 'no warning when the floor does not win');
  t.equal(decide(input({ minReplicas: 150, declared: 100 })).cap, 100, 'min above declared: the object is invalid for KEDA, we keep declared');
});

t.test('percentages of the declared max, rounded down', async (t) => {
  const pct = validatePolicy({
    carbon: [
      { measuredEmission: 300, allowedMaxReplicaCount: '50%' },
      { measuredEmission: 500, allowedMaxReplicaCount: '33%' },
    ],
  });
  t.equal(decide(input({ policy: pct, declared: 7, carbon: steady(300, NOW) })).cap, 3, '50% of 7 = 3.5 -> 3');
  t.equal(decide(input({ policy: pct, declared: 10, carbon: steady(500, NOW) })).cap, 3, '33% of 10 = 3.3 -> 3');
  t.equal(decide(input({ policy: pct, declared: 100, carbon: steady(500, NOW) })).cap, 33);
  t.equal(decide(input({ policy: pct, declared: 1, carbon: steady(500, NOW) })).cap, 1, '33% of 1 = 0 -> floor 1');
});

t.test('Azure-operator form: thresholds are upper bounds', async (t) => {
  const azure = validatePolicy({
    maxReplicasByCarbonIntensity: [
      { carbonIntensityThreshold: 437, maxReplicas: 110 },
      { carbonIntensityThreshold: 504, maxReplicas: 60 },
      { carbonIntensityThreshold: 571, maxReplicas: 10 },
    ],
  });
  const table: Array<[number, number, string]> = [
    [0, 100, 'carbonIntensityThreshold<=437'], // first band from 0; capped by declared 100
    [437, 100, 'carbonIntensityThreshold<=437'],
    [437.1, 60, 'carbonIntensityThreshold<=504'],
    [504, 60, 'carbonIntensityThreshold<=504'],
    [505, 10, 'carbonIntensityThreshold<=571'],
    [571, 10, 'carbonIntensityThreshold<=571'],
    [900, 10, 'carbonIntensityThreshold>571'], // above every threshold: the last entry
  ];
  for (const [intensity, cap, rule] of table) {
    const d = decide(input({ policy: azure, carbon: steady(intensity, NOW) }));
    t.equal(d.cap, cap, `${intensity} g -> ${cap}`);
    t.equal(d.rule, rule);
  }
  const zero = validatePolicy({ maxReplicasByCarbonIntensity: [{ carbonIntensityThreshold: 100, maxReplicas: 0 }] });
  t.equal(decide(input({ policy: zero, carbon: steady(50, NOW) })).cap, 1, 'maxReplicas 0 is floored at 1');
});

t.test('eco mode off by annotation, schedule and duration override', async (t) => {
  const byAnnotation = decide(input({ ecoModeOffAnnotation: true, carbon: steady(600, NOW) }));
  t.equal(byAnnotation.cap, 100);
  t.equal(byAnnotation.ecoMode, 'off');
  t.match(byAnnotation.reason, /annotation/);

  const scheduled = parsePolicyText(`
carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 5}]
ecoModeOff:
  recurringSchedule: ["* 23 * * 1-5", "30-59 1 * * *"]
  timeZone: Europe/Amsterdam
`);
  // Across midnight: 23:xx Amsterdam on a weekday is off; 00:00 is on again.
  const monday2300 = Date.parse('2026-11-23T22:15:00Z'); // 23:15 CET (UTC+1)
  const monday2359 = Date.parse('2026-11-23T22:59:00Z');
  const tuesday0000 = Date.parse('2026-11-23T23:00:00Z');
  const saturday2300 = Date.parse('2026-11-28T22:15:00Z');
  const at = (now: number) => decide(input({ policy: scheduled, now, carbon: steady(600, now) }));
  t.equal(at(monday2300).ecoMode, 'off', 'Monday 23:15 Amsterdam matches "* 23 * * 1-5"');
  t.equal(at(monday2300).cap, 100);
  t.match(at(monday2300).reason, /recurringSchedule "\* 23 \* \* 1-5" \(Europe\/Amsterdam\)/);
  t.equal(at(monday2359).ecoMode, 'off', '23:59 is the last minute');
  t.equal(at(tuesday0000).ecoMode, 'on', 'midnight: eco mode is back on');
  t.equal(at(tuesday0000).cap, 5);
  t.equal(at(saturday2300).ecoMode, 'on', 'Saturday does not match 1-5');

  // Across the end of daylight saving time (2026-10-25 03:00 CEST -> 02:00 CET): the
  // 01:30-01:59 window is at 23:30Z before the change; afterwards at 00:30Z.
  t.equal(at(Date.parse('2026-10-24T23:45:00Z')).ecoMode, 'off', '01:45 CEST on the night of the change');
  t.equal(at(Date.parse('2026-10-25T00:45:00Z')).ecoMode, 'on', '02:45 CEST (01:45Z) is outside');
  t.equal(at(Date.parse('2026-10-26T00:45:00Z')).ecoMode, 'off', 'the next night, 01:45 CET is 00:45Z');
  t.equal(at(Date.parse('2026-10-25T23:45:00Z')).ecoMode, 'on', '00:45 CET is outside');
  // Start of DST (2026-03-29 02:00 CET -> 03:00 CEST): 01:30 local still exists, at 00:30Z.
  t.equal(at(Date.parse('2026-03-29T00:40:00Z')).ecoMode, 'off', '01:40 CET before the spring change');

  const override = parsePolicyText(`
carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 5}]
ecoModeOff:
  carbonIntensityDuration: {carbonIntensityThreshold: 555, overrideEcoAfterDurationInMins: 45}
`);
  const hourStart = NOW - (NOW % HOUR); // 10:00, NOW is 10:30
  const high = hourly(hourStart - HOUR, [600, 600], NOW); // 09:00-11:00 all at 600
  const d = decide(input({ policy: override, carbon: high }));
  t.equal(d.ecoMode, 'off', '90 minutes at 600 >= 555 for 45 min');
  t.equal(d.cap, 100);
  t.match(d.reason, /carbonIntensityDuration/);
  const justNow = hourly(hourStart, [600], NOW); // history starts at 10:00: only 30 min
  t.equal(decide(input({ policy: override, carbon: justNow })).ecoMode, 'on', 'history shorter than the window');
  const dipped = hourly(hourStart - HOUR, [500, 600], NOW);
  t.equal(decide(input({ policy: override, carbon: dipped })).ecoMode, 'on', '09:45-10:00 was below the threshold');
  t.equal(decide(input({ policy: override, carbon: dipped, now: hourStart + 45 * MINUTE })).ecoMode, 'off', 'at 10:45 the last 45 min were all 600');
  const gap = {
    ...high,
    points: [high.points[1]!, { timestamp: hourStart - 3 * HOUR, durationMinutes: 60, gCO2eqPerKWh: 600 }].sort((a, b) => a.timestamp - b.timestamp),
  };
  t.equal(decide(input({ policy: override, carbon: gap })).ecoMode, 'on', 'a gap in the history does not count as high');
});

t.test('missing and stale data: onMissingData', async (t) => {
  const stale = hourly(NOW - (NOW % HOUR), [600], NOW - 3 * HOUR); // fetched 3 h ago, maxDataAge 2 h
  const uncovered = hourly(NOW - 5 * HOUR, [600], NOW); // fresh fetch, but no point covers now
  const withRule = (onMissingData: unknown) => validatePolicy({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 5 }], onMissingData });
  for (const [name, carbon, pattern] of [
    ['no data yet', noData(), /no data from test:zone yet/],
    ['stale', stale, /180 min old \(maxDataAge 120 min\)/],
    ['no point covering now', uncovered, /no data point from test:zone covers/],
  ] as const) {
    const declared = decide(input({ policy: withRule(undefined), carbon, currentMax: 40 }));
    t.equal(declared.cap, 100, `${name}: default declared`);
    t.equal(declared.intensity, null);
    t.match(declared.warnings[0], pattern);
    t.match(declared.warnings[0], /using the declared max 100/);
    const held = decide(input({ policy: withRule('hold'), carbon, currentMax: 40 }));
    t.equal(held.cap, 40, `${name}: hold keeps the cap on the object`);
    t.equal(decide(input({ policy: withRule('hold'), carbon, currentMax: undefined })).cap, 100, `${name}: hold with no cap yet is declared`);
    t.equal(decide(input({ policy: withRule('hold'), carbon, currentMax: 500 })).cap, 100, `${name}: hold never exceeds declared`);
    t.equal(decide(input({ policy: withRule(7), carbon })).cap, 7, `${name}: fixed cap`);
    t.equal(decide(input({ policy: withRule(7), carbon, minReplicas: 9 })).cap, 9, `${name}: fixed cap floored`);
  }
  t.equal(decide(input({ policy: withRule(undefined), carbon: stale, ecoModeOffAnnotation: true })).warnings.length, 0, 'eco mode off needs no data');
});

t.test('the decision carries the band it chose, as data', async (t) => {
  const pct = validatePolicy({
    carbon: [
      { measuredEmission: 300, allowedMaxReplicaCount: '50%' },
      { measuredEmission: 500.5, allowedMaxReplicaCount: 2 },
    ],
  });
  const mid = decide(input({ policy: pct, declared: 40, carbon: steady(499.96, NOW) }));
  t.same(mid.band, {
    form: 'carbon',
    threshold: 300,
    percentile: null,
    relation: '>=',
    lower: null,
    allowed: { kind: 'percent', value: 50 },
    allowedCount: 20,
    cap: 20,
    rule: 'measuredEmission>=300',
  });
  t.equal(mid.rule, mid.band?.rule, "rule is the band's rule text");
  const floored = decide(input({ policy: pct, declared: 40, minReplicas: 5, carbon: steady(500.5, NOW) }));
  t.match(
    floored.band,
    { threshold: 500.5, allowed: { kind: 'count', value: 2 }, allowedCount: 2, cap: 5 },
    'allowed as written, the count, and the cap after the floor',
  );
  t.equal(floored.reason, '500.5 gCO2eq/kWh >= 500.5', 'the exact threshold, and the value shown to its side');

  const azure = validatePolicy({
    maxReplicasByCarbonIntensity: [
      { carbonIntensityThreshold: 437, maxReplicas: 110 },
      { carbonIntensityThreshold: 504, maxReplicas: 60 },
    ],
  });
  const az = decide(input({ policy: azure, declared: 200, carbon: steady(437.01, NOW) }));
  t.match(az.band, { form: 'azure', threshold: 504, relation: '<=', lower: 437, allowedCount: 60, cap: 60, rule: 'carbonIntensityThreshold<=504' });
  t.equal(az.reason, '437 < 437.01 <= 504 gCO2eq/kWh');
  const first = decide(input({ policy: azure, declared: 200, carbon: steady(0, NOW) }));
  t.match(first.band, { threshold: 437, relation: '<=', lower: null, cap: 110 });
  t.equal(first.reason, '0 <= 437 gCO2eq/kWh', 'the first band has no lower bound to state');
  const above = decide(input({ policy: azure, declared: 200, carbon: steady(504.2, NOW) }));
  t.match(above.band, { relation: '>', lower: null, threshold: 504, rule: 'carbonIntensityThreshold>504' });
  t.equal(above.reason, '504.2 gCO2eq/kWh > 504, the last entry applies');

  for (const [name, d] of [
    ['below every rule', decide(input({ carbon: steady(12, NOW) }))],
    ['eco mode off', decide(input({ ecoModeOffAnnotation: true }))],
    ['missing data', decide(input({ carbon: noData() }))],
  ] as const) {
    t.equal(d.band, null, `${name}: no band`);
    t.equal(d.rule, null);
  }
});

t.test('shown intensities never cross a threshold', async (t) => {
  t.equal(shownIntensity(412.34, [300, 500], 0), 412, 'far from any threshold: rounded as asked');
  t.equal(shownIntensity(412.34, [300, 500], 1), 412.3);
  t.equal(shownIntensity(499.96, [300, 500], 0), 499.96, 'rounding up to 500 would cross 500');
  t.equal(shownIntensity(499.96, [300, 500], 1), 499.96);
  t.equal(shownIntensity(300.04, [300, 500], 0), 300.04, 'rounding down onto 300 would read as exactly on it');
  t.equal(shownIntensity(300, [300, 500], 1), 300, 'exactly on a threshold');
  t.equal(shownIntensity(299.9999999, [300], 0), 299.9999999, 'no short rounding works: the exact value');
  const d = decide(input({ carbon: steady(299.96, NOW) }));
  t.equal(d.intensity, 299.96, 'the status intensity stays below 300');
  t.equal(d.reason, '299.96 gCO2eq/kWh is below every rule');
});

t.test('one-off windows: eco mode off from start (inclusive) to end (exclusive)', async (t) => {
  const sale = parsePolicyText(`
carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 5}]
ecoModeOff:
  windows:
  - {start: 2026-12-24T00:00:00Z, end: "2026-12-27T00:00:00Z"}
  - {start: "2026-12-31T23:00:00+01:00", end: "2027-01-01T02:00:00+01:00"}
  recurringSchedule: ["* 12 * * *"]
`);
  const at = (iso: string) => {
    const now = Date.parse(iso);
    return decide(input({ policy: sale, now, carbon: steady(600, now) }));
  };
  t.equal(at('2026-12-23T23:59:59.999Z').cap, 5, 'a millisecond before the start: eco mode on');
  const start = at('2026-12-24T00:00:00Z');
  t.equal(start.ecoMode, 'off', 'at the start: off (inclusive)');
  t.equal(start.cap, 100, 'the declared max applies');
  t.equal(start.reason, 'eco mode off: window 2026-12-24T00:00:00Z..2026-12-27T00:00:00Z', 'the reason names the window as written');
  t.same(start.warnings, []);
  t.equal(
    at('2026-12-25T12:30:00Z').reason,
    'eco mode off: window 2026-12-24T00:00:00Z..2026-12-27T00:00:00Z',
    'a window wins over a schedule that also matches',
  );
  t.equal(at('2026-12-26T23:59:59.999Z').ecoMode, 'off', 'the last millisecond inside');
  const end = at('2026-12-27T00:00:00Z');
  t.equal(end.ecoMode, 'on', 'at the end: on again (exclusive)');
  t.equal(end.cap, 5);
  t.equal(at('2026-12-31T21:59:00Z').ecoMode, 'on', 'offsets are honoured: 22:59+01:00 is before the second window');
  t.equal(at('2026-12-31T22:00:00Z').reason, 'eco mode off: window 2026-12-31T23:00:00+01:00..2027-01-01T02:00:00+01:00');
  t.equal(at('2027-01-01T01:00:00Z').ecoMode, 'on', '02:00+01:00 is 01:00Z: the end');
  t.equal(at('2027-06-01T10:00:00Z').cap, 5, 'past windows are ignored');
  // Missing data inside a window: eco mode off still applies (the declared max), as for a schedule.
  const now = Date.parse('2026-12-25T00:00:00Z');
  const gone = decide(input({ policy: validatePolicy({ ...sale0, onMissingData: 2 }), now, carbon: noData() }));
  t.equal(gone.cap, 100);
  t.equal(gone.ecoMode, 'off');
  t.equal(
    decide(input({ policy: sale, now, ecoModeOffAnnotation: true })).reason,
    'eco mode off by annotation keda-carbon.io/eco-mode',
    'the annotation is named first',
  );
});

const sale0 = {
  carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 5 }],
  ecoModeOff: { windows: [{ start: '2026-12-24T00:00:00Z', end: '2026-12-27T00:00:00Z' }] },
};
