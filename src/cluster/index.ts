import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { RuntimeConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import { EventRecorder } from './events.js';
import { DEFAULT_LEASE_NAME, LeaderElector } from './lease.js';
import { NamespaceCache } from './namespaces.js';
import { PoliteClient } from './polite.js';
import { Controller, type ControllerOptions } from './controller.js';
import { HpaCache } from './hpa.js';
import { Ledger } from './ledger.js';
import { ObjectCache } from './objects.js';
import { systemClock, type CarbonReader, type Clock, type ClusterMetrics, type KubeApi, type NamespacePolicyLookup } from '../ports.js';

export interface ClusterOptions {
  /** The process's one API client (built by the runtime from in-cluster, `--kubeconfig` or `KUBECONFIG`). */
  api: KubeApi;
  /** Where the Lease lives; it must exist (the runtime resolves it and logs where it came from). */
  leaseNamespace: string;
  /** The Lease identity; default from `POD_NAME` or `HOSTNAME` in `env`, made unique per process. */
  identity?: string;
  /** The Lease name; default `KEDA_CARBON_LEASE_NAME` in `env`, else `keda-carbon-retouch`. */
  leaseName?: string;
  env?: Record<string, string | undefined>;
  config(): RuntimeConfig;
  carbon: CarbonReader;
  logger: Logger;
  metrics: ClusterMetrics;
  clock?: Clock;
  /** For tests: the controller's timings (see ControllerOptions). */
  controller?: Pick<ControllerOptions, 'pollMs' | 'boundaryDelayMs' | 'backoffInitialMs' | 'backoffMaxMs'>;
}

export interface ClusterIntegration {
  /** Namespace-label policies for admission. */
  namespaces: NamespacePolicyLookup;
  /** The re-touch controller (runs while this replica leads), for tests and the log. */
  controller: Controller;
  /** Begins watching namespaces and competing for the Lease. */
  start(): void;
  /** Called after a config hot reload. */
  reconfigure(): void;
  /** Whether this replica holds the Lease now (the self-managed certificates write only then). */
  isLeader(): boolean;
  /**
   * Shutdown begins: stop the controller and give the Lease up now, so another replica
   * takes over at once instead of after the drain; namespace policies keep serving admission.
   */
  releaseLeadership(): Promise<void>;
  stop(): Promise<void>;
}

/** Unique per process: two replicas on one host (or a restart) must never share a claim. */
export function leaseIdentity(env: Record<string, string | undefined>): string {
  const host = env.POD_NAME?.trim() || env.HOSTNAME?.trim() || hostname();
  return `${host}_${randomBytes(4).toString('hex')}`;
}

/** Refuse to start on a Lease namespace that does not exist: the timer would never run. */
async function checkLeaseNamespace(api: KubeApi, namespace: string, logger: Logger): Promise<void> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}`;
  let status: number;
  try {
    status = (await api.request('GET', path, { timeoutMs: 10_000 })).status;
  } catch (err) {
    // The API server may come up after us; the elector keeps trying and logs why.
    logger.warn({ namespace, err: (err as Error).message }, 'could not check the Lease namespace; leader election retries');
    return;
  }
  if (status === 404) {
    throw new Error(
      `the Lease namespace "${namespace}" does not exist: create it, or point POD_NAMESPACE (or the kubeconfig context's namespace) at one that does`,
    );
  }
}

/** The leader's carbon ledger, with the HPA cache when the hpa-read component sets KEDA_CARBON_READ_HPAS (it grants the rights). */
function createLedger(options: ClusterOptions, clock: Clock): { ledger: Ledger; hpas: HpaCache | undefined } {
  if (options.env?.KEDA_CARBON_READ_HPAS !== 'true') return { ledger: new Ledger({ clock, carbon: options.carbon }), hpas: undefined };
  const hpas: HpaCache = new HpaCache({
    api: options.api,
    logger: options.logger,
    clock,
    // The replicas running change between the controller's reports: each change is booked.
    onChange: (ns, name) => ledger.hpaChanged(ns, name),
    onSynced: () => ledger.hpasListed(),
  });
  const ledger: Ledger = new Ledger({
    clock,
    carbon: options.carbon,
    heldAt: (ns, name, cap) => hpas.heldAt(ns, name, cap),
    running: (ns, name) => hpas.running(ns, name),
  });
  return { ledger, hpas };
}

/** The Lease: while held, the controller (and HPA reading) runs; the leader gauge says so. */
function createElector(
  options: ClusterOptions,
  parts: {
    identity: string;
    env: Record<string, string | undefined>;
    clock: Clock;
    controller: Controller;
    namespaces: NamespaceCache;
    hpas: ReturnType<typeof createLedger>['hpas'];
  },
): LeaderElector {
  const { controller, namespaces, hpas } = parts;
  const leaseName = options.leaseName ?? (parts.env.KEDA_CARBON_LEASE_NAME?.trim() || DEFAULT_LEASE_NAME);
  options.metrics.leader.set({ lease: leaseName }, 0);
  return new LeaderElector({
    api: options.api,
    namespace: options.leaseNamespace,
    name: leaseName,
    identity: parts.identity,
    logger: options.logger,
    clock: parts.clock,
    onStartedLeading: (signal) => {
      options.metrics.leader.set({ lease: leaseName }, 1);
      void hpas?.start();
      void namespaces.whenSynced().then(() => controller.start(signal));
    },
    onStoppedLeading: () => {
      options.metrics.leader.set({ lease: leaseName }, 0);
      hpas?.stop();
      void controller.stop();
    },
  });
}

/** openClusterIntegration, started. */
export async function startClusterIntegration(options: ClusterOptions): Promise<ClusterIntegration> {
  const cluster = await openClusterIntegration(options);
  cluster.start();
  return cluster;
}

/**
 * Namespace-label policies for admission and, on the replica holding the Lease, the re-touch
 * controller, wired but not started. Rejects when the Lease namespace does not exist.
 */
export async function openClusterIntegration(options: ClusterOptions): Promise<ClusterIntegration> {
  const { api, logger } = options;
  const env = options.env ?? {};
  const clock = options.clock ?? systemClock;
  await checkLeaseNamespace(api, options.leaseNamespace, logger);
  const identity = options.identity ?? leaseIdentity(env);
  const touch = options.config().touch;
  const client = new PoliteClient(api, { qps: touch.qps, burst: touch.burst, maxInFlight: touch.maxInFlight, clock });
  const events = new EventRecorder(client, logger, identity, clock.now);
  let controller: Controller | undefined;
  const namespaces = new NamespaceCache({
    api,
    logger,
    clock,
    onPolicyChange: (ns, before, after) => logger.info({ namespace: ns, before, after }, 'namespace policy label changed'),
    onLabelsChange: (ns) => controller?.namespaceChanged(ns),
  });
  const objects = new ObjectCache({
    api,
    logger,
    clock,
    onChange: (...c) => controller?.objectChanged(...c),
    onSynced: (plural, reason) => controller?.listed(plural, reason),
  });
  const { ledger, hpas } = createLedger(options, clock);
  options.metrics.ledger.attach(() => (controller!.isRunning ? ledger.rows() : []));
  controller = new Controller({
    objects,
    namespaces,
    client,
    events,
    config: options.config,
    carbon: options.carbon,
    logger,
    metrics: options.metrics.controller,
    ledger,
    clock,
    ...options.controller,
  });
  let releasing: Promise<void> | undefined;
  // Shutdown asks for this first and stop() again: both wait for the one release.
  const releaseLeadership = (): Promise<void> => {
    releasing ??= controller.stop().then(() => elector.stop());
    return releasing;
  };
  const elector = createElector(options, { identity, env, clock, controller, namespaces, hpas });
  return {
    namespaces,
    controller,
    start() {
      namespaces.start();
      elector.start();
    },
    reconfigure() {
      const t = options.config().touch;
      client.setLimits(t.qps, t.burst, t.maxInFlight);
      controller!.reconfigure();
    },
    releaseLeadership,
    isLeader: () => elector.isLeader,
    async stop() {
      options.metrics.ledger.attach(null);
      hpas?.stop();
      await releaseLeadership();
      namespaces.stop();
    },
  };
}
