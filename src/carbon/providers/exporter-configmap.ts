import type { IntensityConfig } from '../../config/intensity.js';
import { SourceError, invalid } from '../errors.js';
import type { KubeClient } from '../kube-client.js';
import type { IntensityPoint } from '../../core/carbon.js';
import { asArray, asObject, parseNumber, parseTime } from '../validate.js';
import type { SourceDeps } from './deps.js';
import type { IntensitySource } from '../source.js';
import { backoffDelay } from '../../util/backoff.js';
import { sleep } from '../../util/sleep.js';

/**
 * Parse Go's `time.Time.String()` output, which the exporter writes into the ConfigMap's
 * `data`: `2026-06-01 12:58:41.118330761 +0000 UTC m=+43200.912734512`. The zone
 * abbreviation is ignored (the numeric offset is authoritative) and so is the monotonic
 * clock reading `m=...`, which only means something inside the process that wrote it.
 */
export function parseGoTime(value: string): number | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d+)? ([+-])(\d{2})(\d{2})(?: [A-Za-z0-9+-]+)?(?: m=[+-]\d+(?:\.\d+)?)?$/.exec(value.trim());
  if (!m) return undefined;
  const frac = m[3] ? m[3].slice(0, 4) : '';
  const t = Date.parse(`${m[1]}T${m[2]}${frac}${m[4]}${m[5]}:${m[6]}`);
  return Number.isFinite(t) ? t : undefined;
}

export interface ExporterOptions {
  /** Wait between GETs while the exporter recreates the ConfigMap (default 1 s). */
  notFoundRetryMs?: number;
  /** GETs that may see NotFound before a fetch gives up (default 4). */
  notFoundAttempts?: number;
  /** Delay before re-opening a watch that ended (default 1 s, doubling to 60 s). */
  rewatchMs?: number;
}

/**
 * The ConfigMap that the Kubernetes carbon-intensity exporter writes: a JSON array in
 * `binaryData.<key>`. The exporter deletes and recreates it on every refresh, so a
 * NotFound is retried for a moment before it counts as a failed fetch, and the watch
 * that reports changes quietly re-opens when the API server ends it.
 */
export function createExporterConfigMapSource(cfg: IntensityConfig, deps: SourceDeps, options: ExporterOptions = {}): IntensitySource {
  const { namespace, name, key } = cfg.configMap;
  const kube = deps.kube;
  if (!kube) throw new SourceError('config', 'exporter-configmap needs access to the Kubernetes API (no kubeconfig or in-cluster service account found)');
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(name)}`;
  const ref = `ConfigMap ${namespace}/${name}`;
  const retryMs = options.notFoundRetryMs ?? 1000;
  const attempts = options.notFoundAttempts ?? 4;

  async function get(signal: AbortSignal): Promise<unknown> {
    for (let i = 1; ; i++) {
      let res: { status: number; body: unknown };
      try {
        res = await kube!.get(path, signal);
      } catch (err) {
        if (signal.aborted) {
          const timeout = (signal.reason as { name?: string } | undefined)?.name === 'TimeoutError';
          throw new SourceError(timeout ? 'timeout' : 'aborted', `exporter-configmap: reading ${ref} ${timeout ? 'timed out' : 'was cancelled'}`);
        }
        throw new SourceError(
          'unavailable',
          `exporter-configmap: cannot reach the Kubernetes API: ${(err as { code?: string }).code ?? (err as Error).message}`,
        );
      }
      if (res.status === 200) return res.body;
      if (res.status === 404) {
        if (i >= attempts) {
          throw new SourceError(
            'unavailable',
            `exporter-configmap: ${ref} not found (the exporter deletes and recreates it on every refresh; is the exporter running?)`,
            { status: 404 },
          );
        }
        deps.logger?.debug({ configMap: `${namespace}/${name}`, attempt: i }, 'exporter-configmap: not found, the exporter is probably recreating it');
        try {
          await sleep(retryMs, signal);
        } catch {
          throw new SourceError('timeout', `exporter-configmap: ${ref} was still missing when the request timed out`);
        }
        continue;
      }
      const msg = typeof res.body === 'object' && res.body !== null ? String((res.body as { message?: unknown }).message ?? '') : '';
      const hint = res.status === 401 || res.status === 403 ? `; the service account needs get and watch on configmaps in ${namespace}` : '';
      throw new SourceError('http', `exporter-configmap: reading ${ref} answered ${res.status}${msg ? `: ${msg}` : ''}${hint}`, { status: res.status });
    }
  }

  return {
    name: `exporter-configmap:${cfg.location || `${namespace}/${name}`}`,
    // The exporter relays the carbon-aware-sdk's data source: only the configuration knows.
    signal: cfg.signal ?? 'unknown',
    async fetch(signal) {
      const cm = asObject(await get(signal), ref);
      const points = parseConfigMap(cm, key, ref, cfg.location);
      const data = cm.data === undefined || cm.data === null ? {} : asObject(cm.data, `${ref} data`);
      const heartbeat = typeof data.lastHeartbeatTime === 'string' ? parseGoTime(data.lastHeartbeatTime) : undefined;
      if (typeof data.message === 'string' && data.message !== '') {
        deps.logger?.warn({ configMap: `${namespace}/${name}`, exporterMessage: data.message }, 'exporter-configmap: the exporter reports a problem');
      }
      deps.logger?.debug(
        { configMap: `${namespace}/${name}`, heartbeat: heartbeat === undefined ? null : new Date(heartbeat).toISOString(), points: points.length },
        'exporter-configmap: read',
      );
      return points;
    },
    watch(onChange) {
      return watchConfigMap(kube, namespace, name, onChange, deps, options.rewatchMs ?? 1000);
    },
  };
}

/** Points from the exporter's ConfigMap object. */
export function parseConfigMap(cm: Record<string, unknown>, key: string, ref: string, location?: string): IntensityPoint[] {
  const binary = cm.binaryData === undefined || cm.binaryData === null ? {} : asObject(cm.binaryData, `${ref} binaryData`);
  const data = cm.data === undefined || cm.data === null ? {} : asObject(cm.data, `${ref} data`);
  let json: string;
  if (typeof binary[key] === 'string') {
    json = Buffer.from(binary[key] as string, 'base64').toString('utf8');
  } else if (typeof data[key] === 'string') {
    // Older exporter builds wrote the array as text; accept it where it is.
    json = data[key] as string;
  } else {
    throw invalid(`${ref} has no binaryData.${key} (the forecast the exporter writes)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw invalid(`${ref}: binaryData.${key} is not base64 of a JSON array`);
  }
  const items = asArray(parsed, `${ref} binaryData.${key}`).map((it, i) => asObject(it, `${ref} element ${i}`));
  let chosen = items;
  if (location) {
    chosen = items.filter((o) => typeof o.location !== 'string' || o.location.toLowerCase() === location.toLowerCase());
    if (chosen.length === 0 && items.length > 0) {
      const found = [...new Set(items.map((o) => String(o.location)))].join(', ');
      throw invalid(`${ref} holds data for ${found}, not for the configured location ${location}`);
    }
  }
  return chosen.map((o, i) => ({
    timestamp: parseTime(o.timestamp, `${ref} element ${i} timestamp`),
    durationMinutes: parseNumber(o.duration, `${ref} element ${i} duration`),
    gCO2eqPerKWh: parseNumber(o.value, `${ref} element ${i} value`),
  }));
}

/**
 * Call `onChange` whenever the ConfigMap is added or modified. DELETED is ignored: it is
 * the first half of the exporter's refresh, and the ADDED that follows brings the data.
 */
function watchConfigMap(kube: KubeClient, namespace: string, name: string, onChange: () => void, deps: SourceDeps, rewatchMs: number): () => void {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`;
  let stopped = false;
  let close: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  const open = () => {
    if (stopped) return;
    close = kube.watch(
      path,
      (type) => {
        failures = 0;
        if (type === 'ADDED' || type === 'MODIFIED') onChange();
      },
      (err) => {
        if (stopped) return;
        if (err) deps.logger?.debug({ err: err.message }, 'exporter-configmap: watch ended; re-opening');
        timer = setTimeout(open, backoffDelay(++failures, { initialMs: rewatchMs, maxMs: 60_000 }));
      },
    );
  };
  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    close?.();
  };
}
