import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import type { RuntimeConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import { kubeApiFromConfig } from './api.js';
import { EventRecorder } from './events.js';
import { LeaderElector } from './lease.js';
import { parseLabelSelector } from '../config/label-selector.js';
import { NamespaceCache } from './namespaces.js';
import { PoliteClient } from './polite.js';
import { RetouchTimer } from './retouch.js';
import { runSweep } from './sweep.js';
import { systemClock, type CarbonReader, type Clock, type KubeApi, type MetricsSink, type NamespacePolicyLookup } from '../ports.js';

export interface ClusterOptions {
  /** `--kubeconfig` / `KEDA_CARBON_KUBECONFIG`, else `KUBECONFIG`, else in-cluster. */
  kubeconfig: string | undefined;
  /**
   * Also read: `POD_NAMESPACE` (the Lease's namespace; else the service account's
   * namespace file, else `keda-carbon`), `POD_NAME` or `HOSTNAME` (the Lease identity),
   * `KEDA_CARBON_LEASE_NAME` (default `keda-carbon-retouch`).
   */
  env: Record<string, string | undefined>;
  config(): RuntimeConfig;
  carbon: CarbonReader;
  logger: Logger;
  metrics: MetricsSink;
  /** For tests: an API client instead of the kubeconfig's, and a clock. */
  api?: KubeApi;
  clock?: Clock;
}

export interface ClusterIntegration {
  /** Namespace-label policies for admission. */
  namespaces: NamespacePolicyLookup | undefined;
  /** Called after a config hot reload. */
  reconfigure(): void;
  stop(): Promise<void>;
}

/** Where cluster credentials would come from, or null when there are none. */
export function clusterAccess(kubeconfig: string | undefined, env: Record<string, string | undefined>): { kind: 'kubeconfig'; path: string } | { kind: 'in-cluster' } | null {
  const path = kubeconfig ?? env.KUBECONFIG;
  if (path) return { kind: 'kubeconfig', path };
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) return { kind: 'in-cluster' };
  return null;
}

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The namespace of the Lease: our own (the Deployment passes POD_NAMESPACE). */
export function leaseNamespace(env: Record<string, string | undefined>, readFile: (p: string) => string = (p) => readFileSync(p, 'utf8')): string {
  if (env.POD_NAMESPACE?.trim()) return env.POD_NAMESPACE.trim();
  try {
    const ns = readFile(SA_NAMESPACE_FILE).trim();
    if (ns) return ns;
  } catch {
    // not in a pod
  }
  return 'keda-carbon';
}

/** Unique per process: two replicas on one host (or a restart) must never share a claim. */
export function leaseIdentity(env: Record<string, string | undefined>): string {
  const host = env.POD_NAME?.trim() || env.HOSTNAME?.trim() || hostname();
  return `${host}_${randomBytes(4).toString('hex')}`;
}

function loadConfig(access: NonNullable<ReturnType<typeof clusterAccess>>): KubeConfig {
  const kc = new KubeConfig();
  if (access.kind === 'kubeconfig') kc.loadFromFile(access.path);
  else kc.loadFromCluster();
  if (!kc.getCurrentCluster()) throw new Error('it names no current cluster');
  return kc;
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
 * Connect to the cluster for namespace-label policies and the re-touch timer. Returns
 * null without cluster access (or with a kubeconfig that cannot be read, which is logged):
 * `serve` then runs admission only.
 */
export async function startClusterIntegration(options: ClusterOptions): Promise<ClusterIntegration | null> {
  const { logger, env } = options;
  let api = options.api;
  if (!api) {
    const access = clusterAccess(options.kubeconfig, env);
    if (!access) return null;
    try {
      api = kubeApiFromConfig(loadConfig(access));
    } catch (err) {
      const where = access.kind === 'kubeconfig' ? `kubeconfig ${access.path}` : 'in-cluster service account';
      logger.error({ err: (err as Error).message }, `cannot use the ${where}: ${(err as Error).message}`);
      return null;
    }
  }
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
    namespace: leaseNamespace(env),
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
