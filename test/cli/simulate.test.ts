import { XMLValidator } from 'fast-xml-parser';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { main } from '../../src/cli/main.js';
import { runSimulate } from '../../src/cli/simulate.js';
import { captureIO } from '../helpers/io.js';

const capture = () => captureIO();

// Half-hour points: 250, 520, 350, 290 (see timeline.test.ts for the arithmetic).
const CSV = `timestamp,duration,value
2026-06-01T00:00:00Z,30,250
2026-06-01T00:30:00Z,30,520
2026-06-01T01:00:00Z,30,350
2026-06-01T01:30:00Z,30,290
`;
const POLICY = `carbon:
- measuredEmission: 300
  allowedMaxReplicaCount: "50%"
- measuredEmission: 500
  allowedMaxReplicaCount: 10
`;
const SCALED_OBJECT = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: worker
  namespace: jobs
  annotations:
    keda-carbon.io/environmental-impact: '{"carbon":[{"measuredEmission":300,"allowedMaxReplicaCount":"50%"}]}'
spec:
  scaleTargetRef: {name: worker}
  maxReplicaCount: 40
  minReplicaCount: 2
`;

function files(t: { testdir(files: Record<string, string>): string }, extra: Record<string, string> = {}) {
  return t.testdir({ 'forecast.csv': CSV, 'policy.yaml': POLICY, 'so.yaml': SCALED_OBJECT, ...extra });
}

// Hourly points from 00:30: the Azure operator reconciles on the hour, half an hour late
// (timeline.test.ts has the arithmetic).
const OFFSET_CSV = `timestamp,duration,value
2026-06-01T00:30:00Z,60,250
2026-06-01T01:30:00Z,60,520
2026-06-01T02:30:00Z,60,350
2026-06-01T03:30:00Z,60,290
`;

t.test('text output: timeline, summary for both views, suggestions, edge notes', async (t) => {
  const dir = files(t, { 'offset.csv': OFFSET_CSV });
  const c = capture();
  t.equal(await runSimulate(['--policy', join(dir, 'policy.yaml'), '--forecast', join(dir, 'offset.csv')], c.io), 0);
  const out = c.out();
  t.match(out, /2026-06-01 01:30Z\s+2026-06-01 02:30Z\s+520\s+10\s+on\s+measuredEmission>=500/);
  t.match(out, /following the forecast\s+Azure operator\n/);
  t.match(out, /replica-hours withheld\s+140 \(35%\)\s+140 \(35%\)/);
  t.match(out, /intensity the allowed capacity sees\s+295 g\/kWh\s+330\.2 g\/kWh/);
  t.match(out, /as the Azure operator does: the same replica-hours, and the allowed capacity runs at 35\.2 gCO2eq\/kWh less on average/);
  t.match(out, /Azure operator: the same decision, taken only when the Azure carbon-aware KEDA operator reconciles/);
  // Sorted 250, 290, 350, 520 (an hour each): p50 covers 2 of 4 h -> 290; p80 3.2 h -> 520.
  t.match(out, /p50 = 290, p80 = 520/);
  t.match(out, /onMissingData \(declared: the declared max\)/);
  t.equal(c.err(), '');
});

t.test('json output and the chart', async (t) => {
  const dir = files(t);
  const c = capture();
  const chart = join(dir, 'chart.svg');
  t.equal(
    await runSimulate(
      ['--policy', join(dir, 'policy.yaml'), '--forecast', join(dir, 'forecast.csv'), '--output', 'json', '--out', chart, '--declared', '10'],
      c.io,
    ),
    0,
  );
  const report = JSON.parse(c.out());
  // Declared 10: 250 -> 10, 520 -> 10 (band 10), 350 -> 50% of 10 = 5, 290 -> 10.
  t.same(
    report.timeline.map((iv: { cap: number }) => iv.cap),
    [10, 10, 5, 10],
  );
  t.equal(report.timeline[0].end, '2026-06-01T00:30:00.000Z', 'same cap, different intensity: separate rows');
  t.equal(report.summary.allowedReplicaHours, 17.5); // 0.5 x (10 + 10 + 5 + 10)
  // Half-hour points on the half hours: the operator reconciles at each of them.
  t.same(
    report.operator.timeline.map((iv: { start: string; cap: number }) => [iv.start.slice(11, 16), iv.cap]),
    [
      ['00:00', 10],
      ['00:30', 10],
      ['01:00', 5],
      ['01:30', 10],
    ],
  );
  t.same(report.operator.summary, report.summary);
  t.notOk('hourly' in report, 'no key left from the hourly comparison');
  t.equal(report.declared, 10);
  t.equal(report.chart, chart);
  t.equal(XMLValidator.validate(readFileSync(chart, 'utf8')), true);
});

t.test('a ScaledObject manifest brings its own declared max and min', async (t) => {
  const dir = files(t);
  const c = capture();
  t.equal(await runSimulate(['--policy', join(dir, 'so.yaml'), '--forecast', join(dir, 'forecast.csv'), '--output', 'json'], c.io), 0);
  const report = JSON.parse(c.out());
  t.equal(report.declared, 40);
  t.equal(report.floor, 2);
  t.match(report.policy.origin, 'ScaledObject jobs/worker (annotation keda-carbon.io/environmental-impact)');
  // 250 -> 40; 520, 350 -> 50% of 40 = 20; 290 -> 40.
  t.same(
    report.timeline.map((iv: { cap: number }) => iv.cap),
    [40, 20, 20, 40],
  );
  const c2 = capture();
  await runSimulate(['--policy', join(dir, 'so.yaml'), '--forecast', join(dir, 'forecast.csv'), '--output', 'json', '--declared', '8'], c2.io);
  t.equal(JSON.parse(c2.out()).declared, 8, '--declared overrides the manifest');
});

t.test('--config fetches the forecast from the configured source', async (t) => {
  // A live source serves data around now (the store keeps 48 h of history), so the file
  // here starts at the current hour.
  const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  const rows = [250, 520, 350, 290].map((v, i) => `${new Date(hour + i * 1_800_000).toISOString()},30,${v}`);
  const dir = files(t, { 'live.csv': `timestamp,duration,value\n${rows.join('\n')}\n` });
  const cfg = join(dir, 'config.yaml');
  writeFileSync(cfg, `intensity:\n  provider: file\n  path: ${join(dir, 'live.csv')}\n`);
  const c = capture();
  t.equal(await runSimulate(['--policy', join(dir, 'policy.yaml'), '--config', cfg, '--output', 'json'], c.io), 0);
  const report = JSON.parse(c.out());
  t.equal(report.forecast.points, 4);
  t.match(report.forecast.origin, /^file:live\.csv \(fetched now, from .*config\.yaml\)$/);
  t.same(
    report.timeline.map((iv: { cap: number }) => iv.cap),
    [100, 10, 50, 100],
  );
});

/** Runs simulate and returns its exit code and the one error line it printed. */
async function fails(argv: string[]) {
  const c = capture();
  const code = await runSimulate(argv, c.io);
  return { code, err: c.err(), out: c.out() };
}

t.test('bad flags are usage errors', async (t) => {
  const dir = files(t);
  const p = join(dir, 'policy.yaml');
  const f = join(dir, 'forecast.csv');
  const cases: [string[], RegExp][] = [
    [['--forecast', f], /--policy FILE is required/],
    [['--policy', p], /exactly one of --forecast FILE or --config FILE/],
    [['--policy', p, '--forecast', f, '--config', 'x.yaml'], /exactly one of/],
    [['--policy', p, '--forecast', f, '--declared', 'ten'], /--declared must be an integer >= 1, got "ten"/],
    [['--policy', p, '--forecast', f, '--declared', '0'], /--declared must be an integer >= 1/],
    [['--policy', p, '--forecast', f, '--min=-1'], /--min must be an integer >= 0, got "-1"/],
    [['--policy', p, '--forecast', f, '--min', '5', '--declared', '3'], /--min 5 is above the declared max 3/],
    [['--policy', p, '--forecast', f, '--output', 'yaml'], /--output must be text or json/],
    [['--policy', p, '--forecast', f, '--bogus'], /bogus/],
  ];
  for (const [argv, message] of cases) {
    const r = await fails(argv);
    t.equal(r.code, 2, argv.join(' '));
    t.match(r.err, new RegExp(`^keda-carbon simulate: .*${message.source}`));
    t.equal(r.out, '');
  }
});

t.test('bad inputs name the file and the problem', async (t) => {
  const dir = files(t, {
    'bad-policy.yaml': 'carbon:\n- measuredEmission: -5\n  allowedMaxReplicaCount: 3\n',
    'unordered.csv': 'timestamp,duration,value\n2026-06-01T01:00:00Z,60,300\n2026-06-01T00:00:00Z,60,300\n',
    'header.csv': 'time,value\n2026-06-01T01:00:00Z,300\n',
    'no-policy.yaml': 'apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\nspec: {}\n',
    'two.yaml': `${SCALED_OBJECT}---\n${SCALED_OBJECT.replace('name: worker\n', 'name: other\n')}`,
    'so-bad.yaml': SCALED_OBJECT.replace('"50%"', '"150%"'),
  });
  const f = join(dir, 'forecast.csv');
  const cases: [string, string, RegExp][] = [
    ['bad-policy.yaml', f, /bad-policy\.yaml: invalid policy: carbon\[0\]\.measuredEmission: must be a number >= 0, got -5/],
    ['policy.yaml', join(dir, 'unordered.csv'), /point 1 .* out of order/],
    ['policy.yaml', join(dir, 'header.csv'), /header\.csv: line 1 must be the CSV header/],
    ['policy.yaml', join(dir, 'missing.csv'), /cannot read .*missing\.csv: no such file$/],
    ['missing.yaml', f, /cannot read .*missing\.yaml: no such file$/],
    ['no-policy.yaml', f, /no ScaledObject or ScaledJob here carries a policy/],
    ['two.yaml', f, /2 objects carry a policy \(jobs\/worker, jobs\/other\)/],
    ['so-bad.yaml', f, /ScaledObject jobs\/worker annotation keda-carbon\.io\/environmental-impact: invalid policy: carbon\[0\]\.allowedMaxReplicaCount/],
  ];
  for (const [policy, forecast, message] of cases) {
    const r = await fails(['--policy', join(dir, policy), '--forecast', forecast]);
    t.equal(r.code, 2, `${policy} over ${forecast}: an input error`);
    t.match(r.err.trimEnd(), message);
  }
  const chart = await fails(['--policy', join(dir, 'policy.yaml'), '--forecast', f, '--out', join(dir, 'no-such-dir', 'chart.svg')]);
  t.equal(chart.code, 1);
  t.match(chart.err, /cannot write the chart to .*chart\.svg: no such file/);
});

t.test('KEDA_CARBON_CONFIG stands in for --config; --forecast and --config as flags still win', async (t) => {
  const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  const csv = (v: number) => `timestamp,duration,value\n${new Date(hour).toISOString()},60,${v}\n`;
  const dir = files(t, { 'env.csv': csv(520), 'flag.csv': csv(350) });
  const cfg = (name: string) => {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(path, `intensity:\n  provider: file\n  path: ${join(dir, `${name}.csv`)}\n`);
    return path;
  };
  const env = { KEDA_CARBON_CONFIG: cfg('env') };
  const flagConfig = cfg('flag');
  const run = async (argv: string[]) => {
    const c = capture();
    const code = await runSimulate(['--policy', join(dir, 'policy.yaml'), '--output', 'json', ...argv], { ...c.io, env });
    t.equal(code, 0, c.err());
    return JSON.parse(c.out()) as { forecast: { origin: string }; timeline: { intensity: number }[] };
  };
  t.match((await run([])).forecast.origin, /^file:env\.csv /, 'the environment alone');
  t.match((await run(['--config', flagConfig])).forecast.origin, /^file:flag\.csv /, 'the flag beats the environment');
  t.equal((await run(['--forecast', join(dir, 'forecast.csv')])).forecast.origin, join(dir, 'forecast.csv'), '--forecast beats a config from the environment');
});

t.test('through main: exit codes and messages', async (t) => {
  const dir = files(t);
  const ok = capture();
  t.equal(await main(['simulate', '--policy', join(dir, 'policy.yaml'), '--forecast', join(dir, 'forecast.csv')], ok.io), 0);
  const usage = capture();
  t.equal(await main(['simulate', '--policy', join(dir, 'policy.yaml')], usage.io), 2);
  t.match(usage.err(), /^keda-carbon simulate: give exactly one of/);
  const help = capture();
  t.equal(await main(['simulate', '--help'], help.io), 0);
  t.match(help.out(), /Usage: keda-carbon simulate/);
});
