import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CarbonMetrics, ControllerMetrics } from '../ports.js';
import { ledgerMetrics } from './ledger-metrics.js';

/**
 * A labelled counter for the admission path. prom-client hashes the label set on every
 * `inc()`, which cost more than the admission decision itself under load; here the hot
 * path bumps a Map entry, and prom-client is handed the totals when it is scraped.
 */
export class HotCounter<L extends string> {
  private readonly counts = new Map<string, { labels: Record<L, string>; value: number }>();
  private readonly labelNames: readonly L[];

  constructor(config: { name: string; help: string; labelNames: readonly L[]; registers: Registry[] }) {
    this.labelNames = config.labelNames;
    const counts = this.counts;
    new Counter<L>({
      ...config,
      collect(this: Counter<L>) {
        this.reset();
        for (const { labels, value } of counts.values()) this.inc(labels, value);
      },
    });
  }

  inc(labels: Record<L, string>): void {
    let key = '';
    for (const name of this.labelNames) key += `${labels[name]}\u0000`;
    const entry = this.counts.get(key);
    if (entry) entry.value++;
    else this.counts.set(key, { labels, value: 1 });
  }
}

function admissionMetrics(registry: Registry) {
  return {
    admissionRequests: new HotCounter({
      name: 'keda_carbon_admission_requests_total',
      help: 'AdmissionReviews answered, by operation (CREATE, UPDATE, DELETE, CONNECT), kind (ScaledObject, ScaledJob, other) and result (patched, allowed, denied, error, skipped).',
      labelNames: ['operation', 'kind', 'result'] as const,
      registers: [registry],
    }),
    admissionRejected: new HotCounter({
      name: 'keda_carbon_admission_rejected_total',
      help: 'Requests to /mutate answered with an HTTP error instead of an AdmissionReview, by code (400 not JSON or not an AdmissionReview, 413 too large, 415 not JSON content, 500 our failure, other).',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    admissionDuration: new Histogram({
      name: 'keda_carbon_admission_duration_seconds',
      help: 'Time to answer one admission review, body parsed to response built.',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers: [registry],
    }),
    admissionProtocol: new HotCounter({
      name: 'keda_carbon_admission_http_requests_total',
      help: 'Requests to /mutate, by the HTTP version they came over (h2, http/1.1).',
      labelNames: ['protocol'] as const,
      registers: [registry],
    }),
    webhookConnections: new HotCounter({
      name: 'keda_carbon_webhook_connections_total',
      help: 'TLS connections accepted on the webhook port, by the protocol ALPN chose (h2, http/1.1; a client that offers none counts as http/1.1).',
      labelNames: ['protocol'] as const,
      registers: [registry],
    }),
    capChanges: new HotCounter({
      name: 'keda_carbon_cap_changes_total',
      help: "Writes (admission patches) that changed the stored maxReplicaCount, by kind and direction (down, up); unset counts as KEDA's 100, so writing 100 over unset is no change.",
      labelNames: ['kind', 'direction'] as const,
      registers: [registry],
    }),
  };
}

/** The carbon pipeline's: its gauges and the fetches that failed. */
function carbonMetrics(registry: Registry) {
  return {
    carbonIntensity: new Gauge({
      name: 'keda_carbon_carbon_intensity_gco2eq_per_kwh',
      help: 'Current grid carbon intensity as last fetched, by source, location and signal (marginal, average, unknown).',
      labelNames: ['source', 'location', 'signal'] as const,
      registers: [registry],
    }),
    carbonDataAge: new Gauge({
      name: 'keda_carbon_carbon_data_age_seconds',
      help: 'Seconds since the last successful fetch, by source, location and signal.',
      labelNames: ['source', 'location', 'signal'] as const,
      registers: [registry],
    }),
    providerFetchErrors: new Counter({
      name: 'keda_carbon_provider_fetch_errors_total',
      help: 'Failed or rejected provider fetches, by source and reason (http, timeout, invalid).',
      labelNames: ['source', 'reason'] as const,
      registers: [registry],
    }),
    carbonForecast: new Gauge({
      name: 'keda_carbon_carbon_intensity_forecast_gco2eq_per_kwh',
      help: 'Grid carbon intensity the data forecasts, by source, location, signal (marginal, average, unknown) and offset from now (1h, 3h, 6h); absent where no point covers that time.',
      labelNames: ['source', 'location', 'signal', 'offset'] as const,
      registers: [registry],
    }),
    carbonMaxDataAge: new Gauge({
      name: 'keda_carbon_carbon_max_data_age_seconds',
      help: "The configured maxDataAge: data older than this is stale and the policy's onMissingData applies.",
      labelNames: ['source', 'location', 'signal'] as const,
      registers: [registry],
    }),
  } satisfies CarbonMetrics;
}

/** The re-touch controller's. */
function controllerMetrics(registry: Registry) {
  return {
    sweeps: new Counter({
      name: 'keda_carbon_sweeps_total',
      help: 'Re-touch sweeps run, by result (ok, error).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    sweepDuration: new Histogram({
      name: 'keda_carbon_sweep_duration_seconds',
      help: 'Wall time of one re-touch sweep.',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    sweepObjects: new Counter({
      name: 'keda_carbon_sweep_objects_total',
      help: 'Objects handled by the re-touch controller, by outcome (seen in a sweep, touched, changed, unapplied, failed, invalid).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    cacheEvents: new Counter({
      name: 'keda_carbon_cache_events_total',
      help: 'Watch events the controller applied to its cache of ScaledObjects and ScaledJobs, by resource and type.',
      labelNames: ['resource', 'type'] as const,
      registers: [registry],
    }),
    cacheLists: new Counter({
      name: 'keda_carbon_cache_lists_total',
      help: 'Full lists of ScaledObjects and ScaledJobs, by resource and reason (start, resync, 410 Gone).',
      labelNames: ['resource', 'reason'] as const,
      registers: [registry],
    }),
    evaluations: new Counter({
      name: 'keda_carbon_controller_passes_total',
      help: 'Controller passes, by trigger (change: one per object or namespace event, that object or namespace only; all: every cached object; list: after a list).',
      labelNames: ['trigger'] as const,
      registers: [registry],
    }),
  } satisfies ControllerMetrics;
}

/** The Lease holder (the cluster side's) and the certificate in use (the TLS source's). */
function healthMetrics(registry: Registry) {
  return {
    leader: new Gauge({
      name: 'keda_carbon_leader',
      help: '1 while this replica holds the re-touch Lease (runs the controller and exports the ledger), else 0, by Lease name. Only with cluster access.',
      labelNames: ['lease'] as const,
      registers: [registry],
    }),
    certificateExpiry: new Gauge({
      name: 'keda_carbon_serving_certificate_expiry_timestamp_seconds',
      help: 'When the serving certificate in use expires (Unix seconds).',
      registers: [registry],
    }),
  };
}

/**
 * Every metric keda-carbon exports, on one dedicated registry (never prom-client's global
 * one, so tests and several app instances in one process do not collide). Each owner gets
 * its own sink: `carbon` the pipeline, `controller`, `leader` and `ledger` the cluster side
 * (together a ClusterMetrics), the rest the admission app and the TLS source.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keda_carbon_' });
  // prom-client adds gauges named *_total for active handles, requests and resources, and
  // `promtool check metrics` rejects a gauge named like a counter. Each is the sum of the
  // gauge by type of the same name without _total, which stays.
  for (const kind of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`keda_carbon_nodejs_active_${kind}_total`);
  return {
    registry,
    ...admissionMetrics(registry),
    carbon: carbonMetrics(registry),
    controller: controllerMetrics(registry),
    ...ledgerMetrics(registry),
    ...healthMetrics(registry),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
