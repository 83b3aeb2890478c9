import t from 'tap';
import { kubeApiFromUrl } from '../../src/cluster/api.js';
import { FakeKube } from '../helpers/fake-kube.js';
import { PoliteClient, Semaphore, TokenBucket } from '../../src/cluster/polite.js';
import { parseRetryAfter } from '../../src/util/retry-after.js';
import { FakeClock, instantClock, settle } from '../helpers/clock.js';
import { AbortedError } from '../../src/ports.js';
import { until } from '../helpers/until.js';

const START = Date.UTC(2026, 10, 23, 10, 0, 0);

t.test('token bucket: burst at once, then qps per second, in order', async (t) => {
  const clock = new FakeClock(START);
  const bucket = new TokenBucket(2, 3, clock);
  const done: number[] = [];
  for (let i = 0; i < 7; i++) void bucket.take().then(() => done.push(i));
  await settle();
  t.same(done, [0, 1, 2], 'the burst of 3 passes without waiting');
  await clock.advance(499);
  t.same(done, [0, 1, 2], 'nothing more before half a second at 2 qps');
  await clock.advance(1);
  t.same(done, [0, 1, 2, 3]);
  await clock.advance(1500);
  t.same(done, [0, 1, 2, 3, 4, 5, 6], 'then two per second, first come first served');
});

t.test('token bucket: an aborted waiter leaves the queue', async (t) => {
  const clock = new FakeClock(START);
  const bucket = new TokenBucket(1, 1, clock);
  await bucket.take();
  const controller = new AbortController();
  const waiting = bucket.take(controller.signal);
  controller.abort();
  await t.rejects(waiting, AbortedError);
  const next = bucket.take();
  await clock.advance(1000);
  await t.resolves(next, 'the token goes to the next waiter');
  t.throws(() => new TokenBucket(0, 1, clock), /qps > 0/);
});

t.test('token bucket: new limits after a config reload', async (t) => {
  const clock = new FakeClock(START);
  const bucket = new TokenBucket(1, 10, clock);
  bucket.setRate(100, 2);
  const done: number[] = [];
  for (let i = 0; i < 4; i++) void bucket.take().then(() => done.push(i));
  await settle();
  t.same(done, [0, 1], 'the saved tokens shrink to the new burst');
  await clock.advance(20);
  t.same(done, [0, 1, 2, 3], 'and refill at the new rate');
});

t.test('semaphore: at most the limit at once', async (t) => {
  const sem = new Semaphore(2);
  const r1 = await sem.acquire();
  const r2 = await sem.acquire();
  let third = false;
  const p3 = sem.acquire().then((r) => {
    third = true;
    return r;
  });
  await settle();
  t.equal(third, false, 'the third waits');
  t.equal(sem.inFlight, 2);
  r1();
  r1(); // a second release of the same slot does nothing
  const r3 = await p3;
  t.equal(sem.inFlight, 2);
  r2();
  r3();
  t.equal(sem.inFlight, 0);
});

t.test('Retry-After: seconds or an HTTP date', async (t) => {
  t.equal(parseRetryAfter('3', START), 3000);
  t.equal(parseRetryAfter(new Date(START + 5000).toUTCString(), START), 5000);
  t.equal(parseRetryAfter('soon', START), undefined);
  t.equal(parseRetryAfter(undefined, START), undefined);
});

t.test('polite client against the fake API', async (t) => {
  const fake = new FakeKube();
  await fake.start();
  t.teardown(() => fake.close());
  fake.setNamespace('apps');
  const api = kubeApiFromUrl(fake.url);
  const make = (clock = instantClock()) => ({
    clock,
    client: new PoliteClient(api, { qps: 1000, burst: 1000, maxInFlight: 8, clock, random: () => 0.5, backoffBaseMs: 100 }),
  });

  await t.test('429 waits for Retry-After, then succeeds', async (t) => {
    let n = 0;
    fake.faults = [(r) => (r.path === '/api/v1/namespaces/apps' && n++ < 2 ? { status: 429, headers: { 'retry-after': '7' } } : undefined)];
    const { clock, client } = make();
    const res = await client.call('GET', '/api/v1/namespaces/apps');
    t.equal(res.status, 200);
    t.same(clock.delays, [7000, 7000], 'each retry waited the 7 s the server asked for');
    t.equal(client.counts.requests, 3);
    t.equal(client.counts.retries, 2);
  });

  await t.test('a very long Retry-After is cut to the maximum', async (t) => {
    let n = 0;
    fake.faults = [(r) => (r.path === '/api/v1/namespaces/apps' && n++ < 1 ? { status: 429, headers: { 'retry-after': '3600' } } : undefined)];
    const { clock, client } = make();
    await client.call('GET', '/api/v1/namespaces/apps');
    t.same(clock.delays, [60_000]);
  });

  await t.test('409 and 5xx back off exponentially, then the last answer is returned', async (t) => {
    fake.faults = [(r) => (r.path === '/api/v1/namespaces/apps' ? { status: 500 } : undefined)];
    const { clock, client } = make();
    const res = await client.call('GET', '/api/v1/namespaces/apps');
    t.equal(res.status, 500, 'after five attempts the 500 comes back to the caller');
    t.same(clock.delays, [100, 200, 400, 800]);
    fake.faults = [];
    let n = 0;
    fake.faults = [(r) => (r.path === '/api/v1/namespaces/apps' && n++ < 1 ? { status: 409 } : undefined)];
    const second = make();
    t.equal((await second.client.call('GET', '/api/v1/namespaces/apps')).status, 200, 'a 409 is retried');
    n = 0;
    const third = make();
    t.equal((await third.client.call('GET', '/api/v1/namespaces/apps', { retryConflict: false })).status, 409, 'unless the caller says a conflict is final');
    t.same(third.clock.delays, []);
    fake.faults = [];
  });

  await t.test('404 and other 4xx are answers, not retried', async (t) => {
    const { clock, client } = make();
    const res = await client.call('GET', '/api/v1/namespaces/nope');
    t.equal(res.status, 404);
    t.same(clock.delays, []);
    await t.rejects(client.expect('GET', '/api/v1/namespaces/nope', [200]), /GET \/api\/v1\/namespaces\/nope answered 404: namespaces "nope" not found/);
  });

  await t.test('a network failure is retried, and thrown when it persists', async (t) => {
    const dead = kubeApiFromUrl('http://127.0.0.1:1');
    const clock = instantClock();
    const client = new PoliteClient(dead, { qps: 1000, burst: 1000, maxInFlight: 8, clock, random: () => 0.5, backoffBaseMs: 10, maxAttempts: 3 });
    await t.rejects(client.call('GET', '/api/v1/namespaces'), /ECONNREFUSED/);
    t.same(clock.delays, [10, 20]);
  });

  await t.test('an abort stops a call waiting for its retry', async (t) => {
    fake.faults = [(r) => (r.path === '/api/v1/namespaces/apps' ? { status: 503 } : undefined)];
    const controller = new AbortController();
    const clock = new FakeClock(START);
    const client = new PoliteClient(api, { qps: 1000, burst: 1000, maxInFlight: 8, clock, backoffBaseMs: 1000 });
    const call = client.call('GET', '/api/v1/namespaces/apps', { signal: controller.signal });
    await until(() => clock.timers.length > 0, 'the 503 answered and its retry scheduled');
    t.equal(clock.timers.length, 1, 'waiting on its backoff');
    controller.abort();
    await t.rejects(call, AbortedError);
    fake.faults = [];
  });

  await t.test('never more than maxInFlight requests open at once', async (t) => {
    fake.latencyMs = 20;
    let open = 0;
    let peak = 0;
    const counting = {
      request: async (...args: Parameters<typeof api.request>) => {
        open++;
        peak = Math.max(peak, open);
        try {
          return await api.request(...args);
        } finally {
          open--;
        }
      },
      watch: api.watch,
    };
    const client = new PoliteClient(counting, { qps: 1000, burst: 1000, maxInFlight: 3 });
    const all = await Promise.all(Array.from({ length: 12 }, () => client.call('GET', '/api/v1/namespaces/apps')));
    fake.latencyMs = 0;
    t.ok(all.every((r) => r.status === 200));
    t.equal(peak, 3);
  });
});
