import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { runConvert } from '../../src/cli/convert.js';
import { main } from '../../src/cli/main.js';
import { convertScaler, convertText } from '../../src/convert/azure.js';
import { formatAnnotate, shellQuote } from '../../src/convert/format.js';
import { parsePolicyText } from '../../src/core/policy.js';
import { captureIO } from '../helpers/io.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'azure', 'carbonawarekedascaler-sample.yaml');
const SAMPLE = readFileSync(FIXTURE, 'utf8');
const sample = () => parseYaml(SAMPLE) as Record<string, any>;

const capture = () => captureIO();

/** Run the printed commands in a POSIX shell with kubectl replaced by one that prints its arguments, one per line. */
function shellArgs(script: string): string[][] {
  const out = execFileSync('/bin/sh', ['-c', `kubectl() { printf '%s\\0' "$@"; printf '\\n'; }\n${script}`], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\0').filter((a) => a !== ''));
}

t.test('the documented sample: bands unchanged, schedules and duration carried over', async (t) => {
  const { conversions } = convertText(SAMPLE, 'sample.yaml', Date.parse('2026-01-01T00:00:00Z'));
  t.equal(conversions.length, 1);
  const c = conversions[0]!;
  t.same(c.target, { kind: 'ScaledObject', namespace: 'default', name: 'mynginx-scaledobject' });
  t.equal(c.scaler, 'default/carbonawarekedascaler-sample');
  t.same(c.policy, {
    maxReplicasByCarbonIntensity: [
      { carbonIntensityThreshold: 566, maxReplicas: 110 },
      { carbonIntensityThreshold: 633, maxReplicas: 60 },
      { carbonIntensityThreshold: 700, maxReplicas: 10 },
    ],
    ecoModeOff: {
      recurringSchedule: ['* 22-23 * * 1-5', '* 00-01 * * 1-5'],
      carbonIntensityDuration: { carbonIntensityThreshold: 688, overrideEcoAfterDurationInMins: 60 },
    },
  });
  const notes = c.notes.join('\n');
  t.match(notes, /customSchedule window 2023-03-14T22:00:00Z to 2023-03-14T23:59:59Z is over, so it is left out/);
  t.notMatch(notes, /kubectl annotate/, 'no commands to run by hand');
  t.match(notes, /ecoModeOff\.maxReplicas 100 has no equivalent: with eco mode off keda-carbon runs the ScaledObject at its own declared max/);
  t.match(notes, /maxReplicas 110 is above ecoModeOff\.maxReplicas 100/);
  t.match(notes, /mockCarbonForecast: .*global.*provider: sample/);
  t.match(
    notes,
    /localConfigMap is unused while mockCarbonForecast is true; .*provider: exporter-configmap, configMap: \{namespace: kube-system, name: carbon-intensity, key: data\}/,
  );
});

t.test('the annotate command survives a real shell and parses as our policy', async (t) => {
  const text = formatAnnotate(convertText(SAMPLE, 'sample.yaml').conversions);
  t.match(text, /^# CarbonAwareKedaScaler default\/carbonawarekedascaler-sample -> ScaledObject default\/mynginx-scaledobject$/m);
  t.match(text, /^# note: /m);
  const [args] = shellArgs(text);
  t.same(args!.slice(0, 4), ['annotate', 'scaledobject', '-n', 'default']);
  t.equal(args![4], 'mynginx-scaledobject');
  t.equal(args![6], '--overwrite');
  const [key, value] = [args![5]!.slice(0, args![5]!.indexOf('=')), args![5]!.slice(args![5]!.indexOf('=') + 1)];
  t.equal(key, 'keda-carbon.io/environmental-impact');
  const policy = parsePolicyText(value);
  t.equal(policy.form, 'azure');
  t.same(
    policy.bands.map((b) => [b.threshold, b.allowed.value]),
    [
      [566, 110],
      [633, 60],
      [700, 10],
    ],
  );
  t.same(
    policy.ecoModeOff.schedules.map((s) => s.expression),
    ['* 22-23 * * 1-5', '* 00-01 * * 1-5'],
  );
  t.same(policy.ecoModeOff.duration, { threshold: 688, minutes: 60 });
  // Monday 22:30 UTC matches the first schedule, as in the operator (UTC in both).
  t.ok(policy.ecoModeOff.schedules[0]!.matches(Date.parse('2026-11-23T22:30:00Z')));
});

t.test('shell quoting handles single quotes', async (t) => {
  const nasty = `it's "quoted" $HOME \`x\` '' \\ end`;
  t.equal(shellQuote("a'b"), `'a'\\''b'`);
  const [args] = shellArgs(`kubectl ${shellQuote(nasty)}`);
  t.same(args, [nasty]);
});

t.test('ecoModeOff.maxReplicas 0: the advice is one KEDA accepts', async (t) => {
  const scaler = sample();
  scaler.spec.ecoModeOff.maxReplicas = 0;
  const dir = t.testdir({ 'in.yaml': JSON.stringify(scaler) });
  const c = capture();
  t.equal(await runConvert(['-f', join(dir, 'in.yaml')], c.io), 0);
  const notes = c
    .out()
    .split('\n')
    .filter((l) => l.includes('ecoModeOff.maxReplicas'));
  t.equal(notes.length, 1, 'one note on it, and no band is "above" 0');
  t.notMatch(notes[0], /set spec\.maxReplicaCount to 0/);
  t.match(notes[0], /KEDA rejects maxReplicaCount 0\. Leave spec\.maxReplicaCount as it is \(at least 1\)/);
});

t.test('--format patch: kustomize patches whose annotation is our policy', async (t) => {
  const dir = t.testdir({ 'in.yaml': SAMPLE });
  const c = capture();
  t.equal(await runConvert(['-f', join(dir, 'in.yaml'), '--format', 'patch'], c.io), 0);
  const docs = parseAllDocuments(c.out()).map((d) => d.toJS() as Record<string, any>);
  t.equal(docs.length, 1);
  t.same(
    { apiVersion: docs[0]!.apiVersion, kind: docs[0]!.kind, name: docs[0]!.metadata.name, namespace: docs[0]!.metadata.namespace },
    { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', name: 'mynginx-scaledobject', namespace: 'default' },
  );
  const policy = parsePolicyText(docs[0]!.metadata.annotations['keda-carbon.io/environmental-impact']);
  t.same(
    policy.bands.map((b) => b.threshold),
    [566, 633, 700],
  );
  t.match(c.out(), /^# note: ecoModeOff\.maxReplicas 100/m);
});

t.test('several scalers: multi-document, a List, ScaledJob targets, other objects skipped', async (t) => {
  const job = sample();
  job.metadata = { name: 'jobs-scaler', namespace: 'batch' };
  job.spec.kedaTarget = 'scaledjobs.keda.sh';
  job.spec.kedaTargetRef = { name: 'nightly', namespace: 'batch' };
  delete job.spec.ecoModeOff;
  delete job.spec.carbonIntensityForecastDataSource;
  const list = { apiVersion: 'v1', kind: 'List', items: [job, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }] };
  const text = `${SAMPLE}---\n${JSON.stringify(list)}\n---\n# empty\n`;
  const dir = t.testdir({ 'in.yaml': text });
  const c = capture();
  t.equal(await runConvert(['-f', join(dir, 'in.yaml')], c.io), 0);
  const cmds = shellArgs(c.out());
  t.same(
    cmds.map((a) => a.slice(1, 5)),
    [
      ['scaledobject', '-n', 'default', 'mynginx-scaledobject'],
      ['scaledjob', '-n', 'batch', 'nightly'],
    ],
  );
  // Without ecoModeOff the policy holds the bands only, and no notes are needed.
  t.equal(cmds[1]![5], `keda-carbon.io/environmental-impact=${JSON.stringify({ maxReplicasByCarbonIntensity: job.spec.maxReplicasByCarbonIntensity })}`);
  t.match(c.out(), /-> ScaledJob batch\/nightly\nkubectl/);
  t.match(c.err(), /skipped 1 object\(s\) that are not CarbonAwareKedaScaler: default\/x \(ConfigMap\)/);
});

t.test('two scalers for one target: noted, the last wins', async (t) => {
  const second = sample();
  second.metadata.name = 'second';
  const { conversions } = convertText(`${SAMPLE}---\n${JSON.stringify(second)}`, 'in.yaml');
  t.equal(conversions.length, 2);
  t.match(
    conversions[1]!.notes.join('\n'),
    /CarbonAwareKedaScaler default\/carbonawarekedascaler-sample also targets this ScaledObject; this later one replaces its annotation/,
  );
});

t.test('maxReplicas 0 and an empty duration block', async (t) => {
  const s = sample();
  s.spec.maxReplicasByCarbonIntensity[2].maxReplicas = 0;
  s.spec.ecoModeOff.carbonIntensityDuration = {};
  const c = convertScaler(s, 'x');
  t.match(c.notes.join('\n'), /maxReplicas 0 \(at carbonIntensityThreshold 700\) becomes max\(1, minReplicaCount\)/);
  t.equal(c.policy.ecoModeOff?.carbonIntensityDuration, undefined, 'zeros (the operator reads an empty block so) mean no override');
});

t.test('broken inputs: an error naming the object and the field', async (t) => {
  const cases: [string, (s: Record<string, any>) => void, RegExp][] = [
    [
      'apiVersion',
      (s) => (s.apiVersion = 'carbonaware.kubernetes.azure.com/v1'),
      /^default\/carbonawarekedascaler-sample: apiVersion: must be carbonaware\.kubernetes\.azure\.com\/v1alpha1, got "carbonaware\.kubernetes\.azure\.com\/v1"$/,
    ],
    ['spec', (s) => delete s.spec, /carbonawarekedascaler-sample: spec: is required/],
    [
      'kedaTarget',
      (s) => (s.spec.kedaTarget = 'deployments.apps'),
      /: spec\.kedaTarget: must be scaledobjects\.keda\.sh or scaledjobs\.keda\.sh, got "deployments\.apps"/,
    ],
    ['kedaTargetRef', (s) => delete s.spec.kedaTargetRef, /: spec\.kedaTargetRef: is required/],
    ['target name', (s) => (s.spec.kedaTargetRef.name = 'My App; rm -rf /'), /: spec\.kedaTargetRef\.name: must be a Kubernetes object name/],
    ['target namespace', (s) => delete s.spec.kedaTargetRef.namespace, /: spec\.kedaTargetRef\.namespace: is required/],
    ['no bands', (s) => (s.spec.maxReplicasByCarbonIntensity = []), /: spec\.maxReplicasByCarbonIntensity: must be a non-empty list/],
    [
      'band threshold',
      (s) => (s.spec.maxReplicasByCarbonIntensity[1].carbonIntensityThreshold = 'high'),
      /: spec\.maxReplicasByCarbonIntensity\[1\]\.carbonIntensityThreshold: must be an integer >= 0, got "high"/,
    ],
    [
      'band replicas',
      (s) => (s.spec.maxReplicasByCarbonIntensity[0].maxReplicas = -1),
      /: spec\.maxReplicasByCarbonIntensity\[0\]\.maxReplicas: must be an integer >= 0, got -1/,
    ],
    [
      'duplicate threshold',
      (s) => (s.spec.maxReplicasByCarbonIntensity[1].carbonIntensityThreshold = 566),
      /: spec\.maxReplicasByCarbonIntensity: two rules have the same carbonIntensityThreshold 566/,
    ],
    ['cron', (s) => (s.spec.ecoModeOff.recurringSchedule[1] = '* * *'), /: spec\.ecoModeOff\.recurringSchedule\[1\]: must be a cron expression with 5 fields/],
    ['schedule list', (s) => (s.spec.ecoModeOff.recurringSchedule = '* 22 * * *'), /: spec\.ecoModeOff\.recurringSchedule: must be a list of cron expressions/],
    [
      'duration minutes',
      (s) => (s.spec.ecoModeOff.carbonIntensityDuration.overrideEcoAfterDurationInMins = 0),
      /: spec\.ecoModeOff\.carbonIntensityDuration\.overrideEcoAfterDurationInMins: must be an integer >= 1, got 0/,
    ],
    [
      'custom start',
      (s) => (s.spec.ecoModeOff.customSchedule[0].startTime = 'tonight'),
      /: spec\.ecoModeOff\.customSchedule\[0\]\.startTime: must be an RFC 3339 time/,
    ],
    [
      'custom order',
      (s) => (s.spec.ecoModeOff.customSchedule[0].endTime = '2023-03-14T21:00:00Z'),
      /: spec\.ecoModeOff\.customSchedule\[0\]\.endTime: must be after startTime/,
    ],
    ['eco maxReplicas', (s) => (s.spec.ecoModeOff.maxReplicas = 'all'), /: spec\.ecoModeOff\.maxReplicas: must be an integer >= 0/],
  ];
  for (const [what, mutate, message] of cases) {
    const s = sample();
    mutate(s);
    t.throws(() => convertText(JSON.stringify(s), 'in.yaml'), { name: 'ConvertError', message }, what);
  }
});

t.test('broken files: unnamed objects are named by document index', async (t) => {
  const unnamed = sample();
  delete unnamed.metadata;
  unnamed.spec.kedaTarget = 'x';
  t.throws(() => convertText(`kind: ConfigMap\n---\n${JSON.stringify(unnamed)}`, 'in.yaml'), /^in\.yaml: document 2: spec\.kedaTarget: must be/);
  t.throws(
    () => convertText('kind: ConfigMap\nmetadata: {name: a}\n', 'in.yaml'),
    /^in\.yaml: no CarbonAwareKedaScaler \(carbonaware\.kubernetes\.azure\.com\/v1alpha1\) found; found default\/a \(ConfigMap\)$/,
  );
  t.throws(() => convertText('a: [1, 2\n', 'in.yaml'), /^in\.yaml: line \d+, column \d+: not valid YAML/);
  t.throws(() => convertText('', 'in.yaml'), /no CarbonAwareKedaScaler/);
});

t.test('the command: usage errors and exit codes through main', async (t) => {
  const none = capture();
  t.equal(await runConvert([], none.io), 2);
  t.match(none.err(), /^keda-carbon convert: -f FILE is required/);
  const helm = capture();
  t.equal(await runConvert(['-f', FIXTURE, '--format', 'helm'], helm.io), 2);
  t.match(helm.err(), /--format must be annotate or patch, got "helm"/);
  const missing = capture();
  t.equal(await main(['convert', '-f', '/nonexistent/in.yaml'], missing.io), 2, 'an unreadable input is an input error');
  t.equal(missing.err(), 'keda-carbon convert: cannot read /nonexistent/in.yaml: no such file\n');
  const dir = t.testdir({ 'bad.yaml': SAMPLE.replace('scaledobjects.keda.sh', 'scaledobjects.keda') });
  const bad = capture();
  t.equal(await main(['convert', '-f', join(dir, 'bad.yaml')], bad.io), 2, 'a scaler that cannot be converted is an input error');
  t.match(
    bad.err(),
    /default\/carbonawarekedascaler-sample: spec\.kedaTarget: must be scaledobjects\.keda\.sh or scaledjobs\.keda\.sh, got "scaledobjects\.keda"/,
  );
  t.equal(bad.out(), '', 'nothing printed for a broken input');
  const yamlDir = t.testdir({ 'broken.yaml': 'kind: CarbonAwareKedaScaler\nspec: [1, 2\n', 'none.yaml': 'kind: ConfigMap\n' });
  for (const [file, says] of [
    ['broken.yaml', /^keda-carbon convert: .*broken\.yaml: line \d+, column \d+: not valid YAML: [^\n]*[^:\n]\n$/],
    ['none.yaml', /^keda-carbon convert: .*none\.yaml: no CarbonAwareKedaScaler .*found; found .*\(ConfigMap\)\n$/],
  ] as const) {
    const c = capture();
    t.equal(await main(['convert', '-f', join(yamlDir, file)], c.io), 2, `${file}: exit 2, as every command on bad input`);
    t.match(c.err(), says);
    t.equal(c.out(), '', `${file}: nothing on stdout`);
  }
  const help = capture();
  t.equal(await main(['convert', '--help'], help.io), 0);
  t.match(help.out(), /Usage: keda-carbon convert -f FILE/);
});

t.test('-o json: each conversion as data, the same policy the annotation carries', async (t) => {
  const c = capture();
  t.equal(await runConvert(['-f', FIXTURE, '-o', 'json'], c.io), 0, c.err());
  const [conversion, ...rest] = JSON.parse(c.out()) as Array<{ scaler: string; target: unknown; policy: unknown; notes: string[] }>;
  t.same(rest, []);
  t.equal(conversion!.scaler, 'default/carbonawarekedascaler-sample');
  t.same(conversion!.target, { kind: 'ScaledObject', namespace: 'default', name: 'mynginx-scaledobject' });
  const [args] = shellArgs(formatAnnotate(convertText(SAMPLE, 'sample.yaml').conversions));
  const annotation = args!.find((a) => a.startsWith('keda-carbon.io/environmental-impact='))!;
  t.same(conversion!.policy, JSON.parse(annotation.slice(annotation.indexOf('=') + 1)));
  t.ok(conversion!.notes.length > 0, 'the notes come along');
  const yaml = capture();
  t.equal(await runConvert(['-f', FIXTURE, '--output', 'yaml'], yaml.io), 2);
  t.match(yaml.err(), /--output must be text or json, got "yaml"/);
});
