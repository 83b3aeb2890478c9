import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { handleAdmission } from '../../src/admission/handler.js';
import { main } from '../../src/cli/main.js';
import { parseConfigText } from '../../src/config/config.js';
import { steady } from '../helpers/carbon.js';
import { applyResponsePatch, loadReview } from '../helpers/reviews.js';

// The boundary tests of boundaries.test.ts, for a step-down.
const AT = '2026-11-23T11:00:00Z';
const STATUS = 'keda-carbon.io/status';

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
