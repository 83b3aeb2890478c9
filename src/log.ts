import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs for machines; pretty lines only when a person watches a terminal.
 * Credentials never reach a log line: sources redact them before they build messages, and
 * these paths are censored as a second line of defence.
 */
export function createLogger(options: { level?: string; pretty?: boolean } = {}): Logger {
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  return pino({
    level: options.level ?? process.env.KEDA_CARBON_LOG_LEVEL ?? 'info',
    base: { name: 'keda-carbon' },
    redact: {
      paths: ['req.headers.authorization', 'req.headers["auth-token"]', '*.token', '*.password', 'password', 'token'],
      censor: '[redacted]',
    },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss' } } } : {}),
  });
}

/** A logger that drops everything: for tests and for commands that print their own output. */
export const silentLogger: Logger = pino({ level: 'silent' });
