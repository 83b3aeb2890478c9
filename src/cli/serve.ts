import { readFile } from 'node:fs/promises';
import { watch } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { Server as HttpsServer } from 'node:https';
import type { IntensityConfig } from '../config/intensity.js';
import { kubeClientFromConfig, loadKubeConfig, type KubeClient } from '../carbon/kube.js';
import { openSource, type SourceDeps } from '../carbon/providers/index.js';
import { Refresher } from '../carbon/refresher.js';
import { CarbonStore } from '../carbon/store.js';
import { currentIntensity } from '../core/view.js';
import { loadConfigFile, parseConfigText, readConfigFile, type RuntimeConfig } from '../config/config.js';
import { clusterAccess, startClusterIntegration } from '../cluster/index.js';
import { createLogger, type Logger } from '../log.js';
import { buildApp, buildMetricsApp } from '../server/app.js';
import { createMetrics, type Metrics } from '../server/metrics.js';
import { SHUTDOWN_AFTER_DRAIN_MS, shutdownGate } from '../server/shutdown.js';
import { ensureLocalCertificates, readCertificatePair } from '../tls/certs.js';
import { watchCertificates } from '../tls/reloader.js';
import { CONFIG_FLAG, intFlag, parseFlags, portFlag, type CommandIO, type CommandSpec } from './io.js';
import type { IntensitySource } from '../carbon/source.js';

export const SERVE = {
  name: 'serve',
  synopsis: '[--config FILE] [--port 8443] [--cert-dir DIR] [--metrics-port 8080] [--kubeconfig FILE] [--host 0.0.0.0] [--drain-seconds N]',
  about: `Runs the admission webhook (HTTPS /mutate, /healthz, /readyz), /metrics on a plain-HTTP
port, and, when a cluster is reachable (--kubeconfig, KUBECONFIG or the in-cluster service
account), the re-touch timer and namespace-label policies. Every flag also reads the
environment variable shown. Without --config the embedded defaults run (sample carbon curve).
Without tls.crt/tls.key in the certificate directory, a local CA and serving certificate are
made there and reused on the next start.`,
  flags: {
    config: CONFIG_FLAG,
    port: { type: 'string', arg: 'PORT', env: 'KEDA_CARBON_PORT', help: 'the HTTPS port of the webhook (default 8443)' },
    'cert-dir': { type: 'string', arg: 'DIR', env: 'KEDA_CARBON_CERT_DIR', help: 'the directory holding tls.crt and tls.key (default .keda-carbon/tls)' },
    'metrics-port': { type: 'string', arg: 'PORT', env: 'KEDA_CARBON_METRICS_PORT', help: 'the plain-HTTP port of /metrics (default 8080)' },
    kubeconfig: { type: 'string', arg: 'FILE', env: 'KEDA_CARBON_KUBECONFIG', help: 'cluster credentials (default: KUBECONFIG, else the in-cluster service account)' },
    host: { type: 'string', arg: 'ADDRESS', env: 'KEDA_CARBON_HOST', help: 'the address both ports listen on (default 0.0.0.0)' },
    'drain-seconds': {
      type: 'string',
      arg: 'N',
      env: 'KEDA_CARBON_DRAIN_SECONDS',
      help: 'on SIGTERM, fail readiness and wait N seconds before closing the listener,\nso the Service stops sending reviews first (default 0)',
    },
  },
} as const satisfies CommandSpec;

/** The running carbon pipeline: one source, one store, one refresher. */
class CarbonRuntime {
  private constructor(
    readonly store: CarbonStore,
    private refresher: Refresher,
    private readonly deps: SourceDeps & { logger: Logger; metrics: Metrics },
  ) {}

  private static startRefresher(intensity: IntensityConfig, source: IntensitySource, store: CarbonStore, deps: { logger: Logger; metrics: Metrics }): Refresher {
    const { refreshIntervalMs, timeoutMs } = intensity;
    const refresher = new Refresher({ source, store, refreshIntervalMs, timeoutMs, logger: deps.logger, metrics: deps.metrics });
    refresher.start();
    return refresher;
  }

  /** openSource resolves `location: auto` from the node's region label before anything runs. */
  static async start(intensity: IntensityConfig, deps: SourceDeps & { logger: Logger; metrics: Metrics }): Promise<CarbonRuntime> {
    const { config, source } = await openSource(intensity, deps);
    const store = new CarbonStore({ source: source.name, maxDataAgeMs: config.maxDataAgeMs });
    return new CarbonRuntime(store, CarbonRuntime.startRefresher(config, source, store, deps), deps);
  }

  /**
   * A new `intensity:` block. The new source is opened first, so a block that cannot be
   * opened leaves the running one in place; the store empties itself for a new source name.
   */
  async reconfigure(intensity: IntensityConfig): Promise<void> {
    const { config, source } = await openSource(intensity, this.deps);
    await this.refresher.stop();
    this.store.reconfigure({ source: source.name, maxDataAgeMs: config.maxDataAgeMs });
    this.refresher = CarbonRuntime.startRefresher(config, source, this.store, this.deps);
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

/**
 * Re-read the config file when it changes; a broken file keeps the previous config.
 * `loadedText` is the text the running config was parsed from, so a change made between
 * the first load and the watch starting is not missed.
 */
function watchConfig(path: string, loadedText: string, logger: Logger, apply: (next: RuntimeConfig) => void): () => void {
  let lastText = loadedText;
  let timer: NodeJS.Timeout | undefined;
  const check = async () => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      logger.error({ path, err: (err as Error).message }, 'config file unreadable; keeping the previous configuration');
      return;
    }
    if (text === lastText) return;
    lastText = text;
    try {
      // Parse the text just read: reading the file a second time could see yet another version.
      apply(parseConfigText(text, path));
      logger.info({ path }, 'configuration reloaded');
    } catch (err) {
      logger.error({ path, err: (err as Error).message }, 'configuration reload failed; keeping the previous configuration');
    }
  };
  void check();
  // ConfigMap volumes swap a symlink, which fs.watch may miss: poll as well, cheaply.
  const poll = setInterval(() => void check(), 5_000);
  poll.unref();
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    watcher = watch(path, () => {
      clearTimeout(timer);
      timer = setTimeout(() => void check(), 100);
    });
    watcher.on('error', () => undefined);
  } catch {
    // polling alone still reloads
  }
  return () => {
    clearInterval(poll);
    clearTimeout(timer);
    watcher?.close();
  };
}

export async function runServe(argv: string[], io: CommandIO): Promise<number> {
  const flags = parseFlags(argv, SERVE, io);
  if (!flags) return 0;
  const port = portFlag(flags.port, 'port', 8443);
  const metricsPort = portFlag(flags['metrics-port'], 'metrics-port', 8080);
  const host = typeof flags.host === 'string' ? flags.host : '0.0.0.0';
  const certDir = typeof flags['cert-dir'] === 'string' ? flags['cert-dir'] : '.keda-carbon/tls';
  const configPath = typeof flags.config === 'string' ? flags.config : undefined;
  const drainMs = (intFlag(flags['drain-seconds'], 'drain-seconds', 0, 3600) ?? 0) * 1000;
  const logger = createLogger();

  let config: RuntimeConfig;
  let configText = '';
  try {
    if (configPath) ({ config, text: configText } = await readConfigFile(configPath));
    else config = await loadConfigFile(undefined);
  } catch (err) {
    io.stderr.write(`keda-carbon serve: invalid configuration: ${(err as Error).message}\n`);
    return 2;
  }

  const certs = await ensureLocalCertificates(certDir);
  const pair = await readCertificatePair(certs.certFile, certs.keyFile);
  if (certs.created) logger.info({ caFile: certs.caFile, certDir }, 'made a local CA and serving certificate; trust the CA file to call the webhook');
  else logger.info({ certDir, caFile: certs.caFile }, 'using the certificate in the certificate directory');

  const metrics = createMetrics();
  const kubeconfig = typeof flags.kubeconfig === 'string' ? flags.kubeconfig : undefined;
  const access = clusterAccess(kubeconfig, io.env);
  // The exporter-configmap source and `location: auto` read the cluster too.
  let kube: KubeClient | undefined;
  if (access) kube = kubeClientFromConfig(loadKubeConfig(access.kind === 'kubeconfig' ? access.path : undefined));
  let carbon: CarbonRuntime;
  try {
    carbon = await CarbonRuntime.start(config.intensity, { env: io.env, logger, metrics, ...(kube ? { kube } : {}) });
  } catch (err) {
    io.stderr.write(`keda-carbon serve: cannot open the carbon source: ${(err as Error).message}\n`);
    return 2;
  }
  let serving = true;
  let currentConfig = config;

  const cluster = await startClusterIntegration({
    kubeconfig,
    env: io.env,
    config: () => currentConfig,
    carbon: carbon.store,
    logger,
    metrics,
  });
  if (!cluster && !access) logger.info('no cluster access (no --kubeconfig, KUBECONFIG or in-cluster service account): admission only; the re-touch timer and namespace-label policies are off');
  else if (!cluster) logger.warn('cluster access could not be used (see the error above): admission only; the re-touch timer and namespace-label policies are off');

  const app = buildApp({
    admission: { config: () => currentConfig, carbon: carbon.store, namespaces: cluster?.namespaces, now: Date.now },
    readiness: () => {
      const s = carbon.store.snapshot();
      return { serving, carbon: { fresh: carbon.hasFreshData(Date.now()), source: s.source, fetchedAt: s.fetchedAt === null ? null : new Date(s.fetchedAt).toISOString() } };
    },
    metrics,
    logger,
    https: pair,
  });
  const metricsApp = buildMetricsApp(metrics, () => carbon.recordMetrics());
  await app.listen({ host, port });
  await metricsApp.listen({ host, port: metricsPort });
  const gate = shutdownGate(app.server, { logger });
  const boundPort = (app.server.address() as AddressInfo).port;
  const boundMetricsPort = (metricsApp.server.address() as AddressInfo).port;
  logger.info(
    { url: `https://${host}:${boundPort}/mutate`, port: boundPort, metricsPort: boundMetricsPort, caFile: certs.caFile, config: configPath ?? '(embedded defaults)', source: carbon.store.snapshot().source },
    'keda-carbon webhook listening',
  );

  const stopCertWatch = watchCertificates(
    certDir,
    (next) => {
      (app.server as HttpsServer).setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' });
      logger.info({ certDir }, 'serving certificate reloaded');
    },
    { logger },
  );
  const stopConfigWatch = configPath
    ? watchConfig(configPath, configText, logger, (next) => {
        const intensityChanged = !isDeepStrictEqual(next.intensity, currentConfig.intensity);
        currentConfig = next;
        if (intensityChanged) {
          carbon.reconfigure(next.intensity).then(
            () => logger.info({ source: carbon.store.snapshot().source }, 'carbon source reconfigured'),
            (err: Error) => logger.error({ err: err.message }, 'new intensity settings cannot be opened; keeping the previous source'),
          );
        }
        cluster?.reconfigure();
      })
    : () => undefined;

  logIntensityOnce(carbon, logger);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    serving = false;
    gate.begin(drainMs + SHUTDOWN_AFTER_DRAIN_MS);
    logger.info({ signal, drainMs }, 'shutting down: readiness fails first, then in-flight requests finish');
    // Give the endpoints controller time to take this pod out of the Service before the
    // listener closes, so the API server stops sending new reviews here.
    // The Lease is released now, not after the drain: the other replica runs the timer
    // within the Lease duration. Namespace labels already seen stay cached for admission.
    await cluster?.stop();
    if (drainMs > 0) await new Promise((r) => setTimeout(r, drainMs));
    stopConfigWatch();
    stopCertWatch();
    await carbon.stop();
    await app.close(); // waits for in-flight requests, closes idle keep-alive connections
    await metricsApp.close();
    logger.info('stopped');
    logger.flush?.();
    process.exit(0);
  };
  // A repeated SIGTERM (kubelet, or a supervisor resending) must not cut the drain short;
  // a second Ctrl-C is a person who wants out now.
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => {
    if (stopping) process.exit(130);
    void shutdown('SIGINT');
  });
  return 0;
}

/** Say once, when data first arrives, what intensity the webhook is applying. */
function logIntensityOnce(carbon: CarbonRuntime, logger: Logger): void {
  const check = setInterval(() => {
    const s = carbon.store.snapshot();
    if (s.fetchedAt === null) return;
    clearInterval(check);
    const now = currentIntensity(s, Date.now());
    const point = now.state === 'ok' ? now.point : null;
    logger.info({ source: s.source, intensity: point?.gCO2eqPerKWh ?? null, dataTime: point ? new Date(point.timestamp).toISOString() : null, points: s.points.length }, 'carbon intensity now applied');
  }, 200);
  check.unref();
}
