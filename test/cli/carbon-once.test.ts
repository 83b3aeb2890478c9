import t from 'tap';
import { givenOver } from '../../src/cli/carbon-once.js';
import { hourly } from '../helpers/carbon.js';

const T0 = Date.parse('2026-11-23T00:00:00Z');
const HOUR = 3_600_000;

t.test('givenOver replaces the point covering the time and keeps the rest of the window', async (t) => {
  const snap = hourly(T0, [100, 200, 300, 400], T0);
  const over = givenOver(snap, 999, T0 + 2 * HOUR + 10 * 60_000);
  t.same(
    over.points.map((p) => [p.timestamp - T0, p.durationMinutes, p.gCO2eqPerKWh]),
    [
      [0, 60, 100],
      [HOUR, 60, 200],
      [2 * HOUR, 60, 999],
      [3 * HOUR, 60, 400],
    ],
  );
  t.equal(over.source, 'given:--intensity over test:zone');
  t.equal(over.fetchedAt, snap.fetchedAt);
  t.same(snap.points[2]!.gCO2eqPerKWh, 300, 'the snapshot itself is left alone');
});

t.test('givenOver lays an hour of the value in where no point covers the time', async (t) => {
  // Points at 00:00 and 02:00 only; 01:20 falls in the gap and gets 01:00-02:00.
  const snap = { ...hourly(T0, [100], T0), points: [...hourly(T0, [100], T0).points, ...hourly(T0 + 2 * HOUR, [300], T0).points] };
  const over = givenOver(snap, 555, T0 + HOUR + 20 * 60_000);
  t.same(
    over.points.map((p) => [p.timestamp - T0, p.durationMinutes, p.gCO2eqPerKWh]),
    [
      [0, 60, 100],
      [HOUR, 60, 555],
      [2 * HOUR, 60, 300],
    ],
  );
});
