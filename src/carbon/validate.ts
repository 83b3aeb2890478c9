import { invalid } from './errors.js';
import type { IntensityPoint } from '../core/carbon.js';

/**
 * No grid on record averages anywhere near this (lignite plants peak around 1,200
 * gCO2eq/kWh); a larger number means wrong units (lbs/MWh, mg/kWh) or garbage.
 */
export const MAX_PLAUSIBLE_G_PER_KWH = 5000;
/** A point longer than a week is not a forecast interval; it is a unit mistake. */
const MAX_DURATION_MINUTES = 7 * 24 * 60;
/** Timestamps outside these years are seconds mistaken for milliseconds or vice versa. */
const MIN_TIME = Date.UTC(2000, 0, 1);
const MAX_TIME = Date.UTC(2100, 0, 1);
const MINUTE = 60_000;

function iso(t: number): string {
  return Number.isFinite(t) ? new Date(t).toISOString() : String(t);
}

/**
 * Check points from one fetch before they reach the store. Throws a `SourceError` of kind
 * `invalid` naming the first problem; never reorders or repairs, because a provider that
 * sends points out of order has a bug we should not paper over.
 */
export function validatePoints(points: readonly IntensityPoint[], source: string): IntensityPoint[] {
  if (!Array.isArray(points) || points.length === 0) throw invalid(`${source}: no data points in the response`);
  let prevEnd = -Infinity;
  const out: IntensityPoint[] = [];
  points.forEach((p, i) => {
    const where = `${source}: point ${i}`;
    if (typeof p !== 'object' || p === null) throw invalid(`${where} is not an object`);
    const { timestamp, durationMinutes, gCO2eqPerKWh } = p;
    if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) throw invalid(`${where}: timestamp ${String(timestamp)} is not a finite number`);
    if (timestamp < MIN_TIME || timestamp > MAX_TIME) {
      throw invalid(`${where}: timestamp ${iso(timestamp)} is outside 2000-2100 (seconds mistaken for milliseconds?)`);
    }
    if (typeof durationMinutes !== 'number' || !Number.isFinite(durationMinutes) || durationMinutes <= 0) {
      throw invalid(`${where} (${iso(timestamp)}): duration ${String(durationMinutes)} min must be a number > 0`);
    }
    if (durationMinutes > MAX_DURATION_MINUTES) {
      throw invalid(`${where} (${iso(timestamp)}): duration ${durationMinutes} min is longer than a week (seconds given as minutes?)`);
    }
    if (typeof gCO2eqPerKWh !== 'number' || !Number.isFinite(gCO2eqPerKWh)) {
      throw invalid(`${where} (${iso(timestamp)}): intensity ${String(gCO2eqPerKWh)} is not a finite number`);
    }
    if (gCO2eqPerKWh < 0) throw invalid(`${where} (${iso(timestamp)}): intensity ${gCO2eqPerKWh} gCO2eq/kWh is negative`);
    if (gCO2eqPerKWh > MAX_PLAUSIBLE_G_PER_KWH) {
      throw invalid(`${where} (${iso(timestamp)}): intensity ${gCO2eqPerKWh} gCO2eq/kWh is above ${MAX_PLAUSIBLE_G_PER_KWH} (wrong units?)`);
    }
    if (timestamp < prevEnd) {
      const prev = points[i - 1]!;
      throw invalid(
        timestamp <= prev.timestamp
          ? `${where} (${iso(timestamp)}) is out of order: it does not come after ${iso(prev.timestamp)}`
          : `${where} (${iso(timestamp)}) overlaps the previous point, which runs until ${iso(prevEnd)}`,
      );
    }
    prevEnd = timestamp + durationMinutes * MINUTE;
    out.push({ timestamp, durationMinutes, gCO2eqPerKWh });
  });
  return out;
}

/** RFC 3339 date-times as providers send them: `2026-06-01T13:00Z`, `...:00.000Z`, `...+00:00`. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Parse a provider's date-time; a missing zone or a non-date is an `invalid` error naming `what`. */
export function parseTime(value: unknown, what: string): number {
  if (typeof value !== 'string' || !RFC3339.test(value.trim())) {
    throw invalid(`${what}: ${JSON.stringify(value)} is not an RFC 3339 date-time with a zone`);
  }
  const t = Date.parse(value.trim().replace(' ', 'T'));
  if (!Number.isFinite(t)) throw invalid(`${what}: ${JSON.stringify(value)} is not a valid date-time`);
  return t;
}

/** A finite number, or a string holding one (Prometheus sends values as strings). */
export function parseNumber(value: unknown, what: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  if (!Number.isFinite(n)) throw invalid(`${what}: ${JSON.stringify(value)} is not a finite number`);
  return n;
}

export function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

export function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw invalid(`${what} is not a JSON array`);
  return value;
}
