import type { IntensityConfig } from '../../config/intensity.js';
import { readCredential } from '../credentials.js';
import { invalid } from '../errors.js';
import { asArray, asObject, parseNumber } from '../validate.js';
import type { SourceDeps } from './deps.js';
import { getJson, joinUrl } from './http.js';
import type { IntensitySource } from '../source.js';

/**
 * One instant PromQL query whose single sample is the current intensity in gCO2eq/kWh.
 * Prometheus has no forecast, so the sample stands until a newer one replaces it or it
 * grows older than `maxDataAge`.
 */
export function createPrometheusSource(cfg: IntensityConfig, deps: SourceDeps): IntensitySource {
  const base = cfg.baseUrl!; // required by parseIntensityConfig
  const query = cfg.query!;
  const now = deps.now ?? Date.now;
  const hasToken = cfg.tokenEnv !== undefined || cfg.tokenFile !== undefined;
  return {
    name: `prometheus:${cfg.location || 'query'}`,
    signal: cfg.signal ?? 'unknown',
    async fetch(signal) {
      const token = hasToken
        ? await readCredential({ envKey: 'intensity.tokenEnv', envName: cfg.tokenEnv, fileKey: 'intensity.tokenFile', filePath: cfg.tokenFile }, deps)
        : undefined;
      const body = asObject(
        await getJson(joinUrl(base, 'api/v1/query', { query }), {
          provider: 'prometheus',
          signal,
          fetch: deps.fetch,
          now,
          headers: token ? { authorization: `Bearer ${token}` } : {},
          secrets: [token],
          authHint: hasToken ? 'check the bearer token' : 'the server wants a bearer token: set tokenEnv or tokenFile',
        }),
        'prometheus response',
      );
      if (body.status !== 'success') throw invalid(`prometheus: status ${JSON.stringify(body.status)}: ${String(body.error ?? 'no error text')}`);
      const data = asObject(body.data, 'prometheus data');
      let sample: unknown;
      if (data.resultType === 'scalar') {
        sample = data.result;
      } else if (data.resultType === 'vector') {
        const result = asArray(data.result, 'prometheus data.result');
        if (result.length === 0) throw invalid(`prometheus: query ${JSON.stringify(query)} returned no samples`);
        if (result.length > 1) {
          throw invalid(`prometheus: query ${JSON.stringify(query)} returned ${result.length} series; aggregate it to one, e.g. avg(...) or a label matcher`);
        }
        sample = asObject(result[0], 'prometheus data.result[0]').value;
      } else {
        throw invalid(`prometheus: query result type ${JSON.stringify(data.resultType)} is not an instant vector or scalar`);
      }
      const pair = asArray(sample, 'prometheus sample');
      if (pair.length !== 2) throw invalid('prometheus: a sample must be [time, "value"]');
      const t = parseNumber(pair[0], 'prometheus sample time') * 1000;
      const value = parseNumber(pair[1], 'prometheus sample value');
      // The server stamps the sample with its own clock; a few ms ahead of ours would
      // leave "now" uncovered, so the point starts no later than now.
      const timestamp = Math.min(t, now());
      return [{ timestamp, durationMinutes: cfg.maxDataAgeMs / 60_000, gCO2eqPerKWh: value }];
    },
  };
}
