import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { main } from '../../src/cli/main.js';

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env: {} } };
}

const OBJECTS = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: web
  namespace: shop
  annotations:
    keda-carbon.io/environmental-impact: |
      carbon:
      - {measuredEmission: 300, allowedMaxReplicaCount: "50%"}
      - {measuredEmission: 500, allowedMaxReplicaCount: 2}
spec:
  minReplicaCount: 3
  maxReplicaCount: 40
  scaleTargetRef: {name: web}
  triggers: [{type: cpu, metricType: Utilization, metadata: {value: "60"}}]
---
apiVersion: keda.sh/v1alpha1
kind: ScaledJob
metadata:
  name: batch
  namespace: shop
  annotations:
    keda-carbon.io/policy: standard
spec:
  jobTargetRef: {template: {spec: {containers: []}}}
  triggers: []
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
`;

t.test('explain: each KEDA object, its policy, rule, declared max, floor, eco mode', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-explain-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'objects.yaml');
  await writeFile(file, OBJECTS);

  // The standard policy is relative: its window is the embedded sample day, twice over in 48
  // hours of half-hour points, with 612 in place of 10:30's 370. Sorted, the 48th of the 96
  // values (p50) is 390 and the 77th (p80) is 500.
  const high = io();
  t.equal(await main(['explain', '-f', file, '--intensity', '612', '--at', '2026-11-23T10:30:00Z'], high.io), 0);
  t.equal(
    high.out.stdout,
    `ScaledObject shop/web
  policy:       annotation keda-carbon.io/environmental-impact
  mode:         enforce
  intensity:    612 gCO2eq/kWh (unknown signal) from given:--intensity over sample:sample (data for 2026-11-23T10:30:00.000Z)
  declared max: 40
  floor:        3 = max(1, minReplicaCount 3)
  eco mode:     on
  rule:         measuredEmission>=500: allowed 2
  why:          612 gCO2eq/kWh >= 500
  cap:          maxReplicaCount 40 -> 3
  warning:      floor max(1, minReplicaCount) = 3 is above the carbon cap 2; using 3

ScaledJob shop/batch
  policy:       policy "standard" (annotation keda-carbon.io/policy)
  mode:         enforce
  intensity:    612 gCO2eq/kWh (unknown signal) from given:--intensity over sample:sample (data for 2026-11-23T10:30:00.000Z)
  declared max: 100 (KEDA default: spec.maxReplicaCount unset)
  floor:        1 = max(1, minReplicaCount 0)
  eco mode:     on
  thresholds:   measuredEmission>=p50 (390), measuredEmission>=p80 (500) over relativeWindow (past 24h, ahead 24h)
  rule:         measuredEmission>=p80 (500): allowed 25 (25% of 100, rounded down)
  why:          612 gCO2eq/kWh >= p80 (500)
  cap:          maxReplicaCount 100 -> 25
`,
  );

  const mid = io();
  t.equal(await main(['explain', '-f', file, '--intensity', '350', '--at', '2026-11-23T10:30:00Z', '--output', 'json'], mid.io), 0);
  const json = JSON.parse(mid.out.stdout);
  t.equal(json[0].plan.maxReplicaCount, 20, '50% of 40');
  t.match(json[0].plan.decision, { rule: 'measuredEmission>=300', declared: 40, floor: 3 });
  t.equal(json[0].thresholds, null, 'an absolute policy has no thresholds to resolve');
  // 350 in place of 10:30's 370 stays below the middle: p50 is now the 48th value, 385; 350 is below both.
  t.same(json[1].thresholds, {
    resolved: true,
    bands: [
      { rule: 'measuredEmission>=p50 (385)', percentile: 50, threshold: 385 },
      { rule: 'measuredEmission>=p80 (500)', percentile: 80, threshold: 500 },
    ],
  });
  t.match(json[1].plan.decision, { rule: null, intensity: 350, cap: 100 });
});

t.test('explain: observe mode and a percentile band say so, with the resolved threshold', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-explain-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'observe.yaml');
  const forecast = join(dir, 'forecast.json');
  const config = join(dir, 'config.yaml');
  // A 24-hour file forecast from 10:00: 100, 110, ... 330; the current hour 290 is p80.
  const values = [290, ...Array.from({ length: 24 }, (_, i) => 100 + i * 10).filter((v) => v !== 290)].slice(0, 24);
  await writeFile(
    forecast,
    JSON.stringify(values.map((v, i) => ({ timestamp: new Date(Date.parse('2026-11-23T10:00:00Z') + i * 3_600_000).toISOString(), duration: 60, value: v }))),
  );
  await writeFile(config, `intensity:\n  provider: file\n  path: ${forecast}\n  signal: average\n  maxDataAge: 1000h\n`);
  await writeFile(
    file,
    `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: web
  namespace: shop
  annotations:
    keda-carbon.io/environmental-impact: '{mode: observe, carbon: [{measuredEmission: p80, allowedMaxReplicaCount: "25%"}]}'
spec: {maxReplicaCount: 40, scaleTargetRef: {name: web}}
`,
  );
  const r = io();
  t.equal(await main(['explain', '-f', file, '--config', config, '--at', '2026-11-23T10:30:00Z'], r.io), 0, r.out.stderr);
  t.match(r.out.stdout, /mode: +observe \(only the status annotation is written; the spec is left as it is\)/);
  t.match(r.out.stdout, /intensity: +290 gCO2eq\/kWh \(average signal\) from file:forecast\.json/);
  t.match(r.out.stdout, /rule: +measuredEmission>=p80 \(290\): allowed 10 \(25% of 40, rounded down\)/);
  t.match(r.out.stdout, /cap: +would be 10 \(observe mode\)\n/);
});

t.test('explain: invalid policy shows the denial and exits 1', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-explain-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.yaml');
  await writeFile(file, OBJECTS.replace('measuredEmission: 300', 'measuredEmission: -3'));
  const r = io();
  t.equal(await main(['explain', '-f', file, '--intensity', '350'], r.io), 1);
  t.match(r.out.stdout, /result: +DENIED/);
  t.match(r.out.stdout, /carbon\[0\]\.measuredEmission: must be a number >= 0, got -3/);
});

t.test('explain: usage errors', async (t) => {
  const cases: Array<[string[], RegExp, number]> = [
    [['explain'], /-f FILE is required/, 2],
    [['explain', '-f', 'x.yaml', '--intensity', 'lots'], /--intensity must be a number >= 0/, 2],
    [['explain', '-f', 'x.yaml', '--at', 'tomorrow'], /--at must be an RFC 3339 time/, 2],
    [['explain', '--bogus'], /Unknown option '--bogus'/, 2],
    [['explain', '-f', '/nonexistent.yaml', '--intensity', '1'], /^keda-carbon explain: cannot read \/nonexistent\.yaml: no such file\n$/, 2],
    [['nope'], /unknown command "nope"/, 2],
  ];
  for (const [argv, message, code] of cases) {
    const r = io();
    t.equal(await main(argv, r.io), code, argv.join(' '));
    t.match(r.out.stderr, message);
  }
  const help = io();
  t.equal(await main(['--help'], help.io), 0);
  t.match(help.out.stdout, /serve +run the admission webhook/);
});

t.test('explain without --intensity opens the source as serve does: location auto is resolved, not sent as a zone', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-explain-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'objects.yaml');
  const config = join(dir, 'config.yaml');
  await writeFile(file, OBJECTS);
  await writeFile(config, 'intensity:\n  provider: uk-carbon-intensity\n  location: auto\n');
  const r = io();
  t.equal(await main(['explain', '-f', file, '--config', config], r.io), 2, 'a configuration that cannot work is an input error');
  t.match(r.out.stderr, /intensity\.location: auto needs the NODE_NAME environment variable/);
  t.equal(r.out.stdout, '', 'nothing explained from a source that could not be opened');
});

const STANDARD = fileURLToPath(new URL('../../docs/examples/scaledobject-standard.yaml', import.meta.url));

t.test("explain --intensity on the README's standard policy resolves its percentiles over the sample source", async (t) => {
  // 11:00 on the sample day is 320; 400 in its place leaves p50 at 390 (p80 500): the dirtier half.
  const r = io();
  t.equal(await main(['explain', '-f', STANDARD, '--intensity', '400', '--at', '2026-11-23T11:00:00Z'], r.io), 0, r.out.stderr);
  t.match(r.out.stdout, /intensity: +400 gCO2eq\/kWh \(unknown signal\) from given:--intensity over sample:sample \(data for 2026-11-23T11:00:00\.000Z\)\n/);
  t.match(r.out.stdout, /thresholds: +measuredEmission>=p50 \(390\), measuredEmission>=p80 \(500\) over relativeWindow \(past 24h, ahead 24h\)\n/);
  t.match(r.out.stdout, /rule: +measuredEmission>=p50 \(390\): allowed 20 \(50% of 40, rounded down\)\n/);
  t.match(r.out.stdout, /cap: +maxReplicaCount 40 -> 20\n/);
  t.notMatch(r.out.stdout, /cannot be resolved/);

  // No band applies: the thresholds are printed all the same. 300 in place of 320 moves p50 to 385.
  const low = io();
  t.equal(await main(['explain', '-f', STANDARD, '--intensity', '300', '--at', '2026-11-23T11:00:00Z'], low.io), 0);
  t.match(low.out.stdout, /thresholds: +measuredEmission>=p50 \(385\), measuredEmission>=p80 \(500\) over/);
  t.match(low.out.stdout, /rule: +none\n +why: +300 gCO2eq\/kWh is below every rule\n +cap: +40 \(unchanged\)/);

  // Without --intensity, the source's own value: 320 at 11:00, below p50 (385).
  const own = io();
  t.equal(await main(['explain', '-f', STANDARD, '--at', '2026-11-23T11:00:00Z'], own.io), 0);
  t.match(own.out.stdout, /intensity: +320 gCO2eq\/kWh \(unknown signal\) from sample:sample/);
  t.match(own.out.stdout, /thresholds: +measuredEmission>=p50 \(385\), measuredEmission>=p80 \(500\) over/);
});

t.test('explain prints the thresholds when eco mode is off and says why when they cannot be resolved', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-explain-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const object = (policy: string) => `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: web
  namespace: shop
  annotations:
    keda-carbon.io/environmental-impact: '${policy}'
spec: {maxReplicaCount: 40, scaleTargetRef: {name: web}}
`;
  const off = join(dir, 'off.yaml');
  await writeFile(off, object('{carbon: [{measuredEmission: p50, allowedMaxReplicaCount: 1}], ecoModeOff: {recurringSchedule: ["* * * * *"]}}'));
  const r = io();
  t.equal(await main(['explain', '-f', off, '--intensity', '612', '--at', '2026-11-23T10:30:00Z'], r.io), 0);
  t.match(r.out.stdout, /eco mode: +off\n +thresholds: +measuredEmission>=p50 \(390\) over relativeWindow/);

  // Two hours of forecast: too little for any percentile, and the line says so.
  const forecast = join(dir, 'forecast.json');
  const config = join(dir, 'config.yaml');
  await writeFile(
    forecast,
    JSON.stringify([
      { timestamp: '2026-11-23T10:00:00Z', duration: 60, value: 300 },
      { timestamp: '2026-11-23T11:00:00Z', duration: 60, value: 500 },
    ]),
  );
  await writeFile(config, `intensity:\n  provider: file\n  path: ${forecast}\n  maxDataAge: 1000h\n`);
  const short = join(dir, 'short.yaml');
  await writeFile(short, object('{carbon: [{measuredEmission: p80, allowedMaxReplicaCount: 1}], relativeWindow: {past: 12h, ahead: 12h}}'));
  const s = io();
  t.equal(await main(['explain', '-f', short, '--config', config, '--intensity', '450', '--at', '2026-11-23T10:30:00Z', '-o', 'json'], s.io), 0);
  const [result] = JSON.parse(s.out.stdout);
  t.same(result.thresholds, {
    resolved: false,
    reason: 'percentile band cannot be resolved: 2h of data in relativeWindow (past 12h, ahead 12h), at least 6h needed',
  });
  t.equal(result.plan.decision.intensity, 450, 'the given value, laid over the 10:00 point');
  const text = io();
  t.equal(await main(['explain', '-f', short, '--config', config, '--intensity', '450', '--at', '2026-11-23T10:30:00Z'], text.io), 0);
  t.match(text.out.stdout, /thresholds: +not resolved: 2h of data in relativeWindow \(past 12h, ahead 12h\), at least 6h needed\n/);
});

t.test('explain --intensity with a source that cannot answer: the given value alone, said on stderr', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-explain-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.yaml');
  await writeFile(
    config,
    `intensity:\n  provider: file\n  path: ${join(dir, 'missing.json')}\npolicies:\n  standard:\n    carbon:\n    - {measuredEmission: p50, allowedMaxReplicaCount: "50%"}\n`,
  );
  const r = io();
  t.equal(await main(['explain', '-f', STANDARD, '--config', config, '--intensity', '400', '--at', '2026-11-23T11:00:00Z'], r.io), 0);
  t.match(r.out.stderr, /^keda-carbon explain: no window for percentile bands: .*missing\.json.*; using --intensity 400 alone\n$/);
  t.match(r.out.stdout, /thresholds: +not resolved: 1h of data/);
  t.match(r.out.stdout, /cap: +40 \(unchanged\)/, 'onMissingData declared, as in the webhook');

  // A source this machine cannot open (location auto outside a cluster) is no reason to refuse a value given by hand.
  await writeFile(
    config,
    'intensity:\n  provider: uk-carbon-intensity\n  location: auto\npolicies:\n  standard:\n    carbon:\n    - {measuredEmission: p50, allowedMaxReplicaCount: "50%"}\n',
  );
  const auto = io();
  t.equal(await main(['explain', '-f', STANDARD, '--config', config, '--intensity', '400', '--at', '2026-11-23T11:00:00Z'], auto.io), 0);
  t.match(
    auto.out.stderr,
    /^keda-carbon explain: no window for percentile bands: intensity\.location: auto needs the NODE_NAME environment variable.*; using --intensity 400 alone\n$/,
  );
  t.match(auto.out.stdout, /thresholds: +not resolved: 1h of data/);
});
