import t from 'tap';
import { AbortedError } from '../../src/ports.js';
import { sleep } from '../../src/util/sleep.js';
import { FakeClock } from '../helpers/clock.js';

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
