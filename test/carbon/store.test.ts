import t from 'tap';
import { CarbonStore, forecastAhead, pointsBetween } from '../../src/carbon/store.js';
import type { IntensityPoint } from '../../src/core/carbon.js';
import { currentIntensity, stayedAtOrAbove } from '../../src/core/view.js';

const H = 3_600_000;
const M = 60_000;
const T0 = Date.UTC(2026, 5, 1, 12);
const hourly = (fromHour: number, values: number[]): IntensityPoint[] =>
  values.map((v, i) => ({ timestamp: T0 + (fromHour + i) * H, durationMinutes: 60, gCO2eqPerKWh: v }));

t.test('an empty store reports missing data', async (t) => {
  const s = new CarbonStore({ source: 'test:X', maxDataAgeMs: 2 * H });
  const snap = s.snapshot();
  t.equal(snap.fetchedAt, null);
  t.same(snap.points, []);
  const cur = currentIntensity(snap, T0);
  t.equal(cur.state, 'missing');
  t.match(cur.state === 'ok' ? '' : cur.reason, /no data from test:X yet/);
});

t.test('snapshot is the same frozen object until the next update', async (t) => {
  const s = new CarbonStore({ source: 'test:X', maxDataAgeMs: 2 * H });
  s.update(hourly(0, [100, 200]), T0);
  const a = s.snapshot();
  t.equal(s.snapshot(), a, 'no copy on read');
  t.ok(Object.isFrozen(a) && Object.isFrozen(a.points) && Object.isFrozen(a.points[0]), 'frozen all the way down');
  s.update(hourly(1, [300]), T0 + H);
  t.not(s.snapshot(), a, 'an update makes a new snapshot');
  t.same(
    a.points.map((p) => p.gCO2eqPerKWh),
    [100, 200],
    'an old snapshot stays as it was',
  );
});

t.test('merge: the new fetch is the truth from its first point on, history is kept', async (t) => {
  const s = new CarbonStore({ source: 'test:X', maxDataAgeMs: 2 * H });
  s.update(hourly(0, [100, 200, 300, 400]), T0);
  // A newer forecast starting half-way through hour 1, shorter than the old one.
  const next: IntensityPoint[] = [
    { timestamp: T0 + 1.5 * H, durationMinutes: 30, gCO2eqPerKWh: 250 },
    { timestamp: T0 + 2 * H, durationMinutes: 60, gCO2eqPerKWh: 350 },
  ];
  const snap = s.update(next, T0 + 1.5 * H);
  t.same(
    snap.points.map((p) => [(p.timestamp - T0) / M, p.durationMinutes, p.gCO2eqPerKWh]),
    [
      [0, 60, 100],
      [60, 30, 200],
      [90, 30, 250],
      [120, 60, 350],
    ],
    'old hour 1 cut where the new data starts; the old hour 3 forecast is gone',
  );
  t.equal(snap.fetchedAt, T0 + 1.5 * H);
});

t.test('merge keeps an unbroken history for the duration override', async (t) => {
  const s = new CarbonStore({ source: 'test:X', maxDataAgeMs: 2 * H });
  // Five-minute points, each refresh bringing the current one and a forecast.
  for (let i = 0; i < 12; i++) {
    const start = T0 + i * 5 * M;
    s.update(
      [0, 1, 2].map((k) => ({ timestamp: start + k * 5 * M, durationMinutes: 5, gCO2eqPerKWh: 600 })),
      start,
    );
  }
  const now = T0 + 58 * M;
  t.ok(stayedAtOrAbove(s.snapshot().points, now, 555, 45), 'stayed >= 555 for 45 min across twelve refreshes');
  t.notOk(stayedAtOrAbove(s.snapshot().points, now, 555, 90), 'a window longer than the history never triggers');
});

t.test('history older than historyMs is dropped', async (t) => {
  const s = new CarbonStore({ source: 'test:X', maxDataAgeMs: 2 * H, historyMs: 3 * H });
  s.update(hourly(0, [1, 2, 3, 4, 5, 6]), T0);
  const snap = s.update(hourly(5, [60, 70]), T0 + 5 * H);
  t.same(
    snap.points.map((p) => p.gCO2eqPerKWh),
    [3, 4, 5, 60, 70],
    'hours 0 and 1 ended more than 3 h before the fetch',
  );
});

t.test('staleness: data older than maxDataAge is stale even where points cover now', async (t) => {
  const s = new CarbonStore({ source: 'test:X', maxDataAgeMs: 2 * H });
  s.update(hourly(0, [100, 200, 300, 400, 500]), T0);
  t.same(currentIntensity(s.snapshot(), T0 + 1.5 * H), { state: 'ok', point: s.snapshot().points[1] });
  t.equal(currentIntensity(s.snapshot(), T0 + 2 * H).state, 'ok', 'exactly maxDataAge old is still fresh');
  const stale = currentIntensity(s.snapshot(), T0 + 2 * H + 1);
  t.equal(stale.state, 'stale');
  t.match(stale.state === 'ok' ? '' : stale.reason, /120 min old \(maxDataAge 120 min\)/);
  const beyond = new CarbonStore({ source: 'test:X', maxDataAgeMs: 10 * H });
  beyond.update(hourly(0, [100]), T0);
  t.equal(currentIntensity(beyond.snapshot(), T0 + 2 * H).state, 'missing', 'fresh fetch but no point covering now');
});

t.test('reconfigure: same source keeps data, another source starts empty', async (t) => {
  const s = new CarbonStore({ source: 'test:X', maxDataAgeMs: 2 * H });
  s.update(hourly(0, [100]), T0);
  s.reconfigure({ source: 'test:X', maxDataAgeMs: 5 * H });
  t.equal(s.snapshot().maxDataAgeMs, 5 * H);
  t.equal(s.snapshot().points.length, 1);
  s.reconfigure({ source: 'other:Y', maxDataAgeMs: 5 * H });
  t.equal(s.snapshot().source, 'other:Y');
  t.equal(s.snapshot().fetchedAt, null);
  t.same(s.snapshot().points, []);
});

t.test('subscribers are told once per change, with the new snapshot, until they unsubscribe', async (t) => {
  const s = new CarbonStore({ source: 'test:X', maxDataAgeMs: 2 * H });
  const seen: Array<{ fetchedAt: number | null; source: string; maxDataAgeMs: number }> = [];
  const unsubscribe = s.subscribe((snap) => {
    t.equal(snap, s.snapshot(), 'the listener sees the snapshot readers now get');
    seen.push({ fetchedAt: snap.fetchedAt, source: snap.source, maxDataAgeMs: snap.maxDataAgeMs });
  });
  s.update(hourly(0, [100]), T0);
  s.update(hourly(0, [100]), T0 + M);
  t.same(
    seen.map((e) => e.fetchedAt),
    [T0, T0 + M],
    'each fetch is a change: the data age starts again',
  );

  const before = s.snapshot();
  s.reconfigure({ source: 'test:X', maxDataAgeMs: 2 * H });
  t.equal(seen.length, 2, 'a reconfigure that changes nothing is not a change');
  t.equal(s.snapshot(), before, 'and keeps the snapshot');
  s.reconfigure({ source: 'test:X', maxDataAgeMs: 3 * H });
  s.reconfigure({ source: 'other:Y', maxDataAgeMs: 3 * H });
  t.same(seen.slice(2), [
    { fetchedAt: T0 + M, source: 'test:X', maxDataAgeMs: 3 * H },
    { fetchedAt: null, source: 'other:Y', maxDataAgeMs: 3 * H },
  ]);

  unsubscribe();
  unsubscribe();
  s.update(hourly(0, [200]), T0 + 2 * M);
  t.equal(seen.length, 4, 'nothing after unsubscribe, and a second unsubscribe is harmless');
});

t.test('one listener subscribed twice is two subscriptions; unsubscribing one keeps the other', async (t) => {
  const s = new CarbonStore({ source: 'test:X', maxDataAgeMs: 2 * H });
  let calls = 0;
  const listener = () => {
    calls++;
  };
  const first = s.subscribe(listener);
  s.subscribe(listener);
  s.update(hourly(0, [100]), T0);
  t.equal(calls, 2);
  first();
  s.update(hourly(0, [100]), T0 + M);
  t.equal(calls, 3);
});

t.test('a listener that unsubscribes while being told does not stop the others', async (t) => {
  const s = new CarbonStore({ source: 'test:X', maxDataAgeMs: 2 * H });
  const order: string[] = [];
  const once = s.subscribe(() => {
    order.push('once');
    once();
  });
  s.subscribe(() => order.push('always'));
  s.update(hourly(0, [100]), T0);
  s.update(hourly(0, [100]), T0 + M);
  t.same(order, ['once', 'always', 'always']);
});

t.test('forecast and history helpers', async (t) => {
  const s = new CarbonStore({ source: 'test:X', maxDataAgeMs: 2 * H });
  s.update(hourly(0, [1, 2, 3, 4, 5]), T0);
  const snap = s.snapshot();
  t.same(
    forecastAhead(snap, T0 + 1.5 * H, 2 * H).map((p) => p.gCO2eqPerKWh),
    [2, 3, 4],
    'current point first, then up to the horizon',
  );
  t.same(
    pointsBetween(snap, T0 - 5 * H, T0 + 0.5 * H).map((p) => p.gCO2eqPerKWh),
    [1],
    'from before the data starts',
  );
  t.same(pointsBetween(snap, T0 + 9 * H, T0 + 10 * H), [], 'after the data ends');
});
