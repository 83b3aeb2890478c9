import { createLogger, type Logger } from '../log.js';
import { createRuntime, StartupError, type Runtime } from '../server/runtime.js';
import { parseFlags, portFlag, type CommandIO } from './io.js';

export const SERVE_USAGE = `Usage: keda-carbon serve [--config FILE] [--port 8443] [--cert-dir DIR] [--metrics-port 8080] [--kubeconfig FILE] [--host 0.0.0.0]

Every flag also reads an environment variable: KEDA_CARBON_CONFIG, KEDA_CARBON_PORT,
KEDA_CARBON_CERT_DIR, KEDA_CARBON_METRICS_PORT, KEDA_CARBON_KUBECONFIG, KEDA_CARBON_HOST,
KEDA_CARBON_DRAIN_SECONDS. Without --config the embedded defaults run (sample carbon curve).
Without tls.crt/tls.key in the certificate directory (default .keda-carbon/tls), a local CA
and serving certificate are made there and reused on the next start.
`;

const FLAGS = {
  config: { type: 'string' },
  port: { type: 'string' },
  'cert-dir': { type: 'string' },
  'metrics-port': { type: 'string' },
  kubeconfig: { type: 'string' },
  host: { type: 'string' },
  'drain-seconds': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * How long close() may take after the drain before the process exits anyway: with the
 * Deployment's 15 s drain this stays inside its 45 s terminationGracePeriodSeconds.
 */
const CLOSE_DEADLINE_MS = 20_000;

export async function runServe(argv: string[], io: CommandIO): Promise<number> {
  const flags = parseFlags(argv, FLAGS, io, 'KEDA_CARBON_');
  if (flags.help) {
    io.stdout.write(SERVE_USAGE);
    return 0;
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const logger = createLogger();
  let runtime: Runtime;
  try {
    runtime = await createRuntime({
      configPath: str(flags.config),
      certDir: str(flags['cert-dir']) ?? '.keda-carbon/tls',
      kubeconfig: str(flags.kubeconfig),
      host: str(flags.host) ?? '0.0.0.0',
      port: portFlag(flags.port, 'port', 8443),
      metricsPort: portFlag(flags['metrics-port'], 'metrics-port', 8080),
      env: io.env,
      logger,
    });
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    io.stderr.write(`keda-carbon serve: ${err.message}\n`);
    return 2;
  }
  onSignals(runtime, logger, Number(flags['drain-seconds'] ?? 0) * 1000);
  return 0;
}

/** Resolves true when `p` settles within `ms`. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([p.then(() => true), deadline]).finally(() => clearTimeout(timer));
}

/** SIGTERM: readiness fails, the drain passes, then everything closes in order, within a deadline. */
function onSignals(runtime: Runtime, logger: Logger, drainMs: number): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    runtime.stopServing();
    logger.info({ signal, drainMs }, 'shutting down: readiness fails first, then in-flight requests finish');
    // Give the endpoints controller time to take this pod out of the Service before the
    // listener closes, so the API server stops sending new reviews here.
    if (drainMs > 0) await new Promise((r) => setTimeout(r, drainMs));
    const closed = await within(runtime.close(), CLOSE_DEADLINE_MS);
    if (closed) logger.info('stopped');
    else logger.error({ deadlineMs: CLOSE_DEADLINE_MS }, 'shutdown did not finish within the deadline; exiting anyway');
    logger.flush?.();
    process.exit(closed ? 0 : 1);
  };
  // A repeated SIGTERM (kubelet, or a supervisor resending) must not cut the drain short;
  // a second Ctrl-C is a person who wants out now.
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => {
    if (stopping) process.exit(130);
    void shutdown('SIGINT');
  });
}
