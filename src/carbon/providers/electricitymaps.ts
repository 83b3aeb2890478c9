import { ownSignal } from '../../config/providers.js';
import { parseCoordinates, type IntensityConfig } from '../../config/intensity.js';
import { readCredential } from '../credentials.js';
import { SourceError, invalid } from '../errors.js';
import { durationsFromStarts, overlay } from '../../core/points.js';
import type { IntensityPoint } from '../../core/carbon.js';
import { asArray, asObject, parseNumber, parseTime } from '../validate.js';
import type { SourceDeps } from './deps.js';
import { getJson, joinUrl } from './http.js';
import type { IntensitySource } from '../source.js';

export const ELECTRICITYMAPS_URL = 'https://api.electricitymaps.com';
/** The API's default granularity for latest and forecast is hourly. */
const HOURLY = 60;

/**
 * Electricity Maps API v3: `carbon-intensity/latest` for the current hour and
 * `carbon-intensity/forecast` for the hours ahead, by zone or by `lat,lon`.
 */
export function createElectricityMapsSource(cfg: IntensityConfig, deps: SourceDeps): IntensitySource {
  const base = cfg.baseUrl ?? ELECTRICITYMAPS_URL;
  const coords = parseCoordinates(cfg.location);
  const query: Record<string, string> = coords ? { lat: String(coords.lat), lon: String(coords.lon) } : { zone: cfg.location };
  if (cfg.emissionFactorType) query.emissionFactorType = cfg.emissionFactorType;
  const name = `electricitymaps:${cfg.location}`;
  let warnedNoForecast = false;

  return {
    name,
    // carbonIntensity is the grid mix's average (lifecycle or direct), not a marginal rate.
    signal: ownSignal('electricitymaps'),
    async fetch(signal) {
      const token = await readCredential(
        { envKey: 'intensity.tokenEnv', envName: cfg.tokenEnv, fileKey: 'intensity.tokenFile', filePath: cfg.tokenFile },
        deps,
      );
      const opts = {
        provider: 'electricitymaps',
        signal,
        headers: { 'auth-token': token },
        secrets: [token],
        fetch: deps.fetch,
        now: deps.now,
        authHint: `check the token in ${cfg.tokenFile ? `file ${cfg.tokenFile}` : `environment variable ${cfg.tokenEnv}`}`,
      };
      const latest = asObject(await getJson(joinUrl(base, 'v3/carbon-intensity/latest', query), opts), 'electricitymaps latest response');
      let forecastPoints: IntensityPoint[] = [];
      try {
        const body = await getJson(joinUrl(base, 'v3/carbon-intensity/forecast', query), opts);
        forecastPoints = parseForecast(body);
      } catch (err) {
        // Forecasts are a paid add-on on some plans: without one we still have the
        // current hour, which is all the bands need.
        if (!(err instanceof SourceError && err.kind === 'http' && (err.status === 403 || err.status === 404))) throw err;
        if (!warnedNoForecast) {
          deps.logger?.warn({ source: name, status: err.status }, 'electricitymaps: no forecast for this token or zone; using the latest value only');
          warnedNoForecast = true;
        }
      }
      if (!coords && typeof latest.zone === 'string' && latest.zone.toUpperCase() !== cfg.location.toUpperCase()) {
        throw invalid(`electricitymaps: asked for zone ${cfg.location}, the answer is for ${latest.zone}`);
      }
      const current: IntensityPoint = {
        timestamp: parseTime(latest.datetime, 'electricitymaps latest.datetime'),
        durationMinutes: HOURLY,
        gCO2eqPerKWh: parseNumber(latest.carbonIntensity, 'electricitymaps latest.carbonIntensity'),
      };
      return overlay(forecastPoints, [current]);
    },
  };
}

function parseForecast(body: unknown): IntensityPoint[] {
  const items = asArray(asObject(body, 'electricitymaps forecast response').forecast, 'electricitymaps forecast.forecast');
  const rows = items.map((it, i) => {
    const o = asObject(it, `electricitymaps forecast[${i}]`);
    return {
      t: parseTime(o.datetime, `electricitymaps forecast[${i}].datetime`),
      v: parseNumber(o.carbonIntensity, `electricitymaps forecast[${i}].carbonIntensity`),
    };
  });
  const durations = durationsFromStarts(
    rows.map((r) => r.t),
    HOURLY,
  );
  return rows.map((r, i) => ({ timestamp: r.t, durationMinutes: durations[i]!, gCO2eqPerKWh: r.v }));
}
