import t from 'tap';
import { SourceError } from '../../src/carbon/errors.js';
import { overlay } from '../../src/core/points.js';
import type { IntensityPoint } from '../../src/core/carbon.js';
import { parseNumber, parseTime, validatePoints } from '../../src/carbon/validate.js';

const T0 = Date.UTC(2026, 5, 1, 12);
const M = 60_000;
const pt = (min: number, dur: number, v: number): IntensityPoint => ({ timestamp: T0 + min * M, durationMinutes: dur, gCO2eqPerKWh: v });

function rejects(t: { ok(v: unknown, m: string): void; match(a: unknown, b: RegExp, m: string): void }, points: unknown, match: RegExp, what: string) {
  let err: unknown;
  try {
    validatePoints(points as IntensityPoint[], 'test:X');
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof SourceError && err.kind === 'invalid', `${what}: rejected as invalid`);
  t.match((err as Error | undefined)?.message, match, `${what}: reason`);
}

t.test('accepts sorted, contiguous or gapped points and copies them', async (t) => {
  const input = [pt(0, 30, 100), pt(30, 30, 0), pt(120, 60, 4999)];
  const out = validatePoints(input, 'test:X');
  t.same(out, input);
  t.not(out[0], input[0], 'copies, so the caller cannot mutate stored points');
});

t.test('rejects garbage with a reason naming the point', async (t) => {
  rejects(t, [], /no data points/, 'empty');
  rejects(t, null, /no data points/, 'not an array');
  rejects(t, [pt(0, 30, NaN)], /point 0 .*not a finite number/, 'NaN');
  rejects(t, [pt(0, 30, Infinity)], /not a finite number/, 'Infinity');
  rejects(t, [pt(0, 30, -1)], /negative/, 'negative');
  rejects(t, [pt(0, 30, 5001)], /above 5000 .*wrong units/, 'absurd');
  rejects(t, [pt(0, 0, 100)], /duration 0 min must be a number > 0/, 'zero duration');
  rejects(t, [pt(0, 60 * 24 * 8, 100)], /longer than a week/, 'huge duration');
  rejects(t, [{ timestamp: T0 / 1000, durationMinutes: 30, gCO2eqPerKWh: 1 }], /outside 2000-2100/, 'seconds as ms');
  rejects(t, [pt(30, 30, 100), pt(0, 30, 100)], /point 1 .*out of order/, 'out of order');
  rejects(t, [pt(0, 30, 100), pt(0, 30, 100)], /out of order/, 'duplicate');
  rejects(t, [pt(0, 60, 100), pt(30, 30, 100)], /point 1 .*overlaps the previous point/, 'overlap');
  rejects(t, [{ timestamp: 'soon', durationMinutes: 30, gCO2eqPerKWh: 1 }], /timestamp soon is not a finite number/, 'string time');
});

t.test('parseTime wants a zone; parseNumber wants a finite number', async (t) => {
  t.equal(parseTime('2026-06-01T13:00Z', 'x'), Date.UTC(2026, 5, 1, 13));
  t.equal(parseTime('2026-06-01T13:00:00+02:00', 'x'), Date.UTC(2026, 5, 1, 11));
  t.equal(parseTime('2026-06-01T13:00:00.000Z', 'x'), Date.UTC(2026, 5, 1, 13));
  t.throws(() => parseTime('2026-06-01T13:00:00', 'field f'), /field f: "2026-06-01T13:00:00" is not an RFC 3339 date-time with a zone/);
  t.throws(() => parseTime(1780318800, 'field f'), /is not an RFC 3339/);
  t.throws(() => parseTime('2026-13-45T99:00Z', 'field f'), /not a valid date-time/);
  t.equal(parseNumber('386.5', 'v'), 386.5);
  t.throws(() => parseNumber('NaN', 'v'), /"NaN" is not a finite number/);
  t.throws(() => parseNumber(null, 'v'), /null is not a finite number/);
  t.throws(() => parseNumber('', 'v'), /is not a finite number/);
});

t.test('overlay: the top wins where it covers, the base is cut, no gaps appear', async (t) => {
  const base = [pt(0, 60, 100), pt(60, 60, 200), pt(120, 60, 300)];
  t.same(overlay(base, [pt(60, 60, 999)]), [pt(0, 60, 100), pt(60, 60, 999), pt(120, 60, 300)], 'same interval replaced');
  t.same(overlay(base, [pt(75, 5, 999)]), [pt(0, 60, 100), pt(60, 15, 200), pt(75, 5, 999), pt(80, 40, 200), pt(120, 60, 300)], 'inside: split around');
  t.same(overlay(base, [pt(30, 60, 999)]), [pt(0, 30, 100), pt(30, 60, 999), pt(90, 30, 200), pt(120, 60, 300)], 'straddling two');
  t.same(
    overlay(base, [pt(-30, 30, 1), pt(200, 10, 2)]),
    [pt(-30, 30, 1), ...base.slice(0, 2), pt(120, 60, 300), pt(200, 10, 2)].sort((a, b) => a.timestamp - b.timestamp),
    'outside on both ends',
  );
  t.same(overlay([], [pt(0, 5, 1)]), [pt(0, 5, 1)]);
  t.same(overlay(base, []), base);
  const merged = overlay(base, [pt(50, 100, 7)]);
  t.doesNotThrow(() => validatePoints(merged, 'merged'), 'the result is sorted and non-overlapping');
});
