import { Counter, Gauge, type Registry } from 'prom-client';
import type { LedgerGrams, LedgerRow, LedgerSink } from '../ports.js';

const LEDGER_LABELS = ['namespace', 'policy', 'mode'] as const;
const GRAMS_LABELS = ['namespace', 'policy', 'mode', 'signal'] as const;

const LEDGER_GAUGES: readonly [string, string, keyof LedgerRow][] = [
  [
    'keda_carbon_ledger_objects',
    'Objects under a policy, by namespace, policy (configured name or inline) and mode (enforce, observe). Leader only.',
    'objects',
  ],
  ['keda_carbon_ledger_declared_replicas', 'Sum of the declared maxReplicaCount of the objects under a policy. Leader only.', 'declared'],
  [
    'keda_carbon_ledger_cap_replicas',
    'Sum of the caps: in enforce mode the maxReplicaCount keda-carbon sets, in observe mode the one it would set. Leader only.',
    'cap',
  ],
];

const LEDGER_COUNTERS: readonly [string, string, keyof LedgerRow][] = [
  [
    'keda_carbon_ledger_cap_replica_seconds_total',
    'Caps (in observe mode, the caps that would apply) integrated over time (replica-seconds). Leader only; starts from zero on a new leader.',
    'capSeconds',
  ],
  [
    'keda_carbon_ledger_cap_intensity_replica_seconds_total',
    'Caps times the grid intensity, integrated over time (gCO2eq/kWh x replica-seconds); divided by the cap replica-seconds it is the intensity-weighted capacity.',
    'capIntensitySeconds',
  ],
  ['keda_carbon_ledger_declared_replica_seconds_total', 'Declared max integrated over time (replica-seconds).', 'declaredSeconds'],
  [
    'keda_carbon_ledger_declared_intensity_replica_seconds_total',
    'Declared max times the grid intensity, integrated over time (gCO2eq/kWh x replica-seconds).',
    'declaredIntensitySeconds',
  ],
  [
    'keda_carbon_ledger_withheld_replica_seconds_total',
    'Declared max minus cap, integrated over time (replica-seconds): an upper bound on the capacity the caps held back (observe mode: would hold back).',
    'withheldSeconds',
  ],
];

const GRAMS_COUNTERS: readonly [string, string, keyof Omit<LedgerGrams, 'signal'>][] = [
  [
    'keda_carbon_ledger_cap_co2eq_grams_total',
    'Estimated grams CO2eq of the capacity the caps allow (in observe mode, would allow): cap x watts per replica x intensity over time, by the signal of the intensity (marginal, average, unknown). Only objects with wattsPerReplica.',
    'cap',
  ],
  [
    'keda_carbon_ledger_declared_co2eq_grams_total',
    'Estimated grams CO2eq of the declared max: declared x watts per replica x intensity over time.',
    'declared',
  ],
  [
    'keda_carbon_ledger_withheld_co2eq_grams_total',
    'Declared minus cap grams CO2eq: an upper bound on the emissions the caps avoided (observe mode: would avoid).',
    'withheld',
  ],
  [
    'keda_carbon_ledger_emitted_co2eq_grams_total',
    'Estimated grams CO2eq of the replicas the HPAs report running x watts per replica x intensity over time. Only with HPA reading on; ScaledJobs have no HPA.',
    'emitted',
  ],
];

type Rows = () => readonly LedgerRow[];

/**
 * The leader's ledger as one scrape reads it: once, so its series stand at one instant and
 * ratios between them (grams over replica-seconds) are exact, and the ledger is not brought
 * up to date once per metric. The registry calls every metric's collect in one synchronous
 * loop; the reading is dropped at the next microtask, before anything else can run.
 */
function scrapeReader(): { rows: Rows; attach: LedgerSink['attach'] } {
  let source: Rows | null = null;
  let read: readonly LedgerRow[] | undefined;
  return {
    rows: () => {
      if (read === undefined) {
        read = source?.() ?? [];
        queueMicrotask(() => {
          read = undefined;
        });
      }
      return read;
    },
    attach: (s) => {
      source = s;
      read = undefined;
    },
  };
}

const labelsOf = (row: LedgerRow) => ({ namespace: row.namespace, policy: row.policy, mode: row.mode });

/** Gauges and counters per namespace, policy and mode. */
function rowMetrics(registry: Registry, rows: Rows): void {
  const fill = (metric: Gauge<string> | Counter<string>, field: keyof LedgerRow) => {
    metric.reset();
    for (const row of rows()) {
      if (metric instanceof Gauge) metric.set(labelsOf(row), row[field] as number);
      else metric.inc(labelsOf(row), row[field] as number);
    }
  };
  new Gauge({
    name: 'keda_carbon_ledger_held_at_cap_objects',
    help: 'ScaledObjects whose HPA runs at the maxReplicaCount in force (ScalingLimited/TooManyReplicas, or desired replicas equal to it). Leader only, with HPA reading on.',
    labelNames: LEDGER_LABELS,
    registers: [registry],
    collect(this: Gauge<string>) {
      this.reset();
      for (const row of rows()) if (row.held !== undefined) this.set(labelsOf(row), row.held);
    },
  });
  for (const [name, help, field] of LEDGER_GAUGES) {
    new Gauge({
      name,
      help,
      labelNames: LEDGER_LABELS,
      registers: [registry],
      collect: function (this: Gauge<string>) {
        fill(this, field);
      },
    });
  }
  for (const [name, help, field] of LEDGER_COUNTERS) {
    new Counter({
      name,
      help,
      labelNames: LEDGER_LABELS,
      registers: [registry],
      collect: function (this: Counter<string>) {
        fill(this, field);
      },
    });
  }
}

/** Grams counters, also by signal; a row without grams exports none. */
function gramsMetrics(registry: Registry, rows: Rows): void {
  for (const [name, help, field] of GRAMS_COUNTERS) {
    new Counter({
      name,
      help,
      labelNames: GRAMS_LABELS,
      registers: [registry],
      collect(this: Counter<string>) {
        this.reset();
        for (const row of rows()) {
          for (const g of row.grams ?? []) {
            const value = g[field];
            // Sums of products may land a rounding error below zero; a counter cannot.
            if (value !== undefined) this.inc({ ...labelsOf(row), signal: g.signal }, Math.max(0, value));
          }
        }
      },
    });
  }
}

/**
 * The carbon ledger, read from the leader's controller at scrape time. A replica that does
 * not lead has no source and exports no series.
 */
export function ledgerMetrics(registry: Registry): { ledger: LedgerSink } {
  const reader = scrapeReader();
  rowMetrics(registry, reader.rows);
  gramsMetrics(registry, reader.rows);
  return { ledger: { attach: reader.attach } };
}
