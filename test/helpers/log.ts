import { createLogger, type Logger } from '../../src/log.js';

/**
 * The process's JSON logger (its base fields included) at debug level, whose lines land in
 * `lines` (raw JSON text).
 */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } }), lines };
}

/** A stdout/stderr stand-in that keeps what was written. */
export function sink(): { write(s: string): boolean; text(): string } {
  let buf = '';
  return {
    write(s: string) {
      buf += s;
      return true;
    },
    text: () => buf,
  };
}
