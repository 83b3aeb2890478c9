import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { POLICY_CACHE_BYTES, PolicyTextCache, policyTexts } from '../../src/admission/policy-cache.js';
import { POLICY_LIMITS } from '../../src/core/policy.js';

const RULE = 'carbon:\n- {measuredEmission: 300, allowedMaxReplicaCount: 2}\n';
const LIMIT = POLICY_LIMITS.textBytes;

/** A valid policy padded with a comment to exactly `bytes` UTF-8 bytes. */
function padded(bytes: number, tag = ''): string {
  const head = `${RULE}# ${tag}`;
  return head + 'x'.repeat(bytes - Buffer.byteLength(head));
}

t.test('the text cache returns the same policy and remembers errors', async (t) => {
  const cache = new PolicyTextCache();
  const text = '{"carbon":[{"measuredEmission":1,"allowedMaxReplicaCount":2}]}';
  t.equal(cache.read(text), cache.read(text), 'same object from the cache');
  t.throws(() => cache.read('{"carbon":[]}'), { name: 'PolicyError', message: 'carbon: must be a non-empty list of rules, got []' });
  t.throws(() => cache.read('{"carbon":[]}'), { name: 'PolicyError' }, 'cached errors throw again');
  t.equal(cache.stats().entries, 2);
  for (let i = 0; i < 1100; i++) cache.read(`{"carbon":[{"measuredEmission":${i},"allowedMaxReplicaCount":2}]}`);
  t.equal(cache.stats().entries, 1000, 'at most 1,000 documents');
  t.not(cache.read(text), undefined, 'still parses after the cache evicted entries');
});

t.test('an oversized text is refused before the lookup and never cached', async (t) => {
  const cache = new PolicyTextCache();
  const huge = padded(256 * 1024 + 1);
  t.throws(() => cache.read(huge), { message: 'the policy text is over 256 KiB; the limit is 16384 bytes (16 KiB)' });
  t.throws(() => cache.read(huge), { message: /the limit is 16384 bytes/ }, 'refused again');
  t.throws(() => cache.read(padded(LIMIT + 1)), { message: 'the policy text is 16385 bytes; the limit is 16384 bytes (16 KiB)' });
  t.equal(cache.stats().entries, 0, 'an oversized text is never cached');
});

t.test('the byte bound evicts the oldest entries first', async (t) => {
  const cache = new PolicyTextCache(1000, 64 * 1024);
  const first = cache.read(padded(LIMIT, 'first '));
  for (let i = 0; i < 3; i++) cache.read(padded(LIMIT, `more ${i} `));
  t.ok(cache.stats().bytes <= 64 * 1024, `${cache.stats().bytes} bytes in ${cache.stats().entries} entries`);
  t.not(cache.read(padded(LIMIT, 'first ')), first, 'the oldest was evicted and is parsed again');
});

/** The heap after a full collection, as exactly as the process can tell. */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

t.test('the policy cache stays under its byte bound after many distinct large documents', async (t) => {
  const start = heapAfterGc();
  for (let i = 0; i < 1200; i++) policyTexts.read(padded(LIMIT, `valid ${i} `));
  let refused = 0;
  for (let i = 0; i < 300; i++) {
    try {
      policyTexts.read(`${padded(LIMIT - 40, `broken ${i} `)}\nonMissingData: x`);
    } catch {
      refused++;
    }
  }
  t.equal(refused, 300, 'broken documents are refused (and their errors cached)');
  const schedules = Array.from({ length: 50 }, (_, i) => `"${i % 60} ${i % 24} * * *"`).join(', ');
  for (let i = 0; i < 60; i++) policyTexts.read(`${RULE}ecoModeOff: {recurringSchedule: [${schedules}]}\n# ${i}`);
  const stats = policyTexts.stats();
  t.ok(stats.bytes <= POLICY_CACHE_BYTES, `estimated ${stats.bytes} bytes in ${stats.entries} entries`);
  t.ok(stats.entries > 10, 'the cache still holds policies');
  const grown = heapAfterGc() - start;
  // The estimate is per entry, not measured: the heap it stands for must not be far above it.
  t.ok(grown < POLICY_CACHE_BYTES * 1.5, `heap grew by ${(grown / 2 ** 20).toFixed(1)} MiB for a bound of ${POLICY_CACHE_BYTES / 2 ** 20} MiB`);
});
