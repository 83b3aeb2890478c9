import t from 'tap';
import { parseConfigText } from '../../src/config/config.js';
import { clip } from '../../src/core/brief.js';
import { buildApp } from '../../src/server/app.js';
import { steady } from '../helpers/carbon.js';
import { captureLogger } from '../helpers/log.js';
import { loadReview, withAnnotations, type Review } from '../helpers/reviews.js';

/**
 * Whatever a review carries, what we echo of it (in a denial, a warning, a log line) stays
 * short: a 1 MiB value must not become a 1 MiB response or log line.
 */

const NOW = Date.parse('2026-11-23T10:30:00Z');
const MIB = 1024 * 1024;
const config = parseConfigText('policies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]\n', 'test');
const carbon = steady(412, NOW);

function setup() {
  const { logger, lines } = captureLogger();
  const app = buildApp({
    admission: { config: () => config, carbon: { snapshot: () => carbon }, now: () => NOW },
    readiness: () => ({ serving: true, carbon: { fresh: true, source: 'test', fetchedAt: null } }),
    logger,
  });
  return { app, lines };
}

function hugeNames(review: Review): Review {
  review.request.name = 'n'.repeat(MIB);
  review.request.namespace = 's'.repeat(MIB);
  review.request.object.metadata.name = review.request.name;
  review.request.object.metadata.namespace = review.request.namespace;
  return review;
}

t.test('clip: short text as it is; long text cut to the limit, saying how long it was', async (t) => {
  t.equal(clip('abc', 3), 'abc');
  t.equal(clip('x'.repeat(MIB), 40), `${'x'.repeat(21)}... (1048576 chars)`);
  t.equal(clip('x'.repeat(MIB), 40).length, 40);
  t.equal(clip('x'.repeat(300)).length, 200, 'a few hundred characters by default');
  t.equal(clip('x'.repeat(50), 5), '... (50 chars)', 'a limit below the tail keeps the tail alone');
});

t.test('a denial for a 1 MiB value, on an object with 1 MiB names: response and log line stay short', async (t) => {
  const { app, lines } = setup();
  t.teardown(() => app.close());
  const cases: Array<[string, (o: Review) => void, RegExp]> = [
    [
      'inline mode',
      (o) => (o.spec.environmentalImpact = { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2 }], mode: 'x'.repeat(MIB) }),
      /mode: must be/,
    ],
    [
      'inline key',
      (o) => (o.spec.environmentalImpact = { carbon: [{ measuredEmission: 1, allowedMaxReplicaCount: 2 }], ['k'.repeat(MIB)]: 1 }),
      /unknown field/,
    ],
    [
      'annotation text',
      (o) => (o.metadata.annotations['keda-carbon.io/environmental-impact'] = `carbon: [{measuredEmission: 1, allowedMaxReplicaCount: ${'9'.repeat(12_000)}}]`),
      /allowedMaxReplicaCount: must be/,
    ],
  ];
  for (const [name, change, message] of cases) {
    lines.length = 0;
    const review = hugeNames(withAnnotations(loadReview('scaledobject-create.kubectl-apply'), {}));
    change(review.request.object);
    const res = await app.inject({ method: 'POST', url: '/mutate', payload: review });
    t.equal(res.statusCode, 200, name);
    t.equal(res.json().response.allowed, false, `${name}: denied`);
    t.match(res.json().response.status.message, message, `${name}: names the problem`);
    t.ok(res.body.length < 1024, `${name}: response of ${res.body.length} bytes`);
    const denial = lines.find((l) => l.includes('denied invalid policy'));
    t.ok(denial, `${name}: the denial is logged`);
    t.ok((denial ?? '').length < 2048, `${name}: log line of ${denial?.length} bytes`);
    t.match(denial, /"objectName":"n+\.\.\. \(1048576 chars\)"/, `${name}: the name cut, with its length`);
    t.match(denial, /"namespace":"s+\.\.\. \(1048576 chars\)"/);
  }
});

t.test('a 1 MiB policy name: the warning is short and names the length', async (t) => {
  const { app, lines } = setup();
  t.teardown(() => app.close());
  const review = hugeNames(withAnnotations(loadReview('scaledobject-create.kubectl-apply'), { 'keda-carbon.io/policy': 'p'.repeat(MIB) }));
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review });
  const response = res.json().response;
  t.equal(response.allowed, true);
  t.match(response.warnings, [/names policy "p+\.\.\. \(1048576 chars\)", which the keda-carbon configuration does not define/]);
  t.ok(res.body.length < 1024, `response of ${res.body.length} bytes`);
  t.ok(
    lines.every((l) => l.length < 2048),
    'every log line short',
  );
});

t.test('a denial message is cut at 512 characters whatever builds it', async (t) => {
  const { statusBody, finalize, denied } = await import('../../src/admission/review.js');
  const long = `keda-carbon: ${'m'.repeat(MIB)}`;
  t.equal(finalize('u', denied(long)).response.status?.message.length, 512);
  t.match(finalize('u', denied(long)).response.status?.message, /\.\.\. \(1048589 chars\)$/);
  t.equal(statusBody(400, long).message.length, 512);
});
