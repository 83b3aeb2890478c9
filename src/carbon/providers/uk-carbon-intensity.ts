import { ownSignal } from '../../config/providers.js';
import { ConfigError } from '../../config/errors.js';
import type { IntensityConfig } from '../../config/intensity.js';
import { invalid } from '../errors.js';
import { overlay } from '../../core/points.js';
import type { IntensityPoint } from '../../core/carbon.js';
import { asArray, asObject, parseNumber, parseTime } from '../validate.js';
import type { SourceDeps } from './deps.js';
import { getJson, joinUrl } from './http.js';
import type { IntensitySource } from '../source.js';

export const UK_CARBON_INTENSITY_URL = 'https://api.carbonintensity.org.uk';
const HALF_HOUR = 30 * 60_000;

/** National (`national` or `GB`), a DNO region id (1-17), or an outward postcode (`RG10`). */
export type UkLocation = { kind: 'national' } | { kind: 'regionid'; id: number } | { kind: 'postcode'; postcode: string };

export function parseUkLocation(location: string): UkLocation {
  const l = location.trim();
  if (/^(national|gb)$/i.test(l)) return { kind: 'national' };
  if (/^\d+$/.test(l)) {
    const id = Number(l);
    // 1-14 are the DNO regions, 15-17 England, Scotland and Wales.
    if (id < 1 || id > 17) throw new ConfigError('intensity.location', `region id ${id} is not one of the API's regions 1-17`);
    return { kind: 'regionid', id };
  }
  // The API takes the outward code only; a full postcode's inward part is dropped.
  const m = /^([A-Z]{1,2}\d[A-Z\d]?)(\s*\d[A-Z]{2})?$/i.exec(l);
  if (m) return { kind: 'postcode', postcode: m[1]!.toUpperCase() };
  throw new ConfigError('intensity.location', `${JSON.stringify(location)} is not "national", a region id 1-17 or a GB postcode such as RG10`);
}

/** The API's `{from}` is the half hour in `YYYY-MM-DDThh:mmZ`. */
export function halfHourStart(now: number): string {
  return `${new Date(Math.floor(now / HALF_HOUR) * HALF_HOUR).toISOString().slice(0, 16)}Z`;
}

/**
 * NESO Carbon Intensity API (Great Britain): the current half hour (`actual` when measured,
 * else `forecast`) laid over the 48-hour forecast, nationally or for one region.
 */
export function createUkCarbonIntensitySource(cfg: IntensityConfig, deps: SourceDeps): IntensitySource {
  const base = cfg.baseUrl ?? UK_CARBON_INTENSITY_URL;
  const loc = parseUkLocation(cfg.location);
  const now = deps.now ?? Date.now;
  return {
    name: `uk-carbon-intensity:${cfg.location}`,
    // NESO's intensity is the average of the generation mix.
    signal: ownSignal('uk-carbon-intensity'),
    async fetch(signal) {
      const opts = { provider: 'uk-carbon-intensity', signal, fetch: deps.fetch, now };
      const from = halfHourStart(now());
      let currentPath: string;
      let forecastPath: string;
      if (loc.kind === 'national') {
        currentPath = 'intensity';
        forecastPath = `intensity/${from}/fw48h`;
      } else if (loc.kind === 'regionid') {
        currentPath = `regional/regionid/${loc.id}`;
        forecastPath = `regional/intensity/${from}/fw48h/regionid/${loc.id}`;
      } else {
        currentPath = `regional/postcode/${encodeURIComponent(loc.postcode)}`;
        forecastPath = `regional/intensity/${from}/fw48h/postcode/${encodeURIComponent(loc.postcode)}`;
      }
      const [current, forecast] = await Promise.all([getJson(joinUrl(base, currentPath), opts), getJson(joinUrl(base, forecastPath), opts)]);
      const cur = loc.kind === 'national' ? periods(current, 'current') : periods(regionalData(current, 'current'), 'current');
      const fc = loc.kind === 'national' ? periods(forecast, 'fw48h') : periods(regionalData(forecast, 'fw48h'), 'fw48h');
      return overlay(fc, cur);
    },
  };
}

/** Regional answers wrap the periods in a region object, alone or in a one-element array. */
function regionalData(body: unknown, what: string): unknown {
  let d = asObject(body, `uk-carbon-intensity ${what} response`).data;
  if (Array.isArray(d)) {
    if (d.length !== 1) throw invalid(`uk-carbon-intensity ${what}: expected one region, got ${d.length}`);
    d = d[0];
  }
  return asObject(d, `uk-carbon-intensity ${what} region`);
}

function periods(body: unknown, what: string): IntensityPoint[] {
  const items = asArray(asObject(body, `uk-carbon-intensity ${what} response`).data, `uk-carbon-intensity ${what} data`);
  return items.map((it, i) => {
    const p = asObject(it, `uk-carbon-intensity ${what} data[${i}]`);
    const from = parseTime(p.from, `uk-carbon-intensity ${what} data[${i}].from`);
    const to = parseTime(p.to, `uk-carbon-intensity ${what} data[${i}].to`);
    const intensity = asObject(p.intensity, `uk-carbon-intensity ${what} data[${i}].intensity`);
    // `actual` is null until the half hour has been measured; the forecast stands in.
    const raw = intensity.actual ?? intensity.forecast;
    return {
      timestamp: from,
      durationMinutes: (to - from) / 60_000,
      gCO2eqPerKWh: parseNumber(raw, `uk-carbon-intensity ${what} data[${i}].intensity`),
    };
  });
}
