import { durationMs } from '../core/duration.js';
import { createLogger, type Logger } from '../log.js';
import { HTTP2_BY_DEFAULT } from '../server/app.js';
import { createRuntime, PortInUseError, StartupError, type Runtime } from '../server/runtime.js';
import { SHUTDOWN_AFTER_DRAIN_MS } from '../server/shutdown.js';
import type { SecretTlsOptions } from '../server/tls-source.js';
import { CONFIG_FLAG, intFlag, parseFlags, portFlag, UsageError, type CommandIO, type CommandSpec, type FlagValues } from './io.js';

export const SERVE = {
  name: 'serve',
  synopsis:
    '[--config FILE] [--port 8443] [--cert-dir DIR | --tls-secret NAME --webhook-config NAME --service-name NAME [--cert-validity 90d] [--ca-validity 365d]] [--metrics-port 8080] [--kubeconfig FILE] [--host 0.0.0.0] [--drain-seconds N] [--http2 true|false]',
  about: `Runs the admission webhook (HTTPS /mutate, /healthz, /readyz), /metrics on a plain-HTTP
port, and, when a cluster is reachable (--kubeconfig, KUBECONFIG or the in-cluster service
account), the re-touch timer and namespace-label policies. Every flag also reads the
environment variable shown. Without --config the embedded defaults run (sample carbon curve).
Without tls.crt/tls.key in the certificate directory, a local CA and serving certificate are
made there and reused on the next start. With --tls-secret the certificates live in that
Secret of serve's own namespace instead: the Lease leader makes and renews them and writes
the CA into the caBundle of --webhook-config; every replica reloads them (docs/certificates.md).`,
  flags: {
    config: CONFIG_FLAG,
    port: { type: 'string', arg: 'PORT', env: 'KEDA_CARBON_PORT', help: 'the HTTPS port of the webhook (default 8443)' },
    'cert-dir': { type: 'string', arg: 'DIR', env: 'KEDA_CARBON_CERT_DIR', help: 'the directory holding tls.crt and tls.key (default .keda-carbon/tls)' },
    'tls-secret': {
      type: 'string',
      arg: 'NAME',
      env: 'KEDA_CARBON_TLS_SECRET',
      help: "manage the certificates in this Secret of serve's namespace (it must exist;\nserve fills it) instead of --cert-dir",
    },
    'webhook-config': {
      type: 'string',
      arg: 'NAME',
      env: 'KEDA_CARBON_WEBHOOK_CONFIG',
      help: 'with --tls-secret: the MutatingWebhookConfiguration whose caBundle serve writes',
    },
    'service-name': {
      type: 'string',
      arg: 'NAME',
      env: 'KEDA_CARBON_SERVICE_NAME',
      help: 'with --tls-secret: the Service the certificate is for (NAME, NAME.NS, NAME.NS.svc,\nNAME.NS.svc.cluster.local)',
    },
    'cert-validity': {
      type: 'string',
      arg: 'DURATION',
      env: 'KEDA_CARBON_CERT_VALIDITY',
      help: 'with --tls-secret: serving certificate lifetime, renewed at two thirds (default 90d)',
    },
    'ca-validity': {
      type: 'string',
      arg: 'DURATION',
      env: 'KEDA_CARBON_CA_VALIDITY',
      help: 'with --tls-secret: CA lifetime, at least twice --cert-validity (default 365d)',
    },
    'metrics-port': { type: 'string', arg: 'PORT', env: 'KEDA_CARBON_METRICS_PORT', help: 'the plain-HTTP port of /metrics (default 8080)' },
    kubeconfig: {
      type: 'string',
      arg: 'FILE',
      env: 'KEDA_CARBON_KUBECONFIG',
      help: 'cluster credentials (default: KUBECONFIG, else the in-cluster service account)',
    },
    host: { type: 'string', arg: 'ADDRESS', env: 'KEDA_CARBON_HOST', help: 'the address both ports listen on (default 0.0.0.0)' },
    'drain-seconds': {
      type: 'string',
      arg: 'N',
      env: 'KEDA_CARBON_DRAIN_SECONDS',
      help: 'on SIGTERM, fail readiness and wait N seconds before closing the listener,\nso the Service stops sending reviews first (default 0)',
    },
    http2: {
      type: 'string',
      arg: 'BOOL',
      env: 'KEDA_CARBON_HTTP2',
      help: `offer HTTP/2 through ALPN on the webhook port; HTTP/1.1 is always accepted\n(default ${HTTP2_BY_DEFAULT})`,
    },
  },
} as const satisfies CommandSpec;

const DAY_MS = 24 * 60 * 60 * 1000;
const MIN_VALIDITY_MS = 60_000;
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function validityFlag(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = durationMs(value);
  if (ms === null || ms < MIN_VALIDITY_MS || ms > 3650 * DAY_MS) {
    throw new UsageError(`--${name} must be a duration from 1m to 3650d such as "90d", "12h" or "5m", got ${JSON.stringify(value)}`);
  }
  return ms;
}

/** The self-managed certificate flags, checked together; undefined without --tls-secret. */
export function secretFlags(flags: FlagValues<(typeof SERVE)['flags']>): SecretTlsOptions | undefined {
  const given = (['webhook-config', 'service-name', 'cert-validity', 'ca-validity'] as const).filter((f) => flags[f] !== undefined);
  const secret = flags['tls-secret'];
  if (secret === undefined) {
    if (given.length > 0) throw new UsageError(`--${given[0]} is used with --tls-secret only`);
    return undefined;
  }
  if (flags['cert-dir'] !== undefined) throw new UsageError('--cert-dir and --tls-secret exclude each other: the certificate comes from one place');
  const names = { 'tls-secret': secret, 'webhook-config': flags['webhook-config'], 'service-name': flags['service-name'] };
  for (const [flag, value] of Object.entries(names)) {
    if (value === undefined) throw new UsageError(`--tls-secret needs --${flag} too`);
    if (!NAME.test(value))
      throw new UsageError(`--${flag} must be a Kubernetes object name (lower case letters, digits, '-' and '.'), got ${JSON.stringify(value)}`);
  }
  const certValidityMs = validityFlag(flags['cert-validity'], 'cert-validity', 90 * DAY_MS);
  const caValidityMs = validityFlag(flags['ca-validity'], 'ca-validity', 365 * DAY_MS);
  if (caValidityMs < 2 * certValidityMs) {
    throw new UsageError('--ca-validity must be at least twice --cert-validity, so one CA signs several serving certificates and a switch has time to settle');
  }
  return { secret, webhookConfig: names['webhook-config']!, serviceName: names['service-name']!, certValidityMs, caValidityMs };
}

function boolFlag(value: string | undefined, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value !== 'true' && value !== 'false') throw new UsageError(`--${name} must be true or false, got ${JSON.stringify(value)}`);
  return value === 'true';
}

/**
 * How long close() may take after the drain before the process exits anyway: with the
 * Deployment's 15 s drain this stays inside its 45 s terminationGracePeriodSeconds.
 */
const CLOSE_DEADLINE_MS = 20_000;

export async function runServe(argv: string[], io: CommandIO): Promise<number> {
  const flags = parseFlags(argv, SERVE, io);
  if (!flags) return 0;
  const drainMs = (intFlag(flags['drain-seconds'], 'drain-seconds', 0, 3600) ?? 0) * 1000;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const tlsSecret = secretFlags(flags);
  const http2 = boolFlag(flags.http2, 'http2', HTTP2_BY_DEFAULT);
  const logger = createLogger();
  let runtime: Runtime;
  try {
    runtime = await createRuntime({
      configPath: str(flags.config),
      certDir: str(flags['cert-dir']) ?? '.keda-carbon/tls',
      tlsSecret,
      kubeconfig: str(flags.kubeconfig),
      host: str(flags.host) ?? '0.0.0.0',
      port: portFlag(flags.port, 'port', 8443),
      metricsPort: portFlag(flags['metrics-port'], 'metrics-port', 8080),
      http2,
      env: io.env,
      logger,
    });
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    io.stderr.write(`keda-carbon serve: ${err.message}${err instanceof PortInUseError ? portHint(err) : ''}\n`);
    return 2;
  }
  onSignals(runtime, logger, drainMs);
  return 0;
}

/** How to choose another port: the flag and the environment variable that set this one. */
function portHint(err: PortInUseError): string {
  const flag = err.option === 'port' ? 'port' : 'metrics-port';
  return `; choose another with --${flag} PORT or ${SERVE.flags[flag].env}`;
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
    runtime.stopServing(drainMs + SHUTDOWN_AFTER_DRAIN_MS);
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
