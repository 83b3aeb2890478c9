import type { IntensityConfig } from '../config/intensity.js';
import type { Logger } from '../log.js';
import type { MetricsSink } from '../ports.js';
import { exportCarbonGauges, type CarbonGauges } from './gauges.js';
import { openSource, type SourceDeps } from './providers/index.js';
import { Refresher } from './refresher.js';
import type { IntensitySource } from './source.js';
import { CarbonStore } from './store.js';

export type PipelineDeps = SourceDeps & { logger: Logger; metrics: MetricsSink };

/** What runs for one source: its refresher (the only writer of the store) and its gauges. */
interface Running {
  refresher: Refresher;
  gauges: CarbonGauges;
}

/** The running carbon side of `serve`: one source, one store, one refresher, the gauges that follow the store. */
export class CarbonPipeline {
  private constructor(
    readonly store: CarbonStore,
    private running: Running,
    private readonly deps: PipelineDeps,
  ) {}

  private static run(intensity: IntensityConfig, source: IntensitySource, store: CarbonStore, deps: PipelineDeps): Running {
    const { refreshIntervalMs, timeoutMs } = intensity;
    const gauges = exportCarbonGauges(store, source, deps.metrics);
    const refresher = new Refresher({ source, store, refreshIntervalMs, timeoutMs, logger: deps.logger, metrics: deps.metrics });
    refresher.start();
    return { refresher, gauges };
  }

  /** openSource resolves `location: auto` from the node's region label before anything runs. */
  static async start(intensity: IntensityConfig, deps: PipelineDeps): Promise<CarbonPipeline> {
    const { config, source } = await openSource(intensity, deps);
    const store = new CarbonStore({ source: source.name, maxDataAgeMs: config.maxDataAgeMs });
    return new CarbonPipeline(store, CarbonPipeline.run(config, source, store, deps), deps);
  }

  /**
   * A new `intensity:` block. The new source is opened first, so a block that cannot be
   * opened leaves the running one in place; the store empties itself for a new source name.
   * The old gauges stop before the store changes, so they never label the new source's data.
   */
  async reconfigure(intensity: IntensityConfig): Promise<void> {
    const { config, source } = await openSource(intensity, this.deps);
    await this.stop();
    this.store.reconfigure({ source: source.name, maxDataAgeMs: config.maxDataAgeMs });
    this.running = CarbonPipeline.run(config, source, this.store, this.deps);
  }

  hasFreshData(now: number): boolean {
    return this.running.refresher.hasFreshData(now);
  }

  /** Keeps the data-age gauge counting between refreshes. */
  recordMetrics(): void {
    this.running.gauges.record();
  }

  stop(): Promise<void> {
    this.running.gauges.stop();
    return this.running.refresher.stop();
  }
}
