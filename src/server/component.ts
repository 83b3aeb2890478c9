import type { RuntimeConfig } from '../config/config.js';
import type { Readiness } from './app.js';

/**
 * One part of what `serve` runs. It is built (its source opened, its certificates read)
 * before any part starts, so a build that fails has nothing to undo; the runtime then starts
 * the parts in list order and stops them in reverse.
 */
export interface Component {
  /** What the part is called where its order is read (runtime.ts, the tests, docs/adr/0012). */
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Its share of what /readyz reports. */
  ready?(): Partial<Readiness>;
  /** A reloaded configuration: the component compares it with what it runs and acts on its own part. */
  reconfigure?(config: RuntimeConfig): void;
  /** Shutdown begins (see Runtime.stopServing): called in list order, before stop. */
  stopServing?(deadlineMs: number): void;
}

/** What /readyz says where no component says otherwise. */
const UNSAID: Readiness = { serving: true, carbon: { fresh: false, source: '', fetchedAt: null } };

/** The parts of a runtime, in start order. */
export class Components {
  private readonly started: Component[] = [];

  constructor(private readonly list: readonly Component[]) {}

  /**
   * Starts each in order. When one fails, those already started are stopped, last first, and
   * its error is thrown: nothing is left running.
   */
  async start(): Promise<void> {
    for (const component of this.list) {
      try {
        await component.start();
      } catch (err) {
        await this.stop();
        throw err;
      }
      this.started.push(component);
    }
  }

  /** Stops what was started, last first; a second call finds nothing left to stop. */
  async stop(): Promise<void> {
    for (const component of this.started.splice(0).reverse()) await component.stop();
  }

  reconfigure(config: RuntimeConfig): void {
    for (const component of this.list) component.reconfigure?.(config);
  }

  stopServing(deadlineMs: number): void {
    for (const component of this.list) component.stopServing?.(deadlineMs);
  }

  readiness(): Readiness {
    const readiness = { ...UNSAID };
    for (const component of this.list) Object.assign(readiness, component.ready?.());
    return readiness;
  }
}
