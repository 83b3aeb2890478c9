import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance } from 'fastify';
import type { CarbonPipeline } from '../carbon/pipeline.js';
import type { CarbonStore } from '../carbon/store.js';
import type { ClusterIntegration } from '../cluster/index.js';
import type { RuntimeConfig } from '../config/config.js';
import type { IntensityConfig } from '../config/intensity.js';
import { watchConfig } from '../config/reload.js';
import type { CarbonSnapshot } from '../core/carbon.js';
import { currentIntensity } from '../core/view.js';
import type { Logger } from '../log.js';
import type { Component } from './component.js';
import { shutdownGate, type ShutdownGate } from './shutdown.js';
import type { TlsSource } from './tls-source.js';

// The components `serve` runs (see runtime.ts for their order).

/** A reason `serve` cannot start; the message is for the person who started it. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** A port `serve` was asked to listen on is taken; `option` names the option that chose it. */
export class PortInUseError extends StartupError {
  constructor(
    readonly option: 'port' | 'metricsPort',
    readonly host: string,
    readonly port: number,
  ) {
    super(`${option === 'port' ? 'the webhook' : 'the metrics'} port ${port} is already in use on ${host}`);
  }
}

/** Listens, turning a taken port into a PortInUseError: a raw EADDRINUSE names neither the port's purpose nor the way out. */
async function listenOn(app: FastifyInstance, host: string, port: number, option: 'port' | 'metricsPort'): Promise<void> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortInUseError(option, host, port);
    throw err;
  }
}

/** A component that listens; `port()` is the port it bound (0 before it started). */
export interface Listener extends Component {
  port(): number;
}

/** Listens on start, closes on stop, remembers its port. */
function listener(name: string, app: FastifyInstance, host: string, port: number, option: 'port' | 'metricsPort'): Listener {
  let bound = 0;
  return {
    name,
    async start() {
      await listenOn(app, host, port, option);
      bound = (app.server.address() as AddressInfo).port;
    },
    stop: () => app.close(), // waits for in-flight requests, closes idle keep-alive connections
    port: () => bound,
  };
}

/** The metrics app on plain HTTP. */
export function metricsListener(app: FastifyInstance, host: string, port: number): Listener {
  return listener('metrics app', app, host, port, 'metricsPort');
}

/**
 * The admission app on HTTPS. When shutdown begins, readiness fails and the gate makes every
 * answer close its connection (see shutdown.ts); stop waits for in-flight reviews.
 */
export function admissionListener(app: FastifyInstance, host: string, port: number, logger: Logger): Listener {
  const base = listener('admission app', app, host, port, 'port');
  let serving = true;
  let gate: ShutdownGate | undefined;
  return {
    ...base,
    async start() {
      await base.start();
      gate = shutdownGate(app.server, { logger });
    },
    ready: () => ({ serving }),
    stopServing(deadlineMs) {
      serving = false;
      gate?.begin(deadlineMs);
    },
  };
}

/** The carbon source, store and refresher; new `intensity:` settings re-open the source. */
export function carbonComponent(pipeline: CarbonPipeline, intensity: IntensityConfig, logger: Logger): Component {
  let running = intensity;
  return {
    name: 'carbon pipeline',
    start: async () => pipeline.start(),
    stop: () => pipeline.stop(),
    ready() {
      const s = pipeline.store.snapshot();
      const fetchedAt = s.fetchedAt === null ? null : new Date(s.fetchedAt).toISOString();
      return { carbon: { fresh: pipeline.hasFreshData(Date.now()), source: s.source, fetchedAt } };
    },
    reconfigure(config) {
      if (isDeepStrictEqual(config.intensity, running)) return;
      running = config.intensity;
      pipeline.reconfigure(config.intensity).then(
        () => logger.info({ source: pipeline.store.snapshot().source }, 'carbon source reconfigured'),
        (err: Error) => logger.error({ err: err.message }, 'new intensity settings cannot be opened; keeping the previous source'),
      );
    },
  };
}

/** Namespace policies and the re-touch controller under the Lease; shutdown gives the Lease up at once. */
export function clusterComponent(cluster: ClusterIntegration, logger: Logger): Component {
  return {
    name: 'cluster integration',
    start: async () => cluster.start(),
    stop: () => cluster.stop(),
    // It reads its limits from the configuration itself.
    reconfigure: () => cluster.reconfigure(),
    stopServing() {
      cluster.releaseLeadership().catch((err: Error) => logger.warn({ err: err.message }, 'could not give the Lease up; it expires on its own'));
    },
  };
}

/** Keeps the admission server's certificate current. */
export function tlsComponent(tls: TlsSource, server: () => HttpsServer): Component {
  let stopWatching: () => void = () => undefined;
  return {
    name: 'TLS source',
    start: async () => {
      stopWatching = tls.start(server());
    },
    stop: async () => stopWatching(),
    ready: () => ({ certificate: tls.ready() }),
  };
}

/** Re-reads the config file; `apply` hands a new configuration to the other components. */
export function configWatcher(path: string, loadedText: string, logger: Logger, apply: (next: RuntimeConfig) => void): Component {
  let stopWatching: () => void = () => undefined;
  return {
    name: 'config watcher',
    start: async () => {
      stopWatching = watchConfig(path, loadedText, logger, apply);
    },
    stop: async () => stopWatching(),
  };
}

/** A line logged once the components before it have started. */
export function announcement(name: string, log: () => void): Component {
  return { name, start: async () => log(), stop: async () => undefined };
}

/** Says once, when data first arrives, what intensity the webhook is applying. */
export function intensityAnnouncement(store: CarbonStore, logger: Logger): Component {
  let unsubscribe: () => void = () => undefined;
  const announce = (s: CarbonSnapshot): boolean => {
    if (s.fetchedAt === null) return false;
    const now = currentIntensity(s, Date.now());
    const point = now.state === 'ok' ? now.point : null;
    logger.info(
      { source: s.source, intensity: point?.gCO2eqPerKWh ?? null, dataTime: point ? new Date(point.timestamp).toISOString() : null, points: s.points.length },
      'carbon intensity now applied',
    );
    return true;
  };
  return {
    name: 'intensity announcement',
    start: async () => {
      if (announce(store.snapshot())) return;
      unsubscribe = store.subscribe((s) => {
        if (announce(s)) unsubscribe();
      });
    },
    stop: async () => unsubscribe(),
  };
}
