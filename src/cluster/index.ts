import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { RuntimeConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import { EventRecorder } from './events.js';
import { LeaderElector } from './lease.js';
import { parseLabelSelector } from '../config/label-selector.js';
import { NamespaceCache } from './namespaces.js';
import { PoliteClient } from './polite.js';
import { RetouchTimer } from './retouch.js';
import { runSweep } from './sweep.js';
import { systemClock, type CarbonReader, type Clock, type KubeApi, type MetricsSink, type NamespacePolicyLookup } from '../ports.js';

export interface ClusterOptions {
  /** The process's one API client (`cluster/kubeconfig.ts` builds it). */
  api: KubeApi;
  /** Where the Lease lives (`leaseNamespace()` in `cluster/kubeconfig.ts` chooses it). */
  leaseNamespace: string;
  /** Also read: `POD_NAME` or `HOSTNAME` (the Lease identity), `KEDA_CARBON_LEASE_NAME` (default `keda-carbon-retouch`). */
  env: Record<string, string | undefined>;
  config(): RuntimeConfig;
  carbon: CarbonReader;
  logger: Logger;
  metrics: MetricsSink;
  /** For tests: a clock. */
  clock?: Clock;
}

export interface ClusterIntegration {
  /** Namespace-label policies for admission. */
  namespaces: NamespacePolicyLookup | undefined;
  /** Called after a config hot reload. */
  reconfigure(): void;
  stop(): Promise<void>;
}

/** Unique per process: two replicas on one host (or a restart) must never share a claim. */
export function leaseIdentity(env: Record<string, string | undefined>): string {
  const host = env.POD_NAME?.trim() || env.HOSTNAME?.trim() || hostname();
  return `${host}_${randomBytes(4).toString('hex')}`;
}

/**
 * The timer's namespace filter, from `touch.namespaceSelector` as configured now (the
 * selector is validated when the config loads, and follows hot reloads).
 */
function namespaceScope(config: () => RuntimeConfig, namespaces: NamespaceCache): (ns: string) => Promise<boolean> {
  let text = '';
  let matches: (labels: Readonly<Record<string, string>>) => boolean = () => true;
  return async (ns) => {
    const selector = config().touch.namespaceSelector;
    if (selector !== text) {
      matches = parseLabelSelector(selector);
      text = selector;
    }
    let labels = namespaces.labelsOf(ns);
    if (!labels) {
      await namespaces.policyFor(ns);
      labels = namespaces.labelsOf(ns);
    }
    return labels !== undefined && matches(labels);
  };
}

/**
 * Namespace-label policies and the re-touch timer on the given API client; `serve` runs
 * admission only when it has no cluster credentials and so never calls this.
 */
export async function startClusterIntegration(options: ClusterOptions): Promise<ClusterIntegration> {
  const { logger, env, api } = options;
  const clock = options.clock ?? systemClock;
  const identity = leaseIdentity(env);
  const touch = options.config().touch;
  const client = new PoliteClient(api, { qps: touch.qps, burst: touch.burst, maxInFlight: touch.maxInFlight, clock });
  const events = new EventRecorder(client, logger, identity, clock.now);

  let timer: RetouchTimer | undefined;
  const namespaces = new NamespaceCache({
    api,
    logger,
    clock,
    onPolicyChange: (ns, before, after) => {
      logger.info({ namespace: ns, before, after }, 'namespace policy label changed');
      timer?.request(`namespace ${ns} label changed`, ns);
    },
  });
  const inScope = namespaceScope(options.config, namespaces);
  timer = new RetouchTimer({
    sweep: (o) => runSweep({ client, config: options.config, carbon: options.carbon, namespaces, events, clock, logger, inScope }, o),
    config: options.config,
    carbon: options.carbon,
    logger,
    metrics: options.metrics,
    clock,
    beforeFirstSweep: () => namespaces.whenSynced(),
  });
  const elector = new LeaderElector({
    api,
    namespace: options.leaseNamespace,
    name: env.KEDA_CARBON_LEASE_NAME?.trim() || 'keda-carbon-retouch',
    identity,
    logger,
    clock,
    onStartedLeading: (signal) => timer!.start(signal),
    onStoppedLeading: () => void timer!.stop(),
  });
  namespaces.start();
  elector.start();

  return {
    namespaces,
    reconfigure() {
      const t = options.config().touch;
      client.setLimits(t.qps, t.burst, t.maxInFlight);
      timer!.request('configuration reloaded');
    },
    async stop() {
      await timer!.stop();
      await elector.stop();
      namespaces.stop();
    },
  };
}
