import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { main } from '../../src/cli/main.js';
import { convertScaler } from '../../src/convert/azure.js';
import { formatPatch } from '../../src/convert/format.js';

// The operator's customSchedule becomes ecoModeOff.windows, and explain honours each window
// at its start (eco mode off) and at its end (on again).

const SAMPLES = [
  join(import.meta.dirname, '..', 'fixtures', 'azure', 'carbonawarekedascaler-sample.yaml'),
  join(import.meta.dirname, '..', '..', 'docs', 'examples', 'carbonawarekedascaler.yaml'),
];
// Before the samples' window (2023-03-14T22:00:00Z to 23:59:59Z): it is carried over.
const BEFORE = Date.parse('2023-03-14T12:00:00Z');

async function run(args: string[]): Promise<string> {
  let out = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, env: {} };
  const code = await main(args, io);
  if (code !== 0) throw new Error(`${args.join(' ')} exited ${code}`);
  return out;
}

t.test("the operator's samples: customSchedule becomes a window that explain honours at its start and end", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-convert-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const sample of SAMPLES) {
    const scaler = parseYaml(await readFile(sample, 'utf8'));
    const c = convertScaler(scaler, 'default/carbonawarekedascaler-sample', BEFORE);
    t.same(c.policy.ecoModeOff?.windows, [{ start: '2023-03-14T22:00:00Z', end: '2023-03-14T23:59:59Z' }], `${sample}: the window, as written`);
    t.notMatch(c.notes.join('\n'), /customSchedule|kubectl annotate/, 'no note and no commands to run by hand');
    // The patch a user would apply, as the ScaledObject explain reads (declared max 100).
    const patch = parseYaml(formatPatch([c]).replace(/^#.*\n/gm, ''));
    patch.spec = { scaleTargetRef: { name: 'mynginx' }, maxReplicaCount: 100 };
    const file = join(dir, 'object.yaml');
    await writeFile(file, JSON.stringify(patch));
    // 750 g is above every band: the last entry, 10 replicas, applies while eco mode is on.
    // 2023-03-14 is a Tuesday, so the sample's "* 22-23 * * 1-5" matches as well: the window
    // is named first, and at its end the schedule still holds.
    const at = async (iso: string) => {
      const [r] = JSON.parse(await run(['explain', '-f', file, '--intensity', '750', '--at', iso, '-o', 'json']));
      return [r.plan.maxReplicaCount, r.plan.decision.ecoMode, r.plan.decision.reason];
    };
    t.same(await at('2023-03-14T21:59:59.999Z'), [10, 'on', '750 gCO2eq/kWh > 700, the last entry applies'], 'just before the start');
    t.same(await at('2023-03-14T22:00:00Z'), [100, 'off', 'eco mode off: window 2023-03-14T22:00:00Z..2023-03-14T23:59:59Z'], 'at the start');
    t.same(await at('2023-03-14T23:59:58.999Z'), [100, 'off', 'eco mode off: window 2023-03-14T22:00:00Z..2023-03-14T23:59:59Z'], 'just before the end');
    const end = await at('2023-03-14T23:59:59Z');
    t.not(end[2], 'eco mode off: window 2023-03-14T22:00:00Z..2023-03-14T23:59:59Z', 'at the end the window no longer applies');
    t.match(end[2], /recurringSchedule "\* 22-23 \* \* 1-5"/, 'at the end, only the recurring schedule (Tuesday 23:59 UTC) keeps eco mode off');
  }
});

t.test('a window without the recurring schedule: explain turns eco mode back on at its end', async (t) => {
  const dir = t.testdir({});
  const scaler = parseYaml(await readFile(SAMPLES[0]!, 'utf8'));
  delete scaler.spec.ecoModeOff.recurringSchedule;
  scaler.spec.ecoModeOff.customSchedule = [{ startTime: '2026-12-24T00:00:00+01:00', endTime: '2026-12-27T00:00:00Z' }];
  const c = convertScaler(scaler, 'x', Date.parse('2026-12-01T00:00:00Z'));
  t.same(c.policy.ecoModeOff?.windows, [{ start: '2026-12-24T00:00:00+01:00', end: '2026-12-27T00:00:00Z' }], 'offsets kept as written');
  const patch = parseYaml(formatPatch([c]).replace(/^#.*\n/gm, ''));
  patch.spec = { scaleTargetRef: { name: 'mynginx' }, maxReplicaCount: 100 };
  await writeFile(join(dir, 'o.yaml'), JSON.stringify(patch));
  const cap = async (iso: string) =>
    JSON.parse(await run(['explain', '-f', join(dir, 'o.yaml'), '--intensity', '750', '--at', iso, '-o', 'json']))[0].plan.maxReplicaCount;
  t.same(
    [await cap('2026-12-23T22:59:59Z'), await cap('2026-12-23T23:00:00Z'), await cap('2026-12-26T23:59:59Z'), await cap('2026-12-27T00:00:00Z')],
    [10, 100, 100, 10],
  );
});

t.test('customSchedule: past windows left out with a note, a time without offset read as UTC with a note', async (t) => {
  const scaler = parseYaml(await readFile(SAMPLES[0]!, 'utf8'));
  scaler.spec.ecoModeOff.customSchedule = [
    { startTime: '2023-03-14T22:00:00Z', endTime: '2023-03-14T23:59:59Z' },
    { startTime: '2026-12-24T00:00:00', endTime: '2026-12-27T00:00:00Z' },
  ];
  const c = convertScaler(scaler, 'x', Date.parse('2026-12-01T00:00:00Z'));
  t.same(c.policy.ecoModeOff?.windows, [{ start: '2026-12-24T00:00:00Z', end: '2026-12-27T00:00:00Z' }]);
  t.same(
    c.notes.filter((n) => n.includes('customSchedule')),
    [
      'ecoModeOff.customSchedule window 2023-03-14T22:00:00Z to 2023-03-14T23:59:59Z is over, so it is left out.',
      "ecoModeOff.customSchedule[1].startTime 2026-12-24T00:00:00 has no offset; read as UTC, as the operator's API documents its times: 2026-12-24T00:00:00Z.",
    ],
  );
  // Only past windows, no schedule and no duration: no ecoModeOff at all.
  scaler.spec.ecoModeOff = { customSchedule: [{ startTime: '2023-03-14T22:00:00Z', endTime: '2023-03-14T23:59:59Z' }] };
  t.equal(convertScaler(scaler, 'x', Date.parse('2026-12-01T00:00:00Z')).policy.ecoModeOff, undefined);
  for (const [startTime, message] of [
    [
      '2026-02-30T00:00:00Z',
      /^x: spec\.ecoModeOff\.customSchedule\[0\]\.startTime: must be an RFC 3339 time such as "2023-03-14T22:00:00Z", got "2026-02-30T00:00:00Z"$/,
    ],
    ['2026-12-24T00:00', /^x: spec\.ecoModeOff\.customSchedule\[0\]\.startTime: must be an RFC 3339 time/],
    [1798070400, /^x: spec\.ecoModeOff\.customSchedule\[0\]\.startTime: must be an RFC 3339 time such as "2023-03-14T22:00:00Z", got 1798070400$/],
  ] as const) {
    scaler.spec.ecoModeOff = { customSchedule: [{ startTime, endTime: '2027-01-01T00:00:00Z' }] };
    t.throws(() => convertScaler(scaler, 'x', 0), { name: 'ConvertError', message }, String(startTime));
  }
});
