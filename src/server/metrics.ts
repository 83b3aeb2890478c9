import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
      help: 'Admission reviews answered, by operation, kind and result (patched, allowed, denied, error, invalid).',
      labelNames: ['operation', 'kind', 'result'] as const,
      registers: [registry],
    }),
    admissionDuration: new Histogram({
      name: 'keda_carbon_admission_duration_seconds',
      help: 'Time to answer one admission review, body parsed to response built.',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers: [registry],
    }),
    capChanges: new HotCounter({
      name: 'keda_carbon_cap_changes_total',
      help: 'Writes (admission patches) that changed maxReplicaCount, by kind and direction (down, up).',
      labelNames: ['kind', 'direction'] as const,
      registers: [registry],
    }),
  };
}

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
  };
}

function sweepMetrics(registry: Registry) {
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
      help: 'Controller passes, by trigger (change: changed objects only; all: every cached object; list: after a list).',
      labelNames: ['trigger'] as const,
      registers: [registry],
    }),
  };
}

/**
 * Every metric keda-carbon exports, on one dedicated registry (never prom-client's global
 * one, so tests and several app instances in one process do not collide).
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keda_carbon_' });
  return { registry, ...admissionMetrics(registry), ...carbonMetrics(registry), ...sweepMetrics(registry) };
}

export type Metrics = ReturnType<typeof createMetrics>;
