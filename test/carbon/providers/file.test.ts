import { mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { until } from '../../helpers/until.js';
import { parseIntensityConfig } from '../../../src/config/intensity.js';
import { createFileSource, parseForecastFile } from '../../../src/carbon/providers/file.js';

const T = Date.UTC(2026, 5, 1, 13);
const dir = mkdtempSync(join(tmpdir(), 'keda-carbon-file-'));

t.test('JSON in the exporter element shape, location optional', async (t) => {
  const pts = parseForecastFile(
    JSON.stringify([
      { location: 'westus', timestamp: '2026-06-01T13:00:00Z', duration: 30, value: 210 },
      { location: 'westus', timestamp: '2026-06-01T13:30:00Z', duration: 30, value: 250.5 },
      { location: 'eastus', timestamp: '2026-06-01T13:00:00Z', duration: 30, value: 400 },
    ]),
    'f.json',
    'WestUS',
  );
  t.same(pts, [
    { timestamp: T, durationMinutes: 30, gCO2eqPerKWh: 210 },
    { timestamp: T + 30 * 60_000, durationMinutes: 30, gCO2eqPerKWh: 250.5 },
  ]);
  t.same(parseForecastFile('[{"timestamp":"2026-06-01T13:00:00Z","duration":60,"value":1}]', 'f.json'), [
    { timestamp: T, durationMinutes: 60, gCO2eqPerKWh: 1 },
  ]);
  t.throws(
    () =>
      parseForecastFile(
        '[{"location":"a","timestamp":"2026-06-01T13:00:00Z","duration":60,"value":1},{"location":"b","timestamp":"2026-06-01T14:00:00Z","duration":60,"value":1}]',
        'f.json',
      ),
    /several locations \(a, b\); set intensity.location/,
  );
  t.throws(
    () => parseForecastFile('[{"location":"a","timestamp":"2026-06-01T13:00:00Z","duration":60,"value":1}]', 'f.json', 'b'),
    /no element for location b \(the file has a\)/,
  );
  t.throws(
    () => parseForecastFile('[{"timestamp":"2026-06-01T13:00:00Z","duration":"an hour","value":1}]', 'f.json'),
    /file f.json: element 0 duration: "an hour" is not a finite number/,
  );
  t.throws(() => parseForecastFile('[{"timestamp":', 'f.json'), /file f.json: not valid JSON/);
  t.throws(() => parseForecastFile('{"timestamp":"x"}', 'f.json'), /file f.json is not a JSON array/);
});

t.test('CSV with the header timestamp,duration,value', async (t) => {
  const pts = parseForecastFile('timestamp,duration,value\r\n2026-06-01T13:00:00Z,60,300\n\n2026-06-01T14:00:00Z, 60 , 480.5\n', 'f.csv');
  t.same(pts, [
    { timestamp: T, durationMinutes: 60, gCO2eqPerKWh: 300 },
    { timestamp: T + 3_600_000, durationMinutes: 60, gCO2eqPerKWh: 480.5 },
  ]);
  t.throws(() => parseForecastFile('time,value\n2026-06-01T13:00:00Z,1', 'f.csv'), /line 1 must be the CSV header "timestamp,duration,value"/);
  t.throws(() => parseForecastFile('timestamp,duration,value\n2026-06-01T13:00:00Z,60', 'f.csv'), /file f.csv: line 2: expected 3 columns, got 2/);
  t.throws(() => parseForecastFile('timestamp,duration,value\n2026-06-01T13:00:00Z,60,lots', 'f.csv'), /line 2 value: "lots" is not a finite number/);
  t.throws(() => parseForecastFile('  \n', 'f.csv'), /file f.csv is empty/);
});

t.test('the file source re-reads only when the file changes', async (t) => {
  const path = join(dir, 'forecast.csv');
  writeFileSync(path, 'timestamp,duration,value\n2026-06-01T13:00:00Z,60,300\n');
  const src = createFileSource(parseIntensityConfig({ provider: 'file', path }), { env: {} });
  t.equal(src.name, 'file:forecast.csv');
  t.equal(src.signal, 'unknown');
  t.equal(createFileSource(parseIntensityConfig({ provider: 'file', path, signal: 'marginal' }), { env: {} }).signal, 'marginal');
  const first = await src.fetch(AbortSignal.timeout(1000));
  t.equal(await src.fetch(AbortSignal.timeout(1000)), first, 'unchanged file: the same parsed array');
  // Replace atomically, as editors and ConfigMap volumes do.
  writeFileSync(`${path}.tmp`, 'timestamp,duration,value\n2026-06-01T13:00:00Z,60,300\n2026-06-01T14:00:00Z,60,500\n');
  renameSync(`${path}.tmp`, path);
  const second = await src.fetch(AbortSignal.timeout(1000));
  t.equal(second.length, 2, 'the new content');
});

t.test('watch reports a replaced file', async (t) => {
  const path = join(dir, 'watched.json');
  writeFileSync(path, '[]');
  const src = createFileSource(parseIntensityConfig({ provider: 'file', path }), { env: {} });
  let changes = 0;
  const stop = src.watch!(() => changes++);
  t.teardown(stop);
  writeFileSync(path, '[{"timestamp":"2026-06-01T13:00:00Z","duration":60,"value":1}]');
  await until(() => changes >= 1, 'onChange for the replaced file');
  t.pass('onChange called');
});

// That other files in the directory never fire is watchFile's to show (test/util/watch-file.test.ts,
// where the polls are driven); the file source hands it the forecast's path alone.

t.test('an unreadable file is unavailable, naming the path and saying why in words', async (t) => {
  const folder = join(dir, 'a-folder.json');
  mkdirSync(folder);
  const cases: [path: string, message: string][] = [
    [join(dir, 'nope.json'), `file: cannot read ${join(dir, 'nope.json')}: no such file`],
    [folder, `file: cannot read ${folder}: is a directory`],
  ];
  for (const [path, message] of cases) {
    const src = createFileSource(parseIntensityConfig({ provider: 'file', path }), { env: {} });
    await t.rejects(src.fetch(AbortSignal.timeout(1000)), { kind: 'unavailable', message }, path);
  }
});
