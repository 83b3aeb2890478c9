import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { type Document, parseAllDocuments } from 'yaml';
import { handleAdmission } from '../../src/admission/handler.js';
import { parseConfigText } from '../../src/config/config.js';
import { PROVIDERS } from '../../src/config/intensity.js';
import { Ledger } from '../../src/cluster/ledger.js';
import { ANNOTATION } from '../../src/core/names.js';
import { planObject } from '../../src/core/plan.js';
import { resolvePolicy } from '../../src/core/resolve.js';
import { HOUR, hourly, steady } from '../helpers/carbon.js';
import { FakeClock } from '../helpers/clock.js';
import { loadReview } from '../helpers/reviews.js';

// Claims the docs make about the code, or about the Azure operator keda-carbon replaces,
// checked against the code they describe.

const read = (path: string) => readFile(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');

/** The cells of the README's comparison table row whose first cell is `name`. */
async function comparisonRow(name: string): Promise<string[]> {
  const readme = await read('README.md');
  const line = readme.split('\n').find((l) => l.startsWith(`| ${name} |`));
  if (!line) throw new Error(`no README table row "${name}"`);
  return line.split(' | ').map((c) => c.replace(/^\| |\s*\|$/g, ''));
}

t.test('README: the data sources it counts are the providers the code has', async (t) => {
  const [, , ours] = await comparisonRow('data sources');
  const m = /^(\w+) providers \(([^)]*)\) plus the exporter ConfigMap, a file and a sample curve$/.exec(ours ?? '');
  t.ok(m, `the sentence: ${ours}`);
  const words = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
  const named = m?.[2]?.split(', ') ?? [];
  t.equal(named.length, words.indexOf(m?.[1] ?? ''), 'as many named as counted');
  // The exporter ConfigMap, the file and the sample curve are providers in the code too.
  t.equal(named.length + 3, PROVIDERS.length, `${PROVIDERS.length} providers: ${PROVIDERS.join(', ')}`);
});

t.test("README: the Azure operator re-evaluates at its data's step, not hourly", async (t) => {
  const [, azure] = await comparisonRow('when caps change');
  t.notMatch(azure, /hourly reconcile/);
  t.match(azure, /every forecast point's duration/);
  t.match(azure, /5 minutes on WattTime/);
});

t.test('troubleshooting: a malformed spec.environmentalImpact is denied by the webhook, which runs first', async (t) => {
  const review = structuredClone(loadReview('scaledobject-create.kubectl-apply'));
  review.request.object.spec.environmentalImpact = { carbon: [{ measuredEmission: -1, allowedMaxReplicaCount: 1 }] };
  const config = parseConfigText('{}', 'test');
  const now = Date.parse('2026-11-23T11:00:00Z');
  const outcome = await handleAdmission(review, { config: () => config, carbon: { snapshot: () => steady(400, now) }, now: () => now });
  const message = outcome.review.response.status?.message ?? '';
  t.equal(outcome.review.response.allowed, false);
  const doc = (await read('docs/troubleshooting.md')).replace(/\s+/g, ' ');
  t.ok(doc.includes(`denied the request: ${message}`), `the docs show the webhook's message: ${message}`);
  t.notMatch(doc, /before the webhook/);
});

t.test("tools.md: schedules and the duration override carry over, but the operator's code acts a minute early", async (t) => {
  const doc = await read('docs/tools.md');
  const row = (key: string) => doc.split('\n').find((l) => l.startsWith(`| \`spec.ecoModeOff.${key}\``)) ?? '';
  t.match(row('recurringSchedule'), /one minute earlier: a reconcile during 22:59 already turns eco mode off/);
  t.match(row('carbonIntensityDuration'), /with 45 it acts after 44 minutes/);
});

t.test('troubleshooting: the verbs it names for Events are the ones the base RBAC grants', async (t) => {
  const rbac = (parseAllDocuments(await read('webhook-config/base/rbac.yaml')) as Document[]).map((d) => d.toJS());
  const rules = rbac.flatMap((o: { rules?: { resources?: string[]; verbs: string[] }[] }) => o.rules ?? []);
  const granted = rules.filter((r) => r.resources?.includes('events')).flatMap((r) => r.verbs);
  t.ok(granted.length > 0, 'the base RBAC grants something on events');
  const m = /Events on the objects it caps \(needs ([^()]*?) on events/.exec((await read('docs/troubleshooting.md')).replace(/\s+/g, ' '));
  t.ok(m, 'troubleshooting names the verbs');
  const named = [...(m?.[1] ?? '').matchAll(/\w+/g)].map((v) => v[0]).filter((w) => w !== 'and');
  t.same(named.sort(), [...granted].sort());
});

t.test("README: the Quick start's ports are chosen with serve's own flags and variables", async (t) => {
  const readme = await read('README.md');
  const { SERVE } = await import('../../src/cli/serve.js');
  t.ok(readme.includes('npm start -- --port 9443 --metrics-port 9090'), 'the flags, through npm start');
  t.ok(readme.includes(`${SERVE.flags.port.env}=9443 ${SERVE.flags['metrics-port'].env}=9090 npm start`), 'the variables');
  const pkg = JSON.parse(await read('package.json')) as { scripts: { start: string } };
  t.match(pkg.scripts.start, / serve$/, 'npm start runs serve, so what follows -- goes to it');
});

t.test("README: the observe worked example's withheld replica-hours and grams are what the ledger books", async (t) => {
  const readme = await read('README.md');
  const block = /```yaml\n(mode: observe\nwattsPerReplica: 40\n[\s\S]*?)```/.exec(readme);
  if (!block) throw new Error('no observe example policy in the README');
  const cfg = parseConfigText('', 'empty');
  const object = {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'web', namespace: 'shop', annotations: { [ANNOTATION.environmentalImpact]: block[1]! } },
    spec: { maxReplicaCount: 40 },
  };
  const day = Date.UTC(2026, 10, 23);
  // 8 h at 520 g, 6 h at 350 g, 10 h at 200 g, as the README says.
  const snapshot = { ...hourly(day, [...Array(8).fill(520), ...Array(6).fill(350), ...Array(10).fill(200)], day, 48 * HOUR), signal: 'average' as const };
  const clock = new FakeClock(day);
  const ledger = new Ledger({ clock, carbon: { snapshot: () => snapshot } });
  const resolution = resolvePolicy(object, cfg, null);
  for (let hour = 0; hour < 24; hour++) {
    const plan = planObject({ object, oldObject: null, resolution, carbon: snapshot, now: clock.now(), invalidPolicy: 'deny' });
    if (plan.kind !== 'apply' || resolution.kind !== 'policy') throw new Error('the example policy does not apply');
    t.equal(plan.maxReplicaCount, 40, 'observe mode leaves the spec at the declared max');
    const watts = resolution.policy.wattsPerReplica;
    ledger.set('scaledobjects/shop/web', { namespace: 'shop', policy: 'inline', mode: plan.mode, cap: plan.decision!.cap, inForce: 40, declared: 40, watts });
    await clock.advance(HOUR);
  }
  const [row] = ledger.rows();
  t.equal(row!.mode, 'observe');
  t.equal(row!.withheldSeconds / 3600, 360, 'README: 360 replica-hours');
  t.ok(Math.abs(row!.grams![0]!.withheld - 6672) < 1e-6, `README: 6,672 g (${row!.grams![0]!.withheld})`);
  t.match(readme, '**360 replica-hours** | **6,672 g, about 6.7 kg CO2eq**');
});
