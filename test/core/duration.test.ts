import t from 'tap';
import { durationMs } from '../../src/core/duration.js';

t.test('units, and units combined', async (t) => {
  t.equal(durationMs('250ms'), 250);
  t.equal(durationMs('30s'), 30_000);
  t.equal(durationMs('5m'), 300_000);
  t.equal(durationMs('2h'), 7_200_000);
  t.equal(durationMs('7d'), 7 * 86_400_000);
  t.equal(durationMs('1h30m'), 5_400_000);
  t.equal(durationMs(' 1.5h '), 5_400_000, 'a fraction, and spaces around');
});

t.test('a bare number is seconds', async (t) => {
  t.equal(durationMs(90), 90_000);
  t.equal(durationMs(0), 0);
});

t.test('anything else is not a duration', async (t) => {
  for (const bad of ['', '  ', '5x', 'h', '1h 30m', '-5s', 'soon', null, undefined, {}, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.equal(durationMs(bad), null, JSON.stringify(bad) ?? String(bad));
  }
});
