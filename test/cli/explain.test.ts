import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  const high = io();
  t.equal(await main(['explain', '-f', file, '--intensity', '612', '--at', '2026-11-23T10:30:00Z'], high.io), 0);
  t.equal(
    high.out.stdout,
    `ScaledObject shop/web
  policy:       annotation keda-carbon.io/environmental-impact
  mode:         enforce
  intensity:    612 gCO2eq/kWh (unknown signal) from given:--intensity (data for 2026-11-23T10:00:00.000Z)
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
  intensity:    612 gCO2eq/kWh (unknown signal) from given:--intensity (data for 2026-11-23T10:00:00.000Z)
  declared max: 100 (KEDA default: spec.maxReplicaCount unset)
  floor:        1 = max(1, minReplicaCount 0)
  eco mode:     on
  rule:         none
  why:          percentile band cannot be resolved: 1h of data in relativeWindow (past 24h, ahead 24h), at least 6h needed; onMissingData declared
  cap:          maxReplicaCount 100 -> 100
  warning:      percentile band cannot be resolved: 1h of data in relativeWindow (past 24h, ahead 24h), at least 6h needed; using the declared max 100
`,
  );

  const mid = io();
  t.equal(await main(['explain', '-f', file, '--intensity', '350', '--output', 'json'], mid.io), 0);
  const json = JSON.parse(mid.out.stdout);
  t.equal(json[0].plan.maxReplicaCount, 20, '50% of 40');
  t.match(json[0].plan.decision, { rule: 'measuredEmission>=300', declared: 40, floor: 3 });
  t.equal(json[1].plan.maxReplicaCount, 100, 'the embedded standard is relative: one given value cannot resolve a percentile');
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
