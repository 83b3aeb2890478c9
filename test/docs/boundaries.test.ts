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

// Step-down: over one fall from 40 to a band cap of 4, explain (text and JSON) on the stored
// object and simulate over the same forecast say what the webhook then writes, step by step.
const STEPPED = '{"carbon":[{"measuredEmission":500,"allowedMaxReplicaCount":4}],"stepDown":{"maxPercent":50,"every":"1m"}}';

t.test('step-down: explain and simulate agree with each step the webhook writes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-bounds-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const start = Date.parse(AT);
  const forecast = join(dir, 'forecast.csv');
  await writeFile(forecast, `timestamp,duration,value\n${new Date(start - 30 * 60_000).toISOString()},30,100\n${AT},60,600\n`);
  const sim = async (): Promise<Array<{ start: string; cap: number }>> => {
    let out = '';
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, env: {} };
    const policyFile = join(dir, 'policy.json');
    await writeFile(policyFile, STEPPED);
    t.equal(await main(['simulate', '--policy', policyFile, '--forecast', forecast, '--declared', '40', '-o', 'json'], io), 0);
    return JSON.parse(out).timeline;
  };
  const timeline = await sim();
  const config = parseConfigText('{}', 'test');
  const r = structuredClone(loadReview('scaledobject-update.kubectl-annotate'));
  let stored = r.request.object;
  stored.metadata.annotations = { 'keda-carbon.io/environmental-impact': STEPPED };
  stored.spec.maxReplicaCount = 40;
  const written: Array<[number, number]> = [];
  for (const at of [0, 30_000, 60_000, 120_000, 180_000].map((ms) => start + ms)) {
    const file = join(dir, 'object.json');
    await writeFile(file, JSON.stringify(stored));
    const atText = new Date(at).toISOString();
    let text = '';
    let json = '';
    for (const [output, put] of [
      ['text', (s: string) => (text += s)],
      ['json', (s: string) => (json += s)],
    ] as const) {
      const io = { stdout: { write: put }, stderr: { write: () => true }, env: {} };
      t.equal(await main(['explain', '-f', file, '--intensity', '600', '--at', atText, '-o', output], io), 0);
    }
    const review = structuredClone(r);
    review.request.oldObject = structuredClone(stored);
    review.request.object = structuredClone(stored);
    const outcome = await handleAdmission(review, { config: () => config, carbon: { snapshot: () => steady(600, at) }, now: () => at });
    const after = applyResponsePatch(stored, outcome.review.response);
    const status = JSON.parse(after.metadata.annotations[STATUS]);
    const [explained] = JSON.parse(json);
    t.equal(explained.plan.maxReplicaCount, after.spec.maxReplicaCount, `${atText}: explain's JSON cap is the one stored`);
    t.equal(explained.plan.decision.step?.target, status.stepTarget, `${atText}: explain's step target is the status's`);
    const line = /^ {2}step-down:\s+(.*)$/m.exec(text)?.[1];
    t.equal(line === undefined ? undefined : /next step at (\S+)/.exec(line)?.[1], status.nextStepAt, `${atText}: explain's next step is the status's`);
    const capLine = /^ {2}cap:\s+(.*)$/m.exec(text)?.[1];
    const from = stored.spec.maxReplicaCount;
    t.equal(
      capLine,
      from === after.spec.maxReplicaCount ? `${from} (unchanged)` : `maxReplicaCount ${from} -> ${after.spec.maxReplicaCount}`,
      `${atText}: ${capLine}`,
    );
    if (from !== after.spec.maxReplicaCount) written.push([at, after.spec.maxReplicaCount]);
    stored = after;
  }
  t.same(
    written.map(([at, cap]) => [new Date(at).toISOString(), cap]),
    [20, 10, 5, 4].map((cap, i) => [new Date(start + i * 60_000).toISOString(), cap]),
    'the webhook: 20, then 10, 5 and 4 a minute apart',
  );
  const simulated = timeline.filter((iv) => Date.parse(iv.start) >= start && Date.parse(iv.start) <= start + 180_000);
  t.same(
    simulated.map((iv) => [iv.start, iv.cap]),
    written.map(([at, cap]) => [new Date(at).toISOString(), cap]),
    'simulate: the same steps at the same times',
  );
});
