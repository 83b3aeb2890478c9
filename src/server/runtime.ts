import type { Server as HttpsServer } from 'node:https';
import { CarbonPipeline } from '../carbon/pipeline.js';
import type { ClusterIntegration } from '../cluster/index.js';
import { clusterAccess, describeAccess, KubeconfigError, leaseNamespace } from '../cluster/access.js';
import type { ClusterConnection } from '../cluster/access.js';
import { connectInCluster } from '../cluster/in-cluster.js';
import { loadConfigFile, readConfigFile, type RuntimeConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import { buildApp, buildMetricsApp } from './app.js';
import { Components } from './component.js';
import {
  admissionListener,
  announcement,
  carbonComponent,
  clusterComponent,
  configWatcher,
  intensityAnnouncement,
  metricsListener,
  StartupError,
  tlsComponent,
  type Listener,
} from './components.js';
import { createMetrics, type Metrics } from './metrics.js';
import { fileTls, secretTls, type SecretTlsOptions, type TlsSource } from './tls-source.js';

export { PortInUseError, StartupError } from './components.js';

type Env = Record<string, string | undefined>;

export interface RuntimeOptions {
  /** Without it the embedded defaults run and nothing is hot-reloaded. */
  configPath: string | undefined;
  certDir: string;
  /** `--tls-secret` and its companions: certificates managed in the cluster instead of `certDir`. */
  tlsSecret?: SecretTlsOptions | undefined;
  /** `--kubeconfig`; else `KUBECONFIG`, else the in-cluster service account, else admission only. */
  kubeconfig: string | undefined;
  host: string;
  port: number;
  metricsPort: number;
  /** Offer HTTP/2 through ALPN on the webhook port (HTTP/1.1 is always accepted). */
  http2?: boolean | undefined;
  /** Also read: POD_NAMESPACE, POD_NAME, HOSTNAME, KEDA_CARBON_LEASE_NAME and the provider credentials. */
  env: Env;
  logger: Logger;
}

export interface Runtime {
  /** The bound ports (the options may ask for 0). */
  readonly port: number;
  readonly metricsPort: number;
  /**
   * Shutdown begins: readiness fails, so the pod leaves the Service before the listener
   * closes; every answer from now on closes its connection; the Lease is given up; and
   * `deadlineMs` from now connections still open are cut (see server/shutdown.ts).
   */
  stopServing(deadlineMs: number): void;
  /**
   * Stops the components in reverse start order: file watchers, the carbon refresher, the
   * cluster side (timer, Lease released, caches), then the admission listener (in-flight
   * reviews finish) and metrics.
   */
  close(): Promise<void>;
}

/** The configuration in force (replaced on reload) and the text it was first read from. */
interface Settings {
  config: RuntimeConfig;
  text: string;
}

async function loadConfig(path: string | undefined): Promise<Settings> {
  try {
    if (path) return await readConfigFile(path);
    return { config: await loadConfigFile(undefined), text: '' };
  } catch (err) {
    throw new StartupError(`invalid configuration: ${(err as Error).message}`);
  }
}

/**
 * The one API client of the process, or null (admission only); the Lease namespace is logged
 * with its origin. The Kubernetes client is imported only for a kubeconfig file: it is most
 * of the start time and memory of a webhook, and a Pod's service account does without it.
 */
async function connect(o: RuntimeOptions): Promise<{ connection: ClusterConnection; leaseNamespace: string } | null> {
  let connection: ClusterConnection | null = null;
  try {
    const access = clusterAccess(o.kubeconfig, o.env);
    if (access?.kind === 'in-cluster') connection = connectInCluster(o.env, { logger: o.logger });
    else if (access) connection = (await import('../cluster/kubeconfig.js')).connectCluster(o.kubeconfig, o.env);
  } catch (err) {
    if (err instanceof KubeconfigError) throw new StartupError(err.message);
    throw err;
  }
  if (!connection) {
    o.logger.info(
      'no cluster access (no --kubeconfig, KUBECONFIG or in-cluster service account): admission only; the re-touch timer and namespace-label policies are off',
    );
    return null;
  }
  const lease = leaseNamespace(o.env, connection.contextNamespace);
  o.logger.info(
    { cluster: describeAccess(connection.access), leaseNamespace: lease.namespace, leaseNamespaceFrom: lease.from },
    'cluster access: namespace policies and the re-touch timer (under a Lease) are on',
  );
  return { connection, leaseNamespace: lease.namespace };
}

/** The cluster's connection and where its Lease lives, or null for admission only. */
type Cluster = Awaited<ReturnType<typeof connect>>;

async function openCarbon(config: RuntimeConfig, o: RuntimeOptions, metrics: Metrics, cluster: Cluster): Promise<CarbonPipeline> {
  try {
    // The exporter-configmap source and `location: auto` read the cluster through the same client.
    const kube = cluster ? (await import('../carbon/kube-client.js')).kubeClientFromApi(cluster.connection.api) : undefined;
    return await CarbonPipeline.open(config.intensity, { env: o.env, logger: o.logger, metrics: metrics.carbon, ...(kube ? { kube } : {}) });
  } catch (err) {
    throw new StartupError(`cannot open the carbon source: ${(err as Error).message}`);
  }
}

async function openCluster(
  o: RuntimeOptions,
  cluster: NonNullable<Cluster>,
  settings: Settings,
  carbon: CarbonPipeline,
  metrics: Metrics,
): Promise<ClusterIntegration> {
  const { openClusterIntegration } = await import('../cluster/index.js');
  return openClusterIntegration({
    api: cluster.connection.api,
    leaseNamespace: cluster.leaseNamespace,
    env: o.env,
    config: () => settings.config,
    carbon: carbon.store,
    logger: o.logger,
    metrics,
  }).catch((err: Error) => Promise.reject(new StartupError(err.message)));
}

/** The certificate directory, or the Secret serve manages (which needs the cluster and its Lease). */
function openTls(o: RuntimeOptions, cluster: Cluster, integration: ClusterIntegration | undefined, metrics: Metrics): Promise<TlsSource> {
  if (!o.tlsSecret || !cluster || !integration) return fileTls(o.certDir, o.logger, metrics);
  const target = { api: cluster.connection.api, namespace: cluster.leaseNamespace, isLeader: () => integration.isLeader() };
  return secretTls(o.tlsSecret, target, o.logger, metrics);
}

/** The runtime's parts, opened: nothing runs yet, so a failure here leaves nothing to stop. */
async function open(o: RuntimeOptions, settings: Settings, cluster: Cluster) {
  const metrics = createMetrics();
  const carbon = await openCarbon(settings.config, o, metrics, cluster);
  const integration = cluster ? await openCluster(o, cluster, settings, carbon, metrics) : undefined;
  const tls = await openTls(o, cluster, integration, metrics);
  return { metrics, carbon, integration, tls };
}

/**
 * The components in start order: listeners first, watchers last, so that close(), which
 * stops in reverse, keeps the order it promises. A reloaded configuration becomes the one
 * admission reads, then goes to every component.
 */
function assemble(o: RuntimeOptions, settings: Settings, opened: Awaited<ReturnType<typeof open>>) {
  const { metrics, carbon, integration, tls } = opened;
  const app = buildApp({
    admission: { config: () => settings.config, carbon: carbon.store, namespaces: integration?.namespaces, now: Date.now },
    readiness: () => components.readiness(),
    metrics,
    logger: o.logger,
    https: tls.initial,
    http2: o.http2,
  });
  const metricsApp = metricsListener(
    buildMetricsApp(metrics, () => carbon.recordMetrics()),
    o.host,
    o.metricsPort,
  );
  const admission = admissionListener(app, o.host, o.port, o.logger);
  const apply = (next: RuntimeConfig) => {
    settings.config = next;
    components.reconfigure(next);
  };
  const components = new Components([
    metricsApp,
    admission,
    ...(integration ? [clusterComponent(integration, o.logger)] : []),
    carbonComponent(carbon, settings.config.intensity, o.logger),
    tlsComponent(tls, () => app.server as HttpsServer),
    announcement('listening announcement', () => logListening(o, admission, metricsApp, tls, carbon)),
    ...(o.configPath ? [configWatcher(o.configPath, settings.text, o.logger, apply)] : []),
    intensityAnnouncement(carbon.store, o.logger),
  ]);
  return { components, admission, metrics: metricsApp };
}

function logListening(o: RuntimeOptions, admission: Listener, metrics: Listener, tls: TlsSource, carbon: CarbonPipeline): void {
  const ports = { port: admission.port(), metricsPort: metrics.port() };
  o.logger.info(
    {
      url: `https://${o.host}:${ports.port}/mutate`,
      ...ports,
      caFile: tls.caFile,
      config: o.configPath ?? '(embedded defaults)',
      source: carbon.store.snapshot().source,
    },
    'keda-carbon webhook listening',
  );
}

/**
 * Everything `serve` runs, wired and started: the configuration (hot-reloaded), the carbon
 * source, store and refresher, the process's one API client with the cluster side (namespace
 * policies, the re-touch timer under a Lease), the admission and metrics apps, and the TLS
 * certificate with its reloader. Throws StartupError, after stopping what had started.
 */
export async function createRuntime(o: RuntimeOptions): Promise<Runtime> {
  const settings = await loadConfig(o.configPath);
  const cluster = await connect(o);
  if (o.tlsSecret && !cluster) {
    throw new StartupError('--tls-secret needs cluster access (the in-cluster service account, --kubeconfig or KUBECONFIG): the certificates live in a Secret');
  }
  const { components, admission, metrics } = assemble(o, settings, await open(o, settings, cluster));
  await components.start();
  return {
    port: admission.port(),
    metricsPort: metrics.port(),
    stopServing: (deadlineMs) => components.stopServing(deadlineMs),
    close: () => components.stop(),
  };
}
