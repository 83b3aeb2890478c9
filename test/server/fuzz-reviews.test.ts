import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsonpatch from 'fast-json-patch';
import t, { type Test } from 'tap';
import { loadConfigFile } from '../../src/config/config.js';
import { POLICY_CACHE_BYTES, policyTexts } from '../../src/admission/policy-cache.js';
import { buildApp } from '../../src/server/app.js';
import { createMetrics } from '../../src/server/metrics.js';
import { captureLogger } from '../helpers/log.js';
import { steady } from '../helpers/carbon.js';
import { loadReview, type Review } from '../helpers/reviews.js';
import { startServe } from '../helpers/serve-process.js';

/**
 * Hostile and malformed AdmissionReviews from a seeded generator: real captured reviews
 * with one to three parts replaced by values of the wrong type, deep nesting, huge
 * strings (to 1 MiB), `__proto__` keys, broken policies and replica counts KEDA cannot store
 * (above int32, fractions, text), plus bodies that are not JSON at all.
 * Whatever arrives, the answer is an AdmissionReview for the request's uid or a 4xx
 * Kubernetes Status, and a patch always applies to the object exactly as sent.
 */

const NOW = Date.parse('2026-11-23T10:30:00Z');
const POLICY = 'keda-carbon.io/environmental-impact';

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;

const FIXTURES = [
  'scaledobject-create.kubectl-apply',
  'scaledobject-create.kubectl-create',
  'scaledjob-create.kubectl-create',
  'scaledobject-update.kubectl-annotate',
  'scaledobject-update.kubectl-patch-merge-annotation',
];
const bases = FIXTURES.map((name) => loadReview(name));

/** Raw JSON texts spliced into a body where a placeholder string stands. */
const RAW = [
  `${'['.repeat(5000)}${']'.repeat(5000)}`,
  `${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}`,
  '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}',
  '[{"__proto__":{"polluted":"yes"}}]',
  JSON.stringify('x'.repeat(100_000)),
  JSON.stringify('y'.repeat(1024 * 1024)),
  `${'{"carbon":'.repeat(5000)}1${'}'.repeat(5000)}`,
  '1e21',
];

const POLICY_TEXTS = [
  '{"carbon":[{"measuredEmission":300,"allowedMaxReplicaCount":"50%"},{"measuredEmission":500,"allowedMaxReplicaCount":2}]}',
  'carbon:\n- {measuredEmission: 100, allowedMaxReplicaCount: 3}\necoModeOff: {recurringSchedule: ["* 10 * * *"], timeZone: UTC}\n',
  'maxReplicasByCarbonIntensity: [{carbonIntensityThreshold: 500, maxReplicas: 4}]',
  '{"carbon":[]}',
  'carbon: [\n',
  `carbon:\n- {measuredEmission: 1, allowedMaxReplicaCount: 2}\n# ${'x'.repeat(20_000)}`,
  `carbon: ${'['.repeat(3000)}${']'.repeat(3000)}`,
  `${'- '.repeat(3000)}x`,
  'a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\ncarbon: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
  '__proto__: {polluted: yes}\ncarbon: [{measuredEmission: 1, allowedMaxReplicaCount: 2}]',
  '\u0000\uffff\ud800 :: -- [} {]',
];

function hostileValue(r: Rand, raw: string[]): unknown {
  const n = r();
  if (n < 0.3) {
    raw.push(pick(r, RAW));
    return `@@RAW${raw.length - 1}@@`;
  }
  if (n < 0.4) return pick(r, POLICY_TEXTS);
  return pick(r, [
    null,
    true,
    false,
    0,
    -1,
    2.5,
    1e308,
    '',
    'x',
    '__proto__',
    [],
    {},
    [1, 'a'],
    { __proto__: null, x: 1 },
    'CREATE',
    'keda.sh',
    'ScaledObject',
    // maxReplicaCount is an int32 in KEDA: these must leave the object untouched.
    '10',
    10.5,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 53 + 1,
    '2147483648',
    '1e+21',
  ]);
}

const ENVELOPE = [
  ['kind'],
  ['apiVersion'],
  ['request'],
  ['request', 'uid'],
  ['request', 'kind'],
  ['request', 'kind', 'kind'],
  ['request', 'kind', 'group'],
  ['request', 'operation'],
  ['request', 'name'],
  ['request', 'namespace'],
  ['request', 'subResource'],
  ['request', 'dryRun'],
  ['request', 'object'],
  ['request', 'oldObject'],
] as const;

const OBJECT = [
  ['request', 'object', 'metadata'],
  ['request', 'object', 'metadata', 'annotations'],
  ['request', 'object', 'metadata', 'annotations', POLICY],
  ['request', 'object', 'metadata', 'annotations', 'keda-carbon.io/policy'],
  ['request', 'object', 'metadata', 'annotations', 'keda-carbon.io/status'],
  ['request', 'object', 'metadata', 'annotations', 'keda-carbon.io/declared-max-replica-count'],
  ['request', 'object', 'metadata', 'annotations', 'keda-carbon.io/eco-mode'],
  ['request', 'object', 'metadata', 'namespace'],
  ['request', 'object', 'spec'],
  ['request', 'object', 'spec', 'maxReplicaCount'],
  ['request', 'object', 'spec', 'minReplicaCount'],
  ['request', 'object', 'spec', 'environmentalImpact'],
  ['request', 'object', 'spec', 'triggers'],
  ['request', 'oldObject', 'spec'],
  ['request', 'oldObject', 'metadata', 'annotations'],
  ['request', 'object', 'metadata', 'annotations', '__proto__'],
] as const;

/** Set (or, one time in ten, delete) a path; a parent that is not an object is left alone. */
function mutate(review: Review, path: readonly string[], r: Rand, raw: string[]): void {
  let node = review;
  for (const key of path.slice(0, -1)) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return;
    node = node[key];
  }
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return;
  const last = path[path.length - 1]!;
  if (r() < 0.1) delete node[last];
  else Object.defineProperty(node, last, { value: hostileValue(r, raw), enumerable: true, writable: true, configurable: true });
}

const GARBAGE = [
  '',
  'null',
  '[]',
  '"AdmissionReview"',
  '{"kind":',
  '{"a":1}}',
  `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
  '\u00ff\u00fe{',
  '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","__proto__":{"polluted":1}}}',
];

interface Case {
  body: string;
  contentType: string;
}

function makeCase(r: Rand, i: number): Case {
  if (r() < 0.06) return { body: pick(r, GARBAGE), contentType: r() < 0.9 ? 'application/json' : 'text/plain' };
  const review = structuredClone(pick(r, bases));
  review.request.uid = `fuzz-${i}`;
  const source = r();
  if (review.request.object?.metadata) {
    const annotations = (review.request.object.metadata.annotations ??= {});
    if (source < 0.4) annotations[POLICY] = pick(r, POLICY_TEXTS);
    else if (source < 0.6) annotations['keda-carbon.io/policy'] = 'standard';
  }
  // KEDA allows any key in trigger metadata; these are well-formed and must be answered.
  const trigger = review.request.object?.spec?.triggers?.[0];
  if (trigger) trigger.metadata = JSON.parse('{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"value":"60"}');
  const raw: string[] = [];
  const mutations = 1 + Math.floor(r() * 3);
  // Most mutations go into the object: a broken envelope ends at the first check.
  for (let m = 0; m < mutations; m++) mutate(review, r() < 0.2 ? pick(r, ENVELOPE) : pick(r, OBJECT), r, raw);
  let body = JSON.stringify(review);
  raw.forEach((text, n) => (body = body.replace(`"@@RAW${n}@@"`, () => text)));
  return { body, contentType: 'application/json' };
}

type Tally = Record<string, number>;

/** Every rule an answer must keep; returns what is wrong with it, or null. */
function judge(c: Case, status: number, text: string, tally: Tally): string | null {
  if (status >= 500) return `${status}: ${text.slice(0, 200)}`;
  let answer: Review;
  try {
    answer = JSON.parse(text);
  } catch {
    return `${status} with a body that is not JSON: ${text.slice(0, 200)}`;
  }
  if (status >= 400) {
    tally[`status ${status}`] = (tally[`status ${status}`] ?? 0) + 1;
    return answer.kind === 'Status' && answer.code === status && typeof answer.message === 'string'
      ? null
      : `${status} without a Status body: ${text.slice(0, 200)}`;
  }
  if (text.length > 16 * 1024) return `a ${text.length}-byte answer: echoes are not bounded: ${text.slice(0, 300)}`;
  if (status !== 200 || answer.kind !== 'AdmissionReview' || answer.apiVersion !== 'admission.k8s.io/v1')
    return `not an AdmissionReview: ${status} ${text.slice(0, 200)}`;
  const sent = JSON.parse(c.body);
  const res = answer.response;
  if (res.uid !== sent.request.uid) return `uid ${res.uid} for ${sent.request.uid}`;
  if (typeof res.allowed !== 'boolean') return 'allowed is not a boolean';
  if (res.warnings && (res.warnings.length > 8 || res.warnings.some((w: string) => w.length > 256)))
    return `warnings too many or too long: ${JSON.stringify(res.warnings)}`;
  if (!res.allowed) {
    tally.denied = (tally.denied ?? 0) + 1;
    return res.status?.code >= 400 && res.status.code < 500 && res.status.message.length < 1024
      ? null
      : `denial without a short 4xx status: ${JSON.stringify(res.status)}`;
  }
  if (!res.patch) {
    tally[res.warnings ? 'allowed with warnings' : 'allowed'] = (tally[res.warnings ? 'allowed with warnings' : 'allowed'] ?? 0) + 1;
    return null;
  }
  tally.patched = (tally.patched ?? 0) + 1;
  const ops = JSON.parse(Buffer.from(res.patch, 'base64').toString('utf8'));
  // The object exactly as sent, parsed the way the API server would see it.
  const object = sent.request.object;
  const sentMax = object?.spec?.maxReplicaCount;
  if (sentMax !== undefined && sentMax !== null && !isInt32Count(sentMax))
    return `patched over a maxReplicaCount KEDA cannot store: ${typeof sentMax === 'object' ? typeof sentMax : String(sentMax).slice(0, 40)}`;
  let patched: Review;
  try {
    patched = jsonpatch.applyPatch(object, ops, true, true, true).newDocument as Review;
  } catch (err) {
    return `patch does not apply: ${(err as Error).message.split('\n')[0]} ${JSON.stringify(ops).slice(0, 300)}`;
  }
  const cap = patched.spec.maxReplicaCount;
  if (!isInt32Count(cap)) return `patched cap ${cap}`;
  // What we write as the declared max must read back as the same count next time.
  const declared = patched.metadata?.annotations?.['keda-carbon.io/declared-max-replica-count'];
  if (declared !== undefined && !(/^\d{1,10}$/.test(declared) && isInt32Count(Number(declared)))) return `declared max written as ${declared}`;
  return null;
}

const isInt32Count = (n: unknown): boolean => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 2 ** 31 - 1;

/** Metric labels take values from fixed sets only, whatever the reviews carried. */
async function checkLabels(t: Test, text: string): Promise<void> {
  const allowed: Record<string, Set<string>> = {
    operation: new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT', 'other']),
    kind: new Set(['ScaledObject', 'ScaledJob', 'other']),
    result: new Set(['patched', 'allowed', 'denied', 'error', 'skipped']),
    code: new Set(['400', '413', '415', '500', 'other']),
    direction: new Set(['up', 'down']),
  };
  const wrong: string[] = [];
  for (const line of text.split('\n')) {
    if (!/^keda_carbon_(admission_requests|admission_rejected|cap_changes)_total\{/.test(line)) continue;
    for (const [, name, value] of line.matchAll(/(\w+)="([^"]*)"/g)) if (!allowed[name!]?.has(value!)) wrong.push(`${name}=${value!.slice(0, 40)}`);
  }
  t.same(wrong, [], 'every metric label from its fixed set');
  t.match(text, /keda_carbon_admission_rejected_total\{code="400"\} \d+/, 'refused bodies are counted');
}

function check(t: Test, failures: string[], tally: Tally, count: number): void {
  t.same(failures.slice(0, 5), [], `${count} hostile reviews: no 5xx, every answer well-formed, every patch applies`);
  t.ok((tally.patched ?? 0) > count / 20, `patched ${tally.patched}`);
  t.ok((tally.denied ?? 0) > 0, `denied ${tally.denied}`);
  t.ok((tally['status 400'] ?? 0) > count / 20, `refused with 400: ${tally['status 400']}`);
  t.ok((tally['allowed with warnings'] ?? 0) > 0, `allowed with a warning: ${tally['allowed with warnings']}`);
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype was polluted');
  t.equal(Object.hasOwn(Object.prototype, 'polluted'), false);
}

t.test('2,000 hostile reviews through the app', async (t) => {
  const config = await loadConfigFile(undefined);
  const carbon = steady(600, NOW);
  const metrics = createMetrics();
  const { logger, lines } = captureLogger();
  const app = buildApp({
    admission: { config: () => config, carbon: { snapshot: () => carbon }, now: () => NOW },
    readiness: () => ({ serving: true, carbon: { fresh: true, source: 'test', fetchedAt: null } }),
    metrics,
    logger,
  });
  t.teardown(() => app.close());
  const r = random(20261202);
  const failures: string[] = [];
  const tally: Tally = {};
  const COUNT = 2000;
  for (let i = 0; i < COUNT; i++) {
    const c = makeCase(r, i);
    const res = await app.inject({ method: 'POST', url: '/mutate?timeout=10s', headers: { 'content-type': c.contentType }, payload: c.body });
    const wrong = judge(c, res.statusCode, res.body, tally);
    if (wrong) failures.push(`case ${i}: ${wrong}`);
  }
  t.comment(JSON.stringify(tally));
  check(t, failures, tally, COUNT);
  t.ok(policyTexts.stats().bytes <= POLICY_CACHE_BYTES, 'the policy cache kept its bound');
  await checkLabels(t, await metrics.registry.metrics());
  const longest = lines.reduce((m, l) => Math.max(m, l.length), 0);
  t.ok(longest < 4096, `every log line short (longest ${longest} bytes of ${lines.length})`);
});

function post(port: number, agent: Agent, c: Case): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/mutate?timeout=10s',
        method: 'POST',
        agent,
        headers: { 'content-type': c.contentType, 'content-length': Buffer.byteLength(c.body) },
      },
      (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on('error', reject);
    req.end(c.body);
  });
}

t.test('300 hostile reviews against serve over TLS, which stays up', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keda-carbon-fuzz-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const forecast = join(dir, 'forecast.json');
  const dayStart = new Date();
  dayStart.setUTCHours(0, 0, 0, 0);
  await writeFile(forecast, JSON.stringify([{ timestamp: dayStart.toISOString(), duration: 48 * 60, value: 600 }]));
  const config = join(dir, 'config.yaml');
  await writeFile(
    config,
    `intensity:\n  provider: file\n  path: ${forecast}\npolicies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 2}]\n`,
  );
  const serve = await startServe(['--cert-dir', join(dir, 'tls'), '--config', config]);
  t.teardown(() => serve.stop('SIGKILL'));
  const agent = new Agent({ keepAlive: true, maxSockets: 4, ca: await readFile(join(dir, 'tls', 'ca.crt'), 'utf8') });
  t.teardown(() => agent.destroy());

  const r = random(7);
  const failures: string[] = [];
  const tally: Tally = {};
  const COUNT = 300;
  for (let i = 0; i < COUNT; i++) {
    const c = makeCase(r, i);
    const res = await post(serve.port, agent, c);
    const wrong = judge(c, res.status, res.body, tally);
    if (wrong) failures.push(`case ${i}: ${wrong}`);
  }
  t.comment(JSON.stringify(tally));
  check(t, failures, tally, COUNT);
  t.equal(serve.child.exitCode, null, 'serve is still running');
  t.notOk(
    serve.logs.some((l) => l.msg === 'request failed'),
    'no request failed inside serve',
  );
});
