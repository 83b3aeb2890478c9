import t from 'tap';
import { AbortedError } from '../../src/ports.js';
import { backoffDelay } from '../../src/util/backoff.js';
import { isPlainObject } from '../../src/util/object.js';
import { parseRetryAfter } from '../../src/util/retry-after.js';
import { sleep } from '../../src/util/sleep.js';
import { FakeClock } from '../helpers/clock.js';

t.test('backoffDelay doubles per attempt up to the ceiling, spread by jitter', async (t) => {
  const o = { initialMs: 100, maxMs: 1_000 };
  t.same(
    [1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, o)),
    [100, 200, 400, 800, 1000, 1000],
  );
  t.equal(backoffDelay(0, o), 100, 'attempt 0 is treated as the first');
  t.equal(backoffDelay(3, { ...o, jitter: [0.5, 1], random: () => 0 }), 200);
  t.equal(backoffDelay(3, { ...o, jitter: [0.5, 1], random: () => 0.5 }), 300);
  t.equal(backoffDelay(3, { ...o, jitter: [0.8, 1.2], random: () => 0.999999 }), 480);
});

t.test('parseRetryAfter reads seconds and HTTP dates, ignores the rest', async (t) => {
  const now = Date.parse('2026-11-23T12:00:00Z');
  t.equal(parseRetryAfter('120', now), 120_000);
  t.equal(parseRetryAfter(' 0 ', now), 0);
  t.equal(parseRetryAfter('Mon, 23 Nov 2026 12:00:30 GMT', now), 30_000);
  t.equal(parseRetryAfter('Mon, 23 Nov 2026 11:00:00 GMT', now), 0, 'a date in the past means now');
  t.equal(parseRetryAfter(['7', '9'], now), 7_000, 'the first of repeated headers');
  for (const bad of [undefined, null, '', '  ', '-5', '1.5', 'soon', []]) t.equal(parseRetryAfter(bad, now), undefined, JSON.stringify(bad));
});

t.test('sleep waits on the clock and stops on abort', async (t) => {
  const clock = new FakeClock(0);
  let done = false;
  const p = sleep(1_000, undefined, clock).then(() => (done = true));
  await clock.advance(999);
  t.equal(done, false);
  await clock.advance(1);
  await p;
  t.equal(done, true);
  const ac = new AbortController();
  const q = sleep(1_000, ac.signal, clock);
  ac.abort();
  await t.rejects(q, AbortedError);
  await t.rejects(sleep(1, ac.signal, clock), AbortedError, 'already aborted');
});

t.test('isPlainObject', async (t) => {
  t.same([{}, { a: 1 }, Object.create(null)].map(isPlainObject), [true, true, true]);
  t.same([null, undefined, [], 'x', 1, true].map(isPlainObject), [false, false, false, false, false, false]);
});
