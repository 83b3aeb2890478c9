/**
 * The seams between the pure core and the adapters around it: what adapters receive
 * (a clock, metrics sinks, the Kubernetes API) or implement (a carbon reader, a namespace
 * lookup). Types and tiny defaults only; no folder of src/ is imported from here except core.
 */
import type { CarbonSnapshot } from './core/carbon.js';

/** Timers and clock, injectable so tests drive time by hand. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** What admission and the controller hold: something that hands out the latest snapshot. */
export interface CarbonReader {
  /** The same unchanging object until the data changes: admission reuses answers per snapshot identity. */
  snapshot(): CarbonSnapshot;
}

/** The namespace label `keda-carbon.io/policy`, from a cache (a Promise only on a miss). */
export interface NamespacePolicyLookup {
  policyFor(namespace: string): string | null | Promise<string | null>;
}

type Labels = Record<string, string | number>;
export interface GaugeSink {
  set(labels: Labels, value: number): void;
  remove(labels: Labels): void;
}
export interface CounterSink {
  inc(labels: Labels, value?: number): void;
}
export interface HistogramSink {
  observe(value: number): void;
}

/**
 * The metrics each adapter records, one sink per owner, each always present: an owner that
 * runs records, and a test that does not look at them passes a no-op sink. server/metrics.ts
 * implements them.
 */
export interface CarbonMetrics {
  carbonIntensity: GaugeSink;
  carbonDataAge: GaugeSink;
  /** The intensity the data forecasts at `offset` (1h, 3h, 6h) from now. */
  carbonForecast: GaugeSink;
  /** The configured `maxDataAge`, so an alert compares the data age against it. */
  carbonMaxDataAge: GaugeSink;
  providerFetchErrors: CounterSink;
}

/** What the re-touch controller records. */
export interface ControllerMetrics {
  sweeps: CounterSink;
  sweepDuration: HistogramSink;
  sweepObjects: CounterSink;
  /** Watch events the controller's object cache applied, by resource and type (added, modified, deleted). */
  cacheEvents: CounterSink;
  /** Lists of the object cache, by resource and reason (start, resync, 410 Gone). */
  cacheLists: CounterSink;
  /** Controller passes, by trigger (change: one per object or namespace event, that object or namespace only; all: every cached object; list: after a list). */
  evaluations: CounterSink;
}

/** What the cluster side records: its controller's metrics, the Lease and the leader's ledger. */
export interface ClusterMetrics {
  controller: ControllerMetrics;
  /** 1 while this replica holds the re-touch Lease, else 0. */
  leader: GaugeSink;
  /** Where the leader's ledger is read from at scrape time (see docs/measuring-the-effect.md). */
  ledger: LedgerSink;
}

const ignore = () => undefined;
const noGauge: GaugeSink = { set: ignore, remove: ignore };
const noCounter: CounterSink = { inc: ignore };

/** For callers that record nothing (a test, the benchmark, a one-off command). */
export const noCarbonMetrics: CarbonMetrics = {
  carbonIntensity: noGauge,
  carbonDataAge: noGauge,
  carbonForecast: noGauge,
  carbonMaxDataAge: noGauge,
  providerFetchErrors: noCounter,
};

export const noControllerMetrics: ControllerMetrics = {
  sweeps: noCounter,
  sweepDuration: { observe: ignore },
  sweepObjects: noCounter,
  cacheEvents: noCounter,
  cacheLists: noCounter,
  evaluations: noCounter,
};

/** One namespace, policy and mode of the carbon ledger: gauges as they stand, counters since this replica began to lead. */
export interface LedgerRow {
  readonly namespace: string;
  /** A policy name from the configuration, or `inline` for an object's own document. */
  readonly policy: string;
  /** `enforce` or `observe`. */
  readonly mode: string;
  readonly objects: number;
  /** Sum of the declared max. */
  readonly declared: number;
  /** Sum of the caps in force. */
  readonly cap: number;
  readonly capSeconds: number;
  /** Cap replica-seconds times the intensity (gCO2eq/kWh) over them. */
  readonly capIntensitySeconds: number;
  readonly declaredSeconds: number;
  readonly declaredIntensitySeconds: number;
  /** Declared minus cap, over time: an upper bound on what the caps held back. */
  readonly withheldSeconds: number;
  /** ScaledObjects whose HPA runs at the cap; absent unless HPAs are read. */
  readonly held?: number;
  /** Estimated grams CO2eq, one entry per signal the intensity had; absent unless some object has watts per replica. */
  readonly grams?: readonly LedgerGrams[];
}

/** Grams CO2eq of one group under intensity of one signal: replicas x watts x intensity, over time. */
export interface LedgerGrams {
  /** `marginal`, `average` or `unknown`, as the source reports its intensity. */
  readonly signal: string;
  /** Of the cap (in observe mode, the cap the policy would set). */
  readonly cap: number;
  readonly declared: number;
  /** Declared minus cap. */
  readonly withheld: number;
  /** Of the replicas the HPAs report running; absent unless HPAs are read. */
  readonly emitted?: number;
}

export interface LedgerSink {
  /** The leader attaches its ledger; `null` detaches it (the replica then exports no ledger series). */
  attach(source: (() => readonly LedgerRow[]) | null): void;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON when the body is JSON, else the text. */
  body: unknown;
}

export interface RequestOptions {
  body?: unknown;
  /** Defaults to application/json; patches name their own type. */
  contentType?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The calls the cluster and carbon adapters make to the Kubernetes API: plain requests and
 * watch streams. One interface so the controller, the Lease and the caches run unchanged
 * against the real API server and against the local fake in the tests and the benchmark.
 */
export interface KubeApi {
  /** Resolves with any HTTP status; rejects only when no answer arrived (network, timeout, abort). */
  request(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>;
  /**
   * Stream watch events from `path` (which carries `watch=1`). `onEnd` fires once when
   * the stream ends or fails; the returned function closes it without calling `onEnd`.
   */
  watch(path: string, onEvent: (type: string, object: unknown) => void, onEnd: (err?: Error) => void): () => void;
}

/** An HTTP status the caller did not expect, with the API server's own message. */
export class ApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: unknown,
    readonly retryAfterMs?: number,
  ) {
    super(`${method} ${path.split('?')[0]} answered ${status}${statusMessage(body)}`);
    this.name = 'ApiError';
  }
}

function statusMessage(body: unknown): string {
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    return `: ${(body as { message: string }).message}`;
  }
  if (typeof body === 'string' && body.trim() !== '') return `: ${body.trim().slice(0, 200)}`;
  return '';
}

/** Raised when work is stopped (leadership lost, shutdown) while a call waits. */
export class AbortedError extends Error {
  constructor(what = 'stopped') {
    super(what);
    this.name = 'AbortedError';
  }
}
