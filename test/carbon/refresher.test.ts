import t from 'tap';
import { SourceError } from '../../src/carbon/errors.js';
import { Refresher } from '../../src/carbon/refresher.js';
import { CarbonStore } from '../../src/carbon/store.js';
import type { IntensityPoint } from '../../src/core/carbon.js';
import { createMetrics } from '../../src/server/metrics.js';
import { FakeClock } from '../helpers/clock.js';
import { captureLogger } from '../helpers/log.js';
import type { IntensitySource } from '../../src/carbon/source.js';

const M = 60_000;
const H = 60 * M;
const T0 = Date.UTC(2026, 5, 1, 12);

type Step = IntensityPoint[] | Error | 'hang' | 'hang-ignoring-signal';

/** A source that plays a script, one step per fetch, and records each call. */
class ScriptedSource implements IntensitySource {
  readonly name = 'scripted:ZONE';
  calls: { at: number; signal: AbortSignal }[] = [];
  onChange: (() => void) | undefined;
  unwatched = false;
  constructor(
    private readonly clock: FakeClock,
    private readonly steps: Step[],
    withWatch = false,
  ) {
    if (withWatch) {
      this.watch = (cb: () => void) => {
        this.onChange = cb;
        return () => {
          this.unwatched = true;
        };
      };
    }
  }
  watch?: (cb: () => void) => () => void;
  fetch(signal: AbortSignal): Promise<IntensityPoint[]> {
    this.calls.push({ at: this.clock.now(), signal });
    const step = this.steps.length > 1 ? this.steps.shift()! : this.steps[0]!;
    if (step === 'hang-ignoring-signal') return new Promise(() => undefined);
    if (step === 'hang') return new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    if (step instanceof Error) return Promise.reject(step);
    return Promise.resolve(step);
  }
}

/** Hourly points around the clock's current time, so a fetch covers now. */
function around(clock: FakeClock, value: number): IntensityPoint[] {
  const start = Math.floor(clock.now() / H) * H;
  return [0, 1, 2].map((i) => ({ timestamp: start + i * H, durationMinutes: 60, gCO2eqPerKWh: value }));
}

function setup(steps: (clock: FakeClock) => Step[], opts: { random?: number; watch?: boolean; timeoutMs?: number } = {}) {
  const clock = new FakeClock(T0);
  const source = new ScriptedSource(clock, steps(clock), opts.watch);
  const store = new CarbonStore({ source: source.name, maxDataAgeMs: 2 * H });
  const metrics = createMetrics().carbon;
  const { logger, lines } = captureLogger();
  const refresher = new Refresher({
    source,
    store,
    clock,
    metrics,
    logger,
    refreshIntervalMs: 5 * M,
    timeoutMs: opts.timeoutMs ?? 10_000,
    random: () => opts.random ?? 0.5,
  });
  return { clock, source, store, metrics, refresher, lines };
}

t.test('fetches at start, then every refreshInterval with jitter', async (t) => {
  for (const [r, expected] of [
    [0.5, 5 * M],
    [0, 4.5 * M],
    [0.99999, 5.5 * M - 1],
  ] as const) {
    const { clock, source, refresher } = setup((c) => [around(c, 300)], { random: r });
    refresher.start();
    await clock.advance(0);
    t.equal(source.calls.length, 1, 'first fetch right away');
    t.equal(clock.nextDelay(), expected, `random ${r}: next fetch in ${Math.round(expected / 1000)} s`);
    await clock.advance(expected);
    t.equal(source.calls.length, 2, 'second fetch after the interval');
    await refresher.stop();
  }
});

t.test('failures back off exponentially with jitter, capped, and reset on success', async (t) => {
  const fail = new SourceError('http', 'scripted: 500', { status: 500 });
  const { clock, source, refresher, store } = setup((c) => [fail, fail, fail, fail, fail, fail, fail, fail, around(c, 300)], { random: 0.99999 });
  refresher.start();
  await clock.advance(0);
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    const d = clock.nextDelay()!;
    delays.push(Math.round(d / 1000));
    await clock.advance(d);
  }
  t.same(delays, [5, 10, 20, 40, 80, 160, 300, 300], 'doubling from 5 s, capped at the 5 min interval');
  t.equal(source.calls.length, 9);
  t.equal(refresher.status().consecutiveFailures, 0, 'reset by the success');
  t.equal(store.snapshot().points.length, 3);
  t.equal(clock.nextDelay(), 5.5 * M - 1, 'back on the normal interval');
  await refresher.stop();
});

t.test('backoff jitter spreads each retry between half and all of the step', async (t) => {
  const fail = new SourceError('http', 'scripted: 500', { status: 500 });
  const { clock, refresher } = setup(() => [fail], { random: 0 });
  refresher.start();
  await clock.advance(0);
  t.equal(clock.nextDelay(), 2500, 'half of the 5 s step');
  await refresher.stop();
});

t.test('429 with Retry-After: no retry and no watch-triggered fetch before it', async (t) => {
  const limited = new SourceError('http', 'scripted: 429', { status: 429, retryAfterMs: 120_000 });
  const { clock, source, refresher } = setup((c) => [limited, around(c, 300)], { watch: true });
  refresher.start();
  await clock.advance(0);
  t.equal(clock.nextDelay(), 120_000, 'waits what the provider asked, longer than the 5 s backoff');
  source.onChange!();
  await clock.advance(60_000);
  t.equal(source.calls.length, 1, 'a change notice does not jump the Retry-After');
  await clock.advance(60_000);
  t.equal(source.calls.length, 2, 'retried once the wait is over');
  t.ok(refresher.hasFreshData());
  await refresher.stop();
});

t.test('keeps the last good data through failures until it goes stale', async (t) => {
  const fail = new SourceError('unavailable', 'scripted: cannot reach');
  const { clock, refresher, store, lines } = setup((c) => [around(c, 420), fail]);
  refresher.start();
  await clock.advance(0);
  const good = store.snapshot();
  t.ok(refresher.hasFreshData(), 'ready after the first fetch');
  await clock.advance(H);
  t.equal(store.snapshot(), good, 'failures leave the store alone');
  t.ok(refresher.hasFreshData(), 'one hour old is still fresh');
  t.ok(refresher.status().consecutiveFailures > 3);
  await clock.advance(H + 1);
  t.notOk(refresher.hasFreshData(), 'older than maxDataAge: not ready');
  t.ok(
    lines.some((l) => /carbon data refresh failed: scripted: cannot reach/.test(l) && /"keptDataFrom":"2026-06-01T12:00:00.000Z"/.test(l)),
    'failure logged with the age of the data kept',
  );
  await refresher.stop();
});

t.test('garbage never reaches the store, and the reason is logged and counted', async (t) => {
  const { clock, refresher, store, lines, metrics } = setup((c) => [around(c, 300), [{ timestamp: c.now(), durationMinutes: 60, gCO2eqPerKWh: -5 }]]);
  refresher.start();
  await clock.advance(0);
  const good = store.snapshot();
  await clock.advance(5 * M);
  t.equal(store.snapshot(), good, 'store unchanged');
  t.ok(
    lines.some((l) => /intensity -5 gCO2eq\/kWh is negative/.test(l)),
    'reason logged',
  );
  const errs = await metrics.providerFetchErrors.get();
  t.same(
    errs.values.map((v) => [v.labels, v.value]),
    [[{ source: 'scripted', reason: 'invalid' }, 1]],
  );
});

t.test('a fetch that hangs is aborted at the timeout, even if the source ignores its signal', async (t) => {
  for (const step of ['hang', 'hang-ignoring-signal'] as const) {
    const { clock, source, refresher, metrics } = setup(() => [step], { timeoutMs: 3000 });
    refresher.start();
    await clock.advance(0);
    t.equal(refresher.status().consecutiveFailures, 0, 'still waiting');
    await clock.advance(3000);
    t.ok(source.calls[0]!.signal.aborted, `${step}: the signal fired`);
    t.equal(refresher.status().consecutiveFailures, 1);
    t.match(refresher.status().lastError, /no answer within the timeout/);
    const errs = await metrics.providerFetchErrors.get();
    t.equal(errs.values[0]?.labels.reason, 'timeout');
    await refresher.stop();
  }
});

t.test('stop clears every timer, cancels the fetch in flight and stops watching', async (t) => {
  const { clock, source, refresher } = setup(() => ['hang'], { watch: true });
  refresher.start();
  await clock.advance(0);
  t.ok(clock.timers.length > 0, 'timeout timer pending');
  await refresher.stop();
  t.equal(clock.timers.length, 0, 'no timer left');
  t.ok(source.calls[0]!.signal.aborted, 'fetch cancelled');
  t.ok(source.unwatched, 'watch closed');
  t.equal(refresher.status().consecutiveFailures, 0, 'a cancel by stop is not a failure');
  source.onChange!();
  await clock.advance(10 * M);
  t.equal(source.calls.length, 1, 'nothing runs after stop');
});

t.test('a watch notice triggers an immediate fetch', async (t) => {
  const { clock, source, refresher, store } = setup((c) => [around(c, 300), around(c, 480)], { watch: true });
  refresher.start();
  await clock.advance(0);
  await clock.advance(M);
  source.onChange!();
  await clock.advance(0);
  t.equal(source.calls.length, 2);
  t.equal(store.snapshot().points[0]!.gCO2eqPerKWh, 480);
  t.equal(clock.nextDelay(), 5 * M, 'the interval restarts from the new fetch');
  await refresher.stop();
});

t.test('refreshNow shares a fetch in flight', async (t) => {
  const { clock, source, refresher } = setup((c) => [around(c, 300)]);
  const [a, b] = await Promise.all([refresher.refreshNow(), refresher.refreshNow()]);
  t.same(a, { ok: true, points: 3 });
  t.equal(a, b);
  t.equal(source.calls.length, 1);
  t.equal(clock.timers.length, 0, 'refreshNow schedules nothing');
});
