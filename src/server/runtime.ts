import type { AddressInfo } from 'node:net';
import type { Server as HttpsServer } from 'node:https';
import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { CarbonPipeline } from '../carbon/pipeline.js';
import type { ClusterIntegration } from '../cluster/index.js';
import { clusterAccess, describeAccess, KubeconfigError, leaseNamespace } from '../cluster/access.js';
import type { ClusterConnection } from '../cluster/access.js';
import { connectInCluster } from '../cluster/in-cluster.js';
import { loadConfigFile, readConfigFile, type RuntimeConfig } from '../config/config.js';
import { watchConfig } from '../config/reload.js';
import type { CarbonSnapshot } from '../core/carbon.js';
import { currentIntensity } from '../core/view.js';
import type { Logger } from '../log.js';
import { buildApp, buildMetricsApp } from './app.js';
import { createMetrics, type Metrics } from './metrics.js';
import { shutdownGate, type ShutdownGate } from './shutdown.js';
import { fileTls, secretTls, type SecretTlsOptions, type TlsSource } from './tls-source.js';

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
  /** Also read: POD_NAMESPACE, POD_NAME, HOSTNAME, KEDA_CARBON_LEASE_NAME and the provider credentials. */
  env: Env;
  logger: Logger;
}

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
async function listenOn(app: { listen(o: { host: string; port: number }): Promise<unknown> }, host: string, port: number, option: 'port' | 'metricsPort') {
  try {
    await app.listen({ host, port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortInUseError(option, host, port);
    throw err;
  }
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
   * Stops in order: file watchers, the carbon refresher, the cluster side (timer, Lease
   * released, caches), then the admission listener (in-flight reviews finish) and metrics.
   */
  close(): Promise<void>;
}

/** What is running; close() stops what is there, so a start that fails halfway cleans up too. */
interface Parts {
  stopWatches: Array<() => void>;
  carbon?: CarbonPipeline;
  cluster?: ClusterIntegration;
  app?: FastifyInstance;
  gate?: ShutdownGate;
  metricsApp?: FastifyInstance;
}

async function closeParts(parts: Parts): Promise<void> {
  for (const stop of parts.stopWatches.splice(0)) stop();
  await parts.carbon?.stop();
  await parts.cluster?.stop();
  await parts.app?.close(); // waits for in-flight requests, closes idle keep-alive connections
  await parts.metricsApp?.close();
}

async function loadConfig(path: string | undefined): Promise<{ config: RuntimeConfig; text: string }> {
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

async function startCarbon(config: RuntimeConfig, o: RuntimeOptions, metrics: Metrics, cluster: ClusterConnection | undefined): Promise<CarbonPipeline> {
  try {
    // The exporter-configmap source and `location: auto` read the cluster through the same client.
    const kube = cluster ? (await import('../carbon/kube-client.js')).kubeClientFromApi(cluster.api) : undefined;
    return await CarbonPipeline.start(config.intensity, { env: o.env, logger: o.logger, metrics, ...(kube ? { kube } : {}) });
  } catch (err) {
    throw new StartupError(`cannot open the carbon source: ${(err as Error).message}`);
  }
}

/** Say once, when data first arrives, what intensity the webhook is applying. */
function logIntensityOnce(carbon: CarbonPipeline, logger: Logger): () => void {
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
  if (announce(carbon.store.snapshot())) return () => undefined;
  const unsubscribe = carbon.store.subscribe((s) => {
    if (announce(s)) unsubscribe();
  });
  return unsubscribe;
}

/** A reloaded config: new intensity settings re-open the source; the cluster side re-reads its limits. */
function onConfigReload(state: { config: RuntimeConfig }, parts: Parts, logger: Logger): (next: RuntimeConfig) => void {
  return (next) => {
    const intensityChanged = !isDeepStrictEqual(next.intensity, state.config.intensity);
    state.config = next;
    const carbon = parts.carbon!;
    if (intensityChanged) {
      carbon.reconfigure(next.intensity).then(
        () => logger.info({ source: carbon.store.snapshot().source }, 'carbon source reconfigured'),
        (err: Error) => logger.error({ err: err.message }, 'new intensity settings cannot be opened; keeping the previous source'),
      );
    }
    parts.cluster?.reconfigure();
  };
}

/** The admission app on HTTPS and the metrics app on plain HTTP, listening; returns the bound ports. */
async function listen(o: RuntimeOptions, parts: Parts, state: { config: RuntimeConfig; serving: boolean }, tls: TlsSource, metrics: Metrics) {
  const carbon = parts.carbon!;
  parts.app = buildApp({
    admission: { config: () => state.config, carbon: carbon.store, namespaces: parts.cluster?.namespaces, now: Date.now },
    readiness: () => {
      const s = carbon.store.snapshot();
      return {
        serving: state.serving,
        certificate: tls.ready(),
        carbon: { fresh: carbon.hasFreshData(Date.now()), source: s.source, fetchedAt: s.fetchedAt === null ? null : new Date(s.fetchedAt).toISOString() },
      };
    },
    metrics,
    logger: o.logger,
    https: tls.initial,
  });
  await listenOn(parts.app, o.host, o.port, 'port');
  parts.gate = shutdownGate(parts.app.server, { logger: o.logger });
  parts.metricsApp = buildMetricsApp(metrics, () => carbon.recordMetrics());
  await listenOn(parts.metricsApp, o.host, o.metricsPort, 'metricsPort');
  return { port: (parts.app.server.address() as AddressInfo).port, metricsPort: (parts.metricsApp.server.address() as AddressInfo).port };
}

function watchConfigFile(o: RuntimeOptions, parts: Parts, state: { config: RuntimeConfig }, loadedText: string): void {
  if (o.configPath) parts.stopWatches.push(watchConfig(o.configPath, loadedText, o.logger, onConfigReload(state, parts, o.logger)));
}

/** The certificate directory, or the Secret serve manages (which needs the cluster and its Lease). */
async function openTls(
  o: RuntimeOptions,
  parts: Parts,
  leaseNamespace: string | undefined,
  api: ClusterConnection['api'] | undefined,
  metrics: Metrics,
): Promise<TlsSource> {
  if (!o.tlsSecret) return fileTls(o.certDir, o.logger, metrics);
  const cluster = parts.cluster!;
  return secretTls(o.tlsSecret, { api: api!, namespace: leaseNamespace!, isLeader: () => cluster.isLeader() }, o.logger, metrics);
}

function stopServing(parts: Parts, state: { serving: boolean }, deadlineMs: number, logger: Logger): void {
  state.serving = false;
  parts.gate?.begin(deadlineMs);
  parts.cluster?.releaseLeadership().catch((err: Error) => logger.warn({ err: err.message }, 'could not give the Lease up; it expires on its own'));
}

/**
 * Everything `serve` runs, wired and started: the configuration (hot-reloaded), the carbon
 * source, store and refresher, the process's one API client with the cluster side (namespace
 * policies, the re-touch timer under a Lease), the admission and metrics apps, and the TLS
 * certificate with its reloader. Throws StartupError, after stopping what had started.
 */
export async function createRuntime(o: RuntimeOptions): Promise<Runtime> {
  const { config, text } = await loadConfig(o.configPath);
  const cluster = await connect(o);
  if (o.tlsSecret && !cluster) {
    throw new StartupError('--tls-secret needs cluster access (the in-cluster service account, --kubeconfig or KUBECONFIG): the certificates live in a Secret');
  }
  const metrics = createMetrics();
  const state = { config, serving: true };
  const parts: Parts = { stopWatches: [] };
  try {
    parts.carbon = await startCarbon(config, o, metrics, cluster?.connection);
    if (cluster) {
      const { connection, leaseNamespace } = cluster;
      const { startClusterIntegration } = await import('../cluster/index.js');
      parts.cluster = await startClusterIntegration({
        api: connection.api,
        leaseNamespace,
        env: o.env,
        config: () => state.config,
        carbon: parts.carbon.store,
        logger: o.logger,
        metrics,
      }).catch((err: Error) => Promise.reject(new StartupError(err.message)));
    }
    const tls = await openTls(o, parts, cluster?.leaseNamespace, cluster?.connection.api, metrics);
    const ports = await listen(o, parts, state, tls, metrics);
    parts.stopWatches.push(tls.start(parts.app!.server as HttpsServer));
    o.logger.info(
      {
        url: `https://${o.host}:${ports.port}/mutate`,
        ...ports,
        caFile: tls.caFile,
        config: o.configPath ?? '(embedded defaults)',
        source: parts.carbon.store.snapshot().source,
      },
      'keda-carbon webhook listening',
    );
    watchConfigFile(o, parts, state, text);
    parts.stopWatches.push(logIntensityOnce(parts.carbon, o.logger));
    return { ...ports, stopServing: (deadlineMs) => stopServing(parts, state, deadlineMs, o.logger), close: () => closeParts(parts) };
  } catch (err) {
    await closeParts(parts);
    throw err;
  }
}
