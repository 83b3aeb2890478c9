import type { IntensityConfig } from '../../config/intensity.js';
import type { IntensityPoint } from '../../core/carbon.js';
import type { SourceDeps } from './deps.js';
import type { IntensitySource } from '../source.js';

const HALF_HOUR_MIN = 30;
const DAY = 86_400_000;

/**
 * A made-up but typical day on a mixed grid, gCO2eq/kWh per half hour from 00:00 UTC: a
 * gas-heavy morning peak, a deep solar dip at midday and the evening peak as solar fades.
 * It crosses 300 and 500 several times a day so every band of a typical policy shows.
 */
export const SAMPLE_CURVE: readonly number[] = [
  390,
  385,
  380,
  376,
  372,
  368,
  365,
  366,
  368,
  376,
  385,
  407, // 00:00-05:30
  430,
  460,
  490,
  510,
  530,
  515,
  500,
  460,
  420,
  370,
  320,
  275, // 06:00-11:30
  230,
  202,
  175,
  167,
  160,
  175,
  190,
  230,
  270,
  325,
  380,
  430, // 12:00-17:30
  480,
  512,
  545,
  540,
  535,
  518,
  500,
  478,
  455,
  435,
  415,
  402, // 18:00-23:30
];

/** The curve laid onto yesterday, today and tomorrow (UTC), so there is history and a forecast. */
export function sampleDay(now: number): IntensityPoint[] {
  const today = Math.floor(now / DAY) * DAY;
  const out: IntensityPoint[] = [];
  for (let day = today - DAY; day <= today + DAY; day += DAY) {
    for (const [i, v] of SAMPLE_CURVE.entries()) out.push({ timestamp: day + i * HALF_HOUR_MIN * 60_000, durationMinutes: HALF_HOUR_MIN, gCO2eqPerKWh: v });
  }
  return out;
}

/** The quick-start source: no network, no credentials, a realistic daily shape. */
export function createSampleSource(cfg: IntensityConfig, deps: SourceDeps): IntensitySource {
  const now = deps.now ?? Date.now;
  return {
    name: `sample:${cfg.location || 'sample'}`,
    signal: cfg.signal ?? 'unknown',
    async fetch() {
      return sampleDay(now());
    },
  };
}
