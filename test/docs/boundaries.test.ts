import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { handleAdmission } from '../../src/admission/handler.js';
import { main } from '../../src/cli/main.js';
import { parseConfigText } from '../../src/config/config.js';
import { steady } from '../helpers/carbon.js';
import { applyResponsePatch, loadReview } from '../helpers/reviews.js';

// At every threshold of the README's worked example and of its Azure form, 0.04 below, on
// and above it: what explain prints (text and JSON), the status annotation and the
// admission warning must let a reader who applies the README's rules to the printed
// numbers arrive at the printed band and cap. Rounding 499.96 to 500 next to
// `measuredEmission>=300` is the kind of contradiction this catches.

const EXAMPLE = fileURLToPath(new URL('../../docs/examples/scaledobject.yaml', import.meta.url));
const AT = '2026-11-23T11:00:00Z'; // Monday 12:00 in Berlin: outside the example's eco-mode-off schedule
const STATUS = 'keda-carbon.io/status';

interface Form {
  readonly name: string;
  readonly form: 'carbon' | 'azure';
  /** threshold, allowed replicas (before the declared ceiling), how explain states a percentage. */
  readonly bands: readonly (readonly [number, number, string?])[];
  readonly declared: number;
  readonly manifest: () => Promise<string>;
}

const AZURE_POLICY =
  '{"maxReplicasByCarbonIntensity":[{"carbonIntensityThreshold":437,"maxReplicas":110},{"carbonIntensityThreshold":504,"maxReplicas":60},{"carbonIntensityThreshold":571,"maxReplicas":10}]}';
const AZURE_OBJECT = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: web
  namespace: shop
  annotations:
    keda-carbon.io/environmental-impact: '${AZURE_POLICY}'
spec:
  minReplicaCount: 2
  maxReplicaCount: 200
  scaleTargetRef: {name: web}
`;

const FORMS: Form[] = [
  {
    name: 'README example',
    form: 'carbon',
    bands: [
      [300, 20, ' (50% of 40, rounded down)'],
      [500, 10],
    ],
    declared: 40,
    manifest: () => readFile(EXAMPLE, 'utf8'),
  },
  {
    name: 'Azure form',
    form: 'azure',
    bands: [
      [437, 110],
      [504, 60],
      [571, 10],
    ],
    declared: 200,
    manifest: async () => AZURE_OBJECT,
  },
];

/** The band a reader picks by the README's rules for `x`: its threshold and the comparison, or null below every rule. */
function readerBand(f: Form, x: number): { threshold: number; relation: string; allowed: number; written: string } | null {
  const band = (b: readonly [number, number, string?], relation: string) => ({ threshold: b[0], relation, allowed: b[1], written: b[2] ?? '' });
  if (f.form === 'carbon') {
    const hit = [...f.bands].reverse().find(([th]) => th <= x);
    return hit ? band(hit, '>=') : null;
  }
  const hit = f.bands.find(([th]) => x <= th);
  return hit ? band(hit, '<=') : band(f.bands[f.bands.length - 1]!, '>');
}

const capOf = (f: Form, x: number): number => {
  const b = readerBand(f, x);
  return b ? Math.min(f.declared, b.allowed) : f.declared;
};

function ruleOf(f: Form, x: number): string | null {
  const b = readerBand(f, x);
  return b ? `${f.form === 'carbon' ? 'measuredEmission' : 'carbonIntensityThreshold'}${b.relation}${b.threshold}` : null;
}

/** Check a printed `why` by its own numbers, and that it names the band the printed intensity falls in. */
function checkWhy(t: Test, f: Form, why: string, label: string): void {
  const n = (s: string | undefined): number => Number(s);
  let m: RegExpExecArray | null;
  if ((m = /^(\S+) gCO2eq\/kWh >= (\S+)$/.exec(why))) {
    t.ok(n(m[1]) >= n(m[2]), `${label}: "${why}" holds`);
    t.equal(readerBand(f, n(m[1]))?.threshold, n(m[2]), `${label}: "${why}" names the band of the number it shows`);
  } else if ((m = /^(\S+) < (\S+) <= (\S+) gCO2eq\/kWh$/.exec(why))) {
    t.ok(n(m[1]) < n(m[2]) && n(m[2]) <= n(m[3]), `${label}: "${why}" holds`);
    t.equal(readerBand(f, n(m[2]))?.threshold, n(m[3]), `${label}: "${why}" names the band of the number it shows`);
  } else if ((m = /^(\S+) <= (\S+) gCO2eq\/kWh$/.exec(why))) {
    t.ok(n(m[1]) <= n(m[2]), `${label}: "${why}" holds`);
    t.equal(readerBand(f, n(m[1]))?.threshold, n(m[2]), `${label}: "${why}" names the band of the number it shows`);
  } else if ((m = /^(\S+) gCO2eq\/kWh > (\S+), the last entry applies$/.exec(why))) {
    t.ok(n(m[1]) > n(m[2]), `${label}: "${why}" holds`);
  } else if ((m = /^(\S+) gCO2eq\/kWh is below every rule$/.exec(why))) {
    t.equal(readerBand(f, n(m[1])), null, `${label}: "${why}" holds`);
  } else {
    t.fail(`${label}: unexpected reason "${why}"`);
  }
}

async function explain(file: string, intensity: number, output: 'text' | 'json'): Promise<string> {
  let out = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, env: {} };
  const code = await main(['explain', '-f', file, '--intensity', String(intensity), '--at', AT, '-o', output], io);
  if (code !== 0) throw new Error(`explain exited ${code}`);
  return out;
}

function checkText(t: Test, f: Form, text: string, x: number): void {
  const field = (name: string): string => new RegExp(`^  ${name}:\\s+(.*)$`, 'm').exec(text)?.[1] ?? '';
  const shown = Number(/^(\S+) gCO2eq\/kWh/.exec(field('intensity'))?.[1]);
  const want = capOf(f, x);
  t.equal(capOf(f, shown), want, `text: the intensity shown (${shown}) falls in the band of ${x}`);
  const rule = ruleOf(f, x);
  const band = readerBand(f, x);
  t.equal(field('rule'), band === null ? 'none' : `${rule}: allowed ${band.allowed}${band.written}`, 'text: the rule line');
  checkWhy(t, f, field('why'), 'text');
  t.equal(field('cap'), want === f.declared ? `${want} (unchanged)` : `maxReplicaCount ${f.declared} -> ${want}`, 'text: the cap line');
}

function checkJson(t: Test, f: Form, json: string, x: number): void {
  const [result] = JSON.parse(json);
  const d = result.plan.decision;
  const want = capOf(f, x);
  t.equal(result.plan.maxReplicaCount, want, 'json: the cap');
  t.equal(capOf(f, d.intensity), want, `json: the intensity shown (${d.intensity}) falls in the band of ${x}`);
  t.equal(d.rule, ruleOf(f, x), 'json: the rule');
  t.equal(d.band?.threshold ?? null, readerBand(f, x)?.threshold ?? null, 'json: the band threshold');
  if (d.band) t.equal(d.band.cap, want, 'json: the band cap');
  checkWhy(t, f, d.reason, 'json');
  const status = JSON.parse(result.plan.setAnnotations[STATUS]);
  t.equal(status.cap, want, 'status: the cap');
  t.equal(status.rule, ruleOf(f, status.intensity), `status: rule ${status.rule} agrees with intensity ${status.intensity}`);
}

/** An UPDATE of an object that carries an older cap of 7, so every decision is a cap change with a warning. */
function review(f: Form, manifestPolicy: string) {
  const r = structuredClone(loadReview('scaledobject-create.kubectl-apply'));
  const object = r.request.object;
  object.metadata.annotations = {
    'keda-carbon.io/environmental-impact': manifestPolicy,
    'keda-carbon.io/declared-max-replica-count': String(f.declared),
    [STATUS]: JSON.stringify({
      cap: 7,
      declared: f.declared,
      intensity: null,
      signal: 'unknown',
      source: 'test:zone',
      dataTime: null,
      rule: null,
      ecoMode: 'on',
      mode: 'enforce',
      evaluatedAt: AT,
    }),
  };
  object.spec.maxReplicaCount = 7;
  object.spec.minReplicaCount = 2;
  r.request.operation = 'UPDATE';
  r.request.oldObject = structuredClone(object);
  return r;
}

async function checkWarning(t: Test, f: Form, policyText: string, x: number): Promise<void> {
  const now = Date.parse(AT);
  const config = parseConfigText('{}', 'test');
  const outcome = await handleAdmission(review(f, policyText), { config: () => config, carbon: { snapshot: () => steady(x, now) }, now: () => now });
  const warnings: string[] = outcome.review.response.warnings ?? [];
  const want = capOf(f, x);
  const m = /^keda-carbon: maxReplicaCount 7 -> (\d+) \((.*)\)$/.exec(warnings[0] ?? '');
  t.ok(m, `warning: ${warnings[0]}`);
  t.equal(Number(m?.[1]), want, 'warning: the cap');
  checkWhy(t, f, m?.[2] ?? '', 'warning');
}

const EXAMPLE_POLICY = 'carbon:\n- {measuredEmission: 300, allowedMaxReplicaCount: "50%"}\n- {measuredEmission: 500, allowedMaxReplicaCount: 10}\n';

for (const f of FORMS) {
  t.test(`${f.name}: explain, status and warning agree with the cap at every threshold`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-bounds-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'object.yaml');
    await writeFile(file, await f.manifest());
    for (const [threshold] of f.bands) {
      for (const delta of [-0.04, 0, 0.04]) {
        const x = Number((threshold + delta).toFixed(2));
        await t.test(`${x} gCO2eq/kWh`, async (t) => {
          checkText(t, f, await explain(file, x, 'text'), x);
          checkJson(t, f, await explain(file, x, 'json'), x);
          await checkWarning(t, f, f.form === 'carbon' ? EXAMPLE_POLICY : AZURE_POLICY, x);
        });
      }
    }
  });
}

// A one-off window: a millisecond before its start, at its start, a millisecond before its
// end and at its end, explain (text and JSON), simulate and the webhook's patch, status and
// warning must tell the same story: the cap, eco mode, and the window named as the reason.
const WINDOW = { start: '2026-12-24T00:20:00+01:00', end: '2026-12-26T23:45:30Z' }; // inside hourly points
const WINDOW_TEXT = `${WINDOW.start}..${WINDOW.end}`;
const WINDOW_POLICY = JSON.stringify({ carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 10 }], ecoModeOff: { windows: [WINDOW] } });

t.test('a one-off window: explain, simulate and the webhook agree at its start and end', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-window-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const [object, forecast] = [join(dir, 'object.yaml'), join(dir, 'forecast.csv')];
  await writeFile(object, AZURE_OBJECT.replace(`'${AZURE_POLICY}'`, `'${WINDOW_POLICY}'`).replace('maxReplicaCount: 200', 'maxReplicaCount: 40'));
  const hours = Array.from({ length: 5 * 24 }, (_, i) => `${new Date(Date.parse('2026-12-23T00:00:00Z') + i * 3_600_000).toISOString()},60,600`);
  await writeFile(forecast, `timestamp,duration,value\n${hours.join('\n')}\n`);
  const [sim, code] = await run(['simulate', '--policy', object, '--forecast', forecast, '-o', 'json']);
  t.equal(code, 0);
  const timeline: { start: string; end: string; cap: number; ecoMode: string; reason: string }[] = JSON.parse(sim).timeline;
  const [start, end] = [Date.parse(WINDOW.start), Date.parse(WINDOW.end)];
  for (const [at, off] of [
    [start - 1, false],
    [start, true],
    [end - 1, true],
    [end, false],
  ] as const) {
    const iso = new Date(at).toISOString();
    await t.test(`${iso}: eco mode ${off ? 'off' : 'on'}`, async (t) => {
      const [cap, ecoMode, why] = off ? [40, 'off', `eco mode off: window ${WINDOW_TEXT}`] : [10, 'on', '600 gCO2eq/kWh >= 300'];
      const [text] = await run(['explain', '-f', object, '--intensity', '600', '--at', iso]);
      t.match(text, new RegExp(`^  eco mode: +${ecoMode}$`, 'm'), 'explain text: eco mode');
      t.match(text, `  why:          ${why}\n`, 'explain text: why, naming the window');
      t.match(text, new RegExp(`^  cap: +maxReplicaCount 40 -> ${cap}$|^  cap: +${cap} \\(unchanged\\)$`, 'm'), 'explain text: the cap');
      const [json] = await run(['explain', '-f', object, '--intensity', '600', '--at', iso, '-o', 'json']);
      const plan = JSON.parse(json)[0].plan;
      t.same([plan.maxReplicaCount, plan.decision.ecoMode, plan.decision.reason], [cap, ecoMode, why], 'explain json');
      const iv = timeline.find((x) => Date.parse(x.start) <= at && at < Date.parse(x.end))!;
      t.same([iv.cap, iv.ecoMode, iv.reason], [cap, ecoMode, why], `simulate: ${iv.start}..${iv.end}`);
      const review = structuredClone(loadReview('scaledobject-create.kubectl-apply'));
      review.request.object.metadata.annotations = { 'keda-carbon.io/environmental-impact': WINDOW_POLICY };
      review.request.object.spec.maxReplicaCount = 40;
      const config = parseConfigText('{}', 'test');
      const outcome = await handleAdmission(review, { config: () => config, carbon: { snapshot: () => steady(600, at) }, now: () => at });
      const stored = applyResponsePatch(review.request.object, outcome.review.response);
      const status = JSON.parse(stored.metadata.annotations[STATUS]);
      t.same([stored.spec.maxReplicaCount, status.cap, status.ecoMode], [cap, cap, ecoMode], 'webhook: the stored cap and the status annotation');
      t.same(outcome.review.response.warnings ?? [], cap === 40 ? [] : [`keda-carbon: maxReplicaCount 40 -> ${cap} (${why})`], 'webhook: the warning');
    });
  }
});

async function run(args: string[]): Promise<[string, number]> {
  let out = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, env: {} };
  const code = await main(args, io);
  return [out, code];
}
