import type { IntensityConfig } from '../../config/intensity.js';
import { SourceError, invalid } from '../errors.js';
import { overlay } from '../../core/points.js';
import type { IntensityPoint } from '../../core/carbon.js';
import { asArray, asObject, parseNumber, parseTime } from '../validate.js';
import type { SourceDeps } from './deps.js';
import { getJson, joinUrl } from './http.js';
import type { IntensitySource } from '../source.js';

/** .NET TimeSpan text, `[d.]hh:mm:ss[.fffffff]`, as minutes. */
export function parseTimeSpanMinutes(value: unknown, what: string): number {
  const m = typeof value === 'string' ? /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(value.trim()) : null;
  if (!m) throw invalid(`${what}: ${JSON.stringify(value)} is not a duration such as "00:05:00"`);
  return Number(m[1] ?? 0) * 1440 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 60;
}

/**
 * Green Software Foundation Carbon Aware SDK WebAPI (self-hosted): the latest measured
 * value from `/emissions/bylocations` laid over `/emissions/forecasts/current`.
 */
export function createCarbonAwareSdkSource(cfg: IntensityConfig, deps: SourceDeps): IntensitySource {
  const base = cfg.baseUrl!; // required by parseIntensityConfig
  const loc = cfg.location;
  let warnedNoForecast = false;
  const name = `carbon-aware-sdk:${loc}`;
  return {
    name,
    // The SDK passes through whatever its data source reports: only the configuration knows.
    signal: cfg.signal ?? 'unknown',
    async fetch(signal) {
      const opts = { provider: 'carbon-aware-sdk', signal, fetch: deps.fetch, now: deps.now };
      const current = parseByLocations(await getJson(joinUrl(base, 'emissions/bylocations', { location: loc }), opts), loc);
      let forecast: IntensityPoint[] = [];
      try {
        forecast = parseForecast(await getJson(joinUrl(base, 'emissions/forecasts/current', { location: loc }), opts), loc);
      } catch (err) {
        // The SDK answers 501 when its data source cannot forecast (e.g. ElectricityMapsFree).
        if (!(err instanceof SourceError && err.status === 501)) throw err;
        if (!warnedNoForecast) {
          deps.logger?.warn({ source: name }, 'carbon-aware-sdk: the data source has no forecast; using the latest value only');
          warnedNoForecast = true;
        }
      }
      return current ? overlay(forecast, [current]) : forecast;
    },
  };
}

function parseByLocations(body: unknown, loc: string): IntensityPoint | undefined {
  const rows = asArray(body, 'carbon-aware-sdk bylocations response').map((it, i) => {
    const o = asObject(it, `carbon-aware-sdk bylocations[${i}]`);
    if (typeof o.location === 'string' && o.location.toLowerCase() !== loc.toLowerCase()) {
      throw invalid(`carbon-aware-sdk: asked for location ${loc}, bylocations[${i}] is for ${o.location}`);
    }
    return {
      timestamp: parseTime(o.time, `carbon-aware-sdk bylocations[${i}].time`),
      durationMinutes: parseTimeSpanMinutes(o.duration, `carbon-aware-sdk bylocations[${i}].duration`),
      gCO2eqPerKWh: parseNumber(o.rating, `carbon-aware-sdk bylocations[${i}].rating`),
    };
  });
  // The endpoint's order is not documented: the newest record is the current value.
  return rows.reduce<IntensityPoint | undefined>((a, b) => (a === undefined || b.timestamp > a.timestamp ? b : a), undefined);
}

function parseForecast(body: unknown, loc: string): IntensityPoint[] {
  const list = asArray(body, 'carbon-aware-sdk forecasts response');
  if (list.length === 0) throw invalid('carbon-aware-sdk: forecasts/current returned no forecast');
  const f = asObject(
    list.find((x) => typeof x === 'object' && x !== null && String((x as { location?: unknown }).location).toLowerCase() === loc.toLowerCase()) ?? list[0],
    'carbon-aware-sdk forecast',
  );
  return asArray(f.forecastData, 'carbon-aware-sdk forecastData').map((it, i) => {
    const o = asObject(it, `carbon-aware-sdk forecastData[${i}]`);
    return {
      timestamp: parseTime(o.timestamp, `carbon-aware-sdk forecastData[${i}].timestamp`),
      durationMinutes: parseNumber(o.duration, `carbon-aware-sdk forecastData[${i}].duration`),
      gCO2eqPerKWh: parseNumber(o.value, `carbon-aware-sdk forecastData[${i}].value`),
    };
  });
}
