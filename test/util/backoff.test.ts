import t from 'tap';
import { backoffDelay } from '../../src/util/backoff.js';

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
