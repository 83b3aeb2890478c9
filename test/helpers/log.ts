import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';

/** A pino logger at debug level whose lines land in `lines` (raw JSON text). */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
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
