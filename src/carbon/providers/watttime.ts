import { ownSignal } from '../../config/providers.js';
import type { IntensityConfig } from '../../config/intensity.js';
import { readCredential } from '../credentials.js';
import { SourceError, invalid } from '../errors.js';
import { durationsFromStarts } from '../../core/points.js';
import type { IntensityPoint } from '../../core/carbon.js';
import { asArray, asObject, parseNumber, parseTime } from '../validate.js';
import type { SourceDeps } from './deps.js';
import { getJson, joinUrl } from './http.js';
import type { IntensitySource } from '../source.js';

export const WATTTIME_URL = 'https://api.watttime.org';
/** WattTime tokens expire after 30 minutes; renew a little early so a fetch never races expiry. */
export const TOKEN_LIFETIME_MS = 30 * 60_000;
const TOKEN_MARGIN_MS = 2 * 60_000;
/** 1 lb = 453.59237 g; lbs/MWh -> g/kWh divides by 1000 as well. */
export const LBS_PER_MWH_TO_G_PER_KWH = 453.59237 / 1000;
const SIGNAL = 'co2_moer';

/**
 * WattTime API v3: `/login` with HTTP Basic yields a bearer token; `/v3/forecast` gives the
 * marginal emissions rate (co2_moer) in lbs/MWh, converted here to gCO2eq/kWh.
 */
export function createWattTimeSource(cfg: IntensityConfig, deps: SourceDeps): IntensitySource {
  const base = cfg.baseUrl ?? WATTTIME_URL;
  const now = deps.now ?? Date.now;
  let token: { value: string; expiresAt: number } | undefined;
  const credHint = `check ${cfg.usernameFile ? `file ${cfg.usernameFile}` : `environment variable ${cfg.usernameEnv}`} and ${cfg.passwordFile ? `file ${cfg.passwordFile}` : `environment variable ${cfg.passwordEnv}`}`;

  async function login(signal: AbortSignal): Promise<string> {
    const username = await readCredential(
      { envKey: 'intensity.usernameEnv', envName: cfg.usernameEnv, fileKey: 'intensity.usernameFile', filePath: cfg.usernameFile },
      deps,
    );
    const password = await readCredential(
      { envKey: 'intensity.passwordEnv', envName: cfg.passwordEnv, fileKey: 'intensity.passwordFile', filePath: cfg.passwordFile },
      deps,
    );
    const basic = Buffer.from(`${username}:${password}`).toString('base64');
    const body = asObject(
      await getJson(joinUrl(base, 'login'), {
        provider: 'watttime',
        signal,
        fetch: deps.fetch,
        now,
        headers: { authorization: `Basic ${basic}` },
        secrets: [password, basic, username],
        authHint: `login refused; ${credHint}`,
      }),
      'watttime login response',
    );
    if (typeof body.token !== 'string' || body.token === '') throw invalid('watttime: login answered without a token');
    token = { value: body.token, expiresAt: now() + TOKEN_LIFETIME_MS - TOKEN_MARGIN_MS };
    return body.token;
  }

  async function forecast(signal: AbortSignal, bearer: string): Promise<unknown> {
    return getJson(joinUrl(base, 'v3/forecast', { region: cfg.location, signal_type: SIGNAL }), {
      provider: 'watttime',
      signal,
      fetch: deps.fetch,
      now,
      headers: { authorization: `Bearer ${bearer}` },
      secrets: [bearer],
      authHint: `region ${cfg.location} with this account`,
    });
  }

  return {
    name: `watttime:${cfg.location}`,
    // co2_moer: the marginal operating emissions rate.
    signal: ownSignal('watttime'),
    async fetch(signal) {
      let bearer = token && token.expiresAt > now() ? token.value : await login(signal);
      let body: unknown;
      try {
        body = await forecast(signal, bearer);
      } catch (err) {
        // A 401 means the token expired early or was revoked: log in once more.
        if (!(err instanceof SourceError && err.status === 401)) throw err;
        token = undefined;
        bearer = await login(signal);
        body = await forecast(signal, bearer);
      }
      return parseForecast(body, cfg.location);
    },
  };
}

function parseForecast(body: unknown, region: string): IntensityPoint[] {
  const o = asObject(body, 'watttime forecast response');
  const meta = o.meta === undefined ? {} : asObject(o.meta, 'watttime forecast meta');
  if (meta.units !== undefined && meta.units !== 'lbs_co2_per_mwh') {
    throw invalid(`watttime: forecast units are ${JSON.stringify(meta.units)}, expected "lbs_co2_per_mwh"`);
  }
  if (meta.signal_type !== undefined && meta.signal_type !== SIGNAL) {
    throw invalid(`watttime: forecast signal is ${JSON.stringify(meta.signal_type)}, expected "${SIGNAL}"`);
  }
  if (typeof meta.region === 'string' && meta.region.toUpperCase() !== region.toUpperCase()) {
    throw invalid(`watttime: asked for region ${region}, the forecast is for ${meta.region}`);
  }
  const rows = asArray(o.data, 'watttime forecast data').map((it, i) => {
    const p = asObject(it, `watttime data[${i}]`);
    return { t: parseTime(p.point_time, `watttime data[${i}].point_time`), v: parseNumber(p.value, `watttime data[${i}].value`) };
  });
  const period = meta.data_point_period_seconds;
  const fixed = typeof period === 'number' && Number.isFinite(period) && period > 0 ? period / 60 : undefined;
  const durations =
    fixed !== undefined
      ? rows.map(() => fixed)
      : durationsFromStarts(
          rows.map((r) => r.t),
          5,
        );
  return rows.map((r, i) => ({ timestamp: r.t, durationMinutes: durations[i]!, gCO2eqPerKWh: r.v * LBS_PER_MWH_TO_G_PER_KWH }));
}
