import type { IntensityConfig } from '../config/intensity.js';
import type { Logger } from '../log.js';
import type { MetricsSink } from '../ports.js';
import { openSource, type SourceDeps } from './providers/index.js';
import { Refresher } from './refresher.js';
import type { IntensitySource } from './source.js';
import { CarbonStore } from './store.js';

export type PipelineDeps = SourceDeps & { logger: Logger; metrics: MetricsSink };

/** The running carbon side of `serve`: one source, one store (the only writer), one refresher. */
export class CarbonPipeline {
  private constructor(
    readonly store: CarbonStore,
    private refresher: Refresher,
    private readonly deps: PipelineDeps,
  ) {}

  private static startRefresher(intensity: IntensityConfig, source: IntensitySource, store: CarbonStore, deps: PipelineDeps): Refresher {
    const { refreshIntervalMs, timeoutMs } = intensity;
    const refresher = new Refresher({ source, store, refreshIntervalMs, timeoutMs, logger: deps.logger, metrics: deps.metrics });
    refresher.start();
    return refresher;
  }

  /** openSource resolves `location: auto` from the node's region label before anything runs. */
  static async start(intensity: IntensityConfig, deps: PipelineDeps): Promise<CarbonPipeline> {
    const { config, source } = await openSource(intensity, deps);
    const store = new CarbonStore({ source: source.name, maxDataAgeMs: config.maxDataAgeMs });
    return new CarbonPipeline(store, CarbonPipeline.startRefresher(config, source, store, deps), deps);
  }

  /**
   * A new `intensity:` block. The new source is opened first, so a block that cannot be
   * opened leaves the running one in place; the store empties itself for a new source name.
   */
  async reconfigure(intensity: IntensityConfig): Promise<void> {
    const { config, source } = await openSource(intensity, this.deps);
    await this.refresher.stop();
    this.store.reconfigure({ source: source.name, maxDataAgeMs: config.maxDataAgeMs });
    this.refresher = CarbonPipeline.startRefresher(config, source, this.store, this.deps);
  }

  hasFreshData(now: number): boolean {
    return this.refresher.hasFreshData(now);
  }

  /** Keeps the data-age gauge counting between refreshes. */
  recordMetrics(): void {
    this.refresher.recordMetrics();
  }

  stop(): Promise<void> {
    return this.refresher.stop();
  }
}
