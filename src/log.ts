import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Loggers made by `createLogger` that write JSON lines: their line format is known (see `lineWriter`). */
const jsonLoggers = new WeakSet<Logger>();

/**
 * Structured JSON logs for machines; pretty lines only when a person watches a terminal.
 * Credentials never reach a log line: sources redact them before they build messages, and
 * these paths are censored as a second line of defence. JSON lines go to stdout in batches
 * unless `destination` says otherwise.
 */
export function createLogger(options: { level?: string; pretty?: boolean; destination?: DestinationStream } = {}): Logger {
  const pretty = options.destination ? false : (options.pretty ?? Boolean(process.stdout.isTTY));
  const settings = {
    level: options.level ?? process.env.KEDA_CARBON_LOG_LEVEL ?? 'info',
    base: { name: 'keda-carbon' },
    redact: {
      paths: ['req.headers.authorization', 'req.headers["auth-token"]', '*.token', '*.password', 'password', 'token'],
      censor: '[redacted]',
    },
  };
  if (pretty) return pino({ ...settings, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss' } } });
  const logger = pino(settings, options.destination ?? batchedStdout());
  jsonLoggers.add(logger);
  return logger;
}

/** Writes lines whose members the caller has already encoded as JSON. */
export interface LineWriter {
  /**
   * Writes `{"level":..,"time":..,<the logger's bindings><members>}` and the line end, as
   * the logger would; `members` starts with a comma. False, writing nothing, when the
   * logger does not log at `level`.
   */
  write(level: 'info' | 'warn', members: string): boolean;
}

/**
 * A line writer for a logger from `createLogger`, or null for any other logger (one with
 * formatters, hooks or a transport writes lines this cannot reproduce). For the one line
 * the webhook writes per review: pino's generic path (walking the object, escaping each
 * string, redaction) cost several times what the answer itself costs. The level prefix,
 * time, bindings, line end and destination are the logger's own, so the line changes
 * with its settings.
 */
export function lineWriter(logger: Logger): LineWriter | null {
  if (!jsonLoggers.has(logger)) return null;
  const internals = logger as unknown as Record<symbol, unknown>;
  const levels = internals[pino.symbols.lsCacheSym] as Record<number, string>;
  const time = internals[pino.symbols.timeSym] as () => string;
  const bindings = internals[pino.symbols.chindingsSym] as string;
  const end = internals[pino.symbols.endSym] as string;
  const stream = internals[pino.symbols.streamSym] as DestinationStream;
  const numbers = { info: logger.levels.values.info!, warn: logger.levels.values.warn! };
  return {
    write(level, members) {
      const n = numbers[level];
      if (n < logger.levelVal) return false;
      stream.write(`${levels[n]}${time()}${bindings}${members}${end}`);
      return true;
    },
  };
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
