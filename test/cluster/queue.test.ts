import t from 'tap';
import { WorkQueue, type Handler, type WorkQueueOptions } from '../../src/cluster/queue.js';
import { FakeClock, settle } from '../helpers/clock.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

/** A queue on a fake clock whose handler records when each key ran (ms since T0). */
function recording(handler: Handler = async () => undefined, options: Partial<WorkQueueOptions> = {}) {
  const clock = new FakeClock(T0);
  const runs: Array<[string, number]> = [];
  const q = new WorkQueue(
    async (key) => {
      runs.push([key, clock.now() - T0]);
      return handler(key);
    },
    { concurrency: 4, clock, ...options },
  );
  return { clock, runs, q, at: (key: string) => runs.filter(([k]) => k === key).map(([, ms]) => ms) };
}

t.test('a key is queued once however often it is added, never worked on twice at once, and again if added meanwhile', async (t) => {
  const handled: string[] = [];
  const gates = new Map<string, ReturnType<typeof gate>>();
  const q = new WorkQueue(
    async (key) => {
      handled.push(key);
      const g = gate();
      gates.set(key, g);
      await g.p;
      return undefined;
    },
    { concurrency: 2 },
  );
  q.add('a');
  q.add('b');
  q.add('c');
  q.add('c');
  t.same(handled, ['a', 'b'], 'two at once');
  t.equal(q.length, 1, 'c waits once');
  q.add('a'); // while a runs: once more afterwards, not in a second worker
  q.add('a');
  gates.get('a')!.open();
  await settle();
  t.same(handled, ['a', 'b', 'c'], 'c next');
  gates.get('b')!.open();
  await settle();
  t.same(handled, ['a', 'b', 'c', 'a'], 'then a again, once');
  gates.get('c')!.open();
  gates.get('a')!.open();
  await q.idle();
  t.equal(q.length + q.busy, 0);
});

t.test('a failing key backs off exponentially per key, capped at a minute; success forgets its failures', async (t) => {
  let failing = true;
  const { clock, q, at } = recording(async (key) => {
    if (key === 'bad' && failing) throw new Error('no');
    return undefined;
  });
  q.add('bad');
  q.add('good');
  await clock.advance(0);
  for (let i = 0; i < 9; i++) await clock.advance(clock.nextDelay() ?? 0);
  const times = at('bad');
  const gaps = times.slice(1).map((t0, i) => t0 - times[i]!);
  t.same(gaps, [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000], 'doubling from 500 ms, then a minute each');
  t.same(at('good'), [0], 'another key is not held back');
  t.equal(q.retries('bad'), 10);
  failing = false;
  await clock.advance(60_000);
  t.equal(q.retries('bad'), 0, 'a success forgets the failures');
  t.equal(at('bad').length, 11);
  failing = true;
  q.add('bad');
  await clock.advance(0);
  await clock.advance(500);
  t.equal(at('bad').at(-1)! - at('bad').at(-2)!, 500, 'the next failure starts over at 500 ms');
  await q.stop();
});

t.test('the error hook hears each failure with the delay before the retry', async (t) => {
  const seen: Array<[string, string, number]> = [];
  const { clock, q } = recording(
    async () => {
      throw new Error('boom');
    },
    { backoffInitialMs: 100, backoffMaxMs: 250, onError: (key, err, ms) => seen.push([key, (err as Error).message, ms]) },
  );
  q.add('x');
  await clock.advance(1000);
  t.same(
    seen.slice(0, 4).map(([, , ms]) => ms),
    [100, 200, 250, 250],
    'own initial and cap',
  );
  t.equal(seen[0]![0], 'x');
  t.equal(seen[0]![1], 'boom');
  await q.stop();
});

t.test('addAfter keeps the earliest wish per key; add during a wait runs now and the wait still fires', async (t) => {
  const { clock, q, at } = recording();
  q.addAfter('k', 5000);
  q.addAfter('k', 2000);
  q.addAfter('k', 8000);
  t.equal(q.dueAt('k'), T0 + 2000, 'the earliest is kept');
  t.equal(q.waiting, 1);
  await q.idle();
  t.same(at('k'), [], 'a delayed key does not count for idle and has not run');
  await clock.advance(1999);
  t.same(at('k'), [], 'not before its time');
  await clock.advance(1);
  t.same(at('k'), [2000], 'once, at the earliest moment');
  await clock.advance(10_000);
  t.same(at('k'), [2000], 'the later wishes were dropped');
  t.equal(q.dueAt('k'), undefined);

  q.addAfter('m', 3000);
  q.add('m');
  await clock.advance(0);
  t.same(at('m'), [12_000], 'add does not wait');
  await clock.advance(3000);
  t.same(at('m'), [12_000, 15_000], 'the wait fires too (the handler reads the latest state)');
  q.addAfter('n', 0);
  await clock.advance(0);
  t.same(at('n'), [15_000], 'no delay is an add');
});

t.test('a handler asks to be called again; many keys on one timer fire in order of their moments', async (t) => {
  const { clock, q, at, runs } = recording(async (key) => (key === 'tick' ? { requeueAfter: 1000 } : undefined));
  q.add('tick');
  await clock.advance(3500);
  t.same(at('tick'), [0, 1000, 2000, 3000]);
  await q.stop();
  runs.length = 0;
  q.restart();
  for (const [key, ms] of [
    ['c', 300],
    ['a', 100],
    ['b', 200],
  ] as const)
    q.addAfter(key, ms);
  t.equal(clock.timers.length, 1, 'one timer for every delayed key');
  await clock.advance(1000);
  t.same(
    runs.map(([k]) => k),
    ['a', 'b', 'c'],
  );
});

t.test('stop drops what is queued, delayed and backed off, waits for running keys, and refuses new ones until restart', async (t) => {
  const g = gate();
  const { clock, q, at } = recording(async (key) => {
    if (key === 'slow') await g.p;
    if (key === 'bad') throw new Error('no');
    return undefined;
  });
  q.add('slow');
  q.add('bad');
  q.addAfter('later', 1000);
  await clock.advance(0);
  t.equal(q.retries('bad'), 1);
  let stopped = false;
  const stopping = q.stop().then(() => (stopped = true));
  await settle();
  t.notOk(stopped, 'waits for the running key');
  g.open();
  await stopping;
  t.equal(q.retries('bad'), 0, 'backoff forgotten');
  t.equal(q.waiting, 0, 'delays dropped');
  t.equal(clock.timers.length, 0, 'no timer left');
  q.add('new');
  q.addAfter('new', 10);
  await clock.advance(5000);
  t.same(at('new'), [], 'a stopped queue takes nothing');
  t.same(at('later'), []);
  q.restart();
  q.add('new');
  await q.idle();
  t.same(at('new'), [5000]);
});

t.test('onDue hears the keys whose moment came, together, but not retries after a failure', async (t) => {
  const due: string[][] = [];
  const { clock, q } = recording(
    async (key) => {
      if (key === 'bad') throw new Error('no');
      return undefined;
    },
    { onDue: (keys) => due.push([...keys]) },
  );
  q.addAfter('a', 1000);
  q.addAfter('b', 1000);
  q.add('bad');
  await clock.advance(0);
  await clock.advance(1000);
  t.same(due, [['a', 'b']], 'one batch at the shared moment; the retry of bad at 500 ms is not in it');
  t.ok(q.retries('bad') >= 2, 'bad was retried meanwhile');
  await q.stop();
});
