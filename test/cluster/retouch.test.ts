import t, { type Test } from 'tap';
import type { CarbonSnapshot } from '../../src/core/carbon.js';
import { RetouchTimer } from '../../src/cluster/retouch.js';
import type { SweepOptions, SweepResult, SweepStats } from '../../src/cluster/sweep.js';
import { parseConfigText, type RuntimeConfig } from '../../src/config/config.js';
import type { CapSubject } from '../../src/core/moments.js';
import { createMetrics } from '../../src/server/metrics.js';
import { HOUR, MINUTE, hourly } from '../helpers/carbon.js';
import { FakeClock, settle } from '../helpers/clock.js';
import { captureLogger } from '../helpers/log.js';

const H0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const START = H0 + 10 * MINUTE;

function config(touch = 'interval: 1h\n  followForecast: true'): RuntimeConfig {
  return parseConfigText(`policies:\n  standard:\n    carbon: [{measuredEmission: 300, allowedMaxReplicaCount: 3}]\ntouch:\n  ${touch}\n`, 'test');
}

const stats = (over: Partial<SweepStats> = {}): SweepStats => ({ seen: 1, touched: 0, changed: 0, unapplied: 0, failed: 0, invalid: 0, pages: 1, restarts: 0, requests: 1, durationMs: 5, complete: true, ...over });

function setup(t: Test, opts: { config?: RuntimeConfig; carbon?: CarbonSnapshot; sweepMs?: number } = {}) {
  const clock = new FakeClock(START);
  let cfg = opts.config ?? config();
  let snapshot = opts.carbon ?? hourly(H0, [100, 100, 100, 100], START, 6 * HOUR);
  const calls: Array<{ at: number; options: SweepOptions }> = [];
  const metrics = createMetrics();
  const { logger, lines } = captureLogger();
  let subjects: () => Map<string, CapSubject[]> = () => new Map();
  const timer = new RetouchTimer({
    sweep: async (options) => {
      calls.push({ at: clock.now(), options });
      if (opts.sweepMs) {
        await new Promise<void>((resolve, reject) => {
          const h = clock.setTimeout(resolve, opts.sweepMs!);
          options.signal?.addEventListener('abort', () => {
            clock.clearTimeout(h);
            reject(Object.assign(new Error('stopped'), { name: 'AbortedError' }));
          });
        });
      }
      return { stats: stats(), subjects: subjects() } satisfies SweepResult;
    },
    config: () => cfg,
    carbon: { snapshot: () => snapshot },
    logger,
    metrics,
    clock,
  });
  const leadership = new AbortController();
  t.teardown(() => timer.stop());
  return {
    clock,
    timer,
    calls,
    lines,
    metrics,
    leadership,
    start: async () => {
      timer.start(leadership.signal);
      await settle();
    },
    /** What the sweep reports, computed when it runs (as the real one decides from the data). */
    setSubjects: (s: () => Map<string, CapSubject[]>) => (subjects = s),
    snapshot: () => snapshot,
    setCarbon: (s: CarbonSnapshot) => (snapshot = s),
    setConfig: (c: RuntimeConfig) => (cfg = c),
    reasons: () => calls.map((c) => c.options.reason),
  };
}

t.test('sweeps at once on becoming leader, then every interval', async (t) => {
  const env = setup(t, { config: config('interval: 1h\n  followForecast: false') });
  await env.start();
  t.same(env.reasons(), ['became leader']);
  await env.clock.advance(HOUR - 1);
  t.equal(env.calls.length, 1);
  await env.clock.advance(1);
  t.same(env.reasons(), ['became leader', 'interval']);
  t.equal(env.calls[1]!.at, START + HOUR);
  t.equal(env.clock.timers.length, 1, 'without followForecast only the interval timer is set');
  t.ok(env.lines.some((l) => l.includes('"msg":"sweep finished"') && l.includes('"reason":"interval"')), 'each sweep is logged');
  const sweeps = await env.metrics.registry.getSingleMetric('keda_carbon_sweeps_total')!.get();
  t.equal(sweeps.values.find((v) => v.labels.result === 'ok')!.value, 2, 'and counted');
});

t.test('followForecast: sweeps just after the boundary where a cap changes', async (t) => {
  const env = setup(t, { carbon: hourly(H0, [100, 400, 100, 100], START, 6 * HOUR) });
  await env.start();
  t.equal(env.calls.length, 1);
  await env.clock.advance(H0 + HOUR - START);
  t.equal(env.calls.length, 1, 'not before the boundary');
  await env.clock.advance(1000);
  t.same(env.reasons(), ['became leader', 'forecast: a cap changes now']);
  t.equal(env.calls[1]!.at, H0 + HOUR + 1000, 'one second after the 11:00 boundary');
  // the probe for the named policy now sits at cap 3; the next change is 12:00
  await env.clock.advance(HOUR);
  t.equal(env.calls.length, 3);
  t.equal(env.calls[2]!.at, H0 + 2 * HOUR + 1000);
});

t.test('followForecast: new data that changes a cap now is acted on within a poll', async (t) => {
  for (const withObjects of [true, false]) {
    const cfg = config();
    const env = setup(t, { config: cfg });
    const policy = cfg.policies.get('standard')!;
    // with objects from the sweep, or only the probe for the named policy
    const cap = () => (env.snapshot().points[0]!.gCO2eqPerKWh >= 300 ? 3 : 10);
    if (withObjects) env.setSubjects(() => new Map([['team', [{ policy, declared: 10, minReplicas: 0, ecoModeOffAnnotation: false, cap: cap() }]]]));
    await env.start();
    await env.clock.advance(30 * MINUTE); // nothing changes in the forecast
    t.equal(env.calls.length, 1);
    env.setCarbon(hourly(H0, [450, 450, 450], env.clock.now(), 6 * HOUR)); // a refresh: the band changed
    await env.clock.advance(5000);
    t.same(env.reasons(), ['became leader', 'forecast: a cap changes now'], withObjects ? 'seen through the objects' : 'seen through the probe');
    await env.clock.advance(10 * MINUTE);
    t.equal(env.calls.length, 2, 'and not again while the data stays');
    await env.timer.stop();
  }
});

t.test('requested sweeps: gathered for 2 s, per namespace or everything', async (t) => {
  const env = setup(t, { config: config('interval: 1h\n  followForecast: false') });
  await env.start();
  env.timer.request('namespace a label changed', 'a');
  env.timer.request('namespace b label changed', 'b');
  await env.clock.advance(1999);
  t.equal(env.calls.length, 1);
  await env.clock.advance(1);
  t.same(
    env.calls.slice(1).map((c) => c.options.namespace),
    ['a', 'b'],
  );
  t.equal(env.calls[1]!.options.reason, 'namespace a label changed; namespace b label changed');
  env.timer.request('namespace a label changed', 'a');
  env.timer.request('configuration reloaded');
  await env.clock.advance(2000);
  t.same(env.calls.slice(3).map((c) => c.options.namespace), [undefined], 'a full sweep covers the namespace too');
});

t.test('sweeps never overlap; stop aborts the one running; nothing runs after', async (t) => {
  const env = setup(t, { sweepMs: 10_000, config: config('interval: 1m\n  followForecast: false') });
  await env.start();
  t.equal(env.calls.length, 1);
  env.timer.request('configuration reloaded');
  await env.clock.advance(5000);
  t.equal(env.calls.length, 1, 'the request waits for the running sweep');
  await env.clock.advance(5000);
  await settle();
  t.equal(env.calls.length, 2, 'then runs');
  const running = env.calls[1]!.options.signal!;
  env.leadership.abort(); // leadership lost
  await settle();
  t.equal(running.aborted, true);
  t.equal(env.timer.isRunning, false);
  await env.clock.advance(HOUR);
  t.equal(env.calls.length, 2);
  env.timer.request('ignored: not leading');
  await env.clock.advance(HOUR);
  t.equal(env.calls.length, 2);
});

t.test('a sweep that throws is logged and the timer goes on', async (t) => {
  const clock = new FakeClock(START);
  const { logger, lines } = captureLogger();
  let n = 0;
  const timer = new RetouchTimer({
    sweep: async () => {
      n++;
      throw new Error('boom');
    },
    config: () => config('interval: 1m\n  followForecast: false'),
    carbon: { snapshot: () => hourly(H0, [100], START) },
    logger,
    clock,
  });
  t.teardown(() => timer.stop());
  timer.start(new AbortController().signal);
  await settle();
  await clock.advance(MINUTE);
  t.equal(n, 2);
  t.ok(lines.some((l) => l.includes('sweep failed; the timer goes on') && l.includes('boom')));
});
