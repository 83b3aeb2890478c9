import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs for machines; pretty lines only when a person watches a terminal.
 * Credentials never reach a log line: sources redact them before they build messages, and
 * these paths are censored as a second line of defence.
 */
export function createLogger(options: { level?: string; pretty?: boolean } = {}): Logger {
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  const settings = {
    level: options.level ?? process.env.KEDA_CARBON_LOG_LEVEL ?? 'info',
    base: { name: 'keda-carbon' },
    redact: {
      paths: ['req.headers.authorization', 'req.headers["auth-token"]', '*.token', '*.password', 'password', 'token'],
      censor: '[redacted]',
    },
  };
  if (pretty) return pino({ ...settings, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss' } } });
  return pino(settings, batchedStdout());
}

/** How long a line may wait for others before it is written. */
const FLUSH_MS = 100;

/**
 * Stdout written in batches of 8 KiB, at most FLUSH_MS after a line was logged. One
 * write per line (each a trip through the libuv thread pool) cost more than the admission
 * answer the line reports, and every review that changes a cap logs one. What is still
 * buffered is written when the process exits (pino registers that for asynchronous
 * destinations); only a SIGKILL loses the last FLUSH_MS of lines.
 */
function batchedStdout() {
  return pino.destination({ dest: 1, sync: false, minLength: 8192, periodicFlush: FLUSH_MS });
}

/** A logger that drops everything: for tests and for commands that print their own output. */
export const silentLogger: Logger = pino({ level: 'silent' });
