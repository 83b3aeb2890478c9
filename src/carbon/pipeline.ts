import type { IntensityConfig } from '../config/intensity.js';
import type { Logger } from '../log.js';
import type { CarbonMetrics } from '../ports.js';
import { exportCarbonGauges, type CarbonGauges } from './gauges.js';
import { openSource, type SourceDeps } from './providers/index.js';
import { Refresher } from './refresher.js';
import type { IntensitySource } from './source.js';
import { CarbonStore } from './store.js';

export type PipelineDeps = SourceDeps & { logger: Logger; metrics: CarbonMetrics };

/** What runs for one source: its refresher (the only writer of the store) and its gauges. */
interface Running {
  refresher: Refresher;
  gauges: CarbonGauges;
}

/** An opened source with its settings (`location: auto` resolved). */
interface Opened {
  config: IntensityConfig;
  source: IntensitySource;
}

/** The carbon side of `serve`: one source, one store, one refresher, the gauges that follow the store. */
export class CarbonPipeline {
  private running: Running | undefined;

  private constructor(
    readonly store: CarbonStore,
    private opened: Opened,
    private readonly deps: PipelineDeps,
  ) {}

  /**
   * The source opened and an empty store, nothing running yet. openSource resolves
   * `location: auto` from the node's region label, so a source that cannot be used fails here.
   */
  static async open(intensity: IntensityConfig, deps: PipelineDeps): Promise<CarbonPipeline> {
    const opened = await openSource(intensity, deps);
    const store = new CarbonStore({ source: opened.source.name, maxDataAgeMs: opened.config.maxDataAgeMs });
    return new CarbonPipeline(store, opened, deps);
  }

  /** The refresher fetches now and keeps refreshing; the gauges follow the store. */
  start(): void {
    const { config, source } = this.opened;
    const gauges = exportCarbonGauges(this.store, source, this.deps.metrics);
    const { refreshIntervalMs, timeoutMs } = config;
    const refresher = new Refresher({ source, store: this.store, refreshIntervalMs, timeoutMs, logger: this.deps.logger, metrics: this.deps.metrics });
    refresher.start();
    this.running = { refresher, gauges };
  }

  /**
   * A new `intensity:` block. The new source is opened first, so a block that cannot be
   * opened leaves the running one in place; the store empties itself for a new source name.
   * The old gauges stop before the store changes, so they never label the new source's data.
   */
  async reconfigure(intensity: IntensityConfig): Promise<void> {
    const opened = await openSource(intensity, this.deps);
    await this.stop();
    this.store.reconfigure({ source: opened.source.name, maxDataAgeMs: opened.config.maxDataAgeMs });
    this.opened = opened;
    if (this.running) this.start();
  }

  hasFreshData(now: number): boolean {
    return this.running?.refresher.hasFreshData(now) ?? false;
  }

  /** Keeps the data-age gauge counting between refreshes. */
  recordMetrics(): void {
    this.running?.gauges.record();
  }

  /** The last refresher and gauges stay readable: readiness and scrapes go on during shutdown. */
  async stop(): Promise<void> {
    this.running?.gauges.stop();
    await this.running?.refresher.stop();
  }
}
