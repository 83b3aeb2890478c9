import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { handleAdmission } from '../../src/admission/handler.js';
import { main } from '../../src/cli/main.js';
import { parseConfigText } from '../../src/config/config.js';
import type { CarbonSnapshot, IntensityPoint } from '../../src/core/carbon.js';
import { loadReview } from '../helpers/reviews.js';

// The percentile case of boundaries.test.ts: at each resolved threshold of a p50/p80 policy,
// 0.04 below, on and above it, `explain --intensity` (over the configured source),
// `simulate` (over the same data) and the webhook's warning and status must give one cap and
// one rule, and a reader who applies the README's rules to the printed intensity and the
// printed thresholds must arrive at them.

const AT = '2026-11-23T11:00:00Z';
const T0 = Date.parse('2026-11-23T00:00:00Z');
const HOUR = 3_600_000;
const STATUS = 'keda-carbon.io/status';
const POLICY = '{carbon: [{measuredEmission: p50, allowedMaxReplicaCount: "50%"}, {measuredEmission: p80, allowedMaxReplicaCount: 10}]}';
const DECLARED = 40;

// 24 hours: 8 at 200 (11:00, the hour explained, is one of them), 8 at 300, 5 at 450, 3 at 600.
// With x in place of 11:00's 200, near 300 or 450: p50 needs 12 h at or below it and 15 h lie
// at or below 300 (14 below it); p80 needs 19.2 h and 20 h lie at or below 450 (15 or 16
// below it). So p50 is 300 and p80 is 450 whichever side of them x falls.
const VALUES = [300, 300, 300, 300, 200, 200, 200, 200, 450, 450, 450, 200, 200, 200, 200, 300, 300, 300, 300, 600, 600, 600, 450, 450];
const NOW_INDEX = 11;

const points = (x: number | null): IntensityPoint[] =>
  VALUES.map((v, i) => ({ timestamp: T0 + i * HOUR, durationMinutes: 60, gCO2eqPerKWh: i === NOW_INDEX && x !== null ? x : v }));

const forecastJson = (x: number | null): string =>
  JSON.stringify(points(x).map((p) => ({ timestamp: new Date(p.timestamp).toISOString(), duration: p.durationMinutes, value: p.gCO2eqPerKWh })));

const OBJECT = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: web
  namespace: shop
  annotations:
    keda-carbon.io/environmental-impact: '${POLICY}'
spec:
  minReplicaCount: 2
  maxReplicaCount: ${DECLARED}
  scaleTargetRef: {name: web}
`;

/** The band a reader picks for `shown` from the printed thresholds: the largest at or below it. */
function readerCap(thresholds: Map<number, number>, shown: number): { cap: number; percentile: number | null } {
  const allowed: Record<number, number> = { 50: DECLARED / 2, 80: 10 };
  const hit = [...thresholds].filter(([, v]) => v <= shown).sort((a, b) => b[1] - a[1])[0];
  return hit ? { cap: allowed[hit[0]]!, percentile: hit[0] } : { cap: DECLARED, percentile: null };
}

async function run(args: string[]): Promise<string> {
  let out = '';
  let err = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {} };
  const code = await main(args, io);
  if (code !== 0) throw new Error(`${args[0]} exited ${code}: ${err}`);
  return out;
}

/** What explain prints, checked against the README's rules; returns its cap and rule. */
async function explained(t: Test, file: string, config: string, x: number): Promise<{ cap: number; rule: string | null; why: string }> {
  const text = await run(['explain', '-f', file, '--config', config, '--intensity', String(x), '--at', AT]);
  const field = (name: string): string => new RegExp(`^  ${name}:\\s+(.*)$`, 'm').exec(text)?.[1] ?? '';
  const shown = Number(/^(\S+) gCO2eq\/kWh/.exec(field('intensity'))?.[1]);
  const thresholds = new Map([...field('thresholds').matchAll(/measuredEmission>=p(\d+) \((\S+)\)/g)].map((m) => [Number(m[1]), Number(m[2])]));
  t.same(
    [...thresholds],
    [
      [50, 300],
      [80, 450],
    ],
    'text: the thresholds line',
  );
  const reader = readerCap(thresholds, shown);
  const capLine = /^maxReplicaCount \d+ -> (\d+)$|^(\d+) \(unchanged\)$/.exec(field('cap'));
  const cap = Number(capLine?.[1] ?? capLine?.[2]);
  t.equal(cap, reader.cap, `text: the cap a reader finds for ${shown} with those thresholds`);
  const rule = field('rule') === 'none' ? null : field('rule').replace(/: allowed .*$/, '');
  t.equal(rule, reader.percentile === null ? null : `measuredEmission>=p${reader.percentile} (${thresholds.get(reader.percentile)})`, 'text: the rule');

  const [json] = JSON.parse(await run(['explain', '-f', file, '--config', config, '--intensity', String(x), '--at', AT, '-o', 'json']));
  t.equal(json.plan.maxReplicaCount, cap, 'json: the cap');
  t.equal(json.plan.decision.rule, rule, 'json: the rule');
  t.same(
    json.thresholds.bands.map((b: { threshold: number }) => b.threshold),
    [300, 450],
    'json: the thresholds',
  );
  return { cap, rule, why: field('why') };
}

/** The webhook on an UPDATE of an object carrying a cap of 7, over the same data with x at 11:00. */
async function webhook(x: number): Promise<{ cap: number; why: string; statusRule: string | null }> {
  const r = structuredClone(loadReview('scaledobject-create.kubectl-apply'));
  const object = r.request.object;
  object.metadata.annotations = { 'keda-carbon.io/environmental-impact': POLICY, 'keda-carbon.io/declared-max-replica-count': String(DECLARED) };
  object.spec.maxReplicaCount = 7;
  object.spec.minReplicaCount = 2;
  r.request.operation = 'UPDATE';
  r.request.oldObject = structuredClone(object);
  const now = Date.parse(AT);
  const carbon: CarbonSnapshot = { source: 'file:forecast.json', fetchedAt: now, maxDataAgeMs: HOUR, points: points(x) };
  const config = parseConfigText('{}', 'test');
  const outcome = await handleAdmission(r, { config: () => config, carbon: { snapshot: () => carbon }, now: () => now });
  const m = /^keda-carbon: maxReplicaCount 7 -> (\d+) \((.*)\)$/.exec(outcome.review.response.warnings?.[0] ?? '');
  const patch = JSON.parse(Buffer.from(outcome.review.response.patch ?? '', 'base64').toString('utf8') || '[]');
  const status = patch.find((op: { path: string }) => op.path.endsWith(STATUS.replace('/', '~1')));
  return { cap: Number(m?.[1]), why: m?.[2] ?? '', statusRule: status ? JSON.parse(status.value).rule : null };
}

/** simulate over the same data: the interval that holds 11:00. */
async function simulated(dir: string, x: number): Promise<{ cap: number; rule: string | null }> {
  const forecast = join(dir, `forecast-${x}.json`);
  const policy = join(dir, 'object.yaml');
  await writeFile(forecast, forecastJson(x));
  const report = JSON.parse(await run(['simulate', '--policy', policy, '--forecast', forecast, '-o', 'json']));
  const iv = report.timeline.find((i: { start: string; end: string }) => Date.parse(i.start) <= Date.parse(AT) && Date.parse(AT) < Date.parse(i.end));
  return { cap: iv.cap, rule: iv.rule };
}

t.test('a percentile policy: explain, simulate and the webhook agree at every resolved threshold', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-bounds-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'object.yaml');
  const source = join(dir, 'forecast.json');
  const config = join(dir, 'config.yaml');
  await writeFile(file, OBJECT);
  await writeFile(source, forecastJson(null));
  await writeFile(config, `intensity:\n  provider: file\n  path: ${source}\n  maxDataAge: 100000h\n`);
  const seen = new Set<number>();
  for (const threshold of [300, 450]) {
    for (const delta of [-0.04, 0, 0.04]) {
      const x = Number((threshold + delta).toFixed(2));
      await t.test(`${x} gCO2eq/kWh`, async (t) => {
        const e = await explained(t, file, config, x);
        seen.add(e.cap);
        const w = await webhook(x);
        t.equal(w.cap, e.cap, 'webhook: the cap explain shows');
        t.equal(w.why, e.why, 'webhook: the reason explain shows');
        t.equal(w.statusRule, e.rule, 'status: the rule explain shows');
        t.same(await simulated(dir, x), { cap: e.cap, rule: e.rule }, 'simulate: the cap and rule explain shows');
      });
    }
  }
  t.same(
    [...seen].sort((a, b) => a - b),
    [10, 20, 40],
    'every band and none were crossed',
  );
});
