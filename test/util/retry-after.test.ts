import t from 'tap';
import { parseRetryAfter } from '../../src/util/retry-after.js';

t.test('parseRetryAfter reads seconds and HTTP dates, ignores the rest', async (t) => {
  const now = Date.parse('2026-11-23T12:00:00Z');
  t.equal(parseRetryAfter('120', now), 120_000);
  t.equal(parseRetryAfter(' 0 ', now), 0);
  t.equal(parseRetryAfter('Mon, 23 Nov 2026 12:00:30 GMT', now), 30_000);
  t.equal(parseRetryAfter('Mon, 23 Nov 2026 11:00:00 GMT', now), 0, 'a date in the past means now');
  t.equal(parseRetryAfter(['7', '9'], now), 7_000, 'the first of repeated headers');
  for (const bad of [undefined, null, '', '  ', '-5', '1.5', 'soon', []]) t.equal(parseRetryAfter(bad, now), undefined, JSON.stringify(bad));
});
